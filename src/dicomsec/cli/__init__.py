"""The ``dicomsec`` command line tool.

:func:`main` runs it and returns the exit code: 0 success; 1 a security check failed
(signature invalid, untrusted or missing where required, policy violated); 2 usage error or
unreadable input (the mapping is :func:`dicomsec.cli._root.exit_code`). Tracebacks appear only
with ``--debug``.

Start-up is kept short for tools that call ``dicomsec`` once per file: ``--version`` imports
nothing, and the hot commands (``verify``, ``sign``, ``unwrap``) are parsed by
:mod:`dicomsec.cli._fast` without typer when their arguments are plain; help, usage errors and
every other command go through the typer app (:func:`get_app`), built on first use.

``--limit NAME=VALUE`` (repeatable, anywhere before ``--``, like ``--debug``) and the
environment variable ``DICOMSEC_LIMITS`` set the resource limits (:mod:`dicomsec.limits`) of
the whole run before any command starts: one place for both paths, so the typer-free and the
typer commands cannot disagree. ``dicomsec limits`` prints the table in force.

``--audit URL`` (repeatable) and ``--audit-spool DIR`` are taken the same way, for every
command: the audit trail (:mod:`dicomsec.cli._audit`, :func:`dicomsec.audit.open_trail`) is
opened before the command runs and closed after it, within its bound; a spool that cannot be
written, or a record that could not be spooled, is exit 2 with one line (docs/audit.md).
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (mypy knows the name)
if TYPE_CHECKING:
    from typing import Any

    import typer

    from dicomsec.cli import _audit
    from dicomsec.limits import Limits

__all__ = ["get_app", "main"]

EXIT_OK = 0
EXIT_SECURITY = 1
EXIT_INPUT = 2

#: commands that speak TLS: their profile's OpenSSL configuration must precede ``import ssl``
#: (tls-check is not among them: the scanner's own handshakes must not be limited by a profile)
TLS_COMMANDS = frozenset({"scp", "send", "echo", "conformance"})

_APP: list[typer.Typer] = []


def load_commands() -> None:
    """Import every command module (each registers its commands on the root)."""
    import importlib

    from dicomsec.cli.commands import MODULES

    for name in MODULES:
        importlib.import_module(f"dicomsec.cli.commands.{name}")


def get_app() -> typer.Typer:
    """The typer app with every command (built once)."""
    if not _APP:
        from dicomsec.cli._root import build_app

        load_commands()
        _APP.append(build_app())
    return _APP[0]


def __getattr__(name: str) -> Any:
    if name == "app":  # ``from dicomsec.cli import app``
        return get_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _arrange_tls(args: list[str]) -> None:
    """Point OPENSSL_CONF at the chosen profile's configuration before anything imports ssl
    (pydicom does, for one). A wrong or missing profile is left for the command to report."""
    if not args or args[0] not in TLS_COMMANDS:
        return
    name = "b13"
    for i, arg in enumerate(args):
        if arg == "--profile" and i + 1 < len(args):
            name = args[i + 1]
        elif arg.startswith("--profile="):
            name = arg.split("=", 1)[1]
    if name.lower() not in ("b12", "b13") or "ssl" in sys.modules:
        return
    from dicomsec.transport.tls import arrange_openssl_conf

    arrange_openssl_conf(name)


def _run_typer(args: list[str]) -> int:
    from dicomsec.cli._root import err

    try:
        # standalone mode: usage errors print their message and exit 2; commands end with
        # typer.Exit(code)
        get_app()(args=args, prog_name="dicomsec")
    except SystemExit as exc:
        code = exc.code
        if code is None:
            return EXIT_OK
        if isinstance(code, int):
            return code
        err(str(code))
        return EXIT_INPUT
    return EXIT_OK


def _limit_args(args: list[str]) -> tuple[list[str], list[str]]:
    """``(the arguments without the --limit options, their NAME=VALUE values)``; the search
    stops at ``--``.

    Raises:
        InvalidInput: ``--limit`` without a value.
    """
    from dicomsec.cli._args import take_options

    rest, found = take_options(args, {"--limit": "NAME=VALUE (see 'dicomsec limits')"})
    return rest, found["--limit"]


def _set_limits(pairs: list[str]) -> Limits | None:
    """Make ``DICOMSEC_LIMITS`` then ``pairs`` the process's limits; returns the limits they
    replace (``None``: nothing asked for, :mod:`dicomsec.limits` not even imported).

    Raises:
        InvalidInput: an unknown name or a bad value, naming where it came from.
    """
    import os

    if not pairs and not os.environ.get("DICOMSEC_LIMITS", "").strip():
        return None
    from dicomsec import limits
    from dicomsec.errors import InvalidInput

    try:
        env = limits.from_environment()
    except InvalidInput as exc:
        raise InvalidInput(f"{limits.ENVIRONMENT}: {exc}") from None
    try:
        chosen = env.with_pairs(pairs)
    except InvalidInput as exc:
        raise InvalidInput(f"--limit: {exc}") from None
    previous = limits.current()
    limits.set_default(chosen)
    return previous


def _restore_limits(previous: Limits | None) -> None:
    if previous is not None:
        from dicomsec import limits

        limits.set_default(previous)


def _terminate(signum: int, frame: object) -> None:
    # unwind like Ctrl-C so that temporary files (possibly decrypted data) are removed
    raise SystemExit(128 + signum)


def _exit_now(code: int) -> None:
    """End the process at once, output flushed: skips the interpreter's finalization (module
    teardown, OpenSSL clean-up), ~50-90 ms of a small verify. Only for commands run without
    typer, which leave no thread, pool or temporary file behind."""
    import os

    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing more can be said
            pass
    os._exit(code)


def _run(args: list[str], debug: bool, quick: list[bool]) -> int:
    """Run a command: without typer when ``_fast`` takes it (``quick[0]`` is then set), else
    with the typer app. Returns the exit code; exceptions become one line on stderr."""
    try:
        from dicomsec.cli._fast import run as run_fast

        code = run_fast(args)
        if code is None:
            return _run_typer(args)
        quick[0] = True
        return code
    except SystemExit as exc:  # SIGTERM during a command run without typer
        return exc.code if isinstance(exc.code, int) else EXIT_INPUT
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if debug:
            raise
        from dicomsec.cli._root import fail

        return fail(exc)


def _audited(args: list[str], options: _audit.AuditOptions, debug: bool,
             quick: list[bool], program: bool) -> int:
    """Run the command with its audit trail open (:mod:`dicomsec.cli._audit`): a trail that
    cannot be opened stops the run before the command (exit 2); a record that could not be
    spooled turns the exit code into 2, with one line."""
    from dicomsec.cli import _audit

    try:
        _audit.open_for(args, options)
    except Exception as exc:  # InvalidInput (bad URL, unwritable spool), OSError
        _audit.close_current()
        if debug:
            raise
        from dicomsec.cli._root import fail

        return fail(exc)
    code = EXIT_INPUT
    try:
        code = _run(args, debug, quick)
    finally:
        errors = _audit.close_current(detach=program)
    if errors:
        from dicomsec.cli._root import err

        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        err(f"error: audit record not kept: {errors[0]}{more}")
        return EXIT_INPUT
    return code


def main(argv: list[str] | None = None) -> int:
    """Run the command line tool; returns the exit code.

    Called without ``argv`` (the ``dicomsec`` program, ``python -m dicomsec``), ``--version``
    and the commands run without typer end the process themselves once their output is
    flushed (:func:`_exit_now`); with ``argv`` (tests, embedding) it always returns.
    """
    program = argv is None
    args = list(sys.argv[1:] if argv is None else argv)
    if args == ["--version"]:
        from dicomsec import __version__

        print(f"dicomsec {__version__}")
        if program:
            _exit_now(EXIT_OK)
        return EXIT_OK
    debug = "--debug" in (args[:args.index("--")] if "--" in args else args)
    if debug:  # only before "--": after it, "--debug" is a file name
        args.remove("--debug")
    from dicomsec.cli._root import DEBUG

    DEBUG[0] = debug
    from dicomsec.cli import _audit

    try:
        args, options = _audit.split_args(args)
        args, pairs = _limit_args(args)
    except Exception as exc:  # InvalidInput: one line, exit 2
        from dicomsec.cli._root import fail

        return fail(exc)
    _arrange_tls(args)
    import signal

    try:
        signal.signal(signal.SIGTERM, _terminate)
    except ValueError:  # not the main thread (embedded use)
        pass
    quick = [False]
    try:
        previous = _set_limits(pairs)
    except Exception as exc:
        from dicomsec.cli._root import fail

        return fail(exc)
    try:
        code = _audited(args, options, debug, quick, program)
    finally:
        _restore_limits(previous)  # main() called again in this process starts afresh
    threading = sys.modules.get("threading")
    if program and quick[0] and (threading is None or threading.active_count() == 1):
        _exit_now(code)  # never while another thread might still be writing
    return code
