"""Action C ("clean") for free text, and the private blocks an object declares safe.

Cleaning method (Clean Descriptors, Clean Structured Content, Clean Graphics, and the C rows of
Retain Patient Characteristics), as the conformance statement must say (PS3.15 E.1.3):

1. the *identifying values* of the object are collected from the ORIGINAL data set, at every
   nesting level: every person name (each name component of three or more characters, and the
   whole name), every date (DA, DT), and the value of every Table E.1-1 attribute whose Basic
   action is not K or C and whose VR is LO, SH, AE, UC or PN, unless Clean Descriptors names it
   (descriptors such as Study Description are what gets cleaned, not what is searched for):
   Patient ID, Other Patient IDs, Accession Number, Institution Name and Address, Station
   Name, Device Serial Number, addresses, telephone numbers, Study ID ...;
2. each identifying value of three or more characters is removed from the text wherever it
   occurs, ignoring case;
3. date-like tokens (``2004-01-19``, ``20040119``, ``19/01/2004``, ``19.1.04``, ``19 Jan 2004``)
   and ID-like tokens (five or more digits, or four or more digits mixed with letters, e.g.
   ``MRN12345``, ``AB1234X``; not ``ISOVUE300``) are removed, and so are the ``^`` that
   separate the components of person names;
4. spaces are collapsed. The result is never longer than the input, so VR length limits hold.

Not caught (documented limits): names or IDs that appear nowhere else in the object and do not
look like IDs (e.g. a relative's name typed only in a comment), identities spelled differently
(initials, misspellings), identifying text in languages or scripts the patterns do not cover.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

from dicomsec.deid._rules import Option, rule_for

__all__ = ["SafePrivate", "clean_text", "identifying_values", "safe_private_blocks"]

_MONTHS = "jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec"
_DATE_PATTERNS = (
    re.compile(r"\b(?:18|19|20)\d{2}[-./]?(?:0?[1-9]|1[0-2])[-./]?(?:0?[1-9]|[12]\d|3[01])\b"),
    re.compile(r"\b\d{1,2}[-./]\d{1,2}[-./]\d{2,4}\b"),
    re.compile(rf"\b\d{{1,2}}[ -]?(?:{_MONTHS})[a-z]*\.?[ -]?\d{{2,4}}\b", re.IGNORECASE),
    re.compile(rf"\b(?:{_MONTHS})[a-z]*\.? \d{{1,2}},? \d{{4}}\b", re.IGNORECASE),
)
_ID_LIKE = re.compile(r"\b(?:\d{5,}|(?=[A-Za-z0-9-]*[A-Za-z])(?=(?:[A-Za-z-]*\d){4})"
                      r"[A-Za-z0-9][A-Za-z0-9-]*)\b")
_MIN_IDENTIFIER = 3
_IDENTIFYING_VRS = frozenset({"LO", "SH", "AE", "UC", "PN"})
_KEEP_ACTIONS = frozenset({"K", "C"})


def _strings(value: object) -> Iterator[str]:
    values = value if isinstance(value, (list, tuple, MultiValue)) else [value]
    for item in values:
        if item is not None and str(item).strip():
            yield str(item).strip()


def _name_parts(name: str) -> Iterator[str]:
    yield name.replace("^", " ").strip()
    for group in name.split("="):
        for part in group.split("^"):
            yield from part.split()


def _is_identifying(tag: int, vr: str) -> bool:
    if vr == "PN" or vr in ("DA", "DT"):
        return True
    if vr not in _IDENTIFYING_VRS:
        return False
    rule = rule_for(tag)
    if rule is None or "x" in rule.tag or rule.tag == "private":
        return False
    return (rule.basic not in _KEEP_ACTIONS
            and Option.CLEAN_DESCRIPTORS.cli_name not in rule.options)


def identifying_values(ds: Dataset) -> frozenset[str]:
    """The identifying values of a data set (step 1 of the method), lower case, at every
    nesting level; pieces shorter than three characters are left out."""
    found: set[str] = set()
    stack = [ds]
    while stack:
        current = stack.pop()
        for elem in current:
            if elem.VR == "SQ":
                stack.extend(elem.value)
                continue
            if not _is_identifying(int(elem.tag), elem.VR):
                continue
            for text in _strings(elem.value):
                pieces = _name_parts(text) if elem.VR == "PN" else (text,)
                found.update(p.lower() for p in pieces if len(p) >= _MIN_IDENTIFIER)
    return frozenset(found)


def clean_text(text: str, identifiers: Iterable[str]) -> str:
    """The text without identifying values, date-like and ID-like tokens (module docstring);
    may be empty."""
    out = text
    for ident in sorted(identifiers, key=len, reverse=True):
        if ident and ident.lower() in out.lower():
            out = re.sub(re.escape(ident), " ", out, flags=re.IGNORECASE)
    for pattern in _DATE_PATTERNS:
        out = pattern.sub(" ", out)
    out = _ID_LIKE.sub(" ", out).replace("^", " ")
    lines = [" ".join(line.split()) for line in out.splitlines()]
    return "\n".join(line for line in lines if line).strip()


@dataclass(frozen=True, slots=True)
class SafePrivate:
    """What an object declares about one private block (PS3.3 C.12.1.1.7): the element
    offsets (0x00-0xFF within the block) that are safe (``None``: the whole block), and the
    actions (D, Z, X, U) for identifying ones."""

    safe: frozenset[int] | None
    actions: dict[int, str]


def safe_private_blocks(ds: Dataset) -> dict[tuple[int, str], SafePrivate]:
    """(group, Private Creator) -> declaration, from the Private Data Element Characteristics
    Sequence (0008,0300) of the top-level data set: Block Identifying Information Status
    (0008,0303) SAFE keeps the block; MIXED keeps Nonidentifying Private Elements (0008,0304)
    and applies the Deidentification Action Sequence (0008,0305); UNSAFE or absent keeps
    nothing. No built-in list of "known safe" elements is used: only what the object says."""
    blocks: dict[tuple[int, str], SafePrivate] = {}
    for item in ds.get("PrivateDataElementCharacteristicsSequence") or []:
        group = item.get("PrivateGroupReference")
        creator = str(item.get("PrivateCreatorReference") or "").strip()
        status = str(item.get("BlockIdentifyingInformationStatus") or "").strip().upper()
        if group is None or not creator or status not in ("SAFE", "MIXED"):
            continue
        if status == "SAFE":
            blocks[(int(group), creator)] = SafePrivate(None, {})
            continue
        safe = frozenset(int(e) & 0xFF for e in _values(item.get("NonidentifyingPrivateElements")))
        actions: dict[int, str] = {}
        for action_item in item.get("DeidentificationActionSequence") or []:
            code = str(action_item.get("DeidentificationAction") or "").strip().upper()
            for element in _values(action_item.get("IdentifyingPrivateElements")):
                if code in ("D", "Z", "X", "U"):
                    actions[int(element) & 0xFF] = code
        blocks[(int(group), creator)] = SafePrivate(safe, actions)
    return blocks


def _values(value: object) -> list[int]:
    if value is None:
        return []
    if isinstance(value, (list, tuple, MultiValue)):
        return [int(v) for v in value]
    return [int(str(value))]
