"""Endpoint scanner: does a TLS server meet the B.12 / B.13 profile (Supplement 230)?

The scan gathers facts, then judges them with a table of rules (``_scan_rules.RULES``), each
finding citing the clause it comes from: a MUST broken is ``fail``, a SHOULD or a
recommendation ``warn``, optional or undetermined things ``info``.

* **Raw ClientHello probes** (``_scan_probe``): every registered TLS 1.2 suite code and every
  TLS 1.3 suite and named group is *enumerated* per protocol version (offer all, remove what
  the server picks, repeat until it refuses, as sslyze does), so that anything outside the
  profile's allowed list is found; also the legacy versions, TLS_FALLBACK_SCSV and the
  downgrade sentinel, compression, secure renegotiation and EMS, handshake signature hashes.
  These probes never finish a handshake, so they can offer what no local OpenSSL will
  (Camellia-GCM, static DH, export, NULL).
* **Full handshakes** (``_scan_handshake``, in a helper process whose OpenSSL offers every TLS
  1.3 suite including CCM and every group): the TLS 1.3 certificate chain, whether a client
  certificate is *required* (TLS 1.3: the handshake completes and the next read gets the
  ``certificate_required`` alert), session resumption, chaining to ``trust`` and acceptance
  of a given client certificate.

Not tested: client-initiated renegotiation and 0-RTT early data (Python's ``ssl`` can do
neither; both are reported as ``info``). The scanner never speaks DICOM or HTTP, so DIMSE and
HTTPS ports are checked alike.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from pathlib import Path
from typing import TYPE_CHECKING

from dicomsec.errors import InvalidInput
from dicomsec.transport import _iana, tls
from dicomsec.transport._scan_facts import gather
from dicomsec.transport._scan_probe import Hello, client_hello, probe_hello
from dicomsec.transport._scan_report import (
    CertificateInfo,
    Check,
    ScanReport,
    Status,
    certificate_info,
)
from dicomsec.transport._scan_rules import RULES, Judge, certificate_infos

if TYPE_CHECKING:
    from dicomsec.trust import TrustStore

__all__ = [
    "CertificateInfo",
    "Check",
    "EndpointUnreachable",
    "Hello",
    "ScanReport",
    "Status",
    "certificate_info",
    "client_hello",
    "parse_target",
    "probe_hello",
    "scan",
    "suite_name",
]

suite_name = _iana.suite_name


class EndpointUnreachable(InvalidInput):
    """No TCP connection to the endpoint (exit code 2)."""


def parse_target(target: str) -> tuple[str, int]:
    """``HOST:PORT`` or ``[IPv6]:PORT``.

    Raises:
        InvalidInput: not in that form.
    """
    host, sep, port = target.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise InvalidInput(f"expected HOST:PORT, got {target!r}")
    return host.removeprefix("[").removesuffix("]"), int(port)


def _server_name(host: str) -> str | None:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return host
    return None


def _anchors_pem(store: TrustStore | None) -> str | None:
    """The trust anchors as PEM text for the handshake helper (None: none given)."""
    from cryptography.hazmat.primitives.serialization import Encoding

    if store is None or store.empty:
        return None
    return "".join(c.public_bytes(Encoding.PEM).decode("ascii") for c in store.anchors)


def scan(
    host: str,
    port: int,
    profile: str | tls.TlsProfile,
    *,
    trust: TrustStore | None = None,
    client_cert: Path | None = None,
    client_key: Path | None = None,
    timeout: float = 5.0,
    wait: float = 1.0,
) -> ScanReport:
    """Check the TLS endpoint ``host:port`` against profile ``b12`` or ``b13``.

    ``trust`` (a :class:`~dicomsec.trust.TrustStore`) adds the check that the
    server's certificate chains to it; ``client_cert``/``client_key`` the check that this client
    certificate is accepted. ``wait`` is how long to read after a completed TLS 1.3 handshake
    without a client certificate before concluding that the server does not require one.

    The client certificate must be usable now as a TLS client's
    (:func:`dicomsec.trust.check_for_use`), as for ``send`` and ``echo``: checked before any
    connection.

    Raises:
        EndpointUnreachable: no TCP connection.
        InvalidInput: unknown profile, unreadable trust anchors or client certificate; a
            client certificate that is expired, not yet valid or whose key usage or extended
            key usage does not allow a TLS client (``CertificateNotUsable``).
    """
    prof = tls.profile(profile)
    if client_cert is not None:
        from dicomsec.keys import load_certificate
        from dicomsec.trust import KeyPurpose, check_for_use

        check_for_use(load_certificate(Path(client_cert)), KeyPurpose.TLS_CLIENT,
                      name="client certificate", path=client_cert)
    started = time.monotonic()
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as exc:
        raise EndpointUnreachable(f"cannot connect to {host}:{port}: "
                                  f"{exc.strerror or exc}") from None
    client = (Path(client_cert), Path(client_key)) if client_cert and client_key else None
    facts = gather(host, port, _server_name(host), cadata=_anchors_pem(trust), client=client,
                   timeout=timeout, wait=wait)
    judge = Judge(prof, certificate_infos(facts, prof))
    checks = tuple(check for rule in RULES for check in rule(facts, judge))
    both = facts.both
    preferred = (f"{_iana.VERSIONS.get(both.version or 0, '?')} "
                 f"{_iana.suite_name(both.suite or 0)}") if both.accepted else None
    return ScanReport(host, port, prof.name, checks, judge.certificates, preferred,
                      time.monotonic() - started)
