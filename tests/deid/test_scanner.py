"""The leak scanner (acceptance 2): for real samples enriched with private blocks, nested
sequences, references, signatures, overlays and free text (samples.rich), under the Basic
profile and every option, walk EVERY element of the output (sequences, private blocks, file
meta) and the raw bytes of the written file, and find none of:

- the original value of an attribute whose action (with the options claimed) is D, Z, X or U,
  or one of the combined codes (the value is removed, emptied, dummied or mapped whatever the
  IOD type decides);
- an original UID (other than the well-known / class / scheme UIDs), unless Retain UIDs
  (whose kept UIDs are then not searched: CT_small's embed the acquisition date);
- the patient's name (and its longer components), Patient IDs, addresses, telephone number,
  accession number, and the institution unless Retain Institution Identity;
- an original date (DA, DT), unless Retain Longitudinal Full Dates or the attribute's own
  action keeps it (K);
- the value of a private element, unless Retain Safe Private (whose kept values are the
  declared safe ones, checked in test_engine).

Values shorter than four characters and coded / numeric / binary values are not searched
(they are not identifying and would match by chance), nor a value found inside a value that
is kept by design (a K attribute, the engine's safe list: rtplan.dcm's Institution Name
"Here" is inside its Manufacturer "Manufacturer name here")."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

from dicomsec.deid._engine import (
    SAFE_TEXT_TAGS,
    STRUCTURAL_UID_TAGS,
    Settings,
    deidentify_dataset,
)
from dicomsec.deid._replace import dummy_for
from dicomsec.deid._rules import Option, rule_for
from dicomsec.deid._uids import is_well_known_uid
from tests.deid import samples
from tests.deid.samples import SECRET

NON_PIXEL = [o for o in Option
             if o not in (Option.CLEAN_PIXEL_DATA, Option.CLEAN_RECOGNIZABLE_VISUAL_FEATURES)]
EVERYTHING = frozenset(o for o in NON_PIXEL if o is not Option.RETAIN_LONGITUDINAL_FULL_DATES)
OPTION_SETS: list[frozenset[Option]] = [frozenset(), EVERYTHING] + [
    frozenset({o}) for o in NON_PIXEL]
SEARCHED_VRS = frozenset({"PN", "LO", "SH", "ST", "LT", "UT", "UC", "AE", "DA", "DT", "TM",
                          "UI", "AS", "UR"})
#: UR attributes that name a coding scheme or a code (kept)
SAFE_URLS = frozenset({0x0008010E, 0x00080120})
DUMMIES = {str(dummy_for(vr)) for vr in SEARCHED_VRS if vr != "UI"}
MIN_LENGTH = 4
#: the engine's own constant marks (an RT Structure Set's ROI "patient" is in a Code Meaning)
MARKS = frozenset({0x00120063, 0x00120064})


def _strings(value: Any) -> list[str]:
    values = value if isinstance(value, (list, tuple, MultiValue)) else [value]
    return [str(v).strip(" \0") for v in values if v is not None and str(v).strip(" \0")]


def _forbidden_by_element(tag: int, vr: str, values: list[str],
                          options: frozenset[Option]) -> tuple[set[str], bool]:
    """(forbidden values, kept by K) for one original element."""
    rule = rule_for(tag)
    code = rule.action(options) if rule is not None else None
    if code == "K":
        return set(), True
    out: set[str] = set()
    if code is not None and code != "C" and vr in SEARCHED_VRS:
        out.update(values)
    if vr == "UI" and Option.RETAIN_UIDS not in options and tag not in STRUCTURAL_UID_TAGS:
        out.update(v for v in values if not is_well_known_uid(v))
    if vr == "PN":
        for value in values:
            out.add(value)
            out.update(p for p in value.replace("^", " ").split() if len(p) >= MIN_LENGTH)
    if vr == "UR" and tag not in SAFE_URLS:  # URLs embed IDs and UIDs
        out.update(values)
    if vr in ("DA", "DT") and Option.RETAIN_LONGITUDINAL_FULL_DATES not in options:
        out.update(v[:8] for v in values if len(v) >= 8)
    return out, False


def forbidden(ds: Dataset, options: frozenset[Option]) -> set[str]:
    found: set[str] = set()
    kept: set[str] = set()
    stack = [ds]
    while stack:
        current = stack.pop()
        for elem in current:
            if elem.VR == "SQ":
                stack.extend(elem.value)
                continue
            if elem.VR not in SEARCHED_VRS:
                continue
            values = _strings(elem.value)
            if elem.tag.is_private:  # every private value goes, unless declared safe
                if Option.RETAIN_SAFE_PRIVATE not in options and elem.tag.element > 0xFF:
                    found.update(values)
                continue
            bad, is_kept = _forbidden_by_element(int(elem.tag), elem.VR, values, options)
            found |= bad
            if is_kept or int(elem.tag) in SAFE_TEXT_TAGS:
                kept.update(v.lower() for v in values)
    found |= {samples.PATIENT_NAME, "Johnathan", samples.PATIENT_ID, samples.ADDRESS,
              samples.TELEPHONE, samples.ACCESSION, "OLD-99172"}
    if Option.RETAIN_INSTITUTION_IDENTITY not in options:
        found |= {samples.INSTITUTION, samples.INSTITUTION_ADDRESS}
    # a value inside a value kept by design (K, the safe list) is not a leak of its own
    return {v for v in found - DUMMIES
            if len(v) >= MIN_LENGTH and not any(v.lower() in k for k in kept)}


def _output_texts(ds: Dataset, skip_uids: bool) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    stack: list[tuple[Dataset, str]] = [(ds.file_meta, "meta"), (ds, "")]
    while stack:
        current, where = stack.pop()
        for elem in current:
            path = f"{where}{elem.tag}"
            if int(elem.tag) in MARKS:
                continue
            if elem.VR == "SQ":
                stack.extend((item, f"{path}[{i}].") for i, item in enumerate(elem.value))
            elif skip_uids and elem.VR == "UI":
                continue
            elif isinstance(elem.value, bytes):
                out.append((path, elem.value.decode("latin-1")))
            else:
                out.append((path, " ".join(_strings(elem.value))))
    return out


@pytest.fixture(scope="module")
def originals() -> dict[str, Dataset]:
    return {kind: samples.rich(kind) for kind in samples.REAL}


@pytest.mark.parametrize("options", OPTION_SETS,
                         ids=lambda s: "everything" if s == EVERYTHING else
                         ",".join(o.cli_name for o in s) or "basic")
@pytest.mark.parametrize("kind", list(samples.REAL))
def test_no_original_value_survives(kind: str, options: frozenset[Option],
                                    originals: dict[str, Dataset], tmp_path: Path) -> None:
    ds = originals[kind]
    bad = forbidden(ds, options)
    assert samples.PATIENT_ID in bad
    assert ds.SOPInstanceUID in bad or Option.RETAIN_UIDS in options
    result = deidentify_dataset(ds, Settings(options, SECRET))
    target = tmp_path / "out.dcm"
    result.dataset.save_as(target, enforce_file_format=True)
    raw = target.read_bytes()
    retained_uids = Option.RETAIN_UIDS in options
    texts = _output_texts(result.dataset, retained_uids)
    if retained_uids:  # kept UIDs may embed anything (CT_small's embed its date): not searched
        for _path, uid in _output_texts(result.dataset, False):
            if uid.replace(".", "").isdigit() and "." in uid:
                raw = raw.replace(uid.encode("ascii"), b"")
    leaks = []
    for value in sorted(bad):
        needle = value.lower()
        leaks += [f"{path}: {value!r}" for path, text in texts if needle in text.lower()]
        if value.encode("latin-1", "replace") in raw:
            leaks.append(f"raw bytes: {value!r}")
    assert not leaks, leaks
    assert raw[:128] == b"\0" * 128


def test_the_scanner_sees_leaks(originals: dict[str, Dataset]) -> None:
    """The scanner is not blind: in an input every kind of forbidden value is found."""
    ds = originals["CT"]
    bad = forbidden(ds, frozenset())
    texts = " ".join(text for _path, text in _output_texts(ds, False)).lower()
    for value in (samples.PATIENT_NAME, samples.PATIENT_ID, samples.ACCESSION, samples.ADDRESS,
                  samples.TELEPHONE, ds.StudyDate, ds.SOPInstanceUID, ds.StationName,
                  "kernel B30f", str(ds[0x00081190].value)):
        assert value in bad and value.lower() in texts
