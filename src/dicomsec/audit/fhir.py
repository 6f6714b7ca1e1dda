"""The same audit events as FHIR R4 AuditEvent resources, following IHE BALP (Basic Audit Log
Patterns), for the ``fhir-file://`` sink.

:func:`fhir_audit_event` renders one :class:`~dicomsec.events.AuditEvent` as a JSON-ready
dict (no FHIR library needed); :func:`validate_fhir` parses it with the FHIR model library
(``fhir.resources``, extra ``[fhir]``; its R4B ``AuditEvent`` has the same elements as R4).

Mapping (choices the standards leave open; also in ``docs/audit.md``):

- ``type``: the DCM EventID of the event's first DICOM message
  (:func:`~dicomsec.audit.messages.message_codes`); ``subtype``: the EventTypeCodes of all
  its messages (a re-identification: type 110103, subtype 110132 Use of Restricted Function;
  one resource per event where DICOM has two messages). ``action``, ``outcome`` (``"0"``,
  ``"4"``, ``"8"``, ``"12"``), ``outcomeDesc`` and ``recorded`` (with its time zone) as in
  the DICOM message.
- ``agent``: the tool (type DCM 110150 Application, or its transfer role 110153 Source /
  110152 Destination as BALP's client / server slices, every role in ``role``; ``who``
  identifier ``APP[PID]``; ``altId`` ``AETITLES=...``; ``network`` its host); the OS user
  when a person asked (BALP user types: ``v3-ParticipationType#IRCP`` for reads,
  ``v3-RoleClass#AGNT`` otherwise, DCM 110151 Application Launcher for application start /
  stop; requestor); each remote participant (type = its first DCM role, ``who`` identifier =
  its user id); the media of an export / import (type 110154 / 110155, ``media`` DCM 110037
  URI).
- ``source``: ``observer`` = the AuditSourceID (identifier and display), ``site`` = the
  enterprise site, ``type`` = security-source-type 4 Application Server.
- ``entity``: a patient as ``Reference(Patient)`` by identifier (the Patient ID; no system is
  known), display = Patient's Name, type 1 Person, role 1 Patient; a study as
  ``Reference(ImagingStudy)`` by identifier ``urn:dicom:uid`` / ``urn:oid:UID``, type 2, role
  3 Report, ``lifecycle`` from ``dicom-audit-lifecycle``, and the core DICOM extensions
  ``auditevent-SOPClass`` (Reference by identifier), ``auditevent-Instance``,
  ``auditevent-NumberOfInstances``, ``auditevent-Encrypted``, ``auditevent-Anonymized``
  (several SOP classes on one study lose which instance belongs to which class: FHIR R4 has no
  nesting there); files, media, security resources and audit logs by URI identifier
  (``urn:ietf:rfc:3986``), nodes by identifier, type 2, role 3 or 13 as in the DICOM message;
  ``name`` only when the object has one; ``detail`` ``(type, valueString)`` as given.

Nothing is added that the event does not hold, apart from the tool's identity, the OS user
and the fixed codes above.
"""

from __future__ import annotations

from typing import Any, Final

from dicomsec.audit import _codes as codes
from dicomsec.audit.messages import (
    MEDIA_ROLES,
    UID_MAX,
    URI_MAX,
    VALUE_MAX,
    AuditSource,
    access_point_type,
    cap,
    event_time,
    message_codes,
    person_asked,
    tool_roles,
)
from dicomsec.errors import InvalidInput
from dicomsec.events import AuditEvent, AuditObject, ObjectKind, Participant

__all__ = ["fhir_audit_event", "validate_fhir"]

_ENTITY_TYPE: Final = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
_OBJECT_ROLE: Final = "http://terminology.hl7.org/CodeSystem/object-role"
_LIFECYCLE: Final = "http://terminology.hl7.org/CodeSystem/dicom-audit-lifecycle"
_SOURCE_TYPE: Final = "http://terminology.hl7.org/CodeSystem/security-source-type"
_PARTICIPATION: Final = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
_ROLE_CLASS: Final = "http://terminology.hl7.org/CodeSystem/v3-RoleClass"
_EXT: Final = "http://hl7.org/fhir/StructureDefinition/auditevent-"
_URI: Final = "urn:ietf:rfc:3986"
_DICOM_UID: Final = "urn:dicom:uid"

#: kind -> (entity type code, display, role code, display)
_ENTITY: Final[dict[ObjectKind, tuple[str, str, str, str]]] = {
    ObjectKind.PATIENT: ("1", "Person", "1", "Patient"),
    ObjectKind.STUDY: ("2", "System Object", "3", "Report"),
    ObjectKind.FILE: ("2", "System Object", "3", "Report"),
    ObjectKind.MEDIA: ("2", "System Object", "3", "Report"),
    ObjectKind.NODE: ("2", "System Object", "13", "Security Resource"),
    ObjectKind.SECURITY_RESOURCE: ("2", "System Object", "13", "Security Resource"),
    ObjectKind.AUDIT_LOG: ("2", "System Object", "13", "Security Resource"),
}


#: what stands for an empty value taken from input (FHIR strings may not be empty)
EMPTY: Final = "(empty)"


def _str(value: str, limit: int = VALUE_MAX) -> str:
    """A value taken from input as a FHIR string: capped (:func:`cap`), never empty."""
    return cap(value, limit) if value else EMPTY


def _who(value: str, *, system: str | None = None, display: str | None = None
         ) -> dict[str, Any]:
    """A Reference by identifier (capped); an empty identifier is left out and the reference
    then shows :data:`EMPTY` as its display."""
    who: dict[str, Any] = {}
    if value:
        who["identifier"] = ({"system": system} if system else {}) | {
            "value": cap(value, URI_MAX)}
    if display:
        who["display"] = cap(display)
    elif not value:
        who["display"] = EMPTY
    return who


def _dcm(code: str) -> dict[str, str]:
    return {"system": codes.DCM_SYSTEM, "code": code, "display": codes.meaning(code)}


def _concept(coding: dict[str, str]) -> dict[str, Any]:
    return {"coding": [coding]}


def _network(address: str | None) -> dict[str, Any]:
    if not address:
        return {}
    return {"network": {"address": address, "type": access_point_type(address)}}


def _tool(source: AuditSource, *, requestor: bool, roles: tuple[str, ...]) -> dict[str, Any]:
    user_id = f"{source.app_name}[{source.process_id}]" if source.process_id else source.app_name
    all_roles = (*roles, "110150")
    agent: dict[str, Any] = {
        "type": _concept(_dcm(all_roles[0])),
        "role": [_concept(_dcm(role)) for role in all_roles],
        "who": {"identifier": {"value": user_id}, "display": source.app_name},
        "name": source.app_name,
        "requestor": requestor,
    }
    if source.ae_titles:
        agent["altId"] = "AETITLES=" + ";".join(source.ae_titles)
    agent.update(_network(source.hostname))
    return agent


def _person(source: AuditSource, event_id: str, action: str) -> dict[str, Any]:
    if event_id == "110100":
        coding = _dcm("110151")
    elif action == "R":
        coding = {"system": _PARTICIPATION, "code": "IRCP", "display": "information recipient"}
    else:
        coding = {"system": _ROLE_CLASS, "code": "AGNT", "display": "agent"}
    return {"type": _concept(coding), "who": {"identifier": {"value": source.user}},
            "requestor": True}


def _remote(participant: Participant) -> dict[str, Any]:
    agent: dict[str, Any] = {"who": _who(participant.user_id, display=participant.user_name),
                             "requestor": participant.is_requestor}
    if participant.user_name:
        agent["name"] = cap(participant.user_name)
    if participant.roles:
        agent["type"] = _concept(_dcm(participant.roles[0]))
        if len(participant.roles) > 1:
            agent["role"] = [_concept(_dcm(role)) for role in participant.roles]
    if participant.alternative_user_id:
        agent["altId"] = cap(participant.alternative_user_id)
    agent.update(_network(cap(participant.network_access_point or "")))
    return agent


def _media(obj: AuditObject, role: str) -> dict[str, Any]:
    agent: dict[str, Any] = {"type": _concept(_dcm(role)),
                             "who": _who(obj.id, system=_URI, display=obj.name),
                             "requestor": False, "media": _dcm("110037")}
    if obj.name:
        agent["name"] = cap(obj.name)
    return agent


def _what(obj: AuditObject) -> dict[str, Any]:
    if obj.kind is ObjectKind.PATIENT:
        return {"type": "Patient"} | _who(obj.id, display=obj.name)
    if obj.kind is ObjectKind.STUDY:
        uid = f"urn:oid:{cap(obj.id, UID_MAX)}" if obj.id else ""
        return {"type": "ImagingStudy"} | _who(uid, system=_DICOM_UID, display=obj.name)
    if obj.kind is ObjectKind.NODE:
        return _who(obj.id, display=obj.name)
    return _who(obj.id, system=_URI, display=obj.name)


def _study_extensions(obj: AuditObject) -> list[dict[str, Any]]:
    extensions: list[dict[str, Any]] = []
    instances = [uid for _, uids in obj.sop_classes for uid in uids]
    for class_uid, _ in obj.sop_classes:
        extensions.append({"url": _EXT + "SOPClass", "valueReference": {
            "identifier": {"system": _DICOM_UID,
                           "value": f"urn:oid:{_str(class_uid, UID_MAX)}"}}})
    extensions.extend({"url": _EXT + "Instance", "valueIdentifier": {
        "system": _DICOM_UID, "value": f"urn:oid:{_str(uid, UID_MAX)}"}} for uid in instances)
    if obj.sop_classes:
        extensions.append({"url": _EXT + "NumberOfInstances", "valueInteger": len(instances)})
    if obj.encrypted is not None:
        extensions.append({"url": _EXT + "Encrypted", "valueBoolean": obj.encrypted})
    if obj.anonymized is not None:
        extensions.append({"url": _EXT + "Anonymized", "valueBoolean": obj.anonymized})
    return extensions


def _entity(obj: AuditObject, *, alert: bool) -> dict[str, Any]:
    type_code, type_display, role, role_display = _ENTITY[obj.kind]
    if alert and obj.kind is ObjectKind.FILE:
        role, role_display = "13", "Security Resource"
    entity: dict[str, Any] = {
        "what": _what(obj),
        "type": {"system": _ENTITY_TYPE, "code": type_code, "display": type_display},
        "role": {"system": _OBJECT_ROLE, "code": role, "display": role_display},
    }
    if obj.life_cycle is not None:
        if obj.life_cycle not in codes.ACTIVITY:
            raise InvalidInput(f"audit object life cycle {obj.life_cycle} is not 1..15")
        entity["lifecycle"] = {"system": _LIFECYCLE, "code": str(obj.life_cycle),
                               "display": codes.ACTIVITY[obj.life_cycle]}
    if obj.name:
        entity["name"] = cap(obj.name)
    if obj.details:
        entity["detail"] = [{"type": _str(kind), "valueString": _str(text)}
                            for kind, text in obj.details]
    if obj.kind is ObjectKind.STUDY and (extensions := _study_extensions(obj)):
        entity["extension"] = extensions
    return entity


def _recorded(event: AuditEvent) -> str:
    return event_time(event.when).isoformat()


def fhir_audit_event(event: AuditEvent, source: AuditSource) -> dict[str, Any]:
    """``event`` as a FHIR R4 AuditEvent (a JSON-ready dict), mapped as the module docstring
    says.

    Raises:
        InvalidInput: an outcome outside 0/4/8/12 or a life cycle outside 1..15.
    """
    outcome = int(event.outcome)
    if outcome not in (0, 4, 8, 12):
        raise InvalidInput(f"audit outcome {outcome} is not one of 0, 4, 8, 12")
    routes = message_codes(event)
    first = routes[0]
    media_role = MEDIA_ROLES.get(first.event_id)
    remote_requestor = any(p.is_requestor for p in event.participants)
    agents = [_tool(source, requestor=not remote_requestor,
                    roles=tool_roles(first.event_id, first.action, event.participants))]
    if source.user and person_asked(event):
        agents.append(_person(source, first.event_id, first.action))
    agents.extend(_remote(p) for p in event.participants)
    media = [o for o in event.objects if media_role and o.kind is ObjectKind.MEDIA]
    agents.extend(_media(o, media_role) for o in media if media_role)
    resource: dict[str, Any] = {
        "resourceType": "AuditEvent",
        "type": _dcm(first.event_id),
        "action": first.action,
        "recorded": _recorded(event),
        "outcome": str(outcome),
        "agent": agents,
        "source": {"observer": {"identifier": {"value": source.source_id},
                                "display": source.source_id},
                   "type": [{"system": _SOURCE_TYPE, "code": "4",
                             "display": "Application Server"}]},
    }
    subtypes = [_dcm(r.type_code) for r in routes if r.type_code is not None]
    if subtypes:
        resource["subtype"] = subtypes
    if event.description:
        resource["outcomeDesc"] = cap(event.description)
    if source.enterprise_site:
        resource["source"]["site"] = source.enterprise_site
    alert = first.event_id == "110113"
    entities = [_entity(o, alert=alert) for o in event.objects if o not in media]
    if entities:
        resource["entity"] = entities
    return resource


def validate_fhir(resource: dict[str, Any]) -> list[str]:
    """Problems of a FHIR AuditEvent, one line each (``[]``: it parses as a FHIR R4
    AuditEvent with ``fhir.resources``' R4B model, which has the same elements as R4).

    What is checked: the elements, their types and the value formats (an ``instant`` with its
    time zone, codes, URIs) as the model library checks them, and the R4 elements AuditEvent
    requires (``type``, ``recorded``, ``agent``, ``source`` with
    ``observer``: the library lets an explicit ``null`` or an empty list through). What is
    *not*: terminology bindings and the BALP profiles' slicing rules.

    Raises:
        InvalidInput: ``fhir.resources`` is not installed (``pip install 'dicomsec[fhir]'``).
    """
    try:
        from fhir.resources.R4B.auditevent import AuditEvent as FhirAuditEvent
        from pydantic import ValidationError
    except ImportError as exc:
        raise InvalidInput("validating FHIR AuditEvents needs fhir.resources: "
                           "pip install 'dicomsec[fhir]'") from exc
    if resource.get("resourceType") != "AuditEvent":
        return [f"resourceType is {resource.get('resourceType')!r}, not 'AuditEvent'"]
    try:
        FhirAuditEvent.model_validate(resource)
    except ValidationError as exc:
        return [f"{'.'.join(str(p) for p in error['loc']) or 'AuditEvent'}: {error['msg']}"
                for error in exc.errors()]
    return _required(resource)


def _required(resource: dict[str, Any]) -> list[str]:
    """The R4 AuditEvent's required elements that are null or empty."""
    problems = [f"{name}: Field required" for name in ("type", "recorded", "agent", "source")
                if not resource.get(name)]
    if resource.get("source") and not resource["source"].get("observer"):
        problems.append("source.observer: Field required")
    return problems
