"""Low-level: where the CMS layer asks the algorithm policy: :func:`require_create` for the
writers (may this algorithm be created?), :func:`judge_use` for the readers (may it be used to
decrypt or verify what was made earlier?).

The dated :class:`~dicomsec.algorithms.policy.AlgorithmPolicy` decides for the day ``at``
(default: now) with its own reason; without a policy the default policy decides (the registry
status, key floors and the published transition dates).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dicomsec import algorithms
    from dicomsec.algorithms.policy import AlgorithmPolicy, Decision, KeyLike, Purpose

__all__ = ["judge_use", "require_create"]


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


def judge_use(alg: algorithms.Algorithm, key: KeyLike, purpose: Purpose, *,
              policy: AlgorithmPolicy | None = None,
              at: datetime | date | None = None) -> list[Decision]:
    """The decisions of ``policy`` (default: the default policy) on using ``alg`` with ``key``
    for ``purpose`` (verify or decrypt) on the day ``at``: one for ``alg`` and, for a KDF or a
    key-agreement scheme built on a hash (PBKDF2's HMAC PRF, HKDF, the X9.63 KDF), one for that
    hash, so that a policy forbidding ``sha1`` also refuses HMAC-SHA1. (A CMS signature
    identifier's hash is judged inside its own decision.) Nothing is raised: the caller
    decides when a refusal may be told (never in a way that depends on secret data).
    """
    from dicomsec import algorithms as _algorithms
    from dicomsec.algorithms.policy import AlgorithmPolicy

    policy = policy or AlgorithmPolicy.default()
    decisions = [policy.check(alg, key, purpose, at)]
    if alg.hash is not None and alg.kind in (_algorithms.Kind.KDF,
                                             _algorithms.Kind.KEY_AGREEMENT):
        digest = _algorithms.by_name(alg.hash, _algorithms.Kind.DIGEST)
        decisions.append(policy.check(digest, None, purpose, at))
    return decisions
