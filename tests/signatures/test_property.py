"""Property tests: any changed byte of a signed value breaks the signature; unsigned ones don't.

CT_small is signed once per module over a subset of its attributes. Each example flips one byte
of a value (never a header or a length), writes a fresh file and verifies it with the library
against a trust store built once per module, checking the file report. One example-based test
runs the command line tool in-process on an unchanged and a changed file, and checks its exit
codes and that its JSON is the library's ``to_dict()``.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dicomsec._rawdicom import UNDEFINED, Element, parse_file, tag_str
from dicomsec.cli import main
from dicomsec.keys import FileSigningKey, load_certificate, load_private_key
from dicomsec.signatures import FileReport, sign_file, verify_file
from dicomsec.trust import TrustStore
from tests.conftest import PKI, PYDICOM_FILES

SIGNED_KEYWORDS = [
    "SOPClassUID",
    "SOPInstanceUID",
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "PatientName",
    "PatientID",
    "PixelData",
    "OtherPatientIDsSequence",
]
#: VRs whose values may take any byte without making the file unparseable
TEXT_VRS = frozenset(
    ["AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT", "PN", "SH", "ST", "TM", "UC", "UI",
     "UR", "UT"]
)
CA = PKI / "ca.cert.pem"


@dataclass(frozen=True, slots=True)
class ValueRange:
    """The value bytes of one element: [start, start + length) in the signed file."""

    tag: str  # the top-level attribute the bytes belong to, "(gggg,eeee)"
    start: int
    length: int


@dataclass(frozen=True, slots=True)
class Signed:
    path: Path
    data: bytes
    uid: str
    signed: tuple[ValueRange, ...]
    unsigned: tuple[ValueRange, ...]
    folder: Path
    trust: TrustStore


def _value_ranges(el: Element, top: str) -> Iterator[ValueRange]:
    """Value ranges of an element; for sequences, of every element inside its items."""
    if el.items is not None:
        for item in el.items:
            for child in item.elements:
                yield from _value_ranges(child, top)
        return
    if el.fragments is not None:
        for offset, length in el.fragments:
            if length:
                yield ValueRange(top, offset, length)
        return
    if el.length != UNDEFINED and el.length > 0:
        yield ValueRange(top, el.value_offset, el.length)


@pytest.fixture(scope="module")
def signed_ct(tmp_path_factory: pytest.TempPathFactory) -> Signed:
    folder = tmp_path_factory.mktemp("property")
    key = FileSigningKey(
        load_private_key(PKI / "signer-ecp256.key.pem"),
        load_certificate(PKI / "signer-ecp256.cert.pem"),
    )
    out = folder / "signed.dcm"
    result = sign_file(PYDICOM_FILES / "CT_small.dcm", out, key=key, tags=SIGNED_KEYWORDS)
    parsed = parse_file(out)
    covered = set(result.signed_tags)
    assert len(covered) == len(SIGNED_KEYWORDS)
    signed: list[ValueRange] = []
    unsigned: list[ValueRange] = []
    for el in parsed.dataset.elements:
        name = tag_str(el.tag)
        if name in covered:
            ranges = list(_value_ranges(el, name))
            assert ranges, f"signed element {name} has no value bytes"
            # one entry per element: pick the element first, then a byte inside it
            signed.extend(ranges)
        elif (
            el.vr in TEXT_VRS
            and el.items is None
            and el.length not in (0, UNDEFINED)
            and el.tag >> 16 not in (0x0400, 0xFFFA, 0x4FFE)
        ):
            unsigned.extend(_value_ranges(el, name))
    assert {r.tag for r in signed} == covered
    assert len(unsigned) > 20
    return Signed(out, out.read_bytes(), result.uid, tuple(signed), tuple(unsigned), folder,
                  TrustStore.from_paths([CA]))


@contextlib.contextmanager
def _written(folder: Path, data: bytes) -> Iterator[Path]:
    """``data`` in a fresh file of ``folder``, removed afterwards."""
    fd, name = tempfile.mkstemp(suffix=".dcm", dir=folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        yield Path(name)
    finally:
        os.unlink(name)


def _verify(signed: Signed, data: bytes) -> FileReport:
    """Verify ``data`` as a file with the library and the module's trust store."""
    with _written(signed.folder, data) as path:
        return verify_file(path, trust=signed.trust)


def _cli_verify(capsys: pytest.CaptureFixture[str], folder: Path,
                data: bytes) -> tuple[int, Any, dict[str, Any]]:
    """Verify ``data`` with the command line tool in-process: (exit code, parsed JSON, the
    library's ``to_dict()`` for the same file)."""
    with _written(folder, data) as path:
        capsys.readouterr()
        code = main(["verify", str(path), "--trust", str(CA), "--json"])
        out = capsys.readouterr().out
        expected = verify_file(path, trust=TrustStore.from_paths([CA])).to_dict()
    return code, json.loads(out), expected


def _flip(data: bytes, pos: int, mask: int) -> bytes:
    buf = bytearray(data)
    buf[pos] ^= mask
    return bytes(buf)


def test_cli_json_verdicts(signed_ct: Signed, capsys: pytest.CaptureFixture[str]) -> None:
    """The one command line check: exit codes, and ``--json`` is exactly ``to_dict()``."""
    code, report, expected = _cli_verify(capsys, signed_ct.folder, signed_ct.data)
    assert code == 0
    assert report == [expected]
    (sig,) = report[0]["signatures"]
    assert sig["uid"] == signed_ct.uid
    assert sig["valid"] is True and sig["trusted"] is True

    pixel = next(r for r in signed_ct.signed if r.tag == "(7FE0,0010)")
    changed = _flip(signed_ct.data, pixel.start + pixel.length // 2, 0x01)
    code, report, expected = _cli_verify(capsys, signed_ct.folder, changed)
    assert code == 1
    assert report == [expected]
    (sig,) = report[0]["signatures"]
    assert sig["valid"] is False and sig["problems"]


def test_unchanged_file_verifies(signed_ct: Signed) -> None:
    report = _verify(signed_ct, signed_ct.data)
    assert report.ok
    (sig,) = report.signatures
    assert sig.uid == signed_ct.uid
    assert sig.valid and sig.trusted


@settings(
    max_examples=1000,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data(), mask=st.integers(min_value=1, max_value=255))
def test_any_changed_signed_byte_fails(
    signed_ct: Signed, data: st.DataObject, mask: int
) -> None:
    # elements first (uniformly), so that Pixel Data's 32 KiB does not take every example
    tags = sorted({r.tag for r in signed_ct.signed})
    tag = data.draw(st.sampled_from(tags), label="tag")
    rng = data.draw(st.sampled_from([r for r in signed_ct.signed if r.tag == tag]), label="value")
    pos = data.draw(st.integers(rng.start, rng.start + rng.length - 1), label="offset")

    report = _verify(signed_ct, _flip(signed_ct.data, pos, mask))

    assert not report.ok
    sigs = {s.uid: s for s in report.signatures}
    assert signed_ct.uid in sigs
    assert not sigs[signed_ct.uid].valid
    assert sigs[signed_ct.uid].problems


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data(), mask=st.integers(min_value=1, max_value=255))
def test_changed_unsigned_byte_keeps_signature_valid(
    signed_ct: Signed, data: st.DataObject, mask: int
) -> None:
    rng = data.draw(st.sampled_from(signed_ct.unsigned), label="value")
    pos = data.draw(st.integers(rng.start, rng.start + rng.length - 1), label="offset")

    report = _verify(signed_ct, _flip(signed_ct.data, pos, mask))

    assert report.ok, report.to_dict()
    (sig,) = report.signatures
    assert sig.uid == signed_ct.uid
    assert sig.valid and sig.trusted
    assert rng.tag in report.unsigned_attributes
    assert rng.tag not in sig.covered
