"""FHIR R4 AuditEvent rendering (IHE BALP): every row of the table renders a resource the FHIR
model library accepts; the mapping of one event exactly; broken resources are reported."""

from __future__ import annotations

import json
import sys
from typing import Any

import pytest

from dicomsec.audit.fhir import fhir_audit_event, validate_fhir
from dicomsec.errors import InvalidInput
from dicomsec.events import (
    AuditEvent,
    AuditObject,
    ObjectKind,
    Operation,
    Outcome,
    Participant,
)
from tests.audit.test_messages import EVENTS, FAIL, PATIENT, SOURCE, STUDY, WHEN, _given

DCM = "http://dicom.nema.org/resources/ontology/DCM"


@pytest.mark.parametrize(("event", "expected"), [row[1:] for row in EVENTS],
                         ids=[row[0] for row in EVENTS])
def test_each_row_renders_a_valid_fhir_audit_event(
        event: AuditEvent, expected: list[tuple[str, str, str | None]]) -> None:
    resource = fhir_audit_event(event, SOURCE)
    assert validate_fhir(resource) == []
    assert resource["type"]["code"] == expected[0][0]
    assert resource["action"] == expected[0][1]
    assert [s["code"] for s in resource.get("subtype", [])] == [
        code for _, _, code in expected if code is not None]
    assert resource["outcome"] == str(int(event.outcome))
    json.dumps(resource)                           # JSON-ready as it is


def test_deidentification_maps_exactly() -> None:
    study = AuditObject(ObjectKind.STUDY, "2.25.1234", sop_classes=STUDY.sop_classes,
                        anonymized=True, life_cycle=7)
    event = AuditEvent(Operation.DEIDENTIFY, objects=(study, PATIENT), when=WHEN)
    ext = "http://hl7.org/fhir/StructureDefinition/auditevent-"
    uid = "urn:dicom:uid"
    assert fhir_audit_event(event, SOURCE) == {
        "resourceType": "AuditEvent",
        "type": {"system": DCM, "code": "110103", "display": "DICOM Instances Accessed"},
        "action": "C",
        "recorded": "2026-11-22T01:02:03.500000+01:00",
        "outcome": "0",
        "agent": [
            {"type": {"coding": [{"system": DCM, "code": "110150", "display": "Application"}]},
             "role": [{"coding": [{"system": DCM, "code": "110150",
                                   "display": "Application"}]}],
             "who": {"identifier": {"value": "dicomsec[4242]"}, "display": "dicomsec"},
             "name": "dicomsec", "requestor": True, "altId": "AETITLES=DICOMSEC;DS2",
             "network": {"address": "test-host", "type": "1"}},
            {"type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-RoleClass",
                                  "code": "AGNT", "display": "agent"}]},
             "who": {"identifier": {"value": "alice@test-host"}}, "requestor": True},
        ],
        "source": {"observer": {"identifier": {"value": "dicomsec@test-host"},
                                "display": "dicomsec@test-host"},
                   "type": [{"system": "http://terminology.hl7.org/CodeSystem/"
                                       "security-source-type",
                             "code": "4", "display": "Application Server"}]},
        "entity": [
            {"what": {"type": "ImagingStudy",
                      "identifier": {"system": uid, "value": "urn:oid:2.25.1234"}},
             "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-entity-type",
                      "code": "2", "display": "System Object"},
             "role": {"system": "http://terminology.hl7.org/CodeSystem/object-role",
                      "code": "3", "display": "Report"},
             "lifecycle": {"system": "http://terminology.hl7.org/CodeSystem/"
                                     "dicom-audit-lifecycle",
                           "code": "7", "display": "De-identification"},
             "extension": [
                 {"url": ext + "SOPClass", "valueReference": {"identifier": {
                     "system": uid, "value": "urn:oid:1.2.840.10008.5.1.4.1.1.2"}}},
                 *({"url": ext + "Instance", "valueIdentifier": {
                     "system": uid, "value": f"urn:oid:{i}"}} for i in STUDY.sop_classes[0][1]),
                 {"url": ext + "NumberOfInstances", "valueInteger": 2},
                 {"url": ext + "Anonymized", "valueBoolean": True}]},
            {"what": {"type": "Patient", "identifier": {"value": "PAT-1"},
                      "display": "Müller^Jürgen"},
             "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-entity-type",
                      "code": "1", "display": "Person"},
             "role": {"system": "http://terminology.hl7.org/CodeSystem/object-role",
                      "code": "1", "display": "Patient"},
             "name": "Müller^Jürgen"},
        ],
    }


def test_refused_association_has_the_remote_requestor_and_the_alert() -> None:
    event = next(e for name, e, _ in EVENTS if name == "association-refused")
    resource = fhir_audit_event(event, SOURCE)
    tool, remote = resource["agent"]
    assert (tool["requestor"], remote["requestor"]) == (False, True)
    assert remote["who"] == {"identifier": {"value": "STORESCU"}}
    assert remote["network"] == {"address": "198.51.100.7", "type": "2"}
    (node,) = resource["entity"]
    assert node["detail"] == [{"type": "Alert Description",
                               "valueString": "peer did not present a certificate"}]
    assert node["role"]["code"] == "13"


def test_export_media_is_an_agent() -> None:
    event = next(e for name, e, _ in EVENTS if name == "wrap")
    agents = fhir_audit_event(event, SOURCE)["agent"]
    assert [a["type"]["coding"][0]["code"] for a in agents[::3]] == ["110153", "110154"]
    assert agents[3]["media"]["code"] == "110037"
    assert agents[2]["who"] == {"identifier": {"value": "CN=Recipient,O=Hospital"}}


def test_text_is_carried_as_given() -> None:
    name = 'O\'Brien <&> "李"\n'
    event = AuditEvent(Operation.VERIFY, FAIL, name,
                       (AuditObject(ObjectKind.PATIENT, name, name=name),),
                       (Participant(name, is_requestor=True),), when=WHEN)
    resource = fhir_audit_event(event, SOURCE)
    assert validate_fhir(resource) == []
    assert resource["outcomeDesc"] == name
    assert resource["entity"][0]["what"]["identifier"]["value"] == name


@pytest.mark.parametrize(("change", "expected"), [
    ({"recorded": "2026-11-22T01:02:03"}, "recorded"),
    ({"agent": []}, "agent: Field required"),
    ({"source": None}, "source: Field required"),
    ({"source": {"type": []}}, "source.observer: Field required"),
    ({"agent": [{"who": {"display": "x"}}]}, "agent.0.requestor"),
    ({"outcome": 7}, "outcome"),
    ({"resourceType": "Patient"}, "resourceType is 'Patient'"),
])
def test_broken_resources_are_reported(change: dict[str, Any], expected: str) -> None:
    resource = {**fhir_audit_event(EVENTS[0][1], SOURCE), **change}
    problems = validate_fhir(resource)
    assert problems and any(expected in p for p in problems), problems


def test_without_the_fhir_library_validation_is_invalid_input(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "fhir.resources.R4B.auditevent", None)
    with pytest.raises(InvalidInput, match=r"dicomsec\[fhir\]"):
        validate_fhir(fhir_audit_event(EVENTS[0][1], SOURCE))


FHIR_VOCABULARY = {
    "AuditEvent", "Patient", "ImagingStudy", "urn:dicom:uid", "urn:ietf:rfc:3986", DCM,
    "http://terminology.hl7.org/CodeSystem/audit-entity-type",
    "http://terminology.hl7.org/CodeSystem/object-role",
    "http://terminology.hl7.org/CodeSystem/dicom-audit-lifecycle",
    "http://terminology.hl7.org/CodeSystem/security-source-type",
    "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
    "http://terminology.hl7.org/CodeSystem/v3-RoleClass",
    "Person", "System Object", "Report", "Security Resource", "Application Server",
    "AGNT", "agent", "IRCP", "information recipient", "De-identification",
    *(f"http://hl7.org/fhir/StructureDefinition/auditevent-{name}" for name in (
        "SOPClass", "Instance", "NumberOfInstances", "Encrypted", "Anonymized")),
}


def _strings(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return [value] if isinstance(value, str) else []


@pytest.mark.parametrize("event", [row[1] for row in EVENTS], ids=[row[0] for row in EVENTS])
def test_fhir_carries_only_what_the_event_holds(event: AuditEvent) -> None:
    given = _given(event)
    allowed = given | {f"urn:oid:{v}" for v in given} | FHIR_VOCABULARY
    texts = {text for _, text in (d for o in event.objects for d in o.details)}
    unexpected = set(_strings(fhir_audit_event(event, SOURCE))) - allowed - texts
    assert not unexpected


@pytest.mark.parametrize("event", [
    AuditEvent(Operation.SIGN, objects=(AuditObject(ObjectKind.STUDY, "1.2.3"),
                                        AuditObject(ObjectKind.PATIENT, "", name=""))),
    AuditEvent(Operation.VERIFY, Outcome.MINOR_FAILURE, objects=(AuditObject(
        ObjectKind.FILE, "file:///x", details=(("Alert Description", ""),)),)),
    AuditEvent(Operation.ASSOCIATION_REFUSED, Outcome.MINOR_FAILURE,
               objects=(AuditObject(ObjectKind.NODE, "127.0.0.1"),),
               participants=(Participant("", network_access_point="127.0.0.1",
                                         is_requestor=True),)),
], ids=["empty patient id", "empty alert text", "empty remote user id"])
def test_empty_values_still_validate(event: AuditEvent) -> None:
    """DICOM type 2 values may be empty; FHIR strings may not: left out or "(empty)"."""
    resource = fhir_audit_event(event, SOURCE)
    assert validate_fhir(resource) == []
    assert '""' not in json.dumps(resource)


def test_hostile_values_are_capped() -> None:
    hostile = "Evil^" + "A" * 40_000
    event = AuditEvent(Operation.SIGN, description="d" * 9_000, objects=(
        AuditObject(ObjectKind.PATIENT, "P" * 9_000, name=hostile),))
    resource = fhir_audit_event(event, SOURCE)
    assert validate_fhir(resource) == []
    assert len(json.dumps(resource)) < 20_000
    assert resource["entity"][0]["name"].endswith(f"...[+{len(hostile) - 1024} chars]")
