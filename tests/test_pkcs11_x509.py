"""X.509 objects signed by a key in a PKCS#11 token (``dicomsec._x509sign``), SoftHSM2 as the
token: a self-signed root, a certificate it issues, a CRL, an OCSP response and a certificate
request, for an EC P-256, an RSA-2048 and an Ed25519 token key. Each verifies with cryptography
(inside ``_x509sign`` and here) AND with the openssl CLI (``verify``, ``crl -verify``,
``req -verify``, ``ocsp -respin``).
"""

from __future__ import annotations

import datetime as _dt
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dicomsec import _x509sign
from dicomsec._pkcs11 import TokenKey, open_token_key
from dicomsec.errors import DicomSecError, UnsupportedAlgorithm
from tests.conftest import require_tool
from tests.softhsm import Token, generate_key, make_token, pkcs11_uri

pytestmark = pytest.mark.peer

KINDS = {"ecp256": "ec-p256", "rsa2048": "rsa-2048", "ed25519": "ed25519"}
NOW = _dt.datetime.now(_dt.UTC).replace(microsecond=0)


@pytest.fixture(scope="module")
def token(tmp_path_factory: pytest.TempPathFactory) -> Token:
    tok = make_token(tmp_path_factory.getbasetemp(), label="x509sign")
    for name, kind in KINDS.items():
        generate_key(tok, name, kind)
    return tok


@pytest.fixture(scope="module", params=list(KINDS))
def ca(request: pytest.FixtureRequest, token: Token) -> Iterator[tuple[TokenKey, Any, Any]]:
    """A token key, its self-signed root certificate (signed in the token) and the hash."""
    from cryptography.hazmat.primitives import hashes

    key = open_token_key(pkcs11_uri(token, request.param), pin_file=token.pin_file)
    try:
        hash_alg = None if request.param == "ed25519" else hashes.SHA256()
        root = _x509sign.sign_certificate(_builder("Token Root", key.public_key(), None,
                                                   ca=True), key, hash_alg)
        yield key, root, hash_alg
    finally:
        key.close()


def _name(cn: str) -> Any:
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _builder(cn: str, public: Any, issuer: Any, *, ca: bool) -> Any:
    from cryptography import x509

    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(issuer.subject if issuer is not None else _name(cn))
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - _dt.timedelta(days=1))
        .not_valid_after(NOW + _dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(not ca, not ca, False, False, False, ca, ca, False,
                                     False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
    )
    if issuer is not None:
        builder = builder.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
            issuer.public_key()), critical=False)
    return builder


def _pem(obj: Any, path: Path) -> Path:
    from cryptography.hazmat.primitives.serialization import Encoding

    path.write_bytes(obj.public_bytes(Encoding.PEM))
    return path


def _openssl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([require_tool("openssl"), *args], capture_output=True, text=True,
                          timeout=60, check=False)


def test_root_and_leaf(ca: tuple[TokenKey, Any, Any], tmp_path: Path) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    key, root, hash_alg = ca
    assert root.public_key() == key.public_key()
    root.verify_directly_issued_by(root)
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = _x509sign.sign_certificate(_builder("device", leaf_key.public_key(), root, ca=False),
                                      key, hash_alg)
    leaf.verify_directly_issued_by(root)
    done = _openssl("verify", "-x509_strict", "-CAfile", str(_pem(root, tmp_path / "r.pem")),
                    str(_pem(leaf, tmp_path / "l.pem")))
    assert done.returncode == 0, done.stderr
    assert ": OK" in done.stdout


def test_crl(ca: tuple[TokenKey, Any, Any], tmp_path: Path) -> None:
    from cryptography import x509

    key, root, hash_alg = ca
    revoked = (x509.RevokedCertificateBuilder().serial_number(4097)
               .revocation_date(NOW - _dt.timedelta(hours=1)).build())
    builder = (x509.CertificateRevocationListBuilder().issuer_name(root.subject)
               .last_update(NOW - _dt.timedelta(minutes=5))
               .next_update(NOW + _dt.timedelta(days=7))
               .add_revoked_certificate(revoked)
               .add_extension(x509.CRLNumber(1), critical=False))
    crl = _x509sign.sign_crl(builder, key, hash_alg)
    assert crl.is_signature_valid(key.public_key())
    assert crl.get_revoked_certificate_by_serial_number(4097) is not None
    done = _openssl("crl", "-noout", "-in", str(_pem(crl, tmp_path / "c.pem")), "-CAfile",
                    str(_pem(root, tmp_path / "r.pem")))
    assert done.returncode == 0, done.stderr
    assert "verify OK" in done.stderr + done.stdout


def test_csr(ca: tuple[TokenKey, Any, Any], tmp_path: Path) -> None:
    from cryptography import x509

    key, _root, hash_alg = ca
    builder = x509.CertificateSigningRequestBuilder().subject_name(_name("token device"))
    csr = _x509sign.sign_csr(builder, key, hash_alg)
    assert csr.is_signature_valid
    assert csr.public_key() == key.public_key()
    done = _openssl("req", "-verify", "-noout", "-in", str(_pem(csr, tmp_path / "q.pem")))
    assert done.returncode == 0, done.stderr
    assert "verify OK" in done.stderr + done.stdout


def test_ocsp_response(ca: tuple[TokenKey, Any, Any], tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import Encoding
    from cryptography.x509 import ocsp

    key, root, hash_alg = ca
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = _x509sign.sign_certificate(_builder("device", leaf_key.public_key(), root, ca=False),
                                      key, hash_alg)
    builder = (ocsp.OCSPResponseBuilder()
               .add_response(cert=leaf, issuer=root, algorithm=hashes.SHA256(),
                             cert_status=ocsp.OCSPCertStatus.GOOD,
                             this_update=NOW - _dt.timedelta(minutes=1),
                             next_update=NOW + _dt.timedelta(hours=1),
                             revocation_time=None, revocation_reason=None)
               .responder_id(ocsp.OCSPResponderEncoding.HASH, root)
               .certificates([root]))
    response = _x509sign.sign_ocsp_response(builder, key, hash_alg)
    assert response.response_status is ocsp.OCSPResponseStatus.SUCCESSFUL
    assert response.certificate_status is ocsp.OCSPCertStatus.GOOD
    (tmp_path / "resp.der").write_bytes(response.public_bytes(Encoding.DER))
    done = _openssl("ocsp", "-respin", str(tmp_path / "resp.der"), "-CAfile",
                    str(_pem(root, tmp_path / "r.pem")), "-issuer", str(tmp_path / "r.pem"),
                    "-sha256", "-cert", str(_pem(leaf, tmp_path / "l.pem")))
    assert done.returncode == 0, done.stderr
    assert "Response verify OK" in done.stderr + done.stdout
    assert ": good" in done.stdout


def test_in_memory_key_signs_directly() -> None:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    root = _x509sign.sign_certificate(_builder("mem", key.public_key(), None, ca=True), key,
                                      hashes.SHA256())
    root.verify_directly_issued_by(root)


class _Liar:
    """A digest signer whose public key is not the key that signs (a wrong token key)."""

    def __init__(self, real: TokenKey, other: Any) -> None:
        self.real, self.other = real, other

    def public_key(self) -> Any:
        return self.other

    def sign_digest(self, digest: bytes, digest_alg: Any, *, deterministic: bool = False
                    ) -> bytes:
        return self.real.sign_digest(digest, digest_alg)


def test_wrong_key_is_caught(ca: tuple[TokenKey, Any, Any]) -> None:
    """A signer whose public key is not the signing key: refused before anything returns (an
    EdDSA signer without sign_message: refused as such)."""
    from cryptography.hazmat.primitives.asymmetric import ec

    key, _root, hash_alg = ca
    other = ec.generate_private_key(ec.SECP256R1()).public_key()
    if hash_alg is None:
        liar = _Liar(key, key.public_key())
        with pytest.raises(UnsupportedAlgorithm, match="sign_message"):
            _x509sign.sign_certificate(_builder("x", key.public_key(), None, ca=True), liar,
                                       None)
        return
    with pytest.raises(DicomSecError, match="does not verify"):
        _x509sign.sign_certificate(_builder("x", other, None, ca=True), _Liar(key, other),
                                   hash_alg)


def test_token_key_provenance(ca: tuple[TokenKey, Any, Any]) -> None:
    key = ca[0]
    assert key.provenance() == {"local": True, "never_extractable": True,
                                "sensitive": True, "extractable": False}
    assert "x509sign" in repr(key)


def test_two_keys_of_one_token_at_once(ca: tuple[TokenKey, Any, Any], token: Token) -> None:
    """A second key on a token already logged in shares the login (PKCS#11 login is per
    application); its PIN must still be the right one; the login outlives the first close."""
    from dicomsec import algorithms
    from dicomsec._pkcs11 import TokenLoginFailed

    sha256 = algorithms.by_name("sha256", algorithms.Kind.DIGEST)
    wrong = token.pin_file.parent / "x509sign.wrong-pin"
    wrong.write_text("0000\n")
    with pytest.raises(TokenLoginFailed, match="PIN incorrect"):
        open_token_key(pkcs11_uri(token, "ecp256"), pin_file=wrong)
    second = open_token_key(pkcs11_uri(token, "ecp256"), pin_file=token.pin_file)
    third = open_token_key(pkcs11_uri(token, "rsa2048"), pin_file=token.pin_file)
    second.close()
    assert len(third.sign_digest(b"\x02" * 32, sha256)) == 256
    third.close()
    if ca[2] is not None:  # the fixture's key still signs after the others closed
        assert ca[0].sign_digest(b"\x03" * 32, sha256)
