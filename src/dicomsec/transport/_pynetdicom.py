"""Work-arounds for pynetdicom, all in one place (low level: used by :mod:`.dimse` only).

Each one changes an object we own (our server, our association, our socket, a request we
build); none flips a process-wide switch in ``pynetdicom._config``:

- :class:`TlsFailures`: pynetdicom tells why a transport failed only through its log, so a
  logging handler keeps its TLS error records per DUL thread;
- :func:`set_nodelay`: pynetdicom leaves Nagle's algorithm on, and every small PDU (a C-STORE
  response, the last fragment of a data set) then waits for the peer's delayed ACK;
- :func:`event_driven`: pynetdicom's reactors poll: the DUL thread sleeps 1 ms between looks
  at an idle socket and the acceptor's thread 1 ms before each look at its message queue, so
  every C-STORE waits in several sleeps, and idle polling burns CPU the other side needs;
  ours wait in ``select`` (socket and a wake-up pipe) and on the message queue;
- :func:`reactor_paused`: ``send_c_store`` pauses and resumes the requestor's reactor for
  every message (a spin until it notices); we hold it paused for the whole batch;
- :func:`handshake_in_worker_server`: pynetdicom's server does the TLS handshake in its accept
  loop, so one client that connects and sends nothing blocks every other client, and a failed
  handshake leaves no trace; ours wraps the socket there and shakes hands in the connection's
  own thread, reporting the outcome;
- :class:`CheapCopyContexts`: pynetdicom deep-copies the SCP's supported contexts for every
  association (about 0.2 s for all storage classes times all transfer syntaxes);
- :func:`send_c_store_file`: ``Association.send_c_store(path)`` sends a file's data set as
  stored only under the global ``STORE_SEND_CHUNKED_DATASET`` switch, and parses the file meta
  information again for each file; here the request names the file and the data set's offset
  itself, as pynetdicom does internally when the switch is on;
- :func:`c_store_rq_command`, :func:`c_store_rsp_command`, :func:`parse_c_store_rsp`:
  pynetdicom builds each command set as a pydicom data set and encodes it twice, and decodes
  each received one through pydicom; plain C-STORE command sets are coded here directly;
- :class:`DataSetSpool`: pynetdicom holds a received data set whole in a ``BytesIO`` (its
  ``STORE_RECV_CHUNKED_DATASET`` switch writes a *named* temporary file instead, for the
  whole process); an SCP of ours (:class:`SpoolPolicy`) holds each C-STORE data set in
  memory up to a small bound and spools the rest into an unnamed file in its output folder,
  File Meta Information first, so that the store can link that file into place.
"""

from __future__ import annotations

import collections
import contextlib
import copy
import functools
import io
import logging
import os
import queue
import select
import socket
import struct
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pydicom.dataset import Dataset
    from pynetdicom.association import Association

__all__ = [
    "MAX_CONTROL_PDU",
    "SPOOL_MEMORY",
    "SPOOL_MEMORY_TOTAL",
    "WINDOW",
    "CheapCopyContexts",
    "DataSetSpool",
    "DropReport",
    "MemoryBudget",
    "PduLimits",
    "SpoolPolicy",
    "TlsFailures",
    "agreed_window",
    "c_store_rq_command",
    "c_store_rq_pdatas",
    "c_store_rsp_command",
    "context_id_for",
    "event_driven",
    "event_driven_requestor",
    "failures",
    "handshake_in_worker_server",
    "parse_c_store_rq",
    "parse_c_store_rsp",
    "propose_window",
    "reactor_paused",
    "receive_c_store_reply",
    "receive_c_store_response",
    "send_c_store_file",
    "set_nodelay",
    "tls_reason",
]

def tls_reason(exc: BaseException) -> str:
    """One line saying why a TLS handshake (or the connection under it) failed."""
    import ssl

    if isinstance(exc, TimeoutError):
        return "TLS handshake timed out"
    if isinstance(exc, ssl.SSLEOFError) or (isinstance(exc, OSError) and exc.errno is None
                                            and not str(exc)):
        return "connection closed during the TLS handshake"
    if isinstance(exc, ssl.SSLError):
        reason = getattr(exc, "reason", None)  # None for errors raised from Python
        if isinstance(exc, ssl.SSLCertVerificationError) and exc.verify_message:
            text = f"{reason}: {exc.verify_message}"
        elif reason:
            text = str(reason)
        else:
            text = str(exc.args[0]) if exc.args else str(exc)
        return f"TLS handshake failed: {text}"
    if isinstance(exc, ConnectionError):
        return f"connection lost during the TLS handshake ({type(exc).__name__})"
    return f"TLS handshake failed: {exc}"


class TlsFailures(logging.Handler):
    """Keeps pynetdicom's TLS error records per DUL thread: the SCU learns why the transport
    failed only through pynetdicom's log."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.by_thread: collections.OrderedDict[int, str] = collections.OrderedDict()
        self._guard = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        import ssl

        exc = record.exc_info[1] if record.exc_info else None
        message = record.getMessage()
        text: str | None = None
        exact = False  # the exception itself beats the log line that quoted it
        if isinstance(exc, ssl.SSLError):
            text = "TLS: " + tls_reason(exc).removeprefix("TLS handshake failed: ")
            exact = True
        elif message.startswith("TCP Initialisation Error: "):
            detail = message.removeprefix("TCP Initialisation Error: ")
            text = f"TLS: {detail}" if "SSL" in detail else detail
        elif isinstance(exc, ConnectionError):
            text = f"connection lost ({type(exc).__name__})"
        if text is None or record.thread is None:
            return
        with self._guard:
            if exact:
                self.by_thread[record.thread] = text
            else:
                self.by_thread.setdefault(record.thread, text)
            while len(self.by_thread) > 256:
                self.by_thread.popitem(last=False)

    def take(self, thread_id: int | None) -> str | None:
        if thread_id is None:
            return None
        with self._guard:
            return self.by_thread.pop(thread_id, None)


_FAILURES: TlsFailures | None = None
_FAILURES_LOCK = threading.Lock()


def failures() -> TlsFailures:
    """The one :class:`TlsFailures` handler, added to the ``pynetdicom`` logger on first use."""
    global _FAILURES
    with _FAILURES_LOCK:
        if _FAILURES is None:
            _FAILURES = TlsFailures()
            logging.getLogger("pynetdicom").addHandler(_FAILURES)
        return _FAILURES


def set_nodelay(sock: Any) -> None:
    """Turn Nagle's algorithm off on a TCP socket (plain or TLS); other sockets are left."""
    try:
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except (AttributeError, OSError):
        pass


#: what a server of :func:`handshake_in_worker_server` reports: kind (``rejected``,
#: ``connected``, ``aborted``), the peer's address, a detail, and the TLS parameters
#: (:func:`dicomsec.transport.tls.negotiated`; empty when there are none)
ServerReport = Callable[[str, Any, str, dict[str, Any]], None]


@functools.cache
def handshake_in_worker_server() -> type[Any]:
    """pynetdicom's threaded server, with the TLS handshake moved into the worker thread.

    Set ``handshake_timeout`` (seconds a client has to complete the handshake),
    ``read_timeout`` (kept on the socket afterwards, so that a peer that stops in the middle
    of a PDU does not hold its thread for ever) and ``report`` (a :data:`ServerReport`) on
    the instance. The certificate policy of the profile runs in the handshake
    (``tls.PolicySSLSocket``).
    """
    import ssl

    from pynetdicom.transport import ThreadedAssociationServer

    from dicomsec.transport import tls

    class _HandshakeInWorkerServer(ThreadedAssociationServer):
        daemon_threads = True
        handshake_timeout: float = 5.0
        read_timeout: float | None = None
        report: ServerReport | None = None

        def get_request(self) -> tuple[socket.socket, tuple[str, int]]:
            assert self.socket is not None
            client, address = self.socket.accept()
            set_nodelay(client)
            ctx = self.ssl_context
            if ctx is not None:
                client.settimeout(self.handshake_timeout)
                client = ctx.wrap_socket(client, server_side=True,
                                         do_handshake_on_connect=False)
            return client, address

        def process_request_thread(self, request: Any, client_address: Any) -> None:
            if isinstance(request, ssl.SSLSocket):
                try:
                    request.do_handshake()
                except Exception as exc:
                    try:
                        self._report("rejected", client_address, tls_reason(exc), {})
                    finally:
                        self.shutdown_request(request)
                    return
                request.settimeout(self.read_timeout)
                info = tls.negotiated(request)
                self._report("connected", client_address, info["peer"] or "", info)
            super().process_request_thread(request, client_address)

        def handle_error(self, request: Any, client_address: Any) -> None:
            import sys

            exc = sys.exc_info()[1]
            self._report("aborted", client_address,
                         f"internal error: {type(exc).__name__}: {exc}", {})

        def _report(self, kind: str, address: Any, detail: str, info: dict[str, Any]) -> None:
            if self.report is not None:
                with contextlib.suppress(Exception):
                    self.report(kind, address, detail, info)

    return _HandshakeInWorkerServer


class CheapCopyContexts(list[Any]):
    """A list of supported presentation contexts whose deep copy copies each context and its
    transfer syntax list, not every UID string inside (they are immutable)."""

    def __deepcopy__(self, memo: dict[int, Any]) -> list[Any]:
        out = []
        for cx in self:
            new = copy.copy(cx)
            new._transfer_syntax = list(cx._transfer_syntax)
            out.append(new)
        return out


def send_c_store_file(assoc: Association, path: Path, offset: int, sop_class: str,
                      sop_instance: str, context_id: int, msg_id: int) -> None:
    """Send a C-STORE-RQ for the data set of a Part 10 file, read from ``offset`` on, under
    the accepted presentation context ``context_id`` (low level: nothing is checked here);
    :func:`receive_c_store_response` takes the answer. Call both inside
    :func:`reactor_paused`, or the association's reactor may take the response.
    """
    from pynetdicom.dimse_primitives import C_STORE

    if _send_c_store_fast(assoc, path, offset, sop_class, sop_instance, context_id, msg_id):
        return
    req = C_STORE()
    req.MessageID = msg_id
    req.Priority = 2
    req.AffectedSOPClassUID = sop_class
    req.AffectedSOPInstanceUID = sop_instance
    req._dataset_path = (path, offset)
    assoc.dimse.send_msg(req, context_id)


def receive_c_store_response(assoc: Association) -> tuple[int | None, Dataset]:
    """The next C-STORE response: (message id it answers, status data set); ``(None, empty)``
    when none came within the DIMSE timeout (the association is then aborted, as
    ``send_c_store`` does)."""
    msg_id, status, _uid = receive_c_store_reply(assoc)
    return msg_id, status


def receive_c_store_reply(assoc: Association) -> tuple[int | None, Dataset, str]:
    """As :func:`receive_c_store_response`, with the response's Affected SOP Instance UID
    (``""``: none)."""
    from pydicom.dataset import Dataset

    _cx, rsp = assoc.dimse.get_msg(block=True)
    if rsp is None:
        assoc._handle_no_response()
        return None, Dataset(), ""
    msg_id = getattr(rsp, "MessageIDBeingRespondedTo", None)
    uid = str(getattr(rsp, "AffectedSOPInstanceUID", None) or "").rstrip("\0 ")
    return ((int(msg_id) if msg_id is not None else None),
            assoc._check_received_status(rsp), uid)


#: the most C-STOREs our SCU keeps outstanding, and our SCP accepts, when both sides agree
#: on an Asynchronous Operations Window (PS3.7 D.3.3.3); without one, one at a time
WINDOW = 8


def propose_window(invoked: int) -> Any:
    """The Asynchronous Operations Window item our SCU proposes: ``invoked`` (at most
    ``WINDOW``) operations invoked, 1 performed."""
    from pynetdicom.pdu_primitives import AsynchronousOperationsWindowNegotiation

    item = AsynchronousOperationsWindowNegotiation()
    item.maximum_number_operations_invoked = max(1, min(invoked, WINDOW))
    item.maximum_number_operations_performed = 1
    return item


def agreed_window(assoc: Association) -> int:
    """How many operations the requestor may keep outstanding on this association: what the
    acceptor answered (1 when it answered nothing, ``WINDOW`` at most)."""
    invoked, _performed = assoc.acceptor.asynchronous_operations
    return WINDOW if invoked == 0 else max(1, min(int(invoked), WINDOW))


def _accept_window(assoc: Association) -> Any:
    """Our SCP's answer to a proposed window: up to ``WINDOW`` operations invoked by the
    requestor (they are performed in order, one at a time), 1 performed. pynetdicom itself
    always answers (1, 1), or nothing without a handler."""
    from pynetdicom.pdu_primitives import AsynchronousOperationsWindowNegotiation

    invoked, _performed = assoc.requestor.asynchronous_operations
    item = AsynchronousOperationsWindowNegotiation()
    item.maximum_number_operations_invoked = WINDOW if invoked == 0 else min(invoked, WINDOW)
    item.maximum_number_operations_performed = 1
    return item


def context_id_for(assoc: Association, sop_class: str, transfer_syntax: str) -> int:
    """The accepted presentation context for sending this SOP class in this transfer syntax
    as stored (no conversion).

    Raises:
        ValueError: none was accepted.
    """
    cx = assoc._get_valid_context(sop_class, transfer_syntax, "scu", allow_conversion=False)
    return int(cx.context_id or 0)


# ------------------------------------------------------------------------------------------
# received data sets in bounded memory

#: bytes of one received C-STORE data set an SCP of ours holds in memory; a larger one is
#: spooled into an unnamed file in the output folder (``SpoolPolicy.memory_bytes``)
SPOOL_MEMORY = 4 << 20
#: bytes of received data sets one SCP holds in memory, all associations and queued requests
#: together; beyond, new data go to files too (``SpoolPolicy.budget``)
SPOOL_MEMORY_TOTAL = 32 << 20
#: the least bytes of a message other than a C-STORE data set (a command set, a C-ECHO, a
#: C-FIND identifier) an SCP of ours holds in memory, however small ``memory_bytes`` is
MESSAGE_FLOOR = 64 << 10
#: complete requests an SCP of ours keeps waiting on one association (each may hold a spool
#: file open); a requestor that sends more, past any operations window, is aborted
MAX_WAITING = 2 * WINDOW


class MemoryBudget:
    """Bytes of received data sets held in memory by one server (thread-safe)."""

    def __init__(self, limit: int = SPOOL_MEMORY_TOTAL) -> None:
        self.limit = limit
        self.used = 0
        # reentrant: give() may run from a garbage collection (a spool's __del__) that
        # starts inside take() or give() on the same thread
        self._lock = threading.RLock()

    def take(self, n: int) -> bool:
        """Count ``n`` more bytes if they fit; False (nothing counted) if they do not."""
        with self._lock:
            if self.used + n > self.limit:
                return False
            self.used += n
            return True

    def give(self, n: int) -> None:
        with self._lock:
            self.used -= n


#: the bytes written before a data set that is spooled (its File Meta Information, so that
#: the spool file can be stored as it is), from (association, presentation context ID,
#: C-STORE request primitive); may raise (then nothing is written before the data set)
HeadFor = Callable[[Any, int, Any], bytes]


@dataclass(frozen=True, slots=True)
class SpoolPolicy:
    """Where and when an SCP spools received C-STORE data sets (see :class:`DataSetSpool`)."""

    #: the folder of the spool files (the SCP's output folder: stored by a link)
    folder: Path
    head: HeadFor
    memory_bytes: int = SPOOL_MEMORY
    budget: MemoryBudget = field(default_factory=MemoryBudget)


class DataSetSpool:
    """A received data set, held in memory while it is at most ``memory_bytes`` long and the
    server's budget allows, else spooled into a private file with no name (``O_TMPFILE`` in
    the policy's folder: see :func:`dicomsec._atomic.private_file`; a kill leaves nothing).

    The file holds ``head`` (the policy's, computed when the data set spills), then the data
    set. A write that fails (disk full) is remembered in ``error``; the file is discarded and
    later data are counted, not kept. Written by one thread (the DUL's), then handed over;
    :meth:`close` frees the memory or the file (also done when it is garbage-collected).
    """

    def __init__(self, policy: SpoolPolicy, head: Callable[[], bytes]) -> None:
        self._policy = policy
        # dropped once the data set spills or is complete: it holds the request, which
        # holds this spool (a cycle only a cyclic garbage collection would break)
        self._head_of: Callable[[], bytes] | None = head
        self._memory = bytearray()
        self._held = 0  # bytes counted in the policy's budget
        self._finalizer: weakref.finalize[Any, DataSetSpool] | None = None
        #: data set bytes received
        self.size = 0
        #: bytes before the data set in the spool file
        self.head = b""
        #: the spool file's descriptor (-1: in memory) and its name (``None``: unnamed)
        self.fd = -1
        self.tmp: Path | None = None
        self.error: OSError | None = None

    @property
    def spilled(self) -> bool:
        """The data set is in the spool file (``fd``), not in memory."""
        return self.fd >= 0

    def write(self, data: bytes | memoryview) -> int:
        n = len(data)
        if self.error is None and self.fd < 0:
            if (self.size + n <= self._policy.memory_bytes
                    and self._policy.budget.take(n)):
                self._memory += data
                self._held += n
                self.size += n
                return n
            self._spill()
        if self.error is None:
            try:
                _write_all(self.fd, data)
            except OSError as exc:
                self._fail(exc)
        self.size += n
        return n

    def _spill(self) -> None:
        from dicomsec._atomic import discard_file, private_file

        try:
            fd, tmp = private_file(self._policy.folder, "received.dcm")
        except OSError as exc:
            self._fail(exc)
            return
        self._finalizer = weakref.finalize(self, discard_file, fd, tmp)
        self.fd, self.tmp = fd, tmp
        head_of, self._head_of = self._head_of, None
        try:
            self.head = head_of() if head_of is not None else b""
        except Exception:
            self.head = b""  # the store writes its own head and copies the data set
        try:
            _write_all(fd, self.head)
            _write_all(fd, self._memory)
        except OSError as exc:
            self._fail(exc)
        self._free_memory()

    def _fail(self, exc: OSError) -> None:
        self.error = exc
        self._free_memory()
        if self._finalizer is not None:
            self._finalizer()
        self.fd, self.tmp = -1, None

    def _free_memory(self) -> None:
        self._memory = bytearray()
        if self._held:
            self._policy.budget.give(self._held)
            self._held = 0

    def finish(self) -> None:
        """The data set is complete: nothing more is written (breaks the cycle through the
        request)."""
        self._head_of = None

    def view(self) -> memoryview:
        """The data set held in memory (empty once spilled)."""
        return memoryview(self._memory)

    def prefix(self, n: int) -> bytes:
        """The first ``n`` bytes of the data set (fewer when it is shorter).

        Raises:
            OSError: the spool file cannot be read.
        """
        if self.fd < 0:
            return bytes(self._memory[:n])
        return os.pread(self.fd, min(n, self.size), len(self.head))

    def close(self) -> None:
        """Free the memory, or close the spool file (gone unless it was linked meanwhile)."""
        self._head_of = None
        self._free_memory()
        if self._finalizer is not None:
            self._finalizer()
        self.fd, self.tmp = -1, None

    def __del__(self) -> None:  # a request never served (the association ended first)
        with contextlib.suppress(Exception):
            self.close()


def _write_all(fd: int, data: bytes | bytearray | memoryview) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _close_sink(sink: Any) -> None:
    if isinstance(sink, DataSetSpool):
        sink.close()


def drain_requests(msg_queue: Any) -> int:
    """Take every message left in a DIMSE message queue (the association ended before they
    were served) and close their spooled data sets at once, files and memory; how many."""
    n = 0
    while True:
        try:
            _cx, msg = msg_queue.get_nowait()
        except queue.Empty:
            return n
        except (TypeError, ValueError):  # not a (context ID, message) pair: nothing held
            continue
        n += 1
        _close_sink(getattr(msg, "_dataset", None))


# ------------------------------------------------------------------------------------------
# event-driven reactors

#: the longest an idle reactor of ours waits before looking at its timers and kill flag
#: again; data from the peer, a primitive to send or a DIMSE message wake it at once
IDLE_WAIT = 0.005


class _Waker:
    """A pipe a reactor waits on, written to when work is queued for it from another thread."""

    def __init__(self) -> None:
        self._r, self._w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._lock = threading.Lock()
        self.closed = False
        #: the reactor is about to wait, or waits: only then does a put() need to wake it
        self.idle = False

    def fileno(self) -> int:
        return self._r

    def wake(self) -> None:
        with self._lock:
            if not self.closed:
                with contextlib.suppress(BlockingIOError):
                    os.write(self._w, b"\0")

    def drain(self) -> None:
        with contextlib.suppress(BlockingIOError):
            while os.read(self._r, 4096):
                pass

    def close(self) -> None:
        with self._lock:
            if not self.closed:
                self.closed = True
                os.close(self._r)
                os.close(self._w)


class _WakingQueue(queue.Queue[Any]):
    def __init__(self, waker: _Waker) -> None:
        super().__init__()
        self.waker = waker

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        super().put(item, block, timeout)
        if self.waker.idle:
            self.waker.wake()


#: the default largest PDU our SCP reads before its association is established (an
#: A-ASSOCIATE-RQ with 128 presentation contexts of a few transfer syntaxes each is about
#: 20 KiB), and the largest PDU of a kind other than P-DATA afterwards (A-RELEASE and A-ABORT
#: are 10 bytes); ``limits.Limits.association_pdu_bytes`` (which ``make_scp`` reads)
MAX_CONTROL_PDU = 64 * 1024

#: told why the DUL dropped the connection (a PDU over its bound, a stall): the reason, and
#: whether the association was established
DropReport = Callable[[str, bool], None]


@dataclass(frozen=True, slots=True)
class PduLimits:
    """What an SCP's DUL refuses before reading a PDU's body (low level: see
    :func:`event_driven`)."""

    #: the largest P-DATA PDU accepted (0: no bound of ours); a P-DATA PDU longer than it, or
    #: than the maximum PDU length our A-ASSOCIATE-AC announced when that is lower, is refused
    max_pdata: int
    #: called once with the reason when the connection is dropped for a bound or a stall
    on_drop: DropReport
    #: the largest PDU of any other kind, and of any kind before the association
    max_control: int = MAX_CONTROL_PDU

    def refusal(self, pdu_type: int, length: int, established: bool,
                negotiated: int = 0) -> str | None:
        """Why a PDU of this type and declared length is refused (``None``: it is not);
        ``negotiated`` is the maximum PDU length the association announced (0: none)."""
        if established and pdu_type == 0x04:
            bound = min((b for b in (self.max_pdata, negotiated) if b > 0), default=0)
            if bound and length > bound:
                return (f"P-DATA PDU of {length} bytes exceeds the maximum PDU length "
                        f"negotiated ({bound}); A-ABORT")
            return None
        if length > self.max_control:
            when = "" if established else " before the association"
            return (f"PDU type 0x{pdu_type:02X} of {length} bytes{when} exceeds "
                    f"{self.max_control}; A-ABORT")
        return None


class _Replay:
    """Stands in for an ``AssociationSocket.recv`` whose first call already happened: gives
    that call's result (or raises its exception) once, then reads from the socket again."""

    def __init__(self, sock: Any, header: bytes, exc: BaseException | None) -> None:
        self.sock, self.header, self.exc, self.first = sock, header, exc, True
        #: a read timed out (the peer stalled for the socket's timeout)
        self.timed_out = isinstance(exc, TimeoutError)

    def __call__(self, nr_bytes: int) -> bytearray:
        if self.first:
            self.first = False
            if self.exc is not None:
                raise self.exc
            return bytearray(self.header)
        try:
            return bytearray(type(self.sock).recv(self.sock, nr_bytes))
        except TimeoutError:
            self.timed_out = True
            raise


#: the DUL states in which an association exists (PS3.8 9.2: established, and the release
#: states that follow it)
_ESTABLISHED_STATES = frozenset({"Sta6", "Sta7", "Sta8", "Sta9", "Sta10", "Sta11", "Sta12"})


class _BoundedReads:
    """The DUL part of :class:`PduLimits`, and of the reactor's ending (mixed into our DUL
    class, before pynetdicom's)."""

    socket: Any
    assoc: Any
    to_user_queue: Any
    event_queue: Any
    state_machine: Any
    _kill_thread: bool

    _limits: PduLimits | None = None
    #: why this DUL dropped its connection (set once; the aborted event then says so)
    dropped: str | None = None

    def _read_pdu_data(self) -> None:
        """As pynetdicom's, but the PDU header is judged before the body is read: a
        PDU over its bound ends the association (:class:`PduLimits`), and a peer that
        stalls in the middle of a PDU past the socket's timeout is reported."""
        limits, sock = self._limits, self.socket
        if limits is None or sock is None:
            super()._read_pdu_data()  # type: ignore[misc]
            return
        header, error = b"", None
        try:
            header = bytes(sock.recv(6))
        except (OSError, TimeoutError) as exc:
            error = exc
        if len(header) == 6:
            pdu_type, _, length = struct.unpack(">BBL", header)
            established = self._established()
            reason = limits.refusal(pdu_type, length, established,
                                    self._announced() if established else 0)
            if reason is not None:
                self._drop(reason, abort=True)
                return
        replay = sock.recv = _Replay(sock, header, error)  # pynetdicom reads it again
        try:
            super()._read_pdu_data()  # type: ignore[misc]
        finally:
            del sock.recv
        if replay.timed_out:
            self._drop("peer stalled in the middle of a PDU for the network timeout; "
                       "connection dropped", abort=False)

    def _established(self) -> bool:
        """Whether the association is established, as this DUL thread sees it: the state
        machine is in Sta6 once our A-ASSOCIATE-AC has gone out, before the association
        thread sets ``is_established`` (a P-DATA that follows the AC at once is judged by the
        P-DATA bound, not the pre-association one)."""
        if self.assoc.is_established:
            return True
        return str(getattr(self.state_machine, "current_state", "")) in _ESTABLISHED_STATES

    def _announced(self) -> int:
        """The maximum PDU length our side of the association announced (0: none)."""
        assoc = self.assoc
        try:
            ours = assoc.acceptor if assoc.is_acceptor else assoc.requestor
            return int(ours.maximum_length or 0)
        except (AttributeError, TypeError, ValueError):
            return 0

    def _artim_expired(self) -> None:
        """As pynetdicom's reactor does (Evt18); a peer still connected without having sent
        its A-ASSOCIATE-RQ (Sta2) is reported as a drop first."""
        if self.state_machine.current_state == "Sta2":
            self._drop(f"no A-ASSOCIATE-RQ within the ACSE timeout ({self.assoc.acse_timeout}"
                       " s); connection dropped", abort=False)
        self.event_queue.put("Evt18")

    def _drop(self, reason: str, *, abort: bool) -> None:
        """Report why the connection ends; with ``abort``, send an A-ABORT (provider,
        invalid PDU parameter value) and stop at once, body unread."""
        if self.dropped is None:
            self.dropped = reason
            limits = self._limits
            if limits is not None:
                with contextlib.suppress(Exception):
                    limits.on_drop(reason, self._established())
        if not abort:
            return
        from pynetdicom.pdu import A_ABORT_RQ

        abort_pdu = A_ABORT_RQ()
        abort_pdu.source = 0x02
        abort_pdu.reason_diagnostic = 0x06
        with contextlib.suppress(Exception):
            self.socket.send(abort_pdu.encode())
        with contextlib.suppress(Exception):
            self.socket.close()
        self.assoc.is_aborted = True
        self.assoc.is_established = False
        self.assoc._kill = True
        self._kill_thread = True
        # an acceptor awaiting its A-ASSOCIATE-RQ takes None as timed out and ends
        self.to_user_queue.put(None)
        # a requestor awaiting a response takes (None, None) as none came (as pynetdicom
        # puts when the connection closes)
        with contextlib.suppress(Exception):
            self.assoc.dimse.msg_queue.put((None, None))

    def _abort_hard(self, exc: Exception) -> None:
        """As pynetdicom does: send an A-ABORT past the state machine and stop."""
        from pynetdicom.pdu import A_ABORT_RQ

        logger = logging.getLogger("pynetdicom.dul")
        logger.error("Exception in DUL.run(), aborting association")
        logger.exception(exc)
        abort_pdu = A_ABORT_RQ()
        abort_pdu.source = 0x02
        abort_pdu.reason_diagnostic = 0x00
        self.socket.send(abort_pdu.encode())
        self.assoc.is_aborted = True
        self.assoc.is_established = False
        self.assoc._kill = True
        self._kill_thread = True

    def _discard_partial(self) -> None:
        """At the end of the reactor: drop the data set its DIMSE provider was receiving
        (this thread wrote it; a kill or an abort in its middle leaves nothing), and the
        requests still waiting to be served (their spool files and memory, now)."""
        dimse = self.assoc.dimse
        discard = getattr(dimse, "discard_partial", None)
        if discard is not None:
            discard()
        if getattr(dimse, "_spool", None) is not None:
            drain_requests(dimse.msg_queue)


def _quick_dul_class() -> type[Any]:
    from pynetdicom.dul import DULServiceProvider

    class QuickDUL(_BoundedReads, DULServiceProvider):
        """pynetdicom's DUL reactor, waiting in ``select`` on its socket and a wake-up pipe
        when idle instead of sleeping 1 ms between polls."""

        _waker: _Waker

        def _wait_for_work(self) -> None:
            waker = self._waker
            waker.idle = True  # from here on a put() writes to the pipe
            try:
                if self.to_provider_queue.qsize() or self.event_queue.qsize():
                    return
                sock = getattr(self.socket, "socket", None)
                fds: list[Any] = [waker]
                if sock is not None and getattr(sock, "_closed", False) is False:
                    if hasattr(sock, "pending") and sock.pending():
                        return
                    if sock.fileno() >= 0:
                        fds.append(sock)
                try:
                    select.select(fds, [], [], IDLE_WAIT)
                except (OSError, ValueError):  # the socket closed under us: the loop sees it
                    time.sleep(0.001)
            finally:
                waker.idle = False
            waker.drain()

        def run_reactor(self) -> None:  # as pynetdicom's, but for _wait_for_work()
            try:
                self._run_quick_reactor()
            finally:
                self._waker.close()
                self._discard_partial()

        def _run_quick_reactor(self) -> None:
            self._idle_timer.start()
            idle = False
            while True:
                if not self.assoc._dul_ready.is_set():
                    self.assoc._dul_ready.set()
                    idle = True
                if idle:
                    self._wait_for_work()
                if self._kill_thread:
                    break
                if self.artim_timer.expired:
                    self._artim_expired()
                try:  # a primitive to send first, else data from the peer
                    if not self._process_recv_primitive() and self._is_transport_event():
                        self._idle_timer.restart()
                except Exception as exc:
                    self._abort_hard(exc)
                    return
                try:
                    event = self.event_queue.get(block=False)
                except queue.Empty:
                    idle = True
                    continue
                try:
                    self.state_machine.do_action(event)
                except Exception as exc:  # hostile DIMSE input pynetdicom did not expect
                    self._drop(f"invalid DIMSE message ({type(exc).__name__}); A-ABORT",
                               abort=True)
                    return
                if event == "Evt17" and not self.assoc.is_acceptor:
                    # the connection closed: a requestor awaiting a response stops waiting
                    # (pynetdicom's AR-5, after our A-ABORT of an invalid message, does not
                    # tell it; it would wait for the DIMSE timeout)
                    self.assoc.dimse.msg_queue.put((None, None))
                idle = False

    return QuickDUL


class _SpoolingReceiver:
    """The receiving part of our DIMSE provider (mixed in before pynetdicom's): plain C-STORE
    messages decoded here, and with a :class:`SpoolPolicy` (an SCP's) every C-STORE data set
    received into a :class:`DataSetSpool` and every other message bounded (by the policy's
    ``memory_bytes``, at least ``MESSAGE_FLOOR``)."""

    assoc: Any
    dul: Any
    message: Any
    msg_queue: Any

    _store_rq: tuple[int, Any, DataSetSpool | io.BytesIO] | None = None
    #: an SCP's: received C-STORE data sets are spooled (None: held in a BytesIO)
    _spool: SpoolPolicy | None = None
    #: bytes of the message pynetdicom is receiving (command fragments, and the data set
    #: of a message other than a C-STORE-RQ), counted with a spool policy only
    _pending_bytes = 0

    def receive_primitive(self, primitive: Any) -> None:
        """A plain C-STORE-RSP, or a plain C-STORE-RQ and its data set, whose command set
        came whole in one fragment, is decoded here; with a spool policy, the data set of
        any other C-STORE-RQ is received here too, once pynetdicom decoded its command
        set; anything else goes to pynetdicom."""
        pdvs = list(primitive.presentation_data_value_list)
        if self._store_rq is not None:
            self._store_fragments(pdvs)
            return
        if self.message is None and pdvs and pdvs[0][1][:1] == b"\x03":
            command = pdvs[0][1][1:]
            if len(pdvs) == 1:
                rsp = parse_c_store_rsp(command)
                if rsp is not None:
                    self.msg_queue.put((pdvs[0][0], rsp))
                    return
            req = parse_c_store_rq(command)
            if req is not None:
                self._store_rq = (pdvs[0][0], req, self._sink(pdvs[0][0], req))
                self._store_fragments(pdvs[1:])
                return
        if self._spool is None:
            super().receive_primitive(primitive)  # type: ignore[misc]
        elif not self._take_over(pdvs):
            self._to_pynetdicom(pdvs)

    def _to_pynetdicom(self, pdvs: list[tuple[int, bytes]]) -> None:
        """Give pynetdicom these fragments, which it holds in memory until the message is
        complete: with a spool policy, a message of more than its ``memory_bytes`` (at
        least ``MESSAGE_FLOOR``; other than a C-STORE data set, spooled) ends the
        association (A-ABORT, reported)."""
        policy = self._spool
        if policy is not None:
            self._pending_bytes += sum(len(v) for _cx, v in pdvs)
            bound = max(policy.memory_bytes, MESSAGE_FLOOR)
            if self._pending_bytes > bound:
                self._pending_bytes = 0
                self.message = None
                self._drop(f"DIMSE message of over {bound} bytes (command set, or data set "
                           "of a message other than C-STORE); A-ABORT")
                return
        super().receive_primitive(_pdata_of(pdvs))  # type: ignore[misc]
        if self.message is None:
            self._pending_bytes = 0

    def _take_over(self, pdvs: list[tuple[int, bytes]]) -> bool:
        """Give pynetdicom the fragments up to the command set's last one; when they make
        a C-STORE-RQ with a data set to follow, receive that here. False: there is no
        last command fragment (pynetdicom takes the whole primitive)."""
        from pynetdicom.dimse_messages import C_STORE_RQ

        last = next((i for i, (_cx, v) in enumerate(pdvs) if v[:1] and v[0] & 3 == 3),
                    None)
        if last is None:
            return False
        self._to_pynetdicom(pdvs[:last + 1])
        msg, rest = self.message, pdvs[last + 1:]
        if msg is None or not isinstance(msg, C_STORE_RQ):
            if rest and not getattr(self.dul, "dropped", None):
                self._to_pynetdicom(rest)
            return True
        self.message = None
        self._pending_bytes = 0
        try:
            req = msg.message_to_primitive()
        except Exception as exc:  # as pynetdicom does with an invalid message
            logger = logging.getLogger("pynetdicom.dimse")
            logger.error("Received an invalid DIMSE message")
            logger.exception(exc)
            self.dul.event_queue.put("Evt19")
            return True
        context_id = int(msg.context_id or 0)
        self._store_rq = (context_id, req, self._sink(context_id, req))
        self._store_fragments(rest)
        return True

    def _sink(self, context_id: int, req: Any) -> DataSetSpool | io.BytesIO:
        """Where the data set of this C-STORE-RQ is received."""
        policy = self._spool
        if policy is None:
            return io.BytesIO()
        return DataSetSpool(policy, functools.partial(policy.head, self.assoc,
                                                      context_id, req))

    def _store_fragments(self, pdvs: list[tuple[int, bytes]]) -> None:
        """Data set fragments of the C-STORE-RQ being received (PS3.8 E.2)."""
        assert self._store_rq is not None
        context_id, req, sink = self._store_rq
        for cx, value in pdvs:
            if cx != context_id or not value or value[0] & 1:
                self._store_rq = None  # a command inside a data set: as pynetdicom does
                _close_sink(sink)
                self.dul.event_queue.put("Evt19")
                return
            sink.write(memoryview(value)[1:])
            if value[0] & 2:
                self._store_rq = None
                if isinstance(sink, DataSetSpool):
                    sink.finish()
                if self._spool is not None and self.msg_queue.qsize() >= MAX_WAITING:
                    _close_sink(sink)
                    self._drop(f"more than {MAX_WAITING} requests waiting (the operations "
                               f"window is at most {WINDOW}); A-ABORT")
                    return
                if isinstance(sink, io.BytesIO):
                    sink.seek(0)
                    req.DataSet = sink
                else:  # the DataSet setter takes a BytesIO only
                    req._dataset = sink
                self.msg_queue.put((context_id, req))
                return

    def _drop(self, reason: str) -> None:
        """End the association with an A-ABORT, reported with ``reason`` (a DUL of ours)."""
        drop = getattr(self.dul, "_drop", None)
        if drop is not None:
            drop(reason, abort=True)
        else:
            self.dul.event_queue.put("Evt19")

    def discard_partial(self) -> None:
        """Drop the data set being received (the association ended in its middle)."""
        rq, self._store_rq = self._store_rq, None
        if rq is not None:
            _close_sink(rq[2])


def _quick_dimse_class() -> type[Any]:
    from pynetdicom.dimse import DIMSEServiceProvider
    from pynetdicom.dimse_primitives import C_STORE

    class QuickDIMSE(_SpoolingReceiver, DIMSEServiceProvider):
        """pynetdicom's DIMSE provider, sending plain C-STORE responses (a status, no error
        comment or offending element) without building a pydicom data set, and receiving as
        :class:`_SpoolingReceiver` does."""

        def send_msg(self, primitive: Any, context_id: int) -> None:
            max_pdu = int(self.maximum_pdu_size or 0)
            if (isinstance(primitive, C_STORE) and primitive.MessageIDBeingRespondedTo
                    is not None and primitive.Status is not None
                    and primitive.AffectedSOPClassUID and primitive.AffectedSOPInstanceUID
                    and primitive.ErrorComment is None and primitive.OffendingElement is None):
                command = c_store_rsp_command(
                    str(primitive.AffectedSOPClassUID), str(primitive.AffectedSOPInstanceUID),
                    int(primitive.MessageIDBeingRespondedTo), int(primitive.Status))
                if not max_pdu or len(command) <= max_pdu - 6:
                    self.dul.send_pdu(_pdata(context_id, b"\x03" + command))
                    return
            super().send_msg(primitive, context_id)

    return QuickDIMSE


#: the elements a plain C-STORE-RSP has (PS3.7 9.3.1.2), and nothing else
_RSP_TAGS = frozenset({0x0000, 0x0002, 0x0100, 0x0120, 0x0800, 0x0900, 0x1000})


#: the elements a plain C-STORE-RQ has (no move originator), and nothing else
_RQ_TAGS = frozenset({0x0000, 0x0002, 0x0100, 0x0110, 0x0700, 0x0800, 0x1000})


def _elements(command: bytes, allowed: frozenset[int]) -> dict[int, bytes] | None:
    """The elements of an implicit VR little endian command set, or ``None`` when one is not
    in ``allowed``, one is missing, or a length runs past the end."""
    values: dict[int, bytes] = {}
    pos = 0
    while pos < len(command):
        if pos + 8 > len(command):
            return None
        group, tag, length = struct.unpack_from("<HHI", command, pos)
        if group != 0 or tag not in allowed or pos + 8 + length > len(command):
            return None
        values[tag] = command[pos + 8:pos + 8 + length]
        pos += 8 + length
    return values if set(values) == allowed else None


def _us(values: dict[int, bytes], *tags: int) -> list[int] | None:
    if any(len(values[t]) != 2 for t in tags):
        return None
    return [struct.unpack("<H", values[t])[0] for t in tags]


def _uid_text(value: bytes) -> str:
    return value.rstrip(b"\0 ").decode("ascii")


def parse_c_store_rq(command: bytes) -> Any:
    """A C_STORE request primitive (without its data set) from an encoded command set, or
    ``None`` when it is not a plain C-STORE-RQ with a data set."""
    from pynetdicom.dimse_primitives import C_STORE

    values = _elements(command, _RQ_TAGS)
    shorts = _us(values, 0x0100, 0x0110, 0x0700, 0x0800) if values else None
    if values is None or shorts is None:
        return None
    field, msg_id, priority, ds_type = shorts
    if field != 0x0001 or ds_type == 0x0101 or priority not in (0, 1, 2):
        return None
    try:
        req = C_STORE()
        req.MessageID = msg_id
        req.Priority = priority
        req.AffectedSOPClassUID = _uid_text(values[0x0002])
        req.AffectedSOPInstanceUID = _uid_text(values[0x1000])
    except (ValueError, TypeError, UnicodeDecodeError):
        return None  # pynetdicom judges it
    return req


def parse_c_store_rsp(command: bytes) -> Any:
    """A C_STORE response primitive from an encoded command set, or ``None`` when it is not
    a plain C-STORE-RSP (other command, error comment, offending element, bad lengths)."""
    from pynetdicom.dimse_primitives import C_STORE

    values = _elements(command, _RSP_TAGS)
    shorts = _us(values, 0x0100, 0x0120, 0x0800, 0x0900) if values else None
    if values is None or shorts is None:
        return None
    field, msg_id, ds_type, status = shorts
    if field != 0x8001 or ds_type != 0x0101:
        return None
    try:
        rsp = C_STORE()
        rsp.MessageIDBeingRespondedTo = msg_id
        rsp.AffectedSOPClassUID = _uid_text(values[0x0002])
        rsp.AffectedSOPInstanceUID = _uid_text(values[0x1000])
        rsp.Status = status
    except (ValueError, TypeError, UnicodeDecodeError):
        return None  # pynetdicom, or the drop path, judges it
    return rsp


def _quick_acceptor_class() -> type[Any]:
    from pynetdicom.association import Association

    class QuickAcceptor(Association):
        """pynetdicom's acceptor reactor, blocking on the DIMSE message queue (at most
        ``IDLE_WAIT``) instead of sleeping 1 ms before each poll."""

        def _run_reactor(self) -> None:
            try:
                self._serve_until_end()
            finally:  # requests left unserved give back their spool files and memory
                if getattr(self.dimse, "_spool", None) is not None:
                    drain_requests(self.dimse.msg_queue)

        def _serve_until_end(self) -> None:
            self._is_paused = False
            while not self._kill:
                self._is_paused = True
                self._reactor_checkpoint.wait()
                self._is_paused = False
                try:
                    context_id, msg = self.dimse.msg_queue.get(timeout=IDLE_WAIT)
                except queue.Empty:
                    context_id, msg = None, None
                if msg and context_id is not None:
                    self._serve_request(msg, context_id)
                if self._end_of_association():
                    return

        def _end_of_association(self) -> bool:
            """The checks pynetdicom's reactor makes after each message; True: stop."""
            from pynetdicom import evt

            if self.is_established and self.acse.is_release_requested():
                self.acse.send_release(is_response=True)
                self.is_released = True
                self.is_established = False
                evt.trigger(self, evt.EVT_RELEASED, {})
                self.kill()
                return True
            if self.acse.is_aborted():
                self.dul.receive_pdu(wait=False)
                self.is_aborted = True
                self.is_established = False
                evt.trigger(self, evt.EVT_ABORTED, {})
                self.kill()
                return True
            if not self.dul.is_alive():
                self.kill()
                return True
            if self.dul.idle_timer_expired():
                logging.getLogger("pynetdicom.assoc").error("Network timeout reached")
                dul: Any = self.dul
                with contextlib.suppress(Exception):
                    dul._drop("network timeout reached (peer idle); association "
                                   f"{self.network_timeout_response}", abort=False)
                if self.network_timeout_response == "A-RELEASE":
                    self._is_paused = True
                    self._reactor_checkpoint.wait()
                    self.release()
                    self._is_paused = False
                else:
                    self.abort()
                self.kill()
                return True
            return False

    return QuickAcceptor


_QUICK: dict[str, type[Any]] = {}
_QUICK_LOCK = threading.Lock()


def _quick(name: str) -> type[Any]:
    with _QUICK_LOCK:
        if name not in _QUICK:
            make = {"dul": _quick_dul_class, "dimse": _quick_dimse_class,
                    "acceptor": _quick_acceptor_class}[name]
            _QUICK[name] = make()
        return _QUICK[name]


def event_driven(assoc: Association, limits: PduLimits | None = None,
                 spool: SpoolPolicy | None = None) -> None:
    """Give this association (not yet started) event-driven reactors: its DUL waits on its
    socket and a wake-up pipe, and an acceptor's reactor waits on its message queue.
    ``limits`` (an SCP's): PDUs over their bound are refused before their body is read,
    and drops (bounds, stalls, the network timeout) are reported. ``spool`` (an SCP's):
    received C-STORE data sets are :class:`DataSetSpool` objects (``request.DataSet``),
    in bounded memory; without it they are held whole in a ``BytesIO``.

    Only this object changes (its class and its DUL's); pynetdicom itself is left alone.
    """
    dul: Any = assoc.dul
    if dul.is_alive():
        return  # too late: it keeps pynetdicom's polling
    waker = _Waker()
    old = dul.to_provider_queue
    new = _WakingQueue(waker)
    while not old.empty():
        new.put(old.get_nowait())
    from pynetdicom.utils import make_target

    dul._waker = waker
    dul._limits = limits
    dul.to_provider_queue = new
    dul.__class__ = _quick("dul")
    dul._target = make_target(dul.run_reactor)  # the thread captured the old bound method
    assoc.dimse.__class__ = _quick("dimse")
    dimse: Any = assoc.dimse
    dimse._spool = spool
    if assoc.is_acceptor:
        assoc.__class__ = _quick("acceptor")
        assoc.acse._check_async_ops = lambda: _accept_window(assoc)  # type: ignore[method-assign]


@contextlib.contextmanager
def reactor_paused(assoc: Association) -> Iterator[None]:
    """Hold a requestor's reactor paused (as ``send_c_store`` does for one message) while we
    send several: the responses are ours to take off the queue."""
    assoc._reactor_checkpoint.clear()
    try:
        while not assoc._is_paused and assoc.is_alive():
            time.sleep(0.0001)
        yield
    finally:
        assoc._reactor_checkpoint.set()


def event_driven_requestor(ae: Any) -> None:
    """Make every association this AE object requests event-driven (:func:`event_driven`);
    other AE objects keep pynetdicom's reactors."""
    create = ae._create_socket

    def create_socket(assoc: Association, *args: Any, **kwargs: Any) -> Any:
        sock = create(assoc, *args, **kwargs)
        event_driven(assoc)
        return sock

    ae._create_socket = create_socket


# ------------------------------------------------------------------------------------------
# C-STORE command sets without pydicom
#
# pynetdicom builds every command set as a pydicom data set and encodes it twice (once for
# the group length, once to send): about 1 ms per message on this machine, on each side.
# The two command sets of C-STORE are fixed: they are encoded here directly, in implicit VR
# little endian (PS3.7 6.3.1, E.1); the tests compare them with pynetdicom's bytes.


def _uid(value: str) -> bytes:
    raw = value.encode("ascii")
    return raw + b"\0" if len(raw) % 2 else raw


def _command(elements: list[tuple[int, bytes]]) -> bytes:
    body = b"".join(struct.pack("<HHI", 0x0000, tag, len(v)) + v for tag, v in elements)
    return struct.pack("<HHII", 0x0000, 0x0000, 4, len(body)) + body


def c_store_rq_command(sop_class: str, sop_instance: str, msg_id: int,
                       priority: int = 2) -> bytes:
    """The encoded command set of a C-STORE-RQ with a data set (PS3.7 9.3.1.1)."""
    return _command([
        (0x0002, _uid(sop_class)),
        (0x0100, struct.pack("<H", 0x0001)),
        (0x0110, struct.pack("<H", msg_id)),
        (0x0700, struct.pack("<H", priority)),
        (0x0800, struct.pack("<H", 0x0001)),  # a data set follows (as pynetdicom writes it)
        (0x1000, _uid(sop_instance)),
    ])


def c_store_rsp_command(sop_class: str, sop_instance: str, msg_id: int, status: int) -> bytes:
    """The encoded command set of a C-STORE-RSP with only a status (PS3.7 9.3.1.2)."""
    return _command([
        (0x0002, _uid(sop_class)),
        (0x0100, struct.pack("<H", 0x8001)),
        (0x0120, struct.pack("<H", msg_id)),
        (0x0800, struct.pack("<H", 0x0101)),  # no data set
        (0x0900, struct.pack("<H", status)),
        (0x1000, _uid(sop_instance)),
    ])


def _pdata(context_id: int, value: bytes) -> Any:
    return _pdata_of([(context_id, value)])


def _pdata_of(pdvs: list[tuple[int, bytes]]) -> Any:
    from pynetdicom.pdu_primitives import P_DATA

    pdata = P_DATA()
    pdata.presentation_data_value_list.extend(pdvs)
    return pdata


def c_store_rq_pdatas(command: bytes, path: Path, offset: int, context_id: int,
                      max_pdu: int) -> Iterator[Any]:
    """P-DATA primitives of a C-STORE-RQ: the command set in one fragment, then the file's
    data set from ``offset`` in fragments that fit the peer's maximum PDU (as pynetdicom's
    ``encode_msg`` cuts them)."""
    yield _pdata(context_id, b"\x03" + command)
    with open(path, "rb") as fh:
        length = fh.seek(0, 2) - fh.seek(offset)
        step = length if max_pdu == 0 else max_pdu - 6
        left = length
        while True:
            chunk = fh.read(min(step, left)) if left else b""
            left -= len(chunk)
            last = left <= 0 or not chunk
            yield _pdata(context_id, (b"\x02" if last else b"\x00") + chunk)
            if last:
                return


def _send_c_store_fast(assoc: Association, path: Path, offset: int, sop_class: str,
                       sop_instance: str, context_id: int, msg_id: int) -> bool:
    """Queue the C-STORE-RQ's P-DATA primitives for the DUL; False when the command set
    would not fit one fragment (the caller then lets pynetdicom encode it)."""
    max_pdu = int(assoc.dimse.maximum_pdu_size or 0)
    command = c_store_rq_command(sop_class, sop_instance, msg_id)
    if max_pdu and len(command) > max_pdu - 6:
        return False
    for pdata in c_store_rq_pdatas(command, path, offset, context_id, max_pdu):
        assoc.dul.send_pdu(pdata)
    return True
