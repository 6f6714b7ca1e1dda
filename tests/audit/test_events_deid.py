"""Audit events of de-identification and re-identification (issue 11; acceptance 4).

Library level, with :class:`dicomsec.events.Collector`: DEIDENTIFY with the OUTPUT's study
(anonymized, life cycle 7, its SOP class and instance) and the ORIGINAL patient; REIDENTIFY
with the restored study and patient and the input file (outcome 0), or outcome 4 with an
Alert Description (the wrong key); a strict refusal is POLICY_VIOLATION; a handler that raises
breaks nothing. The deid and reid commands with two workers: each file's event (failures
included) comes back from its worker and the parent re-emits it. Neither the UID secret nor
the key password ever appears in an event; every event gives DICOM messages that validate.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pydicom
import pytest

from dicomsec import deid
from dicomsec.audit import AuditSource, dicom_messages, validate
from dicomsec.cli import main as cli_main
from dicomsec.deid._batch import Planned, audited_deid_job, audited_reid_job
from dicomsec.errors import DecryptionFailed, PolicyViolation
from dicomsec.events import AuditEvent, AuditObject, Collector, ObjectKind, Operation, Outcome
from dicomsec.keys import load_private_key, write_private_key
from tests.conftest import DATA, PYDICOM_FILES
from tests.deid.test_file import SECRET, _config, _credentials

CT = PYDICOM_FILES / "CT_small.dcm"
ANON = DATA / "pki-anon"
KEY_PASSWORD = "audit key pass phrase 42"
SOURCE = AuditSource.local()


def _valid(event: AuditEvent) -> None:
    for message in dicom_messages(event, SOURCE):
        assert validate(message.xml) == [], message.xml.decode()


def _no_secret(events: list[AuditEvent]) -> None:
    text = repr(events)
    assert SECRET.decode() not in text and KEY_PASSWORD not in text


def _kind(event: AuditEvent, kind: ObjectKind) -> list[AuditObject]:
    return [o for o in event.objects if o.kind is kind]


def _alert(event: AuditEvent) -> str:
    (text,) = [t for o in event.objects for k, t in o.details if k == "Alert Description"]
    return text


def test_deidentify_and_reidentify_events(tmp_path: Path) -> None:
    got = Collector()
    deid.deidentify_file(CT, tmp_path / "d.dcm", _config(), handlers=[got])
    deid.reidentify_file(tmp_path / "d.dcm", tmp_path / "r.dcm", _credentials(),
                         handlers=[got])
    original, out = pydicom.dcmread(CT), pydicom.dcmread(tmp_path / "d.dcm")
    assert out.StudyInstanceUID != original.StudyInstanceUID
    de, re = got.events
    assert (de.operation, de.outcome) == (Operation.DEIDENTIFY, Outcome.SUCCESS)
    (study,) = _kind(de, ObjectKind.STUDY)
    assert (study.id, study.anonymized, study.life_cycle) == (out.StudyInstanceUID, True, 7)
    assert study.sop_classes == ((out.SOPClassUID, (out.SOPInstanceUID,)),)
    (patient,) = _kind(de, ObjectKind.PATIENT)
    assert (patient.id, patient.name) == (original.PatientID, str(original.PatientName))
    assert (re.operation, re.outcome) == (Operation.REIDENTIFY, Outcome.SUCCESS)
    assert _kind(re, ObjectKind.STUDY)[0].id == original.StudyInstanceUID
    assert _kind(re, ObjectKind.PATIENT)[0].id == original.PatientID
    assert _kind(re, ObjectKind.FILE)[0].id == (tmp_path / "d.dcm").resolve().as_uri()
    _no_secret(got.events)
    for event in got.events:
        _valid(event)


def test_failed_reidentification_is_outcome_4(tmp_path: Path) -> None:
    deid.deidentify_file(CT, tmp_path / "d.dcm", _config())
    got = Collector()
    with pytest.raises(DecryptionFailed) as failed:
        deid.reidentify_file(tmp_path / "d.dcm", tmp_path / "r.dcm", _credentials("other"),
                             handlers=[got])
    (event,) = got.events
    assert (event.operation, event.outcome) == (Operation.REIDENTIFY, Outcome.MINOR_FAILURE)
    assert _alert(event) == str(failed.value)
    assert _kind(event, ObjectKind.FILE)[0].id == (tmp_path / "d.dcm").resolve().as_uri()
    _valid(event)


def test_strict_refusal_is_a_policy_violation(tmp_path: Path) -> None:
    ds = pydicom.dcmread(CT)
    ds.BurnedInAnnotation = "YES"
    ds.save_as(tmp_path / "burned.dcm")
    got = Collector()
    with pytest.raises(PolicyViolation):
        deid.deidentify_file(tmp_path / "burned.dcm", tmp_path / "b.dcm",
                             _config(strict=True), handlers=[got])
    (event,) = got.events
    assert (event.operation, event.outcome) == (Operation.POLICY_VIOLATION,
                                                Outcome.MINOR_FAILURE)
    assert "burned-in" in _alert(event)
    _no_secret(got.events)
    _valid(event)


def test_a_raising_handler_breaks_nothing(tmp_path: Path) -> None:
    def broken(event: AuditEvent) -> None:
        raise ValueError("handler bug")

    report = deid.deidentify_file(CT, tmp_path / "d.dcm", _config(), handlers=[broken])
    assert report.ok and (tmp_path / "d.dcm").is_file()


def test_audited_jobs_return_events_failures_included(tmp_path: Path) -> None:
    ok = audited_deid_job(Planned(CT, tmp_path / "a.dcm"), config=_config())
    assert ok.error is None and ok.value is not None
    assert [e.operation for e in ok.events] == [Operation.DEIDENTIFY]
    bad = audited_deid_job(Planned(CT, tmp_path / "b.dcm", "two inputs, one output"),
                           config=_config())
    assert (bad.value, bad.kind) == (None, "input") and "two inputs" in (bad.error or "")
    assert [(e.operation, e.outcome) for e in bad.events] == [
        (Operation.DEIDENTIFY, Outcome.MINOR_FAILURE)]
    from dicomsec.deid._batch import KeyArgs

    wrong = audited_reid_job(Planned(tmp_path / "a.dcm", tmp_path / "r.dcm"),
                             key=KeyArgs(ANON / "other.key.pem"))
    assert wrong.kind == "security" and wrong.value is None
    assert [(e.operation, e.outcome) for e in wrong.events] == [
        (Operation.REIDENTIFY, Outcome.MINOR_FAILURE)]


def test_deid_and_reid_commands_reemit_worker_events(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import types

    from dicomsec.cli import _audit as cli_audit

    got = Collector()
    monkeypatch.setattr(cli_audit, "current_trail",
                        lambda: types.SimpleNamespace(handlers=(got,)))
    monkeypatch.setenv("DICOMSEC_UID_SECRET", SECRET.decode())
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("a.dcm", "b.dcm"):
        shutil.copy(CT, folder / name)
    (folder / "junk.dcm").write_bytes(b"junk")
    rc = cli_main(["deid", str(folder), "-o", str(tmp_path / "out"), "--workers", "2",
                   "--to", str(ANON / "recipient.cert.pem")])
    assert rc == 2  # the junk file
    names = {_kind(e, ObjectKind.FILE)[0].name: e for e in got.events
             if e.outcome is not Outcome.SUCCESS}
    assert list(names) == ["junk.dcm"]
    assert sorted((e.operation, e.outcome) for e in got.events) == [
        (Operation.DEIDENTIFY, Outcome.SUCCESS)] * 2 + [
        (Operation.DEIDENTIFY, Outcome.MINOR_FAILURE)]
    for event in got.events:
        _valid(event)
    (tmp_path / "out" / "junk.dcm").write_bytes(b"junk")  # not de-identified: no item
    key = tmp_path / "k.pem"
    write_private_key(load_private_key(ANON / "recipient.key.pem"), key,
                      password=KEY_PASSWORD.encode())
    (tmp_path / "pw").write_text(KEY_PASSWORD + "\n")
    got.events.clear()
    rc = cli_main(["reid", str(tmp_path / "out"), "-o", str(tmp_path / "back"), "--key",
                   str(key), "--key-password-file", str(tmp_path / "pw"), "--workers", "2"])
    assert rc == 2
    assert sorted((e.operation, e.outcome) for e in got.events) == [
        (Operation.REIDENTIFY, Outcome.SUCCESS)] * 2 + [
        (Operation.REIDENTIFY, Outcome.MINOR_FAILURE)]
    assert {e.command for e in got.events} == {"reid"}
    _no_secret(got.events)
    for event in got.events:
        _valid(event)


def test_an_unexpected_failure_is_audited(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                          ) -> None:
    """An OSError inside the operation (not a DicomSecError) still leaves its event."""
    from dicomsec.deid import _file

    def broken(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(_file, "_write", broken)
    seen = Collector()
    with pytest.raises(OSError):
        _file.deidentify_file(PYDICOM_FILES / "CT_small.dcm", tmp_path / "o.dcm",
                              _file.DeidConfig(secret=b"s" * 20), handlers=[seen])
    (event,) = seen.events
    assert event.operation is Operation.DEIDENTIFY and int(event.outcome) == 4
    assert "No space left" in event.objects[0].details[0][1]
