"""Content ciphers dicomsec reads but never writes: AES-CCM and ChaCha20-Poly1305 (RFC 8103)."""

from __future__ import annotations

import io
import os

import pytest
from cryptography.hazmat.primitives.ciphers import aead

from dicomsec import algorithms
from dicomsec.cms import ID_AUTH_ENVELOPED_DATA, ID_DATA
from dicomsec.cms._der import encode_oid
from dicomsec.cms.envelope import _int, _octets, _seq, _tlv, decrypt_content, read_envelope
from dicomsec.cms.recipients import Credentials, KekRecipient, unwrap_cek
from dicomsec.errors import DecryptionFailed
from tests.conftest import PYDICOM_FILES

KEK, KEK_ID = bytes(range(32)), b"\x01\x02"
PLAIN = (PYDICOM_FILES / "CT_small.dcm").read_bytes()


def _auth_enveloped(cipher: str, nonce: bytes, params: bytes, ciphertext: bytes, tag: bytes,
                    cek: bytes) -> bytes:
    alg = algorithms.by_name(cipher, algorithms.Kind.CIPHER)
    rinfo = KekRecipient(KEK, KEK_ID).recipient_info(cek)
    eci = _seq(encode_oid(ID_DATA), _seq(encode_oid(alg.oid), params),
               _tlv(0x80, ciphertext))
    body = _seq(_int(0), _tlv(0x31, rinfo), eci, _octets(tag))
    return _seq(encode_oid(ID_AUTH_ENVELOPED_DATA), _tlv(0xA0, body))


def _ccm_file(tamper: bool = False) -> bytes:
    cek, nonce = os.urandom(32), os.urandom(12)
    sealed = aead.AESCCM(cek, tag_length=16).encrypt(nonce, PLAIN, None)
    ct, tag = sealed[:-16], sealed[-16:]
    if tamper:
        ct = bytes([ct[0] ^ 1]) + ct[1:]
    return _auth_enveloped("aes256-ccm", nonce, _seq(_octets(nonce), _int(16)), ct, tag, cek)


def _chacha_file(tamper: bool = False) -> bytes:
    cek, nonce = os.urandom(32), os.urandom(12)
    sealed = aead.ChaCha20Poly1305(cek).encrypt(nonce, PLAIN, None)
    ct, tag = sealed[:-16], sealed[-16:]
    if tamper:
        tag = bytes([tag[0] ^ 1]) + tag[1:]
    return _auth_enveloped("chacha20-poly1305", nonce, _octets(nonce), ct, tag, cek)


def _open(data: bytes) -> bytes:
    env = read_envelope(io.BytesIO(data), len(data))
    assert env.cipher is not None
    cek, index = unwrap_cek(env.recipient_infos, Credentials(kek=KEK, kek_id=KEK_ID),
                            cek_size=env.cipher.key_size)
    assert index == 0
    out = io.BytesIO()
    decrypt_content(io.BytesIO(data), len(data), env, cek, out)
    return out.getvalue()


@pytest.mark.parametrize("make", [_ccm_file, _chacha_file], ids=["aes-ccm", "chacha20-poly1305"])
def test_read_only_aead(make: object) -> None:
    assert callable(make)
    assert _open(make()) == PLAIN


@pytest.mark.parametrize("make", [_ccm_file, _chacha_file], ids=["aes-ccm", "chacha20-poly1305"])
def test_read_only_aead_tampered(make: object) -> None:
    assert callable(make)
    with pytest.raises(DecryptionFailed):
        _open(make(tamper=True))


@pytest.mark.parametrize("cipher", ["aes256-ccm", "chacha20-poly1305"])
def test_never_written(cipher: str) -> None:
    from dicomsec.cms.envelope import write_envelope
    from dicomsec.errors import DicomSecError

    with pytest.raises(DicomSecError):
        write_envelope([PLAIN], len(PLAIN), io.BytesIO(), recipients=[KekRecipient(KEK, KEK_ID)],
                       cipher=cipher, allow_legacy=True)
