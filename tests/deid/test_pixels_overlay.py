"""Text in overlay planes (60xx,3000) under Clean Graphics: ``clean_overlays`` with region rules
(exact, no OCR) and with Tesseract (text drawn with PIL into the overlay of pydicom's
examples_overlay.dcm and into synthetic overlays of CT_small.dcm): every drawn bit is cleared
(the box margin is the tolerance), bits far from the text are unchanged, an overlay without text
keeps its bytes, and hostile Overlay Plane shapes are refused with one line."""

from __future__ import annotations

import copy
import io
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image, ImageDraw, ImageFont
from pydicom.dataset import Dataset
from pydicom.pixels.utils import pack_bits, unpack_bits
from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian

from dicomsec import limits
from dicomsec.deid._pixels import PixelResult, PixelRules, RegionRule, clean_overlays
from dicomsec.errors import InvalidInput
from tests.conftest import require_tool
from tests.deid.test_pixels import dciodvfy_errors, inside, sample, save

#: bits farther than this from a drawn text's box must keep their values
TOLERANCE = 8


def rules_of(*regions: tuple[int, int, int, int]) -> PixelRules:
    return PixelRules((RegionRule("box", tuple(regions)),), "test")


def text_bits(rows: int, columns: int, texts: list[tuple[int, int, str, int]]
              ) -> tuple[np.ndarray, list[np.ndarray]]:
    """The bits of each text ``(x, y, text, size)`` drawn with PIL's default font, and their
    union."""
    each = []
    for x, y, text, size in texts:
        layer = Image.new("L", (columns, rows), 0)
        ImageDraw.Draw(layer).text((x, y), text, fill=255,
                                   font=ImageFont.load_default(size=size))
        each.append(np.asarray(layer) > 127)
    return np.logical_or.reduce(each), each


def near(masks: list[np.ndarray], tolerance: int) -> np.ndarray:
    """Positions within ``tolerance`` of the bounding box of any mask."""
    boxes = []
    for m in masks:
        ys, xs = np.nonzero(m)
        boxes.append((max(0, int(xs.min()) - tolerance), max(0, int(ys.min()) - tolerance),
                      int(xs.max() - xs.min()) + 1 + 2 * tolerance,
                      int(ys.max() - ys.min()) + 1 + 2 * tolerance))
    return inside(boxes, masks[0].shape)


def graphics(rows: int, columns: int) -> np.ndarray:
    """A plain overlay: a rectangle outline, a cross-hair and a diagonal line (no text)."""
    plane = np.zeros((rows, columns), dtype=np.uint8)
    plane[10, 10:columns - 10] = plane[rows - 11, 10:columns - 10] = 1
    plane[10:rows - 10, 10] = plane[10:rows - 10, columns - 11] = 1
    plane[rows // 2, columns // 2 - 6:columns // 2 + 7] = 1
    plane[rows // 2 - 6:rows // 2 + 7, columns // 2] = 1
    for i in range(min(rows, columns) // 3):
        plane[rows - 20 - i, 20 + i] = 1
    return plane


def with_overlay(ds: Dataset, planes: np.ndarray, *, group: int = 0x6000,
                 origin: tuple[int, int] = (1, 1)) -> Dataset:
    """``ds`` with an Overlay Plane of ``planes`` (frames, rows, columns) in ``group``."""
    frames, rows, columns = planes.shape
    ds.add_new((group, 0x0010), "US", rows)
    ds.add_new((group, 0x0011), "US", columns)
    if frames > 1:
        ds.add_new((group, 0x0015), "IS", frames)
    ds.add_new((group, 0x0040), "CS", "G")
    ds.add_new((group, 0x0050), "SS", list(origin))
    ds.add_new((group, 0x0100), "US", 1)
    ds.add_new((group, 0x0102), "US", 0)
    data = pack_bits(planes.ravel())
    ds.add_new((group, 0x3000), "OW", _swapped(data) if _big_endian(ds) else data)
    return ds


def _big_endian(ds: Dataset) -> bool:
    return str(ds.file_meta.get("TransferSyntaxUID", "")) == ExplicitVRBigEndian


def _swapped(data: bytes) -> bytes:
    """OW in Explicit VR Big Endian: each 16-bit word byte-swapped (PS3.5 8.1.1)."""
    return np.frombuffer(data, dtype="<u2").byteswap().tobytes()


def planes_of(ds: Dataset, group: int = 0x6000) -> np.ndarray:
    rows, columns = int(ds[group, 0x0010].value), int(ds[group, 0x0011].value)
    frames = int(ds.get((group, 0x0015)).value) if (group, 0x0015) in ds else 1
    data = ds[group, 0x3000].value
    bits = np.asarray(unpack_bits(_swapped(data) if _big_endian(ds) else data))
    return bits[:rows * columns * frames].reshape(frames, rows, columns)


def reread(ds: Dataset) -> Dataset:
    buf = io.BytesIO()
    pydicom.dcmwrite(buf, ds, enforce_file_format=True)
    return pydicom.dcmread(io.BytesIO(buf.getvalue()))


# --- region rules: exact, translated by Overlay Origin ----------------------------------------

@pytest.mark.parametrize("syntax", [ExplicitVRLittleEndian, ExplicitVRBigEndian])
def test_rule_clears_overlay_in_every_frame_translated_by_origin(syntax: str) -> None:
    """A 2-frame 37x53 overlay (odd sizes) at origin 11\\21: the rule's image rectangle lands
    20 columns and 10 rows up-left in the plane; both frames cleared, nothing else changes,
    the reported region is in image coordinates; big-endian OW data is read byte-swapped."""
    rng = np.random.default_rng(7)
    planes = (rng.random((2, 37, 53)) < 0.5).astype(np.uint8)
    ds = sample("CT_small.dcm")
    ds.file_meta.TransferSyntaxUID = pydicom.uid.UID(syntax)
    ds = reread(with_overlay(ds, planes, group=0x6002, origin=(11, 21)))
    assert np.array_equal(planes_of(ds, 0x6002), planes)
    pixel_data = ds.PixelData
    result = clean_overlays(ds, rules_of((30, 15, 10, 8)), ocr=False)
    assert result.frames == 2 and result.engine == "rules" and result.transfer_syntax == syntax
    assert [(r.x, r.y, r.width, r.height, r.source) for r in result.regions] == [
        (30, 15, 10, 8, "rule:box")]
    ds = reread(ds)
    after = planes_of(ds, 0x6002)
    expected = planes.copy()
    expected[:, 5:13, 10:20] = 0
    assert np.array_equal(after, expected)
    assert ds.PixelData == pixel_data


def test_rule_clipped_to_overlay_and_outside_ignored() -> None:
    planes = np.ones((1, 20, 30), dtype=np.uint8)
    ds = with_overlay(sample("CT_small.dcm"), planes, origin=(101, 101))
    result = clean_overlays(ds, rules_of((0, 0, 50, 50), (95, 110, 10, 4)), ocr=False)
    assert [(r.x, r.y, r.width, r.height) for r in result.regions] == [(100, 110, 5, 4)]
    expected = planes.copy()
    expected[0, 10:14, 0:5] = 0
    assert np.array_equal(planes_of(ds), expected)


def test_padding_and_trailing_bytes_kept() -> None:
    """3x5 plane: 15 bits; the bits past the plane and the padding byte stay as they were."""
    ds = with_overlay(sample("CT_small.dcm"), np.ones((1, 3, 5), dtype=np.uint8))
    ds[0x6000, 0x3000].value = b"\xff\xff\xab\xcd"
    clean_overlays(ds, rules_of((0, 0, 2, 1)), ocr=False)
    assert ds[0x6000, 0x3000].value == b"\xfc\xff\xab\xcd"


def test_no_overlay_nothing_to_do() -> None:
    ds = sample("CT_small.dcm")
    before = copy.deepcopy(ds)
    result = clean_overlays(ds, None, ocr=False)
    assert result == PixelResult((), 0, "none", str(ds.file_meta.TransferSyntaxUID))
    assert ds == before


def test_overlay_without_rules_or_ocr_refused() -> None:
    ds = with_overlay(sample("CT_small.dcm"), graphics(64, 64)[np.newaxis])
    with pytest.raises(InvalidInput, match="needs region rules"):
        clean_overlays(ds, None, ocr=False)


def _hostile(name: str) -> Dataset:
    ds = with_overlay(sample("CT_small.dcm"), np.ones((1, 16, 16), dtype=np.uint8))
    tag = {"short": 0x3000, "rows0": 0x0010, "columns": 0x0011, "bits": 0x0100,
           "frames0": 0x0015, "frames": 0x0015, "origin": 0x0050, "empty": 0x3000}[name]
    if name == "short":
        ds[0x6000, tag].value = b"\xff" * 30
    elif name == "rows0":
        ds[0x6000, tag].value = 0
    elif name == "columns":
        del ds[0x6000, tag]
    elif name == "bits":
        ds[0x6000, tag].value = 8
    elif name in ("frames0", "frames"):
        ds.add_new((0x6000, tag), "IS", 0 if name == "frames0" else None)
        if name == "frames":
            ds[0x6000, tag]._value = "x"
    elif name == "origin":
        ds[0x6000, tag].value = 1
    else:
        ds[0x6000, tag].value = b""
    return ds


@pytest.mark.parametrize("name", ["short", "rows0", "columns", "bits", "frames0", "frames",
                                  "origin", "empty"])
def test_hostile_overlay_refused_one_line(name: str) -> None:
    ds = _hostile(name)
    with pytest.raises(InvalidInput) as info:
        clean_overlays(ds, rules_of((0, 0, 4, 4)), ocr=False)
    assert "overlay (6000,3000)" in str(info.value) and "\n" not in str(info.value)


def test_overlay_limit() -> None:
    ds = with_overlay(sample("CT_small.dcm"), np.ones((1, 64, 64), dtype=np.uint8))
    with limits.applied(limits.current().replaced(pixel_bytes=1000)), \
            pytest.raises(limits.LimitExceeded, match="pixel_bytes"):
        clean_overlays(ds, rules_of((0, 0, 1, 1)), ocr=False)


# --- OCR ----------------------------------------------------------------------------------------

DRAWN = [(250, 40, "DOE^JOHN 1970", 14), (150, 262, "ID 4711", 12)]


@pytest.fixture(scope="module")
def siemens() -> tuple[np.ndarray, np.ndarray, list[np.ndarray], Dataset, PixelResult]:
    """examples_overlay.dcm (its overlay: an ROI outline, a box and the label "Tra") with two
    identifying texts drawn into the plane, cleaned once with OCR."""
    require_tool("tesseract")
    ds = sample("examples_overlay.dcm")
    original = np.asarray(ds.overlay_array(0x6000))
    drawn, each = text_bits(int(ds[0x6000, 0x0010].value), int(ds[0x6000, 0x0011].value), DRAWN)
    before = (original.astype(bool) | drawn).astype(np.uint8)
    ds[0x6000, 0x3000].value = pack_bits(before)
    ds = reread(ds)
    result = clean_overlays(ds, None, ocr=True)
    return before, drawn, each, ds, result


def test_drawn_overlay_text_cleared(siemens: tuple[np.ndarray, np.ndarray, list[np.ndarray],
                                                   Dataset, PixelResult]) -> None:
    before, drawn, _, ds, result = siemens
    after = planes_of(ds)[0]
    assert result.frames == 1 and result.engine.startswith("tesseract")
    assert {r.source for r in result.regions} == {"ocr"}
    assert not (after.astype(bool) & drawn).any(), "a drawn bit survived"
    label = before[30:50, 405:440].astype(bool) & ~drawn[30:50, 405:440]
    assert label.any() and not (after[30:50, 405:440].astype(bool) & label).any(), \
        "the overlay's own label 'Tra' survived"


def test_overlay_changes_only_inside_reported_regions(
        siemens: tuple[np.ndarray, np.ndarray, list[np.ndarray], Dataset, PixelResult]) -> None:
    before, _, each, ds, result = siemens
    after = planes_of(ds)[0]
    cleared = inside([(r.x, r.y, r.width, r.height) for r in result.regions], after.shape)
    assert np.array_equal(after[~cleared], before[~cleared])
    assert not after[cleared].any()
    assert cleared.mean() < 0.15, "OCR cleared far more than the text"
    far = ~near(each, TOLERANCE) & ~cleared
    assert np.array_equal(after[far], before[far])


def test_cleaned_overlay_file_passes_dciodvfy(
        siemens: tuple[np.ndarray, np.ndarray, list[np.ndarray], Dataset, PixelResult],
        tmp_path: Path) -> None:
    _, _, _, ds, _ = siemens
    original = save(sample("examples_overlay.dcm"), tmp_path / "in.dcm")
    assert dciodvfy_errors(save(ds, tmp_path / "out.dcm")) <= dciodvfy_errors(original)


def test_multiframe_overlay_text_in_one_frame_cleared_in_all() -> None:
    """Two 96x128 frames at origin 17\\1 over CT_small: text drawn in frame 2 only is
    cleared in both (frame 1's line under it goes too); the graphics far from it stay;
    regions are in image coordinates."""
    require_tool("tesseract")
    drawn, each = text_bits(96, 128, [(20, 17, "SMITH", 13)])
    plane = graphics(96, 128)
    underline = np.zeros_like(plane)
    underline[24, 22:50] = 1                    # in frame 1, where frame 2 has the text
    planes = np.stack([plane | underline, plane | drawn])
    ds = with_overlay(sample("CT_small.dcm"), planes, origin=(17, 1))
    result = clean_overlays(ds, None, ocr=True)
    after = planes_of(ds)
    assert result.frames == 2 and result.regions
    assert not (after[1].astype(bool) & drawn).any()
    assert not after[0, 24, 22:50].any(), "the region found in frame 2 was not cleared in 1"
    far = ~near(each, TOLERANCE)
    assert np.array_equal(after[:, far], planes[:, far])
    ys, _ = np.nonzero(drawn)
    assert any(r.y <= int(ys.min()) + 16 and r.y + r.height > int(ys.max()) + 16
               for r in result.regions), "regions are not in image coordinates"


def test_plain_overlay_unchanged() -> None:
    require_tool("tesseract")
    ds = with_overlay(sample("CT_small.dcm"), graphics(128, 128)[np.newaxis])
    data = ds[0x6000, 0x3000].value
    result = clean_overlays(ds, None, ocr=True)
    assert result.regions == () and result.frames == 1
    assert ds[0x6000, 0x3000].value == data
