"""Shared by the command line tests: the tool run in-process, and an output folder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from dicomsec.cli import main


class Run:
    """Runs the tool in-process and keeps what it wrote."""

    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        self._capsys = capsys
        self.out = ""
        self.err = ""

    def __call__(self, *argv: str | Path) -> int:
        self._capsys.readouterr()
        code = main([str(a) for a in argv])
        captured = self._capsys.readouterr()
        self.out, self.err = captured.out, captured.err
        return code

    def json(self) -> Any:
        return json.loads(self.out)

    def assert_one_line_error(self) -> None:
        lines = [line for line in self.err.splitlines() if line.strip()]
        assert len(lines) == 1, self.err
        assert "Traceback" not in self.err
        assert "internal error" not in self.err


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str]) -> Run:
    return Run(capsys)


@pytest.fixture
def outdir(tmp_path: Path) -> Path:
    d = tmp_path / "out"
    d.mkdir()
    return d
