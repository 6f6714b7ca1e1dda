"""Endpoint scanner: does a TLS server meet the B.12 / B.13 profile (Supplement 230)?

Two probing techniques, both independent of the local OpenSSL's profile configuration:

* **Raw ClientHello** (plain sockets, ``cryptography`` only for key shares): offers exact
  protocol versions, cipher suite codes, groups and signature algorithms and reads the server's
  first flight (ServerHello, HelloRetryRequest, TLS 1.2 Certificate, ServerKeyExchange,
  CertificateRequest) or its alert. The handshake is never finished. This can offer what no
  local OpenSSL build will: TLS 1.3 CCM suites, static DH/ECDH, RC4, export and NULL suites and
  the TLS 1.2 Camellia-GCM suites (optional since CP 2311).
* **Full handshakes with ``ssl``** for what needs one: the TLS 1.3 server certificate, whether
  a client certificate is *required* (TLS 1.2: the handshake without one fails; TLS 1.3: the
  handshake completes and the next read gets the ``certificate_required`` alert), chaining to
  ``--trust`` and acceptance of a given client certificate.

The scanner never speaks DICOM or HTTP, so DIMSE and HTTPS ports are checked alike.
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import os
import socket
import struct
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from dicomsec.errors import InvalidInput
from dicomsec.transport import tls

__all__ = [
    "GROUPS",
    "SUITES",
    "CertificateInfo",
    "Check",
    "EndpointUnreachable",
    "Hello",
    "ScanReport",
    "parse_target",
    "probe_hello",
    "scan",
]

Status = Literal["pass", "fail", "warn", "info"]

#: IANA cipher suite code -> (IANA name, OpenSSL name or "")
SUITES: dict[int, tuple[str, str]] = {
    # TLS 1.3
    0x1301: ("TLS_AES_128_GCM_SHA256", "TLS_AES_128_GCM_SHA256"),
    0x1302: ("TLS_AES_256_GCM_SHA384", "TLS_AES_256_GCM_SHA384"),
    0x1303: ("TLS_CHACHA20_POLY1305_SHA256", "TLS_CHACHA20_POLY1305_SHA256"),
    0x1304: ("TLS_AES_128_CCM_SHA256", "TLS_AES_128_CCM_SHA256"),
    0x1305: ("TLS_AES_128_CCM_8_SHA256", "TLS_AES_128_CCM_8_SHA256"),
    # TLS 1.2, permitted by B.12 / B.13
    0xC02B: ("TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "ECDHE-ECDSA-AES128-GCM-SHA256"),
    0xC02C: ("TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "ECDHE-ECDSA-AES256-GCM-SHA384"),
    0xC02F: ("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "ECDHE-RSA-AES128-GCM-SHA256"),
    0xC030: ("TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "ECDHE-RSA-AES256-GCM-SHA384"),
    0xCCA8: ("TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", "ECDHE-RSA-CHACHA20-POLY1305"),
    0xCCA9: ("TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", "ECDHE-ECDSA-CHACHA20-POLY1305"),
    0xC0AC: ("TLS_ECDHE_ECDSA_WITH_AES_128_CCM", "ECDHE-ECDSA-AES128-CCM"),
    0xC0AD: ("TLS_ECDHE_ECDSA_WITH_AES_256_CCM", "ECDHE-ECDSA-AES256-CCM"),
    0xC0AE: ("TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8", "ECDHE-ECDSA-AES128-CCM8"),
    0xC0AF: ("TLS_ECDHE_ECDSA_WITH_AES_256_CCM_8", "ECDHE-ECDSA-AES256-CCM8"),
    0xC086: ("TLS_ECDHE_ECDSA_WITH_CAMELLIA_128_GCM_SHA256", ""),
    0xC087: ("TLS_ECDHE_ECDSA_WITH_CAMELLIA_256_GCM_SHA384", ""),
    0xC08A: ("TLS_ECDHE_RSA_WITH_CAMELLIA_128_GCM_SHA256", ""),
    0xC08B: ("TLS_ECDHE_RSA_WITH_CAMELLIA_256_GCM_SHA384", ""),
    # DHE with AEAD (B.13: only with at least 2048 bits)
    0x009E: ("TLS_DHE_RSA_WITH_AES_128_GCM_SHA256", "DHE-RSA-AES128-GCM-SHA256"),
    0x009F: ("TLS_DHE_RSA_WITH_AES_256_GCM_SHA384", "DHE-RSA-AES256-GCM-SHA384"),
    0xCCAA: ("TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256", "DHE-RSA-CHACHA20-POLY1305"),
    0xC09E: ("TLS_DHE_RSA_WITH_AES_128_CCM", "DHE-RSA-AES128-CCM"),
    0xC09F: ("TLS_DHE_RSA_WITH_AES_256_CCM", "DHE-RSA-AES256-CCM"),
    # CBC
    0xC027: ("TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256", "ECDHE-RSA-AES128-SHA256"),
    0xC028: ("TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384", "ECDHE-RSA-AES256-SHA384"),
    0xC023: ("TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256", "ECDHE-ECDSA-AES128-SHA256"),
    0xC024: ("TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384", "ECDHE-ECDSA-AES256-SHA384"),
    0xC013: ("TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", "ECDHE-RSA-AES128-SHA"),
    0xC014: ("TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", "ECDHE-RSA-AES256-SHA"),
    0xC009: ("TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", "ECDHE-ECDSA-AES128-SHA"),
    0xC00A: ("TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", "ECDHE-ECDSA-AES256-SHA"),
    0x0067: ("TLS_DHE_RSA_WITH_AES_128_CBC_SHA256", "DHE-RSA-AES128-SHA256"),
    0x0033: ("TLS_DHE_RSA_WITH_AES_128_CBC_SHA", "DHE-RSA-AES128-SHA"),
    # RSA key transport
    0x009C: ("TLS_RSA_WITH_AES_128_GCM_SHA256", "AES128-GCM-SHA256"),
    0x009D: ("TLS_RSA_WITH_AES_256_GCM_SHA384", "AES256-GCM-SHA384"),
    0xC09C: ("TLS_RSA_WITH_AES_128_CCM", "AES128-CCM"),
    0x003C: ("TLS_RSA_WITH_AES_128_CBC_SHA256", "AES128-SHA256"),
    0x002F: ("TLS_RSA_WITH_AES_128_CBC_SHA", "AES128-SHA"),
    # static DH / ECDH
    0x00A0: ("TLS_DH_RSA_WITH_AES_128_GCM_SHA256", ""),
    0x00A4: ("TLS_DH_DSS_WITH_AES_128_GCM_SHA256", ""),
    0x0031: ("TLS_DH_RSA_WITH_AES_128_CBC_SHA", ""),
    0x0030: ("TLS_DH_DSS_WITH_AES_128_CBC_SHA", ""),
    0xC031: ("TLS_ECDH_RSA_WITH_AES_128_GCM_SHA256", ""),
    0xC02D: ("TLS_ECDH_ECDSA_WITH_AES_128_GCM_SHA256", ""),
    0xC00E: ("TLS_ECDH_RSA_WITH_AES_128_CBC_SHA", ""),
    0xC004: ("TLS_ECDH_ECDSA_WITH_AES_128_CBC_SHA", ""),
    # 3DES
    0x000A: ("TLS_RSA_WITH_3DES_EDE_CBC_SHA", "DES-CBC3-SHA"),
    0xC012: ("TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA", "ECDHE-RSA-DES-CBC3-SHA"),
    0xC008: ("TLS_ECDHE_ECDSA_WITH_3DES_EDE_CBC_SHA", "ECDHE-ECDSA-DES-CBC3-SHA"),
    0x0016: ("TLS_DHE_RSA_WITH_3DES_EDE_CBC_SHA", "DHE-RSA-DES-CBC3-SHA"),
    # RC4
    0x0005: ("TLS_RSA_WITH_RC4_128_SHA", "RC4-SHA"),
    0x0004: ("TLS_RSA_WITH_RC4_128_MD5", "RC4-MD5"),
    0xC011: ("TLS_ECDHE_RSA_WITH_RC4_128_SHA", "ECDHE-RSA-RC4-SHA"),
    0xC007: ("TLS_ECDHE_ECDSA_WITH_RC4_128_SHA", "ECDHE-ECDSA-RC4-SHA"),
    # NULL encryption
    0x0002: ("TLS_RSA_WITH_NULL_SHA", "NULL-SHA"),
    0x003B: ("TLS_RSA_WITH_NULL_SHA256", "NULL-SHA256"),
    0xC010: ("TLS_ECDHE_RSA_WITH_NULL_SHA", "ECDHE-RSA-NULL-SHA"),
    0xC006: ("TLS_ECDHE_ECDSA_WITH_NULL_SHA", "ECDHE-ECDSA-NULL-SHA"),
    # anonymous
    0x0034: ("TLS_DH_anon_WITH_AES_128_CBC_SHA", "ADH-AES128-SHA"),
    0x00A6: ("TLS_DH_anon_WITH_AES_128_GCM_SHA256", "ADH-AES128-GCM-SHA256"),
    0xC018: ("TLS_ECDH_anon_WITH_AES_128_CBC_SHA", "AECDH-AES128-SHA"),
    # export
    0x0003: ("TLS_RSA_EXPORT_WITH_RC4_40_MD5", ""),
    0x0008: ("TLS_RSA_EXPORT_WITH_DES40_CBC_SHA", ""),
    0x0014: ("TLS_DHE_RSA_EXPORT_WITH_DES40_CBC_SHA", ""),
}
_BY_OPENSSL = {openssl: code for code, (_, openssl) in SUITES.items() if openssl}

#: named groups: OpenSSL name -> (IANA code, IANA name)
GROUPS: dict[str, tuple[int, str]] = {
    "P-256": (0x0017, "secp256r1"), "P-384": (0x0018, "secp384r1"),
    "P-521": (0x0019, "secp521r1"), "X25519": (0x001D, "x25519"), "X448": (0x001E, "x448"),
    "ffdhe2048": (0x0100, "ffdhe2048"), "ffdhe3072": (0x0101, "ffdhe3072"),
    "ffdhe4096": (0x0102, "ffdhe4096"),
}
_GROUP_NAMES = {code: name for name, (code, _) in GROUPS.items()}

# signature schemes: strong first; the weak ones make sure a refusal is about the suite
_SIGALGS_STRONG = (0x0403, 0x0503, 0x0603, 0x0804, 0x0805, 0x0806, 0x0809, 0x080A, 0x080B,
                   0x0401, 0x0501, 0x0601)
_SIGALGS_WEAK = (0x0303, 0x0301, 0x0203, 0x0201)  # SHA-224 and SHA-1
_ALL_GROUPS = tuple(code for code, _ in GROUPS.values())

_TLS12_ONLY = tuple(code for code in SUITES if code >> 8 != 0x13)
_TLS13_ALL = tuple(code for code in SUITES if code >> 8 == 0x13)

_VERSIONS = {0x0300: "SSL 3.0", 0x0301: "TLS 1.0", 0x0302: "TLS 1.1", 0x0303: "TLS 1.2",
             0x0304: "TLS 1.3"}
_ALERTS = {0: "close_notify", 10: "unexpected_message", 20: "bad_record_mac",
           40: "handshake_failure", 42: "bad_certificate", 43: "unsupported_certificate",
           47: "illegal_parameter", 48: "unknown_ca", 50: "decode_error", 51: "decrypt_error",
           70: "protocol_version", 71: "insufficient_security", 80: "internal_error",
           86: "inappropriate_fallback", 90: "user_canceled", 109: "missing_extension",
           110: "unsupported_extension", 112: "unrecognized_name", 116: "certificate_required",
           120: "no_application_protocol"}
_HRR_RANDOM = bytes.fromhex(
    "CF21AD74E59A6111BE1D8C021E65B891C2A211167ABB8C5E079E09E2C8A8339C")

#: forbidden TLS 1.2 suite families, one ClientHello each (several samples per family).
#: The second element says whether B.12 forbids it too (else B.12 only discourages it).
_FORBIDDEN: tuple[tuple[str, str, bool, tuple[int, ...]], ...] = (
    ("cbc", "CBC suites", False,
     (0xC027, 0xC028, 0xC023, 0xC024, 0xC013, 0xC014, 0xC009, 0xC00A, 0x0067, 0x0033)),
    ("rsa-kx", "RSA key transport suites", False, (0x009C, 0x009D, 0xC09C, 0x003C, 0x002F)),
    ("static-dh", "static DH suites", False, (0x00A0, 0x00A4, 0x0031, 0x0030)),
    ("static-ecdh", "static ECDH suites", False, (0xC031, 0xC02D, 0xC00E, 0xC004)),
    ("3des", "3DES suites", False, (0x000A, 0xC012, 0xC008, 0x0016)),
    ("rc4", "RC4 suites", True, (0x0005, 0x0004, 0xC011, 0xC007)),
    ("null", "NULL-encryption suites", True, (0x0002, 0x003B, 0xC010, 0xC006)),
    ("anon", "anonymous suites", True, (0x0034, 0x00A6, 0xC018)),
    ("export", "export suites", True, (0x0003, 0x0008, 0x0014)),
)
_DHE = (0x009E, 0x009F, 0xCCAA, 0xC09E, 0xC09F)
_CAMELLIA = (0xC086, 0xC087, 0xC08A, 0xC08B)


def suite_name(code: int) -> str:
    """IANA name of a cipher suite code (``0xC02B`` style when unknown)."""
    return SUITES.get(code, (f"0x{code:04X}", ""))[0]


def _group_name(code: int | None) -> str:
    if code is None:
        return "?"
    return _GROUP_NAMES.get(code, f"0x{code:04X}")


class EndpointUnreachable(InvalidInput):
    """No TCP connection to the endpoint (exit code 2)."""


# ------------------------------------------------------------------------------------------
# raw ClientHello


@dataclass(frozen=True, slots=True)
class Hello:
    """The server's answer to one ClientHello."""

    version: int | None = None
    suite: int | None = None
    group: int | None = None
    retry: bool = False  # HelloRetryRequest (TLS 1.3): suite accepted, another share wanted
    alert: int | None = None
    error: str | None = None
    certificates: tuple[bytes, ...] = ()
    certificate_request: bool = False
    dh_bits: int | None = None

    @property
    def accepted(self) -> bool:
        return self.suite is not None

    def why_refused(self) -> str:
        if self.alert is not None:
            return f"alert {_ALERTS.get(self.alert, str(self.alert))}"
        return self.error or "refused"


def _u16s(values: Sequence[int]) -> bytes:
    return b"".join(struct.pack("!H", v) for v in values)


def _vec16(data: bytes) -> bytes:
    return struct.pack("!H", len(data)) + data


def _ext(kind: int, body: bytes) -> bytes:
    return struct.pack("!HH", kind, len(body)) + body


@functools.cache
def _key_share(group: int) -> bytes:
    """A fresh public key for ``group`` (b"" for finite-field groups: the server then asks for
    one with a HelloRetryRequest, which already names the accepted group)."""
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
    groups: Sequence[int] = _ALL_GROUPS,
    sigalgs: Sequence[int] = (*_SIGALGS_STRONG, *_SIGALGS_WEAK),
    server_name: str | None = None,
) -> bytes:
    """One TLS record holding a ClientHello.

    ``version`` is the legacy version (the maximum for TLS ≤ 1.2); ``tls13`` lists the versions
    for the supported_versions extension (e.g. ``(0x0304, 0x0303)``).
    """
    exts = [_ext(10, _vec16(_u16s(groups))), _ext(11, b"\x01\x00"),
            _ext(13, _vec16(_u16s(sigalgs))), _ext(23, b""), _ext(0xFF01, b"\x00")]
    if server_name:
        name = server_name.encode("idna")
        exts.insert(0, _ext(0, _vec16(b"\x00" + _vec16(name))))
    if tls13:
        shares = b""
        for group in groups:
            share = _key_share(group)
            if share:  # one share: the first elliptic group offered
                shares = struct.pack("!H", group) + _vec16(share)
                break
        exts += [_ext(43, bytes([2 * len(tls13)]) + _u16s(tls13)), _ext(45, b"\x01\x01"),
                 _ext(51, _vec16(shares))]
    body = (struct.pack("!H", 0x0303 if tls13 else version) + os.urandom(32) + b"\x20"
            + os.urandom(32) + _vec16(_u16s(suites)) + b"\x01\x00" + _vec16(b"".join(exts)))
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
    done: bool = False

    def server_hello(self, body: bytes) -> None:
        version = struct.unpack_from("!H", body, 0)[0]
        self.retry = body[2:34] == _HRR_RANDOM
        pos = 35 + body[34]
        self.suite = struct.unpack_from("!H", body, pos)[0]
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
        elif "_DHE_" in name or "_DH_anon_" in name:
            size = struct.unpack_from("!H", body, 0)[0]
            self.dh_bits = int.from_bytes(body[2:2 + size], "big").bit_length()

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
            pending = b""
            while not flight.done:
                header = _recv_exact(sock, 5)
                if header is None:
                    error = "connection closed"
                    break
                kind, size = header[0], struct.unpack_from("!H", header, 3)[0]
                if kind not in (20, 21, 22, 23) or header[1] != 3:
                    error = "not a TLS response"
                    break
                payload = _recv_exact(sock, size)
                if payload is None:
                    error = "connection closed"
                    break
                if kind == 21:
                    alert = payload[1] if len(payload) > 1 else None
                    break
                if kind != 22:
                    break
                pending += payload
                while len(pending) >= 4 and not flight.done:
                    length = int.from_bytes(pending[1:4], "big")
                    if len(pending) < 4 + length:
                        break
                    flight.handle(pending[0], pending[4:4 + length])
                    pending = pending[4 + length:]
        except TimeoutError:
            error = "timeout"
        except OSError as exc:
            error = f"connection error ({exc.strerror or exc})"
        except (struct.error, IndexError):
            error = "malformed server response"
    if flight.suite is None:
        return Hello(alert=alert, error=error)
    return Hello(version=flight.version, suite=flight.suite, group=flight.group,
                 retry=flight.retry, certificates=tuple(flight.certificates),
                 certificate_request=flight.certificate_request, dh_bits=flight.dh_bits)


# ------------------------------------------------------------------------------------------
# full handshakes with ssl


@dataclass(frozen=True, slots=True)
class _Session:
    handshake: bool
    error: str | None = None
    version: str | None = None
    cipher: str | None = None
    certificate: bytes | None = None
    after: str | None = None  # what a read after the handshake gave: timeout, alert …, closed


def _ssl_session(address: tuple[str, int], server_name: str | None, *, max12: bool = False,
                 min13: bool = False, trust: Sequence[Path] = (),
                 cert: Path | None = None, key: Path | None = None,
                 timeout: float = 5.0, wait: float = 1.0) -> _Session:
    import ssl

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_REQUIRED if trust else ssl.CERT_NONE
    with contextlib.suppress(ssl.SSLError):
        ctx.set_ciphers("ALL:@SECLEVEL=0")  # a permissive peer: we test the server
    if max12:
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    if min13:
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    for anchor in trust:
        try:
            if Path(anchor).is_dir():
                ctx.load_verify_locations(capath=str(anchor))
            else:
                ctx.load_verify_locations(cafile=str(anchor))
        except (OSError, ValueError) as exc:
            raise InvalidInput(f"cannot load trust anchors: {exc}", path=str(anchor)) from None
    if cert is not None and key is not None:
        try:
            ctx.load_cert_chain(str(cert), str(key))
        except (OSError, ssl.SSLError) as exc:
            raise InvalidInput(f"cannot load the client certificate or key: {exc}",
                               path=str(cert)) from None
    try:
        sock = socket.create_connection(address, timeout=timeout)
    except OSError as exc:
        return _Session(False, f"no connection ({exc.strerror or exc})")
    try:
        tsock = ctx.wrap_socket(sock, server_hostname=server_name)
    except ssl.SSLError as exc:
        sock.close()
        return _Session(False, str(exc.reason or exc))
    except OSError as exc:
        sock.close()
        return _Session(False, f"connection error ({exc.strerror or exc})")
    with tsock:
        cipher = tsock.cipher()
        version, der = tsock.version(), tsock.getpeercert(binary_form=True)
        tsock.settimeout(wait)
        try:
            after = "data" if tsock.recv(1) else "closed"
        except TimeoutError:
            after = "timeout"
        except ssl.SSLZeroReturnError:
            after = "closed"
        except ssl.SSLError as exc:
            after = f"alert {exc.reason or exc}"
        except OSError as exc:
            after = f"connection error ({exc.strerror or exc})"
    return _Session(True, None, version, cipher[0] if cipher else None, der, after)


# ------------------------------------------------------------------------------------------
# the report


@dataclass(frozen=True, slots=True)
class Check:
    """One requirement and its outcome (``warn``: discouraged by the profile; ``info``:
    optional or informative, never a failure)."""

    id: str
    requirement: str
    status: Status
    detail: str = ""

    def to_dict(self) -> dict[str, str]:
        return {"id": self.id, "requirement": self.requirement, "status": self.status,
                "detail": self.detail}


@dataclass(frozen=True, slots=True)
class CertificateInfo:
    """A certificate the server presented."""

    seen_in: str
    subject: str
    key_type: str
    key_bits: int
    signature_hash: str | None
    problems: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"seen_in": self.seen_in, "subject": self.subject, "key_type": self.key_type,
                "key_bits": self.key_bits, "signature_hash": self.signature_hash,
                "problems": list(self.problems)}


@dataclass(frozen=True, slots=True)
class ScanReport:
    """All checks of one endpoint against one profile."""

    host: str
    port: int
    profile: str
    checks: tuple[Check, ...]
    certificates: tuple[CertificateInfo, ...]
    preferred: str | None  # version and suite the server picks when offered everything
    seconds: float

    @property
    def failures(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if c.status == "fail")

    @property
    def ok(self) -> bool:
        return not self.failures

    def to_dict(self) -> dict[str, Any]:
        return {"host": self.host, "port": self.port, "profile": self.profile, "ok": self.ok,
                "failures": len(self.failures), "preferred": self.preferred,
                "seconds": round(self.seconds, 3),
                "checks": [c.to_dict() for c in self.checks],
                "certificates": [c.to_dict() for c in self.certificates]}


def _hash_name(name: str | None) -> str | None:
    if name is None:
        return None
    upper = name.upper()
    return upper.replace("SHA", "SHA-", 1) if upper.startswith("SHA") else upper


def certificate_info(der: bytes, seen_in: str, prof: tls.TlsProfile) -> CertificateInfo:
    """Key type, size and signature hash of a certificate, and what keeps it from the profile."""
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    try:
        cert = x509.load_der_x509_certificate(der)
        key = cert.public_key()
        algo = cert.signature_hash_algorithm
    except Exception as exc:  # malformed or unsupported certificate
        return CertificateInfo(seen_in, "?", "?", 0, None,
                               (f"certificate not readable ({type(exc).__name__})",))
    subject = cert.subject.rfc4514_string() or "(empty subject)"
    if isinstance(key, rsa.RSAPublicKey):
        key_type, bits = "RSA", key.key_size
    elif isinstance(key, ec.EllipticCurvePublicKey):
        key_type, bits = f"EC {key.curve.name}", key.curve.key_size
    else:
        key_type, bits = type(key).__name__.removesuffix("PublicKey").lstrip("_"), 0
    hash_name = _hash_name(algo.name if algo is not None else None)
    # the same minimums the profile's own contexts enforce on their peers
    problems = tuple(tls.certificate_problems(der, prof))
    return CertificateInfo(seen_in, subject, key_type, bits, hash_name, problems)


def parse_target(target: str) -> tuple[str, int]:
    """``HOST:PORT`` or ``[IPv6]:PORT``."""
    host, sep, port = target.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise InvalidInput(f"expected HOST:PORT, got {target!r}")
    return host.removeprefix("[").removesuffix("]"), int(port)


def _server_name(host: str) -> str | None:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return host
    return None


def scan(
    host: str,
    port: int,
    profile: str,
    *,
    trust: Sequence[Path] = (),
    client_cert: Path | None = None,
    client_key: Path | None = None,
    timeout: float = 5.0,
    wait: float = 1.0,
) -> ScanReport:
    """Check the TLS endpoint ``host:port`` against profile ``b12`` or ``b13``.

    ``wait`` is how long to read after a completed TLS 1.3 handshake without a client
    certificate before concluding that the server does not require one.

    Raises:
        EndpointUnreachable: no TCP connection.
        InvalidInput: unknown profile, unreadable trust anchors or client certificate.
    """
    prof = tls.profile(profile)
    strict = prof.name == "b13"
    started = time.monotonic()
    address = (host, port)
    try:
        socket.create_connection(address, timeout=timeout).close()
    except OSError as exc:
        raise EndpointUnreachable(f"cannot connect to {host}:{port}: "
                                  f"{exc.strerror or exc}") from None
    sni = _server_name(host)
    checks: list[Check] = []
    certs: dict[bytes, str] = {}

    def add(id_: str, requirement: str, status: Status, detail: str = "") -> None:
        checks.append(Check(id_, requirement, status, detail))

    def ask(suites: Sequence[int], **kw: Any) -> Hello:
        return probe_hello(address, client_hello(suites, server_name=sni, **kw),
                           timeout=timeout)

    def described(answer: Hello) -> str:
        text = f"{_VERSIONS.get(answer.version or 0, '?')} {suite_name(answer.suite or 0)}"
        return text + (f", group {_group_name(answer.group)}" if answer.group else "")

    # protocol versions
    for version in (0x0300, 0x0301, 0x0302):
        answer = ask(_TLS12_ONLY, version=version)
        name = _VERSIONS[version]
        if answer.accepted and answer.version == version:
            add(f"version.{name}", f"{name} refused", "fail", f"accepted: {described(answer)}")
        else:
            add(f"version.{name}", f"{name} refused", "pass",
                answer.why_refused() if not answer.accepted
                else f"server answered {_VERSIONS.get(answer.version or 0, '?')}")
    tls12 = ask(_TLS12_ONLY)
    tls12_ok = tls12.accepted and tls12.version == 0x0303
    add("version.TLS 1.2", "TLS 1.2 accepted", "pass" if tls12_ok else "fail",
        described(tls12) if tls12_ok else tls12.why_refused())
    tls13 = ask(_TLS13_ALL, tls13=(0x0304,))
    tls13_ok = tls13.accepted and tls13.version == 0x0304
    add("version.TLS 1.3", "TLS 1.3 accepted", "pass" if tls13_ok else "fail",
        described(tls13) if tls13_ok else tls13.why_refused())
    both = ask((*_TLS13_ALL, *_TLS12_ONLY), tls13=(0x0304, 0x0303))
    preferred = described(both) if both.accepted else None
    add("version.prefer-1.3", "TLS 1.3 preferred when offered with TLS 1.2",
        "pass" if both.accepted and both.version == 0x0304 else "fail",
        f"chose {described(both)}" if both.accepted else both.why_refused())

    # TLS 1.2 suites of the profile, one at a time
    for openssl in prof.tls12_suites:
        code = _BY_OPENSSL[openssl]
        answer = ask((code,))
        ok = answer.accepted and answer.suite == code and answer.version == 0x0303
        if ok:
            for der in answer.certificates[:1]:
                certs.setdefault(der, "TLS 1.2 " + ("ECDSA" if "ECDSA" in openssl else "RSA"))
        add(f"tls12.{suite_name(code)}", f"TLS 1.2 {suite_name(code)} accepted",
            "pass" if ok else "fail", "accepted" if ok else answer.why_refused())
    for der in tls12.certificates[:1]:
        certs.setdefault(der, "TLS 1.2")
    if strict:
        answer = ask(_CAMELLIA)
        add("tls12.camellia-gcm", "TLS 1.2 ECDHE Camellia-GCM (optional since CP 2311)", "info",
            f"accepted: {suite_name(answer.suite or 0)}" if answer.accepted
            else "not supported (" + answer.why_refused() + ")")

    # TLS 1.3 suites of the profile, one at a time
    for name in prof.tls13_suites:
        code = _BY_OPENSSL[name]
        answer = ask((code,), tls13=(0x0304,))
        ok = answer.accepted and answer.suite == code and answer.version == 0x0304
        add(f"tls13.{name}", f"TLS 1.3 {name} accepted", "pass" if ok else "fail",
            "accepted" if ok else answer.why_refused())

    # forbidden suites: one ClientHello per family
    for key, label, forbidden_in_b12, codes in _FORBIDDEN:
        answer = ask(codes)
        if answer.accepted:
            status: Status = "fail" if strict or forbidden_in_b12 else "warn"
            add(f"forbidden.{key}", f"{label} refused", status,
                f"accepted {suite_name(answer.suite or 0)}")
        else:
            add(f"forbidden.{key}", f"{label} refused", "pass", answer.why_refused())
    answer = ask(_DHE)
    if not answer.accepted:
        add("dhe.size", "DHE only with ≥ 2048-bit groups", "pass",
            "DHE not negotiated (" + answer.why_refused() + ")")
    else:
        bits = answer.dh_bits or 0
        add("dhe.size", "DHE only with ≥ 2048-bit groups", "pass" if bits >= 2048 else "fail",
            f"{suite_name(answer.suite or 0)} with a {bits}-bit group")

    # handshake signatures
    answer = ask([_BY_OPENSSL[s] for s in prof.tls12_suites], sigalgs=_SIGALGS_WEAK)
    add("sigalgs.weak", "handshake signatures with SHA-1 or SHA-224 refused (TLS 1.2)",
        ("fail" if strict else "warn") if answer.accepted else "pass",
        f"accepted {suite_name(answer.suite or 0)} offering only SHA-1/SHA-224 signatures"
        if answer.accepted else answer.why_refused())

    # key exchange groups
    # (TLS 1.2 fallback: every ECDHE suite, so that only the group decides)
    ecdhe12 = [code for code, (iana, _) in SUITES.items() if "_ECDHE_" in iana]
    for group_name in ("P-256", "P-384", "P-521", "X25519", "ffdhe2048"):
        code = GROUPS[group_name][0]
        if tls13_ok:
            answer = ask(_TLS13_ALL, tls13=(0x0304,), groups=(code,))
            via = "TLS 1.3"
        else:
            answer = ask(ecdhe12, groups=(code,))
            via = "TLS 1.2"
        took = answer.accepted and answer.group in (code, None)
        result = (f"accepted ({via}{', HelloRetryRequest' if answer.retry else ''})" if took
                  else f"refused ({via}: {answer.why_refused()})")
        if group_name in ("P-256", "P-384", "P-521"):
            add(f"group.{group_name}", f"group {group_name} accepted",
                "pass" if took else "fail", result)
        elif group_name == "X25519":
            if strict:
                add("group.X25519", "group X25519 alone refused (253 bits < 256)",
                    "fail" if took else "pass", result)
            else:
                add("group.X25519", "group X25519 (not required by B.12)", "info", result)
        else:
            add(f"group.{group_name}", f"group {group_name} (optional)", "info", result)

    # client authentication, and the TLS 1.3 server certificate
    if tls12_ok:
        session = _ssl_session(address, sni, max12=True, timeout=timeout, wait=wait)
        requested = tls12.certificate_request
        if not requested:
            add("client-auth.tls12", "client certificate required (TLS 1.2)", "fail",
                "the server does not ask for a client certificate")
        elif session.handshake:
            add("client-auth.tls12", "client certificate required (TLS 1.2)", "fail",
                "asked for, but the handshake without one completed")
        else:
            add("client-auth.tls12", "client certificate required (TLS 1.2)", "pass",
                f"handshake without a certificate failed ({session.error})")
    else:
        add("client-auth.tls12", "client certificate required (TLS 1.2)", "fail",
            "TLS 1.2 not available")
    if tls13_ok:
        session = _ssl_session(address, sni, min13=True, timeout=timeout, wait=wait)
        if session.certificate:
            certs.setdefault(session.certificate, "TLS 1.3")
        if not session.handshake:
            # in TLS 1.3 the client's handshake completes before the server judges its
            # certificate: a failed handshake proves nothing about client authentication
            add("client-auth.tls13", "client certificate required (TLS 1.3)", "fail",
                f"not determined: the handshake failed ({session.error})")
        elif session.after in ("timeout", "data"):
            add("client-auth.tls13", "client certificate required (TLS 1.3)", "fail",
                "the server accepted a connection without a client certificate")
        else:
            add("client-auth.tls13", "client certificate required (TLS 1.3)", "pass",
                f"after the handshake: {session.after}")
    else:
        add("client-auth.tls13", "client certificate required (TLS 1.3)", "fail",
            "TLS 1.3 not available")

    # server certificates
    infos = tuple(certificate_info(der, seen, prof) for der, seen in certs.items())
    if not infos:
        add("certificate", "server certificate readable", "fail",
            "no handshake gave a certificate")
    for info in infos:
        size_problems = [p for p in info.problems if "signed with" not in p]
        hash_problems = [p for p in info.problems if "signed with" in p]
        who = f"{info.subject} ({info.seen_in})"
        add(f"certificate.key.{info.seen_in}",
            f"server certificate key RSA ≥ {prof.min_rsa_bits} / EC ≥ {prof.min_ec_bits} bits",
            "fail" if size_problems else "pass",
            f"{who}: " + ("; ".join(size_problems) or f"{info.key_type} {info.key_bits} bits"))
        add(f"certificate.hash.{info.seen_in}", "server certificate signed with SHA-256 or better",
            "fail" if hash_problems else "pass",
            f"{who}: " + ("; ".join(hash_problems) or str(info.signature_hash)))

    # optional: chain to the given trust anchors, and our client certificate accepted
    if trust:
        session = _ssl_session(address, sni, trust=trust, timeout=timeout, wait=0.05)
        error = session.error or ""
        # verified when the handshake completed, or when it was the server that ended it with
        # an alert after our side had accepted its certificate (e.g. no client certificate)
        verified = session.handshake or ("ALERT" in error
                                         and "CERTIFICATE_VERIFY_FAILED" not in error)
        add("trust", "server certificate chains to --trust", "pass" if verified else "fail",
            "verified" if verified else f"not verified ({error or 'no handshake'})")
    if client_cert is not None and client_key is not None:
        session = _ssl_session(address, sni, trust=trust, cert=client_cert, key=client_key,
                               timeout=timeout, wait=wait)
        bad = not session.handshake or (session.after or "").startswith(("alert", "connection"))
        add("client-auth.accepted", "our client certificate is accepted",
            "fail" if bad else "pass",
            (session.error or session.after or "") if bad
            else f"{session.version} {session.cipher}")
    return ScanReport(host, port, prof.name, tuple(checks), infos, preferred,
                      time.monotonic() - started)
