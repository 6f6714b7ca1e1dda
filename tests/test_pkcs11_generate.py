"""``dicomsec keys generate --pkcs11``: key pairs made IN a SoftHSM2 token; only a request or a
certificate is written (issue 9, acceptance 3).

Each key made here signs a DICOM file through ``sign --key pkcs11:...``; our ``verify`` and,
for RSA and ECDSA, dcmsign check it (dcmsign cannot verify EdDSA). The key's VALUE cannot be
read from the token (AttributeSensitive), and no file written by the run contains the key.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from dicomsec.cli import main as cli_main
from tests.conftest import PKI, PYDICOM_FILES, require_tool
from tests.softhsm import Token, make_token, open_session, pkcs11_uri

pytestmark = pytest.mark.peer

CT = PYDICOM_FILES / "CT_small.dcm"
CA = PKI / "ca.cert.pem"
CA_KEY = PKI / "ca.key.pem"


@pytest.fixture(scope="module")
def token(tmp_path_factory: pytest.TempPathFactory) -> Token:
    return make_token(tmp_path_factory.getbasetemp(), label="keysgen")


def _one_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


def _generate(token: Token, label: str, *args: str, key_type: str = "ec-p256") -> int:
    return cli_main(["keys", "generate", "--pkcs11", pkcs11_uri(token, label),
                     "--key-type", key_type, "--pin-file", str(token.pin_file), *args])


def _private_value_is_sensitive(token: Token, label: str) -> bytes:
    """The private key's VALUE (RSA: private exponent, primes) cannot be read; the token says
    it was generated there and never extractable. Returns the public key's bytes."""
    from pkcs11 import Attribute, ObjectClass
    from pkcs11.exceptions import AttributeSensitive

    session = open_session(token)
    try:
        private = session.get_key(object_class=ObjectClass.PRIVATE_KEY, label=label)
        secrets = ((Attribute.PRIVATE_EXPONENT, Attribute.PRIME_1)
                   if private.key_type.name == "RSA" else (Attribute.VALUE,))
        for secret in secrets:
            with pytest.raises(AttributeSensitive):
                private[secret]
        assert private[Attribute.LOCAL] and private[Attribute.NEVER_EXTRACTABLE]
        assert not private[Attribute.EXTRACTABLE]
        public = session.get_key(object_class=ObjectClass.PUBLIC_KEY, label=label)
        key_type = public.key_type.name
        return bytes(public[Attribute.MODULUS if key_type == "RSA" else Attribute.EC_POINT])
    finally:
        session.close()


@pytest.mark.parametrize("key_type", ["ec-p256", "rsa-2048", "ed25519"])
def test_generate_issue_sign_verify(token: Token, tmp_path: Path, key_type: str,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    label = f"gen-{key_type}"
    cert = tmp_path / "device.cert.pem"
    assert _generate(token, label, "--issue-with-ca", str(CA), str(CA_KEY), "--out",
                     str(cert), "--subject", "CN=CT01,O=Example Hospital", "--json",
                     key_type=key_type) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["schema"] == "dicomsec.keys.token_key/1" and report["ok"] is True
    assert report["provenance"] == {"local": True, "never_extractable": True,
                                    "sensitive": True, "extractable": False}
    assert report["subject"] == "CN=CT01,O=Example Hospital"
    public_bytes = _private_value_is_sensitive(token, label)
    signed = tmp_path / "signed.dcm"
    assert cli_main(["sign", str(CT), "-o", str(signed), "--key", pkcs11_uri(token, label),
                     "--cert", str(cert), "--pin-file", str(token.pin_file)]) == 0
    assert cli_main(["verify", str(signed), "--trust", str(CA)]) == 0
    if key_type != "ed25519":  # dcmsign 3.6.7 knows no EdDSA
        done = subprocess.run([require_tool("dcmsign"), "--verify", "+cf", str(CA),
                               str(signed)], capture_output=True, text=True, timeout=120,
                              check=False)
        assert done.returncode == 0, (done.stdout, done.stderr)
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert {p.name for p in written} == {"device.cert.pem", "signed.dcm"}
    assert public_bytes[-32:] in b"".join(p.read_bytes() for p in written) or (
        key_type == "ed25519")  # the public key is there; no PEM private key anywhere
    assert not any(b"PRIVATE KEY" in p.read_bytes() for p in written)


def test_csr_in_token(token: Token, tmp_path: Path) -> None:
    from cryptography import x509

    out = tmp_path / "req.pem"
    assert _generate(token, "csr-p384", "--csr", str(out), key_type="ec-p384") == 0
    csr = x509.load_pem_x509_csr(out.read_bytes())
    assert csr.is_signature_valid
    done = subprocess.run([require_tool("openssl"), "req", "-verify", "-noout", "-in",
                           str(out)], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0 and "verify OK" in done.stdout + done.stderr


def test_self_signed_in_token(token: Token, tmp_path: Path) -> None:
    from cryptography import x509

    out = tmp_path / "self.pem"
    assert _generate(token, "self-rsa", "--self-signed", str(out), "--subject", "CN=Self",
                     key_type="rsa-3072") == 0
    cert = x509.load_pem_x509_certificate(out.read_bytes())
    cert.verify_directly_issued_by(cert)
    assert cert.public_key().key_size == 3072  # type: ignore[union-attr]


def test_existing_label_refused(token: Token, tmp_path: Path,
                                capsys: pytest.CaptureFixture[str]) -> None:
    assert _generate(token, "twice", "--csr", str(tmp_path / "a.pem")) == 0
    capsys.readouterr()
    assert _generate(token, "twice", "--csr", str(tmp_path / "b.pem")) == 2
    assert "exists; a key is never replaced" in _one_line(capsys)
    assert not (tmp_path / "b.pem").exists()


def test_wrong_pin_exit_1(token: Token, tmp_path: Path,
                          capsys: pytest.CaptureFixture[str]) -> None:
    wrong = tmp_path / "wrong"
    wrong.write_text("0000\n")
    assert cli_main(["keys", "generate", "--pkcs11", pkcs11_uri(token, "nope"), "--pin-file",
                     str(wrong), "--csr", str(tmp_path / "r.pem")]) == 1
    assert "PIN incorrect" in _one_line(capsys)
    assert not (tmp_path / "r.pem").exists()


def test_failed_output_destroys_the_new_key(token: Token, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    """The output cannot be written (its folder is missing): the new pair is destroyed, so the
    same label can be used again."""
    assert _generate(token, "again", "--csr", str(tmp_path / "missing" / "r.pem")) == 2
    _one_line(capsys)
    assert _generate(token, "again", "--csr", str(tmp_path / "r.pem")) == 0


@pytest.mark.parametrize(("args", "words"), [
    (["--key-type", "dsa-1024", "--csr", "x.pem"], "--key-type: unknown"),
    (["--csr", "x.pem", "--self-signed", "y.pem"], "exactly one of"),
    ([], "exactly one of"),
    (["--csr", "x.pem", "--out", "y.pem"], "--out goes with --issue-with-ca"),
    (["--csr", "x.pem", "--subject", "not a name"], "--subject"),
    (["--csr", "x.pem", "--days", "0"], "--days"),
])
def test_bad_input_exit_2(token: Token, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                          capsys: pytest.CaptureFixture[str], args: list[str],
                          words: str) -> None:
    monkeypatch.chdir(tmp_path)
    assert _generate(token, "bad", *args) == 2
    assert words in _one_line(capsys)
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("args", [["p", "--csr", "x.pem"], ["p", "--pin-file", "x"]])
def test_token_options_without_pkcs11(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str],
                                      args: list[str]) -> None:
    monkeypatch.chdir(tmp_path)
    assert cli_main(["keys", "generate", *args]) == 2
    assert "goes with --pkcs11" in _one_line(capsys)
    assert not list(tmp_path.iterdir())




def test_login_survives_a_reinitialised_module(token: Token) -> None:
    """A key left open when the module is re-initialised (a token reinserted, a test store
    re-scanned) does not poison the next key: its stale login is dropped, the next key logs in
    again, and closing the stale key later leaves the new login alone."""
    import pkcs11

    from dicomsec import algorithms
    from dicomsec._pkcs11 import open_token_key
    from tests.softhsm import MODULE, generate_key

    generate_key(token, "stale", "ec-p256")
    sha256 = algorithms.by_name("sha256", algorithms.Kind.DIGEST)
    stale = open_token_key(pkcs11_uri(token, "stale"), pin_file=token.pin_file)
    pkcs11.lib(MODULE).reinitialize()
    fresh = open_token_key(pkcs11_uri(token, "stale"), pin_file=token.pin_file)
    other = open_token_key(pkcs11_uri(token, "stale"), pin_file=token.pin_file)
    stale.close()  # its session is gone: nothing raised, the new login kept
    assert fresh.sign_digest(b"\x05" * 32, sha256)
    other.close()
    assert fresh.sign_digest(b"\x06" * 32, sha256)
    fresh.close()


def test_algorithm_policy_refuses_before_the_token(token: Token, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """A site algorithm policy that forbids new P-256 keys: exit 1, one line naming the
    policy, and nothing is made in the token (the same label is free afterwards)."""
    policy = tmp_path / "site.toml"
    policy.write_text('[policy]\nname = "no P-256"\n\n[rules.no-p256]\n'
                      'algorithms = ["ecdsa-p256"]\npurposes = ["create"]\ndisallowed = true\n'
                      'reason = "site rule"\n', encoding="utf-8")
    out = tmp_path / "r.pem"
    assert _generate(token, "refused", "--csr", str(out), "--algorithm-policy",
                     str(policy)) == 1
    assert "no P-256" in _one_line(capsys)
    assert not out.exists()
    assert _generate(token, "refused", "--csr", str(out), key_type="ec-p384") == 0


def test_subprocess_cli(token: Token, tmp_path: Path) -> None:
    """The command as a user runs it (``python -m dicomsec``, the token's environment): a key
    made and a request written (exit 0); a wrong PIN is one line on stderr, exit 1."""
    import sys

    uri = pkcs11_uri(token, "subproc", module=False)  # the module from the environment
    done = subprocess.run([sys.executable, "-m", "dicomsec", "keys", "generate", "--pkcs11",
                           uri, "--pin-file", str(token.pin_file), "--csr",
                           str(tmp_path / "r.pem")], env=token.env, capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert "generated ec-p256 key 'subproc' in token keysgen" in done.stderr
    wrong = tmp_path / "wrong"
    wrong.write_text("4321\n")
    done = subprocess.run([sys.executable, "-m", "dicomsec", "keys", "generate", "--pkcs11",
                           pkcs11_uri(token, "subproc2", module=False), "--pin-file",
                           str(wrong), "--csr", str(tmp_path / "s.pem")], env=token.env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == ["error: PKCS#11 token keysgen: PIN incorrect"]
