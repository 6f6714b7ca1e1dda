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

import collections
import contextlib
import logging
import os
import re
import socket
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dicomsec.errors import InvalidInput, PolicyViolation
from dicomsec.transport import tls

if TYPE_CHECKING:
    import ssl

    from pynetdicom.association import Association
    from pynetdicom.events import Event

__all__ = [
    "DEFAULT_CALLED_AET",
    "DEFAULT_CALLING_AET",
    "DEFAULT_SCP_AET",
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
DEFAULT_CALLING_AET = "DICOMSEC_SCU"
DEFAULT_CALLED_AET = "ANY-SCP"
#: presentation contexts one association can propose (PS3.8: odd context IDs 1-255)
MAX_CONTEXTS = 128

_UID = re.compile(r"[0-9]+(\.[0-9]+)*")
_STATUS_OUT_OF_RESOURCES = 0xA700
_STATUS_CANNOT_UNDERSTAND = 0xC000
_WARNING_STATUSES = frozenset({0x0001, 0xB000, 0xB006, 0xB007})
_NO_RESPONSE = "no response (association aborted or timed out)"

#: seconds a connected peer may stay silent in the middle of its PDUs
READ_TIMEOUT = 60.0


# ------------------------------------------------------------------------------------------
# SCP


@dataclass(frozen=True, slots=True)
class ScpEvent:
    """Something the SCP did, for logs and audit.

    ``kind`` is one of ``listening``, ``connected`` (TLS established: ``tls_version``,
    ``cipher``, ``detail`` = peer subject), ``rejected`` (TLS refused or failed before any PDU;
    ``detail`` = reason), ``stored`` (``path``), ``store-failed``, ``echo``, ``released``,
    ``aborted`` (A-ABORT or A-P-ABORT, e.g. after a TLS integrity failure).
    """

    kind: str
    peer: str
    detail: str = ""
    tls_version: str | None = None
    cipher: str | None = None
    path: Path | None = None
    calling_aet: str | None = None


EventCallback = Callable[[ScpEvent], None]


def _peer(address: Any) -> str:
    if isinstance(address, tuple) and len(address) >= 2:
        host = str(address[0])
        return f"[{host}]:{address[1]}" if ":" in host else f"{host}:{address[1]}"
    return str(address)


def _reason(exc: BaseException) -> str:
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


def _server_class() -> type[Any]:
    """pynetdicom's threaded server, with the TLS handshake moved into the worker thread."""
    import ssl

    from pynetdicom.transport import ThreadedAssociationServer

    class _HandshakeInWorkerServer(ThreadedAssociationServer):
        daemon_threads = True
        handshake_timeout: float = 5.0
        on_event: EventCallback | None = None

        def get_request(self) -> tuple[socket.socket, tuple[str, int]]:
            assert self.socket is not None
            client, address = self.socket.accept()
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            ctx = self.ssl_context
            if ctx is not None:
                client.settimeout(self.handshake_timeout)
                client = ctx.wrap_socket(client, server_side=True,
                                         do_handshake_on_connect=False)
            return client, address

        def process_request_thread(self, request: Any, client_address: Any) -> None:
            if isinstance(request, ssl.SSLSocket):
                try:
                    request.do_handshake()  # PolicySSLSocket adds the certificate policy
                except Exception as exc:
                    try:
                        self._emit(ScpEvent("rejected", _peer(client_address), _reason(exc)))
                    finally:
                        self.shutdown_request(request)
                    return
                # a read timeout stays set: a peer that stops in the middle of a PDU must not
                # hold its thread (and a place among the associations) for ever
                request.settimeout(READ_TIMEOUT)
                info = tls.negotiated(request)
                self._emit(ScpEvent("connected", _peer(client_address), info["peer"] or "",
                                    tls_version=info["version"], cipher=info["cipher"]))
            super().process_request_thread(request, client_address)

        def handle_error(self, request: Any, client_address: Any) -> None:
            import sys

            exc = sys.exc_info()[1]
            self._emit(ScpEvent("aborted", _peer(client_address),
                                f"internal error: {type(exc).__name__}: {exc}"))

        def _emit(self, event: ScpEvent) -> None:
            if self.on_event is not None:
                with contextlib.suppress(Exception):
                    self.on_event(event)

    return _HandshakeInWorkerServer


@dataclass
class DimseServer:
    """A running SCP (``make_scp``): serves in a background thread until :meth:`shutdown`."""

    server: Any
    context: ssl.SSLContext | None
    profile: str
    ae_title: str
    out_dir: Path
    _thread: threading.Thread

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
            with contextlib.suppress(Exception):
                assoc.abort()
            with contextlib.suppress(Exception):  # wake a thread blocked in recv()
                assoc.dul.socket.socket.shutdown(socket.SHUT_RDWR)
        for assoc in active:
            assoc.join(max(0.0, deadline - time.monotonic()))
        self._thread.join(max(0.0, deadline - time.monotonic()))

    def __enter__(self) -> DimseServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()


def _requestor(event: Event) -> str:
    info = event.assoc.requestor.address_info
    return _peer(info.as_tuple) if info is not None else "?"


def _file_meta_bytes(event: Event) -> bytes:
    from pynetdicom.dsutils import encode_file_meta

    meta = event.file_meta
    calling = event.assoc.requestor.ae_title
    if calling:
        meta.SourceApplicationEntityTitle = calling
    return b"\x00" * 128 + b"DICM" + encode_file_meta(meta)


def _store_handler(out_dir: Path, emit: EventCallback) -> Callable[[Event], int]:
    from dicomsec._atomic import atomic_output

    def handle(event: Event) -> int:
        peer = _requestor(event)
        request = event.request
        uid = str(getattr(request, "AffectedSOPInstanceUID", "") or "").rstrip("\0 ")
        calling = event.assoc.requestor.ae_title
        if not _UID.fullmatch(uid) or len(uid) > 64:
            emit(ScpEvent("store-failed", peer, f"invalid SOP Instance UID {uid[:70]!r}",
                          calling_aet=calling))
            return _STATUS_CANNOT_UNDERSTAND
        target = out_dir / f"{uid}.dcm"
        try:
            data = event.encoded_dataset(include_meta=False)
            head = _file_meta_bytes(event)
            with atomic_output(target) as fh:
                fh.write(head)
                fh.write(data)
        except OSError as exc:
            emit(ScpEvent("store-failed", peer, f"{uid}: {exc.strerror or exc}",
                          calling_aet=calling))
            return _STATUS_OUT_OF_RESOURCES
        except Exception as exc:  # a malformed request from the peer
            emit(ScpEvent("store-failed", peer, f"{uid}: {type(exc).__name__}: {exc}",
                          calling_aet=calling))
            return _STATUS_CANNOT_UNDERSTAND
        emit(ScpEvent("stored", peer, uid, path=target, calling_aet=calling))
        return 0x0000

    return handle


def make_scp(
    profile: str,
    certs_and_keys: Sequence[tuple[Path, Path]],
    trust: Sequence[Path],
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
) -> DimseServer:
    """Start a Storage SCP (all storage SOP classes, every transfer syntax) plus Verification
    over TLS under ``profile``; returns once it listens (``port=0``: any free port).

    Raises:
        InvalidInput: unusable certificates, keys, trust anchors or output folder.
        PolicyViolation: the profile's suites are not all offered (the OpenSSL configuration
            was not arranged before ``ssl`` was imported).
    """
    from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, AllStoragePresentationContexts, evt
    from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]

    prof = tls.profile(profile)
    out = Path(out_dir)
    if not out.is_dir():
        raise InvalidInput("output folder does not exist", path=str(out))
    if not os.access(out, os.W_OK | os.X_OK):
        raise InvalidInput("output folder is not writable", path=str(out))
    ctx = context or tls.server_context(prof.name, certs_and_keys, trust,
                                        require_client_cert=require_client_cert,
                                        key_password=key_password)
    missing = tls.missing_suites(ctx, prof.name) if require_profile_config else []
    if missing:
        raise PolicyViolation(
            f"profile {prof.name} cannot be offered: missing {', '.join(missing)}",
            hint="the profile's OpenSSL configuration (OPENSSL_CONF) must be in place before "
                 "the ssl module is imported; the dicomsec command does this itself")

    def emit(event: ScpEvent) -> None:
        if on_event is not None:
            with contextlib.suppress(Exception):
                on_event(event)

    def on_echo(event: Event) -> int:
        emit(ScpEvent("echo", _requestor(event),
                      calling_aet=event.assoc.requestor.ae_title))
        return 0x0000

    def on_released(event: Event) -> None:
        emit(ScpEvent("released", _requestor(event),
                      calling_aet=event.assoc.requestor.ae_title))

    failures = _failures()

    def on_aborted(event: Event) -> None:
        reason = failures.take(event.assoc.dul.ident)
        detail = (f"A-P-ABORT after a transport failure: {reason}" if reason
                  else "association aborted (A-ABORT or A-P-ABORT)")
        emit(ScpEvent("aborted", _requestor(event), detail,
                      calling_aet=event.assoc.requestor.ae_title))

    ae = AE(ae_title=ae_title)
    ae.maximum_associations = max_associations
    for cx in AllStoragePresentationContexts:
        if cx.abstract_syntax is not None:
            ae.add_supported_context(cx.abstract_syntax, ALL_TRANSFER_SYNTAXES)
    ae.add_supported_context(Verification, ALL_TRANSFER_SYNTAXES)
    handlers: list[Any] = [
        (evt.EVT_C_STORE, _store_handler(out, emit)),
        (evt.EVT_C_ECHO, on_echo),
        (evt.EVT_RELEASED, on_released),
        (evt.EVT_ABORTED, on_aborted),
    ]
    cls = _server_class()
    server: Any = ae.make_server((host, port), ssl_context=ctx, evt_handlers=handlers,
                                 server_class=cls)
    server.handshake_timeout = handshake_timeout
    server.on_event = on_event
    ae._servers.append(server)  # as start_server() does, so that shutdown() finds it
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2},
                              name=f"dicomsec-scp-{port}", daemon=True)
    thread.start()
    handle = DimseServer(server, ctx, prof.name, ae_title, out, thread)
    emit(ScpEvent("listening", _peer((handle.host, handle.port)), prof.title))
    return handle


# ------------------------------------------------------------------------------------------
# SCU


class _TlsFailures(logging.Handler):
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
            text = "TLS: " + _reason(exc).removeprefix("TLS handshake failed: ")
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


_FAILURES: _TlsFailures | None = None
_CHUNKED_LOCK = threading.Lock()
_CHUNKED_USERS = 0
_CHUNKED_SAVED = False


def _failures() -> _TlsFailures:
    global _FAILURES
    if _FAILURES is None:
        _FAILURES = _TlsFailures()
        logging.getLogger("pynetdicom").addHandler(_FAILURES)
    return _FAILURES


@contextlib.contextmanager
def _send_as_stored() -> Iterator[None]:
    """pynetdicom sends a file's data set bytes without decoding them only with its global
    STORE_SEND_CHUNKED_DATASET switch; hold it on while any send runs."""
    global _CHUNKED_USERS, _CHUNKED_SAVED
    from pynetdicom import _config

    with _CHUNKED_LOCK:
        if _CHUNKED_USERS == 0:
            _CHUNKED_SAVED = _config.STORE_SEND_CHUNKED_DATASET
        _CHUNKED_USERS += 1
        _config.STORE_SEND_CHUNKED_DATASET = True
    try:
        yield
    finally:
        with _CHUNKED_LOCK:
            _CHUNKED_USERS -= 1
            if _CHUNKED_USERS == 0:
                _config.STORE_SEND_CHUNKED_DATASET = _CHUNKED_SAVED


@dataclass(frozen=True, slots=True)
class _Instance:
    path: Path
    sop_class: str
    sop_instance: str
    transfer_syntax: str


@dataclass(frozen=True, slots=True)
class StoreResult:
    path: Path
    sop_instance_uid: str
    status: int | None  # None: no response (not sent, or the association ended)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and (self.status == 0 or self.status in
                                            _WARNING_STATUSES)


@dataclass
class SendReport:
    """What ``send_files`` did: one result per file, the TLS parameters, and the reason the
    association failed, if it did."""

    results: list[StoreResult] = field(default_factory=list)
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


@dataclass(frozen=True, slots=True)
class EchoReport:
    status: int | None
    tls_version: str | None = None
    cipher: str | None = None
    peer: str | None = None
    failure: str | None = None

    @property
    def ok(self) -> bool:
        return self.failure is None and self.status == 0


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
    from pydicom.filereader import read_file_meta_info

    try:
        meta = read_file_meta_info(path)
    except OSError as exc:
        raise InvalidInput(f"cannot read: {exc.strerror or exc}", path=str(path)) from None
    except Exception as exc:
        raise InvalidInput(f"not a DICOM Part 10 file ({exc})", path=str(path)) from None
    values = []
    for keyword in ("MediaStorageSOPClassUID", "MediaStorageSOPInstanceUID", "TransferSyntaxUID"):
        value = str(meta.get(keyword, "") or "").rstrip("\0 ")
        if not value:
            raise InvalidInput(f"file meta information lacks {keyword}", path=str(path))
        values.append(value)
    return _Instance(path, *values)


def _tls_handler(into: dict[str, Any]) -> Callable[[Event], None]:
    def on_open(event: Event) -> None:
        sock = getattr(event.assoc.dul.socket, "socket", None)
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if sock is not None and hasattr(sock, "cipher"):
            into.update(tls.negotiated(sock))

    return on_open


def _association_failure(assoc: Association, failures: _TlsFailures) -> str:
    reason = failures.take(assoc.dul.ident)
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
               server_hostname: str | None, info: dict[str, Any]) -> Association:
    from pynetdicom import evt

    _failures()
    assoc: Association = ae.associate(
        host, port, ae_title=called_aet, tls_args=(context, server_hostname or host),
        evt_handlers=[(evt.EVT_CONN_OPEN, _tls_handler(info))])
    return assoc


def _new_ae(calling_aet: str, timeout: float) -> Any:
    from pynetdicom import AE

    ae = AE(ae_title=calling_aet)
    ae.connection_timeout = timeout
    ae.acse_timeout = timeout
    ae.dimse_timeout = max(timeout, 30.0)
    ae.network_timeout = max(timeout, 60.0)
    return ae


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
) -> SendReport:
    """C-STORE the files (folders recursively) over one TLS association.

    The data sets go out as stored in the files (not decoded and re-encoded); the presentation
    contexts are the files' (SOP Class, Transfer Syntax) pairs, at most 128.

    Raises:
        InvalidInput: a named path is missing, a file is not a readable Part 10 file, there
            are no files, or more than 128 distinct (SOP Class, Transfer Syntax) pairs.
    """
    files, _skipped = collect_files(paths)
    instances = [_read_instance(f) for f in files]
    if not instances:
        raise InvalidInput("no DICOM files to send")
    pairs = sorted({(i.sop_class, i.transfer_syntax) for i in instances})
    if len(pairs) > MAX_CONTEXTS:
        raise InvalidInput(f"{len(pairs)} distinct SOP Class / Transfer Syntax pairs; one "
                           f"association carries at most {MAX_CONTEXTS}")
    ae = _new_ae(calling_aet, timeout)
    for sop_class, ts in pairs:
        ae.add_requested_context(sop_class, ts)
    info: dict[str, Any] = {}
    report = SendReport(peer=f"{host}:{port}")
    failures = _failures()
    with _send_as_stored():
        assoc = _associate(ae, host, port, context, called_aet, server_hostname, info)
        report.tls_version, report.cipher = info.get("version"), info.get("cipher")
        if not assoc.is_established:
            report.failure = _association_failure(assoc, failures)
            report.aborted = assoc.is_aborted
            report.results = [StoreResult(i.path, i.sop_instance, None, "not sent")
                              for i in instances]
            return report
        try:
            for n, inst in enumerate(instances):
                result = _store_one(assoc, inst, n)
                report.results.append(result)
                if on_result is not None:
                    on_result(result)
                if result.error == _NO_RESPONSE:
                    break  # the association is gone (its state machine may not know yet)
                if not assoc.is_established:
                    break
        finally:
            if len(report.results) < len(instances) and assoc.is_established:
                assoc.abort()
            elif assoc.is_established:
                assoc.release()
    if len(report.results) < len(instances) or any(
            r.error == _NO_RESPONSE for r in report.results):
        report.failure = _association_failure(assoc, failures)
        report.aborted = assoc.is_aborted
        for inst in instances[len(report.results):]:
            result = StoreResult(inst.path, inst.sop_instance, None, "not sent")
            report.results.append(result)
            if on_result is not None:
                on_result(result)
    return report


def _store_one(assoc: Association, inst: _Instance, n: int) -> StoreResult:
    try:
        status = assoc.send_c_store(inst.path, msg_id=n % 65535 + 1)
    except ValueError as exc:  # no accepted presentation context for this file
        return StoreResult(inst.path, inst.sop_instance, None, str(exc).splitlines()[0])
    except (OSError, AttributeError) as exc:
        return StoreResult(inst.path, inst.sop_instance, None, f"{type(exc).__name__}: {exc}")
    if "Status" not in status:
        return StoreResult(inst.path, inst.sop_instance, None,
                           _NO_RESPONSE)
    code = int(status.Status)
    error = None if code == 0 or code in _WARNING_STATUSES else f"status 0x{code:04X}"
    return StoreResult(inst.path, inst.sop_instance, code, error)


def echo(
    host: str,
    port: int,
    context: ssl.SSLContext,
    *,
    called_aet: str = DEFAULT_CALLED_AET,
    calling_aet: str = DEFAULT_CALLING_AET,
    server_hostname: str | None = None,
    timeout: float = 30.0,
) -> EchoReport:
    """C-ECHO over TLS: ``ok`` when the association is accepted and the status is 0."""
    from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]

    ae = _new_ae(calling_aet, timeout)
    ae.add_requested_context(Verification)
    info: dict[str, Any] = {}
    failures = _failures()
    assoc = _associate(ae, host, port, context, called_aet, server_hostname, info)
    version, cipher = info.get("version"), info.get("cipher")
    peer = f"{host}:{port}"
    if not assoc.is_established:
        return EchoReport(None, version, cipher, peer, _association_failure(assoc, failures))
    try:
        status = assoc.send_c_echo()
    finally:
        if assoc.is_established:
            assoc.release()
    if "Status" not in status:
        return EchoReport(None, version, cipher, peer, _association_failure(assoc, failures))
    return EchoReport(int(status.Status), version, cipher, peer)
