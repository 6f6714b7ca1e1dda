"""The site PKI with its root CA key in a PKCS#11 token (SoftHSM2, keys generated inside):
``pki init --ca-key pkcs11:...`` signs the root and the issuing CA in the token, the CRL of
the root too; ``pki issue --pkcs11`` certifies a device key that stays in its token, which
then signs a file that dicomsec and dcmsign verify (issue 9, acceptance 3 through the site CA).
Once with an EC P-384 root and a P-256 device key, once with RSA-3072 / RSA-2048 (one site
per key type, module-scoped).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from cryptography import x509

from dicomsec.cli import main as cli_main
from tests.conftest import PYDICOM_FILES, require_tool
from tests.softhsm import Token, generate_key, make_token, pkcs11_uri

pytestmark = pytest.mark.peer

SAMPLE = PYDICOM_FILES / "CT_small.dcm"
SECRET = "token site passphrase"


#: per root key type: (the root key in the token, the device key in the token); RSA and
#: ECDSA both sign through the site CA and through ``sign`` (acceptance 3)
_KEYS = {"ec-p384": (("root", "ec-p384"), ("ct05", "ec-p256")),
         "rsa-3072": (("rsaroot", "rsa-3072"), ("ct06", "rsa-2048"))}


@pytest.fixture(scope="module")
def token(tmp_path_factory: pytest.TempPathFactory) -> Token:
    require_tool("softhsm2-util")
    return make_token(tmp_path_factory.getbasetemp(), label="pki-ca")


@pytest.fixture(scope="module", params=sorted(_KEYS))
def token_site(request: pytest.FixtureRequest, token: Token,
               tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Token, str]:
    """A site whose root key (``request.param``) is in the token, with an issuing CA;
    returns the folder, the token and the label of the device key made in it."""
    (root, root_kind), (device, device_kind) = _KEYS[request.param]
    generate_key(token, root, root_kind)
    generate_key(token, device, device_kind)
    work = tmp_path_factory.mktemp(f"pki-token-{request.param}")
    (work / "pass.txt").write_text(SECRET + "\n")
    folder = work / "site"
    assert cli_main(["pki", "init", str(folder), "--intermediate", "--key-type", request.param,
                     "--ca-key", pkcs11_uri(token, root), "--pin-file", str(token.pin_file),
                     "--passphrase-file", str(work / "pass.txt")]) == 0
    return folder, token, device


def test_root_key_stays_in_the_token(token_site: tuple[Path, Token, str]) -> None:
    folder, token, _ = token_site
    assert not (folder / "ca.key.pem").exists()
    assert (folder / "issuing.key.pem").exists()
    assert "pkcs11:token=pki-ca" in (folder / "pki.toml").read_text()
    for path in folder.rglob("*"):  # neither the PIN nor the passphrase is kept
        if path.is_file():
            data = path.read_bytes()
            assert token.pin.encode() + b"\n" not in data
            assert b"pin-value" not in data and SECRET.encode() not in data
    root = x509.load_pem_x509_certificate((folder / "ca.cert.pem").read_bytes())
    issuing = x509.load_pem_x509_certificate((folder / "issuing.cert.pem").read_bytes())
    issuing.verify_directly_issued_by(root)
    root.verify_directly_issued_by(root)


def test_token_device_key_signs_and_verifies(token_site: tuple[Path, Token, str],
                                             tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    folder, token, device = token_site
    pin = str(token.pin_file)
    pf = ["--passphrase-file", str(folder.parent / "pass.txt")]
    uri = pkcs11_uri(token, device)
    prefix = tmp_path / device
    assert cli_main(["pki", "issue", str(folder), "--kind", "device", "--name", "CT05",
                     "--serial", "SN-5", "--pkcs11", uri, "--pin-file", pin, "--out",
                     str(prefix), *pf]) == 0
    assert not Path(f"{prefix}.key.pem").exists()
    crl = tmp_path / "c.pem"
    assert cli_main(["pki", "crl", str(folder), "-o", str(crl), "--pin-file", pin, *pf]) == 0
    signed = tmp_path / "signed.dcm"
    assert cli_main(["sign", str(SAMPLE), "-o", str(signed), "--key", uri, "--cert",
                     f"{prefix}.cert.pem", "--pin-file", pin]) == 0
    capsys.readouterr()
    rc = cli_main(["verify", str(signed), "--workers", "1", "--json", "--trust",
                   str(folder / "ca.cert.pem"), "--untrusted", str(folder / "issuing.cert.pem"),
                   "--crl", str(crl), "--crl", str(tmp_path / "c.root.pem"), "--offline"])
    report = json.loads(capsys.readouterr().out)
    assert rc == 0, report
    dcmsign = require_tool("dcmsign")
    proc = subprocess.run([dcmsign, "--verify", str(signed), "+cf", str(folder / "ca.cert.pem"),
                           "+uf", str(folder / "issuing.cert.pem"), "+cr", str(crl)],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_wrong_pin_exits_1_in_one_line(token_site: tuple[Path, Token, str], tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    folder, _, _ = token_site
    bad = tmp_path / "bad.pin"
    bad.write_text("9999\n")
    capsys.readouterr()
    rc = cli_main(["pki", "crl", str(folder), "-o", str(tmp_path / "x.pem"), "--pin-file",
                   str(bad), "--passphrase-file", str(folder.parent / "pass.txt")])
    err = capsys.readouterr().err.strip()
    assert rc == 1 and len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert not (tmp_path / "x.pem").exists()
