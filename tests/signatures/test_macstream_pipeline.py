"""Large values are read by a second thread while the MAC hash runs: same bytes, same errors."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from dicomsec.errors import InvalidInput
from dicomsec.signatures import _macstream
from dicomsec.signatures._macstream import PIPELINE_MIN, MacStream, swapped


class _Parsed:
    """What MacStream reads of a parsed file: its byte order."""

    def __init__(self, little: bool) -> None:
        self.little_endian = little


@pytest.fixture(scope="module")
def blob(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("pipeline") / "blob.bin"
    path.write_bytes(os.urandom(PIPELINE_MIN + 3 * _macstream.CHUNK + 1234))
    return path


@pytest.mark.parametrize("offset", [0, 7, 4096])
@pytest.mark.parametrize("extra", [0, 1, _macstream.CHUNK + 2])
def test_pipelined_range_hashes_the_same_bytes(blob: Path, offset: int, extra: int) -> None:
    length = PIPELINE_MIN + extra
    data = blob.read_bytes()[offset : offset + length]
    with open(blob, "rb") as fh:
        h = hashlib.sha256()
        MacStream(_Parsed(True), fh)._feed_range(h, offset, length)  # type: ignore[arg-type]
    assert h.digest() == hashlib.sha256(data).digest()


def test_pipelined_range_of_a_big_endian_file_is_swapped(blob: Path) -> None:
    length = PIPELINE_MIN + 2 * _macstream.CHUNK
    data = blob.read_bytes()[:length]
    expected = hashlib.sha256()
    for i in range(0, length, _macstream.CHUNK):
        expected.update(swapped(data[i : i + _macstream.CHUNK], "OW"))
    with open(blob, "rb") as fh:
        h = hashlib.sha256()
        MacStream(_Parsed(False), fh)._feed_range(h, 0, length, "OW")  # type: ignore[arg-type]
    assert h.digest() == expected.digest() == hashlib.sha256(swapped(data, "OW")).digest()


def test_pipelined_range_past_the_end_is_one_clear_error(blob: Path) -> None:
    size = blob.stat().st_size
    with open(blob, "rb") as fh, pytest.raises(InvalidInput, match="truncated while hashing"):
        MacStream(_Parsed(True), fh)._feed_range(  # type: ignore[arg-type]
            hashlib.sha256(), size - PIPELINE_MIN + 10, PIPELINE_MIN)


def test_a_failing_sink_stops_the_reader(blob: Path) -> None:
    class Failing:
        calls = 0

        def update(self, data: bytes | memoryview, /) -> None:
            self.calls += 1
            if self.calls == 2:
                raise RuntimeError("sink failed")

    with open(blob, "rb") as fh, pytest.raises(RuntimeError, match="sink failed"):
        MacStream(_Parsed(True), fh)._feed_range(Failing(), 0, PIPELINE_MIN)  # type: ignore[arg-type]
