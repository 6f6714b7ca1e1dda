"""The shipped RELAX NG schema (PS3.15 A.5.1.1) judges audit messages: the research samples
validate, the broken one fails with exactly its three problems, malformed XML and external
entities are problems, never a crash or a file read."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest

from dicomsec.audit.schema import SCHEMA, validate

SAMPLES = Path(__file__).resolve().parent.parent / "data" / "audit"
VALID = ["application-activity-start.xml", "instances-accessed-deidentify.xml",
         "security-alert-node-auth-failure.xml", "security-alert-signature-invalid.xml"]


def test_the_schema_ships_as_package_data() -> None:
    data = resources.files("dicomsec.audit").joinpath("data")
    assert data.joinpath(SCHEMA).is_file()
    assert data.joinpath("dicom-audit-message.rnc").is_file()
    assert "rnc2rng" in data.joinpath("README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("name", VALID)
def test_the_valid_samples_validate(name: str) -> None:
    assert validate((SAMPLES / name).read_bytes()) == []


def test_the_invalid_sample_fails_with_its_three_problems() -> None:
    problems = validate((SAMPLES / "invalid-missing-audit-source.xml").read_bytes())
    assert problems == [
        "line 2: AuditMessage has no AuditSourceIdentification",
        "line 3: EventIdentification EventOutcomeIndicator='1' is not one of 0, 4, 8, 12",
        "line 6: ActiveParticipant UserIsRequestor='yes' is not a boolean (true / false)",
    ]


def test_a_utf8_bom_is_accepted() -> None:
    assert validate(b"\xef\xbb\xbf" + (SAMPLES / VALID[0]).read_bytes()) == []


@pytest.mark.parametrize(("xml", "expected"), [
    (b"<AuditMessage>", "not well-formed XML"),
    (b"", "not well-formed XML"),
    (b"<Other/>", "the root element is Other, not AuditMessage"),
])
def test_malformed_or_foreign_xml_is_one_problem(xml: bytes, expected: str) -> None:
    problems = validate(xml)
    assert len(problems) == 1 and expected in problems[0]


def test_a_participant_object_needs_exactly_one_name_or_query() -> None:
    xml = (SAMPLES / "security-alert-signature-invalid.xml").read_bytes()
    unnamed = xml.replace(b"<ParticipantObjectName>CT_small.dcm</ParticipantObjectName>", b"")
    assert unnamed != xml
    assert validate(unnamed) == [
        "line 12: ParticipantObjectIdentification needs exactly one ParticipantObjectName or "
        "ParticipantObjectQuery, has 0"]


def test_element_order_problems_fall_back_to_libxml2s_lines() -> None:
    xml = (SAMPLES / VALID[0]).read_bytes()
    swapped = xml.replace(b'<EventID csd-code="110100" codeSystemName="DCM" '
                          b'originalText="Application Activity"/>\n    ', b"")
    assert swapped != xml
    problems = validate(swapped)
    assert problems and all(p.startswith("line ") for p in problems)


def test_external_entities_are_not_read(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-VALUE", encoding="utf-8")
    xml = (f'<?xml version="1.0"?><!DOCTYPE AuditMessage [<!ENTITY e SYSTEM '
           f'"{secret.as_uri()}">]><AuditMessage>&e;</AuditMessage>').encode()
    problems = validate(xml)
    assert problems
    assert not any("TOP-SECRET-VALUE" in p for p in problems)
