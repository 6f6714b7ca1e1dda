"""``dicomsec scp | send | echo``: DIMSE over TLS (thin shells over
:mod:`dicomsec.transport.dimse`).

``dicomsec.cli.main`` arranges the profile's OpenSSL configuration before anything imports
``ssl``; nothing here imports ``ssl`` (or pydicom, which does) at module level.
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from dicomsec.cli._audit import audit_handlers, current_trail
from dicomsec.cli._contexts import (
    CRL_HELP,
    OFFLINE_HELP,
    PASSWORD_HELP,
    SOFT_FAIL_HELP,
    UNTRUSTED_HELP,
    count,
    input_file,
    key_password,
    port_number,
    seconds,
)
from dicomsec.cli._root import command, err, exit_code, print_json, progress, usage

if TYPE_CHECKING:
    import ssl

    from dicomsec.events import AuditEvent, AuditHandler
    from dicomsec.transport.dimse import ScpEvent
    from dicomsec.trust import TrustStore

from dicomsec.transport.tls import DIMSE_TLS_PORT

#: the most simultaneous associations ``scp --max-associations`` accepts
MAX_ASSOCIATIONS = 1024

_PROFILE_HELP = "TLS profile: b12 (BCP 195 RFC 8996) or b13 (Modified BCP 195 RFC 8996)."


class _ScpRecorder:
    """The scp's handler: the trail's, naming the command. Its ``errors`` are the trail's,
    so that the SCP's audit writer sees a record the spool did not take (busy) and retries
    it (:class:`dicomsec.transport._audit.ScpAudit`)."""

    def __init__(self, trail: Any, command: str) -> None:
        self.trail = trail
        self.command = command

    @property
    def errors(self) -> list[str]:
        errors: list[str] = self.trail.errors
        return errors

    def handle(self, event: AuditEvent) -> None:
        import dataclasses

        self.trail.handle(dataclasses.replace(event, command=event.command or self.command))


def _scp_handlers() -> tuple[AuditHandler, ...]:
    trail = current_trail()
    if trail is None or not trail.handlers:
        return ()
    return (_ScpRecorder(trail, "scp").handle,)


def _check_profile(profile: str) -> str:
    if profile.lower() not in ("b12", "b13"):
        raise usage(f"unknown TLS profile {profile!r}; choose b12 or b13")
    return profile.lower()


def _check_aet(value: str, option: str) -> str:
    if not value or len(value) > 16 or not value.isascii() or "\\" in value or not \
            value.strip() or any(ord(c) < 32 for c in value):
        raise usage(f"{option}: an AE title has 1-16 ASCII characters, no backslash")
    return value


#: the validator's options shared by scp, send and echo (with --trust)
_Untrusted = Annotated[list[Path] | None, typer.Option("--untrusted", metavar="CERTS",
                                                       help=UNTRUSTED_HELP)]
_Crl = Annotated[list[Path] | None, typer.Option("--crl", help=CRL_HELP)]
_Offline = Annotated[bool, typer.Option("--offline", help=OFFLINE_HELP)]
_SoftFail = Annotated[bool, typer.Option("--soft-fail", help=SOFT_FAIL_HELP)]


def _trust(paths: list[Path], crl: list[Path] | None = None, *,
           untrusted: list[Path] | None = None, offline: bool = False,
           soft_fail: bool = False) -> TrustStore:
    """The trust store of ``--trust`` and the validator's options (the peer's certificate is
    validated with it after the handshake: chain, key usage, revocation).

    Raises:
        InvalidInput: none given, or an unreadable file or a folder without certificates.
    """
    from dicomsec.cli._contexts import trust_store
    from dicomsec.errors import InvalidInput

    store = trust_store(paths, crl, untrusted=untrusted, offline=offline, soft_fail=soft_fail)
    if store is None:
        raise InvalidInput("a TLS profile context needs trust anchors (--trust)")
    return store


def _client_context(profile: str, cert: Path, key: Path, store: TrustStore,
                    password_file: Path | None = None) -> ssl.SSLContext:
    from dicomsec.cli._contexts import input_file, key_password
    from dicomsec.transport import tls

    password = key_password(input_file(key), password_file)
    ctx = tls.client_context(profile, store, cert=input_file(cert), key=key,
                             key_password=password)
    missing = tls.missing_suites(ctx, profile)
    if missing:
        from dicomsec.errors import PolicyViolation

        raise PolicyViolation(f"profile {profile} cannot be offered: missing "
                              + ", ".join(missing))
    return ctx


def _resolve(host: str, port: int) -> None:
    """Check that ``--host`` names an address before any work: a name that does not resolve
    is input that cannot be used (exit 2), as in ``tls-check``; a refused or failed
    connection to an address is the report's failure (exit 1).

    Raises:
        InvalidInput: the name does not resolve.
    """
    import socket

    from dicomsec.errors import InvalidInput

    try:
        socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise InvalidInput(f"--host {host!r} does not resolve: {reason}") from None


def _server_keys(cert: list[Path], key: list[Path],
                 password_file: Path | None) -> tuple[list[tuple[Path, Path]], bytes]:
    """The (certificate, key) pairs of ``scp`` and the one password of the encrypted keys,
    checked per key (a wrong one: one line naming it); ``b""`` when none is encrypted, so
    that OpenSSL never prompts.

    Raises:
        InvalidInput: a file that is not a regular file, or a wrong or missing password.
        UsageError: the encrypted keys need different passwords.
    """
    pairs = [(input_file(c), input_file(k)) for c, k in zip(cert, key, strict=True)]
    passwords = {key_password(k, password_file) for _, k in pairs} - {b""}
    if len(passwords) > 1:
        raise usage("the encrypted --key files need one password")
    return pairs, passwords.pop() if passwords else b""


def _tls_line(version: str | None, cipher: str | None, peer: str | None) -> str:
    return f"TLS {peer or '?'}: {version or '?'} {cipher or '?'}"


def _scp_line(event: ScpEvent, *, aet: str, out: Path, client_auth: bool,
              verbose: bool) -> str | None:
    """The line ``scp`` prints for an event (``None``: nothing to say)."""
    if event.kind == "listening":
        auth = "required" if client_auth else "optional"
        return (f"listening on {event.peer} as {aet}: {event.detail}; client certificates "
                f"{auth}; storing into {out}")
    if event.kind == "rejected":
        return f"TLS-REJECT {event.peer}: {event.detail}"
    if event.kind == "aborted":
        return f"ABORT {event.peer}: {event.detail}"
    if event.kind == "store-failed":
        return f"STORE-FAILED {event.peer} ({event.calling_aet}): {event.detail}"
    if not verbose:
        return None
    if event.kind == "connected":
        return _tls_line(event.tls_version, event.cipher, event.peer) + (
            f" client {event.detail}" if event.detail else "")
    if event.kind == "stored":
        return f"stored {event.path} from {event.calling_aet} at {event.peer}"
    if event.kind in ("echo", "released"):
        return f"{event.kind} {event.peer} ({event.calling_aet})"
    return None


# ------------------------------------------------------------------------------------------
# scp


@command("scp")
def scp(
    out: Annotated[Path, typer.Option("--out", help="Folder for received instances.")],
    cert: Annotated[list[Path], typer.Option(
        "--cert", help="Server certificate (PEM); repeat with --key for RSA and EC side by "
        "side.")],
    key: Annotated[list[Path], typer.Option("--key", help="Private key of the --cert in the "
                                            "same position (PEM).")],
    trust: Annotated[list[Path], typer.Option(
        "--trust", help="CA certificate(s) (file or folder) client certificates must chain "
        "to; repeatable.")],
    port: Annotated[int, typer.Option("--port", help="TCP port (2762: dicom-tls).")] =
    DIMSE_TLS_PORT,
    profile: Annotated[str, typer.Option("--profile", help=_PROFILE_HELP)] = "b13",
    no_client_auth: Annotated[bool, typer.Option(
        "--no-client-auth", help="Do not require client certificates (the profiles require "
        "servers to support mutual authentication; this makes it optional).")] = False,
    aet: Annotated[str, typer.Option("--aet", help="AE title of this SCP.")] = "DICOMSEC",
    bind: Annotated[str, typer.Option("--bind", help="Address to listen on.")] = "0.0.0.0",  # noqa: S104
    handshake_timeout: Annotated[float, typer.Option(
        "--handshake-timeout", help="Seconds a client has to complete the TLS handshake.")] = 5.0,
    max_associations: Annotated[int, typer.Option(
        "--max-associations", help="Simultaneous associations accepted.")] = 32,
    verbose: Annotated[bool, typer.Option(
        "-v", "--verbose", help="Show TLS version and suite per association, and each "
        "stored instance.")] = False,
    key_password_file: _PasswordFile = None,
    duplicates: Annotated[str, typer.Option(
        "--duplicates", help="An instance already stored: reject (failure status 0x0111), "
        "keep-both (stored as <uid>_<n>.dcm) or replace.")] = "reject",
    network_timeout: Annotated[float, typer.Option(
        "--network-timeout", help="Seconds a peer may stay silent before it is dropped (and "
        "the drop logged).")] = 60.0,
    acse_timeout: Annotated[float, typer.Option(
        "--acse-timeout", help="Seconds a client has to send its A-ASSOCIATE-RQ after the "
        "TLS handshake (at most --network-timeout).")] = 30.0,
    untrusted: _Untrusted = None,
    crl: _Crl = None,
    offline: _Offline = False,
    soft_fail: _SoftFail = False,
) -> int:
    """Storage SCP (all storage SOP classes) and Verification over TLS; stores each received
    instance atomically under --out as <SOP Instance UID>.dcm. Runs until SIGINT/SIGTERM.

    A client's certificate is validated after the handshake as verify validates a signer's
    (--trust, --untrusted, --crl, CRLs and OCSP fetched unless --offline, --soft-fail): a
    revoked or otherwise invalid one is refused (TLS-REJECT, with the reason) and the SCP
    keeps serving the others."""
    from dicomsec.transport import dimse

    name = _check_profile(profile)
    _check_aet(aet, "--aet")
    if len(cert) != len(key):
        raise usage("give one --key for each --cert, in the same order")
    port_number(port, any_port=True)
    seconds(handshake_timeout, "--handshake-timeout")
    seconds(network_timeout, "--network-timeout")
    seconds(acse_timeout, "--acse-timeout")
    count(max_associations, "--max-associations", 1, MAX_ASSOCIATIONS)
    if duplicates not in dimse.DUPLICATE_POLICIES:
        raise usage("--duplicates must be reject, keep-both or replace")
    store = _trust(trust, crl, untrusted=untrusted, offline=offline, soft_fail=soft_fail)
    pairs, password = _server_keys(cert, key, key_password_file)
    lock = threading.Lock()

    def show(event: ScpEvent) -> None:
        line = _scp_line(event, aet=aet, out=out, client_auth=not no_client_auth,
                         verbose=verbose)
        if line is not None:
            with lock:
                err(line)

    server = dimse.make_scp(
        name, pairs, store, out, key_password=password,
        require_client_cert=not no_client_auth, ae_title=aet, host=bind, port=port,
        handshake_timeout=handshake_timeout, max_associations=max_associations, on_event=show,
        duplicates=duplicates, network_timeout=network_timeout, acse_timeout=acse_timeout,
        handlers=_scp_handlers())
    _serve_until_stopped(server)
    err("stopped")
    return 0


def _serve_until_stopped(server: Any) -> None:
    """Wait for SIGTERM or Ctrl-C, then shut ``server`` down; the audit trail delivers in the
    background meanwhile (a service's records leave while it serves)."""
    trail = current_trail()
    if trail is not None:
        trail.start_background()
    stop = threading.Event()

    def _stop(signum: int, frame: Any) -> None:
        stop.set()

    previous = signal.signal(signal.SIGTERM, _stop)
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        server.shutdown()


# ------------------------------------------------------------------------------------------
# send / echo

# the options send and echo share
_Host = Annotated[str, typer.Option("--host", help="SCP host.")]
_ClientCert = Annotated[Path, typer.Option("--cert", help="Client certificate (PEM).")]
_ClientKey = Annotated[Path, typer.Option("--key", help="Client private key (PEM).")]
_ServerTrust = Annotated[list[Path], typer.Option(
    "--trust", help="CA certificate(s) the SCP's certificate must chain to.")]
_ScpPort = Annotated[int, typer.Option("--port", help="SCP port.")]
_Aec = Annotated[str, typer.Option("--aec", help="Called AE title (the SCP's).")]
_Aet = Annotated[str, typer.Option("--aet", help="Calling AE title (ours).")]
_Profile = Annotated[str, typer.Option("--profile", help=_PROFILE_HELP)]
_Timeout = Annotated[float, typer.Option("--timeout", help="Connection/ACSE timeout, seconds.")]
_Verbose = Annotated[bool, typer.Option("-v", "--verbose", help="Show TLS version and suite.")]
_Json = Annotated[bool, typer.Option(
    "--json", help="Print the report as JSON on stdout (messages stay on stderr).")]
_PasswordFile = Annotated[Path | None, typer.Option("--key-password-file", help=PASSWORD_HELP)]


@command("send")
def send(
    paths: Annotated[list[Path], typer.Argument(metavar="FILE_OR_DIR...",
                                                help="DICOM files and folders (recursive).")],
    host: _Host,
    cert: _ClientCert,
    key: _ClientKey,
    trust: _ServerTrust,
    port: _ScpPort = DIMSE_TLS_PORT,
    aec: _Aec = "ANY-SCP",
    aet: _Aet = "DICOMSEC_SCU",
    profile: _Profile = "b13",
    timeout: _Timeout = 30.0,
    verbose: _Verbose = False,
    window: Annotated[int, typer.Option(
        "--window", help="C-STOREs kept outstanding (1-8): proposes an Asynchronous "
        "Operations Window when above 1; the SCP may agree to fewer.")] = 1,
    as_json: _Json = False,
    key_password_file: _PasswordFile = None,
    untrusted: _Untrusted = None,
    crl: _Crl = None,
    offline: _Offline = False,
    soft_fail: _SoftFail = False,
) -> int:
    """Storage SCU: send files and folders over one TLS association. Exit 0 when all were
    stored, 1 when any store or the TLS association failed (the SCP's certificate revoked or
    not valid under --trust included), 2 for unreadable input."""
    from dicomsec.transport import dimse

    name = _check_profile(profile)
    store = _trust(trust, crl, untrusted=untrusted, offline=offline, soft_fail=soft_fail)
    _check_aet(aec, "--aec")
    _check_aet(aet, "--aet")
    count(window, "--window", 1, dimse.MAX_WINDOW)
    port_number(port)
    seconds(timeout, "--timeout")
    _resolve(host, port)
    for p in paths:  # folders are walked; anything else must be a regular file (no FIFO)
        if not p.is_dir():
            input_file(p)
    files, skipped = dimse.collect_files(paths)
    for s in skipped:
        err(f"skipped (not a DICOM Part 10 file): {s}")
    if not files:
        from dicomsec.errors import InvalidInput

        raise InvalidInput("no DICOM Part 10 files to send")
    ctx = _client_context(name, cert, key, store, key_password_file)
    failures: list[str] = []
    with progress(len(files)) as bar:
        task = bar.add_task("sending", total=len(files))

        def on_result(result: dimse.StoreResult) -> None:
            bar.advance(task)
            if not result.ok and result.error != "not sent":
                failures.append(f"FAILED {result.path}: {result.error}")

        report = dimse.send_files(files, host, port, ctx, called_aet=aec, calling_aet=aet,
                                  timeout=timeout, on_result=on_result, window=window,
                                  handlers=audit_handlers("send"))
    if verbose and report.tls_version:
        err(_tls_line(report.tls_version, report.cipher, report.peer))
    for line in failures:
        err(line)
    if report.failure:
        err(f"error: {report.failure}")
    err(f"{report.stored} of {len(report.results)} stored at {aec}@{host}:{port}")
    if as_json:
        print_json(report)
    return exit_code(report)


@command("echo")
def echo(
    host: _Host,
    cert: _ClientCert,
    key: _ClientKey,
    trust: _ServerTrust,
    port: _ScpPort = DIMSE_TLS_PORT,
    aec: _Aec = "ANY-SCP",
    aet: _Aet = "DICOMSEC_SCU",
    profile: _Profile = "b13",
    timeout: _Timeout = 30.0,
    verbose: _Verbose = False,
    as_json: _Json = False,
    key_password_file: _PasswordFile = None,
    untrusted: _Untrusted = None,
    crl: _Crl = None,
    offline: _Offline = False,
    soft_fail: _SoftFail = False,
) -> int:
    """C-ECHO (Verification) over TLS. Exit 0 on success, 1 on any failure (the SCP's
    certificate revoked or not valid under --trust included)."""
    from dicomsec.transport import dimse

    name = _check_profile(profile)
    store = _trust(trust, crl, untrusted=untrusted, offline=offline, soft_fail=soft_fail)
    _check_aet(aec, "--aec")
    _check_aet(aet, "--aet")
    port_number(port)
    seconds(timeout, "--timeout")
    _resolve(host, port)
    ctx = _client_context(name, cert, key, store, key_password_file)
    report = dimse.echo(host, port, ctx, called_aet=aec, calling_aet=aet, timeout=timeout,
                        handlers=audit_handlers("echo"))
    if verbose and report.tls_version:
        err(_tls_line(report.tls_version, report.cipher, report.peer))
    if report.ok:
        err(f"echo {aec}@{host}:{port}: success")
    else:
        err(f"error: echo {aec}@{host}:{port} failed: "
            + (report.failure or f"status 0x{report.status or 0:04X}"))
    if as_json:
        print_json(report)
    return exit_code(report)
