"""Reading the inner content of a Secure DICOM File: SignedData and DigestedData (RFC 5652
§5, §7).

:func:`extract_inner` takes the decrypted plaintext (a seekable file), recognises the three
nesting forms of the specification (strict, OpenSSL pipeline, plain), streams the eContent to a
destination in pieces of at most 1 MiB while hashing it (one pass over the content), then checks
the digest or every SignerInfo (:mod:`~dicomsec.cms.signed._check`). Verification failures are
report fields; only malformed structures raise :class:`~dicomsec.errors.InvalidInput`.
"""

from __future__ import annotations

import hmac
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO

from dicomsec import algorithms, limits
from dicomsec.algorithms import Algorithm, Kind
from dicomsec.cms import ID_DATA, ID_DIGESTED_DATA, ID_SIGNED_DATA
from dicomsec.cms._der import INTEGER, OCTET_STRING, OID, SEQUENCE, SET, TLV, TLVReader, decode_oid
from dicomsec.cms.signed._check import (
    _Cert,
    _check_signer,
    _sid_text,
    _Signer,
    load_certificate,
)
from dicomsec.cms.signed._common import _UNBOUNDED, CHUNK_SIZE, first_line, parser_errors
from dicomsec.cms.signed._reports import InnerReport
from dicomsec.errors import InvalidInput, UnsupportedAlgorithm

if TYPE_CHECKING:
    from dicomsec.trust import TrustStore

__all__ = ["check_signed_data_limits", "extract_inner"]


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
    """Copy the eContent octets to ``dst`` in pieces of at most 1 MiB, hashing them (BER
    chunks of any size gathered by :meth:`~dicomsec.cms._der.TLVReader.octet_data`)."""
    total = 0
    for data in reader.octet_data(encap.octets, encap.end):
        for start in range(0, len(data), CHUNK_SIZE):
            piece = data[start : start + CHUNK_SIZE] if len(data) > CHUNK_SIZE else data
            for hasher in hashers:
                hasher.update(piece)
            dst.write(piece)
            total += len(piece)
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
    used: list[tuple[Algorithm, Any]] | None = None,
) -> InnerReport:
    """Unwrap the decrypted inner content of a Secure DICOM File into ``dst``, checking it.

    ``src`` is seekable and holds ``size`` bytes; ``content_type`` is the EncryptedContentInfo
    contentType. Strict form: ``content_type`` is id-signedData / id-digestedData and ``src`` the
    value. With id-data, ``src`` is either a ContentInfo(SignedData/DigestedData) (the OpenSSL
    pipeline form) or the DICOM File itself (plain: copied as is). The content is streamed to
    ``dst`` before it is checked: the caller must discard ``dst`` unless ``report.ok``.
    ``used``, when given, receives every algorithm the check used, with the key it was used
    with (the DigestedData digest; each verified signer's digest, signature scheme with the
    signer's public key and RSASSA-PSS hash), for the caller's algorithm policy (VERIFY).

    Every failure of the ASN.1 and certificate parsers is the project's own: an unreadable
    certificate is skipped (a signer that needs it does not verify), anything else malformed
    is :class:`InvalidInput`; no library exception escapes.

    Raises:
        InvalidInput: malformed structure, detached content, unknown content type, a
            DigestedData with an unknown digest algorithm (``UnsupportedAlgorithm``).
    """
    reader = TLVReader(src, size, name)
    try:
        return _extract(reader, src, size, content_type, dst, trust, used)
    except parser_errors() as exc:
        # the readers above handle what they know of; this is the net under them (the type
        # only: a parser's message may quote the plaintext)
        raise InvalidInput(f"malformed inner content ({type(exc).__name__})",
                           path=name) from None


def _extract(reader: TLVReader, src: BinaryIO, size: int, content_type: str, dst: BinaryIO,
             trust: TrustStore | None, used: list[tuple[Algorithm, Any]] | None
             ) -> InnerReport:
    """:func:`extract_inner` without its net for parser exceptions."""
    name = reader.name
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
        report = _extract_digested(reader, top, top_end, dst, form)
        if used is not None and report.digest is not None:
            used.append((algorithms.by_name(report.digest, Kind.DIGEST), None))
        return report
    return _extract_signed(reader, top, top_end, dst, form, trust, used)


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


def _certificates(reader: TLVReader, tlv: TLV, end: int) -> tuple[list[_Cert], int, int]:
    """The X.509 certificates of ``certificates [0]`` (other choices are skipped), and how
    many could not be read or used (skipped: such a certificate cannot be a signer we can
    check; path building suffers only), and how many choices there were. Every choice counts
    against the ``certificates`` limit and the bytes held against ``value_bytes``, before it
    is loaded."""
    counted = 0
    out: list[_Cert] = []
    unreadable = 0
    held = 0
    lim = reader.limits
    for child in reader.children(tlv, end):
        counted += 1
        _count_certificates(reader, counted)
        if not child.is_universal(SEQUENCE):
            continue  # extendedCertificate, attribute certificates, other formats
        der = reader.element_bytes(child, end, limit=lim.value_bytes)
        held += len(der)
        if held > lim.value_bytes:
            raise limits.LimitExceeded(
                f"certificates of more than {lim.value_bytes} bytes in one SignedData",
                "value_bytes", lim.value_bytes, path=reader.name)
        try:
            out.append(load_certificate(der))
        except parser_errors():
            unreadable += 1
    return out, unreadable, counted


def _count_certificates(reader: TLVReader, counted: int) -> None:
    """Refuse the ``counted``-th certificate or CRL of one SignedData when it is over the
    ``certificates`` limit."""
    lim = reader.limits.certificates
    if counted > lim:
        raise limits.LimitExceeded(f"more than {lim} certificates and CRLs in one SignedData",
                                   "certificates", lim, path=reader.name)


def _count_crls(reader: TLVReader, tlv: TLV, end: int, counted: int) -> None:
    """Count the CRLs of ``crls [1]`` (not used otherwise) after ``counted`` certificates."""
    for _ in reader.children(tlv, end):
        counted += 1
        _count_certificates(reader, counted)


def _signer_info(reader: TLVReader, child: TLV, end: int) -> _Signer:
    """One SignerInfo, with every field the checks read outside their own error handling
    parsed now (a malformed one is :class:`InvalidInput`), its version checked against its
    identifier and its digest algorithm looked up."""
    from asn1crypto import cms

    reader.expect(child, universal=SEQUENCE, what="SignerInfo")
    try:
        info = cms.SignerInfo.load(reader.element_bytes(child, end))
        digest_oid = info["digest_algorithm"]["algorithm"].dotted
        _sid_text(info["sid"])
        info["signature_algorithm"]["algorithm"].dotted  # noqa: B018
        info["signature"].native  # noqa: B018
        version = info["version"].native
    except parser_errors() as exc:
        raise reader.err(f"malformed SignerInfo ({first_line(exc)})", child.offset) from None
    signer = _Signer(info, None)
    # RFC 5652 §5.3: version 1 with issuerAndSerialNumber, 3 with subjectKeyIdentifier
    want = 1 if info["sid"].name == "issuer_and_serial_number" else 3
    if version != f"v{want}":
        signer.problems.append(f"SignerInfo version {version} does not fit its signer identifier")
    try:
        signer.digest = algorithms.by_oid(digest_oid, Kind.DIGEST)
        algorithms.new_hasher(signer.digest)
    except UnsupportedAlgorithm as exc:
        signer.digest = None
        signer.problems.append(str(exc))
    return signer


def _certificates_and_signers(reader: TLVReader, top: TLV, rest: list[TLV], end: int
                              ) -> tuple[list[_Cert], int, list[_Signer]]:
    """The certificates (and how many were unusable) and the SignerInfos of a SignedData,
    given its fields after encapContentInfo; certificates and CRLs together are counted
    against the ``certificates`` limit, SignerInfos against ``signers``, while read."""
    certs: list[_Cert] = []
    unreadable = counted = 0
    if rest and rest[0].is_context(0):
        certs, unreadable, counted = _certificates(reader, rest[0], end)
        rest = rest[1:]
    if rest and rest[0].is_context(1):
        _count_crls(reader, rest[0], end, counted)  # crls: not used
        rest = rest[1:]
    if len(rest) != 1:
        raise reader.err("malformed SignedData after encapContentInfo", top.offset)
    infos_tlv = reader.expect(rest[0], universal=SET, what="signerInfos")
    most = reader.limits.signers
    signers: list[_Signer] = []
    for child in reader.children(infos_tlv, end):
        if len(signers) >= most:
            raise limits.LimitExceeded(f"more than {most} SignerInfos in one SignedData",
                                       "signers", most, path=reader.name)
        signers.append(_signer_info(reader, child, end))
    return certs, unreadable, signers


def _extract_signed(reader: TLVReader, top: TLV, end: int, dst: BinaryIO, form: str,
                    trust: TrustStore | None,
                    used: list[tuple[Algorithm, Any]] | None = None) -> InnerReport:
    parts = _children(reader, top, end)
    if len(parts) < 4:
        raise reader.err("SignedData has too few fields", top.offset)
    version = _version(reader, parts[0], "SignedData version")
    reader.expect(parts[1], universal=SET, what="digestAlgorithms")
    encap = _encap(reader, parts[2], end)
    certs, unreadable, signers = _certificates_and_signers(reader, top, parts[3:], end)

    hashers: dict[str, algorithms.Hasher] = {}
    for signer in signers:
        if signer.digest is not None and signer.digest.name not in hashers:
            hashers[signer.digest.name] = algorithms.new_hasher(signer.digest)
    _stream(reader, encap, dst, list(hashers.values()))
    digests = {name: h.digest() for name, h in hashers.items()}

    reports = tuple(
        _check_signer(s, encap.content_type, digests, certs, trust, used, unreadable=unreadable)
        for s in signers
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



def check_signed_data_limits(der: bytes, *, name: str = "<SignedData>") -> None:
    """Refuse a small DER ContentInfo(SignedData) (a timestamp token, say) whose structure
    exceeds the limits, before a recursive parser loads it: nesting deeper than ``der_depth``,
    more certificates and CRLs than ``certificates``, more SignerInfos than ``signers``.

    Only the limits are judged here: a malformed structure returns quietly (the parser that
    follows reports it in its own words).

    Raises:
        LimitExceeded: a limit of :mod:`dicomsec.limits` is exceeded.
    """
    import io

    reader = TLVReader(io.BytesIO(der), len(der), name)
    try:
        top = reader.header(0)
        reader.check_nesting(top)
        content = _children(reader, top, reader.size)[1]
        signed = _children(reader, content, reader.end_of(content))[0]
        parts = _children(reader, signed, reader.end_of(signed))
        counted = 0
        for field in parts[3:]:
            if field.is_context(0) or field.is_context(1):
                for _ in reader.children(field):
                    counted += 1
                    _count_certificates(reader, counted)
            elif field.is_universal(SET):
                most = reader.limits.signers
                if sum(1 for _ in itertools.islice(reader.children(field), most + 1)) > most:
                    raise limits.LimitExceeded(f"more than {most} SignerInfos in one SignedData",
                                               "signers", most, path=name)
    except limits.LimitExceeded:
        raise
    except (InvalidInput, IndexError):
        return
