#!/usr/bin/env python3
"""Start-up benchmark: one small file per command, ``dicomsec`` against DCMTK's ``dcmsign``.

What it measures, each as the median wall time of ``--repeats`` runs (commands interleaved,
one warm-up each), started as child processes from this one:

- ``dicomsec --version``                   (ratio to ``dcmsign --verify`` of the small file)
- ``dicomsec verify SMALL --trust CA``      (ratio to ``dcmsign --verify +cf CA SMALL``)
- ``dicomsec sign SMALL -o OUT ...``        (ratio to ``dcmsign --sign KEY CERT +m2``)
- ``dicomsec unwrap SECURE -o OUT --kek-*`` (ratio to ``dcmsign --verify``)

plus ``dicomsec verify FOLDER --workers 1`` of ``--batch`` copies of the signed file (one process
for many files: its cost per file after the one start-up, the remedy for callers that verify many
files), ``python -c pass`` (the interpreter's own floor), ``import cryptography.x509.verification``
then ``os._exit`` (the floor of any Python verifier of X.509 signatures) and ``import typer``
(what the typer front end adds to every command, which the hot commands avoid).

The small file is pydicom's ``CT_small.dcm`` (about 40 KB) signed by dicomsec with RSA 2048 /
SHA-256; the secure file is the same file wrapped for a 256-bit KEK (no password derivation:
start-up, not PBKDF2, is what is measured). Everything is made in a temporary folder with the
command line tool.

Targets (issue 7): ``verify`` ≤ 2.5x ``dcmsign --verify`` (goal 1.5x), ``--version`` ≤ 60 ms.
Exit status 0 after printing (a measurement, not a test); 1 when a command fails.

Usage: ``.venv/bin/python bench/startup.py [--repeats 15] [--batch 100] [--importtime]``
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PKI = REPO / "tests" / "data" / "pki"
KEY = PKI / "signer-rsa2048.key.pem"
CERT = PKI / "signer-rsa2048.cert.pem"
CA = PKI / "ca.cert.pem"
KEK_HEX = "00112233445566778899aabbccddeeff" * 2
KEK_ID = "6b656b2d31"


def _small_file() -> Path:
    from pydicom.data import get_testdata_file

    found = get_testdata_file("CT_small.dcm")
    if not found:
        raise SystemExit("pydicom's test file CT_small.dcm is missing")
    return Path(str(found))


def _dicomsec() -> list[str]:
    local = Path(sys.executable).parent / "dicomsec"
    if local.exists():
        return [str(local)]
    found = shutil.which("dicomsec")
    return [found] if found else [sys.executable, "-m", "dicomsec"]


#: the children's environment: byte code is written and used (as after an installation); a
#: PYTHONDONTWRITEBYTECODE left in the environment would make every run compile dicomsec anew
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def _run(cmd: list[str]) -> tuple[float, float]:
    """Run a command; its wall time and its CPU time (user + system, from ``wait4``)."""
    with tempfile.TemporaryFile() as out:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=ENV)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            out.seek(0)
            print(f"FAILED ({proc.returncode}): {' '.join(cmd)}\n"
                  f"{out.read().decode(errors='replace')}", file=sys.stderr)
            raise SystemExit(1)
    return seconds, usage.ru_utime + usage.ru_stime


def _prepare(work: Path, tool: list[str], batch: int) -> dict[str, list[str]]:
    """Make the signed and the secure small file; return the command of each measurement."""
    dcmsign = shutil.which("dcmsign")
    if dcmsign is None:
        raise SystemExit("dcmsign (DCMTK) is not installed")
    small = _small_file()
    signed = work / "signed.dcm"
    secure = work / "secure.dcm"
    kek = work / "kek.hex"
    kek.write_text(KEK_HEX + "\n")
    _run([*tool, "sign", str(small), "-o", str(signed), "--key", str(KEY), "--cert", str(CERT)])
    _run([*tool, "wrap", str(small), "-o", str(secure), "--kek-file", str(kek),
          "--kek-id", KEK_ID])
    folder = work / "many"
    folder.mkdir()
    for i in range(batch):
        shutil.copyfile(signed, folder / f"signed-{i:04d}.dcm")
    return {
        "python -c pass": [sys.executable, "-c", "pass"],
        # what any Python verifier pays before reading a byte: X.509 parsing and path validation
        # (ended with os._exit, as dicomsec's hot commands end, so without finalization)
        "python + x509": [sys.executable, "-c",
                          "import cryptography.x509.verification, os; os._exit(0)"],
        # what the typer front end would add to every command
        "python + typer": [sys.executable, "-c", "import typer"],
        "dcmsign --verify": [dcmsign, "--verify", "+cf", str(CA), str(signed)],
        "dcmsign --sign": [dcmsign, "--sign", str(KEY), str(CERT), "+m2", str(small),
                           str(work / "dcmsign-out.dcm")],
        "dicomsec --version": [*tool, "--version"],
        "dicomsec verify": [*tool, "verify", str(signed), "--trust", str(CA)],
        "dicomsec sign": [*tool, "sign", str(small), "-o", str(work / "ours-out.dcm"),
                          "--key", str(KEY), "--cert", str(CERT)],
        "dicomsec unwrap": [*tool, "unwrap", str(secure), "-o", str(work / "plain.dcm"),
                            "--kek-file", str(kek), "--kek-id", KEK_ID],
        # many files in one process (in this process: no worker start-up either)
        "verify FOLDER": [*tool, "verify", str(folder), "--trust", str(CA), "--workers", "1"],
    }


def _measure(commands: dict[str, list[str]], repeats: int) -> dict[str, tuple[float, float]]:
    """Median wall and median CPU time of each command."""
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
    for cmd in commands.values():  # warm-up (page cache, .pyc files)
        _run(cmd)
    for _ in range(repeats):
        for name, cmd in commands.items():
            times[name].append(_run(cmd))
    return {name: (statistics.median(w for w, _ in t), statistics.median(c for _, c in t))
            for name, t in times.items()}


def _importtime(commands: dict[str, list[str]]) -> None:
    """The ten slowest imports (cumulative) of ``dicomsec verify``, from ``-X importtime``."""
    cmd = commands["dicomsec verify"]
    argv = [sys.executable, "-X", "importtime", "-m", "dicomsec", *cmd[1:]]
    done = subprocess.run(argv, capture_output=True, text=True, check=False, env=ENV)
    rows = []
    for line in done.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            _, self_us, cumulative, name = (part.strip() for part in
                                            line.replace("import time:", "|").split("|"))
            if cumulative.isdigit() and self_us.isdigit():
                rows.append((int(cumulative), int(self_us), name))
    print("\nslowest imports of 'dicomsec verify' (cumulative / self, ms):")
    for total_us, own_us, module in sorted(rows, reverse=True)[:10]:
        print(f"  {total_us / 1000:7.1f} {own_us / 1000:7.1f}  {module}")


def _report_batch(median: dict[str, tuple[float, float]], batch: int) -> None:
    """One process for ``batch`` files: the cost of each file after the first."""
    one_wall, one_cpu = median["dicomsec verify"]
    all_wall, all_cpu = median["verify FOLDER"]
    ref_wall, ref_cpu = median["dcmsign --verify"]
    each_wall = (all_wall - one_wall) / max(1, batch - 1)
    each_cpu = (all_cpu - one_cpu) / max(1, batch - 1)
    print(f"\nverify FOLDER of {batch} files (1 process, --workers 1): {all_wall * 1000:.1f} ms "
          f"wall, {all_cpu * 1000:.1f} ms CPU; each file after the first {each_wall * 1000:.2f} "
          f"ms wall ({each_wall / ref_wall:.2f}x dcmsign --verify), {each_cpu * 1000:.2f} ms CPU "
          f"({each_cpu / ref_cpu:.2f}x)")


def _report(median: dict[str, tuple[float, float]], batch: int) -> None:
    print(f"{'command':<20} {'wall ms':>8} {'ratio':>6}   {'CPU ms':>7} {'ratio':>6}  reference")
    for name, (wall, cpu) in median.items():
        if name == "verify FOLDER":
            continue
        if not name.startswith("dicomsec"):
            print(f"{name:<20} {wall * 1000:8.1f} {'':>6}   {cpu * 1000:7.1f}")
            continue
        ref_name = "dcmsign --sign" if name == "dicomsec sign" else "dcmsign --verify"
        ref_wall, ref_cpu = median[ref_name]
        print(f"{name:<20} {wall * 1000:8.1f} {wall / ref_wall:5.2f}x   {cpu * 1000:7.1f} "
              f"{cpu / ref_cpu:5.2f}x  {ref_name}")
    _report_batch(median, batch)
    verify_ratio = median["dicomsec verify"][0] / median["dcmsign --verify"][0]
    version_ms = median["dicomsec --version"][0] * 1000
    print(f"\ntargets: verify {verify_ratio:.2f}x dcmsign --verify (target <= 2.5x, goal 1.5x): "
          f"{'PASS' if verify_ratio <= 2.5 else 'FAIL'}; --version {version_ms:.0f} ms "
          f"(target <= 60 ms): {'PASS' if version_ms <= 60 else 'FAIL'}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--batch", type=int, default=100,
                        help="files verified by the one-process 'verify FOLDER' row")
    parser.add_argument("--importtime", action="store_true",
                        help="also print the slowest imports of 'dicomsec verify'")
    args = parser.parse_args()
    tool = _dicomsec()
    print(f"dicomsec: {' '.join(tool)}; {os.cpu_count()} CPUs; load "
          f"{', '.join(f'{x:.2f}' for x in os.getloadavg())}; median of {args.repeats} runs")
    with tempfile.TemporaryDirectory(prefix="dicomsec-startup-") as tmp:
        commands = _prepare(Path(tmp), tool, max(2, args.batch))
        _report(_measure(commands, args.repeats), max(2, args.batch))
        if args.importtime:
            _importtime(commands)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
