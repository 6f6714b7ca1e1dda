"""Syslog framing and transport for DICOM audit messages (PS3.15 A.6 / A.7).

- :func:`syslog_record`: one RFC 5424 message, ``<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID
  DICOM+RFC3881 - `` + UTF-8 BOM + the XML. PRI = facility 10 (security/authorization,
  "authpriv") × 8 + the message's severity (5 notice, 4 warning). No STRUCTURED-DATA (``-``).
  The header fields are checked (RFC 5424 §6: printable US-ASCII, HOSTNAME ≤ 255, APP-NAME
  ≤ 48, PROCID ≤ 128 octets; an empty one is sent as ``-``).
- :func:`octet_frame`: RFC 5425 octet counting, ``MSG-LEN SP SYSLOG-MSG`` where MSG-LEN
  counts the BYTES of the record (a character count breaks the stream at the first
  non-ASCII patient name).
- :func:`send_tls` (RFC 5425) and :func:`send_udp` (RFC 5426): low-level senders used by the
  sinks (:mod:`dicomsec.audit.sinks`); each is bounded by a ``time.monotonic()`` deadline and
  returns how many records were taken instead of raising.

What "delivered" means over TLS (syslog has no application acknowledgement): the connection
was established with mutual TLS; the receiver did not close it or send an alert during a
short wait after the handshake (under TLS 1.3 a receiver that refuses our certificate does so
only after the client considers the handshake done: rsyslog then closes the connection and
the sender's write still succeeds); every frame was written; and after our close_notify the
receiver closed the connection (it has read the stream up to our close_notify). A wait for
that close that runs out is NOT a confirmation (a receiver that completed the handshake and
never reads would otherwise get records deleted): the records stay in the spool, the attempt
is an error, and a later attempt may deliver a duplicate. A record is therefore counted only
when the receiver has had every chance to refuse it. It can still be lost by a receiver that
crashes after reading it and before storing it (nothing in RFC 5425 tells), and it is sent
again (a duplicate) when the sender dies or the connection breaks after the receiver read it
and before the spool removed it: delivery is at least once.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from dicomsec.errors import InvalidInput

if TYPE_CHECKING:
    import socket
    import ssl

    from dicomsec.audit.messages import AuditMessage, AuditSource

__all__ = ["BOM", "FACILITY", "MSGID", "octet_frame", "send_tls", "send_udp", "syslog_record"]

#: syslog facility of security/authorization messages (authpriv), PS3.15 A.6
FACILITY = 10
#: the MSGID PS3.15 A.6 suggests
MSGID = "DICOM+RFC3881"
#: RFC 5424 §6.4: a UTF-8 MSG starts with the byte order mark
BOM = b"\xef\xbb\xbf"

#: RFC 5424 §6 limits of the header fields, in octets
_LIMITS = {"HOSTNAME": 255, "APP-NAME": 48, "PROCID": 128, "MSGID": 32}
#: how long to wait for a refusal after the handshake, at least (seconds); more for a
#: distant receiver: four round trips (the TCP connect's duration)
CONFIRM_SECONDS = 0.2
#: the same, once this receiver has accepted our certificate in this process (a later
#: refusal would need a change on its side; the close after close_notify still confirms)
CONFIRM_SECONDS_KNOWN = 0.02


def _field(name: str, value: str | None) -> bytes:
    """One header field: ``-`` when empty; otherwise printable US-ASCII within its limit."""
    if not value:
        return b"-"
    if not all(33 <= ord(c) <= 126 for c in value):
        raise InvalidInput(f"syslog {name} {value!r} is not printable US-ASCII (RFC 5424 §6)")
    if len(value) > _LIMITS[name]:
        raise InvalidInput(f"syslog {name} is {len(value)} octets (RFC 5424 allows "
                           f"{_LIMITS[name]})")
    return value.encode("ascii")


def _timestamp(when: datetime) -> bytes:
    """RFC 3339 with ``T``, at most 6 fraction digits and a time zone (``Z`` for UTC); a naive
    time is local time and an offset with seconds is rounded to minutes, as in the XML
    (:func:`~dicomsec.audit.messages.event_time`)."""
    from dicomsec.audit.messages import event_time

    text = event_time(when).isoformat(timespec="microseconds")
    if text.endswith("+00:00"):
        text = text[:-6] + "Z"
    return text.encode("ascii")


def syslog_record(message: AuditMessage, source: AuditSource, when: datetime) -> bytes:
    """The RFC 5424 SYSLOG-MSG carrying ``message`` (the XML after the UTF-8 BOM).

    Raises:
        InvalidInput: a header field that is not printable US-ASCII or is too long, a
            severity outside 0..7.
    """
    if not 0 <= message.severity <= 7:
        raise InvalidInput(f"syslog severity {message.severity} outside 0..7")
    pri = FACILITY * 8 + message.severity
    head = b" ".join((
        b"<%d>1" % pri, _timestamp(when), _field("HOSTNAME", source.hostname),
        _field("APP-NAME", source.app_name), _field("PROCID", source.process_id),
        _field("MSGID", MSGID), b"-",
    ))
    return head + b" " + BOM + message.xml


def octet_frame(record: bytes) -> bytes:
    """RFC 5425 §4.3 octet-counting frame: the byte length of ``record``, a space, ``record``."""
    return str(len(record)).encode("ascii") + b" " + record


def _left(deadline: float) -> float:
    return deadline - time.monotonic()


def _addresses(host: str, port: int, kind: int, deadline: float) -> list[tuple[Any, ...]]:
    """``getaddrinfo`` bounded by the deadline: a name is resolved in a daemon thread (a
    slow resolver must not hold a command past its bound; the thread is abandoned then).

    Raises:
        OSError: the name does not resolve (TimeoutError: not by the deadline).
    """
    import socket
    import threading

    for family, address in ((socket.AF_INET, (host, port)),
                            (socket.AF_INET6, (host, port, 0, 0))):
        try:  # an address literal: no resolver involved
            socket.inet_pton(family, host)
        except OSError:
            continue
        return [(family, kind, 0, "", address)]
    found: list[tuple[Any, ...]] = []
    failed: list[OSError] = []

    def run() -> None:
        try:
            found.extend(socket.getaddrinfo(host, port, type=kind))
        except OSError as exc:
            failed.append(exc)

    worker = threading.Thread(target=run, name="dicomsec-audit-resolve", daemon=True)
    worker.start()
    worker.join(max(_left(deadline), 0.0))
    if worker.is_alive():
        raise TimeoutError(f"resolving {host} did not finish in time")
    if failed:
        raise failed[0]
    return found


def _connect(host: str, port: int, kind: int, deadline: float) -> socket.socket:
    """A socket connected to the first address of ``host`` that answers, by the deadline."""
    import socket

    error: OSError = OSError(f"{host} has no address")
    for family, _, proto, _, address in _addresses(host, port, kind, deadline):
        sock = socket.socket(family, kind, proto)
        try:
            sock.settimeout(max(_left(deadline), 0.001))
            sock.connect(address)
            return sock
        except OSError as exc:
            sock.close()
            error = exc
    raise error


def _refused_early(sock: ssl.SSLSocket, wait: float) -> str | None:
    """Whether the receiver closes or alerts within ``wait`` seconds after the handshake (how a
    TLS 1.3 receiver refuses our certificate); ``None``: it kept the connection open."""
    import ssl

    sock.settimeout(max(wait, 0.001))
    try:
        data = sock.recv(1)
    except TimeoutError:
        return None
    except ssl.SSLError as exc:
        return f"receiver refused the connection ({exc.reason or exc})"
    except OSError as exc:
        return f"receiver dropped the connection ({exc.strerror or exc})"
    if not data:
        return "receiver closed the connection after the handshake (our certificate refused?)"
    return "receiver sent data on a syslog connection (unexpected)"


def _close_confirmed(sock: ssl.SSLSocket, deadline: float) -> str | None:
    """Send close_notify and wait for the receiver to close (it has read everything before);
    ``None`` when it did; the wait running out is an error (not a confirmation: the records
    stay in the spool, a later duplicate is allowed)."""
    import ssl

    sock.settimeout(max(_left(deadline), 0.001))
    try:
        sock.unwrap()
    except ssl.SSLEOFError:
        return None  # rsyslog closes without answering close_notify: it read our stream
    except TimeoutError:
        return "receiver did not confirm the records (no close after close_notify in time)"
    except ssl.SSLError as exc:
        return f"receiver refused the messages ({exc.reason or exc})"
    except OSError as exc:
        if isinstance(exc, BrokenPipeError | ConnectionResetError):
            return f"receiver dropped the connection ({exc.strerror or exc})"
        return f"closing the connection failed ({exc.strerror or exc})"
    return None


def send_tls(records: Sequence[bytes], context: ssl.SSLContext, host: str, port: int,
             server_hostname: str | None, deadline: float, *,
             wait: float = CONFIRM_SECONDS) -> tuple[int, str | None]:
    """Send ``records`` (RFC 5424 messages) over one RFC 5425 connection, by the deadline.

    ``wait``: the least time given the receiver to refuse us after the handshake (four round
    trips, measured by the TCP connect, when that is longer). Returns how many of the records
    were delivered (all or none: they share one connection whose end confirms them; see the
    module's docstring) and the error, if any, in one line.
    """
    import socket
    import ssl

    if not records:
        return 0, None
    started = time.monotonic()
    if _left(deadline) <= 0:
        return 0, "no time left to connect"
    try:
        raw = _connect(host, port, socket.SOCK_STREAM, deadline)
    except OSError as exc:
        return 0, f"cannot connect to {host}:{port}: {exc.strerror or exc}"
    round_trip = time.monotonic() - started
    try:
        with context.wrap_socket(raw, server_hostname=server_hostname,
                                 do_handshake_on_connect=False) as sock:
            sock.settimeout(max(_left(deadline), 0.001))
            sock.do_handshake()
            refused = _refused_early(sock, min(max(wait, 4 * round_trip),
                                               _left(deadline)))
            if refused is not None:
                return 0, refused
            sock.settimeout(max(_left(deadline), 0.001))
            sock.sendall(b"".join(octet_frame(r) for r in records))
            problem = _close_confirmed(sock, deadline)
            return (0, problem) if problem else (len(records), None)
    except TimeoutError:
        return 0, f"{host}:{port}: timed out"
    except ssl.SSLError as exc:
        return 0, f"TLS with {host}:{port} failed: {exc.reason or exc}"
    except OSError as exc:
        return 0, f"{host}:{port}: {exc.strerror or exc}"
    finally:
        with contextlib.suppress(OSError):
            raw.close()


def send_udp(records: Sequence[bytes], host: str, port: int,
             deadline: float) -> tuple[int, str | None]:
    """Send each record as one datagram (RFC 5426); returns how many were sent and the error.

    UDP confirms nothing: "sent" means the kernel took the datagram. An ICMP port-unreachable
    from an earlier datagram surfaces as ``connection refused`` on a later one (the socket is
    connected), which stops the batch there.
    """
    import socket

    sent = 0
    try:
        with _connect(host, port, socket.SOCK_DGRAM, deadline) as sock:
            for record in records:
                if _left(deadline) <= 0:
                    return sent, "no time left"
                sock.send(record)
                sent += 1
    except OSError as exc:
        return sent, f"UDP to {host}:{port}: {exc.strerror or exc}"
    return sent, None
