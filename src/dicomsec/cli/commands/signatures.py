"""``dicomsec signatures list | remove | purposes``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

from dicomsec.cli._contexts import input_file, output_file
from dicomsec.cli._root import command, err, print_json, usage

if TYPE_CHECKING:
    import typer


@command("list", group="signatures")
def list_cmd(
    file: Annotated[Path, typer.Argument(help="DICOM file.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> int:
    """List the signatures of a file (integrity checked, trust not)."""
    from dicomsec.signatures import list_signatures

    rep = list_signatures(file)
    if as_json:
        print_json(list(rep.signatures))
        return 0
    if not rep.signatures:
        print(f"{file}: no signatures")
    for s in rep.signatures:
        print(f"{s.uid}  {s.location}  MAC ID {s.mac_id}  {s.signature_algorithm}/"
              f"{s.mac_algorithm}  {'intact' if s.intact else 'BROKEN'}  {s.datetime}  "
              f"{s.signer}")
    return 0


@command("remove", group="signatures")
def remove_cmd(
    file: Annotated[Path, typer.Argument(help="DICOM file.")],
    uid: Annotated[list[str] | None, typer.Option(
        "--uid", help="Digital Signature UID to remove; repeatable.")] = None,
    remove_all: Annotated[bool, typer.Option("--all", help="Remove every signature.")] = False,
    out: Annotated[Path | None, typer.Option("-o", "--output", metavar="OUT")] = None,
    in_place: Annotated[bool, typer.Option("--in-place", help="Replace FILE.")] = False,
) -> int:
    """Remove signatures (and their MAC Parameters items) from a file."""
    if (out is None) == (not in_place):
        raise usage("give exactly one of -o OUT and --in-place")
    if bool(uid) == remove_all:
        raise usage("give either --uid UID or --all")
    from dicomsec.signatures import remove_signatures

    dst = file if in_place else out
    assert dst is not None
    input_file(file)
    output_file(dst)
    n = remove_signatures(file, dst, uids=uid or (), remove_all=remove_all)
    err(f"removed {n} signature{'s' if n != 1 else ''} -> {dst}")
    return 0


@command("purposes", group="signatures")
def purposes_cmd(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> int:
    """List the Digital Signature Purpose codes (ASTM E1762, CID 7007)."""
    from dicomsec.signatures import PURPOSES

    if as_json:
        print_json({str(k): v for k, v in PURPOSES.items()})
    else:
        for code, meaning in PURPOSES.items():
            print(f"{code:>2}  {meaning}")
    return 0
