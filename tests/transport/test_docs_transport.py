"""The python example of ``docs/transport.md`` runs (a fresh process: the profile's OpenSSL
configuration must precede ``import ssl``), in a folder holding the files it names."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import require_tool
from tests.transport.scan_support import ROOT, make_pki

PAGE = ROOT / "docs" / "transport.md"

pytestmark = pytest.mark.peer


def _blocks() -> list[str]:
    return re.findall(r"^```python\n(.*?)^```$", PAGE.read_text(encoding="utf-8"),
                      flags=re.MULTILINE | re.DOTALL)


def test_the_page_has_one_python_example_with_an_ae() -> None:
    blocks = _blocks()
    assert len(blocks) == 1
    for needle in ("server_context(", "client_context(", "AE(", "tls_args=", "ssl_context=",
                   "transport.echo("):
        assert needle in blocks[0]


def test_the_example_runs(tmp_path: Path) -> None:
    (tmp_path / "pki").mkdir()
    pki = make_pki(tmp_path / "pki", require_tool("openssl"))
    folder = tmp_path / "run"
    folder.mkdir()
    for name in ("ca.pem", "server-rsa.pem", "server-rsa.key", "server-ec.pem", "server-ec.key",
                 "client.pem", "client.key"):
        shutil.copy(pki.folder / name, folder / name)
    (folder / "example.py").write_text(_blocks()[0], encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "OPENSSL_CONF"}
    env["PYTHONPATH"] = str(ROOT / "src")
    proc = subprocess.run([sys.executable, "example.py"], cwd=folder, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    assert lines[0] == "C-ECHO status 0x0000"
    assert lines[1].startswith("OK echo peer=127.0.0.1:") and "status=0x0000" in lines[1]
