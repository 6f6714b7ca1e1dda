"""Arguments are checked by the CLI before any work (issue 8, item 9): one line, exit 2.

Ports (1-65535; ``scp`` also 0 = any free port), timeouts (more than 0, at most an hour),
counts and URLs out of range; usage errors in one line instead of click's usage block;
``--debug`` adds a traceback and never changes the exit code; a ``--host`` that does not
resolve; inputs and outputs that are not regular files (FIFOs, devices, directories, links to
them) refused before anything is written; transport key passwords read like ``sign``'s
(``--key-password-file``, ``DICOMSEC_KEY_PASSWORD``), a wrong one named by its key file, with
the real SCP of :mod:`dicomsec.transport.dimse` on the other side.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from tests.cli.conftest import Run
from tests.conftest import require_tool
from tests.transport.scan_support import ROOT, ScanPki, free_port, make_pki

DATA = Path(__file__).resolve().parents[1] / "data"
PKI = DATA / "pki"
KEY, CERT, CA = PKI / "signer-ecp256.key.pem", PKI / "signer-ecp256.cert.pem", PKI / "ca.cert.pem"
CT = DATA / "dcmsign" / "ct_rsa2048_sha256_none.dcm"
#: RFC 6761: names under .invalid never resolve
NO_HOST = "no.such.host.invalid"


def _client(port: str = "11112", host: str = "127.0.0.1") -> list[str]:
    return ["--host", host, "--port", port, "--cert", str(CERT), "--key", str(KEY),
            "--trust", str(CA)]


def _scp(out: Path, *extra: str) -> list[str]:
    return ["scp", "--out", str(out), "--cert", str(CERT), "--key", str(KEY), "--trust",
            str(CA), *extra]


# ------------------------------------------------------------------------------------------
# ranges


@pytest.mark.parametrize("port", ["99999", "65536", "0", "-1"])
@pytest.mark.parametrize("cmd", ["send", "echo"])
def test_client_port_out_of_range(run: Run, cmd: str, port: str) -> None:
    files = [str(CT)] if cmd == "send" else []
    assert run(cmd, *files, *_client(port)) == 2, run.err
    run.assert_one_line_error()
    assert f"--port must be 1-65535, not {port}" in run.err


@pytest.mark.parametrize("args", [
    ["--port", "70000"], ["--port", "-1"], ["--handshake-timeout", "0"],
    ["--handshake-timeout", "nan"], ["--handshake-timeout", "1e300"],
    ["--max-associations", "0"], ["--max-associations", "100000"],
    ["--network-timeout", "0"], ["--network-timeout", "nan"], ["--network-timeout", "3601"],
    ["--acse-timeout", "0"], ["--acse-timeout", "-1"], ["--acse-timeout", "inf"],
], ids=lambda a: " ".join(a))
def test_scp_ranges(run: Run, tmp_path: Path, args: list[str]) -> None:
    assert run(*_scp(tmp_path / "out", *args)) == 2, run.err
    run.assert_one_line_error()
    assert args[0] in run.err


@pytest.mark.parametrize("timeout", ["0", "-3", "nan", "inf", "1e300", "3601"])
@pytest.mark.parametrize("cmd", ["send", "echo"])
def test_client_timeout_out_of_range(run: Run, cmd: str, timeout: str) -> None:
    files = [str(CT)] if cmd == "send" else []
    assert run(cmd, *files, *_client(), "--timeout", timeout) == 2, run.err
    run.assert_one_line_error()
    assert "--timeout must be more than 0 and at most 3600 seconds" in run.err


@pytest.mark.parametrize("args", [
    ["127.0.0.1:99999"], ["127.0.0.1:1", "--timeout", "0"], ["127.0.0.1:1", "--wait", "inf"],
    ["127.0.0.1:1", "--timeout", "1e300"],
], ids=lambda a: " ".join(a))
def test_tls_check_ranges(run: Run, args: list[str]) -> None:
    assert run("tls-check", *args) == 2, run.err
    run.assert_one_line_error()


def test_conformance_port(run: Run) -> None:
    assert run("conformance", "--port", "70000") == 2, run.err
    run.assert_one_line_error()
    assert "--port must be 1-65535" in run.err


@pytest.mark.parametrize("url", [
    "http://[::1", "ftp://tsa.example", "http://tsa.example:99999/", "no-url", "http://",
    "http://ts a.example/", "",
])
def test_malformed_tsa_url(run: Run, tmp_path: Path, url: str) -> None:
    out = tmp_path / "out.dcm"
    assert run("sign", CT, "-o", out, "--key", KEY, "--cert", CERT, "--tsa-url", url) == 2
    run.assert_one_line_error()
    assert "--tsa-url" in run.err and not out.exists()


def test_a_url_with_credentials_is_not_repeated(run: Run, tmp_path: Path) -> None:
    assert run("sign", CT, "-o", tmp_path / "o.dcm", "--key", KEY, "--cert", CERT,
               "--tsa-url", "gopher://user:s3cret@tsa.example/") == 2
    assert "s3cret" not in run.err


# ------------------------------------------------------------------------------------------
# usage errors and --debug


@pytest.mark.parametrize("args", [
    ["sign", "a.dcm", "--key", "k", "--cert", "c"],  # neither -o nor --in-place
    ["send", "--host"],  # an option without its value
    ["verify", "--no-such-option", "x"],
    ["no-such-command"],
], ids=lambda a: " ".join(a))
def test_usage_error_is_one_line(run: Run, args: list[str]) -> None:
    assert run(*args) == 2
    run.assert_one_line_error()
    assert run.err.startswith("error: ") and "Usage:" not in run.err
    assert run.out == ""


@pytest.mark.parametrize("args", [
    ["sign", "no-such.dcm", "-o", "x.dcm", "--key", str(KEY), "--cert", str(CERT)],  # fast
    ["echo", *_client(host=NO_HOST)],  # typer
    ["inspect", "no-such.cms"],
], ids=["sign", "echo", "inspect"])
def test_debug_keeps_the_exit_code(run: Run, args: list[str]) -> None:
    assert run(*args) == 2
    plain = run.err
    assert run("--debug", *args) == 2
    assert "Traceback" in run.err
    assert run.err.rstrip().splitlines()[-1] == plain.strip()


# ------------------------------------------------------------------------------------------
# hosts


@pytest.mark.parametrize("cmd", ["send", "echo"])
def test_host_that_does_not_resolve_is_bad_input(run: Run, cmd: str) -> None:
    files = [str(CT)] if cmd == "send" else []
    assert run(cmd, *files, *_client(host=NO_HOST)) == 2
    run.assert_one_line_error()
    assert f"--host '{NO_HOST}' does not resolve" in run.err


# ------------------------------------------------------------------------------------------
# inputs and outputs that are not regular files


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    p = tmp_path / "fifo"
    os.mkfifo(p)
    return p


def test_sign_input_fifo_is_refused(run: Run, tmp_path: Path, fifo: Path) -> None:
    assert run("sign", fifo, "-o", tmp_path / "o.dcm", "--key", KEY, "--cert", CERT) == 2
    run.assert_one_line_error()
    assert "not a regular file" in run.err and not (tmp_path / "o.dcm").exists()


def test_sign_input_device_is_refused(run: Run, tmp_path: Path) -> None:
    assert run("sign", "/dev/zero", "-o", tmp_path / "o.dcm", "--key", KEY,
               "--cert", CERT) == 2
    run.assert_one_line_error()
    assert "not a regular file" in run.err


def test_send_input_fifo_is_refused(run: Run, fifo: Path) -> None:
    assert run("send", fifo, *_client()) == 2
    run.assert_one_line_error()
    assert "not a regular file" in run.err


@pytest.mark.parametrize("kind", ["fifo", "directory", "link-to-device", "link-to-fifo",
                                  "link-to-file", "dangling-link"])
def test_sign_output_not_a_regular_file(run: Run, tmp_path: Path, kind: str) -> None:
    out = tmp_path / "out"
    if kind == "fifo":
        os.mkfifo(out)
    elif kind == "directory":
        out.mkdir()
    elif kind == "link-to-device":
        out.symlink_to("/dev/null")  # a link: even if refused too late, /dev/null is safe
    elif kind == "link-to-fifo":
        os.mkfifo(tmp_path / "target")
        out.symlink_to(tmp_path / "target")
    elif kind == "link-to-file":
        (tmp_path / "target").write_bytes(b"x")
        out.symlink_to(tmp_path / "target")
    else:
        out.symlink_to(tmp_path / "nowhere")
    before = os.lstat(out)
    assert run("sign", CT, "-o", out, "--key", KEY, "--cert", CERT) == 2
    run.assert_one_line_error()
    assert ("refusing to write there" in run.err or "is a directory" in run.err
            or "is a symbolic link; refusing to replace it" in run.err)
    after = os.lstat(out)
    assert (after.st_mode, after.st_ino) == (before.st_mode, before.st_ino)
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["out", *(["target"] if kind in ("link-to-fifo", "link-to-file") else [])])


# ------------------------------------------------------------------------------------------
# key passwords of the transport commands (a real SCP on the other side)


@pytest.fixture(scope="module")
def tls_pki(tmp_path_factory: pytest.TempPathFactory) -> ScanPki:
    return make_pki(tmp_path_factory.mktemp("argpki"), require_tool("openssl"))


@pytest.fixture(scope="module")
def locked_key(tls_pki: ScanPki, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The client key, encrypted with the password "s3cret"."""
    _, key = tls_pki["client"]
    private = serialization.load_pem_private_key(key.read_bytes(), None)
    path = tmp_path_factory.mktemp("locked") / "client.enc.key"
    path.write_bytes(private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"s3cret")))
    return path


@pytest.fixture(scope="module")
def scp_port(tls_pki: ScanPki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    from dicomsec.transport import dimse
    from dicomsec.trust import TrustStore

    # B.12: its TLS 1.3 suites are OpenSSL's defaults, so this process serves it as
    # `dicomsec scp` would (as in tests/transport/test_cli_json.py)
    out = tmp_path_factory.mktemp("arg-scp")
    with dimse.make_scp("b12", [tls_pki["server-ec"]], TrustStore.from_paths([tls_pki.ca]),
                        out, host="127.0.0.1", port=0, require_profile_config=False) as server:
        yield server.port


def _dicomsec(*args: str | Path, password: str | None = None) -> tuple[int, str]:
    """The tool in a child process (the TLS commands arrange their OpenSSL configuration
    before ssl is imported); stdin is not a terminal, so nothing may prompt."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("OPENSSL_CONF", "DICOMSEC_KEY_PASSWORD")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), str(ROOT)])
    if password is not None:
        env["DICOMSEC_KEY_PASSWORD"] = password
    proc = subprocess.run([sys.executable, "-m", "dicomsec", *map(str, args)],
                          stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=120, env=env, check=False)
    return proc.returncode, proc.stderr


def _one_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    return lines[0]


def _echo(tls_pki: ScanPki, key: Path, port: int, *extra: str) -> list[str]:
    cert, _ = tls_pki["client"]
    return ["echo", "--host", "127.0.0.1", "--port", str(port), "--aec", "ANY-SCP",
            "--profile", "b12", "--cert", str(cert), "--key", str(key),
            "--trust", str(tls_pki.ca), *extra]


def test_echo_key_password_file(tls_pki: ScanPki, locked_key: Path, scp_port: int,
                                tmp_path: Path) -> None:
    good, bad = tmp_path / "good", tmp_path / "bad"
    good.write_text("s3cret\n")
    bad.write_text("wrong\n")
    rc, errors = _dicomsec(*_echo(tls_pki, locked_key, scp_port, "--key-password-file",
                                  str(good)))
    assert rc == 0, errors
    rc, errors = _dicomsec(*_echo(tls_pki, locked_key, scp_port, "--key-password-file",
                                  str(bad)))
    assert rc == 2
    line = _one_line(errors)
    assert str(locked_key) in line and "password" in line


def test_echo_key_password_from_the_environment(tls_pki: ScanPki, locked_key: Path,
                                                scp_port: int) -> None:
    rc, errors = _dicomsec(*_echo(tls_pki, locked_key, scp_port), password="s3cret")
    assert rc == 0, errors


def test_echo_without_a_password_never_prompts(tls_pki: ScanPki, locked_key: Path) -> None:
    rc, errors = _dicomsec(*_echo(tls_pki, locked_key, free_port()))
    assert rc == 2
    line = _one_line(errors)
    assert str(locked_key) in line and "no password" in line


def test_scp_wrong_key_password(tls_pki: ScanPki, tmp_path: Path, locked_key: Path) -> None:
    cert, _ = tls_pki["client"]
    rc, errors = _dicomsec("scp", "--out", tmp_path / "out", "--cert", cert, "--key",
                           locked_key, "--trust", tls_pki.ca, "--port", "0", password="wrong")
    assert rc == 2
    assert str(locked_key) in _one_line(errors)
