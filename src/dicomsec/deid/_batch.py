"""Batches: where each input goes under the output folder, the job functions the batch
executor (:func:`dicomsec.batch.make_executor`) runs in worker processes, and the one mapping
table merged in the parent.

The jobs are module-level functions taking picklable arguments (paths, bytes, a frozen
:class:`~._file.DeidConfig`) and returning plain values (the report's ``to_dict()`` and the
mapping pairs): workers may be forked or spawned. One UID and Patient ID mapping across the
batch needs no coordination between workers: the keyed HMAC gives every worker the same new
value for the same original. The parent only merges what the workers replaced, for
``--mapping``.
"""

from __future__ import annotations

import csv
import functools
import io
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dicomsec.errors import InvalidInput

if TYPE_CHECKING:
    from dicomsec.cms.recipients import Credentials
    from dicomsec.deid._file import DeidConfig
    from dicomsec.events import AuditHandler
    from dicomsec.signatures._events import Audited

__all__ = ["KeyArgs", "MappingTable", "Planned", "audited_deid_job", "audited_reid_job",
           "credentials", "deid_job", "plan", "reid_job"]


@dataclass(frozen=True, slots=True)
class Planned:
    """One input and where its output goes; ``problem``: why it cannot be done (two inputs
    that would write the same output), raised by the job as that item's error."""

    src: Path
    dst: Path
    problem: str | None = None


def _walk(folder: Path, skip: Path) -> Iterator[Path]:
    """Every file under ``folder``, sorted per folder, lazily; the folder ``skip`` (the
    output folder, when it lies inside an input folder) is not entered."""
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if (Path(root) / d).resolve() != skip)
        for f in sorted(files):
            yield Path(root) / f


def plan(paths: Iterable[Path], outdir: Path) -> Iterator[Planned]:
    """Each input with its output: a file given by name goes to ``OUTDIR/NAME``; the files
    under a folder keep their path relative to that folder (``IN/a/b.dcm`` →
    ``OUTDIR/a/b.dcm``). Lazily; the output folder is never read as input. A second input
    bound for an output already planned carries a ``problem`` (never two writers of one
    output, and no output that would replace its input)."""
    skip = outdir.resolve()
    seen: set[Path] = set()
    folders: dict[Path, Path] = {}
    for p in paths:
        pairs: Iterable[tuple[Path, Path]]
        if p.is_dir():
            pairs = ((f, outdir / f.relative_to(p)) for f in _walk(p, skip))
        else:
            pairs = ((p, outdir / p.name),)
        for src, dst in pairs:
            key = _resolved(dst, folders)
            if key == _resolved(src, folders):
                seen.add(key)  # no later input may write there either: it is an input
                yield Planned(src, dst, "the output would replace its input; give an output "
                              "folder that is not the input's")
                continue
            if key in seen:
                yield Planned(src, dst, "another input is already written to "
                              f"{dst}; give the inputs distinct names or folders")
                continue
            seen.add(key)
            yield Planned(src, dst)


def _resolved(path: Path, folders: dict[Path, Path]) -> Path:
    """``path.resolve()``, its folder resolved once per plan (``folders``; speed: a batch has
    thousands of files in a few folders); a symbolic link itself is resolved in full."""
    if path.is_symlink():
        return path.resolve()
    folder = folders.get(path.parent)
    if folder is None:
        folder = folders[path.parent] = path.parent.resolve()
    return folder / path.name


def _check(item: Planned) -> None:
    if item.problem is not None:
        raise InvalidInput(item.problem, path=str(item.src))


#: what a de-identification job returns: the report's dictionary, then the (original, new)
#: pairs of the UIDs and of the Patient IDs it replaced (PHI: only for --mapping)
DeidResult = tuple[dict[str, Any], tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]]


def deid_job(item: Planned, *, config: DeidConfig) -> DeidResult:
    """The batch job: de-identify one planned file (see :func:`~._file.deidentify`)."""
    return _deid(item, config, ())


def _deid(item: Planned, config: DeidConfig,
          handlers: tuple[AuditHandler, ...]) -> DeidResult:
    from dicomsec.deid._file import deidentify
    from dicomsec.events import Operation
    from dicomsec.signatures._events import emit_built, failure_event

    try:
        _check(item)
    except InvalidInput as exc:
        emit_built(handlers, failure_event, Operation.DEIDENTIFY, exc, item.src)
        raise
    done = deidentify(item.src, item.dst, config, handlers=handlers)
    return (done.report.to_dict(), tuple(done.uid_map.items()),
            tuple(done.patient_id_map.items()))


def audited_deid_job(item: Planned, *, config: DeidConfig) -> Audited[DeidResult]:
    """:func:`deid_job` that also returns the audit events of the file (collected in the
    worker; the parent re-emits them). A failure is returned, not raised, so that its event
    is not lost (:func:`dicomsec.signatures._events.run_audited`)."""
    from dicomsec.events import Operation
    from dicomsec.signatures._events import run_audited

    return run_audited(functools.partial(_deid, item, config),
                       operation=Operation.DEIDENTIFY, path=item.src)


@dataclass(frozen=True, slots=True)
class KeyArgs:
    """A recipient's credentials as picklable arguments: a worker loads them once. The
    password never shows in ``repr``."""

    key: Path
    cert: Path | None = None
    password: bytes | None = field(default=None, repr=False)
    policy: Path | None = None


@functools.cache
def _credentials(args: KeyArgs) -> Credentials:
    """Through :func:`._reid.load_credentials`: one loader, one password check (ISO-IR 6) for
    the command and the library."""
    from dicomsec.deid._reid import load_credentials

    return load_credentials(args.key, args.cert, args.password)


def credentials(args: KeyArgs) -> Credentials:
    """The credentials of ``args``, loaded once per process.

    Raises:
        InvalidInput: unreadable key or certificate, wrong password, a password outside
            ISO-IR 6.
    """
    return _credentials(args)


def reid_job(item: Planned, *, key: KeyArgs) -> dict[str, Any]:
    """The batch job: re-identify one planned file; the report's dictionary."""
    return _reid(item, key, ())


def _reid(item: Planned, key: KeyArgs, handlers: tuple[AuditHandler, ...]) -> dict[str, Any]:
    from dicomsec.deid._file import _policy, reidentify_file
    from dicomsec.events import Operation
    from dicomsec.signatures._events import emit_built, failure_event

    try:
        _check(item)
    except InvalidInput as exc:
        emit_built(handlers, failure_event, Operation.REIDENTIFY, exc, item.src)
        raise
    return reidentify_file(item.src, item.dst, _credentials(key),
                           policy=_policy(key.policy), handlers=handlers).to_dict()


def audited_reid_job(item: Planned, *, key: KeyArgs) -> Audited[dict[str, Any]]:
    """:func:`reid_job` that also returns the audit events of the file (see
    :func:`audited_deid_job`)."""
    from dicomsec.events import Operation
    from dicomsec.signatures._events import run_audited

    return run_audited(functools.partial(_reid, item, key),
                       operation=Operation.REIDENTIFY, path=item.src)


class MappingTable:
    """The old → new UIDs and Patient IDs of a batch, each pair once (merged in the parent
    from each file's pairs). It is PHI: written only on request, mode 0600."""

    KINDS = ("uid", "patient_id")

    def __init__(self) -> None:
        self._rows: dict[tuple[str, str, str], None] = {}

    def add(self, kind: str, pairs: Iterable[tuple[str, str]] | Mapping[str, str]) -> None:
        items = pairs.items() if isinstance(pairs, Mapping) else pairs
        for original, new in items:
            self._rows[(kind, original, new)] = None

    def __len__(self) -> int:
        return len(self._rows)

    def rows(self) -> list[tuple[str, str, str]]:
        """``(kind, original, replacement)``, sorted."""
        return sorted(self._rows)

    def write_csv(self, path: Path) -> None:
        """CSV with the header ``kind,original,replacement``, written atomically, mode 0600."""
        from dicomsec._atomic import atomic_output

        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(("kind", "original", "replacement"))
        writer.writerows(self.rows())
        with atomic_output(path, mode=0o600) as fh:
            fh.write(text.getvalue().encode("utf-8"))
