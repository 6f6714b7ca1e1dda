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
from dicomsec.cms._der import OCTET_STRING, SEQUENCE, encode_header, encode_oid
from dicomsec.cms._policy import require_create
from dicomsec.cms.signed._common import (
    _CONTEXT_0,
    OID_ATTR_CONTENT_TYPE,
    OID_ATTR_MESSAGE_DIGEST,
    OID_ATTR_SIGNING_TIME,
    _digest,
)
from dicomsec.errors import InvalidInput, UnsupportedAlgorithm

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

    from dicomsec.algorithms.policy import AlgorithmPolicy

__all__ = ["CmsSigner", "digested_data_parts", "signed_data_parts"]


def _alg_id(oid: str, params: Any = None) -> Any:
    """An AlgorithmIdentifier with exactly the given parameters (an asn1crypto value; absent
    when ``None``), unlike asn1crypto's own types, which add NULL for some OIDs."""
    from dicomsec.cms._asn1 import AlgorithmIdentifier

    value: dict[str, Any] = {"algorithm": oid}
    if params is not None:
        value["parameters"] = params
    return AlgorithmIdentifier(value)


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
        from asn1crypto import core

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
            )
            return bytes(_alg_id(alg.oid, params).dump())
        if alg.family is Family.RSA and not dig.name.startswith("sha3"):
            # RFC 4055: NULL for the SHA-1/SHA-2 with RSA OIDs
            return bytes(_alg_id(alg.oid, core.Null()).dump())
        return bytes(_alg_id(alg.oid).dump())  # ECDSA, EdDSA, RSA with SHA-3: params absent

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
#
# Every small structure is built with asn1crypto; only the framing around the streamed content
# (the SignedData / DigestedData SEQUENCE header and the encapContentInfo up to the eContent
# octets) is written by hand, because the content itself never passes through here.


def _encap_prefix(content_size: int) -> bytes:
    """encapContentInfo up to the eContent octets: id-data, [0] EXPLICIT OCTET STRING."""
    if content_size < 0:
        raise InvalidInput(f"content size must not be negative, not {content_size}")
    octets_header = encode_header(OCTET_STRING, content_size)
    explicit = encode_header(_CONTEXT_0, len(octets_header) + content_size) + octets_header
    body_len = len(encode_oid(ID_DATA)) + len(explicit) + content_size
    return encode_header(0x20 | SEQUENCE, body_len) + encode_oid(ID_DATA) + explicit


def _around(head: bytes, content_size: int, suffix: bytes) -> tuple[bytes, bytes]:
    """(prefix, suffix) of a SEQUENCE holding ``head``, the encapContentInfo of
    ``content_size`` octets and ``suffix``."""
    encap = _encap_prefix(content_size)
    total = len(head) + len(encap) + content_size + len(suffix)
    return encode_header(0x20 | SEQUENCE, total) + head + encap, suffix


def _check_digest_value(alg: Algorithm, value: bytes) -> None:
    if len(value) != alg.digest_size:
        raise InvalidInput(
            f"a {alg.name} digest has {alg.digest_size} bytes, not {len(value)}"
        )


def digested_data_parts(
    content_size: int, digest_value: bytes, digest: str, *, allow_legacy: bool = False,
    policy: AlgorithmPolicy | None = None,
) -> tuple[bytes, bytes]:
    """DER of a DigestedData value around ``content_size`` content octets.

    Returns ``(prefix, suffix)``: ``prefix + content + suffix`` is the DigestedData SEQUENCE
    (version 0, eContentType id-data, digest = ``digest_value``, the ``digest`` hash of the
    content).

    Raises:
        UnsupportedAlgorithm: unknown digest name.
        InvalidInput: negative size or a digest value of the wrong length.
        PolicyViolation: a legacy digest (SHA-1) without ``allow_legacy``, or refused by
            ``policy`` (an :class:`~dicomsec.algorithms.policy.AlgorithmPolicy`, judging for
            today; without one the registry status decides).
    """
    from asn1crypto import core

    alg = _digest(digest)
    require_create(alg, policy=policy, allow_legacy=allow_legacy)
    _check_digest_value(alg, digest_value)
    head = core.Integer(0).dump() + _alg_id(alg.oid).dump()
    return _around(head, content_size, core.OctetString(bytes(digest_value)).dump())


def _signing_time(moment: _dt.datetime) -> Any:
    from asn1crypto import cms

    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=_dt.UTC)
    moment = moment.astimezone(_dt.UTC).replace(microsecond=0)
    choice = "utc_time" if 1950 <= moment.year < 2050 else "generalized_time"  # RFC 5652 §11.3
    return cms.Time({choice: moment})


def _signed_attrs(content_digest: bytes, moment: _dt.datetime) -> Any:
    """content-type (id-data), message-digest and signing-time, as a DER SET OF (sorted)."""
    from asn1crypto import cms

    return cms.CMSAttributes([
        cms.CMSAttribute({"type": OID_ATTR_CONTENT_TYPE, "values": [ID_DATA]}),
        cms.CMSAttribute({"type": OID_ATTR_MESSAGE_DIGEST, "values": [bytes(content_digest)]}),
        cms.CMSAttribute({"type": OID_ATTR_SIGNING_TIME, "values": [_signing_time(moment)]}),
    ])


def _signer_info(signer: CmsSigner, signed_attrs: Any) -> bytes:
    """One SignerInfo (version 1, issuerAndSerialNumber); the signature covers the DER of the
    signed attributes as a SET OF (RFC 5652 §5.4)."""
    from asn1crypto import cms
    from asn1crypto import x509 as ax509

    cert = ax509.Certificate.load(signer.certificate.public_bytes(_der_encoding()))
    attrs_der = signed_attrs.dump()
    info = cms.SignerInfo({
        "version": "v1",
        "sid": cms.SignerIdentifier(name="issuer_and_serial_number", value={
            "issuer": cert.issuer, "serial_number": cert.serial_number}),
        "digest_algorithm": cms.DigestAlgorithm.load(
            _alg_id(signer.digest_algorithm.oid).dump()),
        "signed_attrs": cms.CMSAttributes.load(attrs_der),
        "signature_algorithm": cms.SignedDigestAlgorithm.load(signer._signature_alg_id()),
        "signature": signer._sign(attrs_der),
    })
    return bytes(info.dump())


def _der_encoding() -> Any:
    from cryptography.hazmat.primitives import serialization

    return serialization.Encoding.DER


def _unique(encodings: Sequence[bytes]) -> list[bytes]:
    """The encodings without repeats (one certificate and one SignerInfo per signer)."""
    return list(dict.fromkeys(encodings))


def signed_data_parts(
    content_size: int,
    content_digest: bytes,
    signers: Sequence[CmsSigner],
    *,
    digest: str,
    signing_time: _dt.datetime | None = None,
    allow_legacy: bool = False,
    policy: AlgorithmPolicy | None = None,
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
        PolicyViolation: a legacy digest (SHA-1) without ``allow_legacy``; with ``policy`` (an
            :class:`~dicomsec.algorithms.policy.AlgorithmPolicy`), the digest or a signer's
            signature algorithm and key refused today.
    """
    from asn1crypto import cms, core

    if not signers:
        raise InvalidInput("SignedData needs at least one signer")
    alg = _digest(digest)
    require_create(alg, policy=policy, allow_legacy=allow_legacy)
    _check_digest_value(alg, content_digest)
    for signer in signers:
        if signer.digest_algorithm is not alg:
            raise InvalidInput(
                f"signer {signer.certificate.subject.rfc4514_string()} uses "
                f"{signer.digest_algorithm.name}, but the content digest is {alg.name}",
                hint="Ed25519 signers need the sha512 content digest (RFC 8419)",
            )
    moment = signing_time if signing_time is not None else _dt.datetime.now(_dt.UTC)
    if policy is not None:
        for signer in signers:
            require_create(signer.signature_algorithm, policy=policy,
                           key=signer.certificate.public_key())
    attrs = _signed_attrs(content_digest, moment)
    infos = _unique([_signer_info(s, attrs) for s in signers])
    certs = _unique([s.certificate.public_bytes(_der_encoding()) for s in signers])
    head = (core.Integer(1).dump()
            + cms.DigestAlgorithms([cms.DigestAlgorithm.load(_alg_id(alg.oid).dump())]).dump())
    suffix = (cms.CertificateSet([cms.CertificateChoices.load(c) for c in certs],
                                 implicit=0).dump()
              + cms.SignerInfos([cms.SignerInfo.load(i) for i in infos]).dump())
    return _around(head, content_size, suffix)
