"""Keys, certificates and passwords (the trust store: tests/test_trust.py).

Key files in every format are made in a temporary folder with ``cryptography``; trust is checked
against the scripted test PKI (tests/data/pki) and against CAs and CRLs made here.
"""

from __future__ import annotations

import datetime as _dt
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.serialization import pkcs12

from dicomsec import algorithms, keys
from dicomsec.algorithms import Family
from dicomsec.algorithms.policy import ALWAYS, AlgorithmPolicy, Rule
from dicomsec.errors import InvalidInput, PolicyViolation, UnsupportedAlgorithm
from dicomsec.keys import FileSigningKey, load_certificate, load_private_key, read_password
from tests.conftest import PKI

CA_CERT = PKI / "ca.cert.pem"
SIGNERS = ["rsa2048", "rsa3072", "ecp256", "ecp384", "ed25519"]
AT = _dt.datetime(2026, 1, 1, tzinfo=_dt.UTC)
LATE = _dt.datetime(2060, 1, 1, tzinfo=_dt.UTC)
PASSWORD = b"correct horse battery staple 42"
WRONG = b"wrong-Password-91"

Enc = serialization.Encoding
Fmt = serialization.PrivateFormat


def _pub_der(key: PrivateKeyTypes) -> bytes:
    return key.public_key().public_bytes(Enc.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _same_key(a: PrivateKeyTypes, b: PrivateKeyTypes) -> bool:
    return _pub_der(a) == _pub_der(b)


@pytest.fixture(scope="module")
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(65537, 2048)


# ------------------------------------------------------------------------------------------
# loading private keys


@pytest.mark.parametrize(("encoding", "fmt", "suffix"), [
    (Enc.PEM, Fmt.PKCS8, ".pem"),
    (Enc.PEM, Fmt.TraditionalOpenSSL, ".pem"),
    (Enc.DER, Fmt.PKCS8, ".der"),
    (Enc.DER, Fmt.TraditionalOpenSSL, ".key"),
])
@pytest.mark.parametrize("kind", ["ec", "rsa"])
def test_load_plain_keys(tmp_path: Path, ec_key: ec.EllipticCurvePrivateKey,
                         rsa_key: rsa.RSAPrivateKey, encoding: Enc, fmt: Fmt, suffix: str,
                         kind: str) -> None:
    key: PrivateKeyTypes = ec_key if kind == "ec" else rsa_key
    path = tmp_path / f"key{suffix}"
    path.write_bytes(key.private_bytes(encoding, fmt, serialization.NoEncryption()))
    called: list[bool] = []

    def callback() -> bytes:
        called.append(True)
        return PASSWORD

    loaded = load_private_key(path, password_callback=callback)
    assert _same_key(loaded, key)
    assert called == []  # never asked for a password of a plain key


def test_load_ed25519_pem(tmp_path: Path) -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    path = tmp_path / "ed.pem"
    path.write_bytes(key.private_bytes(Enc.PEM, Fmt.PKCS8, serialization.NoEncryption()))
    assert _same_key(load_private_key(path), key)


@pytest.mark.parametrize(("encoding", "suffix"), [(Enc.PEM, ".pem"), (Enc.DER, ".der")])
def test_load_encrypted_pkcs8(tmp_path: Path, ec_key: ec.EllipticCurvePrivateKey,
                              encoding: Enc, suffix: str) -> None:
    path = tmp_path / f"enc{suffix}"
    path.write_bytes(ec_key.private_bytes(encoding, Fmt.PKCS8,
                                          serialization.BestAvailableEncryption(PASSWORD)))
    assert _same_key(load_private_key(path, password=PASSWORD), ec_key)
    with pytest.raises(InvalidInput):
        load_private_key(path)


def _p12(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, password: bytes | None) -> bytes:
    cert = keys.issue_certificate(key, "p12 signer")
    enc: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password) if password
        else serialization.NoEncryption()
    )
    return pkcs12.serialize_key_and_certificates(b"signer", key, cert, None, enc)


@pytest.mark.parametrize("suffix", [".p12", ".pfx"])
def test_load_pkcs12_with_password(tmp_path: Path, rsa_key: rsa.RSAPrivateKey,
                                   suffix: str) -> None:
    path = tmp_path / f"key{suffix}"
    path.write_bytes(_p12(rsa_key, PASSWORD))
    assert _same_key(load_private_key(path, password=PASSWORD), rsa_key)
    # the callback is asked for PKCS#12 files (their suffix says they are protected)
    assert _same_key(load_private_key(path, password_callback=lambda: PASSWORD), rsa_key)


def test_load_pkcs12_without_password(tmp_path: Path, ec_key: ec.EllipticCurvePrivateKey) -> None:
    path = tmp_path / "plain.p12"
    path.write_bytes(_p12(ec_key, None))
    assert _same_key(load_private_key(path), ec_key)


def test_load_pkcs12_without_a_key(tmp_path: Path, ec_key: ec.EllipticCurvePrivateKey) -> None:
    cert = keys.issue_certificate(ec_key, "cert only")
    path = tmp_path / "cert-only.p12"
    path.write_bytes(pkcs12.serialize_key_and_certificates(
        b"x", None, cert, None, serialization.NoEncryption()))
    with pytest.raises(InvalidInput):
        load_private_key(path)


# ------------------------------------------------------------------------------------------
# passwords


@pytest.fixture
def encrypted_pem(tmp_path: Path, ec_key: ec.EllipticCurvePrivateKey) -> Path:
    path = tmp_path / "enc.key.pem"
    keys.write_private_key(ec_key, path, password=PASSWORD)
    return path


def test_write_private_key_mode_and_round_trip(tmp_path: Path,
                                               ec_key: ec.EllipticCurvePrivateKey) -> None:
    plain, enc = tmp_path / "plain.pem", tmp_path / "enc.pem"
    keys.write_private_key(ec_key, plain)
    keys.write_private_key(ec_key, enc, password=PASSWORD)
    for p in (plain, enc):
        assert stat.S_IMODE(p.stat().st_mode) == 0o600
    assert b"ENCRYPTED" not in plain.read_bytes()
    assert b"ENCRYPTED" in enc.read_bytes()
    assert _same_key(load_private_key(plain), ec_key)
    assert _same_key(load_private_key(enc, password=PASSWORD), ec_key)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["enc.pem", "plain.pem"]


def test_password_from_file(tmp_path: Path, encrypted_pem: Path, ec_key: PrivateKeyTypes,
                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(keys.PASSWORD_ENV, "the environment loses")
    pw = tmp_path / "pw.txt"
    pw.write_bytes(PASSWORD + b"\nsecond line is ignored\n")
    password = read_password(pw)
    assert password == PASSWORD  # a file beats the environment
    assert _same_key(load_private_key(encrypted_pem, password=password), ec_key)


def test_password_file_edge_cases(tmp_path: Path) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    assert read_password(empty) == b""
    crlf = tmp_path / "crlf.txt"
    crlf.write_bytes(b"pw\r\n")
    assert read_password(crlf) == b"pw"
    with pytest.raises(InvalidInput) as info:
        read_password(tmp_path / "missing.txt")
    assert "missing.txt" in str(info.value)
    with pytest.raises(InvalidInput):
        read_password(tmp_path)


def test_password_from_environment(encrypted_pem: Path, ec_key: PrivateKeyTypes,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DICOMSEC_KEY_PASSWORD", PASSWORD.decode())
    password = read_password(None, prompt=lambda: pytest.fail("prompted"))
    assert password == PASSWORD
    assert _same_key(load_private_key(encrypted_pem, password=password), ec_key)


def test_password_from_prompt(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(keys.PASSWORD_ENV, raising=False)
    assert read_password(None, prompt=lambda: "typed") == b"typed"
    assert read_password(None) is None


def test_password_callback(encrypted_pem: Path, ec_key: PrivateKeyTypes) -> None:
    calls: list[int] = []

    def callback() -> bytes:
        calls.append(1)
        return PASSWORD

    assert _same_key(load_private_key(encrypted_pem, password_callback=callback), ec_key)
    assert calls == [1]
    # a given password wins; the callback is not asked
    assert _same_key(load_private_key(encrypted_pem, password=PASSWORD,
                                      password_callback=callback), ec_key)
    assert calls == [1]


def _assert_secret_free(exc: InvalidInput, secret: bytes) -> None:
    text = secret.decode()
    for shown in (str(exc), repr(exc), exc.diagnostics(), exc.message):
        assert text not in shown
        assert repr(secret) not in shown


@pytest.mark.parametrize("how", ["argument", "callback", "callback-none"])
def test_wrong_password(encrypted_pem: Path, how: str) -> None:
    with pytest.raises(InvalidInput) as info:
        if how == "argument":
            load_private_key(encrypted_pem, password=WRONG)
        elif how == "callback":
            load_private_key(encrypted_pem, password_callback=lambda: WRONG)
        else:
            load_private_key(encrypted_pem, password_callback=lambda: None)
    _assert_secret_free(info.value, WRONG)
    _assert_secret_free(info.value, PASSWORD)
    assert str(encrypted_pem) in str(info.value)


def test_wrong_password_pkcs12(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    path = tmp_path / "key.p12"
    path.write_bytes(_p12(rsa_key, PASSWORD))
    with pytest.raises(InvalidInput) as info:
        load_private_key(path, password=WRONG)
    _assert_secret_free(info.value, WRONG)


def test_missing_password(encrypted_pem: Path) -> None:
    with pytest.raises(InvalidInput) as info:
        load_private_key(encrypted_pem)
    assert "password" in str(info.value)
    assert keys.PASSWORD_ENV in info.value.diagnostics()


@pytest.mark.parametrize("data", [
    b"", b"garbage", bytes(range(256)) * 3,
    b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
], ids=["empty", "text", "binary", "bad-pem"])
def test_garbage_key(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "garbage.pem"
    path.write_bytes(data)
    with pytest.raises(InvalidInput) as info:
        load_private_key(path)
    assert str(path) in str(info.value)


def test_missing_key_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="cannot read"):
        load_private_key(tmp_path / "absent.pem")


# ------------------------------------------------------------------------------------------
# certificates and FileSigningKey


def test_load_certificates(tmp_path: Path) -> None:
    pem = load_certificate(PKI / "signer-ecp256.cert.pem")
    der_path = tmp_path / "signer.der"
    der_path.write_bytes(pem.public_bytes(Enc.DER))
    assert load_certificate(der_path) == pem
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(CA_CERT.read_bytes() + (PKI / "signer-ecp256.cert.pem").read_bytes())
    certs = keys.load_certificates(bundle)
    assert [c.subject for c in certs] == [load_certificate(CA_CERT).subject, pem.subject]


@pytest.mark.parametrize("data", [
    b"", b"garbage", bytes(range(200)),
    b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
], ids=["empty", "text", "binary", "bad-pem"])
def test_garbage_certificate(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "garbage.pem"
    path.write_bytes(data)
    with pytest.raises(InvalidInput):
        load_certificate(path)


@pytest.mark.parametrize("name", SIGNERS)
def test_file_signing_key(name: str) -> None:
    key = load_private_key(PKI / f"signer-{name}.key.pem")
    cert = load_certificate(PKI / f"signer-{name}.cert.pem")
    fsk = FileSigningKey(key, cert)
    assert fsk.scheme is algorithms.signature_scheme_for_key(cert.public_key())
    assert fsk.certificate is cert


def test_file_signing_key_mismatch() -> None:
    key = load_private_key(PKI / "signer-rsa2048.key.pem")
    with pytest.raises(InvalidInput, match="does not match"):
        FileSigningKey(key, load_certificate(PKI / "signer-ecp256.cert.pem"))
    with pytest.raises(InvalidInput, match="does not match"):
        FileSigningKey(key, load_certificate(PKI / "signer-rsa3072.cert.pem"))


def test_file_signing_key_repr_redacts() -> None:
    key = load_private_key(PKI / "signer-ecp256.key.pem")
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    fsk = FileSigningKey(key, load_certificate(PKI / "signer-ecp256.cert.pem"))
    secret = key.private_numbers().private_value
    pem = key.private_bytes(Enc.PEM, Fmt.PKCS8, serialization.NoEncryption()).decode()
    for shown in (repr(fsk), str(fsk), f"{fsk}", f"{fsk!r}"):
        assert "redacted" in shown
        assert str(secret) not in shown and f"{secret:x}" not in shown
        assert pem.splitlines()[1] not in shown
        assert "EllipticCurvePrivateKey" not in shown


def test_file_signing_key_signs() -> None:
    key = load_private_key(PKI / "signer-ecp256.key.pem")
    cert = load_certificate(PKI / "signer-ecp256.cert.pem")
    fsk = FileSigningKey(key, cert)
    sha256 = algorithms.by_name("sha256")
    digest = hashes.Hash(hashes.SHA256())
    digest.update(b"data")
    value = fsk.sign_digest(digest.finalize(), sha256)
    public = cert.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    public.verify(value, b"data", ec.ECDSA(hashes.SHA256()))


# ------------------------------------------------------------------------------------------
# generating keys


@pytest.mark.parametrize(("scheme", "expected"), [
    ("ecdsa-p256", "ecdsa-p256"), ("ecdsa-p384", "ecdsa-p384"), ("ed25519", "ed25519"),
    ("rsa2048", "rsa-pkcs1v15"),
])
def test_generate_and_issue(scheme: str, expected: str) -> None:
    key = keys.generate_private_key(scheme)
    cert = keys.issue_certificate(key, f"generated {scheme}")
    fsk = FileSigningKey(key, cert)
    assert fsk.scheme.name == expected


def test_generate_unknown_scheme() -> None:
    with pytest.raises(InvalidInput):
        keys.generate_private_key("dsa-1024")


# ------------------------------------------------------------------------------------------
# recipient keys: what keys.py decides for the command line


@pytest.mark.parametrize(("scheme", "only"), [
    ("x25519", True), ("X448", True), ("ml-kem-768", True), ("ml-kem-1024", True),
    ("ecdsa-p256", False), ("rsa3072", False), ("ed25519", False), ("ml-dsa-65", False),
])
def test_recipient_only(scheme: str, only: bool) -> None:
    assert keys.recipient_only(scheme) is only


def test_issue_certificate_decides_recipient_or_signer_from_the_key() -> None:
    from cryptography.hazmat.primitives.asymmetric import mlkem, x25519

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = keys.issue_certificate(ca_key, "CA", ca=True)
    for subject, agreement in ((x25519.X25519PrivateKey.generate(), True),
                               (mlkem.MLKEM768PrivateKey.generate(), False)):
        cert = keys.issue_certificate(subject, "recipient", issuer_key=ca_key,
                                      issuer_cert=ca)
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
        assert not usage.digital_signature
        assert usage.key_agreement is agreement and usage.key_encipherment is not agreement
    signer = keys.issue_certificate(ec.generate_private_key(ec.SECP256R1()), "signer")
    usage = signer.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and not usage.key_agreement
    # an explicit choice still wins
    forced = keys.issue_certificate(ca_key, "forced", encryption=True)
    assert forced.extensions.get_extension_for_class(x509.KeyUsage).value.key_agreement


def test_mlkem_classes_and_kem_of_key() -> None:
    from cryptography.hazmat.primitives.asymmetric import mlkem

    kem768 = algorithms.by_name("ml-kem-768", algorithms.Kind.KEM)
    assert keys.mlkem_class(kem768, "PrivateKey") is mlkem.MLKEM768PrivateKey
    private = mlkem.MLKEM768PrivateKey.generate()
    assert keys.kem_of_key(private, "PrivateKey") is kem768
    assert keys.kem_of_key(private.public_key(), "PublicKey") is kem768
    assert keys.kem_of_key(ec.generate_private_key(ec.SECP256R1()), "PrivateKey") is None


def test_load_private_key_any_names_an_unsupported_kem(tmp_path: Path) -> None:
    from dicomsec.errors import UnsupportedAlgorithm

    pki_cms = PKI.parent / "pki-cms"
    kem512 = algorithms.by_name("ml-kem-512", algorithms.Kind.KEM)
    if keys.mlkem_class(kem512, "PrivateKey") is None:
        with pytest.raises(UnsupportedAlgorithm, match="ML-KEM-512"):
            keys.load_private_key_any(pki_cms / "rfc9936-appC-mlkem512.key.pem")
    assert isinstance(keys.load_private_key_any(pki_cms / "recip-rsa2048.key"),
                      rsa.RSAPrivateKey)
    garbage = tmp_path / "garbage.pem"
    garbage.write_bytes(b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    with pytest.raises(InvalidInput) as info:
        keys.load_private_key_any(garbage)
    assert not isinstance(info.value, UnsupportedAlgorithm)


def test_load_certificate_or_public_key(tmp_path: Path) -> None:
    pki_cms = PKI.parent / "pki-cms"
    assert isinstance(keys.load_certificate_or_public_key(pki_cms / "recip-rsa2048.pem"),
                      x509.Certificate)
    pub = keys.load_certificate_or_public_key(pki_cms / "recip-x25519.pub.pem")
    assert not isinstance(pub, x509.Certificate)
    der = tmp_path / "pub.der"
    der.write_bytes(ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        Enc.DER, serialization.PublicFormat.SubjectPublicKeyInfo))
    assert isinstance(keys.load_certificate_or_public_key(der), ec.EllipticCurvePublicKey)
    with pytest.raises(InvalidInput, match="not a certificate or public key"):
        keys.load_certificate_or_public_key(pki_cms / "password.txt")
    with pytest.raises(InvalidInput, match="cannot read signer"):
        keys.load_certificate_or_public_key(tmp_path / "missing.pem", "signer")


# ------------------------------------------------------------------------------------------
# key scheme names are read strictly; the policy is asked before a key is made


@pytest.mark.parametrize(("scheme", "name", "algorithm", "bits"), [
    ("rsa", "rsa3072", "rsa-pkcs1v15", 3072), ("RSA2048", "rsa2048", "rsa-pkcs1v15", 2048),
    ("rsa512", "rsa512", "rsa-pkcs1v15", 512), (" ecdsa-p384 ", "ecdsa-p384", "ecdsa-p384", None),
    ("ed448", "ed448", "ed448", None), ("ml-dsa-87", "ml-dsa-87", "ml-dsa-87", None),
    ("X25519", "x25519", "ecdh-hkdf-sha256", None), ("ml-kem-512", "ml-kem-512", "ml-kem-512",
                                                     None),
])
def test_parse_key_scheme(scheme: str, name: str, algorithm: str, bits: int | None) -> None:
    parsed = keys.parse_key_scheme(scheme)
    assert (parsed.name, parsed.algorithm.name, parsed.bits) == (name, algorithm, bits)
    assert parsed.recipient_only is (name in ("x25519", "ml-kem-512"))


@pytest.mark.parametrize("scheme", [
    "rsafoo", "rsa-pss", "rsa0", "rsa16385", "rsa99999999999", "rsa 2048", "rsa²", "ecdsa",
    "p256", "ecdsa-p999", "ml-dsa-99", "ml-kem-", "dsa-1024", "", "sha256",
])
def test_parse_key_scheme_is_strict(scheme: str) -> None:
    with pytest.raises(UnsupportedAlgorithm) as info:
        keys.parse_key_scheme(scheme)
    assert "\n" not in str(info.value)
    with pytest.raises(UnsupportedAlgorithm):
        keys.recipient_only(scheme)


def test_unknown_scheme_message_lists_the_known_ones() -> None:
    with pytest.raises(UnsupportedAlgorithm) as info:
        keys.generate_private_key("rsafoo")
    for name in keys.key_scheme_names():
        assert name in str(info.value)


@pytest.mark.parametrize("scheme", ["rsa512", "rsa1", "rsa1024", "rsa2047"])
def test_small_rsa_is_refused_by_the_policy_before_a_key_is_made(scheme: str) -> None:
    # cryptography cannot make RSA-512 at all (ValueError): the policy answers first
    with pytest.raises(PolicyViolation, match=r"^default policy: rsa-pkcs1v15 key of \d+ bits"):
        keys.generate_private_key(scheme)
    with pytest.raises(PolicyViolation):
        keys.check_key_creation(scheme)


def test_a_site_policy_refuses_before_a_key_is_made() -> None:
    site = AlgorithmPolicy.default().with_rules(Rule(
        "no-big-rsa", "site rule: no RSA", families=frozenset({Family.RSA}),
        disallowed_after=ALWAYS))
    with pytest.raises(PolicyViolation, match="site rule: no RSA"):
        keys.generate_private_key("rsa16384", policy=site)  # would take long to make
    assert keys.generate_private_key("ecdsa-p256", policy=site, at=AT)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"days": 0}, "1 to 36500 days"), ({"days": -5}, "1 to 36500 days"),
    ({"days": 99999999}, "1 to 36500 days"), ({"common_name": ""}, "must not be empty"),
    ({"common_name": "  "}, "must not be empty"), ({"common_name": "x" * 65}, "bad certificate"),
])
def test_issue_certificate_bad_input(kwargs: dict[str, object], message: str) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    args: dict[str, object] = {"common_name": "device", **kwargs}
    with pytest.raises(InvalidInput, match=message):
        keys.issue_certificate(key, **args)  # type: ignore[arg-type]
    assert keys.issue_certificate(key, "d", days=keys.MAX_CERT_DAYS)


def test_issued_certificates_pass_the_validator_for_their_purpose() -> None:
    """What ``keys generate`` makes is usable for what it is made for (one validator:
    ``trust.check_for_use``), and nothing else is taken for a CA."""
    from cryptography.hazmat.primitives.asymmetric import mlkem, x25519

    from dicomsec.trust import CertificateNotUsable, KeyPurpose, check_for_use

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = keys.issue_certificate(ca_key, "CA", ca=True)
    check_for_use(ca, KeyPurpose.ISSUING)
    signer = keys.issue_certificate(ec.generate_private_key(ec.SECP256R1()), "signer",
                                    issuer_key=ca_key, issuer_cert=ca)
    check_for_use(signer, KeyPurpose.SIGNING)
    with pytest.raises(CertificateNotUsable, match="not a CA"):
        check_for_use(signer, KeyPurpose.ISSUING)
    for subject in (x25519.X25519PrivateKey.generate(), mlkem.MLKEM768PrivateKey.generate(),
                    ec.generate_private_key(ec.SECP256R1()),
                    rsa.generate_private_key(public_exponent=65537, key_size=2048)):
        recipient = keys.issue_certificate(subject, "recipient", issuer_key=ca_key,
                                           issuer_cert=ca, encryption=True)
        check_for_use(recipient, KeyPurpose.ENCRYPTION)
        with pytest.raises(CertificateNotUsable):
            check_for_use(recipient, KeyPurpose.SIGNING)


def test_check_issuer_checks_the_key_pair() -> None:
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = keys.issue_certificate(ca_key, "CA", ca=True)
    keys.check_issuer(ca_key, ca)
    with pytest.raises(InvalidInput, match="does not belong"):
        keys.check_issuer(ec.generate_private_key(ec.SECP256R1()), ca)
