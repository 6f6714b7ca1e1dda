"""The producer's inverse: remove digital signatures from a Part 10 file.

Like signing, removal never re-encodes the file: the dropped items are cut from a byte-exact
copy and the lengths of enclosing defined-length items and sequences are patched.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from dicomsec._atomic import atomic_output, in_place_lock
from dicomsec._rawdicom import find, parse_file
from dicomsec.errors import InvalidInput
from dicomsec.signatures._macstream import DIGITAL_SIGNATURES_SEQUENCE, MAC_PARAMETERS_SEQUENCE
from dicomsec.signatures._splice import Edit, Lengths, shrink, write_spliced
from dicomsec.signatures._values import MAC_ID, SIGNATURE_UID, text_value, us_value

__all__ = ["remove_signatures"]


def remove_signatures(
    src: Path | str, dst: Path | str, *, uids: Sequence[str] = (), remove_all: bool = False,
) -> int:
    """Remove signatures by Digital Signature UID (or all); returns how many were removed.

    A MAC Parameters item is removed with the last signature item that uses it; a sequence
    left empty is removed whole. The output is written atomically.

    Raises:
        InvalidInput: unreadable input, or a UID that is not in the file.
    """
    src, dst = Path(src), Path(dst)
    if not uids and not remove_all:
        raise InvalidInput("name a signature UID or ask for all")
    with in_place_lock(src, dst), open(src, "rb") as fh:
        parsed = parse_file(src, fh)
        size = fh.seek(0, 2)
        edits: list[Edit] = []
        lengths = Lengths()
        found: set[str] = set()
        removed = 0
        for level in parsed.levels():
            seq = level.find(DIGITAL_SIGNATURES_SEQUENCE)
            if seq is None or not seq.items:
                continue
            drop = [
                it for it in seq.items
                if remove_all or text_value(parsed, fh, find(it.elements, SIGNATURE_UID)) in uids
            ]
            if not drop:
                continue
            found |= {text_value(parsed, fh, find(it.elements, SIGNATURE_UID)) or "" for it in drop}
            removed += len(drop)
            keep = [it for it in seq.items if it not in drop]
            live_ids = {us_value(parsed, fh, find(it.elements, MAC_ID)) for it in keep}
            dead_ids = {us_value(parsed, fh, find(it.elements, MAC_ID)) for it in drop} - live_ids
            delta = shrink(parsed, seq, drop, edits)
            mseq = level.find(MAC_PARAMETERS_SEQUENCE)
            if mseq is not None and mseq.items:
                mdrop = [it for it in mseq.items
                         if us_value(parsed, fh, find(it.elements, MAC_ID)) in dead_ids]
                if mdrop:
                    delta += shrink(parsed, mseq, mdrop, edits)
            lengths.resize_ancestors(level, -delta)
        missing = set(uids) - found
        if missing:
            raise InvalidInput(f"no signature with UID {sorted(missing)[0]}", path=str(src))
        edits += lengths.edits(parsed.little_endian)
        with atomic_output(dst) as out:
            write_spliced(fh, out, edits, 0, size)
    return removed
