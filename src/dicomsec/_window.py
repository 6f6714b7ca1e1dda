"""Low-level: a buffered window over a seekable binary file, for many small reads by offset.

Parsers that walk a file by offsets (the DICOM parser of :mod:`dicomsec._rawdicom`, the CMS TLV
reader of :mod:`dicomsec.cms._der`) read a few bytes at a time: a tag, a length, a small value.
One system call per read would dominate their time, so :class:`Window` keeps one buffered
window of the file and serves small reads from it; a read that does not fit reloads the window
at the read's offset. Large reads (values, content) go straight to the file and leave the window
alone.

Not checked here: what the bytes mean. Every read is checked against the declared size, and the
caller decides what the error says (:class:`ReadError` carries the offset).
"""

from __future__ import annotations

from typing import BinaryIO

__all__ = ["DIRECT_ABOVE", "SPAN", "ReadError", "Window"]

#: default size of the window (bytes loaded at once for a small read)
SPAN = 1 << 16
#: reads longer than this go straight to the file
DIRECT_ABOVE = 1 << 16


class ReadError(Exception):
    """A read outside the declared size (``past_end``) or a file shorter than declared."""

    def __init__(self, pos: int, *, past_end: bool) -> None:
        super().__init__(f"{'read past the end' if past_end else 'short read'} at offset {pos}")
        self.pos = pos
        self.past_end = past_end


class Window:
    """Low-level: reads ``n`` bytes at ``pos`` of ``fh`` (``size`` bytes long), small reads from
    one buffered window of ``span`` bytes.

    The file position of ``fh`` is undefined after a read: callers always give offsets.

    Raises (from :meth:`read`):
        ReadError: the range is outside ``0..size`` or the file ends early.
    """

    __slots__ = ("_buf", "_direct_above", "_span", "_start", "fh", "size")

    def __init__(self, fh: BinaryIO, size: int, *, span: int = SPAN,
                 direct_above: int = DIRECT_ABOVE) -> None:
        self.fh = fh
        self.size = size
        self._span = span
        self._direct_above = direct_above
        self._buf = b""
        self._start = 0

    def read(self, pos: int, n: int) -> bytes:
        """``n`` bytes at offset ``pos`` (exactly ``n``, or :class:`ReadError`)."""
        if n < 0 or pos < 0 or pos + n > self.size:
            raise ReadError(pos, past_end=True)
        off = pos - self._start
        if 0 <= off and off + n <= len(self._buf):
            return self._buf[off : off + n]
        self.fh.seek(pos)
        if n > self._direct_above:
            data = self.fh.read(n)
        else:
            self._buf = self.fh.read(max(n, min(self._span, self.size - pos)))
            self._start = pos
            data = self._buf[:n]
        if len(data) != n:
            raise ReadError(pos, past_end=False)
        return data
