"""dicomsec.limits: the one table of resource limits."""

from __future__ import annotations

import dataclasses
import threading

import pytest

from dicomsec import limits
from dicomsec.errors import InvalidInput


def test_every_limit_is_described() -> None:
    names = [f.name for f in dataclasses.fields(limits.Limits)]
    assert list(limits.DESCRIPTIONS) == names
    assert all(limits.DESCRIPTIONS.values())


def test_pairs_take_suffixes_and_separators() -> None:
    got = limits.Limits().with_pairs(["ccm_bytes=256M", "elements=2_000_000", "der-depth=40"])
    assert (got.ccm_bytes, got.elements, got.der_depth) == (256 << 20, 2_000_000, 40)


@pytest.mark.parametrize("pair", ["nope=1", "elements", "elements=0", "elements=-1",
                                  "elements=1.5", "elements=ten", "=5"])
def test_bad_pairs_are_invalid_input(pair: str) -> None:
    with pytest.raises(InvalidInput):
        limits.Limits().with_pairs([pair])


def test_environment_then_pairs() -> None:
    got = limits.from_environment({limits.ENVIRONMENT: "items=7, elements=9"},
                                  pairs=["items=8"])
    assert (got.items, got.elements) == (8, 9)


def test_applied_is_per_context_and_restored() -> None:
    seen: list[int] = []
    with limits.applied(limits.Limits(items=3)):
        assert limits.current().items == 3
        t = threading.Thread(target=lambda: seen.append(limits.current().items))
        t.start()
        t.join()
    assert seen == [limits.Limits().items]  # another thread sees the process default
    assert limits.current() == limits.Limits()


def test_limit_exceeded_names_the_limit_and_the_option() -> None:
    exc = limits.LimitExceeded("3000001 elements", "elements", 500_000, path="x.dcm")
    assert isinstance(exc, InvalidInput)
    assert str(exc) == ("x.dcm: 3000001 elements: over the limit elements=500000 "
                        "(raise it with --limit elements=N)")


@pytest.mark.parametrize("name", sorted(limits.MAXIMA))
def test_limits_have_a_ceiling_where_recursion_or_the_wire_needs_one(name: str) -> None:
    ceiling = limits.MAXIMA[name]
    assert getattr(limits.Limits().with_pairs([f"{name}={ceiling}"]), name) == ceiling
    with pytest.raises(InvalidInput, match=f"at most {ceiling}"):
        limits.Limits().with_pairs([f"{name}={ceiling + 1}"])
