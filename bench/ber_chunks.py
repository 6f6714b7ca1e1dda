#!/usr/bin/env python3
"""BER small-chunk reading: ``dicomsec unwrap`` against ``openssl cms -decrypt`` on a secure
file whose encrypted content is a constructed OCTET STRING of 1-byte chunks (issue 8, item 3:
"within 2x of openssl on 1-byte chunks").

What it does: writes a few MiB of content (``--mib``, default 3) as an AuthEnvelopedData
(AES-256-GCM, a pre-shared KEK recipient, inner id-data, no authenticated attributes: a file
OpenSSL 3.0 reads), re-encodes it with indefinite lengths and the content in chunks of
``--chunk`` bytes (default 1: three bytes of BER per content byte), then times, as whole
processes, ``python -m dicomsec unwrap`` and ``openssl cms -decrypt -secretkey`` on it
(``--repeats`` rounds after one warm-up; median wall and CPU time, peak RSS, each command run by
a fresh small helper process that reads its own RUSAGE_CHILDREN), checks both outputs equal
the content, and prints ours, openssl's, the ratios and the peak memory. ``openssl asn1parse``
of the same file is printed as information.

Exit status: 0 after printing (a measurement, not a test), 1 when a command fails or an
output differs.

Usage: ``.venv/bin/python bench/ber_chunks.py [--mib 3] [--chunk 1] [--repeats 3]``
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

KEK, KEK_ID = bytes(range(32)), b"\x42"


def chunked(der: bytes, chunk: int) -> bytes:
    """The same ContentInfo with indefinite outer lengths and the encrypted content as a
    constructed [0] of primitive OCTET STRING chunks of ``chunk`` bytes."""
    from dicomsec.cms._der import SET, TLVReader

    r = TLVReader(io.BytesIO(der), len(der))
    ci = r.header(0)
    oid, explicit = list(r.children(ci))
    env = next(r.children(explicit))
    out = [b"\x30\x80", r.element_bytes(oid), b"\xa0\x80", b"\x30\x80"]
    after_set = False
    for field in r.children(env):
        if after_set:
            ctype, algid, content = list(r.children(field))
            data = r.value(content, limit=1 << 34)
            out += [b"\x30\x80", r.element_bytes(ctype), r.element_bytes(algid), b"\xa0\x80",
                    _chunks(data, chunk), b"\x00\x00\x00\x00"]
            after_set = False
            continue
        out.append(r.element_bytes(field))
        after_set = field.is_universal(SET)
    out.append(b"\x00\x00" * 3)
    return b"".join(out)


def _chunks(data: bytes, chunk: int) -> bytes:
    if chunk == 1:
        body = bytearray(3 * len(data))
        body[0::3] = b"\x04" * len(data)
        body[1::3] = b"\x01" * len(data)
        body[2::3] = data
        return bytes(body)
    from dicomsec.cms._der import encode_header

    return b"".join(encode_header(0x04, len(data[i : i + chunk])) + data[i : i + chunk]
                    for i in range(0, len(data), chunk))


def make(folder: Path, mib: float, chunk: int) -> tuple[Path, bytes]:
    """(the chunked secure file, its content)."""
    from dicomsec.cms.envelope import write_envelope
    from dicomsec.cms.recipients import KekRecipient

    content = bytes(128) + b"DICM" + os.urandom(int(mib * (1 << 20)))
    buf = io.BytesIO()
    write_envelope([content], len(content), buf, recipients=[KekRecipient(KEK, KEK_ID)])
    path = folder / f"chunks{chunk}.cms"
    path.write_bytes(chunked(buf.getvalue(), chunk))
    return path, content


#: run by a fresh, small helper process: the command is its only child, so the helper's
#: RUSAGE_CHILDREN is the command's own (a child forked from this script would start with the
#: script's RSS, the file and the content included, and ru_maxrss would report that)
_HELPER = """
import json, resource, subprocess, sys, time
start = time.perf_counter()
p = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
wall = time.perf_counter() - start
u = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"rc": p.returncode, "err": p.stderr.decode(errors="replace"), "wall": wall,
                  "cpu": u.ru_utime + u.ru_stime, "maxrss": u.ru_maxrss}))
"""


@dataclass(frozen=True)
class Run:
    wall: float  # seconds
    cpu: float  # user + system seconds
    maxrss_kb: int


def _run(argv: list[str]) -> Run:
    """Wall and CPU seconds and peak RSS of one command, measured by a fresh helper."""
    done = subprocess.run([sys.executable, "-c", _HELPER, *argv], capture_output=True,
                          text=True, check=True)
    r = json.loads(done.stdout)
    if r["rc"] != 0:
        raise SystemExit(f"FAIL {' '.join(argv[:4])}...: exit {r['rc']}: {r['err'].strip()}")
    return Run(r["wall"], r["cpu"], r["maxrss"])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mib", type=float, default=3.0)
    ap.add_argument("--chunk", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    openssl = shutil.which("openssl")
    if openssl is None:
        print("openssl not found", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        src, content = make(folder, args.mib, args.chunk)
        kek = folder / "kek.hex"
        kek.write_text(KEK.hex())
        ours = [sys.executable, "-m", "dicomsec", "unwrap", str(src), "-o",
                str(folder / "ours.dcm"), "--kek-file", str(kek), "--kek-id", KEK_ID.hex()]
        theirs = [openssl, "cms", "-decrypt", "-binary", "-inform", "DER", "-in", str(src),
                  "-secretkey", KEK.hex(), "-secretkeyid", KEK_ID.hex(), "-out",
                  str(folder / "openssl.dcm")]
        parse = [openssl, "asn1parse", "-inform", "DER", "-in", str(src), "-noout"]
        runs: dict[str, list[Run]] = {"dicomsec": [], "openssl": [], "asn1parse": []}
        for round_ in range(args.repeats + 1):
            (folder / "ours.dcm").unlink(missing_ok=True)
            done = {"dicomsec": _run(ours), "openssl": _run(theirs), "asn1parse": _run(parse)}
            if round_:  # the first round warms the page cache
                for name, run in done.items():
                    runs[name].append(run)
        for name in ("ours.dcm", "openssl.dcm"):
            if (folder / name).read_bytes() != content:
                print(f"FAIL {name} differs from the content", file=sys.stderr)
                return 1
        _report(src, content, args.chunk, runs)
    return 0


def _report(src: Path, content: bytes, chunk: int, runs: dict[str, list[Run]]) -> None:
    def med(name: str, what: str) -> float:
        return float(statistics.median(float(getattr(r, what)) for r in runs[name]))

    print(f"file: {src.stat().st_size / (1 << 20):.1f} MiB, content {len(content)} bytes "
          f"in {chunk}-byte chunks (medians of {len(runs['dicomsec'])} runs)")
    for name, label in (("dicomsec", "dicomsec unwrap     "), ("openssl", "openssl cms -decrypt"),
                        ("asn1parse", "openssl asn1parse   ")):
        peak = max(r.maxrss_kb for r in runs[name]) / 1024
        print(f"{label} wall {med(name, 'wall'):.3f} s  CPU {med(name, 'cpu'):.3f} s  "
              f"peak RSS {peak:.0f} MiB")
    wall = med("dicomsec", "wall") / med("openssl", "wall")
    cpu = med("dicomsec", "cpu") / med("openssl", "cpu")
    print(f"ratio dicomsec/openssl cms: wall {wall:.2f}x, CPU {cpu:.2f}x")


if __name__ == "__main__":
    sys.exit(main())
