"""Burned-in text in the pixels (PS3.15 E.3.1, Clean Pixel Data Option): found by region rules
and by OCR, and blanked in the stored pixel values of every frame.

Blanking changes the stored values (not an overlay, not a shutter): the lowest value of the
image for ``MONOCHROME2``, the highest for ``MONOCHROME1``, black (0, 0, 0) for colour (a
``YBR_*`` image is converted to ``RGB`` when decoded, and ``PhotometricInterpretation`` says
so), the index of the darkest palette entry for ``PALETTE COLOR``. Every region is blanked in
every frame (a region OCR finds in one frame of a cine is blanked in all: text that fades in and
out must not survive in a neighbour frame). Compressed Pixel Data (whatever pydicom decodes with
the installed plugins: JPEG baseline, JPEG 2000, RLE, ...) is decoded, cleaned and written
uncompressed in Explicit VR Little Endian, with the Image Pixel module made consistent
(``PhotometricInterpretation``, ``PlanarConfiguration`` 0, no Extended Offset Table) and
Lossy Image Compression (0028,2110) ``01`` when the input was lossy JPEG or JPEG-LS. When no
region is found the Pixel Data is left as it was (compressed or not). Burned In Annotation
(0028,0301) becomes ``NO`` (an image without Pixel Data is left alone).

Region rules (``--pixel-rules FILE``, TOML), in the manner of CTP's DicomPixelAnonymizer
scripts (a signature selecting images by their attributes, then rectangles)::

    version = 1                  # optional; the only version there is

    [[rule]]
    name = "acme-us-header"      # required, unique: reports say "rule:acme-us-header"
    manufacturer = "ACME"        # (0008,0070) contains this, any case; or a list (any of)
    model = ["Vivid 7", "E9"]    # (0008,1090) contains one of these, any case
    sop_class = "1.2.840.10008.5.1.4.1.1.6.1"   # (0008,0016) equals this; or a list
    modality = "US"              # (0008,0060) equals this, any case; or a list
    rows = 480                   # (0028,0010) equals this
    columns = 640                # (0028,0011) equals this
    regions = [[0, 0, 640, 40], [0, 440, 200, 40]]   # [x, y, width, height] in pixels;
                                                     # x from the left, y from the top

A rule matches an image when every selector it gives matches (a selector left out matches
anything; a rule with no selector matches every image). Unlike CTP, which stops at the first
matching signature, every matching rule applies (decision: more blanking, never less).
Rectangles reaching past the image are clipped. Unknown keys, a rule without regions, a
negative or empty rectangle refuse the file (a misspelt selector must not widen a rule).
The shipped default (``data/pixel-rules.toml``) holds only commented examples.

OCR (:mod:`dicomsec.deid._ocr`, Tesseract): each distinct frame, as 8-bit grey (the first
VOI window when the image has one, else the frame's min/max; colour: the brightest channel;
palette: through its colour table), word boxes above a confidence, grown by a margin.

Overlay planes (Overlay Data (60xx,3000), Clean Graphics): :func:`clean_overlays` runs the
same region rules (translated by Overlay Origin) and OCR over each unpacked 1-bit plane and
clears the bits of the text it finds; the file layer claims 113103 only after it succeeded.

Risk rules, for the file layer's report (without ``clean-pixel-data``, and for
``clean-recognizable-visual-features``, which the toolkit never performs itself):

- :func:`burned_in_risk`: Burned In Annotation ``YES``; or absent (or not ``NO``) on an image
  of a modality that usually carries text (US, IVUS, OT, XA, RF, ES, XC, GM, SM, OP, DOC and
  the non-standard SC), of a Secondary Capture, Ultrasound, Video or VL SOP class, with a
  Conversion Type (0008,0064) (any screen or film capture), a DX/CR/MG/IO/PX image whose Image
  Type says ``SECONDARY``, or a colour image of a modality that acquires grey images (CT, MR,
  PT, NM, CR, DX, MG, RF, XA: a screenshot).
- :func:`visual_features_risk`: every image may show a face unless Recognizable Visual Features
  (0028,0302) is already ``NO``, its modality is MG, SM or GM (breast and microscopy images),
  or Body Part Examined (0018,0015) names a part away from the head (limbs, abdomen, pelvis,
  breast: :data:`NO_FACE_PARTS`).
"""

from __future__ import annotations

import hashlib
import tomllib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dicomsec import limits
from dicomsec.errors import InvalidInput

if TYPE_CHECKING:
    import numpy as np
    from pydicom.dataset import Dataset

__all__ = [
    "NO_FACE_PARTS", "PixelResult", "PixelRules", "Region", "RegionRule", "burned_in_risk",
    "clean_overlays", "clean_pixels", "default_pixel_rules", "load_pixel_rules",
    "visual_features_risk",
]

#: decoded pixel bytes of one image cleaned in memory, until dicomsec.limits has "pixel_bytes"
PIXEL_BYTES = 256 << 20
#: distinct frames of one image given to OCR, until dicomsec.limits has "ocr_frames"
OCR_FRAMES = 500

_PIXEL_DATA = 0x7FE00010
_FLOAT_PIXEL_DATA = (0x7FE00008, 0x7FE00009)
_EXPLICIT_LE = "1.2.840.10008.1.2.1"
#: lossy transfer syntaxes pydicom may decode -> Lossy Image Compression Method (0028,2114)
_LOSSY = {"1.2.840.10008.1.2.4.50": "ISO_10918_1", "1.2.840.10008.1.2.4.51": "ISO_10918_1",
          "1.2.840.10008.1.2.4.81": "ISO_14495_1"}
_SELECTORS = ("manufacturer", "model", "sop_class", "modality", "rows", "columns")
_RULE_KEYS = frozenset({"name", "regions", *_SELECTORS})


@dataclass(frozen=True, slots=True)
class Region:
    """A blanked rectangle in pixel coordinates of the frame; ``source`` is ``"rule:<name>"``
    or ``"ocr"``."""

    x: int
    y: int
    width: int
    height: int
    source: str


@dataclass(frozen=True, slots=True)
class RegionRule:
    """One ``[[rule]]`` of a region-rules file: selectors (empty tuple / ``None``: any) and
    the rectangles ``(x, y, width, height)`` it blanks."""

    name: str
    regions: tuple[tuple[int, int, int, int], ...]
    manufacturer: tuple[str, ...] = ()
    model: tuple[str, ...] = ()
    sop_class: tuple[str, ...] = ()
    modality: tuple[str, ...] = ()
    rows: int | None = None
    columns: int | None = None

    def matches(self, ds: Dataset) -> bool:
        """Whether every selector of the rule matches ``ds``."""
        def contains(needles: tuple[str, ...], keyword: str) -> bool:
            value = str(ds.get(keyword, "") or "").casefold()
            return not needles or any(n.casefold() in value for n in needles)

        return (contains(self.manufacturer, "Manufacturer")
                and contains(self.model, "ManufacturerModelName")
                and (not self.sop_class or str(ds.get("SOPClassUID", "")) in self.sop_class)
                and (not self.modality or str(ds.get("Modality", "")).upper()
                     in {m.upper() for m in self.modality})
                and (self.rows is None or ds.get("Rows") == self.rows)
                and (self.columns is None or ds.get("Columns") == self.columns))


@dataclass(frozen=True, slots=True)
class PixelRules:
    """Parsed region rules (see the module docstring); ``source`` names the file."""

    rules: tuple[RegionRule, ...] = ()
    source: str = ""

    def regions_for(self, ds: Dataset) -> tuple[Region, ...]:
        """The rectangles of every rule matching ``ds``, clipped to the image (empty ones
        dropped)."""
        rows, columns = int(ds.get("Rows", 0) or 0), int(ds.get("Columns", 0) or 0)
        found: list[Region] = []
        for rule in self.rules:
            if not rule.matches(ds):
                continue
            for x, y, w, h in rule.regions:
                clipped = _clip(x, y, w, h, rows, columns)
                if clipped is not None:
                    found.append(Region(*clipped, source=f"rule:{rule.name}"))
        return tuple(found)


@dataclass(frozen=True, slots=True)
class PixelResult:
    """What :func:`clean_pixels` did: the blanked regions (frame coordinates, blanked in every
    frame), the frame count, the engines used and the transfer syntax the data set now needs."""

    regions: tuple[Region, ...]
    frames: int
    engine: str
    transfer_syntax: str


def load_pixel_rules(path: Path) -> PixelRules:
    """Read a region-rules TOML file (format in the module docstring).

    Raises:
        InvalidInput: unreadable file, bad TOML, unknown key, bad selector or rectangle.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"pixel rules cannot be read: {exc}", path=str(path)) from exc
    return _parse_rules(text, str(path))


def default_pixel_rules() -> PixelRules:
    """The shipped ``data/pixel-rules.toml`` (commented examples only: no rule)."""
    ref = resources.files("dicomsec.deid").joinpath("data/pixel-rules.toml")
    return _parse_rules(ref.read_text(encoding="utf-8"), "dicomsec:data/pixel-rules.toml")


def _parse_rules(text: str, source: str) -> PixelRules:
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInput(f"pixel rules are not valid TOML: {exc}", path=source) from exc
    unknown = set(doc) - {"version", "rule"}
    if unknown:
        raise InvalidInput(f"pixel rules: unknown key {sorted(unknown)[0]!r} "
                           "(known: version, rule)", path=source)
    if doc.get("version", 1) != 1:
        raise InvalidInput(f"pixel rules: version {doc['version']!r} is not supported (1)",
                           path=source)
    entries = doc.get("rule", [])
    if not isinstance(entries, list):
        raise InvalidInput("pixel rules: 'rule' must be an array of tables ([[rule]])",
                           path=source)
    parsed: list[RegionRule] = []
    for index, entry in enumerate(entries):
        rule = _parse_rule(entry, index, source)
        if any(r.name == rule.name for r in parsed):
            raise InvalidInput(f"pixel rules: rule name {rule.name!r} used twice", path=source)
        parsed.append(rule)
    return PixelRules(tuple(parsed), source)


def _parse_rule(entry: object, index: int, source: str) -> RegionRule:
    where = f"pixel rules: rule {index + 1}"
    if not isinstance(entry, dict):
        raise InvalidInput(f"{where} is not a table", path=source)
    unknown = set(entry) - _RULE_KEYS
    if unknown:
        raise InvalidInput(f"{where}: unknown key {sorted(unknown)[0]!r} "
                           f"(known: {', '.join(sorted(_RULE_KEYS))})", path=source)
    name = entry.get("name")
    if not isinstance(name, str) or not name.strip():
        raise InvalidInput(f"{where}: 'name' (a non-empty string) is required", path=source)
    regions = entry.get("regions")
    if not isinstance(regions, list) or not regions:
        raise InvalidInput(f"{where} ({name}): 'regions' must list at least one "
                           "[x, y, width, height]", path=source)
    return RegionRule(
        name=name, regions=tuple(_rectangle(r, f"{where} ({name})", source) for r in regions),
        manufacturer=_strings(entry, "manufacturer", where, source),
        model=_strings(entry, "model", where, source),
        sop_class=_strings(entry, "sop_class", where, source),
        modality=_strings(entry, "modality", where, source),
        rows=_size(entry, "rows", where, source), columns=_size(entry, "columns", where, source))


def _strings(entry: dict[str, Any], key: str, where: str, source: str) -> tuple[str, ...]:
    value = entry.get(key)
    if value is None:
        return ()
    values = [value] if isinstance(value, str) else value
    if (not isinstance(values, list) or not values
            or not all(isinstance(v, str) and v.strip() for v in values)):
        raise InvalidInput(f"{where}: {key!r} must be a non-empty string or list of strings",
                           path=source)
    return tuple(v.strip() for v in values)


def _size(entry: dict[str, Any], key: str, where: str, source: str) -> int | None:
    value = entry.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidInput(f"{where}: {key!r} must be a whole number of at least 1",
                           path=source)
    return value


def _rectangle(value: object, where: str, source: str) -> tuple[int, int, int, int]:
    if (not isinstance(value, list) or len(value) != 4
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)):
        raise InvalidInput(f"{where}: a region must be [x, y, width, height] (whole numbers), "
                           f"not {value!r}", path=source)
    x, y, w, h = value
    if x < 0 or y < 0 or w < 1 or h < 1:
        raise InvalidInput(f"{where}: region {value!r} needs x, y >= 0 and width, height >= 1",
                           path=source)
    return x, y, w, h


def _clip(x: int, y: int, w: int, h: int, rows: int, columns: int
          ) -> tuple[int, int, int, int] | None:
    x1, y1 = min(columns, x + w), min(rows, y + h)
    if x >= x1 or y >= y1:
        return None
    return x, y, x1 - x, y1 - y


def _limit(name: str, default: int) -> int:
    """A limit of dicomsec.limits, or this module's default while the table lacks it."""
    return int(getattr(limits.current(), name, default))


def clean_pixels(ds: Dataset, rules: PixelRules | None, *, ocr: bool = True) -> PixelResult:
    """Find burned-in text (region rules, then OCR) and blank it in the stored pixel values of
    every frame; modifies ``ds`` in place (module docstring: what changes, what is kept).

    Raises:
        InvalidInput: no OCR and no region rule (nothing could find text); the OCR engine is
            missing (the message names ``pip install dicomsec[ocr]`` and ``tesseract-ocr``);
            float Pixel Data; Pixel Data that cannot be decoded; over the pixel limits.
    """
    has_rules = rules is not None and bool(rules.rules)
    if not ocr and not has_rules:
        raise InvalidInput("clean-pixel-data without OCR needs region rules (--pixel-rules): "
                           "nothing else can find burned-in text")
    file_meta = getattr(ds, "file_meta", None)
    syntax = str(file_meta.get("TransferSyntaxUID", "")) if file_meta is not None else ""
    if _PIXEL_DATA not in ds:
        if any(t in ds for t in _FLOAT_PIXEL_DATA):
            raise InvalidInput("clean-pixel-data: Float / Double Float Pixel Data cannot be "
                               "cleaned (only (7FE0,0010) Pixel Data)")
        return PixelResult((), 0, "none", syntax)
    engines = ["rules"] if has_rules else []
    if ocr:
        from dicomsec.deid import _ocr

        engines.append(_ocr.tesseract().replace(" ", "-"))
    _check_size(ds)
    frames, info = _decode(ds, syntax)
    regions = list(rules.regions_for(ds) if rules is not None else ())
    if ocr:
        regions += _ocr_regions(frames, info, ds)
    regions = _unique(regions)
    if regions:
        _blank(frames, regions, _blank_value(frames, info, ds))
        syntax = _store(ds, frames, info, syntax)
    ds.BurnedInAnnotation = "NO"
    return PixelResult(tuple(regions), int(frames.shape[0]), "+".join(engines), syntax)


def _check_size(ds: Dataset) -> None:
    try:
        rows, columns = int(ds.Rows), int(ds.Columns)
        samples = int(ds.get("SamplesPerPixel", 1) or 1)
        bits = int(ds.BitsAllocated)
        count = int(ds.get("NumberOfFrames", 1) or 1)
    except (AttributeError, TypeError, ValueError) as exc:
        raise InvalidInput(f"pixel data cannot be decoded: Image Pixel module incomplete "
                           f"({exc})") from exc
    size = rows * columns * samples * max(1, bits // 8) * count
    limit = _limit("pixel_bytes", PIXEL_BYTES)
    if size > limit:
        raise limits.LimitExceeded(f"decoded pixel data of {size} bytes", "pixel_bytes", limit)


def _decode(ds: Dataset, syntax: str) -> tuple[np.ndarray, dict[str, Any]]:
    """All frames as one writable array ``(frames, rows, columns[, samples])`` (YBR -> RGB),
    and pydicom's description of it."""
    import numpy as np
    from pydicom.pixels.decoders.base import get_decoder

    if not syntax:
        raise InvalidInput("pixel data cannot be decoded: no Transfer Syntax UID")
    options: dict[str, Any] = {"as_rgb": True}
    try:
        array, info = get_decoder(syntax).as_array(ds, **options)
    except Exception as exc:  # pydicom and its decoding plugins raise any kind
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        detail = " ".join(str(exc).split())[:200] if first.endswith(":") else first
        raise InvalidInput(f"pixel data cannot be decoded ({_ts_name(syntax)}): {detail}"
                           ) from exc
    if int(info.get("number_of_frames", 1) or 1) == 1:
        array = array[np.newaxis]
    if not array.flags.writeable:
        array = array.copy()
    return array, dict(info)


def _ts_name(syntax: str) -> str:
    from pydicom.uid import UID

    name = UID(syntax).name
    return name if name and name != syntax else syntax


def _unique(regions: Iterable[Region]) -> list[Region]:
    seen: set[tuple[int, int, int, int]] = set()
    kept: list[Region] = []
    for r in regions:
        if (r.x, r.y, r.width, r.height) not in seen:
            seen.add((r.x, r.y, r.width, r.height))
            kept.append(r)
    return kept


def _ocr_regions(frames: np.ndarray, info: dict[str, Any], ds: Dataset) -> list[Region]:
    """OCR of each distinct frame of the image."""
    return _read_text(int(frames.shape[0]), lambda index: _grey8(frames[index], info, ds),
                      "frame")


def _read_text(count: int, grey: Callable[[int], np.ndarray], where: str, *,
               binary: bool = False) -> list[Region]:
    """OCR of each distinct plane ``grey(0) .. grey(count - 1)`` (8-bit grey): identical
    planes are read once, and their count is checked against the ``ocr_frames`` limit before
    Tesseract runs. ``binary``: the planes are already black and white (overlays)."""
    from dicomsec.deid import _ocr

    distinct: dict[bytes, int] = {}
    for index in range(count):
        distinct.setdefault(hashlib.sha256(grey(index).tobytes()).digest(), index)
    limit = _limit("ocr_frames", OCR_FRAMES)
    if len(distinct) > limit:
        raise limits.LimitExceeded(f"{len(distinct)} distinct {where}s to read with OCR",
                                   "ocr_frames", limit)
    found: list[Region] = []
    for index in distinct.values():
        for x, y, w, h in _ocr.text_boxes(grey(index), where=f"{where} {index + 1}",
                                          binary=binary):
            found.append(Region(x, y, w, h, "ocr"))
    return found


def _grey8(frame: np.ndarray, info: dict[str, Any], ds: Dataset) -> np.ndarray:
    """One frame as 8-bit grey, as a reader would see it (window or min/max; MONOCHROME1
    inverted; colour: brightest channel; palette: through its table)."""
    import numpy as np

    photometric = str(info.get("photometric_interpretation", ""))
    if photometric == "PALETTE COLOR":
        from pydicom.pixels.processing import apply_color_lut

        frame = apply_color_lut(frame, ds)
    if frame.ndim == 3:
        values = frame.max(axis=2).astype(np.float64)
        top = 255.0 if frame.dtype == np.uint8 else float(values.max() or 1)
        grey: np.ndarray = np.clip(values * (255.0 / top), 0, 255).astype(np.uint8)
        return grey
    values = frame.astype(np.float64)
    slope = float(ds.get("RescaleSlope", 1) or 1)
    intercept = float(ds.get("RescaleIntercept", 0) or 0)
    center, width = _window(ds)
    if center is not None and width is not None and width > 1:
        values = values * slope + intercept
        low, high = center - width / 2, center + width / 2
    else:
        low, high = float(values.min()), float(values.max())
    scaled = np.clip((values - low) * (255.0 / max(high - low, 1e-9)), 0, 255)
    if photometric == "MONOCHROME1":
        scaled = 255.0 - scaled
    result: np.ndarray = scaled.astype(np.uint8)
    return result


def _window(ds: Dataset) -> tuple[float | None, float | None]:
    def first(keyword: str) -> float | None:
        value = ds.get(keyword)
        if value is None or value == "":
            return None
        if isinstance(value, Sequence) and not isinstance(value, str):
            value = value[0] if len(value) else None
        try:
            return float(value) if value is not None else None
        except (TypeError, ValueError):
            return None

    return first("WindowCenter"), first("WindowWidth")


def _blank_value(frames: np.ndarray, info: dict[str, Any], ds: Dataset) -> int:
    import numpy as np

    photometric = str(info.get("photometric_interpretation", ""))
    if photometric == "MONOCHROME1":
        return int(frames.max())
    if photometric == "PALETTE COLOR":
        from pydicom.pixels.processing import apply_color_lut

        candidates = np.unique(frames)
        colours = apply_color_lut(candidates, ds).astype(np.int64).reshape(len(candidates), -1)
        return int(candidates[int(np.argmin(colours.sum(axis=1)))])
    if frames.ndim == 4:
        return 0
    return int(frames.min())


def _blank(frames: np.ndarray, regions: Sequence[Region], value: int) -> None:
    for r in regions:
        frames[:, r.y:r.y + r.height, r.x:r.x + r.width, ...] = value


def _store(ds: Dataset, frames: np.ndarray, info: dict[str, Any], syntax: str) -> str:
    """Write the frames back as native little-endian Pixel Data; returns the transfer syntax
    the data set now needs (and sets it in ``ds.file_meta``)."""
    import numpy as np
    from pydicom.pixels.utils import pack_bits
    from pydicom.uid import UID

    bits = int(info["bits_allocated"])
    stored = int(info.get("bits_stored", bits))
    signed = int(info.get("pixel_representation", 0)) == 1
    if bits == 1:
        data = pack_bits(frames.ravel(), pad=True)
    else:
        out = frames.astype(np.dtype(f"<{'i' if signed else 'u'}{bits // 8}"))
        if signed and stored < bits:   # no sign bits above High Bit
            out = out.view(np.dtype(f"<u{bits // 8}")) & ((1 << stored) - 1)
        data = out.tobytes()
        if len(data) % 2:
            data += b"\x00"
    ds.PixelData = data
    element = ds[_PIXEL_DATA]
    element.VR = "OB" if bits <= 8 else "OW"
    element.is_undefined_length = False
    ds.PhotometricInterpretation = str(info["photometric_interpretation"])
    for keyword, value in (("BitsAllocated", bits), ("BitsStored", stored),
                           ("HighBit", stored - 1), ("PixelRepresentation", int(signed))):
        if ds.get(keyword) != value:   # as decoded (a J2K stream may disagree with the header)
            setattr(ds, keyword, value)
    if int(info.get("samples_per_pixel", 1)) > 1:
        ds.PlanarConfiguration = 0
    for keyword in ("ExtendedOffsetTable", "ExtendedOffsetTableLengths"):
        if keyword in ds:
            del ds[keyword]
    if syntax in _LOSSY and ds.get("LossyImageCompression") != "01":
        ds.LossyImageCompression = "01"
        if "LossyImageCompressionMethod" not in ds:
            ds.LossyImageCompressionMethod = _LOSSY[syntax]
    uid = UID(syntax)
    if uid.is_encapsulated or not uid.is_little_endian:
        syntax = _EXPLICIT_LE
        ds.file_meta.TransferSyntaxUID = UID(_EXPLICIT_LE)
    return syntax


_BIG_ENDIAN = "1.2.840.10008.1.2.2"


@dataclass(frozen=True, slots=True)
class _Overlay:
    """The Overlay Plane attributes of one group 60xx holding Overlay Data (60xx,3000)."""

    group: int
    rows: int
    columns: int
    frames: int
    origin_row: int      # Overlay Origin (60xx,0050): 1-based image row of the first overlay row
    origin_column: int   # ... and column of its first column


def clean_overlays(ds: Dataset, rules: PixelRules | None, *, ocr: bool = True) -> PixelResult:
    """Find text in the overlay planes (Overlay Data (60xx,3000) of groups 6000-601E) with the
    region rules and OCR, and clear those bits; modifies ``ds`` in place.

    Part of Clean Graphics (PS3.15 E.3.3, code 113103): overlays classically carry rendered
    names and dates, so the file layer may claim 113103 only after this function succeeded
    (the engine cleans the overlays' text attributes, never their bitmaps).

    Each plane (1 bit per pixel, ``OverlayRows`` x ``OverlayColumns``, ``NumberOfFramesInOverlay``
    frames packed one after the other, OW byte-swapped in Explicit VR Big Endian) is unpacked;
    the rules' rectangles (image coordinates) are translated by Overlay Origin (``row\\column``,
    1-based) into the plane and clipped to it; OCR (:mod:`dicomsec.deid._ocr`, the binarised pass
    only) reads each distinct frame of the plane, set bits as text. Every region is cleared in
    every frame of that plane (as in :func:`clean_pixels`), and the data is packed back at its
    length, every other bit (and any padding) untouched; a plane where nothing is found keeps
    its value. Regions are reported in image coordinates (overlay position plus Overlay Origin
    minus 1: they may be negative or past the image for an overlay reaching outside it);
    ``frames`` counts the overlay frames processed, ``transfer_syntax`` is unchanged.
    Overlays embedded in unused Pixel Data bits (retired) are not handled here.

    Raises:
        InvalidInput: no OCR and no region rule while an overlay is present; the OCR engine is
            missing; an Overlay Plane that cannot be read (rows or columns missing or 0, Overlay
            Bits Allocated not 1, bad Overlay Origin or frame count, data shorter than the plane).
    """
    file_meta = getattr(ds, "file_meta", None)
    syntax = str(file_meta.get("TransferSyntaxUID", "")) if file_meta is not None else ""
    overlays = [_overlay(ds, group) for group in range(0x6000, 0x6020, 2)
                if (group << 16 | 0x3000) in ds]
    if not overlays:
        return PixelResult((), 0, "none", syntax)
    has_rules = rules is not None and bool(rules.rules)
    if not ocr and not has_rules:
        raise InvalidInput("clean-graphics without OCR needs region rules (--pixel-rules): "
                           "nothing else can find text in the overlay planes")
    engines = ["rules"] if has_rules else []
    if ocr:
        from dicomsec.deid import _ocr

        engines.append(_ocr.tesseract().replace(" ", "-"))
    in_image = rules.regions_for(ds) if rules is not None else ()
    found: list[Region] = []
    for overlay in overlays:
        found += _clean_overlay(ds, overlay, in_image, ocr=ocr, swap=syntax == _BIG_ENDIAN)
    return PixelResult(tuple(found), sum(o.frames for o in overlays), "+".join(engines),
                       syntax)


def _overlay(ds: Dataset, group: int) -> _Overlay:
    """The Overlay Plane of ``group``, checked."""
    name = f"overlay ({group:04X},3000)"

    def number(element: int, keyword: str, default: int | None = None) -> int:
        found = ds.get(group << 16 | element)
        value: Any = default if found is None or found.value in (None, "") else found.value
        try:
            return int(value)
        except (TypeError, ValueError):
            raise InvalidInput(f"{name}: {keyword} ({group:04X},{element:04X}) is "
                               f"{'missing' if value is None else repr(value)}") from None

    rows, columns = number(0x0010, "Overlay Rows"), number(0x0011, "Overlay Columns")
    frames = number(0x0015, "Number of Frames in Overlay", 1)
    bits = number(0x0100, "Overlay Bits Allocated", 1)
    if rows < 1 or columns < 1 or frames < 1:
        raise InvalidInput(f"{name}: {rows} rows, {columns} columns, {frames} frame(s): "
                           "each must be at least 1")
    if bits != 1:
        raise InvalidInput(f"{name}: Overlay Bits Allocated is {bits}, not 1")
    origin = ds.get(group << 16 | 0x0050)
    values: list[Any] = ([1, 1] if origin is None or origin.value is None
                         else _values(origin.value))
    if len(values) != 2 or not all(isinstance(v, int) for v in values):
        raise InvalidInput(f"{name}: Overlay Origin ({group:04X},0050) must be two whole "
                           f"numbers (row\\column), not {values!r}")
    size = rows * columns * frames
    limit = _limit("pixel_bytes", PIXEL_BYTES)
    if size > limit:
        raise limits.LimitExceeded(f"{name} of {size} pixels", "pixel_bytes", limit)
    return _Overlay(group, rows, columns, frames, int(values[0]), int(values[1]))


def _clean_overlay(ds: Dataset, overlay: _Overlay, in_image: Sequence[Region], *, ocr: bool,
                   swap: bool) -> list[Region]:
    """Clear the regions found in one overlay plane; returns them in image coordinates."""
    import numpy as np
    from pydicom.pixels.utils import pack_bits, unpack_bits

    element = ds[overlay.group << 16 | 0x3000]
    data = element.value
    name = f"overlay ({overlay.group:04X},3000)"
    size = overlay.rows * overlay.columns * overlay.frames
    if not isinstance(data, bytes) or len(data) * 8 < size:
        length = len(data) if isinstance(data, bytes) else 0
        raise InvalidInput(f"{name}: {length} bytes of data, {(size + 7) // 8} needed for "
                           f"{overlay.frames} frame(s) of {overlay.rows}x{overlay.columns}")
    if len(data) * 8 > _limit("pixel_bytes", PIXEL_BYTES):
        raise limits.LimitExceeded(f"{name} of {len(data)} bytes", "pixel_bytes",
                                   _limit("pixel_bytes", PIXEL_BYTES))
    swap = swap and element.VR == "OW" and len(data) % 2 == 0
    raw = _swapped(data) if swap else data
    bits = np.asarray(unpack_bits(raw))
    planes = bits[:size].reshape(overlay.frames, overlay.rows, overlay.columns)
    dx, dy = overlay.origin_column - 1, overlay.origin_row - 1
    regions = [r for r in (_clip_to(Region(i.x - dx, i.y - dy, i.width, i.height, i.source),
                                    overlay.rows, overlay.columns) for i in in_image)
               if r is not None]
    if ocr:
        regions += _read_text(overlay.frames,
                              lambda index: (planes[index] * 255).astype(np.uint8),
                              f"{name} frame", binary=True)
    regions = _unique(regions)
    if not regions:
        return []
    for r in regions:
        planes[:, r.y:r.y + r.height, r.x:r.x + r.width] = 0
    packed = pack_bits(bits, pad=False)
    element.value = _swapped(packed) if swap else packed
    return [Region(r.x + dx, r.y + dy, r.width, r.height, r.source) for r in regions]


def _clip_to(region: Region, rows: int, columns: int) -> Region | None:
    x0, y0 = max(0, region.x), max(0, region.y)
    x1 = min(columns, region.x + region.width)
    y1 = min(rows, region.y + region.height)
    if x0 >= x1 or y0 >= y1:
        return None
    return Region(x0, y0, x1 - x0, y1 - y0, region.source)


def _swapped(data: bytes) -> bytes:
    """The bytes of each 16-bit word exchanged (OW in Explicit VR Big Endian)."""
    import numpy as np

    return np.frombuffer(data, dtype="<u2").byteswap().tobytes()


def burned_in_risk(ds: Dataset) -> str | None:
    """Why this image may carry burned-in text when Clean Pixel Data is not claimed (rules in
    the module docstring); ``None``: no known risk (or no Pixel Data)."""
    if _PIXEL_DATA not in ds:
        return None
    flag = str(ds.get("BurnedInAnnotation", "") or "").strip().upper()
    if flag == "YES":
        return "Burned In Annotation (0028,0301) is YES"
    if flag == "NO":
        return None
    why = _text_prone(ds)
    if why is None:
        return None
    state = "absent" if not flag else f"{flag!r}"
    return f"Burned In Annotation (0028,0301) is {state} and {why}"


_TEXT_MODALITIES = frozenset({"US", "IVUS", "OT", "XA", "RF", "ES", "XC", "GM", "SM", "OP",
                              "DOC", "SC"})
_GREY_MODALITIES = frozenset({"CT", "MR", "PT", "NM", "CR", "DX", "MG", "RF", "XA"})
_PROJECTION = frozenset({"DX", "CR", "MG", "IO", "PX"})
#: SOP class UID prefixes of images that usually carry text: Secondary Capture, Ultrasound
#: (retired and current), Video, VL
_TEXT_SOP_PREFIXES = ("1.2.840.10008.5.1.4.1.1.7", "1.2.840.10008.5.1.4.1.1.6.",
                      "1.2.840.10008.5.1.4.1.1.3.", "1.2.840.10008.5.1.4.1.1.77.")


def _text_prone(ds: Dataset) -> str | None:
    modality = str(ds.get("Modality", "") or "").upper()
    sop_class = str(ds.get("SOPClassUID", "") or "")
    image_type = [str(v).upper() for v in _values(ds.get("ImageType"))]
    photometric = str(ds.get("PhotometricInterpretation", "") or "").upper()
    if modality in _TEXT_MODALITIES:
        return f"modality {modality} usually carries burned-in text"
    if sop_class.startswith(_TEXT_SOP_PREFIXES):
        return f"SOP class {sop_class} usually carries burned-in text"
    if "ConversionType" in ds:
        return "a Conversion Type (0008,0064) marks a screen or film capture"
    if modality in _PROJECTION and "SECONDARY" in image_type:
        return f"a {modality} image of Image Type SECONDARY may be a screen capture"
    if modality in _GREY_MODALITIES and (photometric.startswith(("RGB", "YBR"))
                                         or photometric == "PALETTE COLOR"):
        return f"a colour {modality} image is likely a screen capture"
    return None


def _values(value: object) -> list[object]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, Iterable):
        return list(value)
    return [value]


#: Body Part Examined values (PS3.16 Annex L) away from the head
NO_FACE_PARTS = frozenset({
    "ABDOMEN", "PELVIS", "HIP", "KNEE", "LEG", "LOWER LIMB", "LOWLIMB", "FOOT", "ANKLE",
    "TOE", "HEEL", "CALF", "THIGH", "FEMUR", "TIBIA", "FIBULA", "UPPER LIMB", "UPRLIMB",
    "ARM", "HAND", "FINGER", "THUMB", "WRIST", "ELBOW", "FOREARM", "HUMERUS", "BREAST",
    "KIDNEY", "LIVER", "PROSTATE", "BLADDER", "UTERUS", "OVARY", "SACRUM", "COCCYX",
    "LSPINE", "ABDOMENPELVIS", "EXTREMITY",
})
_NO_FACE_MODALITIES = frozenset({"MG", "SM", "GM"})


def visual_features_risk(ds: Dataset) -> str | None:
    """Why Clean Recognizable Visual Features cannot be claimed for this image (dicomsec does
    not distort faces); ``None`` when (0028,0302) is already ``NO``, there is no Pixel Data, or
    the image cannot show a face (module docstring)."""
    if _PIXEL_DATA not in ds:
        return None
    if str(ds.get("RecognizableVisualFeatures", "") or "").strip().upper() == "NO":
        return None
    modality = str(ds.get("Modality", "") or "").upper()
    if modality in _NO_FACE_MODALITIES:
        return None
    part = str(ds.get("BodyPartExamined", "") or "").strip().upper()
    if part in NO_FACE_PARTS:
        return None
    what = f"Body Part Examined {part}" if part else "no Body Part Examined"
    return (f"a {modality or 'image'} with {what} may show a face, and dicomsec does not "
            "distort faces (Recognizable Visual Features (0028,0302) is not NO)")
