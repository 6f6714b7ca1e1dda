"""``dicomsec trust validate``: is this certificate good, now or at that date?
(docs/validation.md)"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

from dicomsec.cli._contexts import (
    CRL_HELP,
    OFFLINE_HELP,
    SOFT_FAIL_HELP,
    TRUST_HELP,
    UNTRUSTED_HELP,
    input_file,
    moment,
    trust_store,
)
from dicomsec.cli._root import command, err, exit_code, print_json, printable, usage

if TYPE_CHECKING:
    import typer

    from dicomsec.trust._report import ValidationReport

#: ``--purpose`` values and the key purpose each asks
PURPOSES = ("signing", "tls-server", "tls-client", "timestamping", "any")


def _ocsp_responses(paths: list[Path]) -> tuple[bytes, ...]:
    """The DER OCSP responses of ``--ocsp-response`` files (exit 2 when one is unreadable)."""
    from cryptography.x509 import ocsp

    from dicomsec.errors import InvalidInput

    out = []
    for p in paths:
        data = input_file(p).read_bytes()
        try:
            ocsp.load_der_ocsp_response(data)
        except ValueError:
            raise InvalidInput("not a DER OCSP response", path=str(p)) from None
        out.append(data)
    return tuple(out)


def _render(report: ValidationReport) -> None:
    """One line per verdict, then the chain built (leaf first); names and problems come from
    certificates, so every line is made terminal-safe (``printable``)."""
    print(printable(("VALID" if report.valid else "NOT VALID") + f": {report.subject} for "
                    f"{report.purpose} at {report.at:%Y-%m-%d %H:%M:%S} UTC"))
    for problem in report.problems:
        print(printable(f"  problem: {problem}"))
    for warning in report.warnings:
        print(printable(f"  warning: {warning}"))
    for i, entry in enumerate(report.chain):
        rev = entry.revocation
        state = ("trust anchor" if rev is None else
                 f"revocation {rev.status}" + (f" ({rev.source})" if rev.checked else ""))
        print(printable(f"  [{i}] {entry.subject}  serial {entry.serial}  "
                        f"{entry.not_before:%Y-%m-%d} .. {entry.not_after:%Y-%m-%d}  {state}"))


@command("validate", group="trust")
def validate(
    cert: Annotated[Path, typer.Argument(metavar="CERT", help="Certificate to validate "
                                         "(PEM or DER; the first of the file).")],
    trust: Annotated[list[Path] | None, typer.Option("--trust", help=TRUST_HELP)] = None,
    untrusted: Annotated[list[Path] | None, typer.Option(
        "--untrusted", metavar="CERTS", help=UNTRUSTED_HELP)] = None,
    crl: Annotated[list[Path] | None, typer.Option("--crl", help=CRL_HELP)] = None,
    ocsp_response: Annotated[list[Path] | None, typer.Option(
        "--ocsp-response", metavar="DER", help="A DER OCSP response about a certificate of "
        "the path (e.g. saved by openssl ocsp -respout); repeatable. Needs --trust.")] = None,
    at: Annotated[str | None, typer.Option(
        "--at", metavar="DATETIME", help="Validate at this ISO 8601 date or date and time "
        "(naive: UTC); default now. Revocation is judged at the same moment, with revocation "
        "information issued later accepted.")] = None,
    offline: Annotated[bool, typer.Option("--offline", help=OFFLINE_HELP)] = False,
    soft_fail: Annotated[bool, typer.Option("--soft-fail", help=SOFT_FAIL_HELP)] = False,
    purpose: Annotated[str, typer.Option(
        "--purpose", metavar="|".join(PURPOSES),
        help="What the certificate must be good for (key usage and extended key usage); "
        "any: the path only.")] = "signing",
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON (schema "
                                          "dicomsec.trust.validation/1).")] = False,
) -> int:
    """Validate a certificate: a path to a --trust anchor (through --untrusted intermediates),
    validity at --at, key usage for --purpose, revocation (--crl, --ocsp-response, and unless
    --offline CRLs and OCSP responses fetched from the certificates' own URLs).

    A certificate whose revocation is checked but cannot be determined is not valid unless
    --soft-fail. Exit 0 valid, 1 not valid, 2 unreadable input or bad arguments.
    """
    import datetime as _dt

    from dicomsec.keys import load_certificate
    from dicomsec.trust import KeyPurpose
    from dicomsec.trust._report import ValidationReport

    if purpose not in PURPOSES:
        raise usage(f"--purpose takes one of {', '.join(PURPOSES)}, not {purpose!r}")
    when = moment(at) or _dt.datetime.now(_dt.UTC).replace(microsecond=0)
    store = trust_store(trust, crl, untrusted=untrusted, offline=offline, soft_fail=soft_fail)
    if store is None:
        raise usage("trust validate needs --trust (the trust anchors)")
    if ocsp_response:
        import dataclasses

        store = dataclasses.replace(store, ocsps=_ocsp_responses(ocsp_response))
    leaf = load_certificate(input_file(cert))
    result = store.validate(leaf, at=when, purpose=KeyPurpose(purpose))
    report = ValidationReport.from_result(leaf, result, at=when, purpose=purpose)
    if as_json:
        print_json(report)
    else:
        _render(report)
    if not report.valid:
        err(printable(f"{cert}: not valid: {', '.join(report.reasons)}"))
    return exit_code(report)
