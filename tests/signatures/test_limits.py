"""Limits before work on DICOM structure (issue 8, item 3): hostile element, item, nesting and
signature counts are refused while parsing (exit 2, one line naming the file and the limit),
within 150 MB of peak memory; a file just over a default is read once the limit is raised.

Memory is the child's peak RSS from ``getrusage(RUSAGE_CHILDREN)``, read in a fresh helper
process that runs the command (the helper's own children are the command alone).
"""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from array import array
from pathlib import Path

import pytest

from dicomsec import limits
from dicomsec._rawdicom import parse_file
from dicomsec.cli import main as cli_main
from dicomsec.errors import InvalidInput
from dicomsec.keys import FileSigningKey, load_certificate, load_private_key
from dicomsec.signatures import sign_file, verify_file
from tests.conftest import DCMSIGN_FIXTURES, PKI, PYDICOM_FILES

CA = PKI / "ca.cert.pem"
PYDICOM_CT = PYDICOM_FILES / "CT_small.dcm"
KEY, CERT = PKI / "signer-ecp256.key.pem", PKI / "signer-ecp256.cert.pem"
#: peak memory allowed to a command refusing hostile structure (issue 8, Acceptance 2)
MAX_RSS_MB = 150
#: CPU seconds (user + system) allowed to it: the refusal comes early, not after the work
MAX_CPU_S = 10.0
HOSTILE = 3_000_000

_HELPER = r"""
import json, resource, subprocess, sys
p = subprocess.run([sys.executable, "-m", "dicomsec", *sys.argv[1:]], capture_output=True,
                   text=True)
u = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"rc": p.returncode, "err": p.stderr, "rss_kb": u.ru_maxrss,
                  "cpu": u.ru_utime + u.ru_stime}))
"""


def _measured(*argv: str | Path) -> dict[str, object]:
    """Run ``dicomsec ARGV`` in a child of a fresh helper; its exit code, stderr, peak RSS
    (kB) and CPU seconds."""
    out = subprocess.run([sys.executable, "-c", _HELPER, *map(str, argv)], check=True,
                         capture_output=True, text=True).stdout
    result: dict[str, object] = json.loads(out)
    return result


# --------------------------------------------------------------------------------------------
# hostile files, built fast (arrays, not one struct call per element)


def _meta(ts: str = "1.2.840.10008.1.2.1") -> bytes:
    def el(elem: int, vr: bytes, value: bytes) -> bytes:
        return struct.pack("<HH2sH", 2, elem, vr, len(value)) + value

    uid = ts.encode() + (b"\0" if len(ts) % 2 else b"")
    body = (el(0x0002, b"UI", b"1.2.840.10008.5.1.4.1.1.7\0")
            + el(0x0003, b"UI", b"1.2.3.4.5\0") + el(0x0010, b"UI", uid))
    return b"\0" * 128 + b"DICM" + el(0x0000, b"UL", struct.pack("<L", len(body))) + body


def _empty_elements(n: int) -> bytes:
    """``n`` empty LO elements with ascending tags in private groups 1001, 1003, ..."""
    per_group = 0xFFF0
    words = array("H", bytes(8 * n))
    lo = struct.unpack("<H", b"LO")[0]
    done = 0
    group = 0x1001
    while done < n:
        k = min(per_group, n - done)
        words[4 * done : 4 * (done + k) : 4] = array("H", [group]) * k
        words[4 * done + 1 : 4 * (done + k) : 4] = array("H", range(0x0010, 0x0010 + k))
        words[4 * done + 2 : 4 * (done + k) : 4] = array("H", [lo]) * k
        done += k
        group += 2
    return words.tobytes()


def _empty_items(n: int, tag: int = 0x00400275) -> bytes:
    """A sequence of ``n`` empty items (undefined length, explicit VR)."""
    head = struct.pack("<HH2sHL", tag >> 16, tag & 0xFFFF, b"SQ", 0, 0xFFFFFFFF)
    return (head + struct.pack("<HHL", 0xFFFE, 0xE000, 0) * n
            + struct.pack("<HHL", 0xFFFE, 0xE0DD, 0))


def _nested(depth: int) -> bytes:
    """Sequences nested ``depth`` items deep (undefined lengths), a PatientID at the bottom."""
    seq = struct.pack("<HH2sHL", 0x0040, 0x0275, b"SQ", 0, 0xFFFFFFFF)
    item = struct.pack("<HHL", 0xFFFE, 0xE000, 0xFFFFFFFF)
    item_end = struct.pack("<HHL", 0xFFFE, 0xE00D, 0)
    seq_end = struct.pack("<HHL", 0xFFFE, 0xE0DD, 0)
    leaf = struct.pack("<HH2sH", 0x0010, 0x0020, b"LO", 2) + b"ID"
    return (seq + item) * depth + leaf + (item_end + seq_end) * depth


def _write(path: Path, body: bytes) -> Path:
    path.write_bytes(_meta() + body)
    return path


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("hostile")
    return {
        "elements": _write(d / "elements.dcm", _empty_elements(HOSTILE)),
        "items": _write(d / "items.dcm", _empty_items(HOSTILE)),
    }


# --------------------------------------------------------------------------------------------
# 3 million elements / items: refused early, in bounded memory


def _assert_refused(result: dict[str, object], path: Path, limit: str) -> None:
    err = str(result["err"])
    lines = [line for line in err.splitlines() if line.strip()]
    assert result["rc"] == 2, err
    assert len(lines) == 1, err
    assert str(path) in lines[0] and f"--limit {limit}=" in lines[0], err
    assert "Traceback" not in err and "internal error" not in err
    rss_mb = int(str(result["rss_kb"])) / 1024
    assert rss_mb <= MAX_RSS_MB, f"peak RSS {rss_mb:.0f} MB"
    cpu = float(str(result["cpu"]))
    assert cpu <= MAX_CPU_S, f"{cpu:.1f} s of CPU"


@pytest.mark.parametrize("kind", ["elements", "items"])
def test_verify_refuses_hostile_structure(hostile: dict[str, Path], kind: str) -> None:
    path = hostile[kind]
    _assert_refused(_measured("verify", path, "--trust", CA), path, kind)


@pytest.mark.parametrize("kind", ["elements", "items"])
def test_sign_refuses_hostile_structure(hostile: dict[str, Path], kind: str,
                                        tmp_path: Path) -> None:
    path, out = hostile[kind], tmp_path / "out.dcm"
    _assert_refused(_measured("sign", path, "-o", out, "--key", KEY, "--cert", CERT), path,
                    kind)
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_remove_and_folder_verify_refuse_hostile_items(hostile: dict[str, Path],
                                                       tmp_path: Path) -> None:
    path = hostile["items"]
    _assert_refused(_measured("signatures", "remove", path, "--all", "-o", tmp_path / "o.dcm"),
                    path, "items")
    result = _measured("verify", path.parent, "--trust", CA, "--workers", "1")
    assert result["rc"] == 2, result["err"]
    assert "--limit items=" in str(result["err"]) and "Traceback" not in str(result["err"])
    assert int(str(result["rss_kb"])) / 1024 <= MAX_RSS_MB


# --------------------------------------------------------------------------------------------
# just over a default: refused, then read with the limit raised


def test_items_just_over_the_default(tmp_path: Path) -> None:
    n = limits.Limits().items + 1
    path = _write(tmp_path / "items.dcm", _empty_items(n))
    with pytest.raises(limits.LimitExceeded, match="items="):
        parse_file(path)
    with limits.applied(limits.current().replaced(items=n)):
        seq = parse_file(path).dataset.find(0x00400275)
        assert seq is not None and seq.items is not None and len(seq.items) == n
        report = verify_file(path, trust=None)
    assert report.signatures == ()


def test_elements_just_over_the_default(tmp_path: Path) -> None:
    n = limits.Limits().elements + 1
    path = _write(tmp_path / "elements.dcm", _empty_elements(n - 4))  # + 4 meta elements
    with pytest.raises(limits.LimitExceeded, match="elements="):
        parse_file(path)
    with limits.applied(limits.current().replaced(elements=n)):
        assert len(parse_file(path).dataset.elements) == n - 4


def test_command_line_limit_raises_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    n = limits.Limits().items + 1
    path = _write(tmp_path / "items.dcm", _empty_items(n))
    assert cli_main(["verify", str(path), "--trust", str(CA), "--allow-unsigned"]) == 2
    assert "--limit items=" in capsys.readouterr().err
    assert cli_main(["verify", str(path), "--trust", str(CA), "--allow-unsigned",
                     "--limit", f"items={n}"]) == 0


# --------------------------------------------------------------------------------------------
# depth, signatures per level, values held in memory


def test_depth_limit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    depth = limits.Limits().depth
    ok = _write(tmp_path / "ok.dcm", _nested(depth))
    deep = _write(tmp_path / "deep.dcm", _nested(depth + 1))
    parse_file(ok)
    with pytest.raises(limits.LimitExceeded, match="depth="):
        parse_file(deep)
    assert cli_main(["verify", str(deep), "--trust", str(CA)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--limit depth=" in err and str(deep) in err
    with limits.applied(limits.current().replaced(depth=depth + 1)):
        parse_file(deep)


def test_depth_raised_far_stays_an_input_error(tmp_path: Path) -> None:
    """Raising the depth limit far above the stack the parser has is one clear error, never
    a RecursionError (exit 70)."""
    deep = _write(tmp_path / "deep.dcm", _nested(20_000))
    with limits.applied(limits.current().replaced(depth=100_000)):
        with pytest.raises(InvalidInput, match="nested too deeply"):
            parse_file(deep)


def test_signatures_per_level(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    most = limits.Limits().signatures
    many = _write(tmp_path / "many.dcm", _empty_items(most + 1, tag=0xFFFAFFFA))
    at_most = _write(tmp_path / "at_most.dcm", _empty_items(most, tag=0xFFFAFFFA))
    assert cli_main(["verify", str(many), "--trust", str(CA)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--limit signatures=" in err and "(FFFA,FFFA)" in err
    assert cli_main(["verify", str(at_most), "--trust", str(CA)]) == 1  # read, all broken
    capsys.readouterr()
    with limits.applied(limits.current().replaced(signatures=most + 1)):
        report = verify_file(many, trust=None)
    assert len(report.signatures) == most + 1 and not report.ok


def test_mac_parameters_items_count_too(tmp_path: Path) -> None:
    most = limits.Limits().signatures
    many = _write(tmp_path / "many.dcm", _empty_items(most + 1, tag=0x4FFE0001))
    with pytest.raises(limits.LimitExceeded, match="signatures="):
        parse_file(many)


def test_value_bytes_checked_before_reading(tmp_path: Path) -> None:
    """A value read whole (here the Certificate of Signer) longer than ``value_bytes`` is
    refused before it is read, in verify and in sign's check of its output."""
    signed = DCMSIGN_FIXTURES / "ct_ecp256_sha256_tags.dcm"
    small = limits.current().replaced(value_bytes=64)
    key = _key()
    with limits.applied(small):
        with pytest.raises(limits.LimitExceeded, match="value_bytes=64"):
            verify_file(signed, trust=None)
        # signing reads no large value of the input: it works, and its self-check of the
        # output (which holds its own certificate) is what refuses
        with pytest.raises(limits.LimitExceeded, match="value_bytes=64"):
            sign_file(signed, tmp_path / "s.dcm", key=key)
    assert not (tmp_path / "s.dcm").exists()
    assert verify_file(signed, trust=None).signatures


def _key() -> FileSigningKey:
    return FileSigningKey(load_private_key(KEY), load_certificate(CERT))


def _item_signatures(n: int) -> bytes:
    """A signed file with ``n`` items, each holding a copy of its main-level signature (MAC
    Parameters and Digital Signatures Sequences): one signature per level, ``n + 1`` in all."""
    src = DCMSIGN_FIXTURES / "ct_ecp256_sha256_tags.dcm"
    parsed, data = parse_file(src), src.read_bytes()
    ds, mp = parsed.dataset.find(0xFFFAFFFA), parsed.dataset.find(0x4FFE0001)
    assert ds is not None and mp is not None
    content = data[mp.offset:mp.end] + data[ds.offset:ds.end]
    items = (struct.pack("<HHL", 0xFFFE, 0xE000, len(content)) + content) * n
    seq = struct.pack("<HH2sHL", 0x0040, 0x0275, b"SQ", 0, len(items)) + items
    after = min(e.offset for e in parsed.dataset.elements if e.tag > 0x00400275)
    return data[:after] + seq + data[after:]


def test_signatures_per_file(tmp_path: Path) -> None:
    """Each signature costs a certificate and a path validation: a file holds at most
    ``signatures_per_file`` signatures (20,000 item signatures in 24 MB took 26 s and 196 MB)."""
    most = 16
    at_most, over = tmp_path / "at_most.dcm", tmp_path / "over.dcm"
    at_most.write_bytes(_item_signatures(most - 1))
    over.write_bytes(_item_signatures(most))
    with limits.applied(limits.current().replaced(signatures_per_file=most)):
        assert len(verify_file(at_most, trust=None).signatures) == most
        with pytest.raises(limits.LimitExceeded, match="signatures_per_file=16"):
            verify_file(over, trust=None)


def test_unsigned_inside_signed_items_listed_up_to_a_bound(tmp_path: Path) -> None:
    """Group lengths added inside signed items do not break the signature: verify lists the
    first ``UNSIGNED_LISTED`` and counts the rest (a list of each would grow with the file)."""
    from dicomsec.signatures._verify import UNSIGNED_LISTED

    n = UNSIGNED_LISTED + 500
    content = (struct.pack("<HH2sHL", 0x0008, 0x0000, b"UL", 4, 8)  # group length: unsigned
               + struct.pack("<HH2sH", 0x0008, 0x1150, b"UI", 4) + b"1.2\0")
    items = (struct.pack("<HHL", 0xFFFE, 0xE000, len(content)) + content) * n
    src = PYDICOM_CT
    parsed, data = parse_file(src), src.read_bytes()
    seq = struct.pack("<HH2sHL", 0x0008, 0x1115, b"SQ", 0, len(items)) + items
    after = min(e.offset for e in parsed.dataset.elements if e.tag > 0x00081115)
    plain, signed = tmp_path / "plain.dcm", tmp_path / "signed.dcm"
    plain.write_bytes(data[:after] + seq + data[after:])
    sign_file(plain, signed, key=_key())
    report = verify_file(signed, trust=None)
    listed = report.unsigned_in_items
    assert len(listed) == UNSIGNED_LISTED + 1
    assert listed[0].endswith("(0008,0000)")
    assert listed[-1] == "... and 500 more elements not listed"
    assert report.signatures[0].intact


def test_unsigned_top_level_listed_up_to_a_bound(tmp_path: Path) -> None:
    from dicomsec.signatures._verify import UNSIGNED_LISTED

    path = _write(tmp_path / "many.dcm", _empty_elements(UNSIGNED_LISTED + 7))
    listed = verify_file(path, trust=None).unsigned_attributes
    assert len(listed) == UNSIGNED_LISTED + 1 and listed[0] == "(1001,0010)"
    assert listed[-1] == "... and 7 more elements not listed"
