"""The engine against Table E.1-1 (acceptance 2): every exact row of the rules, for the Basic
profile and for every option column, checked on the output; plus the pattern rows, the
marks, the file meta, signatures, private blocks, originals, by-VR handling outside the table
and the cleaning method."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pydicom
import pytest
from pydicom.datadict import dictionary_VR
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import CTImageStorage

from dicomsec.deid import _uids
from dicomsec.deid._clean import clean_text, identifying_values
from dicomsec.deid._engine import (
    IMPLEMENTATION_CLASS_UID,
    EngineResult,
    Settings,
    deidentify_dataset,
)
from dicomsec.deid._replace import dummy_for, shift_date, shift_datetime
from dicomsec.deid._rules import Option, Rule, rules
from dicomsec.deid._types import attribute_type, decide
from dicomsec.errors import InvalidInput
from tests.deid import samples
from tests.deid.samples import SECRET

#: tags the engine removes whatever the table says (signatures, clear-text originals ...)
ALWAYS_REMOVED = {0xFFFAFFFA, 0x4FFE0001, 0x04000561, 0x04000550, 0x04000500, 0xFFFCFFFC}
NON_PIXEL = [o for o in Option
             if o not in (Option.CLEAN_PIXEL_DATA, Option.CLEAN_RECOGNIZABLE_VISUAL_FEATURES)]
OPTION_SETS: list[frozenset[Option]] = [frozenset()] + [frozenset({o}) for o in NON_PIXEL]


def _row_tag(rule: Rule) -> int | None:
    if "x" in rule.tag or rule.tag == "private":
        return None
    return int(rule.tag, 16)


def _vr(rule: Rule, tag: int) -> str | None:
    vr = rule.vr or ""
    if not vr:
        try:
            vr = dictionary_VR(tag)
        except KeyError:
            return None
    return vr.split(" or ")[0] if vr and vr not in ("NONE",) else None


def _sample_value(vr: str, index: int) -> Any:
    text = {"PN": f"Person{index}^Given", "DA": "20040119", "TM": "101010",
            "DT": "20040119101010", "UI": f"1.2.826.0.1.3680043.2.1143.9.{index}",
            "CS": "SAMPLE", "AS": "045Y", "DS": "12.5", "IS": "42", "AE": f"STATION{index}",
            "UR": "http://example.org/x", "SH": f"v{index} text", "LO": f"value {index} text",
            "ST": f"text {index} 2004-01-19", "LT": f"text {index}", "UT": f"text {index}",
            "UC": f"text {index}"}
    if vr in text:
        return text[vr]
    if vr in ("US", "SS", "UL", "SL", "UV", "SV"):
        return 7
    if vr in ("FL", "FD"):
        return 1.5
    if vr == "AT":
        return 0x00100010
    if vr == "SQ":
        item = Dataset()
        item.CodeValue = f"C{index}"
        item.CodingSchemeDesignator = "99TEST"
        item.CodeMeaning = "test"
        return Sequence([item])
    return b"\x01\x02"


def table_dataset() -> tuple[Dataset, dict[int, Rule]]:
    """A CT data set holding every exact row of the table at top level."""
    ds = Dataset()
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = "1.2.826.0.1.3680043.2.1143.9.0"
    covered: dict[int, Rule] = {}
    for index, rule in enumerate(rules(), start=1):
        tag = _row_tag(rule)
        if tag is None or tag >> 16 in (0x0000, 0x0002) or tag in (0x00080016, 0x00080018):
            continue
        vr = _vr(rule, tag)
        if vr is None:
            continue
        ds.add_new(tag, vr, _sample_value(vr, index))
        covered[tag] = rule
    return ds, covered


def expected_action(rule: Rule, options: frozenset[Option], tag: int) -> str:
    """The action the table gives, the combined codes decided by the IOD; an X or Z on an
    attribute the IOD requires (Type 1, 2) becomes D or Z (the engine's documented decision)."""
    if tag in ALWAYS_REMOVED:
        return "X"
    code = rule.action(options)
    type_ = attribute_type(str(CTImageStorage), tag, ())
    if "/" in code:
        code = decide(code, type_)
    if code == "Z":
        return decide("Z/D", type_)
    return decide("X/Z/D", type_) if code == "X" else code


def _check_clean(before: Any, after: Any, vr: str, result: EngineResult,
                 ids: frozenset[str]) -> None:
    if after is None:  # cleaned to nothing: removed, as its type allows
        return
    if vr == "DA":
        assert after.value == shift_date(before.value, result.date_offset_days or 0)
    elif vr == "DT":
        assert after.value == shift_datetime(before.value, result.date_offset_days or 0)
    elif vr == "AE":
        assert after.value == _uids.new_ae_title(before.value, SECRET)
    elif vr in ("LO", "SH", "ST", "LT", "UT", "UC"):
        assert after.value in (clean_text(before.value, ids), dummy_for(vr), "", None)
    elif vr == "SQ":
        assert len(after.value) == len(before.value)
    elif vr in ("TM", "CS", "DS", "IS", "US", "AS"):
        assert after.value == before.value
    else:  # binary: removed or emptied unless a curve/overlay pattern
        assert after.is_empty or after.value == dummy_for(vr)


def _check(tag: int, code: str, before: Any, after: Any, result: EngineResult,
           ids: frozenset[str]) -> None:
    vr = before.VR
    if code == "X":
        assert after is None
    elif code == "K":
        assert after is not None and after.value == before.value
    elif code == "Z":
        assert after is not None and (after.is_empty or tag == 0x00100020)
    elif code in ("D", "U", "U*"):
        assert after is not None and not after.is_empty
        if vr == "UI":
            assert after.value == _uids.new_uid(before.value, SECRET)
        elif vr == "SQ":
            assert len(after.value) == len(before.value)
        else:
            assert after.value != before.value
    else:
        assert code == "C"
        _check_clean(before, after, vr, result, ids)


@pytest.mark.parametrize("options", OPTION_SETS, ids=lambda s: ",".join(o.cli_name for o in s)
                         or "basic")
def test_every_row_of_the_table(options: frozenset[Option]) -> None:
    ds, covered = table_dataset()
    assert len(covered) > 600
    result = deidentify_dataset(ds, Settings(options, SECRET))
    ids = identifying_values(ds)
    out = result.dataset
    codes: set[str] = set()
    for tag, rule in covered.items():
        code = expected_action(rule, options, tag)
        codes.add(code)
        try:
            _check(tag, code, ds[tag], out.get(tag), result, ids)
        except AssertionError as exc:
            raise AssertionError(f"{rule.tag} {rule.keyword} {code}: {ds[tag]!r} -> "
                                 f"{out.get(tag)!r}") from exc
    assert {"X", "Z", "D", "U"} <= codes
    option = next(iter(options), None)
    if option is not None and option is not Option.RETAIN_SAFE_PRIVATE:  # a pattern row only
        assert codes & {"K", "C"}, option
        assert [t for t, r in covered.items() if option.cli_name in r.options]


def test_combined_codes_follow_the_iod_type() -> None:
    """X/Z/U* on Referenced Image Sequence: kept with UIDs mapped where the IOD makes it
    Type 1, emptied for Type 2, removed for Type 3; Patient ID (Z/D) becomes the pseudonym."""
    ds = samples.rich("CT")
    result = deidentify_dataset(ds, Settings(frozenset(), SECRET))
    out = result.dataset
    type_ = attribute_type(str(ds.SOPClassUID), 0x00081140, ())
    decided = decide("X/Z/U*", type_)
    if decided == "X":
        assert "ReferencedImageSequence" not in out
    elif decided == "Z":
        assert len(out.ReferencedImageSequence) == 0
    else:
        ref = out.ReferencedImageSequence[0]
        assert ref.ReferencedSOPInstanceUID == _uids.new_uid(
            ds.ReferencedImageSequence[0].ReferencedSOPInstanceUID, SECRET)
    assert out.PatientID == _uids.new_patient_id(samples.PATIENT_ID, "EXETER-RI", SECRET)
    assert result.patient_id_map[samples.PATIENT_ID] == out.PatientID


def test_nested_rules_apply_inside_kept_sequences() -> None:
    """Under Retain UIDs the reference sequences are K, and the rules still run inside them
    (dates and names in an item go, the UIDs stay); without it the UIDs inside are mapped."""
    ds = samples.rich("CT")
    ds.SourceImageSequence[0].PatientName = samples.PATIENT_NAME
    kept = deidentify_dataset(ds, Settings(frozenset({Option.RETAIN_UIDS}), SECRET)).dataset
    item = kept.SourceImageSequence[0]
    assert item.ReferencedSOPInstanceUID == ds.SourceImageSequence[0].ReferencedSOPInstanceUID
    assert not item.get("PatientName")
    assert kept.SOPInstanceUID == ds.SOPInstanceUID
    assert kept.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
    mapped = deidentify_dataset(ds, Settings(frozenset(), SECRET)).dataset
    if "SourceImageSequence" in mapped and len(mapped.SourceImageSequence):
        assert mapped.SourceImageSequence[0].ReferencedSOPInstanceUID != \
            ds.SourceImageSequence[0].ReferencedSOPInstanceUID


@pytest.mark.parametrize("options", [frozenset(), frozenset({Option.CLEAN_GRAPHICS})],
                         ids=["basic", "clean-graphics"])
def test_overlays_and_curves(options: frozenset[Option]) -> None:
    ds = samples.rich("CT")
    out = deidentify_dataset(ds, Settings(options, SECRET)).dataset
    overlay = [t for t in out.keys() if 0x6000 <= t.group <= 0x601E]
    curves = [t for t in out.keys() if 0x5000 <= t.group <= 0x501E]
    if not options:
        assert overlay == [] and curves == []
        return
    assert out[0x60003000].value == ds[0x60003000].value  # overlay data kept
    assert out[0x60000010].value == 4
    for tag in (0x60004000, 0x60000022, 0x50000022):  # text cleaned
        text = str(out[tag].value) if tag in out else ""
        assert "Doe" not in text and "Johnathan" not in text and samples.PATIENT_ID not in text
        assert "2004-01-19" not in text
    assert out[0x50003000].value == ds[0x50003000].value


def test_private_blocks_removed_by_default() -> None:
    ds = samples.rich("CT")
    result = deidentify_dataset(ds, Settings(frozenset(), SECRET))
    assert not [t for t in result.dataset.keys() if t.is_private]
    assert "PrivateDataElementCharacteristicsSequence" not in result.dataset
    assert 0x00091101 in result.originals and 0x00090011 in result.originals  # with creator


def test_retain_safe_private_keeps_declared_blocks_only() -> None:
    ds = samples.rich("CT")
    out = deidentify_dataset(ds, Settings(frozenset({Option.RETAIN_SAFE_PRIVATE}),
                                          SECRET)).dataset
    safe = out.private_block(0x0009, samples.SAFE_CREATOR)
    assert safe[0x01].value == "3.5" and safe[0x02].value == "kernel B30f"
    mixed = out.private_block(0x0009, samples.MIXED_CREATOR)
    assert mixed[0x01].value == 12
    assert 0x02 not in mixed  # identifying, no action: removed
    assert mixed[0x03].value == dummy_for("LO")  # declared action D
    creators = [str(e.value) for e in out if e.tag.is_private and e.tag.element < 0x100]
    assert sorted(creators) == sorted([samples.SAFE_CREATOR, samples.MIXED_CREATOR])
    assert not [t for t in out.keys() if t.is_private and t.group != 0x0009]
    assert "PrivateDataElementCharacteristicsSequence" in out


def test_signatures_removed_at_every_level() -> None:
    ds = samples.rich("CT")
    result = deidentify_dataset(ds, Settings(frozenset({Option.RETAIN_UIDS}), SECRET))
    assert sorted(result.signatures_removed) == sorted(
        ["1.2.826.0.1.3680043.2.1143.555.9", "1.2.826.0.1.3680043.2.1143.555.10"])
    out = result.dataset
    assert "DigitalSignaturesSequence" not in out
    assert "DigitalSignaturesSequence" not in out.ReferencedImageSequence[0]
    for tag in (0x04000561, 0xFFFCFFFC):
        assert tag not in out
    assert 0x04000561 in result.originals and 0xFFFCFFFC not in result.originals


@pytest.mark.parametrize("options,longitudinal", [
    (frozenset(), "REMOVED"),
    (frozenset({Option.RETAIN_LONGITUDINAL_FULL_DATES}), "UNMODIFIED"),
    (frozenset({Option.RETAIN_LONGITUDINAL_MODIFIED_DATES, Option.CLEAN_PIXEL_DATA,
                Option.RETAIN_UIDS}), "MODIFIED"),
])
def test_marks_and_file_meta(options: frozenset[Option], longitudinal: str) -> None:
    ds = samples.load("CT")
    result = deidentify_dataset(ds, Settings(options, SECRET))
    out = result.dataset
    assert out.PatientIdentityRemoved == "YES"
    assert out.DeidentificationMethod.startswith("dicomsec Basic Profile ")
    assert len(out.DeidentificationMethod) <= 64
    codes = [(i.CodeValue, i.CodingSchemeDesignator, i.CodeMeaning)
             for i in out.DeidentificationMethodCodeSequence]
    claimed = [o for o in options if o is not Option.CLEAN_PIXEL_DATA]
    basic = ("113100", "DCM", "Basic Application Confidentiality Profile")
    assert codes == [basic, *sorted((o.code, "DCM", o.meaning) for o in claimed)]
    assert out.LongitudinalTemporalInformationModified == longitudinal
    meta = out.file_meta
    assert meta.MediaStorageSOPInstanceUID == out.SOPInstanceUID
    assert meta.MediaStorageSOPClassUID == ds.SOPClassUID
    assert meta.TransferSyntaxUID == ds.file_meta.TransferSyntaxUID
    assert meta.ImplementationClassUID == IMPLEMENTATION_CLASS_UID
    assert "SourceApplicationEntityTitle" not in meta
    assert out.preamble == b"\0" * 128
    if longitudinal == "MODIFIED":
        offset = result.date_offset_days
        assert offset == _uids.date_offset_days(ds.PatientID, SECRET) and offset < 0
        assert out.StudyDate == shift_date(ds.StudyDate, offset)
        assert out.StudyTime == ds.StudyTime  # time of day kept
    elif longitudinal == "UNMODIFIED":
        assert out.StudyDate == ds.StudyDate and result.date_offset_days is None


def test_originals_hold_top_level_values() -> None:
    ds = samples.rich("CT")
    result = deidentify_dataset(ds, Settings(frozenset(), SECRET))
    originals = result.originals
    assert originals.PatientName == samples.PATIENT_NAME
    assert originals.PatientID == samples.PATIENT_ID
    assert originals.SOPInstanceUID == ds.SOPInstanceUID
    # a change deep inside puts the whole original top-level sequence in
    assert originals.ReferencedImageSequence[0].ReferencedSOPInstanceUID == \
        ds.ReferencedImageSequence[0].ReferencedSOPInstanceUID
    assert "PixelData" not in originals
    assert "Manufacturer" not in originals  # unchanged
    top = {r.split(" ")[0].split("[")[0] for r in result.removed + result.replaced}
    added = {t for t in MARK_TAGS if t not in ds}
    assert added  # the rich sample has no marks: the engine adds them
    for tag in originals.keys():
        label = f"({tag.group:04X},{tag.element:04X})"
        if tag in added:  # absent in the input: listed with zero length (C.12.1.1.4.1)
            assert originals[tag].is_empty
            continue
        assert label in top or tag.element < 0x100 or tag == 0x00080005
    assert added <= set(originals.keys())


MARK_TAGS = (0x00120062, 0x00120063, 0x00120064, 0x00280303)


def test_outside_the_table_by_vr() -> None:
    ds = samples.rich("CT")
    for tag in samples.OUTSIDE.values():
        assert rules() and all(r.tag != f"{tag:08X}" for r in rules())
    out = deidentify_dataset(ds, Settings(frozenset(), SECRET)).dataset
    for kind in ("name", "text", "date", "time"):
        elem = out.get(samples.OUTSIDE[kind])
        assert elem is None or elem.is_empty or elem.value == dummy_for(elem.VR)
    uid = samples.OUTSIDE["uid"]
    assert out[uid].value == _uids.new_uid(ds[uid].value, SECRET)
    assert out.Manufacturer == ds.Manufacturer  # the small safe list
    assert out.ConvolutionKernel == ds.ConvolutionKernel
    assert out.SOPClassUID == ds.SOPClassUID
    full = deidentify_dataset(ds, Settings(frozenset({Option.RETAIN_LONGITUDINAL_FULL_DATES}),
                                           SECRET)).dataset
    assert full[samples.OUTSIDE["date"]].value == "20031231"
    modified = deidentify_dataset(ds, Settings(
        frozenset({Option.RETAIN_LONGITUDINAL_MODIFIED_DATES}), SECRET))
    assert modified.dataset[samples.OUTSIDE["date"]].value == shift_date(
        "20031231", modified.date_offset_days or 0)
    assert modified.dataset[samples.OUTSIDE["time"]].value == "093000"


def test_clean_descriptors_removes_identities_from_text() -> None:
    ds = samples.rich("CT")
    out = deidentify_dataset(ds, Settings(frozenset({Option.CLEAN_DESCRIPTORS}),
                                          SECRET)).dataset
    assert out.StudyDescription == "CT head"
    comments = str(out.get("ImageComments") or "")
    assert "Johnathan" not in comments and samples.INSTITUTION not in comments
    basic = deidentify_dataset(ds, Settings(frozenset(), SECRET)).dataset
    assert "StudyDescription" not in basic or not basic.StudyDescription


def test_clean_structured_content_cleans_sr_text() -> None:
    ds = samples.load("SR")
    ds.PatientName = samples.PATIENT_NAME
    text_item = ds.ContentSequence[1].ContentSequence[0]
    assert text_item.ValueType == "TEXT"
    text_item.TextValue = f"Lesion seen in Johnathan Doe on 2004-01-19, ref {samples.PATIENT_ID}"
    cleaned = deidentify_dataset(ds, Settings(frozenset({Option.CLEAN_STRUCTURED_CONTENT}),
                                              SECRET)).dataset
    value = cleaned.ContentSequence[1].ContentSequence[0].TextValue
    assert value.startswith("Lesion seen in") and "Johnathan" not in value
    assert "2004" not in value and samples.PATIENT_ID not in value
    dummied = deidentify_dataset(ds, Settings(frozenset(), SECRET)).dataset
    assert dummied.ContentSequence[1].ContentSequence[0].TextValue == dummy_for("UT")


@pytest.mark.parametrize("text,expected", [
    ("CT head Doe 2004-01-19 MRN-448812", "CT head"),
    ("seen 19/01/2004 and 19 Jan 2004, id AB12345", "seen and , id"),
    ("ISOVUE300/100", "ISOVUE300/100"),
    ("Doe^Johnathan", ""),
])
def test_clean_text(text: str, expected: str) -> None:
    assert clean_text(text, {"doe", "johnathan", "mrn-448812"}) == expected


def test_input_not_modified_and_bad_settings() -> None:
    ds = samples.rich("CT")
    before = copy.deepcopy(ds)
    deidentify_dataset(ds, Settings(frozenset({Option.CLEAN_DESCRIPTORS}), SECRET))
    assert ds == before and ds.preamble == before.preamble
    with pytest.raises(InvalidInput):
        deidentify_dataset(ds, Settings(frozenset(), b""))
    with pytest.raises(InvalidInput):
        deidentify_dataset(ds, Settings(frozenset({Option.RETAIN_LONGITUDINAL_FULL_DATES,
                                                   Option.RETAIN_LONGITUDINAL_MODIFIED_DATES}),
                                        SECRET))
    del ds.SOPInstanceUID
    with pytest.raises(InvalidInput):
        deidentify_dataset(ds, Settings(frozenset(), SECRET))


@pytest.mark.filterwarnings("ignore:Expected explicit VR")
@pytest.mark.parametrize("name", ["MR_small_implicit.dcm", "MR_small_bigendian.dcm",
                                  "SC_rgb_jpeg.dcm", "MR_small_RLE.dcm", "nested_priv_SQ.dcm",
                                  "priv_SQ.dcm"])
def test_transfer_syntaxes_and_private_sequences(name: str, tmp_path: Path) -> None:
    """Any transfer syntax is kept (pixel data untouched, compressed or not); private
    sequences (nested_priv_SQ; priv_SQ, whose implicit-VR sequence reads as UN) go."""
    ds = pydicom.dcmread(samples.PYDICOM_FILES / name, force=True)
    if "SOPClassUID" not in ds:  # the private-sequence samples are bare data sets
        ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
        ds.SOPInstanceUID = "1.2.826.0.1.3680043.2.1143.9.1"
    result = deidentify_dataset(ds, Settings(frozenset({Option.RETAIN_SAFE_PRIVATE}), SECRET))
    target = tmp_path / "out.dcm"
    result.dataset.save_as(target, enforce_file_format=True)
    back = pydicom.dcmread(target)
    expected_ts = ds.file_meta.TransferSyntaxUID if "TransferSyntaxUID" in getattr(
        ds, "file_meta", {}) else back.file_meta.TransferSyntaxUID
    assert back.file_meta.TransferSyntaxUID == expected_ts
    if "PixelData" in ds:
        assert back.PixelData == ds.PixelData
    assert not [t for t in back.keys() if t.is_private]
    assert [t for t in ds.keys() if t.is_private] or "PixelData" in ds


@pytest.mark.parametrize("shift,value,days,expected", [
    (shift_date, "20040301", -1, "20040229"),
    (shift_date, "200403", -1, "200402"),
    (shift_date, "20040119-20040120", -10, "20040109-20040110"),
    (shift_date, "-20040120", -10, "-20040110"),
    (shift_date, "not a date", -1, "19000101"),
    (shift_datetime, "20040119101010.123456+0100", -19, "20031231101010.123456+0100"),
    (shift_datetime, "20040119101010-0500", -1, "20040118101010-0500"),
    (shift_datetime, "2004-2005", -400, "2002-2003"),
    (shift_datetime, "20040119-", -1, "20040118-"),
    (shift_datetime, "garbage", -1, "19000101000000"),
])
def test_date_shifting(shift: Any, value: str, days: int, expected: str) -> None:
    """Whole days move; time of day, fractions and UTC offsets stay; ranges and partial
    dates keep their form; what is not a date becomes the dummy."""
    assert shift(value, days) == expected


def test_common_instance_references_follow_the_references() -> None:
    """liver_1frame.dcm's only references are Type 2 Source Image Sequences in its functional
    groups: X/Z/U* empties them, so its Referenced Series Sequence goes too (kept, with
    mapped UIDs, under Retain UIDs)."""
    ds = samples.load("ENHANCED")
    assert "ReferencedSeriesSequence" in ds
    result = deidentify_dataset(ds, Settings(frozenset(), SECRET))
    frame = result.dataset.PerFrameFunctionalGroupsSequence[0]
    assert len(frame.DerivationImageSequence[0].SourceImageSequence) == 0
    assert "ReferencedSeriesSequence" not in result.dataset
    assert "(0008,1115) ReferencedSeriesSequence" in result.removed
    assert "ReferencedSeriesSequence" in result.originals
    kept = deidentify_dataset(ds, Settings(frozenset({Option.RETAIN_UIDS}), SECRET)).dataset
    assert kept.ReferencedSeriesSequence == ds.ReferencedSeriesSequence
