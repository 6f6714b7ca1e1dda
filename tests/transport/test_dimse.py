"""DIMSE over TLS: ``dicomsec scp`` / ``send`` / ``echo`` against DCMTK 3.6.7 and each other.

Our SCP runs as a subprocess (the profile's OpenSSL configuration must precede ``import ssl``,
which this process has long done). Data sets are compared from the end of the file meta
information on: the meta is written by the receiver (its implementation UID, the caller's AE
title). DCMTK drops Dataset Trailing Padding (FFFC,FFFC) and group lengths when it re-encodes,
so files that DCMTK sends or receives are made without them.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path

import pydicom
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from pydicom.uid import generate_uid

from dicomsec.cli import main as cli_main
from dicomsec.errors import InvalidInput, PolicyViolation
from dicomsec.transport import dimse
from dicomsec.trust import TrustStore
from tests.conftest import PYDICOM_FILES, require_tool

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "dicomsec"]
CT = PYDICOM_FILES / "CT_small.dcm"


def _store(pki: Pki) -> TrustStore:
    return TrustStore.from_paths([pki.ca])


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "OPENSSL_CONF"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), str(ROOT)])
    return env


# ------------------------------------------------------------------------------------------
# test PKI


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _issue(key: object, cn: str, issuer_key: object, issuer: x509.Name, *, ca: bool = False,
           algo: hashes.HashAlgorithm | None = None) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    san = x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                       x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
    builder = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(issuer)
               .public_key(key.public_key())  # type: ignore[attr-defined]
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - dt.timedelta(days=1))
               .not_valid_after(now + dt.timedelta(days=30))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
               .add_extension(san, critical=False))
    return builder.sign(issuer_key, algo or hashes.SHA256())  # type: ignore[arg-type]


def _pem_key(key: object) -> bytes:
    return key.private_bytes(  # type: ignore[attr-defined,no-any-return]
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption())


@dataclass(frozen=True)
class Pki:
    folder: Path

    def cert(self, name: str) -> Path:
        return self.folder / f"{name}.pem"

    def key(self, name: str) -> Path:
        return self.folder / f"{name}.key"

    @property
    def ca(self) -> Path:
        return self.folder / "ca.pem"

    def client_args(self, name: str = "client") -> list[str]:
        return ["--cert", str(self.cert(name)), "--key", str(self.key(name)),
                "--trust", str(self.ca)]


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    folder = tmp_path_factory.mktemp("dimsepki")
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    ca = _issue(ca_key, "Test DIMSE CA", ca_key, _name("Test DIMSE CA"), ca=True)
    (folder / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (folder / "ca.key").write_bytes(_pem_key(ca_key))
    other_key = ec.generate_private_key(ec.SECP256R1())
    other = _issue(other_key, "Other CA", other_key, _name("Other CA"), ca=True)
    leaves: list[tuple[str, object, hashes.HashAlgorithm | None, object, x509.Name]] = [
        ("server-rsa", rsa.generate_private_key(public_exponent=65537, key_size=2048), None,
         ca_key, ca.subject),
        ("server-ec", ec.generate_private_key(ec.SECP256R1()), None, ca_key, ca.subject),
        ("client", ec.generate_private_key(ec.SECP256R1()), None, ca_key, ca.subject),
        ("client-rsa", rsa.generate_private_key(public_exponent=65537, key_size=2048), None,
         ca_key, ca.subject),
        ("client-sha224", rsa.generate_private_key(public_exponent=65537, key_size=2048),
         hashes.SHA224(), ca_key, ca.subject),
        ("client-rsa1024", rsa.generate_private_key(public_exponent=65537, key_size=1024),
         None, ca_key, ca.subject),
        ("client-untrusted", ec.generate_private_key(ec.SECP256R1()), None, other_key,
         other.subject),
    ]
    for name, key, algo, ikey, iname in leaves:
        cert = _issue(key, name, ikey, iname, algo=algo)
        (folder / f"{name}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        (folder / f"{name}.key").write_bytes(_pem_key(key))
    return Pki(folder)


def _sha1_client(pki: Pki) -> str:
    """cryptography no longer signs with SHA-1: the CA signs the request with openssl."""
    name = "client-sha1"
    if pki.cert(name).exists():
        return name
    openssl = require_tool("openssl")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    csr = x509.CertificateSigningRequestBuilder().subject_name(_name(name)).sign(
        key, hashes.SHA256())
    req = pki.folder / f"{name}.csr"
    req.write_bytes(csr.public_bytes(serialization.Encoding.PEM))
    pki.key(name).write_bytes(_pem_key(key))
    subprocess.run([openssl, "x509", "-req", "-in", str(req), "-CA", str(pki.ca), "-CAkey",
                    str(pki.folder / "ca.key"), "-sha1", "-days", "30", "-set_serial", "4242",
                    "-out", str(pki.cert(name))], check=True, capture_output=True)
    return name


# ------------------------------------------------------------------------------------------
# DICOM files and comparison


def _dataset_bytes(path: Path) -> bytes:
    """The encoded data set of a Part 10 file: everything after the file meta information."""
    from pynetdicom.dsutils import split_dataset

    _meta, offset = split_dataset(path)
    return path.read_bytes()[offset:]


def _make_files(folder: Path, count: int, *, dcmtk_clean: bool = False) -> list[Path]:
    """``count`` copies of CT_small.dcm with new SOP Instance UIDs."""
    folder.mkdir(parents=True, exist_ok=True)
    ds = pydicom.dcmread(CT)
    if dcmtk_clean:
        for tag in [e.tag for e in ds if e.tag.element == 0 or e.tag == 0xFFFCFFFC]:
            del ds[tag]
    files = []
    for n in range(count):
        uid = generate_uid()
        ds.SOPInstanceUID = uid
        ds.file_meta.MediaStorageSOPInstanceUID = uid
        path = folder / f"f{n:03d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        files.append(path)
    return files


def _assert_received(sent: list[Path], out: Path, name: str = "{uid}.dcm") -> None:
    for path in sent:
        uid = pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID
        got = out / name.format(uid=uid)
        assert got.is_file(), f"{uid} not received"
        assert _dataset_bytes(got) == _dataset_bytes(path), f"{uid} differs"


# ------------------------------------------------------------------------------------------
# our SCP as a subprocess


@dataclass
class Scp:
    proc: subprocess.Popen[str]
    out: Path
    port: int = 0
    lines: list[str] = field(default_factory=list)
    _cond: threading.Condition = field(default_factory=threading.Condition)

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            with self._cond:
                self.lines.append(line.rstrip("\n"))
                self._cond.notify_all()

    def wait_for(self, pattern: str, timeout: float = 15.0, start: int = 0) -> re.Match[str]:
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for line in self.lines[start:]:
                    m = rx.search(line)
                    if m:
                        return m
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no line matching {pattern!r} in:\n"
                                         + "\n".join(self.lines))
                self._cond.wait(min(left, 0.5))

    def rejections(self, start: int = 0) -> list[str]:
        with self._cond:
            return [x for x in self.lines[start:] if x.startswith("TLS-REJECT")]

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(15)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()



def _start_scp(pki: Pki, out: Path, profile: str = "b12", *extra: str,
               pairs: tuple[str, ...] = ("server-rsa", "server-ec")) -> Scp:
    out.mkdir(parents=True, exist_ok=True)
    args = [*CLI, "scp", "--port", "0", "--bind", "127.0.0.1", "--out", str(out),
            "--profile", profile, "--trust", str(pki.ca), *extra]
    for name in pairs:
        args += ["--cert", str(pki.cert(name)), "--key", str(pki.key(name))]
    proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, env=_env())
    scp = Scp(proc, out)
    threading.Thread(target=scp._read, daemon=True).start()
    try:
        scp.port = int(scp.wait_for(r"listening on 127\.0\.0\.1:(\d+)", 30).group(1))
    except BaseException:
        scp.stop()
        raise
    return scp


@contextlib.contextmanager
def running_scp(pki: Pki, out: Path, profile: str = "b12", *extra: str,
                pairs: tuple[str, ...] = ("server-rsa", "server-ec")) -> Iterator[Scp]:
    scp = _start_scp(pki, out, profile, *extra, pairs=pairs)
    try:
        yield scp
    finally:
        rc = scp.stop()
    assert rc == 0, "\n".join(scp.lines)
    assert scp.lines[-1] == "stopped"
    assert not [p for p in out.iterdir() if p.name.startswith(".")], "temporary files left"


@pytest.fixture(scope="module")
def scp_b12(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scp]:
    with running_scp(pki, tmp_path_factory.mktemp("scp_b12"), "b12", "-v") as scp:
        yield scp


def _cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout,
                          env=_env(), check=False)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


# ------------------------------------------------------------------------------------------
# 1. interoperability with DCMTK, byte-identical data sets


def test_storescu_stores_into_dicomsec_scp(scp_b12: Scp, pki: Pki, tmp_path: Path) -> None:
    storescu = require_tool("storescu")
    files = _make_files(tmp_path / "in", 2, dcmtk_clean=True)
    start = len(scp_b12.lines)
    proc = subprocess.run([storescu, "+tls", str(pki.key("client-rsa")),
                           str(pki.cert("client-rsa")), "+cf", str(pki.ca), "-aec", "DICOMSEC",
                           "127.0.0.1", str(scp_b12.port), *map(str, files)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    _assert_received(files, scp_b12.out)
    # mutual authentication: the SCP saw the client's certificate; -v shows version and suite
    m = scp_b12.wait_for(r"^TLS 127\.0\.0\.1:\d+: (TLSv1\.[23]) (\S+) client .*client-rsa",
                         start=start)
    assert m.group(2) in {"TLS_AES_256_GCM_SHA384", "TLS_AES_128_GCM_SHA256",
                          "TLS_CHACHA20_POLY1305_SHA256", "ECDHE-RSA-AES256-GCM-SHA384",
                          "ECDHE-RSA-AES128-GCM-SHA256"}
    stored = pydicom.dcmread(scp_b12.out / f"{pydicom.dcmread(files[0]).SOPInstanceUID}.dcm")
    assert stored.file_meta.SourceApplicationEntityTitle == "STORESCU"


def test_send_stores_into_storescp(pki: Pki, tmp_path: Path) -> None:
    storescp = require_tool("storescp")
    files = _make_files(tmp_path / "in", 3, dcmtk_clean=True)
    out = tmp_path / "out"
    out.mkdir()
    port = _free_port()
    server = subprocess.Popen([storescp, "+tls", str(pki.key("server-rsa")),
                               str(pki.cert("server-rsa")), "+cf", str(pki.ca),
                               "-aet", "ANY-SCP", "-od", str(out), str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_port(port)
        proc = _cli("send", str(tmp_path / "in"), "--host", "127.0.0.1", "--port", str(port),
                    "--profile", "b12", *pki.client_args(), "-v")
    finally:
        server.terminate()
        server.wait(10)
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"TLS 127\.0\.0\.1:\d+: TLSv1\.[23] \S+", proc.stderr)
    assert "3 of 3 stored" in proc.stderr
    _assert_received(files, out, name="CT.{uid}")


def test_send_and_echo_between_dicomsec_b13(pki: Pki, tmp_path: Path) -> None:
    files = _make_files(tmp_path / "in", 2)  # CT_small as it is: padding and all
    with running_scp(pki, tmp_path / "out", "b13", "--aet", "STORE1") as scp:
        proc = _cli("send", *map(str, files), "--host", "127.0.0.1", "--port", str(scp.port),
                    "--aec", "STORE1", "--aet", "MODALITY", "--profile", "b13",
                    *pki.client_args("client-rsa"), "-v")
        assert proc.returncode == 0, proc.stderr
        assert "TLSv1.3" in proc.stderr
        _assert_received(files, scp.out)
        assert pydicom.dcmread(files[0]).get((0xFFFC, 0xFFFC)) is not None  # kept as sent
        proc = _cli("echo", "--host", "127.0.0.1", "--port", str(scp.port), "--profile",
                    "b13", *pki.client_args(), "-v")
        assert proc.returncode == 0, proc.stderr
        assert "success" in proc.stderr


# ------------------------------------------------------------------------------------------
# 2. refused clients, idle connections


@pytest.mark.parametrize(("client", "reason"), [
    ("client-rsa1024", "key too weak"),
    ("client-sha1", "digest algorithm too weak"),
    ("client-sha224", "SHA-224"),
    ("client-untrusted", "unable to get local issuer certificate"),
])
def test_scp_refuses_bad_client_certificates(scp_b12: Scp, pki: Pki, client: str,
                                             reason: str) -> None:
    echoscu = require_tool("echoscu")
    if client == "client-sha1":
        client = _sha1_client(pki)
    start = len(scp_b12.lines)
    # DCMTK 3.6.7 loads weak certificates with a warning, so it can present them
    proc = subprocess.run([echoscu, "+tls", str(pki.key(client)), str(pki.cert(client)),
                           "+cf", str(pki.ca), "-aec", "DICOMSEC", "127.0.0.1",
                           str(scp_b12.port)],
                          capture_output=True, text=True, timeout=30, check=False)
    assert proc.returncode != 0
    line = scp_b12.wait_for(r"^TLS-REJECT 127\.0\.0\.1:\d+: .*", start=start).group(0)
    assert reason in line
    assert not [x for x in scp_b12.lines[start:] if x.startswith(("echo ", "TLS 127"))]


@pytest.mark.parametrize("client", ["client-sha224", "client-untrusted"])
def test_echo_with_refused_certificate_fails(scp_b12: Scp, pki: Pki, client: str) -> None:
    start = len(scp_b12.lines)
    proc = _cli("echo", "--host", "127.0.0.1", "--port", str(scp_b12.port), "--aec",
                "DICOMSEC", "--profile", "b12", *pki.client_args(client))
    assert proc.returncode == 1, proc.stderr
    if client == "client-sha224":
        # our own certificate below the profile's minimums: refused before connecting
        assert "does not meet profile" in proc.stderr
        return
    assert "A-P-ABORT" in proc.stderr
    scp_b12.wait_for(r"^TLS-REJECT ", start=start)


def test_idle_connection_does_not_block_others(pki: Pki, tmp_path: Path) -> None:
    storescu = require_tool("storescu")
    files = _make_files(tmp_path / "in", 1, dcmtk_clean=True)
    with running_scp(pki, tmp_path / "out", "b12", "--handshake-timeout", "6") as scp:
        start = len(scp.lines)
        with socket.create_connection(("127.0.0.1", scp.port)) as idle:
            proc = subprocess.run(
                [storescu, "+tls", str(pki.key("client-rsa")), str(pki.cert("client-rsa")),
                 "+cf", str(pki.ca), "-aec", "DICOMSEC", "127.0.0.1", str(scp.port),
                 str(files[0])], capture_output=True, text=True, timeout=30, check=False)
            assert proc.returncode == 0, proc.stderr
            _assert_received(files, scp.out)
            # not served after the idle connection was dropped, but while it was still open
            idle_port = idle.getsockname()[1]
            assert not [x for x in scp.lines[start:]
                        if x.startswith(f"TLS-REJECT 127.0.0.1:{idle_port}:")], \
                "the valid client was served only after the idle connection timed out"
            # the idle connection is dropped when its handshake time is up, and logged
            line = scp.wait_for(r"^TLS-REJECT 127\.0\.0\.1:(\d+): (.*)", timeout=15,
                                start=start)
            assert int(line.group(1)) == idle.getsockname()[1]
            assert "timed out" in line.group(2)
        # a plain TCP peer that talks (not TLS) is refused and logged
        start = len(scp.lines)
        with socket.create_connection(("127.0.0.1", scp.port)) as plain:
            plain.sendall(b"\x01\x00\x00\x00\x00\x44" + bytes(68))
            plain.settimeout(5)
            with contextlib.suppress(OSError):
                plain.recv(100)  # an alert, or the close
        scp.wait_for(r"^TLS-REJECT 127\.0\.0\.1:\d+: TLS handshake failed", start=start)


class _TamperingProxy:
    """A TCP relay that flips one bit of the client's stream at byte ``flip_at`` (an attacker
    on the path changing a TLS record)."""

    def __init__(self, upstream: int, flip_at: int) -> None:
        self.flip_at = flip_at
        self.upstream = upstream
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        client, _ = self.listener.accept()
        server = socket.create_connection(("127.0.0.1", self.upstream))
        threading.Thread(target=self._pump, args=(client, server, True), daemon=True).start()
        threading.Thread(target=self._pump, args=(server, client, False), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, tamper: bool) -> None:
        seen = 0
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                if tamper and seen <= self.flip_at < seen + len(data):
                    buf = bytearray(data)
                    buf[self.flip_at - seen] ^= 0x01
                    data = bytes(buf)
                seen += len(data)
                dst.sendall(data)
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)


def test_tampered_tls_record_ends_in_a_p_abort(pki: Pki, tmp_path: Path) -> None:
    files = _make_files(tmp_path / "in", 3)  # about 39 kB each: byte 60,000 is in the second
    with running_scp(pki, tmp_path / "out", "b12") as scp:
        proxy = _TamperingProxy(scp.port, flip_at=60_000)
        proc = _cli("send", str(tmp_path / "in"), "--host", "127.0.0.1", "--port",
                    str(proxy.port), "--profile", "b12", *pki.client_args())
        assert proc.returncode == 1, proc.stderr
        # a SHA-224 certificate of our own is refused before connecting; others by the SCP
        assert "A-P-ABORT" in proc.stderr or "does not meet profile" in proc.stderr
        assert "1 of 3 stored" in proc.stderr
        scp.wait_for(r"^ABORT 127\.0\.0\.1:\d+: A-P-ABORT .*BAD_RECORD_MAC")
    _assert_received(files[:1], scp.out)
    assert len(list(scp.out.iterdir())) == 1  # nothing of the tampered instance


# ------------------------------------------------------------------------------------------
# 3. load: 16 concurrent associations x 50 files


def test_load_16_associations_of_50_files(pki: Pki, tmp_path: Path) -> None:
    batches = [_make_files(tmp_path / f"in{n:02d}", 50) for n in range(16)]
    with running_scp(pki, tmp_path / "out", "b12") as scp:
        t0 = time.monotonic()
        procs = [subprocess.Popen(
            [*CLI, "send", str(tmp_path / f"in{n:02d}"), "--host", "127.0.0.1", "--port",
             str(scp.port), "--aec", "DICOMSEC", "--aet", f"LOAD{n:02d}", "--profile", "b12",
             *pki.client_args("client" if n % 2 else "client-rsa")],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=_env())
            for n in range(16)]
        outputs = [p.communicate(timeout=120)[1] for p in procs]
        elapsed = time.monotonic() - t0
        for p, text in zip(procs, outputs, strict=True):
            assert p.returncode == 0, text
            assert "50 of 50 stored" in text
        received = sorted(scp.out.glob("*.dcm"))
        assert len(received) == 800
        for batch in batches:
            _assert_received(batch, scp.out)
        assert not scp.rejections()
        assert not [x for x in scp.lines if x.startswith(("ABORT", "STORE-FAILED"))]
    print(f"800 files over 16 TLS associations in {elapsed:.1f} s")


# ------------------------------------------------------------------------------------------
# CLI contract and library details (in process)


def test_send_exit_codes(pki: Pki, tmp_path: Path) -> None:
    files = _make_files(tmp_path / "in", 1)
    common = ["--host", "127.0.0.1", "--port", str(_free_port()), "--profile", "b12",
              *pki.client_args()]
    # through the real command (a subprocess), which arranges the profile before ssl loads
    assert _cli("send", str(tmp_path / "missing.dcm"), *common).returncode == 2
    junk = tmp_path / "junk.dcm"
    junk.write_bytes(b"not dicom")
    assert _cli("send", str(junk), *common).returncode == 2
    assert _cli("send", str(files[0]), *common, "--aec", "X" * 17).returncode == 2
    assert _cli("send", str(files[0]), *common).returncode == 1  # nobody listens
    assert _cli("echo", *common).returncode == 1


def test_scp_refuses_a_profile_whose_suites_are_missing(pki: Pki, tmp_path: Path) -> None:
    if os.environ.get("OPENSSL_CONF"):
        pytest.skip("this process runs with an OpenSSL configuration")
    # this process imported ssl without the B.13 configuration: no TLS 1.3 CCM suites
    with pytest.raises(PolicyViolation, match="TLS_AES_128_CCM"):
        dimse.make_scp("b13", [(pki.cert("server-ec"), pki.key("server-ec"))], _store(pki),
                       tmp_path, host="127.0.0.1", port=0)
    rc = cli_main(["scp", "--port", "0", "--bind", "127.0.0.1", "--out", str(tmp_path),
                   "--profile", "b13", "--cert", str(pki.cert("server-ec")), "--key",
                   str(pki.key("server-ec")), "--trust", str(pki.ca)])
    assert rc == 1


def test_library_scp_and_scu_in_process(pki: Pki, tmp_path: Path) -> None:
    """B.12 needs no OpenSSL configuration (its TLS 1.3 suites are OpenSSL's defaults)."""
    from dicomsec.transport import tls

    files = _make_files(tmp_path / "in", 3)
    events: list[dimse.ScpEvent] = []
    out = tmp_path / "out"
    out.mkdir()
    # in-process: pytest imported ssl long ago, so the profile's OpenSSL configuration is not
    # in effect here (the dicomsec command arranges it first); opt out of that check
    with dimse.make_scp("b12", [(pki.cert("server-ec"), pki.key("server-ec"))], _store(pki),
                        out, host="127.0.0.1", port=0, on_event=events.append,
                        require_profile_config=False) as server:
        ctx = tls.client_context("b12", _store(pki), cert=pki.cert("client"),
                                 key=pki.key("client"))
        seen: list[dimse.StoreResult] = []
        report = dimse.send_files([tmp_path / "in"], "127.0.0.1", server.port, ctx,
                                  called_aet="DICOMSEC", on_result=seen.append)
        assert report.ok and report.stored == 3 and len(seen) == 3
        # an asynchronous operations window (our SCP agrees): several C-STOREs outstanding
        more = _make_files(tmp_path / "more", 12)
        windowed = dimse.send_files(more, "127.0.0.1", server.port, ctx,
                                    called_aet="DICOMSEC", window=8)
        assert windowed.ok and windowed.stored == 12
        assert [r.path for r in windowed.results] == more
        assert report.tls_version in ("TLSv1.2", "TLSv1.3") and report.cipher
        assert dimse.echo("127.0.0.1", server.port, ctx).ok
        bad = tls.client_context("b12", _store(pki), cert=pki.cert("client-untrusted"),
                                 key=pki.key("client-untrusted"))
        failed = dimse.send_files(files[:1], "127.0.0.1", server.port, bad)
        assert not failed.ok and failed.failure and "A-P-ABORT" in failed.failure
        assert failed.results[0].error == "not sent"
    _assert_received(files, out)
    _assert_received(more, out)
    from pynetdicom import _config

    assert _config.STORE_SEND_CHUNKED_DATASET is False  # no process-wide switch was flipped
    kinds = [e.kind for e in events]
    assert kinds[0] == "listening"
    assert kinds.count("stored") == 15 and "echo" in kinds and "rejected" in kinds
    connected = [e for e in events if e.kind == "connected"]
    assert connected and "client" in connected[0].detail


def test_tls_check_passes_against_dicomsec_scp_b13(pki: Pki, tmp_path: Path) -> None:
    """Acceptance 2: `tls-check --profile b13` against `dicomsec scp --profile b13` with RSA and
    EC certificates loaded: every requirement passes (and B.12 scanning it passes too)."""
    with running_scp(pki, tmp_path / "in", "b13") as scp:
        target = f"127.0.0.1:{scp.port}"
        proc = _cli("tls-check", target, "--profile", "b13", "--trust", str(pki.ca),
                    "--client-cert", str(pki.cert("client")), "--client-key",
                    str(pki.key("client")), timeout=120)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        lines = proc.stdout.splitlines()
        assert not [x for x in lines if x.startswith("FAIL")]
        assert len([x for x in lines if x.startswith("PASS")]) >= 20
        proc = _cli("tls-check", target, "--profile", "b12", "--trust", str(pki.ca),
                    timeout=120)
        assert proc.returncode == 0, proc.stdout + proc.stderr


# ------------------------------------------------------------------------------------------
# the fast paths: file meta read and written without pydicom, group commit, reports


def test_file_meta_reader_agrees_with_pydicom(tmp_path: Path) -> None:
    from pynetdicom.dsutils import split_dataset

    from dicomsec.transport._part10 import read_file_meta

    for path in [CT, *_make_files(tmp_path, 2), PYDICOM_FILES / "MR_small.dcm"]:
        meta, offset = split_dataset(path)
        got = read_file_meta(path)
        assert got is not None, path
        assert (got.sop_class, got.sop_instance, got.transfer_syntax, got.offset) == (
            meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID,
            meta.TransferSyntaxUID, offset)
    junk = tmp_path / "junk.dcm"
    junk.write_bytes(b"\0" * 128 + b"DICM" + b"\x02\x00\x10\x00")  # cut short
    assert read_file_meta(junk) is None  # the caller falls back to pydicom
    with pytest.raises(InvalidInput, match="file meta information lacks"):
        dimse._read_instance(junk)


@pytest.mark.parametrize(("uid", "aet"), [("1.2.3.4", "STORESCU"), ("1.2.3.45", "ODD"),
                                          ("1.2.3.45", None)])
def test_file_meta_writer_agrees_with_pydicom(uid: str, aet: str | None) -> None:
    from pydicom.uid import UID
    from pynetdicom import PYNETDICOM_IMPLEMENTATION_UID, PYNETDICOM_IMPLEMENTATION_VERSION
    from pynetdicom.dsutils import create_file_meta, encode_file_meta

    from dicomsec.transport import _part10

    ct_class, ts = "1.2.840.10008.5.1.4.1.1.2", "1.2.840.10008.1.2.1"
    meta = create_file_meta(sop_class_uid=UID(ct_class), sop_instance_uid=UID(uid),
                            transfer_syntax=UID(ts))
    if aet:
        meta.SourceApplicationEntityTitle = aet
    expected = b"\0" * 128 + b"DICM" + encode_file_meta(meta)
    assert _part10.encode_file_meta(ct_class, uid, ts, str(PYNETDICOM_IMPLEMENTATION_UID),
                                    PYNETDICOM_IMPLEMENTATION_VERSION, aet) == expected


def test_group_commit_from_many_threads(tmp_path: Path) -> None:
    from dicomsec._atomic import _UMASK
    from dicomsec.transport._groupcommit import GroupCommit

    committer = GroupCommit(max_group=8)
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            for i in range(15):
                committer.store(tmp_path / f"{n}-{i}.dcm", (b"head", memoryview(b"x" * i)))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    names = sorted(p.name for p in tmp_path.iterdir())
    assert len(names) == 90 and not [n for n in names if n.startswith(".")]
    assert (tmp_path / "3-7.dcm").read_bytes() == b"head" + b"x" * 7
    assert {(p.stat().st_mode & 0o777) for p in tmp_path.iterdir()} == {0o666 & ~_UMASK}
    assert committer.files == 90 and 1 <= committer.groups <= 90
    with pytest.raises(OSError):  # the folder is gone: the error reaches the caller
        committer.store(tmp_path / "missing" / "x.dcm", (b"x",))


def test_transport_results_follow_the_report_protocol(tmp_path: Path) -> None:
    import json

    from dicomsec.errors import VerificationFailed

    good = dimse.StoreResult(tmp_path / "a.dcm", "1.2.3", 0)
    bad = dimse.StoreResult(tmp_path / "b.dcm", "1.2.4", 0xA700, "status 0xA700")
    send = dimse.SendReport((good, bad), "TLSv1.3", "TLS_AES_128_GCM_SHA256", "h:1")
    echo = dimse.EchoReport(None, peer="h:1", failure="no association")
    event = dimse.ScpEvent("rejected", "h:2", "TLS handshake timed out")
    for report, ok in [(good, True), (bad, False), (send, False), (echo, False),
                       (event, False), (dimse.ScpEvent("stored", "h:2"), True)]:
        data = report.to_dict()
        assert data["schema"].startswith("dicomsec.transport.") and data["ok"] is ok
        assert json.loads(report.to_json()) == data
        assert report.summary().startswith(("OK", "STORED") if ok else "FAILED")
        if ok:
            report.raise_for_failure()
        else:
            with pytest.raises(VerificationFailed):
                report.raise_for_failure()
    data = send.to_dict()
    assert (data["stored"], data["failed"], data["peer"]) == (1, 1, "h:1")
    assert data["results"][1] == {"ok": False, "path": str(tmp_path / "b.dcm"),
                                  "sop_instance_uid": "1.2.4", "status": 0xA700,
                                  "error": "status 0xA700"}
    with pytest.raises(AttributeError):
        send.failure = "x"  # type: ignore[misc]


@pytest.mark.parametrize("max_pdu", [16382, 4096, 0])
def test_c_store_messages_encode_as_pynetdicom_does(tmp_path: Path, max_pdu: int) -> None:
    from pynetdicom.dimse_messages import C_STORE_RQ, C_STORE_RSP
    from pynetdicom.dimse_primitives import C_STORE
    from pynetdicom.dsutils import split_dataset

    from dicomsec.transport import _pynetdicom as pn

    path = _make_files(tmp_path, 1)[0]  # about 39 kB: several fragments under 16 kB PDUs
    _meta, offset = split_dataset(path)
    ct_class, uid = "1.2.840.10008.5.1.4.1.1.2", "1.2.3.45"
    req = C_STORE()
    req.MessageID, req.Priority = 7, 2
    req.AffectedSOPClassUID, req.AffectedSOPInstanceUID = ct_class, uid
    req._dataset_path = (path, offset)
    msg = C_STORE_RQ()
    msg.primitive_to_message(req)
    expected = [p.presentation_data_value_list for p in msg.encode_msg(3, max_pdu)]
    command = pn.c_store_rq_command(ct_class, uid, 7)
    got = [p.presentation_data_value_list
           for p in pn.c_store_rq_pdatas(command, path, offset, 3, max_pdu)]
    assert got == expected
    rsp = C_STORE()
    rsp.MessageIDBeingRespondedTo, rsp.Status = 7, 0xB000
    rsp.AffectedSOPClassUID, rsp.AffectedSOPInstanceUID = ct_class, uid
    rsp_msg = C_STORE_RSP()
    rsp_msg.primitive_to_message(rsp)
    [pdv] = [p.presentation_data_value_list for p in rsp_msg.encode_msg(3, 16382)]
    assert pdv == [(3, b"\x03" + pn.c_store_rsp_command(ct_class, uid, 7, 0xB000))]


def test_c_store_response_decodes_as_pynetdicom_does() -> None:
    import struct

    from dicomsec.transport import _pynetdicom as pn

    command = pn.c_store_rsp_command("1.2.840.10008.5.1.4.1.1.2", "1.2.3.45", 9, 0xA700)
    rsp = pn.parse_c_store_rsp(command)
    assert rsp is not None
    assert (rsp.MessageIDBeingRespondedTo, rsp.Status, rsp.AffectedSOPInstanceUID,
            rsp.AffectedSOPClassUID) == (9, 0xA700, "1.2.3.45", "1.2.840.10008.5.1.4.1.1.2")
    assert rsp.is_valid_response
    # anything but a plain response goes to pynetdicom: an error comment, another command
    comment = struct.pack("<HHI", 0, 0x0902, 4) + b"full"
    body = command[12:] + comment
    assert pn.parse_c_store_rsp(struct.pack("<HHII", 0, 0, 4, len(body)) + body) is None
    assert pn.parse_c_store_rsp(pn.c_store_rq_command("1.2.3", "1.2.3.4", 1)) is None
    assert pn.parse_c_store_rsp(command[:-3]) is None


def test_c_store_request_decodes_as_pynetdicom_does() -> None:
    from pynetdicom.dimse_messages import C_STORE_RQ
    from pynetdicom.dimse_primitives import C_STORE

    from dicomsec.transport import _pynetdicom as pn

    req = C_STORE()
    req.MessageID, req.Priority = 12, 1
    req.AffectedSOPClassUID, req.AffectedSOPInstanceUID = "1.2.840.10008.5.1.4.1.1.2", "1.2.3"
    req.DataSet = BytesIO(b"\x08\x00\x16\x00UI\x04\x001.2\x00")
    msg = C_STORE_RQ()
    msg.primitive_to_message(req)
    command = next(iter(msg.encode_msg(1, 16382))).presentation_data_value_list[0][1][1:]
    got = pn.parse_c_store_rq(command)
    assert got is not None and got.DataSet is None
    assert (got.MessageID, got.Priority, got.AffectedSOPClassUID,
            got.AffectedSOPInstanceUID) == (12, 1, req.AffectedSOPClassUID, "1.2.3")
    req.MoveOriginatorApplicationEntityTitle = "MOVER"  # not plain: pynetdicom decodes it
    req.MoveOriginatorMessageID = 3
    msg = C_STORE_RQ()
    msg.primitive_to_message(req)
    command = next(iter(msg.encode_msg(1, 16382))).presentation_data_value_list[0][1][1:]
    assert pn.parse_c_store_rq(command) is None
    assert pn.parse_c_store_rq(pn.c_store_rsp_command("1.2.3", "1.2.3.4", 1, 0)) is None


def test_shutdown_ends_an_association_still_waiting_for_its_request(pki: Pki,
                                                                     tmp_path: Path) -> None:
    """A client that completes the TLS handshake and sends nothing (a scanner's probe) leaves
    an acceptor waiting up to the ACSE timeout for its A-ASSOCIATE-RQ: shutdown ends it."""
    import ssl
    import threading

    from dicomsec.transport import tls

    server = dimse.make_scp("b12", [(pki.cert("server-ec"), pki.key("server-ec"))], _store(pki),
                            tmp_path, host="127.0.0.1", port=0, require_profile_config=False)
    ctx = tls.client_context("b12", _store(pki), cert=pki.cert("client"),
                             key=pki.key("client"))
    before = set(threading.enumerate())
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname=None) as tconn:
            assert tconn.version() in ("TLSv1.2", "TLSv1.3")
            for _ in range(100):  # the acceptor thread appears once the handshake is done
                if server.server.active_associations:
                    break
                time.sleep(0.05)
            waiting = [t for t in threading.enumerate() if t not in before]
            assert server.server.active_associations
            server.shutdown(timeout=5)  # far below the ACSE timeout the acceptor waits
            assert not [t for t in waiting if t.is_alive()]
            with contextlib.suppress(ssl.SSLError, OSError):
                tconn.recv(1)
