"""Digital signatures on DICOM objects and items (PS3.3 C.12.1.1.3, PS3.15 Annex C).

Public API::

    sign(src, dst, *, key, profile="none", mac="sha256", ...) -> SignResult   (paths)
    sign(dataset, *, key, ...) -> Dataset                                     (pydicom)
    verify(src, *, trust=None, require=None, policy=None, at=None) -> FileReport (path or Dataset)
    sign_file(src, dst, *, key, ...) -> SignResult
    verify_file(path, *, trust=None, require=None, now=None) -> FileReport
    list_signatures(path) -> FileReport          (integrity only, no trust)
    remove_signatures(src, dst, *, uids=(), remove_all=False) -> int

``sign``, ``sign_file``, ``verify`` and ``verify_file`` take ``handlers`` (audit handlers,
:mod:`dicomsec.events`) and give them one event per file: SIGN, VERIFY (outcome 4 with an
Alert Description naming the failed checks when the report is not ok), POLICY_VIOLATION for
a policy refusal (``signatures._events`` builds them, also for securefile and deid).

Every result follows :class:`dicomsec.report.Report` (``ok``, ``summary()``, ``to_dict()`` with
``schema``, ``to_json()``, ``raise_for_failure()``). Expected negative outcomes (a broken or
untrusted signature) are report fields; exceptions (:class:`~dicomsec.errors.InvalidInput`,
:class:`~dicomsec.errors.PolicyViolation`, ...) mean the work could not be done. Trust is only
what ``trust`` holds: the OS store is never used.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, overload

from dicomsec._lazy import lazy_exports

if TYPE_CHECKING:
    import datetime as _dt
    from collections.abc import Iterable, Sequence

    from pydicom.dataset import Dataset

    from dicomsec.algorithms.policy import AlgorithmPolicy
    from dicomsec.events import AuditHandler
    from dicomsec.keys import SigningKey
    from dicomsec.signatures._profiles import PURPOSES, Profile
    from dicomsec.signatures._remove import remove_signatures
    from dicomsec.signatures._sign import sign_file
    from dicomsec.signatures._verify import list_signatures, verify_file
    from dicomsec.signatures.report import (
        FileReport,
        SignatureReport,
        SignResult,
        TimestampReport,
    )
    from dicomsec.signatures.timestamp import TimestampClient
    from dicomsec.trust import TrustStore

__all__ = [
    "PURPOSES",
    "FileReport",
    "Profile",
    "SignResult",
    "SignatureReport",
    "TimestampReport",
    "list_signatures",
    "remove_signatures",
    "sign",
    "sign_file",
    "verify",
    "verify_file",
]

#: where each public name lives: imported on first use (``verify`` needs neither the producer
#: nor pydicom, and a command run once per file pays for every module it imports)
_LAZY = {
    "PURPOSES": "_profiles",
    "Profile": "_profiles",
    "FileReport": "report",
    "SignResult": "report",
    "SignatureReport": "report",
    "TimestampReport": "report",
    "list_signatures": "_verify",
    "verify_file": "_verify",
    "remove_signatures": "_remove",
    "sign_file": "_sign",
}


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, __all__)


@overload
def sign(
    src: Path | str, dst: Path | str, *, key: SigningKey, profile: Profile | str = ...,
    mac: str = ..., purpose: int | None = ..., item: str | None = ...,
    tags: Sequence[str | int] | None = ..., deterministic: bool = ...,
    timestamp_client: TimestampClient | None = ..., allow_legacy: bool = ...,
    now: _dt.datetime | None = ..., policy: AlgorithmPolicy | None = ...,
    handlers: Iterable[AuditHandler] | None = ...,
) -> SignResult: ...


@overload
def sign(
    src: Dataset, dst: None = None, *, key: SigningKey, profile: Profile | str = ...,
    mac: str = ..., purpose: int | None = ..., item: str | None = ...,
    tags: Sequence[str | int] | None = ..., deterministic: bool = ...,
    timestamp_client: TimestampClient | None = ..., allow_legacy: bool = ...,
    now: _dt.datetime | None = ..., policy: AlgorithmPolicy | None = ...,
    handlers: Iterable[AuditHandler] | None = ...,
) -> Dataset: ...


def sign(
    src: Path | str | Dataset, dst: Path | str | None = None, *, key: SigningKey,
    profile: Profile | str = "none", mac: str = "sha256", purpose: int | None = None,
    item: str | None = None, tags: Sequence[str | int] | None = None,
    deterministic: bool = False, timestamp_client: TimestampClient | None = None,
    allow_legacy: bool = False, now: _dt.datetime | None = None,
    policy: AlgorithmPolicy | None = None, handlers: Iterable[AuditHandler] | None = None,
) -> SignResult | Dataset:
    """Sign a file (``dst`` required; may equal ``src``) or a pydicom Dataset.

    For a path, writes ``dst`` atomically and returns a :class:`SignResult`; for a Dataset,
    returns a new signed Dataset (the input is not changed). The options are those of
    :func:`sign_file`: ``profile`` (none, base, creator, authorization, sr, sr-verification),
    ``mac`` (a DICOM MAC algorithm name), ``purpose`` (a code of :data:`PURPOSES`), ``item`` (an
    item path such as ``ContentSequence[0]``), ``tags`` (what to sign; default every signable
    attribute of the level), ``timestamp_client`` (an RFC 3161 TSA), ``policy`` (the
    :class:`~dicomsec.algorithms.policy.AlgorithmPolicy` asked for creation, at ``now``;
    default: the default policy, ``allow_legacy=True`` its short form for legacy),
    ``handlers`` (audit handlers, :mod:`dicomsec.events`: one SIGN event, or the failure's).

    Raises:
        TypeError: a path without ``dst``.
        InvalidInput: unreadable input, bad item path or tag, unknown algorithm.
        PolicyViolation: the policy refuses an algorithm or the key, or the profile is not
            met.
    """
    import functools

    from dicomsec.signatures._events import without_files
    from dicomsec.signatures._sign import sign_file
    from dicomsec.signatures._values import dataset_to_bytes

    path_given = isinstance(src, str | Path)
    run = functools.partial(
        sign_file, key=key, profile=profile, mac=mac, purpose=purpose, item=item, tags=tags,
        deterministic=deterministic, timestamp_client=timestamp_client,
        allow_legacy=allow_legacy, now=now, policy=policy,
        handlers=handlers if path_given else without_files(handlers),
    )
    if isinstance(src, str | Path):
        if dst is None:
            raise TypeError("sign(path) needs dst (use the same path to sign in place)")
        return run(Path(src), Path(dst))
    import tempfile

    from pydicom import dcmread

    with tempfile.TemporaryDirectory() as tmp:
        a, b = Path(tmp) / "in.dcm", Path(tmp) / "out.dcm"
        a.write_bytes(dataset_to_bytes(src))
        run(a, b)
        return dcmread(b)


def verify(
    src: Path | str | Dataset, *, trust: TrustStore | None = None, require: str | None = None,
    now: _dt.datetime | None = None, policy: AlgorithmPolicy | None = None,
    at: _dt.datetime | _dt.date | None = None, handlers: Iterable[AuditHandler] | None = None,
) -> FileReport:
    """Verify every signature of a file or Dataset, at every level: one :class:`FileReport`
    (``.signatures`` holds one :class:`SignatureReport` per signature).

    ``require`` (any, creator, authorization, sr, sr-verification) makes the report fail
    unless a valid, trusted signature of that kind exists. ``policy`` and ``at``: the
    algorithm policy's VERIFY decisions carried by each signature report (default: the
    default policy, today). ``handlers``: audit handlers (:mod:`dicomsec.events`), given one
    VERIFY event. See :func:`verify_file` for what is checked.

    Raises:
        InvalidInput: the file cannot be read or is not DICOM.
    """
    from dicomsec.signatures._verify import verify_dataset_bytes, verify_file

    if isinstance(src, str | Path):
        return verify_file(src, trust=trust, require=require, now=now, policy=policy, at=at,
                           handlers=handlers)
    from dicomsec.signatures._values import dataset_to_bytes

    return verify_dataset_bytes(dataset_to_bytes(src), trust=trust, require=require, now=now,
                                policy=policy, at=at, handlers=handlers)
