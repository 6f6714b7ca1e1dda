"""The audit package's reports: :class:`SpoolStatus` (``Spool.status()``, ``dicomsec audit
status``) and :class:`FlushReport` (``Trail.flush()``, ``dicomsec audit flush``).

A module of their own, imported on first use: a command that only spools and closes never
pays for these dataclasses (start-up cost). ``dicomsec.audit.spool`` and
``dicomsec.audit.trail`` still export them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar

from dicomsec.errors import InvalidInput
from dicomsec.report import Report

__all__ = ["FlushReport", "SinkFlush", "SinkStatus", "SpoolStatus", "iso"]


def iso(stamp: float | None) -> str | None:
    """A ``time.time()`` stamp as RFC 3339 (UTC); ``None`` stays ``None``."""
    return None if stamp is None else datetime.fromtimestamp(stamp, UTC).isoformat()


@dataclass(frozen=True, slots=True)
class SinkStatus:
    """One sink's part of the spool: rows waiting, the oldest one's time, the last delivery,
    the last error (``None`` once a delivery succeeded after it) and the next attempt."""

    sink: str
    depth: int
    oldest: str | None
    last_delivery: str | None
    last_error: str | None
    failures: int
    next_attempt: str | None
    delivered: int

    def to_dict(self) -> dict[str, Any]:
        return {"sink": self.sink, "depth": self.depth, "oldest": self.oldest,
                "last_delivery": self.last_delivery, "last_error": self.last_error,
                "failures": self.failures, "next_attempt": self.next_attempt,
                "delivered": self.delivered}


@dataclass(frozen=True, slots=True)
class SpoolStatus(Report):
    """What the spool holds: ok when no sink's last attempt failed."""

    schema: ClassVar[str] = "dicomsec.audit.spool/1"
    path: str
    sinks: tuple[SinkStatus, ...]

    @property
    def ok(self) -> bool:
        return all(s.last_error is None for s in self.sinks)

    @property
    def depth(self) -> int:
        return sum(s.depth for s in self.sinks)

    def summary(self) -> str:
        failing = sum(1 for s in self.sinks if s.last_error is not None)
        return (f"{'OK' if self.ok else 'FAIL'} spool depth={self.depth} "
                f"sinks={len(self.sinks)} failing={failing}")

    def _content(self) -> dict[str, Any]:
        return {"path": self.path, "depth": self.depth,
                "sinks": [s.to_dict() for s in self.sinks]}

    def _failure(self) -> InvalidInput:
        return InvalidInput(self.summary())


@dataclass(frozen=True, slots=True)
class SinkFlush:
    """One sink's part of a flush: delivered rows, rows still waiting, the error that
    stopped it, and whether it was skipped (backoff, or another flusher held it)."""

    sink: str
    delivered: int
    remaining: int
    error: str | None = None
    skipped: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"sink": self.sink, "delivered": self.delivered, "remaining": self.remaining,
                "error": self.error, "skipped": self.skipped}


@dataclass(frozen=True, slots=True)
class FlushReport(Report):
    """What a flush did: ok when every sink's spool is empty afterwards."""

    schema: ClassVar[str] = "dicomsec.audit.flush/1"
    sinks: tuple[SinkFlush, ...]

    @property
    def ok(self) -> bool:
        return all(s.remaining == 0 and s.error is None for s in self.sinks)

    @property
    def delivered(self) -> int:
        return sum(s.delivered for s in self.sinks)

    @property
    def remaining(self) -> int:
        return sum(s.remaining for s in self.sinks)

    def summary(self) -> str:
        return (f"{'OK' if self.ok else 'FAIL'} flush delivered={self.delivered} "
                f"remaining={self.remaining} sinks={len(self.sinks)}")

    def _content(self) -> dict[str, Any]:
        return {"delivered": self.delivered, "remaining": self.remaining,
                "sinks": [s.to_dict() for s in self.sinks]}

    def _failure(self) -> InvalidInput:
        return InvalidInput(self.summary())
