"""Options that ``main()`` takes from anywhere on the command line, before any command runs.

``--limit``, ``--audit`` and ``--audit-spool`` apply to the whole run, so they may appear
before or after the command's name and its own options; only ``--`` ends the search (what
follows it is the command's, a file named ``--audit`` included).
"""

from __future__ import annotations

__all__ = ["take_options"]


def take_options(args: list[str], takes: dict[str, str]
                 ) -> tuple[list[str], dict[str, list[str]]]:
    """``(args without the options named, {name: [values in order]})`` for the options of
    ``takes`` (name -> what its value is, for the error) given as ``--name VALUE`` or
    ``--name=VALUE``; the search stops at ``--``.

    Raises:
        InvalidInput: an option without a value (``--name`` last, ``--name=``, or ``--name``
            followed by ``--`` or another long option: a value starting with ``--`` must be
            given as ``--name=VALUE``).
    """
    rest: list[str] = []
    found: dict[str, list[str]] = {name: [] for name in takes}
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            rest.extend(args[i:])
            break
        name, eq, value = arg.partition("=")
        if name not in found:
            rest.append(arg)
            i += 1
            continue
        if not eq:
            value = args[i + 1] if i + 1 < len(args) else ""
            if value.startswith("--"):  # another option or the end of options: no value
                value = ""
            i += 1
        if not value:
            from dicomsec.errors import InvalidInput

            raise InvalidInput(f"{name} takes {takes[name]}")
        found[name].append(value)
        i += 1
    return rest, found
