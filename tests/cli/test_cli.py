"""The command line tool in-process: exit codes, JSON keys, bad input, policy failures.

Contract: exit 0 ok; 1 a security check failed; 2 bad input or usage. Bad input gives one
clear line on stderr (never a traceback) and leaves no output file (nor a temporary file).
"""

from __future__ import annotations

import datetime as _dt
import random
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from dicomsec import __version__
from dicomsec._rawdicom import parse_file
from dicomsec.cli import get_app
from dicomsec.keys import load_private_key, write_private_key
from dicomsec.signatures import PURPOSES
from tests.cli.conftest import Run
from tests.conftest import PKI, PYDICOM_FILES

CT = PYDICOM_FILES / "CT_small.dcm"
CA = PKI / "ca.cert.pem"
EC_KEY = PKI / "signer-ecp256.key.pem"
EC_CERT = PKI / "signer-ecp256.cert.pem"
RSA_KEY = PKI / "signer-rsa2048.key.pem"
RSA_CERT = PKI / "signer-rsa2048.cert.pem"

REPORT_KEYS = {"file", "signatures", "unsigned_attributes"}
SIGNATURE_KEYS = {
    "uid", "location", "valid", "trusted", "mac_algorithm", "signature_algorithm", "signer",
    "profiles", "purpose", "timestamp", "legacy", "problems",
}


def _sign(run: Run, src: Path, dst: Path, *extra: str | Path,
          key: Path = EC_KEY, cert: Path = EC_CERT) -> int:
    return run("sign", src, "-o", dst, "--key", key, "--cert", cert, *extra)


@pytest.fixture
def signed(run: Run, tmp_path: Path) -> Path:
    dst = tmp_path / "signed.dcm"
    assert _sign(run, CT, dst) == 0, run.err
    return dst


# ------------------------------------------------------------------------------------------
# version and help


def test_version(run: Run) -> None:
    assert run("--version") == 0
    assert run.out.strip() == f"dicomsec {__version__}"


def test_no_arguments_shows_help(run: Run) -> None:
    code = run()
    assert code in (0, 2)
    assert "Usage" in run.out + run.err


def _command_paths() -> Iterator[tuple[str, ...]]:
    def walk(cmd: Any, path: tuple[str, ...]) -> Iterator[tuple[str, ...]]:
        yield path
        for name, sub in sorted(getattr(cmd, "commands", {}).items()):
            yield from walk(sub, (*path, name))

    yield from walk(typer.main.get_command(get_app()), ())


ALL_COMMANDS = list(_command_paths())


def test_command_tree_is_complete() -> None:
    assert {
        (), ("sign",), ("verify",), ("signatures",), ("signatures", "list"),
        ("signatures", "remove"), ("signatures", "purposes"), ("keys",), ("keys", "generate"),
    } <= set(ALL_COMMANDS)


@pytest.mark.parametrize("path", ALL_COMMANDS, ids=lambda p: " ".join(p) or "dicomsec")
@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help(run: Run, path: tuple[str, ...], flag: str) -> None:
    assert run(*path, flag) == 0, run.err
    assert "Usage" in run.out
    assert run.err == ""


def test_python_dash_m_version() -> None:
    proc = subprocess.run([sys.executable, "-m", "dicomsec", "--version"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"dicomsec {__version__}"


# ------------------------------------------------------------------------------------------
# sign and verify


def test_sign_json(run: Run, tmp_path: Path) -> None:
    dst = tmp_path / "s.dcm"
    assert _sign(run, CT, dst, "--json") == 0, run.err
    result = run.json()
    assert result["file"] == str(dst)
    assert result["mac_algorithm"] == "SHA256"
    assert result["signature_algorithm"] == "ecdsa-p256"
    assert result["location"] == "main"
    assert "(7FE0,0010)" in result["signed_attributes"]
    assert dst.is_file()


def test_sign_then_verify_json(run: Run, signed: Path) -> None:
    assert run("verify", signed, "--trust", CA, "--json") == 0, run.out
    reports = run.json()
    assert isinstance(reports, list) and len(reports) == 1
    (rep,) = reports
    assert REPORT_KEYS <= rep.keys()
    assert rep["file"] == str(signed)
    assert isinstance(rep["unsigned_attributes"], list)
    (sig,) = rep["signatures"]
    assert SIGNATURE_KEYS <= sig.keys()
    assert sig["location"] == "main"
    assert sig["valid"] is True and sig["trusted"] is True
    assert sig["mac_algorithm"] == "SHA256"
    assert sig["signature_algorithm"] == "ecdsa-p256"
    assert sig["legacy"] is False
    assert sig["problems"] == []
    assert isinstance(sig["profiles"], list)
    assert sig["purpose"] is None and sig["timestamp"] is None
    assert "signer" in sig["signer"].lower() or sig["signer"]


def test_verify_text_output(run: Run, signed: Path) -> None:
    assert run("verify", signed, "--trust", CA) == 0
    assert run.out.startswith("OK")


def test_verify_without_trust_is_untrusted(run: Run, signed: Path) -> None:
    assert run("verify", signed, "--json") == 1
    (sig,) = run.json()[0]["signatures"]
    assert sig["valid"] is True
    assert sig["trusted"] is False
    assert any("trust" in p for p in sig["problems"])


def test_verify_against_another_ca_is_untrusted(run: Run, signed: Path) -> None:
    # a certificate that is not a CA of the signer
    assert run("verify", signed, "--trust", PKI / "tsa-rsa2048.cert.pem", "--json") == 1
    (sig,) = run.json()[0]["signatures"]
    assert sig["valid"] is True and sig["trusted"] is False


def test_sign_in_place(run: Run, tmp_path: Path) -> None:
    copy = tmp_path / "copy.dcm"
    shutil.copyfile(CT, copy)
    assert run("sign", copy, "--in-place", "--key", EC_KEY, "--cert", EC_CERT) == 0, run.err
    assert run("verify", copy, "--trust", CA) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["copy.dcm"]


def test_sign_with_purpose_and_tags(run: Run, tmp_path: Path) -> None:
    dst = tmp_path / "s.dcm"
    assert _sign(run, CT, dst, "--purpose", "1", "--tag", "PatientName",
                 "--tag", "0008,0018", "--json") == 0, run.err
    assert sorted(run.json()["signed_attributes"]) == ["(0008,0018)", "(0010,0010)"]
    assert run("verify", dst, "--trust", CA, "--json") == 0
    rep = run.json()[0]
    (sig,) = rep["signatures"]
    assert sig["purpose"] == {"code": "1", "meaning": PURPOSES[1]}
    assert "(0010,0020)" in rep["unsigned_attributes"]
    assert "(0010,0010)" not in rep["unsigned_attributes"]


def test_sign_an_item(run: Run, tmp_path: Path) -> None:
    dst = tmp_path / "s.dcm"
    assert _sign(run, CT, dst, "--item", "OtherPatientIDsSequence[1]", "--json") == 0, run.err
    assert run.json()["location"] == "OtherPatientIDsSequence[1]"
    assert run("verify", dst, "--trust", CA, "--json") == 0
    (sig,) = run.json()[0]["signatures"]
    assert sig["location"] == "OtherPatientIDsSequence[1]"


def test_verify_folder_is_walked_recursively(run: Run, tmp_path: Path) -> None:
    folder = tmp_path / "study"
    nested = folder / "a" / "b"
    nested.mkdir(parents=True)
    targets = [folder / "1.dcm", folder / "2.dcm", folder / "a" / "3.dcm", nested / "4.dcm"]
    for t in targets:
        assert _sign(run, CT, t) == 0, run.err
    assert run("verify", folder, "--trust", CA, "--json") == 0, run.out
    reports = run.json()
    assert sorted(r["file"] for r in reports) == sorted(str(t) for t in targets)
    assert all(len(r["signatures"]) == 1 and r["signatures"][0]["valid"] for r in reports)


def test_verify_folder_with_one_broken_file(run: Run, tmp_path: Path) -> None:
    folder = tmp_path / "study"
    folder.mkdir()
    for name in ("1.dcm", "2.dcm"):
        assert _sign(run, CT, folder / name) == 0
    (folder / "notes.txt").write_text("not dicom\n")
    # an unreadable file → 2
    assert run("verify", folder, "--trust", CA, "--json") == 2
    errors = [r for r in run.json() if "error" in r]
    assert [Path(r["file"]).name for r in errors] == ["notes.txt"]
    # a failed signature in another file takes precedence → 1
    data = bytearray((folder / "1.dcm").read_bytes())
    pixel = parse_file(folder / "1.dcm").dataset.find(0x7FE00010)
    assert pixel is not None
    data[pixel.value_offset + 10] ^= 0xFF
    (folder / "1.dcm").write_bytes(bytes(data))
    assert run("verify", folder, "--trust", CA, "--json") == 1


def test_verify_tampered_file(run: Run, signed: Path) -> None:
    data = bytearray(signed.read_bytes())
    name = parse_file(signed).dataset.find(0x00100010)
    assert name is not None
    data[name.value_offset] ^= 0x01
    signed.write_bytes(bytes(data))
    assert run("verify", signed, "--trust", CA, "--json") == 1
    (sig,) = run.json()[0]["signatures"]
    assert sig["valid"] is False
    assert run("verify", signed, "--trust", CA) == 1
    assert "INVALID" in run.out


def test_require_creator_on_unsigned_file(run: Run) -> None:
    assert run("verify", CT, "--trust", CA, "--require", "creator", "--json") == 1
    rep = run.json()[0]
    assert rep["signatures"] == []
    assert rep["required_met"] is False


def test_unsigned_file_fails_unless_allowed(run: Run) -> None:
    """A verifier that verified nothing says so and fails (issue 8, item 8); --allow-unsigned
    makes such a file ok again, and --require still applies with it."""
    assert run("verify", CT, "--trust", CA, "--json") == 1
    rep = run.json()[0]
    assert rep["signatures"] == [] and rep["verified"] is False and rep["ok"] is False
    assert run("verify", CT, "--trust", CA) == 1
    assert run.out.startswith("FAILED") and "nothing verified" in run.out
    assert "--allow-unsigned" in run.out
    assert run("verify", CT, "--trust", CA, "--allow-unsigned", "--json") == 0
    rep = run.json()[0]
    assert rep["signatures"] == [] and rep["verified"] is False and rep["ok"] is True
    assert run("verify", CT, "--trust", CA, "--allow-unsigned") == 0
    assert run.out.startswith("OK") and "nothing verified" in run.out
    assert run("verify", CT, "--trust", CA, "--allow-unsigned", "--require", "any") == 1


def test_unsigned_files_in_a_folder_each_fail(run: Run, signed: Path, tmp_path: Path) -> None:
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "signed.dcm").write_bytes(signed.read_bytes())
    (folder / "unsigned.dcm").write_bytes(CT.read_bytes())
    assert run("verify", folder, "--trust", CA, "--json", "--workers", "1") == 1
    by_name = {Path(r["file"]).name: r["ok"] for r in run.json()}
    assert by_name == {"signed.dcm": True, "unsigned.dcm": False}
    assert run("verify", folder, "--trust", CA, "--allow-unsigned", "--workers", "1") == 0


def test_require_any_on_signed_file(run: Run, signed: Path) -> None:
    assert run("verify", signed, "--trust", CA, "--require", "any") == 0


def test_require_creator_met(run: Run, tmp_path: Path) -> None:
    dst = tmp_path / "creator.dcm"
    assert _sign(run, CT, dst, "--profile", "creator") == 0, run.err
    assert run("verify", dst, "--trust", CA, "--require", "creator", "--json") == 0
    (sig,) = run.json()[0]["signatures"]
    assert "creator" in sig["profiles"]


def test_require_unknown_kind_is_usage_error(run: Run, signed: Path) -> None:
    assert run("verify", signed, "--trust", CA, "--require", "bogus") == 2
    assert "Traceback" not in run.err


# ------------------------------------------------------------------------------------------
# policy failures → 1


def _self_signed_rsa1024(tmp_path: Path) -> tuple[Path, Path]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "weak rsa-1024 signer")])
    now = _dt.datetime.now(_dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _dt.timedelta(days=1))
        .not_valid_after(now + _dt.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    key_path, cert_path = tmp_path / "weak.key.pem", tmp_path / "weak.cert.pem"
    write_private_key(key, key_path)
    cert_path.write_bytes(cert.public_bytes(Encoding.PEM))
    return key_path, cert_path


def test_legacy_mac_needs_allow_legacy(run: Run, outdir: Path) -> None:
    dst = outdir / "md5.dcm"
    assert _sign(run, CT, dst, "--mac", "md5") == 1
    run.assert_one_line_error()
    assert "legacy" in run.err
    assert list(outdir.iterdir()) == []
    assert _sign(run, CT, dst, "--mac", "md5", "--allow-legacy") == 0, run.err
    assert run("verify", dst, "--trust", CA, "--json") == 0
    (sig,) = run.json()[0]["signatures"]
    assert sig["mac_algorithm"] == "MD5"
    assert sig["legacy"] is True


def test_rsa_1024_is_refused(run: Run, tmp_path: Path, outdir: Path) -> None:
    key, cert = _self_signed_rsa1024(tmp_path)
    assert _sign(run, CT, outdir / "weak.dcm", key=key, cert=cert) == 1
    run.assert_one_line_error()
    assert "1024" in run.err
    assert list(outdir.iterdir()) == []


def test_sr_profile_on_ct_is_refused(run: Run, outdir: Path) -> None:
    assert _sign(run, CT, outdir / "sr.dcm", "--profile", "sr", "--purpose", "1") == 1
    run.assert_one_line_error()
    assert "SR" in run.err
    assert list(outdir.iterdir()) == []


def test_creator_profile_on_an_item_is_refused(run: Run, outdir: Path) -> None:
    assert _sign(run, CT, outdir / "c.dcm", "--profile", "creator",
                 "--item", "OtherPatientIDsSequence[0]") == 1
    run.assert_one_line_error()
    assert "main data set" in run.err
    assert list(outdir.iterdir()) == []


# ------------------------------------------------------------------------------------------
# bad input → 2, one line, no output


def _truncations(signed: Path) -> list[int]:
    """Cut points inside values and headers (never at an element boundary)."""
    parsed = parse_file(signed)
    size = signed.stat().st_size
    cuts = [0, 64, 130, 140, parsed.dataset_offset - 3]
    for tag in (0x00080016, 0x00100010, 0x00101002, 0x7FE00010, 0xFFFAFFFA):
        el = parsed.dataset.find(tag)
        assert el is not None, hex(tag)
        cuts.append(el.offset + 10)  # inside the header's length field or just after it
        cuts.append(el.value_offset + max(1, (el.end - el.value_offset) // 2))
    cuts.append(size - 1)
    return sorted(c for c in set(cuts) if 0 <= c < size)


def _assert_bad_input(run: Run, code: int, outdir: Path) -> None:
    assert code == 2, (run.out, run.err)
    run.assert_one_line_error()
    assert list(outdir.iterdir()) == []


def test_truncated_files(run: Run, signed: Path, tmp_path: Path, outdir: Path) -> None:
    data = signed.read_bytes()
    cuts = _truncations(signed)
    assert len(cuts) >= 10
    for cut in cuts:
        bad = tmp_path / f"cut{cut}.dcm"
        bad.write_bytes(data[:cut])
        _assert_bad_input(run, _sign(run, bad, outdir / "o.dcm"), outdir)
        _assert_bad_input(run, run("verify", bad, "--trust", CA), outdir)
        _assert_bad_input(run, run("signatures", "list", bad), outdir)
        code = run("signatures", "remove", bad, "--all", "-o", outdir / "o.dcm")
        _assert_bad_input(run, code, outdir)


def _bad_files(tmp_path: Path) -> dict[str, Path]:
    rnd = random.Random(1234)
    files = {
        "random": rnd.randbytes(4096),
        "random-with-dicm": rnd.randbytes(128) + b"DICM" + rnd.randbytes(2048),
        "text": b"This is a plain text file, not DICOM.\n" * 20,
        "empty": b"",
    }
    out = {}
    for name, data in files.items():
        p = tmp_path / f"{name}.dcm"
        p.write_bytes(data)
        out[name] = p
    return out


@pytest.mark.parametrize("kind", ["random", "random-with-dicm", "text", "empty"])
def test_not_dicom(run: Run, tmp_path: Path, outdir: Path, kind: str) -> None:
    bad = _bad_files(tmp_path)[kind]
    _assert_bad_input(run, _sign(run, bad, outdir / "o.dcm"), outdir)
    _assert_bad_input(run, run("verify", bad, "--trust", CA), outdir)
    assert str(bad) in run.err
    # with --json the error is part of the payload (one object per file)
    assert run("verify", bad, "--trust", CA, "--json") == 2
    (rep,) = run.json()
    assert rep["file"] == str(bad) and rep["error"]
    assert "Traceback" not in run.err
    _assert_bad_input(run, run("signatures", "list", bad), outdir)


def test_directory_as_input(run: Run, tmp_path: Path, outdir: Path) -> None:
    folder = tmp_path / "folder"
    folder.mkdir()
    _assert_bad_input(run, _sign(run, folder, outdir / "o.dcm"), outdir)
    assert "directory" in run.err
    _assert_bad_input(run, run("signatures", "list", folder), outdir)
    code = run("signatures", "remove", folder, "--all", "-o", outdir / "o.dcm")
    _assert_bad_input(run, code, outdir)


def test_missing_file(run: Run, tmp_path: Path, outdir: Path) -> None:
    missing = tmp_path / "nope.dcm"
    _assert_bad_input(run, _sign(run, missing, outdir / "o.dcm"), outdir)
    assert "nope.dcm" in run.err
    _assert_bad_input(run, run("verify", missing, "--trust", CA), outdir)
    _assert_bad_input(run, run("signatures", "list", missing), outdir)


def test_missing_key_and_certificate(run: Run, tmp_path: Path, outdir: Path) -> None:
    _assert_bad_input(run, _sign(run, CT, outdir / "o.dcm", key=tmp_path / "no.key"), outdir)
    _assert_bad_input(run, _sign(run, CT, outdir / "o.dcm", cert=tmp_path / "no.pem"), outdir)


def test_missing_trust_anchor(run: Run, signed: Path, tmp_path: Path) -> None:
    assert run("verify", signed, "--trust", tmp_path / "no-ca.pem") == 2
    run.assert_one_line_error()


def test_key_does_not_match_certificate(run: Run, outdir: Path) -> None:
    _assert_bad_input(run, _sign(run, CT, outdir / "o.dcm", key=RSA_KEY, cert=EC_CERT), outdir)
    assert "does not match" in run.err


def test_garbage_key(run: Run, tmp_path: Path, outdir: Path) -> None:
    for i, data in enumerate([b"garbage\n", random.Random(7).randbytes(300),
                              b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"]):
        key = tmp_path / f"garbage{i}.key"
        key.write_bytes(data)
        _assert_bad_input(run, _sign(run, CT, outdir / "o.dcm", key=key), outdir)


def test_garbage_certificate(run: Run, tmp_path: Path, outdir: Path) -> None:
    for i, data in enumerate([b"garbage\n", random.Random(8).randbytes(300),
                              b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"]):
        cert = tmp_path / f"garbage{i}.pem"
        cert.write_bytes(data)
        _assert_bad_input(run, _sign(run, CT, outdir / "o.dcm", cert=cert), outdir)


@pytest.fixture
def encrypted_key(tmp_path: Path) -> Path:
    path = tmp_path / "enc.key.pem"
    write_private_key(load_private_key(EC_KEY), path, password=b"pw")
    assert b"ENCRYPTED" in path.read_bytes()
    return path


def test_encrypted_key_wrong_password_file(run: Run, tmp_path: Path, outdir: Path,
                                           encrypted_key: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DICOMSEC_KEY_PASSWORD", raising=False)
    pw = tmp_path / "pw.txt"
    pw.write_text("not-the-password-x7\n")
    code = _sign(run, CT, outdir / "o.dcm", "--key-password-file", pw, key=encrypted_key)
    _assert_bad_input(run, code, outdir)
    assert "not-the-password-x7" not in run.err + run.out


def test_encrypted_key_wrong_password_env(run: Run, outdir: Path, encrypted_key: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DICOMSEC_KEY_PASSWORD", "not-the-password-y8")
    _assert_bad_input(run, _sign(run, CT, outdir / "o.dcm", key=encrypted_key), outdir)
    assert "not-the-password-y8" not in run.err + run.out


def test_encrypted_key_without_password(run: Run, outdir: Path, encrypted_key: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DICOMSEC_KEY_PASSWORD", raising=False)
    _assert_bad_input(run, _sign(run, CT, outdir / "o.dcm", key=encrypted_key), outdir)


def test_missing_password_file(run: Run, tmp_path: Path, outdir: Path,
                               encrypted_key: Path) -> None:
    code = _sign(run, CT, outdir / "o.dcm", "--key-password-file", tmp_path / "none.txt",
                 key=encrypted_key)
    _assert_bad_input(run, code, outdir)


def test_encrypted_key_right_password(run: Run, tmp_path: Path, outdir: Path,
                                      encrypted_key: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DICOMSEC_KEY_PASSWORD", raising=False)
    pw = tmp_path / "pw.txt"
    pw.write_text("pw\n")
    dst = outdir / "a.dcm"
    assert _sign(run, CT, dst, "--key-password-file", pw, key=encrypted_key) == 0, run.err
    assert run("verify", dst, "--trust", CA) == 0

    monkeypatch.setenv("DICOMSEC_KEY_PASSWORD", "pw")
    dst = outdir / "b.dcm"
    assert _sign(run, CT, dst, key=encrypted_key) == 0, run.err
    assert run("verify", dst, "--trust", CA) == 0
    assert sorted(p.name for p in outdir.iterdir()) == ["a.dcm", "b.dcm"]


def test_failed_in_place_leaves_input_untouched(run: Run, tmp_path: Path) -> None:
    copy = tmp_path / "copy.dcm"
    shutil.copyfile(CT, copy)
    assert run("sign", copy, "--in-place", "--key", RSA_KEY, "--cert", EC_CERT) == 2
    assert copy.read_bytes() == CT.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["copy.dcm"]


_SIGN = ["sign", str(CT), "-o", "x.dcm", "--key", str(EC_KEY), "--cert", str(EC_CERT)]


@pytest.mark.parametrize("argv", [
    ["sign", str(CT), "--key", str(EC_KEY), "--cert", str(EC_CERT)],  # neither -o nor --in-place
    [*_SIGN, "--in-place"],
    [*_SIGN, "--profile", "nonsense"],
    ["sign", str(CT), "-o", "x.dcm", "--cert", str(EC_CERT)],  # no --key
    ["verify"],
    ["no-such-command"],
], ids=["no-output", "two-outputs", "profile", "no-key", "verify-nothing", "command"])
def test_usage_errors(run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                      argv: list[str]) -> None:
    monkeypatch.chdir(tmp_path)
    assert run(*argv) == 2
    assert "Traceback" not in run.err
    assert run.err.strip()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("extra", [
    ["--mac", "sha999"],
    ["--mac", "sha3-256"],  # a digest without a DICOM defined term
    ["--purpose", "99"],
    ["--tag", "NoSuchKeyword"],
    ["--tag", "(0008,9999)"],  # absent
    ["--item", "OtherPatientIDsSequence[9]"],
    ["--item", "NoSuchSequence[0]"],
    ["--item", "garbage"],
], ids=["mac", "mac-not-dicom", "purpose", "keyword", "absent-tag", "item-index", "item-seq",
        "item-syntax"])
def test_bad_sign_options(run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                          extra: list[str]) -> None:
    monkeypatch.chdir(tmp_path)
    assert run(*_SIGN, *extra) == 2
    run.assert_one_line_error()
    assert run.err.startswith("error: ")
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------------------
# signatures list / remove / purposes


def test_signatures_list(run: Run, signed: Path, tmp_path: Path) -> None:
    dst = tmp_path / "two.dcm"
    assert _sign(run, signed, dst, "--mac", "sha384", key=RSA_KEY, cert=RSA_CERT) == 0, run.err
    assert run("signatures", "list", dst) == 0
    assert len(run.out.strip().splitlines()) == 2
    assert "intact" in run.out
    assert run("signatures", "list", dst, "--json") == 0
    sigs = run.json()
    assert [s["mac_algorithm"] for s in sigs] == ["SHA256", "SHA384"]
    assert all(SIGNATURE_KEYS <= s.keys() for s in sigs)
    assert all(s["valid"] for s in sigs)


def test_signatures_list_unsigned(run: Run) -> None:
    assert run("signatures", "list", CT) == 0
    assert "no signatures" in run.out
    assert run("signatures", "list", CT, "--json") == 0
    assert run.json() == []


def _uids(run: Run, path: Path) -> list[str]:
    assert run("signatures", "list", path, "--json") == 0
    return [s["uid"] for s in run.json()]


def test_signatures_remove(run: Run, signed: Path, tmp_path: Path, outdir: Path) -> None:
    two = tmp_path / "two.dcm"
    assert _sign(run, signed, two, key=RSA_KEY, cert=RSA_CERT) == 0, run.err
    first, second = _uids(run, two)

    # unknown UID → 2, no output
    code = run("signatures", "remove", two, "--uid", "1.2.3.4.5", "-o", outdir / "x.dcm")
    _assert_bad_input(run, code, outdir)
    # one of several unknown → 2 too
    code = run("signatures", "remove", two, "--uid", first, "--uid", "1.2.3", "-o",
               outdir / "x.dcm")
    _assert_bad_input(run, code, outdir)

    one = outdir / "one.dcm"
    assert run("signatures", "remove", two, "--uid", first, "-o", one) == 0, run.err
    assert _uids(run, one) == [second]
    assert run("verify", one, "--trust", CA) == 0

    none = outdir / "none.dcm"
    assert run("signatures", "remove", two, "--all", "-o", none) == 0, run.err
    assert _uids(run, none) == []
    # removing every signature gives back the original bytes
    assert none.read_bytes() == CT.read_bytes()


def test_signatures_remove_in_place(run: Run, signed: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy.dcm"
    shutil.copyfile(signed, copy)
    (uid,) = _uids(run, copy)
    assert run("signatures", "remove", copy, "--uid", uid, "--in-place") == 0, run.err
    assert copy.read_bytes() == CT.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["copy.dcm", "signed.dcm"]


@pytest.mark.parametrize("extra", [
    ["-o", "x.dcm"],  # neither --uid nor --all
    ["-o", "x.dcm", "--uid", "1.2.3", "--all"],
    ["--in-place", "-o", "x.dcm", "--all"],
    ["--all"],  # neither -o nor --in-place
])
def test_signatures_remove_usage(run: Run, signed: Path, outdir: Path,
                                 monkeypatch: pytest.MonkeyPatch, extra: list[str]) -> None:
    monkeypatch.chdir(outdir)
    before = signed.read_bytes()
    assert run("signatures", "remove", signed, *extra) == 2
    assert "Traceback" not in run.err
    assert list(outdir.iterdir()) == []
    assert signed.read_bytes() == before


def test_signatures_purposes(run: Run) -> None:
    assert run("signatures", "purposes") == 0
    lines = run.out.strip().splitlines()
    assert len(lines) == 18
    assert lines[0].split(None, 1) == ["1", "Author's Signature"]
    assert lines[-1].split(None, 1) == ["18", "Timestamp Signature"]
    assert run("signatures", "purposes", "--json") == 0
    table = run.json()
    assert table == {str(k): v for k, v in PURPOSES.items()}
    assert len(table) == 18
