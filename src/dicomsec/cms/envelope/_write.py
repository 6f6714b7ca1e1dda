"""Writing a streaming EnvelopedData (RFC 5652 §6) or AuthEnvelopedData (RFC 5083/5084).

Every length is computed up front, so the output is definite-length DER written in one pass;
the content is encrypted in 1 MiB chunks. With an unknown size (a pipe) the outer structures
use BER indefinite lengths and the content is written as a constructed OCTET STRING. The small
parts with structure (recipient identifiers and algorithms, attributes, versions) are built
with asn1crypto; the framing around the streamed content, the SET OF RecipientInfo (already
DER) and the content-encryption AlgorithmIdentifier (an OID and the IV) are written by hand,
so that a small envelope does not pay for building asn1crypto objects.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, BinaryIO

from dicomsec import algorithms
from dicomsec.cms import ID_AUTH_ENVELOPED_DATA, ID_DATA, ID_ENVELOPED_DATA
from dicomsec.cms._ciphers import cbc_cipher
from dicomsec.cms._der import encode_header, encode_oid, encode_tlv
from dicomsec.cms._policy import require_create
from dicomsec.cms.envelope._common import _C, ATTR_CONTENT_TYPE, CHUNK, GCM_NONCE, GCM_TAG
from dicomsec.errors import InvalidInput

if TYPE_CHECKING:
    from dicomsec.algorithms.policy import AlgorithmPolicy
    from dicomsec.cms.recipients._write import Recipient

__all__ = ["WriteResult", "auth_attrs_for", "write_envelope"]


# --------------------------------------------------------------------------------------------
# DER: small structures with asn1crypto; hand-written headers only for the streamed framing


def _tlv(identifier: int, value: bytes) -> bytes:
    """Low-level: one definite-length element (for tests that build hostile structures)."""
    return encode_tlv(identifier, value)


def _seq(*parts: bytes) -> bytes:
    """Low-level: a SEQUENCE of already encoded parts (for tests)."""
    return _tlv(0x30, b"".join(parts))


@functools.lru_cache(maxsize=16)
def _int(n: int) -> bytes:
    """DER of an INTEGER (the few versions written are remembered)."""
    from asn1crypto import core

    return bytes(core.Integer(n).dump())


def _octets(data: bytes) -> bytes:
    """DER of an OCTET STRING."""
    return encode_tlv(0x04, data)


def _cipher_algid(alg: algorithms.Algorithm, iv: bytes) -> bytes:
    """DER of the content-encryption AlgorithmIdentifier: CBC parameters are the IV as an
    OCTET STRING; GCMParameters (RFC 5084) are SEQUENCE { aes-nonce OCTET STRING, aes-ICVlen
    INTEGER }, aes-ICVlen always written (OpenSSL rejects the DER-default 12 when left
    out). Framed by hand: the same bytes asn1crypto gives (tests compare), without building
    the objects for every envelope."""
    if alg.mode == "gcm":
        params = encode_tlv(0x30, _octets(iv) + _int(GCM_TAG))
    else:
        params = _octets(iv)
    return encode_tlv(0x30, encode_oid(alg.oid) + params)


def _auth_attrs(content_type: str) -> Any:
    from asn1crypto import cms

    return cms.CMSAttributes([
        cms.CMSAttribute({"type": ATTR_CONTENT_TYPE, "values": [content_type]})])


def auth_attrs_for(content_type: str) -> bytes:
    """DER (SET OF, tag 0x31) of authenticated attributes holding content-type (RFC 5083 §2.1)."""
    return bytes(_auth_attrs(content_type).dump())


def _recipient_infos(infos: Sequence[bytes]) -> bytes:
    """DER of the recipientInfos SET OF (encodings sorted, X.690 11.6, as asn1crypto sorts
    them): each RecipientInfo is already DER, made by a :class:`Recipient`."""
    return encode_tlv(0x31, b"".join(sorted(bytes(i) for i in infos)))


# --------------------------------------------------------------------------------------------
# writing


def _content_cipher(alg: algorithms.Algorithm, key: bytes, iv: bytes) -> Any:
    from cryptography.hazmat.primitives.ciphers import Cipher, modes

    if alg.mode == "gcm":
        from cryptography.hazmat.primitives.ciphers.algorithms import AES

        return Cipher(AES(key), modes.GCM(iv)).encryptor()
    if alg.mode == "cbc":
        return cbc_cipher(alg, key, iv).encryptor()
    raise InvalidInput(f"{alg.name} cannot be used to write Secure DICOM Files")


@dataclass(frozen=True, slots=True)
class WriteResult:
    """What :func:`write_envelope` wrote."""

    outer: str  # "enveloped-data" | "auth-enveloped-data"
    cipher: str
    recipients: tuple[str, ...]
    content_type: str
    size: int


def _feed(parts: Sequence[bytes | BinaryIO], sink: Any, out: Any) -> int:
    """Encrypt the plaintext parts (bytes, or files read to their end) into ``out``."""
    total = 0
    view: memoryview | None = None  # the 1 MiB read buffer, made for the first file part only
    for part in parts:
        if isinstance(part, bytes | bytearray):
            if part:
                out.write(sink.update(part))
                total += len(part)
            continue
        if view is None:
            view = memoryview(bytearray(CHUNK))
        while True:
            n = part.readinto(view)  # type: ignore[attr-defined]
            if not n:
                break
            out.write(sink.update(view[:n]))
            total += n
    return total


class _Chunked:
    """Wraps each written piece in an OCTET STRING (BER constructed content, unknown size)."""

    def __init__(self, out: BinaryIO) -> None:
        self.out = out

    def write(self, data: bytes) -> None:
        if data:
            self.out.write(encode_header(0x04, len(data)) + data)


@dataclass(frozen=True)
class _Plan:
    """Everything of an envelope but the content: the small parts, already DER."""

    alg: algorithms.Algorithm
    cek: bytes = field(repr=False)
    iv: bytes
    outer_oid: str
    version: bytes  # DER INTEGER
    rinfos: bytes  # DER SET OF RecipientInfo
    eci_head: bytes  # contentType + contentEncryptionAlgorithm
    aad: bytes  # authenticated attributes as SET OF (the MAC input), or b""
    attrs: bytes  # the same as [1] IMPLICIT (in the file), or b""

    @property
    def aead(self) -> bool:
        return self.alg.mode == "gcm"

    def trailer(self, tag: bytes) -> bytes:
        """What follows the EncryptedContentInfo: authAttrs and the MAC (AEAD only)."""
        return self.attrs + _octets(tag) if self.aead else b""


def _enveloped_version(recipients: Sequence[Recipient]) -> int:
    """RFC 5652 §6.1: 3 with pwri or ori, 2 when any recipient has a version other than 0."""
    if {r.kind for r in recipients} & {"pwri", "ori"}:
        return 3
    return 2 if any(r.version != 0 for r in recipients) else 0


def _plan(recipients: Sequence[Recipient], cipher: str, content_type: str,
          auth_attrs: bool | None, allow_legacy: bool, policy: AlgorithmPolicy | None) -> _Plan:
    if not recipients:
        raise InvalidInput("a Secure DICOM File needs at least one recipient")
    alg = algorithms.by_name(cipher, _C)
    require_create(alg, policy=policy, allow_legacy=allow_legacy)
    if alg.mode not in ("gcm", "cbc"):
        raise InvalidInput(f"{alg.name} is supported for reading only")
    aead = alg.mode == "gcm"
    cek = os.urandom(alg.key_size)
    iv = os.urandom(GCM_NONCE if aead else alg.block_size)
    rinfos = _recipient_infos([r.recipient_info(cek) for r in recipients])
    eci_head = encode_oid(content_type) + _cipher_algid(alg, iv)
    if not aead:
        return _Plan(alg, cek, iv, ID_ENVELOPED_DATA, _int(_enveloped_version(recipients)),
                     rinfos, eci_head, b"", b"")
    use_attrs = content_type != ID_DATA if auth_attrs is None else auth_attrs
    if content_type != ID_DATA and not use_attrs:
        raise InvalidInput("AuthEnvelopedData needs authenticated attributes for this content")
    aad = attrs = b""
    if use_attrs:
        value = _auth_attrs(content_type)
        aad, attrs = bytes(value.dump()), bytes(value.retag({"implicit": 1}).dump())
    return _Plan(alg, cek, iv, ID_AUTH_ENVELOPED_DATA, _int(0), rinfos, eci_head, aad, attrs)


def _write_head(plan: _Plan, size: int | None, out: BinaryIO) -> None:
    """The framing up to the first content octet (hand-written: the content is streamed)."""
    oid = encode_oid(plan.outer_oid)
    if size is None:
        # BER: indefinite lengths, [0] constructed (A0 80) holding OCTET STRING chunks
        out.write(b"\x30\x80" + oid + b"\xa0\x80\x30\x80" + plan.version + plan.rinfos
                  + b"\x30\x80" + plan.eci_head + b"\xa0\x80")
        return
    bs = plan.alg.block_size
    n_cipher = size if plan.aead else (size // bs + 1) * bs
    content_hdr = encode_header(0x80, n_cipher)  # [0] IMPLICIT OCTET STRING, primitive
    eci_len = len(plan.eci_head) + len(content_hdr) + n_cipher
    eci = encode_header(0x30, eci_len)
    body_len = (len(plan.version) + len(plan.rinfos) + len(eci) + eci_len
                + len(plan.trailer(bytes(GCM_TAG))))
    env_hdr = encode_header(0x30, body_len)
    explicit = encode_header(0xA0, len(env_hdr) + body_len)
    ci_hdr = encode_header(0x30, len(oid) + len(explicit) + len(env_hdr) + body_len)
    out.write(ci_hdr + oid + explicit + env_hdr + plan.version + plan.rinfos + eci
              + plan.eci_head + content_hdr)


def _encrypt(plan: _Plan, parts: Sequence[bytes | BinaryIO], sink: Any) -> tuple[int, bytes]:
    """Encrypt the plaintext into ``sink``; (plaintext length, GCM tag or b"")."""
    enc = _content_cipher(plan.alg, plan.cek, plan.iv)
    if plan.aad:
        enc.authenticate_additional_data(plan.aad)
    if plan.aead:
        done = _feed(parts, enc, sink)
        sink.write(enc.finalize())
        return done, bytes(enc.tag)
    from cryptography.hazmat.primitives import padding

    padder = padding.PKCS7(plan.alg.block_size * 8).padder()

    class _Chain:
        def update(self, data: bytes | memoryview) -> bytes:
            return bytes(enc.update(padder.update(bytes(data))))

    done = _feed(parts, _Chain(), sink)
    sink.write(enc.update(padder.finalize()) + enc.finalize())
    return done, b""


def write_envelope(
    parts: Sequence[bytes | BinaryIO],
    size: int | None,
    out: BinaryIO,
    *,
    recipients: Sequence[Recipient],
    cipher: str = "aes256-gcm",
    content_type: str = ID_DATA,
    auth_attrs: bool | None = None,
    allow_legacy: bool = False,
    policy: AlgorithmPolicy | None = None,
) -> WriteResult:
    """Write a ContentInfo with EnvelopedData (CBC) or AuthEnvelopedData (GCM).

    ``parts`` concatenated are the plaintext, ``size`` bytes in all (files are read from their
    current position). With ``size=None`` (a pipe) the structure is written with BER
    indefinite lengths and the content as a constructed OCTET STRING of 1 MiB chunks.
    ``auth_attrs`` (AuthEnvelopedData only) defaults to "when the content type is not
    id-data", as RFC 5083 requires; OpenSSL 3.0 cannot read files that have them. ``policy``
    (an :class:`~dicomsec.algorithms.policy.AlgorithmPolicy`) judges the cipher for today;
    without one the registry status does.

    Raises:
        InvalidInput: no recipients, an unknown cipher or a size mismatch.
        PolicyViolation: a legacy cipher without ``allow_legacy``, or refused by ``policy``.
    """
    plan = _plan(recipients, cipher, content_type, auth_attrs, allow_legacy, policy)
    _write_head(plan, size, out)
    done, tag = _encrypt(plan, parts, out if size is not None else _Chunked(out))
    if size is not None and done != size:
        raise InvalidInput(f"plaintext was {done} bytes, expected {size} (input changed?)")
    if size is None:
        out.write(b"\x00\x00\x00\x00")  # end of [0] content, end of EncryptedContentInfo
    out.write(plan.trailer(tag))
    if size is None:
        out.write(b"\x00\x00" * 3)  # end of (Auth)EnvelopedData, [0] EXPLICIT, ContentInfo
    return WriteResult(
        outer="auth-enveloped-data" if plan.aead else "enveloped-data", cipher=plan.alg.name,
        recipients=tuple(r.kind for r in recipients), content_type=content_type, size=done,
    )
