"""``dicomsec deid | reid``: de-identification (PS3.15 Annex E) and re-identification of DICOM
files and folders, in worker processes."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from dicomsec.cli._audit import audit_handlers
from dicomsec.cli._contexts import POLICY_HELP, algorithm_policy
from dicomsec.cli._root import (
    DEBUG,
    EXIT_INPUT,
    EXIT_OK,
    command,
    err,
    exit_code,
    print_json,
    printable,
    progress,
    usage,
)

if TYPE_CHECKING:
    import typer

    from dicomsec.algorithms.policy import AlgorithmPolicy
    from dicomsec.deid._batch import MappingTable, Planned
    from dicomsec.deid._envelope import RecipientGroup
    from dicomsec.deid._file import DeidConfig
    from dicomsec.deid._rules import Option
    from dicomsec.events import AuditHandler

#: the environment variable that may hold the UID secret (its UTF-8 bytes)
SECRET_ENV = "DICOMSEC_UID_SECRET"  # noqa: S105  (a name, not a secret)
#: the largest UID secret file read (a secret is a line; a bigger file is a mistake)
MAX_SECRET_FILE = 1 << 20


def _options(values: list[str] | None) -> frozenset[Option]:
    """``--option`` values, repeatable and comma-separated; a usage error names the valid
    ones."""
    from dicomsec.deid._rules import Option, check_options
    from dicomsec.errors import InvalidInput

    names = [n for v in values or () for n in v.split(",") if n.strip()]
    try:
        return check_options(Option.parse(n) for n in names)
    except InvalidInput as exc:
        raise usage(str(exc)) from None


def read_secret(path: Path | None) -> tuple[bytes, list[str]]:
    """The UID secret: ``--uid-secret-file`` (its first line when the file is text, else its
    bytes), else ``$DICOMSEC_UID_SECRET``, else a random one for this run (with the warning
    it deserves); at least :data:`dicomsec.deid._uids.MIN_SECRET_BYTES` bytes. Returns the
    secret and the warnings (a secret file others may read, a random secret).

    Raises:
        InvalidInput: the file is not a regular file, is over 1 MiB, cannot be read, or the
            secret is too short.
    """
    from dicomsec.deid._uids import MIN_SECRET_BYTES
    from dicomsec.errors import InvalidInput

    warnings: list[str] = []
    if path is not None:
        data = _secret_file(path, warnings)
        try:
            lines = data.decode("utf-8").splitlines()
            secret = lines[0].encode("utf-8") if lines else b""
        except UnicodeDecodeError:
            secret = data
        where = f"the UID secret file {path}"
    elif os.environ.get(SECRET_ENV) is not None:
        secret, where = os.environ[SECRET_ENV].encode("utf-8"), f"${SECRET_ENV}"
    else:
        return os.urandom(32), [
            "warning: no --uid-secret-file nor $DICOMSEC_UID_SECRET: a random secret for "
            "this run; its UIDs and Patient IDs will not match those of another run"]
    if len(secret) < MIN_SECRET_BYTES:
        raise InvalidInput(f"{where} holds {len(secret)} bytes; at least {MIN_SECRET_BYTES} "
                           "are needed (e.g. 'openssl rand -hex 32')")
    return secret, warnings


def _secret_file(path: Path, warnings: list[str]) -> bytes:
    """The bytes of a secret file: a regular file (never a FIFO or a device, which would
    never end), read with a bound; a warning when its group or others may read it."""
    import stat

    from dicomsec._atomic import regular_input
    from dicomsec.errors import InvalidInput

    regular_input(path)
    try:
        with path.open("rb") as fh:
            mode = os.fstat(fh.fileno()).st_mode
            data = fh.read(MAX_SECRET_FILE + 1)
    except OSError as exc:
        raise InvalidInput(f"cannot read the UID secret file: {exc.strerror or exc}",
                           path=str(path)) from None
    if len(data) > MAX_SECRET_FILE:
        raise InvalidInput("the UID secret file is over 1 MiB: not a secret",
                           path=str(path))
    if stat.S_IMODE(mode) & 0o077:
        warnings.append(f"warning: the UID secret file {path} may be read by its group or "
                        f"others (mode {stat.S_IMODE(mode):04o}); chmod 600 it")
    return data


def _groups(to: list[Path] | None, attributes_for: list[str] | None, mode: str,
            policy: AlgorithmPolicy | None) -> tuple[RecipientGroup, ...]:
    """The recipient groups, every certificate checked once, before any work (validity, key
    usage for encryption, key type for ``mode``, the algorithm policy): a bad one is one
    error line, not one per file after OUTDIR was made."""
    from dicomsec.deid._envelope import check_recipients, parse_attributes_for, recipient_groups
    from dicomsec.errors import PolicyViolation

    subsets = [parse_attributes_for(text) for text in attributes_for or ()]
    for cert in [*(to or ()), *(p for p, _ in subsets)]:
        if not cert.is_file():
            raise usage(f"recipient {cert}: not a readable file")
    groups = recipient_groups(list(to or ()), subsets)
    try:
        check_recipients(groups, mode=mode, policy=policy)
    except PolicyViolation as exc:  # audited: the algorithm policy refused a recipient
        from dicomsec.events import Operation
        from dicomsec.signatures._events import emit_built, failure_event

        emit_built(audit_handlers("deid"), failure_event,
                   Operation.DEIDENTIFY, exc, exc.path)
        raise
    return groups


def _error_line(error: str | None, detail: str | None) -> str:
    if detail is not None and DEBUG[0]:
        return f"error: {printable(error)}\n{detail.rstrip()}"
    suffix = " (run with --debug for details)" if detail is not None else ""
    return f"error: {printable(error)}{suffix}"


def _deid_lines(d: dict[str, Any]) -> list[str]:
    counts = d["counts"]
    enc = d["encrypted"]
    parts = [f"removed {counts['removed']}", f"replaced {counts['replaced']}",
             f"kept {counts['kept']}", f"UIDs {d['mapping']['uids']}"]
    if enc is not None:
        parts.append(f"encrypted for {len(enc['recipients'])} recipient(s) in "
                     f"{enc['items']} item(s) ({enc['mode']})")
    if d["pixels"] is not None:
        parts.append(f"{len(d['pixels']['regions'])} pixel region(s) blanked "
                     f"({d['pixels']['engine']})")
    if d.get("overlays"):
        parts.append(f"{len(d['overlays']['regions'])} overlay region(s) cleared")
    if d["signatures_removed"]:
        parts.append(f"{len(d['signatures_removed'])} signature(s) removed")
    lines = [f"OK  {printable(d['file'])} -> {printable(d['output'])}: {', '.join(parts)}"]
    lines.extend(f"  FLAG: {printable(f)}" for f in d["flags"])
    lines.extend(f"  warning: {printable(w)}" for w in d["warnings"])
    return lines


def _reid_lines(d: dict[str, Any]) -> list[str]:
    """The people's line; the GCM tag proves the item unaltered since it was made, never who
    made it (anyone holding the recipient's certificate can make a valid item)."""
    auth = ("GCM tag checked: unaltered since made, maker not proven" if d["authenticated"]
            else "CBC: no integrity check")
    partial = ("" if d.get("complete", True) else "; PARTIAL: a subset, Patient Identity "
               "Removed stays YES")
    return [f"OK  {printable(d['file'])} -> {printable(d['output'])}: restored "
            f"{len(d['restored'])} attribute(s) from item {d['item_index']} ({d['outer']}, "
            f"{d['cipher']}, {d['recipient_kind']}; {auth}){partial}"]


def _run(job: Callable[[Planned], Any], paths: list[Path], outdir: Path, *,
         workers: int | None, as_json: bool, codes: list[int], what: str,
         table: MappingTable | None = None,
         handlers: tuple[AuditHandler, ...] = ()) -> Iterator[dict[str, Any]]:
    """Run ``job`` over every planned file; yield each file's dict, print the people's lines
    unless ``as_json``, append each exit code to ``codes``, merge mappings into ``table``.
    The audit events a job returns (``audited_*_job``) go to ``handlers``."""
    from dicomsec.batch import make_executor
    from dicomsec.deid._batch import plan
    from dicomsec.signatures._events import unpacked

    with progress(None) as bar:
        task = bar.add_task(what, total=None)
        for done in make_executor(workers).map(job, plan(paths, outdir)):
            outcome = unpacked(done, handlers)
            if outcome.value is not None:
                value = outcome.value
                result = value[0] if isinstance(value, tuple) else value
                if table is not None and isinstance(value, tuple):
                    table.add("uid", value[1])
                    table.add("patient_id", value[2])
                codes.append(EXIT_OK)
                if not as_json:
                    print("\n".join(_deid_lines(result) if table is not None
                                    else _reid_lines(result)))
            else:
                codes.append(exit_code(outcome))
                result = {"file": str(outcome.item.src), "error": outcome.message}
                if not as_json:
                    err(_error_line(outcome.error, outcome.detail))
            bar.advance(task)
            yield result


def _finish(results: Iterator[dict[str, Any]], as_json: bool, codes: list[int]) -> int:
    if as_json:
        print_json(results)
    else:
        for _ in results:
            pass
    if not codes:
        err("error: no input file found under the paths given")
        return EXIT_INPUT
    return exit_code(codes)


def _check_paths(paths: list[Path], outdir: Path, workers: int | None) -> None:
    """The inputs exist; OUTDIR is a folder (or absent) and shares no tree with an input:
    it is not an input folder nor inside one, and no input lies inside it (a file named in
    OUTDIR included), so that no output can ever replace an input (symbolic links resolved)."""
    if workers is not None and workers < 1:
        raise usage("--workers must be at least 1")
    for p in paths:
        if not p.exists():
            raise usage(f"{p}: no such file or folder")
    if outdir.exists() and not outdir.is_dir():
        raise usage(f"-o {outdir}: not a folder")
    out = outdir.resolve()
    for p in paths:
        src = p.resolve()
        if p.is_dir() and (out == src or src in out.parents):
            raise usage(f"-o {outdir}: inside the input folder {p}; give an output folder "
                        "outside every input")
        if out in src.parents:
            raise usage(f"{p} lies inside the output folder -o {outdir}; give an output "
                        "folder outside every input")


def _check_mapping(mapping: Path, paths: list[Path], outdir: Path) -> None:
    """``--mapping`` (PHI) is neither an input, nor under an input folder (it would replace
    or join the originals), nor under OUTDIR (the folder that gets shared)."""
    from dicomsec.cli._contexts import output_file

    target = mapping.parent.resolve() / mapping.name
    out = outdir.resolve()
    if out in target.parents:
        raise usage(f"--mapping {mapping}: inside the output folder -o {outdir}, which is "
                    "shared; the mapping is PHI: write it elsewhere")
    for p in paths:
        src = p.resolve()
        if target == src or (p.is_dir() and src in target.parents):
            raise usage(f"--mapping {mapping}: an input or inside the input {p}; write it "
                        "elsewhere")
    output_file(mapping)


def _config(paths: list[Path], outdir: Path, option: list[str] | None,
            secret_file: Path | None, mapping: Path | None, to: list[Path] | None,
            attributes_for: list[str] | None, mode: str, pixel_rules: Path | None,
            strict: bool, workers: int | None, policy_file: Path | None) -> DeidConfig:
    """Check every argument of ``deid`` (one line, before any work) and build the run's
    configuration; then create OUTDIR."""
    from dicomsec.deid._envelope import MODES
    from dicomsec.deid._file import DeidConfig

    if mode not in MODES:
        raise usage(f"--mode takes {' or '.join(MODES)}, not {mode!r}")
    options = _options(option)
    _check_paths(paths, outdir, workers)
    policy = algorithm_policy(policy_file)  # a bad policy file stops the run here
    if mapping is not None:
        _check_mapping(mapping, paths, outdir)
    if pixel_rules is not None:
        from dicomsec.deid._pixels import load_pixel_rules

        load_pixel_rules(pixel_rules)  # a bad rules file is one error, before any work
    secret, warnings = read_secret(secret_file)
    config = DeidConfig(options=options, secret=secret,
                        groups=_groups(to, attributes_for, mode, policy), mode=mode,
                        pixel_rules=pixel_rules, strict=strict, policy=policy_file)
    for warning in warnings:
        err(warning)
    outdir.mkdir(parents=True, exist_ok=True)
    return config


@command("deid")
def deid(
    paths: Annotated[list[Path], typer.Argument(
        metavar="IN...", help="DICOM files and folders (recursive).")],
    outdir: Annotated[Path, typer.Option(
        "-o", "--output", metavar="OUTDIR", help="Folder for the outputs, outside every "
        "input (base names and folders relative to each input folder are kept).")],
    option: Annotated[list[str] | None, typer.Option(
        "--option", help="An option of the Basic profile (PS3.15 E.1-1), repeatable or "
        "comma-separated: retain-safe-private, retain-uids, retain-device-identity, "
        "retain-institution-identity, retain-patient-characteristics, "
        "retain-longitudinal-full-dates, retain-longitudinal-modified-dates, "
        "clean-descriptors, clean-structured-content, clean-graphics, clean-pixel-data, "
        "clean-recognizable-visual-features.")] = None,
    secret_file: Annotated[Path | None, typer.Option(
        "--uid-secret-file", metavar="F", help="The site secret of the UID, Patient ID and "
        "date mappings: the file's first line (text) or its bytes, at least 16 bytes (else "
        "$DICOMSEC_UID_SECRET; else random for this run).")] = None,
    mapping: Annotated[Path | None, typer.Option(
        "--mapping", metavar="FILE", help="Write the old -> new UIDs and Patient IDs as CSV "
        "(kind,original,replacement; mode 0600). It is PHI: not an input, nor under an input "
        "folder or OUTDIR.")] = None,
    to: Annotated[list[Path] | None, typer.Option(
        "--to", metavar="CERT", help="Recipient of the original values (certificate or "
        "public key), repeatable; all --to recipients share one item with every "
        "original.")] = None,
    attributes_for: Annotated[list[str] | None, typer.Option(
        "--attributes-for", metavar="CERT=TAG,TAG", help="A recipient that gets only these "
        "attributes' originals (keywords or (gggg,eeee)); repeatable.")] = None,
    mode: Annotated[str, typer.Option(
        "--mode", help="modern (AuthEnvelopedData AES-256-GCM; RSA-OAEP, ECDH, ML-KEM) or "
        "compatible (EnvelopedData AES-256-CBC, RSA PKCS#1 v1.5: what gdcmanon -d "
        "reads).")] = "modern",
    pixel_rules: Annotated[Path | None, typer.Option(
        "--pixel-rules", metavar="FILE", help="Region rules (TOML) for clean-pixel-data "
        "(default: the shipped rules).")] = None,
    strict: Annotated[bool, typer.Option(
        "--strict", help="Refuse (exit 1, nothing written) a file with a risk the options "
        "leave (burned-in text not cleaned, visual features not cleanable).")] = False,
    workers: Annotated[int | None, typer.Option(
        "--workers", help="Worker processes (default: one per CPU).")] = None,
    policy_file: Annotated[Path | None, typer.Option(
        "--algorithm-policy", metavar="FILE", help=POLICY_HELP)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (a list, one object "
                                          "per file).")] = False,
) -> int:
    """De-identify DICOM files (PS3.15 Annex E: the Basic profile and its options),
    reversibly when recipients are given (Encrypted Attributes Sequence).

    Exit 0 when every file was written; 1 when a file was refused for a safety reason
    (--strict) or the algorithm policy refuses an algorithm; 2 for unreadable input or a bad
    argument. A batch exits with the worst code; a failed file is never written, half-done
    or otherwise.
    """
    config = _config(paths, outdir, option, secret_file, mapping, to, attributes_for, mode,
                     pixel_rules, strict, workers, policy_file)
    from dicomsec.deid._batch import MappingTable, audited_deid_job, deid_job

    table = MappingTable()
    codes: list[int] = []
    handlers = audit_handlers("deid")
    job = functools.partial(audited_deid_job if handlers else deid_job, config=config)
    results = _run(job, paths, outdir, workers=workers, as_json=as_json, codes=codes,
                   what="de-identifying", table=table, handlers=handlers)
    code = _finish(results, as_json, codes)
    if mapping is not None:
        table.write_csv(mapping)
        if not as_json:
            err(f"mapping: {len(table)} row(s) written to {mapping} (PHI: keep it safe)")
    return code


@command("reid")
def reid(
    paths: Annotated[list[Path], typer.Argument(
        metavar="IN...", help="De-identified DICOM files and folders (recursive).")],
    outdir: Annotated[Path, typer.Option(
        "-o", "--output", metavar="OUTDIR", help="Folder for the re-identified files, "
        "outside every input (mode 0600: they hold PHI).")],
    key: Annotated[Path, typer.Option("--key", metavar="K",
                                      help="The recipient's private key.")],
    cert: Annotated[Path | None, typer.Option(
        "--cert", metavar="C", help="The recipient's certificate (finds its item faster; "
        "needed for issuer-and-serial recipients of some tools).")] = None,
    key_password_file: Annotated[Path | None, typer.Option(
        "--key-password-file", metavar="F", help="File whose first line is the key password "
        "(printable ASCII; else $DICOMSEC_KEY_PASSWORD).")] = None,
    workers: Annotated[int | None, typer.Option(
        "--workers", help="Worker processes (default: one per CPU).")] = None,
    policy_file: Annotated[Path | None, typer.Option(
        "--algorithm-policy", metavar="FILE", help=POLICY_HELP)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (a list, one object "
                                          "per file).")] = False,
) -> int:
    """Re-identify de-identified DICOM files: open the Encrypted Attributes Sequence with
    the recipient's key and restore the original values (PS3.15 E.1.2).

    Exit 0 when every file was restored; 1 when no item has a recipient the key matches,
    the encrypted content fails its check, or the item would restore pixel data or another
    SOP Class (nothing written); 2 for unreadable input, a file without Encrypted Attributes
    Sequence, a bad key or password, or an output folder that overlaps an input.
    """
    _check_paths(paths, outdir, workers)
    algorithm_policy(policy_file)
    from dicomsec.deid._batch import KeyArgs, audited_reid_job, reid_job
    from dicomsec.deid._reid import load_credentials
    from dicomsec.keys import read_password

    args = KeyArgs(key, cert, read_password(key_password_file), policy_file)
    # a bad key, certificate or password (ISO-IR 6) is one error, before any work
    load_credentials(args.key, args.cert, args.password)
    outdir.mkdir(parents=True, exist_ok=True)
    codes: list[int] = []
    handlers = audit_handlers("reid")
    job = functools.partial(audited_reid_job if handlers else reid_job, key=args)
    results = _run(job, paths, outdir, workers=workers, as_json=as_json, codes=codes,
                   what="re-identifying", handlers=handlers)
    return _finish(results, as_json, codes)
