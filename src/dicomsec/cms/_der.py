"""Low-level: streaming BER/DER TLV reading and DER header writing.

CMS messages may be gigabytes long; only their headers and small parts (recipient infos,
algorithm identifiers, signer infos) are read into memory. :class:`TLVReader` walks a file by
offsets: it reads tag and length octets, never values, unless asked. Indefinite lengths (BER) and
constructed OCTET STRINGs (chunked content) are supported.

Limits against hostile input: tag numbers up to 2^28, length fields up to 8 octets, nesting up
to the ``der_depth`` limit of :mod:`dicomsec.limits` (read once per reader), every length checked
against the enclosing end before anything is read.

Speed on BER: a run of sibling primitive elements with the same header (a constructed OCTET
STRING of equal chunks, 1-byte chunks included) is recognised by comparing the header bytes of
a whole buffer at once (strided slices), and its data is gathered the same way: reading is
linear and does a few operations per buffer, not per chunk.
"""

from __future__ import annotations

import functools
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from typing import BinaryIO

from dicomsec import limits
from dicomsec._window import ReadError, Window
from dicomsec.errors import InvalidInput

__all__ = [
    "INDEFINITE",
    "TLV",
    "TLVReader",
    "decode_oid",
    "element_spans",
    "encode_header",
    "encode_length",
    "encode_oid",
    "encode_tlv",
]

INDEFINITE = -1
#: how many ends of indefinite-length elements a reader remembers (memory stays bounded)
_REMEMBERED = 64
#: runs of equal sibling elements up to this many bytes each are scanned by strided slices
_RUN_STRIDE = 4096
#: runs of chunks up to this many value bytes each are gathered column by column
_COLUMNS = 32

# universal tags used here
BOOLEAN, INTEGER, BIT_STRING, OCTET_STRING, NULL, OID = 1, 2, 3, 4, 5, 6
SEQUENCE, SET = 16, 17


@dataclass(frozen=True, slots=True)
class TLV:
    """One element: where it is, what it is, how long its value is."""

    offset: int  # of the identifier octet
    cls: int  # 0 universal, 1 application, 2 context, 3 private
    constructed: bool
    number: int  # tag number
    header_len: int
    length: int  # value length, or INDEFINITE

    @property
    def value_offset(self) -> int:
        return self.offset + self.header_len

    @property
    def identifier(self) -> int:
        """The first identifier octet (for low tag numbers), e.g. 0x30 for SEQUENCE."""
        return (self.cls << 6) | (0x20 if self.constructed else 0) | min(self.number, 31)

    def is_universal(self, number: int) -> bool:
        return self.cls == 0 and self.number == number

    def is_context(self, number: int) -> bool:
        return self.cls == 2 and self.number == number


class TLVReader:
    """Reads TLV headers of a BER/DER encoding from a seekable binary file."""

    #: reads up to 64 KiB are served from one buffered window of this size (BER files made by
    #: streaming writers have a header every few KiB)
    WINDOW = 1 << 20

    def __init__(self, fh: BinaryIO, size: int, name: str = "<input>", *,
                 lim: limits.Limits | None = None) -> None:
        self.fh = fh
        self.size = size
        self.name = name
        #: the limits in force for this input (asked once, when the reader is made)
        self.limits = limits.current() if lim is None else lim
        self._window = Window(fh, size, span=self.WINDOW, direct_above=64 << 10)
        #: ends of indefinite-length elements already walked (a few: see :meth:`end_of`)
        self._ends: dict[int, int] = {}

    def err(self, message: str, pos: int) -> InvalidInput:
        return InvalidInput(f"malformed CMS structure: {message} at offset {pos}", path=self.name)

    def too_deep(self, pos: int) -> limits.LimitExceeded:
        return limits.LimitExceeded(f"BER/DER nesting at offset {pos}", "der_depth",
                                    self.limits.der_depth, path=self.name)

    def check_depth(self, depth: int, pos: int) -> None:
        """Raise :class:`~dicomsec.limits.LimitExceeded` when ``depth`` is over ``der_depth``."""
        if depth > self.limits.der_depth:
            raise self.too_deep(pos)

    def read(self, pos: int, n: int) -> bytes:
        """``n`` bytes at ``pos`` (small reads from the shared window of :mod:`dicomsec._window`).

        Raises:
            InvalidInput: the range runs outside the file ("truncated").
        """
        try:
            return self._window.read(pos, n)
        except ReadError:
            raise self.err("truncated", pos) from None

    def header(self, pos: int, end: int | None = None) -> TLV:
        """The TLV starting at ``pos``; its value must fit before ``end`` (default: file end)."""
        limit = self.size if end is None else end
        if pos + 2 > limit:
            raise self.err("truncated header", pos)
        head = self.read(pos, min(limit - pos, 16))
        first = head[0]
        cls, constructed, number = first >> 6, bool(first & 0x20), first & 0x1F
        i = 1
        if number == 0x1F:
            number = 0
            while True:
                if i >= len(head) or i > 4:
                    raise self.err("tag number too long", pos)
                b = head[i]
                i += 1
                number = (number << 7) | (b & 0x7F)
                if not b & 0x80:
                    break
        if i >= len(head):
            raise self.err("truncated length", pos)
        lb = head[i]
        i += 1
        if lb == 0x80:
            if not constructed:
                raise self.err("indefinite length on a primitive element", pos)
            length = INDEFINITE
        elif lb & 0x80:
            n = lb & 0x7F
            if n > 8 or i + n > len(head):
                raise self.err("length field too long", pos)
            length = int.from_bytes(head[i : i + n], "big")
            i += n
        else:
            length = lb
        if length != INDEFINITE and pos + i + length > limit:
            raise self.err("value runs past its enclosing element", pos)
        return TLV(pos, cls, constructed, number, i, length)

    def end_of(self, tlv: TLV, end: int | None = None, depth: int = 0) -> int:
        """Offset after ``tlv`` (after its end-of-contents octets when indefinite).

        The ends of the first :data:`_REMEMBERED` indefinite-length elements walked from the
        top (``depth`` 0) are remembered, so that walking an enclosing element again (the
        check that a ContentInfo fills its file) does not walk chunked content twice.
        """
        if tlv.length != INDEFINITE:
            return tlv.value_offset + tlv.length
        known = self._ends.get(tlv.offset)
        if known is not None:
            return known
        self.check_depth(depth, tlv.offset)
        limit = self.size if end is None else end
        stop = _drain(self._walk(tlv, limit, depth, octets=False, collect=False))
        if depth == 0 and len(self._ends) < _REMEMBERED:
            self._ends[tlv.offset] = stop
        return stop

    def _walk(self, tlv: TLV, limit: int, depth: int, *, octets: bool,
              collect: bool) -> Generator[bytes, None, int]:
        """Walk the constructed ``tlv`` to its end (or to its end-of-contents octets within
        ``limit``), through every constructed child that must be walked to find its end
        (indefinite ones; all when ``octets``, where every child must be an OCTET STRING);
        the data of primitive children is yielded when ``collect``. Returns the offset after
        ``tlv``.

        Iterative: the open elements are a list, not Python frames, so no depth the limits
        allow can exhaust the interpreter's stack. One buffer serves every level (each level
        sees it only up to its own end); runs of equal primitive siblings go by
        :func:`_gather`.
        """
        self.check_depth(depth, tlv.offset)
        top = tlv.value_offset + tlv.length if tlv.length != INDEFINITE else limit
        opened: list[tuple[TLV, int]] = []  # the enclosing elements being walked, their ends
        cur, stop, pos = tlv, top, tlv.value_offset
        buf, base = b"", pos
        while True:
            definite = cur.length != INDEFINITE
            if definite and pos >= stop:
                if pos != stop:
                    raise self.err("children overrun their parent", cur.offset)
            elif pos + 2 > stop:
                raise self.err("truncated header" if definite
                               else "indefinite length without end-of-contents", cur.offset)
            else:
                if pos - base + _RUN_STRIDE > len(buf) and base + len(buf) < top:
                    buf, base = self.read(pos, min(self.WINDOW, top - pos)), pos
                i = pos - base
                if definite or buf[i : i + 2] != b"\x00\x00":
                    pieces, j = _gather(buf, i, min(len(buf), stop - base), octets=octets,
                                        collect=collect)
                    if j > i:
                        if pieces:
                            yield pieces[0] if len(pieces) == 1 else b"".join(pieces)
                        pos = base + j
                        continue
                    child = self.header(pos, stop)
                    pos = yield from self._child(child, octets=octets, collect=collect)
                    if pos < 0:  # a constructed child to walk: it is opened
                        self.check_depth(depth + len(opened) + 1, child.offset)
                        opened.append((cur, stop))
                        cur, pos = child, child.value_offset
                        if child.length != INDEFINITE:
                            stop = child.value_offset + child.length
                    continue
                pos += 2
            if not opened:
                return pos
            cur, stop = opened.pop()

    def _child(self, child: TLV, *, octets: bool, collect: bool) -> Generator[bytes, None, int]:
        """One child met by :meth:`_walk` (its slow path): the offset after it, or -1 when it
        is a constructed element to walk into (the data of a primitive one is yielded when
        ``collect``)."""
        if octets and not child.is_universal(OCTET_STRING):
            raise self.err("constructed OCTET STRING holds another type", child.offset)
        if not child.constructed:
            if collect:
                yield from self._pieces(child.value_offset, child.length)
            return child.value_offset + child.length
        if octets:
            return -1
        if child.length != INDEFINITE:
            return child.value_offset + child.length
        known = self._ends.get(child.offset)
        return -1 if known is None else known

    def _pieces(self, offset: int, left: int) -> Iterator[bytes]:
        """The ``left`` bytes at ``offset``, in pieces of at most :attr:`WINDOW` bytes."""
        while left:
            n = min(left, self.WINDOW)
            yield self.read(offset, n)
            offset += n
            left -= n

    def check_nesting(self, tlv: TLV, end: int | None = None, depth: int = 0) -> None:
        """Walk every header inside ``tlv`` and refuse nesting deeper than ``der_depth``: for
        a small element about to be handed to a recursive parser (asn1crypto). Iterative (a
        list of open elements, not Python frames).

        Raises:
            LimitExceeded: nesting deeper than ``der_depth``.
            InvalidInput: malformed.
        """
        self.check_depth(depth, tlv.offset)
        if not tlv.constructed:
            return
        opened = [(self.children(tlv, end), self.end_of(tlv, end))]
        while opened:
            kids, stop = opened[-1]
            child = next(kids, None)
            if child is None:
                opened.pop()
                continue
            self.check_depth(depth + len(opened), child.offset)
            if child.constructed:
                opened.append((self.children(child, stop), self.end_of(child, stop)))

    def children(self, tlv: TLV, end: int | None = None) -> Iterator[TLV]:
        """The direct children of a constructed element."""
        if not tlv.constructed:
            raise self.err("expected a constructed element", tlv.offset)
        pos = tlv.value_offset
        if tlv.length != INDEFINITE:
            stop = tlv.value_offset + tlv.length
            while pos < stop:
                child = self.header(pos, stop)
                yield child
                pos = self.end_of(child, stop)
            if pos != stop:
                raise self.err("children overrun their parent", tlv.offset)
            return
        limit = self.size if end is None else end
        while True:
            if pos + 2 > limit:
                raise self.err("indefinite length without end-of-contents", tlv.offset)
            if self.read(pos, 2) == b"\x00\x00":
                return
            child = self.header(pos, limit)
            yield child
            pos = self.end_of(child, limit)

    def element_bytes(self, tlv: TLV, end: int | None = None, limit: int = 1 << 24) -> bytes:
        """The whole encoding of a (small) element, header included."""
        stop = self.end_of(tlv, end)
        if stop - tlv.offset > limit:
            raise self.err("element too large to load", tlv.offset)
        return self.read(tlv.offset, stop - tlv.offset)

    def value(self, tlv: TLV, limit: int = 1 << 24) -> bytes:
        """The value octets of a primitive element."""
        if tlv.constructed or tlv.length == INDEFINITE:
            raise self.err("expected a primitive element", tlv.offset)
        if tlv.length > limit:
            raise self.err("value too large to load", tlv.offset)
        return self.read(tlv.value_offset, tlv.length)

    def octet_chunks(self, tlv: TLV, end: int | None = None,
                     depth: int = 0) -> Iterator[tuple[int, int]]:
        """(offset, length) of the data of an OCTET STRING, primitive or constructed (BER).

        One item per chunk: for reading the data, :meth:`octet_data` is much faster."""
        self.check_depth(depth, tlv.offset)
        if not tlv.constructed:
            yield tlv.value_offset, tlv.length
            return
        opened = [self.children(tlv, end)]
        while opened:
            child = next(opened[-1], None)
            if child is None:
                opened.pop()
                continue
            if not child.is_universal(OCTET_STRING):
                raise self.err("constructed OCTET STRING holds another type", child.offset)
            self.check_depth(depth + len(opened), child.offset)
            if child.constructed:
                opened.append(self.children(child, end))
            else:
                yield child.value_offset, child.length

    def octet_data(self, tlv: TLV, end: int | None = None) -> Iterator[bytes]:
        """The data of an OCTET STRING, primitive or constructed (BER chunks of any size, nested
        up to ``der_depth``), in pieces of at most :attr:`WINDOW` bytes; small chunks are
        gathered many at a time, so that reading is linear and fast whatever the chunk size.

        Raises:
            InvalidInput: a chunk that is not an OCTET STRING, a missing end-of-contents pair,
                truncation.
            LimitExceeded: chunks nested deeper than ``der_depth``.
        """
        if not tlv.constructed:
            yield from self._pieces(tlv.value_offset, tlv.length)
            return
        limit = self.size if end is None else end
        yield from self._walk(tlv, limit, 0, octets=True, collect=True)

    def expect(self, tlv: TLV, *, universal: int | None = None, context: int | None = None,
               what: str = "element") -> TLV:
        if universal is not None and not tlv.is_universal(universal):
            raise self.err(f"expected {what}", tlv.offset)
        if context is not None and not tlv.is_context(context):
            raise self.err(f"expected {what}", tlv.offset)
        return tlv


def _drain(walk: Generator[bytes, None, int]) -> int:
    """Run a walk that collects nothing to its end; its result."""
    while True:
        try:
            next(walk)
        except StopIteration as done:
            end: int = done.value
            return end


def _uniform_run(buf: bytes, i: int, end: int) -> tuple[int, int, int]:
    """(count, header length, value length) of the run of primitive elements at ``buf[i]`` that
    share its header bytes and lie wholly inside ``buf[:end]``; count 0 when the element there
    is not a primitive with a low tag number and a length of at most two octets, is longer
    than :data:`_RUN_STRIDE`, or does not fit.

    Consecutive equal headers ``stride`` bytes apart are consecutive elements (each value is
    ``stride - header`` bytes long), so the run is found by comparing strided slices of the
    header columns; the probe doubles, so a short run costs little.
    """
    avail = end - i
    if avail < 2:
        return 0, 0, 0
    tag, lb = buf[i], buf[i + 1]
    if tag & 0x20 or tag & 0x1F == 0x1F or tag == 0:
        return 0, 0, 0
    if lb < 0x80:
        head, n = 2, lb
    elif lb == 0x81 and avail >= 3:
        head, n = 3, buf[i + 2]
    elif lb == 0x82 and avail >= 4:
        head, n = 4, int.from_bytes(buf[i + 2 : i + 4], "big")
    else:
        return 0, 0, 0
    stride = head + n
    most = avail // stride
    if stride > _RUN_STRIDE or most == 0:
        return 0, head, n
    if most == 1 or buf[i + stride : i + stride + head] != buf[i : i + head]:
        return 1, head, n  # a run of one: chunks of changing sizes cost no slicing
    probe = 16
    while True:
        k = min(probe, most)
        count = k
        for j in range(head):
            column = buf[i + j : i + j + k * stride : stride]
            count = min(count, len(column) - len(column.lstrip(buf[i + j : i + j + 1])))
        if count < k or k == most:
            return count, head, n
        probe *= 4


def _gather(buf: bytes, i: int, end: int, *, octets: bool,
            collect: bool) -> tuple[list[bytes], int]:
    """(data when ``collect``, index after them) of the primitive elements in ``buf[i:end]``
    that :func:`_uniform_run` takes (OCTET STRINGs only when ``octets``), run by run: the
    fast path of a walk, without a generator step per element."""
    out: list[bytes] = []
    size = end
    while True:
        if i + 2 <= size:  # a lone short-form element: taken here, without slicing columns
            tag, n = buf[i], buf[i + 1]
            stride = 2 + n
            if (n < 0x80 and i + stride <= size and tag and not tag & 0x20
                    and tag & 0x1F != 0x1F and (tag == OCTET_STRING or not octets)
                    and buf[i + stride : i + stride + 2] != buf[i : i + 2]):
                if collect and n:
                    out.append(buf[i + 2 : i + stride])
                i += stride
                continue
        count, head, n = _uniform_run(buf, i, size)
        if not count or (octets and buf[i] != OCTET_STRING):
            return out, i
        if collect and n:
            out.append(buf[i + head : i + head + n] if count == 1
                       else _run_data(buf, i, count, head, n))
        i += count * (head + n)


def _run_data(buf: bytes, i: int, count: int, head: int, n: int) -> bytes:
    """The values of ``count`` elements of ``head + n`` bytes each starting at ``buf[i]``,
    joined (small values column by column, larger ones element by element)."""
    stride = head + n
    stop = i + count * stride
    if count == 1:
        return buf[i + head : i + stride]
    if n <= _COLUMNS:
        out = bytearray(count * n)
        for j in range(n):
            out[j::n] = buf[i + head + j : stop : stride]
        return bytes(out)
    return b"".join([buf[p + head : p + stride] for p in range(i, stop, stride)])


def element_spans(data: bytes, most: int, *, depth: int | None = None
                  ) -> tuple[list[tuple[int, int]], int]:
    """(start, end) of the first ``most`` elements in ``data`` and how many there are in all:
    the value of a SEQUENCE OF / SET OF already in memory, BER (indefinite lengths, high tag
    numbers, long length fields) or DER.

    Low-level: one flat loop over the headers, no object per element (unlike
    :meth:`TLVReader.children` or asn1crypto, which build one for every child of a hostile
    value of half a million) and no call for the common headers, linear in ``len(data)``.
    Definite-length elements are skipped whole (their insides are not checked here),
    indefinite-length ones are walked to their end-of-contents octets.

    Raises:
        InvalidInput: malformed (offsets are in ``data``).
        LimitExceeded: indefinite lengths nested deeper than ``depth`` (default: the
            ``der_depth`` limit).
    """
    deepest = limits.current().der_depth if depth is None else depth
    spans: list[tuple[int, int]] = []
    pos, size, count, opened, start = 0, len(data), 0, 0, 0
    while pos < size:
        here = pos
        if pos + 1 >= size:
            raise _bad("truncated header", pos)
        tag, lb = data[pos], data[pos + 1]
        if tag == 0:  # end-of-contents octets, valid only closing an open element
            if lb or not opened:
                raise _bad("unexpected end-of-contents octets", pos)
            pos, opened = pos + 2, opened - 1
            here = start
        elif lb < 0x80 and tag & 0x1F != 0x1F:  # the common header: short, definite
            pos += 2 + lb
            if pos > size:
                raise _bad("value runs past its enclosing element", here)
        else:
            if lb == 0x80 and tag & 0x3F > 0x20 and tag & 0x1F != 0x1F:  # BER, constructed
                pos, indefinite = pos + 2, True
            else:
                pos, indefinite = _skip(data, pos, size)
            if indefinite:
                if not opened:
                    start = here
                opened += 1
                if opened > deepest:
                    raise limits.LimitExceeded(f"BER nesting at offset {here}", "der_depth",
                                               deepest)
        if not opened:
            if count < most:
                spans.append((here, pos))
            count += 1
    if opened:
        raise _bad("indefinite length without end-of-contents", start)
    return spans, count


def _bad(message: str, pos: int) -> InvalidInput:
    return InvalidInput(f"malformed BER/DER value: {message} at offset {pos}")


def _skip(data: bytes, pos: int, size: int) -> tuple[int, bool]:
    """(offset after the element at ``pos`` (after its header when indefinite), whether it is
    indefinite-length) for :func:`element_spans`: any header."""
    first, i = data[pos], pos + 1
    if first & 0x1F == 0x1F:  # high tag number: up to four more octets
        while True:
            if i >= size or i - pos > 4:
                raise _bad("tag number too long", pos)
            i += 1
            if not data[i - 1] & 0x80:
                break
    if i >= size:
        raise _bad("truncated length", pos)
    lb = data[i]
    i += 1
    if lb == 0x80:
        if not first & 0x20:
            raise _bad("indefinite length on a primitive element", pos)
        return i, True
    if lb & 0x80:
        k = lb & 0x7F
        if k > 8 or i + k > size:
            raise _bad("length field too long", pos)
        lb, i = int.from_bytes(data[i : i + k], "big"), i + k
    if i + lb > size:
        raise _bad("value runs past its enclosing element", pos)
    return i + lb, False


def encode_length(length: int) -> bytes:
    if length < 0x80:
        return bytes([length])
    raw = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def encode_header(identifier: int, length: int | None) -> bytes:
    """Identifier octet plus a definite length (or ``None`` for BER indefinite)."""
    if length is None:
        return bytes([identifier, 0x80])
    return bytes([identifier]) + encode_length(length)


def encode_tlv(identifier: int, value: bytes) -> bytes:
    """One definite-length DER element: identifier octet, length, ``value`` (already DER
    contents)."""
    return encode_header(identifier, len(value)) + value


@functools.lru_cache(maxsize=256)
def encode_oid(dotted: str) -> bytes:
    """DER of an OBJECT IDENTIFIER (tag and length included), by asn1crypto (remembered: a
    few OIDs are encoded again and again).

    Raises:
        ValueError: not a dotted OID.
    """
    from asn1crypto import core

    if dotted.count(".") < 1:
        raise ValueError(f"bad OID {dotted}")
    return bytes(core.ObjectIdentifier(dotted).dump())


def decode_oid(value: bytes) -> str:
    """Dotted form of an OBJECT IDENTIFIER value (no tag and length)."""
    if not value or value[-1] & 0x80:
        raise ValueError("malformed OID")
    nums: list[int] = []
    n = 0
    for b in value:
        n = (n << 7) | (b & 0x7F)
        if not b & 0x80:
            nums.append(n)
            n = 0
    first = min(nums[0] // 40, 2)
    return ".".join(str(x) for x in [first, nums[0] - first * 40, *nums[1:]])
