"""Secure transport: the PS3.15 B.12 / B.13 TLS profiles (Supplement 230).

The public surface is in ``__all__``; each name is imported on first use (module
``__getattr__``), so ``import dicomsec.transport`` imports neither ``ssl`` nor pynetdicom.
The profile's OpenSSL configuration must be arranged before ``ssl`` is imported
(:func:`arrange_openssl_conf`; the ``dicomsec`` command does it itself).

Modules:

- ``tls``: server and client ``ssl.SSLContext`` objects for the profiles
  (:func:`client_context`, :func:`server_context`; each context carries its
  :class:`TlsProfile`, :func:`context_profile`), trust as a :class:`~dicomsec.trust.TrustStore`,
  the OpenSSL configuration they need and the post-handshake certificate policy. The contexts
  work with a pynetdicom ``AE`` directly (``ae.associate(..., tls_args=(ctx, None))``).
- ``dimse``: DIMSE over TLS with pynetdicom: :func:`make_scp` (Storage/Verification SCP with
  the handshake in the worker thread), :func:`send_files` (Storage SCU, returns a
  :class:`SendReport`), :func:`echo` (C-ECHO, an :class:`EchoReport`).
- ``scan``: the endpoint scanner behind ``dicomsec tls-check``: :func:`scan_endpoint` (the
  module's ``scan``) returns a :class:`ScanReport` of :class:`Check` findings, each citing its
  clause. ``dicomsec.transport.scan`` stays the submodule: a function of the same name here
  would be replaced by the submodule whenever something imports it, so the answer to
  ``from dicomsec.transport import scan`` would depend on import order.
- ``conformance``: the security section of a Conformance Statement, from the same options.
- ``_iana`` (suite, group and signature-algorithm tables), ``_pynetdicom`` (the pynetdicom
  work-arounds), ``_part10``, ``_groupcommit``, ``_scan_*``: private.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dicomsec.transport.conformance import security_section
    from dicomsec.transport.dimse import (
        DimseServer,
        EchoReport,
        ScpEvent,
        SendReport,
        StoreResult,
        collect_files,
        echo,
        make_scp,
        send_files,
    )
    from dicomsec.transport.scan import (
        CertificateInfo,
        Check,
        EndpointUnreachable,
        ScanReport,
        parse_target,
    )
    from dicomsec.transport.scan import scan as scan_endpoint
    from dicomsec.transport.tls import (
        DIMSE_TLS_PORT,
        PROFILES,
        TlsProfile,
        arrange_openssl_conf,
        client_context,
        context_profile,
        missing_suites,
        server_context,
    )

__all__ = [
    "DIMSE_TLS_PORT",
    "PROFILES",
    "CertificateInfo",
    "Check",
    "DimseServer",
    "EchoReport",
    "EndpointUnreachable",
    "ScanReport",
    "ScpEvent",
    "SendReport",
    "StoreResult",
    "TlsProfile",
    "arrange_openssl_conf",
    "client_context",
    "collect_files",
    "context_profile",
    "echo",
    "make_scp",
    "missing_suites",
    "parse_target",
    "scan_endpoint",
    "security_section",
    "send_files",
    "server_context",
]

#: the module of each public name
_WHERE: dict[str, str] = {
    **dict.fromkeys(("DIMSE_TLS_PORT", "PROFILES", "TlsProfile",
                     "arrange_openssl_conf", "client_context", "context_profile",
                     "missing_suites", "server_context"), "tls"),
    **dict.fromkeys(("DimseServer", "EchoReport", "ScpEvent", "SendReport", "StoreResult",
                     "collect_files", "echo", "make_scp", "send_files"), "dimse"),
    **dict.fromkeys(("CertificateInfo", "Check", "EndpointUnreachable", "ScanReport",
                     "parse_target", "scan_endpoint"), "scan"),
    "security_section": "conformance",
}
#: public names that differ from their name in the module
_RENAMED = {"scan_endpoint": "scan"}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), _RENAMED.get(name, name))


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
