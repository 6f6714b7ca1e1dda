"""DICOM audit messages: every operation of the issue 11 table and every builder makes XML that
validates against the PS3.15 schema (lxml); exact structure for known events; nothing appears
that the event does not hold; escaping of XML-special and non-ASCII text; lxml never imported
to build a message."""

from __future__ import annotations

import base64
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree  # type: ignore[import-untyped]

from dicomsec.audit import _codes as codes
from dicomsec.audit.messages import (
    AuditMessage,
    AuditSource,
    application_activity,
    audit_log_used,
    begin_transferring,
    dicom_messages,
    export,
    import_,
    instances_accessed,
    instances_transferred,
    security_alert,
    user_authentication,
)
from dicomsec.audit.schema import validate
from dicomsec.errors import InvalidInput
from dicomsec.events import (
    AuditEvent,
    AuditObject,
    ObjectKind,
    Operation,
    Outcome,
    Participant,
)

WHEN = datetime(2026, 11, 22, 1, 2, 3, 500000, tzinfo=timezone(timedelta(hours=1)))
SOURCE = AuditSource(source_id="dicomsec@test-host", hostname="test-host", process_id="4242",
                     user="alice@test-host", ae_titles=("DICOMSEC", "DS2"))
CT = "1.2.840.10008.5.1.4.1.1.2"
STUDY = AuditObject(ObjectKind.STUDY, "1.2.826.0.1.3680043.8.498.1",
                    sop_classes=((CT, ("1.2.826.0.1.3680043.8.498.1.1",
                                       "1.2.826.0.1.3680043.8.498.1.2")),))
PATIENT = AuditObject(ObjectKind.PATIENT, "PAT-1", name="Müller^Jürgen")
FILE = AuditObject(ObjectKind.FILE, "file:///data/out/CT%20small.dcm", name="CT small.dcm")
MEDIA = AuditObject(ObjectKind.MEDIA, "file:///data/out/CT.p7m", name="CT.p7m")


def _alert(text: str, *, kind: ObjectKind = ObjectKind.FILE,
           uri: str = "file:///data/in/CT_small.dcm") -> AuditObject:
    return AuditObject(kind, uri, name=uri.rsplit("/", 1)[-1],
                       details=(("Alert Description", text),))


NODE = AuditObject(ObjectKind.NODE, "198.51.100.7",
                   details=(("Alert Description", "peer did not present a certificate"),))
PEER = Participant("STORESCU", network_access_point="198.51.100.7", is_requestor=True)
DESTINATION = Participant("ARCHIVE", network_access_point="archive.example", roles=("110152",))
SOURCE_AE = Participant("MODALITY", network_access_point="10.0.0.9", roles=("110153",))
FAIL = Outcome.MINOR_FAILURE

#: (test id, event, expected (EventID, action, EventTypeCode or None) per message)
Row = tuple[str, AuditEvent, list[tuple[str, str, str | None]]]
EVENTS: list[Row] = [
    ("sign", AuditEvent(Operation.SIGN, objects=(STUDY, PATIENT, FILE), when=WHEN),
     [("110103", "U", None)]),
    ("verify-ok", AuditEvent(Operation.VERIFY, objects=(STUDY, PATIENT, FILE), when=WHEN),
     [("110103", "R", None)]),
    ("verify-failed", AuditEvent(Operation.VERIFY, FAIL, "signature 1: MAC mismatch",
                                 (_alert("signature 1: MAC mismatch"), STUDY, PATIENT),
                                 when=WHEN),
     [("110113", "E", "110135")]),
    ("wrap", AuditEvent(Operation.WRAP, objects=(STUDY, PATIENT, MEDIA),
                        participants=(Participant("CN=Recipient,O=Hospital"),), when=WHEN),
     [("110106", "R", None)]),
    ("unwrap-ok", AuditEvent(Operation.UNWRAP, objects=(
        AuditObject(ObjectKind.STUDY, STUDY.id, sop_classes=STUDY.sop_classes, encrypted=True),
        PATIENT, MEDIA), when=WHEN),
     [("110107", "C", None)]),
    ("unwrap-failed", AuditEvent(Operation.UNWRAP, FAIL, "no matching key",
                                 (_alert("no recipient matches the given keys"),), when=WHEN),
     [("110103", "R", None)]),
    ("deidentify", AuditEvent(Operation.DEIDENTIFY, objects=(
        AuditObject(ObjectKind.STUDY, "2.25.1234", sop_classes=STUDY.sop_classes,
                    anonymized=True, life_cycle=7), PATIENT), when=WHEN),
     [("110103", "C", None)]),
    ("reidentify-ok", AuditEvent(Operation.REIDENTIFY, objects=(STUDY, PATIENT, FILE),
                                 when=WHEN),
     [("110103", "C", None), ("110113", "E", "110132")]),
    ("reidentify-failed", AuditEvent(Operation.REIDENTIFY, FAIL, "no matching key", (
        STUDY, PATIENT, _alert("no recipient matches the given keys")), when=WHEN),
     [("110103", "C", None), ("110113", "E", "110132")]),
    ("policy-refused", AuditEvent(Operation.POLICY_VIOLATION, FAIL, "SHA-1 refused",
                                  (_alert("rule create: algorithm SHA-1 is forbidden"),),
                                  when=WHEN),
     [("110113", "E", "110144")]),
    ("policy-let-through", AuditEvent(Operation.POLICY_VIOLATION, Outcome.SERIOUS_FAILURE,
                                      objects=(_alert("rule verify: RSA-1024 (legacy)",
                                                      kind=ObjectKind.SECURITY_RESOURCE,
                                                      uri="file:///pki/policy.toml"),),
                                      when=WHEN),
     [("110113", "E", "110144")]),
    ("security-configuration", AuditEvent(Operation.SECURITY_CONFIGURATION, objects=(
        AuditObject(ObjectKind.SECURITY_RESOURCE, "file:///pki/ca.crl", name="ca.crl",
                    details=(("Action", "revoke"),)),), when=WHEN),
     [("110113", "E", "110129")]),
    ("association-accepted", AuditEvent(Operation.ASSOCIATION_ACCEPTED,
                                        objects=(AuditObject(ObjectKind.NODE, "198.51.100.7"),),
                                        participants=(PEER,), when=WHEN),
     [("110113", "E", "110126")]),
    ("association-refused", AuditEvent(Operation.ASSOCIATION_REFUSED, FAIL,
                                       objects=(NODE,), participants=(PEER,), when=WHEN),
     [("110113", "E", "110126")]),
    ("user-authentication-ok", AuditEvent(Operation.USER_AUTHENTICATION, participants=(
        Participant("bob", is_requestor=True, network_access_point="198.51.100.7"),),
        when=WHEN),
     [("110114", "E", "110122")]),
    ("user-authentication-failed", AuditEvent(Operation.USER_AUTHENTICATION, FAIL,
                                              participants=(Participant("bob",
                                                                        is_requestor=True),),
                                              when=WHEN),
     [("110114", "E", "110122")]),
    ("begin-transfer", AuditEvent(Operation.BEGIN_TRANSFER, objects=(STUDY, PATIENT),
                                  participants=(DESTINATION,), when=WHEN),
     [("110102", "E", None)]),
    ("instances-sent", AuditEvent(Operation.INSTANCES_SENT, objects=(STUDY, PATIENT),
                                  participants=(DESTINATION,), when=WHEN),
     [("110104", "R", None)]),
    ("instances-sent-failed", AuditEvent(Operation.INSTANCES_SENT, FAIL, "C-STORE 0xA700",
                                         (STUDY, PATIENT), (DESTINATION,), when=WHEN),
     [("110104", "R", None)]),
    ("instances-received", AuditEvent(Operation.INSTANCES_RECEIVED, objects=(STUDY, PATIENT),
                                      participants=(SOURCE_AE,), when=WHEN),
     [("110104", "C", None)]),
    ("instances-received-failed", AuditEvent(Operation.INSTANCES_RECEIVED, FAIL, "refused",
                                             (STUDY, PATIENT), (SOURCE_AE,), when=WHEN),
     [("110104", "C", None)]),
    ("application-start", AuditEvent(Operation.APPLICATION_START, when=WHEN),
     [("110100", "E", "110120")]),
    ("application-stop", AuditEvent(Operation.APPLICATION_STOP, when=WHEN),
     [("110100", "E", "110121")]),
    ("audit-log-used", AuditEvent(Operation.AUDIT_LOG_USED, objects=(
        AuditObject(ObjectKind.AUDIT_LOG, "file:///var/lib/dicomsec/audit.log"),), when=WHEN),
     [("110101", "R", None)]),
]


def tree(xml: bytes) -> Any:
    """An element as nested tuples: (tag, attributes, text, children)."""
    def node(element: Any) -> Any:
        return (element.tag, dict(element.attrib), element.text,
                [node(child) for child in element])
    return node(etree.fromstring(xml))


def header(message: AuditMessage) -> tuple[str, str, str | None]:
    root = etree.fromstring(message.xml)
    ident = root.find("EventIdentification")
    types = [t.get("csd-code") for t in ident.findall("EventTypeCode")]
    return (ident.find("EventID").get("csd-code"), ident.get("EventActionCode"),
            types[0] if types else None)


def test_every_operation_has_a_row() -> None:
    assert {event.operation for _, event, _ in EVENTS} == set(Operation)


@pytest.mark.parametrize(("event", "expected"), [row[1:] for row in EVENTS],
                         ids=[row[0] for row in EVENTS])
def test_each_row_of_the_table_validates(event: AuditEvent,
                                         expected: list[tuple[str, str, str | None]]) -> None:
    messages = dicom_messages(event, SOURCE)
    assert [header(m) for m in messages] == expected
    for message in messages:
        assert validate(message.xml) == []
        assert message.xml.startswith(b'<?xml version="1.0" encoding="UTF-8"?><AuditMessage>')
        assert b"\n" not in message.xml            # one line: a file sink line per message
        assert message.outcome == int(event.outcome)
        assert message.event_id == expected[messages.index(message)][0]
        alert = message.event_id == "110113" and event.outcome != 0
        assert message.severity == (4 if alert else 5)
    _only_given(event, messages)


def _given(event: AuditEvent) -> set[str]:
    """Every value a message of ``event`` may carry: the event's own fields, the source's,
    the fixed codes and their meanings."""
    allowed = {SOURCE.source_id, SOURCE.hostname, SOURCE.app_name, SOURCE.user,
               "dicomsec[4242]", "AETITLES=DICOMSEC;DS2", WHEN.isoformat(), "true", "false",
               str(int(event.outcome)), "C", "R", "U", "D", "E", "Security Audit Log",
               codes.DCM, codes.RFC3881, *map(str, range(1, 14))}
    for table in (codes.EVENT_IDS, codes.EVENT_TYPES, codes.ROLES, codes.OBJECT_ID_TYPES,
                  codes.MEDIA_TYPES, codes.RFC3881_ID_TYPES):
        allowed |= set(table) | set(table.values())
    if event.description:
        allowed.add(event.description)
    for obj in event.objects:
        allowed |= {obj.id, *([obj.name] if obj.name else [])}
        allowed |= {str(obj.life_cycle)} if obj.life_cycle else set()
        for kind, text in obj.details:
            allowed |= {kind, base64.b64encode(text.encode()).decode()}
        for class_uid, instances in obj.sop_classes:
            allowed |= {class_uid, str(len(instances)), *instances}
    for p in event.participants:
        allowed |= {v for v in (p.user_id, p.user_name, p.alternative_user_id,
                                p.network_access_point) if v}
    return allowed


def _only_given(event: AuditEvent, messages: tuple[AuditMessage, ...]) -> None:
    allowed = _given(event)
    for message in messages:
        for element in etree.fromstring(message.xml).iter():
            values = [*element.attrib.values(), *([element.text] if element.text else [])]
            assert set(values) <= allowed, (element.tag, set(values) - allowed)


def _structure(event: AuditEvent) -> Any:
    (message,) = dicom_messages(event, SOURCE)
    return tree(message.xml)


def _coded(tag: str, code: str, system: str = "DCM", meaning: str = "") -> Any:
    return (tag, {"csd-code": code, "codeSystemName": system,
                  "originalText": meaning or codes.meaning(code)}, None, [])


TOOL = {"UserID": "dicomsec[4242]", "AlternativeUserID": "AETITLES=DICOMSEC;DS2",
        "UserName": "dicomsec", "NetworkAccessPointID": "test-host",
        "NetworkAccessPointTypeCode": "1"}
AUDIT_SOURCE: Any = ("AuditSourceIdentification", {"AuditSourceID": "dicomsec@test-host"}, None,
                [("AuditSourceTypeCode", {"csd-code": "4"}, None, [])])
PATIENT_OBJECT: Any = ("ParticipantObjectIdentification",
                  {"ParticipantObjectID": "PAT-1", "ParticipantObjectTypeCode": "1",
                   "ParticipantObjectTypeCodeRole": "1"}, None,
                  [_coded("ParticipantObjectIDTypeCode", "2", "RFC-3881", "Patient Number"),
                   ("ParticipantObjectName", {}, "Müller^Jürgen", [])])


def test_sign_message_is_exactly_the_expected_structure() -> None:
    study = ("ParticipantObjectIdentification",
             {"ParticipantObjectID": STUDY.id, "ParticipantObjectTypeCode": "2",
              "ParticipantObjectTypeCodeRole": "3"}, None,
             [_coded("ParticipantObjectIDTypeCode", "110180"),
              ("ParticipantObjectName", {}, STUDY.id, []),
              ("ParticipantObjectDescription", {}, None, [
                  ("SOPClass", {"UID": CT, "NumberOfInstances": "2"}, None, [
                      ("Instance", {"UID": uid}, None, []) for uid in STUDY.sop_classes[0][1]
                  ])])])
    file = ("ParticipantObjectIdentification",
            {"ParticipantObjectID": FILE.id, "ParticipantObjectTypeCode": "2",
             "ParticipantObjectTypeCodeRole": "3"}, None,
            [_coded("ParticipantObjectIDTypeCode", "12", "RFC-3881", "URI"),
             ("ParticipantObjectName", {}, "CT small.dcm", [])])
    assert _structure(EVENTS[0][1]) == ("AuditMessage", {}, None, [
        ("EventIdentification", {"EventActionCode": "U",
                                 "EventDateTime": "2026-11-22T01:02:03.500000+01:00",
                                 "EventOutcomeIndicator": "0"}, None,
         [_coded("EventID", "110103")]),
        ("ActiveParticipant", {**TOOL, "UserIsRequestor": "true"}, None,
         [_coded("RoleIDCode", "110150")]),
        ("ActiveParticipant", {"UserID": "alice@test-host", "UserIsRequestor": "true"}, None, []),
        AUDIT_SOURCE, study, PATIENT_OBJECT, file,
    ])


def test_refused_association_is_exactly_the_expected_structure() -> None:
    event = AuditEvent(Operation.ASSOCIATION_REFUSED, FAIL, "TLS handshake failed",
                       (NODE,), (PEER,), when=WHEN)
    alert = base64.b64encode(b"peer did not present a certificate").decode()
    assert _structure(event) == ("AuditMessage", {}, None, [
        ("EventIdentification", {"EventActionCode": "E",
                                 "EventDateTime": "2026-11-22T01:02:03.500000+01:00",
                                 "EventOutcomeIndicator": "4"}, None,
         [_coded("EventID", "110113"), _coded("EventTypeCode", "110126"),
          ("EventOutcomeDescription", {}, "TLS handshake failed", [])]),
        # the remote peer asked: the tool is not the requestor, and no OS user takes part
        ("ActiveParticipant", {**TOOL, "UserIsRequestor": "false"}, None,
         [_coded("RoleIDCode", "110150")]),
        ("ActiveParticipant", {"UserID": "STORESCU", "UserIsRequestor": "true",
                               "NetworkAccessPointID": "198.51.100.7",
                               "NetworkAccessPointTypeCode": "2"}, None, []),
        AUDIT_SOURCE,
        ("ParticipantObjectIdentification",
         {"ParticipantObjectID": "198.51.100.7", "ParticipantObjectTypeCode": "2",
          "ParticipantObjectTypeCodeRole": "13"}, None,
         [_coded("ParticipantObjectIDTypeCode", "110182"),
          ("ParticipantObjectName", {}, "198.51.100.7", []),
          ("ParticipantObjectDetail", {"type": "Alert Description", "value": alert}, None, [])]),
    ])


def test_export_has_its_media_participant_and_the_tool_as_source() -> None:
    (message,) = dicom_messages(EVENTS[3][1], SOURCE)
    participants = etree.fromstring(message.xml).findall("ActiveParticipant")
    roles = [[r.get("csd-code") for r in p.findall("RoleIDCode")] for p in participants]
    assert roles == [["110150", "110153"], [], [], ["110154"]]
    assert [p.get("UserID") for p in participants] == [
        "dicomsec[4242]", "alice@test-host", "CN=Recipient,O=Hospital", MEDIA.id]
    media = participants[3].find("MediaIdentifier/MediaType")
    assert (media.get("csd-code"), media.get("originalText")) == ("110037", "URI")
    objects = etree.fromstring(message.xml).findall("ParticipantObjectIdentification")
    assert [o.get("ParticipantObjectID") for o in objects] == [STUDY.id, PATIENT.id]


def test_flags_and_life_cycle_of_the_study() -> None:
    (message,) = dicom_messages(EVENTS[6][1], SOURCE)
    study = etree.fromstring(message.xml).find("ParticipantObjectIdentification")
    assert study.get("ParticipantObjectDataLifeCycle") == "7"
    assert study.findtext("ParticipantObjectDescription/Anonymized") == "true"
    assert study.find("ParticipantObjectDescription/Encrypted") is None   # not given
    (message,) = dicom_messages(EVENTS[4][1], SOURCE)
    study = etree.fromstring(message.xml).find("ParticipantObjectIdentification")
    assert study.findtext("ParticipantObjectDescription/Encrypted") == "true"


def test_application_start_has_the_os_user_as_launcher() -> None:
    (message,) = dicom_messages(EVENTS[-3][1], SOURCE)
    launcher = etree.fromstring(message.xml).findall("ActiveParticipant")[1]
    assert launcher.get("UserID") == "alice@test-host"
    assert launcher.get("UserIsRequestor") == "true"
    assert launcher.find("RoleIDCode").get("csd-code") == "110151"


@pytest.mark.parametrize("name", ["Müller^Jürgen", "李^小龍", 'O\'Brien <&> "Pat"',
                                  "a\tb\nc\r\nd", "]]> &amp; &#10;"])
def test_text_round_trips_through_xml(name: str) -> None:
    patient = AuditObject(ObjectKind.PATIENT, f"ID {name}", name=name,
                          details=(("Alert Description", name),))
    event = AuditEvent(Operation.VERIFY, FAIL, name, (patient,),
                       (Participant(name, user_name=name, is_requestor=True),), when=WHEN)
    (message,) = dicom_messages(event, SOURCE)
    assert validate(message.xml) == []
    assert b"\n" not in message.xml and b"\r" not in message.xml
    root = etree.fromstring(message.xml)
    assert root.findtext("EventIdentification/EventOutcomeDescription") == name
    remote = root.findall("ActiveParticipant")[1]
    assert (remote.get("UserID"), remote.get("UserName")) == (name, name)
    obj = root.find("ParticipantObjectIdentification")
    assert obj.get("ParticipantObjectID") == f"ID {name}"
    assert obj.findtext("ParticipantObjectName") == name
    detail = obj.find("ParticipantObjectDetail")
    assert base64.b64decode(detail.get("value")).decode() == name


def test_characters_xml_cannot_hold_are_replaced() -> None:
    event = AuditEvent(Operation.VERIFY, FAIL, "bad\x00byte\x1b[31m\udcff",
                       (_alert("nul\x00"),), when=WHEN)
    (message,) = dicom_messages(event, SOURCE)
    assert validate(message.xml) == []
    text = etree.fromstring(message.xml).findtext("EventIdentification/EventOutcomeDescription")
    assert text == "bad\ufffdbyte\ufffd[31m\ufffd"


def test_a_naive_time_gets_the_local_time_zone() -> None:
    event = AuditEvent(Operation.APPLICATION_START, when=datetime(2026, 11, 22, 1, 2, 3))
    (message,) = dicom_messages(event, SOURCE)
    stamp = etree.fromstring(message.xml).find("EventIdentification").get("EventDateTime")
    assert datetime.fromisoformat(stamp).tzinfo is not None


def test_minimal_source_without_user_or_ae_titles() -> None:
    source = AuditSource(source_id="s", hostname="")
    (message,) = dicom_messages(EVENTS[0][1], source)
    assert validate(message.xml) == []
    participants = etree.fromstring(message.xml).findall("ActiveParticipant")
    assert len(participants) == 1
    assert dict(participants[0].attrib) == {"UserID": "dicomsec", "UserName": "dicomsec",
                                            "UserIsRequestor": "true"}


def test_local_source_names_this_process() -> None:
    import os
    import socket

    source = AuditSource.local(ae_titles=("SCP",))
    host = socket.gethostname()
    assert (source.source_id, source.hostname) == (f"dicomsec@{host}", host)
    assert source.process_id == str(os.getpid())
    assert source.user.endswith(f"@{host}") and source.ae_titles == ("SCP",)


BUILDERS = [
    lambda: application_activity(source=SOURCE, when=WHEN, type_code="110121"),
    lambda: audit_log_used(source=SOURCE, when=WHEN, objects=EVENTS[-1][1].objects),
    lambda: begin_transferring(source=SOURCE, when=WHEN, objects=(STUDY, PATIENT),
                               participants=(SOURCE_AE,)),
    lambda: instances_accessed(source=SOURCE, when=WHEN, action="D", objects=(STUDY, PATIENT)),
    lambda: instances_transferred(source=SOURCE, when=WHEN, action="U", objects=(STUDY,),
                                  participants=(SOURCE_AE,), outcome=8),
    lambda: export(source=SOURCE, when=WHEN, objects=(STUDY, PATIENT, MEDIA)),
    lambda: import_(source=SOURCE, when=WHEN, objects=(STUDY, PATIENT, MEDIA), outcome=4,
                    description="partly"),
    lambda: security_alert(source=SOURCE, when=WHEN, type_code="110134", outcome=12,
                           objects=(_alert("x", kind=ObjectKind.AUDIT_LOG,
                                           uri="file:///a.log"),)),
    lambda: user_authentication(source=SOURCE, when=WHEN, type_code="110123",
                                participants=(Participant("bob", is_requestor=True),)),
]


@pytest.mark.parametrize("build", BUILDERS, ids=[
    "application_activity", "audit_log_used", "begin_transferring", "instances_accessed",
    "instances_transferred", "export", "import_", "security_alert", "user_authentication"])
def test_each_builder_validates(build: Any) -> None:
    message = build()
    assert validate(message.xml) == []


def test_tool_roles_in_transfers() -> None:
    def tool(message: AuditMessage) -> list[str]:
        first = etree.fromstring(message.xml).find("ActiveParticipant")
        return [r.get("csd-code") for r in first.findall("RoleIDCode")]

    assert tool(BUILDERS[2]()) == ["110150", "110152"]     # the remote is the source
    assert tool(BUILDERS[4]()) == ["110150", "110152"]     # U: the tool received
    assert tool(dicom_messages(EVENTS[17][1], SOURCE)[0]) == ["110150", "110153"]  # sent


@pytest.mark.parametrize(("change", "message"), [
    ({"outcome": 3}, "outcome 3"),
    ({"objects": (AuditObject(ObjectKind.STUDY, "1.2", life_cycle=16),)}, "life cycle 16"),
])
def test_values_outside_the_schema_are_refused(change: dict[str, Any], message: str) -> None:
    event = AuditEvent(Operation.SIGN, when=WHEN, **change)
    with pytest.raises(InvalidInput, match=message):
        dicom_messages(event, SOURCE)


def test_an_unknown_action_is_refused() -> None:
    with pytest.raises(InvalidInput, match="EventActionCode 'X'"):
        instances_accessed(source=SOURCE, when=WHEN, action="X", objects=())


def test_building_never_imports_lxml_or_fhir() -> None:
    code = ("import sys\n"
            "from dicomsec.audit import AuditSource, dicom_messages\n"
            "from dicomsec.events import AuditEvent, Operation\n"
            "dicom_messages(AuditEvent(Operation.APPLICATION_START), AuditSource.local())\n"
            "print(sorted(m for m in sys.modules if m.startswith(('lxml', 'fhir', 'pydantic'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


def test_every_package_export_resolves() -> None:
    import dicomsec.audit

    for name in dicomsec.audit.__all__:
        assert getattr(dicomsec.audit, name) is not None, name
    assert set(dir(dicomsec.audit)) >= set(dicomsec.audit.__all__)


def _xml_safe(text: str) -> str:
    """``text`` with what XML 1.0 cannot carry replaced by U+FFFD, as the builder does."""
    return "".join("\ufffd" if (ord(c) < 0x20 and c not in "\t\n\r")
                   or 0xD800 <= ord(c) < 0xE000 or c in "\ufffe\uffff" else c for c in text)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.text(max_size=40))
def test_any_text_makes_valid_xml_and_comes_back(text: str) -> None:
    patient = AuditObject(ObjectKind.PATIENT, text, name=text, details=(("Alert Description",
                                                                         text),))
    event = AuditEvent(Operation.VERIFY, FAIL, text, (patient,),
                       (Participant(text, user_name=text, is_requestor=True),), when=WHEN)
    (message,) = dicom_messages(event, SOURCE)
    assert validate(message.xml) == []
    root = etree.fromstring(message.xml)
    expected = _xml_safe(text)
    assert (root.findtext("EventIdentification/EventOutcomeDescription") or "") == expected
    assert root.findall("ActiveParticipant")[1].get("UserID") == expected
    obj = root.find("ParticipantObjectIdentification")
    assert obj.get("ParticipantObjectID") == expected
    assert (obj.findtext("ParticipantObjectName") or "") == expected


def test_hostile_values_are_capped_and_the_record_stays_whole() -> None:
    """A 40,000-character Patient's Name (attacker-controlled input) would push a Security
    Alert over the TLS limit (32768): each value is cut at its maximum with a visible
    marker, the message stays valid and fits the sink."""
    from dicomsec.audit.messages import VALUE_MAX, cap
    from dicomsec.audit.sinks import TLS_DEFAULT_MAX, UdpSink
    from dicomsec.audit.syslog import syslog_record

    hostile = "Evil^" + "A" * 40_000
    event = AuditEvent(Operation.VERIFY, Outcome.MINOR_FAILURE, when=WHEN,
                       description="d" * 50_000, objects=(
                           AuditObject(ObjectKind.FILE, "file:///" + "p" * 50_000, name=hostile,
                                       details=(("Alert Description", "x" * 50_000),)),
                           AuditObject(ObjectKind.STUDY, "1." * 30_000),
                           AuditObject(ObjectKind.PATIENT, "P" * 50_000, name=hostile)),
                       participants=(Participant("u" * 50_000, user_name=hostile),))
    (alert,) = dicom_messages(event, SOURCE)
    assert validate(alert.xml) == []
    record = syslog_record(alert, SOURCE, WHEN)
    assert len(record) < TLS_DEFAULT_MAX
    assert UdpSink("127.0.0.1", max_size=TLS_DEFAULT_MAX).payload(event, alert, SOURCE) == record
    root = etree.fromstring(alert.xml)
    names = [e.text for e in root.iter("ParticipantObjectName")]
    assert f"...[+{len(hostile) - VALUE_MAX} chars]" in names[0]
    assert names[0] == cap(hostile) and names[0].startswith("Evil^AAA")
    assert cap("short") == "short"
