"""wrap options: standard input (BER indefinite lengths), --cipher, legacy 3DES, RSA-PSS signers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from dicomsec.cli import main
from tests.conftest import DATA, PYDICOM_FILES, require_tool

CT = PYDICOM_FILES / "CT_small.dcm"
PKI = DATA / "pki-cms"
RSA_KEY = ["--key", str(PKI / "recip-rsa2048.key"), "--cert", str(PKI / "recip-rsa2048.pem")]


def _dicomsec(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "dicomsec", *args], input=stdin,
                          capture_output=True, check=False)


@pytest.mark.parametrize("profile", ["aead", "basic"])
def test_standard_input(tmp_path: Path, profile: str) -> None:
    out = tmp_path / "s.cms"
    proc = _dicomsec("wrap", "-", "-o", str(out), "--profile", profile, "--to",
                     str(PKI / "recip-rsa2048.pem"), stdin=CT.read_bytes())
    assert proc.returncode == 0, proc.stderr
    data = out.read_bytes()
    if profile == "aead":
        assert data[:2] == b"\x30\x80"  # unknown size: BER indefinite lengths
    back = tmp_path / "back.dcm"
    assert main(["unwrap", str(out), "-o", str(back), *RSA_KEY]) == 0
    assert back.read_bytes() == CT.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["back.dcm", "s.cms"]


def test_standard_input_is_opened_by_openssl(tmp_path: Path) -> None:
    openssl = require_tool("openssl")
    out = tmp_path / "s.cms"
    proc = _dicomsec("wrap", "-", "-o", str(out), "--to", str(PKI / "recip-rsa2048.pem"),
                     stdin=CT.read_bytes())
    assert proc.returncode == 0, proc.stderr
    plain = tmp_path / "plain.dcm"
    subprocess.run([openssl, "cms", "-decrypt", "-binary", "-inform", "DER", "-in", str(out),
                    "-recip", str(PKI / "recip-rsa2048.pem"), "-inkey",
                    str(PKI / "recip-rsa2048.key"), "-out", str(plain)], check=True,
                   capture_output=True)
    assert plain.read_bytes() == CT.read_bytes()


def test_standard_input_must_be_dicom(tmp_path: Path) -> None:
    proc = _dicomsec("wrap", "-", "-o", str(tmp_path / "s.cms"), "--to",
                     str(PKI / "recip-rsa2048.pem"), stdin=b"not dicom at all")
    assert proc.returncode == 2
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("profile", "cipher"), [
    ("aead", "aes128-gcm"), ("aead", "aes192-gcm"), ("basic", "aes128-cbc"),
    ("basic", "aes192-cbc"),
])
def test_cipher_choice(tmp_path: Path, profile: str, cipher: str) -> None:
    out, back = tmp_path / "c.cms", tmp_path / "c.dcm"
    assert main(["wrap", str(CT), "-o", str(out), "--profile", profile, "--cipher", cipher,
                 "--to", str(PKI / "recip-rsa2048.pem")]) == 0
    assert main(["unwrap", str(out), "-o", str(back), *RSA_KEY]) == 0
    assert back.read_bytes() == CT.read_bytes()


def test_cipher_must_fit_the_profile(tmp_path: Path) -> None:
    assert main(["wrap", str(CT), "-o", str(tmp_path / "c.cms"), "--cipher", "aes256-cbc",
                 "--to", str(PKI / "recip-rsa2048.pem")]) == 2
    assert list(tmp_path.iterdir()) == []


def test_triple_des_needs_allow_legacy(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out, back = tmp_path / "d.cms", tmp_path / "d.dcm"
    args = ["wrap", str(CT), "-o", str(out), "--profile", "basic", "--cipher", "des-ede3-cbc",
            "--to", str(PKI / "recip-rsa2048.pem")]
    assert main(args) == 1
    assert "legacy" in capsys.readouterr().err
    assert main([*args, "--allow-legacy"]) == 0
    capsys.readouterr()
    assert main(["unwrap", str(out), "-o", str(back), "--json", *RSA_KEY]) == 0
    assert '"legacy": true' in capsys.readouterr().out
    assert back.read_bytes() == CT.read_bytes()


def test_rsa_pss_inner_signer(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out, back = tmp_path / "p.cms", tmp_path / "p.dcm"
    assert main(["wrap", str(CT), "-o", str(out), "--to", str(PKI / "recip-p256.pem"),
                 "--sign-key", str(PKI / "signer-rsa2048.key"), "--sign-cert",
                 str(PKI / "signer-rsa2048.pem"), "--sign-rsa-pss"]) == 0
    capsys.readouterr()
    assert main(["unwrap", str(out), "-o", str(back), "--key", str(PKI / "recip-p256.key"),
                 "--trust", str(PKI / "ca.pem"), "--json"]) == 0
    assert "rsassa-pss" in capsys.readouterr().out
    assert back.read_bytes() == CT.read_bytes()
