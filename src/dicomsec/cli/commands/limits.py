"""``dicomsec limits``: the resource limits in force (the defaults, changed by
``DICOMSEC_LIMITS``, then by ``--limit``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from dicomsec.cli._root import command, print_json

if TYPE_CHECKING:
    import typer

def rows() -> list[dict[str, Any]]:
    """The limits in force, in the order of the table: name, value, default, unit, bounds."""
    from dicomsec import limits

    defaults = limits.Limits().as_dict()
    return [{"name": name, "value": value, "default": defaults[name],
             "unit": "bytes" if name.endswith("_bytes") else "count",
             "bounds": limits.DESCRIPTIONS.get(name, "")}
            for name, value in limits.current().as_dict().items()]


def _size(value: int, unit: str) -> str:
    """``32M`` for a size that is a whole number of KiB/MiB/GiB (what ``--limit`` takes)."""
    if unit == "bytes":
        for suffix, scale in (("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
            if value % scale == 0:
                return f"{value // scale}{suffix}"
    return str(value)


@command("limits")
def limits_cmd(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON: a list of {name, "
                                          "value, default, unit, bounds}.")] = False,
) -> int:
    """List the resource limits in force: the defaults, changed by DICOMSEC_LIMITS, then by
    --limit NAME=VALUE (repeatable, anywhere on any command line; sizes take K, M or G).

    Input whose structure goes over a limit is refused before memory or time is spent on it
    (one line naming the limit, exit 2). See docs/security.md.
    """
    table = rows()
    if as_json:
        print_json(table)
        return 0
    width = max(len(r["name"]) for r in table)
    for r in table:
        changed = "" if r["value"] == r["default"] else \
            f" (default {_size(r['default'], r['unit'])})"
        print(f"{r['name']:<{width}}  {_size(r['value'], r['unit']):>7}  {r['bounds']}{changed}")
    return 0
