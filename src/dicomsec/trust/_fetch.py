"""Fetching revocation information over HTTP: CRLs from CRL distribution points, OCSP responses
from the OCSP URLs of Authority Information Access (low-level; :meth:`TrustStore.validate
<dicomsec.trust.TrustStore.validate>` calls it when ``allow_fetching`` is on).

We fetch ourselves with :mod:`urllib` instead of letting pyhanko-certvalidator open an aiohttp
session: our timeouts and size caps, only ``http``/``https``, an OCSP nonce that we check, and
the bytes in hand as evidence. Results are cached per process by URL (CRLs) and by URL and
certificate (OCSP) for :data:`CACHE_SECONDS` (a failure for :data:`FAILURE_CACHE_SECONDS`), so
that verifying 1,000 files signed by one device fetches once. One fetch, redirects included
(at most :data:`MAX_REDIRECTS`, http and https only), ends within :data:`DEADLINE` seconds.

What is *not* done here: checking signatures, freshness or status (the validator does that).
"""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dicomsec.trust._urls import crl_urls, ocsp_urls

if TYPE_CHECKING:
    from cryptography import x509

__all__ = ["CACHE_SECONDS", "CRL_MAX_BYTES", "DEADLINE", "FAILURE_CACHE_SECONDS",
           "MAX_REDIRECTS", "OCSP_MAX_BYTES", "TIMEOUT", "Fetched",
           "clear_cache", "crl_urls", "fetch_crl", "fetch_ocsp", "ocsp_urls"]

#: seconds allowed for connecting and for each read of one request
TIMEOUT = 5.0
#: seconds allowed for one whole fetch (connect, redirects, headers, body): a server that
#: trickles its answer is cut off here
DEADLINE = 10.0
#: at most this many redirects are followed, to http or https URLs only
MAX_REDIRECTS = 3
#: the largest CRL we download (a site CRL of 100,000 entries is ~4 MB)
CRL_MAX_BYTES = 16 << 20
#: the largest OCSP response we accept (a response is a few KB)
OCSP_MAX_BYTES = 64 << 10
#: how long a fetched CRL or OCSP response is reused within a process
CACHE_SECONDS = 600.0
#: how long a failed fetch is remembered (a responder back up is asked again soon)
FAILURE_CACHE_SECONDS = 30.0
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
    if hit is None:
        return None
    keep = CACHE_SECONDS if hit[1].data is not None else FAILURE_CACHE_SECONDS
    if time.monotonic() - hit[0] > keep:
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


class _Redirects(urllib.request.HTTPRedirectHandler):
    """Follow at most :data:`MAX_REDIRECTS` redirects, to http and https URLs only (urllib
    would follow one to ftp://)."""

    max_redirections = MAX_REDIRECTS

    def redirect_request(self, req: urllib.request.Request, fp: Any, code: int, msg: str,
                         headers: Any, newurl: str) -> urllib.request.Request | None:
        if not _allowed(newurl):
            raise urllib.error.URLError("redirected to a URL that is not http or https")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _opener() -> urllib.request.OpenerDirector:
    return urllib.request.build_opener(_Redirects)


def _http(url: str, body: bytes | None, limit: int) -> bytes:
    """GET (``body`` None) or POST an OCSP request; at most ``limit`` bytes, the whole fetch
    within :data:`DEADLINE` seconds (the scheme was checked by the caller; proxies from the
    environment apply, as urllib does).

    The request runs in a daemon thread that the caller waits for: a trickling server is left
    behind at the deadline (the thread ends at its next read), and a signal ends the wait at
    once; nothing keeps the process from exiting.

    Raises:
        TimeoutError: no complete answer within the deadline.
        OSError, ValueError, urllib.error.URLError: the request failed.
    """
    deadline = time.monotonic() + DEADLINE
    box: list[bytes | BaseException] = []

    def run() -> None:
        try:
            box.append(_request(url, body, limit, deadline))
        except BaseException as exc:  # handed to the waiting caller
            box.append(exc)

    worker = threading.Thread(target=run, name="dicomsec-fetch", daemon=True)
    worker.start()
    worker.join(max(0.0, deadline - time.monotonic()))
    if not box:
        raise TimeoutError(f"no complete answer within {DEADLINE:g} s")
    if isinstance(box[0], BaseException):
        raise box[0]
    return box[0]


def _request(url: str, body: bytes | None, limit: int, deadline: float) -> bytes:
    """One request read in chunks, stopping at ``deadline`` or past ``limit`` bytes."""
    headers = {"User-Agent": "dicomsec"}
    if body is not None:
        headers["Content-Type"] = "application/ocsp-request"
    request = urllib.request.Request(url, data=body, headers=headers)
    chunks: list[bytes] = []
    size = 0
    with _opener().open(request, timeout=TIMEOUT) as response:
        while True:
            if time.monotonic() > deadline:
                raise TimeoutError(f"no complete answer within {DEADLINE:g} s")
            chunk: bytes = response.read1(64 << 10)
            if not chunk:
                break
            size += len(chunk)
            if size > limit:
                raise ValueError(f"answer larger than {limit} bytes")
            chunks.append(chunk)
    return b"".join(chunks)


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
