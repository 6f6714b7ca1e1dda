"""Audit events of the site PKI: every certificate or CRL it issues, and every revocation, is
a Security Configuration change (``Operation.SECURITY_CONFIGURATION``, DICOM 110113 Security
Alert with type 110129).

The event names the resource by its file URI (the certificate, the CRL, the CA certificate),
its serial and subject; never a key, passphrase or PIN.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from dicomsec.events import AuditEvent, AuditHandler, AuditObject, ObjectKind, Operation, emit

__all__ = ["emit_configuration"]


def emit_configuration(handlers: Iterable[AuditHandler] | None, action: str, path: Path,
                       description: str, *, serial: str | None = None,
                       subject: str | None = None) -> None:
    """Emit one SECURITY_CONFIGURATION event for ``path`` (``action``: ``"issue"`` or
    ``"revoke"``); nothing is built when there is no handler."""
    if not handlers:
        return
    details = [("Action", action)]
    if serial is not None:
        details.append(("Serial Number", serial))
    if subject is not None:
        details.append(("Subject", subject))
    resource = AuditObject(ObjectKind.SECURITY_RESOURCE, path.resolve().as_uri(),
                           name=path.name, details=tuple(details))
    emit(handlers, AuditEvent(Operation.SECURITY_CONFIGURATION, description=description,
                              objects=(resource,)))
