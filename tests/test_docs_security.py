"""docs/security.md keeps up with the code: every resource limit is in its table with its
default, and every test file it cites as holding a guarantee exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dicomsec import limits

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "security.md"


def _rows() -> dict[str, str]:
    """The limits table (the first table of "Resource limits"): name → its default as
    written."""
    section = PAGE.read_text(encoding="utf-8").split("\n## Resource limits\n", 1)[1]
    table = section.split("\n\n| ", 1)[1].split("\n\n", 1)[0]
    found = re.findall(r"^\| `(\w+)` \| ([^|]+) \|", "| " + table, flags=re.MULTILINE)
    return {name: default.strip() for name, default in found}


@pytest.mark.parametrize("name", list(limits.Limits().as_dict()))
def test_every_limit_is_in_the_table_with_its_default(name: str) -> None:
    rows = _rows()
    assert name in rows, f"docs/security.md has no row for the limit {name}"
    value = limits.Limits().as_dict()[name]
    written = rows[name]
    shown = re.sub(r"[ ,]", "", written.split("(")[0])
    scaled = {"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}
    unit = next((u for u in scaled if shown.endswith(u)), None)
    number = int(shown[:-3]) * scaled[unit] if unit else int(shown)
    assert number == value, f"{name}: the page says {written}, the default is {value}"


def test_the_table_has_no_limit_the_code_lacks() -> None:
    assert list(_rows()) == list(limits.Limits().as_dict())  # the same, in the same order


def test_cited_tests_exist() -> None:
    cited = set(re.findall(r"`(tests/[\w/]+\.py)`", PAGE.read_text(encoding="utf-8")))
    assert cited
    missing = sorted(c for c in cited if not (ROOT / c).is_file())
    assert not missing, missing


def test_the_limit_option_and_the_environment_are_documented() -> None:
    text = PAGE.read_text(encoding="utf-8")
    assert "--limit NAME=VALUE" in text and limits.ENVIRONMENT in text
