"""wrap and unwrap ask the dated algorithm policy: creation of every algorithm used; for
unwrap, DECRYPT on the content cipher and every algorithm of the recipients the credentials fit
(before anything is decrypted), VERIFY on the inner digest and signers (before publishing).
No wall clock: dates are passed as ``at``."""

from __future__ import annotations

import datetime as _dt
from pathlib import Path

import pytest

from dicomsec import securefile
from dicomsec.algorithms import Status
from dicomsec.algorithms.policy import AlgorithmPolicy, Purpose, Rule
from dicomsec.cli import main
from dicomsec.errors import PolicyViolation
from dicomsec.keys import load_certificate, load_private_key
from dicomsec.trust import TrustStore
from tests.conftest import DATA, PYDICOM_FILES

PKI = DATA / "pki-cms"
VECTORS = DATA / "secure-files"
S03 = VECTORS / "s03_authenv_ktri-rsa15_aes256gcm_data.cms"
S05 = VECTORS / "s05_pwri-pbkdf2_aes256cbc_data.cms"
S10 = VECTORS / "s10_ktri-rsaoaep256_aes256cbc_signed-rsapss-sha256.cms"
CT_SHA256 = "3dd31e5cc835b3f2cdd46c9da1982f59251e78518fefa8163d914631c66437d6"
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


# ------------------------------------------------------------------------------------------
# unwrap judges every algorithm it uses (review finding: only the content cipher was judged)


def _rsa() -> securefile.Credentials:
    return securefile.Credentials(private_key=load_private_key(PKI / "recip-rsa2048.key"),
                                  certificate=load_certificate(PKI / "recip-rsa2048.pem"))


def _password(text: str | None = None) -> securefile.Credentials:
    return securefile.Credentials(password=text or (PKI / "password.txt").read_text().strip())


def _forbidden(name: str) -> AlgorithmPolicy:
    return AlgorithmPolicy.default().derive(name="site policy",
                                            statuses=[(name, Status.FORBIDDEN)])


def _sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_rsa_v15_transport_forbidden_refuses_s03_before_decrypting(tmp_path: Path) -> None:
    out = tmp_path / "o.dcm"
    for policy in (_forbidden("rsa-pkcs1v15-transport"),
                   _forbid("rsa-pkcs1v15-transport", Purpose.DECRYPT)):
        with pytest.raises(PolicyViolation,
                           match=r"s03_.*: site policy: rsa-pkcs1v15-transport") as info:
            securefile.unwrap(S03, out, credentials=_rsa(), policy=policy, at=TODAY)
        assert info.value.path == str(S03)
        assert list(tmp_path.iterdir()) == []


def test_sha1_forbidden_refuses_the_pbkdf2_prf_of_s05_whatever_the_password(
        tmp_path: Path) -> None:
    out = tmp_path / "o.dcm"
    messages = set()
    for creds in (_password(), _password("not the password")):
        with pytest.raises(PolicyViolation, match=r"site policy: sha1 is forbidden") as info:
            securefile.unwrap(S05, out, credentials=creds, allow_unauthenticated=True,
                              policy=_forbidden("sha1"), at=TODAY)
        messages.add(str(info.value))
        assert list(tmp_path.iterdir()) == []
    # the refusal does not depend on the secret: same answer for the right and a wrong password
    assert len(messages) == 1
    with pytest.raises(PolicyViolation, match=r"site policy: hmac-sha1 is forbidden"):
        securefile.unwrap(S05, out, credentials=_password(), allow_unauthenticated=True,
                          policy=_forbidden("hmac-sha1"), at=TODAY)
    assert list(tmp_path.iterdir()) == []


def test_a_verify_rule_on_the_inner_digest_refuses_s10_and_publishes_nothing(
        tmp_path: Path) -> None:
    out = tmp_path / "o.dcm"
    trust = TrustStore.from_paths([PKI / "ca.pem"])
    with pytest.raises(PolicyViolation, match=r"s10_.*: site policy: sha256 .*verification"):
        securefile.unwrap(S10, out, credentials=_rsa(), trust=trust,
                          policy=_forbid("sha256", Purpose.VERIFY), at=TODAY)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(PolicyViolation, match=r"site policy: rsassa-pss"):
        securefile.unwrap(S10, out, credentials=_rsa(),
                          policy=_forbid("rsassa-pss", Purpose.VERIFY), at=TODAY)
    assert list(tmp_path.iterdir()) == []
    # a rule for creation only changes nothing
    report = securefile.unwrap(S10, out, credentials=_rsa(), trust=trust,
                               policy=_forbid("sha256"), at=TODAY)
    assert report.integrity == "signed" and _sha256(out) == CT_SHA256


def test_default_policy_still_opens_every_vector_and_reports_each_decision(
        tmp_path: Path) -> None:
    kek256 = securefile.Credentials(kek=bytes.fromhex((PKI / "kek-aes256.hex").read_text()))
    kek128 = securefile.Credentials(kek=bytes.fromhex((PKI / "kek-aes128.hex").read_text()))
    creds = {"s01": _rsa(), "s02": _rsa(), "s03": _rsa(), "s04": kek256, "s05": _password(),
             "s06": _rsa(), "s07": _password(), "s08": _rsa(), "s09": kek128, "s10": _rsa(),
             "s11": _rsa(), "s12": _rsa()}
    for vector in sorted(VECTORS.glob("s*.cms")):
        out = tmp_path / f"{vector.stem}.dcm"
        for at in (TODAY, LATE):
            report = securefile.unwrap(vector, out, credentials=creds[vector.name[:3]],
                                       allow_unauthenticated=True, at=at)
            assert _sha256(out) == CT_SHA256, vector.name
            decisions = report.policy_decisions
            assert decisions[0] == report.policy
            assert all(d.allowed for d in decisions), vector.name
            out.unlink()
        names = {d.algorithm: d for d in decisions}
        purposes = {d.algorithm: d.purpose for d in decisions}
        if vector.name.startswith(("s01", "s03", "s06", "s08")):
            assert names["rsa-pkcs1v15-transport"].legacy
            assert purposes["rsa-pkcs1v15-transport"] is Purpose.DECRYPT
        if vector.name.startswith("s05"):
            assert {"pbkdf2", "hmac-sha1", "sha1", "pwri-kek", "aes256-cbc"} <= set(names)
            assert names["sha1"].legacy and names["hmac-sha1"].legacy
        if vector.name.startswith("s10"):
            assert purposes["rsassa-pss"] is Purpose.VERIFY
            assert purposes["rsa-oaep"] is Purpose.DECRYPT
            assert {"sha256", "mgf1"} <= set(names)


def test_a_refused_recipient_is_skipped_when_another_one_fits(tmp_path: Path) -> None:
    cert = PKI / "recip-rsa2048.pem"
    v15 = securefile.recipient_for(cert, rsa_v15=True)
    oaep = securefile.recipient_for(cert)
    wrapped, out = tmp_path / "w.p7m", tmp_path / "o.dcm"
    securefile.wrap(CT, wrapped, recipients=[v15, oaep], at=TODAY)
    report = securefile.unwrap(wrapped, out, credentials=_rsa(),
                               policy=_forbidden("rsa-pkcs1v15-transport"), at=TODAY)
    assert report.recipient_index == 1
    assert "rsa-pkcs1v15-transport" not in {d.algorithm for d in report.policy_decisions}
    out.unlink()
    # every recipient that fits is refused: the first refusal is told
    with pytest.raises(PolicyViolation,
                       match="site policy: rsa-pkcs1v15-transport is forbidden"):
        securefile.unwrap(wrapped, out, credentials=_rsa(),
                          policy=_forbidden("rsa-oaep").with_status(
                              "rsa-pkcs1v15-transport", Status.FORBIDDEN), at=TODAY)
    assert not out.exists()


def _cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    rc = main(argv)
    out, err = capsys.readouterr()
    return rc, out, err


RSA_ARGS = ["--key", str(PKI / "recip-rsa2048.key"), "--cert", str(PKI / "recip-rsa2048.pem")]


@pytest.mark.parametrize(("vector", "toml", "args", "needle"), [
    (S03, '[status]\n"rsa-pkcs1v15-transport" = "forbidden"\n', RSA_ARGS,
     "rsa-pkcs1v15-transport is forbidden"),
    (S05, '[status]\nsha1 = "forbidden"\n',
     ["--password-file", str(PKI / "password.txt"), "--allow-unauthenticated"],
     "sha1 is forbidden"),
    (S10, '[rules.site-no-sha256-verify]\nalgorithms = ["sha256"]\npurposes = ["verify"]\n'
          'disallowed = true\nreason = "site rule: no SHA-256 signatures"\n',
     [*RSA_ARGS, "--trust", str(PKI / "ca.pem")], "site rule: no SHA-256 signatures"),
], ids=["s03", "s05", "s10"])
def test_cli_refusal_exits_1_with_one_line_and_no_output(
        vector: Path, toml: str, args: list[str], needle: str, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    policy = tmp_path / "site.toml"
    policy.write_text(toml)
    work = tmp_path / "out"
    work.mkdir()
    out = work / "o.dcm"
    rc, stdout, err = _cli(["unwrap", str(vector), "-o", str(out), *args,
                            "--algorithm-policy", str(policy)], capsys)
    assert rc == 1, err
    [line] = [x for x in err.splitlines() if x.strip()]
    assert "policy file site.toml" in line and needle in line
    assert stdout == "" and list(work.iterdir()) == []
    rc, stdout, err = _cli(["unwrap", str(vector), "-o", str(out), *args], capsys)
    assert rc == 0, err
    assert _sha256(out) == CT_SHA256
