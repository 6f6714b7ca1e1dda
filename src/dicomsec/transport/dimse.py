"""DIMSE over TLS (PS3.15 B.12 / B.13) with pynetdicom: a Storage SCP, a Storage SCU and C-ECHO.

The contexts come from :mod:`dicomsec.transport.tls`; the profile's OpenSSL configuration must
be arranged before ``ssl`` is imported (the command line tool does this).

**SCP.** pynetdicom wraps an accepted socket in its accept loop, so one client that connects
and sends nothing blocks every other client, and a failed handshake leaves no trace. Here the
accept loop only wraps the socket (``do_handshake_on_connect=False``, with a timeout); the
handshake, the profile's certificate policy (``PolicySSLSocket``) and the rejection log run in
the connection's own thread. Each received instance is written atomically as a Part 10 file
named by its SOP Instance UID, holding the data set bytes exactly as the SCU sent them.

**SCU.** Files are sent without being decoded (the data set bytes as stored in the file), over
one association whose presentation contexts are the files' (SOP Class, Transfer Syntax) pairs.
A TLS failure on either side ends in A-P-ABORT (provider reason 0, reason-not-specified): it is
never an A-ASSOCIATE-RJ. A TLS 1.3 client whose certificate the server refuses sees a complete
handshake and learns of the refusal only at the first read.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import threading
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from dicomsec.errors import DicomSecError, InvalidInput, PolicyViolation, VerificationFailed
from dicomsec.report import Report
from dicomsec.transport import tls
from dicomsec.transport._audit import (
    ScpAudit,
    StudyFacts,
    Transfers,
    file_facts,
    refused_event,
    remote,
    study_facts,
    study_objects,
    transfer_events,
)
from dicomsec.transport._groupcommit import Content, FileRange, GroupCommit, WrittenFile
from dicomsec.transport._part10 import (
    UID_PREFIX,
    dataset_uids,
    encode_file_meta,
    read_file_meta,
)
from dicomsec.transport._pynetdicom import (
    MAX_CONTROL_PDU,
    SPOOL_MEMORY,
    SPOOL_MEMORY_TOTAL,
    WINDOW,
    CheapCopyContexts,
    DataSetSpool,
    MemoryBudget,
    PduLimits,
    SpoolPolicy,
    TlsFailures,
    agreed_window,
    context_id_for,
    event_driven,
    event_driven_requestor,
    failures,
    handshake_in_worker_server,
    propose_window,
    reactor_paused,
    receive_c_store_reply,
    send_c_store_file,
    set_nodelay,
)

if TYPE_CHECKING:
    import ssl

    from pynetdicom.association import Association
    from pynetdicom.events import Event

    from dicomsec.events import AuditHandler
    from dicomsec.trust import TrustStore

_log = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_CALLED_AET",
    "DEFAULT_CALLING_AET",
    "DEFAULT_SCP_AET",
    "DUPLICATE_POLICIES",
    "MAX_WINDOW",
    "DimseServer",
    "EchoReport",
    "ScpEvent",
    "SendReport",
    "StoreResult",
    "collect_files",
    "echo",
    "make_scp",
    "send_files",
]

DEFAULT_SCP_AET = "DICOMSEC"
#: the largest ``window`` of :func:`send_files`, and what our SCP agrees to at most
MAX_WINDOW = WINDOW
DEFAULT_CALLING_AET = "DICOMSEC_SCU"
DEFAULT_CALLED_AET = "ANY-SCP"
#: presentation contexts one association can propose (PS3.8: odd context IDs 1-255)
MAX_CONTEXTS = 128

_UID = re.compile(r"[0-9]+(\.[0-9]+)*")
_STATUS_OUT_OF_RESOURCES = 0xA700
_STATUS_CANNOT_UNDERSTAND = 0xC000
#: PS3.4 B.2.3: the data set does not match the SOP class (here: its SOP Class or SOP
#: Instance UID is not the C-STORE command's Affected one)
_STATUS_DATASET_MISMATCH = 0xA900
#: PS3.7 C.4.2.1.x general status: duplicate SOP Instance (duplicate policy ``reject``)
_STATUS_DUPLICATE = 0x0111
#: what the SCP does with an instance it has stored already (``make_scp(duplicates=...)``)
DUPLICATE_POLICIES = ("reject", "keep-both", "replace")
#: the most copies ``keep-both`` keeps of one instance (``<uid>.dcm``, ``<uid>_1.dcm``, ...)
_MAX_COPIES = 1000
_WARNING_STATUSES = frozenset({0x0001, 0xB000, 0xB006, 0xB007})
_NO_RESPONSE = "no response (association aborted or timed out)"
#: the default largest P-DATA PDU our SCP accepts (``limits.Limits.pdu_bytes``, which
#: :func:`make_scp` reads): a small instance travels in one PDU, not three of pynetdicom's
#: default 16 KiB (each PDU is a round of both DUL reactors)
MAX_PDU_SIZE = 1 << 20

#: seconds a connected peer may stay silent in the middle of its PDUs (``network_timeout``)
READ_TIMEOUT = 60.0
#: seconds a peer has to send its A-ASSOCIATE-RQ after the TLS handshake (``acse_timeout``)
ACSE_TIMEOUT = 30.0


# ------------------------------------------------------------------------------------------
# SCP


_EVENT_FAILURES = frozenset({"rejected", "store-failed", "aborted"})


@dataclass(frozen=True, slots=True)
class ScpEvent(Report):
    """Something the SCP did, for logs and audit.

    ``kind`` is one of ``listening``, ``connected`` (TLS established: ``tls_version``,
    ``cipher``, ``detail`` = peer subject), ``rejected`` (TLS refused or failed before any PDU;
    ``detail`` = reason), ``stored`` (``path``), ``store-failed``, ``echo``, ``released``,
    ``aborted`` (A-ABORT or A-P-ABORT, e.g. after a TLS integrity failure). ``ok`` is false
    for ``rejected``, ``store-failed`` and ``aborted``.
    """

    schema: ClassVar[str] = "dicomsec.transport.scp_event/1"

    kind: str
    peer: str
    detail: str = ""
    tls_version: str | None = None
    cipher: str | None = None
    path: Path | None = None
    calling_aet: str | None = None

    @property
    def ok(self) -> bool:
        return self.kind not in _EVENT_FAILURES

    def summary(self) -> str:
        text = f"{'OK' if self.ok else 'FAILED'} {self.kind} peer={self.peer}"
        if self.calling_aet:
            text += f" aet={self.calling_aet}"
        if self.tls_version:
            text += f" tls={self.tls_version} cipher={self.cipher or '?'}"
        if self.path is not None:
            text += f" path={self.path}"
        return text + (f" detail={self.detail!r}" if self.detail else "")

    def _content(self) -> dict[str, Any]:
        return {"kind": self.kind, "peer": self.peer, "detail": self.detail,
                "tls_version": self.tls_version, "cipher": self.cipher,
                "path": None if self.path is None else str(self.path),
                "calling_aet": self.calling_aet}


EventCallback = Callable[[ScpEvent], None]


def _peer(address: Any) -> str:
    if isinstance(address, tuple) and len(address) >= 2:
        host = str(address[0])
        return f"[{host}]:{address[1]}" if ":" in host else f"{host}:{address[1]}"
    return str(address)


@dataclass
class DimseServer:
    """A running SCP (``make_scp``): serves in a background thread until :meth:`shutdown`."""

    server: Any
    context: ssl.SSLContext | None
    profile: str
    ae_title: str
    out_dir: Path
    _thread: threading.Thread
    #: the audit of a server made with handlers (APPLICATION_STOP once, at shutdown)
    _audit: ScpAudit | None = None

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    @property
    def host(self) -> str:
        return str(self.server.server_address[0])

    def shutdown(self, timeout: float = 10.0) -> None:
        """Stop accepting, abort the associations still open and wait for their threads (a
        store in progress finishes or leaves nothing behind)."""
        import socket
        import time

        deadline = time.monotonic() + timeout
        active = list(self.server.active_associations)
        with contextlib.suppress(Exception):
            self.server.shutdown()
        for assoc in active:
            if assoc.is_established:  # an A-ABORT is no event before the association exists
                with contextlib.suppress(Exception):
                    assoc.abort()
            with contextlib.suppress(Exception):  # wake a thread blocked in recv()
                assoc.dul.socket.socket.shutdown(socket.SHUT_RDWR)
            # an acceptor still waiting (up to the ACSE timeout) for its A-ASSOCIATE-RQ, e.g.
            # after a bare TLS handshake from a scanner, takes None as "timed out" and ends
            with contextlib.suppress(Exception):
                assoc.dul.to_user_queue.put(None)
        for assoc in active:
            assoc.join(max(0.0, deadline - time.monotonic()))
        self._thread.join(max(0.0, deadline - time.monotonic()))
        audit, self._audit = self._audit, None
        if audit is not None:
            for assoc in active:  # one whose end no event reported
                audit.finished(assoc)
            # the queue drained (bounded), then APPLICATION_STOP
            audit.stop(f"scp {self.ae_title} stopped")

    def __enter__(self) -> DimseServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()


def _requestor(event: Event) -> str:
    info = event.assoc.requestor.address_info
    return _peer(info.as_tuple) if info is not None else "?"


def _meta_bytes(assoc: Association, transfer_syntax: str, request: Any) -> bytes:
    """Preamble and file meta information for a received data set: the elements pynetdicom's
    ``event.file_meta`` has, plus the caller's AE title as Source Application Entity Title."""
    from pynetdicom import PYNETDICOM_IMPLEMENTATION_UID, PYNETDICOM_IMPLEMENTATION_VERSION

    return encode_file_meta(
        str(request.AffectedSOPClassUID), str(request.AffectedSOPInstanceUID),
        transfer_syntax, str(PYNETDICOM_IMPLEMENTATION_UID),
        PYNETDICOM_IMPLEMENTATION_VERSION, assoc.requestor.ae_title or None)


def _file_meta_bytes(event: Event) -> bytes:
    return _meta_bytes(event.assoc, str(event.context.transfer_syntax), event.request)


def _spool_head(assoc: Association, context_id: int, request: Any) -> bytes:
    """What a spooled data set's file starts with: the same bytes as :func:`_file_meta_bytes`
    gives its store (which compares them, and copies the data set if they differ)."""
    context = assoc._accepted_cx[context_id]
    return _meta_bytes(assoc, str(context.transfer_syntax[0]), request)


def _prefix(data: Any) -> bytes:
    """The first bytes of a received data set (``UID_PREFIX``)."""
    if isinstance(data, DataSetSpool):
        return data.prefix(UID_PREFIX)
    with data.getbuffer() as view:
        return bytes(view[:UID_PREFIX])


def _content(head: bytes, data: Any) -> Content:
    """What the store writes: the spool file as it is when it starts with ``head``, else
    ``head`` and the data set (copied in the kernel from a spool file)."""
    if not isinstance(data, DataSetSpool):
        return (head, data.getbuffer())
    if data.error is not None:
        raise data.error
    if not data.spilled:
        return (head, data.view())
    if data.head == head:
        return WrittenFile(data.fd, data.tmp)
    return (head, FileRange(data.fd, len(data.head), data.size))


def _mismatch(event: Event, request: Any, uid: str) -> str | None:
    """Why the data set does not belong to the C-STORE request (``None``: it does): its SOP
    Class and SOP Instance UIDs must be the command's Affected ones."""
    found = dataset_uids(_prefix(request.DataSet), str(event.context.transfer_syntax))
    if found is None:
        return f"{uid}: data set has no readable SOP Class / SOP Instance UID"
    sop_class, sop_instance = found
    if sop_instance != uid:
        return (f"{uid}: data set's SOP Instance UID {sop_instance[:70]!r} differs from "
                "the command's Affected SOP Instance UID")
    affected = str(getattr(request, "AffectedSOPClassUID", "") or "").rstrip("\0 ")
    if sop_class != affected:
        return (f"{uid}: data set's SOP Class UID {sop_class[:70]!r} differs from the "
                f"command's Affected SOP Class UID {affected[:70]!r}")
    return None


def _commit_store(committer: GroupCommit, out_dir: Path, uid: str, parts: Content,
                  duplicates: str) -> Path | None:
    """Store one received instance under the duplicate policy; the path, or ``None`` when
    the policy is ``reject`` and the instance exists.

    Raises:
        OSError: the file could not be written (nothing is left).
    """
    if duplicates == "replace":
        committer.store(out_dir / f"{uid}.dcm", parts)
        return out_dir / f"{uid}.dcm"
    for n in range(_MAX_COPIES if duplicates == "keep-both" else 1):
        target = out_dir / (f"{uid}.dcm" if n == 0 else f"{uid}_{n}.dcm")
        if target.exists() or target.is_symlink():
            continue
        try:  # linked into place: a store racing with this one never replaces it either
            committer.store(target, parts, replace=False)
        except FileExistsError:
            continue
        return target
    if duplicates == "keep-both":
        raise OSError(f"{_MAX_COPIES} copies of this instance are stored already")
    return None


def _facts(event: Event, request: Any) -> StudyFacts:
    """Study and patient of a received data set, for the audit (unknown when unreadable)."""
    try:
        return study_facts(_file_meta_bytes(event), _prefix(request.DataSet))
    except Exception:
        return StudyFacts()


def _store_handler(out_dir: Path, emit: EventCallback, committer: GroupCommit,
                   duplicates: str = "reject",
                   audit: ScpAudit | None = None) -> Callable[[Event], int]:
    def handle(event: Event) -> int:
        try:
            return store(event)
        finally:  # a spooled data set's file is gone now, unless it was linked into place
            data = getattr(event.request, "DataSet", None)
            if isinstance(data, DataSetSpool):
                data.close()

    def store(event: Event) -> int:
        peer = _requestor(event)
        request: Any = event.request
        uid = str(getattr(request, "AffectedSOPInstanceUID", "") or "").rstrip("\0 ")
        calling = event.assoc.requestor.ae_title
        sop_class = str(getattr(request, "AffectedSOPClassUID", "") or "").rstrip("\0 ")

        def failed(detail: str, status: int) -> int:
            emit(ScpEvent("store-failed", peer, detail, calling_aet=calling))
            if audit is not None:
                audit.stored(event.assoc, _facts(event, request), sop_class, uid[:64],
                             detail)
            return status

        if not _UID.fullmatch(uid) or len(uid) > 64:
            return failed(f"invalid SOP Instance UID {uid[:70]!r}", _STATUS_CANNOT_UNDERSTAND)
        spooled = getattr(request, "DataSet", None)
        if isinstance(spooled, DataSetSpool) and spooled.error is not None:
            # the spool could not be written (disk full, folder gone): not the peer's fault
            return failed(f"{uid}: {spooled.error.strerror or spooled.error}",
                          _STATUS_OUT_OF_RESOURCES)
        facts = _facts(event, request) if audit is not None else None
        try:
            mismatch = _mismatch(event, request, uid)
            if mismatch is not None:
                return failed(mismatch, _STATUS_DATASET_MISMATCH)
            # the data set as the SCU sent it (from memory, or its spool file linked as it
            # is); durable (fsynced, linked, folder fsynced) before the status goes out
            content = _content(_file_meta_bytes(event), request.DataSet)
            target = _commit_store(committer, out_dir, uid, content, duplicates)
        except OSError as exc:
            return failed(f"{uid}: {exc.strerror or exc}", _STATUS_OUT_OF_RESOURCES)
        except Exception as exc:  # a malformed request from the peer
            return failed(f"{uid}: {type(exc).__name__}: {exc}", _STATUS_CANNOT_UNDERSTAND)
        if target is None:
            return failed(f"{uid}: instance exists already (duplicates: reject)",
                          _STATUS_DUPLICATE)
        emit(ScpEvent("stored", peer, uid, path=target, calling_aet=calling))
        if audit is not None and facts is not None:
            audit.stored(event.assoc, facts, sop_class, uid)
        return 0x0000

    return handle


def _quiet_pydicom() -> None:
    """A peer's malformed values (UIDs, truncated data sets) make pydicom warn in several
    lines on stderr: the SCP and the SCU report each event in one line (their own)."""
    warnings.filterwarnings("ignore", category=UserWarning, module=r"pydicom(\.|$)")


def _scp_handlers(out: Path, emit: EventCallback, duplicates: str = "reject", *,
                  max_pdata: int = MAX_PDU_SIZE, max_control: int = MAX_CONTROL_PDU,
                  spool_bytes: int = SPOOL_MEMORY,
                  spool_total: int = SPOOL_MEMORY_TOTAL,
                  audit: ScpAudit | None = None) -> list[Any]:
    """pynetdicom event handlers of the SCP: stores, echoes, and the events it reports;
    PDUs are bounded by ``max_pdata`` (P-DATA, or the maximum negotiated when lower) and
    ``max_control`` (any other PDU, and any before the association); a received data set is
    held in memory up to ``spool_bytes``, all of them together up to ``spool_total``."""
    from pynetdicom import evt

    _quiet_pydicom()
    # one memory budget for all associations
    spool = SpoolPolicy(out, _spool_head, memory_bytes=spool_bytes,
                        budget=MemoryBudget(spool_total))

    def on_open(event: Event) -> None:
        peer = _peer(getattr(event, "address", None))

        def dropped(reason: str, established: bool) -> None:
            emit(ScpEvent("aborted", peer, reason,
                          calling_aet=event.assoc.requestor.ae_title if established else None))

        limits = PduLimits(max_pdata, dropped, max_control)  # what make_scp announces
        # before pynetdicom starts the association's threads
        event_driven(event.assoc, limits, spool)

    def on_echo(event: Event) -> int:
        emit(ScpEvent("echo", _requestor(event),
                      calling_aet=event.assoc.requestor.ae_title))
        return 0x0000

    def on_released(event: Event) -> None:
        emit(ScpEvent("released", _requestor(event),
                      calling_aet=event.assoc.requestor.ae_title))

    log = failures()

    def on_aborted(event: Event) -> None:
        reason = log.take(event.assoc.dul.ident)
        if getattr(event.assoc.dul, "dropped", None):
            return  # reported with its reason when the connection was dropped
        detail = (f"A-P-ABORT after a transport failure: {reason}" if reason
                  else "association aborted (A-ABORT or A-P-ABORT)")
        emit(ScpEvent("aborted", _requestor(event), detail,
                      calling_aet=event.assoc.requestor.ae_title))

    handlers = [
        (evt.EVT_C_STORE, _store_handler(out, emit, GroupCommit(), duplicates, audit)),
        (evt.EVT_C_ECHO, on_echo),
        (evt.EVT_CONN_OPEN, on_open),
        (evt.EVT_RELEASED, on_released),
        (evt.EVT_ABORTED, on_aborted),
    ]
    if audit is not None:  # after ours: an association's end is reported first
        handlers += [
            (evt.EVT_ACCEPTED, lambda event: audit.accepted(event.assoc)),
            (evt.EVT_REJECTED, lambda event: audit.rejected(event.assoc)),
            (evt.EVT_RELEASED, lambda event: audit.finished(event.assoc)),
            (evt.EVT_ABORTED, lambda event: audit.finished(event.assoc)),
            (evt.EVT_CONN_CLOSE, lambda event: audit.finished(event.assoc)),
        ]
    return handlers


def _check_scp_options(out: Path, duplicates: str, network_timeout: float,
                       acse_timeout: float = ACSE_TIMEOUT) -> Path:
    if duplicates not in DUPLICATE_POLICIES:
        raise InvalidInput(f"duplicate policy must be one of {', '.join(DUPLICATE_POLICIES)}")
    if not network_timeout > 0:
        raise InvalidInput("network timeout must be positive")
    if not acse_timeout > 0:
        raise InvalidInput("ACSE timeout must be positive")
    if not out.is_dir():
        raise InvalidInput("output folder does not exist", path=str(out))
    if not os.access(out, os.W_OK | os.X_OK):
        raise InvalidInput("output folder is not writable", path=str(out))
    return out


def _scp_ae(ae_title: str, max_associations: int, network_timeout: float, *,
            acse_timeout: float = ACSE_TIMEOUT, max_pdu: int = MAX_PDU_SIZE) -> Any:
    """The SCP's AE: every storage SOP class and Verification, in every transfer syntax;
    announces ``max_pdu`` as its maximum PDU length; the ACSE timeout is at most the network
    timeout."""
    from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, AllStoragePresentationContexts
    from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]

    ae = AE(ae_title=ae_title)
    ae.maximum_associations = max_associations
    ae.maximum_pdu_size = max_pdu
    ae.network_timeout = network_timeout
    ae.acse_timeout = min(acse_timeout, network_timeout)
    for cx in AllStoragePresentationContexts:
        if cx.abstract_syntax is not None:
            ae.add_supported_context(cx.abstract_syntax, ALL_TRANSFER_SYNTAXES)
    ae.add_supported_context(Verification, ALL_TRANSFER_SYNTAXES)
    return ae


def _require_offered(ctx: ssl.SSLContext, prof: tls.TlsProfile) -> None:
    """Refuse a context that does not offer every suite of the profile.

    Raises:
        PolicyViolation: the OpenSSL configuration was not arranged before ``ssl`` was
            imported (some suites are missing).
    """
    missing = tls.missing_suites(ctx, prof.name)
    if missing:
        raise PolicyViolation(
            f"profile {prof.name} cannot be offered: missing {', '.join(missing)}",
            hint="the profile's OpenSSL configuration (OPENSSL_CONF) must be in place before "
                 "the ssl module is imported; the dicomsec command does this itself")


def make_scp(
    profile: str,
    certs_and_keys: Sequence[tuple[Path, Path]],
    trust: TrustStore,
    out_dir: Path,
    *,
    require_client_cert: bool = True,
    ae_title: str = DEFAULT_SCP_AET,
    host: str = "0.0.0.0",  # noqa: S104 - an SCP listens on every interface unless told
    port: int = tls.DIMSE_TLS_PORT,
    handshake_timeout: float = 5.0,
    max_associations: int = 32,
    on_event: EventCallback | None = None,
    context: ssl.SSLContext | None = None,
    key_password: bytes | None = None,
    require_profile_config: bool = True,
    duplicates: str = "reject",
    network_timeout: float = READ_TIMEOUT,
    acse_timeout: float = ACSE_TIMEOUT,
    handlers: Iterable[AuditHandler] | None = None,
) -> DimseServer:
    """Start a Storage SCP (all storage SOP classes, every transfer syntax) plus Verification
    over TLS under ``profile``; returns once it listens (``port=0``: any free port).

    A C-STORE is refused (status 0xA900, nothing stored) unless the data set's SOP Class and
    SOP Instance UIDs are the command's. An instance stored already is handled by
    ``duplicates``: ``reject`` (status 0x0111), ``keep-both`` (stored as ``<uid>_<n>.dcm``) or
    ``replace``. A PDU declaring more than the maximum PDU length we announced (P-DATA) or
    64 KiB (any other, and any before the association) is refused with an A-ABORT before its
    body is read. A peer silent for ``network_timeout`` seconds is dropped, and one that sends no
    A-ASSOCIATE-RQ within ``acse_timeout`` seconds (at most ``network_timeout``). Every drop is
    an ``aborted`` event with its reason.

    Bounds are :func:`dicomsec.limits.current`'s when this is called: ``pdu_bytes`` is the
    maximum PDU length we announce and bounds P-DATA (or our A-ASSOCIATE-AC's, when lower),
    ``association_pdu_bytes`` every other PDU; data sets over ``spool_bytes`` (or beyond
    ``spool_total_bytes`` in all) are spooled into unnamed files in ``out_dir``.

    ``handlers`` get the audit events listed in :mod:`dicomsec.transport._audit` (one that
    raises never breaks an association); APPLICATION_STOP comes at :meth:`DimseServer.shutdown`.

    Raises:
        InvalidInput: unusable certificates, keys, trust anchors or output folder.
        PolicyViolation: the profile's suites are not all offered (OpenSSL configured late).
    """
    from dicomsec import limits

    prof = tls.profile(profile)
    out = _check_scp_options(Path(out_dir), duplicates, network_timeout, acse_timeout)
    bounds = limits.current()  # read once: the server's threads do not see this context
    ctx = context or tls.server_context(prof.name, certs_and_keys, trust,
                                        require_client_cert=require_client_cert,
                                        key_password=key_password)
    if require_profile_config:
        _require_offered(ctx, prof)

    def emit(event: ScpEvent) -> None:
        if on_event is not None:
            with contextlib.suppress(Exception):
                on_event(event)

    listeners = tuple(handlers or ())
    audit = ScpAudit(listeners) if listeners else None

    ae = _scp_ae(ae_title, max_associations, network_timeout, acse_timeout=acse_timeout,
                 max_pdu=bounds.pdu_bytes)
    evt_handlers = _scp_handlers(out, emit, duplicates, max_pdata=bounds.pdu_bytes,
                                 max_control=bounds.association_pdu_bytes,
                                 spool_bytes=bounds.spool_bytes,
                                 spool_total=bounds.spool_total_bytes, audit=audit)
    server, thread = _serve(ae, (host, port), ctx, evt_handlers, emit, audit,
                            handshake_timeout=handshake_timeout, read_timeout=network_timeout)
    handle = DimseServer(server, ctx, prof.name, ae_title, out, thread, audit)
    emit(ScpEvent("listening", _peer((handle.host, handle.port)), prof.title))
    if audit is not None:
        audit.application(True, f"scp {ae_title} listening on "
                          f"{_peer((handle.host, handle.port))} ({prof.title})")
    return handle


def _serve(ae: Any, address: tuple[str, int], ctx: ssl.SSLContext | None,
           evt_handlers: list[Any], emit: EventCallback, audit: ScpAudit | None, *,
           handshake_timeout: float, read_timeout: float) -> tuple[Any, threading.Thread]:
    """Make the SCP's server (the handshake in the worker thread, its outcome reported to
    ``emit`` and a refusal to ``audit``) and serve in a background thread."""
    server: Any = ae.make_server(address, ssl_context=ctx, evt_handlers=evt_handlers,
                                 server_class=handshake_in_worker_server())
    server.handshake_timeout = handshake_timeout
    server.read_timeout = read_timeout
    server.contexts = CheapCopyContexts(server.contexts)

    def report(kind: str, peer: Any, detail: str, info: dict[str, Any]) -> None:
        emit(ScpEvent(kind, _peer(peer), detail, tls_version=info.get("version"),
                      cipher=info.get("cipher")))
        if kind == "rejected" and audit is not None:
            audit.tls_refused(peer, detail, tls.take_refused_subject())

    server.report = report
    ae._servers.append(server)  # as start_server() does, so that shutdown() finds it
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2},
                              name=f"dicomsec-scp-{address[1]}", daemon=True)
    thread.start()
    return server, thread


# ------------------------------------------------------------------------------------------
# SCU


@dataclass(frozen=True, slots=True)
class _Instance:
    path: Path
    sop_class: str
    sop_instance: str
    transfer_syntax: str
    offset: int  # where the data set starts in the file


def _status_text(status: int | None) -> str:
    return "none" if status is None else f"0x{status:04X}"


@dataclass(frozen=True, slots=True)
class StoreResult(Report):
    """The outcome of one C-STORE: ``ok`` for status 0 (success) or a warning status, in a
    response naming the instance sent (else ``error`` says why)."""

    schema: ClassVar[str] = "dicomsec.transport.store/1"

    path: Path
    sop_instance_uid: str
    status: int | None  # None: no response (not sent, or the association ended)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and self.error is None and (
            self.status == 0 or self.status in _WARNING_STATUSES)

    def summary(self) -> str:
        verdict = "STORED" if self.ok else "FAILED"
        text = (f"{verdict} {self.path} uid={self.sop_instance_uid} "
                f"status={_status_text(self.status)}")
        return text + (f" error={self.error!r}" if self.error else "")

    def _content(self) -> dict[str, Any]:
        return {"path": str(self.path), "sop_instance_uid": self.sop_instance_uid,
                "status": self.status, "error": self.error}

    def _failure(self) -> DicomSecError:
        return VerificationFailed(f"C-STORE of {self.path} failed: "
                                  f"{self.error or 'status ' + _status_text(self.status)}")


@dataclass(frozen=True, slots=True)
class SendReport(Report):
    """What ``send_files`` did: one result per file, the TLS parameters, and the reason the
    association failed, if it did. ``ok`` when every file was stored over an association
    that did not fail."""

    schema: ClassVar[str] = "dicomsec.transport.send/1"

    results: tuple[StoreResult, ...] = ()
    tls_version: str | None = None
    cipher: str | None = None
    peer: str | None = None
    failure: str | None = None  # association-level: rejected, aborted, TLS failure
    aborted: bool = False

    @property
    def stored(self) -> int:
        return sum(1 for r in self.results if r.ok)

    @property
    def failed(self) -> int:
        return len(self.results) - self.stored

    @property
    def ok(self) -> bool:
        return self.failure is None and self.failed == 0

    def summary(self) -> str:
        text = (f"{'OK' if self.ok else 'FAILED'} send peer={self.peer or '?'} "
                f"stored={self.stored} failed={self.failed} tls={self.tls_version or '?'} "
                f"cipher={self.cipher or '?'}")
        return text + (f" failure={self.failure!r}" if self.failure else "")

    def _content(self) -> dict[str, Any]:
        return {"peer": self.peer, "tls_version": self.tls_version, "cipher": self.cipher,
                "stored": self.stored, "failed": self.failed, "failure": self.failure,
                "aborted": self.aborted,
                "results": [{"ok": r.ok, **r._content()} for r in self.results]}


@dataclass(frozen=True, slots=True)
class EchoReport(Report):
    """The outcome of a C-ECHO: ``ok`` when the association was accepted and the status is 0."""

    schema: ClassVar[str] = "dicomsec.transport.echo/1"

    status: int | None
    tls_version: str | None = None
    cipher: str | None = None
    peer: str | None = None
    failure: str | None = None

    @property
    def ok(self) -> bool:
        return self.failure is None and self.status == 0

    def summary(self) -> str:
        text = (f"{'OK' if self.ok else 'FAILED'} echo peer={self.peer or '?'} "
                f"status={_status_text(self.status)} tls={self.tls_version or '?'} "
                f"cipher={self.cipher or '?'}")
        return text + (f" failure={self.failure!r}" if self.failure else "")

    def _content(self) -> dict[str, Any]:
        return {"peer": self.peer, "status": self.status, "tls_version": self.tls_version,
                "cipher": self.cipher, "failure": self.failure}


def collect_files(paths: Iterable[Path]) -> tuple[list[Path], list[Path]]:
    """Files to send: named files, and every file under named folders (sorted, recursive).

    Returns ``(files, skipped)``: files inside folders that are not DICOM Part 10 files
    (no ``DICM`` prefix) are skipped. A named path that does not exist raises InvalidInput.
    """
    files: list[Path] = []
    skipped: list[Path] = []
    for p in paths:
        path = Path(p)
        if path.is_dir():
            for root, dirs, names in os.walk(path):
                dirs.sort()
                for name in sorted(names):
                    f = Path(root) / name
                    (files if _is_part10(f) else skipped).append(f)
        elif path.is_file():
            files.append(path)
        else:
            raise InvalidInput("no such file or folder", path=str(path))
    return files, skipped


def _is_part10(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            fh.seek(128)
            return fh.read(4) == b"DICM"
    except OSError:
        return False


def _read_instance(path: Path) -> _Instance:
    """What sending a file needs from its file meta information (read without pydicom when
    it is the usual kind, with pydicom otherwise).

    Raises:
        InvalidInput: unreadable, not Part 10, or lacking one of the three UIDs.
    """
    try:
        meta = read_file_meta(path)
    except OSError as exc:
        raise InvalidInput(f"cannot read: {exc.strerror or exc}", path=str(path)) from None
    if meta is not None:
        return _Instance(path, meta.sop_class, meta.sop_instance, meta.transfer_syntax,
                         meta.offset)
    return _read_instance_pydicom(path)


def _read_instance_pydicom(path: Path) -> _Instance:
    from pynetdicom.dsutils import split_dataset

    try:
        file_meta, offset = split_dataset(path)
    except OSError as exc:
        raise InvalidInput(f"cannot read: {exc.strerror or exc}", path=str(path)) from None
    except Exception as exc:
        raise InvalidInput(f"not a DICOM Part 10 file ({exc})", path=str(path)) from None
    values = []
    for keyword in ("MediaStorageSOPClassUID", "MediaStorageSOPInstanceUID", "TransferSyntaxUID"):
        value = str(file_meta.get(keyword, "") or "").rstrip("\0 ")
        if not value:
            raise InvalidInput(f"file meta information lacks {keyword}", path=str(path))
        values.append(value)
    return _Instance(path, values[0], values[1], values[2], offset)


def _tls_handler(into: dict[str, Any]) -> Callable[[Event], None]:
    def on_open(event: Event) -> None:
        sock = getattr(event.assoc.dul.socket, "socket", None)
        if sock is not None:
            set_nodelay(sock)
        if sock is not None and hasattr(sock, "cipher"):
            into.update(tls.negotiated(sock))

    return on_open


def _association_failure(assoc: Association, failures: TlsFailures) -> str:
    return _failure_text(assoc, failures.take(assoc.dul.ident))


def _refusal_of(assoc: Association, failures: TlsFailures,
                info: dict[str, Any]) -> tuple[str, bool]:
    """Why the association was not established, and whether that was a refusal: an
    A-ASSOCIATE-RJ, or the end (abort, TLS alert, closed connection) of the TLS session we
    started before any A-ASSOCIATE-AC. Decided from what happened (the TLS session was
    established: its parameters were seen; the handshake failed: the class of the exception
    pynetdicom logged, which :class:`TlsFailures` tags ``TLS:`` for an ``ssl.SSLError``),
    never from the failure's text; a TCP connection that could not be made is no refusal."""
    reason = failures.take(assoc.dul.ident)
    tls_failed = reason is not None and reason.startswith("TLS: ")
    refused = bool(assoc.is_rejected or info.get("version") or tls_failed)
    return _failure_text(assoc, reason), refused


def _failure_text(assoc: Association, reason: str | None) -> str:
    if assoc.is_rejected:
        return "association rejected (A-ASSOCIATE-RJ): check the AE titles and the SCP's limits"
    if reason and not reason.startswith("TLS"):
        return f"cannot connect: {reason} (A-P-ABORT)"
    if reason:
        return f"A-P-ABORT after a TLS failure: {reason.removeprefix('TLS: ')}"
    if assoc.is_aborted:
        return "association aborted (A-ABORT or A-P-ABORT)"
    return "no association (connection failed or timed out)"


def _associate(ae: Any, host: str, port: int, context: ssl.SSLContext, called_aet: str,
               server_hostname: str | None, info: dict[str, Any],
               ext_neg: list[Any] | None = None) -> Association:
    from pynetdicom import evt

    failures()
    assoc: Association = ae.associate(
        host, port, ae_title=called_aet, tls_args=(context, server_hostname or host),
        evt_handlers=[(evt.EVT_CONN_OPEN, _tls_handler(info))], ext_neg=ext_neg)
    return assoc


def _new_ae(calling_aet: str, timeout: float) -> Any:
    from pynetdicom import AE

    ae = AE(ae_title=calling_aet)
    ae.connection_timeout = timeout
    ae.acse_timeout = timeout
    ae.dimse_timeout = max(timeout, 30.0)
    ae.network_timeout = max(timeout, 60.0)
    event_driven_requestor(ae)
    return ae


def _prepare(paths: Iterable[Path]) -> list[_Instance]:
    files, _skipped = collect_files(paths)
    instances = [_read_instance(f) for f in files]
    if not instances:
        raise InvalidInput("no DICOM files to send")
    pairs = {(i.sop_class, i.transfer_syntax) for i in instances}
    if len(pairs) > MAX_CONTEXTS:
        raise InvalidInput(f"{len(pairs)} distinct SOP Class / Transfer Syntax pairs; one "
                           f"association carries at most {MAX_CONTEXTS}")
    return instances


def send_files(
    paths: Iterable[Path],
    host: str,
    port: int,
    context: ssl.SSLContext,
    *,
    called_aet: str = DEFAULT_CALLED_AET,
    calling_aet: str = DEFAULT_CALLING_AET,
    server_hostname: str | None = None,
    timeout: float = 30.0,
    on_result: Callable[[StoreResult], None] | None = None,
    window: int = 1,
    handlers: Iterable[AuditHandler] | None = None,
) -> SendReport:
    """C-STORE the files (folders recursively) over one TLS association.

    The data sets go out as stored in the files (not decoded and re-encoded); the presentation
    contexts are the files' (SOP Class, Transfer Syntax) pairs, at most 128.

    ``window`` > 1 proposes an Asynchronous Operations Window (PS3.7 D.3.3.3) and keeps up to
    that many C-STOREs outstanding (at most 8) if the SCP agrees (``dicomsec scp`` does; most
    SCPs answer 1). The price: when the association breaks, the files whose responses were
    lost are reported as failed ("no response") although the SCP may have stored them.

    ``handlers`` get the audit events (:mod:`dicomsec.events`): BEGIN_TRANSFER per study once
    the association is established, INSTANCES_SENT per study at the end (outcome 4 for the
    instances not stored, with the reason), and ASSOCIATION_REFUSED when TLS with the SCP
    failed or the SCP rejected the association.

    Raises:
        InvalidInput: a named path is missing, a file is not a readable Part 10 file, there
            are no files, or more than 128 distinct (SOP Class, Transfer Syntax) pairs.
    """
    instances = _prepare(paths)
    listeners = tuple(handlers or ())
    _quiet_pydicom()
    ae = _new_ae(calling_aet, timeout)
    for sop_class, ts in sorted({(i.sop_class, i.transfer_syntax) for i in instances}):
        ae.add_requested_context(sop_class, ts)
    info: dict[str, Any] = {}
    peer = f"{host}:{port}"
    log = failures()
    assoc = _associate(ae, host, port, context, called_aet, server_hostname, info,
                       [propose_window(window)] if window > 1 else None)
    version, cipher = info.get("version"), info.get("cipher")
    if not assoc.is_established:
        why, refused = _refusal_of(assoc, log, info)
        report = SendReport(tuple(StoreResult(i.path, i.sop_instance, None, "not sent")
                                  for i in instances), version, cipher, peer, why,
                            assoc.is_aborted)
        if listeners:
            _audit_send(listeners, instances, report, called_aet, host, info,
                        refused=refused)
        return report
    facts = _audit_begin(listeners, instances, called_aet, host, info) if listeners else None
    results = _store_all(assoc, instances, on_result, window)
    failure: str | None = None
    if len(results) < len(instances) or any(r.error == _NO_RESPONSE for r in results):
        failure = _association_failure(assoc, log)
        for inst in instances[len(results):]:
            result = StoreResult(inst.path, inst.sop_instance, None, "not sent")
            results.append(result)
            if on_result is not None:
                on_result(result)
    report = SendReport(tuple(results), version, cipher, peer, failure,
                        assoc.is_aborted if failure else False)
    if listeners:
        _audit_send(listeners, instances, report, called_aet, host, info, facts=facts)
    return report


def _destination(called_aet: str, host: str, info: dict[str, Any]) -> Any:
    return remote(host, ae_title=called_aet, subject=info.get("peer"), requestor=False,
                  roles=("110152",))


def _audit_begin(handlers: tuple[AuditHandler, ...], instances: Sequence[_Instance],
                 called_aet: str, host: str, info: dict[str, Any]) -> list[StudyFacts] | None:
    """BEGIN_TRANSFER per study (never raises); the facts of each instance (``None`` when
    they could not be read)."""
    from dicomsec.events import AuditEvent, Operation, emit

    try:
        found = [file_facts(inst.path) for inst in instances]
        studies: dict[StudyFacts, int] = {}
        for facts in found:
            studies[facts] = studies.get(facts, 0) + 1
        for facts, count in studies.items():
            emit(handlers, AuditEvent(
                Operation.BEGIN_TRANSFER,
                description=f"sending {count} instance{'s' if count != 1 else ''} to "
                            f"{called_aet}@{host}",
                objects=tuple(study_objects(facts)),
                participants=(_destination(called_aet, host, info),)))
    except Exception as exc:
        _log.warning("audit of the transfer's begin failed: %s: %s", type(exc).__name__, exc)
        return None
    return found


def _audit_send(handlers: tuple[AuditHandler, ...], instances: Sequence[_Instance],
                report: SendReport, called_aet: str, host: str, info: dict[str, Any], *,
                refused: bool = False, facts: list[StudyFacts] | None = None) -> None:
    """INSTANCES_SENT per study, after ASSOCIATION_REFUSED when the association was refused
    (TLS with the SCP failed, or an A-ASSOCIATE-RJ); never raises."""
    from dicomsec.events import Operation, emit

    failure = report.failure or ""
    destination = _destination(called_aet, host, info)

    def flush(transfers: Transfers) -> None:
        for event in transfer_events(transfers, Operation.INSTANCES_SENT, destination,
                                     f"sent to {called_aet}@{host}"):
            emit(handlers, event)

    try:
        if refused:
            emit(handlers, refused_event(host, failure, ae_title=called_aet,
                                         subject=info.get("peer"), requestor=False))
        transfers = Transfers()
        known = facts or [file_facts(inst.path) for inst in instances]
        for inst, result, study in zip(instances, report.results, known, strict=False):
            error = None if result.ok else (
                failure if result.error == "not sent" and failure else result.error or "failed")
            transfers.add(study, inst.sop_class, inst.sop_instance, error)
            if transfers.full():
                flush(transfers.take())
        flush(transfers)
    except Exception as exc:
        _log.warning("audit of the transfer failed: %s: %s", type(exc).__name__, exc)


def _store_all(assoc: Association, instances: Sequence[_Instance],
               on_result: Callable[[StoreResult], None] | None,
               proposed: int = 1) -> list[StoreResult]:
    """C-STORE the instances, keeping as many outstanding as the association's operations
    window allows (1 unless the SCP agreed to more), until one gets no response or the
    association ends; then release it (all answered) or abort it. Returns the results of
    the instances sent so far, in the instances' order."""
    window = min(agreed_window(assoc), max(1, proposed))
    contexts: dict[tuple[str, str], int | str] = {}
    results: list[StoreResult | None] = [None] * len(instances)
    outstanding: dict[int, int] = {}  # message id -> index
    sent = 0

    def finish(index: int, result: StoreResult) -> None:
        results[index] = result
        if on_result is not None:
            on_result(result)

    try:
        with reactor_paused(assoc):  # the responses are ours to take off the queue
            while sent < len(instances) or outstanding:
                while sent < len(instances) and len(outstanding) < window:
                    msg_id = sent % 65535 + 1
                    failed = _send_one(assoc, instances[sent], msg_id, contexts)
                    if failed is None:
                        outstanding[msg_id] = sent
                    else:
                        finish(sent, failed)
                    sent += 1
                if outstanding and not _receive_one(assoc, instances, outstanding, finish):
                    break
                if assoc.acse.is_aborted() or not assoc.dul.is_alive():
                    break  # what the paused reactor would notice
    finally:
        for index in sorted(outstanding.values()):
            finish(index, StoreResult(instances[index].path, instances[index].sop_instance,
                                      None, _NO_RESPONSE))
        if sent < len(instances) and assoc.is_established:
            assoc.abort()
        elif assoc.is_established:
            assoc.release()
    return [r for r in results[:sent] if r is not None]


def _send_one(assoc: Association, inst: _Instance, msg_id: int,
              contexts: dict[tuple[str, str], int | str]) -> StoreResult | None:
    """Send one C-STORE-RQ; a result only when it could not be sent. ``contexts`` remembers
    the accepted context id (or why there is none) for each (SOP Class, Transfer Syntax)."""
    key = (inst.sop_class, inst.transfer_syntax)
    if key not in contexts:
        try:
            contexts[key] = context_id_for(assoc, *key)
        except ValueError as exc:  # no accepted presentation context for this file
            contexts[key] = str(exc).splitlines()[0]
    cx = contexts[key]
    if isinstance(cx, str):
        return StoreResult(inst.path, inst.sop_instance, None, cx)
    try:
        send_c_store_file(assoc, inst.path, inst.offset, inst.sop_class, inst.sop_instance,
                          cx, msg_id)
    except (OSError, AttributeError) as exc:
        return StoreResult(inst.path, inst.sop_instance, None, f"{type(exc).__name__}: {exc}")
    return None


def _receive_one(assoc: Association, instances: Sequence[_Instance],
                 outstanding: dict[int, int],
                 finish: Callable[[int, StoreResult], None]) -> bool:
    """Take one C-STORE response and finish its instance; False when none came (or one
    that answers nothing outstanding): the association is gone."""
    msg_id, status, answered = receive_c_store_reply(assoc)
    if msg_id is None or msg_id not in outstanding or "Status" not in status:
        return False
    index = outstanding.pop(msg_id)
    inst = instances[index]
    code = int(status.Status)
    error = None if code == 0 or code in _WARNING_STATUSES else f"status 0x{code:04X}"
    if answered and answered != inst.sop_instance:  # PS3.7 9.3.1.2: the request's UID
        error = (f"response names another SOP Instance UID ({answered[:70]!r}); "
                 f"status 0x{code:04X}")
    finish(index, StoreResult(inst.path, inst.sop_instance, code, error))
    return True


def echo(
    host: str,
    port: int,
    context: ssl.SSLContext,
    *,
    called_aet: str = DEFAULT_CALLED_AET,
    calling_aet: str = DEFAULT_CALLING_AET,
    server_hostname: str | None = None,
    timeout: float = 30.0,
    handlers: Iterable[AuditHandler] | None = None,
) -> EchoReport:
    """C-ECHO over TLS: ``ok`` when the association is accepted and the status is 0.
    ``handlers`` get ASSOCIATION_REFUSED when TLS with the SCP failed or it rejected the
    association."""
    from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]

    ae = _new_ae(calling_aet, timeout)
    ae.add_requested_context(Verification)
    info: dict[str, Any] = {}
    log = failures()
    assoc = _associate(ae, host, port, context, called_aet, server_hostname, info)
    version, cipher = info.get("version"), info.get("cipher")
    peer = f"{host}:{port}"
    if not assoc.is_established:
        failure, refused = _refusal_of(assoc, log, info)
        if handlers and refused:
            from dicomsec.events import emit

            emit(handlers, refused_event(host, failure, ae_title=called_aet,
                                         subject=info.get("peer"), requestor=False))
        return EchoReport(None, version, cipher, peer, failure)
    try:
        status = assoc.send_c_echo()
    finally:
        if assoc.is_established:
            assoc.release()
    if "Status" not in status:
        return EchoReport(None, version, cipher, peer, _association_failure(assoc, log))
    return EchoReport(int(status.Status), version, cipher, peer)
