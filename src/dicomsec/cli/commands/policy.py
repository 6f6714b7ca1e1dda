"""``dicomsec policy ...``: see docs/trust-and-policy.md."""

from __future__ import annotations

import functools
import json
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TextIO

from dicomsec.cli._contexts import (
    CRL_HELP,
    OFFLINE_HELP,
    SOFT_FAIL_HELP,
    TRUST_HELP,
    UNTRUSTED_HELP,
    TrustArgs,
    cached_trust_store,
    moment,
    output_file,
)
from dicomsec.cli._root import (
    EXIT_INPUT,
    EXIT_OK,
    EXIT_SECURITY,
    command,
    err,
    exit_code,
    printable,
    progress,
    usage,
)

if TYPE_CHECKING:
    import datetime as _dt

    import typer

    from dicomsec.limits import Limits
    from dicomsec.policy import Policy, PolicyReport, Tally, Verdict


def _judge_one(path: Path, *, policy: Policy, store: TrustArgs, at: _dt.datetime | None,
               limits: Limits | None = None) -> Verdict:
    """The batch job: the verdict on one file (picklable: it holds no certificate)."""
    from dicomsec import limits as _limits
    from dicomsec.policy import check_file

    with _limits.applied(limits or _limits.current()):
        return check_file(path, policy, trust=cached_trust_store(store), at=at)


def _line(v: Verdict) -> str:
    rule = f"{v.rule} ({v.mode}{', ENFORCED' if v.enforced else ''})" if v.rule else "-"
    details = f": {'; '.join(v.details)}" if v.details and v.verdict != "compliant" else ""
    return printable(f"{v.verdict.upper():22} {v.path}  [{v.device}] rule {rule}{details}")


def _people(report: PolicyReport) -> None:
    """The per-device summary for people (stdout)."""
    print(f"\n{report.summary()}")
    for d in report.devices:
        verdicts = ", ".join(f"{k} {n}" for k, n in sorted(d.by_verdict.items()))
        schemes = ", ".join(f"{k} {n}" for k, n in sorted(d.by_scheme.items())) or "none"
        print(f"  {printable(d.device)}: {d.files} files, {d.signed} signed, "
              f"{d.compliant} compliant, "
              f"{d.enforced} enforced violations; {verdicts}; schemes: {schemes}")
    for a in report.algorithms:
        flags = [f for f, on in (("quantum-vulnerable", a.quantum_vulnerable),
                                 ("legacy", a.legacy)) if on]
        until = (f"new signatures until {a.create_until.isoformat()}" if a.create_allowed
                 and a.create_until else "new signatures " + ("allowed" if a.create_allowed
                                                              else "refused"))
        print(f"  {a.kind} {a.algorithm}: {a.count}; {until}"
              + (f"; {', '.join(flags)}" if flags else ""))


def _html(path: Path, report: PolicyReport) -> None:
    from dicomsec._atomic import atomic_write_bytes
    from dicomsec.policy import render_html

    atomic_write_bytes(path, render_html(report).encode("utf-8"))


@command("check", group="policy")
def check(
    paths: Annotated[list[Path], typer.Argument(metavar="PATH...",
                                                help="Files or folders (recursive).")],
    policy_file: Annotated[Path, typer.Option(
        "--policy", metavar="FILE", help="Signing policy (TOML: [[rule]] tables, optional "
        "[algorithms]; see docs/trust-and-policy.md).")],
    trust: Annotated[list[Path] | None, typer.Option("--trust", help=TRUST_HELP)] = None,
    untrusted: Annotated[list[Path] | None, typer.Option(
        "--untrusted", metavar="CERTS", help=UNTRUSTED_HELP)] = None,
    crl: Annotated[list[Path] | None, typer.Option("--crl", help=CRL_HELP)] = None,
    offline: Annotated[bool, typer.Option("--offline", help=OFFLINE_HELP)] = False,
    soft_fail: Annotated[bool, typer.Option("--soft-fail", help=SOFT_FAIL_HELP)] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    html: Annotated[Path | None, typer.Option(
        "--html", metavar="OUT", help="Write the coverage report as one self-contained HTML "
        "file (written atomically).")] = None,
    workers: Annotated[int | None, typer.Option(
        "--workers", help="Worker processes (default: one per CPU); 1 works in this "
        "process.")] = None,
    show_progress: Annotated[bool | None, typer.Option(
        "--progress/--no-progress", help="Show a progress bar on stderr (default: when it is "
        "a terminal).")] = None,
    at: Annotated[str | None, typer.Option(
        "--at", metavar="DATE", help="Judge the algorithms as on this day (ISO 8601); "
        "default today.")] = None,
) -> int:
    """Judge every file against a signing policy: one verdict per file, a summary per device.

    Verdicts: compliant, unsigned, invalid, untrusted, revoked, wrong-signer, device-mismatch,
    algorithm-not-allowed, not-covered. The first rule that matches a file and whose 'from'
    date has come judges it. Exit 0 when no enforce rule is violated (monitor rules only
    report), 1 when one is, 2 for bad arguments, an unreadable policy, or a file that cannot be
    read (an enforced violation in another file takes precedence). The summary says VIOLATED,
    INCOMPLETE (files could not be judged) or OK; --json's "ok" is true only for OK.
    A file's verdict is invalid if any of its signatures is broken, whatever the others say.
    """
    if workers is not None and workers < 1:
        raise usage("--workers must be at least 1")
    from dicomsec import limits
    from dicomsec import policy as _policy

    if not trust:
        raise usage("--trust is required: a signature is judged by its signer's chain")
    when = moment(at)
    if html is not None:
        output_file(html)
    pol = _policy.load(policy_file)
    key: TrustArgs = (tuple(trust), tuple(crl or ()), tuple(untrusted or ()), offline,
                      soft_fail)
    cached_trust_store(key)  # a bad --trust stops the run here
    job = functools.partial(_judge_one, policy=pol, store=key, at=when,
                            limits=limits.current())
    tally = _policy.Tally()
    with tempfile.TemporaryFile("w+", encoding="utf-8") as spool:
        errors, codes = _run(job, paths, workers, show_progress, tally,
                             spool if as_json else None)
        report = tally.report(pol, at=when.date() if when else None, errors=errors)
        if html is not None:
            _html(html, report)
        if as_json:
            _print_streamed(report, spool)
        else:
            _people(report)
    # 1 for an enforced violation (before 2); report.ok is also false when files could not
    # be judged, which is their own exit code (2 unreadable, 70 a defect)
    return exit_code([EXIT_SECURITY if report.enforced else EXIT_OK, *codes])


def _print_streamed(report: PolicyReport, spool: TextIO) -> None:
    """``report.to_dict()`` as JSON on stdout, its ``files`` read back from ``spool`` (one
    JSON object a line): memory does not grow with the number of files."""
    out = sys.stdout
    out.write("{\n  " + json.dumps("schema") + ": " + json.dumps(report.schema) + ",\n  "
              '"ok": ' + json.dumps(report.ok) + ',\n  "files": [')
    spool.seek(0)
    sep = "\n    "
    for line in spool:
        out.write(sep + line.rstrip("\n"))
        sep = ",\n    "
    summary = json.dumps(report.summary_dict(), indent=2).replace("\n", "\n  ")
    out.write(("\n  " if sep != "\n    " else "") + '],\n  "summary": ' + summary + "\n}\n")
    out.flush()


def _run(job: Any, paths: list[Path], workers: int | None, show: bool | None, tally: Tally,
         spool: TextIO | None) -> tuple[list[tuple[str, str]], list[int]]:
    """Judge every file into ``tally`` (and its ``files`` entry into ``spool``, for
    ``--json``; else a line for people on stdout); the files that could not be judged and their
    exit codes (by the kind of error: 2 unreadable, 70 a defect)."""
    from dicomsec.batch import iter_files, make_executor
    from dicomsec.cli._audit import audit_handlers
    from dicomsec.events import emit
    from dicomsec.policy import file_entry, violation_event

    errors: list[tuple[str, str]] = []
    codes: list[int] = []

    handlers = audit_handlers("policy check")  # the workers judge; we emit
    with progress(None, show=show) as bar:
        task = bar.add_task("judging", total=None)
        for outcome in make_executor(workers).map(job, iter_files(paths)):
            if outcome.value is not None:
                tally.add(outcome.value)
                event = None
                try:  # auditing never changes the verdict or the exit code
                    event = violation_event(outcome.value) if handlers else None
                except Exception as exc:
                    err(printable(f"warning: policy violation event not built: "
                                  f"{type(exc).__name__}: {exc}"))
                if event is not None:
                    emit(handlers, event)
                if spool is not None:
                    spool.write(json.dumps(file_entry(outcome.value)) + "\n")
                else:
                    print(_line(outcome.value))
            else:
                errors.append((str(outcome.item), outcome.message or outcome.error or "error"))
                codes.append(exit_code(outcome))
                err(printable(f"error: {outcome.error}"))
            bar.advance(task)
    if not tally.counts and not errors:
        err("error: no files judged: no file found under the paths given")
        errors.append(("-", "no file found"))
        codes.append(EXIT_INPUT)
    return errors, codes
