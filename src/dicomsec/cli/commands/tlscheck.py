"""``dicomsec tls-check`` (endpoint scanner) and ``dicomsec conformance`` (the security
section of a Conformance Statement)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

from dicomsec.cli._root import command, err, exit_code, fail, print_json, usage

if TYPE_CHECKING:
    import typer

    from dicomsec.transport.scan import Check, ScanReport

_MARK = {"pass": "PASS", "fail": "FAIL", "warn": "WARN", "info": "INFO"}


@command("tls-check")
def tls_check(
    target: Annotated[str, typer.Argument(metavar="HOST:PORT",
                                          help="TLS endpoint (DIMSE or HTTPS port).")],
    profile: Annotated[str, typer.Option("--profile", help="b12 or b13.")] = "b13",
    trust: Annotated[list[Path] | None, typer.Option(
        "--trust", help="CA certificate(s) the server certificate must chain to; "
        "repeatable.")] = None,
    client_cert: Annotated[Path | None, typer.Option(
        "--client-cert", help="Also check that this client certificate is accepted.")] = None,
    client_key: Annotated[Path | None, typer.Option(
        "--client-key", help="Key of --client-cert (PEM, unencrypted).")] = None,
    timeout: Annotated[float, typer.Option(
        "--timeout", help="Seconds per connection.")] = 5.0,
    wait: Annotated[float, typer.Option(
        "--wait", help="Seconds to wait for the certificate_required alert after a TLS 1.3 "
        "handshake without a client certificate.")] = 1.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> int:
    """Check a TLS endpoint against the B.12 / B.13 profile: versions, suites, groups, server
    certificate, client authentication. One line per requirement ("MARK  requirement
    (detail)  [clause]"); exit 0 when no MUST is broken, 1 when any is, 2 when the endpoint is
    unreachable or the arguments are wrong. --json prints exactly the report's to_dict()."""
    from dicomsec.cli._contexts import input_file, port_number, seconds, trust_store
    from dicomsec.errors import InvalidInput
    from dicomsec.transport import scan

    if (client_cert is None) != (client_key is None):
        raise usage("give --client-cert and --client-key together")
    seconds(timeout, "--timeout")
    seconds(wait, "--wait")
    for path in (client_cert, client_key):
        if path is not None:
            input_file(path)  # never a FIFO or a device: a hang
    try:
        host, port = scan.parse_target(target)
        port_number(port, "HOST:PORT: the port")
        store = trust_store(trust, None)
        report = scan.scan(host, port, profile, trust=store,
                           client_cert=client_cert, client_key=client_key, timeout=timeout,
                           wait=wait)
    except InvalidInput as exc:  # EndpointUnreachable included: exit 2
        return fail(exc)
    if as_json:
        print_json(report)
    else:
        for check in report.checks:
            print(check_line(check))
    err(verdict_line(report))
    return exit_code(report)


def check_line(check: Check) -> str:
    """``MARK  requirement  (detail)  [clause]``: one line of the text output."""
    detail = f"  ({check.detail})" if check.detail else ""
    clause = f"  [{check.clause}]" if check.clause else ""
    return f"{_MARK[check.status]}  {check.requirement}{detail}{clause}"


def verdict_line(report: ScanReport) -> str:
    """The verdict on stderr: failures and warnings counted."""
    failed, warned = len(report.failures), len(report.warnings)
    verdict = (f"{failed} requirement{'s' if failed != 1 else ''} failed" if failed
               else "all requirements met")
    return (f"tls-check {report.host}:{report.port} against {report.profile.upper()}: "
            f"{verdict}, {warned} warning{'s' if warned != 1 else ''} "
            f"({report.seconds:.1f} s)")


@command("conformance")
def conformance(
    profile: Annotated[str, typer.Option("--profile", help="b12 or b13.")] = "b13",
    port: Annotated[int, typer.Option("--port", help="DIMSE TLS port of the SCP.")] = 2762,
    cert: Annotated[list[Path] | None, typer.Option(
        "--cert", help="Certificate the SCP presents (PEM/DER); repeatable.")] = None,
    key: Annotated[list[Path] | None, typer.Option(
        "--key", help="Key of each --cert (optional; when given the context is built exactly "
        "as 'dicomsec scp' builds it).")] = None,
    trust: Annotated[list[Path] | None, typer.Option(
        "--trust", help="Trust anchors for peer certificates; repeatable.")] = None,
    no_client_auth: Annotated[bool, typer.Option(
        "--no-client-auth", help="As 'dicomsec scp --no-client-auth'.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> int:
    """Print the security section of a DICOM Conformance Statement (PS3.2, Markdown) for
    'dicomsec scp' with the same options. Exit 1 when the running OpenSSL does not offer every
    suite the profile requires."""
    from dicomsec.cli._contexts import trust_store
    from dicomsec.transport.conformance import security_section

    if key and len(key) != len(cert or []):
        raise usage("give one --key per --cert")
    from dicomsec.cli._contexts import port_number

    port_number(port)
    section = security_section(profile, port, cert or [], trust_store(trust, None),
                               not no_client_auth, keys=key or [])
    if section.missing_suites:
        err("error: this OpenSSL configuration does not offer "
            + ", ".join(section.missing_suites) + f"; cannot claim {section.profile.upper()}")
        return 1
    if as_json:
        print_json(section)
    else:
        print(section.to_markdown())
    return 0
