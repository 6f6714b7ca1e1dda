"""cli/_root.py: the one exit-code mapping, the JSON helper, the command registry."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest

from dicomsec.batch import Outcome
from dicomsec.cli import get_app
from dicomsec.cli._root import (
    GROUPS,
    UsageError,
    commands,
    exit_code,
    find_command,
    print_json,
    usage,
)
from dicomsec.errors import DecryptionFailed, InvalidInput, PolicyViolation


@dataclass(frozen=True, slots=True)
class _Verdict:
    """Shaped like a report (``ok``, ``to_dict()``) without joining the real report types."""

    good: bool

    @property
    def ok(self) -> bool:
        return self.good

    def to_dict(self) -> dict[str, Any]:
        return {"schema": "dicomsec.test.verdict/1", "ok": self.good}


@pytest.mark.parametrize(("outcome", "code"), [
    (None, 0), (0, 0), (3, 3),
    (_Verdict(True), 0), (_Verdict(False), 1),
    (usage("bad"), 2), (InvalidInput("x"), 2), (FileNotFoundError(2, "gone"), 2),
    (PolicyViolation("weak"), 1), (DecryptionFailed("tag"), 1),
    (KeyboardInterrupt(), 130), (ZeroDivisionError(), 70),
    ([_Verdict(True), _Verdict(True)], 0),
    ([_Verdict(True), InvalidInput("x"), _Verdict(False)], 1),  # a failed check first
    ([_Verdict(True), InvalidInput("x")], 2),
    ([], 0),
    (Outcome("f", error="e", message="e", kind="input"), 2),
    (Outcome("f", error="e", message="e", kind="security"), 1),
    (Outcome("f", error="e", message="e", kind="internal"), 70),
])
def test_exit_code(outcome: object, code: int) -> None:
    assert exit_code(outcome) == code


def test_exit_code_refuses_what_it_cannot_judge() -> None:
    with pytest.raises(TypeError):
        exit_code(True)
    with pytest.raises(TypeError):
        exit_code(object())


def test_print_json_prints_exactly_to_dict(capsys: pytest.CaptureFixture[str]) -> None:
    print_json(_Verdict(True))
    assert json.loads(capsys.readouterr().out) == _Verdict(True).to_dict()
    print_json([_Verdict(True), _Verdict(False)])
    assert json.loads(capsys.readouterr().out) == [_Verdict(True).to_dict(),
                                                   _Verdict(False).to_dict()]
    mixed: list[Any] = [_Verdict(False), {"file": "x", "error": "e"}]
    print_json(iter(mixed))
    assert json.loads(capsys.readouterr().out) == [_Verdict(False).to_dict(),
                                                   {"file": "x", "error": "e"}]
    print_json(iter([]))
    assert json.loads(capsys.readouterr().out) == []


def test_every_command_is_registered_once_and_built() -> None:
    app = get_app()
    names = [(spec.group, spec.name) for spec in commands()]
    assert len(names) == len(set(names))
    assert {n for g, n in names if g is None} >= {
        "sign", "verify", "wrap", "unwrap", "inspect", "tls-check", "conformance", "scp",
        "send", "echo"}
    assert {g for g, _ in names if g is not None} == set(GROUPS)
    assert find_command("list", group="signatures") is not None
    assert app is get_app()  # built once


def test_usage_error_is_an_exception_for_typer_to_print() -> None:
    assert isinstance(usage("give both"), UsageError)
    assert str(usage("give both")) == "give both"
