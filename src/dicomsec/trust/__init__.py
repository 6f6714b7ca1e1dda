"""Trust stores and certificate path validation.

A :class:`TrustStore` holds explicit trust anchors (never the operating system's store),
optional untrusted intermediates, CRLs and OCSP responses. :meth:`TrustStore.validate` builds
and checks a path with pyhanko-certvalidator at a given moment (the signing time, or a
certified timestamp's time; a path with nothing to check for revocation may be confirmed by
cryptography's verifier first, without importing pyhanko), checks revocation (CRL, OCSP,
fetched over HTTP when allowed) and returns a :class:`ChainResult` instead of raising for an
untrusted chain (docs/validation.md).

:func:`check_for_use` is the one validator of a certificate we are about to *use* (to sign, to
encrypt to, to present in TLS, to issue with): the same key usage rules :meth:`TrustStore.validate`
applies (one rule list, :func:`usage_problems`), the validity window at the moment of use, and
whether the key can do the job; refused with one line naming the certificate and the reasons.

Certification authorities and end entities with RSA, ECDSA, Ed25519, Ed448 and ML-DSA keys are
validated.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import enum
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from dicomsec.errors import InvalidInput
from dicomsec.trust._result import REASONS, ChainResult, RevocationStatus

if TYPE_CHECKING:
    from cryptography import x509

    from dicomsec.algorithms.policy import AlgorithmPolicy

_Ext = TypeVar("_Ext", bound="x509.ExtensionType")

__all__ = ["REASONS", "CertificateNotUsable", "ChainResult", "KeyPurpose", "RevocationStatus",
           "TrustStore", "check_for_use", "usage_problems"]

_CERT_SUFFIXES = (".pem", ".crt", ".cer", ".der")
#: OpenSSL's hashed-name folder layout (``c_rehash``/``openssl rehash``): ``<8 hex>.<n>``
_HASHED_NAME = re.compile(r"[0-9a-f]{8}\.[0-9]+")


def _folder_certificate_files(folder: Path) -> list[Path]:
    """The files of a trust folder that hold certificates (by name; PEM without a certificate
    block is left out, anything else unreadable still fails when it is loaded)."""
    files = []
    for f in sorted(folder.iterdir()):
        if not (f.is_file() and _is_cert_name(f.name)):
            continue
        try:
            head = f.read_bytes()
        except OSError as exc:
            raise InvalidInput(f"cannot read: {exc.strerror}", path=str(f)) from None
        if b"-----BEGIN" in head and b"-----BEGIN CERTIFICATE-----" not in head:
            continue
        files.append(f)
    return files


def _is_cert_name(name: str) -> bool:
    """A certificate file in a trust folder: by suffix, or an OpenSSL hashed name."""
    return Path(name).suffix.lower() in _CERT_SUFFIXES or bool(_HASHED_NAME.fullmatch(name))


class KeyPurpose(enum.Enum):
    """What a certificate is used for (the rules of each: :func:`usage_problems`)."""

    SIGNING = "signing"  # keyUsage digitalSignature (when keyUsage is present)
    TIMESTAMPING = "timestamping"  # extendedKeyUsage id-kp-timeStamping
    ENCRYPTION = "encryption"  # a recipient: keyEncipherment (RSA, ML-KEM) / keyAgreement (EC, X)
    TLS_SERVER = "tls-server"  # keyUsage digitalSignature; extendedKeyUsage serverAuth
    TLS_CLIENT = "tls-client"  # keyUsage digitalSignature; extendedKeyUsage clientAuth
    ISSUING = "issuing"  # a CA: basicConstraints cA, keyUsage keyCertSign
    ANY = "any"  # the path only: no key usage asked (``trust validate --purpose any``)

    @property
    def label(self) -> str:
        """How messages name the purpose."""
        return _PURPOSE_LABELS[self]


_PURPOSE_LABELS = {
    KeyPurpose.SIGNING: "signing",
    KeyPurpose.TIMESTAMPING: "time-stamping",
    KeyPurpose.ENCRYPTION: "encryption to its key",
    KeyPurpose.TLS_SERVER: "a TLS server",
    KeyPurpose.TLS_CLIENT: "a TLS client",
    KeyPurpose.ISSUING: "issuing certificates",
    KeyPurpose.ANY: "any purpose",
}


class CertificateNotUsable(InvalidInput):
    """A certificate we were asked to use cannot serve that purpose (expired, not yet valid,
    wrong key usage or extended key usage, a key that cannot do the job): input that cannot be
    used, exit 2. ``problems`` lists every reason; the message has them all on one line."""

    def __init__(self, problems: Sequence[str], purpose: KeyPurpose, *, name: str = "certificate",
                 path: str | None = None) -> None:
        super().__init__(f"{name} cannot be used for {purpose.label}: " + "; ".join(problems),
                         path=path)
        self.problems = tuple(problems)
        self.purpose = purpose


def _aware(moment: _dt.datetime) -> _dt.datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=_dt.UTC)


@dataclass(frozen=True)
class TrustStore:
    """Explicit trust anchors, intermediates and CRLs."""

    anchors: tuple[x509.Certificate, ...] = ()
    intermediates: tuple[x509.Certificate, ...] = ()
    crls: tuple[x509.CertificateRevocationList, ...] = ()
    #: DER OCSP responses given by the caller (stapled, or fetched earlier)
    ocsps: tuple[bytes, ...] = ()
    #: fetch CRLs (distribution points) and OCSP responses (AIA) over HTTP; the library's
    #: default is off (no network I/O a caller did not ask for); the CLI turns it on unless
    #: ``--offline``
    allow_fetching: bool = False
    #: a certificate whose revocation status cannot be determined passes (reported) instead of
    #: failing: never the default
    soft_fail: bool = False
    #: a site's algorithm policy for the signatures of the path (default: the registry's)
    algorithm_policy: AlgorithmPolicy | None = None
    _cache: dict[tuple[object, ...], ChainResult] = field(
        default_factory=dict, init=False, repr=False, compare=False, hash=False)
    _paths: dict[object, list[x509.Certificate]] = field(
        default_factory=dict, init=False, repr=False, compare=False, hash=False)
    _statuses: dict[object, tuple[RevocationStatus, _dt.datetime, _dt.datetime]] = field(
        default_factory=dict, init=False, repr=False, compare=False, hash=False)

    @classmethod
    def from_paths(
        cls, paths: Iterable[Path], *, crls: Iterable[Path] = (),
        intermediates: Iterable[Path] = (), allow_fetching: bool = False,
        soft_fail: bool = False,
    ) -> TrustStore:
        """Load anchors from files or folders and CRLs.

        A folder gives every ``.pem/.crt/.cer/.der`` file in it and the ``<hash>.<n>`` names of
        an OpenSSL hashed folder; PEM files in it that hold no certificate (a private key, a
        request, a CRL kept beside the CA) are passed over, as OpenSSL's ``capath`` does.

        Raises:
            InvalidInput: an unreadable file or a folder without certificates.
        """
        from dicomsec.keys import load_certificates

        def load_all(items: Iterable[Path]) -> list[x509.Certificate]:
            out: list[x509.Certificate] = []
            for p in items:
                p = Path(p)
                if p.is_dir():
                    found = [load_certificates(f) for f in _folder_certificate_files(p)]
                    if not found:
                        raise InvalidInput("no certificates in folder", path=str(p))
                    for certs in found:
                        out.extend(certs)
                else:
                    out.extend(load_certificates(p))
            return out

        loaded = tuple(c for p in crls for c in _load_crl(Path(p)))
        return cls(tuple(load_all(paths)), tuple(load_all(intermediates)), loaded,
                   allow_fetching=allow_fetching, soft_fail=soft_fail)

    @property
    def empty(self) -> bool:
        return not self.anchors

    def validate(
        self,
        cert: x509.Certificate,
        *,
        at: _dt.datetime,
        purpose: KeyPurpose = KeyPurpose.SIGNING,
        extra_intermediates: Sequence[x509.Certificate] = (),
        revocation_at: _dt.datetime | None = None,
    ) -> ChainResult:
        """Validate ``cert`` for ``purpose`` at the moment ``at`` (RFC 5280 path validation by
        pyhanko-certvalidator, docs/validation.md).

        Checks: a path to an anchor of this store (never the operating system's), through
        ``intermediates`` and ``extra_intermediates`` (signatures, validity periods at ``at``,
        name chaining, basic constraints, CA key usage, the certificate algorithm policy:
        md5/sha1 and RSA under 2048 bits refused); key usage for ``purpose``
        (:func:`usage_problems`); revocation of every certificate of the path below the
        anchor that is *checked* — all of them when the store holds any CRL or OCSP response
        (revocation checking was asked for), else those that name a CRL distribution point or
        an OCSP URL when ``allow_fetching`` —, judged at ``revocation_at`` (default ``at``)
        with later revocation information
        accepted: a caller whose ``at`` comes from an unproven claim (a signer's own DateTime)
        passes the current time here, so that a revocation cannot be dodged by backdating.
        A checked certificate whose status cannot be determined fails (``revocation-unknown``)
        unless ``soft_fail``. Fetches only when ``allow_fetching``. When nothing is to be
        checked for revocation, cryptography's verifier may confirm a valid path first (the
        fast path, :mod:`._fast`); every other answer, and every reason, is pyhanko's.

        Never raises for an untrusted certificate: the result says why. The intermediates
        are de-duplicated and capped per subject name, and path building has a budget
        (:mod:`._candidates`): beyond it the result is ``invalid``.

        Raises:
            InvalidInput: ``at`` or ``revocation_at`` within a week of the ends of the
                calendar (year 1, 9999-12-31), where the validator cannot compute.
        """
        at = _checked_moment(at)
        revocation_at = _checked_moment(revocation_at or at)
        problems = usage_problems(cert, purpose)
        reasons = ["wrong-key-usage"] if problems else []
        if not self.anchors:
            return ChainResult(False, ("no trust anchors configured", *problems),
                               reasons=("unknown-issuer", *reasons))
        key = _cache_key(cert, at, revocation_at, purpose, extra_intermediates)
        cached = self._cache.get(key) if key is not None else None
        if cached is not None:
            return cached
        from dicomsec.trust import _candidates, _fast
        from dicomsec.trust._request import Request

        req = Request(
            cert=cert, anchors=self.anchors,
            intermediates=_candidates.pool(cert, self.anchors,
                                           (*self.intermediates, *extra_intermediates)),
            crls=self.crls, ocsps=self.ocsps, at=at, revocation_at=revocation_at,
            allow_fetching=self.allow_fetching, soft_fail=self.soft_fail,
            algorithm_policy=self.algorithm_policy, path_cache=self._paths,
            status_cache=self._statuses)
        # the fast path only confirms a valid path with nothing to check for revocation;
        # everything else (and every reason) is pyhanko's (docs/validation.md, "Fast path")
        result = None if problems else _fast.validate(req)
        if result is None:
            from dicomsec.trust import _validate

            result = _validate.validate(req)
        if problems:
            result = dataclasses.replace(
                result, trusted=False, problems=(*result.problems, *problems),
                reasons=tuple(dict.fromkeys((*result.reasons, *reasons))))
        if key is not None and len(self._cache) < _CACHE_ENTRIES:
            self._cache[key] = result
        return result


#: at most this many validation results kept per trust store
_CACHE_ENTRIES = 4096

#: the validation moments accepted: pyhanko adds its tolerances and freshness windows to the
#: moment, which must stay inside the calendar ``datetime`` can hold
_EARLIEST = _dt.datetime(1, 1, 8, tzinfo=_dt.UTC)
_LATEST = _dt.datetime(9999, 12, 24, tzinfo=_dt.UTC)


def _checked_moment(moment: _dt.datetime) -> _dt.datetime:
    """``moment`` made timezone-aware (naive: UTC), refused when it is too close to the ends
    of the calendar to compute with (a week from year 1 or from 9999-12-31).

    Raises:
        InvalidInput: a moment before 0001-01-08 or after 9999-12-24 (UTC).
    """
    aware = _aware(moment)
    try:
        inside = _EARLIEST <= aware <= _LATEST
    except OverflowError:  # an offset that pushes it off the calendar
        inside = False
    if not inside:
        raise InvalidInput(f"validation time {moment.isoformat()} is outside the range that "
                           f"can be checked ({_EARLIEST.date().isoformat()} to "
                           f"{_LATEST.date().isoformat()} UTC)")
    return aware


def _cache_key(cert: x509.Certificate, at: _dt.datetime, revocation_at: _dt.datetime | None,
               purpose: KeyPurpose, extra: Sequence[x509.Certificate]) -> tuple[object, ...] | None:
    """What a validation result depends on besides the store: the certificate, the moments,
    the purpose and the extra intermediates."""
    try:
        return (cert, _aware(at), _aware(revocation_at or at), purpose, tuple(extra))
    except TypeError:
        return None


def _extension(cert: x509.Certificate, cls: type[_Ext]) -> _Ext | None:
    """The value of one extension of ``cert`` (``None`` when absent)."""
    from cryptography import x509

    try:
        return cert.extensions.get_extension_for_class(cls).value
    except x509.ExtensionNotFound:
        return None


def usage_problems(cert: x509.Certificate, purpose: KeyPurpose) -> list[str]:
    """Why ``cert``'s key usage, extended key usage and CA flag do not allow ``purpose``
    (empty: they do). The one rule list: :meth:`TrustStore.validate` (and so ``verify``) and
    :func:`check_for_use` both apply it.

    - signing: keyUsage (when present) digitalSignature (nonRepudiation alone is not
      enough; an absent keyUsage allows any use, RFC 5280 4.2.1.3); an
      extendedKeyUsage of only timeStamping / OCSPSigning is dedicated (RFC 3161 2.3);
    - time-stamping: extendedKeyUsage timeStamping;
    - encryption: keyUsage (when present) keyEncipherment for RSA and ML-KEM keys (RFC 8551
      key transport, RFC 9629), keyAgreement for EC, X25519 and X448 keys (RFC 5753, 8418);
    - TLS server / client: keyUsage (when present) digitalSignature (every B.12/B.13 suite
      signs the handshake); extendedKeyUsage (when present) serverAuth / clientAuth or any;
    - issuing: basicConstraints cA, and keyCertSign when keyUsage is present;
    - any: nothing (the path alone is judged).

    Validity is not judged here (the path builder checks it at the validation moment).
    """
    from cryptography import x509

    ku = _extension(cert, x509.KeyUsage)
    eku = _extension(cert, x509.ExtendedKeyUsage)
    if purpose is KeyPurpose.SIGNING:
        return _signing_problems(ku, eku)
    if purpose is KeyPurpose.TIMESTAMPING:
        from cryptography.x509.oid import ExtendedKeyUsageOID

        if eku is None or ExtendedKeyUsageOID.TIME_STAMPING not in eku:
            return ["TSA certificate lacks extended key usage timeStamping"]
        return []
    if purpose is KeyPurpose.ENCRYPTION:
        return _encryption_problems(cert, ku)
    if purpose is KeyPurpose.ISSUING:
        return _issuing_problems(cert, ku)
    if purpose is KeyPurpose.ANY:
        return []
    return _tls_problems(ku, eku, server=purpose is KeyPurpose.TLS_SERVER)


#: kept for callers of the former private name
_usage_problems = usage_problems


def _signing_problems(ku: x509.KeyUsage | None, eku: x509.ExtendedKeyUsage | None) -> list[str]:
    from cryptography.x509.oid import ExtendedKeyUsageOID

    problems: list[str] = []
    # digitalSignature is what a signature on data needs; nonRepudiation alone (a key for
    # commitment only) does not allow it (RFC 5280 4.2.1.3; the acceptance 1)
    if ku is not None and not ku.digital_signature:
        problems.append("key usage allows nonRepudiation but not digitalSignature"
                        if ku.content_commitment else
                        "key usage allows neither digitalSignature nor nonRepudiation")
    # keys dedicated to time-stamping or OCSP must not sign anything else (RFC 3161 2.3)
    dedicated = {ExtendedKeyUsageOID.TIME_STAMPING, ExtendedKeyUsageOID.OCSP_SIGNING}
    if eku is not None and set(eku) <= dedicated:
        problems.append("certificate is dedicated to time-stamping or OCSP signing")
    return problems


def _encryption_problems(cert: x509.Certificate, ku: x509.KeyUsage | None) -> list[str]:
    from cryptography.hazmat.primitives.asymmetric import ec, x448, x25519

    if ku is None:
        return []
    try:
        key = cert.public_key()
    except Exception:  # an ML-KEM key the installed library reads only through cms
        key = None
    if isinstance(key, ec.EllipticCurvePublicKey | x25519.X25519PublicKey | x448.X448PublicKey):
        if not ku.key_agreement:
            return ["key usage does not allow keyAgreement (needed to agree a key with it)"]
        return []
    if not ku.key_encipherment:
        return ["key usage does not allow keyEncipherment (needed to transport a key to it)"]
    return []


def _issuing_problems(cert: x509.Certificate, ku: x509.KeyUsage | None) -> list[str]:
    from cryptography import x509

    basic = _extension(cert, x509.BasicConstraints)
    if basic is None or not basic.ca:
        return ["not a CA (basicConstraints cA is not set)"]
    if ku is not None and not ku.key_cert_sign:
        return ["key usage does not allow keyCertSign"]
    return []


def _tls_problems(ku: x509.KeyUsage | None, eku: x509.ExtendedKeyUsage | None, *,
                  server: bool) -> list[str]:
    from cryptography.x509.oid import ExtendedKeyUsageOID

    problems: list[str] = []
    if ku is not None and not ku.digital_signature:
        problems.append("key usage does not allow digitalSignature (TLS handshake signatures)")
    wanted = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
    if eku is not None and not {wanted, ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE} & set(eku):
        problems.append("extended key usage lacks " + ("serverAuth" if server else "clientAuth"))
    return problems


def validity_problem(cert: x509.Certificate, at: _dt.datetime | None = None) -> str | None:
    """Why ``cert`` is not valid at ``at`` (default: now), or ``None`` when it is."""
    moment = _aware(at) if at is not None else _dt.datetime.now(_dt.UTC)
    if moment < cert.not_valid_before_utc:
        return f"not valid before {cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC"
    if moment > cert.not_valid_after_utc:
        return f"expired on {cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC"
    return None


def _key_problems(cert: x509.Certificate, purpose: KeyPurpose) -> list[str]:
    """Whether the certificate's key can do the job at all: a signing, time-stamping or
    issuing key must be one the registry can sign with (the check ``verify`` applies to a
    signer's key, :func:`dicomsec.algorithms.signature_scheme_for_key`)."""
    if purpose not in (KeyPurpose.SIGNING, KeyPurpose.TIMESTAMPING, KeyPurpose.ISSUING):
        return []
    from dicomsec import algorithms

    try:
        algorithms.signature_scheme_for_key(cert.public_key())
    except (InvalidInput, ValueError) as exc:
        return [str(exc)]
    except Exception as exc:  # a key type the installed library cannot load
        return [f"its key cannot sign ({type(exc).__name__})"]
    return []


def check_for_use(cert: x509.Certificate, purpose: KeyPurpose, *,
                  at: _dt.datetime | None = None, name: str = "certificate",
                  path: str | Path | None = None) -> None:
    """Refuse a certificate we are about to use for ``purpose`` at ``at`` (default: now) when
    ``verify`` (or the peer) would refuse it: outside its validity period, a key usage or
    extended key usage that does not allow the purpose (:func:`usage_problems`, the very list
    :meth:`TrustStore.validate` applies), a key that cannot do the job. The chain and
    revocation are not judged here (that needs trust anchors: :meth:`TrustStore.validate`).

    Raises:
        CertificateNotUsable: an :class:`~dicomsec.errors.InvalidInput` (exit 2) naming
            ``name`` (and ``path``), the purpose and every reason, on one line.
    """
    problems = []
    when = validity_problem(cert, at)
    if when is not None:
        problems.append(when)
    problems.extend(usage_problems(cert, purpose))
    problems.extend(_key_problems(cert, purpose))
    if problems:
        raise CertificateNotUsable(problems, purpose, name=name,
                                   path=None if path is None else str(path))


def _load_crl(path: Path) -> list[x509.CertificateRevocationList]:
    """Every CRL of a file: DER (one), or PEM with one or more ``X509 CRL`` blocks (a bundle,
    e.g. a root's and an issuing CA's CRL in one file).

    Raises:
        InvalidInput: an unreadable file, a block that is not a CRL, or a PEM file without one.
    """
    from cryptography import x509

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InvalidInput(f"cannot read CRL: {exc.strerror or exc}", path=str(path)) from None
    try:
        if b"-----BEGIN" not in data:
            return [x509.load_der_x509_crl(data)]
        blocks = _PEM_CRL.findall(data)
        if not blocks:
            raise ValueError("no CRL block")
        return [x509.load_pem_x509_crl(b) for b in blocks]
    except ValueError:
        raise InvalidInput("not a readable CRL", path=str(path)) from None


_PEM_CRL = re.compile(rb"-----BEGIN X509 CRL-----.+?-----END X509 CRL-----", re.DOTALL)
