"""CRLs of the site PKI (RFC 5280 §5): one per CA, signed by it.

Each CRL carries a CRLNumber (one more each time, kept in ``pki.toml``), the CA's
authorityKeyIdentifier, and per entry the revocation date, a CRLReason (left out for
``unspecified``, RFC 5280 §5.3.1) and an InvalidityDate when one was given.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
from pathlib import Path
from typing import TYPE_CHECKING

from dicomsec.errors import InvalidInput
from dicomsec.trust.pki import _db
from dicomsec.trust.pki._ca import CaSigner, Layout, load_signer

if TYPE_CHECKING:
    from cryptography import x509

__all__ = ["MAX_CRL_DAYS", "REASON_FLAGS", "build_crl", "make_crls"]

#: the longest CRL validity ``pki crl --days`` takes
MAX_CRL_DAYS = 366

#: reason names of the CLI → cryptography ``ReasonFlags`` (unspecified: no CRLReason)
REASON_FLAGS = {
    "key-compromise": "key_compromise", "ca-compromise": "ca_compromise",
    "affiliation-changed": "affiliation_changed", "superseded": "superseded",
    "cessation-of-operation": "cessation_of_operation", "certificate-hold": "certificate_hold",
    "privilege-withdrawn": "privilege_withdrawn",
}


def _revoked(entry: _db.Entry) -> x509.RevokedCertificate:
    from cryptography import x509

    assert entry.revoked_at is not None
    builder = (x509.RevokedCertificateBuilder().serial_number(entry.serial)
               .revocation_date(entry.revoked_at))
    flag = REASON_FLAGS.get(entry.reason or "unspecified")
    if flag is not None:
        builder = builder.add_extension(x509.CRLReason(x509.ReasonFlags[flag]), critical=False)
    if entry.invalidity is not None:
        builder = builder.add_extension(
            x509.InvalidityDate(entry.invalidity.replace(tzinfo=None)), critical=False)
    return builder.build()


def build_crl(signer: CaSigner, entries: list[_db.Entry], *, number: int, days: int,
              now: _dt.datetime) -> x509.CertificateRevocationList:
    """A CRL of ``signer``'s CA listing the revoked ``entries``."""
    from cryptography import x509

    ski = signer.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    builder = (x509.CertificateRevocationListBuilder().issuer_name(signer.cert.subject)
               .last_update(now).next_update(now + _dt.timedelta(days=days))
               .add_extension(x509.CRLNumber(number), critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(
                   ski), critical=False))
    for entry in entries:
        if entry.status == "R":
            builder = builder.add_revoked_certificate(_revoked(entry))
    return signer.sign_crl(builder)


def make_crls(folder: Path, *, passphrase: bytes | None, days: int = 7,
              pin_file: Path | None = None,
              now: _dt.datetime | None = None) -> list[x509.CertificateRevocationList]:
    """A new CRL for every CA of the site, the issuing CA's first (then the root's, which
    lists a revoked issuing CA: a validator that requires revocation information for every
    certificate of the path needs both). Bumps the CRL numbers in ``pki.toml``.

    Raises:
        InvalidInput: ``days`` outside 1 to :data:`MAX_CRL_DAYS`, not a PKI folder, a wrong
            passphrase.
    """
    if not 1 <= days <= MAX_CRL_DAYS:
        raise InvalidInput(f"--days must be 1 to {MAX_CRL_DAYS}, not {days}")
    layout = Layout(folder)
    now = (now or _dt.datetime.now(_dt.UTC)).replace(microsecond=0)
    with _db.lock(folder):
        settings = _db.read_settings(folder)
        crls = []
        numbers = {"issuing": settings.crl_number, "root": settings.root_crl_number}
        if settings.issuer == "root":
            numbers["root"] = settings.crl_number
        for ca in layout.cas(settings):
            with load_signer(layout, ca, passphrase, settings=settings,
                             pin_file=pin_file) as signer:
                numbers[ca] += 1
                crls.append(build_crl(signer, _db.read_index(layout.index(ca, settings)),
                                      number=numbers[ca], days=days, now=now))
        if settings.issuer == "root":
            settings = dataclasses.replace(settings, crl_number=numbers["root"])
        else:
            settings = dataclasses.replace(settings, crl_number=numbers["issuing"],
                                           root_crl_number=numbers["root"])
        _db.write_settings(folder, settings)
    return crls
