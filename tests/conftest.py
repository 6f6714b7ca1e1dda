"""Shared test helpers: paths to test data and the real peer tools.

A peer tool (dcmsign, dciodvfy, openssl, softhsm2-util) missing under CI=true is a failure, not
a skip.

Audit isolation: at import time ``XDG_STATE_HOME`` and ``XDG_CONFIG_HOME`` point at a throw-away
folder per pytest process (one per xdist worker, under one root the controller makes), and
``DICOMSEC_AUDIT`` and ``DICOMSEC_AUDIT_SPOOL`` are removed, so no test writes to the real
``~/.local/state`` (or the user's spool folder) or reads the user's audit configuration. At
the end of the session every message in the default file sinks of those folders is validated
(DICOM XML against the schema, FHIR with the FHIR model: issue 11, acceptance 1); one invalid
message fails the session.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import NoReturn

_AUDIT_ROOT_VARIABLE = "DICOMSEC_TEST_AUDIT_ROOT"


def _isolate_audit() -> Path:
    """Point the state and config folders of this pytest process at a throw-away folder."""
    root = os.environ.get(_AUDIT_ROOT_VARIABLE)
    if not root:  # the controller (or a run without xdist): workers inherit the variable
        root = tempfile.mkdtemp(prefix="dicomsec-tests-audit-")
        os.environ[_AUDIT_ROOT_VARIABLE] = root
    own = Path(root) / os.environ.get("PYTEST_XDIST_WORKER", "main")
    os.environ["XDG_STATE_HOME"] = str(own / "state")
    os.environ["XDG_CONFIG_HOME"] = str(own / "config")
    os.environ.pop("DICOMSEC_AUDIT", None)
    os.environ.pop("DICOMSEC_AUDIT_SPOOL", None)  # the user's spool folder: never written
    return Path(root)


AUDIT_ROOT = _isolate_audit()

import pydicom  # noqa: E402  (after the isolation: nothing may read the state folder before)
import pytest  # noqa: E402

from dicomsec.cli import main as cli_main  # noqa: E402
from dicomsec.keys import FileSigningKey, load_certificate, load_private_key  # noqa: E402

DATA = Path(__file__).parent / "data"
PKI = DATA / "pki"
DCMSIGN_FIXTURES = DATA / "dcmsign"
#: pydicom's own small test files (opened by path; never get_testdata_files with a pattern)
PYDICOM_FILES = Path(pydicom.__file__).parent / "data" / "test_files"


def peer_missing(message: str) -> NoReturn:
    """A peer (tool, module, service) the test needs is not installed: a failure under
    CI=true, a skip saying so otherwise."""
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def require_tool(name: str) -> str:
    """Path of a peer tool; fails under CI=true when missing, skips (saying so) otherwise."""
    path = shutil.which(name)
    if path is None:
        peer_missing(f"peer tool {name!r} is not installed (run 'make test' as root to "
                     "install it)")
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


def audit_log_problems(root: Path) -> tuple[int, list[str]]:
    """``(messages, problems)`` of the default file sinks under ``root``: every
    ``*/state/dicomsec/*.log`` and ``*.ndjson`` (DICOM XML against the schema, FHIR
    AuditEvents with the FHIR model)."""
    from dicomsec.cli.commands.audit import read_records, record_problems

    count = 0
    problems: list[str] = []
    for path in sorted([*root.glob("*/state/dicomsec/*.log"),
                        *root.glob("*/state/dicomsec/*.ndjson")]):
        for record in read_records(path.read_bytes()):
            count += 1
            problems.extend(f"{path}:{record.line}: {p}" for p in record_problems(record))
    return count, problems


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Acceptance 1 of issue 11: the messages the suite made through the default sinks are
    valid; the controller (not an xdist worker) checks, once every worker has finished."""
    if hasattr(session.config, "workerinput") or not AUDIT_ROOT.is_dir():
        return
    count, problems = audit_log_problems(AUDIT_ROOT)
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if problems:
        lines = [f"{len(problems)} invalid audit message(s) of {count} "
                 f"(kept in {AUDIT_ROOT}):", *problems[:20]]
        if reporter is not None:
            reporter.write_sep("=", "audit messages (issue 11, acceptance 1)", red=True)
            for line in lines:
                reporter.write_line(line)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        return
    if reporter is not None and count:
        reporter.write_line(f"audit: {count} message(s) from the default sinks are valid")
    shutil.rmtree(AUDIT_ROOT, ignore_errors=True)
