#!/usr/bin/env python3
"""Whole-process benchmark of ``dicomsec sign`` / ``dicomsec verify`` against DCMTK's ``dcmsign``.

What it does (see docs/performance.md for the method and the latest figures):

1. Generates multi-frame Secondary Capture files (Multi-frame Grayscale Word SC, explicit VR
   little endian, 16-bit 512x512 frames, native OW pixel data) of the requested sizes in the
   work folder (default ``bench-out/``), once: pydicom writes the file meta and the data set
   *without* Pixel Data, then the (7FE0,0010) OW element header and pseudo-random pixel bytes
   are appended in 8 MiB chunks, so generation never holds the pixel data in memory. Files are
   written to a temporary name, checked with pydicom and renamed; valid files are reused.
2. For each size, measures wall time and peak RSS (``ru_maxrss`` from ``os.wait4`` of each
   child, started with fork + exec by a minimal runner process, see ``RUNNER_CODE``) of
   signing with both tools (RSA 2048, SHA-256, no profile) and of verifying the result, one
   warm-up run of each command then 3 measured runs, reporting the median.
3. Verifies a folder of small signed files (copies of pydicom's CT_small.dcm signed by
   dicomsec) with one ``dicomsec verify FOLDER`` process versus one ``dcmsign --verify``
   process per file.

Exit status: 0 after printing the results (this is a measurement, not a test; FAIL lines do not
change it), 1 when a command fails (the command and its output are printed).

Usage: ``.venv/bin/python bench/signatures.py [--sizes 250,1024] [--quick] [--workdir DIR]``
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import json
import os
import platform
import random
import shutil
import ssl
import statistics
import struct
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

REPO = Path(__file__).resolve().parent.parent
PKI = REPO / "tests" / "data" / "pki"
KEY = PKI / "signer-rsa2048.key.pem"
CERT = PKI / "signer-rsa2048.cert.pem"
CA = PKI / "ca.cert.pem"

MIB = 1 << 20
ROWS = COLUMNS = 512
FRAME_BYTES = ROWS * COLUMNS * 2  # 16 bits allocated, one sample per pixel
WRITE_CHUNK = 8 * MIB
REPEATS = 3
SMALL_FILES = 1000

#: time ratio targets (ours / dcmsign) at 250 MiB and at 1 GiB (and above), issue 7: each of
#: verify (against dcmsign --verify) and sign (against dcmsign --sign followed by 'sync FILE',
#: as durable as ours), and sign+verify (against plain dcmsign, the earlier target)
RATIO_TARGET_250 = 1.0
RATIO_TARGET_1G = 0.6
RATIO_GOAL_1G = 0.5
RSS_TARGET_MIB = 100.0
SMALL_RATIO_TARGET = 0.25


# --------------------------------------------------------------------------------------------
# running and measuring child processes


class CommandFailed(Exception):
    """A benchmarked command exited non-zero."""

    def __init__(self, cmd: Sequence[str], code: int, output: str) -> None:
        super().__init__(f"command failed (exit {code}): {shell(cmd)}")
        self.cmd = list(cmd)
        self.code = code
        self.output = output


def shell(cmd: Sequence[str]) -> str:
    import shlex

    return " ".join(shlex.quote(c) for c in cmd)


@dataclass(frozen=True)
class Run:
    """One measured execution (one process, or a batch of processes run one after another)."""

    wall: float  # seconds, from spawn of the first process to reaping of the last
    maxrss_kib: int  # largest ru_maxrss of the processes (KiB on Linux)


#: The process that starts, times and reaps the measured commands. It is a separate, minimal
#: interpreter (``python -I -S``, stdlib only) and starts each command with fork + exec, because
#: Linux carries the parent's memory into a child's ``ru_maxrss``: exec records the high-water
#: RSS of the address space it replaces, which after vfork/posix_spawn (what subprocess uses) is
#: the *parent's* peak and after fork the parent's resident anonymous memory. From this runner
#: that floor is a few MiB (printed as "measurement floor"); from the benchmark process itself,
#: which has generated data and imported pydicom, it would be ~100 MiB.
#: Protocol, one JSON line each way: {"cmds": [[argv...], ...], "log": path} ->
#: {"wall": s, "maxrss": KiB, "failed": index or null, "code": exit status}.
RUNNER_CODE = r"""
import json, os, sys, time
def main():
    null = os.open(os.devnull, os.O_RDONLY)
    for line in sys.stdin:
        req = json.loads(line)
        out = os.open(req["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        worst, failed, code = 0, None, 0
        t0 = time.perf_counter()
        for i, argv in enumerate(req["cmds"]):
            pid = os.fork()
            if pid == 0:
                try:
                    os.dup2(null, 0); os.dup2(out, 1); os.dup2(out, 2)
                    os.execvp(argv[0], argv)
                finally:
                    os._exit(127)
            _, status, usage = os.wait4(pid, 0)
            worst = max(worst, usage.ru_maxrss)
            code = os.waitstatus_to_exitcode(status)
            if code != 0:
                failed = i
                break
        wall = time.perf_counter() - t0
        os.close(out)
        res = {"wall": wall, "maxrss": worst, "failed": failed, "code": code}
        sys.stdout.write(json.dumps(res) + "\n")
        sys.stdout.flush()
main()
"""


class Runner:
    """Client of the runner process (see ``RUNNER_CODE``)."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-I", "-S", "-c", RUNNER_CODE],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1,
        )

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait()

    def __enter__(self) -> Runner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def batch(self, cmds: Sequence[Sequence[str]], log: Path) -> Run:
        """Run processes one after another; wall time from the first spawn to the last reaping,
        the largest peak RSS. Raises ``CommandFailed`` at the first failing command."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps({"cmds": [list(c) for c in cmds],
                                          "log": str(log)}) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the measurement runner process died")
        res = json.loads(line)
        if res["failed"] is not None:
            raise CommandFailed(cmds[res["failed"]], res["code"],
                                log.read_text(errors="replace"))
        return Run(float(res["wall"]), int(res["maxrss"]))

    def run(self, cmd: Sequence[str], log: Path) -> Run:
        """Run one process: its wall time and its own peak RSS (``wait4``)."""
        return self.batch([cmd], log)


@dataclass
class Measure:
    """Repeated runs of one command; the first (warm-up) run is not kept."""

    label: str
    runs: list[Run]

    @property
    def seconds(self) -> float:
        return statistics.median(r.wall for r in self.runs)

    @property
    def rss_mib(self) -> float:
        return max(r.maxrss_kib for r in self.runs) / 1024


def _quiesce() -> None:
    """Flush dirty pages left by earlier runs (not timed), so that kernel write-back of one
    command's output does not land inside the next measurement."""
    os.sync()


def measure_rounds(
    jobs: Sequence[tuple[str, Callable[[], Run], Callable[[], None] | None]],
    repeats: int,
) -> dict[str, Measure]:
    """One warm-up round then ``repeats`` measured rounds; commands interleaved per round.

    ``jobs``: (label, run, prepare) — ``prepare`` (not timed) runs before each execution.
    """
    results = {label: Measure(label, []) for label, _, _ in jobs}
    for rnd in range(repeats + 1):
        for label, run, prepare in jobs:
            if prepare is not None:
                prepare()
            _quiesce()
            r = run()
            if rnd:
                results[label].runs.append(r)
            tag = "warm-up" if rnd == 0 else f"run {rnd}/{repeats}"
            print(f"    {label:<22} {tag:<9} {r.wall:8.3f} s  {r.maxrss_kib / 1024:8.1f} MiB",
                  file=sys.stderr, flush=True)
    return results


# --------------------------------------------------------------------------------------------
# test data


def unlink(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def _pixel_header(length: int) -> bytes:
    """(7FE0,0010) OW, explicit VR little endian, 32-bit length."""
    return struct.pack("<HH2sHL", 0x7FE0, 0x0010, b"OW", 0, length)


def check_multiframe(path: Path, frames: int) -> bool:
    """Whether ``path`` is a complete generated file (parsed by pydicom, pixel data deferred)."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    expected = frames * FRAME_BYTES
    try:
        ds = pydicom.dcmread(path, defer_size="64 KB")
        raw = ds.get_item(0x7FE00010)
        if raw is None or int(ds.NumberOfFrames) != frames:
            return False
        if ds.Rows != ROWS or ds.Columns != COLUMNS or ds.BitsAllocated != 16:
            return False
        length = raw.length if hasattr(raw, "length") else len(raw.value)
        if length != expected:
            return False
        # nothing after the pixel data: file size = end of the pixel data value
        with open(path, "rb") as fh:
            fh.seek(-(expected + 12), os.SEEK_END)
            return fh.read(12) == _pixel_header(expected)
    except (OSError, InvalidDicomError, AttributeError, ValueError, KeyError):
        return False


def make_multiframe(path: Path, mib: int) -> Path:
    """A Multi-frame Grayscale Word SC file with ``mib`` MiB of native pixel data (reused)."""
    frames = (mib * MIB) // FRAME_BYTES
    if check_multiframe(path, frames):
        print(f"  reusing {path} ({frames} frames)", file=sys.stderr)
        return path
    print(f"  generating {path} ({frames} frames of {ROWS}x{COLUMNS}x16 bit) ...",
          file=sys.stderr, flush=True)
    seed = f"dicomsec-bench-multiframe-{mib}"
    return _write_multiframe(path, _multiframe_header(seed, mib, frames), seed, frames)


def _multiframe_header(seed: str, mib: int, frames: int) -> Dataset:
    """The data set of the bench file without its pixel data."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import (
        ExplicitVRLittleEndian,
        MultiFrameGrayscaleWordSecondaryCaptureImageStorage,
        generate_uid,
    )

    sop_uid = generate_uid(entropy_srcs=[seed, "sop"])
    sop_class = MultiFrameGrayscaleWordSecondaryCaptureImageStorage

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian

    ds = Dataset()
    ds.file_meta = meta
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["DERIVED", "SECONDARY"]
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_uid
    ds.StudyDate = ds.ContentDate = "20261122"
    ds.StudyTime = ds.ContentTime = "120000"
    ds.AccessionNumber = ""
    ds.Modality = "OT"
    ds.ConversionType = "WSD"
    ds.ReferringPhysicianName = ""
    ds.PatientName = "Bench^Multiframe"
    ds.PatientID = f"BENCH-{mib}"
    ds.PatientBirthDate = ""
    ds.PatientSex = "O"
    ds.StudyInstanceUID = generate_uid(entropy_srcs=[seed, "study"])
    ds.SeriesInstanceUID = generate_uid(entropy_srcs=[seed, "series"])
    ds.StudyID = "1"
    ds.SeriesNumber = "1"
    ds.InstanceNumber = "1"
    ds.PatientOrientation = ""
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.NumberOfFrames = str(frames)
    ds.FrameIncrementPointer = 0x00181063  # Frame Time
    ds.FrameTime = "40"
    ds.Rows = ROWS
    ds.Columns = COLUMNS
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    ds.RescaleIntercept = "0"
    ds.RescaleSlope = "1"
    ds.RescaleType = "US"
    return ds


def _write_multiframe(path: Path, ds: Dataset, seed: str, frames: int) -> Path:
    """Write the header, then ``frames`` frames of reproducible pseudo-random pixel data."""
    from pydicom import dcmwrite

    tmp = path.with_name(f".{path.name}.partial")
    try:
        dcmwrite(tmp, ds, enforce_file_format=True)
        rng = random.Random(seed)  # pseudo-random, reproducible; not for security
        remaining = frames * FRAME_BYTES
        with open(tmp, "ab") as fh:
            fh.write(_pixel_header(remaining))
            while remaining:
                n = min(WRITE_CHUNK, remaining)
                fh.write(rng.randbytes(n))
                remaining -= n
            fh.flush()
            os.fsync(fh.fileno())
        if not check_multiframe(tmp, frames):
            raise RuntimeError(f"generated file {tmp} does not read back with pydicom")
        os.replace(tmp, path)
    finally:
        unlink(tmp)
    return path


def make_small_folder(folder: Path, count: int, dicomsec: str, runner: Runner,
                      log: Path) -> Path:
    """``count`` copies of CT_small.dcm signed once by dicomsec (exactly these files)."""
    from pydicom.data import get_testdata_file

    src = get_testdata_file("CT_small.dcm")
    if src is None:
        raise RuntimeError("pydicom's test file CT_small.dcm is not available")
    signed = folder.parent / "ct_small-signed.dcm"
    if not signed.exists():
        runner.run([dicomsec, "sign", str(src), "-o", str(signed), "--key", str(KEY),
                 "--cert", str(CERT), "--mac", "sha256"], log)
    folder.mkdir(parents=True, exist_ok=True)
    wanted = {f"ct-{i:04d}.dcm" for i in range(count)}
    for p in folder.iterdir():
        if p.name not in wanted:
            if p.is_dir():
                shutil.rmtree(p)
            else:
                p.unlink()
    size = signed.stat().st_size
    for name in sorted(wanted):
        p = folder / name
        if not p.exists() or p.stat().st_size != size:
            shutil.copyfile(signed, p)
    return folder


# --------------------------------------------------------------------------------------------
# benchmark sections


@dataclass
class SizeResult:
    mib: int
    sign_ours: Measure
    sign_dcm: Measure
    sign_dcm_sync: Measure
    verify_ours: Measure
    verify_dcm: Measure

    @property
    def ratio(self) -> float:
        ours = self.sign_ours.seconds + self.verify_ours.seconds
        return ours / (self.sign_dcm.seconds + self.verify_dcm.seconds)

    @property
    def ours_rss(self) -> float:
        return max(self.sign_ours.rss_mib, self.verify_ours.rss_mib)

    @property
    def verify_ratio(self) -> float:
        return self.verify_ours.seconds / self.verify_dcm.seconds

    @property
    def sign_synced_ratio(self) -> float | None:
        """dicomsec sign / (dcmsign sign + sync FILE); ``None`` without synced runs."""
        if not self.sign_dcm_sync.runs:
            return None
        return self.sign_ours.seconds / self.sign_dcm_sync.seconds


def bench_size(mib: int, workdir: Path, dicomsec: str, dcmsign: str, runner: Runner,
               repeats: int) -> SizeResult:
    folder = workdir / f"mf-{mib}"
    folder.mkdir(parents=True, exist_ok=True)
    src = make_multiframe(folder / f"multiframe-{mib}MiB.dcm", mib)
    out_ours = folder / "signed-dicomsec.dcm"
    out_dcm = folder / "signed-dcmsign.dcm"
    log = workdir / "last-command.log"

    sign_ours = [dicomsec, "sign", str(src), "-o", str(out_ours), "--key", str(KEY),
                 "--cert", str(CERT), "--mac", "sha256"]
    sign_dcm = [dcmsign, "--sign", str(KEY), str(CERT), "+m2", str(src), str(out_dcm)]
    verify_ours = [dicomsec, "verify", str(out_ours), "--trust", str(CA)]
    verify_dcm = [dcmsign, "--verify", "+cf", str(CA), str(out_dcm)]
    sync_dcm = ["sync", str(out_dcm)]  # coreutils: fsync(2) of that one file

    extra: list[Run] = []

    def dcm_sign_then_sync() -> Run:
        first = runner.run(sign_dcm, log)
        second = runner.run(sync_dcm, log)
        extra.append(Run(first.wall + second.wall, first.maxrss_kib))
        return first

    print(f"\n== {mib} MiB: {src.stat().st_size / MIB:.1f} MiB file ==", file=sys.stderr)
    res = measure_rounds(
        [
            ("dicomsec sign", lambda: runner.run(sign_ours, log), lambda: unlink(out_ours)),
            ("dcmsign sign", dcm_sign_then_sync, lambda: unlink(out_dcm)),
            ("dicomsec verify", lambda: runner.run(verify_ours, log), None),
            ("dcmsign verify", lambda: runner.run(verify_dcm, log), None),
        ],
        repeats,
    )
    return SizeResult(
        mib,
        res["dicomsec sign"],
        res["dcmsign sign"],
        Measure("dcmsign sign + sync FILE", extra[1:]),
        res["dicomsec verify"],
        res["dcmsign verify"],
    )


@dataclass
class SmallResult:
    count: int
    ours: Measure
    dcm: Measure

    @property
    def ratio(self) -> float:
        return self.ours.seconds / self.dcm.seconds


def bench_small(count: int, workdir: Path, dicomsec: str, dcmsign: str, runner: Runner,
                repeats: int) -> SmallResult:
    log = workdir / "last-command.log"
    folder = make_small_folder(workdir / "small", count, dicomsec, runner, log)
    files = sorted(str(p) for p in folder.iterdir())
    ours_cmd = [dicomsec, "verify", str(folder), "--trust", str(CA)]
    dcm_cmds = [[dcmsign, "--verify", "+cf", str(CA), f] for f in files]
    print(f"\n== folder of {count} small signed files ==", file=sys.stderr)
    res = measure_rounds(
        [
            ("dicomsec verify DIR", lambda: runner.run(ours_cmd, log), None),
            (f"dcmsign verify x{count}", lambda: runner.batch(dcm_cmds, log), None),
        ],
        repeats,
    )
    return SmallResult(count, res["dicomsec verify DIR"], res[f"dcmsign verify x{count}"])


# --------------------------------------------------------------------------------------------
# report


def _first_line(cmd: Sequence[str]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    lines = [ln.strip() for ln in (out.stdout + out.stderr).splitlines() if ln.strip()]
    return lines[0] if lines else "?"


def machine_info(dicomsec: str, dcmsign: str) -> list[str]:
    cpu = "?"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as fh:
        for line in fh:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = "?"
    with contextlib.suppress(OSError), open("/proc/meminfo") as fh:
        for line in fh:
            if line.startswith("MemTotal:"):
                mem = f"{int(line.split()[1]) / MIB:.1f} GiB"
                break
    dcm_ssl = "?"
    try:
        ver = subprocess.run([dcmsign, "--version"], capture_output=True, text=True,
                             check=False, timeout=30).stdout
        dcm_ssl = next((ln.strip("- ").strip() for ln in ver.splitlines() if "OpenSSL" in ln),
                       "?")
    except (OSError, subprocess.TimeoutExpired):
        pass
    try:
        from cryptography.hazmat.backends.openssl.backend import backend

        crypto_ssl = backend.openssl_version_text()
    except ImportError:
        crypto_ssl = "?"
    import cryptography
    import pydicom

    return [
        f"date: {_dt.date.today().isoformat()}",
        f"machine: {os.cpu_count()} CPUs ({cpu}), {mem} RAM, {platform.platform()}",
        f"python {platform.python_version()} ({ssl.OPENSSL_VERSION} in ssl); "
        f"cryptography {cryptography.__version__} ({crypto_ssl}); pydicom {pydicom.__version__}",
        f"dicomsec: {_first_line([dicomsec, '--version'])} ({dicomsec})",
        f"dcmsign: {_first_line([dcmsign, '--version'])} ({dcm_ssl}) ({dcmsign})",
    ]


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def ratio_target(mib: int) -> float:
    return RATIO_TARGET_1G if mib >= 1024 else RATIO_TARGET_250


def _print_ratio_targets(s: SizeResult) -> None:
    target = ratio_target(s.mib)
    signed = s.sign_synced_ratio
    rows = [("verify ratio (vs dcmsign --verify)", s.verify_ratio),
            ("sign ratio (vs dcmsign --sign + sync FILE)", signed),
            ("sign+verify ratio (vs plain dcmsign)", s.ratio)]
    for what, ratio in rows:
        if ratio is None:
            continue
        extra = ""
        if s.mib >= 1024:
            extra = f" (goal {RATIO_GOAL_1G}: {'met' if ratio <= RATIO_GOAL_1G else 'not met'})"
        print(f"  {verdict(ratio <= target)}  {s.mib} MiB {what} {ratio:.2f} <= {target}{extra}")


def report(sizes: list[SizeResult], small: SmallResult | None, info: list[str],
           repeats: int) -> None:
    print()
    for line in info:
        print(line)
    print(f"method: whole process; wall time and ru_maxrss from os.wait4 in a minimal runner "
          f"(fork+exec); 1 warm-up + {repeats} runs, median time, largest peak RSS; "
          f"page cache warm; sync(2) before each run, untimed")
    print()
    head = (f"{'size':>9}  {'operation':<12} {'dicomsec s':>10} {'dcmsign s':>10} {'ratio':>6}"
            f"  {'dicomsec MiB':>12} {'dcmsign MiB':>11}")
    print(head)
    print("-" * len(head))
    for s in sizes:
        rows = [
            ("sign", s.sign_ours, s.sign_dcm),
            ("verify", s.verify_ours, s.verify_dcm),
        ]
        for name, ours, dcm in rows:
            print(f"{s.mib:>5} MiB  {name:<12} {ours.seconds:>10.3f} {dcm.seconds:>10.3f} "
                  f"{ours.seconds / dcm.seconds:>6.2f}  {ours.rss_mib:>12.1f} {dcm.rss_mib:>11.1f}")
        ours_t = s.sign_ours.seconds + s.verify_ours.seconds
        dcm_t = s.sign_dcm.seconds + s.verify_dcm.seconds
        print(f"{s.mib:>5} MiB  {'sign+verify':<12} {ours_t:>10.3f} {dcm_t:>10.3f} "
              f"{s.ratio:>6.2f}  {s.ours_rss:>12.1f} "
              f"{max(s.sign_dcm.rss_mib, s.verify_dcm.rss_mib):>11.1f}")
        if s.sign_dcm_sync.runs:
            synced = s.sign_dcm_sync.seconds
            print(f"{'':>9}  (info: dcmsign sign + 'sync FILE' = {synced:.3f} s; "
                  f"dicomsec sign / that = {s.sign_ours.seconds / synced:.2f})")
    if small is not None:
        print(f"{small.count:>5} x    {'verify small':<12} {small.ours.seconds:>10.3f} "
              f"{small.dcm.seconds:>10.3f} {small.ratio:>6.2f}  {small.ours.rss_mib:>12.1f} "
              f"{small.dcm.rss_mib:>11.1f}")
        print(f"{'':>9}  (dicomsec: 1 process for the folder; dcmsign: 1 process per file)")
    print()
    print("targets:")
    for s in sizes:
        _print_ratio_targets(s)
        print(f"  {verdict(s.ours_rss <= RSS_TARGET_MIB)}  {s.mib} MiB dicomsec peak RSS "
              f"{s.ours_rss:.1f} MiB <= {RSS_TARGET_MIB:.0f} MiB")
    if small is not None:
        print(f"  {verdict(small.ratio <= SMALL_RATIO_TARGET)}  {small.count} small files "
              f"verify ratio {small.ratio:.2f} <= {SMALL_RATIO_TARGET}")


# --------------------------------------------------------------------------------------------


def find_dicomsec() -> str:
    local = Path(sys.executable).parent / "dicomsec"
    if local.exists():
        return str(local)
    found = shutil.which("dicomsec")
    if found is None:
        raise SystemExit("dicomsec not found (install the project: make install)")
    return found


def parse_sizes(text: str) -> list[int]:
    try:
        sizes = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of MiB sizes: {text!r}") from None
    if not sizes or any(s < 1 or s * MIB // FRAME_BYTES * FRAME_BYTES >= 1 << 32 for s in sizes):
        raise argparse.ArgumentTypeError("sizes must be between 1 and 4095 MiB")
    return sizes


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--sizes", type=parse_sizes, default=None,
                    help="multi-frame file sizes in MiB, comma separated (default 250,1024)")
    ap.add_argument("--small", type=int, default=None,
                    help=f"number of small files (default {SMALL_FILES}; 0 to skip)")
    ap.add_argument("--quick", action="store_true",
                    help="fast check: 64 MiB only and 200 small files")
    ap.add_argument("--repeats", type=int, default=REPEATS,
                    help=f"measured runs per command after the warm-up (default {REPEATS})")
    ap.add_argument("--workdir", type=Path, default=REPO / "bench-out",
                    help="where test files and outputs go (default bench-out/)")
    args = ap.parse_args(argv)
    sizes: list[int] = args.sizes or ([64] if args.quick else [250, 1024])
    small_count: int = args.small if args.small is not None else (200 if args.quick else
                                                                   SMALL_FILES)
    repeats = max(1, args.repeats)

    dcmsign = shutil.which("dcmsign")
    if dcmsign is None:
        print("dcmsign not found (Debian package dcmtk; make peers)", file=sys.stderr)
        return 1
    dicomsec = find_dicomsec()
    workdir: Path = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)

    info = machine_info(dicomsec, dcmsign)
    log = workdir / "last-command.log"
    try:
        with Runner() as runner:
            floor = runner.run(["true"], log).maxrss_kib / 1024
            info.append(f"measurement floor: ru_maxrss of 'true' from the runner = {floor:.1f} MiB")
            results = [bench_size(mib, workdir, dicomsec, dcmsign, runner, repeats)
                       for mib in sizes]
            small = (bench_small(small_count, workdir, dicomsec, dcmsign, runner, repeats)
                     if small_count > 0 else None)
    except CommandFailed as exc:
        print(f"\nFAILED: {shell(exc.cmd)}\nexit status {exc.code}; output:", file=sys.stderr)
        print(exc.output[-4000:], file=sys.stderr)
        return 1
    report(results, small, info, repeats)
    return 0


if __name__ == "__main__":
    sys.exit(main())
