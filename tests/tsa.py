"""A real RFC 3161 time-stamping authority for tests: ``openssl ts -reply`` behind HTTP.

``running_tsa(workdir)`` copies the test PKI (``tests/data/pki``) into ``workdir``, starts a
:class:`~http.server.ThreadingHTTPServer` on 127.0.0.1 (a free port) and yields its URL. Every POST
body is answered by ``openssl ts -reply -config tsa.cnf`` run in the copied PKI folder.

Modes, for error tests:

- ``"ok"``: real replies.
- ``"garbage"``: HTTP 200 with bytes that are not a TimeStampResp.
- ``"http500"``: HTTP 500.
- ``"replay"``: the first real reply is sent again for every later request (wrong nonce).

``signer=(cert, key)`` makes openssl sign with another TSA certificate and key (RSA or EC).
``signer=<a SigningKey>`` (e.g. a :class:`dicomsec._pkcs11.Pkcs11SigningKey`: a key in a token,
RSA PKCS#1 v1.5 or ECDSA, whose certificate has the critical timeStamping EKU) makes the TSA
answer in Python instead (:func:`token_reply`): the same RFC 3161 shape as ``openssl ts``
(TSTInfo v1, the policy of ``tsa.cnf``, the request's nonce, ESS signingCertificateV2), the
CMS signature made by ``signer.sign_digest`` over the SHA-256 of the signed attributes.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal

PKI_DIR = Path(__file__).resolve().parent / "data" / "pki"

Mode = Literal["ok", "garbage", "http500", "replay"]

_REPLY_TYPE = "application/timestamp-reply"
#: the TSA policy of ``tsa.cnf`` (``default_policy``)
TSA_POLICY = "1.3.6.1.4.1.99999.1.1"


def _sha256(data: bytes) -> bytes:
    from cryptography.hazmat.primitives import hashes

    h = hashes.Hash(hashes.SHA256())
    h.update(data)
    return h.finalize()


def token_reply(query: bytes, signer: Any, serial: int) -> bytes:
    """A granted TimeStampResp for ``query`` signed by ``signer`` (a ``SigningKey``: its
    ``certificate`` and ``sign_digest``), as ``openssl ts -reply`` would answer it."""
    import datetime as _dt

    from asn1crypto import algos, cms, core, tsp
    from asn1crypto import x509 as ax509
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import Encoding

    from dicomsec import algorithms

    req = tsp.TimeStampReq.load(query)
    cert_der = signer.certificate.public_bytes(Encoding.DER)
    cert = ax509.Certificate.load(cert_der)
    tst = tsp.TSTInfo({
        "version": "v1", "policy": TSA_POLICY, "message_imprint": req["message_imprint"],
        "serial_number": serial, "gen_time": _dt.datetime.now(_dt.UTC).replace(microsecond=0),
        "nonce": req["nonce"].native,
    })
    tst_der = tst.dump()
    ess = tsp.SigningCertificateV2({"certs": [{"hash_algorithm": {"algorithm": "sha256"},
                                               "cert_hash": _sha256(cert_der)}]})
    attrs = cms.CMSAttributes([
        {"type": "content_type", "values": ["tst_info"]},
        {"type": "message_digest", "values": [_sha256(tst_der)]},
        {"type": "signing_certificate_v2", "values": [ess]},
    ])
    sha256 = algorithms.by_name("sha256", algorithms.Kind.DIGEST)
    signature = signer.sign_digest(_sha256(attrs.dump()), sha256)
    is_ec = isinstance(signer.certificate.public_key(), ec.EllipticCurvePublicKey)
    info = cms.SignerInfo({
        "version": "v1",
        "sid": cms.SignerIdentifier(name="issuer_and_serial_number", value={
            "issuer": cert.issuer, "serial_number": cert.serial_number}),
        "digest_algorithm": {"algorithm": "sha256"},
        "signed_attrs": attrs,
        "signature_algorithm": algos.SignedDigestAlgorithm(
            {"algorithm": "sha256_ecdsa" if is_ec else "sha256_rsa"}),
        "signature": signature,
    })
    signed = cms.SignedData({
        "version": "v3", "digest_algorithms": [{"algorithm": "sha256"}],
        "encap_content_info": {"content_type": "tst_info",
                               "content": core.ParsableOctetString(tst_der)},
        "certificates": [cert] if req["cert_req"].native else None,
        "signer_infos": [info],
    })
    token = cms.ContentInfo({"content_type": "signed_data", "content": signed})
    return bytes(tsp.TimeStampResp({"status": {"status": "granted"},
                                    "time_stamp_token": token}).dump())


def openssl_or_skip() -> str:
    """The path of the ``openssl`` command (``require_tool``: fails under ``CI=true``)."""
    from tests.conftest import require_tool

    return require_tool("openssl")


def copy_pki(workdir: Path) -> Path:
    """A fresh copy of the test PKI with the TSA serial state ``tsa.cnf`` expects."""
    pki = Path(workdir) / "pki"
    shutil.copytree(PKI_DIR, pki)
    state = pki / "tsa-state"
    state.mkdir(exist_ok=True)
    (state / "serial").write_text("01\n", encoding="ascii")
    return pki


@contextlib.contextmanager
def running_tsa(
    workdir: Path,
    mode: Mode = "ok",
    *,
    signer: tuple[Path, Path] | Any = None,
) -> Iterator[str]:
    """Run a test TSA until the ``with`` block ends; yields its URL."""
    openssl = openssl_or_skip()
    pki = copy_pki(workdir)
    queries = pki / "queries"
    queries.mkdir()
    lock = threading.Lock()  # openssl updates the serial file: one reply at a time
    replayed: list[bytes] = []
    extra: list[str] = []
    in_token = signer is not None and not isinstance(signer, tuple)
    if signer is not None and not in_token:
        cert, key = (str(Path(p).resolve()) for p in signer)
        extra = ["-signer", cert, "-inkey", key]

    def reply(query: bytes) -> bytes | None:
        with lock:
            if mode == "replay" and replayed:
                return replayed[0]
            if in_token:
                replayed.append(token_reply(query, signer, len(replayed) + 1))
                return replayed[-1]
            fd, name = tempfile.mkstemp(suffix=".tsq", dir=queries)
            with os.fdopen(fd, "wb") as f:
                f.write(query)
            out = Path(name).with_suffix(".tsr")
            done = subprocess.run(
                [openssl, "ts", "-reply", "-config", "tsa.cnf", "-queryfile", name,
                 "-out", str(out), *extra],
                cwd=pki, capture_output=True, timeout=60, check=False,
            )
            if done.returncode != 0 or not out.exists():
                return None
            answer = out.read_bytes()
            replayed.append(answer)
            return answer

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            query = self.rfile.read(length)
            if mode == "http500":
                self._send(500, b"internal error\n", "text/plain")
                return
            if mode == "garbage":
                self._send(200, b"<html>this is not a time-stamp response</html>", _REPLY_TYPE)
                return
            answer = reply(query)
            if answer is None:
                self._send(500, b"openssl ts -reply failed\n", "text/plain")
            else:
                self._send(200, answer, _REPLY_TYPE)

        def _send(self, code: int, body: bytes, content_type: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass  # keep test output quiet

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(
        target=server.serve_forever, args=(0.05,), name="test-tsa", daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/tsa"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
