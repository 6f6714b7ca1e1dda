"""Shared test helpers: paths to test data and the real peer tools.

A peer tool (dcmsign, dciodvfy, openssl, softhsm2-util) missing under CI=true is a failure, not
a skip.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pydicom
import pytest

from dicomsec.cli import main as cli_main
from dicomsec.keys import FileSigningKey, load_certificate, load_private_key

DATA = Path(__file__).parent / "data"
PKI = DATA / "pki"
DCMSIGN_FIXTURES = DATA / "dcmsign"
#: pydicom's own small test files (opened by path; never get_testdata_files with a pattern)
PYDICOM_FILES = Path(pydicom.__file__).parent / "data" / "test_files"


def require_tool(name: str) -> str:
    """Path of a peer tool; fails under CI=true when missing, skips (saying so) otherwise."""
    path = shutil.which(name)
    if path is None:
        message = f"peer tool {name!r} is not installed (run 'make test' as root to install it)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def pki() -> Path:
    return PKI


@pytest.fixture(scope="session")
def pydicom_files() -> Path:
    return PYDICOM_FILES


def fixture_key(name: str) -> FileSigningKey:
    """The test PKI's signer key ``signer-NAME`` (rsa2048, rsa3072, ecp256, ecp384, ed25519)."""
    return FileSigningKey(load_private_key(PKI / f"signer-{name}.key.pem"),
                          load_certificate(PKI / f"signer-{name}.cert.pem"))


def cli_sign(src: Path, dst: Path, key: str, *extra: str) -> None:
    """Sign through the in-process CLI with the test PKI's ``signer-KEY``; asserts exit 0."""
    rc = cli_main(["sign", str(src), "-o", str(dst),
                   "--key", str(PKI / f"signer-{key}.key.pem"),
                   "--cert", str(PKI / f"signer-{key}.cert.pem"), *extra])
    assert rc == 0
