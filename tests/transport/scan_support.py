"""Test PKI and TLS servers for the scanner tests (all on 127.0.0.1).

* :func:`make_pki`: a CA, an RSA-2048 and a P-256 server certificate, a client certificate, an
  RSA-1024 server certificate and a SHA-1-signed one (made with ``openssl x509 -sha1``, because
  ``cryptography`` no longer signs with SHA-1).
* :func:`dicomsec_server`: ``tests/transport/tls_server.py``, the echo server built from the
  same profile contexts as ``dicomsec scp``.
* :func:`openssl_server`: ``openssl s_server`` with arbitrary options.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

SERVER = Path(__file__).with_name("tls_server.py")
ROOT = Path(__file__).resolve().parents[2]

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _certificate(key: PrivateKey, cn: str, issuer_key: PrivateKey, issuer: x509.Name,
                 *, ca: bool = False) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    return (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(issuer)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False)
            .sign(issuer_key, hashes.SHA256()))


@dataclass(frozen=True)
class ScanPki:
    folder: Path

    def __getitem__(self, name: str) -> tuple[Path, Path]:
        return self.folder / f"{name}.pem", self.folder / f"{name}.key"

    @property
    def ca(self) -> Path:
        return self.folder / "ca.pem"


def _write_key(path: Path, key: PrivateKey) -> None:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))


def make_pki(folder: Path, openssl: str) -> ScanPki:
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca = _certificate(ca_key, "Scan Test CA", ca_key, _name("Scan Test CA"), ca=True)
    (folder / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    _write_key(folder / "ca.key", ca_key)
    keys: dict[str, PrivateKey] = {
        "server-rsa": rsa.generate_private_key(public_exponent=65537, key_size=2048),
        "server-ec": ec.generate_private_key(ec.SECP256R1()),
        "client": ec.generate_private_key(ec.SECP256R1()),
        "server-rsa1024": rsa.generate_private_key(public_exponent=65537, key_size=1024),
    }
    for name, key in keys.items():
        _write_key(folder / f"{name}.key", key)
        cert = _certificate(key, name, ca_key, ca.subject)
        (folder / f"{name}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    # RSA-2048 signed with SHA-1 by the CA
    sha1_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    _write_key(folder / "server-sha1.key", sha1_key)
    csr = (x509.CertificateSigningRequestBuilder().subject_name(_name("server-sha1"))
           .sign(sha1_key, hashes.SHA256()))
    (folder / "server-sha1.csr").write_bytes(csr.public_bytes(serialization.Encoding.PEM))
    subprocess.run([openssl, "x509", "-req", "-in", str(folder / "server-sha1.csr"),
                    "-CA", str(folder / "ca.pem"), "-CAkey", str(folder / "ca.key"),
                    "-set_serial", "7", "-days", "30", "-sha1",
                    "-out", str(folder / "server-sha1.pem")],
                   check=True, capture_output=True)
    return ScanPki(folder)


def _drain(stream: object) -> None:
    # keep the server's per-connection log lines from filling the pipe
    with contextlib.suppress(Exception):
        for _ in stream:  # type: ignore[attr-defined]
            pass


@contextlib.contextmanager
def dicomsec_server(pki: ScanPki, profile: str, *pairs: str,
                    client_auth: bool = True) -> Iterator[int]:
    """The dicomsec profile echo server; yields its port."""
    args = [sys.executable, str(SERVER), profile, str(pki.ca)]
    for name in pairs:
        cert, key = pki[name]
        args += [str(cert), str(key)]
    if not client_auth:
        args.append("--no-client-auth")
    env = {k: v for k, v in os.environ.items() if k != "OPENSSL_CONF"}
    env["PYTHONPATH"] = f"{ROOT}{os.pathsep}{ROOT / 'src'}"
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline().split()
        assert first, "the test TLS server did not start"
        assert first[1:] in ([], ["MISSING:"]), f"profile suites missing: {first}"
        threading.Thread(target=_drain, args=(proc.stdout,), daemon=True).start()
        yield int(first[0])
    finally:
        proc.kill()
        proc.wait()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def openssl_server(openssl: str, pki: ScanPki, cert: str, *opts: str) -> Iterator[int]:
    """``openssl s_server`` on 127.0.0.1 with ``cert`` and ``opts``; yields its port."""
    cert_path, key_path = pki[cert]
    for _attempt in range(5):
        port = free_port()
        proc = subprocess.Popen(
            [openssl, "s_server", "-accept", f"127.0.0.1:{port}", "-cert", str(cert_path),
             "-key", str(key_path), *opts],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        assert proc.stdout is not None
        line = "-"
        while line and "ACCEPT" not in line:  # "Using default temp DH parameters", ACCEPT
            line = proc.stdout.readline()
        if line:
            break
        proc.kill()
        proc.wait()
        time.sleep(0.1)
    else:
        raise AssertionError("openssl s_server did not start")
    threading.Thread(target=_drain, args=(proc.stdout,), daemon=True).start()
    try:
        yield port
    finally:
        proc.kill()
        proc.wait()
