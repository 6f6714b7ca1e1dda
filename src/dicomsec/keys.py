"""Load and generate keys and certificates.

Private keys: PEM or DER (PKCS#8, traditional), or PKCS#12; encrypted keys take a password from
a file, the ``DICOMSEC_KEY_PASSWORD`` environment variable, or a prompt — never from argv.
Certificates: PEM (one or many) or DER.

:class:`FileSigningKey` is the only object that holds a private key for signing (the
:class:`SigningKey` protocol is the edge for other key stores, e.g. PKCS#11).
"""

from __future__ import annotations

import datetime as _dt
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from dicomsec import algorithms
from dicomsec.errors import InvalidInput, UnsupportedAlgorithm

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric.types import (
        CertificateIssuerPrivateKeyTypes,
        PrivateKeyTypes,
    )

    from dicomsec._x509sign import DigestSigner
    from dicomsec.algorithms.policy import AlgorithmPolicy, Decision

__all__ = [
    "PASSWORD_ENV",
    "CertifiedKey",
    "FileSigningKey",
    "KeyScheme",
    "SigningKey",
    "certificate_request",
    "check_issuer",
    "check_key_creation",
    "generate_private_key",
    "issue_certificate",
    "kem_of_key",
    "key_scheme_names",
    "load_certificate",
    "load_certificate_or_public_key",
    "load_certificates",
    "load_private_key",
    "load_private_key_any",
    "mlkem_class",
    "parse_key_scheme",
    "read_password",
    "recipient_only",
    "write_private_key",
]

PASSWORD_ENV = "DICOMSEC_KEY_PASSWORD"  # noqa: S105 - the name of a variable, not a secret


def read_password(
    password_file: Path | None = None,
    *,
    prompt: Callable[[], str] | None = None,
) -> bytes | None:
    """A key password from a file (first line), ``DICOMSEC_KEY_PASSWORD``, or ``prompt``.

    Returns ``None`` when no source gives one.
    """
    if password_file is not None:
        try:
            text = Path(password_file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidInput(f"cannot read password file: {exc}",
                               path=str(password_file)) from exc
        return text.splitlines()[0].encode() if text else b""
    env = os.environ.get(PASSWORD_ENV)
    if env is not None:
        return env.encode()
    if prompt is not None:
        return prompt().encode()
    return None


def _read(path: Path, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise InvalidInput(f"cannot read {what}: {exc.strerror or exc}", path=str(path)) from exc


def load_private_key(
    path: Path,
    *,
    password: bytes | None = None,
    password_callback: Callable[[], bytes | None] | None = None,
) -> PrivateKeyTypes:
    """Load a private key from PEM, DER or PKCS#12.

    ``password_callback`` is called only when the key turns out to be encrypted and no
    ``password`` was given.

    Raises:
        InvalidInput: unreadable file, not a key, wrong or missing password (the message never
            contains the password).
    """
    from cryptography.hazmat.primitives.serialization import (
        load_der_private_key,
        load_pem_private_key,
    )

    data = _read(path, "private key")
    encrypted = b"ENCRYPTED" in data[:200] or path.suffix.lower() in (".p12", ".pfx")
    asked = False
    if password is None and encrypted and password_callback is not None:
        password = password_callback()
        asked = True

    def attempt(pw: bytes | None) -> PrivateKeyTypes:
        if b"-----BEGIN" in data:
            return load_pem_private_key(data, pw)
        try:
            return load_der_private_key(data, pw)
        except ValueError:
            from cryptography.hazmat.primitives.serialization import pkcs12

            p12 = pkcs12.load_pkcs12(data, pw)
            if p12.key is None:
                raise ValueError("no private key in PKCS#12") from None
            return p12.key

    try:
        return attempt(password)
    except TypeError as exc:
        # encrypted but no password given, or a password given for a plain key
        ask = password is None and password_callback is not None and not asked
        pw = password_callback() if ask and password_callback is not None else None
        if pw is not None:
            try:
                return attempt(pw)
            except (ValueError, TypeError):
                pass
            raise InvalidInput("wrong password for the private key", path=str(path)) from None
        if password is None:
            raise InvalidInput(
                "the private key is encrypted and no password was given",
                path=str(path),
                hint=f"use --key-password-file or set {PASSWORD_ENV}",
            ) from None
        raise InvalidInput(f"cannot load private key: {exc}", path=str(path)) from None
    except ValueError:
        if password is not None:
            raise InvalidInput(
                "cannot load private key (wrong password, or not a key)", path=str(path)
            ) from None
        raise InvalidInput("not a readable private key", path=str(path)) from None
    except Exception as exc:  # the backend raises a few other types for garbage
        raise InvalidInput(f"not a readable private key ({type(exc).__name__})",
                           path=str(path)) from None


def mlkem_class(kem: algorithms.Algorithm, which: str) -> Any:
    """cryptography's ML-KEM class (``which``: ``"PrivateKey"`` or ``"PublicKey"``) for a
    registry KEM ``ml-kem-NNN``; ``None`` when the installed library lacks that level."""
    from cryptography.hazmat.primitives.asymmetric import mlkem

    level = kem.name.rsplit("-", 1)[1]
    return getattr(mlkem, f"MLKEM{level}{which}", None)


def kem_of_key(key: object, which: str) -> algorithms.Algorithm | None:
    """The registry KEM of an ML-KEM key object (``which`` as for :func:`mlkem_class`)."""
    for kem in algorithms.all_algorithms():
        if kem.kind is algorithms.Kind.KEM:
            cls = mlkem_class(kem, which)
            if cls is not None and isinstance(key, cls):
                return kem
    return None


def _pkcs8_kem(data: bytes) -> algorithms.Algorithm | None:
    """The registry KEM of a PKCS#8 key file (PEM or DER), if it is one."""
    from asn1crypto import core as a1core
    from asn1crypto import pem as a1pem

    try:
        if a1pem.detect(data):
            _, _, data = a1pem.unarmor(data)
        # OneAsymmetricKey (RFC 5958): version, privateKeyAlgorithm {algorithm, ...}, ...
        oid = a1core.load(data)[1][0].dotted
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError):
        return None
    try:
        return algorithms.by_oid(oid, algorithms.Kind.KEM)
    except UnsupportedAlgorithm:
        return None


def load_private_key_any(path: Path, password: bytes | None = None) -> object:
    """:func:`load_private_key`, saying so when an ML-KEM key file is of a level the installed
    cryptography lacks (ML-KEM-768/1024 seed PKCS#8 load like any other key).

    Raises:
        UnsupportedAlgorithm: an ML-KEM key of a level the installed cryptography lacks
            (ML-KEM-512 with cryptography 50).
        InvalidInput: what :func:`load_private_key` raises.
    """
    path = Path(path)
    try:
        return load_private_key(path, password=password)
    except InvalidInput:
        try:
            kem = _pkcs8_kem(path.read_bytes())
        except OSError:
            kem = None
        if kem is not None and mlkem_class(kem, "PrivateKey") is None:
            raise UnsupportedAlgorithm(
                f"{kem.name.upper()} is not supported by the installed cryptography library",
                path=str(path)) from None
        raise


def load_certificates(path: Path) -> list[x509.Certificate]:
    """All certificates of a PEM file (one or many) or a DER file."""
    from cryptography import x509

    data = _read(path, "certificate")
    try:
        if b"-----BEGIN" in data:
            certs = x509.load_pem_x509_certificates(data)
        else:
            certs = [x509.load_der_x509_certificate(data)]
    except ValueError as exc:
        raise InvalidInput(f"not a readable X.509 certificate ({exc})", path=str(path)) from None
    if not certs:
        raise InvalidInput("no certificate in file", path=str(path))
    return certs


def load_certificate(path: Path) -> x509.Certificate:
    """The first certificate of a PEM or DER file."""
    return load_certificates(path)[0]


def load_certificate_or_public_key(path: Path, what: str = "recipient") -> object:
    """The certificate (PEM or DER) or else the public key (PEM or DER SubjectPublicKeyInfo)
    of a file, e.g. a recipient of a Secure DICOM File (``what`` names it in messages).

    Raises:
        InvalidInput: unreadable file, or neither a certificate nor a public key.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InvalidInput(f"cannot read {what}: {exc.strerror or exc}",
                           path=str(path)) from exc
    try:
        if b"-----BEGIN CERTIFICATE" in data:
            return x509.load_pem_x509_certificate(data)
        if b"-----BEGIN" in data:
            return serialization.load_pem_public_key(data)
        try:
            return x509.load_der_x509_certificate(data)
        except ValueError:
            return serialization.load_der_public_key(data)
    except Exception as exc:  # cryptography raises several types for garbage
        raise InvalidInput(f"not a certificate or public key ({type(exc).__name__})",
                           path=str(path)) from None


def _public_der(key: object) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.public_bytes(  # type: ignore[attr-defined,no-any-return]
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


class SigningKey(Protocol):
    """The only thing that touches a private key when signing."""

    @property
    def certificate(self) -> x509.Certificate: ...
    @property
    def scheme(self) -> algorithms.Algorithm: ...
    def sign_digest(
        self, digest: bytes, digest_alg: algorithms.Algorithm, *, deterministic: bool = False
    ) -> bytes: ...


class CertifiedKey:
    """What a signing key paired with its certificate tells of itself: the signature scheme
    and the key size, both read from the certificate (file keys and token keys alike)."""

    __slots__ = ()
    certificate: x509.Certificate
    rsa_pss: bool

    @property
    def scheme(self) -> algorithms.Algorithm:
        return algorithms.signature_scheme_for_key(
            self.certificate.public_key(), rsa_pss=self.rsa_pss
        )

    @property
    def bits(self) -> int | None:
        return algorithms.key_bits(self.certificate.public_key())


@dataclass(frozen=True)
class FileSigningKey(CertifiedKey):
    """A private key loaded from a file, paired with its certificate."""

    key: PrivateKeyTypes = field(repr=False)
    certificate: x509.Certificate
    rsa_pss: bool = False

    def __post_init__(self) -> None:
        if _public_der(self.key.public_key()) != _public_der(self.certificate.public_key()):
            raise InvalidInput("the private key does not match the certificate")

    def __repr__(self) -> str:
        return f"FileSigningKey(scheme={self.scheme.name}, key=<redacted>)"

    def sign_digest(
        self, digest: bytes, digest_alg: algorithms.Algorithm, *, deterministic: bool = False
    ) -> bytes:
        """Sign a MAC digest with the key (see docs/signatures.md for each family's rule)."""
        from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils

        key = self.key
        fam = self.scheme.family
        if fam is algorithms.Family.RSA:
            assert isinstance(key, rsa.RSAPrivateKey)
            prehashed = utils.Prehashed(digest_alg.crypto_hash())
            pad: padding.AsymmetricPadding
            if self.rsa_pss:
                pad = padding.PSS(padding.MGF1(digest_alg.crypto_hash()), digest_alg.digest_size)
            else:
                pad = padding.PKCS1v15()
            return key.sign(digest, pad, prehashed)
        if fam is algorithms.Family.EC:
            assert isinstance(key, ec.EllipticCurvePrivateKey)
            # Prehashed needs a hash object whose size equals the digest's; ECDSA truncates.
            return key.sign(
                digest,
                ec.ECDSA(utils.Prehashed(digest_alg.crypto_hash()),
                         deterministic_signing=deterministic),
            )
        # EdDSA and ML-DSA: the message is the MAC digest (decision recorded in the docs).
        return key.sign(digest)  # type: ignore[union-attr,call-arg]


#: the RSA modulus of a bare ``rsa`` key scheme
DEFAULT_RSA_BITS = 3072
#: the largest RSA modulus :func:`generate_private_key` makes (larger ones take minutes)
MAX_RSA_BITS = 16384
#: the longest certificate validity :func:`issue_certificate` gives, in days (100 years)
MAX_CERT_DAYS = 36500
#: the named key schemes besides ``rsa<bits>``: signature schemes of the registry, then the
#: recipient-only ones (key agreement, KEM)
_SIGNERS = ("ecdsa-p224", "ecdsa-p256", "ecdsa-p384", "ecdsa-p521", "ed25519", "ed448",
            "ml-dsa-44", "ml-dsa-65", "ml-dsa-87")
_RECEIVERS = ("x25519", "x448", "ml-kem-512", "ml-kem-768", "ml-kem-1024")
_RSA_NAME = re.compile(r"rsa([0-9]{1,9})?")


@dataclass(frozen=True, slots=True)
class KeyScheme:
    """A kind of key :func:`generate_private_key` makes, read by :func:`parse_key_scheme`."""

    #: canonical name: ``rsa3072``, ``ecdsa-p256``, ``ed25519``, ``x25519``, ``ml-kem-768``...
    name: str
    #: the registry scheme the key serves, which the algorithm policy judges: its signature
    #: scheme (RSA: ``rsa-pkcs1v15``), the X25519/X448 key agreement, or the KEM
    algorithm: algorithms.Algorithm
    #: the RSA modulus size; None for the other schemes (their size follows from the name)
    bits: int | None = None

    @property
    def recipient_only(self) -> bool:
        """Whether the key can only receive encrypted files (X25519, X448, ML-KEM)."""
        return self.name in _RECEIVERS


def key_scheme_names() -> tuple[str, ...]:
    """The scheme names :func:`parse_key_scheme` accepts (``rsa<bits>`` stands for any size)."""
    return ("rsa2048", "rsa3072", "rsa4096", *_SIGNERS, *_RECEIVERS)


def parse_key_scheme(scheme: str) -> KeyScheme:
    """Read a key scheme name strictly (case-insensitive): ``rsa`` (3072 bits) or
    ``rsa<bits>`` (1 to 16384 bits; the policy refuses below 2048), or one of
    :func:`key_scheme_names`. Nothing is guessed: ``rsafoo`` is not an RSA key.

    Raises:
        UnsupportedAlgorithm: an unknown name (the message lists the known ones).
    """
    name = scheme.strip().lower()
    rsa_name = _RSA_NAME.fullmatch(name)
    if rsa_name is not None:
        bits = int(rsa_name.group(1) or DEFAULT_RSA_BITS)
        if 1 <= bits <= MAX_RSA_BITS:
            return KeyScheme(f"rsa{bits}", algorithms.by_name(
                "rsa-pkcs1v15", algorithms.Kind.SIGNATURE), bits)
        raise UnsupportedAlgorithm(f"RSA keys of {bits} bits are not made here (1 to "
                                   f"{MAX_RSA_BITS}; the policy refuses below 2048)")
    if name in ("x25519", "x448"):
        return KeyScheme(name, algorithms.by_name("ecdh-hkdf-sha256",
                                                  algorithms.Kind.KEY_AGREEMENT))
    if name in _RECEIVERS:
        return KeyScheme(name, algorithms.by_name(name, algorithms.Kind.KEM))
    if name in _SIGNERS:
        return KeyScheme(name, algorithms.by_name(name, algorithms.Kind.SIGNATURE))
    raise UnsupportedAlgorithm(f"unknown key algorithm {scheme!r} (known: "
                               f"{', '.join(key_scheme_names())}; rsa<bits> for another size)")


def recipient_only(scheme: str) -> bool:
    """Whether keys of ``scheme`` (a :func:`generate_private_key` name) can only receive
    encrypted files (X25519, X448, ML-KEM): they cannot sign, not even their own certificate.

    Raises:
        UnsupportedAlgorithm: an unknown scheme name.
    """
    return parse_key_scheme(scheme).recipient_only


def _receives_only(public_key: object) -> bool:
    """Whether a public key can only receive (key agreement or KEM), never sign."""
    from cryptography.hazmat.primitives.asymmetric import x448, x25519

    if isinstance(public_key, x25519.X25519PublicKey | x448.X448PublicKey):
        return True
    return kem_of_key(public_key, "PublicKey") is not None


def check_key_creation(scheme: str | KeyScheme, key: PrivateKeyTypes | None = None, *,
                       policy: AlgorithmPolicy | None = None,
                       at: _dt.datetime | _dt.date | None = None) -> Decision:
    """The creation check of a new key: ``policy`` (default: the default policy) must allow
    the scheme the key serves for creation on the day ``at`` (default: now), with ``key``, or
    before the key is made (``key=None``) with the scheme's RSA size.

    Raises:
        UnsupportedAlgorithm: an unknown scheme name.
        PolicyViolation: refused (a key below the floor, a date, a site rule; the message
            names the policy).
    """
    from dicomsec.algorithms.policy import AlgorithmPolicy, Purpose

    parsed = scheme if isinstance(scheme, KeyScheme) else parse_key_scheme(scheme)
    judge = policy or AlgorithmPolicy.default()
    size = key.public_key() if key is not None else parsed.bits
    return judge.require(parsed.algorithm, size, Purpose.CREATE, at)


def generate_private_key(scheme: str | KeyScheme, *, policy: AlgorithmPolicy | None = None,
                         at: _dt.datetime | _dt.date | None = None) -> PrivateKeyTypes:
    """A new private key for a scheme (:func:`parse_key_scheme`), checked by
    :func:`check_key_creation` before it is made (and again with the key).

    Signature schemes (``ecdsa-p256``, ``ed25519``, ``ml-dsa-65``…), RSA (``rsa``: 3072 bits;
    ``rsa2048``/``rsa3072``/``rsa4096``… pick a size), and recipient keys for Secure DICOM
    Files (``x25519``, ``x448``, ``ml-kem-768``, ``ml-kem-1024``). An RSA size below 2048 is
    refused by the policy (``PolicyViolation``) before cryptography is asked, even below the
    1024 bits cryptography can make at all.

    Raises:
        UnsupportedAlgorithm: an unknown scheme (an :class:`InvalidInput`).
        InvalidInput: a scheme the installed cryptography lacks.
        PolicyViolation: ``policy`` (default: the default policy) refuses it on the day ``at``.
    """
    parsed = scheme if isinstance(scheme, KeyScheme) else parse_key_scheme(scheme)
    check_key_creation(parsed, policy=policy, at=at)
    key = _new_private_key(parsed)
    check_key_creation(parsed, key, policy=policy, at=at)
    return key


def _new_private_key(scheme: KeyScheme) -> PrivateKeyTypes:
    """A new private key for a parsed scheme, unchecked."""
    from cryptography.hazmat.primitives.asymmetric import (
        ec,
        ed448,
        ed25519,
        mldsa,
        rsa,
        x448,
        x25519,
    )

    name, alg = scheme.name, scheme.algorithm
    if scheme.bits is not None:
        try:
            return rsa.generate_private_key(public_exponent=65537, key_size=scheme.bits)
        except ValueError as exc:
            raise InvalidInput(f"cannot make an RSA key of {scheme.bits} bits: {exc}") from None
    if name in ("x25519", "x448"):
        return x25519.X25519PrivateKey.generate() if name == "x25519" else (
            x448.X448PrivateKey.generate())
    if alg.kind is algorithms.Kind.KEM:
        cls = mlkem_class(alg, "PrivateKey")
        if cls is None:
            raise InvalidInput(f"{alg.name} is not supported by the installed cryptography")
        return cls.generate()  # type: ignore[no-any-return]
    if alg.family is algorithms.Family.EC:
        curves: dict[str, ec.EllipticCurve] = {
            "secp224r1": ec.SECP224R1(), "secp256r1": ec.SECP256R1(),
            "secp384r1": ec.SECP384R1(), "secp521r1": ec.SECP521R1(),
        }
        return ec.generate_private_key(curves[alg.curve or ""])
    if alg.name == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    if alg.name == "ed448":
        return ed448.Ed448PrivateKey.generate()
    if alg.family is algorithms.Family.MLDSA:
        cls = getattr(mldsa, "MLDSA" + alg.name.rsplit("-", 1)[1] + "PrivateKey", None)
        if cls is None:
            raise InvalidInput(f"{alg.name} is not supported by the installed cryptography")
        return cls.generate()  # type: ignore[no-any-return]
    raise InvalidInput(f"cannot generate a key for {scheme.name}")


def check_issuer(issuer_key: PrivateKeyTypes, issuer_cert: x509.Certificate, *,
                 at: _dt.datetime | None = None) -> None:
    """Check that a CA key belongs to the CA certificate it issues under.

    Whether the certificate may issue at ``at`` (a CA: basicConstraints cA, keyCertSign when
    keyUsage is present; valid at ``at``) is judged by the one certificate validator,
    :func:`dicomsec.trust.check_for_use` with ``KeyPurpose.ISSUING`` (a layer above this one):
    call it first, as ``keys generate --ca-cert`` does. ``at`` is kept for callers of the
    former signature and is not used.

    Raises:
        InvalidInput: the key does not belong to the certificate (one line).
    """
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    del at

    def spki(key: object) -> bytes:
        return key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)  # type: ignore[attr-defined,no-any-return]

    if spki(issuer_key.public_key()) != spki(issuer_cert.public_key()):
        raise InvalidInput("the CA key does not belong to the CA certificate")


def issue_certificate(
    subject_key: PrivateKeyTypes | DigestSigner,
    common_name: str,
    *,
    issuer_key: CertificateIssuerPrivateKeyTypes | DigestSigner | None = None,
    issuer_cert: x509.Certificate | None = None,
    ca: bool = False,
    days: int = 3650,
    not_before: _dt.datetime | None = None,
    organization: str = "dicomsec",
    extra_key_usage: Iterable[x509.ObjectIdentifier] = (),
    encryption: bool | None = None,
    subject: x509.Name | None = None,
) -> x509.Certificate:
    """Issue a certificate (self-signed when no issuer is given).

    Either key may be held in a token (a :class:`dicomsec._x509sign.DigestSigner`, e.g.
    :class:`dicomsec._pkcs11.TokenKey`: signed there by :mod:`dicomsec._x509sign`).
    ``subject`` replaces the name ``O=organization, CN=common_name``.

    Signer certificates get keyUsage digitalSignature + nonRepudiation (critical), as the
    DICOM signature profiles expect; CA certificates keyCertSign + cRLSign; with ``encryption``
    (recipients of Secure DICOM Files) keyEncipherment for RSA and ML-KEM keys, keyAgreement
    for EC, X25519 and X448 keys. ``encryption=None`` (the default) decides from the key: keys
    that can only receive (X25519, X448, ML-KEM, see :func:`recipient_only`) get a recipient
    certificate, all others a signer certificate.

    Raises:
        InvalidInput: ``days`` outside 1 to :data:`MAX_CERT_DAYS`; an empty common name, or
            one longer than 64 characters.
    """
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    if not 1 <= days <= MAX_CERT_DAYS:
        raise InvalidInput(f"certificate validity must be 1 to {MAX_CERT_DAYS} days, not {days}")
    if not common_name.strip():
        raise InvalidInput("the certificate's common name must not be empty")
    try:
        name = subject or x509.Name([
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ])
    except ValueError as exc:  # longer than 64 characters, not encodable
        raise InvalidInput(f"bad certificate name: {exc}") from None
    signer_key: Any = issuer_key or subject_key
    issuer_name = issuer_cert.subject if issuer_cert is not None else name
    start = not_before or (_dt.datetime.now(_dt.UTC) - _dt.timedelta(minutes=5))
    pub: Any = subject_key.public_key()
    if encryption is None:
        encryption = _receives_only(pub)
    agreement = _agrees(pub)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer_name)
        .public_key(pub)
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + _dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=not (ca or encryption), content_commitment=not (ca or encryption),
            key_encipherment=encryption and not agreement, data_encipherment=False,
            key_agreement=encryption and agreement, key_cert_sign=ca, crl_sign=ca,
            encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(pub), critical=False)
    )
    if issuer_cert is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_cert.public_key()),  # type: ignore[arg-type]
            critical=False,
        )
    eku = list(extra_key_usage)
    if eku:
        builder = builder.add_extension(x509.ExtendedKeyUsage(eku), critical=True)
    from dicomsec import _x509sign

    return _x509sign.sign_certificate(builder, signer_key, _x509_hash(signer_key))


def _agrees(public: object) -> bool:
    """Whether a public key is used by key agreement (EC, X25519, X448) when it receives."""
    from cryptography.hazmat.primitives.asymmetric import ec, x448, x25519

    return isinstance(public, ec.EllipticCurvePublicKey | x25519.X25519PublicKey
                      | x448.X448PublicKey)


def _x509_hash(signer: object) -> Any:
    """SHA-256 for an RSA or ECDSA signer of X.509 objects; ``None`` (EdDSA, ML-DSA hash
    internally)."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    from dicomsec import _x509sign

    classic = isinstance(_x509sign.public_key_of(signer),
                         rsa.RSAPublicKey | ec.EllipticCurvePublicKey)
    return hashes.SHA256() if classic else None


def certificate_request(key: PrivateKeyTypes | DigestSigner,
                        subject: x509.Name) -> x509.CertificateSigningRequest:
    """A PKCS#10 certificate request for ``key`` (in memory or in a token), signed by it
    (SHA-256 for RSA and ECDSA; EdDSA signs the request itself).

    Raises:
        UnsupportedAlgorithm: a key that cannot sign (X25519, ML-KEM...).
    """
    from cryptography import x509 as _x509

    from dicomsec import _x509sign

    builder = _x509.CertificateSigningRequestBuilder().subject_name(subject)
    return _x509sign.sign_csr(builder, key, _x509_hash(key))


def write_private_key(key: PrivateKeyTypes, path: Path, *, password: bytes | None = None) -> None:
    """Write a private key as PKCS#8 PEM (encrypted when a password is given), mode 0600."""
    from cryptography.hazmat.primitives import serialization

    from dicomsec._atomic import atomic_write_bytes

    enc: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password) if password
        else serialization.NoEncryption()
    )
    data = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, enc)
    atomic_write_bytes(path, data, mode=0o600)
