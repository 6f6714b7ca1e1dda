"""The command line's resource limits (issue 8, item 3): ``--limit NAME=VALUE`` anywhere on
the line, ``DICOMSEC_LIMITS``, ``dicomsec limits [--json]``; both ways a command runs (the
typer-free fast path and the typer app) see the same limits, since ``main()`` sets them
before either starts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from dicomsec import limits
from dicomsec.cli import _fast
from tests.cli.conftest import Run
from tests.conftest import PYDICOM_FILES

CT = PYDICOM_FILES / "CT_small.dcm"
KEK = "00112233445566778899aabbccddeeff" * 2
DEFAULTS = limits.Limits().as_dict()


@pytest.fixture(autouse=True)
def _no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(limits.ENVIRONMENT, raising=False)


def _table(run: Run, *argv: str) -> dict[str, int]:
    assert run(*argv) == 0, run.err
    return {row["name"]: row["value"] for row in run.json()}


def test_limits_lists_every_field_with_its_default_and_what_it_bounds(run: Run) -> None:
    assert run("limits", "--json") == 0
    rows = run.json()
    assert [r["name"] for r in rows] == list(DEFAULTS)
    for r in rows:
        assert r["value"] == r["default"] == DEFAULTS[r["name"]]
        assert r["bounds"], r["name"]
        assert r["unit"] == ("bytes" if r["name"].endswith("_bytes") else "count")
    assert run("limits") == 0
    lines = run.out.splitlines()
    assert len(lines) == len(DEFAULTS)
    assert lines[0].split()[:2] == ["recipients", "1024"]
    assert any(line.split()[:2] == ["ccm_bytes", "32M"] for line in lines)


@pytest.mark.parametrize("argv", [
    ("limits", "--json", "--limit", "elements=2M"),
    ("limits", "--limit=elements=2_097_152", "--json"),
    ("--limit", "elements=2m", "limits", "--json"),
])
def test_limit_anywhere_on_the_line(run: Run, argv: tuple[str, ...]) -> None:
    table = _table(run, *argv)
    assert table == {**DEFAULTS, "elements": 2 * 1024 * 1024}
    assert run(*(a for a in argv if a != "--json")) == 0
    (line,) = [line for line in run.out.splitlines() if line.startswith("elements ")]
    assert line.split()[1] == "2097152" and line.endswith("(default 500000)")


def test_repeated_limits_and_the_text_table(run: Run) -> None:
    table = _table(run, "limits", "--json", "--limit", "items=7", "--limit", "ccm_bytes=1G",
                   "--limit", "items=8")
    assert table["items"] == 8 and table["ccm_bytes"] == 1 << 30


def test_the_limits_end_with_the_run(run: Run) -> None:
    """main() called again in the same process starts from the defaults."""
    assert _table(run, "limits", "--json", "--limit", "depth=3")["depth"] == 3
    assert _table(run, "limits", "--json") == DEFAULTS
    assert limits.current() == limits.Limits()


@pytest.mark.parametrize(("argv", "says"), [
    (("--limit", "nonsense=3"), "--limit: unknown limit 'nonsense'"),
    (("--limit", "elements"), "--limit: limit 'elements' is not NAME=VALUE"),
    (("--limit", "=5"), "is not NAME=VALUE"),
    (("--limit", "elements="), "--limit: limit elements must be a whole number"),
    (("--limit", "elements=0"), "at least 1"),
    (("--limit", "elements=-5"), "must be a whole number"),
    (("--limit", "elements=1.5"), "must be a whole number"),
    (("--limit", "elements=10T"), "must be a whole number"),
    (("--limit=",), "--limit takes NAME=VALUE"),
    (("--limit",), "--limit takes NAME=VALUE"),
])
@pytest.mark.parametrize("command", [["limits"], ["verify", str(CT)]])
def test_bad_limits_are_one_line_exit_2(run: Run, argv: tuple[str, ...], says: str,
                                        command: list[str]) -> None:
    assert run(*command, *argv) == 2
    run.assert_one_line_error()
    assert says in run.err and run.err.startswith("error: ")
    assert run.out == ""


def test_the_environment_variable(run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(limits.ENVIRONMENT, "items=5, elements=7K")
    assert _table(run, "limits", "--json") == {**DEFAULTS, "items": 5, "elements": 7168}


def test_the_command_line_wins_over_the_environment(run: Run,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(limits.ENVIRONMENT, "items=5,elements=7")
    table = _table(run, "limits", "--json", "--limit", "items=9")
    assert table["items"] == 9 and table["elements"] == 7


@pytest.mark.parametrize("value", ["items", "items=none", "bogus=1", "items=0"])
def test_a_bad_environment_variable_is_named(run: Run, monkeypatch: pytest.MonkeyPatch,
                                             value: str) -> None:
    monkeypatch.setenv(limits.ENVIRONMENT, value)
    assert run("limits") == 2
    run.assert_one_line_error()
    assert run.err.startswith(f"error: {limits.ENVIRONMENT}: ")
    # the command line does not make a bad environment variable good
    assert run("limits", "--limit", "items=3") == 2


def test_the_program_reads_them_too(tmp_path: Path) -> None:
    """The installed program (``python -m dicomsec``), not only main() in this process."""
    env = {"PATH": "/usr/bin:/bin", limits.ENVIRONMENT: "signers=3"}
    done = subprocess.run([sys.executable, "-m", "dicomsec", "limits", "--json", "--limit",
                           "der_depth=4"], capture_output=True, text=True, env=env,
                          timeout=60, check=False, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    table = {r["name"]: r["value"] for r in json.loads(done.stdout)}
    assert table == {**DEFAULTS, "signers": 3, "der_depth": 4}


# ------------------------------------------------------------------------------------------
# the fast path and the typer path agree


@pytest.fixture(scope="module")
def two_recipients(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A Secure DICOM File with two recipients (a KEK and a password)."""
    from dicomsec.cli import main

    work = tmp_path_factory.mktemp("limits")
    kek, password, secure = work / "kek.hex", work / "password.txt", work / "secure.dcm"
    kek.write_text(KEK + "\n")
    password.write_text("correct horse battery staple\n")
    assert main(["wrap", str(CT), "-o", str(secure), "--kek-file", str(kek), "--kek-id", "01",
                 "--password-file", str(password)]) == 0
    return {"secure": secure, "kek": kek, "work": work}


def _unwrap(run: Run, material: dict[str, Path], out: str, *extra: str) -> tuple[int, str]:
    code = run("unwrap", material["secure"], "-o", material["work"] / out, "--kek-file",
               material["kek"], "--kek-id", "01", *extra)
    return code, run.err.replace(out, "OUT")


def _without_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_fast, "HOT", {})  # every command goes to typer


@pytest.mark.parametrize("extra", [(), ("--limit", "recipients=1"), ("--limit", "recipients=2"),
                                   ("--limit", "recipients=x")])
def test_fast_and_typer_paths_agree(run: Run, two_recipients: dict[str, Path],
                                    monkeypatch: pytest.MonkeyPatch,
                                    extra: tuple[str, ...]) -> None:
    fast = _unwrap(run, two_recipients, "fast.dcm", *extra)
    _without_fast_path(monkeypatch)
    typer = _unwrap(run, two_recipients, "typer.dcm", *extra)
    assert fast == typer


def test_environment_seen_by_both_paths(run: Run, two_recipients: dict[str, Path],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(limits.ENVIRONMENT, "recipients=1")
    fast = _unwrap(run, two_recipients, "fast-env.dcm")
    _without_fast_path(monkeypatch)
    assert _unwrap(run, two_recipients, "typer-env.dcm") == fast


def test_a_tiny_recipients_limit_refuses_the_file(run: Run,
                                                  two_recipients: dict[str, Path]) -> None:
    code, message = _unwrap(run, two_recipients, "tiny.dcm", "--limit", "recipients=1")
    assert code == 2, message
    run.assert_one_line_error()
    assert "recipients=1" in message and "--limit recipients=N" in message
    assert not (two_recipients["work"] / "tiny.dcm").exists()
    assert _unwrap(run, two_recipients, "two.dcm", "--limit", "recipients=2")[0] == 0
    assert run("inspect", two_recipients["secure"], "--limit", "recipients=1") == 2
    run.assert_one_line_error()
    assert "recipients=1" in run.err


# ------------------------------------------------------------------------------------------
# verify: the DICOM limits reach every file, in this process and in worker processes


@pytest.mark.parametrize("workers", ["1", "2"])
def test_verify_folder_applies_the_limits_in_workers(run: Run, tmp_path: Path,
                                                     workers: str) -> None:
    folder = tmp_path / "folder"
    folder.mkdir()
    for name in ("a.dcm", "b.dcm"):
        (folder / name).write_bytes(CT.read_bytes())
    assert run("verify", folder, "--allow-unsigned", "--workers", workers, "--limit",
               "elements=10") == 2
    lines = run.err.splitlines()
    assert len(lines) == 2 and all("over the limit elements=10" in line for line in lines)
    assert run("verify", folder, "--allow-unsigned", "--workers", workers) == 0


def test_verify_fast_and_typer_paths_agree_on_a_dicom_limit(
        run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    argv = ("verify", CT, "--allow-unsigned", "--limit", "elements=10")
    fast = (run(*argv), run.err)
    assert fast[0] == 2 and "over the limit elements=10" in fast[1]
    _without_fast_path(monkeypatch)
    assert (run(*argv), run.err) == fast


@pytest.mark.parametrize("argv", [("--limit", "--", "x"), ("--limit", "--audit", "off")])
def test_an_option_is_never_taken_as_a_value(run: Run, argv: tuple[str, ...]) -> None:
    """``--limit --`` or ``--limit --audit off``: the value is missing (one line, exit 2),
    the next option or the end of options is not swallowed as the value."""
    assert run("limits", *argv) == 2
    run.assert_one_line_error()
    assert "--limit takes NAME=VALUE" in run.err
