"""Action C ("clean") for free text, and the private blocks an object declares safe.

Cleaning method (Clean Descriptors, Clean Structured Content, Clean Graphics, and the C rows of
Retain Patient Characteristics), as the conformance statement must say (PS3.15 E.1.3):

1. the *identifying values* of the object are collected from the ORIGINAL data set, at every
   nesting level: every person name (the whole name of each ``=`` group: alphabetic,
   ideographic, phonetic, and each of its name components of two or more characters), every
   date (DA, DT), every UID, and the value of every Table E.1-1 attribute whose Basic action
   is not K or C and whose VR is LO, SH, AE, UC or PN, unless Clean Descriptors names it
   (descriptors such as Study Description are what gets cleaned, not what is searched for):
   Patient ID, Other Patient IDs, Accession Number, Institution Name and Address, Station
   Name, Device Serial Number, addresses, telephone numbers, Study ID ...; such values are
   also taken apart at commas and semicolons (an address's street, town, country);
2. each identifying value is removed from the text wherever it occurs as whole words, ignoring
   case (``Art`` is not removed from ``Heart``); values in a script written without spaces
   (Han, Kana, Hangul) are removed wherever they occur; values other than name components
   need three or more characters;
3. UID-like tokens (four or more dot-separated numbers), date-like tokens (``2004-01-19``,
   ``20040119``, ``19/01/2004``, ``19.1.04``, ``19 Jan 2004``) and ID-like tokens (five or more
   digits, or four or more digits mixed with letters, e.g. ``MRN12345``, ``AB1234X``; not
   ``ISOVUE300``) are removed, and so are the ``^`` that separate the components of person
   names;
4. spaces are collapsed. The result is never longer than the input, so VR length limits hold.

Attributes kept outside the table because they name products and codes (the engine's
``SAFE_TEXT_TAGS``: code values and meanings, explanations, protocol element names) go through
step 2 only (:func:`remove_identifiers`): their codes and numbers are not ID-like tokens.

Not caught (documented limits): names or IDs that appear nowhere else in the object and do not
look like IDs (e.g. a relative's name typed only in a comment), identities spelled differently
(initials, misspellings), identifying text in languages or scripts the patterns do not cover.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset

from dicomsec.deid._replace import value_strings
from dicomsec.deid._rules import Option, rule_for

__all__ = ["SafePrivate", "clean_text", "identifying_values", "is_identifying", "raw_copyable",
           "raw_removable_private", "remove_identifiers",
           "safe_private_blocks"]

_MONTHS = "jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec"
_DATE_PATTERNS = (
    re.compile(r"\b(?:18|19|20)\d{2}[-./]?(?:0?[1-9]|1[0-2])[-./]?(?:0?[1-9]|[12]\d|3[01])\b"),
    re.compile(r"\b\d{1,2}[-./]\d{1,2}[-./]\d{2,4}\b"),
    re.compile(rf"\b\d{{1,2}}[ -]?(?:{_MONTHS})[a-z]*\.?[ -]?\d{{2,4}}\b", re.IGNORECASE),
    re.compile(rf"\b(?:{_MONTHS})[a-z]*\.? \d{{1,2}},? \d{{4}}\b", re.IGNORECASE),
)
_UID_LIKE = re.compile(r"(?<![\w.])\d+(?:\.\d+){3,}(?![\w])")
_ID_LIKE = re.compile(r"\b(?:\d{5,}|(?=[A-Za-z0-9-]*[A-Za-z])(?=(?:[A-Za-z-]*\d){4})"
                      r"[A-Za-z0-9][A-Za-z0-9-]*)\b")
_MIN_IDENTIFIER = 3
_MIN_NAME_PART = 2
_IDENTIFYING_VRS = frozenset({"LO", "SH", "AE", "UC", "PN"})
_KEEP_ACTIONS = frozenset({"K", "C"})
#: scripts written without spaces between words: their identifiers match anywhere
_UNSPACED = re.compile("[\u1100-\u11ff\u3040-\u30ff\u3130-\u318f\u3400-\u4dbf"
                       "\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\uff66-\uff9f]")
_DOTTED_NUMBER = re.compile(r"[\d.]+")
_PARTS = re.compile(r"[,;]")


def _strings(value: object) -> Iterator[str]:
    for item in value_strings(value):
        if item.strip():
            yield item.strip()


def _name_parts(name: str) -> Iterator[str]:
    """Each ``=`` group's whole name (with spaces, and without them in unspaced scripts), then
    its components (those of two or more characters: they are matched as whole words)."""
    for group in name.split("="):
        words = group.replace("^", " ").split()
        if not words:
            continue
        yield " ".join(words)
        if _UNSPACED.search(group):
            yield "".join(words)
        yield from (w for w in words if len(w) >= _MIN_NAME_PART)


def _value_parts(text: str) -> Iterator[str]:
    yield text
    parts = [p.strip() for p in _PARTS.split(text)]
    if len(parts) > 1:
        yield from parts


def is_identifying(tag: int, vr: str) -> bool:
    """Whether an element with ``tag`` and ``vr`` holds an identifying value of the object
    (step 1 of the cleaning method: names, dates, UIDs, and the IDs and descriptions the table
    removes): such an element is always decoded, so its value joins the identifiers."""
    if vr in ("PN", "DA", "DT", "UI"):
        return True
    if vr not in _IDENTIFYING_VRS:
        return False
    rule = rule_for(tag)
    if rule is None or "x" in rule.tag or rule.tag == "private":
        return False
    return (rule.basic not in _KEEP_ACTIONS
            and Option.CLEAN_DESCRIPTORS.cli_name not in rule.options)


def _pieces(vr: str, text: str) -> Iterator[str]:
    if vr == "PN":
        yield from _name_parts(text)
    else:
        yield from (p for p in _value_parts(text) if len(p) >= _MIN_IDENTIFIER)


def raw_copyable(elem: object) -> bool:
    """Whether ``elem`` is an undecoded element whose bytes can be copied as they were read
    into an Explicit VR Little Endian data set: read as Explicit VR Little Endian, with a
    defined length, not deferred, and not a sequence or UN (whose content may need
    decoding)."""
    return bool(isinstance(elem, RawDataElement) and not elem.is_implicit_VR
                and elem.is_little_endian and elem.VR and elem.VR not in ("SQ", "UN")
                and elem.length != 0xFFFFFFFF and (elem.value is not None or elem.length == 0))


def raw_removable_private(elem: object) -> bool:
    """Whether ``elem`` is a still undecoded private data element (not a Private Creator) read
    as Explicit VR Little Endian with a defined length, whose value is not one of the
    object's identifiers (:func:`is_identifying`: not PN, DA, DT or UI) and cannot nest (raw
    copyable: not SQ or UN): without Retain Safe Private such an element is removed whatever
    its value, so it is never decoded; its original bytes go to the Modified Attributes
    Sequence as they are (speed: most of a scanner's file is private)."""
    if not raw_copyable(elem):
        return False
    assert isinstance(elem, RawDataElement)
    tag = int(elem.tag)
    return bool(tag >> 16 & 1 and (tag & 0xFFFF) > 0xFF
                and not is_identifying(tag, str(elem.VR)))


def identifying_values(ds: Dataset, *,
                       top: Iterable[DataElement | RawDataElement] | None = None
                       ) -> frozenset[str]:
    """The identifying values of a data set (step 1 of the method), lower case, at every
    nesting level. Elements left undecoded (:func:`raw_removable_private`) have no
    identifying VR and are skipped without decoding. ``top``: the top-level elements of
    ``ds`` when the caller already listed them (decoded, or undecoded and removable)."""
    found: set[str] = set()
    stack: list[Dataset] = []
    if top is None:
        stack.append(ds)
    else:
        _identifying_in(top, found, stack)
    while stack:
        current = stack.pop()
        elems: list[DataElement | RawDataElement] = []
        for tag in list(current.keys()):
            elem = current.get_item(tag)
            if isinstance(elem, RawDataElement) and not raw_removable_private(elem):
                elem = current[tag]
            elems.append(elem)
        _identifying_in(elems, found, stack)
    return frozenset(found)


def _identifying_in(elems: Iterable[DataElement | RawDataElement], found: set[str],
                    stack: list[Dataset]) -> None:
    """Adds the identifying values of the decoded ``elems`` to ``found``, their sequences'
    items to ``stack``; undecoded elements (removable private ones) are skipped."""
    for elem in elems:
        if isinstance(elem, RawDataElement):
            continue
        if elem.VR == "SQ":
            stack.extend(elem.value)
            continue
        if not is_identifying(int(elem.tag), elem.VR):
            continue
        for text in _strings(elem.value):
            found.update(p.lower() for p in _pieces(elem.VR, text))


@functools.lru_cache(maxsize=4096)
def _identifier_pattern(ident: str) -> re.Pattern[str]:
    """Whole words (a boundary where the identifier starts or ends with a word character);
    anywhere for unspaced scripts; a UID or number not inside a longer dotted number."""
    body = re.escape(ident)
    if _UNSPACED.search(ident):
        return re.compile(body, re.IGNORECASE)
    if _DOTTED_NUMBER.fullmatch(ident):
        return re.compile(rf"(?<![\d.]){body}(?!\.?\d)")
    before = r"(?<!\w)" if re.match(r"\w", ident) else ""
    after = r"(?!\w)" if re.search(r"\w$", ident) else ""
    return re.compile(before + body + after, re.IGNORECASE)


def remove_identifiers(text: str, identifiers: Iterable[str]) -> str:
    """Step 2 and 4 of the method only: the text without the identifying values."""
    out = text
    lowered = text.lower()
    for ident in sorted(identifiers, key=lambda i: (-len(i), i)):
        if ident and ident in lowered:
            out = _identifier_pattern(ident).sub(" ", out)
            lowered = out.lower()
    return _collapse(out) if out != text else text


def _collapse(text: str) -> str:
    lines = [" ".join(line.split()) for line in text.splitlines()]
    return "\n".join(line for line in lines if line).strip()


def clean_text(text: str, identifiers: Iterable[str]) -> str:
    """The text without identifying values, UID-, date- and ID-like tokens (module
    docstring); may be empty."""
    out = remove_identifiers(text, identifiers)
    out = _UID_LIKE.sub(" ", out)
    for pattern in _DATE_PATTERNS:
        out = pattern.sub(" ", out)
    return _collapse(_ID_LIKE.sub(" ", out).replace("^", " "))


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
        try:
            declared = _declaration(item)
        except (TypeError, ValueError, OverflowError):
            continue  # a malformed declaration declares nothing: the block is removed
        if declared is not None:
            blocks[declared[0]] = declared[1]
    return blocks


def _declaration(item: Dataset) -> tuple[tuple[int, str], SafePrivate] | None:
    group = item.get("PrivateGroupReference")
    creator = str(item.get("PrivateCreatorReference") or "").strip()
    status = str(item.get("BlockIdentifyingInformationStatus") or "").strip().upper()
    if group is None or not creator or status not in ("SAFE", "MIXED"):
        return None
    key = (_number(group), creator)
    if status == "SAFE":
        return key, SafePrivate(None, {})
    safe = frozenset(v & 0xFF for v in _numbers(item.get("NonidentifyingPrivateElements")))
    actions: dict[int, str] = {}
    for action_item in item.get("DeidentificationActionSequence") or []:
        code = str(action_item.get("DeidentificationAction") or "").strip().upper()
        for element in _numbers(action_item.get("IdentifyingPrivateElements")):
            if code in ("D", "Z", "X", "U"):
                actions[element & 0xFF] = code
    return key, SafePrivate(safe, actions)


def _number(value: object) -> int:
    """An integer value (US) or its decimal text; ValueError / TypeError otherwise."""
    if isinstance(value, int):
        return value
    return int(str(value).strip())


def _numbers(value: object) -> list[int]:
    if isinstance(value, int):
        return [value]
    return [_number(v) for v in value_strings(value)]
