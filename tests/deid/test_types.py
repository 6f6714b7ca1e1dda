"""Attribute types per IOD (dicomsec.deid._types) and the decision of the combined codes.

The facts come from PS3.3 (2020, through the dicom-standard 0.1.0 data): Patient ID is Type 2
in the Patient module and Type 1 inside Other Patient IDs Sequence; Study Date is Type 2 in the
General Study module; Referenced Image Sequence is Type 3 in General Reference (CT), 1C in the
X-Ray Image module (XA), Type 1 inside Referenced Series Sequence of a presentation state.
"""

from __future__ import annotations

import importlib.util
import json
import re
from importlib import resources
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from dicomsec.deid._rules import rules
from dicomsec.deid._types import attribute_type, decide

CT = "1.2.840.10008.5.1.4.1.1.2"
MR = "1.2.840.10008.5.1.4.1.1.4"
XA = "1.2.840.10008.5.1.4.1.1.12.1"
SC = "1.2.840.10008.5.1.4.1.1.7"
US = "1.2.840.10008.5.1.4.1.1.6.1"
BASIC_SR = "1.2.840.10008.5.1.4.1.1.88.11"
RT_PLAN = "1.2.840.10008.5.1.4.1.1.481.5"
ENHANCED_CT = "1.2.840.10008.5.1.4.1.1.2.1"
GSPS = "1.2.840.10008.5.1.4.1.1.11.1"
UNKNOWN = "1.2.3.4.5.6.7.8.9"

PATIENT_ID = 0x00100020
OTHER_PATIENT_IDS = 0x00101002
STUDY_DATE = 0x00080020
REFERENCED_IMAGE = 0x00081140
REFERENCED_SOP_INSTANCE = 0x00081155
REFERENCED_SERIES = 0x00081115
SOURCE_IMAGE = 0x00082112
ORDER = ("1", "1C", "2", "2C", "3")
COMBINED = ("Z/D", "X/Z", "X/D", "X/Z/D", "X/Z/U*")
ROOT = Path(__file__).resolve().parents[2]


def _doc() -> Any:
    text = resources.files("dicomsec.deid").joinpath("data/types.json").read_text("utf-8")
    return json.loads(text)


def _tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("deid_types_tool",
                                                  ROOT / "tools" / "deid-types.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(("sop", "tag", "parents", "expected"), [
    (CT, PATIENT_ID, (), "2"),
    (CT, PATIENT_ID, (OTHER_PATIENT_IDS,), "1"),
    (MR, PATIENT_ID, (OTHER_PATIENT_IDS,), "1"),
    (BASIC_SR, PATIENT_ID, (OTHER_PATIENT_IDS,), "1"),
    (CT, STUDY_DATE, (), "2"),
    (MR, STUDY_DATE, (), "2"),
    (BASIC_SR, STUDY_DATE, (), "2"),
    (RT_PLAN, STUDY_DATE, (), "2"),
    (CT, 0x00080018, (), "1"),                          # SOP Instance UID
    (CT, 0x00080023, (), "2C"),                         # Content Date, General Image
    (BASIC_SR, 0x00080023, (), "1"),                    # Content Date, SR Document General
    (CT, REFERENCED_IMAGE, (), "3"),                    # General Reference module
    (XA, REFERENCED_IMAGE, (), "1C"),                   # X-Ray Image module
    (CT, REFERENCED_SOP_INSTANCE, (REFERENCED_IMAGE,), "1"),
    (GSPS, REFERENCED_IMAGE, (REFERENCED_SERIES,), "1"),
    (GSPS, REFERENCED_SOP_INSTANCE, (REFERENCED_SERIES, REFERENCED_IMAGE), "1"),
    (GSPS, REFERENCED_IMAGE, (), None),                 # not at top level of a GSPS
    (CT, SOURCE_IMAGE, (), "3"),
    # functional groups: Derivation Image Sequence in the Per-frame Functional Groups
    (ENHANCED_CT, SOURCE_IMAGE, (0x52009230, 0x00089124), "2"),
    (ENHANCED_CT, REFERENCED_SOP_INSTANCE, (0x52009230, 0x00089124, SOURCE_IMAGE), "1"),
    (CT, 0x00080080, (), "3"),                          # Institution Name
    (SC, 0x00200052, (), None),                         # SC has no Frame of Reference
    (CT, 0x00091010, (), None),                         # private
    (CT, PATIENT_ID, (0x00081140,), None),              # not at that nesting
])
def test_spot_facts(sop: str, tag: int, parents: tuple[int, ...], expected: str | None) -> None:
    assert attribute_type(sop, tag, parents) == expected


CONTENT = 0x0040A730
ENCAPSULATED_PDF = "1.2.840.10008.5.1.4.1.1.104.1"


@pytest.mark.parametrize("depth", [1, 2, 3, 6])
@pytest.mark.parametrize("sop", [BASIC_SR, ENCAPSULATED_PDF, None])
def test_content_items_nest_recursively(sop: str | None, depth: int) -> None:
    """PS3.3 C.17.3: a content item's Content Sequence holds content items again; the data
    describes one (SR) or two (Encapsulated Document) levels, deeper ones repeat them."""
    parents = (CONTENT,) * depth
    assert attribute_type(sop, 0x0040A123, parents) == "1C"           # Person Name
    assert attribute_type(sop, 0x00080104, (*parents, 0x0040A043)) == "1"  # Code Meaning
    assert attribute_type(sop, PATIENT_ID, parents) is None
    assert attribute_type(CT, 0x0040A123, parents) is None              # no content in CT


def test_sop_class_as_pydicom_uid() -> None:
    from pydicom.uid import UID

    assert attribute_type(UID(CT), PATIENT_ID, (OTHER_PATIENT_IDS,)) == "1"


def test_repeating_overlay_groups_share_their_types() -> None:
    assert attribute_type(CT, 0x60000022) == "3"        # Overlay Description
    assert attribute_type(CT, 0x60020022) == attribute_type(CT, 0x60000022)
    assert attribute_type(CT, 0x60010022) is None       # odd group: private


@pytest.mark.parametrize("sop", [None, UNKNOWN])
@pytest.mark.parametrize(("tag", "parents", "expected"), [
    (PATIENT_ID, (), "2"),
    (PATIENT_ID, (OTHER_PATIENT_IDS,), "1"),
    (REFERENCED_IMAGE, (), "1C"),                       # 3 in CT, 1C in XA
    (SOURCE_IMAGE, (), "1"),
    (0x00181000, (), "1"),                              # Device Serial Number
    (0x00091010, (), None),
])
def test_unknown_sop_class_takes_the_strictest_type(
        sop: str | None, tag: int, parents: tuple[int, ...], expected: str | None) -> None:
    assert attribute_type(sop, tag, parents) == expected


@pytest.mark.parametrize(("tag", "parents"), [
    (PATIENT_ID, ()), (REFERENCED_IMAGE, ()), (SOURCE_IMAGE, ()), (0x00080080, ()),
    (0x00081010, ()), (0x00080022, ()), (REFERENCED_SOP_INSTANCE, (REFERENCED_IMAGE,)),
    (0x00080104, (0x00081032,)),
])
def test_strictest_is_the_minimum_over_every_known_sop_class(
        tag: int, parents: tuple[int, ...]) -> None:
    known = [t for uid in _doc()["sops"] if (t := attribute_type(uid, tag, parents))]
    assert known, "no IOD has it"
    assert attribute_type(None, tag, parents) == min(known, key=ORDER.index)


#: (code, type) -> plain action, written out from PS3.15 E.1.1 and the contract
DECISIONS = {
    "Z/D": {"1": "D", "1C": "D", "2": "Z", "2C": "Z", "3": "Z", None: "Z"},
    "X/Z": {"1": "X", "1C": "X", "2": "Z", "2C": "Z", "3": "X", None: "X"},
    "X/D": {"1": "D", "1C": "D", "2": "X", "2C": "X", "3": "X", None: "X"},
    "X/Z/D": {"1": "D", "1C": "D", "2": "Z", "2C": "Z", "3": "X", None: "X"},
    "X/Z/U*": {"1": "U*", "1C": "U*", "2": "Z", "2C": "Z", "3": "X", None: "X"},
}


@pytest.mark.parametrize("code", COMBINED)
@pytest.mark.parametrize("type_", [*ORDER, None])
def test_decide_every_combined_code_and_type(code: str, type_: str | None) -> None:
    assert decide(code, type_) == DECISIONS[code][type_]


@pytest.mark.parametrize("code", ["D", "Z", "X", "K", "C", "U"])
@pytest.mark.parametrize("type_", [*ORDER, None])
def test_decide_keeps_plain_codes(code: str, type_: str | None) -> None:
    assert decide(code, type_) == code


def test_decide_for_the_spec_examples() -> None:
    # the mistake gdcmanon makes: emptying PatientID inside Other Patient IDs Sequence
    assert decide("Z/D", attribute_type(CT, PATIENT_ID, (OTHER_PATIENT_IDS,))) == "D"
    assert decide("Z/D", attribute_type(CT, PATIENT_ID)) == "Z"
    assert decide("X/Z/U*", attribute_type(CT, REFERENCED_IMAGE)) == "X"
    assert decide("X/Z/U*", attribute_type(XA, REFERENCED_IMAGE)) == "U*"
    assert decide("X/Z/D", attribute_type(CT, 0x00080080)) == "X"


def test_every_combined_code_row_is_typed() -> None:
    """Every row with a combined code in any column has types in the file (even when the
    2020 data knows it in none of its IODs: then it is absent, and decide takes Type 3)."""
    doc = _doc()
    combined = [r for r in rules() if {r.basic, *r.options.values()} & set(COMBINED)]
    assert len(combined) == 50
    missing = [r.tag for r in combined if r.tag not in doc["types"]]
    assert missing == []


def test_file_structure() -> None:
    doc = _doc()
    tool = _tool()
    assert doc["generated_by"] == "tools/deid-types.py"
    assert doc["wheel_sha256"] == tool.WHEEL_SHA256
    assert re.fullmatch(r"[0-9a-f]{64}", doc["wheel_sha256"])
    assert "2020" in doc["source"] and "MIT" in doc["source"]
    assert doc["vrs"] == list(tool.VRS)
    ciods, sets = doc["ciods"], doc["sets"]
    assert len(ciods) > 120 and "ct-image" in ciods
    assert ciods[doc["sops"][CT]] == "ct-image"
    assert all(re.fullmatch(r"[0-9]+(\.[0-9]+)+", uid) for uid in doc["sops"])
    assert all(0 <= i < len(ciods) for i in doc["sops"].values())
    assert all(re.fullmatch(r"[0-9]+(-[0-9]+)?(,[0-9]+(-[0-9]+)?)*", s) for s in sets)
    tag = re.compile(r"[0-9A-F]{8}")
    for key, paths in doc["types"].items():
        assert tag.fullmatch(key)
        for path, by_type in paths.items():
            assert path == "" or all(tag.fullmatch(p) for p in path.split("/"))
            assert list(by_type) == sorted(by_type, key=ORDER.index)  # strictest first
            assert set(by_type) <= set(ORDER)
            assert all(0 <= i < len(sets) for i in by_type.values())


def test_licence_is_shipped() -> None:
    licence = resources.files("dicomsec.deid").joinpath(
        "data/sources/LICENSE-innolitics-dicom-standard-0.1.0.txt").read_text("utf-8")
    assert "Innolitics" in licence and "Permission is hereby granted" in licence
