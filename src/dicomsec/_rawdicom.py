"""Low-level: a raw DICOM Part 10 parser that keeps byte offsets and never decodes values.

Signatures must be computed from the bytes as stored (PS3.15 A.3 bit preservation), and large
values must not be read into memory. pydicom normalises on read and loads undefined-length
values whole, so this module walks the file itself and records, for every element, where its
header and value are. Small values (``<= SMALL``) are kept; large ones are read on demand in
chunks. pydicom is used only for its data dictionary (VRs of implicit-VR files).

Supported transfer syntaxes: explicit VR little endian (and every encapsulated syntax), implicit
VR little endian, explicit VR big endian. Deflated files are refused with a clear error.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from dicomsec._window import ReadError, Window
from dicomsec.errors import InvalidInput

__all__ = [
    "UNDEFINED",
    "DataSet",
    "Element",
    "Item",
    "ParsedFile",
    "find",
    "parse_dataset_bytes",
    "parse_file",
    "parse_stream",
    "tag_str",
]

UNDEFINED = 0xFFFFFFFF
SMALL = 4096
MAX_DEPTH = 64

ITEM = 0xFFFEE000
ITEM_DELIM = 0xFFFEE00D
SEQ_DELIM = 0xFFFEE0DD
PIXEL_DATA = 0x7FE00010

IMPLICIT_LE = "1.2.840.10008.1.2"
EXPLICIT_LE = "1.2.840.10008.1.2.1"
DEFLATED_LE = "1.2.840.10008.1.2.1.99"
EXPLICIT_BE = "1.2.840.10008.1.2.2"

LONG_VRS = frozenset(
    ["OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"]
)
KNOWN_VRS = LONG_VRS | frozenset(
    ["AE", "AS", "AT", "CS", "DA", "DS", "DT", "FL", "FD", "IS", "LO", "LT", "PN", "SH",
     "SL", "SS", "ST", "TM", "UI", "UL", "US"]
)
#: swap unit (bytes) of binary VRs, for big-endian files
SWAP_UNIT = {
    "US": 2, "SS": 2, "OW": 2, "AT": 2,
    "UL": 4, "SL": 4, "FL": 4, "OF": 4, "OL": 4,
    "FD": 8, "OD": 8, "SV": 8, "UV": 8, "OV": 8,
}


def find(elements: list[Element], tag: int) -> Element | None:
    for el in elements:
        if el.tag == tag:
            return el
    return None


def tag_str(tag: int) -> str:
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


@dataclass(slots=True, eq=False)
class Item:
    """One sequence item (a nested data set)."""

    offset: int  # offset of the item tag
    length: int  # UNDEFINED or the value length
    end: int = 0  # offset after the item (after its delimiter when undefined)
    elements: list[Element] = field(default_factory=list)

    @property
    def length_offset(self) -> int:
        return self.offset + 4

    @property
    def content_end(self) -> int:
        """Offset where a new element may be appended (before any item delimiter)."""
        return self.end - 8 if self.length == UNDEFINED else self.end


@dataclass(slots=True, eq=False)
class Element:
    """One data element as stored: header position, value position, children."""

    tag: int
    vr: str  # effective VR (as stored, or from the dictionary for implicit VR)
    length: int  # value length as stored (UNDEFINED for undefined length)
    offset: int  # offset of the tag
    value_offset: int
    end: int = 0  # offset after the element (incl. sequence delimiter)
    value: bytes | None = None  # kept for small defined-length values
    items: list[Item] | None = None  # SQ (and UN of undefined length)
    fragments: list[tuple[int, int]] | None = None  # encapsulated (offset, length), BOT first
    length_field: int = 0  # offset of the length field
    length_size: int = 4  # 2 or 4

    @property
    def is_sequence(self) -> bool:
        return self.items is not None

    @property
    def is_encapsulated(self) -> bool:
        return self.fragments is not None

    @property
    def keyword(self) -> str:
        from pydicom.datadict import keyword_for_tag

        return keyword_for_tag(self.tag) or ""

    def __repr__(self) -> str:
        return f"Element({tag_str(self.tag)} {self.vr} len={self.length} @{self.offset})"


@dataclass(slots=True, eq=False)
class DataSet:
    """A level: the main data set or the content of one item."""

    elements: list[Element]
    parent_item: Item | None = None  # None for the main data set
    parent_chain: tuple[tuple[Element, Item], ...] = ()  # (sequence, item) from the top

    def find(self, tag: int) -> Element | None:
        for el in self.elements:
            if el.tag == tag:
                return el
        return None

    @property
    def insert_end(self) -> int:
        """Where elements sorting after everything else are inserted."""
        if self.parent_item is not None:
            return self.parent_item.content_end
        return -1  # resolved by ParsedFile.dataset_end

    def path(self) -> str:
        if not self.parent_chain:
            return ""
        from pydicom.datadict import keyword_for_tag

        parts = []
        for seq, item in self.parent_chain:
            assert seq.items is not None
            kw = keyword_for_tag(seq.tag) or tag_str(seq.tag)
            parts.append(f"{kw}[{seq.items.index(item)}]")
        return ".".join(parts)


@dataclass(slots=True, eq=False)
class ParsedFile:
    """A parsed Part 10 file."""

    transfer_syntax: str
    little_endian: bool
    implicit_vr: bool
    dataset_offset: int
    dataset_end: int
    meta: dict[int, bytes]
    dataset: DataSet
    encapsulated_ts: bool = False

    @property
    def sop_instance_uid(self) -> str:
        el = self.dataset.find(0x00080018)
        if el is None or el.value is None:
            return ""
        return el.value.rstrip(b"\x00 ").decode("ascii", "replace")

    def levels(self, *, skip_original_attributes: bool = True) -> Iterator[DataSet]:
        """Every data set of the file, depth first in tag order, the main data set last.

        Items of Original Attributes Sequence (0400,0561) are skipped when asked: signatures
        there are copies from before a modification and cannot be verified in place.
        """

        def walk(ds: DataSet) -> Iterator[DataSet]:
            for el in ds.elements:
                if el.items is None or el.vr == "UN":
                    continue
                if skip_original_attributes and el.tag == 0x04000561:
                    continue
                for it in el.items:
                    child = DataSet(it.elements, it, (*ds.parent_chain, (el, it)))
                    yield from walk(child)
            yield ds

        yield from walk(self.dataset)


class _Reader(Window):
    """The shared window (:mod:`dicomsec._window`) plus the file's name for messages.

    A read outside the file raises :class:`~dicomsec._window.ReadError`; the entry points
    (:func:`parse_stream`, :func:`parse_dataset_bytes`) turn it into :class:`InvalidInput`.
    """

    __slots__ = ("name",)

    def __init__(self, fh: BinaryIO, size: int, name: str) -> None:
        super().__init__(fh, size, span=65536, direct_above=65536)
        self.name = name


@contextmanager
def _read_errors(name: str) -> Iterator[None]:
    """Turn a failed read into the parser's error (the window knows no file names)."""
    try:
        yield
    except ReadError as exc:
        what = "truncated or corrupt data" if exc.past_end else "truncated data"
        raise InvalidInput(f"{what} at offset {exc.pos}", path=name) from None


class _Parser:
    def __init__(self, r: _Reader, little: bool, implicit: bool, pixel_rep: int = 0) -> None:
        self.r = r
        self.little = little
        self.implicit = implicit
        self.pixel_rep = pixel_rep
        self.e = "<" if little else ">"

    def err(self, msg: str, pos: int) -> InvalidInput:
        return InvalidInput(f"{msg} at offset {pos}", path=self.r.name)

    def read_tag(self, pos: int) -> int:
        g, e = struct.unpack(self.e + "HH", self.r.read(pos, 4))
        return int((g << 16) | e)

    def parse_dataset(
        self, pos: int, end: int | None, depth: int, implicit: bool | None = None
    ) -> tuple[list[Element], int]:
        """Parse elements from ``pos`` until ``end`` (defined) or an Item Delimitation Item.

        Returns the elements and the offset after the data set (after the delimiter).
        """
        if depth > MAX_DEPTH:
            raise self.err("sequences nested too deeply", pos)
        implicit = self.implicit if implicit is None else implicit
        elements: list[Element] = []
        seen: set[int] = set()
        creators: dict[int, str] = {}
        limit = self.r.size if end is None else end
        while pos < limit:
            if pos + 8 > limit:
                if end is None and depth == 0 and limit - pos < 8:
                    # stray trailing bytes after the last element: tolerated like DCMTK
                    break
                raise self.err("truncated element header", pos)
            head = self.r.read(pos, 8)  # tag and VR / length: one read for the header
            g, e = struct.unpack(self.e + "HH", head[:4])
            tag = (g << 16) | e
            if tag == ITEM_DELIM:
                if depth == 0 or end is not None:
                    raise self.err("unexpected Item Delimitation Item", pos)
                return elements, pos + 8
            if tag in (ITEM, SEQ_DELIM):
                raise self.err(f"unexpected {tag_str(tag)}", pos)
            el = self.parse_element(pos, tag, depth, implicit, creators, limit, head)
            if tag in seen:
                # two values for one attribute: readers disagree on which one counts, so a
                # signature could cover one while a viewer shows the other
                raise self.err(f"duplicate attribute {tag_str(tag)}", pos)
            seen.add(tag)
            elements.append(el)
            pos = el.end
        if end is None and depth > 0:
            raise self.err("undefined-length item is not terminated", pos)
        if pos != limit and end is not None:
            raise self.err("element runs past the end of its item", pos)
        return elements, pos

    def implicit_vr(self, tag: int, creators: dict[int, str], length: int) -> str:
        from pydicom.datadict import dictionary_VR, private_dictionary_VR

        group, elem = tag >> 16, tag & 0xFFFF
        if elem == 0:
            return "UL"
        vr: str | None = None
        if group & 1:
            if 0x0010 <= elem <= 0x00FF:
                return "LO"
            creator = creators.get(elem >> 8)
            if creator is not None:
                try:
                    vr = private_dictionary_VR(tag, creator)
                except KeyError:
                    vr = None
        else:
            try:
                vr = dictionary_VR(tag)
            except KeyError:
                vr = None
        if vr is None:
            return "SQ" if length == UNDEFINED else "UN"
        if vr == "US or SS":
            return "SS" if self.pixel_rep == 1 else "US"
        if vr == "US or SS or OW" or "OW" in vr:
            return "OW"
        if " or " in vr:
            return vr.split(" or ")[0]
        return vr

    def parse_element(
        self, pos: int, tag: int, depth: int, implicit: bool, creators: dict[int, str],
        limit: int, head: bytes | None = None,
    ) -> Element:
        """One element at ``pos`` (``head``: its first 8 bytes, when already read)."""
        r = self.r
        if head is None:
            head = r.read(pos, 8)
        if implicit:
            (length,) = struct.unpack(self.e + "L", head[4:8])
            vr = self.implicit_vr(tag, creators, length)
            length_field, length_size, value_offset = pos + 4, 4, pos + 8
        else:
            raw_vr = head[4:6]
            try:
                vr = raw_vr.decode("ascii")
            except UnicodeDecodeError:
                vr = "??"
            if vr not in KNOWN_VRS:
                raise self.err(f"invalid VR {raw_vr!r} for {tag_str(tag)}", pos)
            if vr in LONG_VRS:
                (length,) = struct.unpack(self.e + "L", r.read(pos + 8, 4))
                length_field, length_size, value_offset = pos + 8, 4, pos + 12
            else:
                (length,) = struct.unpack(self.e + "H", head[6:8])
                length_field, length_size, value_offset = pos + 6, 2, pos + 8
        el = Element(tag, vr, length, pos, value_offset, length_field=length_field,
                     length_size=length_size)
        if length == UNDEFINED:
            if vr == "SQ" or vr == "UN" or implicit:
                # UN of undefined length holds an implicit VR little endian sequence (PS3.5 6.2.2)
                seq_implicit = True if vr == "UN" else implicit
                el.items, el.end = self.parse_items(value_offset, None, depth, seq_implicit)
            elif vr in ("OB", "OW"):
                el.fragments, el.end = self.parse_fragments(value_offset)
            else:
                raise self.err(f"undefined length for {vr} element {tag_str(tag)}", pos)
            return el
        end = value_offset + length
        if end > limit:
            raise self.err(f"value of {tag_str(tag)} runs past the end of its data set", pos)
        el.end = end
        if vr == "SQ":
            el.items, _ = self.parse_items(value_offset, end, depth, implicit)
        elif length <= SMALL:
            el.value = r.read(value_offset, length)
            group, elem = tag >> 16, tag & 0xFFFF
            if group & 1 and 0x0010 <= elem <= 0x00FF:
                creators[elem] = el.value.rstrip(b"\x00 ").decode("latin-1")
            if tag == 0x00280103 and length >= 2 and depth == 0:
                self.pixel_rep = struct.unpack(self.e + "H", el.value[:2])[0]
        return el

    def parse_items(
        self, pos: int, end: int | None, depth: int, implicit: bool
    ) -> tuple[list[Item], int]:
        items: list[Item] = []
        limit = self.r.size if end is None else end
        while True:
            if end is not None and pos >= end:
                if pos != end:
                    raise self.err("sequence items run past the sequence", pos)
                return items, pos
            if pos + 8 > limit:
                raise self.err("truncated sequence", pos)
            tag = self.read_tag(pos)
            (length,) = struct.unpack(self.e + "L", self.r.read(pos + 4, 4))
            if tag == SEQ_DELIM:
                if end is not None:
                    raise self.err("sequence delimiter inside a defined-length sequence", pos)
                return items, pos + 8
            if tag != ITEM:
                raise self.err(f"expected an item, found {tag_str(tag)}", pos)
            item = Item(pos, length)
            if length == UNDEFINED:
                item.elements, item.end = self.parse_dataset(pos + 8, None, depth + 1, implicit)
            else:
                item_end = pos + 8 + length
                if item_end > limit:
                    raise self.err("item runs past the end of its sequence", pos)
                item.elements, _ = self.parse_dataset(pos + 8, item_end, depth + 1, implicit)
                item.end = item_end
            items.append(item)
            pos = item.end

    def parse_fragments(self, pos: int) -> tuple[list[tuple[int, int]], int]:
        frags: list[tuple[int, int]] = []
        while True:
            tag = self.read_tag(pos)
            (length,) = struct.unpack(self.e + "L", self.r.read(pos + 4, 4))
            if tag == SEQ_DELIM:
                return frags, pos + 8
            if tag != ITEM or length == UNDEFINED:
                raise self.err("malformed encapsulated pixel data fragment", pos)
            if pos + 8 + length > self.r.size:
                raise self.err("pixel data fragment runs past the end of the file", pos)
            frags.append((pos + 8, length))
            pos += 8 + length


def parse_stream(fh: BinaryIO, size: int, name: str = "<input>") -> ParsedFile:
    """Parse a Part 10 file from an open binary file of known size.

    Raises:
        InvalidInput: not a Part 10 file, unsupported transfer syntax, or malformed structure.
    """
    with _read_errors(name):
        return _parse_part10(_Reader(fh, size, name))


def _parse_part10(r: _Reader) -> ParsedFile:
    size, name = r.size, r.name
    if size < 132 + 12 or r.read(128, 4) != b"DICM":
        raise InvalidInput("not a DICOM Part 10 file (no DICM prefix)", path=name)
    # File Meta Information: explicit VR little endian, group 0002
    pos = 132
    meta: dict[int, bytes] = {}
    mp = _Parser(r, True, False)
    while pos + 8 <= size:
        if r.read(pos, 2) != b"\x02\x00":
            break
        tag = mp.read_tag(pos)
        el = mp.parse_element(pos, tag, 0, False, {}, size)
        if el.value is None:
            raise InvalidInput(f"file meta element {tag_str(tag)} is malformed", path=name)
        meta[tag] = el.value
        pos = el.end
    ts_raw = meta.get(0x00020010)
    if ts_raw is None:
        raise InvalidInput("file meta information has no Transfer Syntax UID", path=name)
    ts = ts_raw.rstrip(b"\x00 ").decode("ascii", "replace")
    if ts == DEFLATED_LE:
        raise InvalidInput("deflated transfer syntax is not supported", path=name)
    little = ts != EXPLICIT_BE
    implicit = ts == IMPLICIT_LE
    p = _Parser(r, little, implicit)
    elements, end = p.parse_dataset(pos, None, 0)
    encapsulated = ts not in (IMPLICIT_LE, EXPLICIT_LE, EXPLICIT_BE)
    return ParsedFile(ts, little, implicit, pos, end, meta, DataSet(elements), encapsulated)


def parse_file(path: Path | str, fh: BinaryIO | None = None) -> ParsedFile:
    """Parse a Part 10 file by path (or through an already open handle for it)."""
    p = Path(path)
    try:
        if fh is not None:
            size = fh.seek(0, 2)
            return parse_stream(fh, size, str(p))
        with open(p, "rb") as f:
            size = f.seek(0, 2)
            return parse_stream(f, size, str(p))
    except IsADirectoryError:
        raise InvalidInput("is a directory", path=str(p)) from None
    except OSError as exc:
        raise InvalidInput(f"cannot read: {exc.strerror or exc}", path=str(p)) from None
    except RecursionError:
        raise InvalidInput("sequences nested too deeply", path=str(p)) from None


def parse_dataset_bytes(
    data: bytes, *, little: bool = True, implicit: bool = False
) -> list[Element]:
    """Parse an encoded data set (no preamble, no meta) held in memory."""
    import io

    r = _Reader(io.BytesIO(data), len(data), "<memory>")
    with _read_errors(r.name):
        elements, _ = _Parser(r, little, implicit).parse_dataset(0, len(data), 1)
    return elements
