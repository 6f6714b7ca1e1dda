"""Files: read, de-identify (engine, pixels, envelope), write atomically; and re-identify.

:func:`deidentify_file` runs the steps in this order, and writes only when every one of them
succeeded (through :func:`dicomsec._atomic.atomic_output`: no half-done file ever has a name):

1. read the file (pydicom; values are decoded when a step needs them: a value a step reads
   that fails to decode refuses the file, exit 2, before anything is written; a damaged value
   no step reads is removed into the originals or kept as the input had it, see
   docs/deid.md);
2. the risks the options leave: without ``clean-pixel-data``, :func:`._pixels.burned_in_risk`;
   with ``clean-recognizable-visual-features``, :func:`._pixels.visual_features_risk` (the
   toolkit does not distort faces: the option is claimed only when the image cannot show
   one). A risk is a *flag* in the report; with ``strict`` the file is refused
   (:class:`~dicomsec.errors.PolicyViolation`, exit 1: a refusal for a safety reason, not bad
   input);
3. the engine (:func:`._engine.deidentify_dataset`);
4. with ``clean-pixel-data``: :func:`._pixels.clean_pixels` on the new data set; its code
   (113101) goes into (0012,0064) only after it succeeded;
5. with recipient groups: the Encrypted Attributes Sequence
   (:func:`._envelope.encrypted_attributes`);
6. the write.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from dicomsec.deid._report import DeidReport, EncryptedSummary, PixelSummary, ReidReport
from dicomsec.deid._rules import CODING_SCHEME, Option
from dicomsec.errors import DicomSecError, InvalidInput, PolicyViolation

if TYPE_CHECKING:
    from pydicom.dataelem import RawDataElement
    from pydicom.dataset import Dataset

    from dicomsec.algorithms.policy import AlgorithmPolicy
    from dicomsec.cms.recipients import Credentials
    from dicomsec.deid._engine import EngineResult
    from dicomsec.deid._envelope import RecipientGroup
    from dicomsec.deid._pixels import PixelRules
    from dicomsec.events import AuditEvent, AuditHandler
    from dicomsec.signatures._events import Identity

__all__ = ["DeidConfig", "Deidentified", "deidentify", "deidentify_file", "read_dicom",
           "reidentify_file"]

@dataclass(frozen=True, slots=True)
class DeidConfig:
    """Everything a de-identification run needs, picklable (paths and bytes, no key objects):
    worker processes receive it as it is.

    ``secret``: the HMAC key of the UID, Patient ID and date mappings (at least 16 bytes;
    the same secret gives the same mapping across files and runs). ``groups``: recipient
    groups of the Encrypted Attributes Sequence (none: one-way de-identification). ``mode``:
    ``"modern"`` or ``"compatible"``. ``pixel_rules``: a TOML file of region rules (``None``:
    the shipped rules). ``strict``: refuse a file with a risk the options leave instead of
    flagging it. ``policy``: an algorithm policy file for the envelopes. ``ocr``: look for
    text with the OCR engine as well as the region rules (``clean-pixel-data``).
    """

    options: frozenset[Option] = frozenset()
    secret: bytes = field(default=b"", repr=False)
    groups: tuple[RecipientGroup, ...] = ()
    mode: str = "modern"
    pixel_rules: Path | None = None
    strict: bool = False
    policy: Path | None = None
    ocr: bool = True


@dataclass(frozen=True, slots=True)
class Deidentified:
    """A written file's report and its mappings (original → new: PHI, never in the report)."""

    report: DeidReport
    uid_map: Mapping[str, str]
    patient_id_map: Mapping[str, str]


def read_dicom(src: Path, *, lazy_private: bool = False) -> Dataset:
    """A DICOM Part 10 file, every element decoded (a damaged file fails here, not later).
    ``lazy_private``: the top-level private elements that de-identification without Retain
    Safe Private removes whatever their value (:func:`._clean.raw_removable_private`: no
    sequence, no identifying VR, Explicit VR Little Endian) stay undecoded; their bytes go to
    the encrypted originals as they were read.

    Raises:
        InvalidInput: not a readable regular file, or not DICOM (one line naming it).
    """
    with _unreadable(src):
        ds = _read(src)
        _decode(ds, lazy_private)
    return ds


@contextlib.contextmanager
def _unreadable(src: Path) -> Iterator[None]:
    """What pydicom raises on a file it cannot read, or on a value it cannot decode (read
    or decoded later, when a step needs it), as one :class:`InvalidInput` line naming it."""
    import struct

    from pydicom.errors import BytesLengthException, InvalidDicomError

    try:
        yield
    except InvalidDicomError:
        raise InvalidInput("not a DICOM Part 10 file (no 'DICM' after the preamble)",
                           path=str(src)) from None
    except OSError as exc:
        raise InvalidInput(f"cannot read: {exc.strerror or exc}", path=str(src)) from None
    except (EOFError, ValueError, KeyError, IndexError, TypeError, AttributeError,
            NotImplementedError, OverflowError, struct.error, BytesLengthException) as exc:
        raise InvalidInput(f"not a readable DICOM file ({type(exc).__name__})",
                           path=str(src)) from None


def _read(src: Path) -> Dataset:
    """The file's data set as pydicom reads it (elements undecoded until used)."""
    from pydicom import dcmread

    from dicomsec._atomic import regular_input

    regular_input(src)
    ds = dcmread(src)
    if "TransferSyntaxUID" not in getattr(ds, "file_meta", {}):
        raise InvalidInput("no Transfer Syntax UID in the File Meta Information",
                           path=str(src))
    return ds


def _decode(ds: Dataset, lazy_private: bool) -> None:
    """Decode every element now (but the private ones ``lazy_private`` leaves undecoded)."""
    from dicomsec.deid._clean import raw_removable_private

    if not lazy_private:
        for _ in ds.iterall():
            pass
        return
    for tag in list(ds.keys()):
        if raw_removable_private(ds.get_item(tag)):
            continue
        elem = ds[tag]
        if elem.VR == "SQ":
            for item in elem.value:
                for _ in item.iterall():
                    pass


def _as_read(ds: Dataset) -> dict[int, RawDataElement]:
    """The top-level elements still as read that :func:`._clean.raw_copyable` allows to copy
    (their bytes go to the encrypted originals and the output as read)."""
    from pydicom.dataelem import RawDataElement

    from dicomsec.deid._clean import raw_copyable

    as_read: dict[int, RawDataElement] = {}
    for tag in ds.keys():
        raw = ds.get_item(tag)
        if isinstance(raw, RawDataElement) and raw_copyable(raw):
            as_read[int(tag)] = raw
    return as_read


@functools.cache
def _policy(path: Path | None) -> AlgorithmPolicy | None:
    if path is None:
        return None
    from dicomsec.algorithms.policy import AlgorithmPolicy

    return AlgorithmPolicy.from_toml(path)


@functools.cache
def _pixel_rules(path: Path | None) -> PixelRules:
    from dicomsec.deid._pixels import default_pixel_rules, load_pixel_rules

    return default_pixel_rules() if path is None else load_pixel_rules(path)


def _risks(ds: Dataset, options: frozenset[Option]) -> tuple[list[str], bool]:
    """The flags the options leave on the input, and whether the visual-features option can
    be claimed."""
    from dicomsec.deid._pixels import burned_in_risk, visual_features_risk

    flags: list[str] = []
    if Option.CLEAN_PIXEL_DATA not in options:
        risk = burned_in_risk(ds)
        if risk is not None:
            flags.append(f"burned-in text not cleaned (clean-pixel-data not given): {risk}")
    visual = False
    if Option.CLEAN_RECOGNIZABLE_VISUAL_FEATURES in options:
        why = visual_features_risk(ds)
        visual = why is None
        if why is not None:
            flags.append(f"clean-recognizable-visual-features not claimed: {why}")
    return flags, visual


def _claim(ds: Dataset, options: list[Option]) -> None:
    """Add the CID 7050 code of each option to (0012,0064) (after the work it claims)."""
    from pydicom.dataset import Dataset as _Dataset
    from pydicom.sequence import Sequence

    if not options:
        return
    if "DeidentificationMethodCodeSequence" not in ds:
        ds.DeidentificationMethodCodeSequence = Sequence()
    for option in options:
        item = _Dataset()
        item.CodeValue = option.code
        item.CodingSchemeDesignator = CODING_SCHEME
        item.CodeMeaning = option.meaning
        ds.DeidentificationMethodCodeSequence.append(item)


def _clean_pixels(ds: Dataset, config: DeidConfig, warnings: list[str]
                  ) -> PixelSummary | None:
    from dicomsec.deid._pixels import clean_pixels

    if "PixelData" not in ds:
        warnings.append("clean-pixel-data: no Pixel Data (0x7FE0,0010) here; not claimed")
        return None
    got = clean_pixels(ds, _pixel_rules(config.pixel_rules), ocr=config.ocr)
    return PixelSummary(tuple((r.x, r.y, r.width, r.height, r.source) for r in got.regions),
                        got.frames, got.engine, got.transfer_syntax)


def _clean_overlays(ds: Dataset, config: DeidConfig) -> PixelSummary | None:
    """Clean Graphics keeps the overlay planes (the engine cleans their text attributes):
    text in their bitmaps is found (rules, OCR) and cleared here, so the option's code, which
    the engine wrote, is published only with clean planes (an error writes nothing)."""
    if Option.CLEAN_GRAPHICS not in config.options or not any(
            (group << 16 | 0x3000) in ds for group in range(0x6000, 0x6020, 2)):
        return None
    from dicomsec.deid._pixels import clean_overlays

    got = clean_overlays(ds, _pixel_rules(config.pixel_rules), ocr=config.ocr)
    return PixelSummary(tuple((r.x, r.y, r.width, r.height, r.source) for r in got.regions),
                        got.frames, got.engine, got.transfer_syntax)


def _encrypt(result: EngineResult, config: DeidConfig) -> EncryptedSummary | None:
    if not config.groups:
        return None
    from dicomsec.deid._envelope import encrypted_attributes

    result.dataset.EncryptedAttributesSequence = encrypted_attributes(
        result.originals, config.groups, mode=config.mode, policy=_policy(config.policy))
    names = tuple(p.name for g in config.groups for p in g.recipients)
    return EncryptedSummary(len(config.groups), names, config.mode)


#: attributes the file layer changes after the engine: their originals join the engine's
_FILE_LAYER_TAGS = (0x00280301, 0x00280302)  # Burned In Annotation, Recognizable Visual Features


def _keep_originals(ds: Dataset, result: EngineResult) -> None:
    """The original value of what pixel and overlay cleaning changed (Burned In Annotation,
    Overlay Data, ...) joins the item of original values, so that re-identification restores
    it too (Pixel Data never does: see the engine)."""
    overlay_data = tuple(group << 16 | 0x3000 for group in range(0x6000, 0x6020, 2))
    for tag in (*_FILE_LAYER_TAGS, *overlay_data):
        if tag in ds and tag not in result.originals and (
                tag not in result.dataset or result.dataset[tag].value != ds[tag].value):
            result.originals.add(ds[tag])


def _write(ds: Dataset, dst: Path, *, mode: int | None = None) -> None:
    """Encode first (an encoding error leaves nothing), then publish atomically."""
    from dicomsec._atomic import atomic_output
    from dicomsec.deid._encode import encode_file

    data = encode_file(ds)
    dst.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(dst, mode=mode) as fh:
        fh.write(data)


@contextlib.contextmanager
def _naming(src: Path) -> Iterator[None]:
    """An error raised without a path (by the engine, the pixels, the envelope) names the
    input file: in a batch, every error line says which file it is about."""
    try:
        yield
    except DicomSecError as exc:
        if exc.path is None:
            exc.path = str(src)
        raise


def deidentify(src: Path | str, dst: Path | str, config: DeidConfig, *,
               handlers: Iterable[AuditHandler] | None = None) -> Deidentified:
    """:func:`deidentify_file`, with the file's UID and Patient ID mappings (for
    ``--mapping``; they are PHI and never part of the report). ``handlers``: see
    :func:`deidentify_file`."""
    from dicomsec.events import Operation
    from dicomsec.signatures._events import Identity, emit_built, failure_event

    src = Path(src)
    seen: list[Identity] = []
    try:
        with _naming(src):
            done = _deidentify(src, Path(dst), config, seen if handlers else None)
    except Exception as exc:  # every failure is audited (an OSError too)
        emit_built(handlers, failure_event, Operation.DEIDENTIFY, exc, src)
        raise
    emit_built(handlers, _deid_event, seen[0] if seen else Identity())
    return done


def _deid_event(ident: Identity) -> AuditEvent:
    """DEIDENTIFY: the output's study (anonymized, life cycle 7 de-identification, its SOP
    class and instance) and the original patient (audit logs are access-controlled)."""
    from dicomsec.events import AuditEvent, Operation
    from dicomsec.signatures._events import identity_objects

    return AuditEvent(Operation.DEIDENTIFY, objects=identity_objects(
        ident, anonymized=True, life_cycle=7))


def _text(ds: Dataset, keyword: str) -> str:
    """A value of ``ds`` as text ('' when absent or empty)."""
    value = ds.get(keyword)
    return "" if value is None else str(value)


def _decode_for_cleaning(out: Dataset, options: frozenset[Option]) -> None:
    """Decode what pixel and overlay cleaning read (the Image Pixel module, group 0028, and
    the overlay groups 60xx), so that a damaged value there is bad input (exit 2) here, and an
    error inside the cleaning stays an error of the cleaning."""
    if not options & {Option.CLEAN_PIXEL_DATA, Option.CLEAN_GRAPHICS}:
        return
    for tag in list(out.keys()):
        group = int(tag) >> 16
        if (group == 0x0028 or 0x6000 <= group <= 0x601E) and int(tag) != 0x7FE00010:
            out[tag]


def _clean(out: Dataset, config: DeidConfig, warnings: list[str], visual: bool
           ) -> tuple[PixelSummary | None, PixelSummary | None]:
    """The pixel and overlay cleaning the options ask for, and the claims of what was done
    (into (0012,0064), after the work)."""
    claims: list[Option] = []
    pixels = None
    if Option.CLEAN_PIXEL_DATA in config.options:
        pixels = _clean_pixels(out, config, warnings)
        if pixels is not None:
            claims.append(Option.CLEAN_PIXEL_DATA)
    overlays = _clean_overlays(out, config)
    if visual:
        out.RecognizableVisualFeatures = "NO"
        claims.append(Option.CLEAN_RECOGNIZABLE_VISUAL_FEATURES)
    _claim(out, claims)
    return pixels, overlays


def _deidentify(src: Path, dst: Path, config: DeidConfig,
                seen: list[Identity] | None = None) -> Deidentified:
    from dicomsec.deid._engine import Settings, deidentify_dataset
    from dicomsec.deid._uids import check_secret

    check_secret(config.secret)
    with _unreadable(src):
        # values are decoded when a step needs them (the engine, the pixel and overlay
        # cleaning, the originals): one that fails to decode fails the file here, before
        # anything is written (exit 2)
        ds = _read(src)
        as_read = _as_read(ds)  # before any step decodes an element (its bytes as read)
        flags, visual = _risks(ds, config.options)
        if flags and config.strict:
            raise PolicyViolation("refused (strict): " + "; ".join(flags), path=str(src),
                                  hint="give the option that removes the risk, or drop "
                                  "--strict to write the file with the risk flagged")
        result = deidentify_dataset(ds, Settings(options=config.options, secret=config.secret),
                                    as_read=as_read)
        out, warnings = result.dataset, list(result.warnings)
        _decode_for_cleaning(out, config.options)
    # outside the mapping: an error of the cleaning or the envelope is theirs, not bad input
    pixels, overlays = _clean(out, config, warnings, visual)
    _keep_originals(ds, result)
    encrypted = _encrypt(result, config)
    _write(out, dst)
    if seen is not None:  # the output's study and instance, the original patient
        from dicomsec.signatures._events import Identity

        seen.append(Identity(_text(out, "StudyInstanceUID"), _text(ds, "PatientID"),
                             _text(ds, "PatientName"), _text(out, "SOPClassUID"),
                             _text(out, "SOPInstanceUID")))
    codes = tuple(str(item.CodeValue) for item in
                  out.get("DeidentificationMethodCodeSequence", []))
    report = DeidReport(
        str(src), str(dst), codes, result.removed, result.replaced, result.kept,
        len(result.uid_map), len(result.patient_id_map), result.date_offset_days is not None,
        result.signatures_removed, encrypted, pixels, tuple(flags), tuple(warnings), overlays)
    return Deidentified(report, dict(result.uid_map), dict(result.patient_id_map))


def deidentify_file(src: Path | str, dst: Path | str, config: DeidConfig, *,
                    handlers: Iterable[AuditHandler] | None = None) -> DeidReport:
    """De-identify the DICOM file ``src`` into ``dst`` (PS3.15 E.1; steps in the module's
    docstring); the report names what was removed, replaced, kept, encrypted and cleaned.

    Raises:
        InvalidInput: unreadable or not DICOM input, a bad secret, recipient or rules file
            (exit 2); nothing written.
        PolicyViolation: ``strict`` and a risk the options leave, or the algorithm policy
            refuses an algorithm of the envelope (exit 1); nothing written.

    ``handlers`` get one audit event (:mod:`dicomsec.events`): DEIDENTIFY with the output's
    study (anonymized) and the original patient; a refusal (``strict``, the algorithm policy)
    POLICY_VIOLATION; another failure DEIDENTIFY with outcome 4 and the error as Alert
    Description.
    """
    return deidentify(src, dst, config, handlers=handlers).report


def reidentify_file(src: Path | str, dst: Path | str, credentials: Credentials, *,
                    policy: AlgorithmPolicy | None = None,
                    handlers: Iterable[AuditHandler] | None = None) -> ReidReport:
    """Restore the original values of a de-identified file from its Encrypted Attributes
    Sequence (PS3.15 E.1.2) into ``dst`` (mode 0600: it holds PHI again).

    ``handlers`` get one audit event (:mod:`dicomsec.events`): REIDENTIFY with the restored
    study and patient and the input file; a refusal by the algorithm policy
    POLICY_VIOLATION; any other failure REIDENTIFY with outcome 4 and the error as Alert
    Description (the use of a restricted function is audited either way).

    Raises:
        InvalidInput: unreadable input, or no Encrypted Attributes Sequence (exit 2).
        DecryptionFailed: no item has a recipient the credentials match, or the content
            fails its check (exit 1); nothing written.
    """
    from dicomsec.events import Operation
    from dicomsec.signatures._events import emit_built, failure_event

    src, dst = Path(src), Path(dst)
    try:
        with _naming(src):
            report, restored = _reidentify(src, dst, credentials, policy)
    except Exception as exc:  # every failure is audited (an OSError too)
        emit_built(handlers, failure_event, Operation.REIDENTIFY, exc, src)
        raise
    emit_built(handlers, _reid_event, src, restored)
    return report


def _reid_event(src: Path, restored: Dataset) -> AuditEvent:
    """REIDENTIFY: the restored study and patient, and the input file."""
    from dicomsec.events import AuditEvent, Operation
    from dicomsec.signatures._events import Identity, file_object, identity_objects

    ident = Identity(_text(restored, "StudyInstanceUID"), _text(restored, "PatientID"),
                     _text(restored, "PatientName"), _text(restored, "SOPClassUID"),
                     _text(restored, "SOPInstanceUID"))
    return AuditEvent(Operation.REIDENTIFY, objects=(*identity_objects(ident),
                                                     file_object(src)))


def _reidentify(src: Path, dst: Path, credentials: Credentials,
                policy: AlgorithmPolicy | None) -> tuple[ReidReport, Dataset]:
    """:func:`reidentify_file`: its report and the restored data set."""
    from dicomsec.deid._reid import reidentify_dataset

    ds = read_dicom(src)
    got = reidentify_dataset(ds, credentials, policy=policy)
    _write(got.dataset, dst, mode=0o600)
    o = got.opened
    return ReidReport(str(src), str(dst), tuple(got.restored), o.item_index, o.outer,
                      o.cipher, o.recipient_kind, o.authenticated, complete=got.complete,
                      skipped=tuple(got.skipped)), got.dataset
