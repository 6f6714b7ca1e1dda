"""The five RecipientInfo kinds of CMS: writing them, and opening them to get the CEK.

Writing: a :class:`Recipient` turns a content-encryption key (CEK) into the DER of one
RecipientInfo (RFC 5652 §6.2):

- :class:`KeyTransRecipient` (ktri): RSA-OAEP (SHA-256, MGF1-SHA-256, empty label) or, for the
  DICOM Basic profile, RSA PKCS#1 v1.5.
- :class:`KeyAgreeRecipient` (kari): ephemeral-static ECDH (RFC 5753, X9.63 KDF) on P-256/384/521,
  X25519/X448 with HKDF (RFC 8418); AES key wrap.
- :class:`KekRecipient` (kekri): a pre-shared AES key-encryption key.
- :class:`PasswordRecipient` (pwri): PBKDF2-HMAC-SHA256 and the RFC 3211 PWRI-KEK wrap.
- :class:`KemRecipient` (ori, KEMRecipientInfo, RFC 9629): ML-KEM-768/1024 (RFC 9936).

Reading: :func:`unwrap_cek` tries every RecipientInfo that the :class:`Credentials` fit and
returns the CEK. Every failure of a recipient that was tried (bad PKCS#1 padding, OAEP error,
failed key unwrap, wrong CEK length) gives the same :class:`DecryptionFailed` message, after all
recipients were tried, so the error is no padding oracle.

All algorithm OIDs come from :mod:`dicomsec.algorithms`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from asn1crypto import cms as a1cms
from asn1crypto import core as a1core
from asn1crypto import pem as a1pem
from asn1crypto import x509 as a1x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, keywrap, serialization
from cryptography.hazmat.primitives.asymmetric import ec, mlkem, padding, rsa, x448, x25519
from cryptography.hazmat.primitives.ciphers import Cipher, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC
from cryptography.hazmat.primitives.kdf.x963kdf import X963KDF

from dicomsec import algorithms
from dicomsec.algorithms import Algorithm, Kind
from dicomsec.cms import DOES_NOT_OPEN, _asn1
from dicomsec.errors import DecryptionFailed, InvalidInput, PolicyViolation, UnsupportedAlgorithm

__all__ = [
    "DOES_NOT_OPEN",
    "NO_MATCH",
    "Credentials",
    "KekRecipient",
    "KemRecipient",
    "KeyAgreeRecipient",
    "KeyTransRecipient",
    "PasswordRecipient",
    "Recipient",
    "check_password",
    "describe",
    "load_private_key_any",
    "recipient_for",
    "unwrap_cek",
]

#: the two messages of :func:`unwrap_cek` (the second one for every kind of failure)
NO_MATCH = "no recipient matches the given credentials"

#: PBKDF2 iteration counts: the floor for new files and the ceiling accepted when reading
MIN_PBKDF2_ITERATIONS = 1000
MAX_PBKDF2_ITERATIONS = 10_000_000
#: PBKDF2 work one file may ask for in all (many password recipients must not stall a reader)
MAX_PBKDF2_TOTAL = 20_000_000

_EC_PROFILE: dict[str, tuple[str, str]] = {
    "secp256r1": ("ecdh-x963-sha256", "aes128-wrap"),
    "secp384r1": ("ecdh-x963-sha384", "aes256-wrap"),
    "secp521r1": ("ecdh-x963-sha512", "aes256-wrap"),
}
_X_PROFILE = ("ecdh-hkdf-sha256", "aes256-wrap")
_KEM_KDF = "hkdf-sha256"


# ------------------------------------------------------------------------------------------
# small helpers


def _alg(name: str, kind: Kind) -> Algorithm:
    return algorithms.by_name(name, kind)


def _hash(name: str | None) -> hashes.HashAlgorithm:
    if name is None:
        raise UnsupportedAlgorithm("algorithm without a hash")
    h: hashes.HashAlgorithm = _alg(name, Kind.DIGEST).crypto_hash()
    return h


def _maybe(oid: str, kind: Kind) -> Algorithm | None:
    try:
        return algorithms.by_oid(oid, kind)
    except UnsupportedAlgorithm:
        return None


def _name_of(oid: str, *kinds: Kind) -> str:
    """Registry name of an OID (first kind that knows it), else the dotted OID."""
    for kind in kinds:
        alg = _maybe(oid, kind)
        if alg is not None:
            return alg.name
    return oid


def _alg_id(oid: str, parameters: Any = None) -> Any:
    value: dict[str, Any] = {"algorithm": oid}
    if parameters is not None:
        value["parameters"] = parameters
    return _asn1.AlgorithmIdentifier(value)


def _params(alg_id: Any) -> Any:
    """The parameters of a parsed AlgorithmIdentifier as raw DER, or None when absent."""
    params = alg_id["parameters"]
    if isinstance(params, a1core.Void):
        return None
    return params.dump()


def _wrap_algorithm(algorithm: Algorithm) -> Algorithm:
    if algorithm.kind is not Kind.KEY_WRAP or not algorithm.key_size:
        raise UnsupportedAlgorithm(f"{algorithm.name} is not an AES key wrap")
    return algorithm


def _aes_wrap(wrap: Algorithm, kek: bytes, cek: bytes) -> bytes:
    try:
        if wrap.name.endswith("-pad"):
            return keywrap.aes_key_wrap_with_padding(kek, cek)
        return keywrap.aes_key_wrap(kek, cek)
    except ValueError as exc:
        raise InvalidInput(f"cannot wrap a content-encryption key of {len(cek)} bytes") from exc


def _aes_unwrap(wrap: Algorithm, kek: bytes, wrapped: bytes) -> bytes:
    if len(kek) != wrap.key_size:
        raise _Fail
    try:
        if wrap.name.endswith("-pad"):
            return keywrap.aes_key_unwrap_with_padding(kek, wrapped)
        return keywrap.aes_key_unwrap(kek, wrapped)
    except (ValueError, keywrap.InvalidUnwrap):
        raise _Fail from None


def _ski_of_key(public_key: Any) -> bytes:
    """RFC 5280 §4.2.1.2 method 1: SHA-1 of the subjectPublicKey BIT STRING value."""
    digest: bytes = x509.SubjectKeyIdentifier.from_public_key(public_key).digest
    return digest


def _ski_of_certificate(certificate: x509.Certificate) -> bytes:
    try:
        ext = certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    except x509.ExtensionNotFound:
        return _ski_of_key(certificate.public_key())
    digest: bytes = ext.value.digest
    return digest


def _issuer_and_serial(certificate: x509.Certificate) -> Any:
    return a1cms.IssuerAndSerialNumber({
        "issuer": a1x509.Name.load(certificate.issuer.public_bytes()),
        "serial_number": certificate.serial_number,
    })


def _rid_matches(rid: Any, certificate: x509.Certificate) -> bool:
    """Whether a RecipientIdentifier / KeyAgreementRecipientIdentifier names the certificate."""
    chosen = rid.chosen
    if rid.name == "issuer_and_serial_number":
        if chosen["serial_number"].native != certificate.serial_number:
            return False
        issuer_der = certificate.issuer.public_bytes()
        if chosen["issuer"].dump() == issuer_der:
            return True
        return bool(chosen["issuer"] == a1x509.Name.load(issuer_der))
    if rid.name == "subject_key_identifier":
        return bool(chosen.native == _ski_of_certificate(certificate))
    if rid.name == "r_key_id":
        return bool(chosen["subject_key_identifier"].native == _ski_of_certificate(certificate))
    return False


def _public_key_of(certificate_or_public_key: object) -> tuple[Any, x509.Certificate | None]:
    if isinstance(certificate_or_public_key, x509.Certificate):
        return certificate_or_public_key.public_key(), certificate_or_public_key
    return certificate_or_public_key, None


def _mlkem_class(kem: Algorithm, which: str) -> Any:
    """cryptography's ML-KEM class for ``ml-kem-NNN`` (``None`` when the library lacks it)."""
    level = kem.name.rsplit("-", 1)[1]
    return getattr(mlkem, f"MLKEM{level}{which}", None)


def _kem_of_key(key: object, which: str) -> Algorithm | None:
    for kem in algorithms.all_algorithms():
        if kem.kind is Kind.KEM:
            cls = _mlkem_class(kem, which)
            if cls is not None and isinstance(key, cls):
                return kem
    return None


def _cbc(cipher: Algorithm, key: bytes, iv: bytes) -> Cipher[modes.CBC]:
    from dicomsec.cms.envelope import cbc_cipher

    try:
        made: Cipher[modes.CBC] = cbc_cipher(cipher, key, iv)
    except InvalidInput:
        raise UnsupportedAlgorithm(f"{cipher.name} is not a CBC block cipher") from None
    return made


class _Fail(Exception):
    """A recipient that fits the credentials was tried and did not open (never leaves here)."""


# ------------------------------------------------------------------------------------------
# passwords and PWRI-KEK (RFC 3211 §2.3)


def check_password(password: str) -> bytes:
    """The password as ISO-IR 6 (ASCII 0x20-0x7E) octets, as DICOM requires.

    Raises:
        InvalidInput: empty, or a character outside 0x20-0x7E (the message gives its position,
            never the password).
    """
    if not password:
        raise InvalidInput("the password is empty")
    for pos, char in enumerate(password, 1):
        if not 0x20 <= ord(char) <= 0x7E:
            raise InvalidInput(
                f"character {pos} of the password is outside the DICOM default character "
                "repertoire (ISO-IR 6: printable ASCII 0x20-0x7E)",
                hint="use only printable ASCII characters; no accents, tabs or line breaks",
            )
    return password.encode("ascii")


def _pwri_wrap(cipher: Algorithm, kek: bytes, iv: bytes, cek: bytes) -> bytes:
    if not 3 <= len(cek) <= 255:
        raise InvalidInput(f"PWRI cannot wrap a key of {len(cek)} bytes")
    bs = cipher.block_size
    body = bytes([len(cek)]) + bytes(b ^ 0xFF for b in cek[:3]) + cek
    size = max(2 * bs, -(-len(body) // bs) * bs)
    body += os.urandom(size - len(body))
    enc = _cbc(cipher, kek, iv).encryptor()
    first = enc.update(body) + enc.finalize()
    enc = _cbc(cipher, kek, first[-bs:]).encryptor()
    return enc.update(first) + enc.finalize()


def _pwri_unwrap(cipher: Algorithm, kek: bytes, iv: bytes, wrapped: bytes) -> bytes:
    bs = cipher.block_size
    n = len(wrapped)
    if n % bs or n < 2 * bs or len(iv) != bs:
        raise _Fail
    dec = _cbc(cipher, kek, wrapped[-2 * bs : -bs]).decryptor()
    last = dec.update(wrapped[-bs:]) + dec.finalize()
    dec = _cbc(cipher, kek, last).decryptor()
    inner = dec.update(wrapped) + dec.finalize()
    dec = _cbc(cipher, kek, iv).decryptor()
    plain = dec.update(inner) + dec.finalize()
    length = plain[0]
    check = (plain[1] ^ plain[4]) & (plain[2] ^ plain[5]) & (plain[3] ^ plain[6])
    if check != 0xFF or length < 3 or length > n - 4:
        raise _Fail
    return plain[4 : 4 + length]


# ------------------------------------------------------------------------------------------
# writing


class Recipient(Protocol):
    """Something that makes one RecipientInfo for a content-encryption key."""

    kind: str
    version: int

    def recipient_info(self, cek: bytes) -> bytes: ...


class KeyTransRecipient:
    """ktri: RSA key transport to a certificate (or, with ``use_ski``, a bare RSA key).

    OAEP uses SHA-256 and MGF1-SHA-256 with an empty label; ``oaep=False`` gives PKCS#1 v1.5
    (the DICOM Basic profile). RSA keys below 2048 bits raise :class:`PolicyViolation`.
    """

    kind = "ktri"

    def __init__(self, certificate: x509.Certificate | rsa.RSAPublicKey, *, oaep: bool = True,
                 use_ski: bool = False) -> None:
        public_key, cert = _public_key_of(certificate)
        if not isinstance(public_key, rsa.RSAPublicKey):
            raise InvalidInput("key transport (ktri) needs an RSA public key")
        alg = _alg("rsa-oaep" if oaep else "rsa-pkcs1v15-transport", Kind.KEY_TRANSPORT)
        algorithms.check_create(alg, allow_legacy=True, bits=public_key.key_size)
        self.public_key = public_key
        self.certificate = cert
        self.oaep = oaep
        self.use_ski = use_ski or cert is None
        self.algorithm = alg
        self.version = 2 if self.use_ski else 0

    def __repr__(self) -> str:
        return f"KeyTransRecipient({self.algorithm.name}, version={self.version})"

    def _key_encryption(self) -> tuple[Any, padding.AsymmetricPadding]:
        if not self.oaep:
            return _alg_id(self.algorithm.oid, a1core.Null()), padding.PKCS1v15()
        sha256 = _alg("sha256", Kind.DIGEST).oid
        params = _asn1.RSAESOAEPParams({
            "hash_algorithm": {"algorithm": sha256},
            "mask_gen_algorithm": {"algorithm": _alg("mgf1", Kind.KDF).oid,
                                   "parameters": {"algorithm": sha256}},
        })
        pad = padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(), None)
        return _alg_id(self.algorithm.oid, params), pad

    def recipient_info(self, cek: bytes) -> bytes:
        alg_id, pad = self._key_encryption()
        if self.use_ski:
            ski = (_ski_of_certificate(self.certificate) if self.certificate is not None
                   else _ski_of_key(self.public_key))
            rid = a1cms.RecipientIdentifier(name="subject_key_identifier", value=ski)
        else:
            assert self.certificate is not None
            rid = a1cms.RecipientIdentifier(name="issuer_and_serial_number",
                                            value=_issuer_and_serial(self.certificate))
        ktri = _asn1.KeyTransRecipientInfo({
            "version": self.version,
            "rid": rid,
            "key_encryption_algorithm": alg_id,
            "encrypted_key": self.public_key.encrypt(cek, pad),
        })
        return bytes(_asn1.RecipientInfo(name="ktri", value=ktri).dump())


class KeyAgreeRecipient:
    """kari, ephemeral-static: ECDH P-256/384/521 (X9.63 KDF) or X25519/X448 (HKDF-SHA256).

    ``wrap`` overrides the key-wrap algorithm (a registry name such as ``aes256-wrap``).
    """

    kind = "kari"
    version = 3

    def __init__(self, certificate_or_public_key: object, *, wrap: str | None = None) -> None:
        public_key, cert = _public_key_of(certificate_or_public_key)
        if isinstance(public_key, ec.EllipticCurvePublicKey):
            if public_key.curve.name not in _EC_PROFILE:
                raise UnsupportedAlgorithm(
                    f"elliptic curve {public_key.curve.name} is not supported for key agreement")
            scheme, default_wrap = _EC_PROFILE[public_key.curve.name]
        elif isinstance(public_key, x25519.X25519PublicKey | x448.X448PublicKey):
            scheme, default_wrap = _X_PROFILE
        else:
            raise InvalidInput("key agreement (kari) needs an EC, X25519 or X448 public key")
        self.public_key: Any = public_key
        self.certificate = cert
        self.scheme = _alg(scheme, Kind.KEY_AGREEMENT)
        self.wrap = _wrap_algorithm(_alg(wrap or default_wrap, Kind.KEY_WRAP))
        algorithms.check_create(self.scheme)

    def __repr__(self) -> str:
        return f"KeyAgreeRecipient({self.scheme.name}, {self.wrap.name})"

    def recipient_info(self, cek: bytes) -> bytes:
        pub = self.public_key
        if isinstance(pub, ec.EllipticCurvePublicKey):
            eph_ec = ec.generate_private_key(pub.curve)
            z = eph_ec.exchange(ec.ECDH(), pub)
            origin_oid = _alg("ec-public-key", Kind.KEY_AGREEMENT).oid
            point = eph_ec.public_key().public_bytes(serialization.Encoding.X962,
                                                     serialization.PublicFormat.UncompressedPoint)
        elif isinstance(pub, x25519.X25519PublicKey):
            eph_x = x25519.X25519PrivateKey.generate()
            z = eph_x.exchange(pub)
            origin_oid = _alg("x25519", Kind.KEY_AGREEMENT).oid
            point = eph_x.public_key().public_bytes_raw()
        else:
            eph_x4 = x448.X448PrivateKey.generate()
            z = eph_x4.exchange(pub)
            origin_oid = _alg("x448", Kind.KEY_AGREEMENT).oid
            point = eph_x4.public_key().public_bytes_raw()
        wrap_id = _alg_id(self.wrap.oid)
        kek = _kari_kek(self.scheme, z, self.wrap, wrap_id, None)
        if self.certificate is not None:
            rid = a1cms.KeyAgreementRecipientIdentifier(
                name="issuer_and_serial_number", value=_issuer_and_serial(self.certificate))
        else:
            rid = a1cms.KeyAgreementRecipientIdentifier(
                name="r_key_id", value={"subject_key_identifier": _ski_of_key(pub)})
        kari = _asn1.KeyAgreeRecipientInfo({
            "version": self.version,
            "originator": _asn1.OriginatorIdentifierOrKey(
                name="originator_key",
                value={"algorithm": _alg_id(origin_oid), "public_key": point}),
            "key_encryption_algorithm": _alg_id(self.scheme.oid, wrap_id),
            "recipient_encrypted_keys": [
                {"rid": rid, "encrypted_key": _aes_wrap(self.wrap, kek, cek)}],
        })
        return bytes(_asn1.RecipientInfo(name="kari", value=kari).dump())


def _kari_kek(scheme: Algorithm, z: bytes, wrap: Algorithm, wrap_id: Any,
              ukm: bytes | None) -> bytes:
    """KEK of RFC 5753 §7.2 (X9.63) / RFC 8418 §2.2 (HKDF, salt = ukm when present)."""
    info: dict[str, Any] = {
        "key_info": _asn1.AlgorithmIdentifier({"algorithm": wrap_id["algorithm"].dotted}),
        "supp_pub_info": (wrap.key_size * 8).to_bytes(4, "big"),
    }
    if ukm is not None:
        info["entity_u_info"] = ukm
    shared = _asn1.ECCCMSSharedInfo(info).dump()
    digest = _hash(scheme.hash)
    if scheme.mode == "x963":
        return X963KDF(digest, wrap.key_size, shared).derive(z)
    if scheme.mode == "hkdf":
        return HKDF(digest, wrap.key_size, ukm, shared).derive(z)
    raise UnsupportedAlgorithm(f"{scheme.name} is not a key agreement scheme")


class KekRecipient:
    """kekri: a pre-shared AES KEK (16/24/32 bytes → aes128/192/256-wrap) and its identifier."""

    kind = "kekri"
    version = 4

    def __init__(self, kek: bytes, key_id: bytes) -> None:
        if len(kek) not in (16, 24, 32):
            raise InvalidInput(f"a KEK must be 16, 24 or 32 bytes, not {len(kek)}")
        if not key_id:
            raise InvalidInput("the KEK identifier is empty")
        self._kek = bytes(kek)
        self.key_id = bytes(key_id)
        self.wrap = _alg(f"aes{len(kek) * 8}-wrap", Kind.KEY_WRAP)

    def __repr__(self) -> str:
        return f"KekRecipient({self.wrap.name}, key_id={self.key_id.hex()}, kek=<redacted>)"

    def recipient_info(self, cek: bytes) -> bytes:
        kekri = _asn1.KEKRecipientInfo({
            "version": self.version,
            "kekid": {"key_identifier": self.key_id},
            "key_encryption_algorithm": _alg_id(self.wrap.oid),
            "encrypted_key": _aes_wrap(self.wrap, self._kek, cek),
        })
        return bytes(_asn1.RecipientInfo(name="kekri", value=kekri).dump())


class PasswordRecipient:
    """pwri: PBKDF2-HMAC-SHA256 (16-byte random salt) and PWRI-KEK over a CBC cipher."""

    kind = "pwri"
    version = 0

    def __init__(self, password: str, *, iterations: int = 600_000,
                 kek_cipher: str = "aes256-cbc") -> None:
        self._password = check_password(password)
        if iterations < MIN_PBKDF2_ITERATIONS:
            raise PolicyViolation(
                f"PBKDF2 needs at least {MIN_PBKDF2_ITERATIONS} iterations, not {iterations}")
        cipher = _alg(kek_cipher, Kind.CIPHER)
        if cipher.mode != "cbc":
            raise UnsupportedAlgorithm(
                f"the PWRI KEK cipher must be a CBC cipher, not {cipher.name}")
        algorithms.check_create(cipher)
        self.iterations = iterations
        self.cipher = cipher

    def __repr__(self) -> str:
        return (f"PasswordRecipient({self.cipher.name}, iterations={self.iterations}, "
                "password=<redacted>)")

    def recipient_info(self, cek: bytes) -> bytes:
        salt = os.urandom(16)
        prf = _alg("hmac-sha256", Kind.KDF)
        kek = PBKDF2HMAC(_hash(prf.hash), self.cipher.key_size, salt,
                         self.iterations).derive(self._password)
        iv = os.urandom(self.cipher.block_size)
        kdf = _asn1.Pbkdf2Params({
            "salt": {"specified": salt},
            "iteration_count": self.iterations,
            "prf": {"algorithm": prf.oid, "parameters": a1core.Null()},
        })
        pwri = _asn1.PasswordRecipientInfo({
            "version": self.version,
            "key_derivation_algorithm": _alg_id(_alg("pbkdf2", Kind.KDF).oid, kdf),
            "key_encryption_algorithm": _alg_id(
                _alg("pwri-kek", Kind.KEY_WRAP).oid,
                _alg_id(self.cipher.oid, a1core.OctetString(iv))),
            "encrypted_key": _pwri_wrap(self.cipher, kek, iv, cek),
        })
        return bytes(_asn1.RecipientInfo(name="pwri", value=pwri).dump())


class KemRecipient:
    """ori / KEMRecipientInfo (RFC 9629) with ML-KEM-768 or -1024 (RFC 9936).

    HKDF-SHA256, kekLength 32, aes256-wrap, no ukm; rid = [0] subjectKeyIdentifier (the
    certificate's, else SHA-1 of the encapsulation key).
    """

    kind = "ori"
    version = 0

    def __init__(self, certificate_or_public_key: object) -> None:
        public_key, cert = _public_key_of(certificate_or_public_key)
        kem = _kem_of_key(public_key, "PublicKey")
        if kem is None:
            raise InvalidInput("a KEM recipient needs an ML-KEM-768 or ML-KEM-1024 public key")
        self.public_key: Any = public_key
        self.certificate = cert
        self.kem = kem
        self.kdf = _alg(_KEM_KDF, Kind.KDF)
        self.kek_length = kem.key_size
        self.wrap = _alg(f"aes{self.kek_length * 8}-wrap", Kind.KEY_WRAP)
        self.ski = _ski_of_certificate(cert) if cert is not None else _ski_of_key(public_key)

    def __repr__(self) -> str:
        return f"KemRecipient({self.kem.name}, {self.kdf.name}, {self.wrap.name})"

    def recipient_info(self, cek: bytes) -> bytes:
        shared_secret, kemct = self.public_key.encapsulate()
        wrap_id = _alg_id(self.wrap.oid)
        info = _asn1.CMSORIforKEMOtherInfo({"wrap": wrap_id, "kek_length": self.kek_length})
        kek = HKDF(_hash(self.kdf.hash), self.kek_length, None, info.dump()).derive(shared_secret)
        kemri = _asn1.KEMRecipientInfo({
            "version": self.version,
            "rid": a1cms.RecipientIdentifier(name="subject_key_identifier", value=self.ski),
            "kem": _alg_id(self.kem.oid),
            "kemct": kemct,
            "kdf": _alg_id(self.kdf.oid),
            "kek_length": self.kek_length,
            "wrap": wrap_id,
            "encrypted_key": _aes_wrap(self.wrap, kek, cek),
        })
        ori = _asn1.OtherRecipientInfo({"ori_type": _asn1.ID_ORI_KEM, "ori_value": kemri})
        return bytes(_asn1.RecipientInfo(name="ori", value=ori).dump())


#: recipient_for: the class for a kind of key, and the options it takes
_FACTORIES: dict[str, tuple[Callable[..., Recipient], frozenset[str]]] = {
    "ktri": (KeyTransRecipient, frozenset({"oaep", "use_ski"})),
    "kari": (KeyAgreeRecipient, frozenset({"wrap"})),
    "ori": (KemRecipient, frozenset()),
}


def recipient_for(path: Path, **opts: Any) -> Recipient:
    """A recipient for a certificate (PEM or DER) or a PEM/DER public key file.

    RSA → :class:`KeyTransRecipient` (OAEP unless ``oaep=False``), EC/X25519/X448 →
    :class:`KeyAgreeRecipient`, ML-KEM → :class:`KemRecipient`.

    Raises:
        InvalidInput: unreadable file, neither certificate nor public key, another key type,
            or an option that does not apply to that kind of recipient.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InvalidInput(f"cannot read recipient: {exc.strerror or exc}",
                           path=str(path)) from exc
    subject: object
    try:
        if b"-----BEGIN CERTIFICATE" in data:
            subject = x509.load_pem_x509_certificate(data)
        elif b"-----BEGIN" in data:
            subject = serialization.load_pem_public_key(data)
        else:
            try:
                subject = x509.load_der_x509_certificate(data)
            except ValueError:
                subject = serialization.load_der_public_key(data)
    except Exception as exc:  # cryptography raises several types for garbage
        raise InvalidInput(f"not a certificate or public key ({type(exc).__name__})",
                           path=str(path)) from None
    key = subject.public_key() if isinstance(subject, x509.Certificate) else subject
    if isinstance(key, rsa.RSAPublicKey):
        kind = "ktri"
    elif isinstance(key, ec.EllipticCurvePublicKey | x25519.X25519PublicKey
                    | x448.X448PublicKey):
        kind = "kari"
    elif _kem_of_key(key, "PublicKey") is not None:
        kind = "ori"
    else:
        raise InvalidInput(f"cannot encrypt to a {type(key).__name__} key", path=str(path))
    cls, allowed = _FACTORIES[kind]
    unknown = set(opts) - allowed
    if unknown:
        raise InvalidInput(f"option {sorted(unknown)[0]!r} does not apply to this recipient",
                           path=str(path))
    try:
        return cls(subject, **opts)
    except InvalidInput as exc:
        exc.path = exc.path or str(path)
        raise


# ------------------------------------------------------------------------------------------
# reading


@dataclass(frozen=True)
class Credentials:
    """What a reader holds to open a file. ``repr`` never shows keys or passwords."""

    private_key: object | None = field(default=None, repr=False)
    certificate: x509.Certificate | None = None
    kek: bytes | None = field(default=None, repr=False)
    kek_id: bytes | None = None
    password: str | None = field(default=None, repr=False)

    def __repr__(self) -> str:
        parts = []
        if self.private_key is not None:
            parts.append(f"private_key=<redacted {type(self.private_key).__name__}>")
        if self.certificate is not None:
            parts.append(f"certificate={self.certificate.subject.rfc4514_string()!r}")
        if self.kek is not None:
            parts.append("kek=<redacted>")
        if self.kek_id is not None:
            parts.append(f"kek_id={self.kek_id.hex()}")
        if self.password is not None:
            parts.append("password=<redacted>")
        return f"Credentials({', '.join(parts)})"


class _State:
    def __init__(self, creds: Credentials, cek_size: int) -> None:
        self.creds = creds
        self.cek_size = cek_size
        self.attempted = False
        self.skipped: list[str] = []
        self.unsupported_kem: Algorithm | None = None
        self.pbkdf2_budget = MAX_PBKDF2_TOTAL

    def done(self, cek: bytes) -> bytes:
        if len(cek) != self.cek_size:
            raise _Fail
        return cek


def _open_ktri(ktri: Any, st: _State) -> bytes | None:
    key = st.creds.private_key
    if not isinstance(key, rsa.RSAPrivateKey):
        return None
    cert = st.creds.certificate
    if cert is not None and not _rid_matches(ktri["rid"], cert):
        return None
    alg_id = ktri["key_encryption_algorithm"]
    oid = alg_id["algorithm"].dotted
    alg = _maybe(oid, Kind.KEY_TRANSPORT)
    if alg is None:
        st.skipped.append(f"ktri with key transport {oid}")
        return None
    pad: padding.AsymmetricPadding
    if alg.name == "rsa-oaep":
        try:
            pad = _oaep_padding(_params(alg_id))
        except UnsupportedAlgorithm as exc:
            st.skipped.append(f"ktri with {exc.message}")
            return None
    else:
        if _params(alg_id) not in (None, b"\x05\x00"):
            # RFC 3370 4.2.1: rsaEncryption parameters are NULL (or absent)
            st.skipped.append("ktri rsaEncryption with parameters that are not NULL")
            return None
        pad = padding.PKCS1v15()
    st.attempted = True
    if isinstance(pad, padding.PKCS1v15):
        # RFC 3218 2.3: no failure of its own for PKCS#1 v1.5 (Bleichenbacher); a bad block or
        # a wrong length gives a random key, and the content check then fails like a wrong key
        try:
            cek = key.decrypt(ktri["encrypted_key"].native, pad)
        except ValueError:
            cek = b""
        return cek if len(cek) == st.cek_size else os.urandom(st.cek_size)
    try:
        cek = key.decrypt(ktri["encrypted_key"].native, pad)
    except ValueError:
        raise _Fail from None
    return st.done(cek)


def _oaep_parts(params_der: bytes | None) -> tuple[str, str, str, bytes]:
    """(hash OID, MGF OID, MGF hash OID, label) of RSAES-OAEP-params (absent = defaults)."""
    params = _asn1.RSAESOAEPParams.load(params_der or b"\x30\x00")
    mgf = params["mask_gen_algorithm"]
    label = params["p_source_algorithm"]["parameters"]
    return (params["hash_algorithm"]["algorithm"].dotted, mgf["algorithm"].dotted,
            mgf["parameters"]["algorithm"].dotted, bytes(label.native or b""))


def _oaep_padding(params_der: bytes | None) -> padding.OAEP:
    hash_oid, mgf_oid, mgf_hash_oid, label = _oaep_parts(params_der)
    if _maybe(mgf_oid, Kind.KDF) != _alg("mgf1", Kind.KDF):
        raise UnsupportedAlgorithm(f"OAEP mask generation {mgf_oid}")
    digests = []
    for oid in (hash_oid, mgf_hash_oid):
        alg = _maybe(oid, Kind.DIGEST)
        if alg is None:
            raise UnsupportedAlgorithm(f"OAEP hash {oid}")
        digests.append(_hash(alg.name))
    return padding.OAEP(padding.MGF1(digests[1]), digests[0], label or None)


def _kari_scheme(kari: Any) -> tuple[Algorithm, Algorithm, Any]:
    alg_id = kari["key_encryption_algorithm"]
    oid = alg_id["algorithm"].dotted
    scheme = _maybe(oid, Kind.KEY_AGREEMENT)
    if scheme is None or scheme.mode not in ("x963", "hkdf"):
        raise UnsupportedAlgorithm(f"key agreement scheme {oid}")
    params = _params(alg_id)
    if params is None:
        raise UnsupportedAlgorithm(f"{scheme.name} without a key-wrap algorithm")
    wrap_id = _asn1.AlgorithmIdentifier.load(params)
    wrap = _maybe(wrap_id["algorithm"].dotted, Kind.KEY_WRAP)
    if wrap is None or not wrap.key_size:
        raise UnsupportedAlgorithm(f"key wrap {wrap_id['algorithm'].dotted}")
    return scheme, wrap, wrap_id


def _open_kari(kari: Any, st: _State) -> bytes | None:
    key = st.creds.private_key
    if not isinstance(key, ec.EllipticCurvePrivateKey | x25519.X25519PrivateKey
                      | x448.X448PrivateKey):
        return None
    originator = kari["originator"]
    if originator.name != "originator_key":
        st.skipped.append("kari with a static originator key")
        return None
    origin = originator.chosen
    origin_alg = _maybe(origin["algorithm"]["algorithm"].dotted, Kind.KEY_AGREEMENT)
    expected = {ec.EllipticCurvePrivateKey: "ec-public-key", x25519.X25519PrivateKey: "x25519",
                x448.X448PrivateKey: "x448"}
    if origin_alg is None or not any(
            isinstance(key, cls) and origin_alg.name == name for cls, name in expected.items()):
        return None
    try:
        scheme, wrap, wrap_id = _kari_scheme(kari)
    except UnsupportedAlgorithm as exc:
        st.skipped.append(f"kari with {exc.message}")
        return None
    cert = st.creds.certificate
    wrapped = [rek["encrypted_key"].native for rek in kari["recipient_encrypted_keys"]
               if cert is None or _rid_matches(rek["rid"], cert)]
    if not wrapped:
        return None
    st.attempted = True
    point = bytes(origin["public_key"].native)
    try:
        if isinstance(key, ec.EllipticCurvePrivateKey):
            peer = ec.EllipticCurvePublicKey.from_encoded_point(key.curve, point)
            z = key.exchange(ec.ECDH(), peer)
        elif isinstance(key, x25519.X25519PrivateKey):
            z = key.exchange(x25519.X25519PublicKey.from_public_bytes(point))
        else:
            z = key.exchange(x448.X448PublicKey.from_public_bytes(point))
    except ValueError:
        raise _Fail from None
    ukm_value = kari["ukm"]
    ukm = None if isinstance(ukm_value, a1core.Void) else bytes(ukm_value.native)
    kek = _kari_kek(scheme, z, wrap, wrap_id, ukm)
    for ek in wrapped:
        try:
            return st.done(_aes_unwrap(wrap, kek, ek))
        except _Fail:
            continue
    raise _Fail


def _open_kekri(kekri: Any, st: _State) -> bytes | None:
    kek = st.creds.kek
    if kek is None:
        return None
    kek_id = st.creds.kek_id
    if kek_id is not None and kekri["kekid"]["key_identifier"].native != kek_id:
        return None
    oid = kekri["key_encryption_algorithm"]["algorithm"].dotted
    wrap = _maybe(oid, Kind.KEY_WRAP)
    if wrap is None or not wrap.key_size:
        st.skipped.append(f"kekri with key wrap {oid}")
        return None
    st.attempted = True
    return st.done(_aes_unwrap(wrap, kek, kekri["encrypted_key"].native))


def _pbkdf2(pwri: Any) -> tuple[bytes, int, Algorithm, int | None]:
    """(salt, iterations, PRF, keyLength) of a PWRI keyDerivationAlgorithm."""
    kdf_id = pwri["key_derivation_algorithm"]
    if isinstance(kdf_id, a1core.Void):
        raise UnsupportedAlgorithm("pwri without a key derivation algorithm")
    oid = kdf_id["algorithm"].dotted
    if _maybe(oid, Kind.KDF) != _alg("pbkdf2", Kind.KDF):
        raise UnsupportedAlgorithm(f"key derivation {oid}")
    params = _asn1.Pbkdf2Params.load(_params(kdf_id) or b"")
    if params["salt"].name != "specified":
        raise UnsupportedAlgorithm("PBKDF2 with a non-specified salt")
    prf_oid = params["prf"]["algorithm"].dotted
    prf = _maybe(prf_oid, Kind.KDF)
    if prf is None or not prf.name.startswith("hmac-"):
        raise UnsupportedAlgorithm(f"PBKDF2 PRF {prf_oid}")
    key_length = params["key_length"].native
    return (bytes(params["salt"].chosen.native), int(params["iteration_count"].native), prf,
            None if key_length is None else int(key_length))


def _pwri_cipher(pwri: Any) -> tuple[Algorithm, bytes]:
    alg_id = pwri["key_encryption_algorithm"]
    oid = alg_id["algorithm"].dotted
    if _maybe(oid, Kind.KEY_WRAP) != _alg("pwri-kek", Kind.KEY_WRAP):
        raise UnsupportedAlgorithm(f"password key wrap {oid}")
    inner = _asn1.AlgorithmIdentifier.load(_params(alg_id) or b"")
    cipher = _maybe(inner["algorithm"].dotted, Kind.CIPHER)
    if cipher is None or cipher.mode != "cbc":
        raise UnsupportedAlgorithm(f"PWRI-KEK cipher {inner['algorithm'].dotted}")
    iv = a1core.OctetString.load(_params(inner) or b"").native
    return cipher, bytes(iv)


def _open_pwri(pwri: Any, st: _State) -> bytes | None:
    if st.creds.password is None:
        return None
    secret = check_password(st.creds.password)
    try:
        salt, iterations, prf, key_length = _pbkdf2(pwri)
        cipher, iv = _pwri_cipher(pwri)
    except UnsupportedAlgorithm as exc:
        st.skipped.append(f"pwri with {exc.message}")
        return None
    st.pbkdf2_budget -= iterations
    if st.pbkdf2_budget < 0:
        raise PolicyViolation(
            f"the password recipients ask for more than {MAX_PBKDF2_TOTAL} PBKDF2 iterations "
            "in all")
    if iterations > MAX_PBKDF2_ITERATIONS:
        raise PolicyViolation(
            f"the password recipient asks for {iterations} PBKDF2 iterations, more than the "
            f"limit of {MAX_PBKDF2_ITERATIONS}")
    st.attempted = True
    if (key_length is not None and key_length != cipher.key_size) or iterations < 1:
        raise _Fail
    kek = PBKDF2HMAC(_hash(prf.hash), cipher.key_size, salt, iterations).derive(secret)
    return st.done(_pwri_unwrap(cipher, kek, iv, pwri["encrypted_key"].native))


def _kemri_parts(ori: Any) -> Any:
    """The KEMRecipientInfo of an ori, or None for another ori type."""
    if ori["ori_type"].dotted != _asn1.ID_ORI_KEM:
        return None
    return _asn1.KEMRecipientInfo.load(ori["ori_value"].dump())


def _open_ori(ori: Any, st: _State) -> bytes | None:
    kemri = _kemri_parts(ori)
    if kemri is None:
        st.skipped.append(f"ori of type {ori['ori_type'].dotted}")
        return None
    kem_oid = kemri["kem"]["algorithm"].dotted
    kem = _maybe(kem_oid, Kind.KEM)
    if kem is None:
        st.skipped.append(f"KEM recipient with {kem_oid}")
        return None
    cls = _mlkem_class(kem, "PrivateKey")
    if cls is None:
        st.unsupported_kem = kem
        st.skipped.append(f"KEM recipient with {kem.name}")
        return None
    key = st.creds.private_key
    if not isinstance(key, cls):
        return None
    cert = st.creds.certificate
    if cert is not None and not _rid_matches(kemri["rid"], cert):
        return None
    kdf_oid = kemri["kdf"]["algorithm"].dotted
    kdf = _maybe(kdf_oid, Kind.KDF)
    wrap = _maybe(kemri["wrap"]["algorithm"].dotted, Kind.KEY_WRAP)
    kek_length = int(kemri["kek_length"].native)
    if kdf is None or not kdf.name.startswith("hkdf-") or wrap is None or not wrap.key_size:
        st.skipped.append("KEM recipient with an unsupported KDF or key wrap")
        return None
    st.attempted = True
    if kek_length != wrap.key_size:
        raise _Fail
    info: dict[str, Any] = {"wrap": kemri["wrap"], "kek_length": kek_length}
    if not isinstance(kemri["ukm"], a1core.Void):
        info["ukm"] = kemri["ukm"].native
    try:
        shared_secret = key.decapsulate(kemri["kemct"].native)
    except ValueError:
        raise _Fail from None
    kek = HKDF(_hash(kdf.hash), kek_length, None,
               _asn1.CMSORIforKEMOtherInfo(info).dump()).derive(shared_secret)
    return st.done(_aes_unwrap(wrap, kek, kemri["encrypted_key"].native))


_OPENERS: dict[str, Callable[[Any, _State], bytes | None]] = {
    "ktri": _open_ktri,
    "kari": _open_kari,
    "kekri": _open_kekri,
    "pwri": _open_pwri,
    "ori": _open_ori,
}

_ASN1_ERRORS = (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError)


def _one_v15_candidate(recipient_infos: Sequence[bytes], creds: Credentials) -> None:
    """Without a certificate, an RSA key cannot tell PKCS#1 v1.5 recipients apart (a wrong one
    gives a random key, RFC 3218): refuse to guess among several."""
    if creds.certificate is not None or not isinstance(creds.private_key, rsa.RSAPrivateKey):
        return
    count = 0
    for der in recipient_infos:
        try:
            info = _asn1.RecipientInfo.load(bytes(der))
            if info.name != "ktri":
                continue
            oid = info.chosen["key_encryption_algorithm"]["algorithm"].dotted
        except _ASN1_ERRORS:
            continue
        alg = _maybe(oid, Kind.KEY_TRANSPORT)
        if alg is not None and alg.name != "rsa-oaep":
            count += 1
    if count > 1:
        raise InvalidInput(f"the file has {count} RSA PKCS#1 v1.5 recipients: give your "
                           "certificate (--cert) to say which one is yours")


def unwrap_cek(recipient_infos: Sequence[bytes], creds: Credentials, *,
               cek_size: int) -> tuple[bytes, int]:
    """The content-encryption key and the index of the RecipientInfo that gave it.

    ``recipient_infos`` are the DER encodings of the file's RecipientInfos. Recipients are
    matched by the certificate's issuerAndSerialNumber / subjectKeyIdentifier when
    ``creds.certificate`` is given, else the private key is tried on every recipient of its
    type; kekri by key identifier (every kekri when ``kek_id`` is None); pwri by password.
    Unknown ori types, kari schemes and algorithms are skipped.

    Raises:
        DecryptionFailed: :data:`NO_MATCH` when no recipient fits the credentials,
            :data:`DOES_NOT_OPEN` when the ones that fit did not open (any reason).
        UnsupportedAlgorithm: the only recipient that could be meant uses ML-KEM-512 (or
            another KEM the installed cryptography lacks).
        InvalidInput: a password outside ISO-IR 6.
        PolicyViolation: a PBKDF2 iteration count above :data:`MAX_PBKDF2_ITERATIONS`.
    """
    st = _State(creds, cek_size)
    _one_v15_candidate(recipient_infos, creds)
    for index, der in enumerate(recipient_infos):
        try:
            info = _asn1.RecipientInfo.load(bytes(der))
            kind = info.name
            chosen = info.chosen
        except _ASN1_ERRORS:
            st.skipped.append(f"recipient {index} (unreadable)")
            continue
        try:
            cek = _OPENERS[kind](chosen, st)
        except _Fail:
            continue
        except _ASN1_ERRORS:
            st.skipped.append(f"recipient {index} (malformed {kind})")
            continue
        if cek is not None:
            return cek, index
    if st.attempted:
        raise DecryptionFailed(DOES_NOT_OPEN)
    key = creds.private_key
    classic = (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey, x25519.X25519PrivateKey,
               x448.X448PrivateKey)
    if st.unsupported_kem is not None and not (
            isinstance(key, classic) or _kem_of_key(key, "PrivateKey") is not None):
        raise UnsupportedAlgorithm(
            f"{st.unsupported_kem.name.upper()} is not supported by the installed "
            "cryptography library")
    hint = ("skipped: " + "; ".join(st.skipped)) if st.skipped else None
    raise DecryptionFailed(NO_MATCH, hint=hint)


# ------------------------------------------------------------------------------------------
# describing (no keys)

_SHORT_NAMES = {
    "common_name": "CN", "organization_name": "O", "organizational_unit_name": "OU",
    "country_name": "C", "locality_name": "L", "state_or_province_name": "ST",
    "street_address": "STREET", "domain_component": "DC", "user_id": "UID",
    "email_address": "emailAddress", "serial_number": "serialNumber",
}


def _escape_rdn_value(value: str) -> str:
    out = "".join("\\" + c if c in ',+"\\<>;' else c for c in value)
    if out.startswith(("#", " ")):
        out = "\\" + out
    if out.endswith(" ") and len(out) > 1:
        out = out[:-1] + "\\ "
    return out


def _name_text(name: Any) -> str:
    """RFC 4514 string of an asn1crypto Name (last RDN first, like cryptography's)."""
    rdns = []
    for rdn in name.chosen:
        parts = []
        for attr in rdn:
            type_name = attr["type"].native
            label = _SHORT_NAMES.get(type_name, attr["type"].dotted)
            value = attr["value"].native
            parts.append(f"{label}={_escape_rdn_value(str(value))}")
        rdns.append("+".join(parts))
    return ",".join(reversed(rdns))


def _describe_rid(rid: Any) -> dict[str, object]:
    if rid.name == "issuer_and_serial_number":
        serial = int(rid.chosen["serial_number"].native)
        return {"issuer": _name_text(rid.chosen["issuer"]), "serial": hex(serial)}
    if rid.name == "subject_key_identifier":
        return {"ski": bytes(rid.chosen.native).hex()}
    if rid.name == "r_key_id":
        return {"ski": bytes(rid.chosen["subject_key_identifier"].native).hex()}
    return {"type": str(rid.name)}


def _describe_ktri(ktri: Any) -> dict[str, object]:
    alg_id = ktri["key_encryption_algorithm"]
    oid = alg_id["algorithm"].dotted
    out: dict[str, object] = {"rid": _describe_rid(ktri["rid"]),
                              "key_encryption": _name_of(oid, Kind.KEY_TRANSPORT)}
    if out["key_encryption"] == "rsa-oaep":
        hash_oid, mgf_oid, mgf_hash_oid, label = _oaep_parts(_params(alg_id))
        out["oaep_hash"] = _name_of(hash_oid, Kind.DIGEST)
        out["oaep_mgf"] = _name_of(mgf_oid, Kind.KDF)
        out["oaep_mgf_hash"] = _name_of(mgf_hash_oid, Kind.DIGEST)
        if label:
            out["oaep_label"] = label.hex()
    return out


def _describe_kari(kari: Any) -> dict[str, object]:
    originator = kari["originator"]
    out: dict[str, object] = {}
    if originator.name == "originator_key":
        origin = originator.chosen["algorithm"]
        out["originator"] = {"type": "originator_key",
                             "algorithm": _name_of(origin["algorithm"].dotted,
                                                   Kind.KEY_AGREEMENT)}
    else:
        out["originator"] = {"type": str(originator.name),
                             **_describe_rid(originator)}
    if not isinstance(kari["ukm"], a1core.Void):
        out["ukm"] = bytes(kari["ukm"].native).hex()
    alg_id = kari["key_encryption_algorithm"]
    out["key_agreement"] = _name_of(alg_id["algorithm"].dotted, Kind.KEY_AGREEMENT)
    params = _params(alg_id)
    if params is not None:
        wrap_oid = _asn1.AlgorithmIdentifier.load(params)["algorithm"].dotted
        out["key_wrap"] = _name_of(wrap_oid, Kind.KEY_WRAP)
    out["recipients"] = [{"rid": _describe_rid(rek["rid"])}
                         for rek in kari["recipient_encrypted_keys"]]
    return out


def _describe_kekri(kekri: Any) -> dict[str, object]:
    kekid = kekri["kekid"]
    out: dict[str, object] = {"kek_id": bytes(kekid["key_identifier"].native).hex()}
    if not isinstance(kekid["date"], a1core.Void):
        out["date"] = kekid["date"].native.isoformat()
    out["key_wrap"] = _name_of(kekri["key_encryption_algorithm"]["algorithm"].dotted,
                               Kind.KEY_WRAP)
    return out


def _describe_pwri(pwri: Any) -> dict[str, object]:
    out: dict[str, object] = {}
    kdf_id = pwri["key_derivation_algorithm"]
    if isinstance(kdf_id, a1core.Void):
        out["kdf"] = None
    else:
        out["kdf"] = _name_of(kdf_id["algorithm"].dotted, Kind.KDF)
        if out["kdf"] == "pbkdf2":
            params = _asn1.Pbkdf2Params.load(_params(kdf_id) or b"")
            out["iterations"] = int(params["iteration_count"].native)
            if params["salt"].name == "specified":
                out["salt_length"] = len(params["salt"].chosen.native)
            out["prf"] = _name_of(params["prf"]["algorithm"].dotted, Kind.KDF)
            if params["key_length"].native is not None:
                out["key_length"] = int(params["key_length"].native)
    alg_id = pwri["key_encryption_algorithm"]
    out["key_wrap"] = _name_of(alg_id["algorithm"].dotted, Kind.KEY_WRAP)
    params_der = _params(alg_id)
    if out["key_wrap"] == "pwri-kek" and params_der is not None:
        inner = _asn1.AlgorithmIdentifier.load(params_der)
        out["kek_cipher"] = _name_of(inner["algorithm"].dotted, Kind.CIPHER)
    return out


def _describe_ori(ori: Any) -> dict[str, object]:
    out: dict[str, object] = {"ori_type": ori["ori_type"].dotted}
    kemri = _kemri_parts(ori)
    if kemri is None:
        return out
    out["ori"] = "kem"
    out["version"] = _version(kemri["version"])
    out["rid"] = _describe_rid(kemri["rid"])
    out["kem"] = _name_of(kemri["kem"]["algorithm"].dotted, Kind.KEM)
    out["kdf"] = _name_of(kemri["kdf"]["algorithm"].dotted, Kind.KDF)
    out["kek_length"] = int(kemri["kek_length"].native)
    out["key_wrap"] = _name_of(kemri["wrap"]["algorithm"].dotted, Kind.KEY_WRAP)
    out["ukm"] = not isinstance(kemri["ukm"], a1core.Void)
    return out


_DESCRIBERS: dict[str, Callable[[Any], dict[str, object]]] = {
    "ktri": _describe_ktri,
    "kari": _describe_kari,
    "kekri": _describe_kekri,
    "pwri": _describe_pwri,
    "ori": _describe_ori,
}
_TAG_KIND = {0x30: "ktri", 0xA1: "kari", 0xA2: "kekri", 0xA3: "pwri", 0xA4: "ori"}


def _version(value: Any) -> int | None:
    native = value.native
    if isinstance(native, int):
        return native
    text = str(native)
    return int(text[1:]) if text.startswith("v") and text[1:].isdigit() else None


def describe(recipient_info: bytes) -> dict[str, object]:
    """What a RecipientInfo says, without any key: kind, version, identifier, algorithms.

    Algorithms are given by registry name, unknown ones by dotted OID. A well-formed DER
    element that cannot be decoded as a RecipientInfo is reported, not raised.

    Raises:
        InvalidInput: not one well-formed DER/BER element.
    """
    data = bytes(recipient_info)
    try:
        a1core.load(data, strict=True)
    except _ASN1_ERRORS as exc:
        raise InvalidInput(f"malformed RecipientInfo: {exc}") from None
    kind = _TAG_KIND.get(data[0], "unknown")
    try:
        info = _asn1.RecipientInfo.load(data)
        chosen = info.chosen
        out: dict[str, object] = {"kind": info.name}
        if info.name != "ori":
            out["version"] = _version(chosen["version"])
        out.update(_DESCRIBERS[info.name](chosen))
        return out
    except _ASN1_ERRORS:
        return {"kind": kind, "tag": f"0x{data[0]:02x}", "decoded": False}


# ------------------------------------------------------------------------------------------
# keys


def _pkcs8_kem(data: bytes) -> Algorithm | None:
    """The registry KEM of a PKCS#8 key file (PEM or DER), if it is one."""
    try:
        if a1pem.detect(data):
            _, _, data = a1pem.unarmor(data)
        info = _asn1.PrivateKeyInfo.load(data)
        oid = info["private_key_algorithm"]["algorithm"].dotted
    except _ASN1_ERRORS:
        return None
    return _maybe(oid, Kind.KEM)


def load_private_key_any(path: Path, password: bytes | None = None) -> object:
    """:func:`dicomsec.keys.load_private_key`, which also loads ML-KEM-768/1024 (seed PKCS#8).

    Raises:
        UnsupportedAlgorithm: an ML-KEM key of a level the installed cryptography lacks
            (ML-KEM-512 with cryptography 50).
        InvalidInput: what :func:`~dicomsec.keys.load_private_key` raises.
    """
    from dicomsec.keys import load_private_key

    path = Path(path)
    try:
        return load_private_key(path, password=password)
    except InvalidInput:
        try:
            kem = _pkcs8_kem(path.read_bytes())
        except OSError:
            kem = None
        if kem is not None and _mlkem_class(kem, "PrivateKey") is None:
            raise UnsupportedAlgorithm(
                f"{kem.name.upper()} is not supported by the installed cryptography library",
                path=str(path)) from None
        raise
