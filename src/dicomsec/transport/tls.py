"""TLS contexts for the DICOM Secure Transport Connection Profiles B.12 and B.13 (Supplement 230).

B.12 "BCP 195 RFC 8996 TLS": TLS 1.2 and 1.3, the four ECDHE + AES-GCM TLS 1.2 suites.
B.13 "Modified BCP 195 RFC 8996 TLS": also AES-CCM, CCM_8 and ChaCha20-Poly1305 (TLS 1.2 and
1.3), ECDHE groups of at least 256 bits, handshake signatures with SHA-256 or better, peer
certificates RSA ≥ 2048 / EC ≥ 256 signed with SHA-256 or better. Camellia-GCM (optional since
CP 2311) is not in OpenSSL.

Python 3.11's ``ssl`` cannot set TLS 1.3 suites, groups or signature algorithms; they come from
an OpenSSL configuration file named by ``OPENSSL_CONF`` **before** ``ssl`` is imported, for the
whole process (:func:`arrange_openssl_conf`). :func:`missing_suites` tells whether that worked;
the command line tool refuses to claim a profile whose suites are not really offered.

What SECLEVEL 2 does not reject (SHA-224 certificates, EC keys below 256 bits) is checked after
the handshake and before any DICOM data by :class:`PolicySSLSocket`, installed as the context's
``sslsocket_class``; so is the peer's certificate under the context's
:class:`~dicomsec.trust.TrustStore` (:meth:`~dicomsec.trust.TrustStore.validate`, the one
validator: path, key usage for the peer's side, revocation by CRL and OCSP), OpenSSL having
checked the chain to the anchors during the handshake. Each context is a ``ProfileContext``
(an ``ssl.SSLContext`` subclass) that carries its profile and store, so the check of a socket
reads those of the very context that wrapped it: contexts of different profiles can serve side
by side in one process, from any thread.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import functools
import os
import sys
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dicomsec import get_logger
from dicomsec.errors import InvalidInput, PolicyViolation
from dicomsec.transport import _iana

if TYPE_CHECKING:
    import ssl

    from cryptography import x509

    from dicomsec.trust import ChainResult, TrustStore

__all__ = [
    "PROFILES",
    "TlsProfile",
    "arrange_openssl_conf",
    "certificate_problems",
    "client_context",
    "context_profile",
    "missing_suites",
    "negotiated",
    "peer_trust_problem",
    "peer_usage_problems",
    "server_context",
]

_log = get_logger(__name__)

DIMSE_TLS_PORT = 2762

#: the least time the validation of a peer's certificate is given during a handshake when it
#: may fetch CRLs or OCSP responses (seconds; the socket's timeout when that is longer): two
#: fetches of the validator's own 5 s timeout, and no more
PEER_VALIDATION_SECONDS = 10.0


@dataclass(frozen=True, slots=True)
class TlsProfile:
    """One secure transport connection profile."""

    name: str  # "b12" | "b13"
    title: str
    tls12_suites: tuple[str, ...]  # OpenSSL names
    tls13_suites: tuple[str, ...]  # IANA names (as OpenSSL spells them)
    groups: tuple[str, ...]
    sigalgs: tuple[str, ...]
    min_rsa_bits: int = 2048
    min_ec_bits: int = 256


_B12_TLS12 = (
    "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-AES256-GCM-SHA384",
)
_B13_TLS12 = (
    *_B12_TLS12,
    "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305",
    "ECDHE-ECDSA-AES128-CCM", "ECDHE-ECDSA-AES256-CCM",
    "ECDHE-ECDSA-AES128-CCM8", "ECDHE-ECDSA-AES256-CCM8",
)
_TLS13_GCM = ("TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256", "TLS_AES_128_GCM_SHA256")
#: B.12's TLS 1.3 suites in an order that differs from OpenSSL's default, so that a
#: configuration that was not read shows in :func:`missing_suites`
_TLS13_B12 = ("TLS_AES_256_GCM_SHA384", "TLS_AES_128_GCM_SHA256", "TLS_CHACHA20_POLY1305_SHA256")
_TLS13_B13 = (*_TLS13_GCM, "TLS_AES_128_CCM_SHA256", "TLS_AES_128_CCM_8_SHA256")
#: ECDHE groups of at least 256 bits (X25519 counts 253 in OpenSSL, as DCMTK reads the rule)
_GROUPS = ("P-256", "P-384", "P-521", "ffdhe2048", "ffdhe3072", "ffdhe4096")
#: handshake signatures with SHA-256 or better (SECLEVEL 2 alone lets rsa_pkcs1_sha224 pass)
_SIGALGS = (
    "ECDSA+SHA256", "ECDSA+SHA384", "ECDSA+SHA512",
    "rsa_pss_rsae_sha256", "rsa_pss_rsae_sha384", "rsa_pss_rsae_sha512",
    "rsa_pss_pss_sha256", "rsa_pss_pss_sha384", "rsa_pss_pss_sha512",
    "RSA+SHA256", "RSA+SHA384", "RSA+SHA512",
)
#: B.13 names SHA-256 and SHA-384 as its hash functions: no SHA-512 handshake signatures (so
#: an ECDSA P-521 key cannot sign a TLS 1.3 handshake under B.13; see docs/transport.md)
_SIGALGS_B13 = tuple(s for s in _SIGALGS if _iana.sigalg_by_openssl(s).hash != "SHA-512")

PROFILES: dict[str, TlsProfile] = {
    "b12": TlsProfile("b12", "BCP 195 RFC 8996 TLS Secure Transport Connection Profile (B.12)",
                      _B12_TLS12, _TLS13_B12, _GROUPS, _SIGALGS),
    "b13": TlsProfile("b13", "Modified BCP 195 RFC 8996 TLS Secure Transport Connection "
                      "Profile (B.13)", _B13_TLS12, _TLS13_B13, _GROUPS, _SIGALGS_B13),
}


def profile(name: str | TlsProfile) -> TlsProfile:
    """The profile called ``name`` (``b12`` or ``b13``); a :class:`TlsProfile` is returned as is.

    Raises:
        InvalidInput: unknown profile name.
    """
    if isinstance(name, TlsProfile):
        return name
    try:
        return PROFILES[name.lower()]
    except KeyError:
        raise InvalidInput(f"unknown TLS profile {name!r}; choose b12 or b13") from None


def openssl_conf_text(prof: TlsProfile) -> str:
    """An OpenSSL configuration that sets what Python's ``ssl`` cannot (TLS 1.3 suites,
    groups, signature algorithms) for every context of the process."""
    return (
        "openssl_conf = dicomsec_init\n\n"
        "[dicomsec_init]\nssl_conf = dicomsec_ssl\n\n"
        "[dicomsec_ssl]\nsystem_default = dicomsec_tls\n\n"
        "[dicomsec_tls]\n"
        f"Ciphersuites = {':'.join(prof.tls13_suites)}\n"
        f"Groups = {':'.join(prof.groups)}\n"
        f"SignatureAlgorithms = {':'.join(prof.sigalgs)}\n"
        "MinProtocol = TLSv1.2\n"
    )


def arrange_openssl_conf(name: str) -> Path:
    """Write the profile's OpenSSL configuration and point ``OPENSSL_CONF`` at it.

    Must run before ``ssl`` is imported (OpenSSL reads the file once, at initialisation).

    Raises:
        PolicyViolation: ``ssl`` is already imported, so the file would be ignored.
    """
    prof = profile(name)
    if "ssl" in sys.modules:
        raise PolicyViolation("the TLS profile must be arranged before the ssl module is "
                              "imported (internal ordering error)")
    fd, path = tempfile.mkstemp(prefix=f"dicomsec-{prof.name}-", suffix=".cnf")
    with os.fdopen(fd, "w") as fh:
        fh.write(openssl_conf_text(prof))
    previous = os.environ.get("OPENSSL_CONF")
    os.environ["OPENSSL_CONF"] = path
    try:
        import ssl

        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # OpenSSL has read the configuration now
    finally:
        # the file has done its work: remove it, and do not hand it to child processes
        with contextlib.suppress(OSError):
            os.unlink(path)
        if previous is None:
            os.environ.pop("OPENSSL_CONF", None)
        else:
            os.environ["OPENSSL_CONF"] = previous
    return Path(path)


@functools.cache
def _context_class() -> Any:
    import ssl

    class ProfileContext(ssl.SSLContext):
        """An ``SSLContext`` that carries its profile and trust store: the post-handshake
        certificate check of every socket it wraps reads them from here (no global map keyed
        by ``id``)."""

        profile: TlsProfile
        trust_store: TrustStore | None = None

    return ProfileContext


def context_profile(ctx: ssl.SSLContext) -> TlsProfile | None:
    """The profile a context built here enforces (``None`` for any other context)."""
    found = getattr(ctx, "profile", None)
    return found if isinstance(found, TlsProfile) else None


def _base_context(prof: TlsProfile, server: bool) -> ssl.SSLContext:
    import ssl

    ctx: ssl.SSLContext = _context_class()(
        ssl.PROTOCOL_TLS_SERVER if server else ssl.PROTOCOL_TLS_CLIENT)
    ctx.profile = prof  # type: ignore[attr-defined]
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.maximum_version = ssl.TLSVersion.MAXIMUM_SUPPORTED
    ctx.set_ciphers("@SECLEVEL=2:" + ":".join(prof.tls12_suites))
    ctx.options |= ssl.OP_NO_COMPRESSION | ssl.OP_NO_RENEGOTIATION
    if server:
        ctx.options |= ssl.OP_CIPHER_SERVER_PREFERENCE
    ctx.sslsocket_class = _policy_socket_class()
    return ctx


def _load_trust(ctx: ssl.SSLContext, trust: TrustStore) -> None:
    from dicomsec.trust import TrustStore

    if not isinstance(trust, TrustStore):
        raise InvalidInput("trust for a TLS context is a TrustStore "
                           "(TrustStore.from_paths([...]) loads files and folders)")
    _load_store(ctx, trust)


def _load_store(ctx: ssl.SSLContext, store: TrustStore) -> None:
    """The anchors, and the store's intermediates (``--untrusted``) so that OpenSSL can
    complete the chain of a peer that sends its leaf alone; partial chains stay off, so an
    intermediate never ends a chain: the path must still reach an anchor, and self-issued
    certificates among the intermediates are left out (they would be roots). The store
    itself goes on the context, for the validation of the peer's certificate after the
    handshake, which judges revocation (CRLs of the whole path, OCSP, fetching) and names the
    reason: OpenSSL is not given the CRLs (its leaf-only check would refuse a revoked peer
    without date or reason)."""
    import ssl

    from cryptography.hazmat.primitives.serialization import Encoding

    if store.empty:
        raise InvalidInput("a TLS profile context needs trust anchors (--trust)")
    certs = [*store.anchors, *(c for c in store.intermediates if c.subject != c.issuer)]
    pem = "".join(c.public_bytes(Encoding.PEM).decode("ascii") for c in certs)
    ctx.verify_flags &= ~ssl.VERIFY_X509_PARTIAL_CHAIN
    if hasattr(type(ctx), "trust_store"):
        ctx.trust_store = store  # type: ignore[attr-defined]
    try:
        ctx.load_verify_locations(cadata=pem)
    except (ssl.SSLError, ValueError) as exc:
        raise InvalidInput(f"cannot load trust anchors: {exc}") from None


def _load_pair(ctx: ssl.SSLContext, cert: Path, key: Path, password: bytes | None, *,
               server: bool) -> None:
    """Our own certificate and key: usable now as a TLS server's (or client's) certificate
    (:func:`dicomsec.trust.check_for_use`: validity, key usage, extended key usage), within
    the profile's minimums, then loaded."""
    import ssl

    from cryptography.hazmat.primitives.serialization import Encoding

    from dicomsec.keys import load_certificate
    from dicomsec.trust import KeyPurpose, check_for_use

    prof = context_profile(ctx)
    assert prof is not None, "a profile context"
    own = load_certificate(Path(cert))
    check_for_use(own, KeyPurpose.TLS_SERVER if server else KeyPurpose.TLS_CLIENT,
                  name="our TLS certificate", path=cert)
    problems = certificate_problems(own.public_bytes(Encoding.DER), prof)
    if problems:
        raise PolicyViolation(f"our own certificate does not meet profile {prof.name}: "
                              + "; ".join(problems), path=str(cert))

    try:
        ctx.load_cert_chain(str(cert), str(key), password=password)
    except ssl.SSLError as exc:
        raise InvalidInput(f"certificate/key not usable under the profile ({exc.reason or exc})",
                           path=str(cert)) from None
    except OSError as exc:
        raise InvalidInput(f"cannot read certificate or key: {exc.strerror or exc}",
                           path=str(cert)) from None


def server_context(
    name: str | TlsProfile,
    certs_and_keys: Sequence[tuple[Path, Path]],
    trust: TrustStore,
    *,
    require_client_cert: bool = True,
    key_password: bytes | None = None,
) -> ssl.SSLContext:
    """A server context for profile ``name`` (``b12``, ``b13`` or a :class:`TlsProfile`).

    Load an RSA and an EC certificate side by side to serve both suite families. Clients must
    present a certificate that chains to ``trust`` (a :class:`~dicomsec.trust.TrustStore`)
    unless ``require_client_cert`` is False, and that the store's validator accepts for a TLS
    client after the handshake (:func:`peer_trust_problem`: key usage, revocation by its CRLs,
    and by fetched CRLs and OCSP when ``trust.allow_fetching``). The context carries its
    profile (:func:`context_profile`) and the store.

    Raises:
        InvalidInput: unknown profile, no certificate, unreadable certificate, key or trust;
            our own certificate not usable now for a TLS server (``CertificateNotUsable``:
            expired, not yet valid, key usage without digitalSignature, extended key usage
            without serverAuth).
        PolicyViolation: our own certificate is below the profile's minimums.
    """
    import ssl

    prof = profile(name)
    if not certs_and_keys:
        raise InvalidInput("a TLS server needs a certificate and key")
    ctx = _base_context(prof, server=True)
    for cert, key in certs_and_keys:
        _load_pair(ctx, cert, key, key_password, server=True)
    _load_trust(ctx, trust)
    ctx.verify_mode = ssl.CERT_REQUIRED if require_client_cert else ssl.CERT_OPTIONAL
    return ctx


def client_context(
    name: str | TlsProfile,
    trust: TrustStore,
    *,
    cert: Path | None = None,
    key: Path | None = None,
    key_password: bytes | None = None,
    check_hostname: bool = False,
) -> ssl.SSLContext:
    """A client context for profile ``name``; the server must chain to ``trust`` (a
    :class:`~dicomsec.trust.TrustStore`) and pass its validator for a TLS server after the
    handshake (:func:`peer_trust_problem`).

    Raises:
        InvalidInput: unknown profile, unreadable certificate, key or trust; our own
            certificate not usable now for a TLS client (``CertificateNotUsable``, as for
            :func:`server_context` with clientAuth).
        PolicyViolation: our own certificate is below the profile's minimums.
    """
    import ssl

    prof = profile(name)
    ctx = _base_context(prof, server=False)
    ctx.check_hostname = check_hostname
    ctx.verify_mode = ssl.CERT_REQUIRED
    _load_trust(ctx, trust)
    if cert is not None and key is not None:
        _load_pair(ctx, cert, key, key_password, server=False)
    return ctx


def missing_suites(ctx: ssl.SSLContext, name: str | TlsProfile) -> list[str]:
    """What keeps the context from offering the profile (empty: all offered, and the profile's
    OpenSSL configuration is in effect, as the order of its TLS 1.3 suites shows)."""
    prof = profile(name)
    names = [c["name"] for c in ctx.get_ciphers()]
    missing = [s for s in (*prof.tls13_suites, *prof.tls12_suites) if s not in names]
    tls13 = [n for n in names if n.startswith("TLS_")]
    if not missing and tls13 != list(prof.tls13_suites):
        missing.append("the profile's OpenSSL configuration (TLS 1.3 suites, groups, "
                       "signature algorithms) is not in effect")
    return missing


def certificate_problems(der: bytes, prof: TlsProfile) -> list[str]:
    """What keeps a peer certificate from meeting the profile's minimums."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    try:
        cert = x509.load_der_x509_certificate(der)
        key = cert.public_key()
        algo = cert.signature_hash_algorithm
    except Exception as exc:  # malformed or unsupported peer certificate
        return [f"peer certificate not usable ({type(exc).__name__})"]
    problems = []
    if not isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
        problems.append(f"{type(key).__name__.removesuffix('PublicKey').lstrip('_')} key "
                        "(the profiles allow RSA and ECDSA)")
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < prof.min_rsa_bits:
        problems.append(f"RSA key of {key.key_size} bits (minimum {prof.min_rsa_bits})")
    if isinstance(key, ec.EllipticCurvePublicKey) and key.curve.key_size < prof.min_ec_bits:
        problems.append(f"EC key of {key.curve.key_size} bits (minimum {prof.min_ec_bits})")
    weak = (hashes.MD5, hashes.SHA1, hashes.SHA224)
    if algo is not None and isinstance(algo, weak):
        problems.append(f"signed with {algo.name.upper().replace('SHA', 'SHA-', 1)} "
                        "(minimum SHA-256)")
    return problems


def peer_usage_problems(der: bytes, *, server_side: bool) -> list[str]:
    """What keeps a peer's certificate from serving its side of the connection: the rules
    :func:`dicomsec.trust.usage_problems` applies to our own (a client's: clientAuth when an
    extended key usage is present; a server's: serverAuth; digitalSignature when a key usage
    is present). Validity and the chain are OpenSSL's to judge, during the handshake."""
    from cryptography import x509

    from dicomsec.trust import KeyPurpose, usage_problems

    try:
        cert = x509.load_der_x509_certificate(der)
        purpose = KeyPurpose.TLS_CLIENT if server_side else KeyPurpose.TLS_SERVER
        return [f"{purpose.label}: {p}" for p in usage_problems(cert, purpose)]
    except Exception as exc:  # malformed or unsupported peer certificate
        return [f"peer certificate not usable ({type(exc).__name__})"]


def _peer_chain(sock: Any, leaf: bytes) -> list[bytes]:
    """The verified chain without its trust anchor (the leaf alone when it is unavailable)."""
    import ssl

    verified = getattr(getattr(sock, "_sslobj", None), "get_verified_chain", None)
    if verified is None:
        return [leaf]
    try:
        certs = verified() or []
        return [c.public_bytes(ssl._ssl.ENCODING_DER)  # type: ignore[attr-defined]
                for c in certs[:-1]] or [leaf]
    except Exception:  # a private API: fall back to the leaf
        return [leaf]


def _refusal(result: ChainResult) -> str:
    """One line naming why the validator refused a peer's certificate."""
    if "revoked" in result.reasons:
        text = "peer certificate revoked"
        if result.revoked_at is not None:
            text += f" on {result.revoked_at:%Y-%m-%d %H:%M} UTC"
        if result.revocation_reason:
            text += f" ({result.revocation_reason})"
        return text
    reasons = ", ".join(result.reasons) or "invalid"
    return f"peer certificate not valid ({reasons}): " + "; ".join(result.problems)


def _bounded(func: Any, seconds: float) -> Any:
    """``func()`` in a daemon thread, waited for ``seconds`` at most (a dead OCSP responder
    or CRL server must not hold a handshake, or an SCP thread, for longer); ``None`` when it
    did not finish in time. An exception of ``func`` is returned, not raised."""
    box: list[Any] = []

    def run() -> None:
        try:
            box.append(func())
        except Exception as exc:  # handed to the caller
            box.append(exc)

    worker = threading.Thread(target=run, name="dicomsec-peer-validation", daemon=True)
    worker.start()
    worker.join(seconds)
    return box[0] if box else None


def _names_a_responder(certs: Sequence[x509.Certificate]) -> bool:
    """Whether any of ``certs`` names a CRL distribution point or an AIA (OCSP) URL: only
    then can the validation wait on the network."""
    from cryptography import x509

    for cert in certs:
        for cls in (x509.CRLDistributionPoints, x509.AuthorityInformationAccess):
            try:
                cert.extensions.get_extension_for_class(cls)
            except x509.ExtensionNotFound:
                continue
            except ValueError:  # a malformed extension: the validator will say so
                return True
            return True
    return False


def peer_trust_problem(store: TrustStore, der: bytes, chain: Sequence[bytes] = (), *,
                       server_side: bool, timeout: float | None = None) -> str | None:
    """Why the validator refuses a TLS peer's certificate ``der`` (``None``: it is valid now).

    :meth:`~dicomsec.trust.TrustStore.validate` at the current time, for a TLS client's
    purpose on the server side and a TLS server's on the client side, with the certificates
    the peer sent (``chain``, leaf first) as extra intermediates. When the store may fetch
    CRLs or OCSP responses and a certificate in play names a CRL distribution point or an
    OCSP URL, the validation is bounded by ``timeout`` seconds (default
    :data:`PEER_VALIDATION_SECONDS`): past it the status counts as undetermined (refused,
    unless the store is ``soft_fail``, which passes it with a warning in the log). Every
    reason of the validator refuses, a path it cannot build (``unknown-issuer``, ``invalid``)
    included: OpenSSL's acceptance in the handshake does not overrule it (the pyhanko validator
    takes what RFC 5280 allows and OpenSSL accepts, e.g. a CA without keyUsage).
    """
    from cryptography import x509

    from dicomsec.trust import KeyPurpose

    try:
        leaf = x509.load_der_x509_certificate(der)
        extra = [x509.load_der_x509_certificate(d) for d in chain[1:]]
    except ValueError:
        return "peer certificate not readable"
    purpose = KeyPurpose.TLS_CLIENT if server_side else KeyPurpose.TLS_SERVER
    now = _dt.datetime.now(_dt.UTC)

    def validate() -> ChainResult:
        return store.validate(leaf, at=now, purpose=purpose, extra_intermediates=extra)

    seconds = timeout or PEER_VALIDATION_SECONDS
    if store.allow_fetching and _names_a_responder([leaf, *extra, *store.intermediates]):
        result = _bounded(validate, seconds)
    else:  # no network I/O: bounded by the work of the path itself
        try:
            result = validate()
        except Exception as exc:  # e.g. a certificate with malformed extensions
            result = exc
    if result is None:
        if store.soft_fail:
            _log.warning("peer certificate %s: revocation status not determined within "
                         "%g s; passed (soft-fail)", leaf.subject.rfc4514_string(), seconds)
            return None
        return f"peer certificate: validation not finished within {seconds:g} s " \
               "(revocation status unknown)"
    if isinstance(result, Exception):
        return f"peer certificate cannot be validated ({type(result).__name__}: {result})"
    if result.trusted:
        for warning in getattr(result, "soft_fail_warnings", ()):
            _log.warning("peer certificate %s passed (soft-fail): %s",
                         leaf.subject.rfc4514_string(), warning)
        return None
    return _refusal(result)


@functools.cache
def _policy_socket_class() -> Any:
    import ssl

    class _PolicySSLSocket(ssl.SSLSocket):
        """Checks the peer certificate against the profile right after the handshake."""

        def do_handshake(self, block: bool = False) -> None:
            if self.server_side and not getattr(self, "_probe_checked", False):
                self._probe_checked = True
                _refuse_probe(self)
            super().do_handshake(block)
            prof = context_profile(self.context)
            if prof is None:
                return
            der = self.getpeercert(binary_form=True)
            if der is None:
                return  # no certificate: CERT_REQUIRED already decided
            _REFUSED.subject = None
            # the leaf and every intermediate (SECLEVEL 2 lets SHA-224 and small EC keys pass
            # anywhere in the chain); the trust anchor itself is configuration
            problems = [p for d in _peer_chain(self, der) for p in certificate_problems(d, prof)]
            problems += peer_usage_problems(der, server_side=self.server_side)
            if problems:
                _REFUSED.subject = _subject_of(der)
                raise ssl.SSLError(f"TLS profile {prof.name}: peer certificate refused: "
                                   + "; ".join(problems))
            store = getattr(self.context, "trust_store", None)
            if store is not None:
                refused = peer_trust_problem(store, der, _peer_chain(self, der),
                                             server_side=self.server_side,
                                             timeout=max(self.gettimeout() or 0,
                                                         PEER_VALIDATION_SECONDS))
                if refused is not None:
                    _REFUSED.subject = _subject_of(der)
                    raise ssl.SSLError(refused)

    return _PolicySSLSocket


#: what a server says of a connection closed before it sent any byte of a ClientHello
PROBE_REASON = "connection closed before any ClientHello (a TCP probe)"


def _refuse_probe(sock: Any) -> None:
    """A server socket whose peer closes before sending anything (a health check, a port
    scan) is refused as a probe (:data:`PROBE_REASON`), not as a failed handshake: one byte
    peeked under the TLS layer, within the socket's timeout."""
    import socket
    import ssl

    try:
        first = socket.socket.recv(sock, 1, socket.MSG_PEEK)
    except (BlockingIOError, InterruptedError):
        return  # non-blocking: the handshake decides
    if not first:
        raise ssl.SSLError(PROBE_REASON)


#: the subject of the certificate the policy socket refused last, per thread (the SCP's
#: handshake runs in the worker thread that reports the refusal)
_REFUSED = threading.local()


def _subject_of(der: bytes) -> str | None:
    from cryptography import x509

    try:
        return x509.load_der_x509_certificate(der).subject.rfc4514_string()
    except ValueError:
        return None


def take_refused_subject() -> str | None:
    """The subject of the peer certificate this thread's last handshake refused after the
    handshake (profile policy, revoked, untrusted by the validator), once; else None."""
    subject: str | None = getattr(_REFUSED, "subject", None)
    _REFUSED.subject = None
    return subject


def __getattr__(name: str) -> Any:
    # PolicySSLSocket is created on first use, so that importing this module does not import
    # ``ssl`` (which must wait for :func:`arrange_openssl_conf`)
    if name == "PolicySSLSocket":
        return _policy_socket_class()
    raise AttributeError(name)


def negotiated(sock: Any) -> dict[str, Any]:
    """Version, suite and peer subject of an established TLS socket."""
    cipher = sock.cipher()
    peer = sock.getpeercert()
    subject = None
    if peer:
        subject = ", ".join("=".join(kv) for rdn in peer.get("subject", ()) for kv in rdn)
    return {"version": sock.version(), "cipher": cipher[0] if cipher else None,
            "bits": cipher[2] if cipher else None, "peer": subject}
