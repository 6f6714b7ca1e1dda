"""The one report protocol: every result a user gets from dicomsec follows it.

A report is a frozen ``slots`` dataclass that derives from :class:`Report`. It answers with one
verdict, ``ok``, and offers:

- ``summary()``: one line of machine-parsable tokens for people and logs;
- ``to_dict()``: stable keys for JSON, always starting with ``"schema"`` (the report's name and
  version, e.g. ``"dicomsec.signatures.file/1"``) and ``"ok"``; the command line tool's
  ``--json`` prints exactly this;
- ``to_json()``: ``to_dict()`` as JSON text;
- ``raise_for_failure()``: an exception for callers who prefer one, so that a report that is
  not ok (an intact but untrusted signature, say) cannot be mistaken for success.

Expected negative outcomes are report fields; exceptions mean the work could not be done.
A subclass sets ``schema`` and implements ``ok``, ``summary()`` and ``_content()``; it overrides
``_failure()`` when a more precise exception than :class:`~dicomsec.errors.VerificationFailed`
fits. The keys of every report are listed in ``docs/reports.md``; bump the version in
``schema`` when a key is renamed or removed.
"""

from __future__ import annotations

import json
import re
import sys
from abc import ABC, abstractmethod
from typing import Any, ClassVar

from dicomsec.errors import DicomSecError, VerificationFailed

__all__ = ["SCHEMA_PATTERN", "Report", "all_report_types"]

#: what a schema name looks like: ``dicomsec.<dotted.name>/<version>``
SCHEMA_PATTERN = re.compile(r"^dicomsec\.[a-z0-9_]+(\.[a-z0-9_-]+)*/[1-9][0-9]*$")


class Report(ABC):
    """Base of every report: one verdict, a summary, a stable dictionary, an exception on demand."""

    __slots__ = ()

    #: the report's name and version, the first key of ``to_dict()``
    schema: ClassVar[str] = ""

    @property
    @abstractmethod
    def ok(self) -> bool:
        """The one verdict: ``True`` only when everything the report judges is satisfied."""

    @abstractmethod
    def summary(self) -> str:
        """One line: a verdict token first, then ``key=value`` tokens."""

    @abstractmethod
    def _content(self) -> dict[str, Any]:
        """The report's own keys (everything but ``schema`` and ``ok``), JSON-ready."""

    def to_dict(self) -> dict[str, Any]:
        """Stable keys for JSON: ``schema``, ``ok``, then the report's own keys."""
        return {"schema": self.schema, "ok": self.ok, **self._content()}

    def to_json(self, *, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    def _failure(self) -> DicomSecError:
        """The exception ``raise_for_failure()`` raises when the report is not ok."""
        return VerificationFailed(self.summary())

    def raise_for_failure(self) -> None:
        """Raise a :class:`~dicomsec.errors.DicomSecError` unless the report is ok."""
        if not self.ok:
            raise self._failure()


def all_report_types() -> list[type[Report]]:
    """Every concrete report class defined so far (subclasses of :class:`Report`), for tests
    and documentation; import the packages first to have them all."""
    found: dict[str, type[Report]] = {}
    todo = list(Report.__subclasses__())
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        # ``dataclass(slots=True)`` makes a new class; the one it replaced stays among the
        # subclasses: keep the class its module holds under its name
        name = f"{cls.__module__}.{cls.__qualname__}"
        held = sys.modules.get(cls.__module__)
        if held is not None and _resolve(held, cls.__qualname__) is cls:
            found[name] = cls
    return [found[name] for name in sorted(found)]


def _resolve(module: object, qualname: str) -> object:
    obj = module
    for part in qualname.split("."):
        obj = getattr(obj, part, None)
    return obj
