"""Trust stores and certificate path validation.

A :class:`TrustStore` holds explicit trust anchors (never the operating system's store),
optional untrusted intermediates and CRLs. :meth:`TrustStore.validate` builds and checks a path
with ``cryptography``'s X.509 verifier at a given moment (the signing time, or a certified
timestamp's time) and returns a :class:`ChainResult` instead of raising for an untrusted chain.

Limits: the path builder accepts certification authorities whose keys are RSA, ECDSA, Ed25519 or
ML-DSA (Ed448 CAs are refused by the underlying verifier); end-entity keys of every scheme in
the algorithm registry are accepted.
"""

from __future__ import annotations

import datetime as _dt
import enum
import itertools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from dicomsec.errors import InvalidInput

if TYPE_CHECKING:
    from cryptography import x509

__all__ = ["ChainResult", "KeyPurpose", "TrustStore"]

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
    """What the end-entity certificate is used for."""

    SIGNING = "signing"  # keyUsage digitalSignature or nonRepudiation
    TIMESTAMPING = "timestamping"  # extendedKeyUsage id-kp-timeStamping


@dataclass(frozen=True, slots=True)
class ChainResult:
    """The outcome of validating one certificate."""

    trusted: bool
    problems: tuple[str, ...] = ()
    chain: tuple[x509.Certificate, ...] = field(default=(), repr=False)

    def __bool__(self) -> bool:
        return self.trusted


def _utc_naive(moment: _dt.datetime) -> _dt.datetime:
    if moment.tzinfo is not None:
        moment = moment.astimezone(_dt.UTC).replace(tzinfo=None)
    return moment


def _aware(moment: _dt.datetime) -> _dt.datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=_dt.UTC)


@dataclass(frozen=True)
class TrustStore:
    """Explicit trust anchors, intermediates and CRLs."""

    anchors: tuple[x509.Certificate, ...] = ()
    intermediates: tuple[x509.Certificate, ...] = ()
    crls: tuple[x509.CertificateRevocationList, ...] = ()

    @classmethod
    def from_paths(
        cls, paths: Iterable[Path], *, crls: Iterable[Path] = (),
        intermediates: Iterable[Path] = (),
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

        return cls(tuple(load_all(paths)), tuple(load_all(intermediates)),
                   tuple(_load_crl(Path(c)) for c in crls))

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
        """Validate ``cert`` for ``purpose`` at the moment ``at``.

        Revocation is judged at ``revocation_at`` (default ``at``): a caller whose ``at`` comes
        from an unproven claim (a signer's own DateTime) passes the current time here, so that
        a revocation cannot be dodged by backdating.

        Checks: a path to an anchor (signatures, validity periods, CA constraints), key usage
        for the purpose, and revocation against the loaded CRLs (a CRL is used only when its
        signature verifies with the issuer's key). Does not fetch CRLs or OCSP responses.
        """
        from cryptography import x509
        from cryptography.x509.verification import (
            ExtensionPolicy,
            PolicyBuilder,
            Store,
            VerificationError,
        )

        problems: list[str] = []
        problems.extend(_usage_problems(cert, purpose))
        if not self.anchors:
            return ChainResult(False, ("no trust anchors configured", *problems))
        try:
            verifier = (
                PolicyBuilder()
                .store(Store(list(self.anchors)))
                .time(_utc_naive(at))
                .extension_policies(
                    ca_policy=ExtensionPolicy.webpki_defaults_ca(),
                    ee_policy=ExtensionPolicy.permit_all(),
                )
                .build_client_verifier()
            )
            verified = verifier.verify(cert, [*self.intermediates, *extra_intermediates])
            chain = tuple(verified.chain)
        except VerificationError as exc:
            msg = str(exc).replace("validation failed: ", "")
            return ChainResult(False, (f"certificate chain not trusted: {msg}", *problems))
        except (ValueError, TypeError) as exc:
            return ChainResult(False, (f"certificate chain not checkable: {exc}", *problems))
        for child, issuer in itertools.pairwise(chain):
            for crl in self.crls:
                if crl.issuer != issuer.subject:
                    continue
                try:
                    if not crl.is_signature_valid(issuer.public_key()):  # type: ignore[arg-type]
                        problems.append("a CRL's signature does not verify; CRL ignored")
                        continue
                except (TypeError, ValueError):
                    continue
                revoked = crl.get_revoked_certificate_by_serial_number(child.serial_number)
                when = revocation_at or at
                if revoked is not None and _aware(revoked.revocation_date_utc) <= _aware(when):
                    problems.append(
                        f"certificate {child.subject.rfc4514_string()} revoked on "
                        f"{revoked.revocation_date_utc:%Y-%m-%d}"
                    )
                nu = crl.next_update_utc
                if nu is not None and _aware(nu) < _aware(revocation_at or at):
                    problems.append("CRL is out of date at the validation time")
        del x509
        return ChainResult(not problems, tuple(problems), chain)


def _usage_problems(cert: x509.Certificate, purpose: KeyPurpose) -> list[str]:
    from cryptography import x509
    from cryptography.x509.oid import ExtendedKeyUsageOID

    problems: list[str] = []
    try:
        ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        ku = None
    if purpose is KeyPurpose.SIGNING:
        if ku is not None and not (ku.digital_signature or ku.content_commitment):
            problems.append("key usage allows neither digitalSignature nor nonRepudiation")
        try:
            eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        except x509.ExtensionNotFound:
            eku = None
        # keys dedicated to time-stamping or OCSP must not sign anything else (RFC 3161 2.3)
        dedicated = {ExtendedKeyUsageOID.TIME_STAMPING, ExtendedKeyUsageOID.OCSP_SIGNING}
        if eku is not None and set(eku) <= dedicated:
            problems.append("certificate is dedicated to time-stamping or OCSP signing")
    else:
        try:
            eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        except x509.ExtensionNotFound:
            eku = None
        if eku is None or ExtendedKeyUsageOID.TIME_STAMPING not in eku:
            problems.append("TSA certificate lacks extended key usage timeStamping")
    return problems


def _load_crl(path: Path) -> x509.CertificateRevocationList:
    from cryptography import x509

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InvalidInput(f"cannot read CRL: {exc.strerror or exc}", path=str(path)) from None
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_crl(data)
        return x509.load_der_x509_crl(data)
    except ValueError:
        raise InvalidInput("not a readable CRL", path=str(path)) from None
