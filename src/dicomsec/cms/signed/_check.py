"""Checking one SignerInfo (RFC 5652 §5.4-5.6): signed attributes, the signature, the
signer's certificate and, when a trust store is given, its chain.

Limits: SignerInfo signature algorithms are those of the registry's CMS signature identifiers
(RSA PKCS#1 v1.5, RSASSA-PSS with MGF1, ECDSA, Ed25519; Ed448 only where its digest is known);
signer certificates must be inside the SignedData; unsigned attributes are ignored; EdDSA
without signed attributes is reported as unsupported.
"""

from __future__ import annotations

import datetime as _dt
import hmac
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dicomsec import algorithms
from dicomsec.algorithms import Algorithm, Family, Kind
from dicomsec.cms._der import SET, element_spans
from dicomsec.cms.signed._common import (
    _CONTEXT_0,
    OID_ATTR_CONTENT_TYPE,
    OID_ATTR_MESSAGE_DIGEST,
    OID_ATTR_SIGNING_TIME,
    _digest,
    first_line,
    parser_errors,
)
from dicomsec.cms.signed._reports import SignerReport
from dicomsec.errors import InvalidInput, UnsupportedAlgorithm

if TYPE_CHECKING:
    from cryptography import x509

    from dicomsec.trust import TrustStore

__all__ = [
    "SignatureProblem",
    "check_content_attributes",
    "signed_attributes",
    "verify_signer_signature",
]


@dataclass
class _Cert:
    asn1: Any  # asn1crypto.x509.Certificate
    crypto: x509.Certificate


@dataclass
class _Signer:
    info: Any  # asn1crypto.cms.SignerInfo
    digest: Algorithm | None
    problems: list[str] = field(default_factory=list)


class SignatureProblem(Exception):
    """A problem that makes a signature invalid; the message goes into ``problems``."""


def load_certificate(der: bytes) -> _Cert:
    """A certificate of the SignedData, with every field the checks read parsed now: the
    issuer, serial number, key identifier, version, subject and public key (the issuer's
    preparation for RFC 5280 matching is left to :func:`_find_certificate`, which needs it
    rarely). Both parsers read it, so a certificate one of them cannot use is refused here.

    Raises:
        one of :func:`~dicomsec.cms.signed._common.parser_errors`: unreadable or unusable
            (malformed ASN.1, bad strings, an unknown version, key type or curve).
    """
    from asn1crypto import x509 as ax509
    from cryptography import x509 as cx509
    from cryptography.utils import CryptographyDeprecationWarning

    parsed = ax509.Certificate.load(der)
    _ = (parsed.issuer.dump(), parsed.serial_number, parsed.key_identifier)
    with warnings.catch_warnings():
        # a hostile file must not add lines to the output (a serial that is not positive)
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        crypto = cx509.load_der_x509_certificate(der)
    _ = (crypto.version, crypto.subject.rfc4514_string(), crypto.public_key())
    return _Cert(parsed, crypto)


#: bytes of a signer's issuer name (and its serial and key identifier) put into a message;
#: a longer one is described by its size (a hostile name is not built RDN by RDN)
SHOWN_BYTES = 1024
#: signed attributes of one SignerInfo, and values of one attribute, read (RFC 5652 §5.3
#: signers carry a handful; more makes the signature invalid before they are parsed)
SIGNED_ATTRIBUTES = 64


def _sid_text(sid: Any) -> str:
    if sid.name == "issuer_and_serial_number":
        ias = sid.chosen
        issuer, serial = ias["issuer"], ias["serial_number"]
        size = len(issuer.contents or b"")
        name = issuer.human_friendly if size <= SHOWN_BYTES else f"of {size} bytes"
        if len(serial.contents or b"") > SHOWN_BYTES:
            return f"issuer {name}, serial of {len(serial.contents)} bytes"
        return f"issuer {name}, serial {serial.native:#x}"
    ski = bytes(sid.chosen.contents or b"")
    if len(ski) > SHOWN_BYTES:
        return f"subject key identifier of {len(ski)} bytes"
    return f"subject key identifier {sid.chosen.native.hex()}"


def _rdn_count(name: Any) -> int:
    """RDNs of an asn1crypto Name, counted without an object per RDN (-1: malformed)."""
    try:
        return element_spans(bytes(name.chosen.contents or b""), 0)[1]
    except InvalidInput:
        return -1


def _find_certificate(sid: Any, certs: Sequence[_Cert]) -> _Cert | None:
    for cert in certs:
        if sid.name == "issuer_and_serial_number":
            ias = sid.chosen
            if cert.asn1.serial_number != ias["serial_number"].native:
                continue
            # the same DER is the same name; otherwise RFC 5280 matching (case, spaces), where
            # a name that cannot be decoded or prepared (bad UTF-8, say) matches nothing
            if cert.asn1.issuer.dump() == ias["issuer"].dump():
                return cert
            # names of different RDN counts never match (asn1crypto compares the counts
            # after building every RDN: a hostile name is counted, not built)
            if _rdn_count(ias["issuer"]) != len(cert.asn1.issuer.chosen):
                continue
            try:
                if cert.asn1.issuer == ias["issuer"]:
                    return cert
            except parser_errors():
                continue
        elif sid.name == "subject_key_identifier":
            ski = cert.asn1.key_identifier
            if ski is not None and ski == sid.chosen.native:
                return cert
    return None


def check_content_attributes(by_type: dict[str, Any], content_type: str,
                             content_digest: bytes) -> None:
    """RFC 5652 §11.1/11.2: content-type names the eContentType and message-digest is the
    digest of the content (compared in constant time).

    Raises:
        SignatureProblem: an attribute is missing or does not match.
    """
    ct = by_type.get(OID_ATTR_CONTENT_TYPE)
    if ct is None:
        raise SignatureProblem("signed attributes lack content-type")
    if ct.dotted != content_type:
        raise SignatureProblem("signed content-type differs from the eContentType")
    md = by_type.get(OID_ATTR_MESSAGE_DIGEST)
    if md is None:
        raise SignatureProblem("signed attributes lack message-digest")
    if not hmac.compare_digest(md.native, content_digest):
        raise SignatureProblem("message-digest does not match the content (content altered)")


def _capped_children(value: Any, what: str) -> list[Any]:
    """The children of an asn1crypto SET OF, counted before any is built: more than
    :data:`SIGNED_ATTRIBUTES` is a :class:`SignatureProblem`."""
    try:
        _, count = element_spans(bytes(value.contents or b""), 0)
    except InvalidInput:
        raise SignatureProblem(f"{what} are malformed") from None
    if count > SIGNED_ATTRIBUTES:
        raise SignatureProblem(f"{count} {what}, more than {SIGNED_ATTRIBUTES} are not read")
    return list(value)


def signed_attributes(info: Any) -> tuple[bytes, dict[str, Any]] | None:
    """The DER to verify (retagged as SET OF) and the single values by type OID."""
    from asn1crypto import core

    attrs = info["signed_attrs"]
    if isinstance(attrs, core.Void) or attrs.contents is None:
        return None
    raw = bytes(attrs.dump())
    if raw[:1] != bytes([_CONTEXT_0]):
        raise SignatureProblem("signed attributes are malformed")
    by_type: dict[str, Any] = {}
    for attr in _capped_children(attrs, "signed attributes"):
        oid = attr["type"].dotted
        if oid in by_type:
            raise SignatureProblem(f"signed attribute {oid} occurs more than once")
        values = _capped_children(attr["values"], f"values of signed attribute {oid}")
        if oid in (OID_ATTR_CONTENT_TYPE, OID_ATTR_MESSAGE_DIGEST, OID_ATTR_SIGNING_TIME) and (
            len(values) != 1
        ):
            raise SignatureProblem(f"signed attribute {oid} must have exactly one value")
        by_type[oid] = values[0] if len(values) else None
    return bytes([0x20 | SET]) + raw[1:], by_type


def _pss_padding(sig_alg: Any) -> tuple[Any, Algorithm]:
    """The PSS padding and its hash from RSASSA-PSS parameters (RFC 4055 defaults)."""
    from asn1crypto import core
    from cryptography.hazmat.primitives.asymmetric import padding

    params = sig_alg["parameters"]
    if isinstance(params, core.Void):
        sha1 = _digest("sha1")
        return padding.PSS(padding.MGF1(sha1.crypto_hash()), 20), sha1
    try:
        pss_hash = algorithms.by_oid(params["hash_algorithm"]["algorithm"].dotted, Kind.DIGEST)
        mgf = params["mask_gen_algorithm"]
        if mgf["algorithm"].dotted != algorithms.by_name("mgf1", Kind.KDF).oid:
            raise SignatureProblem("RSA-PSS mask generation function is not MGF1")
        mgf_hash = algorithms.by_oid(mgf["parameters"]["algorithm"].dotted, Kind.DIGEST)
        if params["trailer_field"].native not in ("trailer_field_bc", 1):
            raise SignatureProblem("RSA-PSS trailer field is not 1")
        salt = params["salt_length"].native
        return padding.PSS(padding.MGF1(mgf_hash.crypto_hash()), salt), pss_hash
    except (UnsupportedAlgorithm, ValueError, TypeError, KeyError) as exc:
        raise SignatureProblem(f"RSA-PSS parameters: {first_line(exc)}") from None


def verify_signer_signature(info: Any, key: Any, message: bytes, prehashed: bool,
                      digest: Algorithm) -> str:
    """Verify; returns the signature algorithm name. ``prehashed``: ``message`` is a digest."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa, utils

    sig_alg = info["signature_algorithm"]
    oid = sig_alg["algorithm"].dotted
    try:
        alg = algorithms.by_oid(oid, Kind.CMS_SIGNATURE)
    except UnsupportedAlgorithm:
        raise SignatureProblem(f"unsupported signature algorithm {oid}") from None
    signature = info["signature"].native
    try:
        if alg.family is Family.EDDSA:
            if prehashed:
                raise SignatureProblem("unsupported: EdDSA without signed attributes")
            expected = (ed25519.Ed25519PublicKey if alg.name == "cms-ed25519"
                        else ed448.Ed448PublicKey)
            if not isinstance(key, expected):
                raise SignatureProblem(
                    f"signature algorithm {alg.name} does not fit the signer's key")
            key.verify(signature, message)
            return alg.name
        pad: Any = None
        if alg.name == "rsassa-pss":
            pad, sig_hash = _pss_padding(sig_alg)
        else:
            sig_hash = _digest(alg.hash) if alg.hash else digest  # rsaEncryption: the digest's
        if prehashed and sig_hash is not digest:
            raise SignatureProblem(
                f"signature hash {sig_hash.name} differs from the digest algorithm "
                f"{digest.name} (no signed attributes)"
            )
        try:
            hash_obj = sig_hash.crypto_hash()
        except UnsupportedAlgorithm as exc:
            raise SignatureProblem(str(exc)) from None
        algo: Any = utils.Prehashed(hash_obj) if prehashed else hash_obj
        if alg.family is Family.RSA:
            if not isinstance(key, rsa.RSAPublicKey):
                raise SignatureProblem(
                    f"signature algorithm {alg.name} does not fit the signer's key")
            from cryptography.hazmat.primitives.asymmetric import padding

            key.verify(signature, message, pad or padding.PKCS1v15(), algo)
        elif alg.family is Family.EC:
            if not isinstance(key, ec.EllipticCurvePublicKey):
                raise SignatureProblem(
                    f"signature algorithm {alg.name} does not fit the signer's key")
            key.verify(signature, message, ec.ECDSA(algo))
        else:
            raise SignatureProblem(f"unsupported signature algorithm {alg.name}")
    except InvalidSignature:
        raise SignatureProblem("signature does not verify with the signer's certificate") from None
    return alg.name


def _algorithms_used(info: Any, digest: Algorithm, key: Any) -> list[tuple[Algorithm, Any]]:
    """What a verified SignerInfo used: its digest, its signature scheme with the signer's
    public key and, for RSASSA-PSS, the hash of its parameters."""
    sig_alg = info["signature_algorithm"]
    alg = algorithms.by_oid(sig_alg["algorithm"].dotted, Kind.CMS_SIGNATURE)
    used: list[tuple[Algorithm, Any]] = [(digest, None), (alg, key)]
    if alg.name == "rsassa-pss":
        pss_hash = _pss_padding(sig_alg)[1]
        if pss_hash is not digest:
            used.append((pss_hash, None))
    return used


def _check_signer(signer: _Signer, content_type: str, digests: dict[str, bytes],
                  certs: Sequence[_Cert], trust: TrustStore | None,
                  used: list[tuple[Algorithm, Any]] | None = None, *,
                  unreadable: int = 0) -> SignerReport:
    """Check one SignerInfo; when it verifies, append what it used to ``used``.
    ``unreadable``: how many certificates of the SignedData could not be read (said when the
    signer's certificate is not found)."""
    info = signer.info
    problems = list(signer.problems)
    sid = info["sid"]
    cert = _find_certificate(sid, certs)
    who = cert.crypto.subject.rfc4514_string() if cert is not None else _sid_text(sid)
    algorithm = info["signature_algorithm"]["algorithm"].dotted
    signing_time: _dt.datetime | None = None
    valid = False
    try:
        if signer.digest is None:
            raise SignatureProblem("cannot hash the content for this signer")
        if signer.digest.legacy:
            problems.append(f"legacy digest algorithm {signer.digest.name}")
        content_digest = digests[signer.digest.name]
        if cert is None:
            raise SignatureProblem("the signer's certificate is not in the SignedData" + (
                f" ({unreadable} certificate(s) there could not be read)" if unreadable else ""))
        signed = signed_attributes(info)
        if signed is None:
            message, prehashed = content_digest, True
        else:
            message, by_type = signed
            prehashed = False
            check_content_attributes(by_type, content_type, content_digest)
            st = by_type.get(OID_ATTR_SIGNING_TIME)
            if st is not None:
                when = st.native
                if isinstance(when, _dt.datetime):
                    signing_time = when if when.tzinfo else when.replace(tzinfo=_dt.UTC)
        algorithm = verify_signer_signature(info, cert.crypto.public_key(), message, prehashed,
                                      signer.digest)
        valid = True
        if used is not None:
            used += _algorithms_used(info, signer.digest, cert.crypto.public_key())
    except SignatureProblem as exc:
        problems.append(str(exc))
    except (ValueError, TypeError, KeyError) as exc:  # malformed deep in a SignerInfo
        problems.append(f"SignerInfo is malformed: {first_line(exc)}")
    except parser_errors() as exc:  # what the crypto library cannot run, an overflow
        problems.append(f"SignerInfo cannot be checked: {first_line(exc)}")
    trusted = False
    if trust is not None and cert is not None:
        from dicomsec.trust import KeyPurpose

        now = _dt.datetime.now(_dt.UTC)
        try:
            result = trust.validate(
                cert.crypto,
                at=signing_time or now,
                purpose=KeyPurpose.SIGNING,
                extra_intermediates=[c.crypto for c in certs if c is not cert],
                revocation_at=now,  # signing-time is the signer's own claim
            )
        except Exception as exc:  # e.g. a certificate with malformed extensions
            problems.append(f"signer certificate cannot be validated: {first_line(exc)}")
        else:
            trusted = result.trusted
            problems.extend(f"signer certificate: {p}" for p in result.problems)
    elif trust is not None:
        problems.append("signer certificate not found: cannot check trust")
    return SignerReport(
        signer=who,
        algorithm=algorithm,
        digest=signer.digest.name if signer.digest is not None else
        info["digest_algorithm"]["algorithm"].dotted,
        valid=valid,
        trusted=trusted,
        problems=tuple(problems),
        signing_time=signing_time,
    )

