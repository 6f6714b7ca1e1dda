"""``--json`` of ``tls-check``, ``send`` and ``echo`` prints exactly ``to_dict()`` of the report
the library gives for the same run (issue 7, acceptance 3): the same keys, the same values
except times.

``tls-check`` runs in-process (it arranges no OpenSSL configuration); ``send`` and ``echo``
run in a fresh process (their profile's configuration must precede ``import ssl``) against an
SCP in this process, and the library calls go to the same SCP with the same files.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pydicom
import pytest
from pydicom.uid import generate_uid

from dicomsec.cli import main
from dicomsec.transport import dimse, scan, tls
from dicomsec.trust import TrustStore
from tests.conftest import PYDICOM_FILES, require_tool
from tests.transport.scan_support import ROOT, ScanPki, dicomsec_server, free_port, make_pki

pytestmark = pytest.mark.peer

#: keys whose values are durations or times: compared by presence only
_TIMES = frozenset({"seconds"})


def _same(cli: Any, lib: Any, where: str = "") -> None:
    """``cli`` and ``lib`` have the same keys at every level and the same values, except
    durations and times."""
    if isinstance(lib, dict):
        assert isinstance(cli, dict) and set(cli) == set(lib), where
        for key, value in lib.items():
            if key not in _TIMES:
                _same(cli[key], value, f"{where}.{key}")
    elif isinstance(lib, list):
        assert isinstance(cli, list) and len(cli) == len(lib), where
        for n, (a, b) in enumerate(zip(cli, lib, strict=True)):
            _same(a, b, f"{where}[{n}]")
    else:
        assert cli == lib, f"{where}: {cli!r} != {lib!r}"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> ScanPki:
    return make_pki(tmp_path_factory.mktemp("jsonpki"), require_tool("openssl"))


def test_tls_check_json_is_the_scan_report(capsys: pytest.CaptureFixture[str],
                                           pki: ScanPki) -> None:
    with dicomsec_server(pki, "b13", "server-rsa", "server-ec") as port:
        capsys.readouterr()
        rc = main(["tls-check", f"127.0.0.1:{port}", "--profile", "b13", "--json",
                   "--trust", str(pki.ca)])
        out, errors = capsys.readouterr()
        report = scan.scan("127.0.0.1", port, "b13", trust=TrustStore.from_paths([pki.ca]))
    printed = json.loads(out)
    assert rc == (0 if report.ok else 1)
    assert printed["schema"] == "dicomsec.transport.tls_check/1"
    _same(printed, report.to_dict())
    # the verdict on stderr counts failures and warnings; stdout holds the JSON alone
    assert f"{len(report.warnings)} warning" in errors


# ------------------------------------------------------------------------------------------
# send / echo


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "OPENSSL_CONF"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), str(ROOT)])
    return env


def _cli_json(*args: str) -> tuple[int, dict[str, Any], str]:
    proc = subprocess.run([sys.executable, "-m", "dicomsec", *args, "--json"],
                          capture_output=True, text=True, timeout=120, env=_env(), check=False)
    return proc.returncode, json.loads(proc.stdout), proc.stderr


def _files(folder: Path, count: int) -> list[Path]:
    folder.mkdir(parents=True)
    ds = pydicom.dcmread(PYDICOM_FILES / "CT_small.dcm")
    files = []
    for n in range(count):
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        path = folder / f"f{n}.dcm"
        ds.save_as(path, enforce_file_format=True)
        files.append(path)
    return files


@pytest.fixture(scope="module")
def scp(pki: ScanPki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dimse.DimseServer]:
    # B.12: its TLS 1.3 suites are OpenSSL's defaults, so this process (which imported ssl
    # long ago, without the profile's configuration) serves it as `dicomsec scp` would
    out = tmp_path_factory.mktemp("json-scp")
    with dimse.make_scp("b12", [pki["server-ec"]], TrustStore.from_paths([pki.ca]), out,
                        host="127.0.0.1", port=0, require_profile_config=False,
                        duplicates="replace") as server:  # the same files are sent twice
        yield server


def _client_args(pki: ScanPki, port: int) -> list[str]:
    cert, key = pki["client"]
    return ["--host", "127.0.0.1", "--port", str(port), "--aec", "DICOMSEC", "--profile",
            "b12", "--cert", str(cert), "--key", str(key), "--trust", str(pki.ca)]


def _context(pki: ScanPki) -> Any:
    cert, key = pki["client"]
    return tls.client_context("b12", TrustStore.from_paths([pki.ca]), cert=cert, key=key)


def test_send_json_is_the_send_report(pki: ScanPki, scp: dimse.DimseServer,
                                      tmp_path: Path) -> None:
    files = _files(tmp_path / "in", 3)
    rc, printed, errors = _cli_json("send", *map(str, files), *_client_args(pki, scp.port),
                                    "--window", "2")
    assert rc == 0, errors
    assert "3 of 3 stored" in errors  # the messages stay on stderr
    report = dimse.send_files(files, "127.0.0.1", scp.port, _context(pki),
                              called_aet="DICOMSEC", window=2)
    assert printed["schema"] == "dicomsec.transport.send/1"
    _same(printed, report.to_dict())


def test_send_json_when_nothing_listens(pki: ScanPki, tmp_path: Path) -> None:
    """No association: exit 1, and the JSON is still exactly the library's report."""
    files = _files(tmp_path / "in", 2)
    port = free_port()
    rc, printed, errors = _cli_json("send", *map(str, files), *_client_args(pki, port))
    assert rc == 1, errors
    report = dimse.send_files(files, "127.0.0.1", port, _context(pki), called_aet="DICOMSEC")
    assert not report.ok and printed["failure"]
    _same(printed, report.to_dict())


def test_echo_json_is_the_echo_report(pki: ScanPki, scp: dimse.DimseServer) -> None:
    rc, printed, errors = _cli_json("echo", *_client_args(pki, scp.port))
    assert rc == 0, errors
    assert "success" in errors
    report = dimse.echo("127.0.0.1", scp.port, _context(pki), called_aet="DICOMSEC")
    assert printed["schema"] == "dicomsec.transport.echo/1"
    _same(printed, report.to_dict())
