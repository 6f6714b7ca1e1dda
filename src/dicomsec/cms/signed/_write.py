"""Writing inner SignedData and DigestedData around a content streamed by the caller
(RFC 5652 §5, §7).

The caller hashes the DICOM File in a first pass; :func:`signed_data_parts` and
:func:`digested_data_parts` then return the DER around the content as ``(prefix, suffix)``, so
that ``prefix + content + suffix`` is the definite-length DER of the SignedData / DigestedData
value (the SEQUENCE, no ContentInfo), and the content can be streamed between the two.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dicomsec import algorithms
from dicomsec.algorithms import Algorithm, Family, Kind
from dicomsec.cms import ID_DATA
from dicomsec.cms._der import INTEGER, OCTET_STRING, SEQUENCE, SET, encode_header, encode_oid
from dicomsec.cms.signed._common import (
    _CONTEXT_0,
    _NULL,
    OID_ATTR_CONTENT_TYPE,
    OID_ATTR_MESSAGE_DIGEST,
    OID_ATTR_SIGNING_TIME,
    _digest,
)
from dicomsec.errors import InvalidInput, UnsupportedAlgorithm

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

__all__ = ["CmsSigner", "digested_data_parts", "signed_data_parts"]


def _tlv(identifier: int, value: bytes) -> bytes:
    return encode_header(identifier, len(value)) + value


def _integer(n: int) -> bytes:
    return _tlv(INTEGER, n.to_bytes(n.bit_length() // 8 + 1, "big", signed=True))


def _alg_id(oid: str, params: bytes = b"") -> bytes:
    return _tlv(0x20 | SEQUENCE, encode_oid(oid) + params)


def _set_of(elements: Sequence[bytes]) -> bytes:
    """DER SET OF: the encodings sorted (X.690 11.6), duplicates removed."""
    return _tlv(0x20 | SET, b"".join(sorted(set(elements))))


def _cms_signature(family: Family, hash_name: str) -> Algorithm:
    """The registry's CMS signature identifier for a key family and a hash."""
    for alg in algorithms.all_algorithms():
        if alg.kind is Kind.CMS_SIGNATURE and alg.family is family and alg.hash == hash_name:
            return alg
    raise UnsupportedAlgorithm(f"no CMS {family.value} signature algorithm with {hash_name}")


# --------------------------------------------------------------------------- signers


@dataclass(frozen=True)
class CmsSigner:
    """A signing key for a CMS SignerInfo: RSA (PKCS#1 v1.5 or PSS), ECDSA or Ed25519.

    ``digest`` is the digestAlgorithm (message-digest attribute and signature hash). Ed25519
    always uses SHA-512 (RFC 8419); :attr:`digest_algorithm` says what is really used.
    """

    key: PrivateKeyTypes = field(repr=False)
    certificate: x509.Certificate
    digest: str = "sha256"
    rsa_pss: bool = False

    def __post_init__(self) -> None:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

        def spki(key: Any) -> bytes:
            return bytes(key.public_bytes(serialization.Encoding.DER,
                                          serialization.PublicFormat.SubjectPublicKeyInfo))

        if not isinstance(
            self.key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
        ):
            raise InvalidInput(
                f"keys of type {type(self.key).__name__} cannot sign CMS SignedData here"
            )
        if spki(self.key.public_key()) != spki(self.certificate.public_key()):
            raise InvalidInput("the private key does not match the certificate")
        if self.rsa_pss and not isinstance(self.key, rsa.RSAPrivateKey):
            raise InvalidInput("RSA-PSS needs an RSA key")
        self.signature_algorithm  # noqa: B018 - unknown digest or scheme fails early

    def __repr__(self) -> str:
        return (
            f"CmsSigner(subject={self.certificate.subject.rfc4514_string()!r}, "
            f"algorithm={self.signature_algorithm.name}, key=<redacted>)"
        )

    @property
    def digest_algorithm(self) -> Algorithm:
        from cryptography.hazmat.primitives.asymmetric import ed25519

        if isinstance(self.key, ed25519.Ed25519PrivateKey):
            # RFC 8419 3.1: Ed25519 goes with SHA-512 (the registry entry's hash)
            return _digest(algorithms.by_name("cms-ed25519", Kind.CMS_SIGNATURE).hash or "sha512")
        return _digest(self.digest)

    @property
    def signature_algorithm(self) -> Algorithm:
        """The registry entry written as signatureAlgorithm."""
        from cryptography.hazmat.primitives.asymmetric import ec, rsa

        if isinstance(self.key, rsa.RSAPrivateKey):
            if self.rsa_pss:
                return algorithms.by_name("rsassa-pss", Kind.CMS_SIGNATURE)
            return _cms_signature(Family.RSA, self.digest_algorithm.name)
        if isinstance(self.key, ec.EllipticCurvePrivateKey):
            return _cms_signature(Family.EC, self.digest_algorithm.name)
        return algorithms.by_name("cms-ed25519", Kind.CMS_SIGNATURE)

    def _signature_alg_id(self) -> bytes:
        alg = self.signature_algorithm
        dig = self.digest_algorithm
        if alg.family is Family.RSA and self.rsa_pss:
            from asn1crypto import algos

            mgf1 = algorithms.by_name("mgf1", Kind.KDF).oid
            params = algos.RSASSAPSSParams(
                {
                    "hash_algorithm": {"algorithm": dig.oid},
                    "mask_gen_algorithm": {"algorithm": mgf1,
                                           "parameters": {"algorithm": dig.oid}},
                    "salt_length": dig.digest_size,
                }
            ).dump()
            return _alg_id(alg.oid, params)
        if alg.family is Family.RSA and not dig.name.startswith("sha3"):
            return _alg_id(alg.oid, _NULL)  # RFC 4055: NULL for the SHA-1/SHA-2 with RSA OIDs
        return _alg_id(alg.oid)  # ECDSA, EdDSA, RSA with SHA-3: parameters absent

    def _sign(self, data: bytes) -> bytes:
        from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

        key = self.key
        dig = self.digest_algorithm
        if isinstance(key, rsa.RSAPrivateKey):
            pad: padding.AsymmetricPadding = (
                padding.PSS(padding.MGF1(dig.crypto_hash()), dig.digest_size)
                if self.rsa_pss else padding.PKCS1v15()
            )
            return key.sign(data, pad, dig.crypto_hash())
        if isinstance(key, ec.EllipticCurvePrivateKey):
            return key.sign(data, ec.ECDSA(dig.crypto_hash()))
        assert isinstance(key, ed25519.Ed25519PrivateKey)
        return key.sign(data)


# --------------------------------------------------------------------------- writing


def _encap_prefix(content_size: int) -> bytes:
    """encapContentInfo up to the eContent octets: id-data, [0] EXPLICIT OCTET STRING."""
    if content_size < 0:
        raise InvalidInput(f"content size must not be negative, not {content_size}")
    octets_header = encode_header(OCTET_STRING, content_size)
    explicit = encode_header(_CONTEXT_0, len(octets_header) + content_size) + octets_header
    body_len = len(encode_oid(ID_DATA)) + len(explicit) + content_size
    return encode_header(0x20 | SEQUENCE, body_len) + encode_oid(ID_DATA) + explicit


def _check_digest_value(alg: Algorithm, value: bytes) -> None:
    if len(value) != alg.digest_size:
        raise InvalidInput(
            f"a {alg.name} digest has {alg.digest_size} bytes, not {len(value)}"
        )


def digested_data_parts(
    content_size: int, digest_value: bytes, digest: str, *, allow_legacy: bool = False
) -> tuple[bytes, bytes]:
    """DER of a DigestedData value around ``content_size`` content octets.

    Returns ``(prefix, suffix)``: ``prefix + content + suffix`` is the DigestedData SEQUENCE
    (version 0, eContentType id-data, digest = ``digest_value``, the ``digest`` hash of the
    content).

    Raises:
        UnsupportedAlgorithm: unknown digest name.
        InvalidInput: negative size or a digest value of the wrong length.
        PolicyViolation: a legacy digest (SHA-1) without ``allow_legacy``.
    """
    alg = _digest(digest)
    algorithms.check_create(alg, allow_legacy=allow_legacy)
    _check_digest_value(alg, digest_value)
    head = _integer(0) + _alg_id(alg.oid)
    encap = _encap_prefix(content_size)
    suffix = _tlv(OCTET_STRING, bytes(digest_value))
    total = len(head) + len(encap) + content_size + len(suffix)
    return encode_header(0x20 | SEQUENCE, total) + head + encap, suffix


def _signing_time_der(moment: _dt.datetime) -> bytes:
    from asn1crypto import cms

    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=_dt.UTC)
    moment = moment.astimezone(_dt.UTC).replace(microsecond=0)
    choice = "utc_time" if 1950 <= moment.year < 2050 else "generalized_time"  # RFC 5652 §11.3
    return bytes(cms.Time({choice: moment}).dump())


def _attribute(oid: str, value_der: bytes) -> bytes:
    return _tlv(0x20 | SEQUENCE, encode_oid(oid) + _tlv(0x20 | SET, value_der))


def _signer_info(signer: CmsSigner, signed_attrs: bytes) -> bytes:
    from asn1crypto import x509 as ax509

    cert = ax509.Certificate.load(signer.certificate.public_bytes(_der_encoding()))
    sid = _tlv(0x20 | SEQUENCE, cert.issuer.dump() + _integer(cert.serial_number))
    signature = signer._sign(signed_attrs)
    return _tlv(
        0x20 | SEQUENCE,
        _integer(1)
        + sid
        + _alg_id(signer.digest_algorithm.oid)
        + bytes([_CONTEXT_0]) + signed_attrs[1:]  # [0] IMPLICIT, same length and content
        + signer._signature_alg_id()
        + _tlv(OCTET_STRING, signature),
    )


def _der_encoding() -> Any:
    from cryptography.hazmat.primitives import serialization

    return serialization.Encoding.DER


def signed_data_parts(
    content_size: int,
    content_digest: bytes,
    signers: Sequence[CmsSigner],
    *,
    digest: str,
    signing_time: _dt.datetime | None = None,
    allow_legacy: bool = False,
) -> tuple[bytes, bytes]:
    """DER of a SignedData value around ``content_size`` content octets.

    ``content_digest`` is the ``digest`` hash of the content; every signer must use that digest
    (Ed25519 signers need ``digest="sha512"``). Signed attributes: content-type (id-data),
    message-digest and signing-time (``signing_time``, default now). SignedData and SignerInfo
    version 1 (issuerAndSerialNumber), certificates = the signers' certificates.

    Returns ``(prefix, suffix)`` with ``prefix + content + suffix`` the SignedData SEQUENCE.

    Raises:
        InvalidInput: no signer, a signer whose digest differs, bad sizes.
        UnsupportedAlgorithm: unknown digest, or no CMS signature identifier for it.
        PolicyViolation: a legacy digest (SHA-1) without ``allow_legacy``.
    """
    if not signers:
        raise InvalidInput("SignedData needs at least one signer")
    alg = _digest(digest)
    algorithms.check_create(alg, allow_legacy=allow_legacy)
    _check_digest_value(alg, content_digest)
    for signer in signers:
        if signer.digest_algorithm is not alg:
            raise InvalidInput(
                f"signer {signer.certificate.subject.rfc4514_string()} uses "
                f"{signer.digest_algorithm.name}, but the content digest is {alg.name}",
                hint="Ed25519 signers need the sha512 content digest (RFC 8419)",
            )
    moment = signing_time if signing_time is not None else _dt.datetime.now(_dt.UTC)
    attrs = _set_of(
        [
            _attribute(OID_ATTR_CONTENT_TYPE, encode_oid(ID_DATA)),
            _attribute(OID_ATTR_MESSAGE_DIGEST, _tlv(OCTET_STRING, bytes(content_digest))),
            _attribute(OID_ATTR_SIGNING_TIME, _signing_time_der(moment)),
        ]
    )
    signer_infos = _set_of([_signer_info(s, attrs) for s in signers])
    certs = _set_of([s.certificate.public_bytes(_der_encoding()) for s in signers])
    head = _integer(1) + _set_of([_alg_id(alg.oid)])
    encap = _encap_prefix(content_size)
    suffix = bytes([_CONTEXT_0]) + certs[1:] + signer_infos  # certificates [0] IMPLICIT
    total = len(head) + len(encap) + content_size + len(suffix)
    return encode_header(0x20 | SEQUENCE, total) + head + encap, suffix

