"""The audit trail: DICOM audit messages (PS3.15 A.5) and FHIR AuditEvents (IHE BALP) from the
toolkit's :class:`~dicomsec.events.AuditEvent`\\ s, spooled and sent over syslog (RFC 5424 on
TLS, RFC 5425, or UDP, RFC 5426) or written to files.

Layout:

- ``_codes``: the DCM and RFC 3881 codes; ``messages``: :class:`AuditSource`,
  :class:`AuditMessage`, :func:`dicom_messages` and one builder per DICOM message;
- ``schema``: :func:`validate` (RELAX NG of PS3.15 A.5.1.1, shipped in ``data/``; lxml);
- ``fhir``: :func:`fhir_audit_event`, :func:`validate_fhir` (FHIR R4 AuditEvent, IHE BALP);
- ``syslog``, ``sinks``, ``spool``, ``trail``: framing, sinks, the SQLite spool and
  :func:`open_trail`, what the command line tool and the services use.

Public API (every name imported on first use: building a message never imports lxml)::

    dicom_messages(event, source) -> tuple[AuditMessage, ...]
    fhir_audit_event(event, source) -> dict            validate_fhir(resource) -> list[str]
    validate(xml: bytes) -> list[str]
    open_trail(urls=None, spool_dir=None, *, bound=2.0, source=None) -> Trail

See ``docs/audit.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dicomsec._lazy import lazy_exports

if TYPE_CHECKING:
    from dicomsec.audit.fhir import fhir_audit_event, validate_fhir
    from dicomsec.audit.messages import (
        AuditMessage,
        AuditSource,
        application_activity,
        audit_log_used,
        begin_transferring,
        dicom_messages,
        export,
        import_,
        instances_accessed,
        instances_transferred,
        security_alert,
        user_authentication,
    )
    from dicomsec.audit.schema import validate
    from dicomsec.audit.sinks import parse_sink
    from dicomsec.audit.spool import Spool
    from dicomsec.audit.syslog import octet_frame, syslog_record
    from dicomsec.audit.trail import Trail, open_trail, state_folder

__all__ = [
    "AuditMessage", "AuditSource", "Spool", "Trail", "application_activity", "audit_log_used",
    "begin_transferring", "dicom_messages", "export", "fhir_audit_event", "import_",
    "instances_accessed", "instances_transferred", "octet_frame", "open_trail", "parse_sink",
    "security_alert", "state_folder", "syslog_record", "user_authentication", "validate",
    "validate_fhir",
]

#: where each public name lives: imported on first use
_LAZY = {
    "AuditMessage": "messages", "AuditSource": "messages", "dicom_messages": "messages",
    "application_activity": "messages", "audit_log_used": "messages",
    "begin_transferring": "messages", "export": "messages", "import_": "messages",
    "instances_accessed": "messages", "instances_transferred": "messages",
    "security_alert": "messages", "user_authentication": "messages",
    "validate": "schema",
    "fhir_audit_event": "fhir", "validate_fhir": "fhir",
    "open_trail": "trail", "Trail": "trail", "state_folder": "trail",
    "Spool": "spool",
    "parse_sink": "sinks",
    "syslog_record": "syslog", "octet_frame": "syslog",
}


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, __all__)
