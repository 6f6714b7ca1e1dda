"""Raw ClientHello probes for the endpoint scanner (low-level: no judgement here).

A probe offers exact protocol versions, cipher suite codes, groups, signature schemes and
compression methods and reads the server's first flight (ServerHello or HelloRetryRequest,
TLS 1.2 Certificate, ServerKeyExchange, CertificateRequest) or its alert; the handshake is never
finished, so it can offer what no local OpenSSL will (Camellia-GCM, static DH, export, NULL).
``cryptography`` makes the key shares. The enumerators repeat probes, removing what the server
picked, until it refuses (as sslyze does), in parallel over disjoint parts of the code list.
"""

from __future__ import annotations

import functools
import os
import socket
import struct
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from dicomsec.transport._iana import ALERTS, GROUPS, SIGALGS, suite_name

__all__ = ["ALL_GROUPS", "Hello", "client_hello", "enumerate_codes", "probe_hello"]

#: every group of the registry, the ones with a key share we can make first
ALL_GROUPS: tuple[int, ...] = (0x0017, 0x0018, 0x0019, 0x001D, 0x001E,
                               *(g for g in GROUPS if g not in (0x17, 0x18, 0x19, 0x1D, 0x1E)))
#: every signature scheme of the table (strong first; the weak ones last)
ALL_SIGALGS: tuple[int, ...] = tuple(SIGALGS)
_HRR_RANDOM = bytes.fromhex("CF21AD74E59A6111BE1D8C021E65B891C2A211167ABB8C5E079E09E2C8A8339C")
_DOWNGRADE_12 = b"DOWNGRD\x01"
FALLBACK_SCSV = 0x5600


@dataclass(frozen=True, slots=True)
class Hello:
    """The server's answer to one ClientHello."""

    version: int | None = None
    suite: int | None = None
    group: int | None = None
    retry: bool = False  # HelloRetryRequest (TLS 1.3): suite accepted, another share wanted
    alert: int | None = None
    error: str | None = None
    certificates: tuple[bytes, ...] = ()  # TLS 1.2: the whole chain as sent
    certificate_request: bool = False
    dh_bits: int | None = None
    sigalg: int | None = None  # TLS 1.2 ServerKeyExchange signature scheme
    compression: int | None = None
    secure_renegotiation: bool = False  # renegotiation_info in the ServerHello
    extended_master_secret: bool = False
    downgrade_sentinel: bool = False  # ServerHello.random ends with DOWNGRD\x01

    @property
    def accepted(self) -> bool:
        return self.suite is not None

    def why_refused(self) -> str:
        if self.alert is not None:
            return f"alert {ALERTS.get(self.alert, str(self.alert))}"
        return self.error or "refused"


def _u16s(values: Sequence[int]) -> bytes:
    return b"".join(struct.pack("!H", v) for v in values)


def _vec16(data: bytes) -> bytes:
    return struct.pack("!H", len(data)) + data


def _ext(kind: int, body: bytes) -> bytes:
    return struct.pack("!HH", kind, len(body)) + body


@functools.cache
def _key_share(group: int) -> bytes:
    """A public key for ``group`` (b"" when we make none: the server then asks for one with a
    HelloRetryRequest, which already names the group it accepted)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, x448, x25519

    curves: dict[int, ec.EllipticCurve] = {
        0x0017: ec.SECP256R1(), 0x0018: ec.SECP384R1(), 0x0019: ec.SECP521R1()}
    if group in curves:
        return ec.generate_private_key(curves[group]).public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    if group == 0x001D:
        return x25519.X25519PrivateKey.generate().public_key().public_bytes_raw()
    if group == 0x001E:
        return x448.X448PrivateKey.generate().public_key().public_bytes_raw()
    return b""


def client_hello(
    suites: Sequence[int],
    *,
    version: int = 0x0303,
    tls13: Sequence[int] = (),
    groups: Sequence[int] = ALL_GROUPS,
    sigalgs: Sequence[int] = ALL_SIGALGS,
    server_name: str | None = None,
    share: bool = True,
    compression: bytes = b"\x00",
) -> bytes:
    """One TLS record holding a ClientHello.

    ``version`` is the legacy version (the maximum for TLS ≤ 1.2); ``tls13`` lists the versions
    for the supported_versions extension (e.g. ``(0x0304, 0x0303)``). ``share=False`` sends an
    empty key_share, so that a TLS 1.3 server answers with a HelloRetryRequest naming its group.
    """
    exts = [_ext(10, _vec16(_u16s(groups))), _ext(11, b"\x01\x00"),
            _ext(13, _vec16(_u16s(sigalgs))), _ext(23, b""), _ext(0xFF01, b"\x00")]
    if server_name:
        name = server_name.encode("idna")
        exts.insert(0, _ext(0, _vec16(b"\x00" + _vec16(name))))
    if tls13:
        shares = b""
        for group in groups if share else ():
            key = _key_share(group)
            if key:  # one share: the first group we can make a key for
                shares = struct.pack("!H", group) + _vec16(key)
                break
        exts += [_ext(43, bytes([2 * len(tls13)]) + _u16s(tls13)), _ext(45, b"\x01\x01"),
                 _ext(51, _vec16(shares))]
    body = (struct.pack("!H", 0x0303 if tls13 else version) + os.urandom(32) + b"\x20"
            + os.urandom(32) + _vec16(_u16s(suites)) + bytes([len(compression)]) + compression
            + _vec16(b"".join(exts)))
    handshake = b"\x01" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x01" + _vec16(handshake)


def _recv_exact(sock: socket.socket, n: int) -> bytes | None:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            return None
        data += chunk
    return data


@dataclass
class _Flight:
    version: int | None = None
    suite: int | None = None
    group: int | None = None
    retry: bool = False
    certificates: list[bytes] = field(default_factory=list)
    certificate_request: bool = False
    dh_bits: int | None = None
    sigalg: int | None = None
    compression: int | None = None
    reneg: bool = False
    ems: bool = False
    sentinel: bool = False
    done: bool = False

    def server_hello(self, body: bytes) -> None:
        version = struct.unpack_from("!H", body, 0)[0]
        self.retry = body[2:34] == _HRR_RANDOM
        self.sentinel = body[26:34] == _DOWNGRADE_12
        pos = 35 + body[34]
        self.suite = struct.unpack_from("!H", body, pos)[0]
        self.compression = body[pos + 2]
        pos += 3
        if pos + 2 <= len(body):
            end = pos + 2 + struct.unpack_from("!H", body, pos)[0]
            pos += 2
            while pos + 4 <= end:
                kind, size = struct.unpack_from("!HH", body, pos)
                data = body[pos + 4:pos + 4 + size]
                if kind == 43 and len(data) >= 2:
                    version = struct.unpack_from("!H", data)[0]
                elif kind == 51 and len(data) >= 2:
                    self.group = struct.unpack_from("!H", data)[0]
                self.reneg |= kind == 0xFF01
                self.ems |= kind == 23
                pos += 4 + size
        self.version = version
        if version >= 0x0304:
            self.done = True  # the rest is encrypted

    def certificate(self, body: bytes) -> None:
        end = 3 + int.from_bytes(body[0:3], "big")
        pos = 3
        while pos + 3 <= end:
            size = int.from_bytes(body[pos:pos + 3], "big")
            self.certificates.append(bytes(body[pos + 3:pos + 3 + size]))
            pos += 3 + size

    def key_exchange(self, body: bytes) -> None:
        name = suite_name(self.suite or 0)
        if "_ECDHE_" in name and body[:1] == b"\x03":
            self.group = struct.unpack_from("!H", body, 1)[0]
            pos = 4 + body[3]
        elif "_DHE_" in name or "_DH_anon_" in name:
            pos = 0
            for i in range(3):  # p, g, Ys
                size = struct.unpack_from("!H", body, pos)[0]
                if i == 0:
                    self.dh_bits = int.from_bytes(body[pos + 2:pos + 2 + size], "big").bit_length()
                pos += 2 + size
        else:
            return
        if "_anon_" not in name and pos + 2 <= len(body):
            self.sigalg = struct.unpack_from("!H", body, pos)[0]

    def handle(self, kind: int, body: bytes) -> None:
        if kind == 2:
            self.server_hello(body)
        elif kind == 11:
            self.certificate(body)
        elif kind == 12:
            self.key_exchange(body)
        elif kind == 13:
            self.certificate_request = True
        elif kind == 14:
            self.done = True

    def hello(self, alert: int | None, error: str | None) -> Hello:
        if self.suite is None:
            return Hello(alert=alert, error=error)
        return Hello(version=self.version, suite=self.suite, group=self.group, retry=self.retry,
                     certificates=tuple(self.certificates),
                     certificate_request=self.certificate_request, dh_bits=self.dh_bits,
                     sigalg=self.sigalg, compression=self.compression,
                     secure_renegotiation=self.reneg, extended_master_secret=self.ems,
                     downgrade_sentinel=self.sentinel)


def _read_flight(sock: socket.socket, flight: _Flight) -> tuple[int | None, str | None]:
    """Read records until the server's first flight is complete; returns (alert, error)."""
    pending = b""
    while not flight.done:
        header = _recv_exact(sock, 5)
        if header is None:
            return None, "connection closed"
        kind, size = header[0], struct.unpack_from("!H", header, 3)[0]
        if kind not in (20, 21, 22, 23) or header[1] != 3:
            return None, "not a TLS response"
        payload = _recv_exact(sock, size)
        if payload is None:
            return None, "connection closed"
        if kind == 21:
            return (payload[1] if len(payload) > 1 else None), None
        if kind != 22:
            return None, None
        pending += payload
        while len(pending) >= 4 and not flight.done:
            length = int.from_bytes(pending[1:4], "big")
            if len(pending) < 4 + length:
                break
            flight.handle(pending[0], pending[4:4 + length])
            pending = pending[4 + length:]
    return None, None


def probe_hello(address: tuple[str, int], hello: bytes, *, timeout: float = 5.0) -> Hello:
    """Send one ClientHello and read the server's first flight (never finishes a handshake)."""
    flight = _Flight()
    try:
        sock = socket.create_connection(address, timeout=timeout)
    except OSError as exc:
        return Hello(error=f"no connection ({exc.strerror or exc})")
    alert: int | None = None
    error: str | None = None
    with sock:
        try:
            sock.sendall(hello)
            alert, error = _read_flight(sock, flight)
        except TimeoutError:
            error = "timeout"
        except OSError as exc:
            error = f"connection error ({exc.strerror or exc})"
        except (struct.error, IndexError):
            error = "malformed server response"
    return flight.hello(alert, error)


Ask = Callable[[Sequence[int]], Hello]


def _enumerate_part(ask: Ask, codes: Sequence[int], pick: Callable[[Hello], int | None],
                    ) -> list[Hello]:
    remaining = list(codes)
    found: list[Hello] = []
    while remaining:
        answer = ask(remaining)
        chosen = pick(answer)
        if chosen is None or chosen not in remaining:
            break
        found.append(answer)
        remaining.remove(chosen)
    return found


def enumerate_codes(ask: Ask, codes: Sequence[int], *, pick: Callable[[Hello], int | None],
                    parts: int = 4, pool: ThreadPoolExecutor | None = None) -> list[Hello]:
    """Every code of ``codes`` the server accepts: offer them, remove the one it picks
    (``pick`` reads it from the answer: the suite, or the group), repeat until it refuses.
    The list is cut into ``parts`` interleaved parts enumerated side by side."""
    chunks = [list(codes[i::parts]) for i in range(parts)]
    if pool is None or parts == 1:
        return [h for chunk in chunks for h in _enumerate_part(ask, chunk, pick)]
    futures = [pool.submit(_enumerate_part, ask, chunk, pick) for chunk in chunks]
    return [h for f in futures for h in f.result()]
