"""Where audit records go: sinks, each named by a URL (:func:`parse_sink`).

==============================================================  ===============================
URL                                                             sink
==============================================================  ===============================
``file:///var/log/dicomsec/audit.log``                          :class:`FileSink`
``fhir-file:///var/log/dicomsec/audit.ndjson``                  :class:`FhirFileSink`
``syslog+udp://host[:514][?max=8192]``                          :class:`UdpSink` (RFC 5426)
``syslog+tls://host[:6514]?ca=CA&cert=CERT&key=KEY``            :class:`TlsSink` (RFC 5425)
``[&max=32768][&password-file=F][&name=SERVER-NAME]``
==============================================================  ===============================

A sink does two things: :meth:`payload` turns one event's message into the bytes that wait in
the spool (checked here: a record over the sink's size limit is refused with
:class:`~dicomsec.errors.InvalidInput`, never cut), and :meth:`deliver` sends spooled payloads
in order and returns how many the destination took (never raises; ``last_error`` says why it
stopped). A sink whose ``per_event`` is true takes one payload per event (the FHIR rendering)
instead of one per DICOM message.

File sink format: one JSON object per line, UTF-8, keys ``time`` (the event's time, RFC
3339), ``event_id``, ``outcome``, ``severity`` and ``xml`` (the message's XML as text, its
newlines escaped by JSON); ``json.loads`` of a line and ``xml.encode()`` give back the XML
bytes. FHIR file sink: NDJSON, one FHIR R4 AuditEvent per line (validated before it is
spooled). Both files are created 0600 and appended with ``fsync`` before the rows leave the
spool: a crash between the two leaves a duplicate line, never a gap. A line torn by a crash
in the middle of an append is ended (a ``\n`` written first) before the next append, so
that it is never glued to the next record. A path that is not a regular file (a FIFO, a
device) is refused without waiting for a reader.

URLs: query values are percent-decoded once (``+`` stays ``+``; a space in a path is
``%20``); a port must be 1..65535; ``file://`` takes no host but ``localhost`` and no URL
takes a fragment. Error messages show the URL without its user information and without
query values (``?ca=...&key=...``). UDP: the default limit is 8192 octets (RFC 5426 asks
receivers to take at least 2048 and allows more; a signed or failed operation's record is
often over 2048): the receiver must be configured for it (rsyslog: ``$MaxMessageSize``), or
set ``?max=`` to what it takes.

TLS client key: an encrypted key needs its password from ``password-file=F`` or
``$DICOMSEC_KEY_PASSWORD``; without one the sink fails with "TLS client key needs a
password" (OpenSSL never prompts on a terminal).
"""

from __future__ import annotations

import os
import stat
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import unquote, urlsplit

from dicomsec.audit.syslog import (
    CONFIRM_SECONDS,
    CONFIRM_SECONDS_KNOWN,
    send_tls,
    send_udp,
    syslog_record,
)
from dicomsec.errors import DicomSecError, InvalidInput

if TYPE_CHECKING:
    import ssl

    from dicomsec.audit.messages import AuditMessage, AuditSource
    from dicomsec.events import AuditEvent

__all__ = ["FhirFileSink", "FileSink", "Sink", "TlsSink", "UdpSink", "parse_sink"]

#: PS3.15 A.6: senders and receivers handle at least 32768 octets
TLS_DEFAULT_MAX = 32768
#: RFC 5426 §3.2: receivers should take 2048 octets, and may take more; our records are
#: often longer (a signing or a failed verification: 2,000-2,500): the receiver must be
#: configured for 8192 (rsyslog ``$MaxMessageSize``) or the URL must say ``?max=``
UDP_DEFAULT_MAX = 8192
#: the largest UDP payload over IPv4; a TLS record limit far above any audit message
UDP_CEILING = 65507
TLS_CEILING = 1 << 24
TLS_PORT = 6514
UDP_PORT = 514


class Sink(Protocol):
    """One destination of audit records (see the module's docstring)."""

    name: str
    kind: str
    per_event: bool
    last_error: str | None

    def payload(self, event: AuditEvent, message: AuditMessage, source: AuditSource) -> bytes:
        """What is spooled for this sink; InvalidInput when over its size limit."""

    def deliver(self, payloads: Sequence[bytes], deadline: float) -> int:
        """Deliver in order by ``deadline`` (``time.monotonic()``); how many were taken."""


def _append(path: Path, payloads: Sequence[bytes]) -> None:
    """Append ``payloads`` to ``path`` (created 0600, folder made) and fsync; a regular file
    only (opened without blocking: a FIFO without a reader must not hang us); a last line
    torn by a crash is ended first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_APPEND | os.O_CREAT | os.O_CLOEXEC | os.O_NONBLOCK
    readable = True
    try:
        fd = os.open(path, os.O_RDWR | flags, 0o600)
    except PermissionError:  # a write-only log: no torn-line check
        fd, readable = os.open(path, os.O_WRONLY | flags, 0o600), False
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise OSError(0, "not a regular file")
        os.set_blocking(fd, True)
        data = memoryview(b"".join(payloads))
        if readable and info.st_size and os.pread(fd, 1, info.st_size - 1) != b"\n":
            data = memoryview(b"\n" + bytes(data))
        while data:
            data = data[os.write(fd, data):]
        os.fsync(fd)
    finally:
        os.close(fd)


class FileSink:
    """A local file, one JSON object per line (the embedded default). (Plain classes, not
    dataclasses: the sinks are made by every command, at start-up.)"""

    kind: str = "file"
    per_event: bool = False

    def __init__(self, path: Path, name: str = "") -> None:
        self.path = path
        self.name = name or self._name()
        self.last_error: str | None = None

    def _name(self) -> str:
        return self.path.as_uri()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.path!r})"

    def payload(self, event: AuditEvent, message: AuditMessage, source: AuditSource) -> bytes:
        import json

        line = {"time": event.when.isoformat(), "event_id": message.event_id,
                "outcome": message.outcome, "severity": message.severity,
                "xml": message.xml.decode("utf-8")}
        return json.dumps(line, ensure_ascii=False).encode("utf-8") + b"\n"

    def deliver(self, payloads: Sequence[bytes], deadline: float) -> int:
        try:
            _append(self.path, payloads)
        except OSError as exc:
            self.last_error = f"cannot append to {self.path}: {exc.strerror or exc}"
            return 0
        self.last_error = None
        return len(payloads)


class FhirFileSink(FileSink):
    """FHIR R4 AuditEvent resources (IHE BALP), one JSON object per line (NDJSON)."""

    kind: str = "fhir-file"
    per_event: bool = True

    def _name(self) -> str:
        return "fhir-" + self.path.as_uri()

    def payload(self, event: AuditEvent, message: AuditMessage, source: AuditSource) -> bytes:
        import json

        from dicomsec.audit.fhir import fhir_audit_event, validate_fhir

        resource = fhir_audit_event(event, source)
        problems = validate_fhir(resource)
        if problems:
            raise InvalidInput("FHIR AuditEvent not valid: " + "; ".join(problems[:3]))
        return json.dumps(resource, ensure_ascii=False,
                          separators=(",", ":")).encode("utf-8") + b"\n"


def _limited(record: bytes, limit: int, name: str) -> bytes:
    if len(record) > limit:
        raise InvalidInput(f"audit record of {len(record)} octets is over the limit of "
                           f"{limit} of sink {name} (never cut; raise ?max= to what the "
                           "receiver takes)")
    return record


class UdpSink:
    """Syslog over UDP (RFC 5426): one record per datagram, at most ``max_size`` octets."""

    kind: str = "syslog+udp"
    per_event: bool = False

    def __init__(self, host: str, port: int = UDP_PORT, max_size: int = UDP_DEFAULT_MAX,
                 name: str = "") -> None:
        self.host, self.port, self.max_size = host, port, max_size
        self.name = name or f"syslog+udp://{_netloc(host, port)}"
        self.last_error: str | None = None

    def __repr__(self) -> str:
        return f"UdpSink({self.name!r}, max_size={self.max_size})"

    def payload(self, event: AuditEvent, message: AuditMessage, source: AuditSource) -> bytes:
        return _limited(syslog_record(message, source, event.when), self.max_size,
                        self.name)

    def deliver(self, payloads: Sequence[bytes], deadline: float) -> int:
        sent, self.last_error = send_udp(payloads, self.host, self.port, deadline)
        return sent


class TlsSink:
    """Syslog over TLS (RFC 5425) with mutual authentication: our certificate and key, the
    receiver's CA; the DICOM B.12 client context (TLS 1.2 or 1.3, ECDHE + AES-GCM, the
    receiver's certificate validated for serverAuth and its name checked against
    ``server_name``, default the host)."""

    kind: str = "syslog+tls"
    per_event: bool = False

    def __init__(self, host: str, ca: Path, cert: Path | None = None, key: Path | None = None,
                 port: int = TLS_PORT, max_size: int = TLS_DEFAULT_MAX,
                 password_file: Path | None = None, server_name: str | None = None,
                 name: str = "") -> None:
        self.host, self.ca, self.cert, self.key, self.port = host, ca, cert, key, port
        self.max_size, self.password_file, self.server_name = max_size, password_file, server_name
        self.name = name or f"syslog+tls://{_netloc(host, port)}"
        self.last_error: str | None = None
        self._context: ssl.SSLContext | None = None
        self._lock = threading.Lock()
        self._accepted = False

    def __repr__(self) -> str:
        return f"TlsSink({self.name!r}, max_size={self.max_size})"

    def payload(self, event: AuditEvent, message: AuditMessage, source: AuditSource) -> bytes:
        return _limited(syslog_record(message, source, event.when), self.max_size,
                        self.name)

    def context(self) -> ssl.SSLContext:
        """The client context, built on first use (so that ``ssl`` is imported only when a
        record is sent, after the command line tool arranged its OpenSSL configuration).

        Raises:
            DicomSecError: unreadable CA, certificate or key, or a certificate the B.12
                profile or a TLS client's key usage refuses.
        """
        with self._lock:
            if self._context is None:
                from dicomsec.keys import read_password
                from dicomsec.transport.tls import client_context
                from dicomsec.trust import TrustStore

                password = read_password(self.password_file)
                if password is None:
                    if self.key is not None and _encrypted(self.key):
                        raise InvalidInput(
                            "TLS client key needs a password (password-file= in the URL, or "
                            "$DICOMSEC_KEY_PASSWORD)", path=str(self.key))
                    password = b""  # never None: OpenSSL would prompt on the terminal
                self._context = client_context(
                    "b12", TrustStore.from_paths([self.ca]), cert=self.cert, key=self.key,
                    key_password=password, check_hostname=True)
            return self._context

    def deliver(self, payloads: Sequence[bytes], deadline: float) -> int:
        try:
            ctx = self.context()
        except DicomSecError as exc:
            self.last_error = f"TLS client not usable: {exc}"
            return 0
        if time.monotonic() >= deadline:
            self.last_error = "no time left"
            return 0
        taken, self.last_error = send_tls(
            payloads, ctx, self.host, self.port, self.server_name or self.host, deadline,
            wait=CONFIRM_SECONDS_KNOWN if self._accepted else CONFIRM_SECONDS)
        self._accepted = self._accepted or taken > 0
        return taken


def _encrypted(key: Path) -> bool:
    """Whether a PEM key file is encrypted (PKCS #8 ``ENCRYPTED PRIVATE KEY`` or the
    traditional ``Proc-Type: 4,ENCRYPTED``); an unreadable file is left to the loader."""
    try:
        head = key.read_bytes()[:4096]
    except OSError:
        return False
    return b"ENCRYPTED" in head


def _netloc(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def shown(url: str) -> str:
    """``url`` as error messages show it: no user information, no query values."""
    try:
        parts = urlsplit(url.strip())
        host = parts.netloc.rpartition("@")[2]
    except ValueError:
        return "(unparsable URL)"
    keys = [item.partition("=")[0] for item in parts.query.split("&") if item]
    query = "?" + "&".join(f"{k}=..." for k in keys) if keys else ""
    return f"{parts.scheme}://{host}{parts.path}{query}"


def _query(url: str, text: str, allowed: set[str]) -> dict[str, str]:
    """The URL's options, each value percent-decoded once (``+`` stays ``+``)."""
    found: dict[str, str] = {}
    for item in text.split("&"):
        if not item:
            continue
        key, _, value = item.partition("=")
        key = unquote(key)
        if key not in allowed:
            raise InvalidInput(f"audit sink {shown(url)!r}: unknown option {key!r} "
                               f"(known: {', '.join(sorted(allowed)) or 'none'})")
        found[key] = unquote(value)
    return found


def _size(url: str, options: dict[str, str], default: int, ceiling: int) -> int:
    text = options.get("max", str(default))
    if not text.isdigit() or not 480 <= int(text) <= ceiling:
        raise InvalidInput(f"audit sink {shown(url)!r}: max= is not a size in octets "
                           f"(480..{ceiling})")
    return int(text)


def _file(url: str, parts: Any, what: str) -> Path:
    if parts.netloc not in ("", "localhost"):
        raise InvalidInput(f"audit sink {shown(url)!r}: a {what} URL names no host "
                           f"(file:///path or file://localhost/path)")
    if not parts.path.startswith("/"):
        raise InvalidInput(f"audit sink {shown(url)!r}: a {what} URL needs an absolute path "
                           "(file:///path/to/file)")
    return Path(unquote(parts.path))


def _existing(url: str, options: dict[str, str], key: str) -> Path | None:
    value = options.get(key)
    if value is None:
        return None
    path = Path(value).expanduser()
    if not path.is_file():
        # the path is a query value: not echoed (the option's name says which file)
        raise InvalidInput(f"audit sink {shown(url)!r}: {key}= file not found")
    return path


def _endpoint(url: str, parts: Any, default_port: int) -> tuple[str, int]:
    if "@" in parts.netloc:
        raise InvalidInput(f"audit sink {shown(url)!r}: user information in a sink URL is not "
                           "used (credentials are certificates and files)")
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        raise InvalidInput(f"audit sink {shown(url)!r}: bad port (1..65535)") from None
    if not host:
        raise InvalidInput(f"audit sink {shown(url)!r}: no host")
    if port == 0:
        raise InvalidInput(f"audit sink {shown(url)!r}: bad port (1..65535)")
    return host, port or default_port


def parse_sink(url: str) -> Sink:
    """The sink a URL names (see the module's table).

    Raises:
        InvalidInput: unknown scheme or option, bad port or size, a relative file path, a
            missing CA / certificate / key / password file, a certificate without its key.
    """
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        raise InvalidInput(f"audit sink {shown(url)!r}: not a URL") from None
    scheme = parts.scheme.lower()
    if parts.fragment or url.strip().endswith("#"):
        raise InvalidInput(f"audit sink {shown(url)!r}: a fragment (#...) is not allowed "
                           "(a '#' in a path is %23)")
    if scheme in ("file", "fhir-file"):
        _query(url, parts.query, set())
        path = _file(url, parts, scheme)
        return FileSink(path) if scheme == "file" else FhirFileSink(path)
    if scheme == "syslog+udp":
        options = _query(url, parts.query, {"max"})
        host, port = _endpoint(url, parts, UDP_PORT)
        return UdpSink(host, port, _size(url, options, UDP_DEFAULT_MAX, UDP_CEILING))
    if scheme == "syslog+tls":
        options = _query(url, parts.query, {"ca", "cert", "key", "max", "password-file", "name"})
        host, port = _endpoint(url, parts, TLS_PORT)
        ca = _existing(url, options, "ca")
        if ca is None:
            raise InvalidInput(f"audit sink {shown(url)!r}: ca=FILE is required "
                               "(the receiver's CA)")
        cert, key = _existing(url, options, "cert"), _existing(url, options, "key")
        if (cert is None) != (key is None):
            raise InvalidInput(f"audit sink {shown(url)!r}: cert= and key= go together")
        return TlsSink(host, ca, cert, key, port, _size(url, options, TLS_DEFAULT_MAX, TLS_CEILING),
                       _existing(url, options, "password-file"), options.get("name"))
    raise InvalidInput(f"audit sink {shown(url)!r}: unknown scheme (file, fhir-file, "
                       "syslog+udp, syslog+tls)")
