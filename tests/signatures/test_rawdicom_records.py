"""The parser's compact records (issue 8, item 3): derived offsets for every header shape,
lists in tag order whatever the file's order (so that lookups can search), duplicates found
out of order too, fragments in one array, kept values within a budget."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from dicomsec import _rawdicom
from dicomsec._rawdicom import UNDEFINED, find, parse_dataset_bytes, parse_file
from dicomsec.errors import InvalidInput
from tests.conftest import PYDICOM_FILES


def _short(group: int, elem: int, vr: bytes, value: bytes, e: str = "<") -> bytes:
    return struct.pack(e + "HH2sH", group, elem, vr, len(value)) + value


def _long(group: int, elem: int, vr: bytes, value: bytes, e: str = "<") -> bytes:
    return struct.pack(e + "HH2sHL", group, elem, vr, 0, len(value)) + value


def test_offsets_of_the_three_header_shapes() -> None:
    data = _short(0x0010, 0x0010, b"PN", b"A^B ") + _long(0x0010, 0x4000, b"UT", b"note")
    short, long_ = parse_dataset_bytes(data)
    assert (short.length_field, short.length_size, short.value_offset, short.end) == (6, 2, 8, 12)
    assert (long_.offset, long_.length_field, long_.length_size, long_.value_offset,
            long_.end) == (12, 20, 4, 24, 28)
    implicit = struct.pack("<HHL", 0x0010, 0x0010, 4) + b"A^B "
    (el,) = parse_dataset_bytes(implicit, implicit=True)
    assert (el.vr, el.length_field, el.length_size, el.value_offset, el.end) == (
        "PN", 4, 4, 8, 12)


def test_out_of_order_elements_are_listed_in_tag_order_and_found() -> None:
    tags = [0x00100020, 0x00080020, 0x00100010, 0x00080018] + [
        0x00110010 + i for i in range(40)]
    data = b"".join(_short(t >> 16, t & 0xFFFF, b"LO", b"x ") for t in tags)
    elements = parse_dataset_bytes(data)
    assert [e.tag for e in elements] == sorted(tags)
    for t in tags:
        found = find(elements, t)
        assert found is not None and found.tag == t
    assert find(elements, 0x00100030) is None


def test_duplicates_out_of_order_are_refused() -> None:
    data = b"".join(_short(0x0010, e, b"LO", b"x ") for e in (0x20, 0x10, 0x30, 0x10))
    with pytest.raises(InvalidInput, match=r"duplicate attribute \(0010,0010\)"):
        parse_dataset_bytes(data)


def test_items_and_undefined_lengths() -> None:
    inner = _short(0x0008, 0x0100, b"SH", b"1 ")
    item = struct.pack("<HHL", 0xFFFE, 0xE000, len(inner)) + inner
    undefined_item = (struct.pack("<HHL", 0xFFFE, 0xE000, UNDEFINED) + inner
                      + struct.pack("<HHL", 0xFFFE, 0xE00D, 0))
    seq = (struct.pack("<HH2sHL", 0x0040, 0xA043, b"SQ", 0, UNDEFINED) + item + undefined_item
           + struct.pack("<HHL", 0xFFFE, 0xE0DD, 0))
    (el,) = parse_dataset_bytes(seq)
    assert el.items is not None and el.end == len(seq)
    first, second = el.items
    assert (first.offset, first.end, first.content_end) == (12, 12 + 8 + len(inner),
                                                           12 + 8 + len(inner))
    assert second.end == len(seq) - 8 and second.content_end == second.end - 8


def test_fragments_are_pairs_in_one_array() -> None:
    path = PYDICOM_FILES / "JPEG2000.dcm"
    pixel = parse_file(path).dataset.find(0x7FE00010)
    assert pixel is not None and pixel.fragments is not None
    pairs = list(pixel.fragments)
    assert len(pairs) == len(pixel.fragments) >= 2
    assert pixel.fragments[0] == pairs[0] and pixel.fragments[-1] == pairs[-1]
    data = path.read_bytes()
    offset, length = pairs[-1]
    assert data[offset - 8:offset - 4] == b"\xfe\xff\x00\xe0"
    assert struct.unpack("<L", data[offset - 4:offset])[0] == length


def test_small_values_past_the_budget_are_read_on_demand(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from dicomsec.signatures import verify_file

    monkeypatch.setattr(_rawdicom, "KEEP_BYTES", 0)
    path = PYDICOM_FILES / "CT_small.dcm"
    parsed = parse_file(path)
    assert all(e.value is None for e in parsed.dataset.elements)
    assert parsed.meta[0x00020010]  # the meta is always kept
    signed = tmp_path / "signed.dcm"
    from tests.conftest import cli_sign

    cli_sign(path, signed, "ecp256")
    report = verify_file(signed)
    assert report.signatures and report.signatures[0].intact
