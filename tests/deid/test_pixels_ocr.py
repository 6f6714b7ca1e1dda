"""Burned-in text found by OCR (acceptance 5): identifying text drawn with PIL into the pixels of
real samples (native CT, RLE MR, JPEG 2000 US, two-frame JPEG baseline US), then
``clean_pixels`` with Tesseract; every drawn pixel must be blanked in every frame (the box margin
is the tolerance) while pixels far from the text keep their values."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image, ImageDraw, ImageFont
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate
from pydicom.uid import JPEG2000Lossless, JPEGBaseline8Bit, RLELossless

from dicomsec.deid._pixels import PixelResult, clean_pixels
from tests.conftest import require_tool
from tests.deid.test_pixels import dciodvfy_errors, frames_of, inside, sample, save

#: pixels farther than this from a drawn text's box must keep their values (box margin of
#: _ocr plus Tesseract's box slack)
TOLERANCE = 8


@dataclass(frozen=True)
class Text:
    """A text drawn at (x, y) with the default PIL font at ``size`` pixels."""

    x: int
    y: int
    text: str
    size: int


def text_mask(rows: int, columns: int, texts: list[Text]) -> tuple[np.ndarray, list[np.ndarray]]:
    """The drawn pixels of all texts, and of each text on its own."""
    each = []
    for t in texts:
        layer = Image.new("L", (columns, rows), 0)
        ImageDraw.Draw(layer).text((t.x, t.y), t.text, fill=255,
                                   font=ImageFont.load_default(size=t.size))
        each.append(np.asarray(layer) > 127)
    return np.logical_or.reduce(each), each


def near(masks: list[np.ndarray], tolerance: int) -> np.ndarray:
    """Positions within ``tolerance`` of the bounding box of any drawn text."""
    shape = masks[0].shape
    boxes = []
    for m in masks:
        ys, xs = np.nonzero(m)
        boxes.append((int(xs.min()) - tolerance, int(ys.min()) - tolerance,
                      int(xs.max() - xs.min()) + 1 + 2 * tolerance,
                      int(ys.max() - ys.min()) + 1 + 2 * tolerance))
    return inside([(max(0, x), max(0, y), w, h) for x, y, w, h in boxes], shape)


def ct_native(texts: list[Text]) -> Dataset:
    ds = sample("CT_small.dcm")
    array = ds.pixel_array.copy()
    mask, _ = text_mask(ds.Rows, ds.Columns, texts)
    array[mask] = array.max()
    ds.PixelData = array.tobytes()
    return ds


def mr_rle(texts: list[Text]) -> Dataset:
    ds = sample("MR_small.dcm")
    array = ds.pixel_array.copy()
    mask, _ = text_mask(ds.Rows, ds.Columns, texts)
    array[mask] = array.max()
    ds.compress(RLELossless, array, generate_instance_uid=False)
    return ds


def us_j2k(texts: list[Text]) -> Dataset:
    ds = sample("examples_jpeg2k.dcm")
    rgb = ds.pixel_array.copy()
    mask, _ = text_mask(ds.Rows, ds.Columns, texts)
    rgb[mask] = 255
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG2000", irreversible=False, mct=0, no_jp2=True)
    ds.PixelData = encapsulate([buf.getvalue()])
    ds["PixelData"].is_undefined_length = True
    ds.PhotometricInterpretation = "RGB"
    ds.file_meta.TransferSyntaxUID = JPEG2000Lossless
    return ds


def us_jpeg_two_frames(texts: list[Text]) -> Dataset:
    """Two frames of a SonoSite cine, one text drawn in each, JPEG baseline YBR_FULL_422."""
    ds = sample("examples_ybr_color.dcm")
    frames = ds.pixel_array[:2].copy()
    fragments = []
    for index, frame in enumerate(frames):
        mask, _ = text_mask(ds.Rows, ds.Columns, texts[index::2])
        frame[mask] = 255
        buf = io.BytesIO()
        Image.fromarray(frame).save(buf, format="JPEG", quality=95, subsampling=1)
        fragments.append(buf.getvalue())
    ds.PixelData = encapsulate(fragments)
    ds["PixelData"].is_undefined_length = True
    ds.NumberOfFrames = 2
    ds.PhotometricInterpretation = "YBR_FULL_422"
    ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    return ds


Case = tuple[Dataset, Dataset, PixelResult, list[Text], bool]

CASES = {
    # name: (builder, texts, only the drawn text in the image)
    "ct-native": (ct_native, [Text(4, 4, "DOE^JOHN", 13), Text(4, 108, "ID 4711", 13)], True),
    "mr-rle": (mr_rle, [Text(3, 3, "SMITH", 11)], True),
    "us-j2k": (us_j2k, [Text(120, 395, "JANE DOE 1970", 16)], False),
    "us-jpeg-2frames": (us_jpeg_two_frames,
                        [Text(40, 203, "DOE JOHN", 14), Text(180, 203, "ID 8812", 14)], False),
}


@pytest.fixture(scope="module")
def cleaned() -> dict[str, Case]:
    """Each case built, saved, cleaned once with OCR (Tesseract runs are the slow part)."""
    require_tool("tesseract")
    out: dict[str, Case] = {}
    for name, (build, texts, alone) in CASES.items():
        original = build(texts)
        ds = pydicom.dcmread(io.BytesIO(_bytes(original)))
        result = clean_pixels(ds, None, ocr=True)
        out[name] = (original, ds, result, texts, alone)
    return out


def _bytes(ds: Dataset) -> bytes:
    buf = io.BytesIO()
    pydicom.dcmwrite(buf, ds, enforce_file_format=True)
    return buf.getvalue()


@pytest.mark.parametrize("name", list(CASES))
def test_drawn_text_blanked(cleaned: dict[str, Case], name: str) -> None:
    original, ds, result, texts, _ = cleaned[name]
    before, after = frames_of(original), frames_of(ds)
    mask, each = text_mask(int(ds.Rows), int(ds.Columns), texts)
    blank = 0 if after.ndim == 4 else before.min()
    for text, drawn in zip(texts, each, strict=True):
        assert (after[:, drawn] == blank).all(), f"{text.text!r} not blanked in every frame"
    assert result.engine.startswith("tesseract")
    assert result.frames == before.shape[0]
    assert all(r.source == "ocr" for r in result.regions)
    assert ds.BurnedInAnnotation == "NO"
    assert ds.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1"
    # blanking happens only inside the reported regions
    regions = inside([(r.x, r.y, r.width, r.height) for r in result.regions], mask.shape)
    diff = before != after
    changed = diff.any(axis=(0, 3)) if diff.ndim == 4 else diff.any(axis=0)
    assert not (changed & ~regions).any()


@pytest.mark.parametrize("name", [n for n, (_, _, alone) in CASES.items() if alone])
def test_far_pixels_unchanged(cleaned: dict[str, Case], name: str) -> None:
    """In images whose only text is the drawn one, nothing changes far from it."""
    original, ds, _, texts, _ = cleaned[name]
    before, after = frames_of(original), frames_of(ds)
    _, each = text_mask(int(ds.Rows), int(ds.Columns), texts)
    far = ~near(each, TOLERANCE)
    assert (after[:, far] == before[:, far]).all()
    assert far.sum() > 0.5 * far.size


def test_ocr_outputs_pass_dciodvfy(cleaned: dict[str, Case],
                                   tmp_path: Path) -> None:
    for name, (original, ds, _, _, _) in cleaned.items():
        before = dciodvfy_errors(save(original, tmp_path / f"{name}-in.dcm"))
        after = dciodvfy_errors(save(ds, tmp_path / f"{name}-out.dcm"))
        assert after <= before, (name, sorted(after - before))


def test_real_us_text_found(cleaned: dict[str, Case]) -> None:
    """The JPEG 2000 ultrasound sample carries real burned-in text (site, clip, probe): OCR
    blanks the site name of its top-left banner, with no rule and nothing drawn there."""
    _, ds, result, _, _ = cleaned["us-j2k"]
    covered = inside([(r.x, r.y, r.width, r.height) for r in result.regions], (480, 640))
    for x0, x1 in ((20, 88), (100, 128), (140, 168)):    # "BAPTIST" "MED" "CTR"
        assert covered[26:38, x0:x1].all()
    assert (frames_of(ds)[0, 26:38, 20:168][covered[26:38, 20:168]] == 0).all()


def test_cli_clean_pixel_data_blanks_drawn_text(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """Acceptance 5 through the command line: ``dicomsec deid --option clean-pixel-data``
    (OCR, no rule) blanks the drawn name and ID, claims 113101, leaves the rest unchanged."""
    import json

    from dicomsec.cli import main

    require_tool("tesseract")
    texts = [Text(4, 4, "DOE^JOHN", 13), Text(4, 108, "ID 4711", 13)]
    original = ct_native(texts)
    original.BurnedInAnnotation = "YES"
    (tmp_path / "in").mkdir()
    src = save(original, tmp_path / "in" / "ct.dcm")
    secret = tmp_path / "site.secret"
    secret.write_bytes(b"s" * 32)
    rc = main(["deid", str(src), "-o", str(tmp_path / "out"), "--uid-secret-file", str(secret),
               "--option", "clean-pixel-data", "--strict", "--workers", "1", "--json"])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    [report] = json.loads(captured.out)
    assert "113101" in report["claimed"] and not report["flags"]
    out = pydicom.dcmread(tmp_path / "out" / "ct.dcm")
    assert out.BurnedInAnnotation == "NO"
    before, after = frames_of(original), frames_of(out)
    _, each = text_mask(128, 128, texts)
    for drawn in each:
        assert (after[:, drawn] == before.min()).all()
    far = ~near(each, TOLERANCE)
    assert (after[:, far] == before[:, far]).all()
