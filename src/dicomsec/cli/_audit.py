"""The audit trail of the running command: what ``main()`` opened for ``--audit``.

Commands pass ``handlers=audit_handlers()`` to the library functions that emit
:class:`~dicomsec.events.AuditEvent` objects; services (``scp``) that run for long take
:func:`current_trail` and call its ``start_background()``. Outside ``main()`` (tests calling a
command function directly, library use) there is no trail and no handler.

``dicomsec.cli.main`` takes ``--audit URL`` (repeatable) and ``--audit-spool DIR`` from
anywhere before ``--`` (:func:`split_args`), opens the trail before the command runs
(:func:`open_for`: a spool that cannot be written is exit 2 before anything is done) and closes
it afterwards (:func:`close_current`: bounded; a record that could not be spooled makes the
command fail). Commands that never touch security (help, ``limits``, ``audit validate``,
``audit status``) run without a trail, so their start-up does not open SQLite
(:func:`needs_trail`).
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (mypy knows the name)
if TYPE_CHECKING:
    from pathlib import Path

    from dicomsec.audit.trail import Trail
    from dicomsec.events import AuditHandler

__all__ = ["AuditOptions", "audit_handlers", "audit_options",
           "close_current", "current_trail", "needs_trail", "open_for", "split_args"]


class AuditOptions:
    """What the command line said about auditing: ``urls`` (``None``: not given, the
    environment or the config file decide) and ``spool`` (``None``: the default folder)."""

    __slots__ = ("spool", "urls")

    def __init__(self, urls: list[str] | None = None, spool: Path | None = None) -> None:
        self.urls = urls
        self.spool = spool


#: the trail of the running command and the options of the run (set by ``main``)
_TRAIL: list[Trail] = []
_OPTIONS: list[AuditOptions] = []

#: ``(group, command)`` pairs and commands that run without a trail
_NO_TRAIL_GROUP = {("audit", "validate"), ("audit", "status")}
_NO_TRAIL = frozenset({"limits"})


def current_trail() -> Trail | None:
    """The trail opened for the running command; ``None`` when there is none (auditing off is
    a trail without sinks) or outside ``main()``."""
    return _TRAIL[-1] if _TRAIL else None


def audit_handlers(command: str | None = None) -> tuple[AuditHandler, ...]:
    """The handlers of the running command's trail (empty when off or outside ``main()``);
    ``command``: the name each event gets as its ``command``."""
    trail = current_trail()
    handlers = trail.handlers if trail is not None else ()
    if command is None or not handlers:
        return handlers
    from dicomsec.signatures._events import with_command

    return with_command(handlers, command)


def audit_options() -> AuditOptions:
    """The ``--audit`` / ``--audit-spool`` options of the running command (none outside
    ``main()``)."""
    return _OPTIONS[-1] if _OPTIONS else AuditOptions()


def split_args(args: list[str]) -> tuple[list[str], AuditOptions]:
    """``(the arguments without --audit / --audit-spool, the options they gave)``; the search
    stops at ``--``.

    Raises:
        InvalidInput: an option without a value.
    """
    from pathlib import Path

    from dicomsec.cli._args import take_options

    value = "a value (see 'dicomsec --help')"
    rest, found = take_options(args, {"--audit": value, "--audit-spool": value})
    spool = found["--audit-spool"][-1] if found["--audit-spool"] else None
    return rest, AuditOptions(found["--audit"] or None,
                              Path(spool).expanduser() if spool else None)


def needs_trail(args: list[str]) -> bool:
    """Whether the command of ``args`` may emit (help, ``limits``, ``audit validate`` and
    ``audit status`` never do)."""
    head = args[:args.index("--")] if "--" in args else args
    if not head or head[0].startswith("-") or "--help" in head or "-h" in head:
        return False
    if head[0] in _NO_TRAIL:
        return False
    if head[0] == "audit":
        return len(head) > 1 and (head[0], head[1]) not in _NO_TRAIL_GROUP
    return True


def _off(options: AuditOptions) -> bool:
    """``--audit off`` (or ``DICOMSEC_AUDIT=off`` without ``--audit``): no trail at all, so
    the run does not even import the audit package."""
    if options.urls is None:
        import os

        return os.environ.get("DICOMSEC_AUDIT", "").strip().lower() == "off"
    return all(u.strip().lower() == "off" for u in options.urls)


def open_for(args: list[str], options: AuditOptions) -> None:
    """Make ``options`` the run's and, when the command of ``args`` needs one, open its trail.

    Raises:
        InvalidInput: a bad URL or configuration, or a spool that cannot be written.
    """
    _OPTIONS.append(options)
    if not needs_trail(args) or _off(options):
        return
    from dicomsec.audit.trail import open_trail

    _TRAIL.append(open_trail(options.urls, options.spool))


def close_current(detach: bool = False) -> list[str]:
    """Close the run's trail (bounded: what is not delivered by then stays in the spool) and
    forget the run's options; returns the records that could not be spooled (one line each).

    ``detach`` (the ``dicomsec`` program, never an embedding caller): the local sinks
    (files) are written now, and the network sinks are left to a detached child process
    (:func:`_deliver_detached`), so that a command that ends does not wait for a receiver's
    round trips (the child has :data:`DETACHED_SECONDS`; backoff respected).
    """
    if _OPTIONS:
        _OPTIONS.pop()
    if not _TRAIL:
        return []
    trail = _TRAIL.pop()
    errors = list(trail.errors)
    try:
        if not (detach and _deliver_detached(trail)):
            trail.close()
    except Exception as exc:  # closing delivers; a failure there never loses a spooled record
        import logging

        logging.getLogger(__name__).warning("closing the audit trail: %s", exc)
    return errors


#: how long the detached child of a command may deliver (seconds)
DETACHED_SECONDS = 20.0
#: how long it waits before its first attempt, and lingers for more rows after sending (s)
DETACHED_DELAY = 0.3
DETACHED_LINGER = 1.0
#: sinks written by the command itself before it ends (cheap, and read by scripts right after)
_LOCAL_KINDS = frozenset({"file", "fhir-file"})


def _deliver_detached(trail: Trail) -> bool:
    """Write the local sinks, then fork a child (new session, standard streams on
    /dev/null, no other inherited descriptor kept) that delivers to the network sinks within
    the trail's bound and exits; the caller goes on at once. ``False`` (nothing done) when
    there is no network sink, no ``fork``, or another thread runs (forking then is unsafe):
    the caller closes as usual."""
    import os
    import threading

    remote = tuple(s for s in trail.sinks if s.kind not in _LOCAL_KINDS)
    if (not remote or trail.spool is None or not hasattr(os, "fork")
            or threading.active_count() != 1):
        return False
    try:
        if not any(trail.spool.pending(s.name, 1) for s in remote):
            return False  # nothing to send (the command emitted nothing): no child
    except Exception:  # an unreadable spool: the usual close says so in the sink's status
        return False
    import time

    from dicomsec.audit.trail import Trail as _Trail

    local = tuple(s for s in trail.sinks if s.kind in _LOCAL_KINDS)
    if local:
        # _flush: the flush without its report (no report classes imported at start-up)
        _Trail(local, trail.spool, trail.source, trail.bound)._flush(
            time.monotonic() + trail.bound, False)
    # no SQLite connection may cross the fork: the child would close the inherited one when
    # it opens its own, and closing any descriptor of the database drops every POSIX lock
    # the child holds on it (SQLite's documented fork hazard)
    trail.spool.close()
    if os.fork():
        return True
    try:  # the child: never returns
        os.setsid()
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        _release_descriptors(null)  # the spool is reopened by its path, the sinks by URL
        _deliver(_Trail(remote, trail.spool, trail.source, trail.bound))
    finally:
        os._exit(0)


def _release_descriptors(null: int) -> None:
    """In the detached child: let go of every descriptor above 2 it inherited (the caller's
    pipes, sockets and files, which would otherwise stay open until the child ends, up to
    :data:`DETACHED_SECONDS` after the command). Each is made a copy of ``null`` (/dev/null)
    rather than closed, so that its number is not reused: a Python object of the parent that
    still owns the number and is collected in the child then closes that copy, never the
    child's own spool or socket."""
    import os

    fds: list[int] | None = None
    for folder in ("/proc/self/fd", "/dev/fd"):
        try:
            fds = [int(name) for name in os.listdir(folder)]
            break
        except (OSError, ValueError):
            continue
    if fds is None:
        try:
            top = int(os.sysconf("SC_OPEN_MAX"))
        except (OSError, ValueError):
            top = 1024
        fds = list(range(3, min(top, 1 << 16)))
    for fd in fds:
        if fd <= 2 or fd == null:
            continue
        try:
            os.fstat(fd)  # only open ones (the listing's own descriptor is closed by now)
            os.dup2(null, fd, inheritable=False)
        except OSError:
            continue


def _deliver(trail: Trail) -> None:
    """The detached child's loop, within :data:`DETACHED_SECONDS` (nobody waits for it; a
    delivery cut short by its deadline is sent again: a duplicate).

    It first waits :data:`DETACHED_DELAY`, so that an earlier command's child that is still
    lingering (its TLS context built) takes this command's rows: when it finds nothing left,
    it exits without opening a connection. A sink another process is sending is tried again
    until that one is done. After sending, it lingers :data:`DETACHED_LINGER` for the next
    command's rows. A refusal or a backoff ends it: the next command or ``audit flush``
    retries."""
    import time

    deadline = time.monotonic() + max(trail.bound, DETACHED_SECONDS)
    time.sleep(DETACHED_DELAY)
    sent, idle_since = False, None
    while time.monotonic() < deadline:
        report = trail.flush(deadline, force=False)
        sent = sent or report.delivered > 0
        if any(s.error or s.skipped == "backoff" for s in report.sinks):
            break
        if any(s.skipped for s in report.sinks) or report.remaining:
            idle_since = None  # another process is sending, or rows came in meanwhile
        elif not sent:
            break  # nothing for us: an earlier child took our rows
        elif idle_since is None:
            idle_since = time.monotonic()
        elif time.monotonic() - idle_since > DETACHED_LINGER:
            break
        time.sleep(0.05)
    if trail.spool is not None:
        trail.spool.close()
