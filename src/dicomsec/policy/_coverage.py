"""Coverage: the verdicts of an archive summed per device, per day and per algorithm.

:class:`PolicyReport` is what ``dicomsec policy check --json`` prints: ``files`` (one short
entry per instance) and ``summary`` (totals, per device, the algorithm mix with the dates the
algorithm policy stops accepting each algorithm, errors). ``ok`` is false iff an ``enforce``
rule was violated.
"""

from __future__ import annotations

import datetime as _dt
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from dicomsec.errors import DicomSecError, PolicyViolation
from dicomsec.report import Report

if TYPE_CHECKING:
    from dicomsec.algorithms.policy import AlgorithmPolicy
    from dicomsec.policy._judge import Policy, Verdict

__all__ = ["AlgorithmUse", "DeviceCoverage", "PolicyReport", "coverage"]


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
    """The signing policy's verdicts on an archive, with the coverage summary."""

    schema: ClassVar[str] = "dicomsec.policy.check/1"

    verdicts: tuple[Verdict, ...]
    devices: tuple[DeviceCoverage, ...]
    algorithms: tuple[AlgorithmUse, ...]
    policy: Policy
    at: _dt.date
    #: files that could not be judged: (path, one-line error)
    errors: tuple[tuple[str, str], ...] = ()

    @property
    def ok(self) -> bool:
        return not any(v.enforced for v in self.verdicts)

    @property
    def by_verdict(self) -> dict[str, int]:
        return dict(sorted(Counter(v.verdict for v in self.verdicts).items()))

    @property
    def violations(self) -> tuple[Verdict, ...]:
        return tuple(v for v in self.verdicts if v.verdict not in ("compliant", "not-covered"))

    def summary(self) -> str:
        enforced = sum(v.enforced for v in self.verdicts)
        counts = " ".join(f"{k}={n}" for k, n in self.by_verdict.items())
        return (f"{'OK' if self.ok else 'VIOLATED'} files={len(self.verdicts)} "
                f"enforced_violations={enforced} errors={len(self.errors)} {counts}").rstrip()

    def _content(self) -> dict[str, Any]:
        return {
            "files": [{"path": v.path, "verdict": v.verdict, "rule": v.rule,
                       "device": v.device, "details": list(v.details)} for v in self.verdicts],
            "summary": {
                "at": self.at.isoformat(),
                "files": len(self.verdicts),
                "signed": sum(v.signed for v in self.verdicts),
                "compliant": sum(v.verdict == "compliant" for v in self.verdicts),
                "enforced_violations": sum(v.enforced for v in self.verdicts),
                "by_verdict": self.by_verdict,
                "devices": {d.device: d.to_dict() for d in self.devices},
                "algorithms": [a.to_dict() for a in self.algorithms],
                "errors": [{"path": p, "error": e} for p, e in self.errors],
                "policy": self.policy.to_dict(),
            },
        }

    def _failure(self) -> DicomSecError:
        first = next(v for v in self.verdicts if v.enforced)
        n = sum(v.enforced for v in self.verdicts)
        return PolicyViolation(f"{n} instance(s) violate an enforced rule; first: "
                               f"{first.summary()}")


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


def coverage(verdicts: Iterable[Verdict], policy: Policy, *, at: _dt.date | None = None,
             errors: Iterable[tuple[str, str]] = ()) -> PolicyReport:
    """Sum ``verdicts`` per device and algorithm into a :class:`PolicyReport`; the algorithm
    mix is judged by ``policy``'s algorithm policy on the day ``at`` (default today)."""
    day = at or _dt.datetime.now(_dt.UTC).date()
    devices: dict[str, DeviceCoverage] = {}
    algos: Counter[tuple[str, str]] = Counter()
    kept = []
    for v in verdicts:
        kept.append(v)
        devices.setdefault(v.device, DeviceCoverage(v.device)).add(v)
        algos.update(("signature", s) for s in v.schemes)
        algos.update(("mac", m) for m in v.macs)
    return PolicyReport(
        verdicts=tuple(kept), devices=tuple(devices[k] for k in sorted(devices)),
        algorithms=_uses(algos, policy.effective_algorithm_policy(), day), policy=policy,
        at=day, errors=tuple(errors))
