"""Secure DICOM Files through the command line: the peer vectors, OpenSSL interop, inspect,
usage errors and JSON reports (issue #3, acceptance 1, 2 and the CLI contract)."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import cms

from dicomsec import securefile
from dicomsec.cli import main
from tests.conftest import DATA, PYDICOM_FILES, require_tool

VECTORS = DATA / "secure-files"
PKI = DATA / "pki-cms"
CT = PYDICOM_FILES / "CT_small.dcm"
CT_SHA256 = "3dd31e5cc835b3f2cdd46c9da1982f59251e78518fefa8163d914631c66437d6"
HELLO_SHA256 = "315f5bdb76d078c43b8ac0064e4a0164612b1fce77c869345bfc94c75894edd3"

RSA = ["--key", str(PKI / "recip-rsa2048.key"), "--cert", str(PKI / "recip-rsa2048.pem")]
KEK256 = ["--kek-file", str(PKI / "kek-aes256.hex"),
          "--kek-id", (PKI / "kek-aes256.id.hex").read_text().strip()]
KEK128 = ["--kek-file", str(PKI / "kek-aes128.hex"),
          "--kek-id", (PKI / "kek-aes128.id.hex").read_text().strip()]
PASSWORD = ["--password-file", str(PKI / "password.txt")]
MLKEM768 = ["--key", str(PKI / "recip-mlkem768.key.pem")]
TRUST = ["--trust", str(PKI / "ca.pem")]

RSA_SERIAL = "0x2001"
RSA_SKI = "aaa3a7c46637643574014484263218cda7a04a12"
MLKEM768_SKI = "ec5899ef6b6c71d1983f242ba4887f264d8c098b"
RFC9936_SKI = "599788c37aed400ee405d1b2a3366ab17d824a51"

# name: (credentials, outer, cipher, recipient kind, recipient index, content type, form,
#        integrity)
Case = tuple[list[str], str, str, str, int, str, str, str]
ENV, AUTH = "enveloped-data", "auth-enveloped-data"
CASES: dict[str, Case] = {
    "s01_ktri-rsa15_aes256cbc_data.cms":
        (RSA, ENV, "aes256-cbc", "ktri", 0, "data", "plain", "none"),
    "s02_ktri-rsaoaep256-skid_aes128cbc_data.cms":
        (RSA, ENV, "aes128-cbc", "ktri", 0, "data", "plain", "none"),
    "s03_authenv_ktri-rsa15_aes256gcm_data.cms":
        (RSA, AUTH, "aes256-gcm", "ktri", 0, "data", "plain", "aead"),
    "s04_authenv_kekri-aes256wrap_aes256gcm_data.cms":
        (KEK256, AUTH, "aes256-gcm", "kekri", 0, "data", "plain", "aead"),
    "s05_pwri-pbkdf2_aes256cbc_data.cms":
        (PASSWORD, ENV, "aes256-cbc", "pwri", 0, "data", "plain", "none"),
    "s06_basic_ktri-rsa15_aes256cbc_digested-sha256.cms":
        (RSA, ENV, "aes256-cbc", "ktri", 0, "digested-data", "strict", "digested"),
    "s07_basic_pwri_aes128cbc_digested-sha512.cms":
        (PASSWORD, ENV, "aes128-cbc", "pwri", 0, "digested-data", "strict", "digested"),
    "s08_ktri-rsa15_aes256cbc_data_indef.cms":
        (RSA, ENV, "aes256-cbc", "ktri", 0, "data", "plain", "none"),
    "s09_authenv_kekri-aes128wrap_aes128gcm_data_indef.cms":
        (KEK128, AUTH, "aes128-gcm", "kekri", 0, "data", "plain", "aead"),
    "s10_ktri-rsaoaep256_aes256cbc_signed-rsapss-sha256.cms":
        (RSA + TRUST, ENV, "aes256-cbc", "ktri", 0, "signed-data", "strict", "signed"),
    "s11_py_authenv_ktri-rsaoaep256_aes256gcm_data.cms":
        (RSA, AUTH, "aes256-gcm", "ktri", 0, "data", "plain", "aead"),
    "s12_py_authenv_ktri+kemri-mlkem768_aes256gcm_data.cms":
        (RSA, AUTH, "aes256-gcm", "ktri", 0, "data", "plain", "aead"),
    "s12_py_authenv_ktri+kemri-mlkem768_aes256gcm_data.cms#mlkem768":
        (MLKEM768, AUTH, "aes256-gcm", "ori", 1, "data", "plain", "aead"),
}
RFC9936 = VECTORS / "ext_rfc9936-appC_authenv_kemri-mlkem512_aes128gcm_hello.cms"

# what `inspect` must show for each vector: (kind, identifier) per recipient
RECIPIENTS: dict[str, list[tuple[str, str | None]]] = {
    "s01": [("ktri", RSA_SERIAL)], "s02": [("ktri", RSA_SKI)], "s03": [("ktri", RSA_SERIAL)],
    "s04": [("kekri", "c0ffee0000000001")], "s05": [("pwri", None)],
    "s06": [("ktri", RSA_SERIAL)], "s07": [("pwri", None)], "s08": [("ktri", RSA_SERIAL)],
    "s09": [("kekri", "c0ffee0000000002")], "s10": [("ktri", RSA_SERIAL)],
    "s11": [("ktri", RSA_SERIAL)], "s12": [("ktri", RSA_SERIAL), ("ori", MLKEM768_SKI)],
    "ext": [("ori", RFC9936_SKI)],
}
ALL_VECTORS = sorted(VECTORS.glob("*.cms"))


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    rc = main(argv)
    out, err = capsys.readouterr()
    return rc, out, err


def err_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.strip()]


def assert_clean(folder: Path, allowed: frozenset[str] | set[str] = frozenset()) -> None:
    """Nothing but ``allowed`` in ``folder``: no output, no leftover temporary file."""
    left = {p.name for p in folder.iterdir()} - set(allowed)
    assert not left, f"left behind after a failure: {sorted(left)}"


# ------------------------------------------------------------------------------------------
# acceptance 1: every peer vector unwraps to the stated SHA-256


def test_manifest_covers_every_vector() -> None:
    manifest = (VECTORS / "MANIFEST.md").read_text()
    names = {p.name for p in ALL_VECTORS}
    assert names == {n.split("#")[0] for n in CASES} | {RFC9936.name}
    for name in names:
        assert name in manifest


@pytest.mark.parametrize("case", sorted(CASES), ids=lambda c: c.split("_")[0] + c[c.find("#"):]
                         if "#" in c else c.split("_")[0])
def test_vector_unwraps(case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    creds, outer, cipher, kind, index, ctype, form, integrity = CASES[case]
    src = VECTORS / case.split("#")[0]
    out = tmp_path / "out.dcm"
    if integrity == "none":
        # CBC of plain content: nothing proves it unmodified, so it needs an explicit opt-in
        rc, _, err = run(["unwrap", str(src), "-o", str(out), *creds], capsys)
        assert rc == 1
        [line] = err_lines(err)
        assert "--allow-unauthenticated" in line
        assert list(tmp_path.iterdir()) == []
        creds = [*creds, "--allow-unauthenticated"]
    rc, stdout, err = run(["unwrap", str(src), "-o", str(out), *creds, "--json"], capsys)
    assert rc == 0, err
    assert sha256(out) == CT_SHA256
    assert out.read_bytes()[128:132] == b"DICM"
    report: dict[str, Any] = json.loads(stdout)
    assert report["file"] == str(out)
    assert report["outer"] == outer
    assert report["cipher"] == cipher
    assert report["recipient"] == {"index": index, "kind": kind}
    assert report["content_type"] == ctype
    assert report["form"] == form
    assert report["integrity"] == integrity
    assert report["is_dicom"] is True
    assert report["legacy"] is False
    inner = report["inner"]
    if integrity == "signed":
        assert inner["ok"] is True and inner["trust_checked"] is True
        [signer] = inner["signers"]
        assert "CN=signer-rsa2048" in signer["signer"]
        assert signer["algorithm"] == "rsassa-pss" and signer["digest"] == "sha256"
        assert signer["valid"] is True and signer["trusted"] is True
    elif integrity == "digested":
        assert inner["kind"] == "digested" and inner["ok"] is True
        assert inner["digest"] == ("sha512" if case.startswith("s07") else "sha256")
    assert {p.name for p in tmp_path.iterdir()} == {"out.dcm"}


def test_vector_text_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = VECTORS / "s08_ktri-rsa15_aes256cbc_data_indef.cms"
    rc, stdout, err = run(["unwrap", str(src), "-o", str(tmp_path / "o.dcm"), *RSA,
                           "--allow-unauthenticated"], capsys)
    assert rc == 0
    assert stdout == ""
    [line] = err_lines(err)
    assert "enveloped-data" in line and "aes256-cbc" in line and "ktri" in line
    assert "WARNING" in line


def test_rfc9936_example(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """ML-KEM-512: opened where the library has it, else one clear 'not supported' line."""
    out = tmp_path / "hello.txt"
    rc, _, err = run(["unwrap", str(RFC9936), "-o", str(out), "--key",
                      str(PKI / "rfc9936-appC-mlkem512.key.pem")], capsys)
    if rc == 0:
        assert out.read_bytes() == b"Hello, world!"
        assert sha256(out) == HELLO_SHA256
    else:
        assert rc == 2
        [line] = err_lines(err)
        assert "ML-KEM-512" in line and "not supported" in line
        assert_clean(tmp_path)


def test_signed_vector_untrusted_under_other_ca(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    other_ca = DATA / "pki" / "ca.cert.pem"  # the signatures PKI: a CA that did not issue it
    src = VECTORS / "s10_ktri-rsaoaep256_aes256cbc_signed-rsapss-sha256.cms"
    rc, _, err = run(["unwrap", str(src), "-o", str(tmp_path / "o.dcm"), *RSA,
                      "--trust", str(other_ca)], capsys)
    assert rc == 1
    assert len(err_lines(err)) == 1
    assert_clean(tmp_path)


# ------------------------------------------------------------------------------------------
# acceptance 2: files we write open with the real openssl cms -decrypt


def openssl_decrypt(src: Path, out: Path, *creds: str) -> None:
    openssl = require_tool("openssl")
    proc = subprocess.run([openssl, "cms", "-decrypt", "-binary", "-inform", "DER",
                           "-in", str(src), "-out", str(out), *creds],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


def pem(name: str) -> str:
    return str(PKI / name)


OSSL_RSA = ["-recip", pem("recip-rsa2048.pem"), "-inkey", pem("recip-rsa2048.key")]
OSSL_RSA_B = ["-recip", pem("recip-rsa2048-b.pem"), "-inkey", pem("recip-rsa2048-b.key")]
OSSL_P256 = ["-recip", pem("recip-p256.pem"), "-inkey", pem("recip-p256.key")]
OSSL_P384 = ["-recip", pem("recip-p384.pem"), "-inkey", pem("recip-p384.key")]
OSSL_KEK = ["-secretkey", (PKI / "kek-aes256.hex").read_text().strip(),
            "-secretkeyid", (PKI / "kek-aes256.id.hex").read_text().strip()]
OSSL_PASSWORD = ["-pwri_password", (PKI / "password.txt").read_text()]

# name: (wrap options, expected outer, expected cipher, recipient kinds, openssl credentials)
INTEROP: dict[str, tuple[list[str], str, str, list[str], list[str]]] = {
    "ktri-rsa-v15": (["--to", pem("recip-rsa2048.pem"), "--rsa-v15"], AUTH, "aes256-gcm",
                     ["ktri"], OSSL_RSA),
    "ktri-rsa-oaep": (["--to", pem("recip-rsa2048.pem")], AUTH, "aes256-gcm", ["ktri"],
                      OSSL_RSA),
    "kari-p256": (["--to", pem("recip-p256.pem")], AUTH, "aes256-gcm", ["kari"], OSSL_P256),
    "kari-p384": (["--to", pem("recip-p384.pem")], AUTH, "aes256-gcm", ["kari"], OSSL_P384),
    "kekri": (KEK256, AUTH, "aes256-gcm", ["kekri"], OSSL_KEK),
    "pwri": (PASSWORD, AUTH, "aes256-gcm", ["pwri"], OSSL_PASSWORD),
    "cbc-basic-rsa": (["--profile", "basic", "--to", pem("recip-rsa2048.pem")], ENV,
                      "aes256-cbc", ["ktri"], OSSL_RSA),
    "cbc-basic-password": (["--profile", "basic", *PASSWORD], ENV, "aes256-cbc", ["pwri"],
                           OSSL_PASSWORD),
    "gcm-aead-default": (["--to", pem("recip-rsa2048.pem")], AUTH, "aes256-gcm", ["ktri"],
                         OSSL_RSA),
}


@pytest.mark.peer
@pytest.mark.parametrize("name", sorted(INTEROP))
def test_openssl_opens_what_we_write(name: str, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    opts, outer, cipher, kinds, ossl = INTEROP[name]
    wrapped = tmp_path / "w.cms"
    rc, stdout, err = run(["wrap", str(CT), "-o", str(wrapped), *opts, "--json"], capsys)
    assert rc == 0, err
    report = json.loads(stdout)
    assert report["outer"] == outer and report["cipher"] == cipher
    assert report["recipients"] == kinds
    info = _inspect_json(wrapped, capsys)
    assert info["authenticated_attributes"] is False
    if outer == AUTH:
        assert info["icv_len"] == 16
    if name == "ktri-rsa-v15" or name == "cbc-basic-rsa":
        assert info["recipients"][0]["key_encryption"].startswith("rsa-pkcs1v15")
    elif name == "ktri-rsa-oaep":
        assert info["recipients"][0]["key_encryption"] == "rsa-oaep"
    plain = tmp_path / "plain.bin"
    openssl_decrypt(wrapped, plain, *ossl)
    if outer == AUTH:
        assert plain.read_bytes() == CT.read_bytes()
    else:  # basic: the plaintext is the inner DigestedData value, whose eContent is the file
        digested = cms.DigestedData.load(plain.read_bytes())
        assert digested["encap_content_info"]["content"].native == CT.read_bytes()


def _inspect_json(path: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    rc, stdout, _ = run(["inspect", str(path), "--json"], capsys)
    assert rc == 0
    info: dict[str, Any] = json.loads(stdout)
    return info


@pytest.mark.peer
def test_openssl_multi_recipient(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    wrapped = tmp_path / "multi.cms"
    rc, stdout, err = run([
        "wrap", str(CT), "-o", str(wrapped), "--to", pem("recip-rsa2048.pem"),
        "--to", pem("recip-rsa2048-b.pem"), "--to", pem("recip-p256.pem"),
        "--to", pem("recip-p384.pem"), *KEK256, *PASSWORD, "--json"], capsys)
    assert rc == 0, err
    # the report lists the recipients as given (--to first, then password, then KEK) ...
    assert json.loads(stdout)["recipients"] == ["ktri", "ktri", "kari", "kari", "pwri", "kekri"]
    # ... the file holds them as a DER SET OF (sorted by encoding)
    recipients = _inspect_json(wrapped, capsys)["recipients"]
    assert sorted(r["kind"] for r in recipients) == ["kari", "kari", "kekri", "ktri", "ktri",
                                                     "pwri"]

    def where(kind: str, ident: str) -> int:
        [index] = [i for i, r in enumerate(recipients)
                   if r["kind"] == kind and ident in json.dumps(r)]
        return index

    for i, ossl in enumerate([OSSL_RSA, OSSL_RSA_B, OSSL_P256, OSSL_P384, OSSL_PASSWORD,
                              OSSL_KEK]):
        plain = tmp_path / f"plain{i}.dcm"
        openssl_decrypt(wrapped, plain, *ossl)
        assert plain.read_bytes() == CT.read_bytes()
    # and our own reader picks the right RecipientInfo for each credential
    ours: list[tuple[list[str], int, str]] = [
        (RSA, where("ktri", "0x2001"), "ktri"),
        (["--key", pem("recip-rsa2048-b.key"), "--cert", pem("recip-rsa2048-b.pem")],
         where("ktri", "0x2002"), "ktri"),
        (["--key", pem("recip-p256.key"), "--cert", pem("recip-p256.pem")],
         where("kari", "0x3001"), "kari"),
        (["--key", pem("recip-p384.key")], where("kari", "0x3002"), "kari"),
        (PASSWORD, where("pwri", "pbkdf2"), "pwri"),
        (KEK256, where("kekri", "c0ffee0000000001"), "kekri"),
    ]
    for creds, index, kind in ours:
        out = tmp_path / f"ours{index}.dcm"
        rc, stdout, err = run(["unwrap", str(wrapped), "-o", str(out), *creds, "--json"],
                              capsys)
        assert rc == 0, err
        assert json.loads(stdout)["recipient"] == {"index": index, "kind": kind}
        assert out.read_bytes() == CT.read_bytes()


@pytest.mark.peer
def test_openssl_skips_the_kem_recipient_of_a_pq_file(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from cryptography.hazmat.primitives import serialization as ser
    from cryptography.hazmat.primitives.asymmetric import mlkem

    key = mlkem.MLKEM768PrivateKey.generate()
    pub = tmp_path / "kem.pub.pem"
    pub.write_bytes(key.public_key().public_bytes(ser.Encoding.PEM,
                                                  ser.PublicFormat.SubjectPublicKeyInfo))
    wrapped = tmp_path / "pq.cms"
    rc, _, err = run(["wrap", str(CT), "-o", str(wrapped), "--profile", "pq", "--to", str(pub),
                      "--to", pem("recip-rsa2048.pem")], capsys)
    assert rc == 0, err
    plain = tmp_path / "plain.dcm"
    openssl_decrypt(wrapped, plain, *OSSL_RSA)
    assert plain.read_bytes() == CT.read_bytes()


def _openssl_inner(tmp_path: Path, plain: Path, signed: bool) -> Path:
    """Wrap the inner value in a ContentInfo and have openssl verify it; returns its output."""
    openssl = require_tool("openssl")
    data = plain.read_bytes()
    if signed:
        ci = cms.ContentInfo({"content_type": "signed_data",
                              "content": cms.SignedData.load(data)})
        args = ["-verify", "-CAfile", pem("ca.pem")]
    else:
        ci = cms.ContentInfo({"content_type": "digested_data",
                              "content": cms.DigestedData.load(data)})
        args = ["-digest_verify"]
    ci_path = tmp_path / "ci.der"
    ci_path.write_bytes(ci.dump())
    out = tmp_path / "verified.dcm"
    proc = subprocess.run([openssl, "cms", *args, "-binary", "-inform", "DER", "-in",
                           str(ci_path), "-out", str(out)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return out


SIGN_RSA = ["--sign-key", pem("signer-rsa2048.key"), "--sign-cert", pem("signer-rsa2048.pem")]
SIGN_P256 = ["--sign-key", pem("signer-p256.key"), "--sign-cert", pem("signer-p256.pem")]

# name: (wrap options, signed?, digest, openssl credentials)
BASIC_INNER: dict[str, tuple[list[str], bool, str, list[str]]] = {
    "signed-rsa-sha256": ([*SIGN_RSA, "--to", pem("recip-rsa2048.pem")], True, "sha256",
                          OSSL_RSA),
    "signed-rsa-sha3-256": ([*SIGN_RSA, "--digest", "sha3-256", *PASSWORD], True, "sha3-256",
                            OSSL_PASSWORD),
    "signed-ecdsa-p256": ([*SIGN_P256, "--to", pem("recip-rsa2048.pem")], True, "sha256",
                          OSSL_RSA),
    "digested-sha256-password": (PASSWORD, False, "sha256", OSSL_PASSWORD),
    "digested-sha256-rsa": (["--to", pem("recip-rsa2048.pem")], False, "sha256", OSSL_RSA),
    "digested-sha512": (["--digest", "sha512", "--to", pem("recip-rsa2048.pem")], False,
                        "sha512", OSSL_RSA),
    "digested-sha3-256": (["--digest", "sha3-256", "--to", pem("recip-rsa2048.pem")], False,
                          "sha3-256", OSSL_RSA),
}


@pytest.mark.peer
@pytest.mark.parametrize("name", sorted(BASIC_INNER))
def test_openssl_verifies_basic_inner_content(name: str, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    opts, signed, digest, ossl = BASIC_INNER[name]
    wrapped = tmp_path / "basic.cms"
    rc, stdout, err = run(["wrap", str(CT), "-o", str(wrapped), "--profile", "basic", *opts,
                           "--json"], capsys)
    assert rc == 0, err
    report = json.loads(stdout)
    assert report["profile"] == "basic" and report["outer"] == ENV
    assert report["cipher"] == "aes256-cbc"
    assert report["inner"] == ("signed-data" if signed else "digested-data")
    assert report["digest"] == digest
    assert report["signers"] == (1 if signed else 0)
    info = _inspect_json(wrapped, capsys)
    assert info["content_type"] == report["inner"]
    plain = tmp_path / "inner.der"
    openssl_decrypt(wrapped, plain, *ossl)
    verified = _openssl_inner(tmp_path, plain, signed)
    assert verified.read_bytes() == CT.read_bytes()
    # and our own unwrap agrees
    creds = PASSWORD if ossl is OSSL_PASSWORD else RSA
    out = tmp_path / "ours.dcm"
    rc, stdout, err = run(["unwrap", str(wrapped), "-o", str(out), *creds, *TRUST, "--json"],
                          capsys)
    assert rc == 0, err
    rep = json.loads(stdout)
    assert rep["integrity"] == ("signed" if signed else "digested")
    assert rep["form"] == "strict"
    assert rep["inner"]["ok"] is True
    assert out.read_bytes() == CT.read_bytes()


# ------------------------------------------------------------------------------------------
# inspect


def test_inspect_plain_dicom(capsys: pytest.CaptureFixture[str]) -> None:
    rc, stdout, _ = run(["inspect", str(CT)], capsys)
    assert rc == 0
    assert "DICOM Part 10 file" in stdout and "not encrypted" in stdout
    info = _inspect_json(CT, capsys)
    assert info == {"schema": "dicomsec.securefile.info/1", "ok": True, "file": str(CT),
                    "type": "dicom-part10", "size": CT.stat().st_size}
    assert info == securefile.inspect(CT).to_dict()


@pytest.mark.parametrize("path", ALL_VECTORS, ids=[p.name.split("_")[0] for p in ALL_VECTORS])
def test_inspect_vector(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    expected = RECIPIENTS[path.name.split("_")[0]]
    info = _inspect_json(path, capsys)
    assert info["type"] == "secure-dicom-file"
    assert info["size"] == path.stat().st_size
    aead = "authenv" in path.name
    assert info["outer"] == (AUTH if aead else ENV)
    assert info["encoding"] == ("ber" if path.name.endswith("_indef.cms") else "der")
    assert info["icv_len"] == (16 if aead else None)
    assert info["authenticated_attributes"] is False
    if "digested" in path.name:
        assert info["content_type"] == "digested-data"
    elif "signed" in path.name:
        assert info["content_type"] == "signed-data"
    else:
        assert info["content_type"] == "data"
    recipients = info["recipients"]
    assert [r["kind"] for r in recipients] == [k for k, _ in expected]
    for r, (kind, ident) in zip(recipients, expected, strict=True):
        text = json.dumps(r).lower()
        if ident is not None:
            assert ident in text
        if kind == "pwri":
            assert r["kdf"] == "pbkdf2"
        if kind == "ori":
            assert r["kem"] in ("ml-kem-768", "ml-kem-512")
            assert r["kdf"] == "hkdf-sha256"
    rc, stdout, _ = run(["inspect", str(path)], capsys)
    assert rc == 0
    assert "Secure DICOM File" in stdout
    assert info["cipher"] in stdout
    for i, (kind, ident) in enumerate(expected):
        assert f"recipient #{i}: {kind}" in stdout
        if ident is not None:
            assert ident in stdout.lower()


def test_inspect_garbage_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\x30\x82\xff\xff" + bytes(200))
    rc, _, err = run(["inspect", str(junk)], capsys)
    assert rc == 2
    assert len(err_lines(err)) == 1


# ------------------------------------------------------------------------------------------
# errors and usage


def test_wrap_non_dicom_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "o.cms"
    rc, _, err = run(["wrap", pem("ca.pem"), "-o", str(out), *KEK256], capsys)
    assert rc == 2
    [line] = err_lines(err)
    assert "DICM" in line or "Part 10" in line
    assert_clean(tmp_path)


def test_unwrap_plain_dicom_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, _, err = run(["unwrap", str(CT), "-o", str(tmp_path / "o.dcm"), *KEK256], capsys)
    assert rc == 2
    assert len(err_lines(err)) == 1
    assert_clean(tmp_path)


@pytest.mark.parametrize("argv", [
    ["wrap", str(CT), "-o", "{out}"],
    ["wrap", str(CT), "-o", "{out}", "--kek-file", str(PKI / "kek-aes256.hex")],
    ["wrap", str(CT), "-o", "{out}", "--kek-id", "c0ffee0000000001"],
    ["wrap", str(CT), "-o", "{out}", "--to", pem("recip-rsa2048.pem"),
     "--sign-key", pem("signer-rsa2048.key")],
    ["wrap", str(CT), "-o", "{out}", "--to", pem("recip-rsa2048.pem"), "--profile", "nope"],
    ["unwrap", str(VECTORS / "s04_authenv_kekri-aes256wrap_aes256gcm_data.cms"), "-o",
     "{out}"],
    ["unwrap", str(VECTORS / "s04_authenv_kekri-aes256wrap_aes256gcm_data.cms"), "-o",
     "{out}", "--kek-file", str(PKI / "kek-aes256.hex")],
    ["unwrap", str(VECTORS / "s04_authenv_kekri-aes256wrap_aes256gcm_data.cms"), "-o",
     "{out}", "--kek-file", str(PKI / "kek-aes256.hex"), "--kek-id", "zz"],
    ["wrap", str(CT)],
], ids=["no-recipient", "kek-file-without-id", "kek-id-without-file", "sign-key-without-cert",
        "unknown-profile", "unwrap-no-credentials", "unwrap-kek-file-without-id",
        "unwrap-kek-id-not-hex", "no-output"])
def test_usage_errors_exit_2(argv: list[str], tmp_path: Path,
                             capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "o.bin"
    rc, _, err = run([a.replace("{out}", str(out)) for a in argv], capsys)
    assert rc == 2
    assert err.strip()
    assert "Traceback" not in err
    assert_clean(tmp_path)


def test_non_ascii_password_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pw = tmp_path / "pw.txt"
    pw.write_text("pässword", encoding="utf-8")
    for argv in (["wrap", str(CT), "-o", str(tmp_path / "o.cms"), "--password-file", str(pw)],
                 ["unwrap", str(VECTORS / "s07_basic_pwri_aes128cbc_digested-sha512.cms"), "-o",
                  str(tmp_path / "o.dcm"), "--password-file", str(pw)]):
        rc, _, err = run(argv, capsys)
        assert rc == 2
        [line] = err_lines(err)
        assert "password" in line
    assert_clean(tmp_path, {"pw.txt"})


def test_non_ascii_password_message_names_the_rule(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pw = tmp_path / "pw.txt"
    pw.write_text("pässword", encoding="utf-8")
    rc, _, err = run(["wrap", str(CT), "-o", str(tmp_path / "o.cms"), "--password-file",
                      str(pw)], capsys)
    assert rc == 2
    assert "ASCII" in err or "ISO-IR 6" in err


def test_control_character_password_exits_2(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    pw = tmp_path / "pw.txt"
    pw.write_bytes(b"tab\there")
    rc, _, err = run(["wrap", str(CT), "-o", str(tmp_path / "o.cms"), "--password-file",
                      str(pw)], capsys)
    assert rc == 2
    [line] = err_lines(err)
    assert "ISO-IR 6" in line
    assert_clean(tmp_path, {"pw.txt"})


def test_wrap_and_unwrap_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    wrapped = tmp_path / "w.cms"
    rc, stdout, err = run(["wrap", str(CT), "-o", str(wrapped), *KEK256, "--json"], capsys)
    assert rc == 0, err
    report = json.loads(stdout)
    assert report == {"schema": "dicomsec.securefile.wrap/1", "ok": True,
                      "file": str(wrapped), "profile": "aead", "outer": AUTH,
                      "cipher": "aes256-gcm", "recipients": ["kekri"], "inner": "data",
                      "digest": None, "signers": 0}
    out = tmp_path / "o.dcm"
    rc, stdout, err = run(["unwrap", str(wrapped), "-o", str(out), *KEK256, "--json"], capsys)
    assert rc == 0, err
    rep = json.loads(stdout)
    assert set(rep) >= {"file", "outer", "cipher", "recipient", "content_type", "form",
                        "integrity", "inner", "is_dicom", "legacy"}
    assert rep["file"] == str(out) and rep["integrity"] == "aead"
    assert rep["recipient"] == {"index": 0, "kind": "kekri"}
    assert out.read_bytes() == CT.read_bytes()
    # text mode: one line on stderr, nothing on stdout
    rc, stdout, err = run(["wrap", str(CT), "-o", str(tmp_path / "w2.cms"), *KEK256], capsys)
    assert rc == 0 and stdout == ""
    assert len(err_lines(err)) == 1


def test_binary_entry_point(tmp_path: Path) -> None:
    """The installed console script behaves like the in-process entry point."""
    exe = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "dicomsec"
    assert exe.exists(), "make install builds .venv/bin/dicomsec"
    src = VECTORS / "s09_authenv_kekri-aes128wrap_aes128gcm_data_indef.cms"
    out = tmp_path / "o.dcm"
    proc = subprocess.run([str(exe), "unwrap", str(src), "-o", str(out), *KEK128],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert sha256(out) == CT_SHA256


def test_json_is_exactly_the_reports_to_dict(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    """``--json`` of wrap, inspect and unwrap prints ``to_dict()`` of the library's report."""
    wrapped = tmp_path / "w.cms"
    rc, stdout, err = run(["wrap", str(CT), "-o", str(wrapped), *KEK256, "--json"], capsys)
    assert rc == 0, err
    again = securefile.wrap(CT, tmp_path / "w2.cms",
                            recipients=[securefile.KekRecipient(*_kek256())])
    assert json.loads(stdout) == {**again.to_dict(), "file": str(wrapped)}
    rc, stdout, err = run(["inspect", str(wrapped), "--json"], capsys)
    assert rc == 0, err
    assert json.loads(stdout) == securefile.inspect(wrapped).to_dict()
    out = tmp_path / "o.dcm"
    rc, stdout, err = run(["unwrap", str(wrapped), "-o", str(out), *KEK256, "--json"], capsys)
    assert rc == 0, err
    kek, kid = _kek256()
    lib = securefile.unwrap(wrapped, tmp_path / "o2.dcm",
                            credentials=securefile.Credentials(kek=kek, kek_id=kid))
    assert json.loads(stdout) == {**lib.to_dict(), "file": str(out)}


def _kek256() -> tuple[bytes, bytes]:
    return (bytes.fromhex((PKI / "kek-aes256.hex").read_text().strip()),
            bytes.fromhex((PKI / "kek-aes256.id.hex").read_text().strip()))
