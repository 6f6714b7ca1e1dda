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

from dicomsec.trust._algorithm_rules import (
    MIN_RSA_BITS,
    WEAK_DIGESTS,
    digest_refusal,
    key_refusal,
    registry_refusal,
)

if TYPE_CHECKING:
    from asn1crypto import algos, keys

    from dicomsec.algorithms.policy import AlgorithmPolicy

__all__ = ["MIN_RSA_BITS", "WEAK_DIGESTS", "CertificateAlgorithmPolicy"]


class CertificateAlgorithmPolicy(AlgorithmUsagePolicy):
    """dicomsec's rules for the signatures inside a certification path."""

    def __init__(self, policy: AlgorithmPolicy | None = None) -> None:
        self._policy = policy

    def digest_algorithm_allowed(self, algo: algos.DigestAlgorithm,
                                 moment: _dt.datetime | None) -> AlgorithmUsageConstraint:
        return _constraint(digest_refusal(str(algo["algorithm"].native)))

    def signature_algorithm_allowed(self, algo: algos.SignedDigestAlgorithm,
                                    moment: _dt.datetime | None,
                                    public_key: keys.PublicKeyInfo | None
                                    ) -> AlgorithmUsageConstraint:
        name = str(algo["algorithm"].native)
        weak = next((d for d in WEAK_DIGESTS if name.startswith(d + "_")), None)
        if weak is not None:
            return AlgorithmUsageConstraint(
                False, failure_reason=f"signature algorithm {name} uses the refused digest {weak}")
        refused = key_refusal(*_key_size(public_key)) or \
            registry_refusal(str(algo["algorithm"].dotted), self._policy, moment)
        return _constraint(refused)


def _constraint(refusal: str | None) -> AlgorithmUsageConstraint:
    if refusal is None:
        return AlgorithmUsageConstraint(True)
    return AlgorithmUsageConstraint(False, failure_reason=refusal)


def _key_size(public_key: Any) -> tuple[str | None, int | None]:
    """(algorithm, bits) of an RSA or DSA key; (algorithm or None, None) for any other (the
    size of an EdDSA key raises in asn1crypto, so it is not asked)."""
    if public_key is None:
        return None, None
    algorithm = str(public_key.algorithm)
    if algorithm not in ("rsa", "rsassa_pss", "dsa"):
        return algorithm, None
    return algorithm, int(public_key.bit_size)
