"""Audit events: what a security operation tells its caller it did, and the handlers it tells.

Every layer may emit :class:`AuditEvent` objects; none of them knows where an event goes. The
caller passes handlers in (``handlers=...`` on the library functions that emit), and
:func:`emit` calls each one with notification semantics, as pynetdicom's notification
events do (``docs/audit.md``; style.md point 11): a handler that raises is logged on the
``dicomsec.events`` logger and never breaks the operation that emitted. Only the command
line tool and the services wire a sink (:mod:`dicomsec.audit`); a library user can attach
any callable taking one event.

An event says what happened in the toolkit's terms (an :class:`Operation`, its
:class:`Outcome`, the objects and the remote participants concerned); :mod:`dicomsec.audit`
turns it into a DICOM audit message (PS3.15 A.5) or a FHIR AuditEvent. Events are frozen,
hashable and picklable: a batch worker collects them and the parent process re-emits them.

Never put a secret in an event: no private key, password, passphrase or PIN, and patient
identifiers only where the event is about that patient's data (the builders take them from
:class:`AuditObject` entries of kind ``patient``).
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

__all__ = ["AuditEvent", "AuditHandler", "AuditObject", "Collector", "ObjectKind", "Operation",
           "Outcome", "Participant", "emit", "now"]

_log = logging.getLogger("dicomsec.events")


class Operation(enum.StrEnum):
    """What the toolkit did (each maps to one DICOM audit message; docs/audit.md has the table)."""

    APPLICATION_START = "application-start"
    APPLICATION_STOP = "application-stop"
    SIGN = "sign"
    VERIFY = "verify"                    # success: instances accessed (R); failure: alert
    WRAP = "wrap"                        # Secure DICOM File written: export
    UNWRAP = "unwrap"                    # Secure DICOM File opened: import
    DEIDENTIFY = "deidentify"
    REIDENTIFY = "reidentify"
    POLICY_VIOLATION = "policy-violation"
    SECURITY_CONFIGURATION = "security-configuration"  # pki issue / revoke, trust stores
    ASSOCIATION_ACCEPTED = "association-accepted"
    ASSOCIATION_REFUSED = "association-refused"        # TLS handshake or peer refused
    USER_AUTHENTICATION = "user-authentication"        # A-ASSOCIATE user identity
    BEGIN_TRANSFER = "begin-transfer"
    INSTANCES_SENT = "instances-sent"                  # send (C-STORE as SCU)
    INSTANCES_RECEIVED = "instances-received"          # scp (C-STORE as SCP)
    AUDIT_LOG_USED = "audit-log-used"                  # audit tail / flush read the log


class Outcome(enum.IntEnum):
    """EventOutcomeIndicator (PS3.15 A.5.3.1): 0 success, 4 minor failure (the operation was
    refused or contained), 8 serious failure, 12 major failure (possibly compromised)."""

    SUCCESS = 0
    MINOR_FAILURE = 4
    SERIOUS_FAILURE = 8
    MAJOR_FAILURE = 12


class ObjectKind(enum.StrEnum):
    """What an :class:`AuditObject` is (each maps to a ParticipantObjectIdentification shape)."""

    STUDY = "study"          # id: Study Instance UID; sop_class / instances: what of it
    PATIENT = "patient"      # id: Patient ID (only where the event is about the patient's data)
    FILE = "file"            # id: a file URI (file:///...)
    NODE = "node"            # id: host or IP address (a remote endpoint)
    SECURITY_RESOURCE = "security-resource"  # id: URI of a key, certificate, CRL, trust store
    AUDIT_LOG = "audit-log"  # id: URI of the audit log or spool
    MEDIA = "media"          # id: what carried data out or in (a file URI, a folder)


@dataclass(frozen=True, slots=True)
class AuditObject:
    """Something the operation acted on (ParticipantObjectIdentification).

    ``name``: a display name (a file's base name, a subject). ``sop_classes``: for a study,
    the SOP Class UID and the SOP Instance UIDs of the instances concerned, as pairs
    ``(class_uid, (instance_uid, ...))``. ``encrypted`` / ``anonymized``: the study's
    ``<Encrypted>`` / ``<Anonymized>`` flags. ``life_cycle``: ParticipantObjectDataLifeCycle
    (7 de-identification, 10 export, ...). ``details``: ``(type, text)`` pairs (e.g.
    ``("Alert Description", "signature 1: MAC mismatch")``): text, never a secret.
    """

    kind: ObjectKind
    id: str
    name: str | None = None
    sop_classes: tuple[tuple[str, tuple[str, ...]], ...] = ()
    encrypted: bool | None = None
    anonymized: bool | None = None
    life_cycle: int | None = None
    details: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Participant:
    """Someone or something taking part besides the tool itself (ActiveParticipant): a remote
    node, an AE, a signer. ``user_id``: e.g. ``"STORESCU"`` or a certificate subject;
    ``network_access_point``: host or IP address; ``is_requestor``: whether it asked for the
    operation; ``roles``: DCM codes (110152 Destination, 110153 Source, ...)."""

    user_id: str
    user_name: str | None = None
    alternative_user_id: str | None = None
    is_requestor: bool = False
    network_access_point: str | None = None
    roles: tuple[str, ...] = ()


def now() -> datetime:
    """The current time with its time zone (EventDateTime must carry one: A.5.2.5)."""
    return datetime.now(UTC).astimezone()


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One security-relevant thing the toolkit did.

    ``description``: EventOutcomeDescription (why it failed, what was refused), text only.
    ``objects`` / ``participants``: see :class:`AuditObject`, :class:`Participant`.
    ``when``: an aware datetime (default: now). ``command``: the command or service that did
    it (``"sign"``, ``"scp"``; ``None`` for library use).
    """

    operation: Operation
    outcome: Outcome = Outcome.SUCCESS
    description: str = ""
    objects: tuple[AuditObject, ...] = ()
    participants: tuple[Participant, ...] = ()
    when: datetime = field(default_factory=now)
    command: str | None = None


#: a handler: any callable taking one event (its return value is ignored)
AuditHandler = Callable[[AuditEvent], object]


def emit(handlers: Iterable[AuditHandler] | None, event: AuditEvent) -> None:
    """Give ``event`` to every handler in turn; one that raises is logged (``dicomsec.events``,
    without the event's objects) and the others still run: emitting never fails."""
    for handler in handlers or ():
        try:
            handler(event)
        except Exception as exc:  # notification semantics: never break the operation
            _log.warning("audit handler %r failed on a %s event: %s: %s", handler,
                         event.operation.value, type(exc).__name__, exc)


class Collector:
    """A handler that keeps the events it is given (``events``), e.g. in a batch worker whose
    events the parent re-emits, or in tests."""

    def __init__(self) -> None:
        self.events: list[AuditEvent] = []

    def __call__(self, event: AuditEvent) -> None:
        self.events.append(event)
