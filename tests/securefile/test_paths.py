"""wrap, unwrap and inspect refuse inputs and outputs that are not regular files (issue 8,
item 4): a FIFO would hang, a device node would be replaced; exit 2, one line, nothing changed."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from dicomsec.cli import main
from tests.conftest import DATA, PYDICOM_FILES

PKI = DATA / "pki-cms"
CT = PYDICOM_FILES / "CT_small.dcm"


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    rc = main(argv)
    err = capsys.readouterr().err.strip()
    return rc, err


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "pipe"
    os.mkfifo(path)
    return path


def test_fifo_inputs_are_refused(fifo: Path, tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    to = ["--to", str(PKI / "recip-p256.pem")]
    for argv in (["wrap", str(fifo), "-o", str(tmp_path / "w.cms"), *to],
                 ["unwrap", str(fifo), "-o", str(tmp_path / "u.dcm"), "--key",
                  str(PKI / "recip-p256.key")],
                 ["inspect", str(fifo)]):
        rc, err = _run(argv, capsys)
        assert rc == 2 and "FIFO" in err and len(err.splitlines()) == 1, (argv, err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pipe"]


def test_device_and_directory_outputs_are_refused(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    link = tmp_path / "null-link"
    link.symlink_to("/dev/null")
    folder = tmp_path / "folder"
    folder.mkdir()
    for out in (link, folder):
        rc, err = _run(["wrap", str(CT), "-o", str(out), "--to",
                        str(PKI / "recip-p256.pem")], capsys)
        assert rc == 2 and ("refusing to write there" in err or "refusing to replace" in err), err
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    assert link.is_symlink() and not any(folder.iterdir())


def test_library_unwrap_names_a_fifo(fifo: Path, tmp_path: Path) -> None:
    from dicomsec import securefile
    from dicomsec.errors import InvalidInput

    with pytest.raises(InvalidInput, match="not a regular file"):
        securefile.unwrap(fifo, tmp_path / "o.dcm",
                          credentials=securefile.Credentials(password="x"))
    assert not (tmp_path / "o.dcm").exists()


def test_library_unwrap_refuses_a_fifo_output_before_decrypting(
        fifo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """securefile.unwrap() checks its output first: a FIFO is InvalidInput, never the CBC
    "does not open" verdict after the whole file was decrypted."""
    from dicomsec import securefile
    from dicomsec.cms.recipients import Credentials
    from dicomsec.errors import InvalidInput

    wrapped = tmp_path / "w.cms"
    assert main(["wrap", str(CT), "-o", str(wrapped), "--profile", "basic", "--to",
                 str(PKI / "recip-rsa2048.pem")]) == 0
    capsys.readouterr()
    with pytest.raises(InvalidInput, match="FIFO"):
        securefile.unwrap(wrapped, fifo, credentials=Credentials(password="unused-password"))
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
