"""The one windowed reader (dicomsec._window) and the two parsers that share it: the CMS TLV
reader and the raw DICOM parser keep their own messages."""

from __future__ import annotations

import io

import pytest

from dicomsec._rawdicom import parse_dataset_bytes, parse_stream
from dicomsec._window import ReadError, Window
from dicomsec.cms._der import TLVReader
from dicomsec.errors import InvalidInput

DATA = bytes(range(256)) * 1024  # 256 KiB


class CountingFile(io.BytesIO):
    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.reads: list[int] = []

    def read(self, n: int | None = -1) -> bytes:
        self.reads.append(-1 if n is None else n)
        return super().read(n)


def test_small_reads_come_from_one_window() -> None:
    fh = CountingFile(DATA)
    win = Window(fh, len(DATA), span=4096, direct_above=1024)
    assert win.read(10, 4) == DATA[10:14]
    assert win.read(100, 200) == DATA[100:300]
    assert win.read(4000, 116) == DATA[4000:4116]  # past the window (10..4106): reloaded
    assert fh.reads == [4096, 4096]
    assert win.read(4116, 50) == DATA[4116:4166]
    assert len(fh.reads) == 2


def test_large_reads_go_to_the_file_and_keep_the_window() -> None:
    fh = CountingFile(DATA)
    win = Window(fh, len(DATA), span=4096, direct_above=1024)
    win.read(0, 1)
    assert win.read(8192, 2048) == DATA[8192:10240]
    assert win.read(2, 2) == DATA[2:4]
    assert fh.reads == [4096, 2048]


def test_window_near_the_end_is_clipped() -> None:
    fh = CountingFile(DATA)
    win = Window(fh, len(DATA))
    assert win.read(len(DATA) - 3, 3) == DATA[-3:]
    assert fh.reads == [3]


@pytest.mark.parametrize(("pos", "n"), [(-1, 1), (0, -1), (len(DATA) - 1, 2), (len(DATA), 1)])
def test_reads_outside_the_size_fail(pos: int, n: int) -> None:
    with pytest.raises(ReadError) as info:
        Window(io.BytesIO(DATA), len(DATA)).read(pos, n)
    assert info.value.past_end and info.value.pos == pos


def test_a_file_shorter_than_declared_fails() -> None:
    win = Window(io.BytesIO(DATA[:100]), 200)
    with pytest.raises(ReadError) as info:
        win.read(90, 20)
    assert not info.value.past_end and info.value.pos == 90


def test_tlv_reader_keeps_its_message() -> None:
    reader = TLVReader(io.BytesIO(b"\x30\x05\x02\x01"), 4, "x.cms")
    with pytest.raises(InvalidInput, match=r"malformed CMS structure: truncated at offset 2"):
        reader.read(2, 5)
    with pytest.raises(InvalidInput, match="runs past"):
        reader.header(0)


def test_raw_dicom_parser_keeps_its_messages() -> None:
    # (0010,0010) PN, length 8, but only 2 value bytes
    truncated = b"\x10\x00\x10\x00PN\x08\x00AB"
    with pytest.raises(InvalidInput, match="runs past the end"):
        parse_dataset_bytes(truncated)
    # (0002,0000) UL 4, then the header of (0002,0001) OB without its length field
    data = (b"\0" * 128 + b"DICM" + b"\x02\x00\x00\x00UL\x04\x00\x00\x00\x00\x00"
            + b"\x02\x00\x01\x00OB\x00\x00")
    with pytest.raises(InvalidInput, match="truncated or corrupt data") as info:
        parse_stream(io.BytesIO(data), len(data), "f.dcm")
    assert info.value.path == "f.dcm"
    # declared size larger than the file: the short read is named
    with pytest.raises(InvalidInput, match=r"truncated data at offset \d+"):
        parse_stream(io.BytesIO(data), len(data) + 100, "f.dcm")
