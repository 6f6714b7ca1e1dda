"""Low-level: the one place where the CMS writers ask whether an algorithm may be created.

The dated :class:`~dicomsec.algorithms.policy.AlgorithmPolicy` decides for the day ``at``
(default: now) and raises with its own reason; without a policy the default policy decides
(the registry status, key floors and the published transition dates).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dicomsec import algorithms
    from dicomsec.algorithms.policy import AlgorithmPolicy, KeyLike

__all__ = ["require_create"]


def require_create(alg: algorithms.Algorithm, *, policy: AlgorithmPolicy | None = None,
                   allow_legacy: bool = False, bits: int | None = None, key: KeyLike = None,
                   at: datetime | date | None = None) -> None:
    """Refuse ``alg`` for a new object: the decision of ``policy`` (default: the default
    policy) for ``key`` (a key object; ``bits`` when none is given) on the day ``at``.
    ``allow_legacy`` waives legacy statuses and waivable rules (the policy is then judged with
    :meth:`~dicomsec.algorithms.policy.AlgorithmPolicy.with_legacy_allowed`).

    Raises:
        PolicyViolation: refused; the message names the policy.
    """
    from dicomsec.algorithms.policy import AlgorithmPolicy, Purpose

    policy = policy or AlgorithmPolicy.default()
    if allow_legacy:
        policy = policy.with_legacy_allowed()
    policy.require(alg, key if key is not None else bits, Purpose.CREATE, at)
