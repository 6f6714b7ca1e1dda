#!/usr/bin/env python3
"""Regenerate the attribute types per IOD that the de-identifier decides combined action
codes by (``src/dicomsec/deid/data/types.json``), from the DICOM standard data of the PyPI
wheel ``dicom-standard==0.1.0`` (innolitics, MIT licence; PS3.3 as published in 2020).

The wheel is read as a zip file, never imported. It holds ``data/standard/*.json``:
``sops`` (SOP Class UID -> IOD name), ``ciods``, ``ciod_to_modules``, ``module_to_attributes``
(macros already expanded into each module; ``path`` is ``module-id:SEQTAG:...:TAG``, the
enclosing sequences outermost first), ``ciod_to_fg_macros`` and ``macro_to_attributes`` (the
functional group macros of enhanced multi-frame IODs, which we place inside the Shared
(5200,9229) and Per-frame (5200,9230) Functional Groups Sequences).

Which attributes: every attribute of ``rules.json`` with a combined code (Z/D, X/Z, X/D, X/Z/D,
X/Z/U*) in any column, plus every attribute whose dictionary VR is DA, DT, TM, PN, LO, SH, ST,
LT, UT, UC, UI or SQ (the engine handles unlisted attributes of those VRs by type).

Decisions: module usage (M/C/U) and functional group macro usage are ignored, the type inside
the module counts; when one IOD names an attribute at one place several times (two modules,
recursive SR content), the strictest type wins (1 < 1C < 2 < 2C < 3); the type ``None`` of
normalized (DIMSE) modules is skipped; repeating groups 60xx are recorded under group 6000.

Usage::

    python tools/deid-types.py                       # download the wheel with pip, rewrite
    python tools/deid-types.py --wheel FILE.whl      # use a wheel already downloaded
    python tools/deid-types.py --check [--wheel ..]  # exit 1 when types.json is not current

The wheel's sha256 is pinned below and written into the file; a different wheel is refused.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
import zipfile
from collections import defaultdict
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parent.parent / "src" / "dicomsec" / "deid" / "data"
OUT = DATA / "types.json"
LICENCE = DATA / "sources" / "LICENSE-innolitics-dicom-standard-0.1.0.txt"
RULES = DATA / "rules.json"

WHEEL = "dicom_standard-0.1.0-py3-none-any.whl"
WHEEL_SHA256 = "648aad3e57229c8891c7970533638584237b2347001cfcc78f84d7d19e8bdeac"
PREFIX = "dicom_standard-0.1.0.data/data/standard/"
LICENCE_MEMBER = "dicom_standard-0.1.0.dist-info/LICENSE.txt"

COMBINED = frozenset({"Z/D", "X/Z", "X/D", "X/Z/D", "X/Z/U*"})
VRS = ("DA", "DT", "TM", "PN", "LO", "SH", "ST", "LT", "UT", "UC", "UI", "SQ")
ORDER = ("1", "1C", "2", "2C", "3")
FUNCTIONAL_GROUPS = ("52009229", "52009230")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _download(into: Path) -> Path:
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                    "dicom-standard==0.1.0", "-d", str(into)], check=True,
                   stdout=subprocess.DEVNULL)
    return into / WHEEL


def _tag(text: str) -> str:
    """``(60xx,0022)`` / ``60xx0022`` -> ``60000022`` (repeating groups under their base)."""
    return text.strip("()").replace(",", "").upper().replace("XX", "00")


def _wanted(tags: set[str], dictionary_vrs: dict[str, str]) -> set[str]:
    from pydicom.datadict import dictionary_VR

    rows = json.loads(RULES.read_text(encoding="utf-8"))["rows"]
    wanted = {r["tag"] for r in rows
              if r["basic"] in COMBINED or COMBINED & set(r["options"].values())}
    for tag in tags:
        try:
            vr = dictionary_VR(int(tag, 16))
        except KeyError:
            vr = dictionary_vrs.get(tag, "")
        if vr in VRS:
            wanted.add(tag)
    return wanted


def _put(table: dict[tuple[str, str], dict[int, str]], key: tuple[str, str], ciod: int,
         type_: str) -> None:
    if type_ not in ORDER:
        return
    seen = table[key].get(ciod)
    if seen is None or ORDER.index(type_) < ORDER.index(seen):
        table[key][ciod] = type_


def _ranges(indices: list[int]) -> str:
    """``[0, 1, 2, 5]`` -> ``"0-2,5"``."""
    parts: list[str] = []
    start = prev = indices[0]
    for i in [*indices[1:], -2]:
        if i != prev + 1:
            parts.append(str(start) if start == prev else f"{start}-{prev}")
            start = i
        prev = i
    return ",".join(parts)


def _collect(zf: zipfile.ZipFile) -> tuple[list[str], dict[str, int],
                                           dict[tuple[str, str], dict[int, str]]]:
    def load(name: str) -> Any:
        return json.loads(zf.read(PREFIX + name + ".json"))

    ciod_modules, attributes = load("ciod_to_modules"), load("module_to_attributes")
    ciod_macros, macro_attributes = load("ciod_to_fg_macros"), load("macro_to_attributes")
    names = {c["name"]: c["id"] for c in load("ciods")}
    ciods = sorted({c["ciodId"] for c in ciod_modules} | {c["ciodId"] for c in ciod_macros})
    index = {c: i for i, c in enumerate(ciods)}
    sops = {s["id"]: index[names[s["ciod"]]] for s in load("sops")
            if names.get(s["ciod"]) in index}
    dictionary_vrs = {_tag(a["tag"]): a["valueRepresentation"] for a in load("attributes")}
    wanted = _wanted({_tag(a["tag"]) for a in attributes + macro_attributes}, dictionary_vrs)
    users: dict[str, list[int]] = defaultdict(list)
    for c in ciod_modules:
        users[c["moduleId"]].append(index[c["ciodId"]])
    table: dict[tuple[str, str], dict[int, str]] = defaultdict(dict)
    for a in attributes:
        parts = [_tag(p) for p in a["path"].split(":")[1:]]
        if parts[-1] in wanted:
            for ciod in users.get(a["moduleId"], []):
                _put(table, (parts[-1], "/".join(parts[:-1])), ciod, a["type"])
    fg_users: dict[str, list[int]] = defaultdict(list)
    for c in ciod_macros:
        fg_users[c["macroId"]].append(index[c["ciodId"]])
    for a in macro_attributes:
        parts = [_tag(p) for p in a["path"].split(":")[1:]]
        if parts[-1] in wanted:
            for ciod in fg_users.get(a["macroId"], []):
                for group in FUNCTIONAL_GROUPS:
                    _put(table, (parts[-1], "/".join([group, *parts[:-1]])), ciod, a["type"])
    return ciods, sops, table


def generate(wheel: Path) -> tuple[str, str]:
    """The text of types.json and of the licence file, from the wheel."""
    digest = _sha256(wheel)
    if digest != WHEEL_SHA256:
        raise SystemExit(f"{wheel}: sha256 {digest} is not the pinned {WHEEL_SHA256}")
    with zipfile.ZipFile(wheel) as zf:
        ciods, sops, table = _collect(zf)
        licence = zf.read(LICENCE_MEMBER).decode("utf-8")
    sets: dict[str, int] = {}
    types: dict[str, dict[str, dict[str, int]]] = defaultdict(dict)
    for (tag, path), by_ciod in sorted(table.items()):
        grouped: dict[str, list[int]] = defaultdict(list)
        for ciod, type_ in sorted(by_ciod.items()):
            grouped[type_].append(ciod)
        types[tag][path] = {t: sets.setdefault(_ranges(c), len(sets))
                            for t, c in sorted(grouped.items())}
    head = {
        "generated_by": "tools/deid-types.py",
        "source": f"PyPI {WHEEL} (innolitics/dicom-standard, MIT licence: "
                  f"sources/{LICENCE.name}); DICOM PS3.3 as published in 2020",
        "wheel_sha256": WHEEL_SHA256,
        "format": "types[tag][parents] = {type: set}; tag and parents as GGGGEEEE hex, parents "
                  "'/'-joined outermost first ('' = top level); sets[set] = IOD indices "
                  "('0-3,7'); sops[SOP Class UID] = IOD index; 60xx recorded as 6000",
        "vrs": list(VRS),
        "ciods": ciods,
        "sops": dict(sorted(sops.items())),
        "sets": list(sets),
    }
    lines = [json.dumps(head, indent=1, sort_keys=True)[:-2] + ",", ' "types": {']
    body = [f" {json.dumps(tag)}: {json.dumps(types[tag], sort_keys=True, separators=(',', ':'))}"
            for tag in sorted(types)]
    lines.append(",\n".join(body))
    lines.append(" }\n}\n")
    return "\n".join(lines), licence


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if types.json is stale")
    parser.add_argument("--wheel", type=Path, help=f"a downloaded {WHEEL} (else pip downloads)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        wheel = args.wheel or _download(Path(tmp))
        text, licence = generate(wheel)
    if args.check:
        stale = [p for p, t in ((OUT, text), (LICENCE, licence))
                 if not p.exists() or p.read_text(encoding="utf-8") != t]
        for path in stale:
            print(f"{path} is not current: run python tools/deid-types.py", file=sys.stderr)
        return 1 if stale else 0
    OUT.write_text(text, encoding="utf-8")
    LICENCE.write_text(licence, encoding="utf-8")
    print(f"wrote {OUT}: {OUT.stat().st_size} bytes, {text.count(chr(10))} lines")
    return 0


if __name__ == "__main__":
    sys.exit(main())
