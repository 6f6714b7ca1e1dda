"""The site's OCSP responder (RFC 6960), for small sites (large ones point at their own).

Responses are signed by a *delegated* responder certificate (kind ``ocsp``: OCSPSigning,
OCSPNoCheck, 30 days) that each CA of the site issues; it is made on start when missing or due
to expire within a day (that needs the CA passphrase) and kept in ``DIR/ocsp/`` (key 0600,
unencrypted, so that a restart needs no passphrase; it can only sign OCSP answers for 30 days).
The CA keys are never held by the running server.

Per request: the index of the CA named by the CertID is read again (a revocation counts at
once), the status is ``good``, ``revoked`` (time and reason, ``certificateHold`` included;
an InvalidityDate single extension when the index has one) or ``unknown`` (a serial this CA
never issued); ``thisUpdate`` now, ``nextUpdate`` in :data:`NEXT_UPDATE`, the nonce echoed.
A CertID of another issuer, or hashed with an algorithm other than SHA-1 or SHA-2
(:data:`CERTID_HASHES`: the responder cannot tell which issuer it names), gets
``unauthorized``; a body that is not an OCSP request ``malformedRequest``; a body over
:data:`MAX_REQUEST` bytes is refused (HTTP 413). No request ends the server or prints a
traceback: an unexpected error is answered ``internalError`` and logged in one line.
"""

from __future__ import annotations

import base64
import binascii
import datetime as _dt
import logging
import threading
import urllib.parse
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dicomsec import keys
from dicomsec._atomic import atomic_write_bytes
from dicomsec.errors import DicomSecError, InvalidInput
from dicomsec.events import AuditHandler
from dicomsec.trust.pki import _db
from dicomsec.trust.pki._audit import emit_configuration
from dicomsec.trust.pki._ca import CaSigner, Layout, Request, issue_from, load_signer
from dicomsec.trust.pki._crl import REASON_FLAGS

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.x509 import ocsp

__all__ = ["CERTID_HASHES", "MAX_CONNECTIONS", "MAX_REQUEST", "NEXT_UPDATE", "OcspServer",
           "Responder", "make_server"]

_log = logging.getLogger(__name__)

#: the largest request body read
MAX_REQUEST = 64 * 1024
#: how long a response may be cached (its nextUpdate)
NEXT_UPDATE = _dt.timedelta(minutes=15)
#: a responder certificate closer than this to its end is replaced on start
_RENEW_BEFORE = _dt.timedelta(days=1)
#: seconds a client may take to send its request
_READ_TIMEOUT = 10
#: hash algorithms of a CertID the responder matches (RFC 6960 §4.1.1; others: unauthorized)
CERTID_HASHES = frozenset({"sha1", "sha224", "sha256", "sha384", "sha512"})
#: connections served at once; more are closed unanswered (a flood cannot spawn threads)
MAX_CONNECTIONS = 64


@dataclass(frozen=True, slots=True)
class _Ca:
    name: str                       # "root" or "issuing"
    cert: x509.Certificate
    index: Path
    responder_cert: x509.Certificate
    responder_key: Any = None

    def matches(self, req: ocsp.OCSPRequest) -> bool:
        """Whether the CertID names this CA (a hash outside :data:`CERTID_HASHES`: no)."""
        from asn1crypto import x509 as ax509
        from cryptography.exceptions import UnsupportedAlgorithm
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.serialization import Encoding

        try:
            algorithm = req.hash_algorithm
        except (UnsupportedAlgorithm, ValueError):
            return False
        if algorithm.name not in CERTID_HASHES:
            return False

        def digest(data: bytes) -> bytes:
            h = hashes.Hash(algorithm)
            h.update(data)
            return h.finalize()

        parsed = ax509.Certificate.load(self.cert.public_bytes(Encoding.DER))
        key_bits = parsed.public_key["public_key"].contents[1:]
        return (digest(self.cert.subject.public_bytes()) == req.issuer_name_hash
                and digest(key_bits) == req.issuer_key_hash)


def _responder_files(layout: Layout, ca: str) -> tuple[Path, Path]:
    return layout.folder / "ocsp" / f"{ca}.cert.pem", layout.folder / "ocsp" / f"{ca}.key.pem"


def _current_responder(layout: Layout, ca: str, ca_cert: x509.Certificate,
                       now: _dt.datetime) -> tuple[x509.Certificate, Any] | None:
    cert_path, key_path = _responder_files(layout, ca)
    if not cert_path.exists() or not key_path.exists():
        return None
    cert = keys.load_certificate(cert_path)
    key = keys.load_private_key(key_path)
    if cert.issuer != ca_cert.subject or cert.not_valid_after_utc - now < _RENEW_BEFORE:
        return None
    keys.check_issuer(key, cert)
    return cert, key


def _ensure_responder(layout: Layout, settings: _db.Settings, ca: str,
                      passphrase: Callable[[], bytes | None], pin_file: Path | None,
                      now: _dt.datetime, handlers: Iterable[AuditHandler] | None = None,
                      ) -> tuple[x509.Certificate, Any]:
    """The delegated responder of ``ca``: the one in ``DIR/ocsp/`` or a new one (issued:
    a SECURITY_CONFIGURATION "issue" event to ``handlers`` naming its certificate)."""
    from cryptography.hazmat.primitives import serialization

    ca_cert = keys.load_certificate(layout.cert(ca))
    current = _current_responder(layout, ca, ca_cert, now)
    if current is not None:
        return current
    secret = None if ca == "root" and settings.ca_key else passphrase()
    key = keys.generate_private_key(
        "ecdsa-p256" if settings.key_type != "rsa-3072" else "rsa3072", at=now)
    name = f"OCSP responder of {ca_cert.subject.rfc4514_string()}"[:64]
    with load_signer(layout, ca, secret, settings=settings, pin_file=pin_file) as signer:
        cert = issue_from(layout, settings, ca, signer, Request("ocsp", name),
                          key.public_key(), now)
    cert_path, key_path = _responder_files(layout, ca)
    cert_path.parent.mkdir(exist_ok=True)
    atomic_write_bytes(key_path, key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()), mode=0o600)
    atomic_write_bytes(cert_path, cert.public_bytes(serialization.Encoding.PEM), mode=0o644)
    emit_configuration(handlers, "issue", cert_path,
                       f"OCSP responder certificate of the {ca} CA issued",
                       serial=_db.Entry("V", cert.not_valid_after_utc, cert.serial_number,
                                        "").serial_hex,
                       subject=cert.subject.rfc4514_string())
    return cert, key


class Responder:
    """Answers OCSP requests for the CAs of a site PKI folder (no network: see
    :func:`make_server`)."""

    def __init__(self, folder: Path, *, passphrase: Callable[[], bytes | None],
                 pin_file: Path | None = None, now: _dt.datetime | None = None,
                 handlers: Iterable[AuditHandler] | None = None) -> None:
        layout = Layout(folder)
        settings = _db.read_settings(folder)
        now = now or _dt.datetime.now(_dt.UTC)
        self._cas = []
        for ca in layout.cas(settings):
            cert, key = _ensure_responder(layout, settings, ca, passphrase, pin_file, now,
                                          handlers)
            self._cas.append(_Ca(ca, keys.load_certificate(layout.cert(ca)),
                                 layout.index(ca, settings), cert, key))

    def respond(self, body: bytes, *, now: _dt.datetime | None = None) -> tuple[bytes, str]:
        """The DER response to a DER request, and one word on what was answered; never
        raises for any ``body`` (an unexpected error: ``internalError``, logged)."""
        try:
            return self._respond(body, now)
        except Exception as exc:  # a hostile request must not end the server
            _log.warning("OCSP: cannot answer: %s", type(exc).__name__)
            return _failure("INTERNAL_ERROR", "internalError")

    def _respond(self, body: bytes, now: _dt.datetime | None) -> tuple[bytes, str]:
        from cryptography.x509 import ocsp

        def failure(status: ocsp.OCSPResponseStatus, note: str) -> tuple[bytes, str]:
            return _failure(status.name, note)

        try:
            req = ocsp.load_der_ocsp_request(body)
            req.serial_number  # noqa: B018 - parses the CertID now
        except Exception:
            return failure(ocsp.OCSPResponseStatus.MALFORMED_REQUEST, "malformedRequest")
        ca = next((c for c in self._cas if c.matches(req)), None)
        if ca is None:
            return failure(ocsp.OCSPResponseStatus.UNAUTHORIZED, "unauthorized")
        try:
            return self._answer(ca, req, now or _dt.datetime.now(_dt.UTC))
        except (DicomSecError, ValueError) as exc:
            _log.warning("OCSP: cannot answer: %s", exc)
            return failure(ocsp.OCSPResponseStatus.INTERNAL_ERROR, "internalError")

    def _answer(self, ca: _Ca, req: ocsp.OCSPRequest,
                now: _dt.datetime) -> tuple[bytes, str]:
        from cryptography import x509
        from cryptography.hazmat.primitives.serialization import Encoding
        from cryptography.x509 import ocsp

        entry = next((e for e in _db.read_index(ca.index) if e.serial == req.serial_number),
                     None)
        status, note = ocsp.OCSPCertStatus.GOOD, "good"
        revoked_at = reason = None
        if entry is None:
            status, note = ocsp.OCSPCertStatus.UNKNOWN, "unknown"
        elif entry.status == "R":
            status, note, revoked_at = ocsp.OCSPCertStatus.REVOKED, "revoked", entry.revoked_at
            flag = REASON_FLAGS.get(entry.reason or "unspecified")
            reason = x509.ReasonFlags[flag] if flag else None
        now = now.replace(microsecond=0)
        builder = (ocsp.OCSPResponseBuilder().add_response_by_hash(
            req.issuer_name_hash, req.issuer_key_hash, req.serial_number, req.hash_algorithm,
            status, now, now + NEXT_UPDATE, revoked_at, reason)
            .responder_id(ocsp.OCSPResponderEncoding.HASH, ca.responder_cert)
            .certificates([ca.responder_cert]))
        try:
            nonce = req.extensions.get_extension_for_class(x509.OCSPNonce).value
            builder = builder.add_extension(nonce, critical=False)
        except x509.ExtensionNotFound:
            pass
        signer = CaSigner(ca.responder_key, ca.responder_cert)
        response = signer.sign_ocsp_response(builder)
        if status == ocsp.OCSPCertStatus.REVOKED and entry is not None \
                and entry.invalidity is not None:
            der = _with_invalidity(response, entry.invalidity, ca.responder_key,
                                   ca.responder_cert, signer.hash_algorithm())
        else:
            der = response.public_bytes(Encoding.DER)
        serial = f"{req.serial_number:X}"
        return der, f"{note} serial={'0' * (len(serial) % 2)}{serial}"


def _with_invalidity(response: ocsp.OCSPResponse, invalidity: _dt.datetime, key: Any,
                     cert: x509.Certificate, hash_alg: Any) -> bytes:
    """``response`` with an InvalidityDate in its single response's ``singleExtensions``
    (RFC 6960 §4.4.7 allows the CRL entry extensions there; RFC 5280 §5.3.2), as DER.
    cryptography's builder makes no single extensions, so the TBS is re-encoded with
    asn1crypto, signed again by the responder's key (an in-memory key of ``DIR/ocsp/``,
    ECDSA or RSA PKCS#1 v1.5, as cryptography signed it) and the signature checked.

    Raises:
        DicomSecError: the new signature does not verify with the responder certificate.
    """
    from asn1crypto import core
    from asn1crypto import ocsp as a_ocsp
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
    from cryptography.hazmat.primitives.serialization import Encoding
    from cryptography.x509 import ocsp as c_ocsp

    basic = a_ocsp.OCSPResponse.load(response.public_bytes(Encoding.DER))[
        "response_bytes"]["response"].parsed
    tbs = basic["tbs_response_data"]
    tbs["responses"][0]["single_extensions"] = [{
        "extn_id": "invalidity_date", "critical": False,
        "extn_value": core.GeneralizedTime(invalidity.astimezone(_dt.UTC))}]
    data = tbs.dump(force=True)
    if isinstance(key, rsa.RSAPrivateKey):
        basic["signature"] = key.sign(data, padding.PKCS1v15(), hash_alg)
    else:
        basic["signature"] = key.sign(data, ec.ECDSA(hash_alg))
    der = bytes(a_ocsp.OCSPResponse({
        "response_status": "successful",
        "response_bytes": {"response_type": "basic_ocsp_response", "response": basic},
    }).dump(force=True))
    signed = c_ocsp.load_der_ocsp_response(der)
    public = cert.public_key()
    try:
        if isinstance(public, rsa.RSAPublicKey):
            public.verify(signed.signature, signed.tbs_response_bytes, padding.PKCS1v15(),
                          hash_alg)
        else:
            assert isinstance(public, ec.EllipticCurvePublicKey)
            public.verify(signed.signature, signed.tbs_response_bytes, ec.ECDSA(hash_alg))
    except InvalidSignature:
        raise DicomSecError("internal: the OCSP response with its InvalidityDate does not "
                            "verify") from None
    return der


def _failure(status: str, note: str) -> tuple[bytes, str]:
    """An unsuccessful OCSP response (``status``: an ``OCSPResponseStatus`` name)."""
    from cryptography.hazmat.primitives.serialization import Encoding
    from cryptography.x509 import ocsp

    return (ocsp.OCSPResponseBuilder.build_unsuccessful(ocsp.OCSPResponseStatus[status])
            .public_bytes(Encoding.DER), note)


class _Handler(BaseHTTPRequestHandler):
    server: OcspServer
    server_version = "dicomsec-ocsp"
    timeout = _READ_TIMEOUT

    def _reply(self, code: int, body: bytes, note: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", "application/ocsp-response")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.server.log(f"{self.client_address[0]} {self.command} {code} {note}")

    def do_POST(self) -> None:
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_REQUEST:
            self.close_connection = True
            self._reply(413 if length > MAX_REQUEST else 411, b"", "refused: body size")
            return
        body = self.rfile.read(length)
        self._reply(200, *self.server.responder.respond(body))

    def do_GET(self) -> None:
        text = urllib.parse.unquote(self.path.lstrip("/"))
        try:
            body = base64.b64decode(text, validate=True) if len(text) <= MAX_REQUEST else b""
        except (binascii.Error, ValueError):
            body = b""
        self._reply(200, *self.server.responder.respond(body))

    def log_message(self, format: str, *args: Any) -> None:
        """http.server's own lines (errors while reading) go to the logger, not stderr."""
        _log.info("OCSP %s: " + format, self.client_address[0], *args)


class OcspServer(ThreadingHTTPServer):
    """A ThreadingHTTPServer answering with a :class:`Responder`."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], responder: Responder,
                 log: Callable[[str], None]) -> None:
        super().__init__(address, _Handler)
        self.responder = responder
        self.log = log
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)

    def process_request(self, request: Any, client_address: Any) -> None:
        """A thread per connection, at most :data:`MAX_CONNECTIONS` at once."""
        if not self._slots.acquire(blocking=False):
            self.log(f"{client_address[0]} refused: {MAX_CONNECTIONS} connections busy")
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """One line on the log for an error the handler did not answer (no traceback on
        stderr); the server goes on serving."""
        import sys

        exc = sys.exc_info()[1]
        self.log(f"{client_address[0]} dropped: {type(exc).__name__}")

    @property
    def port(self) -> int:
        return int(self.server_address[1])


def make_server(folder: Path, *, port: int, bind: str = "127.0.0.1",
                passphrase: Callable[[], bytes | None], pin_file: Path | None = None,
                log: Callable[[str], None] = _log.info,
                handlers: Iterable[AuditHandler] | None = None) -> OcspServer:
    """An OCSP server for the site PKI in ``folder`` on ``bind:port`` (0: any free port),
    not yet serving (call ``serve_forever()``; ``shutdown()`` from another thread stops it).
    A responder certificate issued on the way is a SECURITY_CONFIGURATION event to
    ``handlers``.

    Raises:
        InvalidInput: not a PKI folder, a wrong passphrase (only asked when a responder
            certificate must be issued), a port outside 0 to 65535.
        OSError: the address cannot be bound.
    """
    if not 0 <= port <= 65535:
        raise InvalidInput(f"--port must be 0 to 65535, not {port}")
    responder = Responder(folder, passphrase=passphrase, pin_file=pin_file, handlers=handlers)
    return OcspServer((bind, port), responder, log)
