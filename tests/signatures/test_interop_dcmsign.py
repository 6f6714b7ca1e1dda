"""Interoperability with DCMTK ``dcmsign`` (the reference peer), in both directions.

- dcmsign-made fixtures (``tests/data/dcmsign``): our verifier gives the verdict recorded in the
  MANIFEST, dcmsign itself agrees, and our MAC byte stream equals dcmsign's ``--dump`` byte for
  byte.
- Files we sign (CLI in-process and library) pass ``dcmsign --verify`` with the test CA, including
  profile checks (``+rc``/``+ru``/``+rs``), item-level signatures, purposes, tag lists, several
  signatures per file, removal of signatures and certified timestamps from a real TSA.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pydicom
import pytest
from pydicom.dataset import Dataset

from dicomsec._rawdicom import Element, parse_file, tag_str
from dicomsec._rawdicom import find as _find
from dicomsec.cli import main as cli_main
from dicomsec.signatures import Profile, sign_file, verify_file
from dicomsec.signatures._macstream import (
    DIGITAL_SIGNATURES_SEQUENCE,
    MAC_PARAMETERS_SEQUENCE,
    MacStream,
)
from dicomsec.signatures._values import (
    DATA_ELEMENTS_SIGNED,
    MAC_ID,
    PART_B_EXCLUDED,
    at_list,
    parse_tag,
    us_value,
)
from dicomsec.signatures.report import FileReport
from dicomsec.trust import TrustStore
from tests.conftest import DCMSIGN_FIXTURES, PKI, PYDICOM_FILES, cli_sign, fixture_key, require_tool

pytestmark = pytest.mark.peer

CA = PKI / "ca.cert.pem"
FIXTURES = sorted(DCMSIGN_FIXTURES.glob("*.dcm"))
FIXTURE_IDS = [p.name for p in FIXTURES]
LEGACY_MACS = {"MD5", "SHA1", "RIPEMD160"}
SIG_SEQUENCES = (MAC_PARAMETERS_SEQUENCE, DIGITAL_SIGNATURES_SEQUENCE)
#: dcmsign exit code -> ours (0 ok, 101 a signature failed -> 1 a security check failed)
DCMSIGN_TO_OURS = {0: 0, 101: 1}


# --------------------------------------------------------------------------------------------
# helpers


def _manifest_expected() -> dict[str, int]:
    """dcmsign's expected exit code per fixture, read from the MANIFEST table."""
    lines = (DCMSIGN_FIXTURES / "MANIFEST.md").read_text(encoding="utf-8").splitlines()
    header: list[str] | None = None
    expected: dict[str, int] = {}
    for line in lines:
        if not line.startswith("|"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if header is None:
            header = cells
            continue
        name = re.fullmatch(r"`([^`]+\.dcm)`", cells[0])
        if name is None:
            continue
        code = re.search(r"exit \**(\d+)", cells[header.index("expected")])
        assert code is not None, line
        expected[name.group(1)] = int(code.group(1))
    return expected


EXPECTED = _manifest_expected()


def _dcmsign(*args: str | Path) -> subprocess.CompletedProcess[str]:
    exe = require_tool("dcmsign")
    return subprocess.run([exe, *map(str, args)], capture_output=True, text=True,
                          timeout=120, check=False)


def _dcmsign_verify(path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return _dcmsign("--verify", "+cf", CA, *extra, path)


def _dcmsign_ok_count(done: subprocess.CompletedProcess[str]) -> int:
    """How many signatures dcmsign reported as verified."""
    return len(re.findall(r"Signature Verification\s*:\s*OK", done.stdout + done.stderr))


def _assert_dcmsign_ok(path: Path, signatures: int, *extra: str) -> None:
    done = _dcmsign_verify(path, *extra)
    assert done.returncode == 0, (extra, done.stdout, done.stderr)
    assert _dcmsign_ok_count(done) == signatures, done.stderr


def _trust() -> TrustStore:
    return TrustStore.from_paths([CA])


_key = fixture_key
_cli_sign = cli_sign


def _cli_verify_json(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any]]:
    capsys.readouterr()
    rc = cli_main(["verify", str(path), "--trust", str(CA), "--json"])
    out = json.loads(capsys.readouterr().out)
    assert isinstance(out, list) and len(out) == 1
    result: dict[str, Any] = out[0]
    return rc, result


class _Collect:
    """A MAC sink that keeps the bytes."""

    def __init__(self) -> None:
        self.data = bytearray()

    def update(self, data: bytes | memoryview, /) -> None:
        self.data += data


def _rebuild_stream(path: Path) -> bytes:
    """The MAC byte stream of the (only, main-level) signature of a file, built by our code."""
    with open(path, "rb") as fh:
        parsed = parse_file(path, fh)
        level = parsed.dataset
        sigs = level.find(DIGITAL_SIGNATURES_SEQUENCE)
        macs = level.find(MAC_PARAMETERS_SEQUENCE)
        assert sigs is not None and sigs.items is not None and len(sigs.items) == 1
        assert macs is not None and macs.items is not None
        sig_item = sigs.items[0]
        mac_id = us_value(parsed, fh, _find(sig_item.elements, MAC_ID))
        assert mac_id is not None
        mac_items = [it for it in macs.items
                     if us_value(parsed, fh, _find(it.elements, MAC_ID)) == mac_id]
        assert len(mac_items) == 1
        des = _find(mac_items[0].elements, DATA_ELEMENTS_SIGNED)
        assert des is not None
        listed = at_list(parsed, fh, des)
        assert listed is not None
        tags = set(listed)
        assert tags
        sink = _Collect()
        stream = MacStream(parsed, fh)
        stream.feed_signed(sink, level.elements, tags)
        part_b: list[Element] = [e for e in sig_item.elements if e.tag not in PART_B_EXCLUDED]
        stream.feed_elements(sink, part_b)
    return bytes(sink.data)


def _without_signatures(ds: Dataset) -> dict[int, Any]:
    return {int(el.tag): el for el in ds if int(el.tag) not in SIG_SEQUENCES}


def _assert_same_dataset(a: Path, b: Path) -> None:
    """Every element except the two top-level signature sequences is equal (deep)."""
    da, db = pydicom.dcmread(a), pydicom.dcmread(b)
    ea, eb = _without_signatures(da), _without_signatures(db)
    assert sorted(ea) == sorted(eb)
    for tag, el in ea.items():
        assert el == eb[tag], f"{el.tag} differs"


def _has_signature_sequences(ds: Dataset) -> bool:
    for el in ds:
        if int(el.tag) in SIG_SEQUENCES:
            return True
        if el.VR == "SQ" and any(_has_signature_sequences(it) for it in el.value):
            return True
    return False


# --------------------------------------------------------------------------------------------
# A.1 dcmsign fixtures: our verdict, dcmsign's verdict, legacy flags


def test_manifest_covers_every_fixture() -> None:
    assert FIXTURES, "no dcmsign fixtures found"
    assert sorted(EXPECTED) == FIXTURE_IDS
    assert EXPECTED["ct_rsa2048_sha256_tampered.dcm"] == 101
    assert {n for n, code in EXPECTED.items() if code != 0} == {"ct_rsa2048_sha256_tampered.dcm"}


@pytest.mark.parametrize("fixture", FIXTURES, ids=FIXTURE_IDS)
def test_our_verdict_matches_manifest(fixture: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, result = _cli_verify_json(fixture, capsys)
    expected = DCMSIGN_TO_OURS[EXPECTED[fixture.name]]
    assert rc == expected, result
    assert result["ok"] is (expected == 0)
    sigs = result["signatures"]
    assert len(sigs) == 1
    sig = sigs[0]
    assert sig["location"] == "main"
    assert sig["trusted"] is True
    assert sig["intact"] is (expected == 0)
    assert sig["legacy"] is (sig["mac_algorithm"] in LEGACY_MACS), sig
    if expected:
        assert any("does not match" in p for p in sig["problems"]), sig["problems"]
    else:
        assert sig["problems"] == []


@pytest.mark.parametrize("fixture", FIXTURES, ids=FIXTURE_IDS)
def test_dcmsign_verdict_matches_manifest(fixture: Path) -> None:
    done = _dcmsign_verify(fixture)
    assert done.returncode == EXPECTED[fixture.name], (done.stdout, done.stderr)


@pytest.mark.parametrize(
    ("name", "mac"),
    [("mr_rsa2048_md5_none.dcm", "MD5"), ("mr_rsa2048_sha1_base.dcm", "SHA1"),
     ("mr_rsa2048_ripemd160_creator.dcm", "RIPEMD160")],
)
def test_legacy_macs_are_reported(name: str, mac: str, capsys: pytest.CaptureFixture[str]) -> None:
    rc, result = _cli_verify_json(DCMSIGN_FIXTURES / name, capsys)
    assert rc == 0
    (sig,) = result["signatures"]
    assert sig["mac_algorithm"] == mac
    assert sig["legacy"] is True
    assert sig["valid"] is True


def test_fixture_details_are_reported() -> None:
    """Purpose, profiles and partial coverage of a few fixtures, as the MANIFEST describes."""
    trust = _trust()
    purpose = verify_file(DCMSIGN_FIXTURES / "mr_rsa3072_sha256_purpose1.dcm", trust=trust)
    assert purpose.signatures[0].purpose == {"code": "1", "meaning": "Author's Signature"}
    sr = verify_file(DCMSIGN_FIXTURES / "sr_rsa2048_sha256_srprofile.dcm", trust=trust)
    assert "sr" in sr.signatures[0].profiles
    auth = verify_file(DCMSIGN_FIXTURES / "ct_rsa2048_sha512_auth.dcm", trust=trust)
    assert "authorization" in auth.signatures[0].profiles
    creator = verify_file(DCMSIGN_FIXTURES / "mr_rsa2048_ripemd160_creator.dcm", trust=trust)
    assert "creator" in creator.signatures[0].profiles
    tags = verify_file(DCMSIGN_FIXTURES / "ct_ecp256_sha256_tags.dcm", trust=trust)
    assert tags.ok
    assert len(tags.signatures[0].covered) == 8
    assert "(0008,1030)" in tags.unsigned_attributes
    changed = verify_file(DCMSIGN_FIXTURES / "ct_ecp256_sha256_tags_unsignedchange.dcm",
                          trust=trust)
    assert changed.ok
    assert "(0008,1030)" in changed.unsigned_attributes


# --------------------------------------------------------------------------------------------
# A.2 MAC byte stream equals dcmsign's --dump


STREAM_FIXTURES = [p for p in FIXTURES if p.with_suffix(".macstream.bin").exists()]


@pytest.mark.parametrize("fixture", STREAM_FIXTURES, ids=[p.name for p in STREAM_FIXTURES])
def test_mac_stream_matches_dcmsign_dump(fixture: Path) -> None:
    expected = fixture.with_suffix(".macstream.bin").read_bytes()
    ours = _rebuild_stream(fixture)
    assert len(ours) == len(expected)
    assert ours == expected


def test_mac_stream_of_unsigned_change_is_unchanged() -> None:
    expected = (DCMSIGN_FIXTURES / "ct_ecp256_sha256_tags.macstream.bin").read_bytes()
    assert _rebuild_stream(DCMSIGN_FIXTURES / "ct_ecp256_sha256_tags_unsignedchange.dcm") \
        == expected


def test_mac_stream_of_tampered_file_differs_at_byte_592() -> None:
    original = (DCMSIGN_FIXTURES / "ct_rsa2048_sha256_none.macstream.bin").read_bytes()
    tampered = _rebuild_stream(DCMSIGN_FIXTURES / "ct_rsa2048_sha256_tampered.dcm")
    first = next(i for i, (a, b) in enumerate(zip(original, tampered, strict=False)) if a != b)
    assert first == 592


# --------------------------------------------------------------------------------------------
# A.3 files we sign pass dcmsign


@dataclass(frozen=True)
class Case:
    id: str
    src: str
    key: str
    profile: str = "none"
    mac: str = "sha256"
    purpose: int | None = None
    item: str | None = None
    tags: tuple[str, ...] = ()
    cli: bool = False
    #: dcmsign profile check: +rc creator, +ru authorization, +rs SR
    require: str | None = None


NESTED = "ContentSequence[4].ContentSequence[0]"
CASES = [
    # CT_small (explicit VR LE, private tags, trailing padding)
    Case("ct-rsa2048-none-sha256-cli", "CT_small.dcm", "rsa2048", cli=True),
    Case("ct-rsa3072-base-sha384", "CT_small.dcm", "rsa3072", "base", "sha384"),
    Case("ct-ecp256-none-sha256", "CT_small.dcm", "ecp256"),
    Case("ct-ecp384-none-sha384-cli", "CT_small.dcm", "ecp384", mac="sha384", cli=True),
    Case("ct-rsa2048-auth-sha512-cli", "CT_small.dcm", "rsa2048", "authorization", "sha512",
         cli=True, require="+ru"),
    Case("ct-rsa3072-creator-sha256", "CT_small.dcm", "rsa3072", "creator", require="+rc"),
    Case("ct-ecp256-creator-sha512-cli", "CT_small.dcm", "ecp256", "creator", "sha512",
         cli=True, require="+rc"),
    Case("ct-ecp256-tags", "CT_small.dcm", "ecp256",
         tags=("SOPClassUID", "SOPInstanceUID", "PatientName", "0010,0020",
               "OtherPatientIDsSequence", "PixelData")),
    Case("ct-rsa2048-tags-base-cli", "CT_small.dcm", "rsa2048", "base",
         tags=("StudyInstanceUID", "SeriesInstanceUID", "7fe0,0010"), cli=True),
    Case("ct-ecp384-auth-tags", "CT_small.dcm", "ecp384", "authorization", "sha384",
         tags=("PatientID",), require="+ru"),
    # MR_small (explicit VR LE)
    Case("mr-rsa2048-none-sha256-cli", "MR_small.dcm", "rsa2048", cli=True),
    Case("mr-ecp256-none-sha512", "MR_small.dcm", "ecp256", mac="sha512"),
    Case("mr-rsa3072-purpose1-cli", "MR_small.dcm", "rsa3072", purpose=1, cli=True),
    Case("mr-ecp384-base-purpose13", "MR_small.dcm", "ecp384", "base", "sha384", purpose=13),
    Case("mr-rsa2048-creator-sha384-cli", "MR_small.dcm", "rsa2048", "creator", "sha384",
         cli=True, require="+rc"),
    Case("mr-rsa3072-tags-purpose-cli", "MR_small.dcm", "rsa3072", purpose=2,
         tags=("SOPInstanceUID", "PatientName", "PixelData"), cli=True),
    # MR_small_implicit (implicit VR LE: MAC TS becomes explicit LE)
    Case("mrimpl-rsa2048-none-sha256-cli", "MR_small_implicit.dcm", "rsa2048", cli=True),
    Case("mrimpl-ecp256-auth-sha256", "MR_small_implicit.dcm", "ecp256", "authorization",
         require="+ru"),
    Case("mrimpl-rsa3072-base-sha512", "MR_small_implicit.dcm", "rsa3072", "base", "sha512"),
    # MR_small_bigendian (explicit VR BE: values byte-swapped into the stream)
    Case("mrbe-rsa2048-none-sha256-cli", "MR_small_bigendian.dcm", "rsa2048", cli=True),
    Case("mrbe-ecp384-none-sha384", "MR_small_bigendian.dcm", "ecp384", mac="sha384"),
    Case("mrbe-rsa3072-creator-sha256", "MR_small_bigendian.dcm", "rsa3072", "creator",
         require="+rc"),
    # reportsi (Basic Text SR, undefined-length sequences)
    Case("sr-rsa2048-sr-purpose1-cli", "reportsi.dcm", "rsa2048", "sr", purpose=1, cli=True,
         require="+rs"),
    Case("sr-rsa3072-sr-purpose1-sha384", "reportsi.dcm", "rsa3072", "sr", "sha384",
         purpose=1, require="+rs"),
    Case("sr-ecp256-none-main", "reportsi.dcm", "ecp256"),
    Case("sr-rsa2048-item-cli", "reportsi.dcm", "rsa2048", item="ContentSequence[1]", cli=True),
    Case("sr-ecp256-item-purpose2", "reportsi.dcm", "ecp256", item="ContentSequence[1]",
         purpose=2),
    Case("sr-rsa3072-item-base-sha512-cli", "reportsi.dcm", "rsa3072", "base", "sha512",
         item="ContentSequence[3]", cli=True),
    Case("sr-rsa2048-nested-item-cli", "reportsi.dcm", "rsa2048", item=NESTED, cli=True),
    Case("sr-ecp384-nested-item-sha512", "reportsi.dcm", "ecp384", mac="sha512",
         item="ContentSequence[4].ContentSequence[1]"),
    Case("sr-ecp256-nested-item-tags", "reportsi.dcm", "ecp256", item=NESTED,
         tags=("ValueType", "TextValue")),
    # SC_rgb_jpeg_dcmtk (JPEG Baseline, encapsulated Pixel Data)
    Case("jpeg-rsa2048-none-sha256-cli", "SC_rgb_jpeg_dcmtk.dcm", "rsa2048", cli=True),
    Case("jpeg-ecp256-base-sha384", "SC_rgb_jpeg_dcmtk.dcm", "ecp256", "base", "sha384"),
    Case("jpeg-rsa3072-auth-sha512-cli", "SC_rgb_jpeg_dcmtk.dcm", "rsa3072", "authorization",
         "sha512", cli=True, require="+ru"),
]


def _sign_case(case: Case, dst: Path) -> None:
    src = PYDICOM_FILES / case.src
    if case.cli:
        extra = ["--profile", case.profile, "--mac", case.mac]
        if case.purpose is not None:
            extra += ["--purpose", str(case.purpose)]
        if case.item is not None:
            extra += ["--item", case.item]
        for t in case.tags:
            extra += ["--tag", t]
        _cli_sign(src, dst, case.key, *extra)
    else:
        result = sign_file(src, dst, key=_key(case.key), profile=Profile(case.profile),
                           mac=case.mac, purpose=case.purpose, item=case.item,
                           tags=list(case.tags) or None)
        assert result.location == (case.item or "main")
        assert result.mac_algorithm == case.mac.upper()
        assert result.profile == case.profile


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_our_signature_passes_dcmsign(case: Case, tmp_path: Path) -> None:
    require_tool("dcmsign")
    out = tmp_path / "signed.dcm"
    _sign_case(case, out)

    _assert_dcmsign_ok(out, 1)
    if case.require is not None:
        if case.key.startswith("rsa"):
            _assert_dcmsign_ok(out, 1, case.require)
        else:
            # dcmsign's profiles are the standard's "RSA" profiles: an ECDSA signature never
            # meets them there (exit 102), while our reports accept every non-legacy scheme
            # (documented in dicomsec.signatures._profiles).
            done = _dcmsign_verify(out, case.require)
            assert done.returncode == 102, (done.stdout, done.stderr)
            assert "RSA Signature" in done.stderr

    report = verify_file(out, trust=_trust())
    assert report.ok, [s.problems for s in report.signatures]
    (sig,) = report.signatures
    assert sig.location == (case.item or "main")
    assert sig.mac_algorithm == case.mac.upper()
    assert sig.interoperable
    if case.profile != "none":
        assert case.profile in sig.profiles
    if case.purpose is not None:
        assert sig.purpose is not None and sig.purpose["code"] == str(case.purpose)
    if case.tags:
        assert {tag_str(parse_tag(t)) for t in case.tags} <= set(sig.covered)
        if case.profile == "none":
            assert len(sig.covered) == len(case.tags)


def test_dcmsign_profile_check_fails_when_not_met(tmp_path: Path) -> None:
    """Guard for the +rc/+ru/+rs cases: dcmsign does refuse a profile that is not met."""
    out = tmp_path / "tags.dcm"
    sign_file(PYDICOM_FILES / "CT_small.dcm", out, key=_key("rsa2048"), tags=["PatientName"])
    _assert_dcmsign_ok(out, 1)
    done = _dcmsign_verify(out, "+ru")
    assert done.returncode == 102, (done.stdout, done.stderr)
    assert "authorization" not in verify_file(out, trust=_trust()).signatures[0].profiles


def test_two_main_level_signatures_side_by_side(tmp_path: Path) -> None:
    once, twice = tmp_path / "once.dcm", tmp_path / "twice.dcm"
    first = sign_file(PYDICOM_FILES / "CT_small.dcm", once, key=_key("rsa2048"))
    _cli_sign(once, twice, "ecp384", "--profile", "base", "--mac", "sha384", "--purpose", "2")

    _assert_dcmsign_ok(twice, 2)
    report = verify_file(twice, trust=_trust())
    assert report.ok
    assert len(report.signatures) == 2
    assert {s.location for s in report.signatures} == {"main"}
    assert first.uid in {s.uid for s in report.signatures}
    assert len({s.mac_id for s in report.signatures}) == 2
    ds = pydicom.dcmread(twice)
    assert len(ds.DigitalSignaturesSequence) == 2
    assert len(ds.MACParametersSequence) == 2


def test_item_and_main_signatures_together(tmp_path: Path) -> None:
    """An item signature added after a main one (and the reverse) breaks neither."""
    src = PYDICOM_FILES / "reportsi.dcm"
    a, b, c = tmp_path / "a.dcm", tmp_path / "b.dcm", tmp_path / "c.dcm"
    sign_file(src, a, key=_key("rsa2048"), profile=Profile.SR, purpose=1)
    _cli_sign(a, b, "ecp256", "--item", NESTED)
    sign_file(b, c, key=_key("rsa3072"), item="ContentSequence[1]", purpose=3)

    _assert_dcmsign_ok(c, 3)
    _assert_dcmsign_ok(c, 3, "+rs")
    report = verify_file(c, trust=_trust())
    assert report.ok
    assert sorted(s.location for s in report.signatures) == sorted(
        ["main", NESTED, "ContentSequence[1]"])

    # and the other way round: items first, then the main data set
    d, e = tmp_path / "d.dcm", tmp_path / "e.dcm"
    sign_file(src, d, key=_key("ecp384"), item="ContentSequence[4]")
    sign_file(d, e, key=_key("rsa2048"))
    _assert_dcmsign_ok(e, 2)
    assert verify_file(e, trust=_trust()).ok


# Regression: Part B was once byte-swapped when signing big-endian files, so every signature
# with MAC ID >= 1 (a second one) on an Explicit VR Big Endian file failed its self-check.
def test_second_signature_on_big_endian_file(tmp_path: Path) -> None:
    a, b = tmp_path / "a.dcm", tmp_path / "b.dcm"
    sign_file(PYDICOM_FILES / "MR_small_bigendian.dcm", a, key=_key("rsa2048"))
    sign_file(a, b, key=_key("rsa2048"))  # MAC ID 1
    _assert_dcmsign_ok(b, 2)
    assert verify_file(b, trust=_trust()).ok


# --------------------------------------------------------------------------------------------
# A.4 removing signatures


def test_remove_one_signature_by_uid(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    once, twice, left = tmp_path / "once.dcm", tmp_path / "twice.dcm", tmp_path / "left.dcm"
    first = sign_file(PYDICOM_FILES / "MR_small.dcm", once, key=_key("rsa2048"))
    second = sign_file(once, twice, key=_key("ecp256"), purpose=1)
    _assert_dcmsign_ok(twice, 2)

    assert cli_main(["signatures", "remove", str(twice), "--uid", first.uid,
                     "-o", str(left)]) == 0
    _assert_dcmsign_ok(left, 1)
    rc, result = _cli_verify_json(left, capsys)
    assert rc == 0
    assert [s["uid"] for s in result["signatures"]] == [second.uid]
    ds = pydicom.dcmread(left)
    assert len(ds.DigitalSignaturesSequence) == 1
    assert len(ds.MACParametersSequence) == 1
    _assert_same_dataset(left, PYDICOM_FILES / "MR_small.dcm")


@pytest.mark.parametrize(
    ("name", "item"),
    [("CT_small.dcm", None), ("MR_small_implicit.dcm", None),
     ("MR_small_bigendian.dcm", None),
     ("reportsi.dcm", NESTED), ("SC_rgb_jpeg_dcmtk.dcm", None)],
)
def test_remove_all_restores_the_data_set(name: str, item: str | None, tmp_path: Path) -> None:
    src = PYDICOM_FILES / name
    a, b, clean = tmp_path / "a.dcm", tmp_path / "b.dcm", tmp_path / "clean.dcm"
    sign_file(src, a, key=_key("rsa2048"))
    if item is not None:
        _cli_sign(a, b, "ecp256", "--item", item)
    else:
        _cli_sign(a, b, "ecp384", "--mac", "sha384")
    _assert_dcmsign_ok(b, 2)

    assert cli_main(["signatures", "remove", str(b), "--all", "-o", str(clean)]) == 0

    _assert_same_dataset(clean, src)
    assert not _has_signature_sequences(pydicom.dcmread(clean))
    # splicing leaves the untouched bytes as they were
    assert clean.read_bytes() == src.read_bytes()
    # dcmsign reads the result and finds no signature
    assert _dcmsign_verify(clean).returncode == 0
    assert _dcmsign_verify(clean, "+rg").returncode == 100
    assert verify_file(clean, trust=_trust()).signatures == ()


@pytest.mark.parametrize("fixture", ["ct_rsa2048_sha256_none.dcm", "mr_rsa2048_md5_none.dcm",
                                     "sr_rsa2048_sha256_srprofile.dcm",
                                     "jpeg_rsa2048_sha256_none.dcm"])
def test_remove_from_dcmsign_files(fixture: str, tmp_path: Path) -> None:
    """dcmsign-made files: removing its signature leaves the rest as dcmsign wrote it."""
    src = DCMSIGN_FIXTURES / fixture
    added, kept, clean = tmp_path / "added.dcm", tmp_path / "kept.dcm", tmp_path / "clean.dcm"
    original_uid = verify_file(src).signatures[0].uid
    ours = sign_file(src, added, key=_key("ecp256"))
    _assert_dcmsign_ok(added, 2)

    assert cli_main(["signatures", "remove", str(added), "--uid", original_uid,
                     "-o", str(kept)]) == 0
    _assert_dcmsign_ok(kept, 1)
    assert [s.uid for s in verify_file(kept, trust=_trust()).signatures] == [ours.uid]

    assert cli_main(["signatures", "remove", str(added), "--all", "-o", str(clean)]) == 0
    _assert_same_dataset(clean, src)
    assert "DigitalSignaturesSequence" not in pydicom.dcmread(clean)
    assert _dcmsign_verify(clean, "+rg").returncode == 100


# --------------------------------------------------------------------------------------------
# A.5 certified timestamp from a real TSA


@pytest.fixture
def tsa_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    from tests.tsa import running_tsa

    # the test TSA listens on 127.0.0.1: never send its requests through a proxy
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    with running_tsa(tmp_path / "tsa") as url:
        yield url


@pytest.mark.parametrize(("name", "key"), [("MR_small.dcm", "rsa2048"),
                                           ("CT_small.dcm", "ecp256")])
def test_timestamped_signature_passes_dcmsign(
    name: str, key: str, tsa_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    require_tool("dcmsign")
    out = tmp_path / "ts.dcm"
    _cli_sign(PYDICOM_FILES / name, out, key, "--tsa-url", tsa_url)

    _assert_dcmsign_ok(out, 1)
    done = _dcmsign_verify(out, "+tr")  # a timestamp is required and verifies
    assert done.returncode == 0, (done.stdout, done.stderr)
    assert re.search(r"Timestamp Verification\s*:\s*OK", done.stdout + done.stderr)

    rc, result = _cli_verify_json(out, capsys)
    assert rc == 0
    (sig,) = result["signatures"]
    ts = sig["timestamp"]
    assert ts is not None
    assert ts["ok"] is True and ts["trusted"] is True
    assert "dicomsec test TSA" in ts["tsa"]
    report: FileReport = verify_file(out, trust=_trust())
    assert report.ok


def test_dcmsign_requires_timestamp_on_untimestamped_file(tmp_path: Path) -> None:
    """Guard for the +tr check above: without a timestamp dcmsign fails it."""
    out = tmp_path / "plain.dcm"
    sign_file(PYDICOM_FILES / "MR_small.dcm", out, key=_key("rsa2048"))
    assert _dcmsign_verify(out, "+tr").returncode == 101


def test_item_signature_in_defined_length_sequences(tmp_path: Path) -> None:
    """dcmsign writes defined-length sequences: adding and removing a nested item signature
    patches the enclosing sequence and item lengths and keeps dcmsign's signature intact."""
    src = DCMSIGN_FIXTURES / "sr_rsa2048_sha256_srprofile.dcm"
    signed, clean = tmp_path / "signed.dcm", tmp_path / "clean.dcm"
    result = sign_file(src, signed, key=_key("ecp256"), item=NESTED, purpose=2)
    assert result.location == NESTED
    _assert_dcmsign_ok(signed, 2)
    _assert_dcmsign_ok(signed, 2, "+rs")
    report = verify_file(signed, trust=_trust())
    assert report.ok
    assert sorted(s.location for s in report.signatures) == sorted(["main", NESTED])

    assert cli_main(["signatures", "remove", str(signed), "--uid", result.uid,
                     "-o", str(clean)]) == 0
    assert clean.read_bytes() == src.read_bytes()
    _assert_dcmsign_ok(clean, 1)
