"""The algorithm rules of the signatures inside a certification path, on plain values (private;
the pyhanko hook :mod:`._algorithms` and the fast path :mod:`._fast` both apply them, so
neither can accept what the other refuses).

Refused: digests md2/md5/sha1 (alone or inside a signature mechanism), RSA and DSA keys under
2048 bits, and any signature identifier that the registry lists as LEGACY or FORBIDDEN (or that
a site policy refuses to VERIFY on the day). Unknown identifiers are allowed here: their
security is judged by their key.
"""

from __future__ import annotations

import datetime as _dt
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dicomsec.algorithms.policy import AlgorithmPolicy

__all__ = ["MIN_RSA_BITS", "WEAK_DIGESTS", "digest_refusal", "key_refusal", "registry_refusal"]

#: digests refused in certificate, CRL and OCSP signatures
WEAK_DIGESTS = frozenset({"md2", "md5", "sha1"})
#: the smallest RSA (and DSA) key accepted in a path
MIN_RSA_BITS = 2048
#: key algorithms (asn1crypto's names) held to :data:`MIN_RSA_BITS`
SIZED_KEYS = frozenset({"rsa", "rsassa_pss", "dsa"})


def digest_refusal(name: str | None) -> str | None:
    """Why the digest ``name`` (lower case, ``sha1``) is refused, or ``None``."""
    if name is not None and name.lower() in WEAK_DIGESTS:
        return f"digest {name.lower()} is refused"
    return None


def key_refusal(algorithm: str | None, bits: int | None) -> str | None:
    """Why a signer key of ``algorithm`` (``rsa``, ``dsa`` ...) and ``bits`` is refused."""
    if algorithm in SIZED_KEYS and bits is not None and bits < MIN_RSA_BITS:
        return f"{bits}-bit {algorithm} key is below {MIN_RSA_BITS} bits"
    return None


def registry_refusal(dotted: str, policy: AlgorithmPolicy | None,
                     moment: _dt.datetime | None) -> str | None:
    """Why the registry (or a site policy's VERIFY decision at ``moment``) refuses the
    signature identifier ``dotted``; ``None``: allowed or not in the registry."""
    from dicomsec import algorithms
    from dicomsec.algorithms import Kind, Status
    from dicomsec.errors import UnsupportedAlgorithm

    try:
        alg = algorithms.by_oid(dotted, Kind.CMS_SIGNATURE)
    except UnsupportedAlgorithm:
        return None
    status = policy.status_of(alg) if policy is not None else alg.status
    if status in (Status.LEGACY, Status.FORBIDDEN):
        return f"signature algorithm {alg.name} is {status.value}"
    if policy is not None:
        from dicomsec.algorithms.policy import Purpose

        decision = policy.check(alg, None, Purpose.VERIFY, moment)
        if not decision.allowed:
            return str(decision.reason)
    return None
