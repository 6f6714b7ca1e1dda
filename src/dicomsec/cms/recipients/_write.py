"""Writing RecipientInfos: a :class:`Recipient` turns a content-encryption key (CEK) into the
DER of one RecipientInfo (RFC 5652 §6.2), built with asn1crypto.

- :class:`KeyTransRecipient` (ktri): RSA-OAEP (SHA-256, MGF1-SHA-256, empty label) or, for the
  DICOM Basic profile, RSA PKCS#1 v1.5.
- :class:`KeyAgreeRecipient` (kari): ephemeral-static ECDH (RFC 5753, X9.63 KDF) on P-256/384/521,
  X25519/X448 with HKDF (RFC 8418); AES key wrap.
- :class:`KekRecipient` (kekri): a pre-shared AES key-encryption key.
- :class:`PasswordRecipient` (pwri): PBKDF2-HMAC-SHA256 and the RFC 3211 PWRI-KEK wrap.
- :class:`KemRecipient` (ori, KEMRecipientInfo, RFC 9629): ML-KEM-768/1024 (RFC 9936).

:func:`recipient_for` picks the kind from a certificate or public key file.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from asn1crypto import cms as a1cms
from asn1crypto import core as a1core
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, x448, x25519
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

from dicomsec.algorithms import Kind
from dicomsec.cms import _asn1
from dicomsec.cms._der import encode_tlv
from dicomsec.cms._policy import require_create
from dicomsec.cms.recipients._common import (
    _EC_PROFILE,
    _KEM_KDF,
    _X_PROFILE,
    MIN_PBKDF2_ITERATIONS,
    _aes_wrap,
    _alg,
    _alg_id,
    _hash,
    _issuer_and_serial,
    _kari_kek,
    _public_key_of,
    _pwri_wrap,
    _ski_of_certificate,
    _ski_of_key,
    _wrap_algorithm,
    check_password,
)
from dicomsec.errors import InvalidInput, PolicyViolation, UnsupportedAlgorithm
from dicomsec.keys import kem_of_key, load_certificate_or_public_key

if TYPE_CHECKING:
    from dicomsec.algorithms import Algorithm
    from dicomsec.algorithms.policy import AlgorithmPolicy

__all__ = [
    "KekRecipient",
    "KemRecipient",
    "KeyAgreeRecipient",
    "KeyTransRecipient",
    "PasswordRecipient",
    "Recipient",
    "recipient_for",
]


class Recipient(Protocol):
    """Something that makes one RecipientInfo for a content-encryption key."""

    kind: str
    version: int

    def recipient_info(self, cek: bytes) -> bytes: ...


def _status_waived(alg: Algorithm, policy: AlgorithmPolicy | None) -> AlgorithmPolicy:
    """``policy`` (default: the default policy) with the legacy status of ``alg`` waived
    (made ``allowed``); its dated rules, site rules and key floors still apply."""
    from dicomsec.algorithms import Status
    from dicomsec.algorithms.policy import AlgorithmPolicy

    policy = policy or AlgorithmPolicy.default()
    if policy.status_of(alg) is Status.LEGACY:
        policy = policy.with_status(alg, Status.ALLOWED)
    return policy


class KeyTransRecipient:
    """ktri: RSA key transport to a certificate (or, with ``use_ski``, a bare RSA key).

    OAEP uses SHA-256 and MGF1-SHA-256 with an empty label; ``oaep=False`` gives PKCS#1 v1.5
    (the DICOM Basic profile names it: its legacy *status* is waived, the dated rules and key
    floors still apply). ``policy`` (default: the default policy) decides for this key today:
    RSA keys below 2048 bits raise :class:`PolicyViolation`.
    """

    kind = "ktri"

    def __init__(self, certificate: x509.Certificate | rsa.RSAPublicKey, *, oaep: bool = True,
                 use_ski: bool = False, policy: AlgorithmPolicy | None = None) -> None:
        public_key, cert = _public_key_of(certificate)
        if not isinstance(public_key, rsa.RSAPublicKey):
            raise InvalidInput("key transport (ktri) needs an RSA public key")
        alg = _alg("rsa-oaep" if oaep else "rsa-pkcs1v15-transport", Kind.KEY_TRANSPORT)
        require_create(alg, policy=_status_waived(alg, policy), key=public_key)
        self.public_key = public_key
        self.certificate = cert
        self.oaep = oaep
        self.use_ski = use_ski or cert is None
        self.algorithm = alg
        self.version = 2 if self.use_ski else 0
        self._static: tuple[bytes, padding.AsymmetricPadding] | None = None

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

    def _static_parts(self) -> tuple[bytes, padding.AsymmetricPadding]:
        """The DER of version, rid and keyEncryptionAlgorithm (the same in every
        RecipientInfo of this recipient: built with asn1crypto once) and the padding."""
        if self._static is None:
            alg_id, pad = self._key_encryption()
            if self.use_ski:
                ski = (_ski_of_certificate(self.certificate) if self.certificate is not None
                       else _ski_of_key(self.public_key))
                rid = a1cms.RecipientIdentifier(name="subject_key_identifier", value=ski)
            else:
                assert self.certificate is not None
                rid = a1cms.RecipientIdentifier(name="issuer_and_serial_number",
                                                value=_issuer_and_serial(self.certificate))
            head = (bytes(a1core.Integer(self.version).dump()) + bytes(rid.dump())
                    + bytes(alg_id.dump()))
            self._static = (head, pad)
        return self._static

    def recipient_info(self, cek: bytes) -> bytes:
        """KeyTransRecipientInfo (the untagged ktri choice of RecipientInfo): the cached DER
        of version, rid and algorithm, and the key encrypted now under ``cek``."""
        head, pad = self._static_parts()
        body = head + encode_tlv(0x04, self.public_key.encrypt(cek, pad))
        return encode_tlv(0x30, body)


class KeyAgreeRecipient:
    """kari, ephemeral-static: ECDH P-256/384/521 (X9.63 KDF) or X25519/X448 (HKDF-SHA256).

    ``wrap`` overrides the key-wrap algorithm (a registry name such as ``aes256-wrap``); with
    ``policy`` the dated algorithm policy judges the scheme for this key today.
    """

    kind = "kari"
    version = 3

    def __init__(self, certificate_or_public_key: object, *, wrap: str | None = None,
                 policy: AlgorithmPolicy | None = None) -> None:
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
        require_create(self.scheme, policy=policy, key=public_key)

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
                 kek_cipher: str = "aes256-cbc", policy: AlgorithmPolicy | None = None) -> None:
        self._password = check_password(password)
        if iterations < MIN_PBKDF2_ITERATIONS:
            raise PolicyViolation(
                f"PBKDF2 needs at least {MIN_PBKDF2_ITERATIONS} iterations, not {iterations}")
        cipher = _alg(kek_cipher, Kind.CIPHER)
        if cipher.mode != "cbc":
            raise UnsupportedAlgorithm(
                f"the PWRI KEK cipher must be a CBC cipher, not {cipher.name}")
        require_create(cipher, policy=policy)
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
    certificate's, else SHA-1 of the encapsulation key). With ``policy`` the dated algorithm
    policy judges the KEM today.
    """

    kind = "ori"
    version = 0

    def __init__(self, certificate_or_public_key: object, *,
                 policy: AlgorithmPolicy | None = None) -> None:
        public_key, cert = _public_key_of(certificate_or_public_key)
        kem = kem_of_key(public_key, "PublicKey")
        if kem is None:
            raise InvalidInput("a KEM recipient needs an ML-KEM-768 or ML-KEM-1024 public key")
        if policy is not None:
            require_create(kem, policy=policy, key=public_key)
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
    "ktri": (KeyTransRecipient, frozenset({"oaep", "use_ski", "policy"})),
    "kari": (KeyAgreeRecipient, frozenset({"wrap", "policy"})),
    "ori": (KemRecipient, frozenset({"policy"})),
}

def _kind_of(key: object, path: Path) -> str:
    if isinstance(key, rsa.RSAPublicKey):
        return "ktri"
    if isinstance(key, ec.EllipticCurvePublicKey | x25519.X25519PublicKey | x448.X448PublicKey):
        return "kari"
    if kem_of_key(key, "PublicKey") is not None:
        return "ori"
    raise InvalidInput(f"cannot encrypt to a {type(key).__name__} key", path=str(path))


def recipient_for(path: Path, **opts: Any) -> Recipient:
    """A recipient for a certificate (PEM or DER) or a PEM/DER public key file.

    RSA → :class:`KeyTransRecipient`, EC/X25519/X448 → :class:`KeyAgreeRecipient`, ML-KEM →
    :class:`KemRecipient`. RSA key transport is RSA-OAEP unless ``oaep=False`` is given (the
    choice by DICOM profile is made by :func:`dicomsec.securefile.recipient_for`: CMS knows
    nothing of DICOM). An option given as ``None`` counts as not given; ``policy`` (an
    :class:`~dicomsec.algorithms.policy.AlgorithmPolicy`) goes to every kind.

    Raises:
        InvalidInput: unreadable file, neither certificate nor public key, another key type,
            or an option that does not apply to that kind of recipient.
    """
    path = Path(path)
    subject = load_certificate_or_public_key(path, "recipient")
    key = subject.public_key() if isinstance(subject, x509.Certificate) else subject
    kind = _kind_of(key, path)
    opts = {name: value for name, value in opts.items() if value is not None}
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
