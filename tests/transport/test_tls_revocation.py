"""Issue 9 (B2): TLS peers go through the one validator after the handshake (OpenSSL keeps
the chain check of the handshake): ``scp --crl`` refuses a revoked client certificate, names
the revocation date and reason, and keeps serving the next client; ``send --crl`` refuses a
revoked server certificate with the reason in one line; ``--untrusted`` intermediates complete
a peer's chain without becoming anchors; a dead CRL server cannot hold a handshake past its
bound; the SCP asks a client certificate's OCSP responder (AIA) during the handshake.

The SCP of the CLI test runs as a subprocess (the profile's OpenSSL configuration precedes
``import ssl``), the clients in process; the ``send`` test the other way round.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from dicomsec.transport import dimse, tls
from dicomsec.trust import TrustStore
from tests.cli.revocation_pki import REVOKED_AT, RevocationPki, http_server, make_pki
from tests.conftest import PYDICOM_FILES
from tests.transport.test_dimse import CLI, Scp, _env

CT = PYDICOM_FILES / "CT_small.dcm"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> RevocationPki:
    pki = make_pki(tmp_path_factory.mktemp("tlsrevocation"), {
        "server": "tls-server", "server-revoked": "tls-server",
        "client": "tls-client", "client-revoked": "tls-client"})
    issuing = pki.path("issuing").read_bytes()
    for name in ("server", "server-revoked"):  # servers send their chain
        pki.path(name, ".chain.pem").write_bytes(pki.path(name).read_bytes() + issuing)
    return pki


def _store(pki: RevocationPki, *, untrusted: bool = True) -> TrustStore:
    return TrustStore.from_paths(
        [pki.path("root")], intermediates=[pki.path("issuing")] if untrusted else [],
        crls=[pki.path("root", ".crl.pem"), pki.path("issuing", ".crl.pem")])


@contextlib.contextmanager
def _cli_scp(pki: RevocationPki, out: Path) -> Iterator[Scp]:
    out.mkdir()
    proc = subprocess.Popen(
        [*CLI, "scp", "--port", "0", "--bind", "127.0.0.1", "--out", str(out), "--profile",
         "b12", "--aet", "DICOMSEC", "--cert", str(pki.path("server", ".chain.pem")),
         "--key", str(pki.key("server")), *pki.trust_args()],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        text=True, env=_env())
    scp = Scp(proc, out)
    threading.Thread(target=scp._read, daemon=True).start()
    try:
        scp.port = int(scp.wait_for(r"listening on 127\.0\.0\.1:(\d+)", 30).group(1))
        yield scp
    finally:
        scp.stop()


def test_scp_refuses_a_revoked_client_and_serves_the_next(pki: RevocationPki,
                                                           tmp_path: Path) -> None:
    store = _store(pki)
    with _cli_scp(pki, tmp_path / "out") as scp:
        # clients send their leaf alone: the SCP's --untrusted completes the chain
        bad = tls.client_context("b12", store, cert=pki.path("client-revoked"),
                                 key=pki.key("client-revoked"))
        assert not dimse.echo("127.0.0.1", scp.port, bad, called_aet="DICOMSEC",
                              timeout=10).ok
        line = scp.wait_for(r"^TLS-REJECT 127\.0\.0\.1:\d+: .*").group(0)
        assert f"peer certificate revoked on {REVOKED_AT:%Y-%m-%d}" in line
        assert "(key_compromise)" in line
        good = tls.client_context("b12", store, cert=pki.path("client"),
                                  key=pki.key("client"))
        report = dimse.echo("127.0.0.1", scp.port, good, called_aet="DICOMSEC", timeout=10)
        assert report.ok, report.failure
        assert len(scp.rejections()) == 1


def test_send_refuses_a_revoked_server_with_the_reason(pki: RevocationPki,
                                                       tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    with dimse.make_scp("b12", [(pki.path("server-revoked", ".chain.pem"),
                                 pki.key("server-revoked"))], _store(pki), out,
                        host="127.0.0.1", port=0, require_profile_config=False) as server:
        proc = subprocess.run(
            [*CLI, "send", str(CT), "--host", "127.0.0.1", "--port", str(server.port),
             "--profile", "b12", "--cert", str(pki.path("client")), "--key",
             str(pki.key("client")), *pki.trust_args()],
            capture_output=True, text=True, timeout=60, env=_env(), check=False)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    errors = [x for x in proc.stderr.splitlines() if x.startswith("error:")]
    assert len(errors) == 1, proc.stderr
    assert f"peer certificate revoked on {REVOKED_AT:%Y-%m-%d}" in errors[0]
    assert "(key_compromise)" in errors[0]
    assert list(out.iterdir()) == []


def test_an_untrusted_intermediate_is_not_an_anchor(pki: RevocationPki,
                                                    tmp_path: Path) -> None:
    other = make_pki(tmp_path, {})
    store = TrustStore.from_paths([other.path("root")], intermediates=[pki.path("issuing")])
    ctx = tls.server_context("b12", [(pki.path("server", ".chain.pem"), pki.key("server"))],
                             store)
    client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # a plain client: the server judges
    client.check_hostname = False
    client.verify_mode = ssl.CERT_NONE
    client.load_cert_chain(str(pki.path("client")), str(pki.key("client")))
    listener = socket.create_server(("127.0.0.1", 0))
    errors: list[BaseException] = []

    def serve() -> None:
        conn, _ = listener.accept()
        conn.settimeout(10)
        try:
            with ctx.wrap_socket(conn, server_side=True):
                pass
        except (OSError, ssl.SSLError) as exc:
            errors.append(exc)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    with contextlib.suppress(OSError), \
            socket.create_connection(listener.getsockname(), timeout=10) as raw, \
            client.wrap_socket(raw) as sock:
        sock.recv(1)
    thread.join(10)
    listener.close()
    assert errors and "certificate verify failed" in str(errors[0])


def test_a_dead_crl_server_cannot_hold_the_handshake(pki: RevocationPki) -> None:
    silent = socket.create_server(("127.0.0.1", 0))  # accepts (backlog), never answers
    try:
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/issuing.crl"
        leaf = pki.issue("client-cdp", "tls-client", cdp=url)
        store = TrustStore(anchors=(pki.root,), intermediates=(pki.issuing,),
                           crls=(pki.crl("root"),), allow_fetching=True)
        from cryptography.hazmat.primitives.serialization import Encoding

        problem = tls.peer_trust_problem(store, leaf.public_bytes(Encoding.DER),
                                         server_side=True, timeout=0.5)
    finally:
        silent.close()
    assert problem is not None
    assert "not finished within 0.5 s" in problem


def test_scp_asks_the_client_certificates_ocsp_responder(pki: RevocationPki,
                                                         tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    events: list[dimse.ScpEvent] = []
    with http_server({"/ocsp": pki.ocsp_response}) as (base, requests):
        for name, revoked in (("client-ocsp", False), ("client-ocsp-revoked", True)):
            pki.issue(name, "tls-client", ocsp=f"{base}/ocsp", revoked=revoked)
        store = TrustStore(anchors=(pki.root,), intermediates=(pki.issuing,),
                           crls=(pki.crl("root"),), allow_fetching=True)
        with dimse.make_scp("b12", [(pki.path("server", ".chain.pem"), pki.key("server"))],
                            store, out, host="127.0.0.1", port=0, on_event=events.append,
                            require_profile_config=False) as server:
            for name in ("client-ocsp-revoked", "client-ocsp"):
                ctx = tls.client_context("b12", _store(pki), cert=pki.path(name),
                                         key=pki.key(name))
                report = dimse.echo("127.0.0.1", server.port, ctx, timeout=10)
                assert report.ok == (name == "client-ocsp"), report.failure
    assert requests.count("/ocsp") >= 2
    rejected = [e.detail for e in events if e.kind == "rejected"]
    assert len(rejected) == 1, events
    assert f"peer certificate revoked on {REVOKED_AT:%Y-%m-%d}" in rejected[0]
    assert "(key_compromise)" in rejected[0]
