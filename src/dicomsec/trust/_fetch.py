"""Fetching revocation information over HTTP: CRLs from CRL distribution points, OCSP responses
from the OCSP URLs of Authority Information Access (low-level; :meth:`TrustStore.validate
<dicomsec.trust.TrustStore.validate>` calls it when ``allow_fetching`` is on).

We fetch ourselves with :mod:`urllib` instead of letting pyhanko-certvalidator open an aiohttp
session: our timeouts and size caps, only ``http``/``https``, an OCSP nonce that we check, and
the bytes in hand as evidence. Results are cached per process by URL (CRLs) and by URL and
certificate (OCSP) for :data:`CACHE_SECONDS`, so that verifying 1,000 files signed by one
device fetches once.

What is *not* done here: checking signatures, freshness or status (the validator does that).
"""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dicomsec.trust._urls import crl_urls, ocsp_urls

if TYPE_CHECKING:
    from cryptography import x509

__all__ = ["CACHE_SECONDS", "CRL_MAX_BYTES", "OCSP_MAX_BYTES", "TIMEOUT", "Fetched",
           "clear_cache", "crl_urls", "fetch_crl", "fetch_ocsp", "ocsp_urls"]

#: seconds allowed for one request (connect and each read)
TIMEOUT = 5.0
#: the largest CRL we download (a site CRL of 100,000 entries is ~4 MB)
CRL_MAX_BYTES = 16 << 20
#: the largest OCSP response we accept (a response is a few KB)
OCSP_MAX_BYTES = 64 << 10
#: how long a fetched CRL or OCSP response is reused within a process
CACHE_SECONDS = 600.0
#: at most this many cached answers (oldest dropped first)
_CACHE_ENTRIES = 512
_SCHEMES = ("http", "https")


@dataclass(frozen=True, slots=True)
class Fetched:
    """One fetch: the DER bytes, or the error that prevented them (one line)."""

    url: str
    data: bytes | None
    error: str = ""


_cache: dict[tuple[str, ...], tuple[float, Fetched]] = {}
_lock = threading.Lock()


def clear_cache() -> None:
    """Forget every fetched answer (tests; long-running services between runs)."""
    with _lock:
        _cache.clear()


def _cached(key: tuple[str, ...]) -> Fetched | None:
    with _lock:
        hit = _cache.get(key)
    if hit is None or time.monotonic() - hit[0] > CACHE_SECONDS:
        return None
    return hit[1]


def _store(key: tuple[str, ...], value: Fetched) -> Fetched:
    with _lock:
        if len(_cache) >= _CACHE_ENTRIES:
            _cache.pop(next(iter(_cache)))
        _cache[key] = (time.monotonic(), value)
    return value


def _allowed(url: str) -> bool:
    return urllib.parse.urlsplit(url).scheme.lower() in _SCHEMES


def _http(url: str, body: bytes | None, limit: int) -> bytes:
    """GET (``body`` None) or POST an OCSP request; at most ``limit`` bytes (the scheme was
    checked by the caller; proxies from the environment apply, as urllib does)."""
    headers = {"User-Agent": "dicomsec"}
    if body is not None:
        headers["Content-Type"] = "application/ocsp-request"
    request = urllib.request.Request(url, data=body, headers=headers)
    with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
        data: bytes = response.read(limit + 1)
    if len(data) > limit:
        raise ValueError(f"answer larger than {limit} bytes")
    return data


def fetch_crl(url: str) -> Fetched:
    """The CRL at ``url`` (DER or PEM, returned as DER), from the cache when fetched lately.
    Never raises: a failure is in :attr:`Fetched.error`."""
    key = ("crl", url)
    hit = _cached(key)
    if hit is not None:
        return hit
    try:
        if not _allowed(url):
            raise ValueError("only http and https URLs are fetched")
        data = _http(url, None, CRL_MAX_BYTES)
        from cryptography import x509
        from cryptography.hazmat.primitives import serialization

        crl = (x509.load_pem_x509_crl(data) if data.lstrip().startswith(b"-----BEGIN")
               else x509.load_der_x509_crl(data))
        return _store(key, Fetched(url, crl.public_bytes(serialization.Encoding.DER)))
    except (OSError, ValueError, urllib.error.URLError) as exc:
        return _store(key, Fetched(url, None, f"CRL {url} not fetched: {_one_line(exc)}"))


def fetch_ocsp(url: str, cert: x509.Certificate, issuer: x509.Certificate) -> Fetched:
    """An OCSP response for ``cert`` from ``url`` (POST, SHA-256 CertID, a random nonce that
    the answer must echo when it carries one). Never raises: a failure is in
    :attr:`Fetched.error`."""
    from cryptography.hazmat.primitives import hashes, serialization

    key = ("ocsp", url, issuer.fingerprint(hashes.SHA256()).hex(), str(cert.serial_number))
    hit = _cached(key)
    if hit is not None:
        return hit
    try:
        if not _allowed(url):
            raise ValueError("only http and https URLs are fetched")
        import secrets

        from cryptography import x509
        from cryptography.x509 import ocsp

        nonce = secrets.token_bytes(16)
        request = (ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, hashes.SHA256())
                   .add_extension(x509.OCSPNonce(nonce), critical=False).build())
        data = _http(url, request.public_bytes(serialization.Encoding.DER), OCSP_MAX_BYTES)
        response = ocsp.load_der_ocsp_response(data)
        if response.response_status != ocsp.OCSPResponseStatus.SUCCESSFUL:
            raise ValueError(f"responder answered {response.response_status.name.lower()}")
        try:
            echoed = response.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce
        except x509.ExtensionNotFound:
            echoed = None
        if echoed is not None and echoed != nonce:
            raise ValueError("the response's nonce is not the one sent")
        return _store(key, Fetched(url, data))
    except (OSError, ValueError, urllib.error.URLError) as exc:
        return _store(key, Fetched(url, None, f"OCSP {url} not answered: {_one_line(exc)}"))


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code}"
    if isinstance(exc, urllib.error.URLError):
        return str(exc.reason).splitlines()[0] if str(exc.reason) else "unreachable"
    text = str(exc).splitlines()
    return text[0] if text and text[0] else type(exc).__name__
