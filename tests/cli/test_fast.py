"""The typer-free parser of the hot commands reads what typer reads, or hands over to typer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import typer

from dicomsec.cli import _fast, get_app
from dicomsec.cli._root import find_command


def _plain(value: Any) -> Any:
    """Values as click hands them over (typer then makes Paths and lists of them)."""
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value] or None
    return value


def _by_click(command: str, args: list[str]) -> dict[str, Any]:
    group = typer.main.get_command(get_app())
    cmd = group.commands[command]  # type: ignore[attr-defined]
    ctx = cmd.make_context(command, list(args))
    return {k: _plain(v) for k, v in ctx.params.items()}


def _by_fast(command: str, args: list[str]) -> dict[str, Any] | None:
    _fast.run([command, "--help"])  # imports the command module, hands --help over
    spec = find_command(command)
    assert spec is not None
    found = _fast.params(spec.func)
    assert found is not None
    kwargs = _fast.parse(found, args)
    return None if kwargs is None else {k: _plain(v) for k, v in kwargs.items()}


SAME = [
    ("verify", ["a.dcm"]),
    ("verify", ["a.dcm", "b", "c", "--trust", "ca.pem", "--json"]),
    ("verify", ["--trust=ca.pem", "a.dcm", "--trust", "d", "--crl", "x.crl", "--require",
                "creator", "--workers", "3", "--progress"]),
    ("verify", ["-", "--trust", "-"]),
    ("verify", ["a.dcm", "--allow-unsigned", "--require", "any"]),
    ("sign", ["in.dcm", "-o", "out.dcm", "--key", "k.pem", "--cert", "c.pem"]),
    ("sign", ["in.dcm", "--in-place", "--key=k.pem", "--cert", "c.pem", "--tag", "PatientID",
              "--tag", "(0010,0010)", "--purpose", "1", "--mac", "sha384", "--json",
              "--deterministic", "--profile", "creator"]),
    ("sign", ["--output", "out.dcm", "--key", "k.pem", "--cert", "c.pem", "in.dcm"]),
    ("sign", ["in.dcm", "-o", "o.dcm", "--key", "pkcs11:token=ct1;object=s?module-path=/m.so",
              "--cert", "c.pem", "--pin-file", "pin.txt"]),
    ("unwrap", ["s.dcm", "-o", "p.dcm", "--kek-file", "k.hex", "--kek-id", "01"]),
    ("unwrap", ["s.dcm", "-o", "p.dcm", "--key", "k.pem", "--cert", "c.pem", "--trust", "ca",
                "--allow-unauthenticated", "--json"]),
]


@pytest.mark.parametrize(("command", "args"), SAME)
def test_same_values_as_typer(command: str, args: list[str]) -> None:
    assert _by_fast(command, args) == _by_click(command, args)


HANDED_OVER = [
    ("verify", []),  # a required argument is missing
    ("verify", ["a.dcm", "--help"]),
    ("verify", ["a.dcm", "-h"]),
    ("verify", ["a.dcm", "--bogus"]),
    ("verify", ["a.dcm", "--trust"]),  # an option without its value
    ("verify", ["a.dcm", "--trust", "--json"]),  # a value that looks like an option
    ("verify", ["a.dcm", "--workers", "two"]),  # not an int
    ("verify", ["a.dcm", "--json", "--json"]),  # a flag twice
    ("verify", ["a.dcm", "--json=yes"]),
    ("verify", ["--", "a.dcm"]),
    ("sign", ["in.dcm", "-o", "out.dcm", "--key", "k.pem"]),  # --cert is required
    ("sign", ["in.dcm", "other.dcm", "-o", "o", "--key", "k", "--cert", "c"]),  # one IN only
    ("sign", ["in.dcm", "-o", "a", "-o", "b", "--key", "k", "--cert", "c"]),  # repeated
    ("sign", ["in.dcm", "-o=x", "--key", "k", "--cert", "c"]),  # short option with '='
]


@pytest.mark.parametrize(("command", "args"), HANDED_OVER)
def test_anything_unusual_goes_to_typer(command: str, args: list[str]) -> None:
    assert _by_fast(command, args) is None


def test_usage_error_of_a_command_goes_to_typer() -> None:
    # exactly one of -o and --in-place: the command says no, typer prints it with the usage
    assert _fast.run(["sign", "in.dcm", "--key", "k", "--cert", "c"]) is None


def test_other_commands_are_not_hot() -> None:
    assert _fast.run(["wrap", "x", "-o", "y"]) is None
    assert _fast.run([]) is None


def test_program_ends_with_its_output_flushed(tmp_path: Path) -> None:
    """``python -m dicomsec`` ends the process itself after a command run without typer:
    everything it printed arrives, and the exit code is the command's."""
    import json
    import subprocess
    import sys

    from dicomsec.cli import main
    from tests.conftest import PKI, PYDICOM_FILES

    signed = tmp_path / "s.dcm"
    assert main(["sign", str(PYDICOM_FILES / "CT_small.dcm"), "-o", str(signed), "--key",
                 str(PKI / "signer-ecp256.key.pem"), "--cert",
                 str(PKI / "signer-ecp256.cert.pem")]) == 0
    base = [sys.executable, "-m", "dicomsec", "verify"]
    done = subprocess.run([*base, str(signed), str(signed), "--trust", str(PKI / "ca.cert.pem"),
                           "--json", "--workers", "1"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert len(json.loads(done.stdout)) == 2
    done = subprocess.run([*base, str(signed)], capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 1  # no --trust: untrusted
    assert done.stdout.startswith("FAILED")
    done = subprocess.run([*base, str(tmp_path / "missing.dcm")], capture_output=True,
                          text=True, timeout=120, check=False)
    assert (done.returncode, done.stderr.count("\n")) == (2, 1)
