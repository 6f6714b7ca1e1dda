"""The endpoint scanner's rules: each judges the gathered facts against one part of the profile
text and cites its clause. A MUST broken is ``fail``, a SHOULD or a recommendation ``warn``.

B.13 ("Modified BCP 195") lists what is permitted and required; B.12 lists no suites and
defers to BCP 195 (RFC 8996 + RFC 9325), whose cipher-suite advice is mostly SHOULD.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

from dicomsec.transport import _iana, tls
from dicomsec.transport._scan_facts import Facts
from dicomsec.transport._scan_probe import Hello
from dicomsec.transport._scan_report import CertificateInfo, Check, Status, certificate_info

__all__ = ["RULES", "Judge"]

Level = Literal["MUST", "SHOULD", "MAY"]
_B12_MUTUAL = ("PS3.15 B.12/B.13: servers shall support mutual authentication, but may be "
               "configured not to use it")
_RFC8996 = "RFC 8996 §2-§5 (PS3.15 B.12/B.13)"


@dataclass(frozen=True, slots=True)
class Judge:
    """The profile a scan judges against, and the certificates it saw."""

    prof: tls.TlsProfile
    certificates: tuple[CertificateInfo, ...]

    @property
    def strict(self) -> bool:
        return self.prof.name == "b13"

    @property
    def text(self) -> str:
        return "PS3.15 B.13" if self.strict else "PS3.15 B.12"

    def auth_types(self) -> set[str]:
        return {"RSA" if c.key_type == "RSA" else "ECDSA"
                for c in self.certificates if c.position == 0 and c.key_type != "?"}


def _grade(ok: bool, level: Level) -> Status:
    if ok:
        return "pass"
    grades: dict[Level, Status] = {"MUST": "fail", "SHOULD": "warn", "MAY": "info"}
    return grades[level]


def _described(answer: Hello) -> str:
    text = (f"{_iana.VERSIONS.get(answer.version or 0, '?')} "
            f"{_iana.suite_name(answer.suite or 0)}")
    return text + (f", group {_iana.group_name(answer.group)}" if answer.group else "")


def _names(codes: Iterable[int]) -> str:
    return ", ".join(_iana.suite_name(c) for c in codes)


def versions(f: Facts, j: Judge) -> list[Check]:
    out = []
    for version, answer in f.legacy.items():
        name = _iana.VERSIONS[version]
        took = answer.accepted and answer.version == version
        out.append(Check(f"version.{name}", f"{name} refused", "fail" if took else "pass",
                         f"accepted: {_described(answer)}" if took
                         else answer.why_refused() if not answer.accepted
                         else f"server answered {_iana.VERSIONS.get(answer.version or 0, '?')}",
                         _RFC8996))
    out.append(Check("version.TLS 1.2", "TLS 1.2 accepted", _grade(f.tls12_ok, "MUST"),
                     _described(f.tls12) if f.tls12_ok else f.tls12.why_refused(),
                     f"{j.text}: TLS 1.2 shall be supported"))
    level: Level = "MUST" if j.strict else "SHOULD"
    out.append(Check("version.TLS 1.3", "TLS 1.3 accepted", _grade(f.tls13_ok, level),
                     _described(f.tls13) if f.tls13_ok else f.tls13.why_refused(),
                     "PS3.15 B.13: TLS 1.3 suites required" if j.strict
                     else "RFC 9325 §3.1.1: SHOULD support TLS 1.3"))
    both = f.both
    if f.tls13_ok:
        out.append(Check("version.prefer-1.3", "TLS 1.3 preferred when offered with TLS 1.2",
                         _grade(both.accepted and both.version == 0x0304, "MUST"),
                         f"chose {_described(both)}" if both.accepted else both.why_refused(),
                         "RFC 9325 §3.1.1: MUST prefer TLS 1.3"))
    else:
        out.append(Check("version.prefer-1.3", "TLS 1.3 preferred when offered with TLS 1.2",
                         "info", "not applicable: TLS 1.3 not accepted",
                         "RFC 9325 §3.1.1"))
    return out


def _permitted13(code: int) -> bool:
    return code in (0x1301, 0x1302, 0x1303, 0x1304, 0x1305)


def _permitted12_b13(code: int, dh_bits: int | None) -> bool:
    t = _iana.traits(code)
    aead = any(t.cipher.startswith(c) for c in (
        "AES_128_GCM", "AES_256_GCM", "AES_128_CCM", "AES_256_CCM", "CAMELLIA_128_GCM",
        "CAMELLIA_256_GCM", "CHACHA20_POLY1305"))
    if t.kx == "DHE" and (dh_bits or 0) < 2048:
        return False
    return t.kx in ("ECDHE", "DHE") and t.auth in ("ECDSA", "RSA") and aead


def required_suites(f: Facts, j: Judge) -> list[Check]:
    out = []
    accepted12, accepted13 = set(f.accepted12()), set(f.accepted13())
    auths = j.auth_types()
    for openssl in j.prof.tls12_suites:
        code = _iana.suite_by_openssl(openssl)
        name = _iana.suite_name(code)
        took = code in accepted12
        if j.strict:
            out.append(Check(f"tls12.{name}", f"TLS 1.2 {name} accepted", _grade(took, "MUST"),
                             "accepted" if took else "refused",
                             "PS3.15 B.13: required TLS 1.2 suite"))
            continue
        auth = _iana.traits(code).auth
        status: Status = "pass" if took else "warn" if auth in auths else "info"
        detail = ("accepted" if took else "refused" if auth in auths
                  else f"refused; the server presents no {auth} certificate")
        out.append(Check(f"tls12.{name}", f"TLS 1.2 {name} accepted", status, detail,
                         "RFC 9325 §4.2: recommended suite (B.12 lists no suites)"))
    if j.strict:
        camellia = sorted(c for c in accepted12 if "CAMELLIA" in _iana.suite_name(c)
                          and _iana.traits(c).aead)
        out.append(Check("tls12.camellia-gcm",
                         "TLS 1.2 ECDHE Camellia-GCM (optional since CP 2311)", "info",
                         f"accepted: {_names(camellia)}" if camellia else "not supported",
                         "PS3.15 B.13 as amended by CP 2311"))
    for name in j.prof.tls13_suites:
        code = _iana.suite_by_openssl(name)
        took = code in accepted13
        status = _grade(took, "MUST") if j.strict else (
            "pass" if took else "warn" if f.tls13_ok else "info")
        out.append(Check(f"tls13.{name}", f"TLS 1.3 {name} accepted", status,
                         "accepted" if took else "refused",
                         "PS3.15 B.13: required TLS 1.3 suite" if j.strict
                         else "RFC 8446 §9.1, RFC 9325 §4.3"))
    return out


#: forbidden or discouraged TLS 1.2 suite families: id, label, B.12 level, B.12 clause
_FAMILIES: tuple[tuple[str, str, Level, str], ...] = (
    ("cbc", "CBC suites", "SHOULD", "RFC 9325 §4.2: AEAD suites recommended"),
    ("rsa-kx", "RSA key transport suites", "SHOULD", "RFC 9325 §4.1: SHOULD NOT static RSA"),
    ("static-dh", "static DH suites", "SHOULD", "RFC 9325 §4.1: SHOULD NOT static DH"),
    ("static-ecdh", "static ECDH suites", "SHOULD", "RFC 9325 §4.1: forward secrecy"),
    ("3des", "3DES suites", "SHOULD", "RFC 9325 §4.1: SHOULD NOT < 128-bit security"),
    ("des", "DES, RC2 and IDEA suites", "MUST", "RFC 9325 §4.1: MUST NOT < 112-bit security"),
    ("rc4", "RC4 suites", "MUST", "RFC 9325 §4.1: MUST NOT RC4 (RFC 7465)"),
    ("null", "NULL-encryption suites", "MUST", "RFC 9325 §4.1: MUST NOT NULL encryption"),
    ("anon", "anonymous suites", "MUST", "PS3.15 B.12 (BCP 195): no anonymous suites"),
    ("export", "export suites", "MUST", "RFC 9325 §4.1: MUST NOT export-level encryption"),
)


def _families(code: int) -> set[str]:
    """Every forbidden or discouraged family a suite belongs to (an RSA key transport CBC
    suite is both ``rsa-kx`` and ``cbc``)."""
    t = _iana.traits(code)
    cipher = t.cipher
    members = {
        "cbc": t.cbc, "rsa-kx": t.kx == "RSA" and t.auth == "RSA",
        "static-dh": t.kx == "DH" and t.auth != "anon",
        "static-ecdh": t.kx == "ECDH" and t.auth != "anon",
        "3des": cipher.startswith("3DES"),
        "des": cipher.startswith(("DES_", "DES40", "RC2", "IDEA")),
        "rc4": cipher.startswith("RC4"), "null": cipher.startswith("NULL"),
        "anon": t.auth == "anon", "export": t.export,
    }
    return {name for name, hit in members.items() if hit}


def forbidden_suites(f: Facts, j: Judge) -> list[Check]:
    out = []
    accepted = f.accepted12()
    for key, label, level, clause in _FAMILIES:
        hits = [c for c in accepted if key in _families(c)]
        status = ("fail" if j.strict else _grade(False, level)) if hits else "pass"
        out.append(Check(f"forbidden.{key}", f"{label} refused", status,
                         f"accepted {_names(hits)}" if hits
                         else "none accepted (every registered code offered)",
                         f"PS3.15 B.13: {label} forbidden" if j.strict else clause))
    if j.strict:
        outside = [c for c in accepted if not _permitted12_b13(c, _dh_bits(f, c))]
        out.append(Check("suites.tls12.permitted",
                         "every accepted TLS 1.2 suite is permitted by the profile",
                         _grade(not outside, "MUST"),
                         f"not permitted: {_names(outside)}" if outside
                         else f"{len(accepted)} accepted, all permitted",
                         "PS3.15 B.13: permitted key exchange, authentication and ciphers"))
    else:
        other = [c for c in accepted if not _families(c)
                 and not (_iana.traits(c).aead and _iana.traits(c).forward_secret)]
        out.append(Check("suites.tls12.permitted",
                         "accepted TLS 1.2 suites are among BCP 195's recommendations",
                         "warn" if other else "pass",
                         f"not recommended: {_names(other)}" if other
                         else f"{len(accepted)} accepted, all forward-secret AEAD or flagged above",
                         "RFC 9325 §4.1-§4.2"))
    outside13 = [c for c in f.accepted13() if not _permitted13(c)]
    null13 = [c for c in outside13 if _iana.traits(c).cipher == "NULL"]
    status13 = _grade(not outside13, "MUST") if j.strict else _grade(not null13, "MUST")
    out.append(Check("suites.tls13.permitted",
                     "every accepted TLS 1.3 suite is permitted by the profile", status13,
                     f"also accepted: {_names(outside13)}" if outside13
                     else f"{len(f.accepted13())} accepted, all permitted",
                     "PS3.15 B.13: permitted TLS 1.3 suites" if j.strict
                     else "RFC 9325 §4.1: MUST NOT NULL encryption"))
    out.append(Check("suites.accepted", "accepted suites (full enumeration)", "info",
                     f"TLS 1.3: {_names(f.accepted13()) or 'none'}; TLS 1.2: "
                     f"{_names(accepted) or 'none'}", "informative"))
    return out


def _dh_bits(f: Facts, code: int) -> int | None:
    return next((h.dh_bits for h in f.suites12 if h.suite == code), None)


def key_exchange(f: Facts, j: Judge) -> list[Check]:
    fs = [c for c in f.accepted12() if _iana.traits(c).forward_secret]
    out = [Check("forward-secrecy", "forward-secret suites supported",
                 _grade(bool(fs) or f.tls13_ok, "MUST"),
                 f"{len(fs)} forward-secret TLS 1.2 suites" + (", TLS 1.3" if f.tls13_ok else ""),
                 "RFC 9325 §4.1: MUST support forward secrecy")]
    dhe = [(h.suite, h.dh_bits or 0) for h in f.suites12
           if h.suite is not None and _iana.traits(h.suite).kx == "DHE"]
    small = [f"{_iana.suite_name(c)} with a {bits}-bit group" for c, bits in dhe if bits < 2048]
    out.append(Check("dhe.size", "DHE only with ≥ 2048-bit groups",
                     _grade(not small, "MUST" if j.strict else "SHOULD"),
                     "; ".join(small) if small else
                     (f"{len(dhe)} DHE suites, all ≥ 2048 bits" if dhe else "DHE not negotiated"),
                     "PS3.15 B.13: DHE ≥ 2048 bits" if j.strict else "RFC 9325 §4.5"))
    return out


def signatures(f: Facts, j: Judge) -> list[Check]:
    out = []
    table: tuple[tuple[str, str, Level, str], ...] = (
        ("sha1", "SHA-1", "MUST", "RFC 9155 §2: MUST NOT SHA-1 signatures in TLS 1.2"),
        ("sha224", "SHA-224", "MUST" if j.strict else "SHOULD",
         "PS3.15 B.13: SHA-256 or better" if j.strict
         else "RFC 9325 §4.1: SHOULD NOT < 128-bit security"),
        ("sha512", "SHA-512", "MUST" if j.strict else "MAY",
         "PS3.15 B.13: hash functions SHA-256 and SHA-384" if j.strict
         else "informative (B.12 names no hash list)"),
    )
    for key, label, level, clause in table:
        answer = f.sigalgs.get(key)
        if answer is None:
            continue
        scheme = _iana.SIGALGS.get(answer.sigalg or 0)
        took = answer.accepted and scheme is not None and scheme.hash == label
        status = _grade(not took, level) if key != "sha512" or j.strict else "info"
        out.append(Check(f"sigalgs.{key}",
                         f"TLS 1.2 handshake signatures with {label} refused", status,
                         f"signed with {scheme.name if scheme else '?'} when offered only "
                         f"{label} schemes" if took else
                         (f"signed with {scheme.name}" if answer.accepted and scheme
                          else answer.why_refused()), clause))
    return out


def _group_list(codes: Iterable[int]) -> str:
    return ", ".join(_iana.group_name(c) for c in codes) or "none"


def _weak_group(code: int, strict: bool) -> bool:
    group = _iana.GROUPS.get(code)
    if group is None:
        return strict
    if group.kind == "ffdhe":
        return group.bits < 2048
    if strict:
        return group.kind not in ("ec", "ecx") or group.bits < 256
    return group.kind in ("ec", "ecx") and group.bits < 224


def groups(f: Facts, j: Judge) -> list[Check]:
    out = []
    every = set(f.groups13) | set(f.groups12)
    for name, code in (("P-256", 0x17), ("P-384", 0x18), ("P-521", 0x19)):
        took = code in every
        out.append(Check(f"group.{name}", f"group {name} accepted",
                         "pass" if took else "warn" if name == "P-256" else "info",
                         "accepted" if took else "refused",
                         "RFC 8446 §9.1: secp256r1 MUST be supported" if name == "P-256"
                         else "optional"))
    took = 0x1D in every
    if j.strict:
        out.append(Check("group.X25519", "group X25519 refused (253 bits < 256)",
                         _grade(not took, "MUST"), "accepted" if took else "refused",
                         "PS3.15 B.13: ECDHE ≥ 256 bits (OpenSSL counts X25519 as 253)"))
    else:
        out.append(Check("group.X25519", "group X25519 (not required by B.12)", "info",
                         "accepted" if took else "refused", "optional"))
    for label, found in (("TLS 1.3", f.groups13), ("TLS 1.2", f.groups12)):
        weak = [c for c in found if _weak_group(c, j.strict)]
        out.append(Check(f"groups.weak.{label}", f"no weak key exchange group ({label})",
                         _grade(not weak, "MUST"),
                         f"accepted {_group_list(weak)}" if weak
                         else f"accepted: {_group_list(found)}",
                         "PS3.15 B.13: ECDHE ≥ 256 bits, DHE ≥ 2048 bits" if j.strict
                         else "RFC 9325 §4.1, §4.5: MUST NOT < 112-bit security"))
    if f.groups12_undetermined:
        out.append(Check("groups.undetermined.TLS 1.2", "groups that could not be told apart",
                         "info", "the server always picks its ECDSA certificate's curve: "
                         + _group_list(f.groups12_undetermined), "informative"))
    return out


def protocol_features(f: Facts, j: Judge) -> list[Check]:
    out = []
    deflate = f.compression.accepted and f.compression.compression == 1
    out.append(Check("compression", "TLS compression refused", _grade(not deflate, "SHOULD"),
                     "DEFLATE accepted" if deflate else "null compression only",
                     "RFC 9325 §3.3: SHOULD NOT support TLS-level compression"))
    if f.tls12_ok:
        out.append(Check("renegotiation.secure", "secure renegotiation (renegotiation_info)",
                         _grade(f.tls12.secure_renegotiation, "MUST"),
                         "supported" if f.tls12.secure_renegotiation else "not indicated",
                         "RFC 9325 §3.5: MUST support renegotiation_info (RFC 5746)"))
        out.append(Check("extended-master-secret", "extended master secret (TLS 1.2)",
                         _grade(f.tls12.extended_master_secret, "SHOULD"),
                         "supported" if f.tls12.extended_master_secret else "not supported",
                         "RFC 7627, RFC 9325 §3"))
    out.append(Check("renegotiation.client-initiated", "client-initiated renegotiation",
                     "info", "not tested (Python's ssl cannot renegotiate)", "RFC 9325 §3.5"))
    if f.tls13_ok:
        refused = f.scsv.alert == 86
        out.append(Check("downgrade.scsv", "TLS_FALLBACK_SCSV honoured",
                         _grade(refused, "SHOULD"),
                         "inappropriate_fallback" if refused else
                         (f"accepted {_described(f.scsv)}" if f.scsv.accepted
                          else f.scsv.why_refused()), "RFC 7507, RFC 9325 §3.1.3"))
        if f.tls12_ok:
            out.append(Check("downgrade.sentinel", "TLS 1.3 downgrade sentinel in TLS 1.2",
                             _grade(f.tls12.downgrade_sentinel, "MUST"),
                             "present" if f.tls12.downgrade_sentinel else "missing",
                             "RFC 8446 §4.1.3"))
    else:
        out.append(Check("downgrade.scsv", "TLS_FALLBACK_SCSV honoured", "info",
                         "not applicable: no version above TLS 1.2", "RFC 7507"))
    resumed = {name: s.resumed for name, s in f.sessions.items() if s.resumed is not None}
    out.append(Check("resumption", "session resumption", "info",
                     ", ".join(f"{k}: {'resumed' if v else 'full handshake'}"
                               for k, v in resumed.items()) or "not determined",
                     "RFC 9325 §3.4"))
    out.append(Check("early-data", "no 0-RTT early data", "info",
                     "not tested (Python's ssl cannot send early data); B.12/B.13 define no "
                     "use of it", "RFC 9325 §3.10"))
    return out


def client_auth(f: Facts, j: Judge) -> list[Check]:
    out = []
    requested = f.tls12.certificate_request or any(h.certificate_request for h in f.suites12)
    session = f.sessions.get("tls12")
    if not f.tls12_ok:
        out.append(Check("client-auth.tls12", "client certificate required (TLS 1.2)", "info",
                         "TLS 1.2 not available", _B12_MUTUAL))
    elif not requested:
        out.append(Check("client-auth.tls12", "client certificate required (TLS 1.2)", "warn",
                         "the server does not ask for a client certificate", _B12_MUTUAL))
    elif session is not None and session.handshake:
        out.append(Check("client-auth.tls12", "client certificate required (TLS 1.2)", "warn",
                         "asked for, but the handshake without one completed", _B12_MUTUAL))
    else:
        out.append(Check("client-auth.tls12", "client certificate required (TLS 1.2)", "pass",
                         f"handshake without a certificate failed "
                         f"({session.error if session else '?'})", _B12_MUTUAL))
    session = f.sessions.get("tls13")
    status: Status
    if not f.tls13_ok or session is None:
        status, detail = "info", "TLS 1.3 not available"
    elif not session.handshake:
        status, detail = "info", f"not determined: the handshake failed ({session.error})"
    elif session.after in ("timeout", "data"):
        status, detail = "warn", "the server accepted a connection without a client certificate"
    else:
        status, detail = "pass", f"after the handshake: {session.after}"
    out.append(Check("client-auth.tls13", "client certificate required (TLS 1.3)",
                     status, detail, _B12_MUTUAL))
    trusted = f.sessions.get("trust")
    if trusted is not None:
        error = trusted.error or ""
        verified = trusted.handshake or ("ALERT" in error
                                         and "CERTIFICATE_VERIFY_FAILED" not in error)
        out.append(Check("trust", "server certificate chains to --trust",
                         _grade(verified, "MUST"),
                         "verified" if verified else f"not verified ({error or 'no handshake'})",
                         "PS3.15 B.12/B.13: certificate-based authentication"))
    own = f.sessions.get("client")
    if own is not None:
        bad = not own.handshake or (own.after or "").startswith(("alert", "connection"))
        out.append(Check("client-auth.accepted", "our client certificate is accepted",
                         _grade(not bad, "MUST"),
                         (own.error or own.after or "") if bad else f"{own.version} {own.cipher}",
                         _B12_MUTUAL))
    return out


def certificate_infos(f: Facts, prof: tls.TlsProfile) -> tuple[CertificateInfo, ...]:
    """Every certificate of every chain the server presented (the leaf first)."""
    return tuple(certificate_info(der, seen, prof, position)
                 for seen, chain in f.chains() for position, der in enumerate(chain))


def certificate_strength(f: Facts, j: Judge) -> list[Check]:
    if not j.certificates:
        return [Check("certificate", "server certificate readable", "fail",
                      "no handshake gave a certificate",
                      "PS3.15 B.12/B.13: the server authenticates with a certificate")]
    level: Level = "MUST" if j.strict else "SHOULD"
    clause = ("PS3.15 B.13: RSA ≥ 2048 / EC ≥ 256 bits, signed with SHA-256 or better"
              if j.strict else "RFC 9325 §4.5; RFC 9155")
    out = []
    for info in j.certificates:
        suffix = "" if info.position == 0 else f" #{info.position}"
        who = f"{info.subject} ({info.seen_in}{suffix})"
        size = [p for p in info.problems if "signed with" not in p and "not readable" not in p]
        # a self-signed anchor's own signature is never checked by a path validation
        signed = [] if info.self_signed and info.position else [
            p for p in info.problems if "signed with" in p or "not readable" in p]
        out.append(Check(f"certificate.key.{info.seen_in}{suffix}",
                         f"server certificate key RSA ≥ {j.prof.min_rsa_bits} / "
                         f"EC ≥ {j.prof.min_ec_bits} bits", _grade(not size, level),
                         f"{who}: " + ("; ".join(size) or f"{info.key_type} {info.key_bits} bits"),
                         clause))
        out.append(Check(f"certificate.hash.{info.seen_in}{suffix}",
                         "server certificate signed with SHA-256 or better",
                         _grade(not signed, level),
                         f"{who}: " + ("; ".join(signed) or str(info.signature_hash)), clause))
    return out


def _leaf_checks(seen: str, der: bytes, host: str) -> list[Check]:
    import ipaddress

    from cryptography import x509
    from cryptography.x509.oid import ExtendedKeyUsageOID

    try:
        cert = x509.load_der_x509_certificate(der)
    except ValueError:
        return []
    out = []
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = [n.lower() for n in san.get_values_for_type(x509.DNSName)]
        ips = [str(a) for a in san.get_values_for_type(x509.IPAddress)]
        try:
            matched = str(ipaddress.ip_address(host)) in ips
        except ValueError:
            matched = any(n == host.lower() or (n.startswith("*.") and
                                                host.lower().partition(".")[2] == n[2:])
                          for n in names)
        status: Status = "pass" if matched else "warn"
        detail = (f"{host} matches" if matched else
                  f"{host} not among {', '.join(names + ips) or 'no names'}")
    except x509.ExtensionNotFound:
        status, detail = "warn", "no subjectAltName extension"
    out.append(Check(f"certificate.san.{seen}", "server certificate names the host (SAN)",
                     status, detail, "RFC 9325 §7.1 (RFC 6125)"))
    try:
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
        ku_ok, ku = usage.digital_signature, "digitalSignature " + (
            "present" if usage.digital_signature else "missing")
    except x509.ExtensionNotFound:
        ku_ok, ku = True, "no keyUsage extension (no restriction)"
    out.append(Check(f"certificate.key-usage.{seen}",
                     "server certificate may sign the handshake (keyUsage)",
                     _grade(ku_ok, "MUST"), ku, "RFC 5280 §4.2.1.3, RFC 8446 §4.4.2.2"))
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        eku_ok = ExtendedKeyUsageOID.SERVER_AUTH in eku or \
            ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE in eku
        detail = "serverAuth " + ("present" if eku_ok else "missing")
    except x509.ExtensionNotFound:
        eku_ok, detail = True, "no extendedKeyUsage extension (no restriction)"
    out.append(Check(f"certificate.eku.{seen}", "server certificate usable for TLS servers "
                     "(extendedKeyUsage)", _grade(eku_ok, "SHOULD"), detail,
                     "RFC 5280 §4.2.1.12"))
    return out


def _chain_order(chain: tuple[bytes, ...]) -> str | None:
    """What is wrong with the order of a presented chain (None: each certifies the one before)."""
    from cryptography import x509

    try:
        certs = [x509.load_der_x509_certificate(d) for d in chain]
    except ValueError:
        return "a certificate is not readable"
    for below, above in itertools.pairwise(certs):
        if below.issuer != above.subject:
            return (f"{above.subject.rfc4514_string()} did not issue "
                    f"{below.subject.rfc4514_string()}")
    return None


def certificate_details(f: Facts, j: Judge) -> list[Check]:
    out = []
    for seen, chain in f.chains():
        out += _leaf_checks(seen, chain[0], f.host)
        problem = _chain_order(chain)
        out.append(Check(f"certificate.chain.{seen}", "certificate chain in order",
                         _grade(problem is None, "SHOULD"),
                         problem or f"{len(chain)} certificate{'s' if len(chain) > 1 else ''}"
                         " as sent, each certified by the next",
                         "RFC 8446 §4.4.2, RFC 5246 §7.4.2"))
    return out


Rule = Callable[[Facts, Judge], list[Check]]

#: the scan, as a table: each rule judges one part of the profile
RULES: tuple[Rule, ...] = (versions, required_suites, forbidden_suites, key_exchange,
                           signatures, groups, protocol_features, client_auth,
                           certificate_strength, certificate_details)
