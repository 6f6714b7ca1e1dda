"""The one algorithm registry of dicomsec.

Every digest and signature scheme dicomsec knows lives here, with its OIDs, its DICOM defined
term, its status and its minimum key size. No other module keeps a table of algorithm names:
look them up with :func:`by_name`, :func:`by_oid`, :func:`by_dicom_term` or
:func:`signature_scheme_for_key`. Unknown input raises
:class:`~dicomsec.errors.UnsupportedAlgorithm`.

Status:

- ``RECOMMENDED``: used by default for new objects.
- ``ALLOWED``: may be used for new objects.
- ``EXPERIMENTAL``: may be used for new objects, but no standard or peer defines it yet.
- ``LEGACY``: accepted when verifying (reported as legacy); creating needs ``allow_legacy``.
- ``FORBIDDEN``: never used.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from dicomsec.errors import PolicyViolation, UnsupportedAlgorithm

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

__all__ = [
    "Algorithm",
    "Hasher",
    "Kind",
    "Status",
    "all_algorithms",
    "by_dicom_term",
    "by_name",
    "by_oid",
    "check_create",
    "digest_algorithms",
    "new_hasher",
    "signature_scheme_for_key",
]


class Kind(enum.Enum):
    DIGEST = "digest"
    SIGNATURE = "signature"


class Status(enum.Enum):
    RECOMMENDED = "recommended"
    ALLOWED = "allowed"
    EXPERIMENTAL = "experimental"
    LEGACY = "legacy"
    FORBIDDEN = "forbidden"


class Family(enum.Enum):
    """Key family of a signature scheme (what the certificate's public key must be)."""

    NONE = "none"
    RSA = "rsa"
    EC = "ec"
    EDDSA = "eddsa"
    MLDSA = "ml-dsa"


@dataclass(frozen=True, slots=True)
class Algorithm:
    """One entry of the registry."""

    name: str
    kind: Kind
    oid: str
    alt_oids: tuple[str, ...] = ()
    dicom_term: str | None = None
    status: Status = Status.ALLOWED
    min_key_bits: int | None = None
    family: Family = Family.NONE
    #: digest size in bytes (digests), curve or parameter name (signatures)
    digest_size: int = 0
    curve: str | None = None
    #: whether DCMTK dcmsign 3.6.7 can verify signatures of this scheme
    dcmtk_interop: bool = False
    #: fixed signature length in bytes (EdDSA, ML-DSA); DICOM pads odd ones with one 0x00
    signature_size: int = 0
    #: DER DigestInfo prefix (RFC 8017 9.2), for digests without a crypto-library hash class
    digest_info_prefix: bytes = b""

    @property
    def legacy(self) -> bool:
        return self.status is Status.LEGACY

    @property
    def hashlib_name(self) -> str:
        """Name for :func:`hashlib.new` (digests only)."""
        return self.name.replace("-", "_") if self.name.startswith("sha3") else self.name

    def crypto_hash(self) -> Any:
        """A ``cryptography`` hash instance for this digest.

        Raises:
            UnsupportedAlgorithm: the digest has no ``cryptography`` class (RIPEMD-160).
        """
        from cryptography.hazmat.primitives import hashes

        factories: dict[str, Callable[[], Any]] = {
            "md5": hashes.MD5,
            "sha1": hashes.SHA1,
            "sha224": hashes.SHA224,
            "sha256": hashes.SHA256,
            "sha384": hashes.SHA384,
            "sha512": hashes.SHA512,
            "sha3-256": hashes.SHA3_256,
            "sha3-384": hashes.SHA3_384,
            "sha3-512": hashes.SHA3_512,
        }
        if self.kind is not Kind.DIGEST or self.name not in factories:
            raise UnsupportedAlgorithm(f"{self.name} has no hash object in the crypto library")
        return factories[self.name]()


class Hasher(Protocol):
    """What :func:`new_hasher` returns (a :mod:`hashlib` object)."""

    def update(self, data: bytes | memoryview, /) -> None: ...
    def digest(self) -> bytes: ...


_D = Kind.DIGEST
_S = Kind.SIGNATURE

_REGISTRY: tuple[Algorithm, ...] = (
    # Digests. dicom_term = MAC Algorithm (0400,0015) defined term.
    Algorithm("sha256", _D, "2.16.840.1.101.3.4.2.1", dicom_term="SHA256",
              status=Status.RECOMMENDED, digest_size=32, dcmtk_interop=True),
    Algorithm("sha384", _D, "2.16.840.1.101.3.4.2.2", dicom_term="SHA384",
              digest_size=48, dcmtk_interop=True),
    Algorithm("sha512", _D, "2.16.840.1.101.3.4.2.3", dicom_term="SHA512",
              digest_size=64, dcmtk_interop=True),
    Algorithm("sha224", _D, "2.16.840.1.101.3.4.2.4", digest_size=28),
    Algorithm("sha3-256", _D, "2.16.840.1.101.3.4.2.8", digest_size=32),
    Algorithm("sha3-384", _D, "2.16.840.1.101.3.4.2.9", digest_size=48),
    Algorithm("sha3-512", _D, "2.16.840.1.101.3.4.2.10", digest_size=64),
    Algorithm("sha1", _D, "1.3.14.3.2.26", dicom_term="SHA1", status=Status.LEGACY,
              digest_size=20, dcmtk_interop=True),
    Algorithm("ripemd160", _D, "1.3.36.3.2.1", dicom_term="RIPEMD160", status=Status.LEGACY,
              digest_size=20, dcmtk_interop=True,
              digest_info_prefix=bytes.fromhex("3021300906052b2403020105000414")),
    Algorithm("md5", _D, "1.2.840.113549.2.5", dicom_term="MD5", status=Status.LEGACY,
              digest_size=16, dcmtk_interop=True),
    # Signature schemes. DICOM carries no identifier: the scheme follows from the public key
    # of the Certificate of Signer (PS3.15 C.1); the OID is the key's algorithm identifier.
    Algorithm("rsa-pkcs1v15", _S, "1.2.840.113549.1.1.1", status=Status.ALLOWED,
              min_key_bits=2048, family=Family.RSA, dcmtk_interop=True),
    Algorithm("rsa-pss", _S, "1.2.840.113549.1.1.10", status=Status.ALLOWED,
              min_key_bits=2048, family=Family.RSA),
    Algorithm("ecdsa-p224", _S, "1.3.132.0.33", status=Status.ALLOWED, min_key_bits=224,
              family=Family.EC, curve="secp224r1", dcmtk_interop=True),
    Algorithm("ecdsa-p256", _S, "1.2.840.10045.3.1.7", status=Status.RECOMMENDED,
              min_key_bits=256, family=Family.EC, curve="secp256r1", dcmtk_interop=True),
    Algorithm("ecdsa-p384", _S, "1.3.132.0.34", status=Status.ALLOWED, min_key_bits=384,
              family=Family.EC, curve="secp384r1", dcmtk_interop=True),
    # dcmsign 3.6.7 cannot verify its own odd-length P-521 values (pad rule), see docs.
    Algorithm("ecdsa-p521", _S, "1.3.132.0.35", status=Status.ALLOWED, min_key_bits=521,
              family=Family.EC, curve="secp521r1"),
    Algorithm("ed25519", _S, "1.3.101.112", status=Status.ALLOWED, family=Family.EDDSA,
              signature_size=64),
    Algorithm("ed448", _S, "1.3.101.113", status=Status.ALLOWED, family=Family.EDDSA,
              signature_size=114),
    Algorithm("ml-dsa-44", _S, "2.16.840.1.101.3.4.3.17", status=Status.EXPERIMENTAL,
              family=Family.MLDSA, signature_size=2420),
    Algorithm("ml-dsa-65", _S, "2.16.840.1.101.3.4.3.18", status=Status.EXPERIMENTAL,
              family=Family.MLDSA, signature_size=3309),
    Algorithm("ml-dsa-87", _S, "2.16.840.1.101.3.4.3.19", status=Status.EXPERIMENTAL,
              family=Family.MLDSA, signature_size=4627),
)

_BY_NAME = {a.name: a for a in _REGISTRY}
_BY_OID: dict[tuple[Kind, str], Algorithm] = {}
for _a in _REGISTRY:
    for _o in (_a.oid, *_a.alt_oids):
        _BY_OID.setdefault((_a.kind, _o), _a)
_BY_TERM = {a.dicom_term: a for a in _REGISTRY if a.dicom_term}


def all_algorithms() -> tuple[Algorithm, ...]:
    return _REGISTRY


def digest_algorithms(*, dicom_only: bool = False) -> tuple[Algorithm, ...]:
    return tuple(
        a for a in _REGISTRY if a.kind is Kind.DIGEST and (a.dicom_term or not dicom_only)
    )


def by_name(name: str, kind: Kind | None = None) -> Algorithm:
    """Look an algorithm up by its dicomsec name (case-insensitive; ``SHA256`` works too)."""
    key = name.strip().lower()
    alg = _BY_NAME.get(key)
    if alg is None and kind in (None, Kind.DIGEST):
        alg = _BY_TERM.get(name.strip().upper())
    if alg is None or (kind is not None and alg.kind is not kind):
        raise UnsupportedAlgorithm(f"unknown algorithm {name!r}")
    return alg


def by_oid(oid: str, kind: Kind) -> Algorithm:
    try:
        return _BY_OID[(kind, oid)]
    except KeyError:
        raise UnsupportedAlgorithm(f"unknown {kind.value} algorithm OID {oid}") from None


def by_dicom_term(term: str) -> Algorithm:
    """Look up a MAC Algorithm (0400,0015) defined term such as ``SHA256``."""
    try:
        return _BY_TERM[term.strip()]
    except KeyError:
        raise UnsupportedAlgorithm(f"unknown MAC Algorithm {term.strip()!r}") from None


def new_hasher(alg: Algorithm) -> Hasher:
    """A streaming hash object for a digest algorithm.

    Raises:
        UnsupportedAlgorithm: the local OpenSSL build lacks the digest (RIPEMD-160 lives in
            OpenSSL's legacy provider on some systems).
    """
    if alg.kind is not Kind.DIGEST:
        raise UnsupportedAlgorithm(f"{alg.name} is not a digest")
    try:
        return hashlib.new(alg.hashlib_name)
    except ValueError:
        raise UnsupportedAlgorithm(
            f"legacy digest {alg.name} is not available in this OpenSSL build"
        ) from None


def key_bits(key: PublicKeyTypes) -> int | None:
    """Key size in bits for RSA and EC keys; ``None`` for schemes without a size."""
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    if isinstance(key, rsa.RSAPublicKey):
        return key.key_size
    if isinstance(key, ec.EllipticCurvePublicKey):
        return key.curve.key_size
    return None


def signature_scheme_for_key(key: PublicKeyTypes, *, rsa_pss: bool = False) -> Algorithm:
    """The signature scheme used with a public key (DICOM has no algorithm identifier).

    Raises:
        UnsupportedAlgorithm: the key type or curve has no scheme here (DSA, X25519, …).
    """
    from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, mldsa, rsa

    if isinstance(key, rsa.RSAPublicKey):
        return _BY_NAME["rsa-pss" if rsa_pss else "rsa-pkcs1v15"]
    if isinstance(key, ec.EllipticCurvePublicKey):
        for alg in _REGISTRY:
            if alg.curve == key.curve.name:
                return alg
        raise UnsupportedAlgorithm(f"elliptic curve {key.curve.name} is not supported")
    if isinstance(key, ed25519.Ed25519PublicKey):
        return _BY_NAME["ed25519"]
    if isinstance(key, ed448.Ed448PublicKey):
        return _BY_NAME["ed448"]
    for level in ("44", "65", "87"):
        if isinstance(key, getattr(mldsa, f"MLDSA{level}PublicKey")):
            return _BY_NAME[f"ml-dsa-{level}"]
    raise UnsupportedAlgorithm(f"keys of type {type(key).__name__} cannot sign DICOM objects")


def check_create(alg: Algorithm, *, allow_legacy: bool = False, bits: int | None = None) -> None:
    """Refuse an algorithm (and key size) for creating a new object.

    Raises:
        PolicyViolation: forbidden, legacy without ``allow_legacy``, or key too small.
    """
    if alg.status is Status.FORBIDDEN:
        raise PolicyViolation(f"{alg.name} is forbidden")
    if alg.status is Status.LEGACY and not allow_legacy:
        raise PolicyViolation(
            f"{alg.name} is a legacy algorithm, accepted for verification only",
            hint="pass --allow-legacy to create it anyway (not recommended)",
        )
    if alg.min_key_bits and bits is not None and bits < alg.min_key_bits:
        raise PolicyViolation(
            f"{alg.name} key of {bits} bits is below the minimum of {alg.min_key_bits}"
        )
