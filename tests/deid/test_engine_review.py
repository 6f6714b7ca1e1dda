"""Regressions for the engine review (reviewer A): URLs, hostile structure, malformed private
declarations, name matching in Clean Descriptors, safe private blocks, safe text, address parts,
DT grammar, UIDs in text, and the marks the engine adds listed empty in the originals."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from dicomsec import limits
from dicomsec.deid._clean import clean_text, identifying_values, safe_private_blocks
from dicomsec.deid._engine import MAX_DEPTH, EngineResult, Settings, deidentify_dataset
from dicomsec.deid._replace import dummy_for, shift_datetime
from dicomsec.deid._rules import Option
from dicomsec.errors import InvalidInput
from tests.deid import samples
from tests.deid.samples import SECRET

CLEAN = frozenset({Option.CLEAN_DESCRIPTORS})
MARK_TAGS = (0x00120062, 0x00120063, 0x00120064, 0x00280303)


def _run(ds: Dataset, options: frozenset[Option] = frozenset()) -> tuple[EngineResult, bytes]:
    result = deidentify_dataset(ds, Settings(options, SECRET))
    buffer = io.BytesIO()
    result.dataset.save_as(buffer, enforce_file_format=True)
    return result, buffer.getvalue()


def _ct() -> Dataset:
    return samples.load("CT")


# -- 1: UR outside the table ----------------------------------------------------------------

@pytest.mark.parametrize("tag,kept", [
    (0x00081190, False),  # Retrieve URL
    (0x0040E010, False),  # Retrieve URI
    (0x0074100A, False),  # Contact URI
    (0x0008010E, True),   # Coding Scheme URL
    (0x00080120, True),   # URN Code Value
])
def test_urls_outside_the_table(tag: int, kept: bool) -> None:
    ds = _ct()
    url = f"https://pacs.example/wado?patient=PIDLEAK77&study={ds.StudyInstanceUID}"
    ds.add_new(tag, "UR", url)
    result, raw = _run(ds)
    assert (tag in result.dataset and result.dataset[tag].value == url) is kept
    assert (b"PIDLEAK77" in raw) is kept
    assert kept or tag in result.originals


# -- 2: hostile structure -------------------------------------------------------------------

def _nested(depth: int) -> Dataset:
    ds = _ct()
    inner = Dataset()
    inner.PatientName = "DEEP^LEAK"
    for _ in range(depth - 1):
        outer = Dataset()
        outer.add_new(0x00081250, "SQ", Sequence([inner]))
        inner = outer
    ds.add_new(0x00081250, "SQ", Sequence([inner]))
    return ds


@pytest.mark.parametrize("depth,raised", [(64, None), (65, 64), (400, 64), (MAX_DEPTH + 1, 0)])
def test_nesting_depth_is_a_limit(depth: int, raised: int | None) -> None:
    bounds = limits.current().replaced(depth=1000) if raised == 0 else limits.current()
    with limits.applied(bounds):
        if raised is None:
            _, raw = _run(_nested(depth))
            assert b"DEEP^LEAK" not in raw
            return
        with pytest.raises(limits.LimitExceeded) as caught:
            _run(_nested(depth))
    assert caught.value.name == "depth" and caught.value.limit == (raised or MAX_DEPTH)


def test_element_count_is_a_limit() -> None:
    ds = _ct()
    with limits.applied(limits.current().replaced(elements=len(ds) + 5)):
        ds.ReferencedImageSequence = Sequence([Dataset() for _ in range(3)])
        for item in ds.ReferencedImageSequence:
            item.ReferencedSOPInstanceUID = "1.2.3.4"
            item.ReferencedSOPClassUID = "1.2.3.5"
        with pytest.raises(limits.LimitExceeded) as caught:
            _run(ds)
    assert caught.value.name == "elements"


@pytest.mark.filterwarnings("ignore:Invalid value for VR UI")
@pytest.mark.parametrize("keyword", ["SOPClassUID", "SOPInstanceUID"])
@pytest.mark.parametrize("value", ["", " "])
def test_empty_sop_uids_are_invalid_input(keyword: str, value: str) -> None:
    ds = _ct()
    setattr(ds, keyword, value)
    with pytest.raises(InvalidInput):
        _run(ds)


def _declaration(group: int, creator: str, status: str) -> Dataset:
    item = Dataset()
    item.PrivateGroupReference = group
    item.PrivateCreatorReference = creator
    item.BlockIdentifyingInformationStatus = status
    return item


def test_malformed_private_declarations_are_skipped() -> None:
    ds = _ct()
    for group, creator in ((0x0015, "BAD"), (0x0017, "GOOD")):
        ds.add_new(group << 16 | 0x0010, "LO", creator)
        ds.add_new(group << 16 | 0x1001, "LO", f"{creator} value")
    bad = _declaration(0x0015, "BAD", "MIXED")
    bad.add_new(0x00080304, "LO", "zz")  # Nonidentifying Private Elements: not numbers
    ds.PrivateDataElementCharacteristicsSequence = Sequence(
        [bad, _declaration(0x0017, "GOOD", "SAFE")])
    assert list(safe_private_blocks(ds)) == [(0x0017, "GOOD")]
    result, raw = _run(ds, frozenset({Option.RETAIN_SAFE_PRIVATE}))
    assert b"BAD value" not in raw and 0x00150010 not in result.dataset
    assert result.dataset[0x00171001].value == "GOOD value"


# -- 3, 7, 9: Clean Descriptors --------------------------------------------------------------

@pytest.mark.parametrize("name,text,expected", [
    ("Yamada^Tarou=山田^太郎", "患者 山田 太郎", "患者"),
    ("Yamada^Tarou=山田^太郎", "山田太郎さん Tarou", "さん"),
    ("Li^Wu", "Mr Wu Li heart scan", "Mr heart scan"),
    ("Art^Ann", "Heart Annotated CT Party", "Heart Annotated CT Party"),
    ("Doe^Jo", "jo DOE's scan", "'s scan"),
])
def test_clean_descriptors_names(name: str, text: str, expected: str) -> None:
    ds = _ct()
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.PatientName = name
    ds.ImageComments = text
    result, _ = _run(ds, CLEAN)
    assert result.dataset.ImageComments == expected


def test_address_parts_and_uids_leave_cleaned_text() -> None:
    ds = _ct()
    ds.PatientAddress = "12 Quayside Lane, Exeter; Devon"
    ds.ImageComments = (f"lives at 12 Quayside Lane, near Exeter (devon), prior "
                        f"{ds.StudyInstanceUID}.")
    result, raw = _run(ds, CLEAN)
    assert result.dataset.ImageComments == "lives at , near ( ), prior ."
    assert str(ds.StudyInstanceUID).encode() not in raw
    assert {"12 quayside lane", "exeter", "devon"} <= identifying_values(ds)


@pytest.mark.parametrize("text,expected", [
    ("prior 1.3.6.1.4.1.5962.1.2.1 done", "prior done"),
    ("ratio 1.5 and version 3.2.1", "ratio 1.5 and version 3.2.1"),
    ("uid 1.2.3 end", "uid end"),  # an identifier of the object (fewer than four parts)
])
def test_uid_like_tokens(text: str, expected: str) -> None:
    assert clean_text(text, {"1.2.3"}) == expected


# -- 4: Retain Safe Private ------------------------------------------------------------------

@pytest.mark.parametrize("options", [
    frozenset({Option.RETAIN_SAFE_PRIVATE}),
    frozenset({Option.RETAIN_SAFE_PRIVATE, Option.RETAIN_LONGITUDINAL_MODIFIED_DATES}),
])
def test_safe_private_blocks_map_uids_treat_dates_drop_names(
        options: frozenset[Option]) -> None:
    ds = _ct()
    ds.add_new(0x00150010, "LO", "V")
    ds.add_new(0x00151001, "PN", "SafeBlock^Name")
    ds.add_new(0x00151002, "UI", ds.SeriesInstanceUID)
    ds.add_new(0x00151003, "DA", "19610405")
    ds.add_new(0x00151004, "DS", "3.5")
    declared = _declaration(0x0015, "V", "SAFE")
    declared.PatientName = "HIDDEN^INPC"
    ds.PrivateDataElementCharacteristicsSequence = Sequence([declared])
    result, raw = _run(ds, options)
    out = result.dataset
    for needle in (b"SafeBlock", str(ds.SeriesInstanceUID).encode(), b"19610405", b"HIDDEN"):
        assert needle not in raw
    assert out[0x00151004].value == "3.5" and 0x00151001 not in out
    assert out[0x00151002].value == result.uid_map[ds.SeriesInstanceUID]
    if result.date_offset_days is None:
        assert 0x00151003 not in out
    else:
        assert out[0x00151003].value not in ("19610405", dummy_for("DA"))
    assert out.PrivateDataElementCharacteristicsSequence[0].PrivateCreatorReference == "V"


# -- 6: safe text outside the table ----------------------------------------------------------

def test_safe_text_loses_identifiers_only() -> None:
    ds = _ct()
    ds.PatientName = "Quartermaine^Zeb"
    ds.WindowCenterWidthExplanation = "QUARTERMAINE window"
    code = Dataset()
    code.CodeValue = "363698007"
    code.CodingSchemeDesignator = "99LOCAL"
    code.CodeMeaning = "Quartermaine protocol"
    ds.ProcedureCodeSequence = Sequence([code])
    result, raw = _run(ds)
    assert b"QUARTERMAINE" not in raw.upper()
    assert result.dataset.WindowCenterWidthExplanation == "window"
    assert result.dataset.ProcedureCodeSequence[0].CodeValue == "363698007"  # no ID-like rule
    assert result.dataset.Manufacturer == ds.Manufacturer


# -- 8: DT grammar ---------------------------------------------------------------------------

@pytest.mark.parametrize("value,expected", [
    ("202001-2021", "201811-2019"),                      # a range, not YYYY HH -ZZXX
    ("2020-0500", "2018-0500"),                          # a year with a UTC offset
    ("20200101120000.5+0100", "20181127120000.5+0100"),
    ("2020011512", "2018121112"),                        # hour after a full date
    ("202001011230-20210101", "201811271230-20191128"),
    ("20200101+1500", "19000101000000"),                 # offset beyond 14 h: dummy
    ("202001121", "19000101000000"),                     # not a DT
    ("-2021", "-2019"),
])
def test_datetime_grammar(value: str, expected: str) -> None:
    assert shift_datetime(value, -400) == expected


# -- ALSO: the marks the engine adds are listed empty; changed ones with their value ---------

def test_marks_in_the_originals() -> None:
    ds = _ct()
    result, _ = _run(ds)
    for tag in MARK_TAGS:
        assert tag in result.originals and result.originals[tag].is_empty
    ds.PatientIdentityRemoved = "NO"
    ds.LongitudinalTemporalInformationModified = "REMOVED"
    again, _ = _run(ds)
    assert again.originals.PatientIdentityRemoved == "NO"
    assert 0x00280303 not in again.originals  # present and unchanged
    assert again.originals[0x00120063].is_empty


@pytest.mark.parametrize("tag_keyword", ["StudyDescription", "Manufacturer"])
def test_text_in_another_character_set_is_never_written_as_read(tmp_path: Path,
                                                                tag_keyword: str) -> None:
    """Latin-1 bytes in an ISO_IR 192 file decode with replacement characters that no
    identifier matches; the value may look unchanged, but its original bytes (the patient's
    name) must not reach the output (reviewer C: elements kept as read)."""
    from pydicom.uid import ExplicitVRLittleEndian

    from dicomsec.deid._file import DeidConfig, deidentify
    from dicomsec.deid._rules import Option

    ds = samples.rich("CT")
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.PatientName = "Müller^Hans"
    setattr(ds, tag_keyword, "XXXXXX follow-up")
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    src = tmp_path / "in.dcm"
    ds.save_as(src, enforce_file_format=True)
    src.write_bytes(src.read_bytes().replace(b"XXXXXX", b"M\xfcller", 1))
    dst = tmp_path / "out.dcm"
    deidentify(src, dst, DeidConfig(options=frozenset({Option.CLEAN_DESCRIPTORS}),
                                    secret=b"k" * 32))
    assert b"M\xfcller" not in dst.read_bytes()
