"""Shared by the writing, opening and describing of RecipientInfos: registry look-ups,
AlgorithmIdentifiers, AES key wrap, recipient identifiers, passwords and the PWRI-KEK wrap
(RFC 3211 §2.3), the KEK derivation of key agreement (RFC 5753 / 8418) and the parts of
RSAES-OAEP-params and KEMRecipientInfo.

Low-level and private to :mod:`dicomsec.cms.recipients`.
"""

from __future__ import annotations

import os
from typing import Any

from asn1crypto import cms as a1cms
from asn1crypto import core as a1core
from asn1crypto import x509 as a1x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, keywrap
from cryptography.hazmat.primitives.ciphers import Cipher, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.x963kdf import X963KDF

from dicomsec import algorithms
from dicomsec.algorithms import Algorithm, Kind
from dicomsec.cms import _asn1
from dicomsec.cms._ciphers import cbc_cipher
from dicomsec.cms._der import element_spans
from dicomsec.errors import InvalidInput, UnsupportedAlgorithm

#: the two messages of :func:`unwrap_cek` (the second one for every kind of failure)
NO_MATCH = "no recipient matches the given credentials"

#: PBKDF2 iteration counts: the floor for new files and the ceiling accepted when reading
MIN_PBKDF2_ITERATIONS = 1000
MAX_PBKDF2_ITERATIONS = 10_000_000
#: PBKDF2 work one file may ask for in all (many password recipients must not stall a reader)
MAX_PBKDF2_TOTAL = 20_000_000

_EC_PROFILE: dict[str, tuple[str, str]] = {
    "secp256r1": ("ecdh-x963-sha256", "aes128-wrap"),
    "secp384r1": ("ecdh-x963-sha384", "aes256-wrap"),
    "secp521r1": ("ecdh-x963-sha512", "aes256-wrap"),
}
_X_PROFILE = ("ecdh-hkdf-sha256", "aes256-wrap")
_KEM_KDF = "hkdf-sha256"


_ASN1_ERRORS = (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError)


def _alg(name: str, kind: Kind) -> Algorithm:
    return algorithms.by_name(name, kind)


def _hash(name: str | None) -> hashes.HashAlgorithm:
    if name is None:
        raise UnsupportedAlgorithm("algorithm without a hash")
    h: hashes.HashAlgorithm = _alg(name, Kind.DIGEST).crypto_hash()
    return h


def _maybe(oid: str, kind: Kind) -> Algorithm | None:
    try:
        return algorithms.by_oid(oid, kind)
    except UnsupportedAlgorithm:
        return None


def _name_of(oid: str, *kinds: Kind) -> str:
    """Registry name of an OID (first kind that knows it), else the dotted OID."""
    for kind in kinds:
        alg = _maybe(oid, kind)
        if alg is not None:
            return alg.name
    return oid


def _alg_id(oid: str, parameters: Any = None) -> Any:
    value: dict[str, Any] = {"algorithm": oid}
    if parameters is not None:
        value["parameters"] = parameters
    return _asn1.AlgorithmIdentifier(value)


def _params(alg_id: Any) -> Any:
    """The parameters of a parsed AlgorithmIdentifier as raw DER, or None when absent."""
    params = alg_id["parameters"]
    if isinstance(params, a1core.Void):
        return None
    return params.dump()


def _wrap_algorithm(algorithm: Algorithm) -> Algorithm:
    if algorithm.kind is not Kind.KEY_WRAP or not algorithm.key_size:
        raise UnsupportedAlgorithm(f"{algorithm.name} is not an AES key wrap")
    return algorithm


def _aes_wrap(wrap: Algorithm, kek: bytes, cek: bytes) -> bytes:
    try:
        if wrap.name.endswith("-pad"):
            return keywrap.aes_key_wrap_with_padding(kek, cek)
        return keywrap.aes_key_wrap(kek, cek)
    except ValueError as exc:
        raise InvalidInput(f"cannot wrap a content-encryption key of {len(cek)} bytes") from exc


def _aes_unwrap(wrap: Algorithm, kek: bytes, wrapped: bytes) -> bytes:
    if len(kek) != wrap.key_size:
        raise _Fail
    try:
        if wrap.name.endswith("-pad"):
            return keywrap.aes_key_unwrap_with_padding(kek, wrapped)
        return keywrap.aes_key_unwrap(kek, wrapped)
    except (ValueError, keywrap.InvalidUnwrap):
        raise _Fail from None


def _ski_of_key(public_key: Any) -> bytes:
    """RFC 5280 §4.2.1.2 method 1: SHA-1 of the subjectPublicKey BIT STRING value."""
    digest: bytes = x509.SubjectKeyIdentifier.from_public_key(public_key).digest
    return digest


def _ski_of_certificate(certificate: x509.Certificate) -> bytes:
    try:
        ext = certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    except x509.ExtensionNotFound:
        return _ski_of_key(certificate.public_key())
    digest: bytes = ext.value.digest
    return digest


def _issuer_and_serial(certificate: x509.Certificate) -> Any:
    return a1cms.IssuerAndSerialNumber({
        "issuer": a1x509.Name.load(certificate.issuer.public_bytes()),
        "serial_number": certificate.serial_number,
    })


def _rid_matches(rid: Any, certificate: x509.Certificate) -> bool:
    """Whether a RecipientIdentifier / KeyAgreementRecipientIdentifier names the certificate."""
    chosen = rid.chosen
    if rid.name == "issuer_and_serial_number":
        if chosen["serial_number"].native != certificate.serial_number:
            return False
        issuer_der = certificate.issuer.public_bytes()
        if chosen["issuer"].dump() == issuer_der:
            return True
        ours = a1x509.Name.load(issuer_der)
        # names of different RDN counts never match (asn1crypto compares counts first, after
        # building every RDN): a hostile name of half a million is counted, not built
        try:
            _, count = element_spans(bytes(chosen["issuer"].chosen.contents or b""), 0)
        except InvalidInput:
            return False
        return count == len(ours.chosen) and bool(chosen["issuer"] == ours)
    if rid.name == "subject_key_identifier":
        return bool(chosen.native == _ski_of_certificate(certificate))
    if rid.name == "r_key_id":
        return bool(chosen["subject_key_identifier"].native == _ski_of_certificate(certificate))
    return False


def _public_key_of(certificate_or_public_key: object) -> tuple[Any, x509.Certificate | None]:
    if isinstance(certificate_or_public_key, x509.Certificate):
        return certificate_or_public_key.public_key(), certificate_or_public_key
    return certificate_or_public_key, None


def _cbc(cipher: Algorithm, key: bytes, iv: bytes) -> Cipher[modes.CBC]:
    try:
        made: Cipher[modes.CBC] = cbc_cipher(cipher, key, iv)
    except InvalidInput:
        raise UnsupportedAlgorithm(f"{cipher.name} is not a CBC block cipher") from None
    return made


class _Fail(Exception):
    """A recipient that fits the credentials was tried and did not open (never leaves here)."""


# ------------------------------------------------------------------------------------------
# passwords and PWRI-KEK (RFC 3211 §2.3)


def check_password(password: str) -> bytes:
    """The password as ISO-IR 6 (ASCII 0x20-0x7E) octets, as DICOM requires.

    Raises:
        InvalidInput: empty, or a character outside 0x20-0x7E (the message gives its position,
            never the password).
    """
    if not password:
        raise InvalidInput("the password is empty")
    for pos, char in enumerate(password, 1):
        if not 0x20 <= ord(char) <= 0x7E:
            raise InvalidInput(
                f"character {pos} of the password is outside the DICOM default character "
                "repertoire (ISO-IR 6: printable ASCII 0x20-0x7E)",
                hint="use only printable ASCII characters; no accents, tabs or line breaks",
            )
    return password.encode("ascii")


def _pwri_wrap(cipher: Algorithm, kek: bytes, iv: bytes, cek: bytes) -> bytes:
    if not 3 <= len(cek) <= 255:
        raise InvalidInput(f"PWRI cannot wrap a key of {len(cek)} bytes")
    bs = cipher.block_size
    body = bytes([len(cek)]) + bytes(b ^ 0xFF for b in cek[:3]) + cek
    size = max(2 * bs, -(-len(body) // bs) * bs)
    body += os.urandom(size - len(body))
    enc = _cbc(cipher, kek, iv).encryptor()
    first = enc.update(body) + enc.finalize()
    enc = _cbc(cipher, kek, first[-bs:]).encryptor()
    return enc.update(first) + enc.finalize()


def _pwri_unwrap(cipher: Algorithm, kek: bytes, iv: bytes, wrapped: bytes) -> bytes:
    bs = cipher.block_size
    n = len(wrapped)
    if n % bs or n < 2 * bs or len(iv) != bs:
        raise _Fail
    dec = _cbc(cipher, kek, wrapped[-2 * bs : -bs]).decryptor()
    last = dec.update(wrapped[-bs:]) + dec.finalize()
    dec = _cbc(cipher, kek, last).decryptor()
    inner = dec.update(wrapped) + dec.finalize()
    dec = _cbc(cipher, kek, iv).decryptor()
    plain = dec.update(inner) + dec.finalize()
    length = plain[0]
    check = (plain[1] ^ plain[4]) & (plain[2] ^ plain[5]) & (plain[3] ^ plain[6])
    if check != 0xFF or length < 3 or length > n - 4:
        raise _Fail
    return plain[4 : 4 + length]




def _kari_kek(scheme: Algorithm, z: bytes, wrap: Algorithm, wrap_id: Any,
              ukm: bytes | None) -> bytes:
    """KEK of RFC 5753 §7.2 (X9.63) / RFC 8418 §2.2 (HKDF, salt = ukm when present)."""
    info: dict[str, Any] = {
        "key_info": _asn1.AlgorithmIdentifier({"algorithm": wrap_id["algorithm"].dotted}),
        "supp_pub_info": (wrap.key_size * 8).to_bytes(4, "big"),
    }
    if ukm is not None:
        info["entity_u_info"] = ukm
    shared = _asn1.ECCCMSSharedInfo(info).dump()
    digest = _hash(scheme.hash)
    if scheme.mode == "x963":
        return X963KDF(digest, wrap.key_size, shared).derive(z)
    if scheme.mode == "hkdf":
        return HKDF(digest, wrap.key_size, ukm, shared).derive(z)
    raise UnsupportedAlgorithm(f"{scheme.name} is not a key agreement scheme")


def _oaep_parts(params_der: bytes | None) -> tuple[str, str, str, bytes]:
    """(hash OID, MGF OID, MGF hash OID, label) of RSAES-OAEP-params (absent = defaults)."""
    params = _asn1.RSAESOAEPParams.load(params_der or b"\x30\x00")
    mgf = params["mask_gen_algorithm"]
    label = params["p_source_algorithm"]["parameters"]
    return (params["hash_algorithm"]["algorithm"].dotted, mgf["algorithm"].dotted,
            mgf["parameters"]["algorithm"].dotted, bytes(label.native or b""))


def _kemri_parts(ori: Any) -> Any:
    """The KEMRecipientInfo of an ori, or None for another ori type."""
    if ori["ori_type"].dotted != _asn1.ID_ORI_KEM:
        return None
    return _asn1.KEMRecipientInfo.load(ori["ori_value"].dump())


