"""The rules of PS3.15 Table E.1-1 (dicomsec.deid._rules and data/rules.json).

Counts are those of the 2024b table (research notes, section 2 and 3): 621 rows with Basic
actions X 384, D 92, U 54, Z 42, X/D 22, X/Z 11, X/Z/D 8, Z/D 6, X/Z/U* 2; the 2026c Basic
column adds 35 rows and agrees with 2024b on the 617 rows both have.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from pydicom.sr.codedict import codes

from dicomsec.deid._rules import (
    BASIC_CODE,
    CODING_SCHEME,
    Option,
    action_for,
    check_options,
    edition,
    rule_for,
    rules,
)
from dicomsec.errors import InvalidInput

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ROOT / "src" / "dicomsec" / "deid" / "data" / "sources"

BASIC_2024B = {"X": 384, "D": 92, "U": 54, "Z": 42, "X/D": 22, "X/Z": 11, "X/Z/D": 8,
               "Z/D": 6, "X/Z/U*": 2}
#: option -> {action: rows} in the 2024b table
OPTION_COLUMNS = {
    "retain-safe-private": {"C": 1},
    "retain-uids": {"K": 59},
    "retain-device-identity": {"K": 46, "C": 11},
    "retain-institution-identity": {"K": 10},
    "retain-patient-characteristics": {"K": 9, "C": 4},
    "retain-longitudinal-full-dates": {"K": 165},
    "retain-longitudinal-modified-dates": {"C": 165},
    "clean-descriptors": {"C": 125},
    "clean-structured-content": {"C": 3},
    "clean-graphics": {"C": 4},
}
ANONYMIZER_ACTIONS = {"D": "D", "Z": "Z", "X": "X", "U": "U", "Z_D": "Z/D", "X_Z": "X/Z",
                      "X_D": "X/D", "X_Z_D": "X/Z/D", "X_Z_U_STAR": "X/Z/U*"}


def _doc() -> Any:
    text = resources.files("dicomsec.deid").joinpath("data/rules.json").read_text("utf-8")
    return json.loads(text)


def test_rules_json_is_current() -> None:
    """tools/deid-rules.py --check regenerates from the shipped sources (no network)."""
    done = subprocess.run([sys.executable, str(ROOT / "tools" / "deid-rules.py"), "--check"],
                          capture_output=True, text=True, cwd=ROOT, timeout=120, check=False)
    assert done.returncode == 0, done.stderr


def test_editions() -> None:
    assert dict(edition()) == {"table": "2024b", "basic_column": "2026c"}


def test_basic_counts_of_2024b() -> None:
    table = [r for r in rules() if r.edition == "2024b"]
    assert len(table) == 621
    assert Counter(r.basic for r in table) == BASIC_2024B


def test_option_column_counts_of_2024b() -> None:
    counts: dict[str, Counter[str]] = {}
    for rule in rules():
        if rule.edition == "2024b":
            for option, action in rule.options.items():
                counts.setdefault(option, Counter())[action] += 1
    assert {k: dict(v) for k, v in counts.items()} == OPTION_COLUMNS
    names = {o.cli_name for o in Option}
    # every column is an option; the pixel options have no column
    assert set(OPTION_COLUMNS) == names - {"clean-pixel-data",
                                           "clean-recognizable-visual-features"}


def test_2026c_adds_35_rows() -> None:
    added = [r for r in rules() if r.edition == "2026c"]
    assert len(added) == 35
    assert len(rules()) == 656
    assert all(r.std_comp_iod is False for r in added)
    by_tag = {r.tag: r for r in added}
    assert by_tag["300A0054"].basic == "U"              # Table Top Position Alignment UID
    assert by_tag["0040B020"].basic == "X/D"            # Waveform Annotation Sequence


def test_2026c_and_2024b_basic_columns_agree_on_common_rows() -> None:
    """From the shipped source itself, not only through rules.json."""
    assert _doc()["basic_differences"] == []
    source = json.loads(
        next(SOURCES.glob("dicom-anonymizer-2026c-basic.json")).read_text("utf-8"))
    newer = {tag: ANONYMIZER_ACTIONS[key] for key in ANONYMIZER_ACTIONS
             for tag in source["actions"].get(key, [])}
    older = {r.tag: r.basic for r in rules() if r.edition == "2024b"}
    common = set(newer) & set(older)
    assert len(common) == 617
    assert {t: (older[t], newer[t]) for t in common if older[t] != newer[t]} == {}


def test_every_row_is_well_formed() -> None:
    codes_ = {"D", "Z", "X", "K", "C", "U", *BASIC_2024B}
    for rule in rules():
        assert rule.basic in codes_, rule
        assert set(rule.options.values()) <= {"K", "C"}, rule
        assert set(rule.options) <= {o.cli_name for o in Option}, rule
    tags = [r.tag for r in rules()]
    assert len(tags) == len(set(tags))


def _cid7050() -> dict[str, tuple[str, str, str]]:
    collection = codes.CID7050
    return {(c := getattr(collection, k)).value: (c.value, c.scheme_designator, c.meaning)
            for k in collection.dir()}


@pytest.mark.parametrize("option", list(Option))
def test_option_code_and_meaning_equal_pydicom_cid7050(option: Option) -> None:
    assert _cid7050()[option.code] == (option.code, CODING_SCHEME, option.meaning)


def test_basic_profile_code_and_every_cid7050_code_covered() -> None:
    cid = _cid7050()
    assert cid[BASIC_CODE[0]] == (BASIC_CODE[0], CODING_SCHEME, BASIC_CODE[1])
    assert set(cid) == {BASIC_CODE[0]} | {o.code for o in Option}


@pytest.mark.parametrize(("tag", "pattern"), [
    (0x50000000, "50xxxxxx"), (0x50001234, "50xxxxxx"), (0x501E3000, "50xxxxxx"),
    (0x60003000, "60xx3000"), (0x601E3000, "60xx3000"),
    (0x60004000, "60xx4000"), (0x60024000, "60xx4000"),
    (0x60013000, "private"), (0x50010010, "private"), (0x00090010, "private"),
    (0x00191001, "private"), (0x7FE10010, "private"),
    (0x60000010, None),             # Overlay Rows is not an overlay data row
    (0x60003001, None), (0x50200000, None), (0x60203000, None),
    (0x7FE00010, None),             # Pixel Data: not in the table
    (0x00080016, None),             # SOP Class UID: not in the table
])
def test_pattern_rows(tag: int, pattern: str | None) -> None:
    rule = rule_for(tag)
    if pattern is None:
        assert rule is None
    else:
        assert rule is not None and rule.tag == pattern


@pytest.mark.parametrize(("pattern", "basic", "options"), [
    ("50xxxxxx", "X", {"clean-graphics": "C"}),
    ("60xx3000", "X", {"clean-graphics": "C"}),
    ("60xx4000", "X", {"clean-graphics": "C"}),
    ("private", "X", {"retain-safe-private": "C"}),
])
def test_pattern_row_actions(pattern: str, basic: str, options: dict[str, str]) -> None:
    rule = next(r for r in rules() if r.tag == pattern)
    assert (rule.basic, dict(rule.options)) == (basic, options)


@pytest.mark.parametrize(("tag", "options", "expected"), [
    (0x00100010, (), "Z"),                                          # Patient's Name
    (0x00100020, (), "Z/D"),                                        # Patient ID
    (0x00080050, (), "Z"),                                          # Accession Number
    (0x00080018, (), "U"),                                          # SOP Instance UID
    (0x00080018, (Option.RETAIN_UIDS,), "K"),
    (0x0020000D, (Option.RETAIN_UIDS,), "K"),                       # Study Instance UID
    (0x00020003, (), "U"),                                          # Media Storage SOP Inst.
    (0x00100040, (), "Z"),                                          # Patient's Sex
    (0x00100040, (Option.RETAIN_PATIENT_CHARACTERISTICS,), "K"),
    (0x00101010, (), "X"),                                          # Patient's Age
    (0x00101010, (Option.RETAIN_PATIENT_CHARACTERISTICS,), "K"),
    (0x00080080, (), "X/Z/D"),                                      # Institution Name
    (0x00080080, (Option.RETAIN_INSTITUTION_IDENTITY,), "K"),
    (0x00181000, (Option.RETAIN_DEVICE_IDENTITY,), "K"),            # Device Serial Number
    (0x00081030, (), "X"),                                          # Study Description
    (0x00081030, (Option.CLEAN_DESCRIPTORS,), "C"),
    (0x0040A730, (), "D"),                                          # Content Sequence
    (0x0040A730, (Option.CLEAN_STRUCTURED_CONTENT,), "C"),
    (0x00080020, (), "Z"),                                          # Study Date
    (0x00080020, (Option.RETAIN_LONGITUDINAL_FULL_DATES,), "K"),
    (0x00080020, (Option.RETAIN_LONGITUDINAL_MODIFIED_DATES,), "C"),
    # K over C: Date of Last Calibration is K for device identity, C for modified dates
    (0x00181200, (Option.RETAIN_LONGITUDINAL_MODIFIED_DATES,), "C"),
    (0x00181200, (Option.RETAIN_LONGITUDINAL_MODIFIED_DATES, Option.RETAIN_DEVICE_IDENTITY),
     "K"),
    (0x00181200, (Option.RETAIN_DEVICE_IDENTITY, Option.RETAIN_LONGITUDINAL_MODIFIED_DATES),
     "K"),
    (0x00081140, (), "X/Z/U*"),                                     # Referenced Image Seq.
    (0x00082112, (), "X/Z/U*"),                                     # Source Image Seq.
    (0xFFFAFFFA, (Option.RETAIN_UIDS,), "X"),                       # Digital Signatures
    (0x60003000, (Option.CLEAN_GRAPHICS,), "C"),
    (0x00091010, (), "X"),
    (0x00091010, (Option.RETAIN_SAFE_PRIVATE,), "C"),
    (0x00100010, tuple(Option), "Z"),                               # no option keeps it
    (0x00080016, tuple(Option), None),
])
def test_action_for(tag: int, options: tuple[Option, ...], expected: str | None) -> None:
    assert action_for(tag, options) == expected


def test_check_options_refuses_both_longitudinal_options() -> None:
    both = [Option.RETAIN_LONGITUDINAL_FULL_DATES, Option.RETAIN_LONGITUDINAL_MODIFIED_DATES]
    with pytest.raises(InvalidInput, match="exclude each other"):
        check_options(both)
    with pytest.raises(InvalidInput):
        check_options([*both, Option.RETAIN_UIDS])
    assert check_options([both[0], Option.RETAIN_UIDS, Option.RETAIN_UIDS]) == frozenset(
        {both[0], Option.RETAIN_UIDS})
    assert check_options([]) == frozenset()


@pytest.mark.parametrize("option", list(Option))
def test_option_parse_round_trip(option: Option) -> None:
    assert Option.parse(option.cli_name) is option
    assert Option.parse(f" {option.cli_name.upper()} ") is option


def test_option_parse_refuses_unknown_names() -> None:
    with pytest.raises(InvalidInput, match="retain-uids"):
        Option.parse("retain-everything")
