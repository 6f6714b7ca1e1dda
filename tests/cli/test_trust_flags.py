"""Issue 9 (B2): the validator's flags, the same on every command that checks a certificate:
``--untrusted`` (intermediates, not anchors), ``--crl``, ``--offline`` (no fetching; fetching
is the command line's default), ``--soft-fail``; each needs ``--trust`` (exit 2, one line).

``verify`` in process (``--workers 1``) with a module-scoped two-level PKI made here.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.conftest import Run
from tests.cli.revocation_pki import REVOKED_AT, RevocationPki, http_server, make_pki
from tests.conftest import PYDICOM_FILES

CT = PYDICOM_FILES / "CT_small.dcm"
FLAGS = ("--untrusted", "--crl", "--offline", "--soft-fail")


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> RevocationPki:
    return make_pki(tmp_path_factory.mktemp("trustflags"),
                    {"signer-good": "signer", "signer-revoked": "signer"})


def _sign(run: Run, pki: RevocationPki, name: str, dst: Path) -> Path:
    assert run("sign", CT, "-o", dst, "--key", pki.key(name), "--cert", pki.path(name)) == 0, \
        run.err
    return dst


@pytest.fixture(scope="module")
def signed(pki: RevocationPki, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from dicomsec.cli import main

    out = tmp_path_factory.mktemp("trustflags-signed")
    files = {}
    for name in ("signer-good", "signer-revoked"):
        files[name] = out / f"{name}.dcm"
        assert main(["sign", str(CT), "-o", str(files[name]), "--key", str(pki.key(name)),
                     "--cert", str(pki.path(name))]) == 0
    return files


def _verify(run: Run, path: Path, *args: str) -> int:
    return run("verify", path, "--workers", "1", "--json", *args)


def test_untrusted_supplies_the_intermediate(run: Run, pki: RevocationPki,
                                             signed: dict[str, Path]) -> None:
    assert _verify(run, signed["signer-good"], *pki.trust_args()) == 0, run.out
    assert _verify(run, signed["signer-good"], *pki.trust_args(untrusted=False)) == 1
    sig = run.json()[0]["signatures"][0]
    assert not sig["trusted"]
    assert "unknown-issuer" in sig["trust_reasons"]


def test_crl_revoked_signer_fails_with_date_and_reason(run: Run, pki: RevocationPki,
                                                       signed: dict[str, Path]) -> None:
    assert _verify(run, signed["signer-revoked"], *pki.trust_args()) == 1
    sig = run.json()[0]["signatures"][0]
    assert sig["valid"] and not sig["trusted"]
    assert "revoked" in sig["trust_reasons"]
    assert sig["revoked_at"].startswith(f"{REVOKED_AT:%Y-%m-%d}")
    # people's output: the reason on the signature's line
    assert run("verify", signed["signer-revoked"], "--workers", "1", *pki.trust_args()) == 1
    assert f"UNTRUSTED: revoked {REVOKED_AT:%Y-%m-%d}" in run.out


@pytest.mark.parametrize("flag", FLAGS)
@pytest.mark.parametrize("command", ["verify", "unwrap"])
def test_flag_without_trust_is_a_usage_error(run: Run, pki: RevocationPki,
                                             signed: dict[str, Path], tmp_path: Path,
                                             command: str, flag: str) -> None:
    value = [] if flag in ("--offline", "--soft-fail") else [str(pki.path("issuing"))]
    args = ([signed["signer-good"]] if command == "verify" else
            [signed["signer-good"], "-o", tmp_path / "x.dcm", "--kek-file", tmp_path / "k",
             "--kek-id", "01"])
    assert run(command, *args, flag, *value) == 2
    assert f"{flag} needs --trust" in run.err
    assert "Traceback" not in run.err
    assert not (tmp_path / "x.dcm").exists()


@pytest.mark.parametrize("command", ["verify", "unwrap", "scp", "send", "echo"])
def test_every_command_has_the_same_flags(run: Run, command: str) -> None:
    assert run(command, "--help") == 0
    for flag in ("--trust", *FLAGS):
        assert flag in run.out, (command, flag)


def _cdp_signed(run: Run, pki: RevocationPki, base: str, tmp_path: Path) -> Path:
    pki.issue("signer-cdp", "signer", cdp=f"{base}/issuing.crl")
    return _sign(run, pki, "signer-cdp", tmp_path / "cdp.dcm")


def test_offline_fetches_nothing(run: Run, pki: RevocationPki, tmp_path: Path) -> None:
    from cryptography.hazmat.primitives.serialization import Encoding

    crl = pki.crl("issuing").public_bytes(Encoding.DER)
    with http_server({"/issuing.crl": crl}) as (base, requests):
        dst = _cdp_signed(run, pki, base, tmp_path)
        _verify(run, dst, *pki.trust_args(offline=True))
        assert requests == []


def test_without_offline_the_crl_is_fetched(run: Run, pki: RevocationPki,
                                            tmp_path: Path) -> None:
    from cryptography.hazmat.primitives.serialization import Encoding

    crl = pki.crl("issuing").public_bytes(Encoding.DER)
    with http_server({"/issuing.crl": crl}) as (base, requests):
        dst = _cdp_signed(run, pki, base, tmp_path)
        code = _verify(run, dst, "--trust", str(pki.path("root")), "--untrusted",
                       str(pki.path("issuing")), "--crl", str(pki.path("root", ".crl.pem")))
        assert "/issuing.crl" in requests
        assert code == 0, run.out


def test_soft_fail_passes_an_undeterminable_status(run: Run, pki: RevocationPki,
                                                   tmp_path: Path) -> None:
    with http_server({}) as (base, requests):  # the distribution point answers 404
        dst = _cdp_signed(run, pki, base, tmp_path)
        args = ["--trust", str(pki.path("root")), "--untrusted", str(pki.path("issuing")),
                "--crl", str(pki.path("root", ".crl.pem"))]
        assert _verify(run, dst, *args) == 1
        assert "revocation-unknown" in run.json()[0]["signatures"][0]["trust_reasons"]
        assert _verify(run, dst, *args, "--soft-fail") == 0, run.out
        assert requests


@pytest.mark.parametrize("flag", ["--crl", "--untrusted"])
def test_unreadable_flag_file_is_one_line_exit_2(run: Run, pki: RevocationPki,
                                                 signed: dict[str, Path], tmp_path: Path,
                                                 flag: str) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_text("not a CRL nor a certificate\n")
    for bad in (junk, tmp_path / "missing.pem"):
        assert run("verify", signed["signer-good"], "--workers", "1", "--trust",
                   pki.path("root"), flag, bad) == 2
        run.assert_one_line_error()
