"""RFC 9936 Appendix C (ML-KEM-512 in CMS KEMRecipientInfo) as a known-answer test.

The intermediate values are those of the RFC (shared secret, KEK, CEK). cryptography 50 has no
ML-KEM-512, so the decapsulation step (private key + kemct -> shared secret) cannot run here;
from the shared secret on everything is checked: HKDF-SHA256 -> KEK, and through the project's
own code paths:
the KDF ``info`` encoding, the AES key unwrap and the AES-128-GCM content decryption. The same
KDF construction is then checked end to end on an ML-KEM-768 file with an independent
derivation.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import mlkem
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.keywrap import aes_key_unwrap

from dicomsec import algorithms, securefile
from dicomsec.cms import _asn1
from dicomsec.cms.envelope import decrypt_content, read_envelope
from dicomsec.cms.recipients import Credentials, KemRecipient
from dicomsec.cms.recipients._common import _aes_unwrap
from dicomsec.errors import DecryptionFailed
from tests.conftest import DATA, PYDICOM_FILES

VECTOR = DATA / "secure-files" / "ext_rfc9936-appC_authenv_kemri-mlkem512_aes128gcm_hello.cms"
MANIFEST = DATA / "secure-files" / "MANIFEST.md"
SPEC = Path(__file__).resolve().parents[3] / "shared" / "spec" / "secure-files.md"

# RFC 9936 Appendix C.1 intermediate values (from the MANIFEST)
SHARED_SECRET_PREFIX = "7DF12D41"
SHARED_SECRET_SUFFIX = "86D8"
KEK = bytes.fromhex("CF453A3E2BAE0A78701B8206C185A008")
CEK = bytes.fromhex("C5153005588269A0A59F3C01943FDD56")
KDF_INFO = bytes.fromhex("3010300B0609608648016503040105020110")
PLAINTEXT = b"Hello, world!"

ID_ORI_KEM = "1.2.840.113549.1.9.16.13.3"
ID_ML_KEM_512 = "2.16.840.1.101.3.4.4.1"
ID_HKDF_SHA256 = "1.2.840.113549.1.9.16.3.28"
ID_AES128_WRAP = "2.16.840.1.101.3.4.1.5"
ID_AES128_GCM = "2.16.840.1.101.3.4.1.6"
RID_SKI = "599788c37aed400ee405d1b2a3366ab17d824a51"


def _envelope() -> Any:
    data = VECTOR.read_bytes()
    return read_envelope(io.BytesIO(data), len(data), str(VECTOR))


def _kemri(recipient_info: bytes) -> Any:
    info = _asn1.RecipientInfo.load(recipient_info)
    assert info.name == "ori"
    ori = info.chosen
    assert ori["ori_type"].dotted == ID_ORI_KEM
    return _asn1.KEMRecipientInfo.load(ori["ori_value"].dump())


def test_manifest_records_the_values() -> None:
    text = MANIFEST.read_text()
    assert KEK.hex().upper() in text
    assert CEK.hex().upper() in text
    assert f"{SHARED_SECRET_PREFIX}…{SHARED_SECRET_SUFFIX}" in text


def test_structure_of_the_example() -> None:
    env = _envelope()
    assert env.outer == "auth-enveloped-data" and env.version == 0
    assert env.cipher is not None and env.cipher.oid == ID_AES128_GCM
    assert env.cipher.name == "aes128-gcm"
    assert env.aad == b""  # no authenticated attributes
    [ri] = env.recipient_infos
    kemri = _kemri(ri)
    assert kemri["version"].native in (0, "v0")
    assert kemri["rid"].name == "subject_key_identifier"
    assert kemri["rid"].chosen.native.hex() == RID_SKI
    assert kemri["kem"]["algorithm"].dotted == ID_ML_KEM_512
    assert len(kemri["kemct"].native) == 768  # ML-KEM-512 ciphertext size
    assert kemri["kdf"]["algorithm"].dotted == ID_HKDF_SHA256
    assert kemri["kek_length"].native == 16
    assert kemri["ukm"].native is None
    assert kemri["wrap"]["algorithm"].dotted == ID_AES128_WRAP
    assert len(kemri["encrypted_key"].native) == 16 + 8


def test_kdf_info_der() -> None:
    """CMSORIforKEMOtherInfo as the project encodes it, from the file's own wrap AlgId."""
    [ri] = _envelope().recipient_infos
    kemri = _kemri(ri)
    info = _asn1.CMSORIforKEMOtherInfo({"wrap": kemri["wrap"],
                                        "kek_length": kemri["kek_length"].native})
    assert info.dump() == KDF_INFO
    # and from scratch, as the writer builds it
    fresh = _asn1.CMSORIforKEMOtherInfo({"wrap": _asn1.AlgorithmIdentifier(
        {"algorithm": ID_AES128_WRAP}), "kek_length": 16})
    assert fresh.dump() == KDF_INFO


#: the full ML-KEM-512 shared secret of RFC 9936 Appendix C (the example files published with
#: the RFC by its working group); the MANIFEST abbreviates it as 7DF12D41…86D8
SHARED_SECRET = bytes.fromhex(
    "7DF12D412AE299A24FDE6D7C3BB8E3194C80AD3C733DCF2775E09FE8BEDB86D8")


def test_hkdf_from_shared_secret() -> None:
    assert SHARED_SECRET.hex().upper().startswith(SHARED_SECRET_PREFIX)
    assert SHARED_SECRET.hex().upper().endswith(SHARED_SECRET_SUFFIX)
    kek = HKDF(hashes.SHA256(), 16, None, KDF_INFO).derive(SHARED_SECRET)
    assert kek == KEK


def test_key_unwrap_gives_the_cek() -> None:
    [ri] = _envelope().recipient_infos
    wrapped = _kemri(ri)["encrypted_key"].native
    wrap = algorithms.by_name("aes128-wrap", algorithms.Kind.KEY_WRAP)
    assert wrap.oid == ID_AES128_WRAP
    assert _aes_unwrap(wrap, KEK, wrapped) == CEK
    assert aes_key_unwrap(KEK, wrapped) == CEK  # independent check with the primitive


def test_content_decrypts_with_the_cek() -> None:
    data = VECTOR.read_bytes()
    env = read_envelope(io.BytesIO(data), len(data), str(VECTOR))
    out = io.BytesIO()
    n = decrypt_content(io.BytesIO(data), len(data), env, CEK, out, name=str(VECTOR))
    assert n == len(PLAINTEXT)
    assert out.getvalue() == PLAINTEXT


def test_a_wrong_cek_fails_the_tag() -> None:
    data = VECTOR.read_bytes()
    env = read_envelope(io.BytesIO(data), len(data), str(VECTOR))
    bad = bytes([CEK[0] ^ 1]) + CEK[1:]
    with pytest.raises(DecryptionFailed):
        decrypt_content(io.BytesIO(data), len(data), env, bad, io.BytesIO(), name="x")


def test_mlkem_768_kdf_matches_an_independent_derivation(tmp_path: Path) -> None:
    """The RFC 9629 KDF construction, end to end on a file the project writes: decapsulate
    with cryptography, HKDF-SHA256 (empty salt, info = CMSORIforKEMOtherInfo), AES-KW unwrap,
    then decrypt; compare with the project's unwrap."""
    key = mlkem.MLKEM768PrivateKey.generate()
    src = PYDICOM_FILES / "CT_small.dcm"
    wrapped = tmp_path / "w.cms"
    securefile.wrap(src, wrapped, recipients=[KemRecipient(key.public_key())], profile="pq")
    data = wrapped.read_bytes()
    env = read_envelope(io.BytesIO(data), len(data))
    [ri] = env.recipient_infos
    kemri = _kemri(ri)
    assert kemri["kek_length"].native == 32
    assert kemri["wrap"]["algorithm"].dotted == "2.16.840.1.101.3.4.1.45"
    ss = key.decapsulate(kemri["kemct"].native)
    info = bytes.fromhex("3010300B060960864801650304012D020120")  # aes256-wrap, 32
    kek = HKDF(hashes.SHA256(), 32, b"", info).derive(ss)
    cek = aes_key_unwrap(kek, kemri["encrypted_key"].native)
    out = io.BytesIO()
    decrypt_content(io.BytesIO(data), len(data), env, cek, out)
    assert out.getvalue() == src.read_bytes()
    report = securefile.unwrap(wrapped, tmp_path / "o.dcm",
                               credentials=Credentials(private_key=key))
    assert report.recipient_kind == "ori"
    assert (tmp_path / "o.dcm").read_bytes() == src.read_bytes()
