"""The library API: paths and pydicom Datasets in, reports out."""

from __future__ import annotations

import json
from pathlib import Path

import pydicom
import pytest

from dicomsec import signatures
from dicomsec.errors import TrustError, VerificationFailed
from dicomsec.trust import TrustStore
from tests.conftest import PKI, PYDICOM_FILES, fixture_key

CT = PYDICOM_FILES / "CT_small.dcm"


def _trust() -> TrustStore:
    return TrustStore.from_paths([PKI / "ca.cert.pem"])


def test_sign_and_verify_a_dataset() -> None:
    ds = pydicom.dcmread(CT)
    signed = signatures.sign(ds, key=fixture_key("ecp256"), profile="creator", purpose=1)
    assert isinstance(signed, pydicom.Dataset)
    assert "DigitalSignaturesSequence" in signed and "DigitalSignaturesSequence" not in ds
    file_report = signatures.verify(signed, trust=_trust())
    assert isinstance(file_report, signatures.FileReport) and file_report.ok
    assert file_report.file == "<dataset>"
    reports = file_report.signatures
    assert len(reports) == 1 and reports[0].ok
    assert "creator" in reports[0].profiles
    assert json.loads(reports[0].to_json())["uid"] == reports[0].uid
    reports[0].raise_for_failure()


def test_sign_and_verify_take_the_algorithm_policy(tmp_path: Path) -> None:
    import datetime as dt

    from dicomsec.algorithms import Status
    from dicomsec.algorithms.policy import AlgorithmPolicy
    from dicomsec.errors import PolicyViolation

    no_p256 = AlgorithmPolicy.default().with_status("ecdsa-p256", Status.FORBIDDEN)
    out = tmp_path / "refused.dcm"
    with pytest.raises(PolicyViolation, match="ecdsa-p256"):
        signatures.sign(CT, out, key=fixture_key("ecp256"), policy=no_p256)
    assert not out.exists()
    signed = tmp_path / "s.dcm"
    signatures.sign(CT, signed, key=fixture_key("ecp256"))
    (report,) = signatures.verify(signed, trust=_trust(), at=dt.date(2036, 6, 1)).signatures
    assert report.policy is not None and report.policy.signature is not None
    assert report.policy.signature.quantum_vulnerable and report.policy.signature.legacy
    (refused,) = signatures.verify(signed, trust=_trust(), policy=no_p256).signatures
    assert refused.valid and not refused.ok


def test_sign_path_needs_dst(tmp_path: Path) -> None:
    with pytest.raises(TypeError):
        # the overloads already refuse this statically; at run time it is a TypeError
        signatures.sign(CT, key=fixture_key("ecp256"))  # type: ignore[call-overload]


def test_untrusted_report_raises_trust_error(tmp_path: Path) -> None:
    out = tmp_path / "s.dcm"
    result = signatures.sign(CT, out, key=fixture_key("rsa2048"))
    assert result.location == "main" and result.signature_algorithm == "rsa-pkcs1v15"
    (report,) = signatures.verify(out).signatures
    assert report.valid and not report.trusted and not report.ok
    with pytest.raises(TrustError):
        report.raise_for_failure()


def test_tampered_report_raises_verification_failed(tmp_path: Path) -> None:
    out = tmp_path / "s.dcm"
    signatures.sign(CT, out, key=fixture_key("rsa2048"))
    data = out.read_bytes().replace(b"CompressedSamples^CT1", b"CompressedSamples^CT2", 1)
    out.write_bytes(data)
    file_report = signatures.verify_file(out, trust=_trust())
    assert not file_report.ok
    with pytest.raises(VerificationFailed):
        file_report.raise_for_failure()
    assert json.loads(file_report.to_json())["signatures"][0]["valid"] is False


def test_in_place_signing_keeps_one_file(tmp_path: Path) -> None:
    work = tmp_path / "ct.dcm"
    work.write_bytes(CT.read_bytes())
    signatures.sign(work, work, key=fixture_key("ecp384"), mac="sha384")
    assert [p.name for p in tmp_path.iterdir()] == ["ct.dcm"]
    assert signatures.verify_file(work, trust=_trust()).ok
