"""Replacement values: dummies valid for each VR (action D), date shifting (Retain Longitudinal
Temporal Information Modified Dates), and the VR classes the engine decides by.

Dummies (decision, documented in docs/deid.md): names ``ANONYMOUS^`` (with the
delimiter: dciodvfy calls a name without one the retired form); text ``ANONYMIZED`` (10
characters: within SH, CS and AE limits); dates ``19000101``, times ``000000``, date-times
``19000101000000``; ages ``000Y``; numbers 0; URIs ``urn:oid:2.25``; binary two zero bytes.
UIDs are never dummied: a D on a UI maps the UID (:func:`._uids.new_uid`).

Dates are shifted by whole days; the time of day and any UTC offset are kept (so intervals
inside a day, e.g. PET decay or contrast timing, are exact). Partial dates (``YYYY``,
``YYYYMM``) are shifted as their first day and truncated back to their precision. A value that
is not a date is replaced by the dummy date.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from pydicom.multival import MultiValue

__all__ = [
    "DATE_VRS", "NAME_VRS", "NUMBER_DUMMIES", "TEXT_VRS", "dummy_for", "shift_date",
    "shift_datetime", "value_strings",
]

#: free text (cleaned or removed by VR when not in the table)
TEXT_VRS = frozenset({"LO", "SH", "ST", "LT", "UT", "UC"})
NAME_VRS = frozenset({"PN"})
DATE_VRS = frozenset({"DA", "DT", "TM"})

_TEXT_DUMMY = "ANONYMIZED"
_DUMMIES: dict[str, Any] = {
    "PN": "ANONYMOUS^", "LO": _TEXT_DUMMY, "SH": _TEXT_DUMMY, "ST": _TEXT_DUMMY,
    "LT": _TEXT_DUMMY, "UT": _TEXT_DUMMY, "UC": _TEXT_DUMMY, "CS": _TEXT_DUMMY,
    "AE": _TEXT_DUMMY, "DA": "19000101", "TM": "000000", "DT": "19000101000000",
    "AS": "000Y", "IS": "0", "DS": "0", "UR": "urn:oid:2.25",
}
NUMBER_DUMMIES: dict[str, Any] = {
    "US": 0, "SS": 0, "UL": 0, "SL": 0, "UV": 0, "SV": 0, "FL": 0.0, "FD": 0.0, "AT": 0,
}
_BINARY_DUMMY = b"\0\0"


def value_strings(value: Any) -> list[str]:
    """The values of an element as strings, one per value (empty values included)."""
    if value is None:
        return []
    if isinstance(value, (list, tuple, MultiValue)):
        return [str(v) for v in value]
    return [str(value)]


def dummy_for(vr: str) -> Any:
    """A non-empty value valid for the VR (see the module docstring); UI and SQ have none
    (the engine maps UIDs and walks sequences)."""
    if vr in _DUMMIES:
        return _DUMMIES[vr]
    if vr in NUMBER_DUMMIES:
        return NUMBER_DUMMIES[vr]
    return _BINARY_DUMMY


def _shift_day(text: str, days: int) -> str:
    """``YYYY[MM[DD]]`` shifted by whole days, same precision; ValueError if not a date."""
    digits = text.strip()
    if len(digits) not in (4, 6, 8) or not digits.isdigit():
        raise ValueError(text)
    year = int(digits[:4])
    month = int(digits[4:6]) if len(digits) >= 6 else 1
    day = int(digits[6:8]) if len(digits) == 8 else 1
    moved = dt.date(year, month, day) + dt.timedelta(days=days)
    return f"{moved.year:04d}{moved.month:02d}{moved.day:02d}"[:len(digits)]


def shift_date(value: str, days: int) -> str:
    """A DA value (a date or a range ``A-B``, either side may be open) shifted by ``days``."""
    try:
        return "-".join(_shift_day(part, days) if part.strip() else ""
                        for part in value.split("-"))
    except (ValueError, OverflowError):
        return str(_DUMMIES["DA"])


_TIME = r"\d{2}(?:\d{2}(?:\d{2}(?:\.\d{1,6})?)?)?"
#: YYYY[MM[DD[HH[MM[SS[.F]]]]]][&ZZXX]: a time only after a full date (PS3.5 6.2)
_DT = rf"(\d{{4}})(?:(\d{{2}})(?:(\d{{2}})({_TIME})?)?)?([+-]\d{{4}})?"
_DT_ONE = re.compile(_DT)
_DT_RANGE = re.compile(f"(?:{_DT})?-(?:{_DT})?")
_GROUPS = 5
_MAX_OFFSET_HOURS = 14


def _valid_offset(offset: str | None) -> bool:
    """A UTC offset &ZZXX within -12:00..+14:00 style bounds (|ZZ| <= 14, XX < 60)."""
    return offset is None or (int(offset[1:3]) <= _MAX_OFFSET_HOURS and int(offset[3:5]) < 60)


def _shift_dt_one(match: re.Match[str], first: int, days: int) -> str:
    year, month, day, time, offset = match.group(*range(first, first + _GROUPS))
    if year is None:
        return ""
    if not _valid_offset(offset):
        raise ValueError(offset)
    return (_shift_day(year + (month or "") + (day or ""), days) + (time or "")
            + (offset or ""))


def shift_datetime(value: str, days: int) -> str:
    """A DT value (``YYYY[MM[DD[HH[MM[SS[.F]]]]]][+/-ZZXX]`` or a range ``A-B``) shifted by
    ``days``: the date part moves, time of day and UTC offset are kept."""
    text = value.strip()
    one = _DT_ONE.fullmatch(text)
    pair = _DT_RANGE.fullmatch(text)
    try:  # "2020-2021" also matches as a year with offset -2021: invalid, so a range
        if one is not None and _valid_offset(one.group(_GROUPS)):
            return _shift_dt_one(one, 1, days)
        if pair is not None:
            return (_shift_dt_one(pair, 1, days) + "-"
                    + _shift_dt_one(pair, 1 + _GROUPS, days))
    except (ValueError, OverflowError):
        pass
    return str(_DUMMIES["DT"])
