"""Inner content of a Secure DICOM File: SignedData and DigestedData (RFC 5652 §5, §7).

Writing: the caller hashes the DICOM File in a first pass; :func:`signed_data_parts` and
:func:`digested_data_parts` then return the DER around the content as ``(prefix, suffix)``, so
that ``prefix + content + suffix`` is the definite-length DER of the SignedData / DigestedData
value (the SEQUENCE, no ContentInfo), and the content can be streamed between the two.

Reading: :func:`extract_inner` takes the decrypted plaintext (a seekable file), recognises the
three nesting forms of the specification (strict, OpenSSL pipeline, plain), streams the eContent
to a destination in pieces of at most 1 MiB while hashing it (one pass over the content), then
checks the digest or every SignerInfo. Verification failures are report fields; only malformed
structures raise :class:`~dicomsec.errors.InvalidInput`.

Limits: SignerInfo signature algorithms are those of the registry's CMS signature identifiers
(RSA PKCS#1 v1.5, RSASSA-PSS with MGF1, ECDSA, Ed25519; Ed448 only where its digest is known);
signer certificates must be inside the SignedData; attribute certificates, CRLs and unsigned
attributes are ignored; EdDSA without signed attributes is reported as unsupported.
"""

from __future__ import annotations

import datetime as _dt
import hmac
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, BinaryIO

from dicomsec import algorithms
from dicomsec.algorithms import Algorithm, Family, Kind
from dicomsec.cms import ID_DATA, ID_DIGESTED_DATA, ID_SIGNED_DATA
from dicomsec.cms._der import (
    INTEGER,
    OCTET_STRING,
    OID,
    SEQUENCE,
    SET,
    TLV,
    TLVReader,
    decode_oid,
    encode_header,
    encode_oid,
)
from dicomsec.errors import InvalidInput, UnsupportedAlgorithm

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

    from dicomsec.trust import TrustStore

__all__ = [
    "CHUNK_SIZE",
    "CmsSigner",
    "InnerReport",
    "SignatureProblem",
    "SignerReport",
    "check_content_attributes",
    "digested_data_parts",
    "extract_inner",
    "first_line",
    "signed_attributes",
    "signed_data_parts",
    "verify_signer_signature",
]

#: CMS attribute types (RFC 5652 §11)
OID_ATTR_CONTENT_TYPE = "1.2.840.113549.1.9.3"
OID_ATTR_MESSAGE_DIGEST = "1.2.840.113549.1.9.4"
OID_ATTR_SIGNING_TIME = "1.2.840.113549.1.9.5"

#: the largest piece of content read, hashed and written at once
CHUNK_SIZE = 1 << 20

_NULL = b"\x05\x00"
_UNBOUNDED = 1 << 62
_CONTEXT_0 = 0xA0  # [0] constructed


# --------------------------------------------------------------------------- small DER helpers


def _tlv(identifier: int, value: bytes) -> bytes:
    return encode_header(identifier, len(value)) + value


def _integer(n: int) -> bytes:
    return _tlv(INTEGER, n.to_bytes(n.bit_length() // 8 + 1, "big", signed=True))


def _alg_id(oid: str, params: bytes = b"") -> bytes:
    return _tlv(0x20 | SEQUENCE, encode_oid(oid) + params)


def _set_of(elements: Sequence[bytes]) -> bytes:
    """DER SET OF: the encodings sorted (X.690 11.6), duplicates removed."""
    return _tlv(0x20 | SET, b"".join(sorted(set(elements))))


def _digest(name: str) -> Algorithm:
    return algorithms.by_name(name, Kind.DIGEST)


def first_line(exc: BaseException, limit: int = 160) -> str:
    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0].strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


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


# --------------------------------------------------------------------------- reports


@dataclass(frozen=True)
class SignerReport:
    """The outcome of checking one SignerInfo."""

    signer: str
    algorithm: str
    digest: str
    valid: bool
    trusted: bool
    problems: tuple[str, ...] = ()
    signing_time: _dt.datetime | None = None

    def to_dict(self) -> dict[str, object]:
        return {
            "signer": self.signer,
            "algorithm": self.algorithm,
            "digest": self.digest,
            "valid": self.valid,
            "trusted": self.trusted,
            "signing_time": (
                self.signing_time.isoformat() if self.signing_time is not None else None
            ),
            "problems": list(self.problems),
        }


@dataclass(frozen=True)
class InnerReport:
    """What :func:`extract_inner` found and checked.

    ``kind``: ``"data"``, ``"signed"`` or ``"digested"``; ``form``: ``"strict"``,
    ``"openssl-pipeline"`` or ``"plain"``. ``trust_checked``: a trust store was given, so every
    signer must also be trusted for :attr:`ok`. ``problems``: findings about the structure
    (e.g. an eContentType other than id-data) that make the content unacceptable.
    """

    kind: str
    form: str
    digest: str | None = None
    digest_ok: bool | None = None
    signers: tuple[SignerReport, ...] = ()
    trust_checked: bool = False
    problems: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        if self.problems:
            return False
        if self.kind == "digested":
            return self.digest_ok is True
        if self.kind == "signed":
            return bool(self.signers) and all(
                s.valid and (s.trusted or not self.trust_checked) for s in self.signers
            )
        return True  # plain data: nothing to check (integrity must come from elsewhere)

    def to_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "form": self.form,
            "ok": self.ok,
            "digest": self.digest,
            "digest_ok": self.digest_ok,
            "trust_checked": self.trust_checked,
            "signers": [s.to_dict() for s in self.signers],
            "problems": list(self.problems),
        }


# --------------------------------------------------------------------------- reading


@dataclass
class _Encap:
    content_type: str
    octets: TLV  # the OCTET STRING inside [0] (primitive or constructed)
    end: int  # end of the enclosing [0]


def _oid_of(reader: TLVReader, tlv: TLV, what: str) -> str:
    reader.expect(tlv, universal=OID, what=what)
    try:
        return decode_oid(reader.value(tlv, limit=256))
    except ValueError:
        raise reader.err(f"malformed {what}", tlv.offset) from None


def _alg_oid(reader: TLVReader, tlv: TLV, what: str) -> str:
    reader.expect(tlv, universal=SEQUENCE, what=what)
    first = next(iter(reader.children(tlv)), None)
    if first is None:
        raise reader.err(f"empty {what}", tlv.offset)
    return _oid_of(reader, first, f"{what} OID")


def _children(reader: TLVReader, tlv: TLV, end: int) -> list[TLV]:
    """Direct children of a constructed element with few children (a SEQUENCE of fields)."""
    out: list[TLV] = []
    for child in reader.children(tlv, end):
        out.append(child)
        if len(out) > 64:
            raise reader.err("too many fields", tlv.offset)
    return out


def _encap(reader: TLVReader, tlv: TLV, end: int) -> _Encap:
    reader.expect(tlv, universal=SEQUENCE, what="encapContentInfo")
    parts = _children(reader, tlv, end)
    if not parts:
        raise reader.err("empty encapContentInfo", tlv.offset)
    content_type = _oid_of(reader, parts[0], "eContentType")
    if len(parts) == 1:
        raise InvalidInput(
            "the SignedData/DigestedData has no eContent (detached): nothing to extract",
            path=reader.name,
        )
    explicit = reader.expect(parts[1], context=0, what="eContent [0]")
    if len(parts) > 2 or not explicit.constructed:
        raise reader.err("malformed eContent", explicit.offset)
    explicit_end = reader.end_of(explicit, end)
    inner = _children(reader, explicit, explicit_end)
    if len(inner) != 1:
        raise reader.err("eContent [0] must hold one OCTET STRING", explicit.offset)
    reader.expect(inner[0], universal=OCTET_STRING, what="eContent OCTET STRING")
    return _Encap(content_type, inner[0], explicit_end)


def _stream(reader: TLVReader, encap: _Encap, dst: BinaryIO,
            hashers: Sequence[algorithms.Hasher]) -> int:
    """Copy the eContent octets to ``dst`` in pieces of at most 1 MiB, hashing them."""
    total = 0
    for offset, length in reader.octet_chunks(encap.octets, encap.end):
        pos, left = offset, length
        while left:
            n = min(CHUNK_SIZE, left)
            piece = reader.read(pos, n)
            for hasher in hashers:
                hasher.update(piece)
            dst.write(piece)
            pos += n
            left -= n
            total += n
    return total


def _copy_plain(src: BinaryIO, size: int, dst: BinaryIO, name: str) -> None:
    src.seek(0)
    left = size
    while left:
        piece = src.read(min(CHUNK_SIZE, left))
        if not piece:
            raise InvalidInput(f"plaintext is shorter than {size} bytes", path=name)
        dst.write(piece)
        left -= len(piece)


def _pipeline_inner(reader: TLVReader) -> tuple[str, TLV] | None:
    """The SignedData/DigestedData inside a ContentInfo at offset 0, or ``None`` if not one."""
    try:
        # Lengths are not checked against the file yet: a ContentInfo(SignedData) cut short
        # is a broken signed file, not plain data.
        top = reader.header(0, _UNBOUNDED)
        if top.identifier != 0x20 | SEQUENCE:
            return None
        first = reader.header(top.value_offset, _UNBOUNDED)
        content_type = _oid_of(reader, first, "contentType")
    except InvalidInput:
        return None
    if content_type not in (ID_SIGNED_DATA, ID_DIGESTED_DATA):
        return None
    # From here on it is a ContentInfo: malformation is an error, not plain data.
    top = reader.header(0)
    if reader.end_of(top) != reader.size:
        raise reader.err("data after the ContentInfo", reader.end_of(top))
    parts = _children(reader, top, reader.size)
    if len(parts) != 2 or not parts[1].is_context(0) or not parts[1].constructed:
        raise reader.err("ContentInfo content must be [0] EXPLICIT", top.offset)
    inner = _children(reader, parts[1], reader.end_of(parts[1]))
    if len(inner) != 1:
        raise reader.err("ContentInfo [0] must hold one element", parts[1].offset)
    return content_type, inner[0]


def extract_inner(
    src: BinaryIO,
    size: int,
    content_type: str,
    dst: BinaryIO,
    *,
    trust: TrustStore | None = None,
    name: str = "<plaintext>",
) -> InnerReport:
    """Unwrap the decrypted inner content of a Secure DICOM File into ``dst``, checking it.

    ``src`` is seekable and holds ``size`` bytes; ``content_type`` is the EncryptedContentInfo
    contentType. Strict form: ``content_type`` is id-signedData / id-digestedData and ``src`` the
    value. With id-data, ``src`` is either a ContentInfo(SignedData/DigestedData) (the OpenSSL
    pipeline form) or the DICOM File itself (plain: copied as is). The content is streamed to
    ``dst`` before it is checked: the caller must discard ``dst`` unless ``report.ok``.

    Raises:
        InvalidInput: malformed structure, detached content, unknown content type, a
            DigestedData with an unknown digest algorithm (``UnsupportedAlgorithm``).
    """
    reader = TLVReader(src, size, name)
    if content_type in (ID_SIGNED_DATA, ID_DIGESTED_DATA):
        top = reader.header(0)
        form = "strict"
        kind_oid = content_type
    elif content_type == ID_DATA:
        if size >= 132 and reader.read(128, 4) == b"DICM":
            found = None
        else:
            found = _pipeline_inner(reader)
        if found is None:
            _copy_plain(src, size, dst, name)
            return InnerReport(kind="data", form="plain")
        kind_oid, top = found
        form = "openssl-pipeline"
    else:
        raise InvalidInput(
            f"inner content type {content_type} is neither data, signedData nor digestedData",
            path=name,
        )
    reader.expect(top, universal=SEQUENCE, what="SignedData/DigestedData SEQUENCE")
    if not top.constructed:
        raise reader.err("SignedData/DigestedData must be constructed", top.offset)
    top_end = reader.end_of(top)
    if form == "strict" and top_end != size:
        raise reader.err("data after the inner content", top_end)
    if kind_oid == ID_DIGESTED_DATA:
        return _extract_digested(reader, top, top_end, dst, form)
    return _extract_signed(reader, top, top_end, dst, form, trust)


def _content_type_problems(encap: _Encap) -> tuple[str, ...]:
    if encap.content_type != ID_DATA:
        return (f"eContentType is {encap.content_type}, not id-data (a DICOM File is data)",)
    return ()


def _version(reader: TLVReader, tlv: TLV, what: str) -> int:
    """A small INTEGER in minimal DER form (versions)."""
    reader.expect(tlv, universal=INTEGER, what=what)
    raw = reader.value(tlv, limit=8)
    if not raw or (len(raw) > 1 and (raw[0] == 0 and raw[1] < 0x80)):
        raise reader.err(f"malformed {what}", tlv.offset)
    return int.from_bytes(raw, "big", signed=True)


def _extract_digested(reader: TLVReader, top: TLV, end: int, dst: BinaryIO,
                      form: str) -> InnerReport:
    parts = _children(reader, top, end)
    if len(parts) != 4:
        raise reader.err("DigestedData must have four fields", top.offset)
    version = _version(reader, parts[0], "DigestedData version")
    alg = algorithms.by_oid(_alg_oid(reader, parts[1], "digestAlgorithm"), Kind.DIGEST)
    encap = _encap(reader, parts[2], end)
    # RFC 5652 §7: 0 when the encapsulated content is id-data, else 2
    expected_version = 0 if encap.content_type == ID_DATA else 2
    version_problems = () if version == expected_version else (
        f"DigestedData version {version} should be {expected_version}",)
    reader.expect(parts[3], universal=OCTET_STRING, what="digest")
    if parts[3].constructed:
        raise reader.err("digest must be a primitive OCTET STRING", parts[3].offset)
    expected = reader.value(parts[3], limit=1024)
    hasher = algorithms.new_hasher(alg)
    _stream(reader, encap, dst, [hasher])
    return InnerReport(
        kind="digested",
        form=form,
        digest=alg.name,
        digest_ok=hmac.compare_digest(hasher.digest(), expected),
        problems=_content_type_problems(encap) + version_problems,
    )


@dataclass
class _Cert:
    asn1: Any  # asn1crypto.x509.Certificate
    crypto: x509.Certificate


def _certificates(reader: TLVReader, tlv: TLV, end: int) -> list[_Cert]:
    """The X.509 certificates of ``certificates [0]`` (other choices are skipped)."""
    from asn1crypto import x509 as ax509
    from cryptography import x509 as cx509

    out: list[_Cert] = []
    for child in reader.children(tlv, end):
        if not child.is_universal(SEQUENCE):
            continue  # extendedCertificate, attribute certificates, other formats
        der = reader.element_bytes(child, end)
        try:
            parsed = ax509.Certificate.load(der)
            _ = (parsed.issuer.dump(), parsed.serial_number, parsed.key_identifier)
            out.append(_Cert(parsed, cx509.load_der_x509_certificate(der)))
        except (ValueError, TypeError, KeyError):
            continue  # unreadable: cannot be a signer we can check; path building suffers only
        if len(out) > 256:
            raise reader.err("too many certificates", tlv.offset)
    return out


@dataclass
class _Signer:
    info: Any  # asn1crypto.cms.SignerInfo
    digest: Algorithm | None
    problems: list[str] = field(default_factory=list)


def _extract_signed(reader: TLVReader, top: TLV, end: int, dst: BinaryIO, form: str,
                    trust: TrustStore | None) -> InnerReport:
    from asn1crypto import cms

    parts = _children(reader, top, end)
    if len(parts) < 4:
        raise reader.err("SignedData has too few fields", top.offset)
    version = _version(reader, parts[0], "SignedData version")
    reader.expect(parts[1], universal=SET, what="digestAlgorithms")
    encap = _encap(reader, parts[2], end)
    certs: list[_Cert] = []
    rest = parts[3:]
    if rest and rest[0].is_context(0):
        certs = _certificates(reader, rest[0], end)
        rest = rest[1:]
    if rest and rest[0].is_context(1):
        rest = rest[1:]  # crls: not used
    if len(rest) != 1:
        raise reader.err("malformed SignedData after encapContentInfo", top.offset)
    infos_tlv = reader.expect(rest[0], universal=SET, what="signerInfos")

    signers: list[_Signer] = []
    for child in reader.children(infos_tlv, end):
        reader.expect(child, universal=SEQUENCE, what="SignerInfo")
        if len(signers) >= 64:
            raise reader.err("too many signers", infos_tlv.offset)
        try:
            info = cms.SignerInfo.load(reader.element_bytes(child, end))
            digest_oid = info["digest_algorithm"]["algorithm"].dotted
            # parse what the checks read outside their own error handling now
            _sid_text(info["sid"])
            info["signature_algorithm"]["algorithm"].dotted  # noqa: B018
            info["signature"].native  # noqa: B018
        except (ValueError, TypeError) as exc:
            raise reader.err(f"malformed SignerInfo ({first_line(exc)})", child.offset) from None
        signer = _Signer(info, None)
        # RFC 5652 §5.3: version 1 with issuerAndSerialNumber, 3 with subjectKeyIdentifier
        sid_kind = info["sid"].name
        want = 1 if sid_kind == "issuer_and_serial_number" else 3
        if info["version"].native != f"v{want}":
            signer.problems.append(f"SignerInfo version {info['version'].native} does not fit "
                                   f"its signer identifier")
        try:
            signer.digest = algorithms.by_oid(digest_oid, Kind.DIGEST)
            algorithms.new_hasher(signer.digest)
        except UnsupportedAlgorithm as exc:
            signer.digest = None
            signer.problems.append(str(exc))
        signers.append(signer)

    hashers: dict[str, algorithms.Hasher] = {}
    for signer in signers:
        if signer.digest is not None and signer.digest.name not in hashers:
            hashers[signer.digest.name] = algorithms.new_hasher(signer.digest)
    _stream(reader, encap, dst, list(hashers.values()))
    digests = {name: h.digest() for name, h in hashers.items()}

    reports = tuple(
        _check_signer(s, encap.content_type, digests, certs, trust) for s in signers
    )
    # RFC 5652 §5.1: 3 when any signer uses an SKI or the content is not id-data, else 1;
    # 4 and 5 go with other certificate formats
    needs_v3 = encap.content_type != ID_DATA or any(
        s.info["sid"].name != "issuer_and_serial_number" for s in signers)
    problems = _content_type_problems(encap)
    if version not in ((3 if needs_v3 else 1), 4, 5):
        problems += (f"SignedData version {version} does not fit its content",)
    return InnerReport(
        kind="signed",
        form=form,
        digest=None if len(digests) != 1 else next(iter(digests)),
        signers=reports,
        trust_checked=trust is not None,
        problems=problems,
    )


# --------------------------------------------------------------------------- SignerInfo checks


class SignatureProblem(Exception):
    """A problem that makes a signature invalid; the message goes into ``problems``."""


def _sid_text(sid: Any) -> str:
    if sid.name == "issuer_and_serial_number":
        ias = sid.chosen
        return f"issuer {ias['issuer'].human_friendly}, serial {ias['serial_number'].native:#x}"
    return f"subject key identifier {sid.chosen.native.hex()}"


def _find_certificate(sid: Any, certs: Sequence[_Cert]) -> _Cert | None:
    for cert in certs:
        if sid.name == "issuer_and_serial_number":
            ias = sid.chosen
            if (cert.asn1.issuer == ias["issuer"]
                    and cert.asn1.serial_number == ias["serial_number"].native):
                return cert
        elif sid.name == "subject_key_identifier":
            ski = cert.asn1.key_identifier
            if ski is not None and ski == sid.chosen.native:
                return cert
    return None


def check_content_attributes(by_type: dict[str, Any], content_type: str,
                             content_digest: bytes) -> None:
    """RFC 5652 §11.1/11.2: content-type names the eContentType and message-digest is the
    digest of the content (compared in constant time).

    Raises:
        SignatureProblem: an attribute is missing or does not match.
    """
    ct = by_type.get(OID_ATTR_CONTENT_TYPE)
    if ct is None:
        raise SignatureProblem("signed attributes lack content-type")
    if ct.dotted != content_type:
        raise SignatureProblem("signed content-type differs from the eContentType")
    md = by_type.get(OID_ATTR_MESSAGE_DIGEST)
    if md is None:
        raise SignatureProblem("signed attributes lack message-digest")
    if not hmac.compare_digest(md.native, content_digest):
        raise SignatureProblem("message-digest does not match the content (content altered)")


def signed_attributes(info: Any) -> tuple[bytes, dict[str, Any]] | None:
    """The DER to verify (retagged as SET OF) and the single values by type OID."""
    from asn1crypto import core

    attrs = info["signed_attrs"]
    if isinstance(attrs, core.Void) or attrs.contents is None:
        return None
    raw = bytes(attrs.dump())
    if raw[:1] != bytes([_CONTEXT_0]):
        raise SignatureProblem("signed attributes are malformed")
    by_type: dict[str, Any] = {}
    for attr in attrs:
        oid = attr["type"].dotted
        if oid in by_type:
            raise SignatureProblem(f"signed attribute {oid} occurs more than once")
        values = attr["values"]
        if oid in (OID_ATTR_CONTENT_TYPE, OID_ATTR_MESSAGE_DIGEST, OID_ATTR_SIGNING_TIME) and (
            len(values) != 1
        ):
            raise SignatureProblem(f"signed attribute {oid} must have exactly one value")
        by_type[oid] = values[0] if len(values) else None
    return bytes([0x20 | SET]) + raw[1:], by_type


def _pss_padding(sig_alg: Any) -> tuple[Any, Algorithm]:
    """The PSS padding and its hash from RSASSA-PSS parameters (RFC 4055 defaults)."""
    from asn1crypto import core
    from cryptography.hazmat.primitives.asymmetric import padding

    params = sig_alg["parameters"]
    if isinstance(params, core.Void):
        sha1 = _digest("sha1")
        return padding.PSS(padding.MGF1(sha1.crypto_hash()), 20), sha1
    try:
        pss_hash = algorithms.by_oid(params["hash_algorithm"]["algorithm"].dotted, Kind.DIGEST)
        mgf = params["mask_gen_algorithm"]
        if mgf["algorithm"].dotted != algorithms.by_name("mgf1", Kind.KDF).oid:
            raise SignatureProblem("RSA-PSS mask generation function is not MGF1")
        mgf_hash = algorithms.by_oid(mgf["parameters"]["algorithm"].dotted, Kind.DIGEST)
        if params["trailer_field"].native not in ("trailer_field_bc", 1):
            raise SignatureProblem("RSA-PSS trailer field is not 1")
        salt = params["salt_length"].native
        return padding.PSS(padding.MGF1(mgf_hash.crypto_hash()), salt), pss_hash
    except (UnsupportedAlgorithm, ValueError, TypeError, KeyError) as exc:
        raise SignatureProblem(f"RSA-PSS parameters: {first_line(exc)}") from None


def verify_signer_signature(info: Any, key: Any, message: bytes, prehashed: bool,
                      digest: Algorithm) -> str:
    """Verify; returns the signature algorithm name. ``prehashed``: ``message`` is a digest."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa, utils

    sig_alg = info["signature_algorithm"]
    oid = sig_alg["algorithm"].dotted
    try:
        alg = algorithms.by_oid(oid, Kind.CMS_SIGNATURE)
    except UnsupportedAlgorithm:
        raise SignatureProblem(f"unsupported signature algorithm {oid}") from None
    signature = info["signature"].native
    try:
        if alg.family is Family.EDDSA:
            if prehashed:
                raise SignatureProblem("unsupported: EdDSA without signed attributes")
            expected = (ed25519.Ed25519PublicKey if alg.name == "cms-ed25519"
                        else ed448.Ed448PublicKey)
            if not isinstance(key, expected):
                raise SignatureProblem(
                    f"signature algorithm {alg.name} does not fit the signer's key")
            key.verify(signature, message)
            return alg.name
        pad: Any = None
        if alg.name == "rsassa-pss":
            pad, sig_hash = _pss_padding(sig_alg)
        else:
            sig_hash = _digest(alg.hash) if alg.hash else digest  # rsaEncryption: the digest's
        if prehashed and sig_hash is not digest:
            raise SignatureProblem(
                f"signature hash {sig_hash.name} differs from the digest algorithm "
                f"{digest.name} (no signed attributes)"
            )
        try:
            hash_obj = sig_hash.crypto_hash()
        except UnsupportedAlgorithm as exc:
            raise SignatureProblem(str(exc)) from None
        algo: Any = utils.Prehashed(hash_obj) if prehashed else hash_obj
        if alg.family is Family.RSA:
            if not isinstance(key, rsa.RSAPublicKey):
                raise SignatureProblem(
                    f"signature algorithm {alg.name} does not fit the signer's key")
            from cryptography.hazmat.primitives.asymmetric import padding

            key.verify(signature, message, pad or padding.PKCS1v15(), algo)
        elif alg.family is Family.EC:
            if not isinstance(key, ec.EllipticCurvePublicKey):
                raise SignatureProblem(
                    f"signature algorithm {alg.name} does not fit the signer's key")
            key.verify(signature, message, ec.ECDSA(algo))
        else:
            raise SignatureProblem(f"unsupported signature algorithm {alg.name}")
    except InvalidSignature:
        raise SignatureProblem("signature does not verify with the signer's certificate") from None
    return alg.name


def _check_signer(signer: _Signer, content_type: str, digests: dict[str, bytes],
                  certs: Sequence[_Cert], trust: TrustStore | None) -> SignerReport:
    info = signer.info
    problems = list(signer.problems)
    sid = info["sid"]
    cert = _find_certificate(sid, certs)
    who = cert.crypto.subject.rfc4514_string() if cert is not None else _sid_text(sid)
    algorithm = info["signature_algorithm"]["algorithm"].dotted
    signing_time: _dt.datetime | None = None
    valid = False
    try:
        if signer.digest is None:
            raise SignatureProblem("cannot hash the content for this signer")
        if signer.digest.legacy:
            problems.append(f"legacy digest algorithm {signer.digest.name}")
        content_digest = digests[signer.digest.name]
        if cert is None:
            raise SignatureProblem("the signer's certificate is not in the SignedData")
        signed = signed_attributes(info)
        if signed is None:
            message, prehashed = content_digest, True
        else:
            message, by_type = signed
            prehashed = False
            check_content_attributes(by_type, content_type, content_digest)
            st = by_type.get(OID_ATTR_SIGNING_TIME)
            if st is not None:
                when = st.native
                if isinstance(when, _dt.datetime):
                    signing_time = when if when.tzinfo else when.replace(tzinfo=_dt.UTC)
        algorithm = verify_signer_signature(info, cert.crypto.public_key(), message, prehashed,
                                      signer.digest)
        valid = True
    except SignatureProblem as exc:
        problems.append(str(exc))
    except (ValueError, TypeError, KeyError) as exc:  # malformed deep in a SignerInfo
        problems.append(f"SignerInfo is malformed: {first_line(exc)}")
    trusted = False
    if trust is not None and cert is not None:
        from dicomsec.trust import KeyPurpose

        now = _dt.datetime.now(_dt.UTC)
        try:
            result = trust.validate(
                cert.crypto,
                at=signing_time or now,
                purpose=KeyPurpose.SIGNING,
                extra_intermediates=[c.crypto for c in certs if c is not cert],
                revocation_at=now,  # signing-time is the signer's own claim
            )
        except Exception as exc:  # e.g. a certificate with malformed extensions
            problems.append(f"signer certificate cannot be validated: {first_line(exc)}")
        else:
            trusted = result.trusted
            problems.extend(f"signer certificate: {p}" for p in result.problems)
    elif trust is not None:
        problems.append("signer certificate not found: cannot check trust")
    return SignerReport(
        signer=who,
        algorithm=algorithm,
        digest=signer.digest.name if signer.digest is not None else
        info["digest_algorithm"]["algorithm"].dotted,
        valid=valid,
        trusted=trusted,
        problems=tuple(problems),
        signing_time=signing_time,
    )
