"""Issue 11: audit events of the signing policy (POLICY_VIOLATION) and the site PKI
(SECURITY_CONFIGURATION).

Library level with :class:`dicomsec.events.Collector`, then through the command line tool with
``--audit file://...``: the file sink's records are parsed (EventID, EventTypeCode, outcome,
the resource) and validated against the schema; the CA passphrase appears in none.
"""

from __future__ import annotations

import base64
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from dicomsec import policy
from dicomsec.audit import AuditSource, dicom_messages, validate
from dicomsec.cli import main as cli_main
from dicomsec.events import AuditEvent, Collector, ObjectKind, Operation, Outcome
from dicomsec.trust import TrustStore, pki
from tests.conftest import DCMSIGN_FIXTURES, PKI, PYDICOM_FILES

UNSIGNED = PYDICOM_FILES / "CT_small.dcm"
SIGNED = DCMSIGN_FIXTURES / "ct_rsa2048_sha256_none.dcm"
PASSPHRASE = "audit-11 ca passphrase"
SOURCE = AuditSource.local()


def _policy(tmp_path: Path, mode: str) -> policy.Policy:
    path = tmp_path / f"{mode}.toml"
    path.write_text(f'[[rule]]\nname = "ct-{mode}"\nmatch = {{ Modality = "CT" }}\n'
                    f'mode = "{mode}"\n', encoding="utf-8")
    return policy.load(path)


def _valid(events: list[AuditEvent]) -> None:
    for event in events:
        for message in dicom_messages(event, SOURCE):
            assert validate(message.xml) == [], message.xml


@pytest.mark.parametrize(("mode", "outcome"), [("enforce", Outcome.MINOR_FAILURE),
                                               ("monitor", Outcome.SERIOUS_FAILURE)])
def test_policy_violation_event(tmp_path: Path, mode: str, outcome: Outcome) -> None:
    events = Collector()
    verdict = policy.check_file(UNSIGNED, _policy(tmp_path, mode), trust=None,
                                handlers=[events])
    assert verdict.verdict == "unsigned"
    [event] = events.events
    assert event.operation is Operation.POLICY_VIOLATION and event.outcome is outcome
    [target] = event.objects
    assert target.kind is ObjectKind.FILE and target.id == UNSIGNED.resolve().as_uri()
    kind, alert = target.details[0]
    assert kind == "Alert Description" and f"rule 'ct-{mode}'" in alert and "unsigned" in alert
    _valid(events.events)


def test_evaluate_emits_for_a_caller_holding_its_report(tmp_path: Path) -> None:
    """``verify --policy`` judges with ``Policy.evaluate``: the same event."""
    from dicomsec.signatures.report import FileReport

    events = Collector()
    verdict = _policy(tmp_path, "monitor").evaluate(
        FileReport(str(UNSIGNED), (), ()), {"Modality": "CT"}, path=str(UNSIGNED),
        handlers=[events])
    assert verdict.verdict == "unsigned"
    assert [(e.operation, e.outcome) for e in events.events] == [
        (Operation.POLICY_VIOLATION, Outcome.SERIOUS_FAILURE)]


def test_compliant_and_uncovered_verdicts_are_no_violation(tmp_path: Path) -> None:
    events = Collector()
    trust = TrustStore.from_paths([PKI / "ca.cert.pem"])
    verdict = policy.check_file(SIGNED, _policy(tmp_path, "enforce"), trust=trust,
                                handlers=[events])
    assert verdict.verdict == "compliant" and events.events == []
    other = tmp_path / "mr.toml"
    other.write_text('[[rule]]\nname = "mr"\nmatch = { Modality = "MR" }\n', encoding="utf-8")
    assert policy.check_file(UNSIGNED, policy.load(other), trust=None,
                             handlers=[events]).verdict == "not-covered"
    assert events.events == []


def test_a_raising_handler_never_changes_the_verdict(tmp_path: Path) -> None:
    def broken(event: AuditEvent) -> None:
        raise RuntimeError("sink down")

    verdict = policy.check_file(UNSIGNED, _policy(tmp_path, "enforce"), trust=None,
                                handlers=[broken])
    assert verdict.verdict == "unsigned" and verdict.enforced


def test_pki_library_emits_security_configuration(tmp_path: Path) -> None:
    events = Collector()
    site = tmp_path / "site"
    secret = PASSPHRASE.encode()
    pki.init(site, passphrase=secret, handlers=[events])
    issued = pki.issue(site, pki.Request("tls-client", "audit client"), passphrase=secret,
                       out=tmp_path / "client", handlers=[events])
    pki.revoke(site, issued.certificate, passphrase=secret, reason="key-compromise",
               handlers=[events])
    crls = pki.write_crls(site, tmp_path / "site.crl.pem", passphrase=secret,
                          handlers=[events])
    assert [e.operation for e in events.events] == [Operation.SECURITY_CONFIGURATION] * 4
    actions = [dict(e.objects[0].details)["Action"] for e in events.events]
    assert actions == ["issue", "issue", "revoke", "issue"]
    ids = [e.objects[0].id for e in events.events]
    assert ids[0] == (site / "ca.cert.pem").resolve().as_uri()
    assert ids[1] == (tmp_path / "client.cert.pem").resolve().as_uri()
    assert ids[3] == crls[0].resolve().as_uri()
    serial = dict(events.events[2].objects[0].details)["Serial Number"]
    assert int(serial, 16) == issued.certificate.serial_number
    assert all(e.objects[0].kind is ObjectKind.SECURITY_RESOURCE for e in events.events)
    assert PASSPHRASE not in repr(events.events)
    _valid(events.events)


def _records(log: Path) -> list[ET.Element]:
    return [ET.fromstring(json.loads(line)["xml"].encode("utf-8"))
            for line in log.read_text("utf-8").splitlines() if line.strip()]


def _type_code(root: ET.Element) -> str | None:
    code = root.find("EventIdentification/EventTypeCode")
    return None if code is None else code.get("csd-code")


def test_cli_records_policy_and_pki(tmp_path: Path) -> None:
    log, spool = tmp_path / "audit.log", tmp_path / "spool"
    audit = ["--audit", log.as_uri(), "--audit-spool", str(spool)]
    passfile = tmp_path / "pass.txt"
    passfile.write_text(PASSPHRASE + "\n", encoding="utf-8")
    site = tmp_path / "site"
    assert cli_main([*audit, "pki", "init", str(site), "--passphrase-file", str(passfile)]) == 0
    assert cli_main([*audit, "pki", "issue", str(site), "--kind", "tls-client", "--name",
                     "audit cli client", "--out", str(tmp_path / "c"), "--passphrase-file",
                     str(passfile)]) == 0
    assert cli_main([*audit, "pki", "revoke", str(site), "--cert",
                     str(tmp_path / "c.cert.pem"), "--passphrase-file", str(passfile)]) == 0
    assert cli_main([*audit, "pki", "crl", str(site), "-o", str(tmp_path / "site.crl.pem"),
                     "--passphrase-file", str(passfile)]) == 0
    rules = tmp_path / "p.toml"
    rules.write_text('[[rule]]\nname = "ct"\nmatch = { Modality = "CT" }\nmode = "enforce"\n',
                     encoding="utf-8")
    assert cli_main([*audit, "policy", "check", str(UNSIGNED), "--policy", str(rules),
                     "--trust", str(PKI / "ca.cert.pem"), "--workers", "1"]) == 1
    for line in log.read_text("utf-8").splitlines():
        assert validate(json.loads(line)["xml"].encode("utf-8")) == []
    records = _records(log)
    config = [r for r in records if _type_code(r) == "110129"]
    assert len(config) == 4
    violations = [r for r in records if _type_code(r) == "110144"]
    assert len(violations) == 1
    event = violations[0].find("EventIdentification")
    assert event is not None and event.get("EventOutcomeIndicator") == "4"
    event_id = event.find("EventID")
    assert event_id is not None and event_id.get("csd-code") == "110113"
    target = violations[0].find("ParticipantObjectIdentification")
    assert target is not None
    assert target.get("ParticipantObjectID") == UNSIGNED.resolve().as_uri()
    detail = target.find("ParticipantObjectDetail")
    assert detail is not None and detail.get("type") == "Alert Description"
    assert "unsigned" in base64.b64decode(detail.get("value", "")).decode("utf-8")
    assert PASSPHRASE not in log.read_text("utf-8")


@pytest.mark.parametrize(("mode", "workers", "code", "outcome"), [
    ("enforce", "1", 1, "4"), ("monitor", "2", 0, "8")])
def test_cli_verify_with_policy_records_the_violation(tmp_path: Path, mode: str, workers: str,
                                                      code: int, outcome: str) -> None:
    """``verify --policy``: a violated rule is a POLICY_VIOLATION record (110113, type 110144),
    refused (4) under enforce, let through (8) under monitor, in this process and from a
    worker (the parent re-emits what the job collected), next to the VERIFY record."""
    log = tmp_path / "audit.log"
    rules = tmp_path / f"{mode}.toml"
    rules.write_text(f'[[rule]]\nname = "ct"\nmatch = {{ Modality = "CT" }}\nmode = "{mode}"\n',
                     encoding="utf-8")
    assert cli_main(["--audit", log.as_uri(), "--audit-spool", str(tmp_path / "spool"),
                     "verify", str(UNSIGNED), "--allow-unsigned", "--policy", str(rules),
                     "--workers", workers]) == code
    for line in log.read_text("utf-8").splitlines():
        assert validate(json.loads(line)["xml"].encode("utf-8")) == []
    records = _records(log)
    violations = [r for r in records if _type_code(r) == "110144"]
    assert len(violations) == 1
    event = violations[0].find("EventIdentification")
    assert event is not None and event.get("EventOutcomeIndicator") == outcome
    target = violations[0].find("ParticipantObjectIdentification")
    assert target is not None
    assert target.get("ParticipantObjectID") == UNSIGNED.resolve().as_uri()
    assert len(records) == 2  # and the file's VERIFY record


def test_ocsp_responder_certificate_is_a_security_configuration(tmp_path: Path) -> None:
    """``pki ocsp-serve`` issues its responder certificate on first start: one "issue"
    event naming the certificate; a second start finds it and issues nothing."""
    site = tmp_path / "site"
    secret = PASSPHRASE.encode()
    pki.init(site, passphrase=secret)
    events = Collector()
    server = pki.make_server(site, port=0, passphrase=lambda: secret, handlers=[events])
    server.server_close()
    [event] = events.events
    assert event.operation is Operation.SECURITY_CONFIGURATION
    [resource] = event.objects
    details = dict(resource.details)
    assert details["Action"] == "issue" and "OCSP responder" in details["Subject"]
    cert = Path(resource.id.removeprefix("file://"))
    assert cert.is_file() and cert.parent.parent == site.resolve()
    assert "OCSP responder certificate" in event.description
    assert PASSPHRASE not in repr(event)
    _valid(events.events)
    again = Collector()
    pki.make_server(site, port=0, passphrase=lambda: secret, handlers=[again]).server_close()
    assert again.events == []


def _broken_builder(verdict: object) -> AuditEvent | None:
    raise RuntimeError("defect in the event builder")


def test_a_failing_violation_event_never_changes_the_verdict(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    """``Policy.evaluate`` and ``policy check`` build the event under a never-raise guard:
    the verdict and the exit code stay, the failure is logged."""
    from dicomsec.policy import _audit as policy_audit
    from dicomsec.signatures.report import FileReport

    monkeypatch.setattr(policy_audit, "violation_event", _broken_builder)
    monkeypatch.setattr(policy, "violation_event", _broken_builder)
    events = Collector()
    verdict = _policy(tmp_path, "enforce").evaluate(
        FileReport(str(UNSIGNED), (), ()), {"Modality": "CT"}, path=str(UNSIGNED),
        handlers=[events])
    assert verdict.verdict == "unsigned" and events.events == []
    assert "policy violation event not built" in caplog.text
    rules = tmp_path / "p.toml"
    rules.write_text('[[rule]]\nname = "ct"\nmatch = { Modality = "CT" }\nmode = "enforce"\n',
                     encoding="utf-8")
    log = tmp_path / "audit.log"
    assert cli_main(["--audit", log.as_uri(), "--audit-spool", str(tmp_path / "spool"),
                     "policy", "check", str(UNSIGNED), "--policy", str(rules),
                     "--trust", str(PKI / "ca.cert.pem"), "--workers", "1"]) == 1
