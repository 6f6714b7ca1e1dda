"""The audit trail of the running command: what ``main()`` opened for ``--audit``.

Commands pass ``handlers=audit_handlers()`` to the library functions that emit
:class:`~dicomsec.events.AuditEvent` objects; services (``scp``) that run for long take
:func:`current_trail` to deliver in the background. Outside ``main()`` (tests calling a
command function directly, library use) there is no trail and no handler.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dicomsec.audit import Trail
    from dicomsec.events import AuditHandler

__all__ = ["audit_handlers", "current_trail"]

#: the trail of the running command (set and cleared by ``dicomsec.cli.main``)
_TRAIL: list[Trail] = []


def current_trail() -> Trail | None:
    """The trail opened for the running command; ``None`` when auditing is off or outside
    ``main()``."""
    return _TRAIL[-1] if _TRAIL else None


def audit_handlers() -> tuple[AuditHandler, ...]:
    """The handlers of the running command's trail (empty when off or outside ``main()``)."""
    trail = current_trail()
    return trail.handlers if trail is not None else ()
