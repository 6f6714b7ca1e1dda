"""``dicomsec verify``: verify every signature of DICOM files and folders."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from dicomsec.cli._audit import audit_handlers
from dicomsec.cli._contexts import (
    CRL_HELP,
    OFFLINE_HELP,
    POLICY_HELP,
    SOFT_FAIL_HELP,
    TRUST_HELP,
    UNTRUSTED_HELP,
    TrustArgs,
    algorithm_policy,
    cached_trust_store,
    moment,
)
from dicomsec.cli._root import (
    DEBUG,
    EXIT_OK,
    EXIT_SECURITY,
    command,
    err,
    exit_code,
    print_json,
    printable,
    progress,
    usage,
)

if TYPE_CHECKING:
    import datetime as _dt

    import typer

    from dicomsec.algorithms.policy import AlgorithmPolicy
    from dicomsec.events import AuditHandler
    from dicomsec.limits import Limits
    from dicomsec.policy import Policy, Verdict
    from dicomsec.signatures._events import Audited

REQUIRE = ("any", "creator", "authorization", "sr", "sr-verification")


def _trust_word(s: Any) -> str:
    """``trusted``, or ``UNTRUSTED`` with the validator's reasons (a revocation with its date
    and reason: ``UNTRUSTED: revoked 2026-11-30 (key_compromise)``)."""
    if s.trusted:
        return "trusted"
    reasons = [r for r in getattr(s, "trust_reasons", ()) if r != "revoked"]
    revoked_at = getattr(s, "revoked_at", None)
    if revoked_at is not None or "revoked" in getattr(s, "trust_reasons", ()):
        why = getattr(s, "revocation_reason", None)
        reasons.insert(0, "revoked" + (f" {revoked_at:%Y-%m-%d}" if revoked_at else "")
                       + (f" ({why})" if why else ""))
    return "UNTRUSTED" + (f": {', '.join(reasons)}" if reasons else "")


def _signature_lines(s: Any) -> list[str]:
    verdict = "valid" if s.valid else "INVALID"
    trust = _trust_word(s)
    extra = []
    if s.legacy:
        extra.append("LEGACY algorithm")
    if s.timestamp:
        extra.append("timestamp " + ("ok" if s.timestamp.ok else "FAILED"))
    if s.purpose:
        extra.append(f"purpose {s.purpose['code']} {s.purpose['meaning']}")
    lines = [f"  [{verdict}, {trust}] {s.location} uid={s.uid}",
             f"      {s.signature_algorithm} / {s.mac_algorithm}; signer {s.signer}; "
             f"signed {s.datetime}",
             f"      profiles: {', '.join(s.profiles) or '-'}"
             + (f"; {'; '.join(extra)}" if extra else "")]
    lines.extend(_policy_lines(s.policy))
    lines.extend(f"      problem: {prob}" for prob in s.problems)
    lines.extend(f"      warning: {w}" for w in getattr(s, "trust_warnings", ()))
    return lines


def _policy_lines(policy: Any) -> list[str]:
    """The algorithm policy's caveats on a signature (a refusal is also listed as a problem)."""
    if policy is None:
        return []
    return [f"      policy ({policy.name}, {policy.at.isoformat()}): {d.reason}"
            for d in policy.decisions if d.allowed and d.reason]


def _listed(label: str, entries: tuple[str, ...]) -> list[str]:
    """One line naming up to 8 entries and how many more there are (none when empty)."""
    if not entries:
        return []
    more = len(entries) - 8
    return [f"  {label}: {', '.join(entries[:8])}" + (f" (+{more} more)" if more > 0 else "")]


def _report_lines(rep: Any) -> list[str]:
    status = "OK" if rep.ok else "FAILED"
    n = len(rep.signatures)
    count = (f"{n} signature{'s' if n != 1 else ''}" if n
             else "no signatures found: nothing verified")
    if not n and not rep.ok and rep.required_met:
        count += " (--allow-unsigned accepts files without signatures)"
    lines = [f"{status}  {rep.file}: {count}"
             + ("" if rep.required_met else f"; none satisfies --require {rep.required}")]
    for s in rep.signatures:
        lines.extend(_signature_lines(s))
    if rep.signatures:
        lines.extend(_listed("unsigned top-level attributes", rep.unsigned_attributes))
        lines.extend(_listed("unsigned inside signed items", rep.unsigned_in_items))
    lines.extend(f"  skipped: {s}" for s in rep.skipped)
    return lines


def _error_line(error: str | None, detail: str | None) -> str:
    """A file's error for people; an internal error's traceback only with ``--debug``."""
    if detail is None:
        return f"error: {error}"
    if DEBUG[0]:
        return f"error: {error}\n{detail.rstrip()}"
    return f"error: {error} (run with --debug for details)"


def _verdict_line(v: Verdict) -> str:
    """The signing policy's verdict on a file, for people."""
    rule = f"rule {v.rule!r}, {v.mode}" if v.rule else "no rule matches"
    state = "ENFORCED" if v.enforced else ("ok" if v.verdict == "compliant" else "monitored")
    details = f": {'; '.join(v.details)}" if v.details else ""
    return f"  policy: {v.verdict} ({rule}; {state}) device {v.device}{details}"


def _verify_one(path: Path, *, trust: TrustArgs, require: str | None,
                policy: AlgorithmPolicy | None = None,
                at: _dt.datetime | None = None, allow_unsigned: bool = False,
                limits: Limits | None = None,
                signing_policy: Policy | None = None,
                handlers: tuple[AuditHandler, ...] = ()) -> tuple[bool, dict[str, Any], str]:
    """The batch job: verify one file; ``(ok, to_dict(), text)`` (picklable, unlike the
    report, which holds certificates). ``limits``: those of the command line, carried to
    workers that were spawned (a forked one inherits them anyway). With a signing policy the
    file's verdict is added (``"verdict"``): an enforce rule violated fails the file too (a
    monitor rule only reports; it never makes a failed verification pass). Text from the
    file and its certificates is made terminal-safe (:func:`printable`). ``handlers`` get
    the file's VERIFY event, and a POLICY_VIOLATION event when the verdict violates a rule."""
    from dicomsec import limits as _limits
    from dicomsec.signatures import verify_file

    with _limits.applied(limits or _limits.current()):
        rep = verify_file(path, trust=cached_trust_store(trust), require=require, policy=policy,
                          at=at, allow_unsigned=allow_unsigned, handlers=handlers)
        if signing_policy is None:
            return rep.ok, rep.to_dict(), "\n".join(map(printable, _report_lines(rep)))
        from dicomsec.policy import read_attributes

        verdict = signing_policy.evaluate(rep, read_attributes(path, signing_policy),
                                          path=str(path), handlers=handlers)
    text = "\n".join(map(printable, [*_report_lines(rep), _verdict_line(verdict)]))
    return rep.ok and not verdict.enforced, {**rep.to_dict(), "verdict": verdict.to_dict()}, text


def _verify_audited(path: Path, **options: Any) -> Audited[tuple[bool, dict[str, Any], str]]:
    """The batch job when auditing is on: :func:`_verify_one` with the file's events
    collected in the worker and returned (the parent re-emits them), a failure included; an
    unexpected exception (an OSError, a defect) is a VERIFY failure event too."""
    from dicomsec.events import Operation
    from dicomsec.signatures._events import run_audited

    return run_audited(lambda handlers: _verify_one(path, handlers=handlers, **options),
                       operation=Operation.VERIFY, path=path)


def _policies(policy_file: Path | None,
              signing_file: Path | None) -> tuple[AlgorithmPolicy | None, Policy | None]:
    """The algorithm policy and the signing policy of ``--algorithm-policy`` and ``--policy``
    (a signing policy file may carry ``[algorithms]`` overrides: then not both)."""
    if signing_file is None:
        return algorithm_policy(policy_file), None
    from dicomsec.policy import load

    signing = load(signing_file)
    if signing.algorithm_policy is not None and policy_file is not None:
        raise usage("--policy carries [algorithms] overrides: drop --algorithm-policy")
    return signing.algorithm_policy or algorithm_policy(policy_file), signing


def _results(job: Callable[[Path], Any], paths: list[Path], *,
             workers: int | None, show_progress: bool, as_json: bool,
             codes: list[int], handlers: tuple[AuditHandler, ...] = ()
             ) -> Iterator[dict[str, Any]]:
    """Run ``job`` over the files under ``paths``; yield each file's dict (printing the
    people's text unless ``as_json``) and append its exit code to ``codes``. The audit
    events a job returns (:func:`_verify_audited`) go to ``handlers``."""
    from dicomsec.batch import iter_files, make_executor
    from dicomsec.signatures._events import unpacked

    with progress(None, show=True if show_progress else None) as bar:
        task = bar.add_task("verifying", total=None)
        for done in make_executor(workers).map(job, iter_files(paths)):
            outcome = unpacked(done, handlers)
            result: dict[str, Any]
            if outcome.value is not None:
                ok, result, text = outcome.value
                codes.append(EXIT_OK if ok else EXIT_SECURITY)
                if not as_json:
                    print(text)
            else:
                codes.append(exit_code(outcome))
                result = {"file": str(outcome.item), "error": outcome.message}
                if not as_json:
                    err(_error_line(outcome.error, outcome.detail))
            bar.advance(task)
            yield result


@command("verify")
def verify(
    paths: Annotated[list[Path], typer.Argument(metavar="PATH...",
                                                help="Files or folders (recursive).")],
    trust: Annotated[list[Path] | None, typer.Option("--trust", help=TRUST_HELP)] = None,
    crl: Annotated[list[Path] | None, typer.Option("--crl", help=CRL_HELP)] = None,
    require: Annotated[str | None, typer.Option(
        "--require", help="Fail unless a valid, trusted signature of this kind exists: "
        "any, creator, authorization, sr.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (a list, one object "
                                          "per file).")] = False,
    workers: Annotated[int | None, typer.Option(
        "--workers", help="Worker processes (default: one per CPU); 1 verifies in this "
        "process.")] = None,
    show_progress: Annotated[bool, typer.Option(
        "--progress", help="Show a progress bar on stderr even when it is not a "
        "terminal.")] = False,
    policy_file: Annotated[Path | None, typer.Option(
        "--algorithm-policy", metavar="FILE", help=POLICY_HELP)] = None,
    at: Annotated[str | None, typer.Option(
        "--at", metavar="DATETIME", help="Judge the algorithms as on this day (ISO 8601, "
        "e.g. 2036-06-01); default now.")] = None,
    allow_unsigned: Annotated[bool, typer.Option(
        "--allow-unsigned", help="A file without any signature is ok (exit 0; it still says "
        "'nothing verified'). Without it, such a file fails (exit 1).")] = False,
    untrusted: Annotated[list[Path] | None, typer.Option(
        "--untrusted", metavar="CERTS", help=UNTRUSTED_HELP)] = None,
    offline: Annotated[bool, typer.Option("--offline", help=OFFLINE_HELP)] = False,
    soft_fail: Annotated[bool, typer.Option("--soft-fail", help=SOFT_FAIL_HELP)] = False,
    signing_policy: Annotated[Path | None, typer.Option(
        "--policy", metavar="FILE", help="Signing policy (TOML, docs/trust-and-policy.md): "
        "each file also gets its verdict; a file that violates an enforce rule fails (exit "
        "1) even when its signatures verify; monitor rules only report ('policy check' "
        "judges by the policy alone).")] = None,
) -> int:
    """Verify every signature of DICOM files, at every level.

    Exit 0 when every signature is valid and trusted (and required ones exist) and the
    algorithm policy allows its algorithms for verification, 1 otherwise (also when the paths
    hold no file at all), 2 when a file or the policy file cannot be read (a failed signature
    in another file takes precedence). A file without signatures says "nothing verified" and
    fails (exit 1) unless --allow-unsigned is given (--require still applies then).
    Each signer's certificate is validated against --trust, with the --untrusted
    intermediates, the --crl files and (unless --offline) CRLs and OCSP responses fetched from
    the certificate; a revocation status that cannot be determined fails unless --soft-fail.
    With --policy, each file also gets the signing policy's verdict (compliant, unsigned,
    untrusted, revoked, ...); an enforce rule violated fails the file as well.
    Files are verified by worker processes; results appear in order of completion.
    """
    if require is not None and require not in REQUIRE:
        raise usage("--require takes any, creator, authorization or sr")
    if workers is not None and workers < 1:
        raise usage("--workers must be at least 1")
    from dicomsec import limits

    trust_args: TrustArgs = (tuple(trust or ()), tuple(crl or ()), tuple(untrusted or ()),
                              offline, soft_fail)
    cached_trust_store(trust_args)  # a bad --trust or flag combination stops the run here
    algorithms, signing = _policies(policy_file, signing_policy)
    handlers = audit_handlers("verify")
    job = functools.partial(_verify_audited if handlers else _verify_one, trust=trust_args,
                            require=require, policy=algorithms, at=moment(at),
                            allow_unsigned=allow_unsigned, limits=limits.current(),
                            signing_policy=signing)
    codes: list[int] = []
    results = _results(job, paths, workers=workers, show_progress=show_progress,
                       as_json=as_json, codes=codes, handlers=handlers)
    if as_json:
        print_json(results)  # streamed: one file object at a time
    else:
        for _ in results:
            pass
    if not codes:
        err("error: no files verified: no file found under the paths given")
        return EXIT_SECURITY
    return exit_code(codes)
