"""Outputs whose folder is missing are refused before the work; text read from files and
certificates reaches the terminal without control characters."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from dicomsec.cli._root import printable
from tests.cli.conftest import Run
from tests.conftest import PKI, PYDICOM_FILES


def test_missing_output_folder_is_refused_before_the_work(run: Run, tmp_path: Path) -> None:
    out = tmp_path / "no" / "such" / "folder" / "x.dcm"
    code = run("sign", PYDICOM_FILES / "CT_small.dcm", "-o", out, "--key",
               PKI / "signer-ecp256.key.pem", "--cert", PKI / "signer-ecp256.cert.pem")
    assert code == 2
    run.assert_one_line_error()
    assert "folder does not exist" in run.err
    assert not (tmp_path / "no").exists()


def test_printable_escapes_terminal_controls() -> None:
    assert printable("CT01 Müller\tok") == "CT01 Müller\tok"
    hostile = "VendorA\x1b]0;pwned\x07\x1b[2J\nFAKE OK line\u2028\x9b"
    shown = printable(hostile)
    assert shown.isprintable()
    assert "\\x1b]0;pwned\\x07" in shown and "\\x0a" in shown and "\\u2028" in shown
    assert "\\x9b" in shown


def test_broken_pipe_is_one_line_exit_2() -> None:
    """A reader that goes away (``| head``) is not "a check failed" (click's exit 1)."""
    r, w = os.pipe()
    os.close(r)  # nobody reads: the first write fails with EPIPE
    try:
        proc = subprocess.run([sys.executable, "-m", "dicomsec", "limits", "--json"],
                              stdout=w, stderr=subprocess.PIPE, text=True, timeout=60,
                              check=False)
    finally:
        os.close(w)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines() == ["error: Broken pipe"]
