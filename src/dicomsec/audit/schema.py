"""Validation of DICOM audit messages against the RELAX NG schema of PS3.15 A.5.1.1 (lxml).

The schema ships as package data (``data/dicom-audit-message.rng``, converted from the
standard's compact syntax ``data/dicom-audit-message.rnc``; provenance in ``data/README.md``)
and is compiled once per process. Only validation imports lxml; messages are built without it
(:mod:`dicomsec.audit.messages`).

The verdict is libxml2's RELAX NG validation alone. Its error log is terse (an attribute value
outside an enumeration shows only as "Element X failed to validate content", and a missing
element as "Expecting an element , got nothing"), so when the schema rejects a message the
problems are first stated from the schema's own enumerations: each enumerated or boolean
value that is not allowed, each required element of ``AuditMessage`` that is missing, each
participant object without exactly one name or query. When none of these explains the
failure, libxml2's lines are returned as they are.

What is *not* checked: what the schema does not say (that EventDateTime carries a time zone,
A.5.2.5, or which codes a given EventID requires).
"""

from __future__ import annotations

import functools
from importlib import resources
from typing import Any

__all__ = ["SCHEMA", "validate"]

#: the schema's file name in the package data
SCHEMA = "dicom-audit-message.rng"
_RNG_NS = "{http://relaxng.org/ns/structure/1.0}"
#: required children of AuditMessage: (name, at least, at most)
_REQUIRED = (("EventIdentification", 1, 1), ("ActiveParticipant", 1, None),
             ("AuditSourceIdentification", 1, 1))
_BOOLEAN = frozenset(("true", "false", "1", "0"))


def _etree() -> Any:
    """lxml's etree, imported on first validation only."""
    from lxml import etree  # type: ignore[import-untyped]

    return etree


@functools.cache
def _schema() -> tuple[Any, dict[str, frozenset[str]], frozenset[str]]:
    """The compiled schema, each attribute's enumerated values and the boolean names."""
    etree = _etree()

    with resources.files("dicomsec.audit").joinpath("data", SCHEMA).open("rb") as handle:
        tree = etree.parse(handle, _parser())
    enumerations: dict[str, frozenset[str]] = {}
    booleans: set[str] = set()
    for node in tree.iter(f"{_RNG_NS}attribute", f"{_RNG_NS}element"):
        name = node.get("name") or node.findtext(f"{_RNG_NS}name")
        if not name:
            continue
        values = [v.text or "" for v in node.iter(f"{_RNG_NS}value")]
        has_data = any(True for _ in node.iter(f"{_RNG_NS}data"))
        if values and not has_data and node.tag == f"{_RNG_NS}attribute":
            enumerations[name] = frozenset(v.strip() for v in values)
        children = [c for c in node if isinstance(c.tag, str) and c.tag != f"{_RNG_NS}name"]
        if len(children) == 1 and children[0].tag == f"{_RNG_NS}data" \
                and children[0].get("type") == "boolean":
            booleans.add(name)
    return etree.RelaxNG(tree), enumerations, frozenset(booleans)


def _parser() -> Any:
    etree = _etree()

    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                           huge_tree=False)


def validate(xml: bytes) -> list[str]:
    """Problems of one audit message against the DICOM schema, one line each; ``[]`` when
    the message is valid. ``xml``: the message's bytes (an XML declaration, a UTF-8 BOM or
    none); malformed XML is one problem. Entities are not resolved and nothing is fetched."""
    etree = _etree()

    try:
        root = etree.fromstring(xml, _parser())
    except (etree.XMLSyntaxError, ValueError) as exc:
        return [f"not well-formed XML: {exc}"]
    schema, enumerations, booleans = _schema()
    if schema.validate(root):
        return []
    problems = _explain(root, enumerations, booleans)
    if problems:
        return problems
    lines = [f"line {e.line}: {e.message}" for e in schema.error_log]
    return list(dict.fromkeys(lines)) or ["does not match the DICOM audit message schema"]


def _explain(root: Any, enumerations: dict[str, frozenset[str]],
             booleans: frozenset[str]) -> list[str]:
    """The problems the schema's enumerations and required elements state plainly."""
    problems: list[str] = []
    if root.tag != "AuditMessage":
        return [f"line {root.sourceline}: the root element is {root.tag}, not AuditMessage"]
    for name, least, most in _REQUIRED:
        count = sum(1 for child in root if child.tag == name)
        if count < least:
            problems.append(f"line {root.sourceline}: AuditMessage has no {name}")
        elif most is not None and count > most:
            problems.append(f"line {root.sourceline}: AuditMessage has {count} {name}, "
                            f"at most {most} allowed")
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue
        for attribute, value in element.attrib.items():
            allowed = enumerations.get(attribute)
            if allowed is not None and value.strip() not in allowed:
                problems.append(f"line {element.sourceline}: {element.tag} {attribute}="
                                f"{value!r} is not one of {', '.join(sorted(allowed, key=_num))}")
            elif attribute in booleans and value.strip() not in _BOOLEAN:
                problems.append(f"line {element.sourceline}: {element.tag} {attribute}="
                                f"{value!r} is not a boolean (true / false)")
        if element.tag in booleans and (element.text or "").strip() not in _BOOLEAN:
            problems.append(f"line {element.sourceline}: {element.tag} "
                            f"{element.text!r} is not a boolean (true / false)")
        if element.tag == "ParticipantObjectIdentification":
            named = sum(1 for c in element
                        if c.tag in ("ParticipantObjectName", "ParticipantObjectQuery"))
            if named != 1:
                problems.append(f"line {element.sourceline}: ParticipantObjectIdentification "
                                f"needs exactly one ParticipantObjectName or "
                                f"ParticipantObjectQuery, has {named}")
    return problems


def _num(value: str) -> tuple[int, str]:
    return (int(value), "") if value.isdigit() else (1 << 30, value)
