"""Low-level: a signature value under the signer's certificate, and that certificate.

Shared by the producer (which checks each value it makes) and the judge. Checks that the value
matches a MAC digest under the certificate's public key; the signer's certificate is judged for
use by :func:`check_signer_certificate` (the rules ``verify`` applies, from
:func:`dicomsec.trust.check_for_use`), its chain and revocation by ``_verify``.
"""

from __future__ import annotations

import datetime as _dt
from typing import TYPE_CHECKING

from dicomsec import algorithms
from dicomsec.errors import InvalidInput, VerificationFailed
from dicomsec.signatures._values import strip_der_pad, unpadded_value

if TYPE_CHECKING:
    from cryptography import x509

__all__ = ["check_signer_certificate", "check_value", "load_signer", "verify_value"]


def verify_value(cert: x509.Certificate, value: bytes, digest: bytes,
                 mac_alg: algorithms.Algorithm) -> tuple[algorithms.Algorithm | None, str | None]:
    """Check a signature value over a MAC digest; returns (scheme used, problem or None)."""
    from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils

    pub = cert.public_key()
    try:
        scheme = algorithms.signature_scheme_for_key(pub)
    except InvalidInput as exc:
        return None, str(exc)
    try:
        if isinstance(pub, rsa.RSAPublicKey):
            if mac_alg.digest_info_prefix:
                # no hash class: recover the DigestInfo and compare (PS3.15 C.1, RFC 8017)
                import hmac

                recovered = pub.recover_data_from_signature(value, padding.PKCS1v15(), None)
                if not hmac.compare_digest(recovered, mac_alg.digest_info_prefix + digest):
                    return scheme, "signature does not match the data"
                return scheme, None
            h = mac_alg.crypto_hash()
            try:
                pub.verify(value, digest, padding.PKCS1v15(), utils.Prehashed(h))
                return scheme, None
            except InvalidSignature:
                pub.verify(value, digest, padding.PSS(padding.MGF1(mac_alg.crypto_hash()),
                                                      padding.PSS.AUTO), utils.Prehashed(h))
                return algorithms.signature_scheme_for_key(pub, rsa_pss=True), None
        if isinstance(pub, ec.EllipticCurvePublicKey):
            pub.verify(unpadded_value(value, scheme), digest,
                       ec.ECDSA(utils.Prehashed(mac_alg.crypto_hash())))
            return scheme, None
        pub.verify(unpadded_value(value, scheme), digest)  # type: ignore[union-attr,call-arg]
        return scheme, None
    except InvalidSignature:
        return scheme, "signature does not match the data"
    except (UnsupportedAlgorithm, InvalidInput) as exc:
        return scheme, f"cannot check this signature: {exc}"
    except (ValueError, TypeError) as exc:
        return scheme, f"malformed signature value ({exc})"


def load_signer(raw: bytes | None) -> tuple[x509.Certificate | None, str | None]:
    from cryptography import x509

    if not raw:
        return None, "no Certificate of Signer"
    try:
        cert = x509.load_der_x509_certificate(strip_der_pad(raw))
        # cryptography parses lazily: touch what verification uses, so that a malformed
        # certificate is reported here and not raised later
        cert.public_key()
        cert.subject.rfc4514_string()
        _ = cert.extensions, cert.not_valid_before_utc, cert.not_valid_after_utc
    except Exception as exc:  # the library raises several types for malformed input
        return None, f"Certificate of Signer is not usable ({type(exc).__name__})"
    return cert, None


def check_signer_certificate(cert: x509.Certificate, *, at: _dt.datetime | None = None) -> None:
    """Refuse to sign with a certificate that ``verify`` would refuse at ``at`` (default: now,
    the signing time): outside its validity, key usage without digitalSignature
    (nonRepudiation alone is refused; a CA-only or keyEncipherment-only key), an extended
    key usage dedicated to time-stamping or OCSP, a key that cannot sign. One rule list with
    ``verify``: :func:`dicomsec.trust.check_for_use` with
    :attr:`~dicomsec.trust.KeyPurpose.SIGNING`.

    Raises:
        CertificateNotUsable: an :class:`~dicomsec.errors.InvalidInput` (exit 2), one line.
    """
    from dicomsec.trust import KeyPurpose, check_for_use

    check_for_use(cert, KeyPurpose.SIGNING, at=at, name="signer certificate")


def check_value(cert: x509.Certificate, value: bytes, digest: bytes,
                mac_alg: algorithms.Algorithm, *, at: _dt.datetime | None = None) -> None:
    """Verify a value just made (guards against faults and key/certificate mix-ups), after
    :func:`check_signer_certificate` at ``at`` (default: now): nothing made under a certificate
    ``verify`` refuses is written.

    Raises:
        CertificateNotUsable: the certificate cannot sign (exit 2).
        VerificationFailed: the value does not verify.
    """
    check_signer_certificate(cert, at=at)
    _scheme, problem = verify_value(cert, value, digest, mac_alg)
    if problem:
        raise VerificationFailed(f"the new signature does not verify: {problem}")
