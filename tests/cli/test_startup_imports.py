"""Start-up: the modules each hot command imports (issue 7, point 7).

Each command runs in a fresh interpreter that writes ``sys.modules`` on exit; the test fails
on modules the command does not need (typer and click: the hot commands are parsed without
them; rich: no progress bar for one file; pydicom, pynetdicom, asn1crypto: not needed to read
a signature or a KEK-wrapped file). Deterministic, unlike a timing (timings are in
``bench/startup.py``).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from dicomsec.cli import main
from tests.conftest import PKI, PYDICOM_FILES

CT = PYDICOM_FILES / "CT_small.dcm"
KEY = PKI / "signer-ecp256.key.pem"
CERT = PKI / "signer-ecp256.cert.pem"
KEK = "00112233445566778899aabbccddeeff" * 2

#: never wanted by a hot command
FRONT_END = {"typer", "click", "rich"}
#: modules that belong to other commands (or to parts of the library these do not reach)
HEAVY = {"pydicom", "pynetdicom", "asn1crypto"}

#: what each run writes its modules with
WRAPPER = """
import sys
from dicomsec.cli import main
code = main(sys.argv[2:])
with open(sys.argv[1], "w") as out:
    out.write("\\n".join(sorted(sys.modules)))
sys.exit(code)
"""


@pytest.fixture(scope="module")
def material(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    work = tmp_path_factory.mktemp("startup")
    signed, secure, kek = work / "signed.dcm", work / "secure.dcm", work / "kek.hex"
    kek.write_text(KEK + "\n")
    assert main(["sign", str(CT), "-o", str(signed), "--key", str(KEY),
                 "--cert", str(CERT)]) == 0
    assert main(["wrap", str(CT), "-o", str(secure), "--kek-file", str(kek),
                 "--kek-id", "01"]) == 0
    return {"work": work, "signed": signed, "secure": secure, "kek": kek}


def _all_modules(work: Path, *argv: str | Path) -> set[str]:
    """The full names of every module the command imported."""
    listing = work / "modules.txt"
    done = subprocess.run([sys.executable, "-c", WRAPPER, str(listing), *map(str, argv)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return set(listing.read_text().split())


def _modules(work: Path, *argv: str | Path) -> set[str]:
    """The top-level packages the command imported."""
    return {name.split(".")[0] for name in _all_modules(work, *argv)}


def _commands(m: dict[str, Path]) -> dict[str, list[str | Path]]:
    w = m["work"]
    return {
        "--version": ["--version"],
        "verify": ["verify", m["signed"], "--trust", PKI / "ca.cert.pem"],
        "sign": ["sign", CT, "-o", w / "out.dcm", "--key", KEY, "--cert", CERT],
        "unwrap": ["unwrap", m["secure"], "-o", w / "plain.dcm", "--kek-file", m["kek"],
                   "--kek-id", "01"],
    }


def test_version_imports_nothing_of_the_library(material: dict[str, Path]) -> None:
    every = _all_modules(material["work"], "--version")
    found = {name.split(".")[0] for name in every}
    assert found & (FRONT_END | HEAVY | {"cryptography", "logging", "typing"}) == set()
    assert "dicomsec.cli" in every  # the listing has full names
    assert not [m for m in every if m.startswith("dicomsec.cli.commands")]


@pytest.mark.parametrize("command", ["verify", "sign", "unwrap"])
def test_hot_commands_run_without_typer(material: dict[str, Path], command: str) -> None:
    found = _modules(material["work"], *_commands(material)[command])
    assert found & FRONT_END == set()


def test_verify_imports_no_heavy_module(material: dict[str, Path]) -> None:
    found = _modules(material["work"], *_commands(material)["verify"])
    assert found & HEAVY == set()


def test_unwrap_imports_no_dicom_or_dimse_module(material: dict[str, Path]) -> None:
    # asn1crypto parses the CMS structures: unwrap needs it
    found = _modules(material["work"], *_commands(material)["unwrap"])
    assert found & {"pydicom", "pynetdicom"} == set()


def test_sign_imports_no_heavy_module(material: dict[str, Path]) -> None:
    found = _modules(material["work"], *_commands(material)["sign"])
    assert found & HEAVY == set()


def test_help_still_goes_through_typer(material: dict[str, Path]) -> None:
    found = _modules(material["work"], "verify", "--help")
    assert {"typer", "click"} <= found


def test_verify_trust_without_revocation_takes_the_fast_path(material: dict[str, Path]) -> None:
    # a valid file, --trust and no CRL: cryptography's verifier confirms the path, so neither
    # pyhanko-certvalidator, asn1crypto nor the HTTP fetcher is imported (docs/validation.md)
    every = _all_modules(material["work"], *_commands(material)["verify"])
    assert "dicomsec.trust._fast" in every
    assert {n.split(".")[0] for n in every} & {"pyhanko_certvalidator", "asn1crypto"} == set()
    assert {"dicomsec.trust._validate", "dicomsec.trust._fetch", "urllib.request",
            "asyncio"} & every == set()
