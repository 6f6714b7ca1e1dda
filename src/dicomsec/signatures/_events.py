"""Audit events of the file operations (sign, verify, wrap, unwrap, deid, reid): the objects
of :mod:`dicomsec.events` they carry, shared by :mod:`dicomsec.signatures`,
:mod:`dicomsec.securefile` and :mod:`dicomsec.deid` (one layer, one place).

Nothing here is built when no handler is given (:func:`emit_built` returns at once), and
nothing heavy is imported: the identity of a file (Study Instance UID, Patient ID and Name,
SOP Class and Instance UIDs) comes from values the operation already holds, or, for a file
the operation streams without parsing (wrap, unwrap), from :func:`head_identity`, which reads
only the first elements of the data set (at most :data:`HEAD_BYTES`). Events never hold a
key, a password, a passphrase or a PIN: failures carry the error's one line, which never does
(:mod:`dicomsec.errors`).
"""

from __future__ import annotations

import logging
import struct
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Generic, ParamSpec, TypeVar

from dicomsec.errors import DicomSecError, PolicyViolation, error_kind
from dicomsec.events import (
    AuditEvent,
    AuditHandler,
    AuditObject,
    Collector,
    ObjectKind,
    Operation,
    Outcome,
    Participant,
    emit,
)

if TYPE_CHECKING:
    from dicomsec._rawdicom import ParsedFile
    from dicomsec.errors import ErrorKind

__all__ = ["HEAD_BYTES", "Audited", "Identity", "alert", "describe", "emit_built",
           "failure_event", "file_object", "head_identity", "identity_objects",
           "parsed_identity", "recipient_participant", "run_audited", "unpacked",
           "with_command", "without_files"]

_log = logging.getLogger("dicomsec.events")

R = TypeVar("R")
P = ParamSpec("P")

#: the most :func:`head_identity` reads of a file (the identifying attributes come first)
HEAD_BYTES = 256 << 10
ALERT = "Alert Description"

_CHARSET = 0x00080005
_SOP_CLASS = 0x00080016
_SOP_INSTANCE = 0x00080018
_PATIENT_NAME = 0x00100010
_PATIENT_ID = 0x00100020
_STUDY_UID = 0x0020000D
_WANTED = frozenset({_CHARSET, _SOP_CLASS, _SOP_INSTANCE, _PATIENT_NAME, _PATIENT_ID,
                     _STUDY_UID})

#: Specific Character Set terms (single byte, no code extensions) → Python codecs
_CODECS = {
    "": "ascii", "ISO_IR 6": "ascii", "ISO_IR 192": "utf-8", "ISO_IR 100": "latin-1",
    "ISO_IR 101": "iso8859-2", "ISO_IR 109": "iso8859-3", "ISO_IR 110": "iso8859-4",
    "ISO_IR 144": "iso8859-5", "ISO_IR 127": "iso8859-6", "ISO_IR 126": "iso8859-7",
    "ISO_IR 138": "iso8859-8", "ISO_IR 148": "iso8859-9", "ISO_IR 203": "iso8859-15",
    "ISO_IR 166": "tis-620", "ISO_IR 13": "shift_jis", "GB18030": "gb18030", "GBK": "gbk",
}


@dataclass(frozen=True, slots=True)
class Identity:
    """What a DICOM file says it is: empty strings for what it does not say."""

    study_uid: str = ""
    patient_id: str = ""
    patient_name: str = ""
    sop_class: str = ""
    sop_instance: str = ""


def decode_text(raw: bytes, charset: bytes | str | None) -> str:
    """A text value as text: ASCII as it is; otherwise by the Specific Character Set (a
    single-byte term or UTF-8 directly, code extensions through pydicom, imported only then).
    Never raises (undecodable bytes are replaced)."""
    raw = raw.rstrip(b"\x00 ")
    if raw.isascii():
        return raw.decode("ascii")
    text = charset.decode("ascii", "replace") if isinstance(charset, bytes) else charset or ""
    terms = [t.strip() for t in text.split("\\")]
    codec = _CODECS.get(terms[0]) if len(terms) == 1 else None
    if codec is not None:
        return raw.decode(codec, "replace")
    try:
        from pydicom.charset import decode_bytes

        return str(decode_bytes(raw, terms or ["ISO_IR 6"], {0x5E, 0x3D}))
    except Exception:  # an unknown or broken character set: the name stays readable
        return raw.decode("latin-1")


def _uid(raw: bytes | None) -> str:
    return (raw or b"").rstrip(b"\x00 ").decode("ascii", "replace")


def identity_of(values: dict[int, bytes]) -> Identity:
    """An :class:`Identity` from the raw values of its attributes (tag → bytes)."""
    name = values.get(_PATIENT_NAME)
    pid = values.get(_PATIENT_ID)
    charset = values.get(_CHARSET)
    return Identity(
        study_uid=_uid(values.get(_STUDY_UID)),
        patient_id=decode_text(pid, charset) if pid else "",
        patient_name=decode_text(name, charset) if name else "",
        sop_class=_uid(values.get(_SOP_CLASS)),
        sop_instance=_uid(values.get(_SOP_INSTANCE)),
    )


def parsed_identity(parsed: ParsedFile, fh: BinaryIO) -> Identity:
    """The identity of a file the operation parsed already (:mod:`dicomsec._rawdicom`): the
    values of the top level, read through ``fh`` when they were not kept."""
    from dicomsec.signatures._values import raw_value

    values: dict[int, bytes] = {}
    for tag in _WANTED:
        raw = raw_value(parsed, fh, parsed.dataset.find(tag))
        if raw is not None:
            values[tag] = raw
    return identity_of(values)


# --------------------------------------------------------------------------------------------
# the head of a Part 10 file

_UNDEFINED = 0xFFFFFFFF
_ITEM, _ITEM_END, _SEQ_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
_LONG_VRS = frozenset({b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN",
                       b"UR", b"UT", b"UV"})
_MAX_DEPTH = 16


class _Stop(Exception):
    """The head read ends here (too deep, not understood, or past the Study Instance UID)."""


class _Short(_Stop):
    """The bytes read end before the walk does."""


#: (explicit header: tag, VR, 2-byte length), (implicit header: tag, 4-byte length), 4-byte
#: length; little endian first
_EXPLICIT = (struct.Struct("<HH2sH"), struct.Struct(">HH2sH"))
_IMPLICIT = (struct.Struct("<HHL"), struct.Struct(">HHL"))
_LONG = (struct.Struct("<L"), struct.Struct(">L"))


class _Head:
    """The first bytes of a Part 10 file, walked element by element."""

    __slots__ = ("data", "explicit", "implicit", "implicit_header", "long", "size")

    def __init__(self, data: bytes, little: bool, implicit: bool) -> None:
        order = 0 if little else 1
        self.data, self.size, self.implicit = data, len(data), implicit
        self.explicit, self.long = _EXPLICIT[order], _LONG[order]
        self.implicit_header = _IMPLICIT[order]

    def element(self, pos: int, implicit: bool) -> tuple[int, bytes, int, int]:
        """(tag, VR, value length, value offset) of the element at ``pos``."""
        if pos + 8 > self.size:
            raise _Short
        if implicit:
            group, elem, length = self.implicit_header.unpack_from(self.data, pos)
            return group << 16 | elem, b"", length, pos + 8
        group, elem, vr, short = self.explicit.unpack_from(self.data, pos)
        if group == 0xFFFE:  # items and delimiters have no VR
            return group << 16 | elem, b"", self.long.unpack_from(self.data, pos + 4)[0], pos + 8
        if vr in _LONG_VRS:
            if pos + 12 > self.size:
                raise _Short
            return group << 16 | elem, vr, self.long.unpack_from(self.data, pos + 8)[0], pos + 12
        return group << 16 | elem, vr, short, pos + 8

    def skip_undefined(self, pos: int, implicit: bool, depth: int) -> int:
        """The end of an undefined-length sequence (or encapsulated value) whose items start
        at ``pos``."""
        if depth > _MAX_DEPTH:
            raise _Stop
        while True:
            tag, _vr, length, pos = self.element(pos, True)
            if tag == _SEQ_END:
                return pos
            if tag != _ITEM:
                raise _Stop
            if length != _UNDEFINED:
                pos += length
                continue
            pos = self.dataset(pos, implicit, depth + 1, None)

    def dataset(self, pos: int, implicit: bool, depth: int,
                found: dict[int, bytes] | None) -> int:
        """Walk a data set from ``pos``: the top level (``found`` given) up to the Study
        Instance UID, an item up to its delimiter (returns the position after it)."""
        while True:
            tag, vr, length, value = self.element(pos, implicit)
            if found is None and tag == _ITEM_END:
                return value
            if found is not None and tag > _STUDY_UID:
                raise _Stop
            if length == _UNDEFINED:
                inner = implicit or vr == b"UN"
                pos = self.skip_undefined(value, inner, depth + 1)
                continue
            if found is not None and tag in _WANTED:
                found[tag] = self.data[value:value + length]
            pos = value + length


def head_identity(fh: BinaryIO, offset: int = 0) -> Identity:
    """The identity of the Part 10 file that starts at ``offset`` of ``fh``, from its first
    16 KiB, or :data:`HEAD_BYTES` when the attributes lie further (the handle's position is
    restored); what is not found there stays empty. Never raises."""
    found: dict[int, bytes] = {}
    for size in (16 << 10, HEAD_BYTES):
        try:
            here = fh.tell()
            fh.seek(offset)
            data = fh.read(size)
            fh.seek(here)
        except (OSError, ValueError):
            return Identity()
        found.clear()
        try:
            _walk_head(data, found)
        except _Short:
            if len(data) == size:
                continue  # more to read
        except (_Stop, struct.error, zlib.error):
            pass
        break
    return identity_of(found)


def _walk_head(data: bytes, found: dict[int, bytes]) -> None:
    """Fill ``found`` from the meta information and the start of the data set."""
    if data[128:132] != b"DICM":
        raise _Stop
    head = _Head(data, True, False)
    pos, meta = 132, {}
    while True:
        tag, _vr, length, value = head.element(pos, False)
        if tag >> 16 != 0x0002:
            break
        meta[tag] = data[value:value + length]
        pos = value + length
    syntax = _uid(meta.get(0x00020010))
    found[_SOP_CLASS] = meta.get(0x00020002, b"")
    found[_SOP_INSTANCE] = meta.get(0x00020003, b"")
    if syntax == "1.2.840.10008.1.2.1.99":  # deflated: inflate what was read
        data = data[:pos] + zlib.decompressobj(-zlib.MAX_WBITS).decompress(data[pos:])
    head = _Head(data, syntax != "1.2.840.10008.1.2.2", syntax == "1.2.840.10008.1.2")
    head.dataset(pos, head.implicit, 0, found)


# --------------------------------------------------------------------------------------------
# objects and events


def file_object(path: Path | str, kind: ObjectKind = ObjectKind.FILE,
                details: tuple[tuple[str, str], ...] = ()) -> AuditObject:
    """A file (or media) object: its ``file://`` URI and its base name."""
    p = Path(path)
    try:
        uri = p.resolve().as_uri()
    except (OSError, ValueError):
        uri = str(p)
    return AuditObject(kind, uri, name=p.name or str(p), details=details)


def alert(text: str) -> tuple[tuple[str, str], ...]:
    """The ``Alert Description`` detail of a failure: one line."""
    return ((ALERT, " ".join(text.split())),)


def identity_objects(ident: Identity, *, encrypted: bool | None = None,
                     anonymized: bool | None = None, life_cycle: int | None = None,
                     patient_id: str | None = None, patient_name: str | None = None,
                     ) -> tuple[AuditObject, ...]:
    """The STUDY object (with its SOP class and instance) and the PATIENT object of a file;
    each only when the file names it. ``patient_id`` / ``patient_name``: other values than
    the file's (the original patient of a de-identified output)."""
    out: list[AuditObject] = []
    if ident.study_uid:
        sops = ((ident.sop_class, (ident.sop_instance,) if ident.sop_instance else ()),) \
            if ident.sop_class else ()
        out.append(AuditObject(ObjectKind.STUDY, ident.study_uid, sop_classes=sops,
                               encrypted=encrypted, anonymized=anonymized,
                               life_cycle=life_cycle))
    pid = ident.patient_id if patient_id is None else patient_id
    name = ident.patient_name if patient_name is None else patient_name
    if pid:
        out.append(AuditObject(ObjectKind.PATIENT, pid, name=name or None))
    return tuple(out)


def describe(exc: BaseException) -> str:
    """One line for an exception, as :mod:`dicomsec.batch` words a failed job: a
    :class:`DicomSecError` its message, an :class:`OSError` the file and the system's reason,
    anything else ``internal error: Type: message`` (never a traceback)."""
    if isinstance(exc, DicomSecError):
        text = str(exc)
    elif isinstance(exc, OSError):
        where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        text = f"{where}{exc.strerror or exc}"
    else:
        text = f"internal error: {type(exc).__name__}: {exc}"
    return " ".join(text.split())


def failure_event(operation: Operation, exc: BaseException, path: Path | str | None,
                  objects: tuple[AuditObject, ...] = ()) -> AuditEvent:
    """The event of an operation that raised ``exc``: a :class:`PolicyViolation` gives a
    POLICY_VIOLATION event (refused: outcome 4), any other :class:`DicomSecError` or an
    :class:`OSError` ``operation`` with outcome 4, an unexpected exception (a defect)
    ``operation`` with outcome 8; each with the file (when known), ``objects`` and the
    error's line (:func:`describe`) as Alert Description."""
    text = describe(exc)
    files = (file_object(path, details=alert(text)),) if path is not None else ()
    if isinstance(exc, PolicyViolation):
        return AuditEvent(Operation.POLICY_VIOLATION, Outcome.MINOR_FAILURE, text,
                          files or (AuditObject(ObjectKind.SECURITY_RESOURCE, "policy",
                                                details=alert(text)),))
    outcome = Outcome.MINOR_FAILURE if isinstance(exc, DicomSecError | OSError) \
        else Outcome.SERIOUS_FAILURE
    return AuditEvent(operation, outcome, text, (*files, *objects))


def emit_built(handlers: Iterable[AuditHandler] | None,
               build: Callable[P, AuditEvent | None], *args: P.args,
               **kwargs: P.kwargs) -> None:
    """Build an event (``build(*args, **kwargs)``) and emit it, only when there is a
    handler; an event that cannot be built is logged and never breaks the operation
    (notification semantics)."""
    if not handlers:
        return
    try:
        event = build(*args, **kwargs)
    except Exception as exc:
        _log.warning("audit event not built: %s: %s", type(exc).__name__, exc)
        return
    if event is not None:
        emit(handlers, event)


def with_command(handlers: Iterable[AuditHandler], command: str
                 ) -> tuple[AuditHandler, ...]:
    """``handlers`` that see every event with ``command`` set (the command line tool's name
    of the operation); empty when ``handlers`` is."""
    import dataclasses

    targets = tuple(handlers)
    if not targets:
        return ()

    def tagged(event: AuditEvent) -> None:
        emit(targets, dataclasses.replace(event, command=event.command or command))

    return (tagged,)


@dataclass(frozen=True, slots=True)
class Audited(Generic[R]):
    """A batch job's answer with the events its worker collected (the parent re-emits
    them): ``value`` on success; else the error's one line (``error``, ``message`` without
    the location, ``kind``), as :mod:`dicomsec.batch` words a failed job."""

    value: R | None
    events: tuple[AuditEvent, ...] = ()
    error: str | None = None
    message: str | None = None
    kind: ErrorKind | None = None
    #: the traceback of an unexpected exception (a defect), for ``--debug``; else ``None``
    detail: str | None = None


def run_audited(job: Callable[[tuple[AuditHandler, ...]], R], *,
                operation: Operation | None = None,
                path: Path | str | None = None) -> Audited[R]:
    """Run ``job(handlers)`` with a :class:`~dicomsec.events.Collector`; any exception
    (:class:`DicomSecError`, :class:`OSError`, a defect) becomes an :class:`Audited` failure
    that keeps the events (an exception would lose them on its way out of the worker), worded
    as :mod:`dicomsec.batch` words a failed job. When the job collected no failure event of
    its own (the library audits its :class:`DicomSecError`; an unexpected exception escapes
    it unaudited) and ``operation`` is given, the failure event of ``operation`` on ``path``
    is added (:func:`failure_event`: outcome 4, or 8 for a defect)."""
    collector = Collector()
    try:
        value = job((collector,))
    except Exception as exc:  # every failure of the job is its answer, with its events
        if operation is not None and all(e.outcome == Outcome.SUCCESS
                                         for e in collector.events):
            emit((collector,), failure_event(operation, exc, path))
        return _failed(exc, tuple(collector.events))
    return Audited(value, tuple(collector.events))


def _failed(exc: Exception, events: tuple[AuditEvent, ...]) -> Audited[R]:
    kind = error_kind(exc)
    if isinstance(exc, DicomSecError):
        hint = f" ({exc.hint})" if exc.hint and kind == "security" else ""
        return Audited(None, events, f"{exc}{hint}", exc.message, kind)
    text = describe(exc)
    if isinstance(exc, OSError):
        return Audited(None, events, text, exc.strerror or str(exc), kind)
    import traceback

    return Audited(None, events, text, text, kind, "".join(traceback.format_exception(exc)))


def recipient_participant(recipient: object) -> Participant:
    """A recipient of a Secure DICOM File: its certificate's subject; a bare key, a KEK (by
    its identifier) or a password by kind (never the secret)."""
    cert = getattr(recipient, "certificate", None)
    if cert is not None:
        return Participant(cert.subject.rfc4514_string())
    kind = getattr(recipient, "kind", "recipient")
    key_id = getattr(recipient, "key_id", None)
    if isinstance(key_id, bytes):
        return Participant(f"KEK {key_id.hex()}")
    names = {"pwri": "password recipient", "ktri": "RSA public key",
             "kari": "key agreement public key", "ori": "ML-KEM public key"}
    return Participant(names.get(kind, str(kind)))


Out = TypeVar("Out")


def unpacked(outcome: Out, handlers: Iterable[AuditHandler]) -> Out:
    """A batch outcome (:class:`dicomsec.batch.Outcome`) whose value is :class:`Audited`:
    its events given to ``handlers`` (the parent's re-emission), then the outcome as the
    job without events would have made it (its value, or its error). Any other outcome is
    returned as it is."""
    import dataclasses

    value = getattr(outcome, "value", None)
    if not isinstance(value, Audited):
        return outcome
    targets = tuple(handlers)
    for event in value.events:
        emit(targets, event)
    replace: Callable[..., Out] = dataclasses.replace
    if value.error is None:
        return replace(outcome, value=value.value)
    if value.detail is not None and hasattr(outcome, "detail"):
        return replace(outcome, value=None, error=value.error, message=value.message,
                       kind=value.kind, detail=value.detail)
    return replace(outcome, value=None, error=value.error, message=value.message,
                   kind=value.kind)


def without_files(handlers: Iterable[AuditHandler] | None) -> tuple[AuditHandler, ...]:
    """``handlers`` given each event without its FILE objects (a temporary file's name
    means nothing); the Alert Description of a failure moves to the study object."""
    import dataclasses

    targets = tuple(handlers or ())
    if not targets:
        return ()

    def strip(event: AuditEvent) -> None:
        files = [o for o in event.objects if o.kind is ObjectKind.FILE]
        kept = [o for o in event.objects if o.kind is not ObjectKind.FILE]
        details = tuple(d for f in files for d in f.details)
        if details and kept:
            kept[0] = dataclasses.replace(kept[0], details=(*kept[0].details, *details))
        elif details:
            kept.append(dataclasses.replace(files[0], id="dataset:", name="<dataset>"))
        emit(targets, dataclasses.replace(event, objects=tuple(kept)))

    return (strip,)

