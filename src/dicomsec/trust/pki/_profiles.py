"""The certificate profiles of the site PKI: key usage, extended key usage and the other
extensions of each kind (spec: trust §2).

| kind       | keyUsage (critical)                            | extendedKeyUsage                |
|------------|------------------------------------------------|---------------------------------|
| root, issuing CA | keyCertSign, cRLSign                     | none                            |
| device     | digitalSignature, nonRepudiation               | none                            |
| operator   | digitalSignature, nonRepudiation               | emailProtection                 |
| tls-server | digitalSignature (+keyEncipherment for RSA)    | serverAuth                      |
| tls-client | digitalSignature                               | clientAuth                      |
| tsa        | digitalSignature, nonRepudiation               | timeStamping (critical)         |
| ocsp       | digitalSignature                               | OCSPSigning; + OCSPNoCheck      |

Every certificate has basicConstraints (critical), subjectKeyIdentifier and
authorityKeyIdentifier; end entities but ``ocsp`` get a CRL distribution point and an OCSP
URL when the site configured them; a device gets its identity (:mod:`dicomsec.trust.identity`).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from dicomsec.errors import InvalidInput
from dicomsec.trust.identity import (
    PRINTABLE,
    DeviceIdentity,
    hardware_module_name,
    identity_extension,
)

if TYPE_CHECKING:
    from cryptography import x509

__all__ = ["CA_DAYS", "DEFAULT_DAYS", "KINDS", "ca_extensions", "end_entity_extensions",
           "kind_of", "parse_san", "root_crl_url", "subject_name"]

#: the kinds of end-entity certificate ``pki issue`` makes
KINDS = ("device", "operator", "tls-server", "tls-client", "tsa", "ocsp")
#: default validity in days, per kind
DEFAULT_DAYS = {"device": 365, "operator": 365, "tls-server": 365, "tls-client": 365,
                "tsa": 365 * 3, "ocsp": 30}
#: validity of the root CA and of the issuing CA, in days
CA_DAYS = {"root": 3653, "issuing": 1826}
_HOSTNAME = re.compile(r"^(?=.{1,253}$)(\*\.)?([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*"
                       r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")


def _key_usage(*, sign: bool = False, commit: bool = False, encipher: bool = False,
               ca: bool = False) -> x509.KeyUsage:
    from cryptography import x509

    return x509.KeyUsage(digital_signature=sign, content_commitment=commit,
                         key_encipherment=encipher, data_encipherment=False,
                         key_agreement=False, key_cert_sign=ca, crl_sign=ca,
                         encipher_only=False, decipher_only=False)


def subject_name(name: str, *, serial: str | None = None,
                 organization: str | None = None) -> x509.Name:
    """``CN=name[, serialNumber=serial][, O=organization]``.

    Raises:
        InvalidInput: an empty name, a name over 64 characters or with control characters, a
            serial outside PrintableString (``A-Z a-z 0-9 space ' ( ) + , - . / : = ?``).
    """
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    for what, value in (("name", name), ("organization", organization), ("serial", serial)):
        if value is not None and (not value.strip() or len(value) > 64
                                  or any(ord(c) < 32 or ord(c) == 127 for c in value)):
            raise InvalidInput(f"the certificate {what} must be 1 to 64 characters without "
                               "control characters")
    if serial is not None and not PRINTABLE.fullmatch(serial):
        raise InvalidInput(f"device serial {serial!r} is not a PrintableString (allowed: "
                           "A-Z a-z 0-9 space ' ( ) + , - . / : = ?)")
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, name)]
    if serial is not None:
        attrs.append(x509.NameAttribute(NameOID.SERIAL_NUMBER, serial))
    if organization:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    return x509.Name(attrs)


def parse_san(value: str) -> x509.GeneralName:
    """An IP address or a DNS name for the subjectAltName.

    Raises:
        InvalidInput: neither.
    """
    from cryptography import x509

    try:
        return x509.IPAddress(ipaddress.ip_address(value))
    except ValueError:
        pass
    if _HOSTNAME.fullmatch(value):
        return x509.DNSName(value.lower())
    raise InvalidInput(f"--san {value!r} is neither an IP address nor a DNS name")


def _common(builder: Any, public_key: Any, issuer_cert: x509.Certificate | None,
            ca_path_length: int | None) -> Any:
    from cryptography import x509

    ca = ca_path_length is not None
    builder = builder.add_extension(x509.BasicConstraints(ca=ca, path_length=ca_path_length),
                                    critical=True)
    builder = builder.add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key),
                                    critical=False)
    if issuer_cert is not None:
        ski = issuer_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
    return builder


def _urls(builder: Any, crl_url: str | None, ocsp_url: str | None) -> Any:
    from cryptography import x509
    from cryptography.x509.oid import AuthorityInformationAccessOID

    if crl_url:
        builder = builder.add_extension(x509.CRLDistributionPoints([x509.DistributionPoint(
            [x509.UniformResourceIdentifier(crl_url)], None, None, None)]), critical=False)
    if ocsp_url:
        builder = builder.add_extension(x509.AuthorityInformationAccess([
            x509.AccessDescription(AuthorityInformationAccessOID.OCSP,
                                   x509.UniformResourceIdentifier(ocsp_url))]), critical=False)
    return builder


def root_crl_url(crl_url: str | None) -> str | None:
    """Where the root's CRL is published: ``root.crl.pem`` beside the site's CRL URL
    (``pki crl`` writes ``DIR/crl.pem`` and ``DIR/root.crl.pem`` for that)."""
    from urllib.parse import urljoin

    return urljoin(crl_url, "root.crl.pem") if crl_url else None


def ca_extensions(builder: Any, public_key: Any, *, issuer_cert: x509.Certificate | None,
                  path_length: int, ocsp_url: str | None = None,
                  crl_url: str | None = None) -> Any:
    """``builder`` with the extensions of a CA (root: ``issuer_cert=None``). An issuing CA
    gets the OCSP URL (the site responder answers for it too) and, as its CRL distribution
    point, the ROOT's CRL (:func:`root_crl_url` of the site's ``crl_url``): the CRL that
    would list it."""
    builder = _common(builder, public_key, issuer_cert, path_length)
    builder = builder.add_extension(_key_usage(ca=True), critical=True)
    if issuer_cert is not None:
        builder = _urls(builder, root_crl_url(crl_url), ocsp_url)
    return builder


def end_entity_extensions(builder: Any, kind: str, public_key: Any, *,
                          issuer_cert: x509.Certificate, identity: DeviceIdentity | None,
                          sans: Sequence[x509.GeneralName], crl_url: str | None,
                          ocsp_url: str | None) -> Any:
    """``builder`` with the extensions of an end entity of ``kind`` (see the module table)."""
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID as Eku

    if kind not in KINDS:
        raise InvalidInput(f"unknown certificate kind {kind!r} (known: {', '.join(KINDS)})")
    builder = _common(builder, public_key, issuer_cert, None)
    is_rsa = isinstance(public_key, rsa.RSAPublicKey)
    usage = {
        "device": _key_usage(sign=True, commit=True),
        "operator": _key_usage(sign=True, commit=True),
        "tls-server": _key_usage(sign=True, encipher=is_rsa),
        "tls-client": _key_usage(sign=True),
        "tsa": _key_usage(sign=True, commit=True),
        "ocsp": _key_usage(sign=True),
    }[kind]
    builder = builder.add_extension(usage, critical=True)
    eku = {"operator": Eku.EMAIL_PROTECTION, "tls-server": Eku.SERVER_AUTH,
           "tls-client": Eku.CLIENT_AUTH, "tsa": Eku.TIME_STAMPING,
           "ocsp": Eku.OCSP_SIGNING}.get(kind)
    if eku is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage([eku]), critical=kind == "tsa")
    names = list(sans)
    if kind == "device" and identity is not None:
        builder = builder.add_extension(identity_extension(identity), critical=False)
        if identity.serial:
            names.append(hardware_module_name(identity.serial))
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    if kind == "ocsp":
        return builder.add_extension(x509.OCSPNoCheck(), critical=False)
    return _urls(builder, crl_url, ocsp_url)


def kind_of(cert: x509.Certificate) -> str:
    """The kind of a certificate of the site PKI, read back from its extensions: ``root`` or
    ``issuing`` for CAs, else one of :data:`KINDS` (``device`` when nothing else fits)."""
    from cryptography import x509
    from cryptography.x509.oid import ExtendedKeyUsageOID as Eku

    try:
        bc = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        bc = None
    if bc is not None and bc.ca:
        return "root" if cert.issuer == cert.subject else "issuing"
    try:
        eku = set(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    except x509.ExtensionNotFound:
        eku = set()
    for oid, kind in ((Eku.OCSP_SIGNING, "ocsp"), (Eku.TIME_STAMPING, "tsa"),
                      (Eku.SERVER_AUTH, "tls-server"), (Eku.CLIENT_AUTH, "tls-client"),
                      (Eku.EMAIL_PROTECTION, "operator")):
        if oid in eku:
            return kind
    return "device"
