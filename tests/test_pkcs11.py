"""Signing keys in a PKCS#11 token: SoftHSM2 as the real token (issue 9).

A token is made in a private store for this module; its keys (RSA-2048, EC P-256, P-384) are
generated inside it, never imported, and their certificates are issued by the test CA for the
token's public keys. ``dicomsec sign --key pkcs11:...`` signs through the CLI; dcmsign and our
``verify --trust`` check the output. softhsm2 missing under CI=true is a failure.
"""

from __future__ import annotations

import datetime as _dt
import subprocess
from pathlib import Path
from typing import Any

import pytest

from dicomsec._pkcs11 import Pkcs11Uri, parse_pkcs11_uri
from dicomsec.cli import main as cli_main
from dicomsec.errors import InvalidInput
from tests.conftest import PKI, PYDICOM_FILES, require_tool
from tests.softhsm import MODULE, make_token, open_session

CT = PYDICOM_FILES / "CT_small.dcm"
CA = PKI / "ca.cert.pem"
PIN = "1234"
#: label → how the key is generated in the token
KEYS = ("rsa2048", "ecp256", "ecp384")


def _issue(public_der: bytes, name: str, out: Path) -> Path:
    """A signer certificate from the test CA for a public key (SPKI DER)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID

    ca_cert = x509.load_pem_x509_certificate(CA.read_bytes())
    ca_key: Any = serialization.load_pem_private_key((PKI / "ca.key.pem").read_bytes(), None)
    public: Any = serialization.load_der_public_key(public_der)
    now = _dt.datetime.now(_dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"token {name}")]))
        .issuer_name(ca_cert.subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _dt.timedelta(days=1))
        .not_valid_after(now + _dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, True, False, False, False, False, False, False,
                                     False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
            ca_cert.public_key()), critical=False)  # type: ignore[arg-type]
        .sign(ca_key, hashes.SHA256())
    )
    out.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return out


def _generate(session: Any, name: str, key_id: bytes, kind: str | None = None) -> bytes:
    """Generate a key pair ``kind`` (a KEYS name; default ``name``) labelled ``name`` in the
    token (never extractable); its public key as SPKI DER."""
    from pkcs11 import Attribute, KeyType
    from pkcs11.util.ec import encode_ec_public_key, encode_named_curve_parameters
    from pkcs11.util.rsa import encode_rsa_public_key

    private = {Attribute.SENSITIVE: True, Attribute.EXTRACTABLE: False}
    kind = kind or name
    if kind.startswith("rsa"):
        pub, _ = session.generate_keypair(KeyType.RSA, 2048, label=name, id=key_id, store=True,
                                          private_template=private)
        return bytes(encode_rsa_public_key(pub))
    curve = {"ecp256": "secp256r1", "ecp384": "secp384r1"}[kind]
    params = session.create_domain_parameters(
        KeyType.EC, {Attribute.EC_PARAMS: encode_named_curve_parameters(curve)}, local=True)
    pub, _ = params.generate_keypair(store=True, label=name, id=key_id,
                                     private_template=private)
    return bytes(encode_ec_public_key(pub))


@pytest.fixture(scope="module")
def token(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A SoftHSM2 token ``ct1`` with the keys of KEYS; their certificates and the PIN files."""
    tok = make_token(tmp_path_factory.getbasetemp(), label="ct1", pin=PIN)
    work = tmp_path_factory.mktemp("pkcs11")
    session = open_session(tok, rw=True)
    files: dict[str, Path] = {}
    try:
        for n, name in enumerate(KEYS, 1):
            files[name] = _issue(_generate(session, name, bytes([n])), name,
                                 work / f"{name}.cert.pem")
    finally:
        session.close()
    (work / "wrong-pin").write_text("9999\n")
    files["pin"], files["wrong-pin"] = tok.pin_file, work / "wrong-pin"
    return files


def _sign(token: dict[str, Path], name: str, out: Path, *extra: str,
          uri: str | None = None, cert: str | None = None, pin: str = "pin") -> int:
    return cli_main(["sign", str(CT), "-o", str(out),
                     "--key", uri or f"pkcs11:token=ct1;object={name}?module-path={MODULE}",
                     "--cert", str(token[cert or name]), "--pin-file", str(token[pin]),
                     *extra])


@pytest.mark.peer
@pytest.mark.parametrize("name", KEYS)
@pytest.mark.parametrize("mac", ["sha256", "sha512"])
def test_sign_in_token_verifies(token: dict[str, Path], tmp_path: Path, name: str,
                                mac: str) -> None:
    out = tmp_path / "signed.dcm"
    assert _sign(token, name, out, "--mac", mac) == 0
    assert cli_main(["verify", str(out), "--trust", str(CA)]) == 0
    dcmsign = require_tool("dcmsign")
    done = subprocess.run([dcmsign, "--verify", "+cf", str(CA), str(out)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, (done.stdout, done.stderr)


def test_typer_path_signs_too(token: dict[str, Path], tmp_path: Path,
                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("dicomsec.cli._fast.run", lambda args: None)  # never the fast path
    out = tmp_path / "signed.dcm"
    assert _sign(token, "ecp256", out) == 0
    assert cli_main(["verify", str(out), "--trust", str(CA)]) == 0


def test_token_without_public_key_object(token: dict[str, Path], tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    """No public key object beside the private key: a probe signature checks the pair."""
    from pkcs11 import ObjectClass

    session = open_session(make_token(tmp_path, "ct1", PIN), rw=True)
    try:
        public_der = _generate(session, "lone", b"\x10", "ecp256")
        session.get_key(object_class=ObjectClass.PUBLIC_KEY, id=b"\x10").destroy()
    finally:
        session.close()
    files = {**token, "lone": _issue(public_der, "lone", tmp_path / "lone.cert.pem")}
    uri = f"pkcs11:token=ct1;id=%10?module-path={MODULE}"
    out = tmp_path / "signed.dcm"
    assert _sign(files, "lone", out, uri=uri) == 0
    assert cli_main(["verify", str(out), "--trust", str(CA)]) == 0
    capsys.readouterr()
    assert _sign(files, "lone", tmp_path / "o.dcm", uri=uri, cert="ecp256") == 2
    assert "not the token key's" in _one_line(capsys)


def test_module_from_environment_and_id(token: dict[str, Path], tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DICOMSEC_PKCS11_MODULE", MODULE)
    out = tmp_path / "signed.dcm"
    assert _sign(token, "ecp256", out, uri="pkcs11:token=ct1;id=%02") == 0
    assert cli_main(["verify", str(out), "--trust", str(CA)]) == 0


def test_rsa_pss_in_token_verifies_here(token: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "signed.dcm"
    assert _sign(token, "rsa2048", out, "--rsa-pss") == 0
    assert cli_main(["verify", str(out), "--trust", str(CA)]) == 0


def test_pin_from_environment(token: dict[str, Path], tmp_path: Path,
                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DICOMSEC_PKCS11_PIN", PIN)
    out = tmp_path / "signed.dcm"
    assert cli_main(["sign", str(CT), "-o", str(out), "--key",
                     f"pkcs11:token=ct1;object=ecp384?module-path={MODULE}",
                     "--cert", str(token["ecp384"])]) == 0


def _one_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


def test_wrong_pin_exit_1(token: dict[str, Path], tmp_path: Path,
                          capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "signed.dcm"
    assert _sign(token, "ecp256", out, pin="wrong-pin") == 1
    assert "PKCS#11 token ct1: PIN incorrect" in _one_line(capsys)
    assert not out.exists()


def test_certificate_of_another_key_refused(token: dict[str, Path], tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "signed.dcm"
    assert _sign(token, "ecp256", out, cert="ecp384") == 2
    assert "not the token key's" in _one_line(capsys)
    # a file key's certificate, same curve, another key
    assert cli_main(["sign", str(CT), "-o", str(out), "--key",
                     f"pkcs11:token=ct1;object=ecp256?module-path={MODULE}", "--cert",
                     str(PKI / "signer-ecp256.cert.pem"), "--pin-file", str(token["pin"])]) == 2
    assert "not the token key's" in _one_line(capsys)
    assert not out.exists()


@pytest.mark.parametrize(("uri", "words"), [
    ("pkcs11:token=nope;object=ecp256", "no PKCS#11 token 'nope'"),
    ("pkcs11:token=ct1;object=nope", "no private key"),
    ("pkcs11:token=ct1;object=ecp256?module-path=/nonexistent/lib.so", "cannot load"),
])
def test_no_such_token_key_module_exit_2(token: dict[str, Path], tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str], uri: str,
                                         words: str) -> None:
    monkeypatch.setenv("DICOMSEC_PKCS11_MODULE", MODULE)
    assert _sign(token, "ecp256", tmp_path / "o.dcm", uri=uri) == 2
    assert words in _one_line(capsys)


def test_no_module_exit_2(token: dict[str, Path], tmp_path: Path,
                          monkeypatch: pytest.MonkeyPatch,
                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("DICOMSEC_PKCS11_MODULE", raising=False)
    assert _sign(token, "ecp256", tmp_path / "o.dcm", uri="pkcs11:token=ct1;object=x") == 2
    assert "no PKCS#11 module" in _one_line(capsys)


def test_deterministic_refused(token: dict[str, Path], tmp_path: Path,
                               capsys: pytest.CaptureFixture[str]) -> None:
    assert _sign(token, "ecp256", tmp_path / "o.dcm", "--deterministic") == 2
    assert "--deterministic" in _one_line(capsys)


def test_pin_file_must_be_a_regular_file(token: dict[str, Path], tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    token = {**token, "dir": tmp_path}
    assert _sign(token, "ecp256", tmp_path / "o.dcm", pin="dir") == 2
    _one_line(capsys)


def test_pin_source_in_uri_must_be_a_regular_file(token: dict[str, Path],
                                                  tmp_path: Path) -> None:
    from dicomsec._pkcs11 import read_pin

    assert read_pin(parse_pkcs11_uri(f"pkcs11:object=a?pin-source=file:{token['pin']}"),
                    None) == PIN
    with pytest.raises(InvalidInput, match="not a regular file"):
        read_pin(parse_pkcs11_uri(f"pkcs11:object=a?pin-source=file:{tmp_path}"), None)


def test_token_key_api_refuses_deterministic(token: dict[str, Path]) -> None:
    from dicomsec import algorithms
    from dicomsec._pkcs11 import open_signing_key
    from dicomsec.keys import load_certificate

    key = open_signing_key(f"pkcs11:token=ct1;object=ecp256?module-path={MODULE}",
                           load_certificate(token["ecp256"]), pin=PIN)
    try:
        assert "ct1" in repr(key) and "ecdsa" in key.scheme.name
        sha256 = algorithms.by_name("sha256", algorithms.Kind.DIGEST)
        assert len(key.sign_digest(b"\x01" * 32, sha256)) > 64
        with pytest.raises(InvalidInput, match="deterministic"):
            key.sign_digest(b"\x01" * 32, sha256, deterministic=True)
    finally:
        key.close()


# --- the URI parser (no token needed) --------------------------------------------------


def test_uri_good() -> None:
    uri = parse_pkcs11_uri("pkcs11:token=ct1;object=sign;type=private?module-path=/usr/lib/x.so")
    assert uri == Pkcs11Uri(token="ct1", object="sign", module_path="/usr/lib/x.so")


def test_uri_percent_encoded() -> None:
    uri = parse_pkcs11_uri("pkcs11:token=My%20Token;object=a%3Bb;id=%01%02%ff")
    assert (uri.token, uri.object, uri.id) == ("My Token", "a;b", b"\x01\x02\xff")


@pytest.mark.parametrize(("text", "words"), [
    ("pkcs11:token=a;token=b", "given twice"),
    ("pkcs11:object=a?module-path=/x&module-path=/y", "given twice"),
    ("pkcs11:object=a;pin-value=1234", "pin-value is refused"),
    ("pkcs11:object=a?pin-value=1234", "pin-value is refused"),
    ("file:key.pem", "not a PKCS#11 URI"),
    ("pkcs11:object=a;type=public", "not a private key"),
    ("pkcs11:object=a;colour=red", "unknown attribute"),
    ("pkcs11:object", "not NAME=VALUE"),
])
def test_uri_refused(text: str, words: str) -> None:
    with pytest.raises(InvalidInput, match=words):
        parse_pkcs11_uri(text)



@pytest.mark.peer
def test_timestamp_from_a_tsa_whose_key_is_in_the_token(
        token: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The test TSA signs its replies with a key generated in the token (the same token as
    the file's signing key: two keys of one token open at once); the timestamp verifies and
    its TSA chains to the test CA."""
    import json

    from cryptography.hazmat.primitives import serialization
    from cryptography.x509.oid import ExtendedKeyUsageOID

    from dicomsec._pkcs11 import open_signing_key, open_token_key
    from dicomsec.keys import issue_certificate, load_certificate, load_private_key
    from tests.softhsm import generate_key, make_token, pkcs11_uri
    from tests.tsa import running_tsa

    tok = make_token(tmp_path, "ct1", PIN)
    generate_key(tok, "tsa-ec", "ec-p256")
    with open_token_key(pkcs11_uri(tok, "tsa-ec"), pin=PIN) as key:
        cert = issue_certificate(key, "Token TSA", issuer_key=load_private_key(  # type: ignore[arg-type]
            PKI / "ca.key.pem"), issuer_cert=load_certificate(CA), days=30,
            extra_key_usage=[ExtendedKeyUsageOID.TIME_STAMPING])
    (tmp_path / "tsa.cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    out = tmp_path / "signed.dcm"
    with open_signing_key(pkcs11_uri(tok, "tsa-ec"), cert, pin=PIN) as tsa_key, \
            running_tsa(tmp_path, signer=tsa_key) as url:
        assert _sign(token, "rsa2048", out, "--tsa-url", url) == 0
    capsys.readouterr()
    assert cli_main(["verify", str(out), "--trust", str(CA), "--json"]) == 0
    stamp = json.loads(capsys.readouterr().out)[0]["signatures"][0]["timestamp"]
    assert stamp["valid"] and stamp["trusted"], stamp
    assert stamp["tsa"] == "CN=Token TSA,O=dicomsec"


def _rsa_key_numbers() -> Any:
    from cryptography.hazmat.primitives import serialization

    key: Any = serialization.load_pem_private_key(
        (PKI / "signer-rsa2048.key.pem").read_bytes(), None)
    return key.private_numbers()


def _holds_a_factor(data: bytes, n: int, size: int) -> bool:
    """Whether ``data`` holds a ``size``-byte prime factor of ``n`` (big- or little-endian)
    at any offset: the RSA private key, in whatever encoding, gives itself away by its
    primes."""
    for i in range(len(data) - size + 1):
        window = data[i:i + size]
        for value in (int.from_bytes(window, "big"), int.from_bytes(window, "little")):
            if value > 1 and value != n and n % value == 0:
                return True
    return False


@pytest.mark.peer
def test_acceptance_3_the_key_stays_in_the_token(token: dict[str, Path],
                                                 tmp_path: Path) -> None:
    """Issue 9, acceptance 3: keys generated in the token sign (RSA and ECDSA) through
    ``sign``; dcmsign verifies; the private values cannot be read (AttributeSensitive); no file
    the run wrote (outputs, the certificates, the token store itself, where SoftHSM2 keeps
    private objects encrypted under the PIN) holds a prime of the RSA key. (A wrong PIN:
    test_wrong_pin_exit_1.)"""
    from pkcs11 import Attribute, ObjectClass
    from pkcs11.exceptions import AttributeSensitive

    from tests.softhsm import make_token, open_session

    tok = make_token(tmp_path, "ct1", PIN)
    session = open_session(tok)
    try:
        rsa_key = session.get_key(object_class=ObjectClass.PRIVATE_KEY, label="rsa2048")
        for secret in (Attribute.PRIVATE_EXPONENT, Attribute.PRIME_1, Attribute.PRIME_2):
            with pytest.raises(AttributeSensitive):
                rsa_key[secret]
        ec_key = session.get_key(object_class=ObjectClass.PRIVATE_KEY, label="ecp256")
        with pytest.raises(AttributeSensitive):
            ec_key[Attribute.VALUE]
        for key in (rsa_key, ec_key):
            assert key[Attribute.LOCAL] and key[Attribute.NEVER_EXTRACTABLE]
        n = int.from_bytes(bytes(session.get_key(object_class=ObjectClass.PUBLIC_KEY,
                                                 label="rsa2048")[Attribute.MODULUS]), "big")
    finally:
        session.close()
    dcmsign = require_tool("dcmsign")
    for name in ("rsa2048", "ecp256"):
        out = tmp_path / f"{name}.dcm"
        assert _sign(token, name, out) == 0
        done = subprocess.run([dcmsign, "--verify", "+cf", str(CA), str(out)],
                              capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, (done.stdout, done.stderr)
    # the scan finds a prime where there is one (a software key's, little-endian, mid-buffer)
    soft = _rsa_key_numbers()
    assert _holds_a_factor(b"x" * 7 + soft.p.to_bytes(128, "little") + b"y", soft.public_numbers.n,
                           128)
    store = tok.conf.parent / "tokens"
    written = [p for p in (*tmp_path.rglob("*"), *store.rglob("*"), token["rsa2048"])
               if p.is_file()]
    assert any(p.parent.parent == store for p in written)  # the token's object files
    for path in written:
        data = path.read_bytes()
        assert b"PRIVATE KEY" not in data, path
        assert not _holds_a_factor(data, n, 128), path
