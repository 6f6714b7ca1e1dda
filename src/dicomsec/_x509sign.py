"""Sign X.509 objects (certificates, CRLs, OCSP responses, CSRs) with a key that only signs
digests, e.g. a key held in a PKCS#11 token.

Low-level (keys layer). cryptography's builders sign only with an in-memory private key. For a
token key the builder is signed with a THROWAWAY in-memory key of the same family; that yields
the to-be-signed bytes, whose embedded signature AlgorithmIdentifier is the same as the token
key's (it names only the family and hash: ``ecdsa-with-SHA256``, ``sha256WithRSAEncryption``
with NULL parameters, ``id-Ed25519``; neither the curve nor the RSA modulus size appear in it).
The TBS bytes are hashed with cryptography, the token signs the digest (EdDSA: the TBS bytes
themselves, ``sign_message``), and the outer SEQUENCE ``{tbs, signatureAlgorithm, BIT STRING}``
is re-assembled with asn1crypto from the very same TBS bytes. The result is loaded by
cryptography and its signature is VERIFIED with the signer's public key before it is returned,
so a wrong token key or a bad encoding never leaves this module.

The throwaway key signs nothing that is kept; one per family (EC, RSA, Ed25519, Ed448) is made
on first use and cached for the process (RSA generation is slow). Its private half never
leaves memory and its signature is replaced before anything is returned.

RSA-PSS X.509 signatures from a token are not offered (PKCS#1 v1.5 is); ML-DSA keys are not
offered by SoftHSM2.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from dicomsec import algorithms
from dicomsec.errors import DicomSecError, InvalidInput, UnsupportedAlgorithm

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPublicKeyTypes
    from cryptography.x509 import ocsp

__all__ = ["DigestSigner", "public_key_of", "sign_certificate", "sign_crl", "sign_csr",
           "sign_ocsp_response"]


@runtime_checkable
class DigestSigner(Protocol):
    """A key that signs digests (a token key): ``public_key()`` and ``sign_digest``.

    EdDSA keys also need ``sign_message(data)`` (PureEdDSA signs the message itself).
    """

    def public_key(self) -> Any: ...
    def sign_digest(self, digest: bytes, digest_alg: algorithms.Algorithm, *,
                    deterministic: bool = False) -> bytes: ...


_lock = threading.Lock()
_throwaway: dict[str, Any] = {}


def _family(public: object) -> str:
    from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

    for name, cls in (("ec", ec.EllipticCurvePublicKey), ("rsa", rsa.RSAPublicKey),
                      ("ed25519", ed25519.Ed25519PublicKey), ("ed448", ed448.Ed448PublicKey)):
        if isinstance(public, cls):
            return name
    raise UnsupportedAlgorithm(f"cannot sign X.509 objects with a {type(public).__name__} "
                               "key held outside memory (RSA, ECDSA and EdDSA can)")


def _throwaway_key(family: str) -> Any:
    """An in-memory key of ``family`` (cached per process) used only to get TBS bytes."""
    from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

    with _lock:
        if family not in _throwaway:
            makers = {"ec": lambda: ec.generate_private_key(ec.SECP256R1()),
                      "rsa": lambda: rsa.generate_private_key(65537, 2048),
                      "ed25519": ed25519.Ed25519PrivateKey.generate,
                      "ed448": ed448.Ed448PrivateKey.generate}
            _throwaway[family] = makers[family]()
        return _throwaway[family]


def _public_of(signer: Any) -> Any:
    if hasattr(signer, "public_key"):
        return signer.public_key()
    if hasattr(signer, "certificate"):  # a Pkcs11SigningKey: its certificate names the key
        return signer.certificate.public_key()
    raise InvalidInput("the X.509 signer has no public key")


def _is_private_key(signer: object) -> bool:
    from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, mldsa, rsa

    kinds: tuple[type, ...] = (ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey,
                               ed25519.Ed25519PrivateKey, ed448.Ed448PrivateKey,
                               dsa.DSAPrivateKey)
    kinds += tuple(getattr(mldsa, n) for n in dir(mldsa) if n.endswith("PrivateKey"))
    return isinstance(signer, kinds)


def _hash_arg(family: str, hash_alg: hashes.HashAlgorithm | None) -> Any:
    if family.startswith("ed"):
        return None  # EdDSA hashes internally; cryptography wants None
    if hash_alg is None:
        raise InvalidInput(f"a hash algorithm is needed to sign with an {family.upper()} key")
    return hash_alg


def _token_signature(signer: Any, family: str, tbs: bytes,
                     hash_alg: hashes.HashAlgorithm | None) -> bytes:
    """The token's signature over ``tbs`` (a digest for RSA/ECDSA, the message for EdDSA)."""
    if family.startswith("ed"):
        sign_message = getattr(signer, "sign_message", None)
        if sign_message is None:
            raise UnsupportedAlgorithm("an EdDSA key outside memory must sign messages "
                                       "(sign_message); this one only signs digests")
        return bytes(sign_message(tbs))
    if getattr(signer, "rsa_pss", False):
        raise UnsupportedAlgorithm("RSA-PSS X.509 signatures from a token key are not "
                                   "offered (PKCS#1 v1.5 is)")
    from cryptography.hazmat.primitives import hashes as _hashes

    assert hash_alg is not None
    digest_alg = algorithms.by_name(hash_alg.name, algorithms.Kind.DIGEST)
    h = _hashes.Hash(hash_alg)
    h.update(tbs)
    return bytes(signer.sign_digest(h.finalize(), digest_alg))


def _verify(public: Any, signature: bytes, tbs: bytes,
            hash_alg: hashes.HashAlgorithm | None, what: str) -> None:
    """Check ``signature`` over ``tbs`` with ``public`` (PKCS#1 v1.5, ECDSA or EdDSA).

    Raises:
        DicomSecError: it does not verify (the token key is not the one meant, or the token
            misbehaved).
    """
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

    try:
        if isinstance(public, rsa.RSAPublicKey):
            assert hash_alg is not None
            public.verify(signature, tbs, padding.PKCS1v15(), hash_alg)
        elif isinstance(public, ec.EllipticCurvePublicKey):
            assert hash_alg is not None
            public.verify(signature, tbs, ec.ECDSA(hash_alg))
        else:
            public.verify(signature, tbs)
    except InvalidSignature:
        raise DicomSecError(f"the {what} signed by the token does not verify with the key's "
                            "public key") from None


def _reassemble(outer_der: bytes, tbs: bytes, signature: bytes, *,
                replace_tbs: bool = False) -> bytes:
    """``SEQUENCE {tbs, signatureAlgorithm, BIT STRING signature, rest...}``: ``outer_der``
    with its signature replaced (the algorithm and trailing bytes are kept as they are; the
    TBS too unless ``replace_tbs``, when ``tbs`` takes its place)."""
    from asn1crypto import core, parser

    _, _, _, _, body, _ = parser.parse(outer_der)
    children: list[bytes] = []
    while body:
        _, _, _, header, contents, trailer = parser.parse(body, strict=False)
        size = len(header) + len(contents) + len(trailer)
        children.append(body[:size])
        body = body[size:]
    if len(children) < 3 or (not replace_tbs and children[0] != tbs):
        raise DicomSecError("internal: the signed object's TBS bytes are not where expected")
    parts = [tbs, children[1], core.OctetBitString(signature).dump(), *children[3:]]
    return b"\x30" + _der_length(sum(map(len, parts))) + b"".join(parts)


def _der_length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def _as_arg(hash_alg: hashes.HashAlgorithm | None) -> Any:
    """``hash_alg`` as the builders' ``sign`` takes it (they type it as a closed union)."""
    return hash_alg


def _prepare(signer: Any, hash_alg: hashes.HashAlgorithm | None) -> tuple[Any, str, Any]:
    public = _public_of(signer)
    family = _family(public)
    return public, family, _hash_arg(family, hash_alg)


def sign_certificate(builder: x509.CertificateBuilder, signer: Any,
                     hash_alg: hashes.HashAlgorithm | None) -> x509.Certificate:
    """Sign a certificate builder with ``signer`` (an in-memory private key, or a
    :class:`DigestSigner` such as a token key). ``hash_alg`` is ignored (``None``) for EdDSA.

    The result's signature is verified with the signer's public key first (for a self-signed
    root, the builder's subject key must be the token's).

    Raises:
        UnsupportedAlgorithm: a key family not offered (see the module docstring).
        DicomSecError: the token's signature does not verify.
    """
    from cryptography import x509 as _x509

    if _is_private_key(signer):
        return builder.sign(signer, _as_arg(hash_alg))
    public, family, alg = _prepare(signer, hash_alg)
    draft = builder.sign(_throwaway_key(family), alg)
    tbs = draft.tbs_certificate_bytes
    signature = _token_signature(signer, family, tbs, alg)
    from cryptography.hazmat.primitives.serialization import Encoding

    cert = _x509.load_der_x509_certificate(
        _reassemble(draft.public_bytes(Encoding.DER), tbs, signature))
    _verify(public, cert.signature, cert.tbs_certificate_bytes, alg, "certificate")
    return cert


def sign_crl(builder: x509.CertificateRevocationListBuilder, signer: Any,
             hash_alg: hashes.HashAlgorithm | None) -> x509.CertificateRevocationList:
    """Sign a CRL builder as :func:`sign_certificate` signs a certificate; the CRL is checked
    with ``is_signature_valid`` against the signer's public key.

    Raises:
        UnsupportedAlgorithm, DicomSecError: as :func:`sign_certificate`.
    """
    from cryptography import x509 as _x509
    from cryptography.hazmat.primitives.serialization import Encoding

    if _is_private_key(signer):
        return builder.sign(signer, _as_arg(hash_alg))
    public, family, alg = _prepare(signer, hash_alg)
    draft = builder.sign(_throwaway_key(family), alg)
    tbs = draft.tbs_certlist_bytes
    signature = _token_signature(signer, family, tbs, alg)
    crl = _x509.load_der_x509_crl(_reassemble(draft.public_bytes(Encoding.DER), tbs, signature))
    if not crl.is_signature_valid(public):
        raise DicomSecError("the CRL signed by the token does not verify with the key's "
                            "public key")
    return crl


def sign_csr(builder: x509.CertificateSigningRequestBuilder, signer: Any,
             hash_alg: hashes.HashAlgorithm | None) -> x509.CertificateSigningRequest:
    """Sign a certificate request (PKCS#10) with ``signer``; the request's public key is the
    signer's (refused otherwise) and its signature is checked (``is_signature_valid``).

    Raises:
        UnsupportedAlgorithm, DicomSecError: as :func:`sign_certificate`.
    """
    from cryptography import x509 as _x509
    from cryptography.hazmat.primitives.serialization import Encoding

    if _is_private_key(signer):
        return builder.sign(signer, _as_arg(hash_alg))
    public, family, alg = _prepare(signer, hash_alg)
    # the TBS names the throwaway key: rebuilt with the signer's key in the request
    draft = _csr_for_public(builder.sign(_throwaway_key(family), alg), public)
    tbs = draft.tbs_certrequest_bytes
    signature = _token_signature(signer, family, tbs, alg)
    csr = _x509.load_der_x509_csr(_reassemble(draft.public_bytes(Encoding.DER), tbs, signature))
    if not csr.is_signature_valid:
        raise DicomSecError("the certificate request signed by the token does not verify with "
                            "the key's public key")
    return csr


def _csr_for_public(draft: x509.CertificateSigningRequest,
                    public: Any) -> x509.CertificateSigningRequest:
    """``draft`` with its SubjectPublicKeyInfo replaced by ``public``'s (a CSR builder takes
    its public key from the signing key, so the throwaway's must be swapped out).

    The CertificationRequestInfo is re-encoded by asn1crypto with the new SPKI; its other
    fields (version, subject, attributes) are kept byte for byte.
    """
    from asn1crypto import csr as a_csr
    from asn1crypto import keys as a_keys
    from cryptography import x509 as _x509
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    request = a_csr.CertificationRequest.load(draft.public_bytes(Encoding.DER))
    info = request["certification_request_info"]
    spki = public.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    new_info = a_csr.CertificationRequestInfo({
        "version": info["version"],
        "subject": info["subject"],
        "subject_pk_info": a_keys.PublicKeyInfo.load(spki),
        "attributes": info["attributes"],
    })
    rebuilt = a_csr.CertificationRequest({
        "certification_request_info": new_info,
        "signature_algorithm": request["signature_algorithm"],
        "signature": request["signature"],
    })
    return _x509.load_der_x509_csr(rebuilt.dump())


def sign_ocsp_response(builder: ocsp.OCSPResponseBuilder, signer: Any,
                       hash_alg: hashes.HashAlgorithm | None) -> ocsp.OCSPResponse:
    """Sign an OCSP response builder (RFC 6960 BasicOCSPResponse) with ``signer``; the
    response's signature is checked with the signer's public key.

    The builder's responder certificate must carry the signer's public key. cryptography
    checks that the signing key matches it, so the draft is made with a stand-in responder
    certificate (same subject, the throwaway key); a ``byKey`` responder ID is then set to
    the real key's SHA-1 key hash before the TBS is signed.

    Raises:
        InvalidInput: no responder, or a responder certificate of another key.
        UnsupportedAlgorithm, DicomSecError: as :func:`sign_certificate`.
    """
    from cryptography.hazmat.primitives.serialization import Encoding
    from cryptography.x509 import ocsp as _ocsp

    if _is_private_key(signer):
        return builder.sign(signer, _as_arg(hash_alg))
    public, family, alg = _prepare(signer, hash_alg)
    draft = _ocsp_draft(builder, _throwaway_key(family), public, alg)
    basic_der, tbs = _ocsp_tbs(draft.public_bytes(Encoding.DER), public)
    signature = _token_signature(signer, family, tbs, alg)
    response = _ocsp.load_der_ocsp_response(
        _wrap_basic(_reassemble(basic_der, tbs, signature, replace_tbs=True)))
    _verify(public, response.signature, response.tbs_response_bytes, alg, "OCSP response")
    return response


def _ocsp_draft(builder: ocsp.OCSPResponseBuilder, throwaway: Any, public: Any,
                alg: Any) -> ocsp.OCSPResponse:
    """``builder`` signed by ``throwaway`` with a stand-in responder certificate."""
    import datetime as _dt

    from cryptography import x509 as _x509
    from cryptography.x509 import ocsp as _ocsp

    responder = builder._responder_id
    if responder is None:
        raise InvalidInput("OCSP response: no responder_id given")
    cert, encoding = responder
    if _spki(cert.public_key()) != _spki(public):
        raise InvalidInput("OCSP response: the responder certificate is not the signing key's")
    now = _dt.datetime.now(_dt.UTC)
    stand_in = (_x509.CertificateBuilder().subject_name(cert.subject).issuer_name(cert.subject)
                .public_key(throwaway.public_key()).serial_number(1)
                .not_valid_before(now).not_valid_after(now + _dt.timedelta(days=1))
                .sign(throwaway, alg))
    return _ocsp.OCSPResponseBuilder(
        builder._response, (stand_in, encoding),
        builder._certs, builder._extensions).sign(throwaway, alg)


def _spki(public: Any) -> bytes:
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    return bytes(public.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo))


def _ocsp_tbs(response_der: bytes, public: Any) -> tuple[bytes, bytes]:
    """The BasicOCSPResponse of a draft and its TBS ResponseData, a ``byKey`` responder ID
    set to ``public``'s key hash (RFC 6960 section 4.2.1: SHA-1 of the key's BIT STRING)."""
    from asn1crypto import ocsp as a_ocsp
    from cryptography import x509 as _x509

    outer = a_ocsp.OCSPResponse.load(response_der)
    basic = outer["response_bytes"]["response"].parsed
    tbs = basic["tbs_response_data"]
    if tbs["responder_id"].name == "by_key":
        key_hash = _x509.SubjectKeyIdentifier.from_public_key(public).digest
        tbs["responder_id"] = a_ocsp.ResponderId(name="by_key", value=key_hash)
    return bytes(basic.dump()), bytes(tbs.dump())


def _wrap_basic(basic_der: bytes) -> bytes:
    """A successful OCSPResponse around a BasicOCSPResponse."""
    from asn1crypto import ocsp as a_ocsp

    return bytes(a_ocsp.OCSPResponse({
        "response_status": "successful",
        "response_bytes": {"response_type": "basic_ocsp_response",
                           "response": a_ocsp.BasicOCSPResponse.load(basic_der)},
    }).dump())


def public_key_of(signer: Any) -> CertificateIssuerPublicKeyTypes:
    """The public key of a signer (a private key, a token key, or a certified token key)."""
    if _is_private_key(signer):
        return signer.public_key()  # type: ignore[no-any-return]
    return _public_of(signer)  # type: ignore[no-any-return]
