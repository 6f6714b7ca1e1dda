"""``scp --acse-timeout`` and ``--network-timeout`` reach the server: a TLS client that never
sends its A-ASSOCIATE-RQ is dropped after the ACSE timeout (which the network timeout caps) and
the drop is logged. The real ``dicomsec scp`` runs as a subprocess; nothing here measures
time."""

from __future__ import annotations

import contextlib
import socket
from pathlib import Path

import pytest

from dicomsec.transport import tls
from dicomsec.trust import TrustStore
from tests.transport.test_dimse import Pki, running_scp
from tests.transport.test_dimse import pki as pki  # the module's test PKI fixture


@pytest.mark.parametrize("option", ["--network-timeout", "--acse-timeout"])
def test_timeout_drops_a_silent_peer_and_says_so(pki: Pki, tmp_path: Path, option: str) -> None:
    out = tmp_path / "out"
    out.mkdir()
    ctx = tls.client_context("b12", TrustStore.from_paths([pki.ca]), cert=pki.cert("client"),
                             key=pki.key("client"))
    with running_scp(pki, out, "b12", option, "1") as scp:
        raw = socket.create_connection(("127.0.0.1", scp.port), timeout=30)
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as sock:
            with contextlib.suppress(OSError):
                while sock.recv(4096):  # until the server drops the connection
                    pass
        scp.wait_for(r"^ABORT 127\.0\.0\.1:\d+: no A-ASSOCIATE-RQ within the ACSE timeout "
                     r"\(1")


def test_limit_on_the_command_line_bounds_the_scp_pdus(pki: Pki, tmp_path: Path) -> None:
    """``--limit association_pdu_bytes=N`` reaches the server's threads: a PDU before the
    association declaring more than N bytes is refused by its header and logged."""
    import struct

    out = tmp_path / "out"
    out.mkdir()
    ctx = tls.client_context("b12", TrustStore.from_paths([pki.ca]), cert=pki.cert("client"),
                             key=pki.key("client"))
    with running_scp(pki, out, "b12", "--limit", "association_pdu_bytes=1K") as scp:
        raw = socket.create_connection(("127.0.0.1", scp.port), timeout=30)
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as sock:
            sock.sendall(b"\x01\x00" + struct.pack(">L", 2048))
            with contextlib.suppress(OSError):
                while sock.recv(4096):
                    pass
        scp.wait_for(r"^ABORT 127\.0\.0\.1:\d+: .*before the association exceeds 1024")
