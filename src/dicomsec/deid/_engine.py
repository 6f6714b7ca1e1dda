"""The de-identification engine: a new data set from an existing one, per PS3.15 Annex E.

:func:`deidentify_dataset` applies Table E.1-1 (:mod:`._rules`) with the claimed options to a
copy of the data set, at every nesting level, and returns the result with the original values
of every top-level attribute it removed or changed (the content of the Encrypted Attributes
Sequence, PS3.3 C.12.1.1.4.1).

What it does, per element (decisions are documented in docs/deid.md):

- Table rows: the action of the Basic profile or of a claimed option (K over C over the Basic
  action); combined codes are decided by the attribute's type in the IOD at that nesting
  (:func:`._types.decide`). Decision: a plain X or Z never breaks the IOD either: an X on an
  attribute that is Type 2 at that place is emptied and on a Type 1 one dummied, a Z on a
  Type 1 one dummied (E.1.1: the result must remain a valid instance; an empty value or a
  dummy carries no identity). X removes; Z empties (an empty sequence for SQ); D puts a dummy valid
  for the VR (:mod:`._replace`); U and D on a UID map it (:func:`._uids.new_uid`); K keeps;
  C cleans (text: :func:`._clean.clean_text`; dates: shifted with Retain Longitudinal Modified
  Dates, times kept; AE titles: keyed pseudonyms; names: dummy). A sequence whose action keeps
  it (K, D, C, U*) is walked: the rules apply inside every item; under C its free text is
  cleaned rather than dummied or removed.
- Patient ID (and Other Patient IDs) are never emptied: a Z or D gives the keyed pseudonym
  (:func:`._uids.new_patient_id`), consistent across files and runs with one secret.
- Attributes NOT in the table, by VR: sequences walked; UIDs mapped unless well-known or naming a
  class / scheme / transfer syntax (:data:`STRUCTURAL_UID_TAGS`) or Retain UIDs is claimed;
  DA/DT/TM follow the longitudinal options (kept, shifted, or else removed); PN, AE, UN, URLs
  (UR: retrieve, storage and contact URLs embed IDs and UIDs; except Coding Scheme URL and URN
  Code Value) and free text (LO SH ST LT UT UC) are removed, except :data:`SAFE_TEXT_TAGS`,
  which only lose the object's identifying values (:func:`._clean.remove_identifiers`).
  "Removed" means the combined code X/Z/D decided by the attribute's type, so a Type 1
  attribute gets a dummy and a Type 2 one an empty value. Other VRs (numbers, CS, AT, binary)
  are kept.
- Private elements are removed unless Retain Safe Private is claimed and the object declares
  the block safe (:func:`._clean.safe_private_blocks`; a malformed declaration declares
  nothing). In a kept block, UIDs are still mapped, dates and times follow the longitudinal
  options and names are removed, as outside the table (a declaration cannot vouch for the
  values of this patient); the Private Data Element Characteristics Sequence itself is walked
  with the rules. A Private Creator element stays only while its block has an element left.
- Overlays (60xx) and curves (50xx): without Clean Graphics the whole group is removed (overlay
  data alone would leave a broken overlay module); with it the data is kept and its text
  (Overlay Comments, Description, Label, Curve Description ...) cleaned.
- Common Instance Reference (Referenced Series Sequence, Studies Containing Other Referenced
  Instances Sequence) goes when the table emptied every reference it lists (it is required
  only while the instance references others).
- Always removed, at every level: Digital Signatures Sequence (FFFA,FFFA) (their Digital
  Signature UIDs are reported), MAC Parameters Sequence (4FFE,0001), Original Attributes
  Sequence (0400,0561), Modified Attributes Sequence (0400,0550) in the clear, Encrypted
  Attributes Sequence (0400,0500), Data Set Trailing Padding (FFFC,FFFC), group lengths.
- Marks: (0012,0062) YES, (0012,0063), (0012,0064) with 113100 and every claimed option except
  the two pixel options (claimed by the file layer after the pixels were cleaned), (0028,0303).
  A mark the input did not have is listed in the originals with zero length (PS3.3
  C.12.1.1.4.1), so re-identification removes it. File Meta Information rebuilt, preamble
  zeroed.
- Hostile structure: before anything is copied or walked, one pass without recursion enforces
  the ``depth`` (at most :data:`MAX_DEPTH`), ``items`` and ``elements`` limits
  (:mod:`dicomsec.limits`); an empty SOP Class or SOP Instance UID is invalid input.

Not done here: pixel data (:mod:`._pixels`), the Encrypted Attributes Sequence
(:mod:`._envelope`), reading and writing files (:mod:`._file`).
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from pydicom.datadict import dictionary_VR, keyword_for_tag
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence
from pydicom.tag import BaseTag
from pydicom.uid import UID, ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pydicom.valuerep import VR

from dicomsec import __version__, limits
from dicomsec.deid import _uids
from dicomsec.deid._clean import (
    SafePrivate,
    clean_text,
    identifying_values,
    is_identifying,
    raw_copyable,
    raw_removable_private,
    remove_identifiers,
    safe_private_blocks,
)
from dicomsec.deid._replace import (
    DATE_VRS,
    NAME_VRS,
    TEXT_VRS,
    dummy_for,
    shift_date,
    shift_datetime,
    value_strings,
)
from dicomsec.deid._rules import BASIC_CODE, CODING_SCHEME, Option, check_options, edition, rule_for
from dicomsec.deid._types import attribute_type, decide
from dicomsec.errors import InvalidInput

__all__ = [
    "IMPLEMENTATION_CLASS_UID", "IMPLEMENTATION_VERSION_NAME", "MAX_DEPTH", "SAFE_TEXT_TAGS",
    "STRUCTURAL_UID_TAGS", "EngineResult", "Settings", "check_structure", "deidentify_dataset",
    "method_codes",
]

#: dicomsec's Implementation Class UID (a fixed UUID-derived ``2.25`` UID)
IMPLEMENTATION_CLASS_UID = "2.25.314061156434738660193531050668831459070"
IMPLEMENTATION_VERSION_NAME = f"DICOMSEC_{__version__}"[:16]

#: free-text attributes outside the table that are kept: they name products, techniques and
#: codes, not people, places or times (Manufacturer, model, software, code triplets, kernel,
#: sequence and coil names, LUT / window explanations, private creator references)
SAFE_TEXT_TAGS = frozenset({
    0x00080070, 0x00081090, 0x00181020,                          # manufacturer, model, software
    0x00080100, 0x00080102, 0x00080103, 0x00080104, 0x00080119,  # code value, scheme, meaning
    0x00080122, 0x00080302,                                      # mapping resource, creator ref
    0x00181210, 0x00180024, 0x00180085, 0x00181250, 0x00181251, 0x00181160,  # acquisition
    0x00281054, 0x00281055, 0x00283003,                          # rescale type, explanations
})
#: UI attributes outside the table whose values name a class, scheme, template or transfer
#: syntax, never an instance: kept even when the UID is not in pydicom's dictionary (private
#: SOP classes, coding schemes)
STRUCTURAL_UID_TAGS = frozenset({
    0x00000002, 0x00000003, 0x00020002, 0x00020010, 0x00041510, 0x00041512, 0x00080016,
    0x0008001A, 0x0008001B, 0x0008010C, 0x0008010D, 0x00080117, 0x00080118, 0x00081150,
    0x04000010, 0x04000510, 0x0040DB0D,
})
#: the deepest sequence nesting the engine walks whatever the depth limit says (the walk, and
#: pydicom's writer, recurse a few frames per level; Python's stack allows about 1000)
MAX_DEPTH = 128
_SIGNATURES = 0xFFFAFFFA
_ALWAYS_REMOVE = frozenset({_SIGNATURES, 0x4FFE0001, 0x04000561, 0x04000550, 0x04000500,
                            0xFFFCFFFC})
_MARK_TAGS = frozenset({0x00120062, 0x00120063, 0x00120064, 0x00280303})
_PIXEL_OPTIONS = frozenset({Option.CLEAN_PIXEL_DATA, Option.CLEAN_RECOGNIZABLE_VISUAL_FEATURES})
_PATIENT_ID_TAGS = frozenset({0x00100020, 0x00101000})
_PRIVATE_CHARACTERISTICS = 0x00080300
_NOT_ORIGINALS = frozenset({0x7FE00010, 0xFFFCFFFC})
#: UR attributes outside the table that name a coding scheme or a code, never an instance
_SAFE_URL_TAGS = frozenset({0x0008010E, 0x00080120})
_KEEP = "="  # not in the table, kept without a record
#: the VRs of PS3.5 (pydicom's); any other VR is never kept unread
_KNOWN_VRS = frozenset(str(v) for v in VR)
_SAFE_TEXT = "T"  # not in the table, kept without the object's identifying values


@dataclass(frozen=True, slots=True)
class Settings:
    """What to do: the options claimed and the secret keying UIDs, Patient IDs and offsets."""

    options: frozenset[Option] = frozenset()
    #: HMAC key (at least 16 bytes); b"" is refused (the caller supplies a random one per run)
    secret: bytes = b""


@dataclass(frozen=True, slots=True)
class EngineResult:
    """The de-identified data set and the record of what was done (see the module docstring)."""

    dataset: Dataset
    originals: Dataset
    removed: tuple[str, ...]
    replaced: tuple[str, ...]
    kept: tuple[str, ...]
    uid_map: Mapping[str, str]
    patient_id_map: Mapping[str, str]
    date_offset_days: int | None
    signatures_removed: tuple[str, ...]
    warnings: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Where:
    """Where an element is: enclosing sequence tags, its path prefix, the top-level tag it
    belongs to (None at top level) and whether free text is cleaned (inside a C sequence)."""

    parents: tuple[int, ...] = ()
    prefix: str = ""
    top: int | None = None
    clean: bool = False

    def path(self, elem: DataElement | RawDataElement) -> str:
        tag = int(elem.tag)
        text = f"{self.prefix}({tag >> 16:04X},{tag & 0xFFFF:04X})"
        keyword = _keyword(tag) if isinstance(elem, RawDataElement) else elem.keyword
        return f"{text} {keyword}" if keyword else text

    def inside(self, elem: DataElement, index: int, clean: bool) -> _Where:
        tag = int(elem.tag)
        prefix = f"{self.prefix}({tag >> 16:04X},{tag & 0xFFFF:04X})[{index}]."
        return _Where((*self.parents, tag), prefix, tag if self.top is None else self.top,
                      clean)


@functools.lru_cache(maxsize=4096)
def _keyword(tag: int) -> str:
    """The dictionary keyword of a tag ("" for private and unknown tags)."""
    return "" if tag >> 16 & 1 else keyword_for_tag(tag)


def _copy_any(elem: DataElement | RawDataElement) -> DataElement | RawDataElement:
    """:func:`_copy_element`; an undecoded element (immutable) is shared."""
    return elem if isinstance(elem, RawDataElement) else _copy_element(elem)


def _copy_element(elem: DataElement) -> DataElement:
    """An independent copy of an element: sequences (without recursion) and multi-values
    copied, other values (str, int, float, bytes: immutable) shared (a whole-data-set deepcopy
    would copy the pixel data too, costs most of the engine's time, and recurses)."""
    value = elem.value
    if elem.VR == "SQ":
        value = _copy_sequence(value)
    elif isinstance(value, (MultiValue, list)):
        value = _copy_values(value)
    return DataElement(elem.tag, elem.VR, value, is_undefined_length=elem.is_undefined_length,
                       already_converted=True)


def _copy_values(value: MultiValue[Any] | list[Any]) -> MultiValue[Any] | list[Any]:
    """An independent container of the same (immutable: str, numbers, PersonName) values:
    the engine replaces values, never changes one in place. A MultiValue is copied with its
    list (a deepcopy of its DSfloat / IS items cost ~80 µs an element); anything else deeply."""
    if isinstance(value, MultiValue) and isinstance(getattr(value, "_list", None), list):
        new = copy.copy(value)
        new._list = list(value._list)
        return new
    return copy.deepcopy(value)


def _copy_sequence(sequence: Sequence) -> Sequence:
    """A copy of a sequence and everything nested in it, walked with an explicit stack."""
    top = Sequence()
    stack: list[tuple[Sequence, Sequence]] = [(sequence, top)]
    while stack:
        source, target = stack.pop()
        for item in source:
            new_item = Dataset()
            new_item.is_undefined_length_sequence_item = item.is_undefined_length_sequence_item
            for elem in item:
                value = elem.value
                if elem.VR == "SQ":
                    value = Sequence()
                    stack.append((elem.value, value))
                elif isinstance(value, (MultiValue, list)):
                    value = _copy_values(value)
                new_item.add(DataElement(elem.tag, elem.VR, value, already_converted=True,
                                         is_undefined_length=elem.is_undefined_length))
            target.append(new_item)
    return top


def _decoded(ds: Dataset, lazy: bool, *, top: bool = False,
             as_read: dict[int, RawDataElement] | None = None
             ) -> list[DataElement | RawDataElement]:
    """The elements of ``ds`` in tag order, decoded, except (``lazy``) the private elements
    that :func:`._clean.raw_removable_private` lets stay undecoded and (``top``) the standard
    elements :func:`_decided_undecoded` lets the walk decide on as read. ``as_read``: gets
    the elements still undecoded that :func:`._clean.raw_copyable` allows to copy, as they
    were before this call decoded any."""
    elems: list[DataElement | RawDataElement] = []
    for tag, elem in list(ds._dict.items()):  # get_item's checks cost more than the walk
        if isinstance(elem, RawDataElement):
            if as_read is not None and raw_copyable(elem):
                as_read[int(tag)] = elem
            if not ((lazy and raw_removable_private(elem))
                    or (top and _decided_undecoded(elem))):
                elem = ds[tag]
        elems.append(elem)
    return elems


def _decided_undecoded(elem: RawDataElement) -> bool:
    """Whether a top-level standard element can stay undecoded until the walk needs its value
    (speed: most of a file is kept or removed whatever its value): its bytes can be copied as
    read (:func:`._clean.raw_copyable`: Explicit VR Little Endian, defined length, not SQ/UN),
    and it is neither a mark (compared with its new value), nor a private element (decided
    by its block), nor identifying (its value joins the object's identifiers). The walk
    decodes it when its action needs the value (D, Z, C, U); an X removes it and a K keeps it
    as read. Decision: a damaged value that the action never reads is not judged (it is
    removed into the encrypted originals, or kept, as the input had it)."""
    if not raw_copyable(elem) or elem.VR not in _KNOWN_VRS:
        return False  # an unknown VR is decoded: pydicom refuses it (exit 2), as before
    tag = int(elem.tag)
    group = tag >> 16
    return not (group & 1 or group in (0x0000, 0x0002) or (tag & 0xFFFF) == 0
                or tag in _MARK_TAGS or tag in _ALWAYS_REMOVE
                or tag == _PRIVATE_CHARACTERISTICS or is_identifying(tag, str(elem.VR)))


def _joined(values: list[str]) -> Any:
    return values[0] if len(values) == 1 else values


@dataclass
class _Walker:
    """One run of the engine over one data set (mutable state; not shared)."""

    original: Dataset
    options: frozenset[Option]
    secret: bytes
    sop_class: str | None
    offset: int | None
    safe: dict[tuple[int, str], SafePrivate]
    uid_map: dict[str, str] = field(default_factory=dict)
    pid_map: dict[str, str] = field(default_factory=dict)
    removed: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    signatures: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    changed_top: set[int] = field(default_factory=set)
    #: top-level elements absent from the input that the engine added (listed empty)
    added_top: set[int] = field(default_factory=set)
    #: the original top-level elements by tag (read once)
    top_elements: dict[int, DataElement | RawDataElement] = field(default_factory=dict)
    _identifiers: frozenset[str] | None = None
    #: the top-level elements as read, before decoding (bytes copied into the originals)
    as_read: Mapping[int, RawDataElement] = field(default_factory=dict)
    #: leave the top-level private elements that are removed whatever their value undecoded
    #: (:func:`._clean.raw_removable_private`; not with Retain Safe Private)
    lazy: bool = False

    # -- records -----------------------------------------------------------------------------

    def _note(self, kind: list[str], elem: DataElement, where: _Where) -> None:
        kind.append(where.path(elem))
        self.changed_top.add(int(elem.tag) if where.top is None else where.top)

    @property
    def identifiers(self) -> frozenset[str]:
        if self._identifiers is None:
            listed = self.top_elements.values() if self.top_elements else None
            self._identifiers = identifying_values(self.original, top=listed)
        return self._identifiers

    # -- walking -----------------------------------------------------------------------------

    def walk(self, ds: Dataset, where: _Where) -> None:
        for elem in _decoded(ds, self.lazy and where.top is None):
            if isinstance(elem, RawDataElement):  # an undecoded private element: it goes
                del ds[elem.tag]
                self._note_raw(elem, where)
            else:
                self._element(ds, elem, where)
        self._drop_orphan_creators(ds, where)

    def walk_top(self, out: Dataset, copies: list[DataElement | RawDataElement]) -> None:
        """:meth:`walk` of the top level: ``copies`` are the elements of ``out`` in tag order,
        the undecoded standard elements (:func:`_decided_undecoded`, in ``out`` as read),
        and the undecoded private elements (removed whatever their value), which were never
        put in ``out`` (no copy, no deletion)."""
        where = _Where()
        for elem in copies:
            if not isinstance(elem, RawDataElement):
                self._element(out, elem, where)
            elif int(elem.tag) >> 16 & 1:
                self._note_raw(elem, where)
            else:
                self._undecoded(out, elem, where)
        self._drop_orphan_creators(out, where)

    def _undecoded(self, out: Dataset, elem: RawDataElement, where: _Where) -> None:
        """An element left undecoded: removed (X) or kept (K) as read, else decoded (in
        ``out``, whose copy it is: the original stays as read) and walked."""
        tag = int(elem.tag)
        code = self._action(tag, str(elem.VR), where)
        if code == "X":
            del out[tag]
            self._note_raw(elem, where)
        elif code == "K":
            self.kept.append(where.path(elem))
        elif code != _KEEP:
            self._apply(out, out[tag], code, where)

    def _note_raw(self, elem: RawDataElement, where: _Where) -> None:
        self.removed.append(where.path(elem))
        self.changed_top.add(int(elem.tag))

    def _element(self, ds: Dataset, elem: DataElement, where: _Where) -> None:
        tag = int(elem.tag)
        group = tag >> 16
        if where.top is None and tag in _MARK_TAGS:
            return  # set (and compared with the original) by _mark
        if (tag & 0xFFFF) == 0 or group in (0x0000, 0x0002):
            del ds[tag]  # group lengths, command or meta elements in the data set
            if (tag & 0xFFFF) != 0:
                self._note(self.removed, elem, where)
            return
        if tag in _ALWAYS_REMOVE:
            self._remove(ds, elem, where)
            return
        if group & 1:
            self._private(ds, elem, where)
            return
        if tag == _PRIVATE_CHARACTERISTICS and Option.RETAIN_SAFE_PRIVATE not in self.options:
            self._remove(ds, elem, where)
            return
        self._apply(ds, elem, self._action(tag, elem.VR, where), where)

    def _action(self, tag: int, vr: str, where: _Where) -> str:
        rule = rule_for(tag)
        if rule is None:
            return self._by_vr(tag, vr, where)
        code = rule.action(self.options)
        if "/" in code or (code in ("X", "Z") and "x" not in rule.tag
                           and rule.tag != "private"):
            type_ = attribute_type(self.sop_class, tag, where.parents)
            code = decide(code, type_) if "/" in code else code
            # the IOD requires it here: a Type 1 is dummied, a Type 2 emptied, never left out
            if code == "X":
                code = decide("X/Z/D", type_)
            elif code == "Z":
                code = decide("Z/D", type_)
        if where.clean and code == "D" and vr in TEXT_VRS:
            return "C"
        return code

    def _by_vr(self, tag: int, vr: str, where: _Where) -> str:
        group = tag >> 16
        if 0x6000 <= group <= 0x601E:  # overlay elements follow their Overlay Data's row
            code = self._action((group << 16) | 0x3000, "OW", where)
            return "X" if code == "X" else "C"
        if vr == "SQ":
            return _KEEP
        if vr == "UI":
            if (Option.RETAIN_UIDS in self.options or tag in STRUCTURAL_UID_TAGS):
                return _KEEP
            return "U"
        if vr in DATE_VRS:
            if Option.RETAIN_LONGITUDINAL_FULL_DATES in self.options:
                return _KEEP
            if self.offset is not None:
                return "C"
        elif vr in TEXT_VRS:
            if tag in SAFE_TEXT_TAGS:
                return _SAFE_TEXT
            if where.clean:
                return "C"
        elif vr == "UR":  # retrieve / storage / contact URLs embed IDs and original UIDs
            if tag in _SAFE_URL_TAGS:
                return _KEEP
        elif vr not in NAME_VRS and vr not in ("UN", "AE") and vr in _KNOWN_VRS:
            return _KEEP  # fail closed: a VR not in the standard is never kept
        return decide("X/Z/D", attribute_type(self.sop_class, tag, where.parents))

    # -- actions -----------------------------------------------------------------------------

    def _apply(self, ds: Dataset, elem: DataElement, code: str, where: _Where) -> None:
        if code == "X":
            self._remove(ds, elem, where)
        elif elem.VR == "SQ":
            self._sequence(elem, code, where)
        elif code == "K":
            self.kept.append(where.path(elem))
        elif code == _KEEP:
            return
        elif code == _SAFE_TEXT:
            self._clean_text(ds, elem, value_strings(elem.value), where, identifiers_only=True)
        elif code == "Z":
            self._empty(ds, elem, where)
        elif code == "C":
            self._clean(ds, elem, where)
        else:  # D, U, U*
            self._dummy(ds, elem, where)

    def _remove(self, ds: Dataset, elem: DataElement, where: _Where) -> None:
        self._collect_signatures(elem)
        del ds[elem.tag]
        self._note(self.removed, elem, where)

    def _collect_signatures(self, elem: DataElement) -> None:
        if elem.VR != "SQ":
            return
        for item in elem.value:
            if int(elem.tag) == _SIGNATURES:
                uid = str(item.get("DigitalSignatureUID") or "").strip()
                self.signatures.append(uid or f"MAC ID {item.get('MACIDNumber')}")
            for inner in item:
                self._collect_signatures(inner)

    def _sequence(self, elem: DataElement, code: str, where: _Where) -> None:
        if code == "Z":
            if elem.value:
                elem.value = Sequence()
                self._note(self.replaced, elem, where)
            return
        if code == "K":
            self.kept.append(where.path(elem))
        clean = where.clean or code == "C"
        for index, item in enumerate(elem.value):
            self.walk(item, where.inside(elem, index, clean))

    def _set(self, elem: DataElement, value: Any, where: _Where) -> None:
        if value_strings(elem.value) != value_strings(value):
            elem.value = value
            self._note(self.replaced, elem, where)

    def _empty(self, ds: Dataset, elem: DataElement, where: _Where) -> None:
        if int(elem.tag) in _PATIENT_ID_TAGS:
            self._patient_id(ds, elem, where)
        elif not elem.is_empty:
            elem.value = None
            self._note(self.replaced, elem, where)

    def _dummy(self, ds: Dataset, elem: DataElement, where: _Where) -> None:
        vr = elem.VR
        if int(elem.tag) in _PATIENT_ID_TAGS:
            self._patient_id(ds, elem, where)
        elif vr == "UI":  # an empty UID stays empty: it identifies nothing
            uids = [self.map_uid(u) for u in value_strings(elem.value)]
            if uids:
                self._set(elem, _joined(uids), where)
        else:
            self._set(elem, dummy_for(vr), where)

    def _patient_id(self, ds: Dataset, elem: DataElement, where: _Where) -> None:
        issuer = str(ds.get("IssuerOfPatientID") or "")
        values = [_uids.new_patient_id(v, issuer, self.secret) for v in value_strings(elem.value)]
        for old, new in zip(value_strings(elem.value), values, strict=True):
            if new:
                self.pid_map[old.strip()] = new
        self._set(elem, _joined(values) if values else None, where)

    def map_uid(self, uid: str) -> str:
        new = _uids.new_uid(uid, self.secret)
        old = uid.strip(" \0")
        if new != old:
            self.uid_map[old] = new
        return new

    def _clean(self, ds: Dataset, elem: DataElement, where: _Where) -> None:
        vr, values = elem.VR, value_strings(elem.value)
        group = int(elem.tag) >> 16
        if vr == "DA" or vr == "DT":
            shift = shift_date if vr == "DA" else shift_datetime
            new = [shift(v, self.offset) if self.offset is not None else str(dummy_for(vr))
                   for v in values]
            self._set(elem, _joined(new) if new else None, where)
        elif vr == "PN":
            self._set(elem, dummy_for(vr), where)
        elif vr == "AE":
            self._set(elem, _joined([_uids.new_ae_title(v, self.secret) for v in values]),
                      where)
        elif vr == "UI":
            self._dummy(ds, elem, where)
        elif vr in TEXT_VRS:
            self._clean_text(ds, elem, values, where)
        elif vr in ("OB", "OW", "UN") and not (0x5000 <= group <= 0x601E):
            fallback = decide("X/Z/D", attribute_type(self.sop_class, int(elem.tag),
                                                      where.parents))
            self._apply(ds, elem, fallback, where)
        # else: times of day, numbers, codes, curve and overlay data are kept

    def _clean_text(self, ds: Dataset, elem: DataElement, values: list[str],
                    where: _Where, *, identifiers_only: bool = False) -> None:
        cleaner = remove_identifiers if identifiers_only else clean_text
        cleaned = [cleaner(v, self.identifiers) for v in values]
        if identifiers_only and cleaned == values:
            return
        if any(cleaned):
            self._set(elem, _joined(cleaned), where)
            return
        fallback = decide("X/Z/D", attribute_type(self.sop_class, int(elem.tag), where.parents))
        if fallback == "D":
            self._set(elem, dummy_for(elem.VR), where)
        else:
            self._apply(ds, elem, fallback, where)

    # -- private elements --------------------------------------------------------------------

    def _private(self, ds: Dataset, elem: DataElement, where: _Where) -> None:
        tag = int(elem.tag)
        group, element = tag >> 16, tag & 0xFFFF
        if 0x0010 <= element <= 0x00FF:
            return  # a Private Creator: kept while its block has elements (_drop_orphan_creators)
        creator_elem = ds.get((group << 16) | (element >> 8)) if element > 0xFF else None
        creator = str(creator_elem.value).strip() if creator_elem is not None else ""
        declared = self.safe.get((group, creator))
        offset = element & 0xFF
        if declared is not None and (declared.safe is None or offset in declared.safe):
            self._safe_private(ds, elem, where)
        elif declared is not None and declared.actions.get(offset, "X") != "X":
            code = declared.actions[offset]
            self._apply(ds, elem, "D" if code == "U" else code, where)
        else:
            self._remove(ds, elem, where)

    def _safe_private(self, ds: Dataset, elem: DataElement, where: _Where) -> None:
        """An element of a block declared safe: kept, except what the declaration cannot
        vouch for across the object: UIDs are mapped (unless Retain UIDs), dates and times
        follow the longitudinal options, names go (all as outside the table)."""
        vr = elem.VR
        if vr == "SQ":
            self.kept.append(where.path(elem))
            for index, item in enumerate(elem.value):
                self.walk(item, where.inside(elem, index, where.clean))
        elif vr == "UI" or vr in DATE_VRS or vr in NAME_VRS:
            self._apply(ds, elem, self._by_vr(int(elem.tag), vr, where), where)
        else:
            self.kept.append(where.path(elem))

    def _drop_orphan_creators(self, ds: Dataset, where: _Where) -> None:
        blocks = {(int(t) >> 16, (int(t) & 0xFFFF) >> 8) for t in ds.keys()
                  if t.is_private and (int(t) & 0xFFFF) > 0xFF}
        for tag in [t for t in ds.keys() if t.is_private and 0x10 <= (int(t) & 0xFFFF) <= 0xFF]:
            if (int(tag) >> 16, int(tag) & 0xFF) not in blocks:
                self._remove(ds, ds[tag], where)


def method_codes(options: frozenset[Option]) -> Sequence:
    """De-identification Method Code Sequence (0012,0064) items: 113100 and the CID 7050 code
    of every option given, in code order."""
    items = Sequence()
    for value, meaning in [BASIC_CODE, *sorted((o.code, o.meaning) for o in options)]:
        item = Dataset()
        item.CodeValue = value
        item.CodingSchemeDesignator = CODING_SCHEME
        item.CodeMeaning = meaning
        items.append(item)
    return items


def _transfer_syntax(ds: Dataset) -> str:
    meta = getattr(ds, "file_meta", None)
    if meta is not None and "TransferSyntaxUID" in meta:
        return str(meta.TransferSyntaxUID)
    implicit, little = ds.original_encoding
    if implicit:
        return str(ImplicitVRLittleEndian)
    return str(ExplicitVRBigEndian if little is False else ExplicitVRLittleEndian)


def _mark(out: Dataset, walker: _Walker, options: frozenset[Option]) -> None:
    """Sets the marks of E.1.1 and records the original values of the ones that changed."""
    editions = edition()
    if Option.RETAIN_LONGITUDINAL_FULL_DATES in options:
        longitudinal = "UNMODIFIED"
    elif Option.RETAIN_LONGITUDINAL_MODIFIED_DATES in options:
        longitudinal = "MODIFIED"
    else:
        longitudinal = "REMOVED"
    out.PatientIdentityRemoved = "YES"
    out.DeidentificationMethod = (f"dicomsec Basic Profile {editions['table']}/"
                                  f"{editions['basic_column']}")[:64]
    out.DeidentificationMethodCodeSequence = method_codes(options)
    out.LongitudinalTemporalInformationModified = longitudinal
    for tag in _MARK_TAGS:
        before = walker.top_elements.get(tag)
        if before is None:
            walker.added_top.add(tag)
        elif before.value != out[tag].value:
            walker.changed_top.add(tag)


#: VRs whose values are text in the data set's character set
_TEXT_VRS = frozenset({"AE", "CS", "LO", "LT", "PN", "SH", "ST", "UC", "UR", "UT"})


def _ascii(value: object) -> bool:
    """Whether an undecoded value is printable ASCII (and the control characters text VRs
    allow, but no ESC of ISO 2022): such bytes decode the same in every character set."""
    return isinstance(value, bytes) and all(b in b"\t\n\r\x0c" or 0x20 <= b < 0x7F
                                            for b in value)


def _kept_as_read(out: Dataset, walker: _Walker, original: Dataset) -> None:
    """The top-level elements the walk left unchanged (not noted as changed, value equal to
    the original's) go back to their undecoded form as read (:func:`._clean.raw_copyable`:
    Explicit VR Little Endian, defined length, no SQ/UN), and ``out`` is marked as read in
    Explicit VR Little Endian, so pydicom writes their bytes as they are instead of encoding
    the values again (speed). With another transfer syntax, or a changed character set,
    pydicom decodes them again before writing. Any later ``out[tag]`` decodes the element in
    place, as for a data set just read."""
    as_read = walker.as_read
    placed = any(isinstance(out.get_item(t), RawDataElement) for t in out.keys())
    for tag, raw in as_read.items():
        if tag in walker.changed_top or tag in _MARK_TAGS:
            continue
        elem = out.get_item(BaseTag(tag))
        before = walker.top_elements.get(tag)
        if (not isinstance(elem, DataElement) or not isinstance(before, DataElement)
                or elem.VR != raw.VR or elem.value != before.value):
            continue
        if raw.VR in _TEXT_VRS and not _ascii(raw.value):
            # text judged through its decoded value: bytes invalid in the declared character
            # set (Latin-1 in an ISO_IR 192 file) decode with replacement characters that no
            # identifier matches, so the original bytes are never written back; re-encoding
            # the decoded value drops them
            continue
        out[tag] = raw
        placed = True
    if placed:
        out.set_original_encoding(False, True, original.original_character_set)


def _file_meta(out: Dataset, original: Dataset) -> FileMetaDataset:
    if not all(str(out.get(k) or "").strip(" \0") for k in ("SOPClassUID", "SOPInstanceUID")):
        raise InvalidInput("the data set has no (or an empty) SOP Class UID or SOP Instance UID: "
                           "it is not a composite instance and cannot be de-identified")
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = out.SOPClassUID
    meta.MediaStorageSOPInstanceUID = out.SOPInstanceUID
    meta.TransferSyntaxUID = UID(_transfer_syntax(original))
    meta.ImplementationClassUID = UID(IMPLEMENTATION_CLASS_UID)
    meta.ImplementationVersionName = IMPLEMENTATION_VERSION_NAME
    return meta


def _originals(walker: _Walker) -> Dataset:
    """The original value of every top-level attribute removed or changed, private ones with
    their Private Creator, and the Specific Character Set their text is written in."""
    source = walker.top_elements
    as_read = walker.as_read
    items: dict[int, DataElement | RawDataElement] = {}  # int keys: sorted without BaseTag
    for tag in sorted(walker.changed_top - _NOT_ORIGINALS):
        elem = source.get(tag)
        if elem is None:
            continue
        raw = as_read.get(tag)
        items[tag] = raw if raw is not None else _copy_any(elem)
        group, element = tag >> 16, tag & 0xFFFF
        if group & 1 and element > 0xFF:
            creator_tag = (group << 16) | (element >> 8)
            creator = source.get(creator_tag)
            if creator is not None and creator_tag not in items:
                items[creator_tag] = as_read.get(creator_tag) or _copy_any(creator)
    charset = source.get(0x00080005)
    if items and charset is not None and 0x00080005 not in items:
        items[0x00080005] = as_read.get(0x00080005) or _copy_any(charset)
    for tag in sorted(walker.added_top):  # zero length: "absent in the original" (C.12.1.1.4.1)
        vr = dictionary_VR(tag)
        items[tag] = DataElement(tag, vr, Sequence() if vr == "SQ" else None)
    originals = Dataset({BaseTag(tag): items[tag] for tag in sorted(items)})
    if any(isinstance(e, RawDataElement) for e in items.values()):
        # undecoded elements (Explicit VR Little Endian, in the file's character set) are
        # encoded as they were read: their bytes are copied, not decoded and encoded again
        originals.set_original_encoding(False, True, originals._character_set)
    return originals


_COMMON_INSTANCE_REFERENCES = (0x00081115, 0x00081200)  # Referenced Series, Other Studies
_REFERENCED_SOP_INSTANCE = 0x00081155


def _references_left(ds: Dataset, skip: tuple[int, ...] = ()) -> bool:
    stack = [ds]
    while stack:
        current = stack.pop()
        for key in current.keys():
            tag = int(key)
            if tag == _REFERENCED_SOP_INSTANCE and not current[key].is_empty:
                return True
            elem = current.get_item(key)  # undecoded (never a sequence): left so
            if isinstance(elem, DataElement) and elem.VR == "SQ" and tag not in skip:
                stack.extend(elem.value)
    return False


def _drop_dangling_references(out: Dataset, walker: _Walker) -> None:
    """The Common Instance Reference module (Referenced Series Sequence, Studies Containing
    Other Referenced Instances Sequence) is required only while the instance references
    others; when the table's X/Z/U* emptied every reference (e.g. a Type 2 Source Image
    Sequence in a Derivation Image functional group), it goes too, so the result stays
    valid (dciodvfy: "ReferencedSeriesSequence present but Instance does not reference
    Instances")."""
    present = [t for t in _COMMON_INSTANCE_REFERENCES if t in out]
    if not present or _references_left(out, _COMMON_INSTANCE_REFERENCES):
        return
    before = [walker.top_elements[t] for t in present]
    if not any(_references_left(item) for elem in before if isinstance(elem, DataElement)
               for item in elem.value):
        return
    for tag in present:
        walker.removed.append(_Where().path(out[tag]))
        walker.changed_top.add(tag)
        del out[tag]


_DATE_KEYWORDS = ("StudyDate", "SeriesDate", "AcquisitionDate", "ContentDate",
                  "PatientBirthDate")
_INSTANCE_UID_KEYWORDS = ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID")


def _retained_uid_warning(ds: Dataset, options: frozenset[Option]) -> str | None:
    """Retain UIDs keeps UIDs whatever they embed; say so when one embeds an original date
    (many devices build UIDs from the acquisition date and time)."""
    if (Option.RETAIN_UIDS not in options
            or Option.RETAIN_LONGITUDINAL_FULL_DATES in options):
        return None
    dates = {str(ds.get(k))[:8] for k in _DATE_KEYWORDS if len(str(ds.get(k) or "")) >= 8}
    uids = [str(ds.get(k) or "") for k in _INSTANCE_UID_KEYWORDS]
    if any(date in uid for date in dates for uid in uids):
        return "retain-uids keeps instance UIDs that embed an original date"
    return None


def check_structure(ds: Dataset, *,
                    top: list[DataElement | RawDataElement] | None = None) -> None:
    """Enforces :func:`dicomsec.limits.current` ``depth`` (at most :data:`MAX_DEPTH`),
    ``items`` and ``elements`` over the whole data set without recursion, before anything
    copies or walks it (a walk of a deeper nesting would exhaust Python's stack). ``top``:
    the top level as :func:`_decoded` lists it, when the caller already has it.

    Raises:
        limits.LimitExceeded: a limit is exceeded (an InvalidInput, exit 2).
    """
    bounds = limits.current()
    max_depth = min(bounds.depth, MAX_DEPTH)
    elements = items = 0
    stack: list[tuple[Dataset, int]] = [(ds, 0)]
    while stack:
        current, depth = stack.pop()
        listed = top if depth == 0 and top is not None else _decoded(current, depth == 0)
        for elem in listed:
            elements += 1
            if elements > bounds.elements:
                raise limits.LimitExceeded("the data set has too many elements", "elements",
                                           bounds.elements)
            if isinstance(elem, RawDataElement) or elem.VR != "SQ" or not elem.value:
                continue
            if depth + 1 > max_depth:
                raise limits.LimitExceeded("the data set nests sequences too deeply", "depth",
                                           max_depth)
            items += len(elem.value)
            if items > bounds.items:
                raise limits.LimitExceeded("the data set has too many sequence items",
                                           "items", bounds.items)
            stack.extend((item, depth + 1) for item in elem.value)


def deidentify_dataset(ds: Dataset, settings: Settings, *,
                       as_read: Mapping[int, RawDataElement] | None = None) -> EngineResult:
    """De-identify a copy of ``ds`` (never modified) per the module docstring.

    ``as_read`` (optional): top-level elements of ``ds`` as they were read before decoding,
    Explicit VR Little Endian (:func:`._clean.raw_copyable`); the originals hold these (their
    bytes are then encrypted as read) instead of copies of the decoded elements. ``None``:
    the engine takes them itself from the elements of ``ds`` still undecoded (a data set
    just read: all of them).

    Raises:
        InvalidInput: an empty or short secret, options that exclude each other, a data set
            without (or with an empty) SOP Class / SOP Instance UID.
        limits.LimitExceeded: nesting, items or elements over :func:`dicomsec.limits.current`.
    """
    _uids.check_secret(settings.secret)
    claimed = check_options(settings.options)
    options = claimed - _PIXEL_OPTIONS
    # the top level in tag order, decoded but the private elements removed whatever their
    # value (not with Retain Safe Private): listed once for the checks, the walk, the originals
    collected: dict[int, RawDataElement] | None = {} if as_read is None else None
    top = _decoded(ds, Option.RETAIN_SAFE_PRIVATE not in options, top=True, as_read=collected)
    check_structure(ds, top=top)
    patient_id = str(ds.get("PatientID") or "")
    modified = Option.RETAIN_LONGITUDINAL_MODIFIED_DATES in options
    walker = _Walker(
        original=ds, options=options, secret=settings.secret,
        sop_class=str(ds.get("SOPClassUID") or "").strip() or None,
        offset=_uids.date_offset_days(patient_id, settings.secret) if modified else None,
        safe=safe_private_blocks(ds) if Option.RETAIN_SAFE_PRIVATE in options else {})
    if modified and not patient_id.strip():
        walker.warnings.append("no Patient ID: the date offset is the one of the empty ID")
    walker.lazy = Option.RETAIN_SAFE_PRIVATE not in options
    walker.as_read = as_read if as_read is not None else collected or {}
    walker.top_elements = {int(elem.tag): elem for elem in top}
    copies = [_copy_any(elem) for elem in top]
    # the undecoded private elements never enter the output (walk_top notes their removal);
    # the undecoded standard ones enter it as read (walk_top decides on them)
    out = Dataset({e.tag: e for e in copies
                   if not (isinstance(e, RawDataElement) and int(e.tag) >> 16 & 1)})
    walker.walk_top(out, copies)
    _drop_dangling_references(out, walker)
    uid_warning = _retained_uid_warning(ds, options)
    if uid_warning is not None:
        walker.warnings.append(uid_warning)
    _mark(out, walker, options)
    _kept_as_read(out, walker, ds)
    out.file_meta = _file_meta(out, ds)
    out.preamble = b"\0" * 128
    return EngineResult(
        dataset=out, originals=_originals(walker), removed=tuple(walker.removed),
        replaced=tuple(walker.replaced), kept=tuple(walker.kept),
        uid_map=MappingProxyType(dict(walker.uid_map)),
        patient_id_map=MappingProxyType(dict(walker.pid_map)),
        date_offset_days=walker.offset, signatures_removed=tuple(walker.signatures),
        warnings=tuple(walker.warnings))
