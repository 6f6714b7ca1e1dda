"""Opening RecipientInfos: :func:`open_cek` finds every RecipientInfo that the
:class:`Credentials` fit, has the algorithm policy judge their algorithms for decryption
before anything secret is used, then tries the allowed ones and returns the content-encryption
key (:func:`unwrap_cek`: the same under the default policy).

Every failure of a recipient that was tried (bad PKCS#1 padding, OAEP error, failed key unwrap,
wrong CEK length) gives the same :class:`~dicomsec.errors.DecryptionFailed` message, after all
recipients were tried, so the error is no padding oracle (RFC 3218).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from asn1crypto import core as a1core
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm as CryptoUnsupported
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, x448, x25519
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

from dicomsec.algorithms import Algorithm, Kind
from dicomsec.cms import DOES_NOT_OPEN, _asn1
from dicomsec.cms.recipients._common import (
    _ASN1_ERRORS,
    MAX_PBKDF2_ITERATIONS,
    MAX_PBKDF2_TOTAL,
    NO_MATCH,
    _aes_unwrap,
    _alg,
    _Fail,
    _hash,
    _kari_kek,
    _kemri_parts,
    _maybe,
    _oaep_parts,
    _params,
    _pwri_unwrap,
    _rid_matches,
    check_password,
)
from dicomsec.errors import DecryptionFailed, InvalidInput, PolicyViolation, UnsupportedAlgorithm
from dicomsec.keys import kem_of_key, mlkem_class

if TYPE_CHECKING:
    from dicomsec.algorithms.policy import AlgorithmPolicy, Decision

__all__ = ["Credentials", "OpenedKey", "open_cek", "unwrap_cek"]


@dataclass(frozen=True)
class Credentials:
    """What a reader holds to open a file. ``repr`` never shows keys or passwords."""

    private_key: object | None = field(default=None, repr=False)
    certificate: x509.Certificate | None = None
    kek: bytes | None = field(default=None, repr=False)
    kek_id: bytes | None = None
    password: str | None = field(default=None, repr=False)

    def __repr__(self) -> str:
        parts = []
        if self.private_key is not None:
            parts.append(f"private_key=<redacted {type(self.private_key).__name__}>")
        if self.certificate is not None:
            parts.append(f"certificate={self.certificate.subject.rfc4514_string()!r}")
        if self.kek is not None:
            parts.append("kek=<redacted>")
        if self.kek_id is not None:
            parts.append(f"kek_id={self.kek_id.hex()}")
        if self.password is not None:
            parts.append("password=<redacted>")
        return f"Credentials({', '.join(parts)})"


#: an algorithm a recipient's opening uses, with the key it is used with (None: no key)
_Use = tuple[Algorithm, Any]


@dataclass(frozen=True)
class _Plan:
    """A RecipientInfo the credentials fit: the algorithms opening it uses, judged before
    ``open`` (which raises :class:`_Fail` when it does not open) touches anything secret."""

    uses: tuple[_Use, ...]
    open: Callable[[], bytes]


class _State:
    def __init__(self, creds: Credentials, cek_size: int, pbkdf2_total: int) -> None:
        self.creds = creds
        self.cek_size = cek_size
        self.pbkdf2_total = pbkdf2_total
        self.attempted = False
        self.skipped: list[str] = []
        self.unsupported_kem: Algorithm | None = None
        self.pbkdf2_budget = pbkdf2_total

    def done(self, cek: bytes) -> bytes:
        if len(cek) != self.cek_size:
            raise _Fail
        return cek


def _plan_ktri(ktri: Any, st: _State) -> _Plan | None:
    key = st.creds.private_key
    if not isinstance(key, rsa.RSAPrivateKey):
        return None
    cert = st.creds.certificate
    if cert is not None and not _rid_matches(ktri["rid"], cert):
        return None
    alg_id = ktri["key_encryption_algorithm"]
    oid = alg_id["algorithm"].dotted
    alg = _maybe(oid, Kind.KEY_TRANSPORT)
    if alg is None:
        st.skipped.append(f"ktri with key transport {oid}")
        return None
    pad: padding.AsymmetricPadding
    uses: list[_Use] = [(alg, key)]
    if alg.name == "rsa-oaep":
        try:
            pad, oaep_uses = _oaep_padding(_params(alg_id))
        except UnsupportedAlgorithm as exc:
            st.skipped.append(f"ktri with {exc.message}")
            return None
        uses += oaep_uses
    else:
        if _params(alg_id) not in (None, b"\x05\x00"):
            # RFC 3370 4.2.1: rsaEncryption parameters are NULL (or absent)
            st.skipped.append("ktri rsaEncryption with parameters that are not NULL")
            return None
        pad = padding.PKCS1v15()
    encrypted = ktri["encrypted_key"].native
    return _Plan(tuple(uses), lambda: _open_ktri(key, pad, encrypted, st))


def _open_ktri(key: rsa.RSAPrivateKey, pad: padding.AsymmetricPadding, encrypted: bytes,
               st: _State) -> bytes:
    st.attempted = True
    if isinstance(pad, padding.PKCS1v15):
        # RFC 3218 2.3: no failure of its own for PKCS#1 v1.5 (Bleichenbacher); a bad block or
        # a wrong length gives a random key, and the content check then fails like a wrong key
        try:
            cek = key.decrypt(encrypted, pad)
        except ValueError:
            cek = b""
        return cek if len(cek) == st.cek_size else os.urandom(st.cek_size)
    try:
        cek = key.decrypt(encrypted, pad)
    except (ValueError, CryptoUnsupported):  # the planned hashes are supported: defence only
        raise _Fail from None
    return st.done(cek)


#: the hashes RSA-OAEP runs with in the crypto library (for OAEP and for its MGF1); another
#: hash (SHA-3, MD5) is refused when the recipient is planned, not when it is decrypted
_OAEP_HASHES = frozenset({"sha1", "sha224", "sha256", "sha384", "sha512"})


def _oaep_padding(params_der: bytes | None) -> tuple[padding.OAEP, list[_Use]]:
    """The OAEP padding of RSAES-OAEP-params, and the algorithms it uses (its hash, MGF1 and
    MGF1's hash)."""
    hash_oid, mgf_oid, mgf_hash_oid, label = _oaep_parts(params_der)
    mgf1 = _alg("mgf1", Kind.KDF)
    if _maybe(mgf_oid, Kind.KDF) != mgf1:
        raise UnsupportedAlgorithm(f"OAEP mask generation {mgf_oid}")
    digests = []
    uses: list[_Use] = [(mgf1, None)]
    for oid in (hash_oid, mgf_hash_oid):
        alg = _maybe(oid, Kind.DIGEST)
        if alg is None or alg.name not in _OAEP_HASHES:
            # judged from the file alone, before any decryption: no oracle
            raise UnsupportedAlgorithm(f"OAEP hash {alg.name if alg else oid}")
        digests.append(_hash(alg.name))
        if (alg, None) not in uses:
            uses.append((alg, None))
    return padding.OAEP(padding.MGF1(digests[1]), digests[0], label or None), uses


def _kari_scheme(kari: Any) -> tuple[Algorithm, Algorithm, Any]:
    alg_id = kari["key_encryption_algorithm"]
    oid = alg_id["algorithm"].dotted
    scheme = _maybe(oid, Kind.KEY_AGREEMENT)
    if scheme is None or scheme.mode not in ("x963", "hkdf"):
        raise UnsupportedAlgorithm(f"key agreement scheme {oid}")
    params = _params(alg_id)
    if params is None:
        raise UnsupportedAlgorithm(f"{scheme.name} without a key-wrap algorithm")
    wrap_id = _asn1.AlgorithmIdentifier.load(params)
    wrap = _maybe(wrap_id["algorithm"].dotted, Kind.KEY_WRAP)
    if wrap is None or not wrap.key_size:
        raise UnsupportedAlgorithm(f"key wrap {wrap_id['algorithm'].dotted}")
    return scheme, wrap, wrap_id


def _plan_kari(kari: Any, st: _State) -> _Plan | None:
    key = st.creds.private_key
    if not isinstance(key, ec.EllipticCurvePrivateKey | x25519.X25519PrivateKey
                      | x448.X448PrivateKey):
        return None
    originator = kari["originator"]
    if originator.name != "originator_key":
        st.skipped.append("kari with a static originator key")
        return None
    origin = originator.chosen
    origin_alg = _maybe(origin["algorithm"]["algorithm"].dotted, Kind.KEY_AGREEMENT)
    expected = {ec.EllipticCurvePrivateKey: "ec-public-key", x25519.X25519PrivateKey: "x25519",
                x448.X448PrivateKey: "x448"}
    if origin_alg is None or not any(
            isinstance(key, cls) and origin_alg.name == name for cls, name in expected.items()):
        return None
    try:
        scheme, wrap, wrap_id = _kari_scheme(kari)
    except UnsupportedAlgorithm as exc:
        st.skipped.append(f"kari with {exc.message}")
        return None
    cert = st.creds.certificate
    wrapped = [rek["encrypted_key"].native for rek in kari["recipient_encrypted_keys"]
               if cert is None or _rid_matches(rek["rid"], cert)]
    if not wrapped:
        return None
    point = bytes(origin["public_key"].native)
    ukm_value = kari["ukm"]
    ukm = None if isinstance(ukm_value, a1core.Void) else bytes(ukm_value.native)
    uses: tuple[_Use, ...] = ((origin_alg, key), (scheme, key), (wrap, None))
    return _Plan(uses, lambda: _open_kari(key, point, scheme, wrap, wrap_id, ukm, wrapped, st))


def _open_kari(key: ec.EllipticCurvePrivateKey | x25519.X25519PrivateKey | x448.X448PrivateKey,
               point: bytes, scheme: Algorithm, wrap: Algorithm, wrap_id: Any,
               ukm: bytes | None, wrapped: list[bytes], st: _State) -> bytes:
    st.attempted = True
    try:
        if isinstance(key, ec.EllipticCurvePrivateKey):
            peer = ec.EllipticCurvePublicKey.from_encoded_point(key.curve, point)
            z = key.exchange(ec.ECDH(), peer)
        elif isinstance(key, x25519.X25519PrivateKey):
            z = key.exchange(x25519.X25519PublicKey.from_public_bytes(point))
        else:
            z = key.exchange(x448.X448PublicKey.from_public_bytes(point))
    except ValueError:
        raise _Fail from None
    kek = _kari_kek(scheme, z, wrap, wrap_id, ukm)
    for ek in wrapped:
        try:
            return st.done(_aes_unwrap(wrap, kek, ek))
        except _Fail:
            continue
    raise _Fail


def _plan_kekri(kekri: Any, st: _State) -> _Plan | None:
    kek = st.creds.kek
    if kek is None:
        return None
    kek_id = st.creds.kek_id
    if kek_id is not None and kekri["kekid"]["key_identifier"].native != kek_id:
        return None
    oid = kekri["key_encryption_algorithm"]["algorithm"].dotted
    wrap = _maybe(oid, Kind.KEY_WRAP)
    if wrap is None or not wrap.key_size:
        st.skipped.append(f"kekri with key wrap {oid}")
        return None
    encrypted = kekri["encrypted_key"].native

    def run() -> bytes:
        st.attempted = True
        return st.done(_aes_unwrap(wrap, kek, encrypted))

    return _Plan(((wrap, None),), run)


def _pbkdf2(pwri: Any) -> tuple[bytes, int, Algorithm, int | None]:
    """(salt, iterations, PRF, keyLength) of a PWRI keyDerivationAlgorithm."""
    kdf_id = pwri["key_derivation_algorithm"]
    if isinstance(kdf_id, a1core.Void):
        raise UnsupportedAlgorithm("pwri without a key derivation algorithm")
    oid = kdf_id["algorithm"].dotted
    if _maybe(oid, Kind.KDF) != _alg("pbkdf2", Kind.KDF):
        raise UnsupportedAlgorithm(f"key derivation {oid}")
    params = _asn1.Pbkdf2Params.load(_params(kdf_id) or b"")
    if params["salt"].name != "specified":
        raise UnsupportedAlgorithm("PBKDF2 with a non-specified salt")
    prf_oid = params["prf"]["algorithm"].dotted
    prf = _maybe(prf_oid, Kind.KDF)
    if prf is None or not prf.name.startswith("hmac-"):
        raise UnsupportedAlgorithm(f"PBKDF2 PRF {prf_oid}")
    key_length = params["key_length"].native
    return (bytes(params["salt"].chosen.native), int(params["iteration_count"].native), prf,
            None if key_length is None else int(key_length))


def _pwri_cipher(pwri: Any) -> tuple[Algorithm, bytes]:
    alg_id = pwri["key_encryption_algorithm"]
    oid = alg_id["algorithm"].dotted
    if _maybe(oid, Kind.KEY_WRAP) != _alg("pwri-kek", Kind.KEY_WRAP):
        raise UnsupportedAlgorithm(f"password key wrap {oid}")
    inner = _asn1.AlgorithmIdentifier.load(_params(alg_id) or b"")
    cipher = _maybe(inner["algorithm"].dotted, Kind.CIPHER)
    if cipher is None or cipher.mode != "cbc":
        raise UnsupportedAlgorithm(f"PWRI-KEK cipher {inner['algorithm'].dotted}")
    iv = a1core.OctetString.load(_params(inner) or b"").native
    return cipher, bytes(iv)


def _plan_pwri(pwri: Any, st: _State) -> _Plan | None:
    if st.creds.password is None:
        return None
    secret = check_password(st.creds.password)
    try:
        salt, iterations, prf, key_length = _pbkdf2(pwri)
        cipher, iv = _pwri_cipher(pwri)
    except UnsupportedAlgorithm as exc:
        st.skipped.append(f"pwri with {exc.message}")
        return None
    uses: tuple[_Use, ...] = ((_alg("pbkdf2", Kind.KDF), None), (prf, None),
                              (_alg("pwri-kek", Kind.KEY_WRAP), None), (cipher, None))
    encrypted = pwri["encrypted_key"].native

    def run() -> bytes:
        st.pbkdf2_budget -= iterations
        if st.pbkdf2_budget < 0:
            raise PolicyViolation(
                f"the password recipients ask for more than {st.pbkdf2_total} PBKDF2 "
                "iterations in all")
        if iterations > MAX_PBKDF2_ITERATIONS:
            raise PolicyViolation(
                f"the password recipient asks for {iterations} PBKDF2 iterations, more than "
                f"the limit of {MAX_PBKDF2_ITERATIONS}")
        st.attempted = True
        if (key_length is not None and key_length != cipher.key_size) or iterations < 1:
            raise _Fail
        kek = PBKDF2HMAC(_hash(prf.hash), cipher.key_size, salt, iterations).derive(secret)
        return st.done(_pwri_unwrap(cipher, kek, iv, encrypted))

    return _Plan(uses, run)


def _plan_ori(ori: Any, st: _State) -> _Plan | None:
    kemri = _kemri_parts(ori)
    if kemri is None:
        st.skipped.append(f"ori of type {ori['ori_type'].dotted}")
        return None
    kem_oid = kemri["kem"]["algorithm"].dotted
    kem = _maybe(kem_oid, Kind.KEM)
    if kem is None:
        st.skipped.append(f"KEM recipient with {kem_oid}")
        return None
    cls = mlkem_class(kem, "PrivateKey")
    if cls is None:
        st.unsupported_kem = kem
        st.skipped.append(f"KEM recipient with {kem.name}")
        return None
    key = st.creds.private_key
    if not isinstance(key, cls):
        return None
    cert = st.creds.certificate
    if cert is not None and not _rid_matches(kemri["rid"], cert):
        return None
    kdf_oid = kemri["kdf"]["algorithm"].dotted
    kdf = _maybe(kdf_oid, Kind.KDF)
    wrap = _maybe(kemri["wrap"]["algorithm"].dotted, Kind.KEY_WRAP)
    if kdf is None or not kdf.name.startswith("hkdf-") or wrap is None or not wrap.key_size:
        st.skipped.append("KEM recipient with an unsupported KDF or key wrap")
        return None
    uses: tuple[_Use, ...] = ((kem, key), (kdf, None), (wrap, None))
    return _Plan(uses, lambda: _open_kemri(kemri, key, kdf, wrap, st))


def _open_kemri(kemri: Any, key: Any, kdf: Algorithm, wrap: Algorithm, st: _State) -> bytes:
    st.attempted = True
    kek_length = int(kemri["kek_length"].native)
    if kek_length != wrap.key_size:
        raise _Fail
    info: dict[str, Any] = {"wrap": kemri["wrap"], "kek_length": kek_length}
    if not isinstance(kemri["ukm"], a1core.Void):
        info["ukm"] = kemri["ukm"].native
    try:
        shared_secret = key.decapsulate(kemri["kemct"].native)
    except ValueError:
        raise _Fail from None
    kek = HKDF(_hash(kdf.hash), kek_length, None,
               _asn1.CMSORIforKEMOtherInfo(info).dump()).derive(shared_secret)
    return st.done(_aes_unwrap(wrap, kek, kemri["encrypted_key"].native))


_PLANNERS: dict[str, Callable[[Any, _State], _Plan | None]] = {
    "ktri": _plan_ktri,
    "kari": _plan_kari,
    "kekri": _plan_kekri,
    "pwri": _plan_pwri,
    "ori": _plan_ori,
}


def _one_v15_candidate(recipient_infos: Sequence[bytes], creds: Credentials) -> None:
    """Without a certificate, an RSA key cannot tell PKCS#1 v1.5 recipients apart (a wrong one
    gives a random key, RFC 3218): refuse to guess among several."""
    if creds.certificate is not None or not isinstance(creds.private_key, rsa.RSAPrivateKey):
        return
    count = 0
    for der in recipient_infos:
        try:
            info = _asn1.RecipientInfo.load(bytes(der))
            if info.name != "ktri":
                continue
            oid = info.chosen["key_encryption_algorithm"]["algorithm"].dotted
        except _ASN1_ERRORS:
            continue
        alg = _maybe(oid, Kind.KEY_TRANSPORT)
        if alg is not None and alg.name != "rsa-oaep":
            count += 1
    if count > 1:
        raise InvalidInput(f"the file has {count} RSA PKCS#1 v1.5 recipients: give your "
                           "certificate (--cert) to say which one is yours")


@dataclass(frozen=True)
class OpenedKey:
    """What :func:`open_cek` found: the content-encryption key (never shown by ``repr``), the
    index of the RecipientInfo that gave it, and the policy's DECRYPT decisions on the
    algorithms of that RecipientInfo (in the order they are used)."""

    cek: bytes = field(repr=False)
    index: int
    decisions: tuple[Decision, ...] = ()


def _plans(recipient_infos: Sequence[bytes], st: _State) -> list[tuple[int, _Plan]]:
    """The RecipientInfos the credentials fit, each with its plan; nothing secret is used."""
    plans: list[tuple[int, _Plan]] = []
    for index, der in enumerate(recipient_infos):
        try:
            info = _asn1.RecipientInfo.load(bytes(der))
            kind = info.name
            chosen = info.chosen
        except _ASN1_ERRORS:
            st.skipped.append(f"recipient {index} (unreadable)")
            continue
        try:
            plan = _PLANNERS[kind](chosen, st)
        except _ASN1_ERRORS:
            st.skipped.append(f"recipient {index} (malformed {kind})")
            continue
        if plan is not None:
            plans.append((index, plan))
    return plans


def _judged(plans: list[tuple[int, _Plan]], policy: AlgorithmPolicy | None,
            at: datetime | date | None) -> list[tuple[int, _Plan, tuple[Decision, ...]]]:
    """The plans whose every algorithm the policy allows for decryption, with the decisions.

    Every recipient that fits is judged before any is tried, so whether a refusal is told
    depends on the file and on which credentials were given, never on a decryption.

    Raises:
        PolicyViolation: the policy refuses an algorithm of every recipient that fits (the
            message names the policy and the first refused algorithm).
    """
    from dicomsec.algorithms.policy import Purpose
    from dicomsec.cms._policy import judge_use

    allowed: list[tuple[int, _Plan, tuple[Decision, ...]]] = []
    refusal: Decision | None = None
    for index, plan in plans:
        decisions = tuple(d for alg, key in plan.uses
                          for d in judge_use(alg, key, Purpose.DECRYPT, policy=policy, at=at))
        refused = next((d for d in decisions if not d.allowed), None)
        if refused is None:
            allowed.append((index, plan, decisions))
        elif refusal is None:
            refusal = refused
    if not allowed and refusal is not None:
        raise PolicyViolation(f"{refusal.policy}: {refusal.reason}",
                              hint=refusal.hint or None)
    return allowed


def open_cek(recipient_infos: Sequence[bytes], creds: Credentials, *, cek_size: int,
             pbkdf2_total: int = MAX_PBKDF2_TOTAL, policy: AlgorithmPolicy | None = None,
             at: datetime | date | None = None) -> OpenedKey:
    """Open the content-encryption key with ``creds``, asking the algorithm policy first.

    ``recipient_infos`` are the DER encodings of the file's RecipientInfos. Recipients are
    matched by the certificate's issuerAndSerialNumber / subjectKeyIdentifier when
    ``creds.certificate`` is given, else the private key is tried on every recipient of its
    type; kekri by key identifier (every kekri when ``kek_id`` is None); pwri by password.
    Unknown ori types, kari schemes and algorithms are skipped.

    Before anything secret is used, ``policy`` (default: the default policy) judges, for
    decryption on the day ``at``, every algorithm of every recipient that fits: the key
    transport (with the key), OAEP's hashes and MGF1, the key-agreement scheme and its hash,
    the key wrap, PBKDF2 and its PRF (and the PRF's hash), the PWRI-KEK cipher, the KEM (with
    the key) and its KDF. Recipients with a refused algorithm are not tried.

    Raises:
        PolicyViolation: the policy refuses every recipient that fits (the message names the
            policy); a PBKDF2 iteration count above :data:`MAX_PBKDF2_ITERATIONS`, or password
            recipients asking for more than ``pbkdf2_total`` iterations in all.
        DecryptionFailed: :data:`NO_MATCH` when no recipient fits the credentials,
            :data:`DOES_NOT_OPEN` when the ones that fit did not open (any reason).
        UnsupportedAlgorithm: the only recipient that could be meant uses ML-KEM-512 (or
            another KEM the installed cryptography lacks).
        InvalidInput: a password outside ISO-IR 6; several PKCS#1 v1.5 recipients and no
            certificate to tell which one is meant.
    """
    st = _State(creds, cek_size, pbkdf2_total)
    _one_v15_candidate(recipient_infos, creds)
    for index, plan, decisions in _judged(_plans(recipient_infos, st), policy, at):
        try:
            return OpenedKey(plan.open(), index, decisions)
        except _Fail:
            continue
        except _ASN1_ERRORS:
            st.skipped.append(f"recipient {index} (malformed)")
            continue
    if st.attempted:
        raise DecryptionFailed(DOES_NOT_OPEN)
    raise _no_match(st)


def _no_match(st: _State) -> DecryptionFailed | UnsupportedAlgorithm:
    """The error of credentials that fit no recipient."""
    key = st.creds.private_key
    classic = (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey, x25519.X25519PrivateKey,
               x448.X448PrivateKey)
    if st.unsupported_kem is not None and not (
            isinstance(key, classic) or kem_of_key(key, "PrivateKey") is not None):
        return UnsupportedAlgorithm(
            f"{st.unsupported_kem.name.upper()} is not supported by the installed "
            "cryptography library")
    hint = ("skipped: " + "; ".join(st.skipped)) if st.skipped else None
    return DecryptionFailed(NO_MATCH, hint=hint)


def unwrap_cek(recipient_infos: Sequence[bytes], creds: Credentials, *, cek_size: int,
               pbkdf2_total: int = MAX_PBKDF2_TOTAL) -> tuple[bytes, int]:
    """The content-encryption key and the index of the RecipientInfo that gave it:
    :func:`open_cek` under the default algorithm policy, today.

    Raises:
        PolicyViolation, DecryptionFailed, UnsupportedAlgorithm, InvalidInput: as
            :func:`open_cek`.
    """
    opened = open_cek(recipient_infos, creds, cek_size=cek_size, pbkdf2_total=pbkdf2_total)
    return opened.cek, opened.index
