"""The ``dicomsec`` command line tool.

Exit codes are set in one place, :func:`main`: 0 success; 1 a security check failed (signature
invalid, untrusted or missing where required, policy violated); 2 usage error or unreadable
input. Tracebacks appear only with ``--debug``.
"""

from __future__ import annotations

import contextlib
import sys

__all__ = ["main"]

EXIT_OK = 0
EXIT_SECURITY = 1
EXIT_INPUT = 2


#: commands that speak TLS: their profile's OpenSSL configuration must precede ``import ssl``
#: (tls-check is not among them: the scanner's own handshakes must not be limited by a profile)
TLS_COMMANDS = frozenset({"scp", "send", "echo", "conformance"})


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


def main(argv: list[str] | None = None) -> int:
    """Run the command line tool; returns the exit code."""
    from dicomsec.errors import DicomSecError, InvalidInput

    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    if debug:
        args.remove("--debug")
    _arrange_tls(args)
    import signal

    from dicomsec.cli._app import app, err

    def _terminate(signum: int, frame: object) -> None:
        # unwind like Ctrl-C so that temporary files (possibly decrypted data) are removed
        raise SystemExit(128 + signum)

    with contextlib.suppress(ValueError):  # not the main thread (embedded use)
        signal.signal(signal.SIGTERM, _terminate)

    try:
        # standalone mode: usage errors print their message and exit 2; commands end with
        # typer.Exit(code)
        app(args=args, prog_name="dicomsec")
    except SystemExit as exc:
        code = exc.code
        if code is None:
            return EXIT_OK
        if isinstance(code, int):
            return code
        err(str(code))
        return EXIT_INPUT
    except InvalidInput as exc:
        if debug:
            raise
        err(f"error: {exc}")
        return EXIT_INPUT
    except DicomSecError as exc:
        if debug:
            raise
        hint = f" ({exc.hint})" if exc.hint else ""
        err(f"error: {exc}{hint}")
        return EXIT_SECURITY
    except OSError as exc:
        if debug:
            raise
        where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        err(f"error: {where}{exc.strerror or exc}")
        return EXIT_INPUT
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if debug:
            raise
        err(f"internal error: {type(exc).__name__}: {exc} (run with --debug for details)")
        return 70
    return EXIT_OK
