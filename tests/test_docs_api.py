"""Every ``python`` block of ``docs/api.md`` runs as it is written (issue 7, acceptance 7).

The blocks run in the order of the page, each in a fresh interpreter (the TLS block must arrange
the profile's OpenSSL configuration before anything imports ``ssl``, which this process did long
ago), all in one folder prepared with the test PKI and the files the page's intro names. Nothing
is mocked: the TLS block runs a real B.13 C-ECHO on 127.0.0.1.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import PKI, PYDICOM_FILES

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "api.md"
PKI_CMS = PKI.parent / "pki-cms"

#: the files the examples assume (name in the folder -> where the test takes it from)
FILES: dict[str, Path] = {
    "ca.cert.pem": PKI / "ca.cert.pem",
    "signer.key.pem": PKI / "signer-ecp256.key.pem",
    "signer.cert.pem": PKI / "signer-ecp256.cert.pem",
    "image.dcm": PYDICOM_FILES / "CT_small.dcm",
    "archive.key.pem": PKI_CMS / "recip-rsa2048.key",
    "archive.cert.pem": PKI_CMS / "recip-rsa2048.pem",
    "server.key.pem": PKI / "signer-ecp384.key.pem",
    "server.cert.pem": PKI / "signer-ecp384.cert.pem",
    "client.key.pem": PKI / "signer-rsa2048.key.pem",
    "client.cert.pem": PKI / "signer-rsa2048.cert.pem",
}
#: what ``folder/`` holds: DICOM files (one signed by dcmsign) and one that is not DICOM
FOLDER: dict[str, Path] = {
    "ct.dcm": PYDICOM_FILES / "CT_small.dcm",
    "mr-signed.dcm": PKI.parent / "dcmsign" / "mr_ecp256_sha256_none.dcm",
}

_BLOCK = re.compile(r"^```python\n(.*?)^```\s*$", re.DOTALL | re.MULTILINE)
#: seconds one block may take (password recipients run PBKDF2 with 600,000 iterations)
_TIMEOUT = 180


def python_blocks(text: str) -> list[tuple[int, str]]:
    """The ``python`` fenced blocks of a Markdown text, with the line each starts on."""
    return [(text.count("\n", 0, m.start()) + 2, m.group(1)) for m in _BLOCK.finditer(text)]


BLOCKS = python_blocks(PAGE.read_text(encoding="utf-8"))


@dataclass(frozen=True)
class Run:
    line: int
    returncode: int
    stdout: str
    stderr: str


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "OPENSSL_CONF"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")])
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def _prepare(folder: Path) -> None:
    for name, source in FILES.items():
        shutil.copyfile(source, folder / name)
    (folder / "folder").mkdir()
    for name, source in FOLDER.items():
        shutil.copyfile(source, folder / "folder" / name)
    (folder / "folder" / "notes.txt").write_text("not a DICOM file\n")


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> list[Run]:
    """Every block, run once in order in one prepared folder."""
    folder = tmp_path_factory.mktemp("api-examples")
    _prepare(folder)
    results = []
    for n, (line, code) in enumerate(BLOCKS):
        script = folder / f"example_{n}.py"
        script.write_text(code, encoding="utf-8")
        proc = subprocess.run([sys.executable, script.name], cwd=folder, env=_env(),
                              capture_output=True, text=True, timeout=_TIMEOUT, check=False)
        results.append(Run(line, proc.returncode, proc.stdout, proc.stderr))
    return results


def test_the_page_shows_every_area() -> None:
    text = PAGE.read_text(encoding="utf-8")
    assert len(BLOCKS) >= 6
    code = "\n".join(block for _line, block in BLOCKS)
    for needle in ("signatures.sign(", "signatures.verify(", "TrustStore.from_paths(",
                   "securefile.wrap(", "securefile.unwrap(", "securefile.inspect(",
                   "PasswordRecipient(", "recipient_for(", "AlgorithmPolicy.from_toml(",
                   ".check(", "transport.server_context(", "transport.client_context(", "AE(",
                   "send_c_echo(", "make_executor(", "iter_files(", ".raise_for_failure()",
                   ".to_dict()", ".summary()"):
        assert needle in code, f"docs/api.md has no example using {needle}"
    assert "reports.md" in text


def test_the_intro_names_every_prepared_file() -> None:
    """What the fixture prepares is what the page says the examples assume."""
    text = PAGE.read_text(encoding="utf-8")
    intro = text[text.index("**The examples assume**"):text.index("\n## ")]
    for name in [*FILES, "folder/"]:
        assert f"`{name}`" in intro, f"the intro of docs/api.md does not name {name}"


@pytest.mark.parametrize("index", range(len(BLOCKS)), ids=[f"line{ln}" for ln, _ in BLOCKS])
def test_example_runs(runs: list[Run], index: int) -> None:
    run = runs[index]
    assert run.returncode == 0, (
        f"the python block at docs/api.md line {run.line} failed "
        f"(exit {run.returncode}):\n{run.stderr[-3000:]}")
    assert "Traceback" not in run.stderr, run.stderr[-3000:]


def test_examples_say_what_the_page_says(runs: list[Run]) -> None:
    """A few outputs the page quotes in its comments."""
    out = "\n".join(r.stdout for r in runs)
    assert "OK file=image.signed.dcm location=main" in out
    assert "FAILED file=image.signed.dcm signatures=1 failed=1" in out
    assert "C-ECHO status 0x0000" in out
    assert "OK echo peer=127.0.0.1:" in out
    assert "refused create ecdsa-p256 not_allowed_after=2035-12-31 legacy" in out
    assert "hospital policy: ecdsa-p256" in out
    assert "refused: hospital policy: ecdsa-p256" in out  # sign_file(policy=site)
    assert "allowed verify ecdsa-p256 legacy quantum-vulnerable" in out
    assert "aes256-gcm ['ktri', 'pwri']" in out
    # the batch block: the unsigned file fails require="any", the signed one passes, the text
    # file is an error outcome
    assert re.search(r"^FAILED folder/ct\.dcm$", out, re.MULTILINE), out
    assert "folder/mr-signed.dcm" in out
    assert re.search(r"^ERROR +folder/notes\.txt: not a DICOM", out, re.MULTILINE), out
