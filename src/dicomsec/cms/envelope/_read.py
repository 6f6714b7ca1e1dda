"""Reading a streaming EnvelopedData (RFC 5652 §6) or AuthEnvelopedData (RFC 5083/5084).

Only headers and small parts are loaded (:mod:`dicomsec.cms._der`); DER and BER (indefinite
lengths, chunked content) are accepted. :func:`decrypt_content` streams plaintext to a file the
caller provides; for AEAD ciphers the tag is checked at the end, and the caller must discard
that file unless the call returned normally (see :func:`dicomsec._atomic.atomic_output`).
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from dicomsec import algorithms, limits
from dicomsec.cms import DOES_NOT_OPEN, ID_AUTH_ENVELOPED_DATA, ID_DATA, ID_ENVELOPED_DATA
from dicomsec.cms._ciphers import cbc_cipher
from dicomsec.cms._der import (
    INDEFINITE,
    INTEGER,
    OCTET_STRING,
    OID,
    SEQUENCE,
    SET,
    TLV,
    TLVReader,
    decode_oid,
    element_spans,
)
from dicomsec.cms.envelope._common import _C, ATTR_CONTENT_TYPE, CHUNK
from dicomsec.errors import DecryptionFailed, InvalidInput

__all__ = ["MAX_RECIPIENTS", "Envelope", "decrypt_content", "is_envelope", "read_envelope"]


# --------------------------------------------------------------------------------------------
# reading


@dataclass(frozen=True)
class Envelope:
    """The parsed outer structure of an EnvelopedData or AuthEnvelopedData file."""

    outer: str  # "enveloped-data" | "auth-enveloped-data"
    version: int
    recipient_infos: tuple[bytes, ...] = field(repr=False)
    recipient_kinds: tuple[str, ...]
    content_type: str
    cipher: algorithms.Algorithm | None
    cipher_oid: str
    iv: bytes = field(repr=False)
    icv_len: int
    content: TLV | None = field(repr=False)
    aad: bytes = field(repr=False)
    mac: bytes | None = field(repr=False)
    ber: bool  # indefinite lengths or chunked content were found
    has_originator_info: bool
    has_unprotected_attrs: bool
    #: deviations from the standards that carry no security meaning, read and reported
    #: (short texts: "EnvelopedData version 0, RFC 5652 §6.1 requires 3")
    deviations: tuple[str, ...] = ()

    @property
    def aead(self) -> bool:
        return self.outer == "auth-enveloped-data"


def _small(reader: TLVReader, tlv: TLV) -> bytes:
    return reader.element_bytes(tlv, limit=1 << 20)


def _first(reader: TLVReader, tlv: TLV, n: int = 3) -> list[TLV]:
    """The first ``n`` children of a small structure (enough to tell "two" from "more"): a
    hostile element of many children is not listed whole."""
    return list(itertools.islice(reader.children(tlv), n))


def _int_value(reader: TLVReader, tlv: TLV) -> int:
    """A small INTEGER; the encoding must be minimal (DER and BER agree on that)."""
    reader.expect(tlv, universal=INTEGER, what="INTEGER")
    raw = reader.value(tlv, limit=16)
    if not raw or (len(raw) > 1 and ((raw[0] == 0 and raw[1] < 0x80)
                                     or (raw[0] == 0xFF and raw[1] >= 0x80))):
        raise reader.err("malformed INTEGER", tlv.offset)
    return int.from_bytes(raw, "big", signed=True)


#: RecipientInfo CHOICE tag number -> (kind, name, version, clause); ktri is the untagged SEQUENCE
_RI_VERSIONS = {1: ("kari", "KeyAgreeRecipientInfo", 3, "RFC 5652 §6.2.2"),
                2: ("kekri", "KEKRecipientInfo", 4, "RFC 5652 §6.2.3"),
                3: ("pwri", "PasswordRecipientInfo", 0, "RFC 5652 §6.2.4")}


def _recipient_version(r: TLVReader, tlv: TLV) -> tuple[str, int, str | None]:
    """(kind, version, deviation) of one RecipientInfo; the version is checked against
    RFC 5652 §6.2 / RFC 9629 and a mismatch is a deviation (a version number changes nothing
    that is decrypted or authenticated).

    Raises:
        InvalidInput: an unknown choice, or a structure too short to hold a version.
    """
    kids = _first(r, tlv)
    if tlv.is_universal(SEQUENCE):  # ktri: version 0 with issuerAndSerialNumber, 2 with SKI
        if len(kids) < 2:
            raise r.err("short KeyTransRecipientInfo", tlv.offset)
        version = _int_value(r, kids[0])
        by_issuer = kids[1].is_universal(SEQUENCE)
        want = 0 if by_issuer else 2
        return "ktri", version, None if version == want else (
            f"KeyTransRecipientInfo version {version}, RFC 5652 §6.2.1 requires {want} with "
            f"{'issuerAndSerialNumber' if by_issuer else 'subjectKeyIdentifier'}")
    if tlv.cls == 2 and tlv.number in _RI_VERSIONS:
        kind, name, want, clause = _RI_VERSIONS[tlv.number]
        if not kids:
            raise r.err(f"empty {kind}", tlv.offset)
        version = _int_value(r, kids[0])
        return kind, version, None if version == want else (
            f"{name} version {version}, {clause} requires {want}")
    if tlv.is_context(4):  # ori: oriType, oriValue; KEMRecipientInfo has version 0
        if len(kids) == 2 and kids[1].is_universal(SEQUENCE):
            inner = _first(r, kids[1])
            if inner and inner[0].is_universal(INTEGER):
                version = _int_value(r, inner[0])
                if version != 0:
                    return "ori", 0, (f"KEMRecipientInfo version {version}, RFC 9629 §3 "
                                      "requires 0")
        return "ori", 0, None
    raise r.err("unknown RecipientInfo choice", tlv.offset)


def _oid_value(reader: TLVReader, tlv: TLV) -> str:
    reader.expect(tlv, universal=OID, what="OBJECT IDENTIFIER")
    try:
        return decode_oid(reader.value(tlv, limit=256))
    except ValueError:
        raise reader.err("malformed OBJECT IDENTIFIER", tlv.offset) from None


def _parse_cipher_params(alg: algorithms.Algorithm | None, params: bytes) -> tuple[bytes, int]:
    """(IV or nonce, ICV length) from the content-encryption AlgorithmIdentifier parameters."""
    r = TLVReader(io.BytesIO(params), len(params), "<parameters>")
    if not params:
        raise r.err("missing cipher parameters", 0)
    top = r.header(0)
    if alg is not None and alg.mode in ("gcm", "ccm"):
        r.expect(top, universal=SEQUENCE, what="AEAD parameters")
        kids = _first(r, top)
        if not kids:
            raise r.err("empty AEAD parameters", 0)
        nonce = r.value(r.expect(kids[0], universal=OCTET_STRING, what="nonce"), limit=64)
        icv = _int_value(r, kids[1]) if len(kids) > 1 else 12
        # the ICV length is not authenticated: RFC 5084 allows GCM 12..16 and CCM 4..16 even
        # (shorter GCM tags would let a forger truncate ours)
        if alg.mode == "gcm" and not (12 <= icv <= 16 and 8 <= len(nonce) <= 64):
            raise r.err("GCM parameters outside RFC 5084 (ICV 12-16 octets)", 0)
        if alg.mode == "ccm" and not (icv in (4, 6, 8, 10, 12, 14, 16)
                                      and 7 <= len(nonce) <= 13):
            raise r.err("CCM parameters outside RFC 5084", 0)
        return nonce, icv
    r.expect(top, universal=OCTET_STRING, what="IV")
    iv = r.value(top, limit=64)
    if alg is not None and alg.mode == "chacha20-poly1305" and len(iv) != 12:
        raise r.err("ChaCha20-Poly1305 nonce is not 12 octets", 0)
    return iv, 16 if alg is not None and alg.mode == "chacha20-poly1305" else 0


#: the default of the ``recipients`` limit (kept for callers of old; the limit in force is
#: ``dicomsec.limits.current().recipients``)
MAX_RECIPIENTS = limits.Limits().recipients


def _der_order(encodings: Sequence[bytes]) -> bool:
    """Whether SET OF components are in DER order (X.690 §11.6: ascending encodings, the
    shorter padded with zero octets)."""
    for a, b in itertools.pairwise(encodings):
        n = max(len(a), len(b))
        if a.ljust(n, b"\x00") > b.ljust(n, b"\x00"):
            return False
    return True


def _check_auth_attrs(aad: bytes, content_type: str, name: str) -> tuple[str, ...]:
    """RFC 5083 §2.1: authenticated attributes are required when the content is not id-data,
    and when present carry content-type, which must name the (unauthenticated) content type
    of the EncryptedContentInfo. Returns the deviations (attributes out of DER order: the MAC
    covers them as they are)."""
    if not aad:
        if content_type != ID_DATA:
            raise InvalidInput("AuthEnvelopedData of non-data content without authenticated "
                               "attributes", path=name)
        return ()
    r = TLVReader(io.BytesIO(aad), len(aad), name)
    found = None
    encodings: list[bytes] = []
    for attr in r.children(r.header(0)):
        if len(encodings) >= _MAX_ATTRIBUTES:
            raise r.err("too many authenticated attributes", 0)
        encodings.append(r.element_bytes(attr))
        parts = _first(r, attr)
        if len(parts) == 2 and _oid_value(r, parts[0]) == ATTR_CONTENT_TYPE:
            values = _first(r, parts[1])
            if found is not None or len(values) != 1:
                raise InvalidInput("malformed content-type attribute", path=name)
            found = _oid_value(r, values[0])
    if found is None:
        raise InvalidInput("authenticated attributes lack content-type", path=name)
    if found != content_type:
        raise DecryptionFailed(DOES_NOT_OPEN, path=name)
    if not _der_order(encodings):
        return ("authenticated attributes out of DER order (SET OF, X.690 §11.6)",)
    return ()


#: authenticated attributes read at most (real files carry two or three)
_MAX_ATTRIBUTES = 256


def _need(it: Iterator[TLV], r: TLVReader, what: str, parent: TLV) -> TLV:
    for tlv in it:
        return tlv
    raise r.err(f"missing {what}", parent.offset)


def _outer(r: TLVReader, name: str) -> tuple[bool, TLV, bool]:
    """(AEAD?, the (Auth)EnvelopedData SEQUENCE, BER seen) of the ContentInfo at offset 0."""
    ci = r.header(0)
    if not ci.is_universal(SEQUENCE) or not ci.constructed:
        raise InvalidInput("not a CMS ContentInfo", path=name)
    kids = r.children(ci)
    ctype = _oid_value(r, _need(kids, r, "content type", ci))
    if ctype not in (ID_ENVELOPED_DATA, ID_AUTH_ENVELOPED_DATA):
        raise InvalidInput(f"CMS content type {ctype} is not (Auth)EnvelopedData", path=name)
    explicit = r.expect(_need(kids, r, "content", ci), context=0, what="[0] content")
    env = _need(r.children(explicit), r, "EnvelopedData", explicit)
    r.expect(env, universal=SEQUENCE, what="EnvelopedData SEQUENCE")
    ber = INDEFINITE in (ci.length, explicit.length, env.length)
    return ctype == ID_AUTH_ENVELOPED_DATA, env, ber


@dataclass(frozen=True)
class _Eci:
    """The EncryptedContentInfo: content type, cipher and its parameters, the content."""

    content_type: str
    cipher: algorithms.Algorithm | None
    cipher_oid: str
    iv: bytes
    icv_len: int
    content: TLV | None
    ber: bool


def _encrypted_content_info(r: TLVReader, tlv: TLV) -> _Eci:
    eci = r.expect(tlv, universal=SEQUENCE, what="EncryptedContentInfo")
    eci_kids = r.children(eci)
    content_type = _oid_value(r, _need(eci_kids, r, "content type", eci))
    algid = r.expect(_need(eci_kids, r, "AlgorithmIdentifier", eci), universal=SEQUENCE,
                     what="AlgorithmIdentifier")
    alg_kids = _first(r, algid)
    cipher_oid = _oid_value(r, alg_kids[0]) if alg_kids else ""
    try:
        cipher: algorithms.Algorithm | None = algorithms.by_oid(cipher_oid, _C)
    except InvalidInput:
        cipher = None
    params = _small(r, alg_kids[1]) if len(alg_kids) > 1 else b""
    iv, icv = _parse_cipher_params(cipher, params) if cipher is not None else (b"", 0)
    content = next(eci_kids, None)
    ber = eci.length == INDEFINITE
    if content is not None:
        r.expect(content, context=0, what="[0] encryptedContent")
        ber |= content.constructed
    return _Eci(content_type, cipher, cipher_oid, iv, icv, content, ber)


def _trailer(r: TLVReader, fields: Iterator[TLV], aead: bool,
             name: str) -> tuple[bytes, bytes | None, bool]:
    """(authenticated attributes as SET OF, MAC, unprotected attributes present?)."""
    aad = b""
    mac = None
    has_unprot = False
    for t in fields:
        if aead and t.is_context(1):
            raw = _small(r, t)
            aad = b"\x31" + raw[1:]  # the SET OF tag replaces [1] for the MAC input
        elif aead and t.is_universal(OCTET_STRING):
            mac = r.value(t, limit=64)
        elif t.is_context(1 if not aead else 2):
            has_unprot = True
        else:
            raise r.err("unexpected field", t.offset)
    if aead and mac is None:
        raise InvalidInput("AuthEnvelopedData has no MAC", path=name)
    return aad, mac, has_unprot


def _expected_versions(aead: bool, has_orig: bool, has_unprot: bool,
                       kinds: Sequence[tuple[str, int]]) -> tuple[int, ...]:
    """RFC 5083 §2.1: AuthEnvelopedData version 0; RFC 5652 §6.1 for EnvelopedData (4 and 3
    with originatorInfo depend on the certificate formats in it, which are not read)."""
    if aead:
        return (0,)
    pwri_or_ori = any(k in ("pwri", "ori") for k, _ in kinds)
    if has_orig:
        return (3, 4) if pwri_or_ori else (2, 3, 4)
    if pwri_or_ori:
        return (3,)
    if not has_unprot and all(v == 0 for _, v in kinds):
        return (0,)
    return (2,)


def _version_deviation(version: int, aead: bool, has_orig: bool, has_unprot: bool,
                       kinds: Sequence[tuple[str, int]]) -> tuple[str, ...]:
    """The version deviation, if any: "EnvelopedData version 0, RFC 5652 §6.1 requires 3"
    (BouncyCastle writes 0 for a password-only EnvelopedData; the number protects nothing)."""
    want = _expected_versions(aead, has_orig, has_unprot, kinds)
    if version in want:
        return ()
    outer, clause = ("AuthEnvelopedData", "RFC 5083 §2.1") if aead else (
        "EnvelopedData", "RFC 5652 §6.1")
    need = str(want[0]) if len(want) == 1 else " or ".join(str(v) for v in want)
    return (f"{outer} version {version}, {clause} requires {need}",)


def is_envelope(fh: BinaryIO, size: int) -> bool:
    """Whether the file begins with a ContentInfo of (Auth)EnvelopedData (its outer headers
    and content type only; :func:`read_envelope` reads and checks the rest)."""
    try:
        _outer(TLVReader(fh, size), "<input>")
    except InvalidInput:
        return False
    return True


def _check_end(r: TLVReader, name: str) -> None:
    """The ContentInfo must end exactly at the end of the file: every end-of-contents octet
    pair of a BER encoding present (a truncated file is not read as whole) and nothing after
    it (bytes no reader would authenticate are not carried along silently)."""
    end = r.end_of(r.header(0))  # raises when an end-of-contents pair is missing
    if end != r.size:
        raise InvalidInput(f"malformed CMS structure: {r.size - end} bytes after the "
                           f"ContentInfo (it ends at offset {end})", path=name)


def read_envelope(fh: BinaryIO, size: int, name: str = "<input>") -> Envelope:
    """Parse the headers of a ContentInfo holding (Auth)EnvelopedData.

    The ContentInfo must fill the file: trailing bytes, or a BER encoding that lacks an
    end-of-contents pair, are refused. The RecipientInfos are counted while they are read,
    against the ``recipients`` limit (and their bytes against ``value_bytes``), before
    anything else is spent on them. Deviations that carry no security meaning (version
    numbers, SET OF order in a DER file, NULL or absent algorithm parameters) are read and
    listed in ``deviations``.

    Raises:
        InvalidInput: not CMS, another content type, or malformed.
        LimitExceeded: more RecipientInfos than the ``recipients`` limit, or nesting deeper
            than ``der_depth``.
    """
    r = TLVReader(fh, size, name)
    aead, env, ber = _outer(r, name)
    fields = r.children(env)
    version = _int_value(r, _need(fields, r, "version", env))
    item = _need(fields, r, "recipientInfos", env)
    has_orig = False
    if item.is_context(0):
        has_orig = True
        item = _need(fields, r, "recipientInfos", env)
    r.expect(item, universal=SET, what="recipientInfos SET")
    infos, kinds, deviations = _recipient_infos(r, item, name)
    eci = _encrypted_content_info(r, _need(fields, r, "EncryptedContentInfo", env))
    aad, mac, has_unprot = _trailer(r, fields, aead, name)
    _check_end(r, name)  # after the fields: their walk is remembered, not repeated
    if aead:
        deviations += _check_auth_attrs(aad, eci.content_type, name)
    ber = ber or eci.ber or INDEFINITE in (env.length, item.length)
    if ber:  # BER leaves SET OF order free
        deviations = [d for d in deviations if not d.startswith("recipientInfos out of")]
    deviations[:0] = _version_deviation(version, aead, has_orig, has_unprot, kinds)
    return Envelope(
        outer="auth-enveloped-data" if aead else "enveloped-data", version=version,
        recipient_infos=infos, recipient_kinds=tuple(k for k, _ in kinds),
        content_type=eci.content_type, cipher=eci.cipher, cipher_oid=eci.cipher_oid,
        iv=eci.iv, icv_len=eci.icv_len, content=eci.content, aad=aad, mac=mac,
        ber=ber, has_originator_info=has_orig, has_unprotected_attrs=has_unprot,
        deviations=tuple(deviations),
    )


def _recipient_keys(r: TLVReader, tlv: TLV, der: bytes) -> int:
    """How many recipient keys the RecipientInfo ``tlv`` (encoded as ``der``) holds: its
    RecipientEncryptedKeys (the last field) when it is a KeyAgreeRecipientInfo, counted on
    ``der`` without an object per key (BER or DER); one for any other kind, and one for a
    kari whose keys cannot be counted (malformed: it is not refused here, describing it or
    opening it judges it, and another recipient may still open the file).

    Raises:
        LimitExceeded: BER nested deeper than ``der_depth`` (offsets in the file).
    """
    if not tlv.is_context(1):
        return 1
    try:
        fields = list(itertools.islice(r.children(tlv), 6))
        if not fields or not fields[-1].constructed:
            return 1
        keys = fields[-1]
        stop = r.end_of(keys) - (2 if keys.length == INDEFINITE else 0)
    except limits.LimitExceeded:
        raise
    except InvalidInput:
        return 1
    try:
        _, count = element_spans(der[keys.value_offset - tlv.offset : stop - tlv.offset], 0,
                                 depth=r.limits.der_depth)
    except limits.LimitExceeded:
        raise r.too_deep(keys.value_offset) from None
    except InvalidInput:
        return 1
    return max(1, count)


def _too_many(most: int, name: str) -> limits.LimitExceeded:
    return limits.LimitExceeded(f"more than {most} recipients (RecipientInfos, each key of a "
                                "KeyAgreeRecipientInfo counted)", "recipients", most, path=name)


def _recipient_infos(r: TLVReader, item: TLV, name: str
                     ) -> tuple[tuple[bytes, ...], list[tuple[str, int]], list[str]]:
    """(RecipientInfo encodings, (kind, version) of each, deviations), counted while read:
    more recipient keys than the ``recipients`` limit (every RecipientInfo counts one, a
    KeyAgreeRecipientInfo one per RecipientEncryptedKey), or more bytes than ``value_bytes``,
    are refused at the first one over (a SET of millions is never listed)."""
    from dicomsec.cms.recipients import parameter_deviations

    lim = r.limits
    infos: list[bytes] = []
    kinds: list[tuple[str, int]] = []
    deviations: list[str] = []
    held = keys = 0
    for tlv in r.children(item):
        if keys >= lim.recipients:
            raise _too_many(lim.recipients, name)
        der = _small(r, tlv)
        held += len(der)
        if held > lim.value_bytes:
            raise limits.LimitExceeded(f"RecipientInfos of more than {lim.value_bytes} bytes",
                                       "value_bytes", lim.value_bytes, path=name)
        keys += _recipient_keys(r, tlv, der)
        if keys > lim.recipients:
            raise _too_many(lim.recipients, name)
        kind, version, deviation = _recipient_version(r, tlv)
        index = len(infos)
        if deviation:
            deviations.append(f"recipient {index}: {deviation}")
        deviations += (f"recipient {index}: {d}" for d in parameter_deviations(der))
        infos.append(der)
        kinds.append((kind, version))
    if not infos:
        raise r.err("no recipients", item.offset)
    if not _der_order(infos):
        deviations.append("recipientInfos out of DER order (SET OF, X.690 §11.6)")
    return tuple(infos), kinds, deviations


def _chunks(fh: BinaryIO, size: int, env: Envelope, name: str) -> Iterator[bytes]:
    """The ciphertext, in pieces of at most CHUNK bytes (BER chunks of any size gathered by
    :meth:`~dicomsec.cms._der.TLVReader.octet_data`: linear, whatever their size)."""
    if env.content is None:
        raise InvalidInput("the encrypted content is detached (not in this file)", path=name)
    r = TLVReader(fh, size, name)
    for data in r.octet_data(env.content):
        if len(data) <= CHUNK:
            yield data
            continue
        for start in range(0, len(data), CHUNK):
            yield data[start : start + CHUNK]


def decrypt_content(fh: BinaryIO, size: int, env: Envelope, cek: bytes, out: BinaryIO,
                    *, name: str = "<input>") -> int:
    """Decrypt the content into ``out``; returns the plaintext length.

    For AES-GCM the tag is checked at the end: on failure :class:`DecryptionFailed` is raised
    and ``out`` holds unauthenticated data that the caller must discard. For CBC the padding is
    checked (CBC has no integrity: check the inner SignedData/DigestedData).

    Raises:
        DecryptionFailed: wrong key, failed tag or padding (one message, no oracle).
        InvalidInput: unsupported cipher or malformed content.
    """
    from cryptography.exceptions import InvalidTag

    alg = env.cipher
    if alg is None:
        raise InvalidInput(f"unknown content-encryption algorithm {env.cipher_oid}", path=name)
    if len(cek) != alg.key_size:
        raise DecryptionFailed(DOES_NOT_OPEN, path=name)
    failed = DecryptionFailed(DOES_NOT_OPEN, path=name)
    try:
        if alg.mode == "gcm":
            if env.mac is None or len(env.mac) != env.icv_len or len(env.iv) < 8:
                raise failed
            from cryptography.hazmat.primitives.ciphers import Cipher, modes
            from cryptography.hazmat.primitives.ciphers.algorithms import AES

            dec = Cipher(AES(cek), modes.GCM(env.iv, env.mac, min_tag_length=12)).decryptor()
            if env.aad:
                dec.authenticate_additional_data(env.aad)
            total = 0
            for piece in _chunks(fh, size, env, name):
                out.write(dec.update(piece))
                total += len(piece)
            out.write(dec.finalize())
            return total
        if alg.mode == "cbc":
            return _decrypt_cbc(fh, size, env, alg, cek, out, name)
        return _decrypt_one_shot(fh, size, env, alg, cek, out, name)
    except InvalidTag:
        raise failed from None


def _decrypt_cbc(fh: BinaryIO, size: int, env: Envelope, alg: algorithms.Algorithm, cek: bytes,
                 out: BinaryIO, name: str) -> int:
    from cryptography.hazmat.primitives import padding

    bs = alg.block_size
    if len(env.iv) != bs:
        raise InvalidInput("bad CBC IV length", path=name)
    dec = cbc_cipher(alg, cek, env.iv).decryptor()
    unpad = padding.PKCS7(bs * 8).unpadder()
    total = 0
    try:
        for piece in _chunks(fh, size, env, name):
            data = unpad.update(dec.update(piece))
            out.write(data)
            total += len(data)
        tail = unpad.update(dec.finalize()) + unpad.finalize()
    except ValueError:
        raise DecryptionFailed(DOES_NOT_OPEN, path=name) from None
    out.write(tail)
    return total + len(tail)


def _one_shot_content(fh: BinaryIO, size: int, env: Envelope, alg: algorithms.Algorithm,
                      mac: bytes, name: str) -> bytearray:
    """The ciphertext followed by ``mac``, in one buffer, for a one-shot AEAD; content over
    the ``ccm_bytes`` limit is refused before it is read (a definite length is known from its
    header; chunked content is counted while read, at most one piece over)."""
    lim = limits.current().ccm_bytes

    def refuse(what: str) -> limits.LimitExceeded:
        return limits.LimitExceeded(f"{alg.name} content of {what} bytes (decrypted in "
                                    "memory: one-shot AEAD)", "ccm_bytes", lim, path=name)

    if env.content is not None and not env.content.constructed and env.content.length > lim:
        raise refuse(str(env.content.length))
    pieces: list[bytes] = []
    total = 0
    for piece in _chunks(fh, size, env, name):
        total += len(piece)
        if total > lim:
            raise refuse(f"more than {lim}")
        pieces.append(piece)
    data = bytearray(total + len(mac))
    pos = 0
    for piece in pieces:
        data[pos : pos + len(piece)] = piece
        pos += len(piece)
    pieces.clear()
    data[pos:] = mac
    return data


def _decrypt_one_shot(fh: BinaryIO, size: int, env: Envelope, alg: algorithms.Algorithm,
                      cek: bytes, out: BinaryIO, name: str) -> int:
    """AES-CCM and ChaCha20-Poly1305: ``cryptography`` decrypts them in one call, so the
    content is held whole (at most the ``ccm_bytes`` limit; peak memory about twice it)."""
    from cryptography.hazmat.primitives.ciphers import aead

    if env.mac is None:
        raise InvalidInput("AEAD content without a MAC", path=name)
    cipher: Any
    if alg.mode == "ccm":
        cipher = aead.AESCCM(cek, tag_length=env.icv_len)
    elif alg.mode == "chacha20-poly1305":
        cipher = aead.ChaCha20Poly1305(cek)
    else:
        raise InvalidInput(f"{alg.name} is not supported", path=name)
    data = _one_shot_content(fh, size, env, alg, env.mac, name)
    try:
        plain = cipher.decrypt(env.iv, data, env.aad or None)
    except ValueError as exc:
        raise InvalidInput(f"{alg.name} parameters not usable ({exc})", path=name) from None
    del data
    out.write(plain)
    return len(plain)
