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

The status is the registry's view, without dates. The dated view (NIST SP 800-131A, NIST IR
8547: what may be created, verified or decrypted on a given day, with which key) is
:class:`dicomsec.algorithms.policy.AlgorithmPolicy`, which reads these records.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from dicomsec.errors import UnsupportedAlgorithm

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

__all__ = [
    "Algorithm",
    "Family",
    "Hasher",
    "Kind",
    "Status",
    "all_algorithms",
    "by_dicom_term",
    "by_name",
    "by_oid",
    "digest_algorithms",
    "key_bits",
    "new_hasher",
    "rsa_strength",
    "signature_scheme_for_key",
    "strength_for_key",
]


class Kind(enum.Enum):
    DIGEST = "digest"
    SIGNATURE = "signature"  # DICOM signature schemes (the key decides; no identifier)
    CMS_SIGNATURE = "cms-signature"  # CMS SignerInfo signatureAlgorithm identifiers
    CIPHER = "cipher"  # CMS content encryption
    KEY_WRAP = "key-wrap"
    KEY_TRANSPORT = "key-transport"
    KEY_AGREEMENT = "key-agreement"  # kari key derivation schemes (ECDH/X25519 + KDF)
    KDF = "kdf"
    KEM = "kem"


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


_CLASSICAL = frozenset({Family.RSA, Family.EC, Family.EDDSA})


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
    #: symmetric key size in bytes (ciphers, key wraps, KDF output of a KEM profile)
    key_size: int = 0
    #: cipher mode: "cbc", "gcm", "ccm", "chacha20-poly1305"; for KEY_AGREEMENT "x963" or "hkdf"
    mode: str | None = None
    #: registry name of the hash used (CMS signatures, KDFs, OAEP, key agreement)
    hash: str | None = None
    #: block size in bytes (block ciphers)
    block_size: int = 0
    #: security strength in bits where the algorithm fixes it (NIST SP 800-57 Pt 1 Rev. 5
    #: Tables 2 and 3; collision resistance for digests); ``None``: derived, see :attr:`strength`
    strength_bits: int | None = None

    @property
    def legacy(self) -> bool:
        return self.status is Status.LEGACY

    @property
    def quantum_vulnerable(self) -> bool:
        """RSA, elliptic-curve and EdDSA signatures, RSA key transport and (EC)DH key agreement:
        the algorithms NIST IR 8547 plans to disallow after 2035."""
        return self.family in _CLASSICAL or self.kind in (Kind.KEY_TRANSPORT, Kind.KEY_AGREEMENT)

    @property
    def strength(self) -> int | None:
        """Security strength in bits when it does not depend on the key (``None`` for RSA and
        for key agreement, whose key decides; see :func:`strength_for_key`)."""
        if self.strength_bits is not None:
            return self.strength_bits
        if self.kind is Kind.DIGEST:
            return self.digest_size * 4
        if self.kind in (Kind.CIPHER, Kind.KEY_WRAP) and self.key_size:
            return self.key_size * 8
        if self.family is Family.EC and self.min_key_bits:
            return min(self.min_key_bits // 2, 256)
        return None

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
    # strength_bits of broken digests: best published collision attack (SHA-1 2^63.1,
    # SHAttered 2017; MD5 2^24.1, Stevens 2007); SP 800-57 Table 3 gives SHA-1 "< 80"
    Algorithm("sha1", _D, "1.3.14.3.2.26", dicom_term="SHA1", status=Status.LEGACY,
              digest_size=20, dcmtk_interop=True, strength_bits=63),
    Algorithm("ripemd160", _D, "1.3.36.3.2.1", dicom_term="RIPEMD160", status=Status.LEGACY,
              digest_size=20, dcmtk_interop=True,
              digest_info_prefix=bytes.fromhex("3021300906052b2403020105000414"), strength_bits=80),
    Algorithm("md5", _D, "1.2.840.113549.2.5", dicom_term="MD5", status=Status.LEGACY,
              digest_size=16, dcmtk_interop=True, strength_bits=24),
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
              signature_size=64, strength_bits=128),
    Algorithm("ed448", _S, "1.3.101.113", status=Status.ALLOWED, family=Family.EDDSA,
              signature_size=114, strength_bits=224),
    Algorithm("ml-dsa-44", _S, "2.16.840.1.101.3.4.3.17", status=Status.EXPERIMENTAL,
              family=Family.MLDSA, signature_size=2420, strength_bits=128),
    Algorithm("ml-dsa-65", _S, "2.16.840.1.101.3.4.3.18", status=Status.EXPERIMENTAL,
              family=Family.MLDSA, signature_size=3309, strength_bits=192),
    Algorithm("ml-dsa-87", _S, "2.16.840.1.101.3.4.3.19", status=Status.EXPERIMENTAL,
              family=Family.MLDSA, signature_size=4627, strength_bits=256),
    # --- CMS (RFC 5652 and friends): content encryption -------------------------------------
    Algorithm("aes128-cbc", Kind.CIPHER, "2.16.840.1.101.3.4.1.2", key_size=16, mode="cbc",
              block_size=16),
    Algorithm("aes192-cbc", Kind.CIPHER, "2.16.840.1.101.3.4.1.22", key_size=24, mode="cbc",
              block_size=16),
    Algorithm("aes256-cbc", Kind.CIPHER, "2.16.840.1.101.3.4.1.42", key_size=32, mode="cbc",
              block_size=16),
    Algorithm("aes128-gcm", Kind.CIPHER, "2.16.840.1.101.3.4.1.6", key_size=16, mode="gcm",
              block_size=16),
    Algorithm("aes192-gcm", Kind.CIPHER, "2.16.840.1.101.3.4.1.26", key_size=24, mode="gcm",
              block_size=16),
    Algorithm("aes256-gcm", Kind.CIPHER, "2.16.840.1.101.3.4.1.46", key_size=32, mode="gcm",
              block_size=16,
              status=Status.RECOMMENDED),
    Algorithm("aes128-ccm", Kind.CIPHER, "2.16.840.1.101.3.4.1.7", key_size=16, mode="ccm",
              block_size=16,
              status=Status.LEGACY),
    Algorithm("aes192-ccm", Kind.CIPHER, "2.16.840.1.101.3.4.1.27", key_size=24, mode="ccm",
              block_size=16,
              status=Status.LEGACY),
    Algorithm("aes256-ccm", Kind.CIPHER, "2.16.840.1.101.3.4.1.47", key_size=32, mode="ccm",
              block_size=16,
              status=Status.LEGACY),
    Algorithm("chacha20-poly1305", Kind.CIPHER, "1.2.840.113549.1.9.16.3.18", key_size=32,
              mode="chacha20-poly1305", status=Status.LEGACY),
    Algorithm("des-ede3-cbc", Kind.CIPHER, "1.2.840.113549.3.7", key_size=24, mode="cbc",
              block_size=8,
              status=Status.LEGACY, strength_bits=112),
    # --- key wrap --------------------------------------------------------------------------
    Algorithm("aes128-wrap", Kind.KEY_WRAP, "2.16.840.1.101.3.4.1.5", key_size=16),
    Algorithm("aes192-wrap", Kind.KEY_WRAP, "2.16.840.1.101.3.4.1.25", key_size=24),
    Algorithm("aes256-wrap", Kind.KEY_WRAP, "2.16.840.1.101.3.4.1.45", key_size=32),
    Algorithm("aes128-wrap-pad", Kind.KEY_WRAP, "2.16.840.1.101.3.4.1.8", key_size=16),
    Algorithm("aes192-wrap-pad", Kind.KEY_WRAP, "2.16.840.1.101.3.4.1.28", key_size=24),
    Algorithm("aes256-wrap-pad", Kind.KEY_WRAP, "2.16.840.1.101.3.4.1.48", key_size=32),
    Algorithm("pwri-kek", Kind.KEY_WRAP, "1.2.840.113549.1.9.16.3.9"),
    # --- key transport ---------------------------------------------------------------------
    Algorithm("rsa-pkcs1v15-transport", Kind.KEY_TRANSPORT, "1.2.840.113549.1.1.1",
              status=Status.LEGACY, min_key_bits=2048),
    Algorithm("rsa-oaep", Kind.KEY_TRANSPORT, "1.2.840.113549.1.1.7", min_key_bits=2048,
              hash="sha256"),
    Algorithm("mgf1", Kind.KDF, "1.2.840.113549.1.1.8"),
    Algorithm("p-specified", Kind.KDF, "1.2.840.113549.1.1.9"),
    # --- key agreement (kari): ECDH with the X9.63 KDF (RFC 5753), X25519/X448 (RFC 8418) -------
    Algorithm("ecdh-x963-sha1", Kind.KEY_AGREEMENT, "1.3.133.16.840.63.0.2", mode="x963",
              hash="sha1", status=Status.LEGACY),
    Algorithm("ecdh-x963-sha224", Kind.KEY_AGREEMENT, "1.3.132.1.11.0", mode="x963",
              hash="sha224"),
    Algorithm("ecdh-x963-sha256", Kind.KEY_AGREEMENT, "1.3.132.1.11.1", mode="x963",
              hash="sha256"),
    Algorithm("ecdh-x963-sha384", Kind.KEY_AGREEMENT, "1.3.132.1.11.2", mode="x963",
              hash="sha384"),
    Algorithm("ecdh-x963-sha512", Kind.KEY_AGREEMENT, "1.3.132.1.11.3", mode="x963",
              hash="sha512"),
    Algorithm("ecdh-hkdf-sha256", Kind.KEY_AGREEMENT, "1.2.840.113549.1.9.16.3.19", mode="hkdf",
              hash="sha256"),
    Algorithm("ecdh-hkdf-sha384", Kind.KEY_AGREEMENT, "1.2.840.113549.1.9.16.3.20", mode="hkdf",
              hash="sha384"),
    Algorithm("ecdh-hkdf-sha512", Kind.KEY_AGREEMENT, "1.2.840.113549.1.9.16.3.21", mode="hkdf",
              hash="sha512"),
    Algorithm("ec-public-key", Kind.KEY_AGREEMENT, "1.2.840.10045.2.1"),
    Algorithm("x25519", Kind.KEY_AGREEMENT, "1.3.101.110", strength_bits=128),
    Algorithm("x448", Kind.KEY_AGREEMENT, "1.3.101.111", strength_bits=224),
    # --- KDFs and KEMs -----------------------------------------------------------------------
    Algorithm("pbkdf2", Kind.KDF, "1.2.840.113549.1.5.12"),
    Algorithm("hmac-sha1", Kind.KDF, "1.2.840.113549.2.7", hash="sha1", status=Status.LEGACY),
    Algorithm("hmac-sha256", Kind.KDF, "1.2.840.113549.2.9", hash="sha256"),
    Algorithm("hmac-sha384", Kind.KDF, "1.2.840.113549.2.10", hash="sha384"),
    Algorithm("hmac-sha512", Kind.KDF, "1.2.840.113549.2.11", hash="sha512"),
    Algorithm("hkdf-sha256", Kind.KDF, "1.2.840.113549.1.9.16.3.28", hash="sha256"),
    Algorithm("hkdf-sha384", Kind.KDF, "1.2.840.113549.1.9.16.3.29", hash="sha384"),
    Algorithm("hkdf-sha512", Kind.KDF, "1.2.840.113549.1.9.16.3.30", hash="sha512"),
    Algorithm("ml-kem-512", Kind.KEM, "2.16.840.1.101.3.4.4.1", key_size=16,
              status=Status.EXPERIMENTAL, strength_bits=128),
    Algorithm("ml-kem-768", Kind.KEM, "2.16.840.1.101.3.4.4.2", key_size=32,
              status=Status.EXPERIMENTAL, strength_bits=192),
    Algorithm("ml-kem-1024", Kind.KEM, "2.16.840.1.101.3.4.4.3", key_size=32,
              status=Status.EXPERIMENTAL, strength_bits=256),
    # --- CMS signature algorithm identifiers (SignerInfo) --------------------------------------
    Algorithm("rsa-pkcs1v15-any", Kind.CMS_SIGNATURE, "1.2.840.113549.1.1.1",
              family=Family.RSA),
    Algorithm("sha256-with-rsa", Kind.CMS_SIGNATURE, "1.2.840.113549.1.1.11",
              family=Family.RSA, hash="sha256"),
    Algorithm("sha384-with-rsa", Kind.CMS_SIGNATURE, "1.2.840.113549.1.1.12",
              family=Family.RSA, hash="sha384"),
    Algorithm("sha512-with-rsa", Kind.CMS_SIGNATURE, "1.2.840.113549.1.1.13",
              family=Family.RSA, hash="sha512"),
    Algorithm("sha1-with-rsa", Kind.CMS_SIGNATURE, "1.2.840.113549.1.1.5",
              family=Family.RSA, hash="sha1", status=Status.LEGACY),
    Algorithm("sha3-256-with-rsa", Kind.CMS_SIGNATURE, "2.16.840.1.101.3.4.3.14",
              family=Family.RSA, hash="sha3-256"),
    Algorithm("rsassa-pss", Kind.CMS_SIGNATURE, "1.2.840.113549.1.1.10", family=Family.RSA),
    Algorithm("ecdsa-with-sha256", Kind.CMS_SIGNATURE, "1.2.840.10045.4.3.2",
              family=Family.EC, hash="sha256"),
    Algorithm("ecdsa-with-sha384", Kind.CMS_SIGNATURE, "1.2.840.10045.4.3.3",
              family=Family.EC, hash="sha384"),
    Algorithm("ecdsa-with-sha512", Kind.CMS_SIGNATURE, "1.2.840.10045.4.3.4",
              family=Family.EC, hash="sha512"),
    Algorithm("ecdsa-with-sha3-256", Kind.CMS_SIGNATURE, "2.16.840.1.101.3.4.3.10",
              family=Family.EC, hash="sha3-256"),
    Algorithm("cms-ed25519", Kind.CMS_SIGNATURE, "1.3.101.112", family=Family.EDDSA,
              hash="sha512", strength_bits=128),
    Algorithm("cms-ed448", Kind.CMS_SIGNATURE, "1.3.101.113", family=Family.EDDSA,
              strength_bits=224),
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


#: RSA modulus size → security strength (NIST SP 800-57 Pt 1 Rev. 5, Table 2)
_RSA_STRENGTH = ((15360, 256), (7680, 192), (3072, 128), (2048, 112), (1024, 80))


def rsa_strength(bits: int) -> int:
    """Security strength in bits of an RSA (or finite-field) key of ``bits`` bits (SP 800-57
    Pt 1 Table 2; below 1024 bits: 0, i.e. no meaningful strength)."""
    for size, strength in _RSA_STRENGTH:
        if bits >= size:
            return strength
    return 0


def strength_for_key(alg: Algorithm, bits: int | None) -> int | None:
    """Security strength in bits of ``alg`` used with a key of ``bits`` bits.

    ``bits`` is the RSA modulus or the elliptic-curve field size (``None`` when unknown or
    meaningless, as for EdDSA and ML-DSA). RSA and key transport follow SP 800-57 Table 2,
    elliptic curves half the field size (the hash of a CMS signature identifier is judged
    apart). ``None``: not known without a key.
    """
    own = alg.strength
    if bits is not None and own is None:
        if alg.family is Family.RSA or alg.kind is Kind.KEY_TRANSPORT:
            own = rsa_strength(bits)
        elif alg.family is Family.EC or alg.kind is Kind.KEY_AGREEMENT:
            own = min(bits // 2, 256)
    elif bits is not None and alg.family is Family.EC and alg.curve is not None:
        own = min(bits // 2, 256)  # a smaller key than the scheme's curve says
    return own


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

