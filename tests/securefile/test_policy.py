"""wrap and unwrap ask the dated algorithm policy: creation of every algorithm used, the
DECRYPT decision on the content cipher. No wall clock: dates are passed as ``at``."""

from __future__ import annotations

import datetime as _dt
from pathlib import Path

import pytest

from dicomsec import securefile
from dicomsec.algorithms import Status
from dicomsec.algorithms.policy import AlgorithmPolicy, Purpose, Rule
from dicomsec.errors import PolicyViolation
from tests.conftest import DATA, PYDICOM_FILES

PKI = DATA / "pki-cms"
CT = PYDICOM_FILES / "CT_small.dcm"
KEK = bytes(range(32))
KEK_ID = b"\x01\x02\x03\x04"
TODAY = _dt.date(2026, 12, 2)
LATE = _dt.date(2036, 6, 1)


def _kek() -> securefile.KekRecipient:
    return securefile.KekRecipient(KEK, KEK_ID)


def _forbid(name: str, *purposes: Purpose) -> AlgorithmPolicy:
    return AlgorithmPolicy.default().derive(name="site policy", rules=[Rule(
        f"site-no-{name}", f"site rule: no {name}", algorithms=frozenset({name}),
        purposes=frozenset(purposes or (Purpose.CREATE,)), disallowed_after=_dt.date(2020, 1, 1),
        waivable=False)])


def test_a_policy_forbidding_aes128_refuses_the_cipher(tmp_path: Path) -> None:
    out = tmp_path / "w.p7m"
    with pytest.raises(PolicyViolation, match=r"^site policy: aes128-gcm"):
        securefile.wrap(CT, out, recipients=[_kek()], cipher="aes128-gcm",
                        policy=_forbid("aes128-gcm"), at=TODAY)
    assert not out.exists()
    securefile.wrap(CT, out, recipients=[_kek()], policy=_forbid("aes128-gcm"), at=TODAY)


def test_recipient_schemes_are_judged_with_their_keys_at_the_day(tmp_path: Path) -> None:
    ec = securefile.recipient_for(PKI / "recip-p256.pem")
    out = tmp_path / "w.p7m"
    securefile.wrap(CT, out, recipients=[ec], at=TODAY)
    with pytest.raises(PolicyViolation, match="quantum-vulnerable"):
        securefile.wrap(CT, tmp_path / "late.p7m", recipients=[ec], at=LATE)
    assert not (tmp_path / "late.p7m").exists()


def test_basic_profile_keeps_rsa_v15_but_not_against_a_forbidden_status(
        tmp_path: Path) -> None:
    rsa = securefile.recipient_for(PKI / "recip-rsa2048.pem", profile="basic")
    securefile.wrap(CT, tmp_path / "b.p7m", recipients=[rsa], profile="basic", at=TODAY)
    strict = AlgorithmPolicy.default().with_status("rsa-pkcs1v15-transport", Status.FORBIDDEN)
    with pytest.raises(PolicyViolation, match="rsa-pkcs1v15-transport is forbidden"):
        securefile.wrap(CT, tmp_path / "c.p7m", recipients=[rsa], profile="basic",
                        policy=strict, at=TODAY)


def test_allow_legacy_is_the_short_form(tmp_path: Path) -> None:
    rsa = securefile.recipient_for(PKI / "recip-rsa2048.pem", profile="basic")
    with pytest.raises(PolicyViolation, match="default policy: des-ede3-cbc"):
        securefile.wrap(CT, tmp_path / "d.p7m", recipients=[rsa], profile="basic",
                        cipher="des-ede3-cbc", at=TODAY)
    for kwargs in ({"allow_legacy": True},
                   {"policy": AlgorithmPolicy.default(allow_legacy=True)}):
        report = securefile.wrap(CT, tmp_path / "d.p7m", recipients=[rsa], profile="basic",
                                 cipher="des-ede3-cbc", at=TODAY, **kwargs)
        assert report.cipher == "des-ede3-cbc"


def test_unwrap_carries_the_decrypt_decision_and_refuses_before_decrypting(
        tmp_path: Path) -> None:
    wrapped, out = tmp_path / "w.p7m", tmp_path / "o.dcm"
    securefile.wrap(CT, wrapped, recipients=[_kek()])
    creds = securefile.Credentials(kek=KEK, kek_id=KEK_ID)
    report = securefile.unwrap(wrapped, out, credentials=creds, at=LATE)
    assert report.policy is not None and report.policy.allowed
    assert report.policy.purpose is Purpose.DECRYPT and report.policy.at == LATE
    out.unlink()
    with pytest.raises(PolicyViolation, match=r"w.p7m: site policy: aes256-gcm"):
        securefile.unwrap(wrapped, out, credentials=creds,
                          policy=_forbid("aes256-gcm", Purpose.DECRYPT))
    assert not out.exists()
