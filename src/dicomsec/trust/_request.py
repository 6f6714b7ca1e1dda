"""One validation request (private; built by :meth:`TrustStore.validate
<dicomsec.trust.TrustStore.validate>`, answered by the fast path :mod:`._fast` or by
:mod:`._validate`), and the per-store cache of validated paths both engines share."""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dicomsec.trust._result import RevocationStatus

if TYPE_CHECKING:
    from cryptography import x509

    from dicomsec.algorithms.policy import AlgorithmPolicy

__all__ = ["PATHS_CACHED", "Request", "cached_path", "path_key", "remember_path"]

#: at most this many validated paths are kept per trust store
PATHS_CACHED = 1024


@dataclass(frozen=True, slots=True)
class Request:
    """Everything one validation needs (built by :meth:`TrustStore.validate`)."""

    cert: x509.Certificate
    anchors: tuple[x509.Certificate, ...]
    intermediates: tuple[x509.Certificate, ...]
    crls: tuple[x509.CertificateRevocationList, ...]
    ocsps: tuple[bytes, ...]
    at: _dt.datetime
    revocation_at: _dt.datetime
    allow_fetching: bool = False
    soft_fail: bool = False
    algorithm_policy: AlgorithmPolicy | None = None
    #: validated paths of this trust store, reused for another moment of the same UTC day
    #: inside every certificate's validity period (the path run's only time dependence: the
    #: validity periods, and the algorithm policy's day)
    path_cache: dict[Any, list[x509.Certificate]] | None = field(default=None, compare=False)
    #: "good" revocation verdicts of this trust store with the moment they were judged at and
    #: the moment the revocation data stop being fresh (:func:`_known_status`)
    status_cache: dict[Any, tuple[RevocationStatus, _dt.datetime, _dt.datetime]] | None = \
        field(default=None, compare=False)


def path_key(req: Request) -> tuple[Any, ...]:
    """What a validated path depends on: the certificate, the intermediates, the UTC day."""
    return (req.cert, req.intermediates, req.at.astimezone(_dt.UTC).date())


def cached_path(req: Request) -> list[x509.Certificate] | None:
    """A path validated earlier the same day, when ``req.at`` is inside every validity period
    of it (then the path run would say the same)."""
    if req.path_cache is None:
        return None
    chain = req.path_cache.get(path_key(req))
    if chain is None:
        return None
    if all(c.not_valid_before_utc <= req.at <= c.not_valid_after_utc for c in chain):
        return chain
    return None


def remember_path(req: Request, chain: list[x509.Certificate]) -> None:
    """Keep a path validated at ``req.at`` for :func:`cached_path`."""
    if req.path_cache is not None and len(req.path_cache) < PATHS_CACHED:
        req.path_cache[path_key(req)] = chain
