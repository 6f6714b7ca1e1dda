"""DICOM audit messages (PS3.15 A.5, the IHE ATNA format) built from :class:`AuditEvent`\\ s.

:func:`dicom_messages` maps one event to its message(s) (the table of ``docs/audit.md``); the
builders (:func:`application_activity`, :func:`security_alert`, :func:`instances_accessed`,
:func:`begin_transferring`, :func:`instances_transferred`, :func:`export`, :func:`import_`,
:func:`user_authentication`, :func:`audit_log_used`) make one message each. The XML is built as
text with every text node and attribute escaped (no lxml, no regex: importing this module
costs about a millisecond and a message tens of microseconds, so a command run once per
file barely notices); :func:`dicomsec.audit.schema.validate` checks it
against the DICOM RELAX NG schema. Output is UTF-8, one line (line breaks inside values are
written as character references ``&#10;``), no BOM, no XML namespace.

Choices the standard leaves open (also in ``docs/audit.md``):

- **Toolkit events without a DICOM event** (spec section 3): signing = 110103 Instances
  Accessed, action U; a failed verification = 110113 Security Alert + 110135 Object Security
  Attributes Changed; wrap / unwrap = 110106 Export / 110107 Import (a failed unwrap = 110103 R
  with its outcome); de-identification = 110103 C with the output study flagged
  ``<Anonymized>true`` and life cycle 7; re-identification = 110103 C and 110113 + 110132 Use of
  Restricted Function; policy violation = 110113 + 110144 Authorization Decision; pki issue /
  revoke = 110113 + 110129 Security Configuration; TLS association accepted / refused =
  110113 + 110126 Node Authentication. No local (private) codes are used.
- **Identity conventions** (A.5.2): the tool is an ActiveParticipant in every message, UserID
  ``APP[PID]`` (the syslog tag that local logs show for the same process), UserName the app name,
  RoleIDCode 110150 Application (plus 110153 Source / 110152 Destination where it sends /
  receives data), NetworkAccessPointID its host name (type 1, or 2 for an IP address),
  AlternativeUserID ``AETITLES=A;B`` when it has AE titles; UserIsRequestor true unless a
  remote participant is the requestor (both the tool and the OS user are then requestors:
  the person asked, the process acted). The OS user (``login@host``) is added as requestor
  (UserIsRequestor true; 110151 Application Launcher for Application Activity) when a person
  asked (:func:`person_asked`): every operation except those a service does for a remote peer
  (association accepted / refused, user authentication, instances received), and never when a
  remote participant is the requestor. Remote participants appear as given (UserID, UserName,
  AlternativeUserID, UserIsRequestor, NetworkAccessPointID, RoleIDCodes).
- **Participant objects**: Study = type 2, role 3 (Report), ID type 110180, name = the given name
  or the UID; Patient = type 1, role 1, ID type RFC-3881 2 Patient Number, name = Patient's Name
  (or the ID); a file = type 2, role 3 (13 Security Resource in a Security Alert, as A.5.3.11
  asks), ID type RFC-3881 12 URI; a node = type 2, role 13, ID type 110182 Node ID; a
  certificate / CRL / key store = type 2, role 13, URI; the audit log = type 2, role 13, URI,
  name "Security Audit Log". Export / Import carry their media (the Secure DICOM File) as an
  ActiveParticipant with RoleIDCode 110154 / 110155 and MediaType 110037 URI, UserID = its URI.
  Exactly one ParticipantObjectName per object; details base64 in ``value``.
- **Severity** (for syslog): 4 (warning) for a Security Alert with a non-zero outcome, else 5.

Nothing is added that the event does not hold, apart from the tool's own identity, the OS user,
and the fixed codes above; events never hold a secret (:mod:`dicomsec.events`).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Final, NamedTuple

from dicomsec.audit import _codes as codes
from dicomsec.errors import InvalidInput
from dicomsec.events import AuditEvent, AuditObject, ObjectKind, Operation, Participant

__all__ = ["URI_MAX", "VALUE_MAX", "AuditMessage", "AuditSource", "MessageCode",
           "access_point_type", "application_activity", "audit_log_used", "begin_transferring",
           "cap", "dicom_messages", "event_time", "export", "import_", "instances_accessed",
           "instances_transferred", "message_codes", "person_asked", "security_alert",
           "tool_roles", "user_authentication"]

XML_DECLARATION: Final = b'<?xml version="1.0" encoding="UTF-8"?>'
#: outcomes EventOutcomeIndicator allows
OUTCOMES: Final = frozenset((0, 4, 8, 12))
#: the most characters a value taken from input keeps (names, ids, free text: DICOM's LO / PN
#: are far shorter, 1 KB is free text); URIs (file paths) keep more; UIDs their VR maximum
VALUE_MAX: Final = 1024
URI_MAX: Final = 4096
UID_MAX: Final = 64


def cap(value: str, limit: int = VALUE_MAX) -> str:
    """``value`` cut at ``limit`` characters with a visible marker ``...[+N chars]`` (a
    40,000-character Patient's Name must not push the record over a sink's size limit: the
    Security Alert has to reach the repository whole)."""
    if len(value) <= limit:
        return value
    return f"{value[:limit]}...[+{len(value) - limit} chars]"


@dataclass(frozen=True, slots=True)
class AuditSource:
    """Who reports: the tool on this host (AuditSourceIdentification and the tool's own
    ActiveParticipant). ``user``: the OS login ``login@host`` that runs it (the requestor when
    a person asked); ``ae_titles``: its AE titles (AlternativeUserID ``AETITLES=A;B``)."""

    source_id: str
    hostname: str
    app_name: str = "dicomsec"
    process_id: str = ""
    user: str = ""
    ae_titles: tuple[str, ...] = ()
    enterprise_site: str | None = None

    @classmethod
    def local(cls, app_name: str = "dicomsec", ae_titles: tuple[str, ...] = ()) -> AuditSource:
        """This process on this host: ``source_id`` ``dicomsec@HOST``, the process id and the
        OS login (``login@HOST``; the numeric uid when the login has no name)."""
        host = _hostname()
        login = _login()
        return cls(source_id=f"dicomsec@{host}", hostname=host, app_name=app_name,
                   process_id=str(os.getpid()), user=f"{login}@{host}",
                   ae_titles=tuple(ae_titles))


def _hostname() -> str:
    """This host's name, as ``socket.gethostname()`` gives it (without importing socket,
    costly at start-up, where ``os.uname`` exists)."""
    if hasattr(os, "uname"):
        return os.uname().nodename or "localhost"
    import socket

    return socket.gethostname() or "localhost"


def _login() -> str:
    """The OS login, as ``getpass.getuser()`` finds it (LOGNAME, USER, LNAME, USERNAME, then
    the password database); the numeric uid when the uid has no name (containers)."""
    for name in ("LOGNAME", "USER", "LNAME", "USERNAME"):
        if value := os.environ.get(name):
            return value
    try:
        import pwd

        return pwd.getpwuid(os.getuid()).pw_name
    except (ImportError, KeyError, AttributeError):
        return str(os.getuid()) if hasattr(os, "getuid") else "unknown"


@dataclass(frozen=True, slots=True)
class AuditMessage:
    """One DICOM audit message. ``xml``: UTF-8, starting with the XML declaration, no BOM;
    ``event_id``: its EventID code; ``severity``: the syslog severity (5 notice, 4 warning for
    a Security Alert whose outcome is not 0)."""

    xml: bytes
    event_id: str
    outcome: int
    severity: int


# ---------------------------------------------------------------- escaping

@functools.cache
def _tables() -> tuple[dict[int, str], dict[int, str]]:
    """The translate tables of text and of attribute values: escapes, and U+FFFD for what
    XML 1.0 cannot carry at all (C0 controls but tab and line breaks, lone surrogates,
    U+FFFE/FFFF). Made on first need: most values are plain ASCII."""
    not_xml = {c: "\ufffd" for c in (*range(0x09), 0x0B, 0x0C, *range(0x0E, 0x20),
                                      *range(0xD800, 0xE000), 0xFFFE, 0xFFFF)}
    text = {**not_xml, **str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;",
                                        "\n": "&#10;", "\r": "&#13;"})}
    return text, {**text, **str.maketrans({'"': "&quot;", "\t": "&#9;"})}


def _plain(value: str) -> bool:
    """Nothing in ``value`` needs escaping (the usual case, checked at C speed)."""
    return (value.isascii() and value.isprintable() and "&" not in value
            and "<" not in value and ">" not in value and '"' not in value)


def _text(value: str) -> str:
    """``value`` as element text: escaped, line breaks as character references, characters
    XML cannot hold replaced by U+FFFD."""
    return value if _plain(value) else value.translate(_tables()[0])


def _attr(value: str) -> str:
    """``value`` as an attribute value (between double quotes): escaped, tabs and line breaks
    as character references (attribute normalisation would turn them into spaces)."""
    return value if _plain(value) else value.translate(_tables()[1])


def _attrs(pairs: Sequence[tuple[str, str | None]]) -> str:
    return "".join(f' {name}="{_attr(value)}"' for name, value in pairs if value is not None)


@functools.cache
def _coded(tag: str, code: str, system: str = codes.DCM, meaning: str | None = None) -> str:
    """A coded value element (remembered: the codes are a small fixed set, apart from
    the roles of remote participants)."""
    return (f"<{tag}" + _attrs((("csd-code", code), ("codeSystemName", system),
                                ("originalText", meaning or codes.meaning(code)))) + "/>")


def _b64(text: str) -> str:
    import binascii  # a C extension: loaded only for messages with details (failures)

    return binascii.b2a_base64(text.encode("utf-8", "replace"), newline=False).decode("ascii")


def _bool(value: bool) -> str:
    return "true" if value else "false"


def access_point_type(address: str) -> str:
    """NetworkAccessPointTypeCode: 2 for an IPv4 / IPv6 address, 1 for a host name."""
    if ":" in address or (address.count(".") == 3 and address.replace(".", "").isdigit()):
        return "2"
    return "1"


# ---------------------------------------------------------------- participants

def _capped(value: str | None, limit: int = VALUE_MAX) -> str | None:
    return None if value is None else cap(value, limit)


def _participant(user_id: str, *, requestor: bool, roles: Sequence[str] = (),
                 alternative: str | None = None, name: str | None = None,
                 access_point: str | None = None, media_type: str | None = None) -> str:
    access_point = _capped(access_point)
    attrs = _attrs((("UserID", cap(user_id, URI_MAX)), ("AlternativeUserID", _capped(alternative)),
                    ("UserName", _capped(name)), ("UserIsRequestor", _bool(requestor)),
                    ("NetworkAccessPointID", access_point),
                    ("NetworkAccessPointTypeCode",
                     access_point_type(access_point) if access_point else None)))
    children = [_coded("RoleIDCode", cap(role, UID_MAX)) for role in roles]
    if media_type is not None:
        children.append(f"<MediaIdentifier>{_coded('MediaType', media_type)}</MediaIdentifier>")
    if not children:
        return f"<ActiveParticipant{attrs}/>"
    return f"<ActiveParticipant{attrs}>{''.join(children)}</ActiveParticipant>"


def _tool(source: AuditSource, *, requestor: bool, roles: Sequence[str]) -> str:
    user_id = f"{source.app_name}[{source.process_id}]" if source.process_id else source.app_name
    aets = "AETITLES=" + ";".join(source.ae_titles) if source.ae_titles else None
    return _participant(user_id, requestor=requestor, roles=("110150", *roles),
                        alternative=aets, name=source.app_name,
                        access_point=source.hostname or None)


def _remote(participant: Participant) -> str:
    return _participant(participant.user_id, requestor=participant.is_requestor,
                        roles=participant.roles, alternative=participant.alternative_user_id,
                        name=participant.user_name,
                        access_point=participant.network_access_point)


def _media(obj: AuditObject, role: str) -> str:
    return _participant(obj.id, requestor=False, roles=(role,), name=obj.name,
                        media_type="110037")


# ---------------------------------------------------------------- participant objects

#: kind -> (ParticipantObjectTypeCode, TypeCodeRole, IDTypeCode, its codeSystemName)
_SHAPES: Final[dict[ObjectKind, tuple[str, str, str, str]]] = {
    ObjectKind.STUDY: ("2", "3", "110180", codes.DCM),
    ObjectKind.PATIENT: ("1", "1", "2", codes.RFC3881),
    ObjectKind.FILE: ("2", "3", "12", codes.RFC3881),
    ObjectKind.NODE: ("2", "13", "110182", codes.DCM),
    ObjectKind.SECURITY_RESOURCE: ("2", "13", "12", codes.RFC3881),
    ObjectKind.AUDIT_LOG: ("2", "13", "12", codes.RFC3881),
    ObjectKind.MEDIA: ("2", "3", "12", codes.RFC3881),
}


def _description(obj: AuditObject) -> str:
    parts = []
    for class_uid, instances in obj.sop_classes:
        inner = "".join(f"<Instance{_attrs((('UID', cap(uid, UID_MAX)),))}/>"
                        for uid in instances)
        parts.append(f"<SOPClass{_attrs((('UID', cap(class_uid, UID_MAX)),))}"
                     f' NumberOfInstances="{len(instances)}">{inner}</SOPClass>')
    if obj.encrypted is not None:
        parts.append(f"<Encrypted>{_bool(obj.encrypted)}</Encrypted>")
    if obj.anonymized is not None:
        parts.append(f"<Anonymized>{_bool(obj.anonymized)}</Anonymized>")
    if not parts:
        return ""
    return f"<ParticipantObjectDescription>{''.join(parts)}</ParticipantObjectDescription>"


def _object(obj: AuditObject, *, alert: bool = False) -> str:
    type_code, role, id_type, system = _SHAPES[obj.kind]
    if alert and obj.kind is ObjectKind.FILE:
        role = "13"          # A.5.3.11: the subject of a Security Alert is a security resource
    if obj.life_cycle is not None and obj.life_cycle not in codes.ACTIVITY:
        raise InvalidInput(f"audit object life cycle {obj.life_cycle} is not 1..15")
    meaning = codes.RFC3881_ID_TYPES[id_type] if system == codes.RFC3881 else None
    object_id = cap(obj.id, URI_MAX)
    name = cap(obj.name) if obj.name else (
        "Security Audit Log" if obj.kind is ObjectKind.AUDIT_LOG else object_id)
    attrs = _attrs((("ParticipantObjectID", object_id), ("ParticipantObjectTypeCode", type_code),
                    ("ParticipantObjectTypeCodeRole", role),
                    ("ParticipantObjectDataLifeCycle",
                     None if obj.life_cycle is None else str(obj.life_cycle))))
    details = "".join(
        "<ParticipantObjectDetail" + _attrs((("type", cap(kind)), ("value", _b64(cap(text)))))
        + "/>" for kind, text in obj.details)
    return (f"<ParticipantObjectIdentification{attrs}>"
            f"{_coded('ParticipantObjectIDTypeCode', id_type, system, meaning)}"
            f"<ParticipantObjectName>{_text(name)}</ParticipantObjectName>"
            f"{details}{_description(obj)}</ParticipantObjectIdentification>")


# ---------------------------------------------------------------- the message

def event_time(when: datetime) -> datetime:
    """``when`` as every rendering writes it (XML, syslog TIMESTAMP, FHIR ``recorded``): a
    naive time is taken as local time; an offset with seconds (historical zones) is rounded
    to whole minutes (RFC 3339 and xsd:dateTime carry hours and minutes only)."""
    if when.tzinfo is None or when.utcoffset() is None:
        when = when.astimezone()
    offset = when.utcoffset()
    assert offset is not None
    if offset.seconds % 60 or offset.microseconds:
        minutes = round(offset.total_seconds() / 60)
        when = when.astimezone(timezone(timedelta(minutes=minutes)))
    return when


def _datetime(when: datetime) -> str:
    """xsd:dateTime with its time zone (A.5.2.5), as :func:`event_time` says."""
    return event_time(when).isoformat()


#: EventID -> the RoleIDCode of its media participant (Export: destination, Import: source)
MEDIA_ROLES: Final = {"110106": "110154", "110107": "110155"}


def tool_roles(event_id: str, action: str, participants: Sequence[Participant]
               ) -> tuple[str, ...]:
    """The tool's RoleIDCodes besides 110150 Application: Source (110153) when it sends or
    exports (110104 R, 110106), Destination (110152) when it receives or imports (110104 C/U,
    110107); for 110102 the role the remote participants leave (Source unless one of them is
    the source and none the destination)."""
    if event_id == "110104":
        return ("110153",) if action == "R" else ("110152",)
    if event_id == "110106":
        return ("110153",)
    if event_id == "110107":
        return ("110152",)
    if event_id == "110102":
        remote = {role for p in participants for role in p.roles}
        return ("110152",) if "110153" in remote and "110152" not in remote else ("110153",)
    return ()


def _build(event_id: str, action: str, type_codes: Sequence[str], *, source: AuditSource,
           when: datetime, outcome: int, description: str, objects: Sequence[AuditObject],
           participants: Sequence[Participant], person: bool) -> AuditMessage:
    """One message; the builders below fix ``event_id`` and ``action``; the tool's roles, the
    media participant and the launcher follow from them (:func:`tool_roles`)."""
    outcome = int(outcome)
    launcher = event_id == "110100"
    media_role = MEDIA_ROLES.get(event_id)
    if outcome not in OUTCOMES:
        raise InvalidInput(f"audit outcome {outcome} is not one of 0, 4, 8, 12")
    remote_requestor = any(p.is_requestor for p in participants)
    alert = event_id == "110113"
    head = "".join(_coded("EventTypeCode", code) for code in type_codes)
    if description:
        head += f"<EventOutcomeDescription>{_text(cap(description))}</EventOutcomeDescription>"
    parts = [
        '<AuditMessage><EventIdentification'
        + _attrs((("EventActionCode", action), ("EventDateTime", _datetime(when)),
                  ("EventOutcomeIndicator", str(outcome))))
        + f">{_coded('EventID', event_id)}{head}</EventIdentification>",
        _tool(source, requestor=not remote_requestor,
              roles=tool_roles(event_id, action, participants)),
    ]
    if person and source.user and not remote_requestor:
        parts.append(_participant(source.user, requestor=True,
                                  roles=("110151",) if launcher else ()))
    parts.extend(_remote(p) for p in participants)
    media = [o for o in objects if media_role is not None and o.kind is ObjectKind.MEDIA]
    parts.extend(_media(o, media_role) for o in media if media_role is not None)
    parts.append("<AuditSourceIdentification"
                 + _attrs((("AuditEnterpriseSiteID", source.enterprise_site),
                           ("AuditSourceID", source.source_id)))
                 + '><AuditSourceTypeCode csd-code="4"/></AuditSourceIdentification>')
    parts.extend(_object(o, alert=alert) for o in objects if o not in media)
    parts.append("</AuditMessage>")
    xml = XML_DECLARATION + "".join(parts).encode("utf-8")
    return AuditMessage(xml=xml, event_id=event_id, outcome=outcome,
                        severity=4 if alert and outcome else 5)


# ---------------------------------------------------------------- the builders (A.5.3)

def application_activity(*, source: AuditSource, when: datetime, type_code: str = "110120",
                         outcome: int = 0, description: str = "",
                         person: bool = True) -> AuditMessage:
    """110100 Application Activity (A.5.3.1), action E; ``type_code`` 110120 Application Start
    or 110121 Application Stop. The OS user, when ``person``, is the Application Launcher."""
    return _build("110100", "E", (type_code,), source=source, when=when, outcome=outcome,
                  description=description, objects=(), participants=(), person=person)


def audit_log_used(*, source: AuditSource, when: datetime, objects: Sequence[AuditObject],
                   outcome: int = 0, description: str = "",
                   person: bool = True) -> AuditMessage:
    """110101 Audit Log Used (A.5.3.2), action R; ``objects``: the log(s) (AUDIT_LOG, URI)."""
    return _build("110101", "R", (), source=source, when=when, outcome=outcome,
                  description=description, objects=objects, participants=(), person=person)


def begin_transferring(*, source: AuditSource, when: datetime, objects: Sequence[AuditObject],
                       participants: Sequence[Participant] = (), outcome: int = 0,
                       description: str = "", person: bool = True) -> AuditMessage:
    """110102 Begin Transferring DICOM Instances (A.5.3.3), action E. The tool takes the role
    the remote participants leave: Source (110153) unless one of them is the source."""
    return _build("110102", "E", (), source=source, when=when, outcome=outcome,
                  description=description, objects=objects, participants=participants,
                  person=person)


def instances_accessed(*, source: AuditSource, when: datetime, action: str,
                       objects: Sequence[AuditObject], participants: Sequence[Participant] = (),
                       outcome: int = 0, description: str = "",
                       person: bool = True) -> AuditMessage:
    """110103 DICOM Instances Accessed (A.5.3.4), ``action`` C, R, U or D."""
    return _build("110103", _action(action, "CRUD"), (), source=source, when=when,
                  outcome=outcome, description=description, objects=objects,
                  participants=participants, person=person)


def instances_transferred(*, source: AuditSource, when: datetime, action: str,
                          objects: Sequence[AuditObject],
                          participants: Sequence[Participant] = (), outcome: int = 0,
                          description: str = "", person: bool = True) -> AuditMessage:
    """110104 DICOM Instances Transferred (A.5.3.5): ``action`` R when the tool sent them (it
    is then the Source, 110153), C or U when it received them (Destination, 110152)."""
    return _build("110104", _action(action, "CRU"), (), source=source, when=when, outcome=outcome,
                  description=description, objects=objects, participants=participants,
                  person=person)


def export(*, source: AuditSource, when: datetime, objects: Sequence[AuditObject],
           participants: Sequence[Participant] = (), outcome: int = 0, description: str = "",
           person: bool = True) -> AuditMessage:
    """110106 Export (A.5.3.7), action R; MEDIA objects become the Destination Media
    participant (110154, MediaType 110037 URI); the tool is the Source (110153)."""
    return _build("110106", "R", (), source=source, when=when, outcome=outcome,
                  description=description, objects=objects, participants=participants,
                  person=person)


def import_(*, source: AuditSource, when: datetime, objects: Sequence[AuditObject],
            participants: Sequence[Participant] = (), outcome: int = 0, description: str = "",
            person: bool = True) -> AuditMessage:
    """110107 Import (A.5.3.8), action C; MEDIA objects become the Source Media participant
    (110155, MediaType 110037 URI); the tool is the Destination (110152)."""
    return _build("110107", "C", (), source=source, when=when, outcome=outcome,
                  description=description, objects=objects, participants=participants,
                  person=person)


def security_alert(*, source: AuditSource, when: datetime, type_code: str,
                   objects: Sequence[AuditObject] = (),
                   participants: Sequence[Participant] = (), outcome: int = 0,
                   description: str = "", person: bool = True) -> AuditMessage:
    """110113 Security Alert (A.5.3.11), action E, ``type_code`` from CID 403 (e.g. 110126
    Node Authentication, 110135 Object Security Attributes Changed)."""
    return _build("110113", "E", (type_code,), source=source, when=when, outcome=outcome,
                  description=description, objects=objects, participants=participants,
                  person=person)


def user_authentication(*, source: AuditSource, when: datetime,
                        participants: Sequence[Participant], type_code: str = "110122",
                        outcome: int = 0, description: str = "",
                        person: bool = False) -> AuditMessage:
    """110114 User Authentication (A.5.3.12), action E, ``type_code`` 110122 Login or 110123
    Logout; ``participants``: the user who authenticated (user name only)."""
    return _build("110114", "E", (type_code,), source=source, when=when, outcome=outcome,
                  description=description, objects=(), participants=participants,
                  person=person)


def _action(action: str, allowed: str) -> str:
    if len(action) != 1 or action not in allowed:
        raise InvalidInput(f"audit EventActionCode {action!r} is not one of {', '.join(allowed)}")
    return action


# ---------------------------------------------------------------- events -> messages

#: operations a service performs for a remote peer: no OS user as requestor
_SERVICE: Final = frozenset((Operation.ASSOCIATION_ACCEPTED, Operation.ASSOCIATION_REFUSED,
                             Operation.USER_AUTHENTICATION, Operation.INSTANCES_RECEIVED))


class MessageCode(NamedTuple):
    """What one message of an event is: its EventID, EventActionCode and EventTypeCode."""

    event_id: str
    action: str
    type_code: str | None = None


_C = MessageCode
#: operation -> (its message(s) on success, on failure)
_ROUTES: Final[dict[Operation, tuple[tuple[MessageCode, ...], tuple[MessageCode, ...]]]] = {
    Operation.APPLICATION_START: ((_C("110100", "E", "110120"),),) * 2,
    Operation.APPLICATION_STOP: ((_C("110100", "E", "110121"),),) * 2,
    Operation.SIGN: ((_C("110103", "U"),),) * 2,
    Operation.VERIFY: ((_C("110103", "R"),), (_C("110113", "E", "110135"),)),
    Operation.WRAP: ((_C("110106", "R"),),) * 2,
    Operation.UNWRAP: ((_C("110107", "C"),), (_C("110103", "R"),)),
    Operation.DEIDENTIFY: ((_C("110103", "C"),),) * 2,
    Operation.REIDENTIFY: ((_C("110103", "C"), _C("110113", "E", "110132")),) * 2,
    Operation.POLICY_VIOLATION: ((_C("110113", "E", "110144"),),) * 2,
    Operation.SECURITY_CONFIGURATION: ((_C("110113", "E", "110129"),),) * 2,
    Operation.ASSOCIATION_ACCEPTED: ((_C("110113", "E", "110126"),),) * 2,
    Operation.ASSOCIATION_REFUSED: ((_C("110113", "E", "110126"),),) * 2,
    Operation.USER_AUTHENTICATION: ((_C("110114", "E", "110122"),),) * 2,
    Operation.BEGIN_TRANSFER: ((_C("110102", "E"),),) * 2,
    Operation.INSTANCES_SENT: ((_C("110104", "R"),),) * 2,
    Operation.INSTANCES_RECEIVED: ((_C("110104", "C"),),) * 2,
    Operation.AUDIT_LOG_USED: ((_C("110101", "R"),),) * 2,
}


def message_codes(event: AuditEvent) -> tuple[MessageCode, ...]:
    """The EventID, action and type of each message :func:`dicom_messages` makes for
    ``event`` (the FHIR rendering uses the first as its type, the others' types as subtypes)."""
    success, failure = _ROUTES[event.operation]
    return failure if event.outcome else success


def person_asked(event: AuditEvent) -> bool:
    """Whether the OS user counts as the requestor of ``event``: every operation except those
    a service performs for a remote peer, and none whose remote participant is the requestor."""
    return event.operation not in _SERVICE and not any(p.is_requestor for p in event.participants)


def dicom_messages(event: AuditEvent, source: AuditSource) -> tuple[AuditMessage, ...]:
    """The DICOM audit message(s) for ``event``: one, or two for a re-identification (110103
    C and 110113 + 110132), as :func:`message_codes` and the module docstring say.

    Raises:
        InvalidInput: an outcome outside 0/4/8/12 or a life cycle outside 1..15.
    """
    person = person_asked(event)
    return tuple(
        _build(code.event_id, code.action, () if code.type_code is None else (code.type_code,),
               source=source, when=event.when, outcome=int(event.outcome),
               description=event.description, objects=event.objects,
               participants=event.participants, person=person)
        for code in message_codes(event))
