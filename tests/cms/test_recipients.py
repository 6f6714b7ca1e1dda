"""RecipientInfos: the shared vectors, round trips of every kind, errors, describe, openssl."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import cms, core
from cryptography import x509
from cryptography.hazmat.primitives import hashes, padding, serialization
from cryptography.hazmat.primitives.asymmetric import ec, mlkem, rsa, x448, x25519
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from dicomsec import algorithms as registry
from dicomsec.algorithms import Kind
from dicomsec.cms import _asn1
from dicomsec.cms._der import TLVReader
from dicomsec.cms.recipients import (
    DOES_NOT_OPEN,
    NO_MATCH,
    Credentials,
    KekRecipient,
    KemRecipient,
    KeyAgreeRecipient,
    KeyTransRecipient,
    PasswordRecipient,
    Recipient,
    check_password,
    describe,
    load_private_key_any,
    recipient_for,
    unwrap_cek,
)
from dicomsec.errors import DecryptionFailed, InvalidInput, PolicyViolation, UnsupportedAlgorithm
from dicomsec.keys import issue_certificate, load_certificate
from tests.conftest import require_tool

DATA = Path(__file__).parent.parent / "data"
VECTORS = DATA / "secure-files"
PKI = DATA / "pki-cms"

DICOM_SHA256 = "3dd31e5cc835b3f2cdd46c9da1982f59251e78518fefa8163d914631c66437d6"
RFC9936 = "ext_rfc9936-appC_authenv_kemri-mlkem512_aes128gcm_hello.cms"
#: plaintext SHA-256 per MANIFEST.md (DICOM File unless noted)
PLAIN_SHA256 = {
    "s06_basic_ktri-rsa15_aes256cbc_digested-sha256.cms":
        "ddea38d3879c6d7d9e87360e29a57eef4acf30801a8e4f56e12db83bde374613",
    "s07_basic_pwri_aes128cbc_digested-sha512.cms":
        "6d7ca6138fd077ca75ae1aa13c1e58661c5a28f5baa80b5b69d47ad6e97dbcf0",
    "s10_ktri-rsaoaep256_aes256cbc_signed-rsapss-sha256.cms":
        "6dc17acf03817090b03ddc2ff2534385e9025f79c11ebad7eef6e442bbb45d0a",
    RFC9936: "315f5bdb76d078c43b8ac0064e4a0164612b1fce77c869345bfc94c75894edd3",
}


# ------------------------------------------------------------------------------------------
# helpers


def recipient_infos(path: Path) -> list[bytes]:
    """DER of each RecipientInfo of an (Auth)EnvelopedData file, found with TLVReader."""
    data = path.read_bytes()
    reader = TLVReader(io.BytesIO(data), len(data), path.name)
    content_info = reader.header(0)
    parts = reader.children(content_info)
    next(parts)  # contentType
    explicit = next(parts)
    assert explicit.is_context(0)
    envelope = next(reader.children(explicit))
    fields = reader.children(envelope)
    next(fields)  # version
    item = next(fields)
    if item.is_context(0):  # originatorInfo
        item = next(fields)
    assert item.is_universal(17)
    return [reader.element_bytes(child) for child in reader.children(item)]


def decrypt_content(path: Path, cek: bytes) -> bytes:
    """Decrypt the EncryptedContentInfo of a vector with cryptography (CBC or GCM)."""
    content_info = cms.ContentInfo.load(path.read_bytes())
    envelope = content_info["content"]
    authenticated = content_info["content_type"].native == "authenticated_enveloped_data"
    eci = envelope["auth_encrypted_content_info" if authenticated else "encrypted_content_info"]
    alg_id = eci["content_encryption_algorithm"]
    cipher = registry.by_oid(alg_id["algorithm"].dotted, Kind.CIPHER)
    assert cipher.key_size == len(cek)
    ciphertext = eci["encrypted_content"].native
    params = alg_id["parameters"].dump()
    if cipher.mode == "gcm":
        gcm = _asn1.GCMParameters.load(params)
        tag = envelope["mac"].native
        assert len(tag) == gcm["aes_icvlen"].native
        return AESGCM(cek).decrypt(gcm["aes_nonce"].native, ciphertext + tag, None)
    assert cipher.mode == "cbc"
    iv = cms.OctetString.load(params).native
    dec = Cipher(algorithms.AES(cek), modes.CBC(iv)).decryptor()
    padded = dec.update(ciphertext) + dec.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    return unpadder.update(padded) + unpadder.finalize()


def key(name: str) -> Any:
    return load_private_key_any(PKI / name)


def cert(name: str) -> x509.Certificate:
    return load_certificate(PKI / name)


def kek_hex(name: str) -> bytes:
    return bytes.fromhex((PKI / name).read_text().strip())


def password() -> str:
    return (PKI / "password.txt").read_text()


@pytest.fixture(scope="module")
def rsa_key() -> Any:
    return key("recip-rsa2048.key")


@pytest.fixture(scope="module")
def rsa_cert() -> x509.Certificate:
    return cert("recip-rsa2048.pem")


def open_vector(name: str, creds: Credentials, index: int = 0) -> None:
    path = VECTORS / name
    infos = recipient_infos(path)
    from dicomsec.cms.envelope import read_envelope

    data = path.read_bytes()
    env = read_envelope(io.BytesIO(data), len(data), str(path))
    assert env.cipher is not None
    cek, used = unwrap_cek(infos, creds, cek_size=env.cipher.key_size)
    assert used == index
    plain = decrypt_content(path, cek)
    assert hashlib.sha256(plain).hexdigest() == PLAIN_SHA256.get(name, DICOM_SHA256)


# ------------------------------------------------------------------------------------------
# the shared vectors

RSA_VECTORS = [
    "s01_ktri-rsa15_aes256cbc_data.cms",
    "s02_ktri-rsaoaep256-skid_aes128cbc_data.cms",
    "s03_authenv_ktri-rsa15_aes256gcm_data.cms",
    "s06_basic_ktri-rsa15_aes256cbc_digested-sha256.cms",
    "s08_ktri-rsa15_aes256cbc_data_indef.cms",
    "s10_ktri-rsaoaep256_aes256cbc_signed-rsapss-sha256.cms",
    "s11_py_authenv_ktri-rsaoaep256_aes256gcm_data.cms",
    "s12_py_authenv_ktri+kemri-mlkem768_aes256gcm_data.cms",
]


@pytest.mark.parametrize("name", RSA_VECTORS)
def test_vector_opens_with_rsa_key(name: str, rsa_key: Any, rsa_cert: x509.Certificate) -> None:
    open_vector(name, Credentials(private_key=rsa_key))
    open_vector(name, Credentials(private_key=rsa_key, certificate=rsa_cert))


@pytest.mark.parametrize(("name", "kek", "kek_id"), [
    ("s04_authenv_kekri-aes256wrap_aes256gcm_data.cms", "kek-aes256.hex", "kek-aes256.id.hex"),
    ("s09_authenv_kekri-aes128wrap_aes128gcm_data_indef.cms", "kek-aes128.hex",
     "kek-aes128.id.hex"),
])
def test_vector_opens_with_kek(name: str, kek: str, kek_id: str) -> None:
    open_vector(name, Credentials(kek=kek_hex(kek), kek_id=kek_hex(kek_id)))
    open_vector(name, Credentials(kek=kek_hex(kek)))  # no id: every kekri is tried


@pytest.mark.parametrize("name", ["s05_pwri-pbkdf2_aes256cbc_data.cms",
                                  "s07_basic_pwri_aes128cbc_digested-sha512.cms"])
def test_vector_opens_with_password(name: str) -> None:
    open_vector(name, Credentials(password=password()))


def test_s12_opens_with_mlkem768() -> None:
    mlkem_key = key("recip-mlkem768.key.pem")
    assert isinstance(mlkem_key, mlkem.MLKEM768PrivateKey)
    open_vector("s12_py_authenv_ktri+kemri-mlkem768_aes256gcm_data.cms",
                Credentials(private_key=mlkem_key), index=1)


def test_rfc9936_mlkem512_opens_or_says_unsupported() -> None:
    message = "ML-KEM-512 is not supported by the installed cryptography library"
    infos = recipient_infos(VECTORS / RFC9936)
    try:
        mlkem512 = key("rfc9936-appC-mlkem512.key.pem")
    except UnsupportedAlgorithm as exc:
        assert exc.message == message
        with pytest.raises(UnsupportedAlgorithm) as info:
            unwrap_cek(infos, Credentials(), cek_size=16)
        assert info.value.message == message
        return
    open_vector(RFC9936, Credentials(private_key=mlkem512))


def test_wrong_credentials_on_vectors_give_one_message() -> None:
    other_rsa = key("recip-rsa2048-b.key")
    cases = [
        ("s02_ktri-rsaoaep256-skid_aes128cbc_data.cms", Credentials(private_key=other_rsa), 16),
        ("s04_authenv_kekri-aes256wrap_aes256gcm_data.cms",
         Credentials(kek=bytes(32), kek_id=kek_hex("kek-aes256.id.hex")), 32),
        ("s05_pwri-pbkdf2_aes256cbc_data.cms", Credentials(password="wrong password"), 32),
        ("s12_py_authenv_ktri+kemri-mlkem768_aes256gcm_data.cms",
         Credentials(private_key=mlkem.MLKEM768PrivateKey.generate()), 32),
    ]
    for name, creds, size in cases:
        with pytest.raises(DecryptionFailed) as info:
            unwrap_cek(recipient_infos(VECTORS / name), creds, cek_size=size)
        assert info.value.message == DOES_NOT_OPEN, name


def test_pkcs1v15_failures_give_a_random_key() -> None:
    """RFC 3218 2.3: a wrong RSA key or a wrong CEK length under PKCS#1 v1.5 gives a random
    key of the expected size, not an error of its own; the content check then fails."""
    s01 = recipient_infos(VECTORS / "s01_ktri-rsa15_aes256cbc_data.cms")
    real, _ = unwrap_cek(s01, Credentials(private_key=key("recip-rsa2048.key")), cek_size=32)
    wrong_key, _ = unwrap_cek(s01, Credentials(private_key=key("recip-rsa2048-b.key")),
                              cek_size=32)
    wrong_size, _ = unwrap_cek(s01, Credentials(private_key=key("recip-rsa2048.key")),
                               cek_size=16)
    assert len(wrong_key) == 32 and wrong_key != real
    assert len(wrong_size) == 16 and wrong_size not in real


def test_several_pkcs1v15_recipients_need_the_certificate() -> None:
    from dicomsec.cms.recipients import KeyTransRecipient
    from dicomsec.errors import InvalidInput

    a = KeyTransRecipient(cert("recip-rsa2048.pem"), oaep=False).recipient_info(CEK)
    b = KeyTransRecipient(cert("recip-rsa2048-b.pem"), oaep=False).recipient_info(CEK)
    with pytest.raises(InvalidInput, match="--cert"):
        unwrap_cek([a, b], Credentials(private_key=key("recip-rsa2048-b.key")), cek_size=32)
    got, index = unwrap_cek([a, b], Credentials(private_key=key("recip-rsa2048-b.key"),
                                               certificate=cert("recip-rsa2048-b.pem")),
                            cek_size=32)
    assert (got, index) == (CEK, 1)


def test_no_matching_recipient(rsa_key: Any) -> None:
    s01 = recipient_infos(VECTORS / "s01_ktri-rsa15_aes256cbc_data.cms")
    for creds in (Credentials(password=password()), Credentials(kek=bytes(16)), Credentials(),
                  Credentials(private_key=rsa_key, certificate=cert("recip-rsa2048-b.pem")),
                  Credentials(private_key=ec.generate_private_key(ec.SECP256R1()))):
        with pytest.raises(DecryptionFailed) as info:
            unwrap_cek(s01, creds, cek_size=32)
        assert info.value.message == NO_MATCH
    s04 = recipient_infos(VECTORS / "s04_authenv_kekri-aes256wrap_aes256gcm_data.cms")
    with pytest.raises(DecryptionFailed, match=NO_MATCH):
        unwrap_cek(s04, Credentials(kek=kek_hex("kek-aes256.hex"), kek_id=b"other"), cek_size=32)


# ------------------------------------------------------------------------------------------
# round trips

CEK = bytes(range(32))


def _roundtrip(recipient: Recipient, creds: Credentials, cek: bytes = CEK) -> bytes:
    der = recipient.recipient_info(cek)
    out, index = unwrap_cek([der], creds, cek_size=len(cek))
    assert (out, index) == (cek, 0)
    info = describe(der)
    assert info["kind"] == recipient.kind
    if recipient.kind != "ori":
        assert info["version"] == recipient.version
    assert der[0] == {"ktri": 0x30, "kari": 0xA1, "kekri": 0xA2, "pwri": 0xA3, "ori": 0xA4}[
        recipient.kind]
    return der


def _wrong(recipient: Recipient, creds: Credentials, cek: bytes = CEK) -> None:
    with pytest.raises(DecryptionFailed) as info:
        unwrap_cek([recipient.recipient_info(cek)], creds, cek_size=len(cek))
    assert info.value.message == DOES_NOT_OPEN


@pytest.mark.parametrize(("oaep", "use_ski"), [(False, False), (True, False), (True, True),
                                               (False, True)])
def test_ktri_roundtrip(oaep: bool, use_ski: bool, rsa_key: Any,
                        rsa_cert: x509.Certificate) -> None:
    recipient = KeyTransRecipient(rsa_cert, oaep=oaep, use_ski=use_ski)
    assert recipient.version == (2 if use_ski else 0)
    der = _roundtrip(recipient, Credentials(private_key=rsa_key))
    _roundtrip(recipient, Credentials(private_key=rsa_key, certificate=rsa_cert))
    info = describe(der)
    assert info["key_encryption"] == ("rsa-oaep" if oaep else "rsa-pkcs1v15-transport")
    if oaep:
        assert info["oaep_hash"] == "sha256" and info["oaep_mgf_hash"] == "sha256"
    if use_ski:
        ski = rsa_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        assert info["rid"] == {"ski": ski.digest.hex()}
    else:
        assert info["rid"] == {"issuer": rsa_cert.issuer.rfc4514_string(),
                               "serial": hex(rsa_cert.serial_number)}
    if oaep:  # OAEP failures are deterministic (v1.5: see the vector test)
        _wrong(recipient, Credentials(private_key=key("recip-rsa2048-b.key")))


@pytest.mark.parametrize(("oaep", "use_ski"), [(False, False), (True, False), (True, True)])
def test_ktri_der_is_what_asn1crypto_builds(oaep: bool, use_ski: bool,
                                            rsa_cert: x509.Certificate) -> None:
    """The RecipientInfo framed by hand around the cached rid and algorithm is byte for byte
    the one asn1crypto builds from the same fields, on every call (fresh encrypted key)."""
    from asn1crypto import x509 as a1x509

    recipient = KeyTransRecipient(rsa_cert, oaep=oaep, use_ski=use_ski)
    first, second = recipient.recipient_info(CEK), recipient.recipient_info(CEK)
    assert first != second  # v1.5 and OAEP are randomised: the key is encrypted per call
    for der in (first, second):
        parsed = _asn1.RecipientInfo.load(der).chosen
        if use_ski:
            ski = rsa_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
            rid = cms.RecipientIdentifier(name="subject_key_identifier", value=ski.value.digest)
        else:
            rid = cms.RecipientIdentifier(name="issuer_and_serial_number", value={
                "issuer": a1x509.Name.load(rsa_cert.issuer.public_bytes()),
                "serial_number": rsa_cert.serial_number})
        sha256 = {"algorithm": "2.16.840.1.101.3.4.2.1"}
        alg = ({"algorithm": "1.2.840.113549.1.1.7", "parameters": _asn1.RSAESOAEPParams({
            "hash_algorithm": sha256, "mask_gen_algorithm": {
                "algorithm": "1.2.840.113549.1.1.8", "parameters": sha256}})}
               if oaep else {"algorithm": "1.2.840.113549.1.1.1", "parameters": core.Null()})
        ktri = _asn1.KeyTransRecipientInfo({
            "version": 2 if use_ski else 0, "rid": rid,
            "key_encryption_algorithm": _asn1.AlgorithmIdentifier(alg),
            "encrypted_key": parsed["encrypted_key"].native})
        assert der == _asn1.RecipientInfo(name="ktri", value=ktri).dump(force=True)


def test_ktri_policy() -> None:
    small = rsa.generate_private_key(65537, 1024)
    with pytest.raises(PolicyViolation):
        KeyTransRecipient(small.public_key())
    with pytest.raises(InvalidInput):
        KeyTransRecipient(cert("recip-p256.pem"))
    bare = KeyTransRecipient(rsa.generate_private_key(65537, 2048).public_key())
    assert bare.version == 2  # a bare key can only be named by its SKI


def _ec_key(curve: ec.EllipticCurve) -> tuple[Any, Any]:
    private = ec.generate_private_key(curve)
    return private, private.public_key()


@pytest.mark.parametrize(("make", "scheme", "wrap"), [
    (lambda: _ec_key(ec.SECP256R1()), "ecdh-x963-sha256", "aes128-wrap"),
    (lambda: _ec_key(ec.SECP384R1()), "ecdh-x963-sha384", "aes256-wrap"),
    (lambda: _ec_key(ec.SECP521R1()), "ecdh-x963-sha512", "aes256-wrap"),
    (lambda: (k := x25519.X25519PrivateKey.generate(), k.public_key()), "ecdh-hkdf-sha256",
     "aes256-wrap"),
    (lambda: (k := x448.X448PrivateKey.generate(), k.public_key()), "ecdh-hkdf-sha256",
     "aes256-wrap"),
], ids=["p256", "p384", "p521", "x25519", "x448"])
def test_kari_roundtrip_bare_key(make: Callable[[], tuple[Any, Any]], scheme: str,
                                 wrap: str) -> None:
    private, public = make()
    recipient = KeyAgreeRecipient(public)
    assert (recipient.kind, recipient.version) == ("kari", 3)
    der = _roundtrip(recipient, Credentials(private_key=private))
    _roundtrip(recipient, Credentials(private_key=private), cek=CEK[:16])
    info = describe(der)
    assert info["key_agreement"] == scheme and info["key_wrap"] == wrap
    ski = x509.SubjectKeyIdentifier.from_public_key(public).digest.hex()
    assert info["recipients"] == [{"rid": {"ski": ski}}]
    assert isinstance(info["originator"], dict)
    assert info["originator"]["type"] == "originator_key"
    # the originator key has absent parameters
    parsed = _asn1.RecipientInfo.load(der).chosen
    assert isinstance(parsed["originator"].chosen["algorithm"]["parameters"], core.Void)
    other, _ = make()
    _wrong(recipient, Credentials(private_key=other))


@pytest.mark.parametrize("name", ["recip-p256", "recip-p384", "recip-x25519"])
def test_kari_roundtrip_certificate(name: str) -> None:
    certificate = cert(f"{name}.pem")
    private = key(f"{name}.key")
    recipient = KeyAgreeRecipient(certificate)
    der = _roundtrip(recipient, Credentials(private_key=private, certificate=certificate))
    _roundtrip(recipient, Credentials(private_key=private))
    assert describe(der)["recipients"] == [{"rid": {
        "issuer": certificate.issuer.rfc4514_string(), "serial": hex(certificate.serial_number)}}]
    with pytest.raises(DecryptionFailed, match=NO_MATCH):
        unwrap_cek([der], Credentials(private_key=private, certificate=cert("recip-rsa2048.pem")),
                   cek_size=32)


def test_kari_wrap_override_and_bad_keys() -> None:
    private, public = _ec_key(ec.SECP256R1())
    recipient = KeyAgreeRecipient(public, wrap="aes256-wrap")
    assert describe(_roundtrip(recipient, Credentials(private_key=private)))["key_wrap"] == (
        "aes256-wrap")
    with pytest.raises(UnsupportedAlgorithm):
        KeyAgreeRecipient(public, wrap="aes256-cbc")
    with pytest.raises(UnsupportedAlgorithm):
        KeyAgreeRecipient(ec.generate_private_key(ec.SECP224R1()).public_key())
    with pytest.raises(InvalidInput):
        KeyAgreeRecipient(cert("recip-rsa2048.pem"))


@pytest.mark.parametrize("size", [16, 24, 32])
def test_kekri_roundtrip(size: int) -> None:
    kek = os.urandom(size)
    recipient = KekRecipient(kek, b"\x01\x02id")
    assert (recipient.kind, recipient.version) == ("kekri", 4)
    der = _roundtrip(recipient, Credentials(kek=kek, kek_id=b"\x01\x02id"))
    assert describe(der) == {"kind": "kekri", "version": 4, "kek_id": "010269" + "64",
                             "key_wrap": f"aes{size * 8}-wrap"}
    _wrong(recipient, Credentials(kek=os.urandom(size), kek_id=b"\x01\x02id"))
    _wrong(recipient, Credentials(kek=os.urandom(size)))
    assert kek.hex() not in repr(recipient)


def test_kekri_bad_arguments() -> None:
    with pytest.raises(InvalidInput):
        KekRecipient(bytes(20), b"id")
    with pytest.raises(InvalidInput):
        KekRecipient(bytes(16), b"")


@pytest.mark.parametrize("kek_cipher", ["aes256-cbc", "aes128-cbc", "aes192-cbc"])
def test_pwri_roundtrip(kek_cipher: str) -> None:
    recipient = PasswordRecipient("s3cret pass", iterations=1000, kek_cipher=kek_cipher)
    assert (recipient.kind, recipient.version) == ("pwri", 0)
    der = _roundtrip(recipient, Credentials(password="s3cret pass"))
    _roundtrip(recipient, Credentials(password="s3cret pass"), cek=CEK[:16])
    info = describe(der)
    assert info == {"kind": "pwri", "version": 0, "kdf": "pbkdf2", "iterations": 1000,
                    "salt_length": 16, "prf": "hmac-sha256", "key_wrap": "pwri-kek",
                    "kek_cipher": kek_cipher}
    _wrong(recipient, Credentials(password="s3cret pasS"))
    assert "s3cret" not in repr(recipient)


def test_pwri_defaults_and_policy() -> None:
    recipient = PasswordRecipient("x" * 12)
    assert recipient.iterations == 600_000 and recipient.cipher.name == "aes256-cbc"
    with pytest.raises(PolicyViolation):
        PasswordRecipient("password", iterations=10)
    with pytest.raises(PolicyViolation):
        PasswordRecipient("password", kek_cipher="des-ede3-cbc")
    with pytest.raises(UnsupportedAlgorithm):
        PasswordRecipient("password", kek_cipher="aes256-gcm")
    with pytest.raises(InvalidInput):
        PasswordRecipient("pässword")


@pytest.mark.parametrize("level", ["768", "1024"])
def test_kem_roundtrip(level: str) -> None:
    private = getattr(mlkem, f"MLKEM{level}PrivateKey").generate()
    recipient = KemRecipient(private.public_key())
    assert (recipient.kind, recipient.version) == ("ori", 0)
    der = _roundtrip(recipient, Credentials(private_key=private))
    info = describe(der)
    ski = x509.SubjectKeyIdentifier.from_public_key(private.public_key()).digest.hex()
    assert info == {"kind": "ori", "ori_type": _asn1.ID_ORI_KEM, "ori": "kem", "version": 0,
                    "rid": {"ski": ski}, "kem": f"ml-kem-{level}", "kdf": "hkdf-sha256",
                    "kek_length": 32, "key_wrap": "aes256-wrap", "ukm": False}
    _wrong(recipient, Credentials(private_key=getattr(mlkem, f"MLKEM{level}PrivateKey")
                                  .generate()))


def test_kem_recipient_from_certificate() -> None:
    private = mlkem.MLKEM768PrivateKey.generate()
    ca_key = key("ca.key")
    certificate = issue_certificate(private, "kem recipient", issuer_key=ca_key,
                                    issuer_cert=cert("ca.pem"))
    recipient = KemRecipient(certificate)
    der = _roundtrip(recipient, Credentials(private_key=private, certificate=certificate))
    ski = certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert describe(der)["rid"] == {"ski": ski.digest.hex()}
    with pytest.raises(InvalidInput):
        KemRecipient(cert("recip-rsa2048.pem"))


def test_second_recipient_matches(rsa_key: Any, rsa_cert: x509.Certificate) -> None:
    other = KeyTransRecipient(cert("recip-rsa2048-b.pem")).recipient_info(CEK)
    mine = KeyTransRecipient(rsa_cert).recipient_info(CEK)
    for creds in (Credentials(private_key=rsa_key), Credentials(private_key=rsa_key,
                                                                 certificate=rsa_cert)):
        assert unwrap_cek([other, mine], creds, cek_size=32) == (CEK, 1)
    kek = os.urandom(32)
    infos = [PasswordRecipient("a password", iterations=1000).recipient_info(CEK),
             KekRecipient(kek, b"k1").recipient_info(CEK)]
    assert unwrap_cek(infos, Credentials(kek=kek, kek_id=b"k1"), cek_size=32) == (CEK, 1)
    assert unwrap_cek(infos, Credentials(password="a password"), cek_size=32) == (CEK, 0)


def _unknown_ori() -> bytes:
    ori = _asn1.OtherRecipientInfo({"ori_type": "1.3.6.1.4.1.99999.1",
                                    "ori_value": cms.OctetString(b"opaque")})
    return bytes(_asn1.RecipientInfo(name="ori", value=ori).dump())


def _unknown_kari_scheme(public: Any) -> bytes:
    der = KeyAgreeRecipient(public).recipient_info(CEK)
    kari = _asn1.RecipientInfo.load(der).chosen.copy()
    wrap = kari["key_encryption_algorithm"]["parameters"].dump()
    # dhSinglePass-cofactorDH-sha256kdf-scheme: not in the registry
    kari["key_encryption_algorithm"] = _asn1.AlgorithmIdentifier({
        "algorithm": "1.3.132.1.14.1", "parameters": _asn1.AlgorithmIdentifier.load(wrap)})
    return bytes(_asn1.RecipientInfo(name="kari", value=kari).dump())


def test_unknown_ori_and_kari_scheme_are_skipped() -> None:
    private, public = _ec_key(ec.SECP256R1())
    odd = [_unknown_ori(), _unknown_kari_scheme(public)]
    good = KeyAgreeRecipient(public).recipient_info(CEK)
    assert unwrap_cek([*odd, good], Credentials(private_key=private), cek_size=32) == (CEK, 2)
    with pytest.raises(DecryptionFailed) as info:
        unwrap_cek(odd, Credentials(private_key=private), cek_size=32)
    assert info.value.message == NO_MATCH
    assert describe(odd[0]) == {"kind": "ori", "ori_type": "1.3.6.1.4.1.99999.1"}
    assert describe(odd[1])["key_agreement"] == "1.3.132.1.14.1"


def test_malformed_recipient_is_skipped_and_described(rsa_key: Any,
                                                       rsa_cert: x509.Certificate) -> None:
    junk = bytes.fromhex("a5 03 02 01 00".replace(" ", ""))  # [5]: no such RecipientInfo
    good = KeyTransRecipient(rsa_cert).recipient_info(CEK)
    assert unwrap_cek([junk, good], Credentials(private_key=rsa_key), cek_size=32) == (CEK, 1)
    assert describe(junk)["kind"] == "unknown"
    with pytest.raises(InvalidInput):
        describe(b"\x30\x05\x02")


# ------------------------------------------------------------------------------------------
# describe on the vectors


def test_describe_vectors(rsa_cert: x509.Certificate) -> None:
    rid = {"issuer": rsa_cert.issuer.rfc4514_string(), "serial": "0x2001"}
    expected: dict[str, list[dict[str, object]]] = {
        "s01_ktri-rsa15_aes256cbc_data.cms": [
            {"kind": "ktri", "version": 0, "rid": rid, "key_encryption": "rsa-pkcs1v15-transport"}],
        "s02_ktri-rsaoaep256-skid_aes128cbc_data.cms": [
            {"kind": "ktri", "version": 2,
             "rid": {"ski": "aaa3a7c46637643574014484263218cda7a04a12"},
             "key_encryption": "rsa-oaep", "oaep_hash": "sha256", "oaep_mgf": "mgf1",
             "oaep_mgf_hash": "sha256"}],
        "s04_authenv_kekri-aes256wrap_aes256gcm_data.cms": [
            {"kind": "kekri", "version": 4, "kek_id": "c0ffee0000000001",
             "key_wrap": "aes256-wrap"}],
        "s05_pwri-pbkdf2_aes256cbc_data.cms": [
            {"kind": "pwri", "version": 0, "kdf": "pbkdf2", "iterations": 2048, "salt_length": 8,
             "prf": "hmac-sha1", "key_wrap": "pwri-kek", "kek_cipher": "aes256-cbc"}],
        "s07_basic_pwri_aes128cbc_digested-sha512.cms": [
            {"kind": "pwri", "version": 0, "kdf": "pbkdf2", "iterations": 2048, "salt_length": 8,
             "prf": "hmac-sha1", "key_wrap": "pwri-kek", "kek_cipher": "aes128-cbc"}],
        "s09_authenv_kekri-aes128wrap_aes128gcm_data_indef.cms": [
            {"kind": "kekri", "version": 4, "kek_id": "c0ffee0000000002",
             "key_wrap": "aes128-wrap"}],
        "s12_py_authenv_ktri+kemri-mlkem768_aes256gcm_data.cms": [
            {"kind": "ktri", "version": 0, "rid": rid, "key_encryption": "rsa-oaep",
             "oaep_hash": "sha256", "oaep_mgf": "mgf1", "oaep_mgf_hash": "sha256"},
            {"kind": "ori", "ori_type": _asn1.ID_ORI_KEM, "ori": "kem", "version": 0,
             "rid": {"ski": "ec5899ef6b6c71d1983f242ba4887f264d8c098b"}, "kem": "ml-kem-768",
             "kdf": "hkdf-sha256", "kek_length": 32, "key_wrap": "aes256-wrap", "ukm": False}],
        RFC9936: [
            {"kind": "ori", "ori_type": _asn1.ID_ORI_KEM, "ori": "kem", "version": 0,
             "rid": {"ski": "599788c37aed400ee405d1b2a3366ab17d824a51"}, "kem": "ml-kem-512",
             "kdf": "hkdf-sha256", "kek_length": 16, "key_wrap": "aes128-wrap", "ukm": False}],
    }
    for path in sorted(VECTORS.glob("*.cms")):
        infos = [describe(der) for der in recipient_infos(path)]
        assert infos, path.name
        assert all(i["kind"] in ("ktri", "kari", "kekri", "pwri", "ori") for i in infos)
        if path.name in expected:
            assert infos == expected[path.name], path.name


# ------------------------------------------------------------------------------------------
# passwords, credentials, loading


def test_check_password() -> None:
    printable = "".join(chr(c) for c in range(0x20, 0x7F))
    assert check_password(printable) == printable.encode("ascii")
    for bad in ("caf\u00e9", "line\nbreak", "tab\there", "\u00a5", "\u00df", "\u6f22"):
        with pytest.raises(InvalidInput) as info:
            check_password(bad)
        assert bad not in str(info.value)
    with pytest.raises(InvalidInput) as info:
        check_password("topsecret\u00e9")
    assert "topsecret" not in str(info.value) and "10" in str(info.value)
    with pytest.raises(InvalidInput):
        check_password("")


def test_credentials_repr_redacts(rsa_key: Any, rsa_cert: x509.Certificate) -> None:
    kek = kek_hex("kek-aes256.hex")
    creds = Credentials(private_key=rsa_key, certificate=rsa_cert, kek=kek, kek_id=b"\xc0\xff",
                        password="hunter2-password")
    text = repr(creds)
    assert "hunter2" not in text and kek.hex() not in text and "redacted" in text
    assert "c0ff" in text


def test_recipient_for(tmp_path: Path) -> None:
    assert isinstance(recipient_for(PKI / "recip-rsa2048.pem"), KeyTransRecipient)
    ktri = recipient_for(PKI / "recip-rsa2048.pem", oaep=False)
    assert isinstance(ktri, KeyTransRecipient) and not ktri.oaep
    assert isinstance(recipient_for(PKI / "recip-p256.pem"), KeyAgreeRecipient)
    assert isinstance(recipient_for(PKI / "recip-x25519.pem"), KeyAgreeRecipient)
    bare = recipient_for(PKI / "recip-x25519.pub.pem")
    x_key = key("recip-x25519.key")
    assert unwrap_cek([bare.recipient_info(CEK)], Credentials(private_key=x_key),
                      cek_size=32) == (CEK, 0)
    der = tmp_path / "rsa.der"
    der.write_bytes(cert("recip-rsa2048.pem").public_bytes(serialization.Encoding.DER))
    assert isinstance(recipient_for(der), KeyTransRecipient)
    pub = tmp_path / "mlkem.pub.pem"
    mlkem_key = key("recip-mlkem768.key.pem")
    pub.write_bytes(mlkem_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    kem = recipient_for(pub)
    assert isinstance(kem, KemRecipient)
    assert unwrap_cek([kem.recipient_info(CEK)], Credentials(private_key=mlkem_key),
                      cek_size=32) == (CEK, 0)
    assert kem.ski.hex() == "ec5899ef6b6c71d1983f242ba4887f264d8c098b"
    with pytest.raises(InvalidInput):
        recipient_for(PKI / "recip-p256.pem", oaep=False)
    with pytest.raises(InvalidInput):
        recipient_for(PKI / "password.txt")
    with pytest.raises(InvalidInput):
        recipient_for(PKI / "signer-ed25519.pem")
    with pytest.raises(InvalidInput):
        recipient_for(tmp_path / "missing.pem")


def test_load_private_key_any() -> None:
    assert isinstance(key("recip-mlkem768.key.pem"), mlkem.MLKEM768PrivateKey)
    assert isinstance(key("recip-mlkem768.key.der"), mlkem.MLKEM768PrivateKey)
    assert isinstance(key("recip-rsa2048.key"), rsa.RSAPrivateKey)
    with pytest.raises(InvalidInput):
        load_private_key_any(PKI / "password.txt")


# ------------------------------------------------------------------------------------------
# the real openssl opens what we write


def _envelope(recipient: Recipient, plaintext: bytes) -> bytes:
    cek = os.urandom(32)
    iv = os.urandom(16)
    padder = padding.PKCS7(128).padder()
    enc = Cipher(algorithms.AES(cek), modes.CBC(iv)).encryptor()
    ciphertext = enc.update(padder.update(plaintext) + padder.finalize()) + enc.finalize()
    info = cms.RecipientInfo.load(recipient.recipient_info(cek))
    version = {"ktri": recipient.version and 2, "kari": 2, "kekri": 2, "pwri": 3, "ori": 3}[
        recipient.kind]
    enveloped = cms.EnvelopedData({
        "version": version,
        "recipient_infos": [info],
        "encrypted_content_info": {
            "content_type": "data",
            "content_encryption_algorithm": {
                "algorithm": registry.by_name("aes256-cbc", Kind.CIPHER).oid,
                "parameters": cms.OctetString(iv)},
            "encrypted_content": ciphertext,
        },
    })
    return bytes(cms.ContentInfo({"content_type": "enveloped_data",
                                  "content": enveloped}).dump())


OPENSSL_CASES: list[tuple[str, Callable[[], Recipient], list[str]]] = [
    ("ktri-v15", lambda: KeyTransRecipient(cert("recip-rsa2048.pem"), oaep=False),
     ["-recip", "recip-rsa2048.pem", "-inkey", "recip-rsa2048.key"]),
    ("ktri-oaep", lambda: KeyTransRecipient(cert("recip-rsa2048.pem")),
     ["-recip", "recip-rsa2048.pem", "-inkey", "recip-rsa2048.key"]),
    ("ktri-oaep-ski", lambda: KeyTransRecipient(cert("recip-rsa2048.pem"), use_ski=True),
     ["-recip", "recip-rsa2048.pem", "-inkey", "recip-rsa2048.key"]),
    ("kari-p256", lambda: KeyAgreeRecipient(cert("recip-p256.pem")),
     ["-recip", "recip-p256.pem", "-inkey", "recip-p256.key"]),
    ("kari-p384", lambda: KeyAgreeRecipient(cert("recip-p384.pem")),
     ["-recip", "recip-p384.pem", "-inkey", "recip-p384.key"]),
    ("kekri-256", lambda: KekRecipient(kek_hex("kek-aes256.hex"), kek_hex("kek-aes256.id.hex")),
     ["-secretkey", (PKI / "kek-aes256.hex").read_text().strip(),
      "-secretkeyid", (PKI / "kek-aes256.id.hex").read_text().strip()]),
    ("kekri-128", lambda: KekRecipient(kek_hex("kek-aes128.hex"), kek_hex("kek-aes128.id.hex")),
     ["-secretkey", (PKI / "kek-aes128.hex").read_text().strip(),
      "-secretkeyid", (PKI / "kek-aes128.id.hex").read_text().strip()]),
    ("pwri", lambda: PasswordRecipient(password(), iterations=2000),
     ["-pwri_password", password()]),
]


@pytest.mark.peer
@pytest.mark.parametrize(("label", "make", "args"), OPENSSL_CASES,
                         ids=[c[0] for c in OPENSSL_CASES])
def test_openssl_decrypts_our_recipients(label: str, make: Callable[[], Recipient],
                                         args: list[str], tmp_path: Path) -> None:
    openssl = require_tool("openssl")
    plaintext = b"DICM secure file payload " * 100 + label.encode()
    src = tmp_path / "in.cms"
    out = tmp_path / "out.bin"
    src.write_bytes(_envelope(make(), plaintext))
    proc = subprocess.run(
        [openssl, "cms", "-decrypt", "-binary", "-inform", "DER", "-in", str(src),
         "-out", str(out), *args],
        capture_output=True, text=True, timeout=120, check=False, cwd=PKI)
    assert proc.returncode == 0, proc.stderr
    assert out.read_bytes() == plaintext


def test_hash_helper_consistency() -> None:
    # the registry's OAEP hash is what KeyTransRecipient writes
    assert registry.by_name("rsa-oaep", Kind.KEY_TRANSPORT).hash == "sha256"
    assert isinstance(registry.by_name("sha256", Kind.DIGEST).crypto_hash(), hashes.SHA256)


def test_an_algorithm_policy_decides_when_given() -> None:
    """Recipients and the envelope accept an AlgorithmPolicy; without one nothing changes."""
    import io

    from dicomsec.algorithms import Status
    from dicomsec.algorithms.policy import AlgorithmPolicy
    from dicomsec.cms.envelope import write_envelope

    default = AlgorithmPolicy.default()
    rsa_cert, ec_cert = PKI / "recip-rsa2048.pem", PKI / "recip-p256.pem"
    assert isinstance(recipient_for(rsa_cert, oaep=False, policy=default),
                      KeyTransRecipient)  # PKCS#1 v1.5 (the Basic profile's) stays waived
    assert isinstance(recipient_for(ec_cert, policy=default), KeyAgreeRecipient)
    no_ecdh = default.with_status("ecdh-x963-sha256", Status.FORBIDDEN)
    with pytest.raises(PolicyViolation, match="forbidden"):
        recipient_for(ec_cert, policy=no_ecdh)
    with pytest.raises(PolicyViolation):
        PasswordRecipient("pw", iterations=1000, kek_cipher="des-ede3-cbc", policy=default)
    kek = KekRecipient(bytes(16), b"k")
    with pytest.raises(PolicyViolation):
        write_envelope([b"x"], 1, io.BytesIO(), recipients=[kek], cipher="des-ede3-cbc",
                       policy=default)
    out = io.BytesIO()
    write_envelope([b"x"], 1, out, recipients=[kek], cipher="des-ede3-cbc", policy=default,
                   allow_legacy=True)
    assert out.getvalue()
