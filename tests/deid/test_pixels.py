"""Pixel cleaning without OCR: region rules, blank values per photometric interpretation,
decoding and re-encoding, the pixel module afterwards (dciodvfy), the risk rules, and the
errors. The OCR tests (burned-in text drawn with PIL) are in test_pixels_ocr.py."""

from __future__ import annotations

import copy
import dataclasses
import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian

from dicomsec import limits
from dicomsec.deid import _pixels
from dicomsec.deid._pixels import (
    PixelRules,
    Region,
    RegionRule,
    burned_in_risk,
    clean_pixels,
    default_pixel_rules,
    load_pixel_rules,
    visual_features_risk,
)
from dicomsec.errors import InvalidInput
from tests.conftest import PYDICOM_FILES, require_tool

SC_CLASS = "1.2.840.10008.5.1.4.1.1.7"


def sample(name: str) -> Dataset:
    return pydicom.dcmread(PYDICOM_FILES / name)


def frames_of(ds: Dataset) -> np.ndarray:
    """Decoded pixels as (frames, rows, columns[, samples]), YBR converted to RGB."""
    array = ds.pixel_array
    if int(ds.get("NumberOfFrames", 1) or 1) == 1:
        array = array[np.newaxis]
    return np.asarray(array)


def rules_of(*regions: tuple[int, int, int, int], **selectors: object) -> PixelRules:
    fields = {k: (tuple(v) if isinstance(v, list) else (v,) if isinstance(v, str) else v)
              for k, v in selectors.items()}
    return PixelRules((RegionRule("test", tuple(regions), **fields),), "test")  # type: ignore[arg-type]


def inside(regions: list[tuple[int, int, int, int]], shape: tuple[int, int]) -> np.ndarray:
    mask = np.zeros(shape, dtype=bool)
    for x, y, w, h in regions:
        mask[y:y + h, x:x + w] = True
    return mask


def any_frame_changed(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    diff = before != after
    if diff.ndim == 4:       # frames, rows, columns, samples
        diff = diff.any(axis=3)
    return np.asarray(diff.any(axis=0))


# --- region rules: blanking in every frame ------------------------------------------------

def test_rule_blanks_rgb_rle_every_frame_and_writes_explicit_le() -> None:
    ds = sample("SC_rgb_rle_2frame.dcm")
    before = frames_of(ds)
    rules = rules_of((10, 10, 30, 20), (90, 90, 50, 50), sop_class=SC_CLASS, rows=100)
    result = clean_pixels(ds, rules, ocr=False)
    after = frames_of(ds)
    assert result.frames == 2 and result.engine == "rules"
    assert result.transfer_syntax == ExplicitVRLittleEndian
    assert ds.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    assert result.regions == (Region(10, 10, 30, 20, "rule:test"),
                              Region(90, 90, 10, 10, "rule:test"))   # clipped to the image
    blanked = inside([(10, 10, 30, 20), (90, 90, 10, 10)], (100, 100))
    assert (after[:, blanked] == 0).all()                  # black, in both frames
    assert (after[:, ~blanked] == before[:, ~blanked]).all()
    assert ds.BurnedInAnnotation == "NO"
    assert ds.PhotometricInterpretation == "RGB" and ds.PlanarConfiguration == 0
    assert ds["PixelData"].VR == "OB" and not ds["PixelData"].is_undefined_length


@pytest.mark.parametrize(("name", "photometric", "expected"), [
    ("CT_small.dcm", None, "min"),
    ("MR_small_RLE.dcm", None, "min"),
    ("MR_small.dcm", "MONOCHROME1", "max"),
    ("MR_small_bigendian.dcm", None, "min"),
    ("MR_small_jp2klossless.dcm", None, "min"),
    ("J2K_pixelrep_mismatch.dcm", None, "min"),     # signed, 13 of 16 bits stored
    ("693_J2KI.dcm", None, "min"),                  # signed, 14 of 16 bits, lossy J2K
])
def test_blank_value_grey(name: str, photometric: str | None, expected: str) -> None:
    ds = sample(name)
    if photometric:
        ds.PhotometricInterpretation = photometric
    before = frames_of(ds)
    clean_pixels(ds, rules_of((0, 0, 20, 8)), ocr=False)
    after = frames_of(ds)
    value = before.min() if expected == "min" else before.max()
    assert (after[:, 0:8, 0:20] == value).all()
    outside = ~inside([(0, 0, 20, 8)], before.shape[1:3])
    assert (after[:, outside] == before[:, outside]).all()
    assert ds.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    assert ds["PixelData"].VR == "OW"


def test_ybr_uncompressed_becomes_rgb() -> None:
    ds = sample("SC_ybr_full_422_uncompressed.dcm")
    before = frames_of(ds)                     # pydicom converts YBR to RGB when decoding
    clean_pixels(ds, rules_of((0, 0, 10, 10)), ocr=False)
    assert ds.PhotometricInterpretation == "RGB"
    after = frames_of(ds)
    assert (after[:, :10, :10] == 0).all()
    assert np.abs(after[:, 10:, 10:].astype(int) - before[:, 10:, 10:]).max() == 0


def test_palette_blanks_with_darkest_entry() -> None:
    from pydicom.pixels.processing import apply_color_lut

    ds = sample("examples_palette.dcm")
    clean_pixels(ds, rules_of((0, 0, 50, 20), modality="us"), ocr=False)
    after = frames_of(ds)[0]
    assert ds.PhotometricInterpretation == "PALETTE COLOR"
    rgb = apply_color_lut(after[:20, :50], ds)
    darkest = apply_color_lut(np.unique(after), ds).reshape(-1, 3).sum(axis=1).min()
    assert (rgb.reshape(-1, 3).sum(axis=1) == darkest).all()


def test_lossy_jpeg_marked_lossy_after_decoding() -> None:
    ds = sample("SC_rgb_jpeg_dcmtk.dcm")
    clean_pixels(ds, rules_of((0, 0, 5, 5)), ocr=False)
    assert ds.LossyImageCompression == "01"
    assert ds.LossyImageCompressionMethod == "ISO_10918_1"
    assert ds.PhotometricInterpretation == "RGB"
    assert ds.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian


def test_no_matching_rule_leaves_pixel_data_alone() -> None:
    ds = sample("MR_small_RLE.dcm")
    raw = ds.PixelData
    result = clean_pixels(ds, rules_of((0, 0, 5, 5), manufacturer="nobody", rows=64), ocr=False)
    assert result.regions == () and result.frames == 1
    assert ds.PixelData == raw and result.transfer_syntax == ds.file_meta.TransferSyntaxUID
    assert ds.BurnedInAnnotation == "NO"


@pytest.mark.parametrize(("selectors", "hit"), [
    ({"manufacturer": "toshiba"}, True),        # case-insensitive substring
    ({"manufacturer": ["GE", "TOSHIBA"]}, True),
    ({"manufacturer": "siemens"}, False),
    ({"model": "nope"}, False),
    ({"modality": "mr"}, True),
    ({"modality": ["CT", "US"]}, False),
    ({"sop_class": "1.2.840.10008.5.1.4.1.1.4"}, True),
    ({"sop_class": SC_CLASS}, False),
    ({"rows": 64, "columns": 64}, True),
    ({"rows": 64, "columns": 65}, False),
    ({}, True),
])
def test_rule_selectors(selectors: dict[str, object], hit: bool) -> None:
    ds = sample("MR_small.dcm")
    assert ds.Manufacturer == "TOSHIBA_MEC"
    rule = rules_of((0, 0, 1, 1), **selectors).rules[0]
    assert rule.matches(ds) is hit


# --- region-rules files ---------------------------------------------------------------------

GOOD = """
version = 1
[[rule]]
name = "a"
manufacturer = ["Acme", "ACME Medical"]
modality = "US"
rows = 480
columns = 640
regions = [[0, 0, 640, 40]]
[[rule]]
name = "b"
sop_class = "1.2.840.10008.5.1.4.1.1.7"
regions = [[1, 2, 3, 4], [5, 6, 7, 8]]
"""


def test_load_rules(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(GOOD)
    rules = load_pixel_rules(path)
    assert [r.name for r in rules.rules] == ["a", "b"]
    assert rules.rules[0].manufacturer == ("Acme", "ACME Medical")
    assert rules.rules[0].modality == ("US",) and rules.rules[0].rows == 480
    assert rules.rules[1].regions == ((1, 2, 3, 4), (5, 6, 7, 8))
    assert rules.source == str(path)


def test_default_rules_are_empty_examples() -> None:
    assert default_pixel_rules().rules == ()


@pytest.mark.parametrize(("text", "needle"), [
    ("[[rule]\n", "not valid TOML"),
    ("colour = 1\n", "unknown key 'colour'"),
    ("version = 2\n", "version 2"),
    ("rule = 3\n", "array of tables"),
    ('[[rule]]\nregions = [[0, 0, 1, 1]]\n', "'name'"),
    ('[[rule]]\nname = "x"\n', "'regions'"),
    ('[[rule]]\nname = "x"\nregions = []\n', "'regions'"),
    ('[[rule]]\nname = "x"\nmanufactuer = "GE"\nregions = [[0, 0, 1, 1]]\n',
     "unknown key 'manufactuer'"),
    ('[[rule]]\nname = "x"\nregions = [[0, 0, 1]]\n', "[x, y, width, height]"),
    ('[[rule]]\nname = "x"\nregions = [[0, 0, 0, 5]]\n', "width, height >= 1"),
    ('[[rule]]\nname = "x"\nregions = [[-1, 0, 4, 5]]\n', "x, y >= 0"),
    ('[[rule]]\nname = "x"\nregions = [[0.5, 0, 4, 5]]\n', "whole numbers"),
    ('[[rule]]\nname = "x"\nrows = 0\nregions = [[0, 0, 4, 5]]\n', "'rows'"),
    ('[[rule]]\nname = "x"\nmodality = []\nregions = [[0, 0, 4, 5]]\n', "'modality'"),
    ('[[rule]]\nname = "x"\nregions = [[0, 0, 4, 5]]\n[[rule]]\nname = "x"\n'
     'regions = [[0, 0, 4, 5]]\n', "used twice"),
])
def test_bad_rules_file(tmp_path: Path, text: str, needle: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(InvalidInput) as info:
        load_pixel_rules(path)
    assert needle in str(info.value) and "\n" not in str(info.value)


def test_missing_rules_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="cannot be read"):
        load_pixel_rules(tmp_path / "absent.toml")


# --- errors -----------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["JPEG-lossy.dcm", "SC_rgb_jpeg_gdcm.dcm"])
def test_undecodable_pixel_data(name: str) -> None:
    ds = sample(name)
    with pytest.raises(InvalidInput) as info:
        clean_pixels(ds, rules_of((0, 0, 4, 4)), ocr=False)
    assert str(info.value).startswith("pixel data cannot be decoded (JPEG")
    assert "\n" not in str(info.value)
    assert "BurnedInAnnotation" not in ds


def test_nothing_to_find_with() -> None:
    with pytest.raises(InvalidInput, match="needs region rules"):
        clean_pixels(sample("CT_small.dcm"), None, ocr=False)
    with pytest.raises(InvalidInput, match="needs region rules"):
        clean_pixels(sample("CT_small.dcm"), PixelRules(), ocr=False)


def test_ocr_engine_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))       # no tesseract on PATH
    ds = sample("CT_small.dcm")
    raw = ds.PixelData
    with pytest.raises(InvalidInput) as info:
        clean_pixels(ds, None, ocr=True)
    assert "pip install dicomsec[ocr]" in str(info.value)
    assert "tesseract-ocr" in str(info.value)
    assert ds.PixelData == raw


def test_no_pixel_data_is_left_alone() -> None:
    ds = sample("rtplan.dcm")
    result = clean_pixels(ds, rules_of((0, 0, 1, 1)), ocr=False)
    assert result.frames == 0 and result.regions == ()
    assert "BurnedInAnnotation" not in ds


def test_float_pixel_data_refused() -> None:
    ds = Dataset()
    ds.FloatPixelData = b"\x00" * 16
    with pytest.raises(InvalidInput, match="Float"):
        clean_pixels(ds, rules_of((0, 0, 1, 1)), ocr=False)


def test_pixel_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    ds = sample("CT_small.dcm")                     # 128 x 128 x 2 bytes
    if "pixel_bytes" in {f.name for f in dataclasses.fields(limits.Limits)}:
        with limits.applied(limits.current().replaced(pixel_bytes=1000)), \
                pytest.raises(limits.LimitExceeded, match="pixel_bytes"):
            clean_pixels(ds, rules_of((0, 0, 1, 1)), ocr=False)
    else:
        monkeypatch.setattr(_pixels, "PIXEL_BYTES", 1000)
        with pytest.raises(limits.LimitExceeded, match="pixel_bytes"):
            clean_pixels(ds, rules_of((0, 0, 1, 1)), ocr=False)


# --- risks ------------------------------------------------------------------------------------

def _with(name: str, **values: object) -> Dataset:
    ds = sample(name)
    for keyword, value in values.items():
        if value is None:
            if keyword in ds:
                delattr(ds, keyword)
        else:
            setattr(ds, keyword, value)
    return ds


@pytest.mark.parametrize(("ds_of", "needle"), [
    (lambda: _with("CT_small.dcm", BurnedInAnnotation="YES"), "is YES"),
    (lambda: _with("CT_small.dcm", BurnedInAnnotation="NO"), None),
    (lambda: _with("CT_small.dcm", BurnedInAnnotation=None), None),
    (lambda: _with("examples_jpeg2k.dcm", BurnedInAnnotation=None), "modality US"),
    (lambda: _with("examples_jpeg2k.dcm", BurnedInAnnotation="NO"), None),
    (lambda: _with("SC_rgb_rle.dcm", BurnedInAnnotation=None, Modality="CT"),
     "SOP class 1.2.840.10008.5.1.4.1.1.7"),
    (lambda: _with("SC_rgb_rle.dcm", BurnedInAnnotation=None), "modality OT"),
    (lambda: _with("CT_small.dcm", Modality="CR", ImageType=["DERIVED", "SECONDARY"]),
     "SECONDARY"),
    (lambda: _with("CT_small.dcm", ConversionType="WSD"), "Conversion Type"),
    (lambda: _with("CT_small.dcm", PhotometricInterpretation="RGB"), "colour CT"),
    (lambda: _with("rtplan.dcm", BurnedInAnnotation="YES"), None),   # no pixels
])
def test_burned_in_risk(ds_of: Callable[[], Dataset], needle: str | None) -> None:
    risk = burned_in_risk(ds_of())
    if needle is None:
        assert risk is None
    else:
        assert risk is not None and needle in risk


@pytest.mark.parametrize(("ds_of", "needle"), [
    (lambda: _with("CT_small.dcm"), "may show a face"),
    (lambda: _with("CT_small.dcm", RecognizableVisualFeatures="NO"), None),
    (lambda: _with("CT_small.dcm", RecognizableVisualFeatures="YES"), "may show a face"),
    (lambda: _with("CT_small.dcm", BodyPartExamined="KNEE"), None),
    (lambda: _with("CT_small.dcm", BodyPartExamined="HEAD"), "Body Part Examined HEAD"),
    (lambda: _with("MR_small.dcm", Modality="MG"), None),
    (lambda: _with("rtplan.dcm"), None),
])
def test_visual_features_risk(ds_of: Callable[[], Dataset], needle: str | None) -> None:
    why = visual_features_risk(ds_of())
    if needle is None:
        assert why is None
    else:
        assert why is not None and needle in why


# --- the pixel module afterwards: dciodvfy finds no new error ------------------------------

def dciodvfy_errors(path: Path) -> set[str]:
    tool = require_tool("dciodvfy")
    done = subprocess.run([tool, str(path)], capture_output=True, text=True, timeout=120)
    lines = (done.stdout + done.stderr).splitlines()
    return {re.sub(r"\s+", " ", line.strip()) for line in lines if line.startswith("Error")}


def save(ds: Dataset, path: Path) -> Path:
    pydicom.dcmwrite(path, ds, enforce_file_format=True)
    return path


@pytest.mark.parametrize("name", [
    "SC_rgb_rle_2frame.dcm", "SC_rgb_jpeg_dcmtk.dcm", "examples_jpeg2k.dcm",
    "MR_small_bigendian.dcm", "SC_ybr_full_422_uncompressed.dcm", "examples_palette.dcm",
    "examples_ybr_color.dcm", "J2K_pixelrep_mismatch.dcm", "MR_small_RLE.dcm",
])
def test_dciodvfy_no_new_errors(tmp_path: Path, name: str) -> None:
    before = dciodvfy_errors(PYDICOM_FILES / name)
    ds = sample(name)
    clean_pixels(ds, rules_of((0, 0, 16, 16)), ocr=False)
    after = dciodvfy_errors(save(ds, tmp_path / name))
    assert after <= before, sorted(after - before)


def test_input_dataset_copy_untouched() -> None:
    """clean_pixels works in place; a deep copy taken before keeps the original pixels."""
    ds = sample("CT_small.dcm")
    keep = copy.deepcopy(ds)
    clean_pixels(ds, rules_of((0, 0, 4, 4)), ocr=False)
    assert keep.PixelData != ds.PixelData and "BurnedInAnnotation" not in keep


def test_ocr_frames_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    """Distinct frames are counted before Tesseract runs; identical ones count once."""
    require_tool("tesseract")
    ds = sample("SC_rgb_rle_2frame.dcm")             # two different frames
    if "ocr_frames" in {f.name for f in dataclasses.fields(limits.Limits)}:
        context = limits.applied(limits.current().replaced(ocr_frames=1))
    else:
        monkeypatch.setattr(_pixels, "OCR_FRAMES", 1)
        context = limits.applied(limits.current())
    with context, pytest.raises(limits.LimitExceeded, match=r"2 distinct frames.*ocr_frames"):
        clean_pixels(ds, None, ocr=True)
