#!/usr/bin/env python3
"""Benchmark of ``dicomsec policy check`` against ``dcmsign --verify`` run once per file
(issue 9, acceptance 6).

What it does (figures go to docs/performance.md):

1. Makes a folder of 1,000 small signed files, once (cached in the work folder, default
   ``$TMPDIR/dicomsec-bench-policy``): pydicom's CT_small.dcm with its SOP Instance UID, Station
   Name and Acquisition Date changed per file, signed through the library with the test PKI's
   RSA-2048 signer (SHA-256 MAC, which dcmsign 3.6.7 verifies). The first 250 are also linked
   into a second folder.
2. Runs ``dicomsec policy check FOLDER --policy P --trust CA --offline --json`` once (one
   process, its worker processes) and ``dcmsign --verify +cf CA FILE`` once per file, each
   started with fork + exec by a minimal runner process (``python -I -S``, stdlib only) that
   reads wall time and peak RSS (``ru_maxrss`` of ``os.wait4``: the process and the workers it
   waited for) of every child; prints the time ratio (target <= 0.25, goal 0.1).
3. Runs the policy check on 250 and on 1,000 files and prints both peak RSS figures: memory
   must stay flat in the number of files (verdicts are a few hundred bytes each).

Exit status: 0 after printing (a measurement, not a test), 1 when a command fails.

Usage: ``.venv/bin/python bench/policy.py [--files 1000] [--workdir DIR] [--workers N]``
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PKI = REPO / "tests" / "data" / "pki"
KEY = PKI / "signer-rsa2048.key.pem"
CERT = PKI / "signer-rsa2048.cert.pem"
CA = PKI / "ca.cert.pem"
RATIO_TARGET = 0.25
RATIO_GOAL = 0.1
SMALL = 250
POLICY = """
[[rule]]
name = "every instance must carry a valid, trusted signature"
match = {}
require = "any"
mode = "enforce"
"""

#: fork + exec each command, read wall time and ru_maxrss from wait4 (a minimal interpreter:
#: the parent's memory is not carried into the children's figures)
RUNNER_CODE = r"""
import json, os, sys, time
null = os.open(os.devnull, os.O_RDWR)
for line in sys.stdin:
    cmds = json.loads(line)
    worst, code, t0 = 0, 0, time.perf_counter()
    for argv in cmds:
        pid = os.fork()
        if pid == 0:
            try:
                os.dup2(null, 0); os.dup2(null, 1); os.dup2(null, 2)
                os.execvp(argv[0], argv)
            finally:
                os._exit(127)
        _, status, usage = os.wait4(pid, 0)
        worst = max(worst, usage.ru_maxrss)
        code = os.waitstatus_to_exitcode(status)
        if code not in (0, 1):
            break
    print(json.dumps({"wall": time.perf_counter() - t0, "maxrss": worst, "code": code}),
          flush=True)
"""


class Runner:
    def __init__(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-I", "-S", "-c", RUNNER_CODE],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                     bufsize=1)

    def run(self, cmds: list[list[str]]) -> tuple[float, int]:
        """(wall seconds, peak RSS KiB) of running ``cmds`` one after another."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(cmds) + "\n")
        res = json.loads(self.proc.stdout.readline())
        if res["code"] not in (0, 1):
            print(f"FAILED (exit {res['code']}): {' '.join(cmds[-1])}", file=sys.stderr)
            raise SystemExit(1)
        return res["wall"], res["maxrss"]

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait()


def make_files(folder: Path, count: int) -> list[Path]:
    """``count`` distinct signed small files (made once; reused when present)."""
    from pydicom import dcmread
    from pydicom.data import get_testdata_file
    from pydicom.uid import generate_uid

    from dicomsec.keys import FileSigningKey, load_certificate, load_private_key
    from dicomsec.signatures import sign_file

    folder.mkdir(parents=True, exist_ok=True)
    wanted = [folder / f"ct-{i:04d}.dcm" for i in range(count)]
    missing = [p for p in wanted if not p.exists()]
    if missing:
        key = FileSigningKey(load_private_key(KEY), load_certificate(CERT))
        src = get_testdata_file("CT_small.dcm")
        assert src is not None, "pydicom's CT_small.dcm is missing"
        raw = folder.parent / "raw.dcm"
        for p in missing:
            i = int(p.stem.split("-")[1])
            ds = dcmread(src)
            ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
            ds.StationName = f"CT{i % 4}"
            ds.AcquisitionDate = f"202610{i % 28 + 1:02d}"
            ds.save_as(raw)
            tmp = p.with_suffix(".tmp")
            sign_file(raw, tmp, key=key, mac="sha256")
            tmp.rename(p)
        raw.unlink()
    return wanted


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--workdir", type=Path,
                        default=Path(tempfile.gettempdir()) / "dicomsec-bench-policy")
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args()
    dcmsign = shutil.which("dcmsign")
    if dcmsign is None:
        print("dcmsign is not installed", file=sys.stderr)
        return 1
    work: Path = args.workdir
    files = make_files(work / "all", args.files)
    small = work / f"first-{SMALL}"
    small.mkdir(exist_ok=True)
    for p in files[:SMALL]:
        if not (small / p.name).exists():
            os.link(p, small / p.name)
    pol = work / "policy.toml"
    pol.write_text(POLICY, encoding="utf-8")
    dicomsec = str(Path(sys.executable).parent / "dicomsec")

    def ours(folder: Path) -> list[str]:
        cmd = [dicomsec, "policy", "check", str(folder), "--policy", str(pol), "--trust",
               str(CA), "--offline", "--json", "--no-progress"]
        return cmd + (["--workers", str(args.workers)] if args.workers else [])

    runner = Runner()
    try:
        runner.run([ours(small)])  # warm the page cache and the imports once
        wall_small, rss_small = runner.run([ours(small)])
        wall_all, rss_all = runner.run([ours(work / "all")])
        wall_dcm, rss_dcm = runner.run([[dcmsign, "--verify", "+cf", str(CA), str(p)]
                                        for p in files])
    finally:
        runner.close()
    ratio = wall_all / wall_dcm
    verdict = "OK" if ratio <= RATIO_TARGET else "FAIL"
    print(f"machine: {os.cpu_count()} CPUs; {len(files)} files of "
          f"{files[0].stat().st_size} bytes; workers {args.workers or 'default'}")
    print(f"dicomsec policy check x{len(files)} (one process): {wall_all:.2f} s, peak RSS "
          f"{rss_all / 1024:.1f} MiB")
    print(f"dcmsign --verify, one process per file:        {wall_dcm:.2f} s, peak RSS "
          f"{rss_dcm / 1024:.1f} MiB")
    print(f"ratio (ours / dcmsign): {ratio:.3f}  target <= {RATIO_TARGET}, goal {RATIO_GOAL}"
          f"  {verdict}")
    print(f"peak RSS: {rss_small / 1024:.1f} MiB at {SMALL} files ({wall_small:.2f} s), "
          f"{rss_all / 1024:.1f} MiB at {len(files)} files: "
          f"{(rss_all - rss_small) / 1024:+.1f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
