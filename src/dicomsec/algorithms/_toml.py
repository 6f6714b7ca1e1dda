"""Reading an algorithm policy file (TOML). Low-level: use
:meth:`dicomsec.algorithms.policy.AlgorithmPolicy.from_toml`.

Every problem is one :class:`~dicomsec.errors.InvalidInput` of one line that names the file and
the key. The format is documented in ``docs/algorithm-policy.md``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TypeVar

from dicomsec.algorithms import Family, Kind, Status, by_name
from dicomsec.algorithms._rules import ALWAYS, Purpose, Rule
from dicomsec.errors import InvalidInput, UnsupportedAlgorithm

__all__ = ["MAX_POLICY_BYTES", "PolicySpec", "read_policy_file", "read_toml", "spec_from_doc"]

#: the largest policy file read (a policy is a few hundred bytes)
MAX_POLICY_BYTES = 1 << 20

_TOP_KEYS = {"policy", "status", "rules"}
_POLICY_KEYS = {"name", "base", "allow_legacy"}
_RULE_KEYS = {
    "enabled", "reason", "source", "algorithms", "kinds", "families", "min_strength",
    "max_strength", "quantum_vulnerable", "purposes", "deprecated_after", "disallowed_after",
    "disallowed", "waivable",
}
_E = TypeVar("_E", Kind, Family, Purpose)


@dataclass(frozen=True, slots=True)
class PolicySpec:
    """What a policy file says, before it is applied to a base policy."""

    path: Path
    name: str
    empty: bool
    allow_legacy: bool | None
    statuses: tuple[tuple[str, Status], ...]
    #: rule id → the table's keys, checked and converted to Rule field values
    rule_fields: tuple[tuple[str, dict[str, Any]], ...]
    disabled: tuple[str, ...]

    def resolve_rules(self, base: Iterable[Rule]) -> list[Rule]:
        """The file's rules: a table named like a base rule changes only the keys it gives;
        any other table is a new rule, which must select something and give a date, and which
        ``--allow-legacy`` does not lift unless it says ``waivable = true``.

        Raises:
            InvalidInput: a new rule without a selection, a date or a reason; a rule disabled
                that the base policy does not have.
        """
        known = {rule.id: rule for rule in base}
        for rule_id in self.disabled:
            if rule_id not in known:
                raise self.error(f"[rules.{rule_id}] enabled = false: the base policy has no "
                                 f"such rule (known: {', '.join(known) or 'none'})")
        out: list[Rule] = []
        for rule_id, fields in self.rule_fields:
            where = f"[rules.{rule_id}]"
            if rule_id in known:
                out.append(dataclasses.replace(known[rule_id], **fields))
                continue
            if "reason" not in fields:
                raise self.error(f"{where}: a new rule needs a reason")
            rule = Rule(id=rule_id, **fields)
            if not rule.selects_something():
                raise self.error(f"{where}: a new rule needs algorithms, kinds, families, "
                                 "quantum_vulnerable or a strength bound")
            if rule.deprecated_after is None and rule.disallowed_after is None:
                raise self.error(f"{where}: a new rule needs deprecated_after, "
                                 "disallowed_after or disallowed = true")
            out.append(rule)
        return out

    def error(self, message: str) -> InvalidInput:
        return InvalidInput(f"algorithm policy: {message}", path=str(self.path))


def read_policy_file(path: Path) -> PolicySpec:
    """Read and check a policy file.

    Raises:
        InvalidInput: unreadable, too large, not TOML, unknown or ill-typed keys or values.
    """

    def fail(message: str) -> InvalidInput:
        return InvalidInput(f"algorithm policy: {message}", path=str(path))

    return spec_from_doc(read_toml(path, fail), path, fail,
                         default_name=f"policy file {path.name}")


def read_toml(path: Path, fail: Callable[[str], InvalidInput],
              limit: int = MAX_POLICY_BYTES) -> dict[str, Any]:
    """The TOML document of ``path``, read bounded (at most ``limit`` bytes: a larger file is
    refused before it is parsed) and decoded as UTF-8; every problem is ``fail(message)``.

    Raises:
        InvalidInput: (from ``fail``) unreadable, too large, not UTF-8, not TOML.
    """
    import tomllib

    try:
        with path.open("rb") as handle:
            raw = handle.read(limit + 1)
    except OSError as exc:
        raise fail(f"cannot read the file ({exc.strerror or exc})") from None
    if len(raw) > limit:
        raise fail(f"file larger than {limit} bytes")
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise fail("not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise fail(f"not valid TOML: {exc}") from None


def spec_from_doc(doc: dict[str, Any], path: Path, fail: Callable[[str], InvalidInput], *,
                  default_name: str, prefix: str = "") -> PolicySpec:
    """The :class:`PolicySpec` of a parsed algorithm policy (``policy``, ``status``,
    ``rules`` tables). ``prefix`` names where the tables sit in a larger file (the signing
    policy's ``"algorithms."``): messages then say ``[algorithms.policy]`` and so on.

    Raises:
        InvalidInput: (from ``fail``) unknown or ill-typed keys or values.
    """
    where = f"[{prefix.rstrip('.')}]" if prefix else "top level"
    head_at = f"[{prefix}policy]"
    _no_unknown(doc, _TOP_KEYS, where, fail)
    head = _table(doc, "policy", fail, prefix)
    _no_unknown(head, _POLICY_KEYS, head_at, fail)
    base = _typed(head, "base", str, head_at, fail, "default")
    if base not in ("default", "empty"):
        raise fail(f"{head_at} base must be \"default\" or \"empty\", not {base!r}")
    allow = head.get("allow_legacy")
    if allow is not None and not isinstance(allow, bool):
        raise fail(f"{head_at} allow_legacy must be true or false")
    rules, disabled = _rules(_table(doc, "rules", fail, prefix), fail, prefix)
    return PolicySpec(
        path=path,
        name=_typed(head, "name", str, head_at, fail, default_name),
        empty=base == "empty",
        allow_legacy=allow,
        statuses=_statuses(_table(doc, "status", fail, prefix), fail, prefix),
        rule_fields=rules,
        disabled=disabled,
    )


_Fail = Callable[[str], InvalidInput]


def _table(doc: dict[str, Any], key: str, fail: _Fail, prefix: str = "") -> dict[str, Any]:
    value = doc.get(key, {})
    if not isinstance(value, dict):
        raise fail(f"{prefix}{key} must be a table ([{prefix}{key}])")
    return value


def _no_unknown(table: dict[str, Any], allowed: set[str], where: str, fail: _Fail) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise fail(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(sorted(allowed))})")


def _typed(table: dict[str, Any], key: str, kind: type, where: str, fail: _Fail,
           default: Any = None) -> Any:
    value = table.get(key, default)
    if value is not None and (not isinstance(value, kind) or isinstance(value, bool) != (
            kind is bool)):
        raise fail(f"{where} {key} must be a {kind.__name__}, not {type(value).__name__}")
    return value


def _statuses(table: dict[str, Any], fail: _Fail,
              prefix: str = "") -> tuple[tuple[str, Status], ...]:
    out = []
    for name, value in table.items():
        try:
            alg = by_name(name)
            status = Status(value) if isinstance(value, str) else None
        except UnsupportedAlgorithm:
            raise fail(f"[{prefix}status] unknown algorithm {name!r}") from None
        except ValueError:
            status = None
        if status is None:
            choices = ", ".join(s.value for s in Status)
            raise fail(f"[{prefix}status] {name} must be one of {choices}, not {value!r}")
        out.append((alg.name, status))
    return tuple(out)


def _rules(
    table: dict[str, Any], fail: _Fail, prefix: str = ""
) -> tuple[tuple[tuple[str, dict[str, Any]], ...], tuple[str, ...]]:
    rules: list[tuple[str, dict[str, Any]]] = []
    disabled: list[str] = []
    for rule_id, body in table.items():
        where = f"[{prefix}rules.{rule_id}]"
        if not isinstance(body, dict):
            raise fail(f"{where} must be a table")
        _no_unknown(body, _RULE_KEYS, where, fail)
        enabled = _typed(body, "enabled", bool, where, fail, True)
        if not enabled:
            disabled.append(rule_id)
            continue
        rules.append((rule_id, _rule_fields(body, where, fail)))
    return tuple(rules), tuple(disabled)


def _rule_fields(body: dict[str, Any], where: str, fail: _Fail) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for key in ("reason", "source"):
        if key in body:
            fields[key] = _typed(body, key, str, where, fail)
    for key in ("min_strength", "max_strength"):
        if key in body:
            value = _typed(body, key, int, where, fail)
            if value < 0:
                raise fail(f"{where} {key} must not be negative")
            fields[key] = value
    for key in ("quantum_vulnerable", "waivable"):
        if key in body:
            fields[key] = _typed(body, key, bool, where, fail)
    if "algorithms" in body:
        fields["algorithms"] = frozenset(_names(body["algorithms"], where, fail))
    if "kinds" in body:
        fields["kinds"] = frozenset(_enum_list(body["kinds"], Kind, f"{where} kinds", fail))
    if "families" in body:
        fields["families"] = frozenset(
            _enum_list(body["families"], Family, f"{where} families", fail))
    if "purposes" in body:
        fields["purposes"] = frozenset(
            _enum_list(body["purposes"], Purpose, f"{where} purposes", fail))
    if "purposes" in fields and not fields["purposes"]:
        raise fail(f"{where} purposes must name at least one purpose")
    for key in ("deprecated_after", "disallowed_after"):
        if key in body:
            fields[key] = _date(body[key], f"{where} {key}", fail)
    if "disallowed" in body:
        if not _typed(body, "disallowed", bool, where, fail):
            raise fail(f"{where} disallowed = false means nothing; leave it out")
        if "disallowed_after" in body:
            raise fail(f"{where}: give disallowed or disallowed_after, not both")
        fields["disallowed_after"] = ALWAYS
    return fields


def _names(value: Any, where: str, fail: _Fail) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value) or not value:
        raise fail(f"{where} algorithms must be a non-empty list of algorithm names")
    try:
        return [by_name(v).name for v in value]
    except UnsupportedAlgorithm as exc:
        raise fail(f"{where} algorithms: {exc.message}") from None


def _enum_list(value: Any, enum_type: type[_E], where: str, fail: _Fail) -> list[_E]:
    choices = ", ".join(member.value for member in enum_type)
    if not isinstance(value, list):
        raise fail(f"{where} must be a list of: {choices}")
    try:
        return [enum_type(v) for v in value]
    except ValueError:
        raise fail(f"{where}: unknown value in {value!r} (known: {choices})") from None


def _date(value: Any, where: str, fail: _Fail) -> date:
    if isinstance(value, datetime):
        try:
            return (value.astimezone(UTC) if value.tzinfo is not None else value).date()
        except OverflowError:
            raise fail(f"{where}: {value.isoformat()} is out of range in UTC") from None
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise fail(f"{where} must be a date such as 2035-12-31, not {value!r}")
