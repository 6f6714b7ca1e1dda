"""Reading a signing policy file (TOML): ``[[rule]]`` tables and optional algorithm-policy
overrides under ``[algorithms]``. Low-level: use :func:`dicomsec.policy.load`.

Every problem is one :class:`~dicomsec.errors.InvalidInput` line naming the file, the rule and
the key. The format is documented in ``docs/trust-and-policy.md``.
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dicomsec.errors import InvalidInput

if TYPE_CHECKING:
    from cryptography import x509

    from dicomsec.algorithms.policy import AlgorithmPolicy

__all__ = ["MAX_POLICY_BYTES", "MAX_RULES", "MODES", "REQUIRE", "Rule", "SignerRule",
           "parse_name", "read_policy"]

#: the largest policy file read (a policy is a few kilobytes)
MAX_POLICY_BYTES = 1 << 20
#: the most rules one file may hold (each file is judged against them in order)
MAX_RULES = 1000
#: what a rule may require: a valid, trusted signature of any kind, or of a profile
REQUIRE = ("any", "creator", "authorization", "sr")
MODES = ("monitor", "enforce")

_TOP_KEYS = {"rule", "algorithms"}
_RULE_KEYS = {"name", "match", "require", "mode", "from", "signer", "timestamp", "schemes",
              "macs"}
_SIGNER_KEYS = {"issuer", "subject", "device_must_match"}
_KEYWORD = re.compile(r"^[A-Za-z][A-Za-z0-9]{0,63}$")

_Fail = Callable[[str], InvalidInput]


@dataclass(frozen=True, slots=True)
class SignerRule:
    """Who must have signed: an issuer (and subject) name, RFC 4514 text compared as names
    (equal names); or, when the text holds ``*``, ``?`` or ``[``, a glob per attribute: every
    ``TYPE=glob`` of the text must match an attribute of that type of the certificate's name
    (other attributes of the name are free; ``CN=CT*`` matches ``serialNumber=SN-1,CN=CT1,
    O=Hospital``); and whether the certificate's device identity must match the image's
    equipment attributes."""

    issuer: str | None = None
    subject: str | None = None
    device_must_match: bool = False


@dataclass(frozen=True, slots=True)
class Rule:
    """One ``[[rule]]`` table, checked."""

    name: str
    #: DICOM keyword → glob patterns (any of them matches)
    match: tuple[tuple[str, tuple[str, ...]], ...]
    require: str = "any"
    mode: str = "monitor"
    #: the first instance date the rule applies to (``None``: always)
    start: _dt.date | None = None
    signer: SignerRule | None = None
    timestamp: bool = False
    #: allowed signature schemes (registry names such as ``ecdsa-p256``); empty: any
    schemes: tuple[str, ...] = ()
    #: allowed MAC digests (registry names such as ``sha256``); empty: any
    macs: tuple[str, ...] = ()

    @property
    def enforced(self) -> bool:
        return self.mode == "enforce"

    def to_dict(self) -> dict[str, Any]:
        signer = None
        if self.signer is not None:
            signer = {"issuer": self.signer.issuer, "subject": self.signer.subject,
                      "device_must_match": self.signer.device_must_match}
        return {
            "name": self.name, "match": {k: list(v) for k, v in self.match},
            "require": self.require, "mode": self.mode,
            "from": self.start.isoformat() if self.start else None, "signer": signer,
            "timestamp": self.timestamp, "schemes": list(self.schemes), "macs": list(self.macs),
        }


def read_policy(path: Path) -> tuple[tuple[Rule, ...], AlgorithmPolicy | None]:
    """The rules and the algorithm policy (``None``: no ``[algorithms]`` table) of a file.

    Raises:
        InvalidInput: unreadable, too large, not TOML, unknown keys, bad values (one line
            naming the rule and the key).
    """
    from dicomsec.algorithms._toml import read_toml

    def fail(message: str) -> InvalidInput:
        return InvalidInput(f"signing policy: {message}", path=str(path))

    doc = read_toml(path, fail, MAX_POLICY_BYTES)
    unknown = sorted(set(doc) - _TOP_KEYS)
    if unknown:
        raise fail(f"unknown top-level key {unknown[0]!r} (known: [[rule]], [algorithms])")
    tables = doc.get("rule", [])
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise fail("rule must be an array of tables ([[rule]])")
    if not tables:
        raise fail("no [[rule]] table: a policy needs at least one rule")
    if len(tables) > MAX_RULES:
        raise fail(f"more than {MAX_RULES} rules")
    rules = tuple(_rule(t, i, fail) for i, t in enumerate(tables, 1))
    names = [r.name for r in rules]
    for i, name in enumerate(names):
        if name in names[:i]:
            raise fail(f"rule {i + 1}: name {name!r} is used twice")
    algo = doc.get("algorithms")
    if algo is not None and not isinstance(algo, dict):
        raise fail("algorithms must be a table ([algorithms])")
    return rules, (None if algo is None else _algorithm_policy(algo, path, fail))


def _rule(table: dict[str, Any], index: int, fail: _Fail) -> Rule:
    name = table.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        raise fail(f"rule {index}: name must be a non-empty string of at most 200 characters")
    where = f"rule {index} ({name!r})"
    unknown = sorted(set(table) - _RULE_KEYS)
    if unknown:
        raise fail(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(sorted(_RULE_KEYS))})")
    require = _choice(table, "require", REQUIRE, "any", where, fail)
    mode = _choice(table, "mode", MODES, "monitor", where, fail)
    timestamp = table.get("timestamp", False)
    if not isinstance(timestamp, bool):
        raise fail(f"{where}: timestamp must be true or false")
    return Rule(name=name, match=_match(table.get("match"), where, fail), require=require,
                mode=mode, start=_start(table.get("from"), where, fail),
                signer=_signer(table.get("signer"), where, fail), timestamp=timestamp,
                schemes=_names(table, "schemes", where, fail),
                macs=_names(table, "macs", where, fail))


def _choice(table: dict[str, Any], key: str, choices: tuple[str, ...], default: str,
            where: str, fail: _Fail) -> str:
    value = table.get(key, default)
    if value not in choices:
        raise fail(f"{where}: {key} must be one of {', '.join(choices)}, not {value!r}")
    return str(value)


def _match(value: Any, where: str, fail: _Fail) -> tuple[tuple[str, tuple[str, ...]], ...]:
    from pydicom.datadict import keyword_dict

    if value is None:
        raise fail(f"{where}: match is missing (use match = {{}} to match every instance)")
    if not isinstance(value, dict):
        raise fail(f"{where}: match must be a table of DICOM keyword = glob or [globs]")
    out = []
    for keyword, pattern in value.items():
        if not _KEYWORD.match(keyword) or keyword not in keyword_dict:
            raise fail(f"{where}: match: {keyword!r} is not a DICOM attribute keyword")
        patterns = pattern if isinstance(pattern, list) else [pattern]
        if not patterns or not all(isinstance(p, str) and len(p) <= 256 for p in patterns):
            raise fail(f"{where}: match.{keyword} must be a string or a non-empty list of "
                       "strings (at most 256 characters each)")
        out.append((keyword, tuple(patterns)))
    return tuple(out)


def _start(value: Any, where: str, fail: _Fail) -> _dt.date | None:
    if value is None:
        return None
    if isinstance(value, _dt.datetime):
        try:
            return (value.astimezone(_dt.UTC) if value.tzinfo is not None else value).date()
        except OverflowError:
            raise fail(f"{where}: from {value.isoformat()} is out of range in UTC") from None
    if isinstance(value, _dt.date):
        return value
    raise fail(f"{where}: from must be a TOML date such as 2026-01-01 (no quotes), not "
               f"{value!r}")


def _signer(value: Any, where: str, fail: _Fail) -> SignerRule | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise fail(f"{where}: signer must be a table such as {{ issuer = \"CN=Site CA\" }}")
    unknown = sorted(set(value) - _SIGNER_KEYS)
    if unknown:
        raise fail(f"{where}: signer: unknown key {unknown[0]!r} "
                   f"(known: {', '.join(sorted(_SIGNER_KEYS))})")
    names: dict[str, str | None] = {}
    for key in ("issuer", "subject"):
        text = value.get(key)
        if text is not None and (not isinstance(text, str) or not text.strip()):
            raise fail(f"{where}: signer.{key} must be a non-empty string")
        if text is not None:
            _name(text, f"{where}: signer.{key}", fail)
        names[key] = text
    must = value.get("device_must_match", False)
    if not isinstance(must, bool):
        raise fail(f"{where}: signer.device_must_match must be true or false")
    return SignerRule(issuer=names["issuer"], subject=names["subject"], device_must_match=must)


#: attribute names RFC 4514 text may use beyond cryptography's own (our device certificates'
#: subjects start with serialNumber, which cryptography writes as 2.5.4.5)
_NAME_OVERRIDES = {"serialNumber": "2.5.4.5", "SERIALNUMBER": "2.5.4.5"}


def parse_name(text: str) -> x509.Name:
    """``text`` as an X.509 name (RFC 4514; ``serialNumber=`` and dotted OIDs accepted).

    Raises:
        ValueError: not RFC 4514 text.
    """
    from cryptography import x509

    overrides = {k: x509.ObjectIdentifier(v) for k, v in _NAME_OVERRIDES.items()}
    return x509.Name.from_rfc4514_string(text, overrides)


def _name(text: str, where: str, fail: _Fail) -> None:
    try:
        if not len(parse_name(text)):
            raise ValueError(text)
    except ValueError:
        raise fail(f"{where}: not an RFC 4514 name such as \"CN=Site CA,O=Hospital\"") from None


def _names(table: dict[str, Any], key: str, where: str, fail: _Fail) -> tuple[str, ...]:
    from dicomsec.algorithms import Kind, by_name
    from dicomsec.errors import UnsupportedAlgorithm

    value = table.get(key)
    if value is None:
        return ()
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise fail(f"{where}: {key} must be a non-empty list of algorithm names")
    kind = Kind.SIGNATURE if key == "schemes" else Kind.DIGEST
    try:
        return tuple(by_name(v, kind).name for v in value)
    except UnsupportedAlgorithm as exc:
        raise fail(f"{where}: {key}: {exc.message}") from None


def _algorithm_policy(table: dict[str, Any], path: Path, fail: _Fail) -> AlgorithmPolicy:
    """The ``[algorithms]`` table: the content of an ``--algorithm-policy`` file, read by that
    file's own reader (:func:`dicomsec.algorithms._toml.spec_from_doc`), applied to the
    default policy."""
    from dicomsec.algorithms._toml import spec_from_doc
    from dicomsec.algorithms.policy import AlgorithmPolicy

    spec = spec_from_doc(table, path, fail, prefix="algorithms.",
                         default_name=f"signing policy file {path.name}")
    start = AlgorithmPolicy.default()
    if spec.empty:
        start = AlgorithmPolicy(name=start.name, rules=(), allow_legacy=False)
    return start.derive(name=spec.name, rules=spec.resolve_rules(start.rules),
                        remove=spec.disabled, statuses=spec.statuses,
                        allow_legacy=True if spec.allow_legacy else None)
