"""The rules of PS3.15 Table E.1-1: one row per attribute or pattern, its Basic-profile action
and the action of every option column; generated into ``data/rules.json`` by
``tools/deid-rules.py`` from the machine-readable table shipped in ``data/sources/``.

Action codes (PS3.15 E.1.1): ``D`` dummy, ``Z`` zero length (or dummy), ``X`` remove, ``K``
keep, ``C`` clean, ``U`` replace a UID consistently; the combined codes ``Z/D``, ``X/Z``,
``X/D``, ``X/Z/D`` and ``X/Z/U*`` are decided by the attribute's type in the IOD
(:mod:`dicomsec.deid._types`).

When several claimed options name an action for one row, the one that keeps the most wins:
``K`` over ``C`` (decision: the options are claims of what to retain; e.g. Retain Device
Identity's K beats Retain Longitudinal Modified Dates' C on a device calibration date). The
two longitudinal options exclude each other (:func:`check_options`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from functools import cache
from importlib import resources
from types import MappingProxyType

from dicomsec.errors import InvalidInput

__all__ = [
    "BASIC_CODE", "CODING_SCHEME", "Option", "Rule", "action_for", "check_options", "edition",
    "rule_for", "rules",
]

#: the Coding Scheme Designator of every CID 7050 code
CODING_SCHEME = "DCM"
#: the Basic Application Level Confidentiality Profile: (Code Value, Code Meaning), CID 7050
BASIC_CODE = ("113100", "Basic Application Confidentiality Profile")


class Option(Enum):
    """An option of the Basic profile: its CLI name, its CID 7050 code and Code Meaning
    (exactly as pydicom's ``codes.CID7050``)."""

    CLEAN_PIXEL_DATA = ("clean-pixel-data", "113101", "Clean Pixel Data Option")
    CLEAN_RECOGNIZABLE_VISUAL_FEATURES = (
        "clean-recognizable-visual-features", "113102",
        "Clean Recognizable Visual Features Option")
    CLEAN_GRAPHICS = ("clean-graphics", "113103", "Clean Graphics Option")
    CLEAN_STRUCTURED_CONTENT = ("clean-structured-content", "113104",
                                "Clean Structured Content Option")
    CLEAN_DESCRIPTORS = ("clean-descriptors", "113105", "Clean Descriptors Option")
    RETAIN_LONGITUDINAL_FULL_DATES = (
        "retain-longitudinal-full-dates", "113106",
        "Retain Longitudinal Temporal Information Full Dates Option")
    RETAIN_LONGITUDINAL_MODIFIED_DATES = (
        "retain-longitudinal-modified-dates", "113107",
        "Retain Longitudinal Temporal Information Modified Dates Option")
    RETAIN_PATIENT_CHARACTERISTICS = ("retain-patient-characteristics", "113108",
                                      "Retain Patient Characteristics Option")
    RETAIN_DEVICE_IDENTITY = ("retain-device-identity", "113109",
                              "Retain Device Identity Option")
    RETAIN_UIDS = ("retain-uids", "113110", "Retain UIDs Option")
    RETAIN_SAFE_PRIVATE = ("retain-safe-private", "113111", "Retain Safe Private Option")
    RETAIN_INSTITUTION_IDENTITY = ("retain-institution-identity", "113112",
                                   "Retain Institution Identity Option")

    @property
    def cli_name(self) -> str:
        return self.value[0]

    @property
    def code(self) -> str:
        return self.value[1]

    @property
    def meaning(self) -> str:
        return self.value[2]

    @classmethod
    def parse(cls, name: str) -> Option:
        """The option of a CLI name (``retain-uids``); InvalidInput names the valid ones."""
        for option in cls:
            if option.cli_name == name.strip().lower():
                return option
        valid = ", ".join(o.cli_name for o in cls)
        raise InvalidInput(f"unknown de-identification option {name!r} (one of: {valid})")


@dataclass(frozen=True, slots=True)
class Rule:
    """One row of Table E.1-1."""

    #: ``GGGGEEEE`` in hex, or a pattern: ``50xxxxxx`` (curves), ``60xx3000`` (overlay
    #: data), ``60xx4000`` (overlay comments), ``private`` (odd groups)
    tag: str
    keyword: str
    vr: str
    name: str
    #: the Basic-profile action code
    basic: str
    #: option CLI name -> action code, for the options that name one for this row
    options: Mapping[str, str]
    #: the edition the row comes from (the newer Basic column adds rows)
    edition: str
    #: the table's "in standard composite IOD" flag
    std_comp_iod: bool

    def action(self, options: Iterable[Option] = ()) -> str:
        """The action with these options claimed: K over C over the Basic action."""
        claimed = [self.options[o.cli_name] for o in options if o.cli_name in self.options]
        for code in ("K", "C"):
            if code in claimed:
                return code
        return claimed[0] if claimed else self.basic


@cache
def _load() -> tuple[dict[int, Rule], dict[str, Rule], dict[str, str]]:
    text = resources.files("dicomsec.deid").joinpath("data/rules.json").read_text("utf-8")
    doc = json.loads(text)
    exact: dict[int, Rule] = {}
    patterns: dict[str, Rule] = {}
    for row in doc["rows"]:
        rule = Rule(tag=row["tag"], keyword=row["keyword"], vr=row["vr"], name=row["name"],
                    basic=row["basic"], options=MappingProxyType(dict(row["options"])),
                    edition=row["edition"], std_comp_iod=bool(row["std_comp_iod"]))
        if all(c in "0123456789ABCDEF" for c in rule.tag) and len(rule.tag) == 8:
            exact[int(rule.tag, 16)] = rule
        else:
            patterns[rule.tag] = rule
    return exact, patterns, dict(doc["editions"])


def rules() -> tuple[Rule, ...]:
    """Every row, exact tags in tag order, then the pattern rows."""
    exact, patterns, _ = _load()
    return tuple(exact[t] for t in sorted(exact)) + tuple(patterns.values())


def edition() -> Mapping[str, str]:
    """The editions the rules come from: ``table`` (every column) and ``basic_column``."""
    return MappingProxyType(_load()[2])


def rule_for(tag: int) -> Rule | None:
    """The row that covers a data element tag: its own row, else a pattern row (curve data
    in groups 50xx, overlay data/comments in groups 60xx, private elements in odd groups);
    ``None`` when the table does not list it (the engine then decides by VR)."""
    exact, patterns, _ = _load()
    rule = exact.get(tag)
    if rule is not None:
        return rule
    group, element = tag >> 16, tag & 0xFFFF
    if group & 1:
        return patterns.get("private")
    if 0x5000 <= group <= 0x501E and not group & 1:
        return patterns.get("50xxxxxx")
    if 0x6000 <= group <= 0x601E and not group & 1 and element in (0x3000, 0x4000):
        return patterns.get("60xx3000" if element == 0x3000 else "60xx4000")
    return None


def action_for(tag: int, options: Iterable[Option] = ()) -> str | None:
    """The action code for a tag with these options claimed (``None``: not in the table)."""
    rule = rule_for(tag)
    return None if rule is None else rule.action(options)


def check_options(options: Iterable[Option]) -> frozenset[Option]:
    """The options as a set; InvalidInput when two exclude each other."""
    chosen = frozenset(options)
    if {Option.RETAIN_LONGITUDINAL_FULL_DATES,
            Option.RETAIN_LONGITUDINAL_MODIFIED_DATES} <= chosen:
        raise InvalidInput("retain-longitudinal-full-dates and retain-longitudinal-modified-"
                           "dates exclude each other: choose one")
    return chosen
