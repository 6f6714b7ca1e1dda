"""Coverage: the verdicts of an archive summed per device, per day and per algorithm.

:class:`PolicyReport` is what ``dicomsec policy check --json`` prints: ``files`` (one short
entry per instance) and ``summary`` (totals, per device, the algorithm mix with the dates the
algorithm policy stops accepting each algorithm, errors). ``ok`` is true iff no ``enforce``
rule was violated *and* every file could be judged (``errors`` empty): a run that skipped
files proves nothing about them. Its headline says ``VIOLATED``, else ``INCOMPLETE`` (errors),
else ``OK``.
"""

from __future__ import annotations

import datetime as _dt
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from dicomsec.errors import DicomSecError, InvalidInput, PolicyViolation
from dicomsec.report import Report

if TYPE_CHECKING:
    from dicomsec.algorithms.policy import AlgorithmPolicy
    from dicomsec.policy._judge import Policy, Verdict

__all__ = ["KEPT_VIOLATIONS", "AlgorithmUse", "DeviceCoverage", "PolicyReport", "Tally",
           "coverage", "file_entry"]

#: the violations a report keeps as objects (for the HTML table; ``--json`` lists every file)
KEPT_VIOLATIONS = 2000


@dataclass(slots=True)
class DeviceCoverage:
    """What one device's instances got: counts by verdict and scheme, and per day."""

    device: str
    files: int = 0
    signed: int = 0
    compliant: int = 0
    enforced: int = 0
    by_verdict: Counter[str] = field(default_factory=Counter)
    by_scheme: Counter[str] = field(default_factory=Counter)
    #: day → [files, signed, compliant]
    days: dict[_dt.date, list[int]] = field(default_factory=dict)

    def add(self, v: Verdict) -> None:
        self.files += 1
        self.signed += v.signed
        self.compliant += v.verdict == "compliant"
        self.enforced += v.enforced
        self.by_verdict[v.verdict] += 1
        for scheme in v.schemes:
            self.by_scheme[scheme] += 1
        if v.date is not None:
            day = self.days.setdefault(v.date, [0, 0, 0])
            day[0] += 1
            day[1] += v.signed
            day[2] += v.verdict == "compliant"

    def to_dict(self) -> dict[str, Any]:
        return {
            "files": self.files, "signed": self.signed, "compliant": self.compliant,
            "enforced_violations": self.enforced,
            "by_verdict": dict(sorted(self.by_verdict.items())),
            "by_scheme": dict(sorted(self.by_scheme.items())),
            "per_day": [{"date": d.isoformat(), "files": n, "signed": s, "compliant": c}
                        for d, (n, s, c) in sorted(self.days.items())],
        }


@dataclass(frozen=True, slots=True)
class AlgorithmUse:
    """One signature scheme or MAC digest found in the archive, and what the algorithm policy
    says of it on the report's day."""

    algorithm: str
    kind: str  # "signature" or "mac"
    count: int
    quantum_vulnerable: bool
    legacy: bool
    create_allowed: bool
    #: the last day the policy accepts it for new signatures (allowed) or the last day it
    #: did (refused); ``None``: no end known, or never
    create_until: _dt.date | None
    verify_allowed: bool
    verify_until: _dt.date | None

    def to_dict(self) -> dict[str, Any]:
        def day(d: _dt.date | None) -> str | None:
            return d.isoformat() if d else None

        return {"algorithm": self.algorithm, "kind": self.kind, "count": self.count,
                "quantum_vulnerable": self.quantum_vulnerable, "legacy": self.legacy,
                "create_allowed": self.create_allowed, "create_until": day(self.create_until),
                "verify_allowed": self.verify_allowed, "verify_until": day(self.verify_until)}


@dataclass(frozen=True, slots=True)
class PolicyReport(Report):
    """The signing policy's verdicts on an archive, with the coverage summary.

    ``verdicts``: every file's verdict (the ``files`` of ``to_dict()``); empty when the caller
    streamed them elsewhere (``policy check --json`` spools them, so that memory does not grow
    with the archive). The totals, per-device figures and the first :data:`KEPT_VIOLATIONS`
    violations are kept either way.
    """

    schema: ClassVar[str] = "dicomsec.policy.check/1"

    verdicts: tuple[Verdict, ...]
    devices: tuple[DeviceCoverage, ...]
    algorithms: tuple[AlgorithmUse, ...]
    policy: Policy
    at: _dt.date
    #: files that could not be judged: (path, one-line error)
    errors: tuple[tuple[str, str], ...] = ()
    files: int = 0
    signed: int = 0
    compliant: int = 0
    enforced: int = 0
    #: (verdict, count), sorted by verdict
    counts: tuple[tuple[str, int], ...] = ()
    #: the first violations (not compliant, covered), in the order judged
    violations: tuple[Verdict, ...] = ()
    #: how many violations there are in all
    violation_count: int = 0

    @property
    def ok(self) -> bool:
        """No enforced violation and no file left unjudged."""
        return self.enforced == 0 and not self.errors

    @property
    def by_verdict(self) -> dict[str, int]:
        return dict(self.counts)

    def summary(self) -> str:
        counts = " ".join(f"{k}={n}" for k, n in self.counts)
        word = "VIOLATED" if self.enforced else "INCOMPLETE" if self.errors else "OK"
        return (f"{word} files={self.files} "
                f"enforced_violations={self.enforced} errors={len(self.errors)} "
                f"{counts}").rstrip()

    def summary_dict(self) -> dict[str, Any]:
        """The ``summary`` of ``to_dict()``."""
        return {
            "at": self.at.isoformat(),
            "files": self.files,
            "signed": self.signed,
            "compliant": self.compliant,
            "enforced_violations": self.enforced,
            "by_verdict": self.by_verdict,
            "devices": {d.device: d.to_dict() for d in self.devices},
            "algorithms": [a.to_dict() for a in self.algorithms],
            "errors": [{"path": p, "error": e} for p, e in self.errors],
            "policy": self.policy.to_dict(),
        }

    def _content(self) -> dict[str, Any]:
        return {"files": [file_entry(v) for v in self.verdicts],
                "summary": self.summary_dict()}

    def _failure(self) -> DicomSecError:
        if not self.enforced:
            path, error = self.errors[0]
            return InvalidInput(f"{len(self.errors)} file(s) could not be judged; first: "
                                f"{error}", path=path)
        first = next((v for v in self.violations if v.enforced), None)
        return PolicyViolation(f"{self.enforced} instance(s) violate an enforced rule"
                               + (f"; first: {first.summary()}" if first else ""))


def file_entry(v: Verdict) -> dict[str, Any]:
    """One entry of the report's ``files``."""
    return {"path": v.path, "verdict": v.verdict, "rule": v.rule, "device": v.device,
            "details": list(v.details)}


def _uses(counts: Counter[tuple[str, str]], policy: AlgorithmPolicy,
          at: _dt.date) -> tuple[AlgorithmUse, ...]:
    from dicomsec.algorithms import Kind, by_name
    from dicomsec.algorithms.policy import Purpose
    from dicomsec.errors import UnsupportedAlgorithm

    out = []
    for (kind, label), n in sorted(counts.items()):
        name, _, bits = label.partition("/")
        try:
            alg = by_name(name, Kind.SIGNATURE if kind == "signature" else Kind.DIGEST)
        except UnsupportedAlgorithm:
            continue
        key = int(bits) if bits.isdigit() else None
        create = policy.check(alg, key, Purpose.CREATE, at)
        verify = policy.check(alg, key, Purpose.VERIFY, at)
        out.append(AlgorithmUse(label, kind, n, create.quantum_vulnerable, create.legacy,
                                create.allowed, create.not_allowed_after, verify.allowed,
                                verify.not_allowed_after))
    return tuple(out)


class Tally:
    """Adds verdicts up one at a time (memory bounded by devices, days and algorithms, not by
    files); :meth:`report` makes the :class:`PolicyReport`."""

    def __init__(self, *, keep_all: bool = False) -> None:
        self.devices: dict[str, DeviceCoverage] = {}
        self.algos: Counter[tuple[str, str]] = Counter()
        self.counts: Counter[str] = Counter()
        self.kept: list[Verdict] = []
        self.violations: list[Verdict] = []
        self.violation_count = self.signed = self.compliant = self.enforced = 0
        self.keep_all = keep_all

    def add(self, v: Verdict) -> None:
        self.devices.setdefault(v.device, DeviceCoverage(v.device)).add(v)
        self.algos.update(("signature", s) for s in v.schemes)
        self.algos.update(("mac", m) for m in v.macs)
        self.counts[v.verdict] += 1
        self.signed += v.signed
        self.compliant += v.verdict == "compliant"
        self.enforced += v.enforced
        if v.verdict not in ("compliant", "not-covered"):
            self.violation_count += 1
            if len(self.violations) < KEPT_VIOLATIONS:
                self.violations.append(v)
        if self.keep_all:
            self.kept.append(v)

    def report(self, policy: Policy, *, at: _dt.date | None = None,
               errors: Iterable[tuple[str, str]] = ()) -> PolicyReport:
        """The report; the algorithm mix is judged by ``policy``'s algorithm policy on the
        day ``at`` (default today)."""
        day = at or _dt.datetime.now(_dt.UTC).date()
        return PolicyReport(
            verdicts=tuple(self.kept),
            devices=tuple(self.devices[k] for k in sorted(self.devices)),
            algorithms=_uses(self.algos, policy.effective_algorithm_policy(), day),
            policy=policy, at=day, errors=tuple(errors), files=sum(self.counts.values()),
            signed=self.signed, compliant=self.compliant, enforced=self.enforced,
            counts=tuple(sorted(self.counts.items())), violations=tuple(self.violations),
            violation_count=self.violation_count)


def coverage(verdicts: Iterable[Verdict], policy: Policy, *, at: _dt.date | None = None,
             errors: Iterable[tuple[str, str]] = ()) -> PolicyReport:
    """Sum ``verdicts`` per device and algorithm into a :class:`PolicyReport` that lists
    them all; the algorithm mix is judged by ``policy``'s algorithm policy on the day ``at``
    (default today)."""
    tally = Tally(keep_all=True)
    for v in verdicts:
        tally.add(v)
    return tally.report(policy, at=at, errors=errors)
