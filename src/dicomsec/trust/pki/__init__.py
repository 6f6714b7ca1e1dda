"""The site PKI: a CA for a site's devices, operators and TLS endpoints (``dicomsec pki``).

A folder holds everything (layout and decisions: ``docs/pki.md``):

- :func:`init`: a root CA (EC P-384 by default, RSA-3072 or ML-DSA-65; 10 years, pathLen 1)
  and optionally an issuing CA (P-256 / RSA-3072 / ML-DSA-65, 5 years, pathLen 0); CA keys
  PBES2-encrypted with a passphrase that is never stored;
- :func:`issue`: a key and a certificate of one kind (:data:`KINDS`; profiles in
  :mod:`dicomsec.trust.pki._profiles`), the device identity in device certificates
  (:mod:`dicomsec.trust.identity`), CRL distribution point and OCSP URL when configured;
- :func:`revoke`, :func:`make_crls` / :func:`write_crls`, :func:`list_certificates` (a report);
- :func:`make_server`: an OCSP responder (RFC 6960) for small sites.

The database is OpenSSL's ``index.txt``, so ``openssl ca -gencrl`` and ``openssl ocsp`` work on
the same folder.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from dicomsec._atomic import atomic_write_bytes
from dicomsec.errors import InvalidInput
from dicomsec.report import Report
from dicomsec.trust.pki import _db
from dicomsec.trust.pki._audit import emit_configuration
from dicomsec.trust.pki._ca import (
    CA_KEY_TYPES,
    CaSigner,
    Issued,
    Layout,
    Request,
    check_issue_outputs,
    check_new_folder,
    check_outputs,
    check_request,
    init,
    issue,
    load_signer,
    revoke,
    which_ca,
)
from dicomsec.trust.pki._crl import MAX_CRL_DAYS, make_crls
from dicomsec.trust.pki._db import REASONS, Settings, read_settings
from dicomsec.trust.pki._ocsp import MAX_REQUEST, OcspServer, Responder, make_server
from dicomsec.trust.pki._passphrase import (
    PASSPHRASE_ENV,
    PBKDF2_ITERATIONS,
    encrypt_private_key,
    read_passphrase,
)
from dicomsec.trust.pki._profiles import KINDS, kind_of

if TYPE_CHECKING:
    from collections.abc import Iterable

    from cryptography import x509

    from dicomsec.events import AuditHandler

__all__ = [
    "CA_KEY_TYPES", "KINDS", "MAX_CRL_DAYS", "MAX_REQUEST", "PASSPHRASE_ENV",
    "PBKDF2_ITERATIONS", "REASONS", "CaSigner", "Issued", "Layout", "OcspServer", "PkiEntry",
    "PkiList", "Request", "Responder", "Settings", "certificate_of", "check_crl_outputs",
    "check_issue_outputs", "check_new_folder", "check_outputs", "check_request", "crl_paths",
    "encrypt_private_key", "init", "issue", "kind_of", "list_certificates", "load_signer",
    "make_crls", "make_server", "read_passphrase", "read_settings", "revoke", "which_ca",
    "write_crls",
]


def crl_paths(out: Path, count: int) -> list[Path]:
    """Where :func:`write_crls` puts ``count`` CRLs: ``out`` for the issuing CA's, then
    ``<stem>.root<suffix>`` beside it for the root's (``site.crl.pem``,
    ``site.crl.root.pem``)."""
    paths = [out]
    if count > 1:
        paths.append(out.with_name(f"{out.stem}.root{out.suffix or '.pem'}"))
    return paths


#: the largest existing file read to tell whether it is a CRL that may be replaced
_MAX_OLD_CRL = 64 << 20


def _check_replaced_crl(path: Path, ca_cert: x509.Certificate) -> None:
    """An existing ``path`` may be replaced only by a new CRL of the same CA: it must be a
    CRL (PEM or DER) whose issuer is ``ca_cert``'s subject."""
    from cryptography import x509

    if not path.is_file():
        raise InvalidInput("exists and is not a file; -o names the CRL file", path=str(path))
    refusal = (f"exists and is not a CRL of {ca_cert.subject.rfc4514_string()}; refusing "
               "to replace it (remove it or choose another -o)")
    try:
        if path.stat().st_size > _MAX_OLD_CRL:
            raise InvalidInput(refusal, path=str(path))
        data = path.read_bytes()
        crl = (x509.load_pem_x509_crl(data) if b"-----BEGIN X509 CRL-----" in data
               else x509.load_der_x509_crl(data))
        same = crl.issuer == ca_cert.subject
    except (OSError, ValueError):
        same = False
    if not same:
        raise InvalidInput(refusal, path=str(path))


def check_crl_outputs(folder: Path, out: Path) -> list[Path]:
    """The paths :func:`write_crls` writes for ``out`` (:func:`crl_paths`, one per CA of
    the site), checked before anything is signed: none inside the PKI folder
    (:func:`check_outputs`), and an existing one only a CRL of the CA whose CRL replaces it
    (a CRL is re-published in place; any other file is refused).

    Raises:
        InvalidInput: not a PKI folder, or a path refused as above.
    """
    from dicomsec.keys import load_certificate

    layout = Layout(folder)
    cas = layout.cas(read_settings(folder))
    paths = crl_paths(out, len(cas))
    check_outputs(folder, paths)
    for ca, path in zip(cas, paths, strict=True):
        if path.exists() or path.is_symlink():
            _check_replaced_crl(path, load_certificate(layout.cert(ca)))
    return paths


def write_crls(folder: Path, out: Path, *, passphrase: bytes | None, days: int = 7,
               pin_file: Path | None = None,
               handlers: Iterable[AuditHandler] | None = None) -> list[Path]:
    """:func:`make_crls`, written as PEM to :func:`crl_paths` and copied into the folder
    (``crl.pem``, ``root.crl.pem``) for publishing. Returns the paths written beside ``out``.
    ``handlers`` get a SECURITY_CONFIGURATION event (action ``issue``) per CRL.

    Raises:
        InvalidInput: as :func:`check_crl_outputs` and :func:`make_crls`.
    """
    from cryptography.hazmat.primitives.serialization import Encoding

    check_crl_outputs(folder, out)
    crls = make_crls(folder, passphrase=passphrase, days=days, pin_file=pin_file)
    paths = crl_paths(out, len(crls))
    for crl, path, copy in zip(crls, paths, ("crl.pem", "root.crl.pem"), strict=False):
        pem = crl.public_bytes(Encoding.PEM)
        atomic_write_bytes(path, pem, mode=0o644)
        atomic_write_bytes(folder / copy, pem, mode=0o644)
        emit_configuration(handlers, "issue", path, "CRL issued",
                           subject=crl.issuer.rfc4514_string())
    return paths


def _iso(moment: _dt.datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(_dt.UTC).isoformat()


@dataclass(frozen=True, slots=True)
class PkiEntry:
    """One certificate of the site PKI as ``pki list`` shows it."""

    serial: str                      # upper-case hex, as index.txt
    ca: str                          # "root" or "issuing": the CA that issued it
    kind: str                        # KINDS, or "issuing" for the issuing CA; "?" unreadable
    subject: str
    not_after: _dt.datetime
    status: str                      # V valid, R revoked, E expired
    revoked_at: _dt.datetime | None = None
    revocation_reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"serial": self.serial, "ca": self.ca, "kind": self.kind,
                "subject": self.subject, "not_after": _iso(self.not_after),
                "status": self.status, "revoked_at": _iso(self.revoked_at),
                "revocation_reason": self.revocation_reason}


@dataclass(frozen=True, slots=True)
class PkiList(Report):
    """Every certificate a site PKI issued. ``ok``: always true (a listing judges nothing)."""

    schema: ClassVar[str] = "dicomsec.pki.list/1"

    folder: str
    certificates: tuple[PkiEntry, ...] = ()

    @property
    def ok(self) -> bool:
        return True

    def count(self, status: str) -> int:
        return sum(1 for c in self.certificates if c.status == status)

    def summary(self) -> str:
        return (f"pki-list certificates={len(self.certificates)} valid={self.count('V')} "
                f"revoked={self.count('R')} expired={self.count('E')}")

    def _content(self) -> dict[str, Any]:
        return {"folder": self.folder,
                "certificates": [c.to_dict() for c in self.certificates]}


def _kind(layout: Layout, serial_hex: str) -> str:
    from cryptography import x509

    try:
        cert: x509.Certificate = x509.load_pem_x509_certificate(
            (layout.certs / f"{serial_hex}.pem").read_bytes())
    except (OSError, ValueError):
        return "?"
    return kind_of(cert)


def list_certificates(folder: Path, *, now: _dt.datetime | None = None) -> PkiList:
    """Every certificate in the indexes of the site's CAs (the issuing CA's first).

    Raises:
        InvalidInput: not a PKI folder, a malformed index.
    """
    layout = Layout(folder)
    settings = read_settings(folder)
    now = now or _dt.datetime.now(_dt.UTC)
    found = []
    for ca in layout.cas(settings):
        for e in _db.read_index(layout.index(ca, settings)):
            found.append(PkiEntry(e.serial_hex, ca, _kind(layout, e.serial_hex), e.subject,
                                  e.not_after, e.status_at(now), e.revoked_at, e.reason))
    return PkiList(str(folder), tuple(found))


def certificate_of(path: Path) -> x509.Certificate:
    """The certificate in ``path`` (PEM or DER), for ``revoke``.

    Raises:
        InvalidInput: unreadable, or not one certificate.
    """
    from dicomsec.keys import load_certificates

    certs = load_certificates(path)
    if len(certs) != 1:
        raise InvalidInput(f"holds {len(certs)} certificates; name the one to revoke",
                           path=str(path))
    return certs[0]
