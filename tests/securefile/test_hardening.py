"""Attacks found in review of the Secure DICOM File reader: each must fail, never pass."""

from __future__ import annotations

import contextlib
import io
import os
import stat
from pathlib import Path

import pytest

from dicomsec import securefile
from dicomsec.cli import main
from dicomsec.cms import DOES_NOT_OPEN, ID_DATA
from dicomsec.cms._der import encode_oid
from dicomsec.cms.envelope import _int, _octets, _seq, _tlv, read_envelope
from dicomsec.cms.recipients import Credentials, KekRecipient, PasswordRecipient
from dicomsec.errors import DecryptionFailed, DicomSecError, InvalidInput, PolicyViolation
from tests.conftest import DATA, PYDICOM_FILES

CT = PYDICOM_FILES / "CT_small.dcm"
PKI = DATA / "pki-cms"
VECTORS = DATA / "secure-files"
KEK, KEK_ID = bytes(range(32)), b"\x0a\x0b"


def _quiet_main(argv: list[str]) -> int:
    with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
        return main(argv)


def _wrap(tmp_path: Path, *extra: str) -> Path:
    kek_file = tmp_path / "kek.hex"
    kek_file.write_text(KEK.hex())
    out = tmp_path / "w.cms"
    assert _quiet_main(["wrap", str(CT), "-o", str(out), "--kek-file", str(kek_file),
                        "--kek-id", KEK_ID.hex(), *extra]) == 0
    return out


def _unwrap(src: Path, dst: Path, **kwargs: object) -> securefile.UnwrapReport:
    return securefile.unwrap(src, dst, credentials=Credentials(kek=KEK, kek_id=KEK_ID),
                             **kwargs)  # type: ignore[arg-type]


def _short_tag_copy(data: bytes, icv: int) -> bytes:
    """The same AuthEnvelopedData re-encoded with aes-ICVlen ``icv`` and the tag truncated."""
    from asn1crypto import cms, core

    ci = cms.ContentInfo.load(data)
    aed = ci["content"]
    eci = aed["auth_encrypted_content_info"]
    alg = eci["content_encryption_algorithm"]
    env = read_envelope(io.BytesIO(data), len(data))
    params = core.Any.load(_seq(_octets(env.iv), _int(icv)))
    new_alg = cms.EncryptionAlgorithm({"algorithm": alg["algorithm"].dotted,
                                       "parameters": params})
    new_eci = cms.EncryptedContentInfo({
        "content_type": eci["content_type"].dotted, "content_encryption_algorithm": new_alg,
        "encrypted_content": eci["encrypted_content"].native})
    new = cms.AuthEnvelopedData({
        "version": aed["version"].native, "recipient_infos": aed["recipient_infos"],
        "auth_encrypted_content_info": new_eci, "mac": aed["mac"].native[:icv]})
    return bytes(cms.ContentInfo({"content_type": "authenticated_enveloped_data",
                                  "content": new}).dump())


def test_gcm_tag_cannot_be_truncated(tmp_path: Path) -> None:
    """The ICV length is not authenticated: rewriting our 16-octet tag to a 4- or 8-octet
    prefix (a much easier forgery) must be refused; the untouched 16-octet copy opens."""
    data = _wrap(tmp_path).read_bytes()
    same = tmp_path / "same.cms"
    same.write_bytes(_short_tag_copy(data, 16))
    _unwrap(same, tmp_path / "ok.dcm")
    for icv in (4, 8):
        src = tmp_path / f"short{icv}.cms"
        src.write_bytes(_short_tag_copy(data, icv))
        with pytest.raises(InvalidInput, match="ICV"):
            _unwrap(src, tmp_path / "o.dcm")
        assert not (tmp_path / "o.dcm").exists()


def test_cbc_plain_content_needs_an_explicit_opt_in(tmp_path: Path) -> None:
    src = VECTORS / "s01_ktri-rsa15_aes256cbc_data.cms"
    from dicomsec.cms.recipients import load_private_key_any

    creds = Credentials(private_key=load_private_key_any(PKI / "recip-rsa2048.key"))
    with pytest.raises(PolicyViolation):
        securefile.unwrap(src, tmp_path / "o.dcm", credentials=creds)
    assert list(tmp_path.iterdir()) == []
    report = securefile.unwrap(src, tmp_path / "o.dcm", credentials=creds,
                               allow_unauthenticated=True)
    assert report.integrity == "none"


def test_basic_file_relabelled_as_plain_data_is_refused(tmp_path: Path) -> None:
    """The downgrade: a Basic file's DigestedData label changed to id-data (plus IV/ciphertext
    games to fake a DICM prefix) must not unwrap without the explicit opt-in."""
    data = (VECTORS / "s06_basic_ktri-rsa15_aes256cbc_digested-sha256.cms").read_bytes()
    digested = encode_oid("1.2.840.113549.1.7.5")
    assert data.count(digested) == 1
    forged = tmp_path / "downgraded.cms"
    forged.write_bytes(data.replace(digested, encode_oid(ID_DATA)))
    from dicomsec.cms.recipients import load_private_key_any

    creds = Credentials(private_key=load_private_key_any(PKI / "recip-rsa2048.key"))
    with pytest.raises(PolicyViolation):
        securefile.unwrap(forged, tmp_path / "o.dcm", credentials=creds)
    assert not (tmp_path / "o.dcm").exists()


def test_cbc_failures_all_look_alike(tmp_path: Path) -> None:
    """Padding errors, broken inner structures and digest failures of CBC content give one
    message and one exit code (no padding oracle)."""
    src = VECTORS / "s06_basic_ktri-rsa15_aes256cbc_digested-sha256.cms"
    data = src.read_bytes()
    env = read_envelope(io.BytesIO(data), len(data))
    assert env.content is not None
    end = env.content.value_offset + env.content.length
    from dicomsec.cms.recipients import load_private_key_any

    creds = Credentials(private_key=load_private_key_any(PKI / "recip-rsa2048.key"))
    messages = set()
    for target in (end - 17, end - 40, env.content.value_offset + 5):
        for xor in (0x01, 0x0B, 0x0C, 0x80):
            bad = bytearray(data)
            bad[target] ^= xor
            path = tmp_path / "bad.cms"
            path.write_bytes(bytes(bad))
            with pytest.raises(DecryptionFailed) as info:
                securefile.unwrap(path, tmp_path / "o.dcm", credentials=creds)
            messages.add(info.value.message)
            assert not (tmp_path / "o.dcm").exists()
    assert messages == {DOES_NOT_OPEN}


def test_signed_aead_file_relabelled_as_data_is_refused(tmp_path: Path) -> None:
    out = _wrap(tmp_path, "--sign-key", str(PKI / "signer-p256.key"), "--sign-cert",
                str(PKI / "signer-p256.pem"))
    data = out.read_bytes()
    signed = encode_oid("1.2.840.113549.1.7.2")
    # the first occurrence is the EncryptedContentInfo's content type (the authenticated
    # attribute's copy comes after the content)
    i = data.index(signed)
    forged = tmp_path / "relabelled.cms"
    forged.write_bytes(data[:i] + encode_oid(ID_DATA) + data[i + len(signed):])
    with pytest.raises(DicomSecError):
        _unwrap(forged, tmp_path / "o.dcm", trust=None)
    assert not (tmp_path / "o.dcm").exists()


def test_pbkdf2_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    """Many hostile password recipients may ask for a bounded amount of PBKDF2 work in all
    (20 million iterations; lowered here so the test is fast)."""
    from dicomsec.cms import recipients

    monkeypatch.setattr(recipients, "MAX_PBKDF2_TOTAL", 2500)
    one = PasswordRecipient("x", iterations=1000).recipient_info(KEK)
    with pytest.raises(PolicyViolation, match="iterations"):
        recipients.unwrap_cek([one] * 3, Credentials(password="wrong"), cek_size=32)
    with pytest.raises(DecryptionFailed):
        recipients.unwrap_cek([one] * 2, Credentials(password="wrong"), cek_size=32)


def test_hostile_ccm_parameters_are_input_errors(tmp_path: Path) -> None:
    from dicomsec import algorithms

    alg = algorithms.by_name("aes256-ccm", algorithms.Kind.CIPHER)
    cek = bytes(32)
    rinfo = KekRecipient(KEK, KEK_ID).recipient_info(cek)
    eci = _seq(encode_oid(ID_DATA), _seq(encode_oid(alg.oid), _seq(_octets(bytes(12)),
                                                                     _int(5))),
               _tlv(0x80, bytes(64)))
    body = _seq(_int(0), _tlv(0x31, rinfo), eci, _octets(bytes(5)))
    data = _seq(encode_oid("1.2.840.113549.1.9.16.1.23"), _tlv(0xA0, body))
    src = tmp_path / "ccm5.cms"
    src.write_bytes(data)
    assert _quiet_main(["unwrap", str(src), "-o", str(tmp_path / "o.dcm"), "--kek-file",
                        str(_kek_file(tmp_path)), "--kek-id", KEK_ID.hex()]) == 2
    assert not (tmp_path / "o.dcm").exists()


def _kek_file(tmp_path: Path) -> Path:
    path = tmp_path / "kek.hex"
    path.write_text(KEK.hex())
    return path


def test_decrypted_output_is_private(tmp_path: Path) -> None:
    out = _wrap(tmp_path)
    dst = tmp_path / "o.dcm"
    old = os.umask(0o022)
    try:
        _unwrap(out, dst)
    finally:
        os.umask(old)
    assert stat.S_IMODE(dst.stat().st_mode) == 0o600
