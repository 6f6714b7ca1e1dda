"""The trail without a receiver: configuration precedence, the file and FHIR file sinks,
"off", errors collected (never raised), a bounded close on a receiver that never answers,
the background flusher, and fork."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from dicomsec.audit._config import resolve, state_folder
from dicomsec.audit.messages import AuditSource, dicom_messages
from dicomsec.audit.schema import validate
from dicomsec.audit.sinks import FileSink
from dicomsec.audit.trail import FlushReport, open_trail
from dicomsec.errors import InvalidInput
from dicomsec.events import AuditEvent, AuditObject, ObjectKind, Operation, Outcome
from tests.audit.receiver import PKI_SYSLOG

SOURCE = AuditSource.local()
PKI = PKI_SYSLOG.resolve()


def sign_event(n: int = 0) -> AuditEvent:
    return AuditEvent(Operation.SIGN, objects=(
        AuditObject(ObjectKind.STUDY, f"1.2.826.0.1.3680043.2.1125.{n}",
                    sop_classes=(("1.2.840.10008.5.1.4.1.1.2", (f"1.2.3.{n}",)),)),
        AuditObject(ObjectKind.PATIENT, f"PID-{n}", name="Müller^Jürgen"),
        AuditObject(ObjectKind.FILE, f"file:///data/{n}.dcm", name=f"{n}.dcm")))


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in ("DICOMSEC_AUDIT", "DICOMSEC_AUDIT_SPOOL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    return tmp_path


def test_precedence(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tmp = clean_env
    default = resolve()
    assert state_folder() == tmp / "state" / "dicomsec"
    assert default.urls == ((tmp / "state" / "dicomsec" / "audit.log").as_uri(),)
    assert default.spool == tmp / "state" / "dicomsec" / "audit-spool" and default.bound == 2.0
    conf = tmp / "config" / "dicomsec" / "audit.toml"
    conf.parent.mkdir(parents=True)
    conf.write_text('sinks = ["file:///from/config.log"]\nspool = "/from/config"\nbound = 0.5\n')
    assert resolve() == resolve([])
    assert resolve().urls == ("file:///from/config.log",)
    assert (resolve().spool, resolve().bound) == (Path("/from/config"), 0.5)
    monkeypatch.setenv("DICOMSEC_AUDIT", "file:///env/a.log, syslog+udp://h:1  file:///b")
    monkeypatch.setenv("DICOMSEC_AUDIT_SPOOL", "/from/env")
    assert resolve().urls == ("file:///env/a.log", "syslog+udp://h:1", "file:///b")
    assert resolve().spool == Path("/from/env")
    given = resolve(["file:///given.log"], tmp / "given", 3.0)
    assert (given.urls, given.spool, given.bound) == (("file:///given.log",), tmp / "given", 3.0)
    monkeypatch.setenv("DICOMSEC_AUDIT", "off")
    assert resolve().off and resolve().urls == ()
    with pytest.raises(InvalidInput, match="off"):
        resolve(["off", "file:///x"])
    conf.write_text("sinks = 3\n")
    with pytest.raises(InvalidInput, match="sinks"):
        resolve(["file:///x"])


def test_off_trail_has_no_handler(clean_env: Path) -> None:
    trail = open_trail(["off"], clean_env / "spool", source=SOURCE)
    assert trail.handlers == () and trail.off
    trail.handle(sign_event())
    assert trail.flush().ok and trail.errors == []
    trail.close()
    assert not (clean_env / "spool").exists()


def test_default_file_sink(clean_env: Path) -> None:
    trail = open_trail(source=SOURCE)
    event = AuditEvent(Operation.REIDENTIFY, Outcome.SUCCESS,
                       objects=sign_event().objects)  # two DICOM messages
    trail.handlers[0](event)
    trail.close()
    log = clean_env / "state" / "dicomsec" / "audit.log"
    lines = [json.loads(line) for line in log.read_text("utf-8").splitlines()]
    expected = dicom_messages(event, SOURCE)
    assert [(x["event_id"], x["outcome"]) for x in lines] == [
        (m.event_id, m.outcome) for m in expected] == [("110103", 0), ("110113", 0)]
    for line, message in zip(lines, expected, strict=True):
        assert line["xml"].encode() == message.xml and validate(message.xml) == []
        assert line["time"] == event.when.isoformat()
    assert oct(log.stat().st_mode & 0o777) == "0o600"
    assert trail.spool is not None and trail.spool.status().depth == 0


def test_fhir_file_sink(clean_env: Path) -> None:
    from dicomsec.audit.fhir import validate_fhir

    out = clean_env / "audit.ndjson"
    trail = open_trail([out.as_uri().replace("file:", "fhir-file:")], clean_env / "spool",
                       source=SOURCE)
    trail.handle(AuditEvent(Operation.REIDENTIFY, objects=sign_event().objects))
    trail.handle(sign_event(1))
    trail.close()
    resources = [json.loads(line) for line in out.read_text("utf-8").splitlines()]
    assert len(resources) == 2  # one per event, not per DICOM message
    assert all(r["resourceType"] == "AuditEvent" and validate_fhir(r) == [] for r in resources)


def test_errors_collected_never_raised(clean_env: Path) -> None:
    udp = "syslog+udp://127.0.0.1:9?max=480"
    log = clean_env / "a.log"
    trail = open_trail([udp, log.as_uri()], clean_env / "spool", source=SOURCE)
    trail.handle(sign_event())  # too big for a 480-octet UDP sink: refused, the file gets it
    assert len(trail.errors) == 1 and "over the limit of 480" in trail.errors[0]
    assert trail.spool is not None
    assert trail.spool.depth("syslog+udp://127.0.0.1:9") == 0
    assert trail.spool.depth(log.as_uri()) == 1
    trail.close()


def test_unwritable_spool_refused_at_open(clean_env: Path) -> None:
    (clean_env / "blocker").write_text("")
    with pytest.raises(InvalidInput, match="spool"):
        open_trail(["file:///x.log"], clean_env / "blocker" / "spool", source=SOURCE)
    with pytest.raises(InvalidInput, match="twice"):
        open_trail(["file:///x.log", "file:///x.log"], clean_env / "s", source=SOURCE)


@pytest.fixture
def silent_endpoint() -> Iterator[int]:
    """A TCP port whose kernel accepts connections that nobody ever answers (a hung
    receiver: the TLS handshake would wait forever without a deadline)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(200)
        yield listener.getsockname()[1]


def _tls_url(port: int) -> str:
    return (f"syslog+tls://127.0.0.1:{port}?ca={PKI}/ca.cert.pem"
            f"&cert={PKI}/client.cert.pem&key={PKI}/client.key.pem")


def test_close_is_bounded_on_a_hung_receiver(clean_env: Path, silent_endpoint: int) -> None:
    bound = 0.5
    spool = clean_env / "spool"
    for n in range(3):
        trail = open_trail([_tls_url(silent_endpoint)], spool, bound=bound, source=SOURCE)
        trail.handle(sign_event(n))
        started = time.monotonic()
        trail.close()
        assert time.monotonic() - started < bound + 1.0  # a hang check, not a speed test
    trail = open_trail([_tls_url(silent_endpoint)], spool, bound=bound, source=SOURCE)
    report = trail.flush(time.monotonic() + bound)
    assert isinstance(report, FlushReport) and not report.ok and report.remaining == 3
    assert "timed out" in (report.sinks[0].error or "")
    assert trail.spool is not None and trail.spool.status().sinks[0].last_error
    trail.close()


def test_background_flusher(clean_env: Path) -> None:
    log = clean_env / "bg.log"
    trail = open_trail([log.as_uri()], clean_env / "spool", source=SOURCE)
    trail.start_background(0.05)
    trail.handle(sign_event())
    limit = time.monotonic() + 10
    while not log.exists() and time.monotonic() < limit:
        time.sleep(0.02)
    assert log.exists() and len(log.read_text().splitlines()) == 1
    trail.close()


def test_fork_child_spools_and_delivers(clean_env: Path) -> None:
    log = clean_env / "fork.log"
    trail = open_trail([log.as_uri()], clean_env / "spool", source=SOURCE)
    trail.start_background(0.05)
    trail.handle(sign_event(0))
    pid = os.fork()
    if pid == 0:
        try:
            trail.handle(sign_event(1))
            limit = time.monotonic() + 10
            while not trail.flush().ok and time.monotonic() < limit:
                time.sleep(0.01)  # the parent's flusher may hold the sink's lease
            os._exit(0 if trail.flush().ok and not trail.errors else 1)
        except BaseException:
            os._exit(2)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    trail.close()
    ids = sorted(json.loads(x)["xml"].count("PID-1") for x in log.read_text().splitlines())
    assert ids == [0, 1]


def test_sink_failure_keeps_rows(clean_env: Path) -> None:
    folder = clean_env / "not-a-folder"
    folder.write_text("")
    trail = open_trail([(folder / "a.log").as_uri()], clean_env / "spool", source=SOURCE)
    trail.handle(sign_event())
    report = trail.flush()
    assert not report.ok and report.remaining == 1 and "cannot append" in str(report.sinks[0].error)
    assert isinstance(trail.sinks[0], FileSink)
    trail.close()


def test_threads_handle_while_the_background_flusher_runs(clean_env: Path) -> None:
    log = clean_env / "threads.log"
    trail = open_trail([log.as_uri()], clean_env / "spool", source=SOURCE)
    trail.start_background(0.01)

    def work(base: int) -> None:
        for n in range(base, base + 25):
            trail.handle(sign_event(n))

    threads = [threading.Thread(target=work, args=(25 * k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    trail.close()
    assert trail.errors == []
    assert trail.spool is not None and trail.spool.status().depth == 0
    seen = sorted(int(json.loads(x)["xml"].split("PID-")[1].split('"')[0])
                  for x in log.read_text("utf-8").splitlines())
    assert seen == list(range(100))  # every record, exactly once


class _Broken(FileSink):
    def deliver(self, payloads: Sequence[bytes], deadline: float) -> int:
        raise RuntimeError("sink defect")


def test_a_raising_sink_keeps_its_rows(clean_env: Path) -> None:
    from dicomsec.audit.spool import Spool
    from dicomsec.audit.trail import Trail

    trail = Trail([_Broken(clean_env / "x.log")], Spool(clean_env / "spool"), SOURCE, 1.0)
    trail.handle(sign_event())
    report = trail.flush()
    assert not report.ok and report.remaining == 1
    assert report.sinks[0].error == "RuntimeError: sink defect"
    trail.close()


@pytest.mark.parametrize(("urls", "env", "conf"), [
    ([" "], None, None), (["", "file:///x"], None, None),
    (None, ",", None), (None, " \t", None),
    (None, None, "sinks = []\n"), (None, None, 'sinks = [" "]\n'),
], ids=["--audit ' '", "empty among URLs", "env comma", "env blank", "sinks []", "sinks blank"])
def test_only_off_turns_auditing_off(clean_env: Path, monkeypatch: pytest.MonkeyPatch,
                                     urls: list[str] | None, env: str | None,
                                     conf: str | None) -> None:
    """A junk setting that yields no URL is InvalidInput, never a trail without a sink."""
    if env is not None:
        monkeypatch.setenv("DICOMSEC_AUDIT", env)
    if conf is not None:
        path = clean_env / "config" / "dicomsec" / "audit.toml"
        path.parent.mkdir(parents=True)
        path.write_text(conf)
    with pytest.raises(InvalidInput, match="names no sink"):
        open_trail(urls, clean_env / "spool", source=SOURCE)
    assert not (clean_env / "spool").exists()


@pytest.mark.parametrize("bound", [0, -1, float("nan"), float("inf"), 301, True])
def test_bound_is_finite_and_at_most_300(clean_env: Path, bound: float) -> None:
    with pytest.raises(InvalidInput, match="bound"):
        resolve(["file:///x"], clean_env / "spool", bound)
    path = clean_env / "config" / "dicomsec" / "audit.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"bound = {str(bound).lower()}\n")
    with pytest.raises(InvalidInput, match="bound"):
        resolve()


def test_config_file_skipped_when_off_and_refused_when_not_regular(
        clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A FIFO as the config file: never opened when auditing is off or the caller gave
    everything; refused (not waited on) when it is still needed."""
    path = clean_env / "config" / "dicomsec" / "audit.toml"
    path.parent.mkdir(parents=True)
    os.mkfifo(path)
    assert resolve(["off"]).off
    monkeypatch.setenv("DICOMSEC_AUDIT", "off")
    assert resolve().off
    monkeypatch.delenv("DICOMSEC_AUDIT")
    given = resolve(["file:///x.log"], clean_env / "spool", 1.0)
    assert given.urls == ("file:///x.log",)
    with pytest.raises(InvalidInput, match="not a regular file"):
        resolve()


def test_a_url_given_is_one_url(clean_env: Path) -> None:
    """Each given value is one URL (a path with a space works as given); the environment
    variable is split on spaces and commas."""
    spaced = (clean_env / "a b" / "audit.log").as_uri().replace("%20", " ")
    assert resolve([spaced]).urls == (spaced,)
    trail = open_trail([spaced], clean_env / "spool", source=SOURCE)
    trail.handle(sign_event())
    trail.close()
    assert (clean_env / "a b" / "audit.log").exists() and trail.errors == []


def test_open_and_handle_import_only_what_they_need(clean_env: Path) -> None:
    """Start-up cost: opening a TLS trail and spooling a record imports no socket / ssl (only
    delivery does), no tomllib (no config file), no report classes and no JSON; closing a
    file trail builds no report."""
    import subprocess
    import sys

    code = f"""
import sys
from pathlib import Path
from dicomsec.audit.trail import open_trail
from dicomsec.events import AuditEvent, Operation
tls = open_trail(["syslog+tls://127.0.0.1:9?ca={PKI}/ca.cert.pem&cert={PKI}/client.cert.pem"
                  "&key={PKI}/client.key.pem"], Path({str(clean_env / "s1")!r}))
tls.handle(AuditEvent(Operation.SIGN))
assert tls.errors == [], tls.errors
tls.spool.close()
log = open_trail([Path({str(clean_env / "a.log")!r}).as_uri()], Path({str(clean_env / "s2")!r}))
log.close()
print(" ".join(m for m in ("ssl", "socket", "selectors", "tomllib", "json",
                           "dicomsec.audit._reports") if m in sys.modules))
"""
    env = {**os.environ, "XDG_CONFIG_HOME": str(clean_env / "config")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == []
