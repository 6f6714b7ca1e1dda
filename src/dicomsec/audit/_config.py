"""Where the audit trail's configuration comes from, in order of precedence.

1. The caller's URLs (``--audit URL`` on the command line, ``open_trail(urls=...)``).
   Each given value is ONE URL (never split: a path with a space works as given, or as
   ``%20``).
2. ``DICOMSEC_AUDIT``: URLs separated by spaces or commas (a space or comma inside a URL is
   written ``%20`` / ``%2C``; an empty variable counts as not set).
3. The config file ``$XDG_CONFIG_HOME/dicomsec/audit.toml`` (default ``~/.config``)::

       sinks = ["syslog+tls://audit.example:6514?ca=/etc/dicomsec/ca.pem&cert=...&key=..."]
       spool = "/var/spool/dicomsec"     # optional
       bound = 2.0                       # optional: seconds a command may wait on sinks

4. Nothing configured: the file sink ``file://<state folder>/audit.log``.

``off`` as the only URL (or ``DICOMSEC_AUDIT=off``, or ``sinks = ["off"]``) turns auditing
off: no sink, no spool. Only ``off`` does: any other setting that yields no URL (``--audit
" "``, ``DICOMSEC_AUDIT=","``, ``sinks = []``) is refused (InvalidInput), never silently a trail
without a sink. ``bound`` is a finite number of seconds, ``0 < bound <= 300``.

The config file is read only when it can still supply something (no URLs given, or no spool
folder or bound given) and never when auditing is off by the caller or ``DICOMSEC_AUDIT``;
it must be a regular file (a FIFO or device is refused, never waited on); ``tomllib`` is
imported only when the file exists.
The spool folder: the caller's, else ``DICOMSEC_AUDIT_SPOOL``, else the config file's, else
``<state folder>/audit-spool``. The state folder is ``$XDG_STATE_HOME/dicomsec`` (default
``~/.local/state/dicomsec``).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from pathlib import Path

from dicomsec.errors import InvalidInput

__all__ = ["AuditConfig", "config_file", "resolve", "state_folder"]

ENV_URLS = "DICOMSEC_AUDIT"
ENV_SPOOL = "DICOMSEC_AUDIT_SPOOL"
DEFAULT_BOUND = 2.0
#: the largest bound (seconds) a configuration may ask for
MAX_BOUND = 300.0


def _xdg(variable: str, fallback: str) -> Path:
    value = os.environ.get(variable)
    if value and os.path.isabs(value):
        return Path(value)
    return Path.home() / fallback


def state_folder() -> Path:
    """``$XDG_STATE_HOME/dicomsec`` or ``~/.local/state/dicomsec``."""
    return _xdg("XDG_STATE_HOME", ".local/state") / "dicomsec"


def config_file() -> Path:
    """``$XDG_CONFIG_HOME/dicomsec/audit.toml`` or ``~/.config/dicomsec/audit.toml``."""
    return _xdg("XDG_CONFIG_HOME", ".config") / "dicomsec" / "audit.toml"


class AuditConfig:
    """The resolved configuration: sink URLs (empty when off), spool folder, bound (s)."""

    __slots__ = ("bound", "off", "spool", "urls")

    def __init__(self, urls: tuple[str, ...], spool: Path, bound: float, off: bool) -> None:
        self.urls, self.spool, self.bound, self.off = urls, spool, bound, off

    def _key(self) -> tuple[tuple[str, ...], Path, float, bool]:
        return self.urls, self.spool, self.bound, self.off

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AuditConfig) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return (f"AuditConfig(urls={self.urls!r}, spool={self.spool!r}, bound={self.bound!r}, "
                f"off={self.off!r})")


def _split(text: str) -> list[str]:
    return [u for u in text.replace(",", " ").split() if u]


def _read_file(path: Path) -> dict[str, object]:
    """The config file's values; ``{}`` when it does not exist. A regular file only (opened
    without blocking, checked with fstat)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise InvalidInput(f"cannot read the audit configuration: {exc.strerror or exc}",
                           path=str(path)) from None
    import tomllib

    with open(fd, "rb") as fh:
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise InvalidInput("the audit configuration is not a regular file",
                                   path=str(path))
            os.set_blocking(fd, True)
            return tomllib.load(fh)
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise InvalidInput(f"cannot read the audit configuration: {exc}",
                               path=str(path)) from None


def _bound(value: object, where: str) -> float:
    """A bound in seconds: a finite number, ``0 < bound <= 300``."""
    if (isinstance(value, bool) or not isinstance(value, int | float)
            or not 0 < value <= MAX_BOUND):  # NaN fails the comparison, inf is over 300
        raise InvalidInput(f"{where}: bound must be a number of seconds, 0 < bound <= "
                           f"{MAX_BOUND:g}")
    return float(value)


def _file_values(path: Path) -> tuple[list[str] | None, Path | None, float | None]:
    data = _read_file(path)
    sinks, spool, bound = data.get("sinks"), data.get("spool"), data.get("bound")
    if sinks is not None and not (isinstance(sinks, list)
                                  and all(isinstance(s, str) for s in sinks)):
        raise InvalidInput("audit configuration: sinks must be a list of URLs", path=str(path))
    if spool is not None and not (isinstance(spool, str) and spool.strip()):
        raise InvalidInput("audit configuration: spool must be a folder name", path=str(path))
    return (sinks, Path(spool).expanduser() if spool else None,
            _bound(bound, f"audit configuration {path}") if bound is not None else None)


def _urls(urls: Sequence[str] | None) -> tuple[list[str] | None, str]:
    """The caller's URLs (each one URL, stripped), else ``DICOMSEC_AUDIT``'s (split); and
    where they came from. ``None``: neither says anything."""
    if urls:  # an empty list is "not given"
        return [u.strip() for u in urls], "--audit"
    env = os.environ.get(ENV_URLS, "")
    if env:
        return _split(env), ENV_URLS
    return None, ""


def _checked(chosen: list[str], where: str) -> bool:
    """Whether ``chosen`` means off; InvalidInput when it names no sink or mixes ``off``."""
    if not chosen or any(not u for u in chosen):
        raise InvalidInput(f"audit: {where} names no sink URL (only 'off' turns auditing off)")
    off = any(u.lower() == "off" for u in chosen)
    if off and len(chosen) > 1:
        raise InvalidInput("audit: 'off' cannot be combined with sink URLs")
    return off


def resolve(urls: Sequence[str] | None = None, spool_dir: Path | None = None,
            bound: float | None = None) -> AuditConfig:
    """The configuration by the precedence of the module's docstring.

    Raises:
        InvalidInput: an unreadable, non-regular or malformed config file; ``off`` mixed with
            URLs; a setting that names no sink; a bound outside ``0 < bound <= 300``.
    """
    chosen, where = _urls(urls)
    if chosen is not None and _checked(chosen, where):
        return AuditConfig((), spool_dir or state_folder() / "audit-spool",
                           DEFAULT_BOUND if bound is None else _bound(bound, "audit"), True)
    if bound is not None:
        bound = _bound(bound, "audit")
    env_spool = os.environ.get(ENV_SPOOL)
    spool = spool_dir or (Path(env_spool).expanduser() if env_spool else None)
    file_sinks, file_spool, file_bound = None, None, None
    if chosen is None or spool is None or bound is None:  # the file can still supply something
        file_sinks, file_spool, file_bound = _file_values(config_file())
    if chosen is None and file_sinks is not None:
        chosen, where = list(file_sinks), f"the audit configuration {config_file()}"
        if _checked([u.strip() for u in chosen], where):
            return AuditConfig((), spool or file_spool or state_folder() / "audit-spool",
                               bound or file_bound or DEFAULT_BOUND, True)
    if chosen is None:
        chosen = [(state_folder() / "audit.log").as_uri()]
    return AuditConfig(tuple(chosen), Path(spool or file_spool or state_folder() / "audit-spool"),
                       bound or file_bound or DEFAULT_BOUND, False)
