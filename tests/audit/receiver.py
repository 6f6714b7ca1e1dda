"""A real rsyslog receiver for the audit tests (RFC 5425 TLS + RFC 5426 UDP on 127.0.0.1).

Built from ``tests/data/rsyslog/atna-receiver.conf.in`` (a copy of the shared fixture) with
free ports and a RUN folder of its own: ``rsyslogd -n`` is started as a child process of the
test, its diagnostics go to ``RUN/rsyslogd.stderr`` and what it receives to ``RUN/atna.jsonl``
(one JSON object per message, keys as in ``tests/data/rsyslog/README.md``). ``stop()`` and
``start()`` again reuse the same ports and files (a receiver that restarts).

Needs the Debian packages ``rsyslog`` and ``rsyslog-gnutls``: :func:`require_receiver` fails
under ``CI=true`` when either is missing, and skips otherwise.
"""

from __future__ import annotations

import contextlib
import glob
import json
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

from tests.conftest import DATA, peer_missing, require_tool

RSYSLOG_DATA = DATA / "rsyslog"
PKI_SYSLOG = DATA / "pki-syslog"

#: where Debian (and other layouts) keep rsyslog's GnuTLS network stream driver
_GTLS_PATTERNS = ("/usr/lib/*/rsyslog/lmnsd_gtls.so", "/usr/lib/rsyslog/lmnsd_gtls.so",
                  "/usr/lib64/rsyslog/lmnsd_gtls.so")


def require_receiver() -> str:
    """Path of ``rsyslogd`` with its gtls driver; fails under CI=true when either is missing."""
    path = require_tool("rsyslogd")
    if not any(glob.glob(p) for p in _GTLS_PATTERNS):
        peer_missing("rsyslog's gtls module (Debian package rsyslog-gnutls) is not installed")
    return path


def _free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Receiver:
    """One throw-away rsyslogd listening on free 127.0.0.1 ports (TLS and UDP)."""

    def __init__(self, run: Path) -> None:
        self.rsyslogd = require_receiver()
        self.run = run
        run.mkdir(parents=True, exist_ok=True)
        self.tls_port = _free_port(socket.SOCK_STREAM)
        self.udp_port = _free_port(socket.SOCK_DGRAM)
        text = (RSYSLOG_DATA / "atna-receiver.conf.in").read_text()
        text = text.replace("@PKI@", str(PKI_SYSLOG.resolve())).replace("@RUN@", str(run))
        text = text.replace('port="6514"', f'port="{self.tls_port}"')
        text = text.replace('port="5514"', f'port="{self.udp_port}"')
        self.conf = run / "rsyslog.conf"
        self.conf.write_text(text)
        self.store = run / "atna.jsonl"
        self.stderr = run / "rsyslogd.stderr"
        self._proc: subprocess.Popen[bytes] | None = None
        subprocess.run([self.rsyslogd, "-N1", "-f", str(self.conf)], check=True,
                       capture_output=True, timeout=30)

    # --- life cycle ------------------------------------------------------------------------

    def start(self) -> None:
        """Start rsyslogd and wait until its TLS port accepts connections."""
        assert self._proc is None, "already running"
        pid = self.run / "rsyslogd.pid"
        with contextlib.suppress(FileNotFoundError):
            pid.unlink()
        with open(self.stderr, "ab") as err:
            self._proc = subprocess.Popen(
                [self.rsyslogd, "-n", "-f", str(self.conf), "-i", str(pid)],
                stdout=err, stderr=err, stdin=subprocess.DEVNULL)
        limit = time.monotonic() + 20
        while time.monotonic() < limit:
            if self._proc.poll() is not None:
                raise RuntimeError("rsyslogd exited: " + self.stderr.read_text(errors="replace"))
            try:
                socket.create_connection(("127.0.0.1", self.tls_port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("rsyslogd did not open its TLS port")

    def stop(self) -> None:
        """Stop rsyslogd (SIGTERM, then wait; it writes what it holds before exiting)."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    # --- what arrived ----------------------------------------------------------------------

    def records(self) -> list[dict[str, Any]]:
        """Every message stored so far (complete lines only)."""
        if not self.store.exists():
            return []
        lines = self.store.read_bytes().split(b"\n")
        return [json.loads(line) for line in lines[:-1] if line.strip()]

    def wait_for(self, count: int, timeout: float = 20.0,
                 quiet: float = 0.3) -> list[dict[str, Any]]:
        """The stored messages once at least ``count`` are there and nothing new has come for
        ``quiet`` seconds (so that extra duplicates would be seen), or at ``timeout``."""
        limit = time.monotonic() + timeout
        seen, since = -1, time.monotonic()
        while time.monotonic() < limit:
            found = self.records()
            if len(found) != seen:
                seen, since = len(found), time.monotonic()
            elif seen >= count and time.monotonic() - since >= quiet:
                return found
            time.sleep(0.05)
        return self.records()

    def diagnostics(self) -> str:
        return self.stderr.read_text(errors="replace") if self.stderr.exists() else ""


@contextlib.contextmanager
def running_receiver(run: Path) -> Any:
    """A started :class:`Receiver`, stopped on exit."""
    receiver = Receiver(run)
    receiver.start()
    try:
        yield receiver
    finally:
        receiver.stop()
