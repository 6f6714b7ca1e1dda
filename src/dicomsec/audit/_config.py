"""Where the audit trail's configuration comes from, in order of precedence.

1. The caller's URLs (``--audit URL`` on the command line, ``open_trail(urls=...)``).
2. ``DICOMSEC_AUDIT``: URLs separated by spaces or commas.
3. The config file ``$XDG_CONFIG_HOME/dicomsec/audit.toml`` (default ``~/.config``)::

       sinks = ["syslog+tls://audit.example:6514?ca=/etc/dicomsec/ca.pem&cert=...&key=..."]
       spool = "/var/spool/dicomsec"     # optional
       bound = 2.0                       # optional: seconds a command may wait on sinks

4. Nothing configured: the file sink ``file://<state folder>/audit.log``.

``off`` as the only URL (or ``DICOMSEC_AUDIT=off``) turns auditing off: no sink, no spool.
The spool folder: the caller's, else ``DICOMSEC_AUDIT_SPOOL``, else the config file's, else
``<state folder>/audit-spool``. The state folder is ``$XDG_STATE_HOME/dicomsec`` (default
``~/.local/state/dicomsec``).
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from dicomsec.errors import InvalidInput

__all__ = ["AuditConfig", "config_file", "resolve", "state_folder"]

ENV_URLS = "DICOMSEC_AUDIT"
ENV_SPOOL = "DICOMSEC_AUDIT_SPOOL"
DEFAULT_BOUND = 2.0


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


@dataclass(frozen=True, slots=True)
class AuditConfig:
    """The resolved configuration: sink URLs (empty when off), spool folder, bound (s)."""

    urls: tuple[str, ...]
    spool: Path
    bound: float
    off: bool


def _split(text: str) -> list[str]:
    return [u for u in re.split(r"[\s,]+", text.strip()) if u]


def _read_file(path: Path) -> dict[str, object]:
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        return {}
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise InvalidInput(f"cannot read the audit configuration: {exc}", path=str(path)) from None


def _file_values(path: Path) -> tuple[list[str] | None, Path | None, float | None]:
    data = _read_file(path)
    sinks, spool, bound = data.get("sinks"), data.get("spool"), data.get("bound")
    if sinks is not None and not (isinstance(sinks, list)
                                  and all(isinstance(s, str) for s in sinks)):
        raise InvalidInput("audit configuration: sinks must be a list of URLs", path=str(path))
    if spool is not None and not isinstance(spool, str):
        raise InvalidInput("audit configuration: spool must be a folder name", path=str(path))
    if bound is not None and (isinstance(bound, bool) or not isinstance(bound, int | float)
                              or bound <= 0):
        raise InvalidInput("audit configuration: bound must be a positive number of seconds",
                           path=str(path))
    return (sinks, Path(spool).expanduser() if spool else None,
            float(bound) if bound is not None else None)


def resolve(urls: Sequence[str] | None = None, spool_dir: Path | None = None,
            bound: float | None = None) -> AuditConfig:
    """The configuration by the precedence of the module's docstring.

    Raises:
        InvalidInput: an unreadable or malformed config file; ``off`` mixed with URLs.
    """
    file_sinks, file_spool, file_bound = _file_values(config_file())
    if urls:  # an empty list is "not given"
        chosen = [u for text in urls for u in _split(text)]
    elif os.environ.get(ENV_URLS, "").strip():
        chosen = _split(os.environ[ENV_URLS])
    elif file_sinks is not None:
        chosen = list(file_sinks)
    else:
        chosen = [(state_folder() / "audit.log").as_uri()]
    off = any(u.lower() == "off" for u in chosen)
    if off and len(chosen) > 1:
        raise InvalidInput("audit: 'off' cannot be combined with sink URLs")
    env_spool = os.environ.get(ENV_SPOOL)
    spool = (spool_dir or (Path(env_spool).expanduser() if env_spool else None) or file_spool
             or state_folder() / "audit-spool")
    return AuditConfig(() if off else tuple(chosen), Path(spool),
                       bound if bound is not None else file_bound or DEFAULT_BOUND, off)
