"""The fast path of :meth:`TrustStore.validate <dicomsec.trust.TrustStore.validate>` (private):
cryptography's Rust verifier confirms a path when no revocation check applies, so that a
process validating one certificate does not import pyhanko-certvalidator and asn1crypto.

It can only *confirm*: :func:`validate` answers a valid :class:`ChainResult` when

- the caller gave no CRL and no OCSP response, and fetching is off or no certificate of the
  path below the anchor declares a CRL distribution point or an OCSP URL (nothing to check for
  revocation: the pyhanko validator would report every certificate "not checked");
- ``cryptography.x509.verification`` builds and verifies a path to an anchor at ``at``
  (signatures, validity periods, name chaining, basic constraints, path length, CA key usage,
  name constraints; the Web PKI profile for CAs, any extensions for the end entity);
- every certificate signature of that path passes the rules pyhanko's algorithm hook applies
  (:mod:`._algorithm_rules`: md2/md5/sha1, RSA/DSA under 2048 bits, the registry and a site
  policy), and no certificate below the anchor carries a critical extension outside keyUsage,
  extendedKeyUsage, basicConstraints and subjectAltName.

Anything else (a refusal, an error, a certificate the Rust verifier does not take: Ed448 or
ML-DSA CAs, CAs without keyUsage) answers ``None``: the pyhanko validator decides, with the
reasons. Key usage for the purpose is applied by the caller on both paths.
"""

from __future__ import annotations

import datetime as _dt
import itertools
from typing import TYPE_CHECKING

from dicomsec.trust import _algorithm_rules as rules
from dicomsec.trust import _urls
from dicomsec.trust._request import Request, cached_path, remember_path
from dicomsec.trust._result import ChainResult, RevocationStatus

if TYPE_CHECKING:
    from cryptography import x509

__all__ = ["validate"]


def validate(req: Request) -> ChainResult | None:
    """A valid result for ``req`` when the fast path can confirm it, else ``None``."""
    if req.crls or req.ocsps:
        return None
    chain = cached_path(req)
    fresh = chain is None
    if chain is None:
        chain = _verified_path(req)
        if chain is None or not _acceptable(req, chain):
            return None
    below = chain[:-1]
    if req.allow_fetching and any(_urls.declares_revocation(c) for c in below):
        return None  # pyhanko validates the path itself (a declined path is not cached)
    if fresh:
        remember_path(req, chain)
    statuses = tuple(RevocationStatus(c.subject.rfc4514_string() or "(empty subject)")
                     for c in below)
    return ChainResult(True, (), tuple(chain), revocation=statuses)


def _verified_path(req: Request) -> list[x509.Certificate] | None:
    """The path (leaf first, anchor last) cryptography's verifier builds at ``req.at``."""
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.x509.verification import (
        ExtensionPolicy,
        PolicyBuilder,
        Store,
        VerificationError,
    )

    moment = req.at.astimezone(_dt.UTC).replace(tzinfo=None)
    try:
        verifier = (PolicyBuilder().store(Store(list(req.anchors))).time(moment)
                    .extension_policies(ca_policy=ExtensionPolicy.webpki_defaults_ca(),
                                        ee_policy=ExtensionPolicy.permit_all())
                    .build_client_verifier())
        verified = verifier.verify(req.cert, list(req.intermediates))
    except (VerificationError, UnsupportedAlgorithm, ValueError, TypeError):
        return None
    chain = list(verified.chain)
    return chain or None


def _known_critical() -> frozenset[object]:
    """The critical extensions accepted below the anchor (any other: pyhanko decides)."""
    from cryptography.x509.oid import ExtensionOID

    return frozenset({ExtensionOID.KEY_USAGE, ExtensionOID.EXTENDED_KEY_USAGE,
                      ExtensionOID.BASIC_CONSTRAINTS, ExtensionOID.SUBJECT_ALTERNATIVE_NAME})


def _acceptable(req: Request, chain: list[x509.Certificate]) -> bool:
    """Whether every signature of ``chain`` passes the algorithm rules and no certificate
    below the anchor has a critical extension the fast path does not know."""
    from cryptography.exceptions import UnsupportedAlgorithm

    known = _known_critical()
    for child, issuer in itertools.pairwise(chain):
        try:
            if any(e.critical and e.oid not in known for e in child.extensions):
                return False
            if _refusal(req, child, issuer) is not None:
                return False
        except (ValueError, TypeError, UnsupportedAlgorithm):  # let pyhanko judge
            return False
    return True


def _refusal(req: Request, child: x509.Certificate, issuer: x509.Certificate) -> str | None:
    """Why the algorithm rules refuse ``issuer``'s signature on ``child`` (``None``: allowed)."""
    from cryptography.hazmat.primitives.asymmetric import dsa, rsa

    digest = child.signature_hash_algorithm
    key = issuer.public_key()
    algorithm, bits = None, None
    if isinstance(key, rsa.RSAPublicKey):
        algorithm, bits = "rsa", key.key_size
    elif isinstance(key, dsa.DSAPublicKey):
        algorithm, bits = "dsa", key.key_size
    return (rules.digest_refusal(digest.name if digest is not None else None)
            or rules.key_refusal(algorithm, bits)
            or rules.registry_refusal(child.signature_algorithm_oid.dotted_string,
                                      req.algorithm_policy, req.at))
