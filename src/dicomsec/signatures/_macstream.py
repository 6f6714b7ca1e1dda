"""Low-level: the MAC byte stream of PS3.15 C.12.1.1.3 / PS3.3 C.12.1.1.3.1.

Builds the exact bytes dcmsign feeds into the MAC (see docs/signatures.md, "The byte stream"):
explicit VR little endian encoding, sequences and items without lengths, a Sequence
Delimitation tag (no length) after the last item, encapsulated fragments without item lengths.
Values are the raw stored bytes (byte-swapped for big-endian files); nothing is decoded.
Large values are fed to the hash in chunks through one reusable buffer; a very large one
(pixel data) is read by a second thread while this one hashes (:class:`_Pipeline`).
"""

from __future__ import annotations

import struct
from array import array
from collections.abc import Callable, Iterable
from typing import BinaryIO, Protocol

from dicomsec._rawdicom import (
    LONG_VRS,
    SWAP_UNIT,
    UNDEFINED,
    Element,
    ParsedFile,
    find,
    never_signed,
    tag_str,
)

__all__ = ["MacStream", "Sink", "is_signable"]

CHUNK = 1 << 20
#: values at least this long are read in a second thread while the hash runs in this one
PIPELINE_MIN = 8 << 20
#: chunks in flight between the reader and the hash (each CHUNK bytes)
PIPELINE_DEPTH = 3
#: the signatures of one file may feed at most this many times the ``elements`` limit
FEED_FACTOR = 4

MAC_PARAMETERS_SEQUENCE = 0x4FFE0001
DIGITAL_SIGNATURES_SEQUENCE = 0xFFFAFFFA
TRAILING_PADDING = 0xFFFCFFFC
LENGTH_TO_END = 0x00080001

_ITEM = b"\xfe\xff\x00\xe0"
_SEQ_END = b"\xfe\xff\xdd\xe0"


class Sink(Protocol):
    def update(self, data: bytes | memoryview, /) -> None: ...


def is_signable(el: Element) -> bool:
    """Whether an element may be covered by a signature (PS3.15 C.12.1.1.3.1.1).

    Not signable: group lengths, groups below 0008, group FFFA, MAC Parameters Sequence,
    Data Set Trailing Padding, Length to End, UN elements and sequences containing UN.
    """
    return not never_signed(el.tag) and el.vr != "UN" and not el.un_inside


def swapped(data: bytes | memoryview, vr: str) -> bytes | memoryview:
    """A big-endian binary value in little-endian order (text VRs are returned as they are)."""
    unit = SWAP_UNIT.get(vr)
    if unit is None or len(data) % unit:
        return data
    arr = array({2: "H", 4: "I" if array("I").itemsize == 4 else "L", 8: "Q"}[unit])
    arr.frombytes(data)
    arr.byteswap()
    return arr.tobytes()


class MacStream:
    """Feeds elements of a parsed file to a sink (a hash object) in MAC stream encoding."""

    def __init__(self, parsed: ParsedFile, fh: BinaryIO) -> None:
        from dicomsec import limits

        self.parsed = parsed
        self.fh = fh
        self.swap = not parsed.little_endian
        self._view: memoryview | None = None  # the one reusable buffer, made on first use
        lim = limits.current().elements
        self._most = lim * FEED_FACTOR
        self._left = self._most
        #: the hash of part A by (level, MAC algorithm, signed tags): copies of a signature,
        #: and signatures of one level over the same attributes, hash the level once
        self.part_a: dict[tuple[int, str, bytes], object] = {}

    def _spend(self) -> None:
        """Count one element fed: a file's signatures together may feed at most
        ``FEED_FACTOR`` times the ``elements`` limit (time bound on hostile signatures)."""
        self._left -= 1
        if self._left < 0:
            from dicomsec import limits

            name = getattr(self.fh, "name", None)
            raise limits.LimitExceeded(
                f"the signatures cover more than {self._most} data elements in total",
                "elements", self._most // FEED_FACTOR,
                path=name if isinstance(name, str) else None)

    # -- values -------------------------------------------------------------------------
    def _swapped(self, data: bytes | memoryview, vr: str) -> bytes | memoryview:
        return swapped(data, vr) if self.swap else data

    def _feed_range(self, sink: Sink, offset: int, length: int, vr: str = "OB") -> None:
        if length >= PIPELINE_MIN:
            _Pipeline(self.fh, offset, length).feed(
                sink, (lambda c: swapped(c, vr)) if self.swap else None)
            return
        fh = self.fh
        fh.seek(offset)
        view = self._view
        if view is None:
            view = self._view = memoryview(bytearray(CHUNK))
        while length > 0:
            n = fh.readinto(view[: min(CHUNK, length)])  # type: ignore[attr-defined]
            if not n:
                from dicomsec.errors import InvalidInput

                raise InvalidInput("input changed or was truncated while hashing")
            chunk = view[:n]
            sink.update(self._swapped(chunk, vr) if self.swap else chunk)
            length -= n

    # -- elements -------------------------------------------------------------------------
    def feed_element(self, sink: Sink, el: Element) -> None:
        self._spend()
        tag = struct.pack("<HH", el.tag >> 16, el.tag & 0xFFFF)
        vr = el.vr
        if el.items is not None:
            sink.update(tag + b"SQ\x00\x00")
            for item in el.items:
                sink.update(_ITEM)
                self.feed_elements(sink, (c for c in item.elements if is_signable(c)))
            sink.update(_SEQ_END)
            return
        if el.fragments is not None:
            sink.update(tag + vr.encode() + b"\x00\x00")
            for off, length in el.fragments:
                sink.update(_ITEM)
                self._feed_range(sink, off, length)
            sink.update(_SEQ_END)
            return
        length = el.length
        if vr in LONG_VRS:
            sink.update(tag + vr.encode() + b"\x00\x00" + struct.pack("<L", length))
        else:
            if length > 0xFFFF:
                from dicomsec.errors import InvalidInput

                raise InvalidInput(f"value of {vr} element {tag_str(el.tag)} is too long for "
                                   "explicit VR")
            sink.update(tag + vr.encode() + struct.pack("<H", length))
        if el.value is not None:
            sink.update(self._swapped(el.value, vr))
        elif length:
            self._feed_range(sink, el.value_offset, length, vr)

    def feed_elements(self, sink: Sink, elements: Iterable[Element]) -> None:
        """Feed elements in ascending tag order (data-set order)."""
        for el in sorted(elements, key=lambda e: e.tag):
            self.feed_element(sink, el)

    def feed_signed(
        self, sink: Sink, elements: list[Element], signed: frozenset[int] | set[int]
    ) -> None:
        """Part A: the elements of a level (a parsed list, in tag order) whose tag is in Data
        Elements Signed; a few tags of a large level are looked up, not searched for."""
        if len(signed) * 8 < len(elements):
            chosen = [el for t in signed if (el := find(elements, t)) is not None]
        else:
            chosen = [e for e in elements if e.tag in signed]
        self.feed_elements(sink, (e for e in chosen if is_signable(e)))


class _Pipeline:
    """Reads one large range of a file in a thread while the caller's thread hashes it.

    Both sides release the GIL for their long calls (``readinto`` and ``hashlib``'s
    ``update`` of large buffers), so on two cores the read (~15% of the time of SHA-256 over
    page-cached data) no longer adds to the hash. ``PIPELINE_DEPTH`` buffers circulate between
    the two threads: memory stays a few MiB whatever the size of the value.
    """

    def __init__(self, fh: BinaryIO, offset: int, length: int) -> None:
        import queue

        self.fh, self.offset, self.length = fh, offset, length
        self.full: queue.SimpleQueue[tuple[memoryview, int] | BaseException] = queue.SimpleQueue()
        self.free: queue.SimpleQueue[memoryview | None] = queue.SimpleQueue()
        for _ in range(PIPELINE_DEPTH):
            self.free.put(memoryview(bytearray(CHUNK)))

    def _read(self) -> None:
        """The reader thread: fill free buffers in order; ``n == 0`` marks a short file."""
        try:
            self.fh.seek(self.offset)
            left = self.length
            while left > 0:
                view = self.free.get()
                if view is None:  # the hashing side stopped
                    return
                n = self.fh.readinto(view[: min(CHUNK, left)])  # type: ignore[attr-defined]
                self.full.put((view, n or 0))
                if not n:
                    return
                left -= n
        except BaseException as exc:  # handed to the hashing side, which raises it
            self.full.put(exc)

    def feed(self, sink: Sink,
             swap: Callable[[memoryview], bytes | memoryview] | None) -> None:
        import threading

        reader = threading.Thread(target=self._read, name="dicomsec-read", daemon=True)
        reader.start()
        left = self.length
        try:
            while left > 0:
                got = self.full.get()
                if isinstance(got, BaseException):
                    raise got
                view, n = got
                if not n:
                    from dicomsec.errors import InvalidInput

                    raise InvalidInput("input changed or was truncated while hashing")
                chunk = view[:n]
                sink.update(swap(chunk) if swap is not None else chunk)
                left -= n
                self.free.put(view)
        finally:
            self.free.put(None)  # stops a reader still waiting for a buffer
            reader.join()


def value_bytes(parsed: ParsedFile, fh: BinaryIO, el: Element) -> bytes:
    """The value of a (small or deferred) defined-length element, in little-endian order.

    Raises:
        dicomsec.limits.LimitExceeded: the value is longer than the ``value_bytes`` limit
            (checked before anything is read).
        InvalidInput: the file ends before the value does.
    """
    if el.length == UNDEFINED or el.items is not None or el.fragments is not None:
        raise ValueError("not a plain value")
    from dicomsec import limits

    name = getattr(fh, "name", None)
    path = name if isinstance(name, str) else None
    most = limits.current().value_bytes
    if el.length > most:
        raise limits.LimitExceeded(f"value of {tag_str(el.tag)} is {el.length} bytes long",
                                   "value_bytes", most, path=path)
    if el.value is not None:
        data: bytes = el.value
    else:
        from dicomsec.errors import InvalidInput

        fh.seek(el.value_offset)
        data = fh.read(el.length)
        if len(data) != el.length:
            raise InvalidInput("input changed or was truncated while reading", path=path)
    if not parsed.little_endian:
        return bytes(swapped(data, el.vr))
    return data
