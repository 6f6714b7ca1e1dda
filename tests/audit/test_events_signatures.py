"""Audit events of signing and verifying (issue 11: events, not imports; acceptance 4).

Library level, with :class:`dicomsec.events.Collector`: one event per operation and file, with
the study, the patient (a non-ASCII name decoded by the file's character set) and the file of
contracts §1; a failed verification is VERIFY with outcome 4 and an Alert Description naming
the failed check; a policy refusal is POLICY_VIOLATION; a handler that raises never breaks
signing; every event turns into DICOM audit messages that validate against the schema. The
verify command's workers return their events and the parent re-emits them.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pydicom
import pytest

from dicomsec import signatures
from dicomsec.audit import AuditSource, dicom_messages, validate
from dicomsec.cli import main as cli_main
from dicomsec.errors import InvalidInput, PolicyViolation
from dicomsec.events import AuditEvent, AuditObject, Collector, ObjectKind, Operation, Outcome
from dicomsec.signatures._events import head_identity
from dicomsec.trust import TrustStore
from tests.conftest import PKI, PYDICOM_FILES, fixture_key

CT = PYDICOM_FILES / "CT_small.dcm"
SOURCE = AuditSource.local()


def assert_valid(event: AuditEvent) -> None:
    """Every DICOM message of the event validates against the schema (acceptance 1)."""
    for message in dicom_messages(event, SOURCE):
        assert validate(message.xml) == [], message.xml.decode()


def objects(event: AuditEvent, kind: ObjectKind) -> list[AuditObject]:
    return [o for o in event.objects if o.kind is kind]


def alert_of(event: AuditEvent) -> str:
    texts = [text for o in event.objects for kind, text in o.details
             if kind == "Alert Description"]
    assert len(texts) == 1, event
    return texts[0]


def _named(tmp_path: Path, charset: str | None, name: str) -> Path:
    ds = pydicom.dcmread(CT)
    if charset is not None:
        ds.SpecificCharacterSet = charset
    ds.PatientName = name
    path = tmp_path / "named.dcm"
    ds.save_as(path, enforce_file_format=True)
    return path


def _trust() -> TrustStore:
    return TrustStore.from_paths([PKI / "ca.cert.pem"])


@pytest.mark.parametrize(("charset", "name"), [
    (None, "CompressedSamples^CT1"),
    ("ISO_IR 192", "Müller^Jürgen"),
    ("ISO_IR 100", "Müller^Jürgen"),
])
def test_sign_and_verify_events(charset: str | None, name: str, tmp_path: Path) -> None:
    src = _named(tmp_path, charset, name)
    ds = pydicom.dcmread(src)
    got = Collector()
    dst = tmp_path / "signed.dcm"
    signatures.sign_file(src, dst, key=fixture_key("ecp256"), handlers=[got])
    report = signatures.verify_file(dst, trust=_trust(), handlers=[got])
    assert report.ok
    sign, verify = got.events
    assert (sign.operation, sign.outcome) == (Operation.SIGN, Outcome.SUCCESS)
    assert (verify.operation, verify.outcome) == (Operation.VERIFY, Outcome.SUCCESS)
    for event in got.events:
        (study,) = objects(event, ObjectKind.STUDY)
        assert study.id == ds.StudyInstanceUID
        assert study.sop_classes == ((ds.SOPClassUID, (ds.SOPInstanceUID,)),)
        (patient,) = objects(event, ObjectKind.PATIENT)
        assert (patient.id, patient.name) == (ds.PatientID, name)
        (file,) = objects(event, ObjectKind.FILE)
        assert (file.id, file.name) == (dst.resolve().as_uri(), "signed.dcm")
        assert event.description == "" and event.command is None
        assert_valid(event)


def test_failed_verification_is_outcome_4_naming_the_check(tmp_path: Path) -> None:
    dst = tmp_path / "signed.dcm"
    signatures.sign_file(CT, dst, key=fixture_key("rsa2048"))
    ds = pydicom.dcmread(dst)
    ds.PatientID = ds.PatientID[::-1]  # same length: only the MAC can tell
    ds.save_as(dst)
    got = Collector()
    report = signatures.verify_file(dst, trust=_trust(), handlers=[got])
    assert not report.ok
    (event,) = got.events
    assert (event.operation, event.outcome) == (Operation.VERIFY, Outcome.MINOR_FAILURE)
    text = alert_of(event)
    assert text.startswith("verification failed: signature ")
    assert report.signatures[0].problems[0] in text  # the failed check, as the report says
    (file,) = objects(event, ObjectKind.FILE)
    assert file.id == dst.resolve().as_uri() and file.details
    assert objects(event, ObjectKind.STUDY) and objects(event, ObjectKind.PATIENT)
    assert_valid(event)


def test_untrusted_and_unsigned_and_unreadable_are_outcome_4(tmp_path: Path) -> None:
    dst = tmp_path / "signed.dcm"
    signatures.sign_file(CT, dst, key=fixture_key("ed25519"))
    got = Collector()
    assert not signatures.verify_file(dst, trust=None, handlers=[got]).ok
    assert not signatures.verify_file(CT, allow_unsigned=False, handlers=[got]).ok
    junk = tmp_path / "junk.dcm"
    junk.write_bytes(b"not dicom at all")
    with pytest.raises(InvalidInput):
        signatures.verify_file(junk, handlers=[got])
    untrusted, unsigned, unreadable = got.events
    assert all(e.operation is Operation.VERIFY and e.outcome is Outcome.MINOR_FAILURE
               for e in got.events)
    assert "not trusted" in alert_of(untrusted).lower() or "trust" in alert_of(untrusted)
    assert "no signatures found" in alert_of(unsigned)
    assert objects(unreadable, ObjectKind.FILE)[0].id == junk.resolve().as_uri()
    assert not objects(unreadable, ObjectKind.STUDY)
    for event in got.events:
        assert_valid(event)


def test_policy_refusal_is_a_policy_violation(tmp_path: Path) -> None:
    got = Collector()
    with pytest.raises(PolicyViolation) as refused:
        signatures.sign_file(CT, tmp_path / "s.dcm", key=fixture_key("rsa2048"), mac="sha1",
                             handlers=[got])
    (event,) = got.events
    assert (event.operation, event.outcome) == (Operation.POLICY_VIOLATION,
                                                Outcome.MINOR_FAILURE)
    assert alert_of(event) == str(refused.value)
    assert "SHA1" in alert_of(event).upper()
    assert objects(event, ObjectKind.FILE)[0].id == CT.resolve().as_uri()
    assert not (tmp_path / "s.dcm").exists()
    assert_valid(event)


def test_other_sign_failures_are_sign_with_outcome_4(tmp_path: Path) -> None:
    got = Collector()
    with pytest.raises(InvalidInput) as failed:
        signatures.sign_file(CT, tmp_path / "s.dcm", key=fixture_key("ecp256"),
                             item="NoSuchSequence[0]", handlers=[got])
    (event,) = got.events
    assert (event.operation, event.outcome) == (Operation.SIGN, Outcome.MINOR_FAILURE)
    assert alert_of(event) == str(failed.value)
    assert objects(event, ObjectKind.FILE)[0].id == CT.resolve().as_uri()
    assert objects(event, ObjectKind.STUDY)  # the input was read: its study is named
    assert_valid(event)


def test_a_raising_handler_never_breaks_signing(tmp_path: Path,
                                                caplog: pytest.LogCaptureFixture) -> None:
    def broken(event: AuditEvent) -> None:
        raise RuntimeError("the audit repository is on fire")

    got = Collector()
    result = signatures.sign_file(CT, tmp_path / "s.dcm", key=fixture_key("ecp384"),
                                  handlers=[broken, got])
    assert result.ok and (tmp_path / "s.dcm").is_file()
    assert [e.operation for e in got.events] == [Operation.SIGN]
    assert "on fire" in caplog.text
    assert signatures.verify_file(tmp_path / "s.dcm", trust=_trust(), handlers=[broken]).ok


def test_no_handler_no_event_and_the_dataset_api(tmp_path: Path) -> None:
    ds = pydicom.dcmread(CT)
    got = Collector()
    signed = signatures.sign(ds, key=fixture_key("ecp256"), handlers=[got])
    report = signatures.verify(signed, trust=_trust(), handlers=[got])
    assert report.ok
    sign, verify = got.events
    assert sign.operation is Operation.SIGN and verify.operation is Operation.VERIFY
    # a Dataset has no file of its own: the events name no temporary file
    assert not objects(sign, ObjectKind.FILE) and not objects(verify, ObjectKind.FILE)
    assert objects(verify, ObjectKind.STUDY)[0].id == ds.StudyInstanceUID


@pytest.mark.parametrize("name", ["CT_small.dcm", "MR_small_implicit.dcm",
                                  "MR_small_bigendian.dcm", "image_dfl.dcm"])
def test_head_identity_reads_what_pydicom_reads(name: str) -> None:
    path = PYDICOM_FILES / name
    ds = pydicom.dcmread(path)
    with open(path, "rb") as fh:
        fh.seek(7)
        got = head_identity(fh)
        assert fh.tell() == 7
    assert got.study_uid == ds.StudyInstanceUID
    assert got.sop_class == ds.SOPClassUID and got.sop_instance == ds.SOPInstanceUID
    assert got.patient_id == ds.get("PatientID", "")
    assert got.patient_name == str(ds.get("PatientName", ""))


@pytest.mark.parametrize("implicit", [True, False])
def test_head_identity_skips_undefined_length_sequences(implicit: bool,
                                                        tmp_path: Path) -> None:
    ds = pydicom.dcmread(CT)
    inner = pydicom.Dataset()
    inner.CodeValue = "1"
    inner.CodeMeaning = "x" * 60
    deeper = pydicom.Dataset()
    deeper.ReferencedSOPInstanceUID = "1.2.3"
    inner.ReferencedSOPSequence = [deeper]
    ds.ProcedureCodeSequence = [inner, inner]  # (0008,1032): before the study
    block = ds.private_block(0x0009, "AUDIT TEST", create=True)
    block.add_new(0x01, "OB", b"\0" * 40000)  # the identity lies beyond the first 16 KiB
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.PatientName = "Åström^Önder"
    for elem in ds.iterall():
        if elem.VR == "SQ":
            elem.is_undefined_length = True
            for item in elem.value:
                item.is_undefined_length_sequence_item = True
    path = tmp_path / "seq.dcm"
    ds.file_meta.TransferSyntaxUID = (pydicom.uid.ImplicitVRLittleEndian if implicit
                                      else pydicom.uid.ExplicitVRLittleEndian)
    ds.save_as(path, enforce_file_format=True)
    with open(path, "rb") as fh:  # the sequence really has an undefined length
        assert b"\x32\x10" + (b"" if implicit else b"SQ\0\0") + b"\xff\xff\xff\xff" in fh.read()
    with open(path, "rb") as fh:
        got = head_identity(fh)
    assert (got.study_uid, got.patient_id, got.patient_name) == (
        ds.StudyInstanceUID, ds.PatientID, "Åström^Önder")


def test_verify_workers_return_their_events(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """The verify command with two workers: each file's event comes back from its worker
    and is re-emitted in the parent, named by the command; a failed file included."""
    import types

    from dicomsec.cli import _audit as cli_audit

    got = Collector()
    monkeypatch.setattr(cli_audit, "current_trail",
                        lambda: types.SimpleNamespace(handlers=(got,)))
    folder = tmp_path / "in"
    folder.mkdir()
    signatures.sign_file(CT, folder / "a.dcm", key=fixture_key("ecp256"))
    shutil.copy(CT, folder / "b.dcm")  # unsigned: fails
    (folder / "c.dcm").write_bytes(b"junk")  # unreadable: exit 2
    rc = cli_main(["verify", "--workers", "2", "--trust", str(PKI / "ca.cert.pem"),
                   str(folder)])
    assert rc == 1
    by_file = {str(objects(e, ObjectKind.FILE)[0].name): e for e in got.events}
    assert sorted(by_file) == ["a.dcm", "b.dcm", "c.dcm"]
    assert by_file["a.dcm"].outcome is Outcome.SUCCESS
    assert by_file["b.dcm"].outcome is Outcome.MINOR_FAILURE
    assert by_file["c.dcm"].outcome is Outcome.MINOR_FAILURE
    assert {e.command for e in got.events} == {"verify"}
