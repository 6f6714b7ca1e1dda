"""The algorithm policy: an object that takes a date.

:meth:`AlgorithmPolicy.check` answers, for one algorithm of the registry, one key (or key size)
and one purpose (:class:`Purpose`: create, verify, decrypt), on one day, with a truthy or falsy
:class:`Decision`: allowed or not, why, and until when (in the manner of pyHanko's
``AlgorithmUsagePolicy``). It replaces the ``allow_legacy`` flags threaded through calls.

- :meth:`AlgorithmPolicy.default` encodes the published transition dates (NIST SP 800-131A
  Rev. 2, NIST IR 8547 ipd; every rule with its source in ``docs/algorithm-policy.md``).
- Creation is what dates refuse. Verifying or decrypting what was made earlier stays allowed
  ("legacy use"), with the creation status in the decision's notes, unless the registry says
  ``FORBIDDEN`` or a site rule names that purpose.
- A policy is immutable; derive another with :meth:`~AlgorithmPolicy.derive`,
  :meth:`~AlgorithmPolicy.with_legacy_allowed`, :meth:`~AlgorithmPolicy.with_rules`,
  :meth:`~AlgorithmPolicy.without_rules` or :meth:`~AlgorithmPolicy.with_status`, or read one
  from a TOML file with :meth:`AlgorithmPolicy.from_toml`.

What is *not* judged here: whether a signature verifies, whether a certificate is trusted, and
the algorithms of certificates in a chain (path validation applies its own policy).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from dicomsec.algorithms import Algorithm, Kind, Status, by_name, strength_for_key
from dicomsec.algorithms._rules import ALWAYS, DEFAULT_RULES, Purpose, Rule
from dicomsec.errors import DicomSecError, InvalidInput, PolicyViolation
from dicomsec.report import Report

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes

    #: what ``check`` accepts as a key: a public (or private) key object, a size in bits, None
    KeyLike = PublicKeyTypes | PrivateKeyTypes | int | None

__all__ = ["ALWAYS", "DEFAULT_RULES", "AlgorithmPolicy", "Decision", "Purpose", "Rule"]

DEFAULT_POLICY_NAME = "default policy"
_LEGACY_HINT = "pass --allow-legacy to create it anyway (not recommended)"


@dataclass(frozen=True, slots=True)
class Decision(Report):
    """The policy's answer for one algorithm, key, purpose and day; true when allowed.

    A report (:class:`dicomsec.report.Report`): ``ok`` is ``allowed``, ``to_dict()`` starts
    with ``schema`` and ``ok``, ``raise_for_failure()`` raises :class:`PolicyViolation`.

    ``deprecated`` and ``legacy`` describe the algorithm's *creation* status on that day,
    whatever the purpose asked: ``legacy`` means creating it is refused (or was allowed only
    because legacy is allowed), so a verification that is allowed is "legacy use";
    ``deprecated`` means creating it is still allowed but deprecated.
    """

    schema: ClassVar[str] = "dicomsec.algorithms.decision/1"

    algorithm: str
    purpose: Purpose
    at: date
    allowed: bool
    #: why it is refused, or the caveat of an allowed legacy or deprecated use; "" otherwise
    reason: str = ""
    #: refused: the last day it was allowed (the earliest dated refusal; None: no date, never
    #: allowed); allowed: the last day it stays allowed for this purpose (None: no end known)
    not_allowed_after: date | None = None
    deprecated: bool = False
    legacy: bool = False
    quantum_vulnerable: bool = False
    #: security strength in bits with the key given (None: unknown)
    strength: int | None = None
    notes: tuple[str, ...] = ()
    #: the policy that decided ("default policy", "policy file site.toml", ...)
    policy: str = DEFAULT_POLICY_NAME
    #: what to do about a refusal (not part of ``to_dict()``)
    hint: str = field(default="", compare=False)

    def __bool__(self) -> bool:
        return self.allowed

    @property
    def ok(self) -> bool:
        return self.allowed

    def summary(self) -> str:
        """One line of tokens: verdict, purpose, algorithm, then the horizon and flags."""
        tokens = ["allowed" if self.allowed else "refused", self.purpose.value, self.algorithm]
        if self.not_allowed_after is not None:
            tokens.append(f"not_allowed_after={self.not_allowed_after.isoformat()}")
        tokens += [flag for flag in ("deprecated", "legacy") if getattr(self, flag)]
        if self.quantum_vulnerable:
            tokens.append("quantum-vulnerable")
        return " ".join(tokens)

    def _content(self) -> dict[str, Any]:
        """Stable JSON keys, for embedding in reports (see docs/algorithm-policy.md)."""
        return {
            "algorithm": self.algorithm,
            "purpose": self.purpose.value,
            "at": self.at.isoformat(),
            "allowed": self.allowed,
            "reason": self.reason,
            "not_allowed_after": (
                self.not_allowed_after.isoformat() if self.not_allowed_after else None
            ),
            "deprecated": self.deprecated,
            "legacy": self.legacy,
            "quantum_vulnerable": self.quantum_vulnerable,
            "strength": self.strength,
            "notes": list(self.notes),
            "policy": self.policy,
        }

    def _failure(self) -> DicomSecError:
        """:class:`~dicomsec.errors.PolicyViolation` naming the policy and the reason."""
        return PolicyViolation(f"{self.policy}: {self.reason}", hint=self.hint or None)


@dataclass(frozen=True, slots=True)
class _Finding:
    """What one status, key floor or rule says about an algorithm on a day."""

    text: str
    purposes: frozenset[Purpose]
    refused: bool = False
    deprecated: bool = False
    #: refused: the last allowed day (None: always); otherwise the coming end (None: none)
    end: date | None = None
    waivable: bool = False


_ALL_PURPOSES = frozenset(Purpose)
_CREATE = frozenset({Purpose.CREATE})


@dataclass(frozen=True, slots=True)
class AlgorithmPolicy:
    """An immutable algorithm policy: dated rules, status overrides, and whether legacy
    algorithms may be created. Build it with :meth:`default` or :meth:`from_toml`."""

    name: str = DEFAULT_POLICY_NAME
    rules: tuple[Rule, ...] = DEFAULT_RULES
    allow_legacy: bool = False
    #: registry status overrides, by algorithm name (e.g. ``("md5", Status.FORBIDDEN)``)
    statuses: tuple[tuple[str, Status], ...] = ()

    # -- construction -------------------------------------------------------------------------

    @classmethod
    def default(cls, *, allow_legacy: bool = False) -> AlgorithmPolicy:
        """The published transition dates; ``allow_legacy`` is ``--allow-legacy``."""
        return cls(allow_legacy=allow_legacy)

    @classmethod
    def from_toml(cls, path: str | Path, *, base: AlgorithmPolicy | None = None) -> AlgorithmPolicy:
        """Read a policy file (format in ``docs/algorithm-policy.md``) that tightens or loosens
        ``base`` (default: :meth:`default`; ``base = "empty"`` in the file starts from none).

        Raises:
            InvalidInput: the file cannot be read, is not TOML, or says something unknown.
        """
        from dicomsec.algorithms._toml import read_policy_file

        spec = read_policy_file(Path(path))
        start = base if base is not None else cls.default()
        if spec.empty:
            start = cls(name=start.name, rules=(), allow_legacy=start.allow_legacy)
        rules = spec.resolve_rules(start.rules)
        return start.derive(
            name=spec.name, rules=rules, remove=spec.disabled, statuses=spec.statuses,
            allow_legacy=True if spec.allow_legacy else None,
        )

    def derive(
        self,
        *,
        name: str | None = None,
        rules: Iterable[Rule] = (),
        remove: Iterable[str] = (),
        statuses: Iterable[tuple[str, Status]] = (),
        allow_legacy: bool | None = None,
    ) -> AlgorithmPolicy:
        """A new policy: ``rules`` replace the rules of the same id (or are added), the ids in
        ``remove`` are dropped, ``statuses`` override registry statuses, ``allow_legacy`` is
        replaced unless ``None``.

        Raises:
            UnsupportedAlgorithm: a status override names an unknown algorithm.
        """
        new = {rule.id: rule for rule in rules}
        kept = [new.pop(rule.id, rule) for rule in self.rules]
        dropped = set(remove)
        merged = tuple(rule for rule in (*kept, *new.values()) if rule.id not in dropped)
        status_map = dict(self.statuses)
        status_map.update((by_name(n).name, s) for n, s in statuses)
        return dataclasses.replace(
            self,
            name=self.name if name is None else name,
            rules=merged,
            statuses=tuple(sorted(status_map.items())),
            allow_legacy=self.allow_legacy if allow_legacy is None else allow_legacy,
        )

    def with_legacy_allowed(self, allowed: bool = True) -> AlgorithmPolicy:
        """The same policy with legacy algorithms allowed for creation (``--allow-legacy``)."""
        return self.derive(allow_legacy=allowed)

    def with_rules(self, *rules: Rule) -> AlgorithmPolicy:
        return self.derive(rules=rules)

    def without_rules(self, *ids: str) -> AlgorithmPolicy:
        return self.derive(remove=ids)

    def with_status(self, algorithm: str | Algorithm, status: Status) -> AlgorithmPolicy:
        name = algorithm.name if isinstance(algorithm, Algorithm) else algorithm
        return self.derive(statuses=[(name, status)])

    def rule(self, rule_id: str) -> Rule:
        """The rule with this id.

        Raises:
            KeyError: no such rule.
        """
        for rule in self.rules:
            if rule.id == rule_id:
                return rule
        raise KeyError(rule_id)

    def status_of(self, alg: Algorithm) -> Status:
        """The registry status of ``alg`` after this policy's overrides."""
        return dict(self.statuses).get(alg.name, alg.status)

    # -- judging ------------------------------------------------------------------------------

    def check(
        self,
        algorithm: Algorithm | str,
        key: KeyLike = None,
        purpose: Purpose = Purpose.CREATE,
        at: datetime | date | None = None,
    ) -> Decision:
        """Whether ``algorithm`` may be used with ``key`` for ``purpose`` on the day ``at``.

        ``key`` is a ``cryptography`` public (or private) key, its size in bits (RSA modulus
        or curve size), or ``None``; without one an RSA scheme is judged at its registry
        minimum (2048 bits). ``at``: an aware datetime (converted to UTC), a naive one (taken
        as UTC), a date, or ``None`` for now.

        Raises:
            UnsupportedAlgorithm: an unknown algorithm name.
            InvalidInput: a key size that is not a positive integer; an ``at`` whose UTC day
                is out of range (``0001-01-01T00:00:00+01:00``).
        """
        alg = algorithm if isinstance(algorithm, Algorithm) else by_name(algorithm)
        day = _day(at)
        bits, info = _bits_for(alg, key)
        strength = strength_for_key(alg, bits)
        findings = self._findings(alg, bits, strength, day)
        if alg.kind is Kind.CMS_SIGNATURE and alg.hash is not None:
            digest = by_name(alg.hash, Kind.DIGEST)
            findings += self._findings(digest, None, digest.strength, day)
        if self.status_of(alg) is Status.EXPERIMENTAL:
            info.append(f"{alg.name}: experimental, no DICOM profile or peer defines it yet")
        return self._decide(alg, purpose, day, strength, findings, info)

    def require(
        self,
        algorithm: Algorithm | str,
        key: KeyLike = None,
        purpose: Purpose = Purpose.CREATE,
        at: datetime | date | None = None,
    ) -> Decision:
        """:meth:`check`, raising when refused; returns the (allowed) decision for reports.

        Raises:
            PolicyViolation: refused; the message names the policy and the reason.
        """
        decision = self.check(algorithm, key, purpose, at)
        decision.raise_for_failure()
        return decision

    def _findings(
        self, alg: Algorithm, bits: int | None, strength: int | None, day: date
    ) -> list[_Finding]:
        found: list[_Finding] = []
        status = self.status_of(alg)
        if status is Status.FORBIDDEN:
            found.append(_Finding(f"{alg.name} is forbidden", _ALL_PURPOSES, refused=True))
        elif status is Status.LEGACY:
            found.append(_Finding(
                f"{alg.name} is a legacy algorithm, accepted for reading and verification only",
                _CREATE, refused=True, waivable=True,
            ))
        if alg.min_key_bits and bits is not None and bits < alg.min_key_bits:
            found.append(_Finding(
                f"{alg.name} key of {bits} bits is below the minimum of {alg.min_key_bits}",
                _CREATE, refused=True,
            ))
        found += [
            _rule_finding(rule, alg, strength, day)
            for rule in self.rules
            if rule.matches(alg, strength)
        ]
        return found

    def _decide(
        self, alg: Algorithm, purpose: Purpose, day: date, strength: int | None,
        findings: list[_Finding], info: list[str],
    ) -> Decision:
        relevant = [f for f in findings if purpose in f.purposes]
        # --allow-legacy is "legacy allowed for creation": it waives creation refusals only
        waiver = purpose is Purpose.CREATE
        refusals = [f for f in relevant if f.refused and not (
            waiver and self.allow_legacy and f.waivable)]
        create_refused = [f for f in findings if Purpose.CREATE in f.purposes and f.refused]
        deprecated = not create_refused and any(
            f.deprecated for f in findings if Purpose.CREATE in f.purposes
        )
        notes = tuple(dict.fromkeys(
            [f.text for f in refusals] + [f.text for f in findings] + info
        ))
        if refusals:
            end = min((f.end for f in refusals if f.end is not None), default=None)
            return Decision(
                alg.name, purpose, day, False, refusals[0].text, end,
                deprecated=False, legacy=bool(create_refused),
                quantum_vulnerable=alg.quantum_vulnerable, strength=strength, notes=notes,
                policy=self.name,
                hint=_LEGACY_HINT if waiver and not self.allow_legacy and all(
                    f.waivable for f in refusals) else "",
            )
        horizon = [
            f.end for f in relevant
            if f.end is not None and not f.refused
            and not (waiver and self.allow_legacy and f.waivable)
        ]
        reason = ""
        if create_refused:
            use = {Purpose.CREATE: "created because legacy is allowed",
                   Purpose.VERIFY: "accepted for verification as legacy use",
                   Purpose.DECRYPT: "accepted for decryption as legacy use"}[purpose]
            reason = f"{create_refused[0].text}; {use}"
        elif deprecated:
            reason = next(f.text for f in findings if f.deprecated)
        return Decision(
            alg.name, purpose, day, True, reason, min(horizon, default=None),
            deprecated=deprecated, legacy=bool(create_refused),
            quantum_vulnerable=alg.quantum_vulnerable, strength=strength, notes=notes,
            policy=self.name,
        )


def _day(at: datetime | date | None) -> date:
    """The UTC day of ``at``.

    Raises:
        InvalidInput: an aware datetime whose UTC day is outside the years 1 to 9999.
    """
    if at is None:
        return datetime.now(UTC).date()
    if isinstance(at, datetime):
        try:
            return (at.astimezone(UTC) if at.tzinfo is not None else at).date()
        except OverflowError:
            raise InvalidInput(f"date {at.isoformat()} is out of range in UTC") from None
    return at


def _bits_for(alg: Algorithm, key: KeyLike) -> tuple[int | None, list[str]]:
    """The key size in bits (RSA modulus or curve size) and notes on how it was found."""
    if key is None:
        if alg.min_key_bits and alg.strength is None:
            return alg.min_key_bits, [
                f"{alg.name}: no key given, judged at the minimum of {alg.min_key_bits} bits"
            ]
        return None, []
    if isinstance(key, bool) or (isinstance(key, int) and key <= 0):
        raise InvalidInput(f"key size must be a positive number of bits, not {key!r}")
    if isinstance(key, int):
        return key, []
    curve = getattr(key, "curve", None)
    size = getattr(curve, "key_size", None) if curve is not None else getattr(key, "key_size", None)
    return (size if isinstance(size, int) else None), []


def _rule_finding(rule: Rule, alg: Algorithm, strength: int | None, day: date) -> _Finding:
    """What a matching rule says on ``day``."""
    uses = [_use(purpose, alg) for purpose in Purpose if purpose in rule.purposes]
    use = " and ".join(uses)
    bits = f" ({strength}-bit)" if strength is not None else ""
    subject = f"{alg.name}{bits}: {rule.reason}"
    source = f" ({rule.source})" if rule.source else ""
    dis, dep = rule.disallowed_after, rule.deprecated_after
    if dis is not None and (dis == ALWAYS or day > dis):
        when = "" if dis == ALWAYS else f" after {dis.isoformat()}"
        return _Finding(f"{subject}, disallowed for {use}{when}{source}", rule.purposes,
                        refused=True, end=None if dis == ALWAYS else dis, waivable=rule.waivable)
    later = f", disallowed after {dis.isoformat()}" if dis is not None else ""
    if dep is not None and day > dep:
        return _Finding(f"{subject}, deprecated for {use} after {dep.isoformat()}{later}{source}",
                        rule.purposes, deprecated=True, end=dis, waivable=rule.waivable)
    if dep is not None:
        text = f"{subject}, to be deprecated for {use} after {dep.isoformat()}{later}{source}"
    elif dis is not None:
        text = f"{subject}, to be disallowed for {use} after {dis.isoformat()}{source}"
    else:
        text = f"{subject}{source}"
    return _Finding(text, rule.purposes, end=dis, waivable=rule.waivable)


def _use(purpose: Purpose, alg: Algorithm) -> str:
    if purpose is Purpose.VERIFY:
        return "verification"
    if purpose is Purpose.DECRYPT:
        return "decryption"
    if alg.kind in (Kind.SIGNATURE, Kind.CMS_SIGNATURE, Kind.DIGEST):
        return "new signatures"
    if alg.kind in (Kind.CIPHER, Kind.KEY_WRAP, Kind.KEY_TRANSPORT, Kind.KEY_AGREEMENT, Kind.KEM):
        return "new encryption"
    return "new objects"
