"""Verify is not silent about additions (issue 8, item 8).

Hostile files are made by splicing bytes into a file signed by ``sign``: Data Set Trailing
Padding, group lengths and group-0004 elements (outside or inside signed items) must be listed
as unsigned, copies of one signature item are a problem on each copy after the first, and a
file or folder where nothing was verified says so.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from dicomsec._rawdicom import parse_file
from dicomsec.cli import main as cli_main
from tests.conftest import PKI, PYDICOM_FILES, cli_sign

CT = PYDICOM_FILES / "CT_small.dcm"
CA = PKI / "ca.cert.pem"
OTHER_PATIENT_IDS = 0x00101002


def _element(tag: int, vr: str, value: bytes) -> bytes:
    """An explicit VR little endian element (``vr`` with a 4-byte length: OB, UN, UL is not)."""
    head = struct.pack("<HH", tag >> 16, tag & 0xFFFF) + vr.encode()
    if vr in ("OB", "UN", "SQ", "UT"):
        return head + b"\0\0" + struct.pack("<L", len(value)) + value
    return head + struct.pack("<H", len(value)) + value


def _splice(data: bytes, at: int, blob: bytes, length_fields: list[int]) -> bytes:
    """Insert ``blob`` at ``at`` and grow each enclosing 4-byte length field by its size."""
    out = bytearray(data)
    for off in length_fields:
        (n,) = struct.unpack_from("<L", out, off)
        struct.pack_into("<L", out, off, n + len(blob))
    out[at:at] = blob
    return bytes(out)


def _verify_json(path: Path, capsys: pytest.CaptureFixture[str],
                 *extra: str) -> tuple[int, dict[str, object]]:
    capsys.readouterr()
    rc = cli_main(["verify", str(path), "--trust", str(CA), "--json", "--workers", "1",
                   *extra])
    data = json.loads(capsys.readouterr().out)
    assert isinstance(data, list) and len(data) == 1
    return rc, data[0]


@pytest.fixture(scope="module")
def signed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("additions") / "signed.dcm"
    cli_sign(CT, out, "ecp256")
    return out


def test_plain_signed_file_lists_its_padding(signed: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    rc, rep = _verify_json(signed, capsys)
    assert rc == 0
    assert rep["verified"] is True
    assert rep["unsigned_attributes"] == ["(FFFC,FFFC)"]  # CT_small.dcm's own padding
    assert rep["unsigned_in_items"] == []


def test_trailing_padding_of_15_kb_is_listed(signed: Path, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    pad = parse_file(signed).dataset.find(0xFFFCFFFC)
    assert pad is not None
    forged = tmp_path / "padded.dcm"
    forged.write_bytes(signed.read_bytes()[:pad.offset]
                       + _element(0xFFFCFFFC, "OB", b"\x41" * 15000))
    rc, rep = _verify_json(forged, capsys)
    assert rc == 0  # an unsigned addition does not break the signature
    assert "(FFFC,FFFC)" in rep["unsigned_attributes"]  # type: ignore[operator]
    capsys.readouterr()
    assert cli_main(["verify", str(forged), "--trust", str(CA), "--workers", "1"]) == 0
    out = capsys.readouterr().out
    assert "unsigned top-level attributes: (FFFC,FFFC)" in out


def test_top_level_group_length_is_listed(signed: Path, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    first = min(e.offset for e in parse_file(signed).dataset.elements if e.tag >> 16 == 0x0010)
    forged = tmp_path / "grouplength.dcm"
    forged.write_bytes(_splice(signed.read_bytes(), first,
                               _element(0x00100000, "UL", struct.pack("<L", 1234)), []))
    rc, rep = _verify_json(forged, capsys)
    assert rc == 0
    assert "(0010,0000)" in rep["unsigned_attributes"]  # type: ignore[operator]


@pytest.mark.parametrize(("tag", "vr", "value"), [
    (0x00041500, "CS", b"EVIL"),                    # group 0004 (File-set records)
    (0x00100000, "UL", struct.pack("<L", 99)),      # a group length
    (0xFFFCFFFC, "OB", b"\x41" * 4000),             # Data Set Trailing Padding
])
def test_additions_inside_a_signed_item_are_listed(signed: Path, tmp_path: Path, tag: int,
                                                   vr: str, value: bytes,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    seq = parse_file(signed).dataset.find(OTHER_PATIENT_IDS)
    assert seq is not None and seq.items
    item = seq.items[1]
    first = min((e.offset for e in item.elements if e.tag > tag), default=item.content_end)
    forged = tmp_path / "initem.dcm"
    forged.write_bytes(_splice(signed.read_bytes(), first, _element(tag, vr, value),
                               [seq.length_field, item.length_offset]))
    rc, rep = _verify_json(forged, capsys)
    assert rc == 0  # the MAC stream leaves these out: the signature stays valid...
    sig = rep["signatures"][0]  # type: ignore[index]
    assert sig["valid"] is True
    tag_text = f"({tag >> 16:04X},{tag & 0xFFFF:04X})"
    # ...but the addition is named, with the item it sits in
    assert rep["unsigned_in_items"] == [f"OtherPatientIDsSequence[1] {tag_text}"]
    capsys.readouterr()
    assert cli_main(["verify", str(forged), "--trust", str(CA), "--workers", "1"]) == 0
    assert (f"unsigned inside signed items: OtherPatientIDsSequence[1] {tag_text}"
            in capsys.readouterr().out)


def test_un_inside_a_signed_item_breaks_the_signature(signed: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """A UN element makes its whole sequence unsignable: detected already (not merely listed)."""
    seq = parse_file(signed).dataset.find(OTHER_PATIENT_IDS)
    assert seq is not None and seq.items
    item = seq.items[1]
    forged = tmp_path / "un.dcm"
    forged.write_bytes(_splice(signed.read_bytes(), item.content_end,
                               _element(0x00110010, "UN", b"hidden data "),
                               [seq.length_field, item.length_offset]))
    rc, rep = _verify_json(forged, capsys)
    assert rc == 1
    assert "(0010,1002)" in rep["unsigned_attributes"]  # type: ignore[operator]


def test_copies_of_one_signature_are_problems(signed: Path, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    seq = parse_file(signed).dataset.find(0xFFFAFFFA)
    assert seq is not None and seq.items
    item = seq.items[0]
    data = signed.read_bytes()
    copy = data[item.offset:item.end]
    forged = tmp_path / "copies.dcm"
    forged.write_bytes(_splice(data, item.end, copy * 99, [seq.length_field]))
    rc, rep = _verify_json(forged, capsys)
    assert rc == 1
    sigs = rep["signatures"]
    assert isinstance(sigs, list) and len(sigs) == 100
    assert sigs[0]["ok"] is True and sigs[0]["valid"] is True
    for s in sigs[1:]:
        assert s["ok"] is False and s["valid"] is False
        assert any("duplicate Digital Signature UID" in p for p in s["problems"])
    assert rep["ok"] is False


def test_unsigned_file_says_nothing_was_verified(capsys: pytest.CaptureFixture[str]) -> None:
    rc, rep = _verify_json(CT, capsys)
    assert rc == 1  # a file without signatures fails unless --allow-unsigned
    assert rep["signatures"] == [] and rep["verified"] is False
    capsys.readouterr()
    assert cli_main(["verify", str(CT), "--trust", str(CA), "--workers", "1"]) == 1
    assert "no signatures found: nothing verified" in capsys.readouterr().out
    assert cli_main(["verify", str(CT), "--trust", str(CA), "--workers", "1",
                     "--allow-unsigned"]) == 0
    assert "no signatures found: nothing verified" in capsys.readouterr().out


def test_unsigned_file_fails_in_the_library_when_not_allowed() -> None:
    from dicomsec.errors import VerificationFailed
    from dicomsec.signatures import verify_file

    rep = verify_file(CT, allow_unsigned=False)
    assert not rep.ok and not rep.verified
    with pytest.raises(VerificationFailed, match="nothing verified"):
        rep.raise_for_failure()
    assert verify_file(CT).ok


@pytest.mark.parametrize("as_json", [False, True])
def test_empty_folder_is_not_a_silent_success(tmp_path: Path, as_json: bool,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    capsys.readouterr()
    rc = cli_main(["verify", str(tmp_path / "empty"), "--trust", str(CA), "--workers", "1",
                   *(["--json"] if as_json else [])])
    got = capsys.readouterr()
    assert rc == 1
    assert got.err.strip().splitlines() == [
        "error: no files verified: no file found under the paths given"]
    assert "Traceback" not in got.err
    assert got.out.strip() == ("[]" if as_json else "")
