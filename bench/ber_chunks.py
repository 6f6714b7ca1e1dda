#!/usr/bin/env python3
"""BER small-chunk reading: ``dicomsec unwrap`` against ``openssl cms -decrypt`` on a secure
file whose encrypted content is a constructed OCTET STRING of 1-byte chunks (issue 8, item 3:
"within 2x of openssl on 1-byte chunks").

What it does: writes a few MiB of content (``--mib``, default 3) as an AuthEnvelopedData
(AES-256-GCM, a pre-shared KEK recipient, inner id-data, no authenticated attributes: a file
OpenSSL 3.0 reads), re-encodes it with indefinite lengths and the content in chunks of
``--chunk`` bytes (default 1: three bytes of BER per content byte), then times, as whole
processes, ``python -m dicomsec unwrap`` and ``openssl cms -decrypt -secretkey`` on it
(``--repeats`` rounds after one warm-up, median wall time; peak RSS of our child from
``os.wait4``), checks both outputs equal the content, and prints ours, openssl's, the ratio and
our peak memory. ``openssl asn1parse`` of the same file is printed as information.

Exit status: 0 after printing (a measurement, not a test), 1 when a command fails or an
output differs.

Usage: ``.venv/bin/python bench/ber_chunks.py [--mib 3] [--chunk 1] [--repeats 3]``
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
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


def _run(argv: list[str]) -> tuple[float, int]:
    """(wall seconds, peak RSS in KiB) of one child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"FAIL {' '.join(argv[:4])}...: exit {proc.returncode}: {err.strip()}")
    return wall, usage.ru_maxrss


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
        times: dict[str, list[float]] = {"dicomsec": [], "openssl": [], "asn1parse": []}
        peak = 0
        for round_ in range(args.repeats + 1):
            (folder / "ours.dcm").unlink(missing_ok=True)
            wall, rss = _run(ours)
            peak = max(peak, rss)
            o_wall, _ = _run(theirs)
            a_wall, _ = _run(parse)
            if round_:
                times["dicomsec"].append(wall)
                times["openssl"].append(o_wall)
                times["asn1parse"].append(a_wall)
        for name in ("ours.dcm", "openssl.dcm"):
            if (folder / name).read_bytes() != content:
                print(f"FAIL {name} differs from the content", file=sys.stderr)
                return 1
        med = {k: statistics.median(v) for k, v in times.items()}
        print(f"file: {src.stat().st_size / (1 << 20):.1f} MiB, content {len(content)} bytes "
              f"in {args.chunk}-byte chunks")
        print(f"dicomsec unwrap      {med['dicomsec']:.3f} s  peak RSS {peak / 1024:.0f} MiB")
        print(f"openssl cms -decrypt {med['openssl']:.3f} s")
        print(f"openssl asn1parse    {med['asn1parse']:.3f} s  (information)")
        print(f"ratio dicomsec/openssl cms: {med['dicomsec'] / med['openssl']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
