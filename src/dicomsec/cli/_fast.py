"""Run the hot commands without typer: a small parser for plain argument lists.

``verify``, ``sign`` and ``unwrap`` are the commands scripts call once per file, and importing
typer (with click) costs more than the rest of their start-up. This parser reads the same
annotations typer reads (``typer.Option("--trust", ...)`` evaluated against a stand-in for
typer) and accepts only what it is sure typer would read the same way: known options, values
that do not start with ``-``, the right number of positional arguments, values that convert.
For anything else (``--help``, an unknown or repeated option, a missing required one, ``--``,
a usage error raised by the command) :func:`run` returns ``None`` before the command has done
anything, and the caller hands the arguments to typer, whose messages and exit codes stay the
only ones users see.

``--limit NAME=VALUE`` and ``DICOMSEC_LIMITS`` never reach this parser: ``dicomsec.cli.main``
takes them from the line and sets the limits before either path runs. ``--audit URL`` and
``--audit-spool DIR`` neither: ``main`` opens the audit trail before either path runs and closes
it after (:mod:`dicomsec.cli._audit`), so a hot command run here passes
``handlers=audit_handlers()`` exactly as under typer.
"""

from __future__ import annotations

import importlib
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dicomsec.cli._root import DEBUG, UsageError, debug_fail, find_command

__all__ = ["HOT", "Param", "params", "parse", "run"]

#: command name → the module that registers it
HOT = {
    "verify": "dicomsec.cli.commands.verify",
    "sign": "dicomsec.cli.commands.sign",
    "unwrap": "dicomsec.cli.commands.securefile",
}

_CONVERT: dict[Any, Callable[[str], Any]] = {Path: Path, str: str, int: int, float: float}


@dataclass(frozen=True, slots=True)
class _Decl:
    """What ``typer.Option(...)`` / ``typer.Argument(...)`` declare, as far as we need it."""

    option: bool
    names: tuple[str, ...]


class _TyperStandIn:
    """Evaluates ``typer.Option(...)`` and ``typer.Argument(...)`` in annotations."""

    @staticmethod
    def Option(*decls: str, **kwargs: Any) -> _Decl:
        return _Decl(True, tuple(d for d in decls if isinstance(d, str)))

    @staticmethod
    def Argument(*decls: Any, **kwargs: Any) -> _Decl:
        return _Decl(False, ())


@dataclass(slots=True)
class Param:
    """One parameter of a command: its name, kind, value type and default."""

    name: str
    option: bool
    names: tuple[str, ...]
    kind: Any  # bool, Path, str, int, float
    many: bool
    required: bool
    default: Any = None
    values: list[Any] = field(default_factory=list)


def _value_type(hint: Any) -> tuple[Any, bool] | None:
    """``(type, many)`` of an annotation such as ``list[Path] | None``; ``None`` if unknown."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) != 1:
            return None
        hint = args[0]
    if typing.get_origin(hint) is list:
        (inner,) = typing.get_args(hint)
        return (inner, True) if inner in _CONVERT else None
    if hint is bool or hint in _CONVERT:
        return hint, False
    return None


_NO_DEFAULT = object()


def _defaults(func: Callable[..., int]) -> dict[str, Any]:
    """Each parameter's default (``_NO_DEFAULT`` when required), in order; read from the code
    object rather than with :mod:`inspect`, which costs more to import than this."""
    code = func.__code__
    names = code.co_varnames[:code.co_argcount + code.co_kwonlyargcount]
    positional = names[:code.co_argcount]
    defaults = func.__defaults__ or ()
    found = dict.fromkeys(names, _NO_DEFAULT)
    found.update(zip(positional[len(positional) - len(defaults):], defaults, strict=True))
    found.update(func.__kwdefaults__ or {})
    return found


def params(func: Callable[..., int]) -> list[Param] | None:
    """The parameters of a command function, or ``None`` if one is beyond this parser."""
    hints = typing.get_type_hints(func, globalns={**func.__globals__, "typer": _TyperStandIn},
                                  include_extras=True)
    found: list[Param] = []
    for name, default in _defaults(func).items():
        hint = hints.get(name)
        meta = getattr(hint, "__metadata__", ())
        decl = next((m for m in meta if isinstance(m, _Decl)), None)
        typed = _value_type(typing.get_args(hint)[0]) if decl is not None else None
        if decl is None or typed is None or (decl.option and not decl.names):
            return None
        kind, many = typed
        required = default is _NO_DEFAULT
        found.append(Param(name, decl.option, decl.names, kind, many, required,
                           None if required else default))
    return found


def _take(param: Param, value: str | None) -> bool:
    """Record one value (``None``: a flag was given); ``False`` if typer should judge it."""
    if param.kind is bool:
        if value is not None or param.values:
            return False
        param.values.append(True)
        return True
    if value is None or (value.startswith("-") and value != "-"):
        return False
    if param.values and not param.many:
        return False
    try:
        param.values.append(_CONVERT[param.kind](value))
    except ValueError:
        return False
    return True


def _assign(found: list[Param], positional: list[str]) -> dict[str, Any] | None:
    arguments = [p for p in found if not p.option]
    if any(p.many for p in arguments):
        if len(arguments) != 1 or not positional:
            return None
        arguments[0].values.extend(_CONVERT[arguments[0].kind](v) for v in positional)
    else:
        if len(positional) != len(arguments):
            return None
        for p, v in zip(arguments, positional, strict=True):
            if not _take(p, v):
                return None
    kwargs: dict[str, Any] = {}
    for p in found:
        if not p.values:
            if p.required:
                return None
            kwargs[p.name] = p.default
        else:
            kwargs[p.name] = p.values if p.many else p.values[0]
    return kwargs


def parse(found: list[Param], args: list[str]) -> dict[str, Any] | None:
    """The keyword arguments typer would pass for ``args``; ``None`` when not sure."""
    by_name = {name: p for p in found if p.option for name in p.names}
    positional: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if arg.startswith("-") and arg != "-":
            name, eq, value = arg.partition("=")
            param = by_name.get(name)
            if param is None or (eq and not name.startswith("--")):
                return None  # unknown, combined short flags, --, -h, --help ...
            if not eq and param.kind is not bool:
                if i >= len(args):
                    return None
                value, i = args[i], i + 1
            if not _take(param, value if (eq or param.kind is not bool) else None):
                return None
        else:
            positional.append(arg)
    return _assign(found, positional)


def run(args: list[str]) -> int | None:
    """Run a hot command without typer; ``None`` when typer should handle ``args``."""
    if not args or args[0] not in HOT:
        return None
    importlib.import_module(HOT[args[0]])
    spec = find_command(args[0])
    if spec is None:
        return None
    found = params(spec.func)
    kwargs = None if found is None else parse(found, args[1:])
    if kwargs is None:
        return None
    try:
        return spec.func(**kwargs)
    except UsageError:
        return None  # typer says it, with the usage line
    except Exception as exc:
        if not DEBUG[0]:
            raise  # main() says it in one line
        return debug_fail(exc)  # the traceback, then the same line and exit code
