"""Encoding data sets as Explicit VR Little Endian, copying undecoded elements as they were read.

pydicom's writer runs its whole per-element machinery (a buffer, a value writer, a length
check) for every element, also for an undecoded one whose bytes it then copies unchanged.
De-identification leaves most of a file undecoded (kept or removed whatever its value), so
both the output file and the encrypted originals are written here: an element still as read
in Explicit VR Little Endian with a defined length (:func:`._clean.raw_copyable`) is copied
with a header packed here; any other element goes through pydicom's
:func:`~pydicom.filewriter.write_data_element` (ambiguous VRs corrected first). The bytes are
those pydicom writes (tests compare them).
"""

from __future__ import annotations

import struct
from io import BytesIO
from typing import TYPE_CHECKING, Any

from dicomsec.deid._clean import raw_copyable

if TYPE_CHECKING:
    from pydicom.dataset import Dataset, FileMetaDataset

__all__ = ["encode_file", "write_elements"]

#: explicit VRs whose length field is 32 bits (after two reserved bytes)
_LONG_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT",
                       "UV"})


def write_elements(out: BytesIO, ds: Dataset, encoding: Any) -> None:
    """The elements of ``ds`` in tag order, Explicit VR Little Endian, into ``out``; text in
    ``ds``'s own Specific Character Set, else ``encoding``. Group lengths of groups above 6
    are left out (as pydicom does: PS3.5 7.2)."""
    from pydicom.dataelem import RawDataElement
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import correct_ambiguous_vr_element, write_data_element

    fp = DicomBytesIO()
    fp.is_little_endian = True
    fp.is_implicit_VR = False
    item_encoding = ds.get("SpecificCharacterSet", encoding)
    for tag in sorted(ds.keys()):
        if tag.element == 0 and tag.group > 6:
            continue
        raw = ds.get_item(tag)
        if isinstance(raw, RawDataElement) and raw_copyable(raw):
            value = raw.value or b""
            vr = str(raw.VR)
            if vr in _LONG_VRS:
                fp.write(struct.pack("<HH2sHL", tag.group, tag.element, vr.encode(), 0,
                                     len(value)))
            else:
                fp.write(struct.pack("<HH2sH", tag.group, tag.element, vr.encode(),
                                     len(value)))
            fp.write(value)
            continue
        elem = correct_ambiguous_vr_element(ds[tag], ds, True)
        write_data_element(fp, elem, item_encoding)
    out.write(fp.getvalue())


def _fast(ds: Dataset) -> bool:
    """Whether :func:`write_elements` writes ``ds`` as pydicom would: an Explicit VR Little
    Endian transfer syntax (native or encapsulated, not deflated), a data set read (or marked
    as read) in that encoding and character set, and Pixel Data whose length form the
    transfer syntax does not have to change."""
    from pydicom.dataelem import RawDataElement
    from pydicom.uid import UID, DeflatedExplicitVRLittleEndian

    meta = getattr(ds, "file_meta", None)
    syntax = UID(str(meta.get("TransferSyntaxUID", ""))) if meta is not None else UID("")
    if (not syntax.is_transfer_syntax or syntax.is_implicit_VR or not syntax.is_little_endian
            or syntax == DeflatedExplicitVRLittleEndian):
        return False
    if (ds.original_encoding != (False, True)
            or ds.original_character_set != ds._character_set):
        return False
    if ds.get_item(0x7FE00010) is None:
        return True
    pixels = ds.get_item(0x7FE00010)
    if isinstance(pixels, RawDataElement):
        return (pixels.length == 0xFFFFFFFF) == syntax.is_compressed
    pixels.is_undefined_length = syntax.is_compressed  # as dcmwrite sets it
    return True


def encode_file(ds: Dataset) -> bytes:
    """``ds`` as a DICOM Part 10 file (preamble, File Meta Information, data set), the bytes
    ``pydicom.dcmwrite(..., enforce_file_format=True)`` writes; faster through
    :func:`write_elements` when :func:`_fast` allows it, else pydicom's writer. The File
    Meta Information must name the data set's SOP Class and Instance (the engine's does)."""
    from pydicom import dcmwrite

    buf = BytesIO()
    if not _fast(ds):
        dcmwrite(buf, ds, enforce_file_format=True)
        return buf.getvalue()
    buf.write(ds.preamble or b"\0" * 128)
    buf.write(b"DICM")
    buf.write(_meta_bytes(ds.file_meta))
    write_elements(buf, ds, "iso8859")
    return buf.getvalue()


def _meta_bytes(meta: FileMetaDataset) -> bytes:
    """The File Meta Information as ``write_file_meta_info(enforce_standard=True)`` writes it
    (validated; File Meta Information Version 00\\01 when absent; its group length computed),
    without copying ``meta``."""
    from pydicom.dataset import Dataset as _Dataset
    from pydicom.dataset import validate_file_meta

    validate_file_meta(meta, enforce_standard=False)
    required = ("MediaStorageSOPClassUID", "MediaStorageSOPInstanceUID", "TransferSyntaxUID",
                "ImplementationClassUID")
    missing = [k for k in required if not str(meta.get(k) or "")]
    if missing:
        raise ValueError(f"the File Meta Information lacks {', '.join(missing)}")
    body = BytesIO()
    if 0x00020001 not in meta:
        body.write(struct.pack("<HH2sHL", 0x0002, 0x0001, b"OB", 0, 2) + b"\0\1")
    write_elements(body, _Dataset({t: meta.get_item(t) for t in meta.keys() if t.element}),
                   "iso8859")
    data = body.getvalue()
    return struct.pack("<HH2sHL", 0x0002, 0x0000, b"UL", 4, len(data)) + data
