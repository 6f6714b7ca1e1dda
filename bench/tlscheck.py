"""Benchmark: `dicomsec tls-check` time per endpoint, with full enumeration (every TLS 1.2 suite
code, every TLS 1.3 suite, every named group per version, full handshakes), against a few local
`openssl s_server` configurations and `dicomsec scp` (issue 7, point 9: target ≤ 5 s each).

Each endpoint is scanned by the command line tool in a fresh process (what a user waits for,
start-up included); the scanner's own figure (`seconds` in its JSON) is printed beside it.

    .venv/bin/python bench/tlscheck.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from tests.transport.scan_support import (  # noqa: E402
    ScanPki,
    free_port,
    make_pki,
    openssl_server,
)

from signatures import find_dicomsec, verdict  # noqa: E402

TARGET_SECONDS = 5.0
_B13_TLS12 = ("ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
              "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384:"
              "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES128-CCM:"
              "ECDHE-ECDSA-AES256-CCM:ECDHE-ECDSA-AES128-CCM8:ECDHE-ECDSA-AES256-CCM8")
_B13_TLS13 = ("TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256:"
              "TLS_AES_128_CCM_SHA256:TLS_AES_128_CCM_8_SHA256")


def _openssl_endpoints(pki: ScanPki) -> dict[str, tuple[str, tuple[str, ...]]]:
    """name -> (certificate, s_server options)."""
    ec_cert, ec_key = pki["server-ec"]
    mutual = ("-Verify", "1", "-CAfile", str(pki.ca))
    return {
        "s_server B.13 set + CBC + RSA-kx": (
            "server-rsa", ("-dcert", str(ec_cert), "-dkey", str(ec_key), *mutual, "-cipher",
                           _B13_TLS12 + ":ECDHE-RSA-AES128-SHA256:AES256-GCM-SHA384",
                           "-ciphersuites", _B13_TLS13)),
        "s_server defaults (RSA)": ("server-rsa", ()),
        "s_server TLS 1.3 CCM only": ("server-ec", (*mutual, "-tls1_3", "-ciphersuites",
                                                    "TLS_AES_128_CCM_SHA256")),
        "s_server TLS 1.2 P-256 cert": ("server-ec", (*mutual, "-no_tls1_3", "-groups",
                                                      "P-384:P-256", "-cipher", _B13_TLS12)),
    }


@contextmanager
def _dicomsec_scp(dicomsec: str, pki: ScanPki, profile: str, out: Path) -> Iterator[int]:
    port = free_port()
    rsa, ec = pki["server-rsa"], pki["server-ec"]
    proc = subprocess.Popen(
        [dicomsec, "scp", "--port", str(port), "--bind", "127.0.0.1", "--out", str(out),
         "--profile", profile, "--cert", str(rsa[0]), "--key", str(rsa[1]), "--cert",
         str(ec[0]), "--key", str(ec[1]), "--trust", str(pki.ca)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        import socket

        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        yield port
    finally:
        proc.terminate()
        proc.wait()


def _scan(dicomsec: str, port: int, profile: str) -> tuple[float, dict[str, object]]:
    started = time.monotonic()
    proc = subprocess.run([dicomsec, "tls-check", f"127.0.0.1:{port}", "--profile", profile,
                           "--json", "--wait", "0.5"],
                          capture_output=True, text=True, timeout=120, check=False)
    elapsed = time.monotonic() - started
    try:
        return elapsed, json.loads(proc.stdout)
    except ValueError:
        raise SystemExit(f"tls-check failed: {proc.stderr.strip()}") from None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    dicomsec = find_dicomsec()
    work = Path(tempfile.mkdtemp(prefix="bench-tlscheck-"))
    pki = make_pki(work, "openssl")
    rows: list[tuple[str, str, float, float, dict[str, object]]] = []
    with ExitStack() as stack:
        endpoints: list[tuple[str, int, str]] = []
        for name, (cert, opts) in _openssl_endpoints(pki).items():
            port = stack.enter_context(openssl_server("openssl", pki, cert, *opts))
            endpoints.append((name, port, "b13"))
        (work / "in").mkdir()
        for profile in ("b13", "b12"):
            port = stack.enter_context(_dicomsec_scp(dicomsec, pki, profile, work / "in"))
            endpoints.append((f"dicomsec scp --profile {profile}", port, profile))
        for name, port, profile in endpoints:
            runs = [_scan(dicomsec, port, profile) for _ in range(args.repeats)]
            wall = statistics.median(r[0] for r in runs)
            inner = statistics.median(float(r[1]["seconds"]) for r in runs)  # type: ignore[arg-type]
            rows.append((name, profile, wall, inner, runs[-1][1]))
    print(f"tls-check per endpoint, median of {args.repeats} (full enumeration)")
    print(f"  {'endpoint':36} {'profile':7} {'process s':>9} {'scan s':>7}  verdict")
    for name, profile, wall, inner, report in rows:
        print(f"  {name:36} {profile:7} {wall:9.2f} {inner:7.2f}  "
              f"{'PASS' if report['ok'] else 'FAIL'} ({report['failures']} fail, "
              f"{report['warnings']} warn, {len(report['checks'])} checks)")  # type: ignore[arg-type]
    worst = max(wall for _, _, wall, _, _ in rows)
    print(f"  {verdict(worst <= TARGET_SECONDS)}  slowest endpoint {worst:.2f} s "
          f"(target ≤ {TARGET_SECONDS:.0f} s)")
    ours = [r for r in rows if r[0].startswith("dicomsec scp")]
    print(f"  {verdict(all(r[4]['ok'] for r in ours))}  dicomsec scp passes its profiles")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
