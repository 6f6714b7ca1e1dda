"""Benchmark: 1,000 small files over B.13 TLS, dicomsec send -> dicomsec scp against DCMTK
storescu -> storescp over TLS, in the same run (issue 4 acceptance 4, issue 7 point 10).

Each side's server runs in the background; the timed process is the sender (whole process:
start-up, TLS handshake, association, 1,000 C-STOREs). Target: ratio <= 2.0 (goal 1.0).

DCMTK runs with ``TCP_NODELAY=1`` in its environment: its Debian build leaves Nagle's
algorithm on otherwise, and each C-STORE then waits for delayed ACKs (~85 ms per file), which
made DCMTK look 20x slower than it is. Our SCP fsyncs every file before its success status;
storescp does not fsync.

    .venv/bin/python bench/transport.py [--files 1000] [--repeats 3] [--workdir bench-out]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from signatures import (
    REPEATS,
    REPO,
    CommandFailed,
    Runner,
    find_dicomsec,
    measure_rounds,
    shell,
    verdict,
)

RATIO_TARGET = 2.0
RATIO_GOAL = 1.0


def _dcmtk_env() -> dict[str, str]:
    """DCMTK reads ``TCP_NODELAY`` from the environment; without it the Debian build leaves
    Nagle's algorithm on, and each C-STORE waits for delayed ACKs (~85 ms per file)."""
    return {**os.environ, "TCP_NODELAY": "1"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited early with {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"server did not listen on {port}")


@contextmanager
def _server(cmd: Sequence[str], port: int, env: dict[str, str] | None = None
            ) -> Iterator[None]:
    proc = subprocess.Popen(list(cmd), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=env)
    try:
        _wait_port(port, proc)
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _make_pki(folder: Path, dicomsec: str) -> dict[str, Path]:
    """A site CA, an RSA server certificate and an RSA client certificate (DCMTK 3.6.7's TLS
    1.2 suites are RSA-only, and both sides of the comparison use the same keys)."""
    folder.mkdir(parents=True, exist_ok=True)
    out = {"ca": folder / "ca", "server": folder / "server", "client": folder / "client"}
    if not (folder / "client.cert.pem").exists():
        subprocess.run([dicomsec, "keys", "generate", str(out["ca"]), "--ca", "--cn",
                        "bench TLS CA", "--force"], check=True, capture_output=True)
        for name in ("server", "client"):
            subprocess.run([dicomsec, "keys", "generate", str(out[name]), "--algorithm",
                            "rsa2048", "--cn", name, "--ca-cert", f"{out['ca']}.cert.pem",
                            "--ca-key", f"{out['ca']}.key.pem", "--force"], check=True,
                           capture_output=True)
    return out


def _make_files(folder: Path, count: int) -> list[Path]:
    import pydicom
    from pydicom.uid import generate_uid

    folder.mkdir(parents=True, exist_ok=True)
    files = sorted(folder.glob("*.dcm"))
    if len(files) == count:
        return files
    for f in files:
        f.unlink()
    src = Path(pydicom.__file__).parent / "data" / "test_files" / "CT_small.dcm"
    ds = pydicom.dcmread(src)
    for i in range(count):
        ds.SOPInstanceUID = generate_uid(prefix=None)
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.save_as(folder / f"ct-{i:04d}.dcm", enforce_file_format=True)
    return sorted(folder.glob("*.dcm"))


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--files", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=REPEATS)
    ap.add_argument("--workdir", type=Path, default=REPO / "bench-out")
    args = ap.parse_args(argv)
    storescu, storescp = shutil.which("storescu"), shutil.which("storescp")
    if storescu is None or storescp is None:
        print("storescu/storescp not found (Debian package dcmtk)", file=sys.stderr)
        return 1
    dicomsec = find_dicomsec()
    work: Path = args.workdir.resolve() / "transport"
    pki = _make_pki(work / "pki", dicomsec)
    files = _make_files(work / f"files-{args.files}", args.files)
    ca, srv, cli = (f"{pki['ca']}.cert.pem", pki["server"], pki["client"])
    out_ours, out_dcmtk = work / "recv-dicomsec", work / "recv-dcmtk"
    p_ours, p_dcmtk = _free_port(), _free_port()
    scp_ours = [dicomsec, "scp", "--port", str(p_ours), "--out", str(out_ours), "--profile",
                "b13", "--cert", f"{srv}.cert.pem", "--key", f"{srv}.key.pem", "--trust", ca]
    scp_dcmtk = [storescp, "+tls", f"{srv}.key.pem", f"{srv}.cert.pem", "+cf", ca, "-od",
                 str(out_dcmtk), "-aet", "ANY-SCP", str(p_dcmtk)]
    send_ours = [dicomsec, "send", str(files[0].parent), "--host", "127.0.0.1", "--port",
                 str(p_ours), "--profile", "b13", "--cert", f"{cli}.cert.pem", "--key",
                 f"{cli}.key.pem", "--trust", ca]
    send_dcmtk = ["env", "TCP_NODELAY=1", storescu, "+tls", f"{cli}.key.pem",
                  f"{cli}.cert.pem", "+cf", ca, "-aec", "ANY-SCP", "+sd", "127.0.0.1",
                  str(p_dcmtk), str(files[0].parent)]
    log = work / "last-command.log"

    def clear(folder: Path) -> None:
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)

    clear(out_ours)
    clear(out_dcmtk)
    try:
        with _server(scp_ours, p_ours), _server(scp_dcmtk, p_dcmtk, _dcmtk_env()), \
                Runner() as runner:
            res = measure_rounds([
                ("dicomsec send", lambda: runner.run(send_ours, log), lambda: clear(out_ours)),
                ("storescu", lambda: runner.run(send_dcmtk, log), lambda: clear(out_dcmtk)),
            ], max(1, args.repeats))
            time.sleep(1.0)
    except CommandFailed as exc:
        print(f"\nFAILED: {shell(exc.cmd)}\nexit status {exc.code}; output:", file=sys.stderr)
        print(exc.output[-4000:], file=sys.stderr)
        return 1
    ours, theirs = res["dicomsec send"], res["storescu"]
    got_ours = len(list(out_ours.rglob("*")))
    got_dcmtk = len([p for p in out_dcmtk.rglob("*") if p.is_file()])
    ratio = ours.seconds / theirs.seconds
    print(f"\n{args.files} files over TLS (B.13 context on our side; DCMTK 3.6.7 default "
          f"profile on its side), median of {args.repeats}:")
    print(f"  dicomsec send -> dicomsec scp   {ours.seconds:7.3f} s  peak {ours.rss_mib:6.1f} MiB"
          f"  ({got_ours} files received in the last round)")
    print(f"  storescu -> storescp (DCMTK)    {theirs.seconds:7.3f} s  peak {theirs.rss_mib:6.1f} "
          f"MiB  ({got_dcmtk} files received in the last round)")
    goal = "met" if ratio <= RATIO_GOAL else "not met"
    print(f"\n  {verdict(ratio <= RATIO_TARGET)}  ratio {ratio:.2f} <= {RATIO_TARGET} "
          f"(goal {RATIO_GOAL}: {goal})")
    print(f"  {verdict(got_ours == args.files)}  all {args.files} files stored by dicomsec scp")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
