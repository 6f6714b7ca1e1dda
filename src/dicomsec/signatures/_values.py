"""Low-level: raw values of the signature attributes, item paths and the MAC digest.

Values are read from the stored bytes of a parsed Part 10 file (``dicomsec._rawdicom``), never
from a value pydicom has decoded. These helpers are shared by the producer (``_sign``,
``_remove``) and the judge (``_verify``); they check the shape of values only, never a
signature, a certificate or a profile.
"""

from __future__ import annotations

import datetime as _dt
import io
import re
import struct
from typing import TYPE_CHECKING, BinaryIO, Protocol, cast

from dicomsec import algorithms
from dicomsec._rawdicom import (
    EXPLICIT_BE,
    EXPLICIT_LE,
    IMPLICIT_LE,
    UNDEFINED,
    DataSet,
    Element,
    ParsedFile,
    find,
    tag_str,
)
from dicomsec.errors import InvalidInput
from dicomsec.signatures._macstream import (
    DIGITAL_SIGNATURES_SEQUENCE,
    MAC_PARAMETERS_SEQUENCE,
    MacStream,
    value_bytes,
)

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

__all__ = [
    "CERT_TYPE_X509",
    "PART_B_EXCLUDED",
    "TIMESTAMP_CMS_TSP",
    "all_mac_ids",
    "at_list",
    "dataset_to_bytes",
    "digest_stream",
    "format_dt",
    "is_plain",
    "is_sr",
    "mac_transfer_syntax",
    "new_uid",
    "parse_dt",
    "parse_tag",
    "raw_value",
    "resolve_level",
    "strip_der_pad",
    "text_value",
    "unpadded_value",
    "us_value",
]

# attributes of the MAC Parameters and Digital Signatures items (PS3.3 C.12.1)
MAC_ID = 0x04000005
MAC_TS_UID = 0x04000010
MAC_ALGORITHM = 0x04000015
DATA_ELEMENTS_SIGNED = 0x04000020
SIGNATURE_UID = 0x04000100
SIGNATURE_DATETIME = 0x04000105
CERTIFICATE_TYPE = 0x04000110
CERTIFICATE_OF_SIGNER = 0x04000115
SIGNATURE = 0x04000120
TIMESTAMP_TYPE = 0x04000305
TIMESTAMP = 0x04000310
PURPOSE_SEQUENCE = 0x04000401
CODE_VALUE = 0x00080100
CODING_SCHEME = 0x00080102
CODE_MEANING = 0x00080104
SOP_CLASS_UID = 0x00080016

CERT_TYPE_X509 = "X509_1993_SIG"
TIMESTAMP_CMS_TSP = "CMS_TSP"
#: elements of the signature item that are outside the MAC (PS3.15 C.12.1.1.3.1)
PART_B_EXCLUDED = frozenset({CERTIFICATE_OF_SIGNER, SIGNATURE, TIMESTAMP_TYPE, TIMESTAMP})


# --------------------------------------------------------------------------------------------
# values


def is_plain(el: Element | None) -> bool:
    """A defined-length value that is neither a sequence nor encapsulated."""
    return (el is not None and el.length != UNDEFINED and el.items is None
            and el.fragments is None)


def raw_value(parsed: ParsedFile, fh: BinaryIO, el: Element | None) -> bytes | None:
    """The stored bytes of a plain value; ``None`` when absent or not plain."""
    if el is None or not is_plain(el):
        return None
    return value_bytes(parsed, fh, el)


def text_value(parsed: ParsedFile, fh: BinaryIO, el: Element | None) -> str | None:
    """A text value without trailing padding (latin-1); ``None`` when absent or not plain."""
    raw = raw_value(parsed, fh, el)
    return None if raw is None else raw.rstrip(b"\x00 ").decode("latin-1")


def us_value(parsed: ParsedFile, fh: BinaryIO, el: Element | None) -> int | None:
    """A single US value; ``None`` when the element is not a well-formed one."""
    if el is None or not is_plain(el) or el.vr != "US" or el.length != 2:
        return None
    return int(struct.unpack("<H", value_bytes(parsed, fh, el))[0])


def at_list(parsed: ParsedFile, fh: BinaryIO, el: Element) -> list[int] | None:
    """The tags of an AT value; ``None`` when the element is not a well-formed AT."""
    if not is_plain(el) or el.vr != "AT" or el.length % 4:
        return None
    from dicomsec import limits

    most = limits.current().elements
    if el.length // 4 > most:  # more tags than a data set may have elements
        raise limits.LimitExceeded(f"{tag_str(el.tag)} lists {el.length // 4} tags",
                                   "elements", most, path=_name(fh))
    raw = value_bytes(parsed, fh, el)
    out = []
    for i in range(0, len(raw), 4):
        g, e = struct.unpack("<HH", raw[i : i + 4])
        out.append((g << 16) | e)
    return out


def _name(fh: BinaryIO) -> str | None:
    name = getattr(fh, "name", None)
    return name if isinstance(name, str) else None


def _der_length(data: bytes) -> int | None:
    """Total length of the DER TLV at the start of ``data`` (to drop a DICOM pad byte)."""
    if len(data) < 2:
        return None
    first = data[1]
    if first < 0x80:
        return 2 + first
    n = first & 0x7F
    if n == 0 or n > 4 or len(data) < 2 + n:
        return None
    return 2 + n + int.from_bytes(data[2 : 2 + n], "big")


def strip_der_pad(data: bytes) -> bytes:
    """Drop the 0x00 pad byte DICOM adds to odd-length DER values (OB)."""
    n = _der_length(data)
    if n is not None and n <= len(data) and all(b == 0 for b in data[n:]):
        return data[:n]
    return data


def unpadded_value(value: bytes, scheme: algorithms.Algorithm | None) -> bytes:
    """A Signature (0400,0120) value without the OB pad byte, by the scheme's own encoding.

    ECDSA values are DER (their length says where they end); EdDSA and ML-DSA values have a
    fixed size; RSA values are as long as the modulus and never padded.
    """
    if scheme is None:
        return value
    if scheme.family is algorithms.Family.EC:
        return strip_der_pad(value)
    size = scheme.signature_size
    if size and len(value) == size + 1 and value[-1] == 0:
        return value[:-1]
    return value


def parse_tag(text: str) -> int:
    """A tag from a keyword, ``gggg,eeee``, ``(gggg,eeee)`` or ``ggggeeee``.

    Raises:
        InvalidInput: neither a tag nor a known keyword.
    """
    from pydicom.datadict import tag_for_keyword

    t = text.strip()
    m = re.fullmatch(r"\(?([0-9A-Fa-f]{4}),?([0-9A-Fa-f]{4})\)?", t)
    if m:
        return (int(m.group(1), 16) << 16) | int(m.group(2), 16)
    tag = tag_for_keyword(t)
    if tag is None:
        raise InvalidInput(f"unknown attribute {text!r}")
    return int(tag)


def new_uid() -> str:
    """A new UID derived from a random (version 4) UUID: ``2.25.<integer>`` (PS3.5 B.2)."""
    import uuid

    return f"2.25.{uuid.uuid4().int}"


def parse_dt(text: str | None) -> _dt.datetime | None:
    """Parse a DICOM DT value; a value without UTC offset is taken as UTC."""
    if not text:
        return None
    m = re.fullmatch(
        r"(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(?:\.(\d{1,6}))?([+-]\d{4})?", text.strip()
    )
    if not m:
        return None
    y, mo, d, h, mi, s, frac, off = m.groups()
    tz = _dt.UTC
    if off:
        sign = 1 if off[0] == "+" else -1
        tz = _dt.timezone(sign * _dt.timedelta(hours=int(off[1:3]), minutes=int(off[3:5])))
    try:
        return _dt.datetime(
            int(y), int(mo or 1), int(d or 1), int(h or 0), int(mi or 0), int(s or 0),
            int((frac or "0").ljust(6, "0")), tzinfo=tz,
        )
    except ValueError:
        return None


def format_dt(moment: _dt.datetime) -> str:
    """``YYYYMMDDHHMMSS.ffffff+ZZZZ`` as dcmsign writes it."""
    return moment.strftime("%Y%m%d%H%M%S.%f%z")


def is_sr(parsed: ParsedFile, fh: BinaryIO) -> bool:
    """Structured Report or Key Object Selection storage (PS3.4 B.5, SR SOP classes)."""
    sop_class = text_value(parsed, fh, parsed.dataset.find(SOP_CLASS_UID)) or ""
    return sop_class.startswith("1.2.840.10008.5.1.4.1.1.88.")


# --------------------------------------------------------------------------------------------
# levels


def resolve_level(parsed: ParsedFile, path: str | None) -> DataSet:
    """The data set at an item path such as ``ContentSequence[1]`` or ``A[0].B[2]``.

    Raises:
        InvalidInput: a malformed path, or one that names no existing item.
    """
    if not path:
        return parsed.dataset
    ds = parsed.dataset
    for part in path.split("."):
        m = re.fullmatch(r"\s*([^\[\]]+)\[(\d+)\]\s*", part)
        if not m:
            raise InvalidInput(f"bad item path {path!r}: expected Keyword[index] parts")
        tag = parse_tag(m.group(1))
        seq = ds.find(tag)
        if seq is None or seq.items is None or seq.vr == "UN":
            raise InvalidInput(f"item path {path!r}: no sequence {m.group(1)}")
        idx = int(m.group(2))
        if idx >= len(seq.items):
            raise InvalidInput(
                f"item path {path!r}: {m.group(1)} has {len(seq.items)} item(s), no [{idx}]"
            )
        item = seq.items[idx]
        ds = DataSet(item.elements, item, (*ds.parent_chain, (seq, item)))
    return ds


def all_mac_ids(parsed: ParsedFile, fh: BinaryIO) -> set[int]:
    """Every MAC ID Number used anywhere in the file (to choose a free one); walked without
    recursion (the depth limit may be raised far)."""
    ids: set[int] = set()
    todo = [parsed.dataset.elements]
    while todo:
        for el in todo.pop():
            if el.items is None:
                continue
            for it in el.items:
                if el.tag in (MAC_PARAMETERS_SEQUENCE, DIGITAL_SIGNATURES_SEQUENCE):
                    mid = find(it.elements, MAC_ID)
                    if is_plain(mid) and mid is not None and 2 <= mid.length <= 0xFFFF:
                        raw = value_bytes(parsed, fh, mid)
                        ids.add(int(struct.unpack("<H", raw[:2])[0]))
                todo.append(it.elements)
    return ids


# --------------------------------------------------------------------------------------------
# the MAC


def mac_transfer_syntax(parsed: ParsedFile) -> str:
    """The MAC Calculation Transfer Syntax for a file: its own, or explicit VR little endian."""
    if parsed.transfer_syntax in (IMPLICIT_LE, EXPLICIT_BE):
        return EXPLICIT_LE
    return parsed.transfer_syntax


def digest_stream(stream: MacStream, alg: algorithms.Algorithm, level_elements: list[Element],
                  signed: set[int] | frozenset[int], part_b: list[Element]) -> bytes:
    """The MAC digest: the signed attributes of a level, then the signature item's part B.

    Raises:
        InvalidInput: a signed value cannot be read.
    """
    import hashlib

    # exact (a collision-resistant digest of the sorted tags, never Python's hash of a set):
    # a cached part A must never serve a different list of signed attributes
    tags = hashlib.sha256(struct.pack(f"<{len(signed)}L", *sorted(signed))).digest()
    key = (id(level_elements), alg.name, tags)
    part_a = stream.part_a.get(key)
    if part_a is None:
        part_a = algorithms.new_hasher(alg)
        stream.feed_signed(part_a, level_elements, signed)
        stream.part_a[key] = part_a
    hasher = cast("_Copyable", part_a).copy()
    stream.feed_elements(hasher, [e for e in part_b if e.tag not in PART_B_EXCLUDED])
    return hasher.digest()


class _Copyable(Protocol):
    """A hashlib object (what :func:`dicomsec.algorithms.new_hasher` returns)."""

    def copy(self) -> _Copyable: ...
    def update(self, data: bytes | memoryview, /) -> None: ...
    def digest(self) -> bytes: ...


def dataset_to_bytes(ds: Dataset) -> bytes:
    """Encode a pydicom Dataset as a Part 10 file in memory."""
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()
