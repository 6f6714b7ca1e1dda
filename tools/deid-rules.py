#!/usr/bin/env python3
"""Regenerate dicomsec's de-identification rule set (``src/dicomsec/deid/data/rules.json``)
from the machine-readable PS3.15 Table E.1-1 sources shipped beside it.

Sources (``src/dicomsec/deid/data/sources/``, each with its licence):

- ``innolitics-confidentiality_profile_attributes-*.json``: every row, the Basic profile and
  every option column (innolitics/dicom-standard, MIT);
- ``dicom-anonymizer-*-basic.json``: the Basic profile column of a newer edition, extracted
  from the PyPI wheel of dicom-anonymizer (BSD-3-Clause) with ``--anonymizer-wheel``; rows it
  adds take their option columns by VR (dates and times follow the two longitudinal options).

Usage::

    python tools/deid-rules.py                 # rewrite rules.json from the shipped sources
    python tools/deid-rules.py --check         # exit 1 when rules.json is not current
    python tools/deid-rules.py --anonymizer-wheel dicom_anonymizer-X-py3-none-any.whl
                                               # re-extract the newer Basic column first

Keywords and VRs come from pydicom's dictionary, never from the table's names.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import sys
import zipfile
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parent.parent / "src" / "dicomsec" / "deid" / "data"
SOURCES = DATA / "sources"
OUT = DATA / "rules.json"

#: innolitics column -> the option name dicomsec uses (the CLI's --option)
COLUMNS = {
    "rtnSafePrivOpt": "retain-safe-private",
    "rtnUIDsOpt": "retain-uids",
    "rtnDevIdOpt": "retain-device-identity",
    "rtnInstIdOpt": "retain-institution-identity",
    "rtnPatCharsOpt": "retain-patient-characteristics",
    "rtnLongFullDatesOpt": "retain-longitudinal-full-dates",
    "rtnLongModifDatesOpt": "retain-longitudinal-modified-dates",
    "cleanDescOpt": "clean-descriptors",
    "cleanStructContOpt": "clean-structured-content",
    "cleanGraphOpt": "clean-graphics",
}

#: the pattern rows, as the innolitics tag text -> dicomsec's pattern key
PATTERNS = {
    "(50XX,XXXX)": "50xxxxxx",
    "(60XX,3000)": "60xx3000",
    "(60XX,4000)": "60xx4000",
    "(GGGG,EEEE) WHERE GGGG IS ODD": "private",
}

#: dicom-anonymizer list names -> action codes
ANONYMIZER_ACTIONS = {"D": "D", "Z": "Z", "X": "X", "U": "U", "Z_D": "Z/D", "X_Z": "X/Z",
                      "X_D": "X/D", "X_Z_D": "X/Z/D", "X_Z_U_STAR": "X/Z/U*"}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def extract_anonymizer(wheel: Path) -> Path:
    """Write ``dicom-anonymizer-<edition>-basic.json`` from the newest dicomfields module of a
    dicom-anonymizer wheel (parsed with ``ast``, never imported); returns its path."""
    with zipfile.ZipFile(wheel) as zf:
        names = sorted(n for n in zf.namelist() if n.endswith(".py")
                       and n.rsplit("/dicomfields_", 1)[-1][:1].isdigit())
        if not names:
            raise SystemExit(f"{wheel}: no dicomfields_*.py module")
        name = names[-1]
        edition = name.rsplit("dicomfields_", 1)[1][:-3]
        tree = ast.parse(zf.read(name).decode("utf-8"))
    actions: dict[str, list[Any]] = {}
    for node in tree.body:
        if not (isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)):
            continue
        key = node.targets[0].id
        if not key.endswith("_TAGS") or key == "ALL_TAGS":
            continue
        values = ast.literal_eval(node.value)
        key = key[:-5]
        actions[key] = sorted({f"{t[0]:04X}{t[1]:04X}" for t in values if len(t) == 2})
        patterns = [[f"{x:04X}" for x in t] for t in values if len(t) == 4]
        if patterns:
            actions[key + "_PATTERNS"] = patterns
    doc = {"source": f"PyPI dicom-anonymizer wheel {wheel.name}, {name} (BSD-3-Clause, "
                     "Kitware Europe; LICENSE-dicom-anonymizer.txt)",
           "wheel_sha256": _sha256(wheel), "edition": edition, "column": "basicProfile",
           "actions": actions}
    out = SOURCES / f"dicom-anonymizer-{edition}-basic.json"
    out.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return out


def _dictionary(tag: str) -> tuple[str, str]:
    """(keyword, VR) of a tag from pydicom's dictionary (empty when unknown)."""
    from pydicom.datadict import dictionary_keyword, dictionary_VR

    try:
        return dictionary_keyword(int(tag, 16)), dictionary_VR(int(tag, 16))
    except KeyError:
        return "", ""


def _innolitics_rows(path: Path, edition: str) -> list[dict[str, Any]]:
    rows = []
    for r in json.loads(path.read_text(encoding="utf-8")):
        tag = PATTERNS.get(r["tag"]) or r["tag"].strip("()").replace(",", "").upper()
        keyword, vr = ("", "") if tag in PATTERNS.values() else _dictionary(tag)
        options = {COLUMNS[c]: r[c] for c in COLUMNS if r.get(c)}
        name = " ".join(r["name"].split("\n")[0].split())
        rows.append({"tag": tag, "keyword": keyword, "vr": vr, "name": name,
                     "basic": r["basicProfile"], "options": options, "edition": edition,
                     "std_comp_iod": r.get("stdCompIOD") == "Y"})
    return rows


def _inferred_options(vr: str) -> dict[str, str]:
    """Option columns for a row only the newer Basic column has: by VR (dates and times)."""
    if vr in ("DA", "DT", "TM"):
        return {"retain-longitudinal-full-dates": "K", "retain-longitudinal-modified-dates": "C"}
    return {}


def _newer_rows(path: Path, known: set[str]) -> tuple[list[dict[str, Any]], list[str], str]:
    """Rows the newer Basic column adds; and the tags whose action differs from the table."""
    doc = json.loads(path.read_text(encoding="utf-8"))
    edition = doc["edition"]
    rows, seen = [], {}
    for key, action in ANONYMIZER_ACTIONS.items():
        for tag in doc["actions"].get(key, []):
            seen[tag] = action
    for tag in sorted(set(seen) - known):
        keyword, vr = _dictionary(tag)
        rows.append({"tag": tag, "keyword": keyword, "vr": vr, "name": keyword or tag,
                     "basic": seen[tag], "options": _inferred_options(vr),
                     "edition": edition, "std_comp_iod": False})
    return rows, sorted(seen), edition


def generate() -> str:
    """The rules file's text, from the sources."""
    inno = sorted(SOURCES.glob("innolitics-confidentiality_profile_attributes-*.json"))[-1]
    newer = sorted(SOURCES.glob("dicom-anonymizer-*-basic.json"))[-1]
    base_edition = inno.stem.rsplit("-", 1)[1]
    rows = _innolitics_rows(inno, base_edition)
    by_tag = {r["tag"]: r for r in rows}
    added, _newer_tags, newer_edition = _newer_rows(newer, set(by_tag))
    doc = json.loads(newer.read_text(encoding="utf-8"))
    differ = sorted(t for key, action in ANONYMIZER_ACTIONS.items()
                    for t in doc["actions"].get(key, [])
                    if t in by_tag and by_tag[t]["basic"] != action)
    rows = sorted(rows + added, key=lambda r: r["tag"])
    out = {
        "generated_by": "tools/deid-rules.py",
        "editions": {"table": base_edition, "basic_column": newer_edition},
        "sources": {inno.name: _sha256(inno), newer.name: _sha256(newer)},
        "basic_differences": differ,
        "rows": rows,
    }
    return json.dumps(out, indent=1, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if rules.json is stale")
    parser.add_argument("--anonymizer-wheel", type=Path,
                        help="re-extract the newer Basic column from this wheel first")
    args = parser.parse_args(argv)
    if args.anonymizer_wheel:
        print(f"extracted {extract_anonymizer(args.anonymizer_wheel)}")
    text = generate()
    if args.check:
        current = OUT.read_text(encoding="utf-8") if OUT.exists() else ""
        if current != text:
            print(f"{OUT} is not current: run python tools/deid-rules.py", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text, encoding="utf-8")
    rows = json.loads(text)["rows"]
    print(f"wrote {OUT}: {len(rows)} rows")
    return 0


if __name__ == "__main__":
    sys.exit(main())
