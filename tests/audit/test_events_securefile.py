"""Audit events of wrap and unwrap (issue 11: Export / Import; acceptance 4).

Library level, with :class:`dicomsec.events.Collector`: WRAP with the study and patient of the
input, the output as MEDIA and the recipients as participants (a certificate by its subject,
a password or KEK by kind, never the secret); UNWRAP with the study marked encrypted; a wrong
key or password is UNWRAP with outcome 4 and an Alert Description; a policy refusal is
POLICY_VIOLATION; no password or KEK used here appears in any event's repr; every event gives
DICOM messages that validate.
"""

from __future__ import annotations

import io
from pathlib import Path

import pydicom
import pytest

from dicomsec import securefile
from dicomsec.audit import AuditSource, dicom_messages, validate
from dicomsec.errors import DecryptionFailed, InvalidInput, PolicyViolation
from dicomsec.events import AuditEvent, AuditObject, Collector, ObjectKind, Operation, Outcome
from dicomsec.keys import load_certificate, load_private_key
from tests.conftest import DATA, PYDICOM_FILES

PKI = DATA / "pki-cms"
CT = PYDICOM_FILES / "CT_small.dcm"
PASSWORD = (PKI / "password.txt").read_text().splitlines()[0]
KEK = bytes(range(32))
KEK_ID = b"\x01\x02\x03\x04"
SOURCE = AuditSource.local()
#: every secret the tests below hand to the library, as they could appear in text
SECRETS = (PASSWORD, KEK.hex(), repr(KEK), "correct horse")


def _valid(event: AuditEvent) -> None:
    for message in dicom_messages(event, SOURCE):
        assert validate(message.xml) == [], message.xml.decode()


def _no_secret(events: list[AuditEvent]) -> None:
    text = repr(events)
    for secret in SECRETS:
        assert secret not in text


def _kind(event: AuditEvent, kind: ObjectKind) -> list[AuditObject]:
    return [o for o in event.objects if o.kind is kind]


def _alert(event: AuditEvent) -> str:
    (text,) = [t for o in event.objects for k, t in o.details if k == "Alert Description"]
    return text


def _wrapped(tmp_path: Path, got: Collector) -> Path:
    out = tmp_path / "ct.p7m"
    recipients = [securefile.recipient_for(PKI / "recip-rsa2048.pem"),
                  securefile.PasswordRecipient(PASSWORD), securefile.KekRecipient(KEK, KEK_ID)]
    securefile.wrap(CT, out, recipients=recipients, handlers=[got])
    return out


def test_wrap_event(tmp_path: Path) -> None:
    got = Collector()
    out = _wrapped(tmp_path, got)
    ds = pydicom.dcmread(CT)
    (event,) = got.events
    assert (event.operation, event.outcome) == (Operation.WRAP, Outcome.SUCCESS)
    (study,) = _kind(event, ObjectKind.STUDY)
    assert study.id == ds.StudyInstanceUID
    assert study.sop_classes == ((ds.SOPClassUID, (ds.SOPInstanceUID,)),)
    (patient,) = _kind(event, ObjectKind.PATIENT)
    assert (patient.id, patient.name) == (ds.PatientID, str(ds.PatientName))
    (media,) = _kind(event, ObjectKind.MEDIA)
    assert (media.id, media.name) == (out.resolve().as_uri(), "ct.p7m")
    subject = load_certificate(PKI / "recip-rsa2048.pem").subject.rfc4514_string()
    assert [p.user_id for p in event.participants] == [
        subject, "password recipient", f"KEK {KEK_ID.hex()}"]
    _no_secret(got.events)
    _valid(event)


def test_wrap_of_a_stream_names_no_study(tmp_path: Path) -> None:
    got = Collector()
    securefile.wrap(io.BytesIO(CT.read_bytes()), tmp_path / "s.p7m",
                    recipients=[securefile.KekRecipient(KEK, KEK_ID)], handlers=[got])
    (event,) = got.events
    assert event.operation is Operation.WRAP
    assert [o.kind for o in event.objects] == [ObjectKind.MEDIA]
    _valid(event)


@pytest.mark.parametrize("how", ["key", "password", "kek"])
def test_unwrap_event(how: str, tmp_path: Path) -> None:
    src = _wrapped(tmp_path, Collector())
    creds = {
        "key": securefile.Credentials(
            private_key=load_private_key(PKI / "recip-rsa2048.key"),
            certificate=load_certificate(PKI / "recip-rsa2048.pem")),
        "password": securefile.Credentials(password=PASSWORD),
        "kek": securefile.Credentials(kek=KEK, kek_id=KEK_ID),
    }[how]
    got = Collector()
    securefile.unwrap(src, tmp_path / "back.dcm", credentials=creds, handlers=[got])
    ds = pydicom.dcmread(CT)
    (event,) = got.events
    assert (event.operation, event.outcome) == (Operation.UNWRAP, Outcome.SUCCESS)
    (study,) = _kind(event, ObjectKind.STUDY)
    assert (study.id, study.encrypted) == (ds.StudyInstanceUID, True)
    assert _kind(event, ObjectKind.PATIENT)[0].id == ds.PatientID
    assert _kind(event, ObjectKind.MEDIA)[0].id == src.resolve().as_uri()
    _no_secret(got.events)
    _valid(event)


def test_signed_content_unwraps_with_its_identity(tmp_path: Path) -> None:
    signer = securefile.CmsSigner(load_private_key(PKI / "signer-p256.key"),
                                  load_certificate(PKI / "signer-p256.pem"))
    out = tmp_path / "signed.p7m"
    securefile.wrap(CT, out, recipients=[securefile.KekRecipient(KEK, KEK_ID)],
                    signers=[signer])
    got = Collector()
    securefile.unwrap(out, tmp_path / "b.dcm", handlers=[got],
                      credentials=securefile.Credentials(kek=KEK, kek_id=KEK_ID))
    (event,) = got.events
    assert _kind(event, ObjectKind.STUDY)[0].id == pydicom.dcmread(CT).StudyInstanceUID


@pytest.mark.parametrize("how", ["other key", "wrong password"])
def test_wrong_key_is_outcome_4(how: str, tmp_path: Path) -> None:
    src = _wrapped(tmp_path, Collector())
    creds = (securefile.Credentials(
        private_key=load_private_key(PKI / "recip-rsa2048-b.key"),
        certificate=load_certificate(PKI / "recip-rsa2048-b.pem"))
        if how == "other key" else securefile.Credentials(password=PASSWORD + " wrong"))
    got = Collector()
    with pytest.raises(DecryptionFailed) as failed:
        securefile.unwrap(src, tmp_path / "back.dcm", credentials=creds, handlers=[got])
    (event,) = got.events
    assert (event.operation, event.outcome) == (Operation.UNWRAP, Outcome.MINOR_FAILURE)
    assert _alert(event) == str(failed.value)
    (file,) = _kind(event, ObjectKind.FILE)
    assert file.id == src.resolve().as_uri()
    assert not (tmp_path / "back.dcm").exists()
    _no_secret(got.events)
    _valid(event)


def test_policy_refusal_is_a_policy_violation(tmp_path: Path) -> None:
    got = Collector()
    with pytest.raises(PolicyViolation) as refused:
        securefile.wrap(CT, tmp_path / "x.p7m", recipients=[securefile.PasswordRecipient(
            PASSWORD)], profile="basic", cipher="des-ede3-cbc", handlers=[got])
    (event,) = got.events
    assert (event.operation, event.outcome) == (Operation.POLICY_VIOLATION,
                                                Outcome.MINOR_FAILURE)
    assert _alert(event) == str(refused.value)
    assert _kind(event, ObjectKind.FILE)[0].id == CT.resolve().as_uri()
    _no_secret(got.events)
    _valid(event)


def test_unreadable_input_and_a_raising_handler(tmp_path: Path) -> None:
    junk = tmp_path / "junk.dcm"
    junk.write_bytes(b"x" * 200)
    got = Collector()
    with pytest.raises(InvalidInput):
        securefile.wrap(junk, tmp_path / "j.p7m",
                        recipients=[securefile.KekRecipient(KEK, KEK_ID)], handlers=[got])
    (event,) = got.events
    assert (event.operation, event.outcome) == (Operation.WRAP, Outcome.MINOR_FAILURE)

    def broken(event: AuditEvent) -> None:
        raise OSError("disk full")

    report = securefile.wrap(CT, tmp_path / "ok.p7m",
                             recipients=[securefile.KekRecipient(KEK, KEK_ID)],
                             handlers=[broken])
    assert report.ok and (tmp_path / "ok.p7m").is_file()


def test_commands_audit_policy_refusals(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    """Through the command line tool: an RSA-1024 recipient refused before the library runs
    (wrap), and a site policy forbidding the file's key transport (unwrap): each exits 1 and
    gives one POLICY_VIOLATION event, named by the command."""
    import types

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    from dicomsec.cli import _audit as cli_audit
    from dicomsec.cli import main

    got = Collector()
    monkeypatch.setattr(cli_audit, "current_trail",
                        lambda: types.SimpleNamespace(handlers=(got,)))
    weak = tmp_path / "weak.pub.pem"
    weak.write_bytes(rsa.generate_private_key(65537, 1024).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    assert main(["wrap", str(CT), "-o", str(tmp_path / "w.p7m"), "--to", str(weak)]) == 1
    policy = tmp_path / "site.toml"
    policy.write_text('[status]\n"rsa-pkcs1v15-transport" = "forbidden"\n')
    vector = DATA / "secure-files" / "s03_authenv_ktri-rsa15_aes256gcm_data.cms"
    assert main(["unwrap", str(vector), "-o", str(tmp_path / "u.dcm"),
                 "--key", str(PKI / "recip-rsa2048.key"), "--cert", str(PKI / "recip-rsa2048.pem"),
                 "--algorithm-policy", str(policy)]) == 1
    capsys.readouterr()
    wrap, unwrap = got.events
    assert [(e.operation, e.outcome, e.command) for e in got.events] == [
        (Operation.POLICY_VIOLATION, Outcome.MINOR_FAILURE, "wrap"),
        (Operation.POLICY_VIOLATION, Outcome.MINOR_FAILURE, "unwrap")]
    assert "1024" in _alert(wrap)
    assert "rsa-pkcs1v15-transport is forbidden" in _alert(unwrap)
    assert _kind(unwrap, ObjectKind.FILE)[0].id == vector.resolve().as_uri()
    for event in got.events:
        _valid(event)
