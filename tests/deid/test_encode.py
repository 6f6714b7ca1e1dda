"""The fast encoder writes exactly the bytes pydicom writes, and the engine's undecided
elements (removed or kept as read) change nothing but speed."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from pydicom import dcmread, dcmwrite
from pydicom.dataelem import RawDataElement
from pydicom.tag import BaseTag

from dicomsec.deid._encode import _fast, encode_file, write_elements
from dicomsec.deid._engine import Settings, deidentify_dataset
from dicomsec.deid._file import DeidConfig, _as_read, _read, deidentify
from dicomsec.deid._rules import Option
from dicomsec.errors import InvalidInput
from tests.deid.samples import PYDICOM_FILES, REAL, SECRET, rich

SAMPLES = sorted({*REAL.values(), "CT_small.dcm", "MR_small.dcm", "ExplVR_BigEnd.dcm",
                  "MR_small_implicit.dcm", "SC_rgb_rle.dcm", "JPEG2000.dcm"})


def _deidentified(path: Path):  # type: ignore[no-untyped-def]
    ds = _read(path)
    return deidentify_dataset(ds, Settings(secret=SECRET), as_read=_as_read(ds)).dataset


@pytest.mark.parametrize("name", SAMPLES)
def test_same_bytes_as_pydicom(name: str, tmp_path: Path) -> None:
    src = PYDICOM_FILES / name
    if (src.read_bytes()[128:132]) != b"DICM":  # rtstruct.dcm: no preamble
        ds = dcmread(src, force=True)
        src = tmp_path / name
        ds.save_as(src, enforce_file_format=True)
    out = _deidentified(src)
    expected = io.BytesIO()
    dcmwrite(expected, out, enforce_file_format=True)
    assert encode_file(out) == expected.getvalue()


def test_same_bytes_for_a_rich_sample(tmp_path: Path) -> None:
    src = tmp_path / "rich.dcm"
    rich("CT").save_as(src, enforce_file_format=True)
    out = _deidentified(src)
    assert _fast(out), "an Explicit VR Little Endian input takes the fast path"
    expected = io.BytesIO()
    dcmwrite(expected, out, enforce_file_format=True)
    assert encode_file(out) == expected.getvalue()


def test_raw_elements_are_copied_with_their_header() -> None:
    ds = dcmread(PYDICOM_FILES / "CT_small.dcm")
    raw = [t for t in ds.keys() if isinstance(ds.get_item(t), RawDataElement)]
    assert raw, "the sample is read undecoded"
    got = io.BytesIO()
    write_elements(got, ds, "iso8859")
    expected = io.BytesIO()
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_dataset
    fp = DicomBytesIO()
    fp.is_little_endian, fp.is_implicit_VR = True, False
    write_dataset(fp, ds)
    expected.write(fp.getvalue())
    assert got.getvalue() == expected.getvalue()


def _with_bad_value(tmp_path: Path, tag: int, vr: str, value: bytes) -> Path:
    """CT_small with the element ``tag`` holding ``value`` under ``vr`` (damaged: a length
    the VR does not allow), written as read."""
    ds = dcmread(PYDICOM_FILES / "CT_small.dcm")
    ds[tag] = RawDataElement(BaseTag(tag), vr, len(value), value, 0, False, True)
    out = tmp_path / "bad.dcm"
    ds.save_as(out)
    return out


DAMAGED = b"\x01\x02\x03"  # three bytes: no US value has that length


def test_a_damaged_value_the_action_reads_refuses_the_file(tmp_path: Path) -> None:
    # Patient's Name (Z) stored as US: the engine must read it to empty it
    src = _with_bad_value(tmp_path, 0x00100010, "US", DAMAGED)
    with pytest.raises(InvalidInput, match="not a readable DICOM file"):
        deidentify(src, tmp_path / "out.dcm", DeidConfig(secret=SECRET))
    assert not (tmp_path / "out.dcm").exists()


def test_a_damaged_value_removed_unread_goes_to_the_originals_as_read(tmp_path: Path) -> None:
    # Patient's Weight (X in the Basic profile): removed whatever its value (decision)
    src = _with_bad_value(tmp_path, 0x00101030, "US", DAMAGED)
    result = deidentify_dataset(_read(src), Settings(secret=SECRET), as_read=_as_read(_read(src)))
    assert 0x00101030 not in result.dataset
    assert result.originals.get_item(0x00101030).value == DAMAGED
    assert "(0010,1030) PatientWeight" in result.removed


def test_a_damaged_value_kept_unread_is_written_as_read(tmp_path: Path) -> None:
    # Retain Patient Characteristics keeps Patient's Weight (K): written as the input had it
    src = _with_bad_value(tmp_path, 0x00101030, "US", DAMAGED)
    out = tmp_path / "out.dcm"
    deidentify(src, out, DeidConfig(secret=SECRET, options=frozenset(
        {Option.RETAIN_PATIENT_CHARACTERISTICS})))
    assert dcmread(out).get_item(0x00101030).value == DAMAGED


def test_an_unknown_vr_is_never_kept_unread(tmp_path: Path) -> None:
    # (0008,0041) Data Set Subtype is not in the table; with a VR outside PS3.5 it must not
    # be copied as read (pydicom refuses to decode it: the file is refused, as before)
    src = _with_bad_value(tmp_path, 0x00080041, "ZZ", b"SMITH^JOHN MRN 4455667 ")
    with pytest.raises(InvalidInput, match="not a readable DICOM file"):
        deidentify(src, tmp_path / "out.dcm", DeidConfig(secret=SECRET))
    assert not (tmp_path / "out.dcm").exists()


def test_a_damaged_value_pixel_cleaning_reads_refuses_the_file(tmp_path: Path) -> None:
    # Rows as three bytes: read first by the pixel cleaning (exit 2, never an internal error)
    src = _with_bad_value(tmp_path, 0x00280010, "US", DAMAGED)
    with pytest.raises(InvalidInput, match="not a readable DICOM file"):
        deidentify(src, tmp_path / "out.dcm", DeidConfig(
            secret=SECRET, options=frozenset({Option.CLEAN_PIXEL_DATA})))
    assert not (tmp_path / "out.dcm").exists()


def test_elements_read_by_the_risk_check_keep_their_bytes(tmp_path: Path) -> None:
    # the burned-in risk check reads Image Type before the engine: its bytes stay as read
    name = "SC_rgb_gdcm_KY.dcm"
    before = dcmread(PYDICOM_FILES / name).get_item(0x00080008).value
    deidentify(PYDICOM_FILES / name, tmp_path / name, DeidConfig(secret=SECRET))
    assert dcmread(tmp_path / name).get_item(0x00080008).value == before
