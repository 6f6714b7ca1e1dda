"""The security section of a DICOM Conformance Statement (PS3.2) for the B.12 / B.13 profiles.

Generated from the same options ``dicomsec scp`` takes (profile, port, certificates, trust
anchors, client authentication) and from the ``ssl.SSLContext`` that the profile builds, so the
statement cannot drift from the running configuration: the cipher suites are read back with
``ctx.get_ciphers()`` (``id & 0xFFFF`` is the IANA code).

The TLS 1.3 suites come from the profile's OpenSSL configuration, which must be arranged before
``ssl`` is imported (the command line tool does this). When it was not, the suites the profile
requires but the context does not offer are listed in :attr:`ConformanceSection.missing_suites`
and the command refuses to print a statement.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dicomsec.errors import InvalidInput
from dicomsec.transport import _iana, tls
from dicomsec.transport._scan_report import certificate_info
from dicomsec.trust import TrustStore

__all__ = ["CertificateEntry", "ConformanceSection", "SuiteEntry", "security_section"]

_EDITIONS = {
    "b12": "PS3.15 Annex B.12, introduced by Supplement 230 (2023); from 2024 titled "
           "\"BCP 195 RFC 8996, 9325\" (BCP 195 = RFC 8996 + RFC 9325).",
    "b13": "PS3.15 Annex B.13, introduced by Supplement 230 (2023); CP 2311 (2024) made the TLS "
           "1.2 ECDHE Camellia-GCM suites optional. They are not supported (OpenSSL does not "
           "implement them).",
}
_FAILURES = {
    "scu": "Any TLS or transport failure while establishing the connection (handshake, "
           "certificate refused, peer certificate below the profile's minimums) ends in an "
           "A-P-ABORT indication with provider reason 0 (reason-not-specified). With TLS 1.3 a "
           "refused client certificate is reported by the SCP only after the handshake, so "
           "the A-ASSOCIATE-RQ may already have been sent; the outcome is the same A-P-ABORT.",
    "scp": "A connection whose TLS handshake or certificate check fails is closed before any "
           "PDU is exchanged (no A-ASSOCIATE-RJ and no A-ABORT PDU is sent).",
    "integrity": "A record integrity failure on an established association (TLS alert "
                 "bad_record_mac or decryption failure) closes the connection; the "
                 "association ends with an A-P-ABORT indication, provider reason 0.",
}


@dataclass(frozen=True, slots=True)
class SuiteEntry:
    """A cipher suite the configuration offers."""

    protocol: str  # "TLSv1.3" | "TLSv1.2"
    code: int
    iana: str
    openssl: str

    def to_dict(self) -> dict[str, Any]:
        return {"protocol": self.protocol, "code": f"0x{self.code:04X}", "iana": self.iana,
                "openssl": self.openssl}


@dataclass(frozen=True, slots=True)
class CertificateEntry:
    """A certificate this application presents."""

    path: str
    subject: str
    key_type: str
    key_bits: int
    signature_hash: str | None
    not_after: str
    problems: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "subject": self.subject, "key_type": self.key_type,
                "key_bits": self.key_bits, "signature_hash": self.signature_hash,
                "not_after": self.not_after, "problems": list(self.problems)}


@dataclass(frozen=True, slots=True)
class ConformanceSection:
    """The security section; :meth:`to_markdown` for the statement, :meth:`to_dict` for tools."""

    profile: str
    title: str
    edition: str
    port: int
    versions: tuple[str, ...]
    tls13_suites: tuple[SuiteEntry, ...]
    tls12_suites: tuple[SuiteEntry, ...]
    groups: tuple[str, ...]
    signature_algorithms: tuple[str, ...]
    certificates: tuple[CertificateEntry, ...]
    trust_anchors: tuple[str, ...]
    require_client_cert: bool
    missing_suites: tuple[str, ...]

    @property
    def mutual_authentication(self) -> dict[str, str]:
        return {
            "scp": "required: the SCP requests a client certificate and refuses connections "
                   "without one that chains to the trust anchors"
            if self.require_client_cert else
            "optional (--no-client-auth): a client certificate is requested and checked when "
            "presented; connections without one are accepted",
            "scu": "the SCU always authenticates the SCP's certificate against the trust "
                   "anchors and presents its own certificate when one is configured",
        }

    @property
    def key_management(self) -> tuple[str, ...]:
        anchors = ", ".join(self.trust_anchors) or "(none given: configure --trust)"
        return (
            "Private keys and certificates are read from PEM files given on the command line "
            "(--cert/--key; an RSA and an EC certificate may be loaded side by side). They are "
            "not generated, rotated or stored by the application.",
            f"Trust anchors: {anchors}. Peer certificates must chain to them.",
            "Peer certificates are validated after the handshake by the toolkit's one "
            "validator (RFC 5280 path, key usage, revocation): with --crl files every "
            "certificate of the path must have a known status; CRL distribution points and "
            "OCSP responders named in the certificates are queried unless --offline; a status "
            "that cannot be determined refuses the connection unless --soft-fail.",
            "Peer certificate policy, enforced after the handshake and before any PDU: RSA "
            "keys ≥ 2048 bits, EC keys ≥ 256 bits, signature hash SHA-256 or better.",
            "Host names are not checked against the certificate, and the peer's identity is "
            "not mapped to AE titles.",
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "profile": self.profile, "title": self.title, "edition": self.edition,
            "ports": [{"port": self.port, "transport": "tcp", "service": "DIMSE over TLS",
                       "registered": "2762/tcp dicom-tls"}],
            "versions": list(self.versions),
            "refused_versions": ["SSL 3.0", "TLS 1.0", "TLS 1.1"],
            "cipher_suites": {"TLSv1.3": [s.to_dict() for s in self.tls13_suites],
                              "TLSv1.2": [s.to_dict() for s in self.tls12_suites]},
            "groups": list(self.groups), "dhe": "not negotiated in TLS 1.2",
            "signature_algorithms": list(self.signature_algorithms),
            "certificates": [c.to_dict() for c in self.certificates],
            "key_management": list(self.key_management),
            "mutual_authentication": self.mutual_authentication,
            "failure_behaviour": dict(_FAILURES),
            "audit": _AUDIT,
            "missing_suites": list(self.missing_suites),
        }

    def to_markdown(self) -> str:
        out = [f"## Security: {self.title}", "",
               f"Profile: **{self.title}** ({self.edition})", "",
               "### TCP ports", "",
               "| Port | Protocol | Use |", "|---|---|---|",
               f"| {self.port}/tcp | DIMSE over TLS | Storage SCP, Verification SCP |", "",
               "2762/tcp (\"dicom-tls\") is the registered port for DIMSE over TLS. The "
               "connection is TLS from its first byte (no upgrade of a plain connection); no "
               "plain TCP port is opened by this configuration.", "",
               "### Protocol versions", ""]
        out += [f"* {v}" for v in self.versions]
        out += ["* SSL 3.0, TLS 1.0 and TLS 1.1 are refused (RFC 8996).",
                "* No compression, no renegotiation, no 0-RTT early data.", "",
                "### Cipher suites (IANA names, in order of preference)", ""]
        for label, suites in (("TLS 1.3", self.tls13_suites), ("TLS 1.2", self.tls12_suites)):
            out += [f"{label}:", ""]
            out += [f"* `{s.iana}` (0x{s.code:04X})" for s in suites] or ["* (none)"]
            out.append("")
        if not self.certificates:
            out += ["TLS 1.2 suites are offered for the authentication types (RSA, ECDSA) of "
                    "the certificates loaded; with no certificate given, all are listed.", ""]
        out += ["### Key exchange and signatures", "",
                "* Groups: " + ", ".join(self.groups) + ". X25519 and X448 are not offered "
                "(X25519 counts as 253 bits, below the 256-bit minimum).",
                "* TLS 1.2 DHE is not negotiated (no DH parameters are loaded).",
                "* Handshake signature algorithms: " + ", ".join(self.signature_algorithms)
                + ".", "", "### Certificates", ""]
        if self.certificates:
            out += ["| Certificate | Subject | Key | Signature hash | Valid until |",
                    "|---|---|---|---|---|"]
            out += [f"| {c.path} | {c.subject} | {c.key_type} {c.key_bits} bits | "
                    f"{c.signature_hash or '-'} | {c.not_after} |" for c in self.certificates]
            for c in self.certificates:
                out += [f"\n**Warning:** {c.path}: {p}" for p in c.problems]
        else:
            out.append("(no certificate given)")
        out += ["", "### Key management", ""]
        out += [f"* {line}" for line in self.key_management]
        out += ["", "### Mutual authentication", ""]
        out += [f"* {role.upper()}: {text}." for role, text in self.mutual_authentication.items()]
        out += ["", "### Failure behaviour", ""]
        out += [f"* {key.upper() if key != 'integrity' else 'Integrity'}: {text}"
                for key, text in _FAILURES.items()]
        out += ["", "### Audit", "", _AUDIT, ""]
        if self.missing_suites:
            out += ["**Not conformant:** the running configuration does not offer "
                    + ", ".join(self.missing_suites) + ".", ""]
        return "\n".join(out)


_AUDIT = ("Every rejected TLS connection (handshake failure, missing or refused client "
          "certificate, idle handshake timeout) is logged by the SCP with the peer address "
          "and the reason.")


def _certificate(path: Path, prof: tls.TlsProfile) -> tuple[CertificateEntry, str]:
    from cryptography import x509

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InvalidInput(f"cannot read certificate: {exc.strerror or exc}",
                           path=str(path)) from None
    try:
        cert = (x509.load_pem_x509_certificate(data) if b"-----BEGIN" in data
                else x509.load_der_x509_certificate(data))
    except ValueError:
        raise InvalidInput("not a PEM or DER certificate", path=str(path)) from None
    from cryptography.hazmat.primitives.serialization import Encoding

    info = certificate_info(cert.public_bytes(Encoding.DER), str(path), prof)
    auth = "auth-rsa" if info.key_type == "RSA" else "auth-ecdsa"
    return (CertificateEntry(str(path), info.subject, info.key_type, info.key_bits,
                             info.signature_hash, cert.not_valid_after_utc.date().isoformat(),
                             info.problems), auth)


def security_section(
    profile: str,
    port: int,
    certs: Sequence[Path],
    trust: TrustStore | None,
    require_client_cert: bool = True,
    *,
    keys: Sequence[Path] = (),
) -> ConformanceSection:
    """The Conformance Statement security section for ``dicomsec scp`` with these options.

    With ``keys`` (one per certificate) the server context is built exactly as ``scp`` builds
    it, which also proves the pairs load under the profile; without, the profile's base context
    gives the suites.
    """
    prof = tls.profile(profile)
    if not 0 < port < 65536:
        raise InvalidInput(f"port {port} out of range")
    entries, auths = [], set()
    for path in certs:
        entry, auth = _certificate(Path(path), prof)
        entries.append(entry)
        auths.add(auth)
    if keys:
        if len(keys) != len(certs):
            raise InvalidInput("give one --key per --cert")
        ctx = tls.server_context(prof.name, list(zip(certs, keys, strict=True)),
                                 trust or TrustStore(),
                                 require_client_cert=require_client_cert)
    else:
        # the suite list is the one server_context and client_context share
        ctx = tls._base_context(prof, server=True)
    tls13: list[SuiteEntry] = []
    tls12: list[SuiteEntry] = []
    for cipher in ctx.get_ciphers():
        code = cipher["id"] & 0xFFFF
        iana = _iana.SUITES.get(code, (cipher["name"], ""))[0]
        entry13 = cipher["protocol"] == "TLSv1.3"
        if not entry13 and auths and cipher.get("auth") not in auths:
            continue
        (tls13 if entry13 else tls12).append(
            SuiteEntry("TLSv1.3" if entry13 else "TLSv1.2", code, iana, cipher["name"]))
    missing = tuple(tls.missing_suites(ctx, prof.name))
    groups = tuple(f"{_iana.group_by_openssl(g).name} ({g})" if g.startswith("P-")
                   else _iana.group_by_openssl(g).name for g in prof.groups)
    sigalgs = tuple(_iana.sigalg_by_openssl(s).name for s in prof.sigalgs)
    return ConformanceSection(
        profile=prof.name, title=prof.title, edition=_EDITIONS[prof.name], port=port,
        versions=("TLS 1.3 (preferred: chosen whenever the peer offers it)", "TLS 1.2"),
        tls13_suites=tuple(tls13), tls12_suites=tuple(tls12), groups=groups,
        signature_algorithms=sigalgs, certificates=tuple(entries),
        trust_anchors=tuple(c.subject.rfc4514_string() for c in (trust.anchors if trust else ())),
        require_client_cert=require_client_cert,
        missing_suites=missing)
