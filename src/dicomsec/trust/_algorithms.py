"""The algorithm policy of certificate and CRL/OCSP signatures in path validation: a
pyhanko-certvalidator ``AlgorithmUsagePolicy`` that consults dicomsec's registry and policy
(low-level; the validator installs it).

Refused: digests md2/md5/sha1 (alone or inside a signature mechanism), RSA and DSA keys under
2048 bits, and any signature identifier that the registry lists as LEGACY or FORBIDDEN (or that
a site policy refuses to VERIFY on the day). Unknown identifiers that pyhanko can verify
(ML-DSA, Ed448, RSA-PSS) are allowed: their security is judged by their key, not by the
registry of DICOM signature schemes.

Traps (spec §5): ``algo.signature_algo`` raises for ML-DSA and ``public_key.bit_size`` for
EdDSA keys, so we read ``algo["algorithm"].native`` and ``public_key.algorithm`` only.
"""

from __future__ import annotations

import datetime as _dt
from typing import TYPE_CHECKING, Any

from pyhanko_certvalidator.policy_decl import AlgorithmUsageConstraint, AlgorithmUsagePolicy

if TYPE_CHECKING:
    from asn1crypto import algos, keys

    from dicomsec.algorithms.policy import AlgorithmPolicy

__all__ = ["MIN_RSA_BITS", "WEAK_DIGESTS", "CertificateAlgorithmPolicy"]

#: digests refused in certificate, CRL and OCSP signatures
WEAK_DIGESTS = frozenset({"md2", "md5", "sha1"})
#: the smallest RSA (and DSA) key accepted in a path
MIN_RSA_BITS = 2048


class CertificateAlgorithmPolicy(AlgorithmUsagePolicy):
    """dicomsec's rules for the signatures inside a certification path."""

    def __init__(self, policy: AlgorithmPolicy | None = None) -> None:
        self._policy = policy

    def digest_algorithm_allowed(self, algo: algos.DigestAlgorithm,
                                 moment: _dt.datetime | None) -> AlgorithmUsageConstraint:
        name = str(algo["algorithm"].native)
        if name in WEAK_DIGESTS:
            return AlgorithmUsageConstraint(False, failure_reason=f"digest {name} is refused")
        return AlgorithmUsageConstraint(True)

    def signature_algorithm_allowed(self, algo: algos.SignedDigestAlgorithm,
                                    moment: _dt.datetime | None,
                                    public_key: keys.PublicKeyInfo | None
                                    ) -> AlgorithmUsageConstraint:
        name = str(algo["algorithm"].native)
        weak = next((d for d in WEAK_DIGESTS if name.startswith(d + "_")), None)
        if weak is not None:
            return AlgorithmUsageConstraint(
                False, failure_reason=f"signature algorithm {name} uses the refused digest {weak}")
        small = _small_key(public_key)
        if small is not None:
            return AlgorithmUsageConstraint(
                False, failure_reason=f"{small}-bit {public_key.algorithm if public_key else ''}"
                f" key is below {MIN_RSA_BITS} bits")
        return self._registry(algo, moment, public_key)

    def _registry(self, algo: algos.SignedDigestAlgorithm, moment: _dt.datetime | None,
                  public_key: keys.PublicKeyInfo | None) -> AlgorithmUsageConstraint:
        """The registry's status of the identifier (and a site policy's VERIFY decision)."""
        from dicomsec import algorithms
        from dicomsec.algorithms import Kind, Status
        from dicomsec.errors import UnsupportedAlgorithm

        try:
            alg = algorithms.by_oid(str(algo["algorithm"].dotted), Kind.CMS_SIGNATURE)
        except UnsupportedAlgorithm:
            return AlgorithmUsageConstraint(True)
        policy = self._policy
        status = policy.status_of(alg) if policy is not None else alg.status
        if status in (Status.LEGACY, Status.FORBIDDEN):
            return AlgorithmUsageConstraint(
                False, failure_reason=f"signature algorithm {alg.name} is {status.value}")
        if policy is not None:
            from dicomsec.algorithms.policy import Purpose

            decision = policy.check(alg, None, Purpose.VERIFY, moment)
            if not decision.allowed:
                return AlgorithmUsageConstraint(False, failure_reason=decision.reason)
        return AlgorithmUsageConstraint(True)


def _small_key(public_key: Any) -> int | None:
    """The size of an RSA or DSA key under :data:`MIN_RSA_BITS` (``None``: not such a key)."""
    if public_key is None or public_key.algorithm not in ("rsa", "rsassa_pss", "dsa"):
        return None
    bits = int(public_key.bit_size)
    return bits if bits < MIN_RSA_BITS else None
