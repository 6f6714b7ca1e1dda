"""Dated rules of the algorithm policy: what a rule selects, what it does from when, and the
published transition dates dicomsec starts from.

A rule never names an algorithm table of its own: it selects registry records by kind, key
family, security strength and whether they are quantum-vulnerable (or, in a site's policy
file, by registry name). Dates are UTC calendar days; "disallowed after 2035" in NIST's words
is ``disallowed_after=date(2035, 12, 31)``: the last day allowed. The sources are listed, with
their sections, in ``docs/algorithm-policy.md``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date

from dicomsec.algorithms import Algorithm, Family, Kind

__all__ = ["ALWAYS", "DEFAULT_RULES", "Purpose", "Rule"]


class Purpose(enum.Enum):
    """What an algorithm is used for when the policy is asked."""

    #: making something new: a signature, a MAC digest, an encryption, a key wrap
    CREATE = "create"
    #: checking a signature or digest made earlier
    VERIFY = "verify"
    #: opening content encrypted earlier (unwrapping its key, decrypting it)
    DECRYPT = "decrypt"


#: ``disallowed_after=ALWAYS``: disallowed on every day (a rule with no transition date)
ALWAYS = date.min


@dataclass(frozen=True, slots=True)
class Rule:
    """One dated rule.

    Selection (every given criterion must hold; an empty rule selects nothing): ``algorithms``
    (registry names), ``kinds``, ``families``, ``min_strength``/``max_strength`` (security
    strength in bits of the algorithm with its key; a rule with a strength bound never selects
    an algorithm whose strength is unknown), ``quantum_vulnerable``.

    Effect, for each purpose in ``purposes`` (default: creation only): deprecated (allowed,
    with a note) after ``deprecated_after``, refused after ``disallowed_after``. A creation
    refusal by a ``waivable`` rule is lifted by ``allow_legacy`` (the algorithm becomes legacy,
    which ``--allow-legacy`` lets one create anyway). Rules are not waivable unless they say
    so: of the default rules, the dated NIST transitions are (they make an algorithm legacy),
    the below-112-bit floor is not; a site's rule (policy file, derived policy) is waivable
    only when it says ``waivable = true``, so ``--allow-legacy`` never lifts it by accident.
    """

    id: str
    reason: str
    source: str = ""
    algorithms: frozenset[str] = frozenset()
    kinds: frozenset[Kind] = frozenset()
    families: frozenset[Family] = frozenset()
    min_strength: int | None = None
    max_strength: int | None = None
    quantum_vulnerable: bool | None = None
    purposes: frozenset[Purpose] = frozenset({Purpose.CREATE})
    deprecated_after: date | None = None
    disallowed_after: date | None = None
    waivable: bool = False

    def selects_something(self) -> bool:
        return bool(
            self.algorithms or self.kinds or self.families or self.quantum_vulnerable is not None
            or self.min_strength is not None or self.max_strength is not None
        )

    def matches(self, alg: Algorithm, strength: int | None) -> bool:
        """Whether the rule selects ``alg`` used at ``strength`` bits."""
        if not self.selects_something():
            return False
        if self.algorithms and alg.name not in self.algorithms:
            return False
        if (self.kinds and alg.kind not in self.kinds) or (
            self.families and alg.family not in self.families
        ):
            return False
        wanted = self.quantum_vulnerable
        if wanted is not None and alg.quantum_vulnerable != wanted:
            return False
        if self.min_strength is None and self.max_strength is None:
            return True
        if strength is None:
            return False
        low = self.min_strength if self.min_strength is not None else 0
        high = self.max_strength if self.max_strength is not None else strength
        return low <= strength <= high


_SIGNING_AND_KEYS = frozenset(
    {Kind.SIGNATURE, Kind.CMS_SIGNATURE, Kind.KEY_TRANSPORT, Kind.KEY_AGREEMENT}
)
_END_OF_2013 = date(2013, 12, 31)
_END_OF_2030 = date(2030, 12, 31)
_END_OF_2035 = date(2035, 12, 31)

#: the published transition dates (see docs/algorithm-policy.md for every source)
DEFAULT_RULES: tuple[Rule, ...] = (
    Rule(
        "sp800-131a-weak-digest",
        "digest below 112-bit collision strength",
        "NIST SP 800-131A Rev. 2 §9",
        kinds=frozenset({Kind.DIGEST}), max_strength=111,
        disallowed_after=_END_OF_2013, waivable=True,
    ),
    Rule(
        "sp800-131a-r3-112-bit-digest",
        "112-bit digest",
        "NIST SP 800-131A Rev. 3 ipd",
        kinds=frozenset({Kind.DIGEST}), min_strength=112, max_strength=112,
        disallowed_after=_END_OF_2030, waivable=True,
    ),
    Rule(
        "sp800-131a-3des",
        "64-bit block cipher of 112-bit strength (Triple DES)",
        "NIST SP 800-131A Rev. 2 §2",
        kinds=frozenset({Kind.CIPHER, Kind.KEY_WRAP}), max_strength=112,
        disallowed_after=date(2023, 12, 31), waivable=True,
    ),
    Rule(
        "sp800-131a-below-112",
        "key below 112-bit security strength",
        "NIST SP 800-131A Rev. 2 §3-§6",
        kinds=_SIGNING_AND_KEYS, quantum_vulnerable=True, max_strength=111,
        disallowed_after=_END_OF_2013, waivable=False,
    ),
    Rule(
        "ir8547-112-bit",
        "112-bit security strength, quantum-vulnerable",
        "NIST IR 8547 ipd",
        kinds=_SIGNING_AND_KEYS, quantum_vulnerable=True, min_strength=112, max_strength=112,
        deprecated_after=_END_OF_2030, disallowed_after=_END_OF_2035, waivable=True,
    ),
    Rule(
        "ir8547-quantum-vulnerable",
        "quantum-vulnerable",
        "NIST IR 8547 ipd",
        kinds=_SIGNING_AND_KEYS, quantum_vulnerable=True,
        disallowed_after=_END_OF_2035, waivable=True,
    ),
)
