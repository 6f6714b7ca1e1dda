#!/usr/bin/env python3
"""Audit bench (issue 11, acceptance 5): what auditing over syslog TLS costs ``dicomsec sign``.

One run, four measurements:

1. **Signing with and without auditing.** ``--files`` copies of pydicom's ``CT_small.dcm`` are
   signed one ``dicomsec sign`` process per file (the way a PACS hook calls it), once with
   ``--audit syslog+tls://...`` to a real rsyslog started by the bench (the test receiver,
   ``tests/audit/receiver.py``: RFC 5425, mutual TLS, from ``tests/data/rsyslog``) and a spool
   of its own, once with ``--audit off``. The two runs are interleaved in batches of
   ``--batch`` files (the order of the pair alternates between batches), so that a change of
   machine load hits both. The ``dicomsec`` program spools the record, then leaves the TLS
   delivery to a detached child process (docs/audit.md), so two costs are printed: per
   command (wall and CPU of the ``sign`` process itself, from ``wait4``: what a caller waits
   for; target <= 10 %, goal 3 %), and for the whole work (each batch timed until the spool is
   empty, and the machine's busy CPU from ``/proc/stat``, which counts the detached children;
   meaningful on a quiet machine only). The bench then checks that the receiver stored exactly
   one message per audited file.
2. **Spool throughput** in this process: ``Spool.add`` of ``--messages`` real TLS payloads (one
   SQLite transaction each, ``synchronous=NORMAL``: what a command pays per record), then
   ``Trail.handle`` (build the DICOM message + frame + spool), then ``Trail.flush`` of them all to
   the receiver (messages per second until every one is stored by rsyslog).
3. **Peak RSS** of the signing children (``ru_maxrss``), audited and not (in table 1).
4. **Start-up** (``--startup N``): ``dicomsec verify`` and ``sign`` of one small file with the
   default audit trail (the file sink in a state folder of the bench's own) and with
   ``--audit off``, median of N interleaved runs.

Exit status 0 after printing (a measurement, not a test); 1 when a command fails or messages are
missing. Run it on a quiet machine; ``--files 50`` checks that it works.

Usage: ``.venv/bin/python bench/audit.py [--files 1000] [--batch 25] [--messages 2000]
[--startup 15]``
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
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
PKI = REPO / "tests" / "data" / "pki"
KEY = PKI / "signer-rsa2048.key.pem"
CERT = PKI / "signer-rsa2048.cert.pem"
SYSLOG_PKI = REPO / "tests" / "data" / "pki-syslog"

#: the children's environment (byte code written and used, as after an installation)
ENV = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE",
                                                          "DICOMSEC_AUDIT",
                                                          "DICOMSEC_AUDIT_SPOOL")}


def _small_file() -> Path:
    import pydicom

    path = Path(pydicom.__file__).parent / "data" / "test_files" / "CT_small.dcm"
    if not path.exists():
        raise SystemExit(f"pydicom's test file is missing: {path}")
    return path


def _dicomsec() -> list[str]:
    local = Path(sys.executable).parent / "dicomsec"
    return [str(local)] if local.exists() else [sys.executable, "-m", "dicomsec"]


@contextmanager
def _receiver(run: Path) -> Iterator[Any]:
    """The test receiver (a real rsyslogd with gtls) on free 127.0.0.1 ports."""
    sys.path.insert(0, str(REPO))
    state = os.environ.get("XDG_STATE_HOME"), os.environ.get("XDG_CONFIG_HOME")
    from tests.audit.receiver import running_receiver  # imports tests.conftest (isolates XDG_*)
    from tests.conftest import AUDIT_ROOT

    for name, value in zip(("XDG_STATE_HOME", "XDG_CONFIG_HOME"), state, strict=True):
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    try:
        with running_receiver(run) as receiver:
            yield receiver
    finally:
        shutil.rmtree(AUDIT_ROOT, ignore_errors=True)


def _tls_url(receiver: Any) -> str:
    return (f"syslog+tls://127.0.0.1:{receiver.tls_port}?ca={SYSLOG_PKI / 'ca.cert.pem'}"
            f"&cert={SYSLOG_PKI / 'client.cert.pem'}&key={SYSLOG_PKI / 'client.key.pem'}")


def _run(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float, int]:
    """Run a command: wall seconds, CPU seconds (user + system), peak RSS in KiB."""
    with tempfile.TemporaryFile() as out:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,
                                env=ENV if env is None else env)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        code = os.waitstatus_to_exitcode(status)
        if code != 0:
            out.seek(0)
            print(f"FAILED ({code}): {' '.join(cmd)}\n{out.read().decode(errors='replace')}",
                  file=sys.stderr)
            raise SystemExit(1)
    return seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss


def _machine_busy() -> float:
    """CPU seconds the whole machine has been busy (``/proc/stat``: every CPU, every
    process, the detached delivery children included)."""
    with open("/proc/stat", encoding="ascii") as fh:
        fields = [int(x) for x in fh.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _drained(spool: Path, seconds: float = 60.0) -> None:
    """Wait until the detached children have delivered everything (no-op without a spool)."""
    if not (spool / "spool.sqlite3").exists():
        return
    from dicomsec.audit.spool import Spool

    queue = Spool(spool)
    try:
        deadline = time.monotonic() + seconds
        while queue.status().depth and time.monotonic() < deadline:
            time.sleep(0.02)
        status = queue.status()
        if status.depth:
            print(f"spool not drained in {seconds:.0f} s: {status.summary()}; "
                  f"{[s.to_dict() for s in status.sinks]}", file=sys.stderr)
    finally:
        queue.close()


def _batch(tool: list[str], src: Path, out: Path, indexes: range, options: list[str],
           spool: Path | None) -> tuple[list[tuple[float, float, int]], float, float]:
    """Sign the files of ``indexes``; per file (wall, CPU, RSS), then the batch's wall time
    and machine CPU, both until the spool is drained (the detached deliveries included)."""
    rows = []
    busy, start = _machine_busy(), time.perf_counter()
    for i in indexes:
        rows.append(_run([*tool, "sign", str(src / f"ct-{i:05d}.dcm"), "-o",
                          str(out / f"ct-{i:05d}.dcm"), "--key", str(KEY), "--cert",
                          str(CERT), *options]))
    if spool is not None:
        _drained(spool)
    return rows, time.perf_counter() - start, _machine_busy() - busy


def _signing(work: Path, files: int, batch: int, audit: list[str],
             spool: Path) -> dict[str, Any]:
    """Sign ``files`` copies with and without ``audit``, interleaved in batches."""
    tool = _dicomsec()
    src = work / "in"
    src.mkdir()
    small = _small_file()
    for i in range(files):
        shutil.copyfile(small, src / f"ct-{i:05d}.dcm")
    runs: dict[str, Any] = {m: {"rows": [], "wall": 0.0, "busy": 0.0} for m in ("on", "off")}
    options = {"on": audit, "off": ["--audit", "off"]}
    for mode in ("on", "off"):  # warm-up: page cache, byte code
        (work / mode).mkdir()
        _run([*tool, "sign", str(small), "-o", str(work / mode / "warm.dcm"), "--key", str(KEY),
              "--cert", str(CERT), *options[mode]])
    _drained(spool)
    for first in range(0, files, batch):
        order = ("on", "off") if (first // batch) % 2 == 0 else ("off", "on")
        for mode in order:
            rows, wall, busy = _batch(tool, src, work / mode,
                                      range(first, min(first + batch, files)), options[mode],
                                      spool if mode == "on" else None)
            runs[mode]["rows"] += rows
            runs[mode]["wall"] += wall
            runs[mode]["busy"] += busy
    return runs


def _cost(on: float, off: float) -> float:
    return (on / off - 1) * 100 if off else float("nan")


def _report_signing(runs: dict[str, Any]) -> None:
    on, off = runs["on"]["rows"], runs["off"]["rows"]
    print(f"\n1. dicomsec sign, one process per file, {len(on)} files each way")
    print(f"{'':<18}{'wall s':>8}{'median ms':>10}{'CPU s':>8}{'median ms':>10}"
          f"{'batch wall s':>13}{'machine CPU s':>14}{'peak RSS MiB':>13}")
    for name, mode, rows in (("audit syslog+tls", "on", on), ("--audit off", "off", off)):
        wall = [r[0] for r in rows]
        cpu = [r[1] for r in rows]
        print(f"{name:<18}{sum(wall):8.2f}{statistics.median(wall) * 1000:10.1f}"
              f"{sum(cpu):8.2f}{statistics.median(cpu) * 1000:10.1f}"
              f"{runs[mode]['wall']:13.2f}{runs[mode]['busy']:14.2f}"
              f"{max(r[2] for r in rows) / 1024:13.1f}")
    wall_cost = _cost(sum(r[0] for r in on), sum(r[0] for r in off))
    cpu_cost = _cost(sum(r[1] for r in on), sum(r[1] for r in off))
    batch_cost = _cost(runs["on"]["wall"], runs["off"]["wall"])
    machine_cost = _cost(runs["on"]["busy"], runs["off"]["busy"])
    verdict = "goal met" if wall_cost <= 3 else "PASS" if wall_cost <= 10 else "FAIL"
    print(f"cost of auditing per command (what the caller waits): wall {wall_cost:+.1f} %, "
          f"CPU of the command {cpu_cost:+.1f} % (target <= 10 %, goal 3 %): {verdict}")
    print(f"whole work, detached deliveries included (batches until the spool is empty): wall "
          f"{batch_cost:+.1f} %, machine CPU {machine_cost:+.1f} % (meaningful on a quiet "
          f"machine only)")


def _wait_stored(receiver: Any, count: int, timeout: float) -> int:
    found = receiver.wait_for(count, timeout=timeout)
    return len(found)


def _throughput(work: Path, receiver: Any, messages: int) -> None:
    """Spool.add, Trail.handle and Trail.flush rates (this process)."""
    from dicomsec.audit.messages import AuditSource, dicom_messages
    from dicomsec.audit.sinks import parse_sink
    from dicomsec.audit.spool import Spool
    from dicomsec.audit.trail import open_trail
    from dicomsec.events import AuditEvent, AuditObject, ObjectKind, Operation

    url = _tls_url(receiver)
    source = AuditSource.local()
    event = AuditEvent(Operation.SIGN, objects=(
        AuditObject(ObjectKind.STUDY, "1.2.3.4.5", sop_classes=(
            ("1.2.840.10008.5.1.4.1.1.2", ("1.2.3.4.5.6",)),)),
        AuditObject(ObjectKind.PATIENT, "PAT-1", name="Müller^Jürgen"),
        AuditObject(ObjectKind.FILE, (work / "x.dcm").as_uri(), name="x.dcm")))
    sink = parse_sink(url)
    message = dicom_messages(event, source)[0]
    payload = sink.payload(event, message, source)
    spool = Spool(work / "spool-add")
    start = time.perf_counter()
    for _ in range(messages):
        spool.add(sink.name, payload)
    add_rate = messages / (time.perf_counter() - start)
    spool.close()

    before = len(receiver.records())
    trail = open_trail([url], work / "spool-trail")
    start = time.perf_counter()
    for _ in range(messages):
        trail.handle(event)
    handle_rate = messages / (time.perf_counter() - start)
    start = time.perf_counter()
    deadline = start + 300
    while time.perf_counter() < deadline and _depth(trail) > 0:
        trail.flush(time.monotonic() + 30)
    stored = _wait_stored(receiver, before + messages, 60) - before
    flush_rate = messages / (time.perf_counter() - start)
    trail.close()
    print(f"\n2. spool throughput ({messages} messages of {len(payload)} bytes)")
    print(f"Spool.add (one transaction each, synchronous=NORMAL): {add_rate:8.0f} messages/s")
    print(f"Trail.handle (build + frame + spool):              {handle_rate:8.0f} messages/s")
    print(f"Trail.flush to rsyslog over TLS (until stored):    {flush_rate:8.0f} messages/s "
          f"({stored} of {messages} stored)")
    if stored < messages or trail.errors:
        print(f"MISSING: {messages - stored} messages; errors: {trail.errors[:3]}",
              file=sys.stderr)
        raise SystemExit(1)


def _depth(trail: Any) -> int:
    return int(trail.spool.status().depth)


def _startup(work: Path, repeats: int) -> None:
    """``verify`` and ``sign`` of one small file with the default audit (the file sink in the
    state folder) and with ``--audit off``: median wall and CPU of ``repeats`` interleaved
    runs, one warm-up each."""
    tool = _dicomsec()
    env = {**ENV, "XDG_STATE_HOME": str(work / "state"), "XDG_CONFIG_HOME": str(work / "cfg")}
    small, signed = _small_file(), work / "startup-signed.dcm"
    key = ["--key", str(KEY), "--cert", str(CERT)]
    commands = {"verify": [*tool, "verify", str(signed), "--trust", str(PKI / "ca.cert.pem")],
                "sign": [*tool, "sign", str(small), "-o", str(work / "startup-out.dcm"), *key]}
    modes = {"file sink": [], "--audit off": ["--audit", "off"]}
    _run([*tool, "sign", str(small), "-o", str(signed), *key, "--audit", "off"], env)
    times: dict[tuple[str, str], list[tuple[float, float, int]]] = {}
    for repeat in range(repeats + 1):
        for name, cmd in commands.items():
            for mode, extra in modes.items():
                row = _run([*cmd, *extra], env)
                if repeat:  # the first round is the warm-up
                    times.setdefault((name, mode), []).append(row)
    print(f"\n3. start-up of one small file, median of {repeats} interleaved runs")
    for name in commands:
        walls = {m: statistics.median(r[0] for r in times[(name, m)]) for m in modes}
        cpus = {m: statistics.median(r[1] for r in times[(name, m)]) for m in modes}
        print(f"{name:<7} file sink {walls['file sink'] * 1000:6.1f} ms wall "
              f"{cpus['file sink'] * 1000:6.1f} ms CPU; --audit off "
              f"{walls['--audit off'] * 1000:6.1f} / {cpus['--audit off'] * 1000:6.1f} ms; "
              f"auditing adds {(walls['file sink'] - walls['--audit off']) * 1000:+.1f} ms wall "
              f"({_cost(walls['file sink'], walls['--audit off']):+.1f} %), "
              f"{(cpus['file sink'] - cpus['--audit off']) * 1000:+.1f} ms CPU "
              f"({_cost(cpus['file sink'], cpus['--audit off']):+.1f} %)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=1000, help="files signed each way")
    parser.add_argument("--batch", type=int, default=25, help="files per interleaved batch")
    parser.add_argument("--messages", type=int, default=2000, help="messages for throughput")
    parser.add_argument("--startup", type=int, default=15,
                        help="interleaved runs of verify / sign with and without auditing "
                             "(0: skip)")
    args = parser.parse_args()
    print(f"dicomsec: {' '.join(_dicomsec())}; {os.cpu_count()} CPUs; load "
          f"{', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory(prefix="dicomsec-audit-bench-") as tmp:
        work = Path(tmp)
        with _receiver(work / "rsyslog") as receiver:
            spool = work / "spool"
            audit = ["--audit", _tls_url(receiver), "--audit-spool", str(spool)]
            runs = _signing(work, args.files, args.batch, audit, spool)
            _report_signing(runs)
            stored = _wait_stored(receiver, args.files + 1, 30)
            print(f"receiver stored {stored} messages for {args.files + 1} audited signings "
                  f"(warm-up included; duplicates: {max(stored - args.files - 1, 0)})")
            if stored < args.files + 1:
                print(receiver.diagnostics()[-2000:], file=sys.stderr)
                return 1
            _throughput(work, receiver, args.messages)
        if args.startup:
            _startup(work, args.startup)
    return 0


if __name__ == "__main__":
    sys.exit(main())
