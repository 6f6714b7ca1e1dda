"""Fuzz (issue 8, Acceptance 3): mutated DICOM files through verify, sign and signatures remove
give the project's own errors only: never an "internal" outcome (exit 70), never a traceback.

Sources are signed files (dcmsign's, ours at the main level and in an item, big endian,
implicit VR) and pydicom's test files opened by path. Each case is seeded: a failure names
its seed, source and mutation, and ``_case(seed)`` rebuilds it. Cases run in-process through
the library, classified by :func:`dicomsec.errors.error_kind` as the command line does (a
subprocess per case would take an hour). ``DICOMSEC_FUZZ_CASES`` changes the number of cases.
"""

from __future__ import annotations

import json
import os
import random
import struct
import tempfile
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from dicomsec import limits
from dicomsec._rawdicom import UNDEFINED, Element, parse_file
from dicomsec.errors import error_kind
from dicomsec.keys import FileSigningKey, load_certificate, load_private_key
from dicomsec.signatures import remove_signatures, sign_file, verify_file
from dicomsec.trust import TrustStore
from tests.conftest import DCMSIGN_FIXTURES, PKI, PYDICOM_FILES

CASES = int(os.environ.get("DICOMSEC_FUZZ_CASES", "10000"))
SEED = 0x0D1C0F22
#: pydicom's test files used as sources (by path)
PYDICOM_SOURCES = ("CT_small.dcm", "JPEG2000.dcm", "MR_small_bigendian.dcm",
                   "MR_small_implicit.dcm", "MR_small_padded.dcm", "SC_rgb_rle_2frame.dcm",
                   "UN_sequence.dcm", "badVR.dcm", "empty_charset_LEI.dcm", "nested_priv_SQ.dcm",
                   "priv_SQ.dcm", "reportsi.dcm", "rtplan.dcm", "test-SR.dcm",
                   "rtdose_1frame.dcm", "SC_rgb_small_odd_big_endian.dcm",
                   "JPEG2000-embedded-sequence-delimiter.dcm")
#: limits for the fuzz: small enough that huge declared counts end quickly
FUZZ_LIMITS = limits.Limits().replaced(elements=20_000, items=5_000, value_bytes=1 << 20)


@dataclass(frozen=True, slots=True)
class Source:
    name: str
    data: bytes
    #: (offset of tag, offset of length field, length size, value offset, VR, end) per element
    elements: tuple[Record, ...]
    #: the plain values inside MAC Parameters and Digital Signatures items
    signature_values: tuple[Record, ...] = ()


Record = tuple[int, int, int, int, str, int]
_SIGNATURE_SEQUENCES = (0xFFFAFFFA, 0x4FFE0001)


def _records(path: Path) -> tuple[tuple[Record, ...], tuple[Record, ...]]:
    out: list[Record] = []
    inside: list[Record] = []

    def walk(elements: list[Element], in_signature: bool) -> None:
        for el in elements:
            rec = (el.offset, el.length_field, el.length_size, el.value_offset, el.vr, el.end)
            out.append(rec)
            if in_signature and el.items is None and el.fragments is None:
                inside.append(rec)
            for it in el.items or ():
                walk(it.elements, in_signature or el.tag in _SIGNATURE_SEQUENCES)

    walk(parse_file(path).dataset.elements, False)
    return tuple(out), tuple(inside)


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> list[Source]:
    d = tmp_path_factory.mktemp("fuzz-sources")
    paths = sorted(DCMSIGN_FIXTURES.glob("*.dcm"))
    paths += [PYDICOM_FILES / name for name in PYDICOM_SOURCES]
    key = _key()
    ours = {  # main level, an item, big endian, implicit VR
        "ours_ct.dcm": (PYDICOM_FILES / "CT_small.dcm", None),
        "ours_sr_item.dcm": (PYDICOM_FILES / "reportsi.dcm", "ContentSequence[0]"),
        "ours_be.dcm": (PYDICOM_FILES / "MR_small_bigendian.dcm", None),
        "ours_implicit.dcm": (PYDICOM_FILES / "MR_small_implicit.dcm", None),
    }
    for name, (src, item) in ours.items():
        sign_file(src, d / name, key=key, item=item)
        paths.append(d / name)
    return [Source(p.name, p.read_bytes(), *_records(p)) for p in paths]


def _key() -> FileSigningKey:
    return FileSigningKey(load_private_key(PKI / "signer-ecp256.key.pem"),
                          load_certificate(PKI / "signer-ecp256.cert.pem"))


# --------------------------------------------------------------------------------------------
# mutations: each takes the source and a seeded generator, returns new bytes and what it did

Mutation = Callable[[Source, random.Random], tuple[bytes, str]]
_LENGTHS = (UNDEFINED, 0xFFFFFFFE, 0x7FFFFFFF, 0x80000000, 0xFFFF, 0xFFFE, 1, 3, 0)


def _element(src: Source, rng: random.Random) -> Record:
    return rng.choice(src.elements)


def _at(rng: random.Random, data: bytes | bytearray, start: int = 132) -> int:
    """A position in ``data`` from ``start`` on (or anywhere in a shorter one)."""
    if not data:
        return 0
    return rng.randrange(min(start, len(data) - 1), len(data))


def bit_flips(src: Source, rng: random.Random) -> tuple[bytes, str]:
    data = bytearray(src.data)
    where = []
    for _ in range(rng.randint(1, 8) if data else 0):
        pos = _at(rng, data, 128)
        data[pos] ^= 1 << rng.randrange(8)
        where.append(pos)
    return bytes(data), f"bit flips at {where}"


def insert_bytes(src: Source, rng: random.Random) -> tuple[bytes, str]:
    pos = _at(rng, src.data + b"\0")
    blob = rng.randbytes(rng.choice((1, 2, 4, 8, rng.randint(1, 64))))
    return src.data[:pos] + blob + src.data[pos:], f"insert {blob.hex()} at {pos}"


def delete_bytes(src: Source, rng: random.Random) -> tuple[bytes, str]:
    pos = _at(rng, src.data)
    n = rng.choice((1, 2, 4, 8, rng.randint(1, 256)))
    return src.data[:pos] + src.data[pos + n:], f"delete {n} at {pos}"


def rewrite_length(src: Source, rng: random.Random) -> tuple[bytes, str]:
    _off, field, size, _value, _vr, _end = _element(src, rng)
    data = bytearray(src.data)
    new = rng.choice((*_LENGTHS, rng.randrange(1 << (8 * size))))
    new &= (1 << (8 * size)) - 1
    big = _is_big_endian(src, field)
    data[field:field + size] = new.to_bytes(size, "big" if big else "little")
    return bytes(data), f"length at {field} ({size} bytes) -> {new:#x}"


def _is_big_endian(src: Source, pos: int) -> bool:
    """Whether ``pos`` is in the data set of an explicit VR big endian file (meta excluded)."""
    return b"1.2.840.10008.1.2.2\0" in src.data[:1024] and pos > src.elements[0][0]


def truncate(src: Source, rng: random.Random) -> tuple[bytes, str]:
    if rng.random() < 0.5:
        off, *_ = _element(src, rng)
        pos = off + rng.randint(0, 11)
    else:
        pos = _at(rng, src.data, 0)
    return src.data[:pos], f"truncate at {pos}"


def change_vr(src: Source, rng: random.Random) -> tuple[bytes, str]:
    off, field, _size, value, vr, _end = _element(src, rng)
    if value - off == 8 and field - off == 4:  # implicit VR: rewrite the tag instead
        return change_tag(src, rng)
    vrs = [b"SQ", b"UN", b"OB", b"OW", b"UT", b"LO", b"US", b"AT", b"UI", b"SV", b"\0\0",
           b"zz"]
    new = rng.choice(vrs)
    data = bytearray(src.data)
    data[off + 4:off + 6] = new
    return bytes(data), f"VR at {off} {vr} -> {new!r}"


def change_tag(src: Source, rng: random.Random) -> tuple[bytes, str]:
    off, *_ = _element(src, rng)
    tags = [(0xFFFE, 0xE000), (0xFFFE, 0xE00D), (0xFFFE, 0xE0DD), (0xFFFA, 0xFFFA),
            (0x4FFE, 0x0001), (0x0400, 0x0120), (0x7FE0, 0x0010), (0xFFFC, 0xFFFC),
            (0x0002, 0x0010), (rng.randrange(1 << 16), rng.randrange(1 << 16))]
    g, e = rng.choice(tags)
    data = bytearray(src.data)
    fmt = ">HH" if _is_big_endian(src, off) else "<HH"
    data[off:off + 4] = struct.pack(fmt, g, e)
    return bytes(data), f"tag at {off} -> ({g:04X},{e:04X})"


def duplicate_element(src: Source, rng: random.Random) -> tuple[bytes, str]:
    off, _f, _s, _v, _vr, end = _element(src, rng)
    piece = src.data[off:end]
    at = end if rng.random() < 0.5 else _element(src, rng)[0]
    return src.data[:at] + piece + src.data[at:], f"copy [{off},{end}) to {at}"


def reorder(src: Source, rng: random.Random) -> tuple[bytes, str]:
    i = rng.randrange(len(src.elements))
    a = src.elements[i]
    b = next((r for r in src.elements[i + 1:] if r[0] == a[5]), None)
    if b is None:
        return duplicate_element(src, rng)
    data = src.data
    first, second = data[a[0]:a[5]], data[b[0]:b[5]]
    return (data[:a[0]] + second + first + data[b[5]:],
            f"swap [{a[0]},{a[5]}) and [{b[0]},{b[5]})")


def nest(src: Source, rng: random.Random) -> tuple[bytes, str]:
    """Wrap an element (or a run of them) into items of new nested sequences."""
    off, _f, _s, _v, _vr, end = _element(src, rng)
    depth = rng.choice((1, 2, 5, 40, 70))
    big = _is_big_endian(src, off)
    implicit = b"1.2.840.10008.1.2\0" in src.data[:1024]
    e = ">" if big else "<"
    tag = rng.choice((0x00400275, 0xFFFAFFFA, 0x4FFE0001, 0x00081115, 0x00091010))
    seq = struct.pack(e + "HH", tag >> 16, tag & 0xFFFF)
    seq += struct.pack(e + "L", UNDEFINED) if implicit else b"SQ\0\0" + struct.pack(e + "L",
                                                                                    UNDEFINED)
    item = struct.pack(e + "HHL", 0xFFFE, 0xE000, UNDEFINED)
    close = struct.pack(e + "HHL", 0xFFFE, 0xE00D, 0) + struct.pack(e + "HHL", 0xFFFE, 0xE0DD, 0)
    piece = (seq + item) * depth + src.data[off:end] + close * depth
    return src.data[:off] + piece + src.data[end:], f"nest [{off},{end}) {depth} deep in {tag:08X}"


#: values written into signature attributes (cut or padded to the value's length)
_SIGNATURE_VALUES = (b"SHA256", b"SHA1", b"MD5", b"RIPEMD160", b"SHA512", b"BLAKE2", b"",
                     b"1.2.840.10008.1.2", b"1.2.840.10008.1.2.2", b"1.2.840.10008.1.2.4.50",
                     b"X509_1993_SIG", b"CMS_TSP", b"20991231235959", b"19000101", b"\xff\xfe",
                     b"\x30\x82\xff\xff", b"\x30\x80\x02\x01", b"\x30\x03\x02\x01\x00",
                     b"\x00\x00\x08\x00", b"\xfa\xff\xfa\xff", b"\xfe\xff\x00\xe0")


def signature_value(src: Source, rng: random.Random) -> tuple[bytes, str]:
    """Rewrite a value inside a signature structure in place (its length unchanged): an
    algorithm name, a UID, a date, DER that is cut or nonsense, tags, random bytes."""
    if not src.signature_values:
        return bit_flips(src, rng)
    _off, _f, _s, value, vr, end = rng.choice(src.signature_values)
    n = end - value
    choice = rng.random()
    data = bytearray(src.data)
    if choice < 0.4:
        new = rng.choice(_SIGNATURE_VALUES)
        new = (new * (n // max(len(new), 1) + 1))[:n] if rng.random() < 0.2 else new[:n]
        new += bytes(n - len(new))
        what = f"{new[:16]!r}"
    elif choice < 0.7 and n:
        new = bytes(data[value:end])
        cut = rng.randrange(n)
        new = new[:cut] + bytes(n - cut) if rng.random() < 0.5 else new[:cut] + rng.randbytes(
            n - cut)
        what = f"cut at {cut}"
    else:
        new = rng.randbytes(n)
        what = "random"
    data[value:end] = new
    return bytes(data), f"{vr} value at {value} ({n} bytes): {what}"


MUTATIONS: tuple[Mutation, ...] = (signature_value, signature_value, signature_value,
                                   bit_flips, bit_flips, insert_bytes, delete_bytes,
                                   rewrite_length, rewrite_length, truncate, change_vr,
                                   change_tag, duplicate_element, reorder, nest)


def _case(seed: int, sources: list[Source]) -> tuple[str, bytes, str]:
    rng = random.Random(seed)
    src = rng.choice(sources)
    mutation = rng.choice(MUTATIONS)
    data, what = mutation(src, rng)
    if rng.random() < 0.2:  # a second mutation now and then
        data, more = rng.choice(MUTATIONS)(
            Source(src.name, data, src.elements, src.signature_values), rng)
        what += "; " + more
    return src.name, data, f"{mutation.__name__}: {what}"


# --------------------------------------------------------------------------------------------
# the run


def _outcome(run: Callable[[], object]) -> str | None:
    """"ok", "own error" (the project's: exit 1 or 2), or the traceback of anything else."""
    try:
        run()
    except BaseException as exc:  # classified as the command line does
        if isinstance(exc, KeyboardInterrupt) or error_kind(exc) == "internal":
            return "".join(traceback.format_exception(exc))
        return "own error"
    return "ok"


@pytest.fixture
def workdir(tmp_path: Path) -> Iterator[Path]:
    """A folder in memory (tmpfs) when there is one: 10,000 signed outputs are each fsynced."""
    shm = Path("/dev/shm")
    if not (shm.is_dir() and os.access(shm, os.W_OK)):
        yield tmp_path
        return
    with tempfile.TemporaryDirectory(dir=shm, prefix="dicomsec-fuzz-") as d:
        yield Path(d)


def test_mutated_dicom_files_give_own_errors(sources: list[Source], workdir: Path) -> None:
    """Each case is parsed first: a file the parser refuses (its own error) is refused the
    same way by the first step of verify, sign and remove (all three begin with this parse,
    under the same limits), so only the files it reads go through the three."""
    trust = TrustStore.from_paths([PKI / "ca.cert.pem"])
    key = _key()
    case, out = workdir / "case.dcm", workdir / "out.dcm"
    runs: dict[str, Callable[[], object]] = {
        "parse": lambda: parse_file(case),
        "verify": lambda: verify_file(case, trust=trust),
        "sign": lambda: sign_file(case, out, key=key, deterministic=True),
        "remove": lambda: remove_signatures(case, out, remove_all=True),
    }
    failures: list[str] = []
    counts = {"parsed": 0, "verified": 0, "signed": 0}
    with limits.applied(FUZZ_LIMITS):
        for i in range(CASES):
            seed = SEED + i
            name, data, what = _case(seed, sources)
            case.write_bytes(data)
            for op, run in runs.items():
                result = _outcome(run)
                if result not in ("ok", "own error"):
                    failures.append(f"seed {seed} ({name}, {what}) {op}:\n{result}")
                elif result == "ok" and op in ("parse", "verify", "sign"):
                    counts[{"parse": "parsed", "verify": "verified", "sign": "signed"}[op]] += 1
                elif op == "parse":
                    break  # refused by the parser: so are verify, sign and remove
            if len(failures) >= 5:
                break
    assert not failures, "\n\n".join(failures)
    print(f"{CASES} cases: {counts}")
    if CASES >= 1000:  # the mutations reach past the parser, and signing
        assert counts["parsed"] > CASES // 4 and counts["signed"] > CASES // 10, counts


CLI_CASES = max(CASES // 100, 1)


def test_mutated_dicom_files_through_the_command_line(
        sources: list[Source], workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A sample of the same cases through the command line itself (rendering included):
    exit 0, 1 or 2, and on failure one line on stderr, never a traceback."""
    from dicomsec.cli import main as cli_main

    case, out = workdir / "case.dcm", workdir / "out.dcm"
    key = ["--key", str(PKI / "signer-ecp256.key.pem"),
           "--cert", str(PKI / "signer-ecp256.cert.pem")]
    commands = {
        "verify": ["verify", str(case), "--trust", str(PKI / "ca.cert.pem")],
        "verify --json": ["verify", str(case), "--trust", str(PKI / "ca.cert.pem"), "--json"],
        "sign": ["sign", str(case), "-o", str(out), *key],
        "remove": ["signatures", "remove", str(case), "--all", "-o", str(out)],
    }
    failures: list[str] = []
    with limits.applied(FUZZ_LIMITS):
        for i in range(CLI_CASES):
            seed = SEED + 100 * i
            name, data, what = _case(seed, sources)
            case.write_bytes(data)
            for label, argv in commands.items():
                capsys.readouterr()
                code = cli_main(argv)
                out_text, err = capsys.readouterr()
                if label.endswith("--json"):  # errors are in the JSON, one entry per file
                    err = "" if code != 2 else "".join(
                        e.get("error", "") + "\n" for e in json.loads(out_text))
                lines = [line for line in err.splitlines() if line.strip()]
                bad = code not in (0, 1, 2) or "Traceback" in err or "internal error" in err
                if bad or (code == 2 and len(lines) != 1):
                    failures.append(f"seed {seed} ({name}, {what}) {label}: exit {code}\n{err}")
    assert not failures, "\n\n".join(failures[:5])


def test_mutated_dicom_files_in_a_folder(sources: list[Source], workdir: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    """``verify FOLDER`` over 100 mutated files (the batch path): exit 1 or 2, one line per
    failed file, never an internal error."""
    from dicomsec.cli import main as cli_main

    folder = workdir / "folder"
    folder.mkdir()
    for i in range(100):
        _name, data, _what = _case(SEED + 7 * i + 3, sources)
        (folder / f"case{i:03d}.dcm").write_bytes(data)
    with limits.applied(FUZZ_LIMITS):
        capsys.readouterr()
        code = cli_main(["verify", str(folder), "--trust", str(PKI / "ca.cert.pem"),
                         "--workers", "1"])
    out, err = capsys.readouterr()
    assert code in (1, 2), err
    assert "Traceback" not in out + err and "internal error" not in out + err
