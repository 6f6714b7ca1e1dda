"""B.12 / B.13 contexts against the real `openssl s_client` (a dicomsec server in a subprocess,
because the profile's OpenSSL configuration must be in place before ``ssl`` is imported)."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from dicomsec.transport import tls
from tests.conftest import require_tool

SERVER = Path(__file__).with_name("tls_server.py")
ROOT = Path(__file__).resolve().parents[2]


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _issue(key: object, cn: str, issuer_key: object, issuer: x509.Name, *, ca: bool = False,
           algo: hashes.HashAlgorithm | None = None) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    builder = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(issuer)
               .public_key(key.public_key())  # type: ignore[attr-defined]
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - dt.timedelta(days=1))
               .not_valid_after(now + dt.timedelta(days=30))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
               .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]),
                              critical=False))
    return builder.sign(issuer_key, algo or hashes.SHA256())  # type: ignore[arg-type]


@dataclass(frozen=True)
class Pki:
    folder: Path

    def __getitem__(self, name: str) -> tuple[Path, Path]:
        return self.folder / f"{name}.pem", self.folder / f"{name}.key"

    @property
    def ca(self) -> Path:
        return self.folder / "ca.pem"


def _write(folder: Path, name: str, key: object, cert: x509.Certificate) -> None:
    (folder / f"{name}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / f"{name}.key").write_bytes(key.private_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    folder = tmp_path_factory.mktemp("tlspki")
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    ca = _issue(ca_key, "Test TLS CA", ca_key, _name("Test TLS CA"), ca=True)
    _write(folder, "ca", ca_key, ca)
    other_key = ec.generate_private_key(ec.SECP256R1())
    other = _issue(other_key, "Other CA", other_key, _name("Other CA"), ca=True)
    leaves: dict[str, tuple[object, hashes.HashAlgorithm | None, tuple[object, x509.Name]]] = {
        "server-rsa": (rsa.generate_private_key(public_exponent=65537, key_size=2048), None,
                       (ca_key, ca.subject)),
        "server-ec": (ec.generate_private_key(ec.SECP256R1()), None, (ca_key, ca.subject)),
        "client": (ec.generate_private_key(ec.SECP256R1()), None, (ca_key, ca.subject)),
        "client-sha224": (rsa.generate_private_key(public_exponent=65537, key_size=2048),
                          hashes.SHA224(), (ca_key, ca.subject)),
        "client-rsa1024": (rsa.generate_private_key(public_exponent=65537, key_size=1024),
                           None, (ca_key, ca.subject)),
        "client-untrusted": (ec.generate_private_key(ec.SECP256R1()), None,
                             (other_key, other.subject)),
    }
    for name, (key, algo, (ikey, iname)) in leaves.items():
        _write(folder, name, key, _issue(key, name, ikey, iname, algo=algo))
    # an intermediate CA signed with SHA-224 (SECLEVEL 2 lets it pass) and a good leaf below it
    inter_key = ec.generate_private_key(ec.SECP256R1())
    inter = _issue(inter_key, "Intermediate SHA-224", ca_key, ca.subject, ca=True,
                   algo=hashes.SHA224())
    _write(folder, "inter224", inter_key, inter)
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    _write(folder, "client-via224", leaf_key,
           _issue(leaf_key, "client-via224", inter_key, inter.subject))
    return Pki(folder)


@dataclass
class Server:
    port: int
    missing: list[str]
    proc: subprocess.Popen[str]

    def lines(self) -> list[str]:
        return []


def _start(pki: Pki, profile: str, *pairs: str, client_auth: bool = True) -> Iterator[Server]:
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
        missing = first[1].removeprefix("MISSING:").split(",") if len(first) > 1 else []
        yield Server(int(first[0]), [m for m in missing if m], proc)
    finally:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="module")
def b13(pki: Pki) -> Iterator[Server]:
    yield from _start(pki, "b13", "server-rsa", "server-ec")


@pytest.fixture(scope="module")
def b12(pki: Pki) -> Iterator[Server]:
    yield from _start(pki, "b12", "server-rsa", "server-ec")


def _probe(port: int, pki: Pki, *opts: str, client: str | None = "client") -> bool:
    """True when `openssl s_client` completes a handshake and the server echoes data."""
    openssl = require_tool("openssl")
    args = [openssl, "s_client", "-connect", f"127.0.0.1:{port}", "-CAfile", str(pki.ca),
            "-verify_return_error", "-brief", "-ign_eof", *opts]
    if client is not None:
        cert, key = pki[client]
        args += ["-cert", str(cert), "-key", str(key)]
    proc = subprocess.run(args, input="ping\n", capture_output=True, text=True, timeout=20,
                          check=False)
    # TLS 1.3 rejects a client certificate after the handshake: the echo tells
    return "ping" in proc.stdout.splitlines()


def test_b13_offers_every_required_suite(b13: Server) -> None:
    assert b13.missing == []


@pytest.mark.parametrize("suite", list(tls.PROFILES["b13"].tls13_suites))
def test_b13_tls13_suites(b13: Server, pki: Pki, suite: str) -> None:
    assert _probe(b13.port, pki, "-tls1_3", "-ciphersuites", suite)


@pytest.mark.parametrize("suite", list(tls.PROFILES["b13"].tls12_suites))
def test_b13_tls12_suites(b13: Server, pki: Pki, suite: str) -> None:
    assert _probe(b13.port, pki, "-tls1_2", "-cipher", suite)


@pytest.mark.parametrize("suite", [
    "ECDHE-RSA-AES128-SHA256", "ECDHE-ECDSA-AES256-SHA384", "AES128-GCM-SHA256",
    "DHE-RSA-AES128-SHA", "DES-CBC3-SHA",
])
def test_forbidden_tls12_suites_are_refused(b13: Server, pki: Pki, suite: str) -> None:
    assert not _probe(b13.port, pki, "-tls1_2", "-cipher", f"{suite}:@SECLEVEL=0")


@pytest.mark.parametrize("version", ["-tls1", "-tls1_1"])
def test_old_protocols_are_refused(b13: Server, pki: Pki, version: str) -> None:
    assert not _probe(b13.port, pki, version, "-cipher", "ALL:@SECLEVEL=0")


def test_x25519_alone_is_refused(b13: Server, pki: Pki) -> None:
    assert not _probe(b13.port, pki, "-groups", "X25519")
    assert _probe(b13.port, pki, "-groups", "P-256")


def test_tls13_is_preferred(b13: Server, pki: Pki) -> None:
    openssl = require_tool("openssl")
    cert, key = pki["client"]
    proc = subprocess.run([openssl, "s_client", "-connect", f"127.0.0.1:{b13.port}", "-CAfile",
                           str(pki.ca), "-cert", str(cert), "-key", str(key), "-brief"],
                          input="x\n", capture_output=True, text=True, timeout=20, check=False)
    assert "TLSv1.3" in proc.stdout + proc.stderr


@pytest.mark.parametrize("client", [None, "client-sha224", "client-rsa1024", "client-untrusted"])
@pytest.mark.parametrize("version", ["-tls1_2", "-tls1_3"])
def test_bad_client_certificates_are_refused(b13: Server, pki: Pki, client: str | None,
                                              version: str) -> None:
    assert not _probe(b13.port, pki, version, "-cipher", "DEFAULT:@SECLEVEL=0", client=client)
    assert _probe(b13.port, pki, version)


def test_b12_has_no_ccm(b12: Server, pki: Pki) -> None:
    assert b12.missing == []
    assert _probe(b12.port, pki, "-tls1_2", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256")
    assert not _probe(b12.port, pki, "-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-CCM8")
    assert not _probe(b12.port, pki, "-tls1_3", "-ciphersuites", "TLS_AES_128_CCM_8_SHA256")


def test_without_client_auth(pki: Pki) -> None:
    for server in _start(pki, "b13", "server-ec", client_auth=False):
        assert _probe(server.port, pki, client=None)


def test_conf_must_precede_ssl() -> None:
    import ssl  # noqa: F401 - already imported by the test process anyway

    from dicomsec.errors import PolicyViolation

    with pytest.raises(PolicyViolation):
        tls.arrange_openssl_conf("b13")


def test_certificate_problems(pki: Pki) -> None:
    prof = tls.PROFILES["b13"]
    for name, expected in [("client", []), ("client-sha224", ["SHA-224"]),
                           ("client-rsa1024", ["1024"])]:
        der = x509.load_pem_x509_certificate(pki[name][0].read_bytes()).public_bytes(
            serialization.Encoding.DER)
        problems = tls.certificate_problems(der, prof)
        assert len(problems) == len(expected)
        for word, problem in zip(expected, problems, strict=True):
            assert word in problem


@pytest.mark.parametrize("version", ["-tls1_2", "-tls1_3"])
def test_weak_intermediate_is_refused(b13: Server, pki: Pki, version: str) -> None:
    """The whole verified chain is checked, not only the leaf."""
    chain = str(pki["inter224"][0])
    assert not _probe(b13.port, pki, version, "-cert_chain", chain, client="client-via224")


def _peer_digest(port: int, pki: Pki, *opts: str) -> str | None:
    """The "Peer signing digest" `openssl s_client` reports (None: no handshake)."""
    openssl = require_tool("openssl")
    cert, key = pki["client"]
    proc = subprocess.run([openssl, "s_client", "-connect", f"127.0.0.1:{port}", "-CAfile",
                           str(pki.ca), "-cert", str(cert), "-key", str(key), *opts],
                          input="", capture_output=True, text=True, timeout=20, check=False)
    for line in proc.stdout.splitlines():
        if line.startswith("Peer signing digest:"):
            return line.split(":", 1)[1].strip()
    return None


def test_b13_never_signs_with_sha512(b13: Server, b12: Server, pki: Pki) -> None:
    """B.13 names SHA-256 and SHA-384 as its hash functions: a client asking for SHA-512
    handshake signatures gets none (B.12 names no list and keeps SHA-512)."""
    opts = ("-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256")
    assert _peer_digest(b13.port, pki, *opts, "-sigalgs", "ECDSA+SHA512") is None
    assert _peer_digest(b13.port, pki, *opts, "-sigalgs", "ECDSA+SHA384") == "SHA384"
    assert _peer_digest(b12.port, pki, *opts, "-sigalgs", "ECDSA+SHA512") == "SHA512"
    assert not any(s.lower().endswith("sha512") for s in tls.PROFILES["b13"].sigalgs)
