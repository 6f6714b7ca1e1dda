#!/usr/bin/env python3
"""Benchmark of ``dicomsec deid`` against ``gdcmanon -e`` run once per file and ``dicognito``
run once over the same folder (issue 10, acceptance 7).

What it does (figures go to docs/performance.md):

1. Makes a folder of 1,000 small files, once (cached in the work folder, default
   ``$TMPDIR/dicomsec-bench-deid``): pydicom's CT_small.dcm with its SOP Instance UID, Patient
   ID and Patient's Name changed per file (ten patients, ten instances each per study).
2. Runs, each started by a runner that measures wall time and the peak RSS of the whole
   process tree (the command and its worker processes, summed, sampled every 100 ms from
   /proc):
   - ``dicomsec deid FOLDER -o OUT --to recipient.cert.pem --mode compatible`` (Basic profile,
     reversible, the envelope gdcmanon writes: EnvelopedData, AES-256-CBC, RSA PKCS#1 v1.5),
     then the same in ``--mode modern`` (AES-256-GCM, RSA-OAEP), one process each;
   - ``gdcmanon -e --aes256 -c recipient.cert.pem -i FILE -o OUT`` once per file;
   - ``python -m dicognito -o OUT FOLDER`` once (one-way; its own recipe).
3. Prints the ratios ours / gdcmanon (target <= 0.5, goal 0.2) and ours / dicognito (target
   <= 0.5, goal 0.1), and the peak RSS of each.

Exit status: 0 after printing (a measurement, not a test), 1 when a command fails or a peer
is missing.

Usage: ``.venv/bin/python bench/deid.py [--files 1000] [--workdir DIR] [--workers N]``
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pydicom

REPO = Path(__file__).resolve().parent.parent
CERT = REPO / "tests" / "data" / "pki-anon" / "recipient.cert.pem"
CT = Path(pydicom.__file__).parent / "data" / "test_files" / "CT_small.dcm"
GDCM_TARGET, GDCM_GOAL = 0.5, 0.2
DICOGNITO_TARGET, DICOGNITO_GOAL = 0.5, 0.1
PAGE = os.sysconf("SC_PAGE_SIZE")


def _tree_rss(root: int) -> int:
    """Resident bytes of ``root`` and all its descendants (from /proc)."""
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry)] = int(fields[1])
        rss[int(entry)] = int(fields[21]) * PAGE
    tree, todo = {root}, [root]
    while todo:
        pid = todo.pop()
        for child, parent in parents.items():
            if parent == pid and child not in tree:
                tree.add(child)
                todo.append(child)
    return sum(rss.get(pid, 0) for pid in tree)


def measure(cmds: list[list[str]]) -> tuple[float, int]:
    """(wall seconds, peak RSS bytes of the process tree) of running ``cmds`` in turn."""
    peak = 0
    t0 = time.perf_counter()
    for argv in cmds:
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        done = threading.Event()

        def sample(pid: int = proc.pid, finished: threading.Event = done) -> None:
            nonlocal peak
            while not finished.wait(0.1):
                peak = max(peak, _tree_rss(pid))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        _, err = proc.communicate()
        done.set()
        sampler.join()
        if proc.returncode != 0:
            print(f"FAILED (exit {proc.returncode}): {' '.join(argv)}\n{err.decode()[-2000:]}",
                  file=sys.stderr)
            raise SystemExit(1)
    return time.perf_counter() - t0, peak


def make_files(folder: Path, count: int) -> list[Path]:
    """``count`` distinct small files (made once; reused when present)."""
    from pydicom import dcmread
    from pydicom.uid import UID

    folder.mkdir(parents=True, exist_ok=True)
    wanted = [folder / f"ct-{i:04d}.dcm" for i in range(count)]
    base = dcmread(CT)
    for i, p in enumerate(wanted):
        if p.exists():
            continue
        ds = dcmread(CT)
        patient, study = divmod(i, 100)
        ds.PatientID = f"BENCH{patient:04d}"
        ds.PatientName = f"Bench^Patient{patient}"
        ds.StudyInstanceUID = f"{base.StudyInstanceUID}.{patient}.{study // 10}"
        uid = UID(f"{base.SOPInstanceUID}.{i + 1}")
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = uid
        tmp = p.with_suffix(".tmp")
        ds.save_as(tmp)
        tmp.rename(p)
    return wanted


def _fresh(folder: Path) -> Path:
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--workdir", type=Path,
                        default=Path(tempfile.gettempdir()) / "dicomsec-bench-deid")
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args()
    gdcmanon = shutil.which("gdcmanon")
    if gdcmanon is None:
        print("gdcmanon is not installed (libgdcm-tools)", file=sys.stderr)
        return 1
    work: Path = args.workdir
    files = make_files(work / "in", args.files)
    secret = work / "site.secret"
    secret.write_text("bench secret, not for real data 0123456789\n")
    dicomsec = str(Path(sys.executable).parent / "dicomsec")

    def ours(mode: str) -> list[str]:
        cmd = [dicomsec, "deid", str(work / "in"), "-o", str(_fresh(work / f"out-{mode}")),
               "--to", str(CERT), "--mode", mode, "--uid-secret-file", str(secret)]
        return cmd + (["--workers", str(args.workers)] if args.workers else [])

    measure([ours("compatible")])  # warm the page cache and the imports once
    wall_c, rss_c = measure([ours("compatible")])
    wall_m, rss_m = measure([ours("modern")])
    gout = _fresh(work / "out-gdcmanon")
    wall_g, rss_g = measure([[gdcmanon, "-e", "--aes256", "-c", str(CERT), "-i", str(p),
                              "-o", str(gout / p.name)] for p in files])
    wall_d, rss_d = measure([[sys.executable, "-m", "dicognito", "--quiet", "-o",
                              str(_fresh(work / "out-dicognito")), str(work / "in")]])
    n = len(files)
    print(f"machine: {os.cpu_count()} CPUs; {n} files of {files[0].stat().st_size} bytes; "
          f"workers {args.workers or 'default (all cores)'}")
    for label, wall, rss in (
            ("dicomsec deid --mode compatible (one run)", wall_c, rss_c),
            ("dicomsec deid --mode modern (one run)", wall_m, rss_m),
            ("gdcmanon -e --aes256, one process per file", wall_g, rss_g),
            ("dicognito (one run, one-way)", wall_d, rss_d)):
        print(f"{label:45s} {wall:7.2f} s  {n / wall:7.0f} files/s  peak RSS "
              f"{rss / 2**20:6.1f} MiB")
    for peer, wall, target, goal in (("gdcmanon", wall_g, GDCM_TARGET, GDCM_GOAL),
                                     ("dicognito", wall_d, DICOGNITO_TARGET, DICOGNITO_GOAL)):
        ratio = wall_c / wall
        verdict = "OK" if ratio <= target else "FAIL"
        print(f"ratio (ours compatible / {peer}): {ratio:.3f}  target <= {target}, goal "
              f"{goal}  {verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
