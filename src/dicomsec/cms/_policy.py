"""Low-level: the one place where the CMS writers ask whether an algorithm may be created.

Without a policy the registry status decides (:func:`dicomsec.algorithms.check_create`, the
behaviour of every caller so far); with an :class:`~dicomsec.algorithms.policy.AlgorithmPolicy`
the dated policy decides for the day ``at`` (default: now) and raises with its own reason.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING

from dicomsec import algorithms

if TYPE_CHECKING:
    from dicomsec.algorithms.policy import AlgorithmPolicy, KeyLike

__all__ = ["require_create"]


def require_create(alg: algorithms.Algorithm, *, policy: AlgorithmPolicy | None = None,
                   allow_legacy: bool = False, bits: int | None = None, key: KeyLike = None,
                   at: datetime | date | None = None) -> None:
    """Refuse ``alg`` for a new object.

    Without ``policy``: the registry status and minimum key size (``bits``). With one: the
    policy's decision for ``key`` (a key object; ``bits`` when none is given) on the day
    ``at``. ``allow_legacy`` waives the legacy status in both cases (the policy is then judged
    with :meth:`~dicomsec.algorithms.policy.AlgorithmPolicy.with_legacy_allowed`).

    Raises:
        PolicyViolation: refused by the registry status or by the policy.
    """
    if policy is None:
        algorithms.check_create(alg, allow_legacy=allow_legacy, bits=bits)
        return
    from dicomsec.algorithms.policy import Purpose

    if allow_legacy:
        policy = policy.with_legacy_allowed()
    policy.require(alg, key if key is not None else bits, Purpose.CREATE, at)
