"""Issue 8, item 6: a peer's certificate is held to the rules our own is
(``trust.usage_problems`` for a TLS client or server), right after the handshake and before any
DICOM data: a certificate whose key usage does not allow the handshake signature (which
OpenSSL lets pass) is refused and the refusal reported. (OpenSSL refuses an extended key usage
for the other side itself: "unsuitable certificate purpose".)

In process, against ``make_scp`` and ``dimse.echo`` on 127.0.0.1; certificates issued here by
the test CA of ``test_dimse``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import socket
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from dicomsec.transport import dimse, tls
from dicomsec.trust import TrustStore
from tests.transport.test_dimse import Pki
from tests.transport.test_dimse import pki as pki  # the module's test PKI fixture

#: a key usage OpenSSL lets pass for TLS (its purpose check wants digitalSignature *or*
#: keyAgreement; an extended key usage for the other side it refuses by itself), but the
#: handshake of every B.12/B.13 suite is signed with this key
AGREEMENT_ONLY = x509.KeyUsage(
    digital_signature=False, content_commitment=False, key_encipherment=False,
    data_encipherment=False, key_agreement=True, key_cert_sign=False, crl_sign=False,
    encipher_only=False, decipher_only=False)


def _issue(pki: Pki, name: str, usage: x509.ExtensionType) -> tuple[Path, Path]:
    ca = x509.load_pem_x509_certificate(pki.ca.read_bytes())
    ca_key = serialization.load_pem_private_key((pki.folder / "ca.key").read_bytes(), None)
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(ca.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]),
                           critical=False)
            .add_extension(usage, critical=isinstance(usage, x509.KeyUsage))
            .sign(ca_key, hashes.SHA256()))  # type: ignore[arg-type]
    cert_path, key_path = pki.folder / f"{name}.pem", pki.folder / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def test_scp_refuses_a_client_certificate_made_for_servers(pki: Pki, tmp_path: Path) -> None:
    cert, key = _issue(pki, "client-agreement", AGREEMENT_ONLY)
    hostile = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # not ours: ours would refuse the cert
    hostile.load_verify_locations(cafile=str(pki.ca))
    hostile.check_hostname = False
    hostile.load_cert_chain(str(cert), str(key))
    out = tmp_path / "out"
    out.mkdir()
    events: list[dimse.ScpEvent] = []
    with dimse.make_scp("b12", [(pki.cert("server-ec"), pki.key("server-ec"))],
                        TrustStore.from_paths([pki.ca]), out, host="127.0.0.1", port=0,
                        on_event=events.append, require_profile_config=False) as server:
        raw = socket.create_connection(("127.0.0.1", server.port), timeout=30)
        with contextlib.suppress(OSError), hostile.wrap_socket(raw) as sock:
            while sock.recv(4096):  # until the server drops us
                pass
    rejected = [e for e in events if e.kind == "rejected"]
    assert len(rejected) == 1, events
    assert "a TLS client: key usage does not allow digitalSignature" in rejected[0].detail


def test_client_refuses_a_server_certificate_made_for_clients(pki: Pki, tmp_path: Path) -> None:
    cert, key = _issue(pki, "server-agreement", AGREEMENT_ONLY)
    store = TrustStore.from_paths([pki.ca])
    ctx = tls.server_context("b12", [(pki.cert("server-ec"), pki.key("server-ec"))], store)
    ctx.load_cert_chain(str(cert), str(key))  # the server now presents the client-only one
    out = tmp_path / "out"
    out.mkdir()
    with dimse.make_scp("b12", [], store, out, host="127.0.0.1", port=0, context=ctx,
                        require_profile_config=False) as server:
        client = tls.client_context("b12", store, cert=pki.cert("client"),
                                    key=pki.key("client"))
        report = dimse.echo("127.0.0.1", server.port, client, timeout=10)
    assert not report.ok
    assert "a TLS server: key usage does not allow digitalSignature" in (report.failure or "")
