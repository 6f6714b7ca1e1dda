"""Low-level: splice new bytes into a byte-exact copy of a DICOM file.

Files are never re-encoded. An edit replaces an input byte range (often an empty one: an
insertion); the lengths of enclosing defined-length sequences and items are patched once each,
with the changes of every level added up. Large unchanged ranges are copied with
``os.copy_file_range`` (see :func:`dicomsec._atomic.copy_range`).
"""

from __future__ import annotations

import os
import struct
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from dicomsec._atomic import copy_range
from dicomsec._rawdicom import UNDEFINED, DataSet, Element, Item, ParsedFile, find
from dicomsec.errors import InvalidInput
from dicomsec.signatures._macstream import DIGITAL_SIGNATURES_SEQUENCE

__all__ = [
    "Copier",
    "Edit",
    "Encoder",
    "Lengths",
    "grow",
    "item_bytes",
    "late_cut",
    "shrink",
    "write_spliced",
]



#: VRs whose value is padded with a NUL byte to an even length (others: a space)
_NUL_PADDED = frozenset(["UI", "OB", "OD", "OF", "OL", "OV", "OW", "UN"])
#: VRs with a 4-byte length after two reserved bytes in explicit VR (PS3.5 7.1.2)
_LONG_VRS = frozenset(["OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT",
                       "UV"])


@dataclass(frozen=True, slots=True)
class Encoder:
    """Low-level: encodes new data elements in a file's transfer syntax (PS3.5 7.1).

    Writes what pydicom's ``write_dataset`` writes for the same elements: values padded to an
    even length (NUL for UI and binary VRs, a space for text), defined-length sequences and
    items. Callers give elements in ascending tag order; nothing checks the values' VRs.
    """

    little: bool
    implicit: bool

    def element(self, tag: int, vr: str, value: bytes) -> bytes:
        """One element with a value given in this byte order (padded here)."""
        if len(value) % 2:
            value += b"\x00" if vr in _NUL_PADDED else b" "
        head = _tag_bytes(tag, self.little)
        if self.implicit:
            return head + _u32(len(value), self.little) + value
        if vr in _LONG_VRS:
            return head + vr.encode() + b"\x00\x00" + _u32(len(value), self.little) + value
        if len(value) > 0xFFFF:
            raise InvalidInput(f"value of {vr} element is too long for explicit VR")
        fmt = "<H" if self.little else ">H"
        return head + vr.encode() + struct.pack(fmt, len(value)) + value

    def text(self, tag: int, vr: str, value: str) -> bytes:
        return self.element(tag, vr, value.encode("ascii"))

    def us(self, tag: int, value: int) -> bytes:
        return self.element(tag, "US", struct.pack("<H" if self.little else ">H", value))

    def at(self, tag: int, tags: list[int]) -> bytes:
        return self.element(tag, "AT", b"".join(_tag_bytes(t, self.little) for t in tags))

    def sequence(self, tag: int, items: list[bytes]) -> bytes:
        """A defined-length sequence of items given as their encoded content."""
        return self.element(tag, "SQ", b"".join(item_bytes(i, self.little) for i in items))


def _u32(value: int, little: bool) -> bytes:
    return struct.pack("<L" if little else ">L", value)


def _tag_bytes(tag: int, little: bool) -> bytes:
    return struct.pack("<HH" if little else ">HH", tag >> 16, tag & 0xFFFF)


def item_bytes(content: bytes, little: bool) -> bytes:
    return _tag_bytes(0xFFFEE000, little) + _u32(len(content), little) + content


def _sq_bytes(tag: int, items: bytes, *, little: bool, implicit: bool) -> bytes:
    head = _tag_bytes(tag, little)
    if not implicit:
        head += b"SQ\x00\x00"
    return head + _u32(len(items), little) + items


@dataclass(frozen=True, slots=True)
class Edit:
    start: int
    end: int  # replaced range [start, end)
    data: bytes


def grow(parsed: ParsedFile, elements: list[Element], level: DataSet, tag: int,
          item: bytes, edits: list[Edit]) -> int:
    """Append ``item`` to the sequence ``tag`` of a level (creating it); returns bytes added."""
    little, implicit = parsed.little_endian, parsed.implicit_vr
    seq = find(elements, tag)
    if seq is not None and seq.items is not None:
        if seq.length == UNDEFINED:
            edits.append(Edit(seq.end - 8, seq.end - 8, item))
        else:
            edits.append(Edit(seq.end, seq.end, item))
            new_len = seq.length + len(item)
            edits.append(Edit(seq.length_field, seq.length_field + 4, _u32(new_len, little)))
        return len(item)
    data = _sq_bytes(tag, item, little=little, implicit=implicit)
    after = [e for e in elements if e.tag > tag]
    if after:
        pos = min(e.offset for e in after)
    elif level.parent_item is not None:
        pos = level.parent_item.content_end
    else:
        pos = max((e.end for e in elements), default=parsed.dataset_offset)
    edits.append(Edit(pos, pos, data))
    return len(data)


class Lengths:
    """Length fields of enclosing defined-length sequences and items, with summed changes.

    Several levels may share ancestors (two item signatures under one sequence), so changes
    are added up per field and each field is patched once.
    """

    def __init__(self) -> None:
        self._fields: dict[int, tuple[int, int]] = {}  # offset -> (stored length, delta)

    def resize_ancestors(self, level: DataSet, delta: int) -> None:
        for seq, item in level.parent_chain:
            if seq.length != UNDEFINED:
                self._add(seq.length_field, seq.length, delta)
            if item.length != UNDEFINED:
                self._add(item.length_offset, item.length, delta)

    def _add(self, offset: int, length: int, delta: int) -> None:
        old = self._fields.get(offset, (length, 0))
        self._fields[offset] = (length, old[1] + delta)

    def edits(self, little: bool) -> list[Edit]:
        out = []
        for offset, (length, delta) in self._fields.items():
            new = length + delta
            if not 0 <= new < UNDEFINED:
                raise InvalidInput("a sequence or item would exceed the maximum length")
            out.append(Edit(offset, offset + 4, _u32(new, little)))
        return out


def write_spliced(src: BinaryIO, dst: BinaryIO, edits: list[Edit], start: int, stop: int,
                   *, last: bool = True, sync_every: int = 0) -> None:
    """Write input range ``[start, stop)`` to ``dst`` with the edits that start inside it.

    With ``sync_every``, data is flushed to disk every so many bytes so that write-back runs
    while the caller is still busy (the final fsync then has little left to do).
    """
    pos = start
    for ed in sorted(edits, key=lambda e: (e.start, e.end)):
        # an insertion at the very end of the input belongs to the range that ends there
        at_end = ed.start == stop == ed.end and last
        if not (start <= ed.start < stop or at_end):
            continue
        if ed.start < pos or ed.end > stop:
            raise InvalidInput("overlapping edits (malformed file structure)")
        _copy(src, dst, pos, ed.start - pos, sync_every)
        dst.write(ed.data)
        pos = ed.end
    _copy(src, dst, pos, stop - pos, sync_every)


def _copy(src: BinaryIO, dst: BinaryIO, offset: int, length: int, sync_every: int) -> None:
    if not sync_every:
        copy_range(src, dst, offset, length)
        return
    while length > 0:
        n = min(length, sync_every)
        start = dst.tell()
        copy_range(src, dst, offset, n)
        dst.flush()
        _start_writeback(dst.fileno(), start, n)
        offset += n
        length -= n


def _start_writeback(fd: int, offset: int, length: int) -> None:
    """Start writing a range of ``fd`` to disk now, without waiting for it.

    Linux starts asynchronous write-back of the dirty pages of a range on ``POSIX_FADV_DONTNEED``
    (pages still dirty or under write-back stay cached; mm/fadvise.c), so the disk writes while
    the copy and the MAC go on, and the final fsync has only the rest to wait for. Where that
    hint is missing, ``fdatasync`` does the same job, waiting.
    """
    advise = getattr(os, "posix_fadvise", None)
    if advise is not None and os.uname().sysname == "Linux":
        advise(fd, offset, length, os.POSIX_FADV_DONTNEED)
    else:
        os.fdatasync(fd)


def late_cut(parsed: ParsedFile, level: DataSet, elements: list[Element], size: int) -> int:
    """First input offset touched by an edit that depends on the signature value."""
    seq = find(elements, DIGITAL_SIGNATURES_SEQUENCE)
    if seq is not None and seq.items is not None:
        cut = seq.length_field if seq.length != UNDEFINED else seq.end - 8
    else:
        after = [e.offset for e in elements if e.tag > DIGITAL_SIGNATURES_SEQUENCE]
        if after:
            cut = min(after)
        elif level.parent_item is not None:
            cut = level.parent_item.content_end
        else:
            cut = max((e.end for e in elements), default=parsed.dataset_offset)
    for sq, it in level.parent_chain:
        if sq.length != UNDEFINED:
            cut = min(cut, sq.length_field)
        if it.length != UNDEFINED:
            cut = min(cut, it.length_offset)
    return min(cut, size)


#: bulk copies larger than this run in a thread while the MAC is computed
PARALLEL_COPY_MIN = 8 << 20
#: the copy thread makes its output durable every so many bytes (outputs of two chunks or
#: more), so that the disk writes while the MAC is computed instead of in the final fsync
#: (128 MiB left a 250 MiB output to the final fsync: the whole write came after the hash)
SYNC_CHUNK = 32 << 20



class Copier:
    """Copies the signature-independent head of the output, in a thread when it is large."""

    def __init__(self, src: Path, out: BinaryIO, edits: list[Edit], cut: int, size: int) -> None:
        self.src, self.out, self.edits, self.cut = src, out, edits, cut
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="dicomsec-copy", daemon=True)
        self.parallel = cut >= PARALLEL_COPY_MIN
        self.sync_every = SYNC_CHUNK if size >= 2 * SYNC_CHUNK else 0

    def _run(self) -> None:
        try:
            with open(self.src, "rb") as fh:
                write_spliced(fh, self.out, self.edits, 0, self.cut, last=False,
                               sync_every=self.sync_every)
        except BaseException as exc:  # re-raised in join()
            self.error = exc

    def start(self) -> None:
        if self.parallel:
            self.thread.start()

    def join(self) -> None:
        if self.parallel:
            self.thread.join()
        else:
            self._run()
        if self.error is not None:
            raise self.error


def shrink(parsed: ParsedFile, seq: Element, drop: list[Item], edits: list[Edit]) -> int:
    """Remove items from a sequence (the whole element when none is left); bytes removed."""
    assert seq.items is not None
    if len(drop) == len(seq.items):
        edits.append(Edit(seq.offset, seq.end, b""))
        return seq.end - seq.offset
    removed = 0
    for it in drop:
        edits.append(Edit(it.offset, it.end, b""))
        removed += it.end - it.offset
    if seq.length != UNDEFINED:
        edits.append(Edit(seq.length_field, seq.length_field + 4,
                           _u32(seq.length - removed, parsed.little_endian)))
    return removed


