"""``inspect`` and ``unwrap`` read a CMS file strictly where it costs nothing (issue 8, item 9).

A CMS file is recognised first: bytes 128-131 that happen to read ``DICM`` inside a secure file
do not make it "not encrypted". The ContentInfo must fill the file: trailing bytes, and a BER
file missing its last end-of-contents octets, are refused (InvalidInput, exit 2, one line;
``unwrap`` before any output). Inputs that are not regular files (a FIFO, ``/dev/zero``) are
refused at once, never read.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dicomsec.errors import InvalidInput
from dicomsec.securefile import inspect
from tests.cli.conftest import Run

DATA = Path(__file__).resolve().parents[1] / "data"
VECTORS = DATA / "secure-files"
KEYS = DATA / "pki-cms"
S01 = VECTORS / "s01_ktri-rsa15_aes256cbc_data.cms"  # DER, RSA key transport
S08 = VECTORS / "s08_ktri-rsa15_aes256cbc_data_indef.cms"  # BER, indefinite lengths
PLAIN = DATA / "dcmsign" / "ct_rsa2048_sha256_none.dcm"


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str]) -> Run:
    return Run(capsys)


def _variant(tmp_path: Path, src: Path, name: str, data: bytes) -> Path:
    p = tmp_path / name
    p.write_bytes(data)
    return p


def test_dicm_at_128_inside_a_secure_file(tmp_path: Path) -> None:
    raw = bytearray(S01.read_bytes())
    raw[128:132] = b"DICM"  # inside the recipient's issuer name: the structure stays whole
    p = _variant(tmp_path, S01, "dicm.cms", bytes(raw))
    info, original = inspect(p), inspect(S01)
    assert info.kind == "secure-dicom-file"
    assert (info.outer, info.cipher, len(info.recipients)) == (
        original.outer, original.cipher, len(original.recipients))


def test_plain_part10_file_is_still_plain() -> None:
    assert inspect(PLAIN).kind == "dicom-part10"


def test_preamble_that_begins_like_a_sequence_is_plain(tmp_path: Path) -> None:
    raw = bytearray(PLAIN.read_bytes())
    raw[0:4] = b"\x30\x82\x00\x10"  # a SEQUENCE header, but no ContentInfo behind it
    assert inspect(_variant(tmp_path, PLAIN, "p.dcm", bytes(raw))).kind == "dicom-part10"


@pytest.mark.parametrize(("src", "change"), [
    (S01, "trailing-zeros"), (S01, "trailing-junk"), (S08, "trailing-zeros"),
    (S08, "missing-eoc"), (S08, "missing-inner-eoc"),
])
def test_refused_by_inspect(tmp_path: Path, src: Path, change: str) -> None:
    raw = src.read_bytes()
    data = {"trailing-zeros": raw + b"\x00\x00", "trailing-junk": raw + b"junk",
            "missing-eoc": raw[:-2], "missing-inner-eoc": raw[:-4]}[change]
    p = _variant(tmp_path, src, f"{change}.cms", data)
    with pytest.raises(InvalidInput, match="malformed CMS structure"):
        inspect(p)


@pytest.mark.parametrize("change", ["trailing", "missing-eoc"])
def test_cli_inspect_and_unwrap_refuse(run: Run, tmp_path: Path, change: str) -> None:
    raw = S08.read_bytes()
    p = _variant(tmp_path, S08, "bad.cms", raw + b"\x00\x00" if change == "trailing"
                 else raw[:-2])
    assert run("inspect", p) == 2
    run.assert_one_line_error()
    assert run.out == ""
    out = tmp_path / "out" / "plain.dcm"
    out.parent.mkdir()
    assert run("unwrap", p, "-o", out, "--key", KEYS / "recip-rsa2048.key",
               "--cert", KEYS / "recip-rsa2048.pem", "--allow-unauthenticated") == 2
    run.assert_one_line_error()
    assert "malformed CMS structure" in run.err
    assert list(out.parent.iterdir()) == []


def test_the_untouched_vector_still_unwraps(run: Run, tmp_path: Path) -> None:
    out = tmp_path / "plain.dcm"
    assert run("unwrap", S08, "-o", out, "--key", KEYS / "recip-rsa2048.key",
               "--cert", KEYS / "recip-rsa2048.pem", "--allow-unauthenticated") == 0, \
        run.err
    assert out.read_bytes()[128:132] == b"DICM"


def test_fifo_and_device_are_not_read(run: Run, tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for p in (fifo, Path("/dev/zero")):
        with pytest.raises(InvalidInput, match="not a regular file"):
            inspect(p)
        assert run("inspect", p) == 2
        run.assert_one_line_error()
        assert "not a regular file" in run.err
