"""``--algorithm-policy FILE`` on sign, verify, wrap, unwrap and keys generate; ``verify --at``.

A policy refusal exits 1 with one line naming the policy file and leaves no output; a bad
policy file exits 2 with one line naming it; verify's JSON carries the VERIFY decisions. Each
command is run in-process through ``main`` (the typer-free path for the hot commands) and, by
giving the option twice (which only typer accepts: the last one wins), through typer too.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from dicomsec.cli import _fast
from dicomsec.cli._root import find_command
from tests.cli.conftest import Run
from tests.cli.test_cli import CA, CT, EC_CERT, EC_KEY, RSA_CERT, RSA_KEY
from tests.conftest import DATA

CMS = DATA / "pki-cms"
KEK, KEK_ID = CMS / "kek-aes256.hex", (CMS / "kek-aes256.id.hex").read_text().strip()

NO_P256 = """
[rules.site-no-p256]
algorithms = ["ecdsa-p256"]
disallowed = true
waivable = false
reason = "site rule: new signatures use P-384"
"""
NO_P256_UNSAID = """
[rules.site-no-p256]
algorithms = ["ecdsa-p256"]
disallowed = true
reason = "site rule: new signatures use P-384"
"""
NO_P256_VERIFY = """
[policy]
name = "strict site"

[rules.site-no-p256]
algorithms = ["ecdsa-p256"]
purposes = ["verify"]
disallowed = true
reason = "site rule: P-256 signatures are no longer accepted"
"""
NO_AES128 = """
[status]
aes128-gcm = "forbidden"
"""
NO_AES256_DECRYPT = """
[rules.site-no-aes256]
algorithms = ["aes256-gcm"]
purposes = ["decrypt"]
disallowed = true
reason = "site rule: no AES-256 here"
"""
BAD = {
    "syntax": "[rules\nx = 1\n",
    "unknown-key": "[policy]\ncolour = 'red'\n",
    "unknown-algorithm": "[status]\nrot13 = 'forbidden'\n",
    "date-out-of-range": ("[rules.x]\nreason = 'r'\nkinds = ['digest']\n"
                          "disallowed_after = 0001-01-01T00:00:00+01:00\n"),
}


def _policy(tmp_path: Path, text: str, name: str = "site.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _twice(option: str, value: Path) -> list[str | Path]:
    """The option given twice, the first time with a file that does not exist: only typer
    accepts a repeated option (the last one wins), so the command runs through typer."""
    return [option, value.parent / "never-read.toml", option, value]


@pytest.fixture(scope="module")
def signed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from dicomsec.cli import main

    dst = tmp_path_factory.mktemp("policy") / "signed.dcm"
    assert main(["sign", str(CT), "-o", str(dst), "--key", str(EC_KEY),
                 "--cert", str(EC_CERT)]) == 0
    return dst


# ------------------------------------------------------------------------------------------
# sign


@pytest.mark.parametrize("through_typer", [False, True])
def test_sign_refused_by_a_policy_forbidding_p256(run: Run, tmp_path: Path, outdir: Path,
                                                   through_typer: bool) -> None:
    policy = _policy(tmp_path, NO_P256)
    option: list[str | Path] = (_twice("--algorithm-policy", policy) if through_typer
                                else ["--algorithm-policy", policy])
    code = run("sign", CT, "-o", outdir / "s.dcm", "--key", EC_KEY, "--cert", EC_CERT, *option)
    assert code == 1, run.err
    run.assert_one_line_error()
    assert "policy file site.toml: ecdsa-p256" in run.err
    assert "site rule: new signatures use P-384" in run.err
    assert list(outdir.iterdir()) == []
    # the same policy lets an RSA signer through, and prints exactly to_dict()
    assert run("sign", CT, "-o", outdir / "r.dcm", "--key", RSA_KEY, "--cert", RSA_CERT,
               "--algorithm-policy", policy, "--json") == 0, run.err
    assert run.json()["schema"] == "dicomsec.signatures.sign/1"


def test_allow_legacy_stays_the_short_form(run: Run, tmp_path: Path, outdir: Path) -> None:
    policy = _policy(tmp_path, NO_P256)
    base: list[str | Path] = ["sign", CT, "-o", outdir / "md5.dcm", "--key", RSA_KEY,
                              "--cert", RSA_CERT, "--mac", "md5", "--algorithm-policy", policy]
    assert run(*base) == 1
    assert "policy file site.toml: md5 is a legacy algorithm" in run.err
    assert "--allow-legacy" in run.err
    assert run(*base, "--allow-legacy") == 0, run.err


def test_allow_legacy_does_not_lift_a_site_rule(run: Run, tmp_path: Path,
                                                outdir: Path) -> None:
    # a site rule without a waivable line is not waivable: --allow-legacy keeps the refusal,
    # and the refusal does not suggest the flag
    policy = _policy(tmp_path, NO_P256_UNSAID)
    base: list[str | Path] = ["sign", CT, "-o", outdir / "s.dcm", "--key", EC_KEY,
                              "--cert", EC_CERT, "--algorithm-policy", policy]
    for extra in ([], ["--allow-legacy"]):
        assert run(*base, *extra) == 1, run.err
        run.assert_one_line_error()
        assert "policy file site.toml: ecdsa-p256" in run.err
        assert "allow-legacy" not in run.err
        assert list(outdir.iterdir()) == []


def test_allow_legacy_lifts_a_site_rule_that_says_waivable(run: Run, tmp_path: Path,
                                                           outdir: Path) -> None:
    policy = _policy(tmp_path, NO_P256_UNSAID + "waivable = true\n")
    base: list[str | Path] = ["sign", CT, "-o", outdir / "s.dcm", "--key", EC_KEY,
                              "--cert", EC_CERT, "--algorithm-policy", policy]
    assert run(*base) == 1
    assert "--allow-legacy" in run.err
    assert run(*base, "--allow-legacy") == 0, run.err


# ------------------------------------------------------------------------------------------
# verify


def test_verify_json_carries_the_decision(run: Run, signed: Path) -> None:
    assert run("verify", signed, "--trust", CA, "--json", "--workers", "1") == 0, run.err
    (sig,) = run.json()[0]["signatures"]
    policy = sig["policy"]
    assert policy["schema"] == "dicomsec.signatures.policy/1" and policy["allowed"] is True
    assert policy["policy"] == "default policy"
    assert policy["signature"]["algorithm"] == "ecdsa-p256"
    assert policy["signature"]["purpose"] == "verify" and policy["signature"]["allowed"]
    assert policy["mac"]["algorithm"] == "sha256"


@pytest.mark.parametrize("through_typer", [False, True])
def test_verify_at_2036_is_valid_with_a_quantum_note(run: Run, signed: Path,
                                                     through_typer: bool) -> None:
    at = ["--at", "2030-01-01", "--at", "2036-06-01"] if through_typer else [
        "--at", "2036-06-01"]
    assert run("verify", signed, "--trust", CA, "--json", "--workers", "1", *at) == 0, run.err
    (sig,) = run.json()[0]["signatures"]
    assert sig["valid"] and sig["intact"] and sig["trusted"] and sig["ok"]
    decision = sig["policy"]["signature"]
    assert sig["policy"]["at"] == "2036-06-01" and decision["allowed"] is True
    assert decision["legacy"] is True and decision["quantum_vulnerable"] is True
    assert "quantum-vulnerable, disallowed for new signatures after 2035-12-31" in (
        decision["reason"])


def test_verify_refused_by_a_policy_is_exit_1(run: Run, tmp_path: Path, signed: Path) -> None:
    policy = _policy(tmp_path, NO_P256_VERIFY)
    assert run("verify", signed, "--trust", CA, "--json", "--workers", "1",
               "--algorithm-policy", policy) == 1
    (sig,) = run.json()[0]["signatures"]
    assert sig["valid"] and sig["trusted"] and not sig["ok"]
    assert sig["policy"]["allowed"] is False and sig["policy"]["policy"] == "strict site"
    assert any(p.startswith("strict site: ecdsa-p256") for p in sig["problems"])
    assert run("verify", signed, "--trust", CA, "--workers", "1",
               "--algorithm-policy", policy) == 1
    assert "problem: strict site: ecdsa-p256" in run.out


@pytest.mark.parametrize("at", ["next tuesday", "0001-01-01T00:00:00+01:00",
                                "9999-12-31T23:59:59-01:00"])
def test_verify_bad_at_is_exit_2(run: Run, signed: Path, at: str) -> None:
    assert run("verify", signed, "--trust", CA, "--workers", "1", "--at", at) == 2
    run.assert_one_line_error()
    assert "--at" in run.err


@pytest.mark.parametrize("at", ["0001-01-01", "9999-12-31T23:59:59"])
def test_verify_at_the_ends_of_the_calendar_is_not_an_internal_error(
        run: Run, signed: Path, at: str) -> None:
    assert run("verify", signed, "--trust", CA, "--workers", "1", "--at", at) in (0, 1)
    assert "internal error" not in run.err and "Traceback" not in run.err


# ------------------------------------------------------------------------------------------
# wrap, unwrap


def _wrap(run: Run, dst: Path, *extra: str | Path) -> int:
    return run("wrap", CT, "-o", dst, "--kek-file", KEK, "--kek-id", KEK_ID, *extra)


@pytest.mark.parametrize("through_typer", [False, True])
def test_wrap_refused_by_a_policy_forbidding_aes128(run: Run, tmp_path: Path, outdir: Path,
                                                    through_typer: bool) -> None:
    policy = _policy(tmp_path, NO_AES128, "no-aes128.toml")
    option: list[str | Path] = (_twice("--algorithm-policy", policy) if through_typer
                                else ["--algorithm-policy", policy])
    assert _wrap(run, outdir / "w.p7m", "--cipher", "aes128-gcm", *option) == 1
    run.assert_one_line_error()
    assert "policy file no-aes128.toml: aes128-gcm is forbidden" in run.err
    assert list(outdir.iterdir()) == []
    assert _wrap(run, outdir / "w.p7m", *option) == 0, run.err  # AES-256 by default


def test_unwrap_carries_and_applies_the_decrypt_decision(run: Run, tmp_path: Path,
                                                         outdir: Path) -> None:
    wrapped = tmp_path / "w.p7m"
    assert _wrap(run, wrapped) == 0, run.err
    unwrap: list[str | Path] = ["unwrap", wrapped, "--kek-file", KEK, "--kek-id", KEK_ID]
    assert run(*unwrap, "-o", outdir / "o.dcm", "--json") == 0, run.err
    decision = run.json()["policy"]
    assert decision["algorithm"] == "aes256-gcm" and decision["purpose"] == "decrypt"
    assert decision["allowed"] is True
    (outdir / "o.dcm").unlink()
    policy = _policy(tmp_path, NO_AES256_DECRYPT)
    assert run(*unwrap, "-o", outdir / "o.dcm", "--algorithm-policy", policy) == 1
    run.assert_one_line_error()
    assert "policy file site.toml: aes256-gcm" in run.err
    assert list(outdir.iterdir()) == []


# ------------------------------------------------------------------------------------------
# keys generate


def test_keys_generate_asks_the_policy(run: Run, tmp_path: Path, outdir: Path) -> None:
    policy = _policy(tmp_path, NO_P256)
    assert run("keys", "generate", outdir / "k", "--algorithm-policy", policy) == 1
    run.assert_one_line_error()
    assert "policy file site.toml: ecdsa-p256" in run.err
    assert run("keys", "generate", outdir / "weak", "--algorithm", "rsa1024") == 1
    assert "default policy: rsa-pkcs1v15 key of 1024 bits" in run.err
    assert list(outdir.iterdir()) == []
    assert run("keys", "generate", outdir / "k", "--algorithm", "ecdsa-p384",
               "--algorithm-policy", policy) == 0, run.err


# ------------------------------------------------------------------------------------------
# bad policy files: exit 2, one line naming the file, nothing written


def _commands(out: Path, signed: Path) -> dict[str, list[str | Path]]:
    return {
        "sign": ["sign", CT, "-o", out / "s.dcm", "--key", EC_KEY, "--cert", EC_CERT],
        "verify": ["verify", signed, "--trust", CA, "--workers", "1"],
        "wrap": ["wrap", CT, "-o", out / "w.p7m", "--kek-file", KEK, "--kek-id", KEK_ID],
        "keys": ["keys", "generate", out / "k"],
    }


@pytest.mark.parametrize("bad", sorted(BAD))
@pytest.mark.parametrize("command", ["sign", "verify", "wrap", "keys"])
def test_bad_policy_file_is_exit_2(run: Run, tmp_path: Path, outdir: Path, signed: Path,
                                   bad: str, command: str) -> None:
    policy = _policy(tmp_path, BAD[bad], "bad.toml")
    assert run(*_commands(outdir, signed)[command], "--algorithm-policy", policy) == 2
    run.assert_one_line_error()
    assert "bad.toml" in run.err
    assert list(outdir.iterdir()) == []


def test_missing_policy_file_is_exit_2(run: Run, tmp_path: Path, outdir: Path) -> None:
    wrapped = tmp_path / "w.p7m"
    assert _wrap(run, wrapped) == 0, run.err
    assert run("unwrap", wrapped, "-o", outdir / "o.dcm", "--kek-file", KEK, "--kek-id",
               KEK_ID, "--algorithm-policy", tmp_path / "missing.toml") == 2
    run.assert_one_line_error()
    assert "missing.toml" in run.err
    assert list(outdir.iterdir()) == []


# ------------------------------------------------------------------------------------------
# the typer-free parser reads the new options


@pytest.mark.parametrize(("command", "args", "expected"), [
    ("sign", ["in.dcm", "-o", "o.dcm", "--key", "k", "--cert", "c", "--algorithm-policy",
              "p.toml"], {"policy_file": Path("p.toml")}),
    ("verify", ["a.dcm", "--algorithm-policy=p.toml", "--at", "2036-06-01"],
     {"policy_file": Path("p.toml"), "at": "2036-06-01"}),
    ("unwrap", ["s.p7m", "-o", "o.dcm", "--kek-file", "k", "--kek-id", "01",
                "--algorithm-policy", "p.toml"], {"policy_file": Path("p.toml")}),
])
def test_fast_parser_reads_the_policy_options(command: str, args: list[str],
                                              expected: dict[str, object]) -> None:
    _fast.run([command, "--help"])  # imports the command module, hands --help over
    spec = find_command(command)
    assert spec is not None
    found = _fast.params(spec.func)
    assert found is not None
    kwargs = _fast.parse(found, args)
    assert kwargs is not None
    assert {k: kwargs[k] for k in expected} == expected
