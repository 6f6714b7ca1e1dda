"""A small two-level test PKI with revoked certificates, CRLs and a tiny HTTP server, shared
by the trust-flag tests of ``verify``, ``unwrap``, ``scp`` and ``send``.

Root CA and issuing CA (EC P-256, keyCertSign + cRLSign), end entities issued by the issuing
CA; ``root.crl.pem`` (empty) and ``issuing.crl.pem`` (every ``*-revoked`` certificate,
``key_compromise``, revoked a day ago). Made with ``cryptography`` in the test, in a
module-scoped folder; nothing is committed.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import http.server
import ipaddress
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp as x509_ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
#: when the ``*-revoked`` certificates were revoked
REVOKED_AT = NOW - dt.timedelta(days=1)

#: what each kind of end entity may do: (keyUsage digitalSignature/nonRepudiation, EKU)
KINDS = {
    "signer": (True, None),
    "tls-server": (False, ExtendedKeyUsageOID.SERVER_AUTH),
    "tls-client": (False, ExtendedKeyUsageOID.CLIENT_AUTH),
}


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _usage(*, ca: bool, non_repudiation: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not ca, content_commitment=non_repudiation, key_encipherment=False,
        data_encipherment=False, key_agreement=False, key_cert_sign=ca, crl_sign=ca,
        encipher_only=False, decipher_only=False)


def _pem(obj: x509.Certificate | x509.CertificateRevocationList) -> bytes:
    return obj.public_bytes(serialization.Encoding.PEM)


@dataclass
class RevocationPki:
    """The PKI's folder and keys; ``issue`` adds end entities (a CRL distribution point
    optional), ``path(name)`` names ``<name>.pem`` / ``.key`` / ``.crl.pem`` files."""

    folder: Path
    root_key: ec.EllipticCurvePrivateKey
    root: x509.Certificate
    issuing_key: ec.EllipticCurvePrivateKey
    issuing: x509.Certificate
    revoked: list[int] = field(default_factory=list)
    issued: list[x509.Certificate] = field(default_factory=list)

    def path(self, name: str, suffix: str = ".pem") -> Path:
        return self.folder / f"{name}{suffix}"

    def key(self, name: str) -> Path:
        return self.path(name, ".key")

    def issue(self, name: str, kind: str, *, cdp: str | None = None, ocsp: str | None = None,
              revoked: bool = False) -> x509.Certificate:
        """An end entity of ``kind`` (``signer``, ``tls-server``, ``tls-client``) issued by
        the issuing CA, written as ``<name>.pem`` and ``<name>.key``; ``cdp`` and ``ocsp``
        are URLs of a CRL distribution point and an OCSP responder (AIA)."""
        non_repudiation, eku = KINDS[kind]
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (x509.CertificateBuilder().subject_name(_name(name))
                   .issuer_name(self.issuing.subject).public_key(key.public_key())
                   .serial_number(x509.random_serial_number())
                   .not_valid_before(NOW - dt.timedelta(days=10))
                   .not_valid_after(NOW + dt.timedelta(days=300))
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
                   .add_extension(_usage(ca=False, non_repudiation=non_repudiation), True)
                   .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                       self.issuing_key.public_key()), False))
        if eku is not None:
            builder = builder.add_extension(x509.ExtendedKeyUsage([eku]), False).add_extension(
                x509.SubjectAlternativeName([
                    x509.DNSName("localhost"),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        if cdp is not None:
            builder = builder.add_extension(x509.CRLDistributionPoints([x509.DistributionPoint(
                [x509.UniformResourceIdentifier(cdp)], None, None, None)]), False)
        if ocsp is not None:
            builder = builder.add_extension(x509.AuthorityInformationAccess([
                x509.AccessDescription(AuthorityInformationAccessOID.OCSP,
                                       x509.UniformResourceIdentifier(ocsp))]), False)
        cert = builder.sign(self.issuing_key, hashes.SHA256())
        self.path(name).write_bytes(_pem(cert))
        self.key(name).write_bytes(key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()))
        if revoked:
            self.revoked.append(cert.serial_number)
        self.issued.append(cert)
        return cert

    def crl(self, issuer: str) -> x509.CertificateRevocationList:
        """The CRL of ``root`` (empty) or ``issuing`` (the revoked serials)."""
        key, cert = ((self.root_key, self.root) if issuer == "root"
                     else (self.issuing_key, self.issuing))
        builder = (x509.CertificateRevocationListBuilder().issuer_name(cert.subject)
                   .last_update(NOW - dt.timedelta(hours=1))
                   .next_update(NOW + dt.timedelta(days=7))
                   .add_extension(x509.CRLNumber(1), False)
                   .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                       key.public_key()), False))
        for serial in self.revoked if issuer == "issuing" else []:
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder().serial_number(serial)
                .revocation_date(REVOKED_AT)
                .add_extension(x509.CRLReason(x509.ReasonFlags.key_compromise), False)
                .build())
        return builder.sign(key, hashes.SHA256())

    def ocsp_response(self, request_der: bytes) -> bytes:
        """An OCSP response for the one certificate of ``request_der`` (issued by the issuing
        CA), signed by the issuing CA itself: revoked when its serial is on the CRL, else
        good; the request's nonce is echoed."""
        request = x509_ocsp.load_der_ocsp_request(request_der)
        serial = request.serial_number
        cert = next(c for c in self.issued if c.serial_number == serial)
        revoked = serial in self.revoked
        builder = x509_ocsp.OCSPResponseBuilder().add_response(
            cert=cert, issuer=self.issuing, algorithm=request.hash_algorithm,
            cert_status=(x509_ocsp.OCSPCertStatus.REVOKED if revoked
                         else x509_ocsp.OCSPCertStatus.GOOD),
            this_update=NOW - dt.timedelta(minutes=5), next_update=NOW + dt.timedelta(days=1),
            revocation_time=REVOKED_AT if revoked else None,
            revocation_reason=x509.ReasonFlags.key_compromise if revoked else None,
        ).responder_id(x509_ocsp.OCSPResponderEncoding.HASH, self.issuing)
        for ext in request.extensions:
            if isinstance(ext.value, x509.OCSPNonce):
                builder = builder.add_extension(ext.value, critical=False)
        return builder.sign(self.issuing_key, hashes.SHA256()).public_bytes(
            serialization.Encoding.DER)

    def write_crls(self) -> None:
        for issuer in ("root", "issuing"):
            self.path(issuer, ".crl.pem").write_bytes(_pem(self.crl(issuer)))

    def trust_args(self, *, crls: bool = True, untrusted: bool = True,
                   offline: bool = True) -> list[str]:
        """``--trust root [--untrusted issuing] [--crl root --crl issuing] [--offline]``."""
        args = ["--trust", str(self.path("root"))]
        if untrusted:
            args += ["--untrusted", str(self.path("issuing"))]
        if crls:
            args += ["--crl", str(self.path("root", ".crl.pem")),
                     "--crl", str(self.path("issuing", ".crl.pem"))]
        if offline:
            args.append("--offline")
        return args


def _ca(name: str, key: ec.EllipticCurvePrivateKey, issuer: x509.Name,
        issuer_key: ec.EllipticCurvePrivateKey, path_length: int) -> x509.Certificate:
    return (x509.CertificateBuilder().subject_name(_name(name)).issuer_name(issuer)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(NOW - dt.timedelta(days=30))
            .not_valid_after(NOW + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), True)
            .add_extension(_usage(ca=True), True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                issuer_key.public_key()), False)
            .sign(issuer_key, hashes.SHA256()))


def make_pki(folder: Path, leaves: dict[str, str]) -> RevocationPki:
    """The root, the issuing CA, ``leaves`` (name → kind; a name ending ``-revoked`` is on
    the issuing CA's CRL) and both CRLs, in ``folder``."""
    root_key = ec.generate_private_key(ec.SECP256R1())
    root = _ca("Trust Flags Root", root_key, _name("Trust Flags Root"), root_key, 1)
    issuing_key = ec.generate_private_key(ec.SECP256R1())
    issuing = _ca("Trust Flags Issuing", issuing_key, root.subject, root_key, 0)
    pki = RevocationPki(folder, root_key, root, issuing_key, issuing)
    pki.path("root").write_bytes(_pem(root))
    pki.path("issuing").write_bytes(_pem(issuing))
    for name, kind in leaves.items():
        pki.issue(name, kind, revoked=name.endswith("-revoked"))
    pki.write_crls()
    return pki


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        server: Any = self.server
        server.requests.append(self.path)
        body = server.bodies.get(self.path)
        if callable(body):  # an OCSP responder: the answer to the request's body
            length = min(int(self.headers.get("Content-Length") or 0), 65536)
            body = body(self.rfile.read(length))
        self.send_response(200 if body is not None else 404)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body or b"")))
        self.end_headers()
        self.wfile.write(body or b"")

    do_POST = do_GET

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextlib.contextmanager
def http_server(bodies: dict[str, bytes | Callable[[bytes], bytes]]
                ) -> Iterator[tuple[str, list[str]]]:
    """A local HTTP server on 127.0.0.1 (a free port) answering ``bodies`` by path (a
    callable answers a POST's body: an OCSP responder); yields its base URL and the list of
    paths requested so far. Stopped on exit."""
    server: Any = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.requests = []
    server.bodies = bodies
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                              daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", server.requests
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
