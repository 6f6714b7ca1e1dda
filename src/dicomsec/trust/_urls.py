"""The revocation pointers a certificate declares: CRL distribution points and OCSP URLs
(private; read without importing the HTTP machinery of :mod:`._fetch`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cryptography import x509

__all__ = ["crl_urls", "declares_revocation", "ocsp_urls"]

_SCHEMES = ("http", "https")


def _allowed(url: str) -> bool:
    scheme, sep, _rest = url.partition(":")
    return bool(sep) and scheme.lower() in _SCHEMES


def crl_urls(cert: x509.Certificate) -> list[str]:
    """The http(s) URLs of ``cert``'s CRL distribution points."""
    from cryptography import x509

    try:
        points = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    except x509.ExtensionNotFound:
        return []
    return [n.value for p in points for n in (p.full_name or ())
            if isinstance(n, x509.UniformResourceIdentifier) and _allowed(n.value)]


def ocsp_urls(cert: x509.Certificate) -> list[str]:
    """The http(s) OCSP URLs of ``cert``'s Authority Information Access."""
    from cryptography import x509
    from cryptography.x509.oid import AuthorityInformationAccessOID

    try:
        aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    except x509.ExtensionNotFound:
        return []
    return [d.access_location.value for d in aia
            if d.access_method == AuthorityInformationAccessOID.OCSP
            and isinstance(d.access_location, x509.UniformResourceIdentifier)
            and _allowed(d.access_location.value)]


def declares_revocation(cert: x509.Certificate) -> bool:
    """Whether ``cert`` names a CRL distribution point or an OCSP URL we could fetch."""
    return bool(crl_urls(cert) or ocsp_urls(cert))
