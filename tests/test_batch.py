"""The batch executor: lazy listing, outcomes in order of completion, errors per item."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dicomsec.batch import Executor, LocalExecutor, Outcome, iter_files, make_executor
from dicomsec.errors import InvalidInput, VerificationFailed


def square(n: int) -> int:
    return n * n


def slow_first(n: int) -> int:
    """Item 0 finishes last (it waits until every other item has left a mark)."""
    marks = Path(os.environ["BATCH_MARKS"])
    if n == 0:
        for _ in range(6000):  # bounded: a broken executor fails the test, never hangs it
            if len(list(marks.iterdir())) >= 3:
                break
            time.sleep(0.01)
    else:
        (marks / str(n)).touch()
    return n


def failing(n: int) -> int:
    if n == 1:
        raise InvalidInput("not a DICOM file", path=f"f{n}")
    if n == 2:
        raise VerificationFailed("signature 1 does not verify")
    if n == 3:
        raise ZeroDivisionError("boom")
    return n


def pid(n: int) -> int:
    return os.getpid()


@pytest.mark.parametrize("workers", [1, 2])
def test_every_item_once(workers: int) -> None:
    outcomes = list(LocalExecutor(workers).map(square, range(20)))
    assert sorted(o.value for o in outcomes if o.value is not None) == [n * n for n in range(20)]
    assert all(o.ok and o.value == o.item * o.item for o in outcomes)


@pytest.mark.parametrize("workers", [1, 2])
def test_errors_become_outcomes(workers: int) -> None:
    by_item = {o.item: o for o in LocalExecutor(workers).map(failing, range(5))}
    assert sorted(by_item) == [0, 1, 2, 3, 4]
    assert by_item[0].ok and by_item[4].value == 4
    assert (by_item[1].kind, by_item[1].message) == ("input", "not a DICOM file")
    assert by_item[1].error == "f1: not a DICOM file"
    assert by_item[2].kind == "security" and by_item[2].error is not None
    assert "does not verify" in by_item[2].error
    assert by_item[3].kind == "internal"
    assert by_item[3].error == "internal error: ZeroDivisionError: boom"


def test_in_order_of_completion(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BATCH_MARKS", str(tmp_path))
    order = [o.item for o in LocalExecutor(2).map(slow_first, range(4))]
    assert sorted(order) == [0, 1, 2, 3]
    assert order[-1] == 0  # submitted first, finished last: streamed after the others


def test_workers_are_processes_and_one_runs_in_process() -> None:
    assert {o.value for o in LocalExecutor(1).map(pid, range(4))} == {os.getpid()}
    assert os.getpid() not in {o.value for o in LocalExecutor(2).map(pid, range(8))}
    # a single item never starts a worker
    assert [o.value for o in LocalExecutor(2).map(pid, [0])] == [os.getpid()]


def test_listing_is_lazy() -> None:
    consumed: list[int] = []

    def items() -> Iterator[int]:
        for n in range(1000):
            consumed.append(n)
            yield n

    outcomes = LocalExecutor(2, window=2).map(square, items())
    first = next(outcomes)
    assert isinstance(first, Outcome)
    assert len(consumed) <= 2 * 2 + 2  # the window, plus the two items looked at first
    del outcomes  # closing the generator shuts the pool down


def test_protocol() -> None:
    executor: Executor = LocalExecutor(1)
    assert [o.value for o in executor.map(square, [3])] == [9]
    assert [o.value for o in make_executor(2).map(square, [4])] == [16]
    with pytest.raises(InvalidInput):
        LocalExecutor(0)


def test_iter_files(tmp_path: Path) -> None:
    (tmp_path / "b" / "c").mkdir(parents=True)
    for name in ("b/2", "b/c/3", "a", "b/1"):
        (tmp_path / name).write_text("x")
    listed = iter_files([tmp_path, tmp_path / "missing"])
    assert not isinstance(listed, list)
    assert [p.relative_to(tmp_path).as_posix() for p in listed] == [
        "a", "b/1", "b/2", "b/c/3", "missing"]


@pytest.mark.parametrize("workers", [1, 2])
def test_internal_error_keeps_its_traceback(workers: int) -> None:
    by_item = {o.item: o for o in LocalExecutor(workers).map(failing, [0, 3])}
    assert by_item[0].detail is None
    detail = by_item[3].detail
    assert detail is not None and "ZeroDivisionError: boom" in detail and "failing" in detail
    assert by_item[3].message == "internal error: ZeroDivisionError: boom"
