"""The File Meta Information of DICOM Part 10 files, read and written without pydicom (low
level: the sender and the receiver call this once per file, so it must be cheap).

Reading covers what the sender needs (SOP class, SOP instance, transfer syntax and where the
data set starts) from a well-formed group 0002 in explicit VR little endian, as PS3.10 7.1
requires; anything else returns ``None`` so that the caller can fall back to pydicom.
Writing produces the bytes pydicom's ``write_file_meta_info`` produces for the same elements.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

__all__ = ["UID_PREFIX", "FileMeta", "dataset_uids", "encode_file_meta", "read_file_meta"]

_PREFIX = 132  # 128-byte preamble + "DICM"
_HEAD = 8192  # group 0002 fits in this nearly always; longer ones fall back to pydicom
#: VRs with a 2-byte reserved field and a 4-byte length (PS3.5 7.1.2)
_LONG_VRS = frozenset({b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN",
                       b"UR", b"UT", b"UV"})
_WANTED = {0x0002: "sop_class", 0x0003: "sop_instance", 0x0010: "transfer_syntax"}


@dataclass(frozen=True, slots=True)
class FileMeta:
    sop_class: str
    sop_instance: str
    transfer_syntax: str
    #: where the data set starts (the first element after group 0002)
    offset: int


def read_file_meta(path: Path) -> FileMeta | None:
    """The SOP class, SOP instance, transfer syntax and data set offset of a Part 10 file, or
    ``None`` when its group 0002 is not the plain, explicit VR little endian kind.

    Raises:
        OSError: the file cannot be read.
    """
    with open(path, "rb") as fh:
        head = fh.read(_HEAD)
    if len(head) < _PREFIX or head[128:132] != b"DICM":
        return None
    found: dict[str, str] = {}
    pos = _PREFIX
    while pos + 8 <= len(head):
        group, element = struct.unpack_from("<HH", head, pos)
        if group != 0x0002:
            break
        vr = head[pos + 4:pos + 6]
        if not vr.isalpha() or not vr.isupper():
            return None  # implicit VR or damage: let pydicom judge
        if vr in _LONG_VRS:
            if pos + 12 > len(head):
                return None
            length = struct.unpack_from("<I", head, pos + 8)[0]
            start = pos + 12
        else:
            length = struct.unpack_from("<H", head, pos + 6)[0]
            start = pos + 8
        end = start + length
        if end > len(head):
            return None
        key = _WANTED.get(element)
        if key is not None:
            found[key] = head[start:end].decode("ascii", "replace").rstrip("\0 ")
        pos = end
    if pos + 8 > len(head) or len(found) != len(_WANTED) or not all(found.values()):
        return None  # group 0002 longer than the window, or elements missing
    return FileMeta(found["sop_class"], found["sop_instance"], found["transfer_syntax"], pos)


def _element(element: int, vr: bytes, value: bytes) -> bytes:
    if vr in _LONG_VRS:
        return struct.pack("<HH2s2xI", 0x0002, element, vr, len(value)) + value
    return struct.pack("<HH2sH", 0x0002, element, vr, len(value)) + value


def _text(value: str, pad: bytes) -> bytes:
    raw = value.encode("ascii")
    return raw + pad if len(raw) % 2 else raw


def encode_file_meta(sop_class: str, sop_instance: str, transfer_syntax: str,
                     implementation_uid: str, implementation_version: str | None,
                     source_aet: str | None) -> bytes:
    """Preamble, ``DICM`` and group 0002 (explicit VR little endian, with its group length)
    for a received data set.

    Raises:
        UnicodeEncodeError: a value is not ASCII.
    """
    body = [
        _element(0x0001, b"OB", b"\x00\x01"),
        _element(0x0002, b"UI", _text(sop_class, b"\0")),
        _element(0x0003, b"UI", _text(sop_instance, b"\0")),
        _element(0x0010, b"UI", _text(transfer_syntax, b"\0")),
        _element(0x0012, b"UI", _text(implementation_uid, b"\0")),
    ]
    if implementation_version:
        body.append(_element(0x0013, b"SH", _text(implementation_version, b" ")))
    if source_aet:
        body.append(_element(0x0016, b"AE", _text(source_aet, b" ")))
    rest = b"".join(body)
    length = _element(0x0000, b"UL", struct.pack("<I", len(rest)))
    return b"\x00" * 128 + b"DICM" + length + rest


_SOP_CLASS_TAG = 0x00080016
_SOP_INSTANCE_TAG = 0x00080018
#: the most bytes of a data set read (inflated, for deflate) to find its SOP UIDs: they come
#: early, after a few short group 0008 elements
_UID_WINDOW = 65536
#: the leading bytes of an encoded data set that :func:`dataset_uids` needs at most: the
#: window, and room for deflate's block overhead (a caller holding the data set in a file
#: reads this much, not more)
UID_PREFIX = 2 * _UID_WINDOW
_IMPLICIT_LE = "1.2.840.10008.1.2"
_EXPLICIT_BE = "1.2.840.10008.1.2.2"
_DEFLATED = frozenset({"1.2.840.10008.1.2.1.99", "1.2.840.10008.1.2.8.1"})


def _head_of(data: bytes | memoryview, transfer_syntax: str) -> bytes | None:
    """The first ``_UID_WINDOW`` bytes of a data set (inflated for deflated syntaxes)."""
    if transfer_syntax in _DEFLATED:
        import zlib

        try:
            return zlib.decompressobj(-zlib.MAX_WBITS).decompress(data, _UID_WINDOW)
        except zlib.error:
            return None
    return bytes(data[:_UID_WINDOW])


def dataset_uids(data: bytes | memoryview, transfer_syntax: str) -> tuple[str, str] | None:
    """The SOP Class UID (0008,0016) and SOP Instance UID (0008,0018) of an encoded data set
    (low level: reads the top-level elements up to (0008,0018) only, never decodes others).

    ``None`` when they cannot be found: an element before them with an undefined length or
    running past the first 64 KiB, a damaged header, or one of them missing.
    """
    head = _head_of(data, transfer_syntax)
    if head is None:
        return None
    implicit = transfer_syntax == _IMPLICIT_LE
    order = ">" if transfer_syntax == _EXPLICIT_BE else "<"
    found: dict[int, str] = {}
    pos = 0
    while pos + 8 <= len(head):
        group, element = struct.unpack_from(order + "HH", head, pos)
        tag = group << 16 | element
        if tag > _SOP_INSTANCE_TAG:
            break
        vr = head[pos + 4:pos + 6]
        if implicit:
            length, start = struct.unpack_from(order + "I", head, pos + 4)[0], pos + 8
        elif vr in _LONG_VRS:
            if pos + 12 > len(head):
                return None
            length, start = struct.unpack_from(order + "I", head, pos + 8)[0], pos + 12
        elif vr.isalpha() and vr.isupper():
            length, start = struct.unpack_from(order + "H", head, pos + 6)[0], pos + 8
        else:
            return None
        if start + length > len(head):
            return None  # also an undefined length (0xFFFFFFFF)
        if tag in (_SOP_CLASS_TAG, _SOP_INSTANCE_TAG):
            found[tag] = head[start:start + length].decode("ascii", "replace").rstrip("\0 ")
        pos = start + length
    if len(found) != 2:
        return None
    return found[_SOP_CLASS_TAG], found[_SOP_INSTANCE_TAG]
