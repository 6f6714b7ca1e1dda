"""The profile travels with its context (issue 7, point 6): contexts of different profiles
used from several threads at once each enforce their own profile (real handshakes on
127.0.0.1), and trust comes as a :class:`~dicomsec.trust.TrustStore`."""

from __future__ import annotations

import dataclasses
import socket
import ssl
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from dicomsec.errors import InvalidInput
from dicomsec.transport import tls
from dicomsec.trust import TrustStore
from tests.conftest import require_tool
from tests.transport.scan_support import ScanPki, make_pki

#: B.12 with a stricter certificate minimum, so that the post-handshake check differs too
B12_RSA3072 = dataclasses.replace(tls.PROFILES["b12"], min_rsa_bits=3072)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> ScanPki:
    return make_pki(tmp_path_factory.mktemp("ctxpki"), require_tool("openssl"))


def _serve(ctx: ssl.SSLContext, seen: list[str]) -> tuple[socket.socket, threading.Thread]:
    listener = socket.create_server(("127.0.0.1", 0))

    def handle(conn: socket.socket) -> None:
        conn.settimeout(10)
        try:
            with ctx.wrap_socket(conn, server_side=True) as tconn:
                prof = tls.context_profile(tconn.context)
                seen.append(prof.name if prof else "?")
                tconn.sendall(tconn.recv(16))
        except (OSError, ssl.SSLError):
            pass

    def loop() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=handle, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    return listener, thread


@pytest.fixture(scope="module")
def servers(pki: ScanPki) -> Iterator[dict[str, tuple[int, list[str]]]]:
    store = TrustStore.from_paths([pki.ca])
    out: dict[str, tuple[int, list[str]]] = {}
    listeners = []
    for prof in (tls.PROFILES["b13"], B12_RSA3072):
        ctx = tls.server_context(prof, [pki["server-ec"]], store)
        seen: list[str] = []
        listener, _ = _serve(ctx, seen)
        listeners.append(listener)
        out[prof.name] = (listener.getsockname()[1], seen)
    yield out
    for listener in listeners:
        listener.close()


def _client(pki: ScanPki, port: int, suite: str, who: str) -> bool:
    """A permissive TLS 1.2 client offering one suite; True when the server echoes."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(suite)
    cert, key = pki[who]
    ctx.load_cert_chain(str(cert), str(key))
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, \
                ctx.wrap_socket(raw) as sock:
            sock.sendall(b"ping")
            return sock.recv(16) == b"ping"
    except (OSError, ssl.SSLError):
        return False


def test_two_profiles_from_many_threads(pki: ScanPki,
                                        servers: dict[str, tuple[int, list[str]]]) -> None:
    b13_port, b13_seen = servers["b13"]
    b12_port, b12_seen = servers["b12"]
    cases = [
        # CCM_8 is a B.13 suite, not a B.12 one (TLS 1.2 suite list of each context)
        (b13_port, "ECDHE-ECDSA-AES128-CCM8", "client", True),
        (b12_port, "ECDHE-ECDSA-AES128-CCM8", "client", False),
        # an RSA-2048 client certificate: enough for B.13, below this B.12 variant's 3072
        # (the post-handshake check reads the profile of the context that wrapped the socket)
        (b13_port, "ECDHE-ECDSA-AES128-GCM-SHA256", "server-rsa", True),
        (b12_port, "ECDHE-ECDSA-AES128-GCM-SHA256", "server-rsa", False),
        (b12_port, "ECDHE-ECDSA-AES128-GCM-SHA256", "client", True),
    ] * 8
    with ThreadPoolExecutor(max_workers=10) as pool:
        results = list(pool.map(lambda c: _client(pki, c[0], c[1], c[2]), cases))
    assert results == [expected for *_, expected in cases]
    assert set(b13_seen) == {"b13"} and set(b12_seen) == {"b12"}


def test_context_carries_its_profile(pki: ScanPki) -> None:
    store = TrustStore.from_paths([pki.ca])
    client = tls.client_context("b13", store)
    assert tls.context_profile(client) is tls.PROFILES["b13"]
    assert tls.context_profile(ssl.create_default_context()) is None
    assert not hasattr(tls, "_POLICY")


def test_trust_is_a_trust_store(pki: ScanPki, tmp_path: Path) -> None:
    ctx = tls.client_context("b12", TrustStore.from_paths([pki.ca]))
    assert ctx.cert_store_stats()["x509_ca"] == 1
    with pytest.raises(InvalidInput):
        tls.client_context("b12", TrustStore())
    with pytest.raises(InvalidInput, match="TrustStore"):
        tls.client_context("b12", [pki.ca])  # type: ignore[arg-type]
    # an OpenSSL hashed-name folder (openssl rehash) loads as a TrustStore too
    folder = tmp_path / "capath"
    folder.mkdir()
    (folder / "0123abcd.0").write_bytes(pki.ca.read_bytes())
    (folder / "README").write_text("not a certificate")
    assert len(TrustStore.from_paths([folder]).anchors) == 1
