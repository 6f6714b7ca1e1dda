"""The signature reports follow the shared report protocol and keep their JSON keys."""

from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path

import pytest

from dicomsec import signatures
from dicomsec.algorithms.policy import AlgorithmPolicy, Purpose, Rule
from dicomsec.errors import PolicyViolation, TrustError, VerificationFailed
from dicomsec.report import SCHEMA_PATTERN, Report
from dicomsec.signatures.report import (
    SCHEMA,
    FileReport,
    SignaturePolicy,
    SignatureReport,
    SignResult,
    TimestampReport,
)
from dicomsec.trust import TrustStore
from tests.conftest import PKI, PYDICOM_FILES, fixture_key

CT = PYDICOM_FILES / "CT_small.dcm"

#: the keys each report had before the shared protocol (none may go away)
SIGNATURE_KEYS = {"uid", "location", "mac_id", "valid", "intact", "trusted", "mac_algorithm",
                  "signature_algorithm", "signer", "datetime", "profiles", "purpose",
                  "timestamp", "legacy", "interoperable", "problems", "covered"}
FILE_KEYS = {"schema", "file", "ok", "signatures", "unsigned_attributes", "skipped", "required",
             "required_met"}
TIMESTAMP_KEYS = {"present", "valid", "trusted", "ok", "time", "tsa", "hash_algorithm",
                  "problems"}
#: the keys ``sign --json`` printed before SignResult had ``to_dict()``
SIGN_KEYS = {"file", "uid", "location", "mac_id", "mac_algorithm", "signature_algorithm",
             "profile", "timestamp", "signed_attributes"}


@pytest.fixture(scope="module")
def signed(tmp_path_factory: pytest.TempPathFactory) -> tuple[SignResult, Path]:
    out = tmp_path_factory.mktemp("reports") / "signed.dcm"
    return signatures.sign(CT, out, key=fixture_key("ecp256"), profile="base"), out


def _trust() -> TrustStore:
    return TrustStore.from_paths([PKI / "ca.cert.pem"])


@pytest.mark.parametrize("cls", [FileReport, SignatureReport, SignResult, TimestampReport,
                                 SignaturePolicy])
def test_every_report_follows_the_protocol(cls: type[Report]) -> None:
    assert issubclass(cls, Report)
    assert SCHEMA_PATTERN.match(cls.schema), cls.schema
    assert cls.__dataclass_params__.frozen  # type: ignore[attr-defined]
    assert "__slots__" in vars(cls)


def test_file_and_signature_reports(signed: tuple[SignResult, Path]) -> None:
    _result, path = signed
    report = signatures.verify(path, trust=_trust())
    d = report.to_dict()
    assert list(d)[:2] == ["schema", "ok"] and d["schema"] == SCHEMA
    assert FILE_KEYS <= d.keys() and d["ok"] is True
    (sig,) = d["signatures"]
    assert SIGNATURE_KEYS <= sig.keys()
    assert sig["schema"] == SignatureReport.schema and sig["ok"] is True
    assert sig["timestamp"] is None
    policy = sig["policy"]
    assert policy["schema"] == SignaturePolicy.schema and policy["ok"] is True
    assert policy["allowed"] is True and policy["policy"] == "default policy"
    assert policy["signature"]["algorithm"] == "ecdsa-p256"
    assert policy["signature"]["purpose"] == "verify" and policy["mac"]["algorithm"] == "sha256"
    assert json.loads(report.to_json()) == d
    assert report.summary().startswith("OK ") and report.signatures[0].summary().startswith("OK ")
    report.raise_for_failure()


def test_untrusted_and_broken_reports_raise(signed: tuple[SignResult, Path],
                                            tmp_path: Path) -> None:
    _result, path = signed
    untrusted = signatures.verify(path)
    assert not untrusted.ok and untrusted.summary().startswith("FAILED ")
    with pytest.raises(TrustError):
        untrusted.raise_for_failure()
    broken = tmp_path / "broken.dcm"
    broken.write_bytes(path.read_bytes().replace(b"CompressedSamples^CT1",
                                                 b"CompressedSamples^CT2", 1))
    report = signatures.verify(broken, trust=_trust())
    assert report.signatures[0].summary().startswith("INVALID ")
    with pytest.raises(VerificationFailed):
        report.raise_for_failure()


def test_required_signature_missing_raises(signed: tuple[SignResult, Path]) -> None:
    _result, path = signed
    report = signatures.verify(path, trust=_trust(), require="sr")
    assert report.signatures[0].ok and not report.required_met and not report.ok
    with pytest.raises(VerificationFailed, match="sr"):
        report.raise_for_failure()


def test_sign_result_has_the_cli_keys(signed: tuple[SignResult, Path]) -> None:
    result, path = signed
    d = result.to_dict()
    assert d["schema"] == SignResult.schema and d["ok"] is True
    assert SIGN_KEYS <= d.keys()
    assert d["file"] == str(path) and d["signed_attributes"] == list(result.signed_tags)
    assert d["profile"] == "base" and d["timestamp"] is False
    assert result.summary().startswith("OK ")
    result.raise_for_failure()


def test_timestamp_report_keeps_its_keys() -> None:
    absent = TimestampReport.absent()
    assert not hasattr(absent, "__dict__")  # slots all the way up
    assert not absent.ok and absent.summary().startswith("ABSENT")
    with pytest.raises(VerificationFailed):
        absent.raise_for_failure()
    moment = _dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=_dt.UTC)
    good = TimestampReport(present=True, valid=True, trusted=True, time=moment, tsa="CN=TSA",
                           hash_algorithm="sha256")
    d = good.to_dict()
    assert TIMESTAMP_KEYS <= d.keys() and d["schema"] == TimestampReport.schema
    assert d["ok"] is True and d["time"] == moment.isoformat()
    # callers written when the status was a dict keep working


# ------------------------------------------------------------------------------------------
# the algorithm policy's VERIFY decision in every signature report


def test_p256_verified_in_2036_is_intact_with_a_legacy_note(
        signed: tuple[SignResult, Path]) -> None:
    _result, path = signed
    report = signatures.verify_file(path, trust=_trust(), at=_dt.date(2036, 6, 1))
    (sig,) = report.signatures
    assert sig.intact and sig.valid and sig.trusted and sig.ok and report.ok
    assert sig.policy is not None and sig.policy.ok
    decision = sig.policy.signature
    assert decision is not None and decision.allowed and decision.legacy
    assert decision.quantum_vulnerable and decision.at == _dt.date(2036, 6, 1)
    assert "quantum-vulnerable, disallowed for new signatures after 2035-12-31" in (
        decision.reason)
    d = sig.to_dict()["policy"]
    assert d["at"] == "2036-06-01" and d["signature"]["legacy"] is True
    assert d["signature"]["not_allowed_after"] is None  # verification has no end date


def test_a_verify_refusal_makes_the_report_not_ok(signed: tuple[SignResult, Path]) -> None:
    _result, path = signed
    site = AlgorithmPolicy.default().derive(name="site policy", rules=[Rule(
        "no-p256-verify", "site rule: P-256 is no longer accepted", algorithms=frozenset(
            {"ecdsa-p256"}), purposes=frozenset({Purpose.VERIFY}),
        disallowed_after=_dt.date(2030, 1, 1))])
    before = signatures.verify_file(path, trust=_trust(), policy=site, at=_dt.date(2029, 1, 1))
    assert before.ok
    report = signatures.verify_file(path, trust=_trust(), policy=site, at=_dt.date(2031, 1, 1))
    (sig,) = report.signatures
    assert sig.intact and sig.valid and sig.trusted and not sig.ok and not report.ok
    assert any(p.startswith("site policy: ecdsa-p256") for p in sig.problems)
    assert sig.to_dict()["policy"]["allowed"] is False
    with pytest.raises(PolicyViolation, match="site policy"):
        report.raise_for_failure()
