"""The root of the ``dicomsec`` tool: the command registry, the typer app, output helpers and
the one function that maps a result or an exception to an exit code.

How a command is written (``cli/commands/<group>.py``)::

    from __future__ import annotations              # annotations stay text until the app is built
    from typing import TYPE_CHECKING, Annotated
    from dicomsec.cli._root import command, exit_code, print_json, usage
    if TYPE_CHECKING:
        import typer                                 # never at run time: see below

    @command("verify")
    def verify(paths: Annotated[list[Path], typer.Argument(...)], ...) -> int:
        if bad: raise usage("...")                   # check the arguments before doing anything
        report = library_call(...)                   # one library function
        print_json(report) if as_json else ...       # render
        return exit_code(report)                     # return, never typer.Exit

Registering does not import typer: :func:`build_app` does, and evaluates the annotations then.
The hot commands (``verify``, ``sign``, ``unwrap``) run without typer at all
(:mod:`dicomsec.cli._fast` reads the same annotations), which is most of their start-up time.

Exit codes (:func:`exit_code`): 0 ok; 1 a report is not ok or a security error was raised; 2
usage error, :class:`~dicomsec.errors.InvalidInput` or :class:`OSError`; 130 interrupted; 70 an
internal error. Only this package prints: payloads (``--json``) on stdout, messages for people
on stderr.
"""

from __future__ import annotations

import sys
import typing
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from dicomsec.errors import DicomSecError, InvalidInput, error_kind

if TYPE_CHECKING:
    import typer

__all__ = [
    "DEBUG", "EXIT_INPUT", "EXIT_INTERNAL", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_SECURITY",
    "GROUPS", "CommandSpec", "UsageError", "build_app", "command", "commands", "debug_fail", "err",
    "exit_code", "fail", "find_command", "print_json", "printable", "progress", "usage",
]

EXIT_OK = 0
EXIT_SECURITY = 1
EXIT_INPUT = 2
EXIT_INTERNAL = 70
EXIT_INTERRUPTED = 130

HELP = ("DICOM security: digital signatures on DICOM objects and items, and Secure DICOM "
        "Files (CMS).\n\n"
        "Exit codes: 0 ok, 1 a security check failed, 2 usage error or unreadable input. "
        "Add --debug (anywhere) to see tracebacks. Resource limits on hostile input: "
        "--limit NAME=VALUE (anywhere, repeatable) or DICOMSEC_LIMITS; 'dicomsec limits' "
        "lists them. Audit records of every security operation: --audit URL (anywhere, "
        "repeatable; 'off' disables) and --audit-spool DIR, or DICOMSEC_AUDIT; by default a "
        "file in the state folder ('dicomsec audit status').")

#: the help of ``--limit`` (taken by ``main()`` wherever it appears, before ``--``)
LIMIT_HELP = ("Raise or lower a resource limit for this run, e.g. elements=2M; repeatable, "
              "anywhere on the line; over DICOMSEC_LIMITS. 'dicomsec limits' lists them.")

#: sub-command groups and their help
GROUPS: dict[str, str] = {
    "signatures": "List, remove and describe signatures.",
    "keys": "Create test keys and certificates (for demos and test PKIs).",
    "pki": "A site PKI: a CA for devices, operators and TLS endpoints; revocation, CRLs, OCSP.",
    "trust": "Validate certificates: path, key usage, validity, revocation (CRL, OCSP).",
    "policy": "Signing policy: which devices must sign, from when; verdicts and coverage.",
    "audit": "The audit trail: validate, read, deliver and inspect audit records.",
}

F = TypeVar("F", bound=Callable[..., int])


#: set by ``main`` for ``--debug``: commands show the tracebacks of per-item internal errors
DEBUG = [False]


class UsageError(Exception):
    """A wrong combination of arguments: typer prints it with the usage line, exit 2."""


def usage(message: str) -> UsageError:
    """The exception a command raises for a usage error (``raise usage("...")``)."""
    return UsageError(message)


# ------------------------------------------------------------------------------------------
# registry


@dataclass(frozen=True, slots=True)
class CommandSpec:
    """A registered command: its name, its group (``None``: the root) and its function."""

    name: str
    group: str | None
    func: Callable[..., int]


_COMMANDS: dict[tuple[str | None, str], CommandSpec] = {}


def command(name: str | None = None, *, group: str | None = None) -> Callable[[F], F]:
    """Register a command function (returning its exit code) on the root or on a group."""
    if group is not None and group not in GROUPS:
        raise ValueError(f"unknown command group {group!r}")

    def register(func: F) -> F:
        cmd = name or func.__name__.replace("_", "-")
        _COMMANDS[(group, cmd)] = CommandSpec(cmd, group, func)
        return func

    return register


def commands() -> list[CommandSpec]:
    """The registered commands, in registration order."""
    return list(_COMMANDS.values())


def find_command(name: str, group: str | None = None) -> CommandSpec | None:
    return _COMMANDS.get((group, name))


# ------------------------------------------------------------------------------------------
# the typer app


def _typer_shell(func: Callable[..., int], typer_module: Any) -> Callable[..., None]:
    """``func`` as typer wants it: annotations evaluated, exit code raised as ``typer.Exit``,
    :class:`UsageError` as ``typer.BadParameter`` (typer prints it with the usage line)."""
    import functools
    import inspect

    hints = typing.get_type_hints(func, globalns={**func.__globals__, "typer": typer_module},
                                  include_extras=True)
    signature = inspect.signature(func)
    params = [p.replace(annotation=hints.get(p.name, p.annotation))
              for p in signature.parameters.values()]

    import click

    @functools.wraps(func)
    def shell(*args: Any, **kwargs: Any) -> None:
        try:
            code = func(*args, **kwargs)
        except UsageError as exc:
            raise click.UsageError(str(exc)) from None
        except BrokenPipeError as exc:  # click would exit 1 ("a check failed") without a word
            _drop_stdout()
            code = fail(exc)
        except Exception as exc:
            if not DEBUG[0]:
                raise  # main() says it in one line, with the same exit code
            code = debug_fail(exc)
        raise typer_module.Exit(code)

    shell.__annotations__ = {**hints, "return": None}
    shell.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=params, return_annotation=None)
    return shell


def _drop_stdout() -> None:
    """After a broken pipe: send what is still buffered for stdout nowhere (else the
    interpreter's final flush fails again)."""
    import os

    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def _show_version(value: bool) -> None:
    if value:
        import typer as typer_module

        from dicomsec import __version__

        print(f"dicomsec {__version__}")
        raise typer_module.Exit(0)


def debug_fail(exc: BaseException) -> int:
    """``--debug``: the traceback of ``exc``, then the one line and the exit code of
    :func:`fail` (``--debug`` shows more, it never changes the exit code)."""
    import traceback

    traceback.print_exception(exc, file=sys.stderr)
    return fail(exc)


def _one_line_usage(typer_module: Any) -> type[typer.Typer]:
    """A ``typer.Typer`` whose usage errors are one line (``error: ...  (see 'dicomsec X
    --help')``, exit 2) instead of click's usage block; it always ends with ``SystemExit``."""
    import click

    class _App(typer_module.Typer):  # type: ignore[misc]
        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            kwargs["standalone_mode"] = False
            try:
                code = super().__call__(*args, **kwargs)
            except click.exceptions.NoArgsIsHelpError as exc:
                exc.show()  # no arguments: the help, as before
                raise SystemExit(exc.exit_code) from None
            except click.ClickException as exc:
                where = exc.ctx.command_path if isinstance(exc, click.UsageError) and \
                    exc.ctx is not None else None
                hint = f" (see '{where} --help')" if where else ""
                err(f"error: {exc.format_message()}{hint}")
                raise SystemExit(exc.exit_code) from None
            except click.Abort:
                err("aborted")
                raise SystemExit(EXIT_SECURITY) from None
            raise SystemExit(code if isinstance(code, int) else EXIT_OK)

    return _App


def build_app() -> typer.Typer:
    """A typer app with every registered command (import the command modules first)."""
    import typer as typer_module

    app = _one_line_usage(typer_module)(
        name="dicomsec", help=HELP,
        pretty_exceptions_enable=False,
        rich_markup_mode=None,  # plain usage errors and help: no boxes in logs and pipes
        pretty_exceptions_show_locals=False,
        add_completion=False,
        no_args_is_help=True,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    subs = {name: typer_module.Typer(help=text, no_args_is_help=True)
            for name, text in GROUPS.items()}
    for name, sub in subs.items():
        app.add_typer(sub, name=name)

    limit_option = typer_module.Option(None, "--limit", metavar="NAME=VALUE", help=LIMIT_HELP)

    def _root(version: bool = typer_module.Option(
            False, "--version", callback=_show_version, is_eager=True,
            help="Show the version and exit."),
            limit: list[str] | None = limit_option) -> None:
        """DICOM security toolkit."""
        if limit:  # main() takes --limit from anywhere first; this is for the app used alone
            from dicomsec import limits

            limits.set_default(limits.current().with_pairs(limit))

    app.callback()(_root)
    for spec in _COMMANDS.values():
        target = app if spec.group is None else subs[spec.group]
        target.command(spec.name)(_typer_shell(spec.func, typer_module))
    return app


# ------------------------------------------------------------------------------------------
# output


class _HasToDict(Protocol):
    def to_dict(self) -> dict[str, Any]: ...


def err(message: str) -> None:
    """One line for people, on stderr."""
    print(message, file=sys.stderr)


def printable(text: object) -> str:
    """``text`` safe for a terminal: control characters (C0 but tab, DEL, C1: an escape
    sequence in a Manufacturer or a file name could retitle or clear the terminal) shown as
    ``\\xNN``. For values read from files and certificates before they reach people."""
    s = str(text)
    if s.isprintable():
        return s
    return "".join(c if c.isprintable() or c == "\t" else f"\\x{ord(c):02x}"
                   if ord(c) < 0x100 else f"\\u{ord(c):04x}" for c in s)


def _plain(result: object) -> object:
    to_dict = getattr(result, "to_dict", None)
    return to_dict() if callable(to_dict) else result


def print_json(result: _HasToDict | Sequence[_HasToDict] | Iterator[_HasToDict | dict[str, Any]]
               | dict[str, Any] | list[Any]) -> None:
    """Print exactly ``to_dict()`` of a report, or a list of them, as JSON on stdout (plain
    dictionaries and lists pass through, for results that are not reports yet).

    An iterator is streamed: each item is printed as soon as the iterator yields it, so a
    folder's results never wait for the last file or fill memory.
    """
    import json

    if isinstance(result, Iterator):
        sep = "[\n"
        for item in result:
            sys.stdout.write(sep + json.dumps(_plain(item), indent=2))
            sys.stdout.flush()
            sep = ",\n"
        print("[]" if sep == "[\n" else "\n]")
        return
    if isinstance(result, list | tuple):
        payload: object = [_plain(r) for r in result]
    else:
        payload = _plain(result)
    print(json.dumps(payload, indent=2))


class _NoProgress:
    """Stands in for a progress bar when none is shown (rich is not imported)."""

    def __enter__(self) -> _NoProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def add_task(self, description: str, total: int | None) -> int:
        return 0

    def advance(self, task: int) -> None:
        return None


class _LaterProgress:
    """A progress bar of unknown length that appears once a second item is done (rich is
    not imported for a run of one file)."""

    def __init__(self, show: bool | None) -> None:
        self._show = show
        self._done = 0
        self._bar: Any = None
        self._description = ""

    def __enter__(self) -> _LaterProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)

    def add_task(self, description: str, total: int | None) -> int:
        self._description = description
        return 0

    def advance(self, task: int) -> None:
        self._done += 1
        if self._bar is None and self._done >= 2:
            self._bar = _rich_progress(self._show)
            self._bar.__enter__()
            self._task = self._bar.add_task(self._description, total=None)
            self._bar.advance(self._task, self._done - 1)
        if self._bar is not None:
            self._bar.advance(self._task)


def progress(total: int | None, *, show: bool | None = None) -> Any:
    """A rich progress bar on stderr when it is a terminal or ``show`` asks for one (a no-op
    context otherwise, and for fewer than two items). ``total=None``: not known in advance
    (the bar appears when a second item is done)."""
    wanted = sys.stderr.isatty() if show is None else show
    if not wanted or (total is not None and total < 2):
        return _NoProgress()
    if total is None:
        return _LaterProgress(show)
    return _rich_progress(show)


def _rich_progress(show: bool | None) -> Any:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    console = Console(stderr=True, force_terminal=True if show else None)
    # rich moves stdout above the bar, i.e. onto stderr: only right when both are the terminal
    # (``verify DIR --json > out.json`` must keep its JSON in the file)
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    console=console, transient=True, redirect_stdout=sys.stdout.isatty())


# ------------------------------------------------------------------------------------------
# exit codes


#: exit code of a failed batch outcome by its kind
_KIND_CODES = {"input": EXIT_INPUT, "security": EXIT_SECURITY, "internal": EXIT_INTERNAL}


def exit_code(outcome: object) -> int:
    """The one mapping from an outcome to an exit code.

    An ``int`` is already one; ``None`` is 0; a report (anything with ``ok``) is 0 when ok,
    else 1; a failed batch outcome by its kind (input 2, security 1, internal 70); a list of
    outcomes gives the worst (1 before 2); exceptions: usage errors,
    :class:`InvalidInput` and :class:`OSError` 2, any other :class:`DicomSecError` 1,
    ``KeyboardInterrupt`` 130, anything else 70.
    """
    if outcome is None:
        return EXIT_OK
    if isinstance(outcome, bool):
        raise TypeError("exit_code() takes a report, an exception or an int, not a bool")
    if isinstance(outcome, int):
        return outcome
    if isinstance(outcome, UsageError):
        return EXIT_INPUT
    if isinstance(outcome, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    if isinstance(outcome, BaseException):
        return _KIND_CODES[error_kind(outcome)]
    if isinstance(outcome, Iterable) and not isinstance(outcome, str | bytes | dict):
        codes = {exit_code(o) for o in outcome}
        for code in (EXIT_SECURITY, EXIT_INPUT):
            if code in codes:
                return code
        return max(codes, default=EXIT_OK)
    ok = getattr(outcome, "ok", None)
    kind = getattr(outcome, "kind", None)  # a failed batch outcome (dicomsec.batch.Outcome)
    if ok is False and kind in _KIND_CODES:
        return _KIND_CODES[kind]
    if isinstance(ok, bool):
        return EXIT_OK if ok else EXIT_SECURITY
    raise TypeError(f"no exit code for {type(outcome).__name__}")


def fail(exc: BaseException) -> int:
    """Say on stderr, in one line, why the work could not be done; return the exit code."""
    code = exit_code(exc)
    if isinstance(exc, InvalidInput):
        err(f"error: {exc}")
    elif isinstance(exc, DicomSecError):
        hint = f" ({exc.hint})" if exc.hint else ""
        err(f"error: {exc}{hint}")
    elif isinstance(exc, OSError):
        where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        err(f"error: {where}{exc.strerror or exc}")
    elif isinstance(exc, UsageError):
        err(f"error: {exc}")
    elif code == EXIT_INTERNAL:
        err(f"internal error: {type(exc).__name__}: {exc} (run with --debug for details)")
    return code
