"""``dicomsec verify``: verify every signature of DICOM files and folders."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from dicomsec.cli._contexts import trust_store
from dicomsec.cli._root import command, err, progress, usage

if TYPE_CHECKING:
    import typer

REQUIRE = ("any", "creator", "authorization", "sr", "sr-verification")


def _expand(paths: list[Path]) -> Iterator[Path]:
    for p in paths:
        if p.is_dir():
            for root, dirs, files in os.walk(p):
                dirs.sort()
                for f in sorted(files):
                    yield Path(root) / f
        else:
            yield p


def _render_signature(s: Any) -> None:
    verdict = "valid" if s.valid else "INVALID"
    trust = "trusted" if s.trusted else "UNTRUSTED"
    extra = []
    if s.legacy:
        extra.append("LEGACY algorithm")
    if s.timestamp:
        extra.append("timestamp " + ("ok" if s.timestamp.get("ok") else "FAILED"))
    if s.purpose:
        extra.append(f"purpose {s.purpose['code']} {s.purpose['meaning']}")
    print(f"  [{verdict}, {trust}] {s.location} uid={s.uid}")
    print(f"      {s.signature_algorithm} / {s.mac_algorithm}; signer {s.signer}; "
          f"signed {s.datetime}")
    print(f"      profiles: {', '.join(s.profiles) or '-'}"
          + (f"; {'; '.join(extra)}" if extra else ""))
    for prob in s.problems:
        print(f"      problem: {prob}")


def _render_report(rep: Any) -> None:
    status = "OK" if rep.ok else "FAILED"
    n = len(rep.signatures)
    print(f"{status}  {rep.file}: {n} signature{'s' if n != 1 else ''}"
          + ("" if rep.required_met else f"; none satisfies --require {rep.required}"))
    for s in rep.signatures:
        _render_signature(s)
    if rep.signatures and rep.unsigned_attributes:
        shown = ", ".join(rep.unsigned_attributes[:8])
        more = len(rep.unsigned_attributes) - 8
        tail = f" (+{more} more)" if more > 0 else ""
        print(f"  unsigned top-level attributes: {shown}{tail}")
    for s in rep.skipped:
        print(f"  skipped: {s}")


@command("verify")
def verify(
    paths: Annotated[list[Path], typer.Argument(metavar="PATH...",
                                                help="Files or folders (recursive).")],
    trust: Annotated[list[Path] | None, typer.Option(
        "--trust", help="Trusted CA certificate file or folder; repeatable.")] = None,
    crl: Annotated[list[Path] | None, typer.Option("--crl", help="CRL file; repeatable.")] = None,
    require: Annotated[str | None, typer.Option(
        "--require", help="Fail unless a valid, trusted signature of this kind exists: "
        "any, creator, authorization, sr.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (a list, one object "
                                          "per file).")] = False,
) -> int:
    """Verify every signature of DICOM files, at every level.

    Exit 0 when every signature is valid and trusted (and required ones exist), 1 otherwise,
    2 when a file cannot be read (a failed signature in another file takes precedence).
    """
    if require is not None and require not in REQUIRE:
        raise usage("--require takes any, creator, authorization or sr")
    from dicomsec.errors import InvalidInput
    from dicomsec.signatures import verify_file

    store = trust_store(trust, crl)
    files = list(_expand(paths))
    failed = unreadable = False
    # JSON is streamed one file object at a time, so memory does not grow with the folder
    sep = "[\n"
    with progress(len(files)) as bar:
        task = bar.add_task("verifying", total=len(files))
        for f in files:
            result: dict[str, Any]
            try:
                rep = verify_file(f, trust=store, require=require)
            except InvalidInput as exc:
                unreadable = True
                result = {"file": str(f), "error": exc.message}
                if not as_json:
                    err(f"error: {exc}")
            else:
                failed |= not rep.ok
                result = rep.to_dict()
                if not as_json:
                    _render_report(rep)
            if as_json:
                sys.stdout.write(sep + json.dumps(result, indent=2))
                sep = ",\n"
            bar.advance(task)
    if as_json:
        print("[]" if sep == "[\n" else "\n]")
    return 1 if failed else (2 if unreadable else 0)
