"""A small PKI made with ``cryptography`` for the validator's tests: a root and an issuing CA
(EC P-256), leaves for every reason code, CRLs and OCSP responses, Ed25519 and ML-DSA-65 CAs.
Everything is dated around :data:`AT` (no wall clock); nothing is committed."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, mldsa, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

AT = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
SIGNING_KU = dict(digital_signature=True, content_commitment=True, key_encipherment=False,
                  data_encipherment=False, key_agreement=False, key_cert_sign=False,
                  crl_sign=False, encipher_only=False, decipher_only=False)
CA_KU = {**SIGNING_KU, "digital_signature": False, "content_commitment": False,
         "key_cert_sign": True, "crl_sign": True}


def name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _hash(key: Any) -> hashes.SHA256 | None:
    pure = ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey | mldsa.MLDSA65PrivateKey
    return None if isinstance(key, pure) else hashes.SHA256()


@dataclass
class Issuer:
    key: Any
    cert: x509.Certificate


def make_cert(cn: str, key: Any, issuer: Issuer | None, *, ca: bool = False,
              not_before: dt.datetime = AT - 100 * DAY, not_after: dt.datetime = AT + 300 * DAY,
              ku: dict[str, bool] | None = None, eku: Sequence[x509.ObjectIdentifier] = (),
              crl_url: str | None = None, ocsp_url: str | None = None,
              digest: hashes.SHA256 | None = None, issuer_name: x509.Name | None = None,
              signer: Any = None) -> x509.Certificate:
    subject = name(cn)
    sign_key = signer or (issuer.key if issuer else key)
    builder = (x509.CertificateBuilder().subject_name(subject)
               .issuer_name(issuer_name or (issuer.cert.subject if issuer else subject))
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(not_before).not_valid_after(not_after)
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
               .add_extension(x509.KeyUsage(**(ku or (CA_KU if ca else SIGNING_KU))),
                              critical=True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                              critical=False))
    if eku:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(eku)), critical=False)
    if crl_url:
        builder = builder.add_extension(x509.CRLDistributionPoints([x509.DistributionPoint(
            [x509.UniformResourceIdentifier(crl_url)], None, None, None)]), critical=False)
    if ocsp_url:
        builder = builder.add_extension(x509.AuthorityInformationAccess([
            x509.AccessDescription(x509.oid.AuthorityInformationAccessOID.OCSP,
                                   x509.UniformResourceIdentifier(ocsp_url))]), critical=False)
    algorithm = digest if digest is not None else _hash(sign_key)
    return builder.sign(sign_key, algorithm)


def make_crl(issuer: Issuer, entries: Sequence[tuple[x509.Certificate, dt.datetime,
                                                     x509.ReasonFlags | None,
                                                     dt.datetime | None]] = (),
             *, this_update: dt.datetime = AT - 10 * DAY,
             next_update: dt.datetime = AT + 30 * DAY,
             signer: Any = None) -> x509.CertificateRevocationList:
    builder = (x509.CertificateRevocationListBuilder().issuer_name(issuer.cert.subject)
               .last_update(this_update).next_update(next_update)
               .add_extension(x509.CRLNumber(1), critical=False))
    for cert, when, reason, invalid in entries:
        entry = x509.RevokedCertificateBuilder().serial_number(cert.serial_number) \
            .revocation_date(when)
        if reason is not None:
            entry = entry.add_extension(x509.CRLReason(reason), critical=False)
        if invalid is not None:
            entry = entry.add_extension(x509.InvalidityDate(invalid), critical=False)
        builder = builder.add_revoked_certificate(entry.build())
    key = signer or issuer.key
    return builder.sign(key, _hash(key))


def make_ocsp(cert: x509.Certificate, issuer: Issuer, status: ocsp.OCSPCertStatus, *,
              revoked_at: dt.datetime | None = None, nonce: bytes | None = None,
              this_update: dt.datetime = AT - DAY, next_update: dt.datetime = AT + 7 * DAY,
              ) -> bytes:
    from cryptography.hazmat.primitives import serialization

    builder = ocsp.OCSPResponseBuilder().add_response(
        cert=cert, issuer=issuer.cert, algorithm=hashes.SHA256(), cert_status=status,
        this_update=this_update, next_update=next_update,
        revocation_time=revoked_at if status is ocsp.OCSPCertStatus.REVOKED else None,
        revocation_reason=x509.ReasonFlags.key_compromise
        if status is ocsp.OCSPCertStatus.REVOKED else None,
    ).responder_id(ocsp.OCSPResponderEncoding.HASH, issuer.cert)
    if nonce is not None:
        builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
    return builder.sign(issuer.key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


@dataclass
class Pki:
    root: Issuer
    issuing: Issuer
    leaves: dict[str, x509.Certificate] = field(default_factory=dict)
    crls: dict[str, x509.CertificateRevocationList] = field(default_factory=dict)
    ocsps: dict[str, bytes] = field(default_factory=dict)
    weak: Issuer | None = None


def make_pki() -> Pki:
    root_key = ec.generate_private_key(ec.SECP256R1())
    root = Issuer(root_key, make_cert("Test Root CA", root_key, None, ca=True,
                                      not_before=AT - 1000 * DAY, not_after=AT + 3000 * DAY))
    issuing_key = ec.generate_private_key(ec.SECP256R1())
    issuing = Issuer(issuing_key, make_cert("Test Issuing CA", issuing_key, root, ca=True,
                                            not_before=AT - 900 * DAY,
                                            not_after=AT + 2000 * DAY))
    pki = Pki(root, issuing)

    def leaf(cn: str, **kw: Any) -> None:
        pki.leaves[cn] = make_cert(cn, ec.generate_private_key(ec.SECP256R1()), issuing, **kw)

    for cn in ("good", "revoked", "revoked-later", "compromised", "held"):
        leaf(cn)
    for cn in ("ocsp-good", "ocsp-revoked", "ocsp-unknown"):
        # pyhanko applies an OCSP response only to a certificate naming a responder
        leaf(cn, ocsp_url="http://ocsp.invalid/")
    leaf("expired", not_before=AT - 400 * DAY, not_after=AT - 30 * DAY)
    leaf("not-yet-valid", not_before=AT + 30 * DAY)
    leaf("wrong-ku", ku={**SIGNING_KU, "digital_signature": False,
                         "content_commitment": False, "key_agreement": True})
    weak_key = rsa.generate_private_key(65537, 1024)
    weak = Issuer(weak_key, make_cert("Weak RSA-1024 CA", weak_key, root, ca=True))
    pki.leaves["weak"] = make_cert("weak", ec.generate_private_key(ec.SECP256R1()), weak)
    pki.weak = weak
    stranger_key = ec.generate_private_key(ec.SECP256R1())
    stranger = Issuer(stranger_key, make_cert("Stranger CA", stranger_key, None, ca=True))
    pki.leaves["unknown-issuer"] = make_cert("unknown issuer",
                                             ec.generate_private_key(ec.SECP256R1()), stranger)
    pki.leaves["bad-signature"] = make_cert("bad signature",
                                            ec.generate_private_key(ec.SECP256R1()), issuing,
                                            signer=stranger_key)
    leaves = pki.leaves
    kc = x509.ReasonFlags.key_compromise
    pki.crls["root"] = make_crl(root)
    pki.crls["issuing"] = make_crl(issuing, [
        (leaves["revoked"], AT - 5 * DAY, kc, None),
        (leaves["revoked-later"], AT + 5 * DAY, x509.ReasonFlags.superseded, None),
        # revoked after AT, but the key was compromised before it
        (leaves["compromised"], AT + 5 * DAY, kc, AT - 20 * DAY),
        (leaves["held"], AT + 5 * DAY, x509.ReasonFlags.certificate_hold, None),
    ], this_update=AT + 6 * DAY, next_update=AT + 60 * DAY)
    pki.crls["stale"] = make_crl(issuing, this_update=AT - 60 * DAY,
                                 next_update=AT - 30 * DAY)
    pki.crls["forged"] = make_crl(issuing, [(leaves["good"], AT - 5 * DAY, kc, None)],
                                  signer=stranger_key)
    good, rev, unk = (ocsp.OCSPCertStatus.GOOD, ocsp.OCSPCertStatus.REVOKED,
                      ocsp.OCSPCertStatus.UNKNOWN)
    pki.ocsps["ocsp-good"] = make_ocsp(leaves["ocsp-good"], issuing, good)
    pki.ocsps["ocsp-revoked"] = make_ocsp(leaves["ocsp-revoked"], issuing, rev,
                                          revoked_at=AT - 3 * DAY)
    pki.ocsps["ocsp-unknown"] = make_ocsp(leaves["ocsp-unknown"], issuing, unk)
    return pki


def eku_leaf(pki: Pki, cn: str, eku: Sequence[x509.ObjectIdentifier]) -> x509.Certificate:
    return make_cert(cn, ec.generate_private_key(ec.SECP256R1()), pki.issuing, eku=eku,
                     ku={**SIGNING_KU, "content_commitment": False})


TLS_SERVER = (ExtendedKeyUsageOID.SERVER_AUTH,)


def validation_reports() -> list[Any]:
    """Sample ``dicomsec.trust.validation/1`` reports (valid, revoked, no path) for the report
    protocol's tests (``tests/test_reports.py`` FACTORIES)."""
    from dicomsec.trust import TrustStore
    from dicomsec.trust._report import ValidationReport

    pki = make_pki()
    store = TrustStore(anchors=(pki.root.cert,), intermediates=(pki.issuing.cert,),
                       crls=(pki.crls["root"], pki.crls["issuing"]))
    return [ValidationReport.from_result(pki.leaves[cn], store.validate(pki.leaves[cn], at=AT),
                                         at=AT, purpose="signing")
            for cn in ("good", "revoked", "unknown-issuer")]
