"""The public surface of ``dicomsec.securefile`` and its reports (issue 7, points 2 and 5):
everything reachable from ``from dicomsec import securefile``, every report follows the report
protocol, and the JSON keys the command line tool printed before stay."""

from __future__ import annotations

import copy
import dataclasses
import json
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from dicomsec import securefile
from dicomsec.errors import PolicyViolation, TrustError, VerificationFailed
from dicomsec.keys import load_certificate, load_private_key
from dicomsec.report import SCHEMA_PATTERN, Report
from dicomsec.trust import TrustStore
from tests.conftest import DATA, PYDICOM_FILES

PKI = DATA / "pki-cms"
CT = PYDICOM_FILES / "CT_small.dcm"
KEK = bytes(range(32))
KEK_ID = b"\x01\x02\x03\x04"

#: the keys each JSON had before the report protocol (``schema`` and ``ok`` were added)
WRAP_KEYS = {"file", "profile", "outer", "cipher", "recipients", "inner", "digest", "signers"}
UNWRAP_KEYS = {"file", "outer", "cipher", "recipient", "content_type", "form", "integrity",
               "inner", "is_dicom", "legacy", "policy", "policy_decisions", "deviations"}
INNER_KEYS = {"kind", "form", "ok", "digest", "digest_ok", "trust_checked", "signers",
              "problems"}
SIGNER_KEYS = {"signer", "algorithm", "digest", "valid", "trusted", "signing_time", "problems"}
INFO_KEYS = {"file", "type", "size", "outer", "version", "encoding", "content_type", "cipher",
             "icv_len", "authenticated_attributes", "recipients", "originator_info",
             "unprotected_attributes", "deviations"}
REPORTS = (securefile.WrapReport, securefile.UnwrapReport, securefile.InnerContentReport,
           securefile.SecureFileInfo)


def _kek() -> securefile.KekRecipient:
    return securefile.KekRecipient(KEK, KEK_ID)


def _signer() -> securefile.CmsSigner:
    key = load_private_key(PKI / "signer-p256.key")
    return securefile.CmsSigner(key, load_certificate(PKI / "signer-p256.pem"))


def _assert_protocol(report: Report, keys: set[str]) -> dict[str, Any]:
    d = report.to_dict()
    assert list(d)[:2] == ["schema", "ok"]
    assert d["schema"] == type(report).schema and SCHEMA_PATTERN.match(type(report).schema)
    assert d["ok"] is report.ok
    assert set(d) == {"schema", "ok", *keys}
    assert json.loads(report.to_json()) == d
    assert report.summary().split()[0].isupper()
    return d


def test_everything_is_reachable_from_the_package() -> None:
    for name in securefile.__all__:
        assert getattr(securefile, name) is not None, name
    assert set(securefile.__all__) <= set(dir(securefile))
    from dicomsec.cms import recipients, signed

    assert securefile.Credentials is recipients.Credentials
    assert securefile.KeyTransRecipient is recipients.KeyTransRecipient
    assert securefile.CmsSigner is signed.CmsSigner
    with pytest.raises(AttributeError):
        securefile.no_such_name  # noqa: B018


def test_importing_the_package_stays_cheap() -> None:
    code = ("import sys, dicomsec.securefile as s; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & "
            "{'cryptography', 'asn1crypto', 'pydicom', 'typer'}))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_every_report_follows_the_protocol() -> None:
    for cls in REPORTS:
        assert issubclass(cls, Report)
        assert dataclasses.is_dataclass(cls)
        assert getattr(cls, "__dataclass_params__").frozen  # noqa: B009
        assert "__slots__" in cls.__dict__
        assert SCHEMA_PATTERN.match(cls.schema), cls


def test_round_trip_reports(tmp_path: Path) -> None:
    wrapped, out = tmp_path / "w.p7m", tmp_path / "o.dcm"
    w = securefile.wrap(CT, wrapped, recipients=[_kek(), securefile.PasswordRecipient(
        "correct horse battery", iterations=1000)])
    assert _assert_protocol(w, WRAP_KEYS)["recipients"] == ["kekri", "pwri"]
    assert w.ok and w.inner == "data" and w.digest is None
    w.raise_for_failure()

    info = securefile.inspect(wrapped)
    d = _assert_protocol(info, INFO_KEYS)
    assert info.is_secure and info.outer == "auth-enveloped-data" and info.icv_len == 16
    assert [r["kind"] for r in info.recipients] == ["kekri", "pwri"]
    assert d["recipients"] == [dict(r) for r in info.recipients]

    u = securefile.unwrap(wrapped, out, credentials=securefile.Credentials(
        password="correct horse battery"))
    d = _assert_protocol(u, UNWRAP_KEYS)
    assert d["recipient"] == {"index": 1, "kind": "pwri"}
    assert u.integrity == "aead" and u.is_dicom and not u.legacy
    assert d["policy"]["schema"] == "dicomsec.algorithms.decision/1"
    assert d["policy"]["algorithm"] == "aes256-gcm" and d["policy"]["purpose"] == "decrypt"
    assert d["policy"]["allowed"] is True and d["policy"]["policy"] == "default policy"
    assert u.inner == securefile.InnerContentReport.plain()
    assert set(u.to_dict()["inner"]) == {"schema", *INNER_KEYS}
    u.raise_for_failure()
    assert out.read_bytes() == CT.read_bytes()


def test_signed_inner_content_is_typed(tmp_path: Path) -> None:
    wrapped, out = tmp_path / "w.p7m", tmp_path / "o.dcm"
    w = securefile.wrap(CT, wrapped, recipients=[_kek()], signers=[_signer()])
    assert (w.inner, w.digest, w.signers) == ("signed-data", "sha256", 1)
    trust = TrustStore.from_paths([PKI / "ca.pem"])
    u = securefile.unwrap(wrapped, out, credentials=securefile.Credentials(kek=KEK,
                                                                            kek_id=KEK_ID),
                          trust=trust)
    inner = u.inner
    assert isinstance(inner, securefile.InnerContentReport)
    assert (inner.kind, inner.form, inner.trust_checked, inner.ok) == ("signed", "strict",
                                                                        True, True)
    [signer] = inner.signers
    assert isinstance(signer, securefile.InnerSigner)
    assert signer.valid and signer.trusted and signer.signing_time is not None
    assert set(signer.to_dict()) == SIGNER_KEYS
    d = _assert_protocol(inner, INNER_KEYS - {"ok"})
    assert d["signers"] == [signer.to_dict()]
    assert u.integrity == "aead" and u.to_dict()["inner"] == d


def test_untrusted_inner_signer_raises_trust_error(tmp_path: Path) -> None:
    wrapped, out = tmp_path / "w.p7m", tmp_path / "o.dcm"
    securefile.wrap(CT, wrapped, recipients=[_kek()], signers=[_signer()])
    other = TrustStore.from_paths([PKI / "recip-rsa2048.pem"])
    with pytest.raises(TrustError) as caught:
        securefile.unwrap(wrapped, out, credentials=securefile.Credentials(kek=KEK,
                                                                            kek_id=KEK_ID),
                          trust=other)
    assert caught.value.path == str(wrapped)
    assert not out.exists()


def _signer_report(valid: bool, trusted: bool) -> securefile.InnerSigner:
    return securefile.InnerSigner(signer="CN=x", algorithm="ecdsa-with-SHA256",
                                  digest="sha256", valid=valid, trusted=trusted,
                                  problems=() if valid and trusted else ("bad",))


@pytest.mark.parametrize(("report", "error"), [
    (securefile.InnerContentReport(kind="digested", form="strict", digest="sha256",
                                   digest_ok=False), VerificationFailed),
    (securefile.InnerContentReport(kind="signed", form="strict"), VerificationFailed),
    (securefile.InnerContentReport(kind="signed", form="strict",
                                   signers=(_signer_report(False, False),)),
     VerificationFailed),
    (securefile.InnerContentReport(kind="signed", form="strict", trust_checked=True,
                                   signers=(_signer_report(True, False),)), TrustError),
    (securefile.InnerContentReport(kind="signed", form="strict",
                                   signers=(_signer_report(True, True),),
                                   problems=("eContentType is not id-data",)),
     VerificationFailed),
])
def test_inner_failures(report: securefile.InnerContentReport, error: type[Exception]) -> None:
    assert not report.ok
    with pytest.raises(error):
        report.raise_for_failure()
    assert report.summary().split()[0] in ("INVALID", "UNTRUSTED")


def test_inner_ok_without_trust_store() -> None:
    report = securefile.InnerContentReport(kind="signed", form="strict",
                                           signers=(_signer_report(True, False),))
    assert report.ok
    report.raise_for_failure()


def test_secure_file_info_is_a_frozen_report(tmp_path: Path) -> None:
    plain = securefile.inspect(CT)
    assert not plain.is_secure and plain.kind == "dicom-part10"
    _assert_protocol(plain, {"file", "type", "size"})
    # the keys inspect()'s dict had before the report protocol
    info = plain.to_dict()
    assert info["type"] == "dicom-part10" and info["size"] == CT.stat().st_size
    assert json.loads(plain.to_json()) == info
    with pytest.raises(dataclasses.FrozenInstanceError):
        plain.size = 1  # type: ignore[misc]
    for clone in (pickle.loads(pickle.dumps(plain)), copy.copy(plain), copy.deepcopy(plain)):
        assert type(clone) is securefile.SecureFileInfo and clone == plain
        assert clone.path == plain.path


def test_legacy_cipher_needs_allow_legacy(tmp_path: Path) -> None:
    recipient = securefile.PasswordRecipient("correct horse battery", iterations=1000)
    out = tmp_path / "w.p7m"
    with pytest.raises(PolicyViolation, match="legacy"):
        securefile.wrap(CT, out, recipients=[recipient], profile="basic",
                        cipher="des-ede3-cbc")
    assert list(tmp_path.iterdir()) == []
    w = securefile.wrap(CT, out, recipients=[recipient], profile="basic",
                        cipher="des-ede3-cbc", allow_legacy=True)
    assert (w.cipher, w.inner) == ("des-ede3-cbc", "digested-data")
    u = securefile.unwrap(out, tmp_path / "o.dcm",
                          credentials=securefile.Credentials(password="correct horse battery"))
    assert u.legacy and u.integrity == "digested" and u.inner.kind == "digested"
    assert u.inner.digest_ok is True


@pytest.mark.parametrize(("profile", "rsa_v15", "oaep"), [
    ("aead", False, True), ("basic", False, False), ("aead", True, False), ("pq", False, True),
])
def test_recipient_for_chooses_rsa_padding_by_profile(profile: str, rsa_v15: bool,
                                                       oaep: bool) -> None:
    rsa = securefile.recipient_for(PKI / "recip-rsa2048.pem", profile=profile, rsa_v15=rsa_v15)
    assert isinstance(rsa, securefile.KeyTransRecipient) and rsa.oaep is oaep
    ec = securefile.recipient_for(PKI / "recip-p256.pem", profile=profile, rsa_v15=rsa_v15)
    assert ec.kind == "kari"
    explicit = securefile.recipient_for(PKI / "recip-rsa2048.pem", profile="basic", oaep=True)
    assert isinstance(explicit, securefile.KeyTransRecipient) and explicit.oaep
