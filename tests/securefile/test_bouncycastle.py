"""Secure DICOM Files made by a second CMS implementation, BouncyCastle 1.72 (issue 8, item 10 and
acceptance 6): every file of ``tests/data/secure-files/bc`` inspects and unwraps to the DICOM file
it was made from, through the command line and its ``--json`` reports.

The files were made by ``tools/bc-vectors/make-vectors.sh`` and are committed: Java is not needed
here. BouncyCastle writes a password-only EnvelopedData with version 0, and version 2 for a
password recipient beside a KEK one (RFC 5652 section 6.1 says 3 for both), and names the curve
in the ephemeral originator key's parameters: those files are read, and each deviation is
reported (``deviations`` of the inspect and unwrap reports), never refused.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from tests.cli.conftest import Run
from tests.conftest import DATA, PYDICOM_FILES

BC = DATA / "secure-files" / "bc"
PKI = DATA / "pki-cms"
CT = PYDICOM_FILES / "CT_small.dcm"

RSA = ["--key", str(PKI / "recip-rsa2048.key"), "--cert", str(PKI / "recip-rsa2048.pem")]
P256 = ["--key", str(PKI / "recip-p256.key"), "--cert", str(PKI / "recip-p256.pem")]
P384 = ["--key", str(PKI / "recip-p384.key"), "--cert", str(PKI / "recip-p384.pem")]
KEK256 = ["--kek-file", str(PKI / "kek-aes256.hex"), "--kek-id", "c0ffee0000000001"]
KEK128 = ["--kek-file", str(PKI / "kek-aes128.hex"), "--kek-id", "c0ffee0000000002"]
PASSWORD = ["--password-file", str(PKI / "password.txt")]
TRUST = ["--trust", str(PKI / "ca.pem")]
ENV, AUTH = "enveloped-data", "auth-enveloped-data"
# the deviations BC's files carry (MANIFEST.md): read, and reported, never refused
VERSION_0 = r"EnvelopedData version 0\b.*\b3\b"       # RFC 5652 §6.1: 3 with a pwri recipient
VERSION_2 = r"EnvelopedData version 2\b.*\b3\b"
CURVE = r"recipient 0\b.*originatorKey.*curve"         # RFC 5753: absent should be made


class Vector(NamedTuple):
    credentials: list[str]
    outer: str
    version: int          # the EnvelopedData / AuthEnvelopedData version BC wrote
    cipher: str
    kind: str             # the recipient kind that opens it
    content_type: str
    integrity: str        # what unwrap reports protects the content
    deviations: tuple[str, ...] = ()  # what dicomsec must report (a pattern per deviation)


VECTORS: dict[str, Vector] = {
    "b01_pwri-sha256_aes256cbc_digested-sha256_v0.cms":
        Vector(PASSWORD, ENV, 0, "aes256-cbc", "pwri", "digested-data", "digested", (VERSION_0,)),
    "b02_pwri-sha1_aes128cbc_data_v0.cms":
        Vector(PASSWORD, ENV, 0, "aes128-cbc", "pwri", "data", "none", (VERSION_0,)),
    "b03_kekri-aes256wrap_aes256cbc_digested-sha512.cms":
        Vector(KEK256, ENV, 2, "aes256-cbc", "kekri", "digested-data", "digested"),
    "b04_ktri-rsa15_aes128cbc_signed-rsa-sha256.cms":
        Vector(RSA + TRUST, ENV, 0, "aes128-cbc", "ktri", "signed-data", "signed"),
    "b05_ktri-rsaoaep256_aes256cbc_signed-ecdsa-p256.cms":
        Vector(RSA + TRUST, ENV, 0, "aes256-cbc", "ktri", "signed-data", "signed"),
    "b06_kari-p256-sha256kdf-aes128wrap_aes128cbc_data.cms":
        Vector(P256, ENV, 2, "aes128-cbc", "kari", "data", "none", (CURVE,)),
    "b07_kari-p384-sha384kdf-aes256wrap_aes256cbc_signed-ecdsa-p256.cms":
        Vector(P384 + TRUST, ENV, 2, "aes256-cbc", "kari", "signed-data", "signed", (CURVE,)),
    "b08_authenv_kekri-aes128wrap_aes128gcm_data.cms":
        Vector(KEK128, AUTH, 0, "aes128-gcm", "kekri", "data", "aead"),
    "b09_authenv_ktri-rsaoaep256_aes256gcm_data.cms":
        Vector(RSA, AUTH, 0, "aes256-gcm", "ktri", "data", "aead"),
    "b10_authenv_kari-p256_aes256gcm_signed-rsa-sha256.cms":
        Vector(P256 + TRUST, AUTH, 0, "aes256-gcm", "kari", "signed-data", "aead", (CURVE,)),
    "b11_authenv_pwri-sha256_aes256gcm_data.cms":
        Vector(PASSWORD, AUTH, 0, "aes256-gcm", "pwri", "data", "aead"),
    "b12_pwri+kekri_aes256cbc_digested-sha256_v2.cms":
        Vector(PASSWORD, ENV, 2, "aes256-cbc", "pwri", "digested-data", "digested", (VERSION_2,)),
}

def _id(name: str) -> str:
    return name.split("_")[0]


def _credentials(v: Vector) -> list[str]:
    # CBC of plain content: nothing proves it unmodified (docs/secure-files.md), so opt in
    return [*v.credentials, "--allow-unauthenticated"] if v.integrity == "none" else v.credentials


def _unwrap(run: Run, name: str, out: Path) -> dict[str, Any]:
    code = run("unwrap", BC / name, "-o", out, *_credentials(VECTORS[name]), "--json")
    assert code == 0, run.err
    report: dict[str, Any] = run.json()
    return report


def _inspect(run: Run, name: str) -> dict[str, Any]:
    code = run("inspect", BC / name, "--json")
    assert code == 0, run.err
    info: dict[str, Any] = run.json()
    return info


def _deviation_check(report: dict[str, Any], name: str) -> None:
    assert "deviations" in report, sorted(report)
    deviations = report["deviations"]
    assert isinstance(deviations, list)
    assert all(isinstance(d, str) and d for d in deviations)
    expected = VECTORS[name].deviations
    # each expected deviation reported once, and nothing else (the rest of BC's encoding is
    # conforming: a default left out, such as b02's PBKDF2 prf, is DER, not a deviation)
    assert len(deviations) == len(expected), deviations
    for pattern in expected:
        assert any(re.search(pattern, d) for d in deviations), (pattern, deviations)


#: every vector, named by its id (b01, b02, ...)
ALL = [pytest.param(name, id=_id(name)) for name in sorted(VECTORS)]


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str]) -> Run:
    return Run(capsys)


# ------------------------------------------------------------------------------------------


def test_manifest_lists_every_file() -> None:
    manifest = (BC / "MANIFEST.md").read_text()
    names = {p.name for p in BC.glob("*.cms")}
    assert names == set(VECTORS)
    for name in names:
        digest = hashlib.sha256((BC / name).read_bytes()).hexdigest()
        assert f"{digest}  {name}" in manifest, f"{name} changed or is not in MANIFEST.md"
    assert "BouncyCastle 1.72" in manifest


@pytest.mark.parametrize("name", sorted(VECTORS), ids=_id)
def test_inspect(name: str, run: Run) -> None:
    v = VECTORS[name]
    info = _inspect(run, name)
    assert info["type"] == "secure-dicom-file"
    assert info["outer"] == v.outer
    assert info["version"] == v.version
    assert info["cipher"] == v.cipher
    assert info["content_type"] == v.content_type
    assert info["encoding"] == "ber"      # BC writes indefinite lengths
    assert v.kind in [r["kind"] for r in info["recipients"]]
    if v.outer == AUTH:
        assert info["icv_len"] == 16
        assert info["authenticated_attributes"] is (v.content_type != "data")


@pytest.mark.parametrize("name", sorted(VECTORS), ids=_id)
def test_unwrap(name: str, run: Run, tmp_path: Path) -> None:
    v = VECTORS[name]
    out = tmp_path / "out.dcm"
    report = _unwrap(run, name, out)
    assert out.read_bytes() == CT.read_bytes()
    assert report["file"] == str(out)
    assert report["outer"] == v.outer
    assert report["cipher"] == v.cipher
    assert report["recipient"]["kind"] == v.kind
    assert report["content_type"] == v.content_type
    assert report["form"] == ("plain" if v.content_type == "data" else "strict")
    assert report["integrity"] == v.integrity
    assert report["is_dicom"] is True
    inner = report["inner"]
    if v.content_type == "signed-data":
        assert inner["ok"] is True and inner["trust_checked"] is True
        [signer] = inner["signers"]
        assert signer["valid"] is True and signer["trusted"] is True
        assert signer["digest"] == "sha256"
    elif v.content_type == "digested-data":
        assert inner["ok"] is True
        assert inner["digest"] == ("sha512" if "sha512" in name else "sha256")
    assert {p.name for p in tmp_path.iterdir()} == {"out.dcm"}


def test_unwrap_text_line(run: Run, tmp_path: Path) -> None:
    """The people's form: one line on stderr naming the outer type, cipher and recipient."""
    name = "b05_ktri-rsaoaep256_aes256cbc_signed-ecdsa-p256.cms"
    assert run("unwrap", BC / name, "-o", tmp_path / "o.dcm", *RSA) == 0, run.err
    assert run.out == ""
    [line] = [ln for ln in run.err.splitlines() if ln.strip()]
    assert re.search(r"enveloped-data.*aes256-cbc.*ktri.*signed", line), line


def test_wrong_password_is_refused(run: Run, tmp_path: Path) -> None:
    """Reading BC's version-0 file tolerantly does not loosen the password check."""
    wrong = tmp_path / "wrong.txt"
    wrong.write_text("not the password")
    out = tmp_path / "out" / "o.dcm"
    out.parent.mkdir()
    name = "b01_pwri-sha256_aes256cbc_digested-sha256_v0.cms"
    code = run("unwrap", BC / name, "-o", out, "--password-file", wrong)
    assert code == 1, run.err
    run.assert_one_line_error()
    assert list(out.parent.iterdir()) == []


@pytest.mark.parametrize("name", ALL)
def test_inspect_reports_deviations(name: str, run: Run) -> None:
    _deviation_check(_inspect(run, name), name)


@pytest.mark.parametrize("name", ALL)
def test_unwrap_reports_deviations(name: str, run: Run, tmp_path: Path) -> None:
    _deviation_check(_unwrap(run, name, tmp_path / "out.dcm"), name)
