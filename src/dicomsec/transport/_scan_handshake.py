"""Full TLS handshakes for the endpoint scanner, run as a separate Python process.

Low-level, and standard library only: the scanner starts this file with ``python -I`` and an
``OPENSSL_CONF`` that lets OpenSSL offer everything (every TLS 1.3 suite including CCM and
CCM_8, every group, SECLEVEL 0), which a process that has already imported ``ssl`` cannot do
for itself. Jobs come as JSON on standard input, results go as JSON to standard output; the
jobs run in parallel threads. Never imported by the library (``scan`` only reads its path).

A job: ``{"id", "host", "port", "sni", "max12", "min13", "cadata", "cert", "key", "wait",
"resume"}``; a result: ``{"handshake", "error", "version", "cipher", "chain" (base64 DER,
as the server sent it), "after", "resumed"}``.
"""

from __future__ import annotations

import base64
import json
import socket
import ssl
import sys
import threading
from typing import Any

_CIPHERS = "ALL:COMPLEMENTOFALL:@SECLEVEL=0"


def _context(job: dict[str, Any]) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_REQUIRED if job.get("cadata") else ssl.CERT_NONE
    ctx.set_ciphers(_CIPHERS)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if job.get("max12"):
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    if job.get("min13"):
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    if job.get("cadata"):
        ctx.load_verify_locations(cadata=job["cadata"])
    if job.get("cert"):
        ctx.load_cert_chain(job["cert"], job["key"])
    return ctx


def _after(tsock: ssl.SSLSocket, wait: float) -> str:
    """What a read right after the handshake gives (TLS 1.3 reports a refused client
    certificate only now, with the certificate_required alert)."""
    tsock.settimeout(wait)
    try:
        return "data" if tsock.recv(1) else "closed"
    except TimeoutError:
        return "timeout"
    except ssl.SSLZeroReturnError:
        return "closed"
    except ssl.SSLError as exc:
        return f"alert {exc.reason or exc}"
    except OSError as exc:
        return f"connection error ({exc.strerror or exc})"


def _connect(ctx: ssl.SSLContext, job: dict[str, Any],
             session: ssl.SSLSession | None = None) -> ssl.SSLSocket:
    sock = socket.create_connection((job["host"], job["port"]), timeout=job["timeout"])
    try:
        return ctx.wrap_socket(sock, server_hostname=job.get("sni"), session=session)
    except BaseException:
        sock.close()
        raise


def _chain(tsock: ssl.SSLSocket) -> list[str]:
    unverified = getattr(tsock._sslobj, "get_unverified_chain", None)  # type: ignore[attr-defined]
    certs = [c.public_bytes(ssl._ssl.ENCODING_DER)  # type: ignore[attr-defined]
             for c in (unverified() or [])] if unverified is not None else []
    if not certs:
        der = tsock.getpeercert(binary_form=True)
        certs = [der] if der else []
    return [base64.b64encode(c).decode("ascii") for c in certs]


def run(job: dict[str, Any]) -> dict[str, Any]:
    """One full handshake (and, with ``resume``, a second one offering the first's session)."""
    try:
        ctx = _context(job)
    except (OSError, ssl.SSLError, ValueError) as exc:
        return {"handshake": False, "error": f"cannot load: {exc}", "input": True}
    try:
        tsock = _connect(ctx, job)
    except ssl.SSLError as exc:
        return {"handshake": False, "error": str(exc.reason or exc)}
    except OSError as exc:
        return {"handshake": False, "error": f"connection error ({exc.strerror or exc})"}
    with tsock:
        cipher = tsock.cipher()
        out: dict[str, Any] = {"handshake": True, "version": tsock.version(),
                               "cipher": cipher[0] if cipher else None, "chain": _chain(tsock)}
        out["after"] = _after(tsock, job["wait"])
        session = tsock.session
    if job.get("resume") and session is not None:
        try:
            with _connect(ctx, job, session) as again:
                out["resumed"] = again.session_reused
        except (OSError, ssl.SSLError) as exc:
            out["resumed"] = None
            out["resume_error"] = str(exc)
    return out


def main() -> None:
    jobs: list[dict[str, Any]] = json.load(sys.stdin)
    results: dict[str, Any] = {}

    def work(job: dict[str, Any]) -> None:
        results[job["id"]] = run(job)

    threads = [threading.Thread(target=work, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
