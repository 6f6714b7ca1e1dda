"""Low-level: a raw DICOM Part 10 parser that keeps byte offsets and never decodes values.

Signatures must be computed from the bytes as stored (PS3.15 A.3 bit preservation), and large
values must not be read into memory. pydicom normalises on read and loads undefined-length
values whole, so this module walks the file itself and records, for every element, where its
header and value are. Small values (``<= SMALL``) are kept; large ones are read on demand in
chunks. pydicom is used only for its data dictionary (VRs of implicit-VR files).

Supported transfer syntaxes: explicit VR little endian (and every encapsulated syntax), implicit
VR little endian, explicit VR big endian. Deflated files are refused with a clear error.

Limits before work: the parser reads :func:`dicomsec.limits.current` once per input and counts
while it reads: elements (all levels), items (all sequences), nesting depth, Digital Signatures
(and MAC Parameters) items on one level; exceeding one raises
:class:`~dicomsec.limits.LimitExceeded` before the next record is made. The records are small
(slots, the header shape in one small int, fragments in one array), and the small values kept
in memory share one budget (``KEEP_BYTES``): past it, values are read on demand like large
ones. Not checked here: what values mean (see ``dicomsec.signatures``).
"""

from __future__ import annotations

import bisect
import re
import struct
from array import array
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from dicomsec import limits
from dicomsec._window import ReadError, Window
from dicomsec.errors import InvalidInput

__all__ = [
    "UNDEFINED",
    "DataSet",
    "Element",
    "Fragments",
    "Item",
    "ParsedFile",
    "find",
    "never_signed",
    "parse_dataset_bytes",
    "parse_file",
    "parse_stream",
    "tag_str",
]

UNDEFINED = 0xFFFFFFFF
SMALL = 4096
#: bytes of small values kept in memory per parse (each counted with 32 bytes of overhead);
#: past it small values are read on demand
KEEP_BYTES = 4 << 20
#: tags made once and shared by the elements of a parse (enhanced multi-frame files repeat
#: the same few hundred tags in every frame); at most this many are remembered
INTERNED_TAGS = 4096
#: bytes of File Meta Information (group 0002) kept in memory
MAX_META_BYTES = 1 << 20

ITEM = 0xFFFEE000
ITEM_DELIM = 0xFFFEE00D
SEQ_DELIM = 0xFFFEE0DD
PIXEL_DATA = 0x7FE00010
#: sequences whose items count against the ``signatures`` limit (per level)
DIGITAL_SIGNATURES = 0xFFFAFFFA
SIGNATURE_SEQUENCES = frozenset([DIGITAL_SIGNATURES, 0x4FFE0001])

#: a UID (PS3.5 9.1): digits and dots, at most 64 characters
_UID = re.compile(r"[0-9]+(\.[0-9]+)*")
_UID_MAX = 64

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
#: the stored VR bytes -> the one str object for that VR (no new string per element)
_VR_OF = {vr.encode("ascii"): vr for vr in KNOWN_VRS}
#: swap unit (bytes) of binary VRs, for big-endian files
SWAP_UNIT = {
    "US": 2, "SS": 2, "OW": 2, "AT": 2,
    "UL": 4, "SL": 4, "FL": 4, "OF": 4, "OL": 4,
    "FD": 8, "OD": 8, "SV": 8, "UV": 8, "OV": 8,
}

#: header shapes: implicit VR (length at +4, value at +8), explicit VR with a 2-byte length
#: (+6, +8), explicit VR with a 4-byte length (+8, +12)
IMPLICIT_HEAD, SHORT_HEAD, LONG_HEAD = 0, 1, 2
#: a flag beside the header shape: a UN element is inside this sequence's items
_UN_INSIDE = 4
#: tags outside every MAC stream besides group lengths, groups below 0008 and group FFFA
#: (PS3.15 C.12.1.1.3.1.1): MAC Parameters Sequence, Data Set Trailing Padding, Length to
#: End, Item Delimitation Item
_NEVER_SIGNED = frozenset([0x4FFE0001, 0xFFFCFFFC, 0x00080001, 0xFFFEE00D])
_LENGTH_AT = (4, 6, 8)
_VALUE_AT = (8, 8, 12)


def find(elements: list[Element], tag: int) -> Element | None:
    """The element with ``tag`` in a list in ascending tag order (as the parser returns every
    list): a binary search, so that looking up attributes costs no more on a large level."""
    if len(elements) <= 16:
        for el in elements:
            if el.tag == tag:
                return el
        return None
    i = bisect.bisect_left(elements, tag, key=_tag_of)
    if i < len(elements) and elements[i].tag == tag:
        return elements[i]
    return None


def _tag_of(el: Element) -> int:
    return el.tag


def never_signed(tag: int) -> bool:
    """Whether a tag is outside every MAC stream (PS3.15 C.12.1.1.3.1.1): group lengths,
    groups below 0008, group FFFA, MAC Parameters Sequence, Data Set Trailing Padding, Length
    to End."""
    group = tag >> 16
    return not tag & 0xFFFF or group < 0x0008 or group == 0xFFFA or tag in _NEVER_SIGNED


def tag_str(tag: int) -> str:
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


class Item:
    """One sequence item (a nested data set); ``end`` is stored only for undefined lengths."""

    __slots__ = ("_end", "elements", "length", "offset")

    def __init__(self, offset: int, length: int, end: int = 0,
                 elements: list[Element] | None = None) -> None:
        self.offset = offset  # offset of the item tag
        self.length = length  # UNDEFINED or the value length
        self._end = end
        self.elements: list[Element] = [] if elements is None else elements

    @property
    def end(self) -> int:
        """Offset after the item (after its delimiter when undefined)."""
        return self._end or self.offset + 8 + self.length

    @end.setter
    def end(self, value: int) -> None:
        self._end = 0 if value == self.offset + 8 + self.length else value

    @property
    def length_offset(self) -> int:
        return self.offset + 4

    @property
    def content_end(self) -> int:
        """Offset where a new element may be appended (before any item delimiter)."""
        return self.end - 8 if self.length == UNDEFINED else self.end


class Fragments:
    """The fragments of encapsulated pixel data as ``(offset, length)`` pairs, Basic Offset
    Table first: 16 bytes each in one array (a million fragments hold 16 MB, not 120 MB)."""

    __slots__ = ("_a",)

    def __init__(self) -> None:
        self._a = array("q")

    def append(self, offset: int, length: int) -> None:
        self._a.append(offset)
        self._a.append(length)

    def __len__(self) -> int:
        return len(self._a) // 2

    def __getitem__(self, index: int) -> tuple[int, int]:
        i = range(len(self))[index] * 2
        return self._a[i], self._a[i + 1]

    def __iter__(self) -> Iterator[tuple[int, int]]:
        a = self._a
        return ((a[i], a[i + 1]) for i in range(0, len(a), 2))


class Element:
    """One data element as stored: header position, value position, children.

    One record per element of the file, so it is kept small: the header's shape is one small
    int (``value_offset``, ``length_field`` and ``length_size`` are derived from it), and
    ``end`` is stored only for undefined lengths.
    """

    __slots__ = ("_end", "_head", "fragments", "items", "length", "offset", "tag", "value",
                 "vr")

    def __init__(self, tag: int, vr: str, length: int, offset: int, head: int = LONG_HEAD, *,
                 value: bytes | None = None) -> None:
        self.tag = tag
        self.vr = vr  # effective VR (as stored, or from the dictionary for implicit VR)
        self.length = length  # value length as stored (UNDEFINED for undefined length)
        self.offset = offset  # offset of the tag
        self._head = head  # IMPLICIT_HEAD, SHORT_HEAD or LONG_HEAD
        self._end = 0  # only for undefined lengths (else value_offset + length)
        self.value = value  # kept for small defined-length values (within KEEP_BYTES)
        self.items: list[Item] | None = None  # SQ (and UN of undefined length)
        self.fragments: Fragments | None = None  # encapsulated, BOT first

    @property
    def value_offset(self) -> int:
        return self.offset + _VALUE_AT[self._head & 3]

    @property
    def length_field(self) -> int:
        """Offset of the length field."""
        return self.offset + _LENGTH_AT[self._head & 3]

    @property
    def length_size(self) -> int:
        """2 or 4."""
        return 2 if self._head & 3 == SHORT_HEAD else 4

    @property
    def un_inside(self) -> bool:
        """A UN element is somewhere inside this sequence's items (not counting those under
        :func:`never_signed` tags): worked out once, while parsing."""
        return bool(self._head & _UN_INSIDE)

    @property
    def end(self) -> int:
        """Offset after the element (incl. sequence delimiter)."""
        return self._end or self.offset + _VALUE_AT[self._head & 3] + self.length

    @end.setter
    def end(self, value: int) -> None:
        self._end = value

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
        return find(self.elements, tag)

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


def _mark_un(seq: Element) -> None:
    """Set :attr:`Element.un_inside` of a sequence from its items' elements (each of which
    already knows its own)."""
    for item in seq.items or ():
        for el in item.elements:
            if (el.vr == "UN" or el._head & _UN_INSIDE) and not never_signed(el.tag):
                seq._head |= _UN_INSIDE
                return


def _in_tag_order(elements: list[Element], out_of_order: set[int] | None) -> list[Element]:
    """The elements of a level in ascending tag order (sorted only when the file had them out
    of order, ``out_of_order`` being the tags seen then): :func:`find` searches them."""
    if out_of_order is not None:
        elements.sort(key=_tag_of)
    return elements


_HEAD_LE = struct.Struct("<HH2sH")  # tag, VR bytes (or the high half of a 4-byte length), length
_HEAD_BE = struct.Struct(">HH2sH")
_TAG_LEN_LE = struct.Struct("<HHL")  # tag and a 4-byte length
_TAG_LEN_BE = struct.Struct(">HHL")


class _Parser:
    """One parse: the reader, the byte order and the counters checked against the limits."""

    def __init__(self, r: _Reader, little: bool, implicit: bool, lim: limits.Limits,
                 pixel_rep: int = 0, *, keep_all: bool = False) -> None:
        self.r = r
        self.little = little
        self.implicit = implicit
        self.pixel_rep = pixel_rep
        self.e = "<" if little else ">"
        self.head = _HEAD_LE if little else _HEAD_BE
        self.tag_len = _TAG_LEN_LE if little else _TAG_LEN_BE
        self.lim = lim
        self.max_elements = lim.elements
        self.elements = 0
        self.items = 0
        self.fragments = 0
        self.signatures = 0
        self.keep_all = keep_all  # data held in memory: every value is kept
        self.keep = KEEP_BYTES
        self.tags: dict[int, int] = {}

    def err(self, msg: str, pos: int) -> InvalidInput:
        return InvalidInput(f"{msg} at offset {pos}", path=self.r.name)

    def over(self, what: str, name: str, limit: int) -> limits.LimitExceeded:
        return limits.LimitExceeded(what, name, limit, path=self.r.name)

    def read_tag(self, pos: int) -> int:
        g, e = struct.unpack(self.e + "HH", self.r.read(pos, 4))
        return int((g << 16) | e)

    def parse_dataset(
        self, pos: int, end: int | None, depth: int, implicit: bool | None = None
    ) -> tuple[list[Element], int]:
        """Parse elements from ``pos`` until ``end`` (defined) or an Item Delimitation Item.

        Returns the elements (in ascending tag order, whatever the file's order) and the
        offset after the data set (after the delimiter).
        """
        if depth > self.lim.depth:
            raise self.over(f"sequences nested too deeply at offset {pos}", "depth",
                            self.lim.depth)
        implicit = self.implicit if implicit is None else implicit
        elements: list[Element] = []
        top = -1  # the highest tag so far: a higher one cannot be a duplicate
        seen: set[int] | None = None  # built only once the tags are out of order
        creators: dict[int, str] = {}
        interned = self.tags
        limit = self.r.size if end is None else end
        while pos < limit:
            if pos + 8 > limit:
                if end is None and depth == 0 and limit - pos < 8:
                    # stray trailing bytes after the last element: tolerated like DCMTK
                    break
                raise self.err("truncated element header", pos)
            head = self.r.read(pos, 8)  # tag and VR / length: one read for the header
            g, e, _vr, _n = self.head.unpack(head)
            tag = (g << 16) | e
            shared = interned.get(tag)
            if shared is not None:
                tag = shared
            elif len(interned) < INTERNED_TAGS:
                interned[tag] = tag
            if tag == ITEM_DELIM:
                if depth == 0 or end is not None:
                    raise self.err("unexpected Item Delimitation Item", pos)
                return _in_tag_order(elements, seen), pos + 8
            if tag in (ITEM, SEQ_DELIM):
                raise self.err(f"unexpected {tag_str(tag)}", pos)
            if tag <= top:
                if seen is None:
                    seen = {el.tag for el in elements}
                if tag in seen:
                    # two values for one attribute: readers disagree on which one counts, so
                    # a signature could cover one while a viewer shows the other
                    raise self.err(f"duplicate attribute {tag_str(tag)}", pos)
            el = self.parse_element(pos, tag, depth, implicit, creators, limit, head)
            if seen is not None:
                seen.add(tag)
            if tag > top:
                top = tag
            elements.append(el)
            pos = el.end
        if end is None and depth > 0:
            raise self.err("undefined-length item is not terminated", pos)
        if pos != limit and end is not None:
            raise self.err("element runs past the end of its item", pos)
        return _in_tag_order(elements, seen), pos

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
            vr = vr.split(" or ")[0]
        return _VR_OF.get(vr.encode("ascii", "replace"), "UN")

    def header(self, pos: int, tag: int, implicit: bool, creators: dict[int, str],
               head: bytes) -> tuple[str, int, int]:
        """The VR, the value length and the header shape of the element at ``pos``."""
        if implicit:
            (length,) = struct.unpack(self.e + "L", head[4:8])
            return self.implicit_vr(tag, creators, length), length, IMPLICIT_HEAD
        _g, _e, raw_vr, length = self.head.unpack(head)
        vr = _VR_OF.get(raw_vr)
        if vr is None:
            raise self.err(f"invalid VR {raw_vr!r} for {tag_str(tag)}", pos)
        if vr in LONG_VRS:
            (length,) = struct.unpack(self.e + "L", self.r.read(pos + 8, 4))
            return vr, length, LONG_HEAD
        return vr, length, SHORT_HEAD

    def parse_element(
        self, pos: int, tag: int, depth: int, implicit: bool, creators: dict[int, str],
        limit: int, head: bytes | None = None,
    ) -> Element:
        """One element at ``pos`` (``head``: its first 8 bytes, when already read)."""
        self.elements += 1
        if self.elements > self.max_elements:
            raise self.over("too many data elements", "elements", self.max_elements)
        if head is None:
            head = self.r.read(pos, 8)
        vr, length, shape = self.header(pos, tag, implicit, creators, head)
        el = Element(tag, vr, length, pos, shape)
        value_offset = pos + _VALUE_AT[shape]
        if length == UNDEFINED:
            if vr == "SQ" or vr == "UN" or implicit:
                # UN of undefined length holds an implicit VR little endian sequence (PS3.5 6.2.2)
                seq_implicit = True if vr == "UN" else implicit
                el.items, el.end = self.parse_items(value_offset, None, depth, seq_implicit, tag)
                _mark_un(el)
            elif vr in ("OB", "OW"):
                el.fragments, el.end = self.parse_fragments(value_offset)
            else:
                raise self.err(f"undefined length for {vr} element {tag_str(tag)}", pos)
            return el
        end = value_offset + length
        if end > limit:
            raise self.err(f"value of {tag_str(tag)} runs past the end of its data set", pos)
        if vr == "SQ":
            el.items, _ = self.parse_items(value_offset, end, depth, implicit, tag)
            _mark_un(el)
        elif length <= SMALL or self.keep_all:
            self.small_value(el, value_offset, depth, creators)
        return el

    def small_value(self, el: Element, value_offset: int, depth: int,
                    creators: dict[int, str]) -> None:
        """Keep a small value while the budget lasts; note private creators and Pixel
        Representation (needed to read implicit VR)."""
        length, tag = el.length, el.tag
        value = self.r.read(value_offset, length) if length else b""
        if self.keep_all:
            el.value = value
        elif self.keep >= length + 32:
            el.value = value
            self.keep -= length + 32
        if tag & 0x10000 and 0x0010 <= tag & 0xFFFF <= 0x00FF:
            elem = tag & 0xFFFF
            creators[elem] = value.rstrip(b"\x00 ").decode("latin-1")
        if tag == 0x00280103 and length >= 2 and depth == 0:
            self.pixel_rep = struct.unpack(self.e + "H", value[:2])[0]

    def count_item(self, pos: int, seq_tag: int, in_seq: int) -> None:
        self.items += 1
        if self.items > self.lim.items:
            raise self.over("too many sequence items", "items", self.lim.items)
        if seq_tag not in SIGNATURE_SEQUENCES:
            return
        if in_seq > self.lim.signatures:
            raise self.over(f"too many items in {tag_str(seq_tag)} at offset {pos}",
                            "signatures", self.lim.signatures)
        if seq_tag == DIGITAL_SIGNATURES:
            self.signatures += 1
            if self.signatures > self.lim.signatures_per_file:
                # each costs a certificate and a path validation: 20,000 item signatures in
                # 24 MB took 26 s and 196 MB
                raise self.over("too many signatures in the file", "signatures_per_file",
                                self.lim.signatures_per_file)

    def parse_items(
        self, pos: int, end: int | None, depth: int, implicit: bool, seq_tag: int = 0
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
            g, e, length = self.tag_len.unpack(self.r.read(pos, 8))
            tag = (g << 16) | e
            if tag == SEQ_DELIM:
                if end is not None:
                    raise self.err("sequence delimiter inside a defined-length sequence", pos)
                return items, pos + 8
            if tag != ITEM:
                raise self.err(f"expected an item, found {tag_str(tag)}", pos)
            self.count_item(pos, seq_tag, len(items) + 1)
            if length == UNDEFINED:
                elements, after = self.parse_dataset(pos + 8, None, depth + 1, implicit)
                items.append(Item(pos, length, after, elements))
                pos = after
            else:
                item_end = pos + 8 + length
                if item_end > limit:
                    raise self.err("item runs past the end of its sequence", pos)
                elements, _ = self.parse_dataset(pos + 8, item_end, depth + 1, implicit)
                items.append(Item(pos, length, 0, elements))
                pos = item_end

    def parse_fragments(self, pos: int) -> tuple[Fragments, int]:
        frags = Fragments()
        size = self.r.size
        while True:
            g, e, length = self.tag_len.unpack(self.r.read(pos, 8))
            tag = (g << 16) | e
            if tag == SEQ_DELIM:
                return frags, pos + 8
            if tag != ITEM or length == UNDEFINED:
                raise self.err("malformed encapsulated pixel data fragment", pos)
            if pos + 8 + length > size:
                raise self.err("pixel data fragment runs past the end of the file", pos)
            self.fragments += 1
            if self.fragments > self.lim.fragments:
                raise self.over("too many pixel data fragments", "fragments", self.lim.fragments)
            frags.append(pos + 8, length)
            pos += 8 + length


def parse_stream(fh: BinaryIO, size: int, name: str = "<input>") -> ParsedFile:
    """Parse a Part 10 file from an open binary file of known size, within the limits in
    force (:func:`dicomsec.limits.current`, read once).

    Raises:
        InvalidInput: not a Part 10 file, unsupported transfer syntax, or malformed structure.
        dicomsec.limits.LimitExceeded: more elements, items, nesting or signature items than
            the limits allow (an :class:`InvalidInput`).
    """
    try:
        with _read_errors(name):
            return _parse_part10(_Reader(fh, size, name), limits.current())
    except RecursionError:  # only when the depth limit is raised far above its default
        raise InvalidInput("sequences nested too deeply", path=name) from None


def _parse_meta(r: _Reader, mp: _Parser) -> tuple[dict[int, bytes], int]:
    """The File Meta Information (explicit VR little endian, group 0002): values by tag, and
    the offset after it."""
    size, name = r.size, r.name
    pos = 132
    meta: dict[int, bytes] = {}
    total = 0
    while pos + 8 <= size:
        if r.read(pos, 2) != b"\x02\x00":
            break
        tag = mp.read_tag(pos)
        el = mp.parse_element(pos, tag, 0, False, {}, size)
        plain = el.items is None and el.fragments is None
        if el.value is None and el.length <= SMALL and plain:
            el.value = r.read(el.value_offset, el.length)
        if el.value is None:
            raise InvalidInput(f"file meta element {tag_str(tag)} is malformed", path=name)
        if tag in meta:
            raise InvalidInput(f"duplicate file meta element {tag_str(tag)}", path=name)
        total += len(el.value)
        if total > MAX_META_BYTES:
            raise InvalidInput(f"file meta information is larger than {MAX_META_BYTES} bytes",
                               path=name)
        meta[tag] = el.value
        pos = el.end
    return meta, pos


def _parse_part10(r: _Reader, lim: limits.Limits) -> ParsedFile:
    size, name = r.size, r.name
    if size < 132 + 12 or r.read(128, 4) != b"DICM":
        raise InvalidInput("not a DICOM Part 10 file (no DICM prefix)", path=name)
    mp = _Parser(r, True, False, lim)
    meta, pos = _parse_meta(r, mp)
    ts_raw = meta.get(0x00020010)
    if ts_raw is None:
        raise InvalidInput("file meta information has no Transfer Syntax UID", path=name)
    ts = ts_raw.rstrip(b"\x00 ").decode("ascii", "replace")
    if len(ts) > _UID_MAX or not _UID.fullmatch(ts):
        raise InvalidInput(f"Transfer Syntax UID {ts!r} is not a UID", path=name)
    if ts == DEFLATED_LE:
        raise InvalidInput("deflated transfer syntax is not supported", path=name)
    little = ts != EXPLICIT_BE
    implicit = ts == IMPLICIT_LE
    p = _Parser(r, little, implicit, lim)
    p.elements, p.items = mp.elements, mp.items
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


def parse_dataset_bytes(
    data: bytes, *, little: bool = True, implicit: bool = False
) -> list[Element]:
    """Parse an encoded data set (no preamble, no meta) held in memory: every value is kept
    (the records' offsets point into ``data``, not into any file)."""
    import io

    r = _Reader(io.BytesIO(data), len(data), "<memory>")
    try:
        with _read_errors(r.name):
            parser = _Parser(r, little, implicit, limits.current(), keep_all=True)
            elements, _ = parser.parse_dataset(0, len(data), 1)
    except RecursionError:
        raise InvalidInput("sequences nested too deeply", path=r.name) from None
    return elements
