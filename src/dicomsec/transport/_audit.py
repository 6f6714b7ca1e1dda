"""Audit events of DIMSE over TLS (low level: used by :mod:`.dimse` only).

What the SCP and the SCU tell their ``handlers`` (:mod:`dicomsec.events`; the rows of
``docs/audit.md``):

- ``ASSOCIATION_REFUSED`` (outcome 4): a TLS handshake the SCP refused (no certificate, an
  untrusted or revoked one, one below the profile, a protocol failure; the reason is the
  Alert Description), an A-ASSOCIATE-RJ it sent; on the SCU side, a TLS failure with the SCP
  or its A-ASSOCIATE-RJ. The remote node is a NODE object (its IP address) and a participant
  (its AE title when known, else its certificate subject, else its address).
- ``ASSOCIATION_ACCEPTED`` (outcome 0): the SCP accepted an association (after the handshake
  and the A-ASSOCIATE-AC); the participant carries the calling AE title and the certificate
  subject.
- ``USER_AUTHENTICATION``: the requestor sent a User Identity item (PS3.7 D.3.3.7). The SCP
  authenticates nodes by certificate only and does not check the identity, so the event says
  so with outcome 4; it names the user (type 1 and 2 only), never the passcode or a token.
- ``INSTANCES_RECEIVED`` / ``INSTANCES_SENT``: one event per study per association (at most
  :data:`MAX_INSTANCES` instances each), emitted when the association ends (SCP) or after the
  last response (SCU); outcome 4 for the instances that failed, with the first reason.
- ``BEGIN_TRANSFER``: the SCU, once its association is established, per study.
- ``APPLICATION_START`` / ``APPLICATION_STOP``: the SCP starts listening / shuts down.

The SCP never waits on auditing. Its events go into a bounded in-memory queue
(:data:`QUEUE_EVENTS`) that one writer thread (a daemon) drains into the handlers, so an
association thread only appends. A handler that fails (raises: retried once; or a trail
whose spool is busy, e.g. another process holds its write lock: retried until the SCP stops)
keeps its event, retried after a short backoff (:data:`RETRY_SECONDS`). When the queue is
full, further events are counted and logged; once it is empty again one Security Alert
(POLICY_VIOLATION, outcome 8, object the queue) says "N audit events dropped". At shutdown
the refusal summaries are queued, the queue is drained for at most :data:`DRAIN_SECONDS`, then
APPLICATION_STOP is the last event; what is left then is logged as not recorded.

Refusals are aggregated per (remote IP, reason): the first at once, the next ones counted
and reported as one "N more refusals of IP since T: reason" event per
:data:`REFUSAL_WINDOW` (60 s) window, emitted by the writer when the window ends, or at
shutdown. At most :data:`ALERTS_PER_SECOND` (20) first refusals are emitted in one second
across all keys; the others are counted into their key's summary ("N refusals of IP since
T"). A TCP connection closed before or during the handshake (a health check, a port scan)
is a refusal like any other, aggregated the same way, never one record per probe. A
refusal after the handshake (certificate below the profile, revoked, untrusted by the
validator) names the refused certificate's subject as the participant's user name. User
names and subjects are cut to :data:`NAME_CHARACTERS` characters (marker ``...[cut]``),
control characters replaced. A per-association batch of received instances is emitted
when it holds :data:`MAX_INSTANCES` instances in all, more than :data:`MAX_GROUPS` (study,
outcome) groups, or its oldest is :data:`MAX_AGE` seconds old (checked at each store), and
at the end of the association.

Study Instance UID, Patient ID and Patient's Name come from the first bytes of each data set
(the top-level elements up to (0020,000D), walked without decoding by the signatures' head
reader), read only when there are handlers. Building or emitting an event never raises into
the association: every failure is logged.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import io
import itertools
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, ParamSpec, TypeVar

from dicomsec.events import (
    AuditEvent,
    AuditHandler,
    AuditObject,
    ObjectKind,
    Operation,
    Outcome,
    Participant,
)

__all__ = ["MAX_INSTANCES", "ScpAudit", "StudyFacts", "Transfers", "file_facts", "host_of",
           "readable", "refused_event", "remote", "study_facts", "study_objects",
           "transfer_events"]

_log = logging.getLogger(__name__)

#: the most instances one INSTANCES_RECEIVED / INSTANCES_SENT event lists (a message stays
#: well under the 32 KiB syslog limit)
MAX_INSTANCES = 100
#: a Transfers is flushed (its events emitted) past this many groups (study x outcome) ...
MAX_GROUPS = 100
#: ... or when its oldest instance is older than this (seconds)
MAX_AGE = 60.0
#: the events the SCP's audit queue holds; beyond, they are counted and dropped
QUEUE_EVENTS = 10_000
#: the seconds :meth:`ScpAudit.stop` waits for the queue to drain
DRAIN_SECONDS = 5.0
#: the backoff between the attempts to give an event to a failing handler (seconds)
RETRY_SECONDS = (0.1, 0.2, 0.5, 1.0, 2.0)
#: how often an event is given again to a handler that raised (a defect rather than a busy
#: resource: it must not hold the queue back); a busy spool is retried until the SCP stops
RAISING_RETRIES = 1
#: the window of refusal aggregation per (remote IP, reason), seconds
REFUSAL_WINDOW = 60.0
#: the refusal events emitted at once in one second, at most (the others are counted)
ALERTS_PER_SECOND = 20
#: the characters of a user name or certificate subject in an event, at most
NAME_CHARACTERS = 256
#: the most (remote IP, reason) pairs counted one by one in a window; refusals of further
#: hosts are counted together (a scan from many addresses: bounded memory, bounded records)
MAX_REFUSAL_KEYS = 256
_OTHER_HOSTS = "other hosts"
_CUT = "...[cut]"
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_QUEUE_URI = "urn:dicomsec:scp-audit-queue"
_SOURCE_ROLE = "110153"
_DESTINATION_ROLE = "110152"
#: User Identity Type (PS3.7 D.3.3.7.1) → what is said instead of a token
_IDENTITY_KINDS = {1: "username", 2: "username and passcode", 3: "Kerberos service ticket",
                   4: "SAML assertion", 5: "JSON Web Token"}

P = ParamSpec("P")
R = TypeVar("R")


def _never_raises(func: Callable[P, R]) -> Callable[P, R | None]:
    """Auditing never breaks an association: a failure is logged and the call returns None."""
    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R | None:
        try:
            return func(*args, **kwargs)
        except Exception as exc:
            _log.warning("audit of %s failed: %s: %s", func.__name__, type(exc).__name__, exc)
            return None

    return wrapper


# ------------------------------------------------------------------------------------------
# what a data set is about


@dataclass(frozen=True, slots=True)
class StudyFacts:
    """Study Instance UID, Patient ID and Patient's Name of an instance (``None``: absent or
    unreadable)."""

    study_uid: str | None = None
    patient_id: str | None = None
    patient_name: str | None = None


_UNKNOWN = StudyFacts()


def _facts(fh: BinaryIO) -> StudyFacts:
    from dicomsec.signatures._events import head_identity

    found = head_identity(fh)
    return StudyFacts(found.study_uid or None, found.patient_id or None,
                      found.patient_name or None)


def study_facts(meta: bytes, head: bytes | memoryview) -> StudyFacts:
    """The facts of a received data set from its File Meta Information (preamble included)
    and its first bytes (:func:`dicomsec.signatures._events.head_identity`: the top level
    walked without decoding; the Patient's Name by the Specific Character Set). Never
    raises: what cannot be read stays unknown."""
    return _facts(io.BytesIO(bytes(meta) + bytes(head)))


def file_facts(path: Path) -> StudyFacts:
    """:func:`study_facts` of a Part 10 file (unknown when it cannot be read)."""
    try:
        with open(path, "rb") as fh:
            return _facts(fh)
    except OSError:
        return _UNKNOWN


# ------------------------------------------------------------------------------------------
# participants and events


def host_of(address: Any) -> str:
    """The IP address (or host) of a socket address tuple or a ``host:port`` text."""
    if isinstance(address, tuple) and address:
        return str(address[0])
    text = str(address)
    if text.startswith("["):
        return text[1:text.find("]")] if "]" in text else text
    return text.rsplit(":", 1)[0] if text.count(":") == 1 else text


def remote(host: str, *, ae_title: str | None = None, subject: str | None = None,
           requestor: bool = True, roles: tuple[str, ...] = ()) -> Participant:
    """The remote node as a participant: its AE title when known, else its certificate
    subject, else its address (``user_id``); the AE title also as ``AETITLES=``, the subject
    as the user name."""
    aet = (ae_title or "").strip() or None
    return Participant(aet or subject or host, user_name=subject,
                       alternative_user_id=f"AETITLES={aet}" if aet else None,
                       is_requestor=requestor, network_access_point=host, roles=roles)


def _node(host: str, alert: str | None = None) -> AuditObject:
    return AuditObject(ObjectKind.NODE, host, name=host,
                       details=(("Alert Description", alert),) if alert else ())


#: an OpenSSL reason code (``PEER_DID_NOT_RETURN_A_CERTIFICATE``)
_OPENSSL_CODE = re.compile(r"\b[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+\b")


def readable(reason: str) -> str:
    """``reason`` with OpenSSL's reason codes in words (``peer did not return a
    certificate``)."""
    return _OPENSSL_CODE.sub(lambda m: m.group(0).replace("_", " ").lower(), reason)


def refused_event(host: str, reason: str, *, ae_title: str | None = None,
                  subject: str | None = None, requestor: bool = True) -> AuditEvent:
    """ASSOCIATION_REFUSED of ``host`` for ``reason`` (one line; OpenSSL's codes in words)."""
    reason = readable(reason)
    return AuditEvent(Operation.ASSOCIATION_REFUSED, Outcome.MINOR_FAILURE, reason,
                      objects=(_node(host, reason),),
                      participants=(remote(host, ae_title=ae_title, subject=subject,
                                           requestor=requestor),))


def study_objects(facts: StudyFacts, sop_classes: tuple[tuple[str, tuple[str, ...]], ...] = (),
                  details: tuple[tuple[str, str], ...] = ()) -> list[AuditObject]:
    """The STUDY (when its UID is known) and PATIENT (when its ID is known) objects."""
    objects = []
    if facts.study_uid:
        objects.append(AuditObject(ObjectKind.STUDY, facts.study_uid, sop_classes=sop_classes,
                                   details=details))
    if facts.patient_id:
        objects.append(AuditObject(ObjectKind.PATIENT, facts.patient_id,
                                   name=facts.patient_name))
    return objects


@dataclass
class Transfers:
    """The instances of one association, grouped by study, failures apart."""

    groups: dict[tuple[StudyFacts, bool], dict[str, list[str]]] = field(default_factory=dict)
    counts: dict[tuple[StudyFacts, bool], int] = field(default_factory=dict)
    errors: dict[tuple[StudyFacts, bool], str] = field(default_factory=dict)
    #: time.monotonic() of the oldest instance held (None: empty)
    oldest: float | None = None

    def add(self, facts: StudyFacts, sop_class: str, sop_instance: str,
            error: str | None = None) -> None:
        key = (facts, error is None)
        self.groups.setdefault(key, {}).setdefault(sop_class, []).append(sop_instance)
        self.counts[key] = self.counts.get(key, 0) + 1
        if error is not None:
            self.errors.setdefault(key, error)
        if self.oldest is None:
            self.oldest = time.monotonic()

    def full(self) -> bool:
        """Time to emit: :data:`MAX_INSTANCES` instances in all, more than
        :data:`MAX_GROUPS` groups, or the oldest older than :data:`MAX_AGE` seconds."""
        return (sum(self.counts.values()) >= MAX_INSTANCES or len(self.groups) > MAX_GROUPS
                or (self.oldest is not None and time.monotonic() - self.oldest >= MAX_AGE))

    def take(self) -> Transfers:
        """These transfers, leaving this object empty."""
        taken = Transfers(self.groups, self.counts, self.errors, self.oldest)
        self.groups, self.counts, self.errors, self.oldest = {}, {}, {}, None
        return taken


def transfer_events(transfers: Transfers, operation: Operation, participant: Participant,
                    verb: str) -> list[AuditEvent]:
    """One event per study and outcome (``verb``: ``"received from X"``, ...)."""
    events = []
    for (facts, ok), classes in transfers.groups.items():
        count = transfers.counts[(facts, ok)]
        description = f"{count} instance{'s' if count != 1 else ''} {verb}"
        details: tuple[tuple[str, str], ...] = ()
        if not ok:
            error = transfers.errors.get((facts, ok), "failed")
            description = f"{count} instance{'s' if count != 1 else ''} not {verb}: {error}"
            details = (("Alert Description", description),)
        objects = study_objects(facts, tuple((c, tuple(uids)) for c, uids in classes.items()),
                                details)
        if details and not facts.study_uid:
            objects.append(_node(participant.network_access_point or "?", description))
        events.append(AuditEvent(operation, Outcome.SUCCESS if ok else Outcome.MINOR_FAILURE,
                                 description, objects=tuple(objects),
                                 participants=(participant,)))
    return events


# ------------------------------------------------------------------------------------------
# the SCP


@dataclass
class _Association:
    host: str
    ae_title: str | None
    subject: str | None
    transfers: Transfers = field(default_factory=Transfers)


@dataclass
class _Refusals:
    """The refusals of one (remote IP, reason) in the current window."""

    host: str
    reason: str
    opened: float                 # time.monotonic() of the window's start
    since: datetime               # the same, as a date (the summary says it)
    count: int = 0                # refusals not yet reported
    subject: str | None = None
    first_sent: bool = False      # the first was reported at once (else: over the rate)


class ScpAudit:
    """The SCP's auditing: events per association; thread-safe, and never blocking.

    Every method is safe to call from pynetdicom's threads: none raises, and none waits on a
    handler. Events go into a bounded queue (:data:`QUEUE_EVENTS`) that one writer thread
    (a daemon, started on the first event) drains into the handlers; a handler that fails
    (raises, or a :class:`dicomsec.audit.Trail` whose spool is busy: its ``errors`` got a
    "not spooled" line) is retried with a short backoff, its event kept. Events beyond the
    queue are counted (:attr:`dropped`) and logged, and once the queue is empty again one
    POLICY_VIOLATION event says "N audit events dropped". Refusals are aggregated per
    (remote IP, reason) (:meth:`tls_refused`). :meth:`stop` drains the queue (bounded) and
    emits APPLICATION_STOP last."""

    def __init__(self, handlers: Iterable[AuditHandler], *, capacity: int = QUEUE_EVENTS,
                 window: float = REFUSAL_WINDOW,
                 alerts_per_second: int = ALERTS_PER_SECOND) -> None:
        self.handlers = tuple(handlers)
        self.dropped = 0
        self._open: dict[int, _Association] = {}
        self._guard = threading.Lock()
        self._cond = threading.Condition()
        self._queue: collections.deque[AuditEvent] = collections.deque()
        self._capacity = capacity
        self._unreported = 0
        self._refusals: dict[tuple[str, str], _Refusals] = {}
        self._window = window
        self._rate = alerts_per_second
        self._second = 0
        self._in_second = 0
        self._busy = False
        self._closed = False
        self._abandon = False
        self._stopping = threading.Event()
        self._writer: threading.Thread | None = None

    # --- the queue ---------------------------------------------------------------------------

    def _emit(self, event: AuditEvent) -> None:
        with self._cond:
            if self._closed:
                _log.warning("audit event %s after the SCP stopped: not recorded",
                             event.operation.value)
                return
            if len(self._queue) >= self._capacity:
                self.dropped += 1
                self._unreported += 1
                if self._unreported == 1 or self._unreported % 1000 == 0:
                    _log.warning("audit queue full (%d events): %d events dropped",
                                 self._capacity, self._unreported)
                return
            self._queue.append(event)
            self._wake_locked()

    def _wake_locked(self) -> None:
        if self._writer is None:
            self._writer = threading.Thread(target=self._run, name="dicomsec-scp-audit",
                                            daemon=True)
            self._writer.start()
        self._cond.notify_all()

    def _run(self) -> None:
        while True:
            with self._cond:
                event = self._next_locked()
                while event is None:
                    if self._closed:
                        return
                    self._cond.wait(self._sleep_locked())
                    event = self._next_locked()
                self._busy = True
            try:
                self._deliver(event)
            except Exception as exc:  # a defect: never kill the writer
                _log.warning("audit writer: %s: %s", type(exc).__name__, exc)
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def _next_locked(self) -> AuditEvent | None:
        self._summaries_locked(time.monotonic())
        if self._queue:
            return self._queue.popleft()
        if self._unreported:
            count, self._unreported = self._unreported, 0
            return dropped_event(count)
        return None

    def _sleep_locked(self) -> float | None:
        if not self._refusals:
            return None
        due = min(r.opened for r in self._refusals.values()) + self._window
        return max(0.05, due - time.monotonic())

    def _deliver(self, event: AuditEvent) -> None:
        pending = list(self.handlers)
        for attempt in itertools.count():
            pending = [h for h in pending
                       if not _delivered(h, event, retry=attempt < RAISING_RETRIES)]
            if not pending:
                return
            if self._abandon:
                _log.warning("audit event %s not recorded: the SCP stopped",
                             event.operation.value)
                _not_kept(pending, f"audit record not spooled: a {event.operation.value} "
                          "event (the SCP stopped before the spool took it)")
                return
            self._stopping.wait(RETRY_SECONDS[min(attempt, len(RETRY_SECONDS) - 1)])

    def stop(self, description: str, timeout: float = DRAIN_SECONDS) -> None:
        """At shutdown: the refusal summaries, the queue drained (at most ``timeout``
        seconds), then APPLICATION_STOP; later events are logged, not recorded."""
        deadline = time.monotonic() + timeout
        with self._cond:
            self._summaries_locked(None)
            if self._queue:
                self._wake_locked()
        self._drain(deadline)
        self._emit(AuditEvent(Operation.APPLICATION_STOP, description=description))
        self._drain(deadline + 1.0)
        with self._cond:
            left = len(self._queue) + (1 if self._busy else 0)
            self._closed = self._abandon = True
            self._stopping.set()
            self._queue.clear()
            self._cond.notify_all()
        lost = left + self._unreported
        if lost:
            _log.warning("%d audit events not recorded at shutdown (the handlers did not "
                         "take them in %.0f s)", lost, timeout)
            _not_kept(self.handlers, f"audit record not spooled: {lost} event(s) still "
                      f"queued when the SCP stopped ({timeout:.0f} s)")

    def _drain(self, deadline: float) -> bool:
        with self._cond:
            while self._queue or self._busy or self._unreported:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._writer is None:
                    return False
                self._cond.wait(min(remaining, 0.2))
        return True

    # --- refusals ----------------------------------------------------------------------------

    def _refusal(self, host: str, reason: str, *, ae_title: str | None = None,
                 subject: str | None = None) -> None:
        """A refusal: the first of its (host, reason) at once (within the global rate),
        the others counted into one summary per window."""
        reason = readable(reason)
        now = time.monotonic()
        with self._cond:
            key = (host, reason)
            if key not in self._refusals and len(self._refusals) >= MAX_REFUSAL_KEYS:
                host, reason = _OTHER_HOSTS, "refused from more hosts than are counted apart"
                key = (host, reason)
            entry = self._refusals.get(key)
            if entry is None:
                entry = self._refusals[key] = _Refusals(host, reason, now,
                                                        datetime.now(UTC), subject=subject)
                if self._allowed_locked(now):
                    entry.first_sent = True
                    self._emit(refused_event(host, reason, ae_title=ae_title,
                                             subject=subject))
                    return
            entry.count += 1
            entry.subject = entry.subject or subject
            self._wake_locked()

    def _allowed_locked(self, now: float) -> bool:
        second = int(now)
        if second != self._second:
            self._second, self._in_second = second, 0
        self._in_second += 1
        return self._in_second <= self._rate

    def _summaries_locked(self, now: float | None) -> None:
        """The summaries of the windows that ended (``now`` None: all of them)."""
        for key, entry in list(self._refusals.items()):
            if now is not None and now - entry.opened < self._window:
                continue
            if entry.count and len(self._queue) >= self._capacity:
                self.dropped += 1  # a full queue: the summary is counted as dropped
                self._unreported += 1
            elif entry.count:
                self._queue.append(_summary_event(entry))
            if entry.count and now is not None:
                entry.opened, entry.since, entry.count = now, datetime.now(UTC), 0
                entry.first_sent = True
            else:
                del self._refusals[key]

    # --- what the SCP reports ----------------------------------------------------------------

    @_never_raises
    def application(self, start: bool, description: str) -> None:
        self._emit(AuditEvent(Operation.APPLICATION_START if start
                              else Operation.APPLICATION_STOP, description=description))

    @_never_raises
    def tls_refused(self, address: Any, reason: str, subject: str | None = None) -> None:
        """A TLS handshake the SCP refused or that failed (``subject``: of the certificate
        refused after the handshake). Aggregated per (remote IP, reason): the first at once,
        then one "N more refusals since T" event per :data:`REFUSAL_WINDOW`; at most
        :data:`ALERTS_PER_SECOND` refusal events in a second (the others counted)."""
        self._refusal(host_of(address), reason, subject=_capped(subject))

    @_never_raises
    def rejected(self, assoc: Any) -> None:
        """The SCP sent an A-ASSOCIATE-RJ (aggregated as :meth:`tls_refused`)."""
        host, aet, subject = _who(assoc)
        result = getattr(assoc.acceptor, "primitive", None)
        why = ""
        if result is not None and getattr(result, "result_str", None):
            why = f": {result.result_str}, {result.source_str}, {result.reason_str}"
        self._refusal(host, f"association rejected (A-ASSOCIATE-RJ){why}", ae_title=aet,
                      subject=subject)

    @_never_raises
    def accepted(self, assoc: Any) -> None:
        """The SCP accepted an association: ASSOCIATION_ACCEPTED, and USER_AUTHENTICATION
        when the requestor sent a user identity."""
        host, aet, subject = _who(assoc)
        with self._guard:
            self._open[id(assoc)] = _Association(host, aet, subject)
        self._emit(AuditEvent(
            Operation.ASSOCIATION_ACCEPTED, Outcome.SUCCESS,
            f"association accepted from {aet or '?'} at {host}"
            + (f" (certificate {subject})" if subject else ""),
            objects=(_node(host),), participants=(remote(host, ae_title=aet,
                                                         subject=subject),)))
        identity = getattr(assoc.requestor, "user_identity", None)
        if identity is not None:
            self._emit(_user_identity_event(identity, host, aet))

    @_never_raises
    def stored(self, assoc: Any, facts: StudyFacts, sop_class: str, sop_instance: str,
               error: str | None = None) -> None:
        """One C-STORE of the association (``error``: why it failed)."""
        with self._guard:
            state = self._open.get(id(assoc))
            if state is None:
                return
            state.transfers.add(facts, sop_class, sop_instance, error)
            taken = state.transfers.take() if state.transfers.full() else None
        if taken is not None:
            self._emit_received(state, taken)

    @_never_raises
    def finished(self, assoc: Any) -> None:
        """The association ended (released, aborted, dropped): its INSTANCES_RECEIVED."""
        with self._guard:
            state = self._open.pop(id(assoc), None)
        if state is not None:
            self._emit_received(state, state.transfers)

    def _emit_received(self, state: _Association, transfers: Transfers) -> None:
        source = remote(state.host, ae_title=state.ae_title, subject=state.subject,
                        roles=(_SOURCE_ROLE,))
        for event in transfer_events(transfers, Operation.INSTANCES_RECEIVED, source,
                                     f"received from {state.ae_title or state.host}"):
            self._emit(event)


def _not_kept(handlers: Iterable[AuditHandler], line: str) -> None:
    """Say on each trail among ``handlers`` (its ``errors``) that a record was not kept, so
    that the command ends as for any record its spool did not take (exit 2)."""
    for handler in handlers:
        errors = getattr(getattr(handler, "__self__", None), "errors", None)
        if isinstance(errors, list) and line not in errors:
            errors.append(line)


def _delivered(handler: AuditHandler, event: AuditEvent, *, retry: bool) -> bool:
    """Give ``event`` to ``handler``: False when it should be given again (it raised and
    ``retry``, or a trail's spool did not take it: the "not spooled" lines it added are
    taken back, the event being retried)."""
    errors = getattr(getattr(handler, "__self__", None), "errors", None)
    before = len(errors) if isinstance(errors, list) else -1
    try:
        handler(event)
    except Exception as exc:
        _log.warning("audit handler %r failed on a %s event: %s: %s", handler,
                     event.operation.value, type(exc).__name__, exc)
        return not retry
    if before < 0 or not isinstance(errors, list):
        return True
    failed = [line for line in errors[before:] if "not spooled" in str(line)]
    if not failed:
        return True
    for line in failed:
        with contextlib.suppress(ValueError):
            errors.remove(line)
    return False


def dropped_event(count: int) -> AuditEvent:
    """The Security Alert saying ``count`` audit events were dropped (queue full)."""
    text = f"{count} audit event{'s' if count != 1 else ''} dropped (audit queue full)"
    return AuditEvent(Operation.POLICY_VIOLATION, Outcome.SERIOUS_FAILURE, text,
                      objects=(AuditObject(ObjectKind.SECURITY_RESOURCE, _QUEUE_URI,
                                           name="audit queue",
                                           details=(("Alert Description", text),)),))


def _summary_event(entry: _Refusals) -> AuditEvent:
    since = entry.since.isoformat(timespec="seconds").replace("+00:00", "Z")
    more = "more " if entry.first_sent else ""
    text = (f"{entry.count} {more}refusal{'s' if entry.count != 1 else ''} of {entry.host} "
            f"since {since}: {entry.reason}")
    return AuditEvent(Operation.ASSOCIATION_REFUSED, Outcome.MINOR_FAILURE, text,
                      objects=(_node(entry.host, text),),
                      participants=(remote(entry.host, subject=entry.subject),))


def _capped(text: str | None, limit: int = NAME_CHARACTERS) -> str | None:
    """``text`` with control characters replaced and at most ``limit`` characters (a
    marker says it was cut)."""
    if text is None:
        return None
    clean = _CONTROL.sub("\ufffd", text)
    if len(clean) > limit:
        clean = clean[:limit - len(_CUT)] + _CUT
    return clean


def _who(assoc: Any) -> tuple[str, str | None, str | None]:
    """The requestor's address, AE title and certificate subject."""
    from dicomsec.transport import tls

    info = assoc.requestor.address_info
    host = str(info.address) if info is not None else "?"
    aet = (assoc.requestor.ae_title or "").strip() or None
    sock = getattr(getattr(assoc.dul, "socket", None), "socket", None)
    subject = None
    if sock is not None and hasattr(sock, "getpeercert"):
        try:
            subject = tls.negotiated(sock)["peer"]
        except (OSError, ValueError):
            subject = None
    return host, _capped(aet), _capped(subject)


def _user_identity_event(identity: Any, host: str, aet: str | None) -> AuditEvent:
    """USER_AUTHENTICATION for a user identity the SCP does not verify: the user name of types
    1 and 2, never the passcode (secondary field) or a token."""
    kind = int(getattr(identity, "user_identity_type", 0) or 0)
    user = None
    if kind in (1, 2):
        primary = identity.primary_field or b""
        user = _capped((primary.decode("utf-8", "replace") if isinstance(primary, bytes)
                        else str(primary)).strip()) or None
    what = _IDENTITY_KINDS.get(kind, f"type {kind}")
    description = (f"user identity ({what}) from {aet or host} not verified: the SCP "
                   "authenticates peers by their TLS certificate only")
    return AuditEvent(Operation.USER_AUTHENTICATION, Outcome.MINOR_FAILURE, description,
                      participants=(Participant(user or f"{what} from {aet or host}",
                                                alternative_user_id=(f"AETITLES={aet}"
                                                                     if aet else None),
                                                is_requestor=True,
                                                network_access_point=host),))
