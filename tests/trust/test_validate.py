"""The one validator (TrustStore.validate on pyhanko-certvalidator): every reason code,
revocation semantics (checked / not checked, soft-fail, holds, invalidityDate, backdating),
OCSP, fetching from a local HTTP server and ``--offline``, EdDSA and ML-DSA CAs, and the
``trust validate`` command's exit codes and JSON. See docs/validation.md."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import http.server
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, mldsa
from cryptography.x509 import ocsp

from dicomsec.trust import KeyPurpose, TrustStore, _fetch
from tests.trust._validate_pki import (
    AT,
    DAY,
    TLS_SERVER,
    Issuer,
    Pki,
    eku_leaf,
    make_cert,
    make_crl,
    make_pki,
    name,
)

PEM = serialization.Encoding.PEM


@pytest.fixture(scope="module")
def pki() -> Pki:
    return make_pki()


def _store(pki: Pki, *, crls: tuple[str, ...] = (), ocsps: tuple[str, ...] = (),
           **kw: Any) -> TrustStore:
    assert pki.weak is not None
    return TrustStore(anchors=(pki.root.cert,), intermediates=(pki.issuing.cert, pki.weak.cert),
                      crls=tuple(pki.crls[c] for c in crls),
                      ocsps=tuple(pki.ocsps[o] for o in ocsps), **kw)


@pytest.mark.parametrize(("leaf", "reason", "words"), [
    ("expired", "expired", "expired on"),
    ("not-yet-valid", "not-yet-valid", "not valid before"),
    ("wrong-ku", "wrong-key-usage", "key usage"),
    ("unknown-issuer", "unknown-issuer", "not trusted"),
    ("bad-signature", "bad-signature", "signature"),
    ("weak", "algorithm-not-allowed", "1024-bit"),
])
def test_path_reasons(pki: Pki, leaf: str, reason: str, words: str) -> None:
    result = _store(pki).validate(pki.leaves[leaf], at=AT)
    assert not result.trusted
    assert reason in result.reasons, (result.reasons, result.problems)
    assert any(words in p for p in result.problems), result.problems


def test_good_path_without_revocation_info_is_not_checked(pki: Pki) -> None:
    result = _store(pki).validate(pki.leaves["good"], at=AT)
    assert result.trusted, result.problems
    assert [c.subject.rfc4514_string() for c in result.chain] == \
        ["CN=good", "CN=Test Issuing CA", "CN=Test Root CA"]
    assert [(r.checked, r.status) for r in result.revocation] == \
        [(False, "not-checked"), (False, "not-checked")]


def test_the_intermediate_is_needed(pki: Pki) -> None:
    result = TrustStore(anchors=(pki.root.cert,)).validate(pki.leaves["good"], at=AT)
    assert result.reasons == ("unknown-issuer",)
    supplied = TrustStore(anchors=(pki.root.cert,)).validate(
        pki.leaves["good"], at=AT, extra_intermediates=[pki.issuing.cert])
    assert supplied.trusted


def test_crl_good_and_revoked(pki: Pki) -> None:
    store = _store(pki, crls=("root", "issuing"))
    good = store.validate(pki.leaves["good"], at=AT)
    assert good.trusted, good.problems
    assert [(r.source, r.status) for r in good.revocation] == [("crl", "good"), ("crl", "good")]
    revoked = store.validate(pki.leaves["revoked"], at=AT)
    assert revoked.reasons == ("revoked",)
    assert revoked.revoked_at == AT - 5 * DAY
    assert revoked.revocation_reason == "key_compromise"
    assert revoked.problems == (f"certificate CN=revoked revoked on {AT - 5 * DAY:%Y-%m-%d} "
                                "(key_compromise)",)


def test_revocation_after_the_moment(pki: Pki) -> None:
    store = _store(pki, crls=("root", "issuing"))
    leaf = pki.leaves["revoked-later"]
    # at the signing time it was good; judged at a later moment (the backdating rule) it is not
    assert store.validate(leaf, at=AT).trusted
    later = store.validate(leaf, at=AT, revocation_at=AT + 10 * DAY)
    assert later.reasons == ("revoked",)
    assert later.revocation_reason == "superseded"


def test_reused_good_verdicts_end_with_the_data(pki: Pki) -> None:
    # one store: the second and third calls reuse the first call's path and "good" verdicts
    # only while the CRLs are fresh (the root's CRL: nextUpdate AT + 30 days)
    store = _store(pki, crls=("root", "issuing"))
    leaf = pki.leaves["good"]
    assert store.validate(leaf, at=AT).trusted
    assert store.validate(leaf, at=AT + dt.timedelta(hours=1)).trusted
    late = store.validate(leaf, at=AT, revocation_at=AT + 40 * DAY)
    assert late.reasons == ("revocation-unknown",)
    assert [r.status for r in late.revocation] == ["good", "unknown"]


def test_invalidity_date_and_hold(pki: Pki) -> None:
    store = _store(pki, crls=("root", "issuing"))
    compromised = store.validate(pki.leaves["compromised"], at=AT)
    assert compromised.reasons == ("revoked",)
    assert compromised.revoked_at == AT - 20 * DAY  # from the invalidityDate
    held = store.validate(pki.leaves["held"], at=AT)
    assert held.reasons == ("revoked",)
    assert held.revocation_reason == "certificate_hold"


def test_a_crl_given_makes_every_level_checked(pki: Pki) -> None:
    # only the issuing CA's CRL: the user asked for revocation checking, so the CA's own
    # status (no root CRL) is undetermined and the path fails closed; soft-fail passes it
    result = _store(pki, crls=("issuing",)).validate(pki.leaves["good"], at=AT)
    assert result.reasons == ("revocation-unknown",)
    assert [(r.checked, r.status) for r in result.revocation] == \
        [(True, "good"), (True, "unknown")]
    assert "CN=Test Issuing CA" in result.problems[0]
    soft = _store(pki, crls=("issuing",), soft_fail=True).validate(pki.leaves["good"], at=AT)
    assert soft.trusted and len(soft.soft_fail_warnings) == 1
    assert _store(pki, crls=("root", "issuing")).validate(pki.leaves["good"], at=AT).trusted


@pytest.mark.parametrize("crl", ["stale", "forged"])
def test_unusable_crl_is_revocation_unknown(pki: Pki, crl: str) -> None:
    result = _store(pki, crls=(crl,)).validate(pki.leaves["good"], at=AT)
    assert result.reasons == ("revocation-unknown",)
    assert result.revocation[0].status == "unknown"
    soft = _store(pki, crls=(crl,), soft_fail=True).validate(pki.leaves["good"], at=AT)
    assert soft.trusted
    assert soft.soft_fail_warnings and "soft-fail" in soft.soft_fail_warnings[0]


def test_ocsp(pki: Pki) -> None:
    store = _store(pki, crls=("root",), ocsps=("ocsp-good", "ocsp-revoked", "ocsp-unknown"))
    good = store.validate(pki.leaves["ocsp-good"], at=AT)
    assert good.trusted, good.problems
    assert good.revocation[0].source == "ocsp"
    revoked = store.validate(pki.leaves["ocsp-revoked"], at=AT)
    assert revoked.reasons == ("revoked",)
    assert revoked.revoked_at == AT - 3 * DAY
    unknown = store.validate(pki.leaves["ocsp-unknown"], at=AT)
    assert unknown.reasons == ("revocation-unknown",)
    # revocation is never soft
    soft = dataclasses.replace(store, soft_fail=True)
    assert soft.validate(pki.leaves["ocsp-unknown"], at=AT).trusted
    assert not soft.validate(pki.leaves["ocsp-revoked"], at=AT).trusted


def test_purposes(pki: Pki) -> None:
    server = eku_leaf(pki, "tls server", TLS_SERVER)
    store = _store(pki)
    assert store.validate(server, at=AT, purpose=KeyPurpose.TLS_SERVER).trusted
    client = store.validate(server, at=AT, purpose=KeyPurpose.TLS_CLIENT)
    assert client.reasons == ("wrong-key-usage",)
    assert store.validate(pki.leaves["wrong-ku"], at=AT, purpose=KeyPurpose.ANY).trusted


@pytest.mark.parametrize("kind", ["ed25519", "ed448", "ml-dsa-65"])
def test_modern_ca_and_leaf(kind: str) -> None:
    make = {"ed25519": ed25519.Ed25519PrivateKey.generate,
            "ed448": ed448.Ed448PrivateKey.generate,
            "ml-dsa-65": mldsa.MLDSA65PrivateKey.generate}[kind]
    ca_key = make()
    ca = Issuer(ca_key, make_cert(f"{kind} CA", ca_key, None, ca=True))
    leaf = make_cert(f"{kind} leaf", make(), ca)
    crl = make_crl(ca)
    result = TrustStore(anchors=(ca.cert,), crls=(crl,)).validate(leaf, at=AT)
    assert result.trusted, result.problems
    assert result.revocation[0].status == "good"


# ----------------------------------------------------------------------------- fetching


@dataclasses.dataclass
class Server:
    base: str
    hits: list[str]


def _responder(pki: Pki, hits: list[str]) -> type[http.server.BaseHTTPRequestHandler]:
    crl_der = pki.crls["issuing"].public_bytes(serialization.Encoding.DER)

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _send(self, body: bytes, ctype: str) -> None:
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            hits.append(self.path)
            self._send(crl_der, "application/pkix-crl")

        def do_POST(self) -> None:
            hits.append(self.path)
            body = self.rfile.read(int(self.headers["Content-Length"]))
            request = ocsp.load_der_ocsp_request(body)
            nonce = request.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce
            revoked = "revoked" in self.path
            status = ocsp.OCSPCertStatus.REVOKED if revoked else ocsp.OCSPCertStatus.GOOD
            response = ocsp.OCSPResponseBuilder().add_response_by_hash(
                issuer_name_hash=request.issuer_name_hash,
                issuer_key_hash=request.issuer_key_hash, serial_number=request.serial_number,
                algorithm=request.hash_algorithm, cert_status=status,
                this_update=AT - DAY, next_update=AT + 7 * DAY,
                revocation_time=AT - DAY if revoked else None,
                revocation_reason=x509.ReasonFlags.key_compromise if revoked else None,
            ).responder_id(ocsp.OCSPResponderEncoding.HASH, pki.issuing.cert).add_extension(
                x509.OCSPNonce(nonce), critical=False).sign(pki.issuing.key, hashes.SHA256())
            self._send(response.public_bytes(serialization.Encoding.DER),
                       "application/ocsp-response")

    return Handler


@pytest.fixture(scope="module")
def server(pki: Pki) -> Iterator[Server]:
    hits: list[str] = []
    handler = _responder(pki, hits)
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield Server(f"http://127.0.0.1:{httpd.server_address[1]}", hits)
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


@pytest.fixture(autouse=True)
def _fresh_fetch_cache() -> None:
    _fetch.clear_cache()


def _fetching_leaf(pki: Pki, cn: str, **kw: Any) -> x509.Certificate:
    return make_cert(cn, ec.generate_private_key(ec.SECP256R1()), pki.issuing, **kw)


def test_fetch_crl_and_ocsp(pki: Pki, server: Server) -> None:
    server.hits.clear()
    leaf = _fetching_leaf(pki, "fetching", crl_url=f"{server.base}/issuing.crl",
                          ocsp_url=f"{server.base}/ocsp")
    store = _store(pki, allow_fetching=True)
    result = store.validate(leaf, at=AT)
    assert result.trusted, result.problems
    assert result.revocation[0].source == "crl+ocsp"
    assert sorted(server.hits) == ["/issuing.crl", "/ocsp"]
    # cached within the process: another store validating it again fetches nothing
    _store(pki, allow_fetching=True).validate(leaf, at=AT)
    assert len(server.hits) == 2
    revoked = _fetching_leaf(pki, "fetching revoked", ocsp_url=f"{server.base}/ocsp-revoked")
    assert store.validate(revoked, at=AT).reasons == ("revoked",)


def test_offline_fetches_nothing(pki: Pki, server: Server) -> None:
    server.hits.clear()
    leaf = _fetching_leaf(pki, "offline", crl_url=f"{server.base}/issuing.crl",
                          ocsp_url=f"{server.base}/ocsp")
    result = _store(pki).validate(leaf, at=AT)  # allow_fetching is off by default
    assert result.trusted
    assert result.revocation[0].checked is False
    assert server.hits == []


def _dead_port() -> int:
    with contextlib.closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again: nothing listens there


def test_dead_url_is_revocation_unknown(pki: Pki) -> None:
    leaf = _fetching_leaf(pki, "dead", crl_url=f"http://127.0.0.1:{_dead_port()}/x.crl")
    result = _store(pki, allow_fetching=True).validate(leaf, at=AT)
    assert result.reasons == ("revocation-unknown",)
    assert "not fetched" in result.problems[0]
    soft = _store(pki, allow_fetching=True, soft_fail=True).validate(leaf, at=AT)
    assert soft.trusted and soft.soft_fail_warnings


def test_inside_a_running_event_loop(pki: Pki) -> None:
    import asyncio

    async def inside() -> bool:
        return _store(pki).validate(pki.leaves["good"], at=AT).trusted

    assert asyncio.run(inside())


# ----------------------------------------------------------------------------- the command


@pytest.fixture(scope="module")
def files(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("validate-cli")
    (d / "root.pem").write_bytes(pki.root.cert.public_bytes(PEM))
    (d / "issuing.pem").write_bytes(pki.issuing.cert.public_bytes(PEM))
    # both CRLs in one PEM file (a bundle: every block is loaded)
    (d / "crls.pem").write_bytes(pki.crls["root"].public_bytes(PEM)
                                 + pki.crls["issuing"].public_bytes(PEM))
    for cn in ("good", "revoked", "ocsp-revoked"):
        (d / f"{cn}.pem").write_bytes(pki.leaves[cn].public_bytes(PEM))
    (d / "ocsp-revoked.der").write_bytes(pki.ocsps["ocsp-revoked"])
    (d / "junk.pem").write_bytes(b"not a certificate")
    return d


def _cli(capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, str, str]:
    from dicomsec.cli import main

    code = main(["trust", "validate", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_valid_and_json(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    base = ("--trust", files / "root.pem", "--untrusted", files / "issuing.pem",
            "--at", AT.isoformat(), "--offline")
    code, out, _ = _cli(capsys, files / "good.pem", *base, "--crl", files / "crls.pem")
    assert code == 0, out
    assert out.startswith("VALID: CN=good")
    code, out, _ = _cli(capsys, files / "revoked.pem", *base, "--crl", files / "crls.pem",
                        "--json")
    assert code == 1
    doc = json.loads(out)
    assert doc["schema"] == "dicomsec.trust.validation/1"
    assert (doc["ok"], doc["valid"], doc["reasons"], doc["purpose"]) == \
        (False, False, ["revoked"], "signing")
    assert doc["at"] == AT.isoformat()
    assert [e["subject"] for e in doc["chain"]] == \
        ["CN=revoked", "CN=Test Issuing CA", "CN=Test Root CA"]
    assert doc["chain"][0]["revocation"] == {
        "checked": True, "source": "crl", "status": "revoked",
        "revoked_at": (AT - 5 * DAY).isoformat(), "reason": "key_compromise"}
    assert set(doc["chain"][0]) == {"subject", "issuer", "serial", "not_before", "not_after",
                                    "revocation"}
    code, out, _ = _cli(capsys, files / "ocsp-revoked.pem", *base,
                        "--ocsp-response", files / "ocsp-revoked.der")
    assert code == 1
    assert "revoked" in out


@pytest.mark.parametrize("args", [
    ("junk.pem", "--trust", "root.pem"),
    ("missing.pem", "--trust", "root.pem"),
    ("good.pem", "--trust", "root.pem", "--at", "yesterday"),
    ("good.pem", "--trust", "root.pem", "--at", "9999-12-31T23:59:59"),
    ("good.pem", "--trust", "root.pem", "--purpose", "everything"),
    ("good.pem", "--trust", "root.pem", "--ocsp-response", "junk.pem"),
    ("good.pem",),
])
def test_cli_bad_input(files: Path, capsys: pytest.CaptureFixture[str],
                       args: tuple[str, ...]) -> None:
    resolved = [str(files / a) if a.endswith(".pem") else a for a in args]
    code, _, err = _cli(capsys, *resolved)
    assert code == 2
    assert len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err


def test_cli_fetches_unless_offline(pki: Pki, server: Server, files: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    leaf = _fetching_leaf(pki, "cli fetching", crl_url=f"{server.base}/issuing.crl")
    path = files / "cli-fetching.pem"
    path.write_bytes(leaf.public_bytes(PEM))
    args = (path, "--trust", files / "root.pem", "--untrusted", files / "issuing.pem",
            "--at", AT.isoformat(), "--json")
    server.hits.clear()
    code, out, _ = _cli(capsys, *args, "--offline")
    assert (code, server.hits) == (0, [])
    code, out, _ = _cli(capsys, *args)
    assert code == 0, out
    assert server.hits == ["/issuing.crl"]


# ----------------------------------------------------------------- review: hostile inputs


def _loop_cas(n: int) -> tuple[list[x509.Certificate], x509.Certificate]:
    """``n`` certificates named "Loop CA" that sign each other in a ring (no SKI/AKI, so only
    names chain them), and a leaf issued by the first."""
    keys = [ec.generate_private_key(ec.SECP256R1()) for _ in range(n)]
    cas = [make_cert("Loop CA", k, None, ca=True, signer=keys[(i + 1) % n],
                     issuer_name=name("Loop CA")) for i, k in enumerate(keys)]
    leaf = make_cert("victim", ec.generate_private_key(ec.SECP256R1()), None,
                     signer=keys[0], issuer_name=name("Loop CA"))
    return cas, leaf


def test_same_name_intermediates_that_sign_each_other(pki: Pki, tmp_path: Path) -> None:
    """Review: 8 such CAs took 14 s, 10 over 60 s (pyhanko walks every permutation). 12 now
    answer at once: the pool keeps 4 of one name. The CLI run is guarded by a timeout."""
    import subprocess
    import sys

    cas, leaf = _loop_cas(12)
    result = TrustStore(anchors=(pki.root.cert,), intermediates=tuple(cas)).validate(leaf, at=AT)
    assert not result.trusted and result.reasons == ("unknown-issuer",)
    (tmp_path / "root.pem").write_bytes(pki.root.cert.public_bytes(PEM))
    (tmp_path / "loop.pem").write_bytes(b"".join(c.public_bytes(PEM) for c in cas))
    (tmp_path / "leaf.pem").write_bytes(leaf.public_bytes(PEM))
    done = subprocess.run(
        [sys.executable, "-m", "dicomsec", "trust", "validate", str(tmp_path / "leaf.pem"),
         "--trust", str(tmp_path / "root.pem"), "--untrusted", str(tmp_path / "loop.pem"),
         "--at", AT.isoformat(), "--offline"],
        capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1, done.stderr
    assert done.stderr.strip().endswith("not valid: unknown-issuer")


def test_path_building_budget(pki: Pki) -> None:
    """Seven names, four certificates each, every one issued by the next name: 4^7 paths to
    walk. Over the budget: refused, reason invalid, before pyhanko walks them."""
    from dicomsec.trust import _candidates

    keys = {(lvl, i): ec.generate_private_key(ec.SECP256R1()) for lvl in range(8)
            for i in range(4)}
    pool = [make_cert(f"Level {lvl}", keys[lvl, i], None, ca=True, signer=keys[lvl + 1, i],
                      issuer_name=name(f"Level {lvl + 1}"))
            for lvl in range(7) for i in range(4)]
    leaf = make_cert("deep", ec.generate_private_key(ec.SECP256R1()), None,
                     signer=keys[0, 0], issuer_name=name("Level 0"))
    # no SKI/AKI match filters them: the leaf carries no AKI
    assert _candidates.over_budget(leaf, pool) is not None
    result = TrustStore(anchors=(pki.root.cert,), intermediates=tuple(pool)).validate(leaf, at=AT)
    assert result.reasons == ("invalid",)
    assert "path building gave up" in result.problems[0]
    # duplicates and a fifth certificate of one name are left out of the pool
    extra = make_cert("Level 0", ec.generate_private_key(ec.SECP256R1()), None, ca=True,
                      issuer_name=name("Level 1"), signer=keys[1, 0])
    kept = _candidates.pool(leaf, (pki.root.cert,), [*pool, *pool, extra, pki.root.cert])
    assert len(kept) == len(pool) and extra not in kept


@pytest.mark.parametrize("when", ["9999-12-31T23:59:59", "0001-01-01"])
def test_moment_at_the_ends_of_the_calendar(pki: Pki, when: str) -> None:
    """Review: 9999-12-31T23:59:59 raised OverflowError inside pyhanko (exit 70)."""
    from dicomsec.errors import InvalidInput

    moment = dt.datetime.fromisoformat(when).replace(tzinfo=dt.UTC)
    with pytest.raises(InvalidInput, match="outside the range"):
        _store(pki).validate(pki.leaves["good"], at=moment)
    with pytest.raises(InvalidInput, match="outside the range"):
        _store(pki).validate(pki.leaves["good"], at=AT, revocation_at=moment)


def test_signing_needs_digital_signature(pki: Pki) -> None:
    """nonRepudiation alone does not allow signing (the issue's acceptance 1); an absent
    keyUsage allows any use (RFC 5280 4.2.1.3)."""
    from tests.trust._validate_pki import SIGNING_KU

    nr_only = make_cert("nr only", ec.generate_private_key(ec.SECP256R1()), pki.issuing,
                        ku={**SIGNING_KU, "digital_signature": False})
    result = _store(pki).validate(nr_only, at=AT)
    assert result.reasons == ("wrong-key-usage",)
    assert "not digitalSignature" in " ".join(result.problems)
    ds_only = make_cert("ds only", ec.generate_private_key(ec.SECP256R1()), pki.issuing,
                        ku={**SIGNING_KU, "content_commitment": False})
    assert _store(pki).validate(ds_only, at=AT).trusted


# --------------------------------------------------------- review: fetching a hostile server


@contextlib.contextmanager
def _trickler(accepted: threading.Event | None = None) -> Iterator[str]:
    """An HTTP server on a free port that promises a large body and sends a byte every
    0.2 s (review: 1 byte/s kept trust validate running 665 s)."""
    import time

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(0.2)
    stop = threading.Event()

    def trickle(conn: socket.socket) -> None:
        with contextlib.suppress(OSError), conn:
            conn.recv(4096)
            if accepted is not None:
                accepted.set()
            conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 10000000\r\n\r\n")
            while not stop.is_set():
                conn.sendall(b"0")
                time.sleep(0.2)

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            threading.Thread(target=trickle, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join()
        listener.close()


def test_trickling_server_ends_at_the_deadline(pki: Pki, monkeypatch: pytest.MonkeyPatch
                                               ) -> None:
    monkeypatch.setattr(_fetch, "DEADLINE", 1.0)
    box: list[Any] = []
    with _trickler() as base:
        leaf = _fetching_leaf(pki, "trickled", crl_url=f"{base}/slow.crl")
        worker = threading.Thread(target=lambda: box.append(
            _store(pki, allow_fetching=True).validate(leaf, at=AT)), daemon=True)
        worker.start()
        worker.join(60)  # a guard only: the deadline ends it
    assert box, "the fetch did not end"
    assert box[0].reasons == ("revocation-unknown",)
    assert "no complete answer within 1 s" in box[0].problems[0]


@pytest.mark.skipif(not hasattr(__import__("signal"), "SIGTERM"), reason="POSIX signals")
def test_sigterm_ends_a_fetch(pki: Pki, tmp_path: Path) -> None:
    """Review: SIGTERM did not end a trickled fetch (asyncio.run waited for its worker)."""
    import signal
    import subprocess
    import sys

    accepted = threading.Event()
    with _trickler(accepted) as base:
        leaf = _fetching_leaf(pki, "trickled cli", crl_url=f"{base}/slow.crl")
        (tmp_path / "leaf.pem").write_bytes(leaf.public_bytes(PEM))
        (tmp_path / "root.pem").write_bytes(pki.root.cert.public_bytes(PEM))
        (tmp_path / "issuing.pem").write_bytes(pki.issuing.cert.public_bytes(PEM))
        proc = subprocess.Popen(
            [sys.executable, "-m", "dicomsec", "trust", "validate", str(tmp_path / "leaf.pem"),
             "--trust", str(tmp_path / "root.pem"), "--untrusted",
             str(tmp_path / "issuing.pem"), "--at", AT.isoformat()],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            assert accepted.wait(60), "the command never fetched"
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=5)  # ended by the signal, not by the 10 s deadline
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stdout.close()  # type: ignore[union-attr]
            proc.stderr.close()  # type: ignore[union-attr]
    assert proc.returncode != 0


class _Redirect(http.server.BaseHTTPRequestHandler):
    target = ""

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.send_response(302)
        self.send_header("Location", self.target if self.path == "/away" else self.path)
        self.send_header("Content-Length", "0")
        self.end_headers()


@pytest.fixture()
def redirector() -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Redirect)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def test_redirects_http_only_and_few(redirector: str, server: Server,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_Redirect, "target", "ftp://127.0.0.1/x.crl")
    got = _fetch.fetch_crl(f"{redirector}/away")
    assert got.data is None and "not http or https" in got.error
    monkeypatch.setattr(_Redirect, "target", f"{server.base}/issuing.crl")
    _fetch.clear_cache()
    assert _fetch.fetch_crl(f"{redirector}/away").data is not None
    looping = _fetch.fetch_crl(f"{redirector}/loop")  # redirects to itself
    assert looping.data is None and "HTTP 302" in looping.error


def test_failures_are_cached_briefly(pki: Pki, server: Server,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    dead = f"http://127.0.0.1:{_dead_port()}/x.crl"
    assert _fetch.fetch_crl(dead).data is None
    good = _fetch.fetch_crl(f"{server.base}/issuing.crl")
    assert good.data is not None
    assert _fetch._cached(("crl", dead)) is not None
    monkeypatch.setattr(_fetch, "FAILURE_CACHE_SECONDS", 0.0)
    assert _fetch._cached(("crl", dead)) is None  # asked again
    assert _fetch._cached(("crl", f"{server.base}/issuing.crl")) == good


def test_cli_output_is_terminal_safe(pki: Pki, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    evil = make_cert("evil\x1b[2J\nVALID: CN=fake", ec.generate_private_key(ec.SECP256R1()),
                     pki.issuing)
    (tmp_path / "evil.pem").write_bytes(evil.public_bytes(PEM))
    (tmp_path / "root.pem").write_bytes(pki.root.cert.public_bytes(PEM))
    code, out, err = _cli(capsys, tmp_path / "evil.pem", "--trust", tmp_path / "root.pem",
                          "--at", AT.isoformat(), "--offline")
    assert code == 1
    assert "\x1b" not in out + err
    assert not any(line.startswith("VALID") for line in out.splitlines())
    assert "\\x1b" in out
