"""The reports of de-identification and re-identification (:class:`dicomsec.report.Report`).

Neither report ever holds an original value: no name, no ID, no UID, no date, not even the
date offset. They name attributes (``(0010,0010) PatientName``), count mappings and say what
was encrypted for whom (certificate file names) and what was blanked where (pixel boxes).
The old → new mapping, which is PHI, goes only to ``--mapping`` (see :mod:`._batch`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from dicomsec.report import Report

__all__ = ["DeidReport", "EncryptedSummary", "PixelSummary", "ReidReport"]


@dataclass(frozen=True, slots=True)
class EncryptedSummary:
    """What went into the Encrypted Attributes Sequence (0400,0500): one item per recipient
    group; ``recipients``: the certificate / public key file names (not their subjects)."""

    items: int
    recipients: tuple[str, ...]
    mode: str

    def to_dict(self) -> dict[str, Any]:
        return {"items": self.items, "recipients": list(self.recipients), "mode": self.mode}


@dataclass(frozen=True, slots=True)
class PixelSummary:
    """The pixel cleaning that was done: the blanked boxes ``(x, y, width, height, source)``
    in pixel coordinates, the number of frames, the engine and the transfer syntax written."""

    regions: tuple[tuple[int, int, int, int, str], ...]
    frames: int
    engine: str
    transfer_syntax: str

    def to_dict(self) -> dict[str, Any]:
        return {"regions": [{"x": x, "y": y, "width": w, "height": h, "source": s}
                            for x, y, w, h, s in self.regions],
                "frames": self.frames, "engine": self.engine,
                "transfer_syntax": self.transfer_syntax}


@dataclass(frozen=True, slots=True)
class DeidReport(Report):
    """What :func:`~dicomsec.deid.deidentify_file` wrote.

    It exists only for a file that was written (a file that cannot be de-identified safely
    raises and nothing is written), so ``ok`` is always true. ``flags`` are the risks the
    run did not remove (burned-in text that was not cleaned, recognizable features that
    cannot be claimed clean): without ``strict`` they are reported here and on stderr; with
    ``strict`` the file is refused instead. ``claimed``: the CID 7050 codes written in
    (0012,0064). No original value is ever held: ``date_shifted`` says whether dates were
    shifted, never by how much. ``overlays``: with Clean Graphics, the text cleared in the
    overlay planes (same shape as ``pixels``).
    """

    schema: ClassVar[str] = "dicomsec.deid.file/1"

    path: str
    output: str
    claimed: tuple[str, ...]
    removed: tuple[str, ...]
    replaced: tuple[str, ...]
    kept: tuple[str, ...]
    uids_replaced: int
    patient_ids_replaced: int
    date_shifted: bool
    signatures_removed: tuple[str, ...] = ()
    encrypted: EncryptedSummary | None = None
    pixels: PixelSummary | None = None
    flags: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    overlays: PixelSummary | None = None

    @property
    def ok(self) -> bool:
        return True

    def summary(self) -> str:
        enc = (f"{self.encrypted.items}:{self.encrypted.mode}" if self.encrypted is not None
               else "none")
        px = f"{len(self.pixels.regions)}" if self.pixels is not None else "none"
        return (f"DEIDENTIFIED file={self.path} output={self.output} "
                f"removed={len(self.removed)} replaced={len(self.replaced)} "
                f"kept={len(self.kept)} uids={self.uids_replaced} encrypted={enc} "
                f"pixel_regions={px} flags={len(self.flags)}")

    def _content(self) -> dict[str, Any]:
        return {
            "file": self.path, "output": self.output, "claimed": list(self.claimed),
            "counts": {"removed": len(self.removed), "replaced": len(self.replaced),
                       "kept": len(self.kept)},
            "removed": list(self.removed), "replaced": list(self.replaced),
            "kept": list(self.kept),
            "mapping": {"uids": self.uids_replaced, "patient_ids": self.patient_ids_replaced},
            "date_shifted": self.date_shifted,
            "signatures_removed": list(self.signatures_removed),
            "encrypted": self.encrypted.to_dict() if self.encrypted is not None else None,
            "pixels": self.pixels.to_dict() if self.pixels is not None else None,
            "flags": list(self.flags), "warnings": list(self.warnings),
            "overlays": self.overlays.to_dict() if self.overlays is not None else None,
        }


@dataclass(frozen=True, slots=True)
class ReidReport(Report):
    """What :func:`~dicomsec.deid.reidentify_file` restored.

    Re-identification raises when no item opens or its content fails its check (nothing is
    written), so a report exists only for a written file and ``ok`` is true. ``restored``
    names the attributes copied back (never their values); ``item_index`` is the Encrypted
    Attributes Sequence item that opened; ``authenticated``: the content was AES-GCM
    (AuthEnvelopedData), whose tag proves the item unaltered since it was made (not who made
    it); CBC content (compatible mode, gdcmanon) proves nothing beyond decoding as a data set.
    ``complete``: the item gave the identity back (Patient Identity Removed set to NO); false
    for a subset item, whose output keeps (0012,0062) YES because the rest are still dummies.
    ``skipped``: attributes of the item never copied back (file meta, signatures, an Encrypted
    Attributes Sequence, Patient Identity Removed).
    """

    schema: ClassVar[str] = "dicomsec.deid.reid/1"

    path: str
    output: str
    restored: tuple[str, ...]
    item_index: int
    outer: str
    cipher: str
    recipient_kind: str
    authenticated: bool
    complete: bool = True
    skipped: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return True

    def summary(self) -> str:
        return (f"REIDENTIFIED file={self.path} output={self.output} "
                f"restored={len(self.restored)} item={self.item_index} outer={self.outer} "
                f"cipher={self.cipher} authenticated={str(self.authenticated).lower()} "
                f"complete={str(self.complete).lower()}")

    def _content(self) -> dict[str, Any]:
        return {
            "file": self.path, "output": self.output, "restored": list(self.restored),
            "item_index": self.item_index, "outer": self.outer, "cipher": self.cipher,
            "recipient_kind": self.recipient_kind, "authenticated": self.authenticated,
            "complete": self.complete, "skipped": list(self.skipped),
        }
