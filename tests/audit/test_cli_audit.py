"""The audit trail in the command line tool: ``--audit`` / ``--audit-spool`` on every command,
a spool that cannot be written (exit 2, nothing done), a record that could not be spooled
(exit 2), no trail for commands that never audit, and ``dicomsec audit validate / tail / flush /
status`` (issue 11)."""

from __future__ import annotations

import io
import json
import os
import select
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dicomsec.cli import _audit
from dicomsec.cli import main as cli_main
from dicomsec.errors import InvalidInput
from tests.conftest import PKI, PYDICOM_FILES

AUDIT_DATA = Path(__file__).parent.parent / "data" / "audit"
SYSLOG_PKI = Path(__file__).parent.parent / "data" / "pki-syslog"


@pytest.fixture(autouse=True)
def _own_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A state and config folder of this test's own (the default sinks land there)."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("DICOMSEC_AUDIT", raising=False)
    monkeypatch.delenv("DICOMSEC_AUDIT_SPOOL", raising=False)
    return tmp_path / "state" / "dicomsec"


def _log_records(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]


def _dead_tls_url() -> str:
    """A syslog+tls sink on a 127.0.0.1 port where nothing listens."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return (f"syslog+tls://127.0.0.1:{port}?ca={SYSLOG_PKI / 'ca.cert.pem'}"
            f"&cert={SYSLOG_PKI / 'client.cert.pem'}&key={SYSLOG_PKI / 'client.key.pem'}")


# ------------------------------------------------------------------------------------------
# the options


@pytest.mark.parametrize(("args", "rest", "urls", "spool"), [
    (["--audit", "off", "sign", "x"], ["sign", "x"], ["off"], None),
    (["sign", "x", "--audit=file:///a.log", "--audit", "fhir-file:///b.ndjson"],
     ["sign", "x"], ["file:///a.log", "fhir-file:///b.ndjson"], None),
    (["verify", "--audit-spool", "/s", "x"], ["verify", "x"], None, "/s"),
    (["verify", "--audit-spool=/s", "x", "--", "--audit", "y"],
     ["verify", "x", "--", "--audit", "y"], None, "/s"),
    (["limits"], ["limits"], None, None),
])
def test_split_args(args: list[str], rest: list[str], urls: list[str] | None,
                    spool: str | None) -> None:
    got, options = _audit.split_args(args)
    assert got == rest
    assert options.urls == urls
    assert options.spool == (Path(spool) if spool else None)


@pytest.mark.parametrize("args", [["verify", "x", "--audit"], ["--audit=", "limits"],
                                  ["limits", "--audit-spool"]])
def test_option_without_value(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(InvalidInput):
        _audit.split_args(args)
    assert cli_main(args) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "takes a value" in err


@pytest.mark.parametrize(("args", "needed"), [
    (["sign", "a", "-o", "b"], True), (["verify", "a"], True), (["audit", "tail"], True),
    (["audit", "flush"], True), (["scp", "--port", "1"], True),
    (["limits"], False), (["audit", "validate", "x"], False), (["audit", "status"], False),
    (["audit"], False), ([], False), (["sign", "--help"], False), (["-h"], False),
    (["--version"], False), (["verify", "-h", "a"], False),
])
def test_needs_trail(args: list[str], needed: bool) -> None:
    assert _audit.needs_trail(args) is needed


def test_no_trail_outside_main() -> None:
    assert _audit.current_trail() is None
    assert _audit.audit_handlers() == ()


@pytest.mark.parametrize("args", [["limits"], ["audit", "status"], ["sign", "--help"]])
def test_commands_without_trail_open_no_spool(args: list[str], _own_state: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(args) == 0
    assert not _own_state.exists()  # no spool, no log: nothing was opened


def test_off_opens_nothing(_own_state: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["--audit", "off", "audit", "flush"]) == 0
    assert "auditing is off" in capsys.readouterr().out
    assert not _own_state.exists()


def test_off_mixed_with_a_sink_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["--audit", "off", "--audit", "file:///tmp/x.log", "audit", "flush"]) == 2
    assert "'off' cannot be combined" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------
# the trail around a command


def test_default_file_sink_in_the_state_folder(_own_state: Path) -> None:
    """No configuration: the file sink in the state folder; the record is delivered when
    the command ends (the flush command's own Audit Log Used record)."""
    assert cli_main(["audit", "flush"]) == 0
    records = _log_records(_own_state / "audit.log")
    assert [r["event_id"] for r in records] == ["110101"]
    assert (_own_state / "audit-spool" / "spool.sqlite3").exists()


def test_options_anywhere_and_several_sinks(tmp_path: Path) -> None:
    log, fhir, spool = tmp_path / "a.log", tmp_path / "a.ndjson", tmp_path / "spool"
    assert cli_main(["audit", "--audit", log.as_uri(), "flush", f"--audit-spool={spool}",
                     "--audit", f"fhir-file://{fhir}"]) == 0
    assert len(_log_records(log)) == 1
    (resource,) = _log_records(fhir)
    assert resource["resourceType"] == "AuditEvent"
    assert (spool / "spool.sqlite3").exists()
    assert cli_main(["audit", "validate", str(log), str(fhir)]) == 0


def test_unwritable_spool_stops_the_command(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    """A spool that cannot be written: exit 2, one line, and the command never ran (the
    signed output is not written)."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the spool folder should be")
    out = tmp_path / "signed.dcm"
    rc = cli_main(["sign", str(PYDICOM_FILES / "CT_small.dcm"), "-o", str(out),
                   "--key", str(PKI / "signer-ecp256.key.pem"),
                   "--cert", str(PKI / "signer-ecp256.cert.pem"),
                   "--audit-spool", str(blocker / "spool")])
    assert rc == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "spool" in err
    assert not out.exists()
    assert _audit.current_trail() is None  # main() left nothing behind


def test_record_not_spooled_fails_the_command(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    """A record the sink refuses (over a UDP receiver's 480-octet limit: never cut) is not
    spooled: the command ends with exit 2 and one line, although its work succeeded."""
    rc = cli_main(["--audit", "syslog+udp://127.0.0.1:9?max=480", "--audit-spool",
                   str(tmp_path / "spool"), "audit", "flush"])
    assert rc == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: audit record not kept:")


def test_bad_url_is_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["--audit", "gopher://x", "audit", "flush"]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_handlers_during_the_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Inside main() a command sees the trail and its handler (services call
    start_background() on it); after main() nothing is left."""
    from dicomsec.cli.commands import audit as audit_cmd

    seen: list[object] = []

    def spy(path: Path, flush: bool = False) -> None:
        trail = _audit.current_trail()
        seen.extend([trail, _audit.audit_handlers()])

    monkeypatch.setattr(audit_cmd, "_log_used", spy)
    assert cli_main(["--audit-spool", str(tmp_path / "s"), "audit", "flush"]) == 0
    trail, handlers = seen
    assert trail is not None and handlers == (trail.handle,)  # type: ignore[attr-defined]
    assert _audit.current_trail() is None


# ------------------------------------------------------------------------------------------
# audit validate


def test_validate_samples_and_the_invalid_one(capsys: pytest.CaptureFixture[str]) -> None:
    valid = sorted(p for p in AUDIT_DATA.glob("*.xml") if not p.name.startswith("invalid"))
    assert valid
    assert cli_main(["audit", "validate", *map(str, valid)]) == 0
    capsys.readouterr()
    invalid = AUDIT_DATA / "invalid-missing-audit-source.xml"
    assert cli_main(["audit", "validate", "--json", str(valid[0]), str(invalid)]) == 1
    results = json.loads(capsys.readouterr().out)
    assert [r["valid"] for r in results] == [True, False]
    assert results[1]["problems"]


def test_validate_unreadable_and_garbage(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["audit", "validate", str(tmp_path / "missing.log")]) == 2
    garbage = tmp_path / "garbage.log"
    garbage.write_text('{"no": "record"}\nnot json\n')
    assert cli_main(["audit", "validate", str(garbage)]) == 1
    err = capsys.readouterr().err
    assert "garbage.log:1:" in err and "garbage.log:2:" in err


def test_validate_reads_rsyslog_lines(tmp_path: Path) -> None:
    """rsyslog's stored JSON (``msg`` with the UTF-8 BOM) validates like the file sink."""
    xml = (AUDIT_DATA / "application-activity-start.xml").read_bytes()
    stored = tmp_path / "atna.jsonl"
    stored.write_text(json.dumps({"msg": "\ufeff" + xml.decode("utf-8")}) + "\n")
    assert cli_main(["audit", "validate", str(stored)]) == 0


# ------------------------------------------------------------------------------------------
# audit tail, flush, status


def test_tail_shows_records_and_logs_its_own_use(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "a.log"
    common = ["--audit", log.as_uri(), "--audit-spool", str(tmp_path / "s")]
    assert cli_main([*common, "audit", "flush"]) == 0
    capsys.readouterr()
    assert cli_main([*common, "audit", "tail"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1 and "Audit Log Used" in out[0] and "outcome 0" in out[0]
    # tail's own record arrived after it read the log
    assert cli_main([*common, "audit", "tail", "--json", "-n", "5"]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert len(lines) == 2 and all(r["event_id"] == "110101" for r in lines)
    assert all(str(log) in r["xml"] or "a.log" in r["xml"] for r in lines[1:])


def test_tail_without_a_log(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["audit", "tail", "--file", str(tmp_path / "none.log")]) == 2
    assert "no audit log yet" in capsys.readouterr().err


def test_tail_follow(tmp_path: Path) -> None:
    """--follow prints what is appended later (a child process, ended by SIGTERM)."""
    log = tmp_path / "a.log"
    log.write_text("")
    env = {**os.environ, "DICOMSEC_AUDIT": "off"}
    child = subprocess.Popen([sys.executable, "-m", "dicomsec", "audit", "tail", "--follow",
                              "--json", "--file", str(log), "--interval", "0.05"],
                             stdout=subprocess.PIPE, env=env)
    try:
        time.sleep(0.5)
        xml = (AUDIT_DATA / "application-activity-start.xml").read_text("utf-8")
        with open(log, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"event_id": "110100", "xml": xml}) + "\n")
        assert child.stdout is not None
        line = child.stdout.readline()
    finally:
        child.terminate()
        child.wait(timeout=20)
    assert json.loads(line)["event_id"] == "110100"


def test_flush_and_status_with_a_dead_receiver(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """A receiver that is down: the command itself succeeds within its bound and its record
    waits in the spool; ``audit flush`` says why it could not deliver (exit 1); ``audit
    status`` shows the depth and the error (exit 1)."""
    common = ["--audit", _dead_tls_url(), "--audit-spool", str(tmp_path / "s")]
    assert cli_main([*common, "audit", "tail", "--file",
                     str(AUDIT_DATA / "application-activity-start.xml")]) == 0
    capsys.readouterr()
    assert cli_main([*common, "audit", "flush"]) == 1
    err = capsys.readouterr().err
    assert "error: syslog+tls://127.0.0.1:" in err and "waiting" in err
    assert cli_main([*common, "audit", "status", "--json"]) == 1
    status = json.loads(capsys.readouterr().out)
    (sink,) = status["sinks"]
    assert sink["depth"] == 2 and sink["last_error"] and status["ok"] is False
    assert "?" not in sink["sink"]  # the URL's query is not shown


def test_status_without_a_spool(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["audit", "status", "--audit-spool", str(tmp_path / "none")]) == 0
    assert "0 waiting" in capsys.readouterr().out
    assert not (tmp_path / "none").exists()


# ------------------------------------------------------------------------------------------
# the dicomsec program: network sinks delivered by a detached child


def test_program_delivers_to_tls_after_it_ends(tmp_path: Path) -> None:
    """The ``dicomsec`` program writes the file sink before it exits and leaves the TLS
    receiver to a detached child: the run returns at once (within 5 s: its output pipe is not
    held open by the child); the record reaches a real rsyslog and leaves the spool; once
    the child has ended it is there exactly once."""
    from tests.audit.receiver import running_receiver

    with running_receiver(tmp_path / "rsyslog") as receiver:
        url = (f"syslog+tls://127.0.0.1:{receiver.tls_port}?ca={SYSLOG_PKI / 'ca.cert.pem'}"
               f"&cert={SYSLOG_PKI / 'client.cert.pem'}&key={SYSLOG_PKI / 'client.key.pem'}")
        log, spool = tmp_path / "a.log", tmp_path / "spool"
        done = subprocess.run(  # returns at once: the delivery is not waited for
            [sys.executable, "-m", "dicomsec", "--audit", url, "--audit", log.as_uri(),
             "--audit-spool", str(spool), "audit", "tail", "--file",
             str(AUDIT_DATA / "application-activity-start.xml")],
            capture_output=True, timeout=5, check=False)
        assert done.returncode == 0, done.stderr
        (local,) = _log_records(log)  # written before the program ended
        stored = receiver.wait_for(1, timeout=30)
        assert len(stored) == 1
        assert stored[0]["msg"].encode().removeprefix(b"\xef\xbb\xbf") == \
            str(local["xml"]).encode()
        assert _spool_empties(spool)  # the child removes the row once the receiver took it
        assert _children_end(str(spool))
        assert len(receiver.wait_for(1, timeout=5)) == 1  # exactly once, the child gone


def _children_end(marker: str, seconds: float = 30.0) -> bool:
    """Whether every process whose command line holds ``marker`` (the detached delivery
    children of a run: forks of the program, same arguments) has ended within ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        alive = []
        for entry in Path("/proc").iterdir():
            try:
                if entry.name.isdigit() and marker.encode() in (entry / "cmdline").read_bytes():
                    alive.append(entry.name)
            except OSError:
                continue  # ended meanwhile
        if not alive:
            return True
        time.sleep(0.1)
    return False


def test_delivery_child_keeps_no_inherited_descriptor(tmp_path: Path) -> None:
    """The detached child lets go of the caller's descriptors: a pipe the caller gave the
    program on an extra descriptor reads end-of-file once the program has exited, although
    the child is still waiting on a receiver that never answers the TLS handshake."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # connections complete in the backlog; nobody ever speaks TLS
        port = silent.getsockname()[1]
        url = (f"syslog+tls://127.0.0.1:{port}?ca={SYSLOG_PKI / 'ca.cert.pem'}"
               f"&cert={SYSLOG_PKI / 'client.cert.pem'}&key={SYSLOG_PKI / 'client.key.pem'}")
        spool = tmp_path / "spool"
        read_end, write_end = os.pipe()
        try:
            child = subprocess.Popen(
                [sys.executable, "-m", "dicomsec", "--audit", url, "--audit-spool", str(spool),
                 "audit", "tail", "--file", str(AUDIT_DATA / "application-activity-start.xml")],
                pass_fds=(write_end,), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            os.close(write_end)
            _, err = child.communicate(timeout=60)
            assert child.returncode == 0, err
            readable, _, _ = select.select([read_end], [], [], 5.0)
            assert readable and os.read(read_end, 1) == b""  # every writer is gone
        finally:
            os.close(read_end)
    assert _children_end(str(spool))  # the listener closed: the child gave up


def _spool_empties(folder: Path, seconds: float = 30.0) -> bool:
    from dicomsec.audit.spool import Spool

    spool = Spool(folder)
    try:
        deadline = time.monotonic() + seconds
        while spool.status().depth:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.1)
        return True
    finally:
        spool.close()


# ------------------------------------------------------------------------------------------
# start-up: what auditing adds to a hot command

_MODULES = """
import sys
from dicomsec.cli import main
code = main(sys.argv[2:])
with open(sys.argv[1], "w") as out:
    out.write("\\n".join(sorted(sys.modules)))
sys.exit(code)
"""


@pytest.mark.parametrize("audit", [[], ["--audit", "off"]])
def test_sign_audited_imports_no_lxml(tmp_path: Path, audit: list[str]) -> None:
    """Auditing a signature (the default file sink) builds its message without lxml or the
    FHIR models; with --audit off not even the audit package is imported."""
    listing = tmp_path / "modules.txt"
    done = subprocess.run(
        [sys.executable, "-c", _MODULES, str(listing), "sign",
         str(PYDICOM_FILES / "CT_small.dcm"), "-o", str(tmp_path / "out.dcm"),
         "--key", str(PKI / "signer-ecp256.key.pem"),
         "--cert", str(PKI / "signer-ecp256.cert.pem"), *audit],
        capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    found = set(listing.read_text().split())
    assert {n.split(".")[0] for n in found} & {"lxml", "fhir", "fhir_core"} == set()
    if audit:
        assert not [m for m in found if m.startswith("dicomsec.audit")]
    else:
        assert "dicomsec.audit.trail" in found
        assert len(_log_records(tmp_path / "state" / "dicomsec" / "audit.log")) == 1


# ------------------------------------------------------------------------------------------
# review findings: tail (rotation, truncation, the last records), deep JSON, --debug, the
# test isolation, unexpected failures audited


def _line(n: str, pad: int = 0) -> str:
    """A file-sink-like record line, told apart by ``n`` (``--json`` prints it back)."""
    return json.dumps({"xml": "<AuditMessage/>", "n": n, "pad": "x" * pad}) + "\n"


class _Lines:
    """The lines a child prints, read by a thread (a bounded wait for each)."""

    def __init__(self, child: subprocess.Popen[bytes]) -> None:
        import queue
        import threading

        self.queue: queue.Queue[bytes] = queue.Queue()
        assert child.stdout is not None
        stream = child.stdout

        def pump() -> None:
            for line in stream:
                self.queue.put(line)

        threading.Thread(target=pump, daemon=True).start()

    def next(self) -> str:
        return str(json.loads(self.queue.get(timeout=20))["n"])


@pytest.mark.parametrize("how", ["rotate", "copytruncate"])
def test_tail_follow_rotation_and_truncation(tmp_path: Path, how: str) -> None:
    """--follow across a rotation (the log renamed, a new one created: what was appended to
    the old one is shown, then the new one from its start) and a copytruncate (the log cut
    to nothing and written again: read from its start)."""
    log = tmp_path / "a.log"
    log.write_text(_line("r0"))
    env = {**os.environ, "DICOMSEC_AUDIT": "off"}
    child = subprocess.Popen([sys.executable, "-m", "dicomsec", "audit", "tail", "--follow",
                              "--json", "-n", "1", "--file", str(log), "--interval", "0.05"],
                             stdout=subprocess.PIPE, env=env)
    try:
        lines = _Lines(child)
        assert lines.next() == "r0"
        with open(log, "a", encoding="utf-8") as fh:
            fh.write(_line("r1", pad=4000))
        assert lines.next() == "r1"
        if how == "rotate":
            with open(log, "a", encoding="utf-8") as fh:
                fh.write(_line("r2"))
            log.rename(tmp_path / "a.log.1")
            log.write_text(_line("r3"))
            assert [lines.next(), lines.next()] == ["r2", "r3"]
        else:
            (tmp_path / "a.log.1").write_bytes(log.read_bytes())
            with open(log, "r+", encoding="utf-8") as fh:
                fh.truncate(0)
            with open(log, "a", encoding="utf-8") as fh:
                fh.write(_line("r3"))
            assert lines.next() == "r3"
        with open(log, "a", encoding="utf-8") as fh:
            fh.write(_line("r4"))
        assert lines.next() == "r4"
    finally:
        child.terminate()
        child.wait(timeout=20)


def test_deeply_nested_json_is_a_bad_line(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    """A line nested too deeply for the JSON reader is a bad record (validate: exit 1; tail
    shows it as unreadable), never an internal error."""
    deep = tmp_path / "deep.log"
    deep.write_bytes(b"[" * 200_000 + b"\n" + _line("ok").encode())
    assert cli_main(["audit", "validate", str(deep)]) == 1
    assert "deep.log:1: JSON nested too deeply" in capsys.readouterr().err
    assert cli_main(["--audit", "off", "audit", "tail", "--file", str(deep)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "(unreadable line: JSON nested too deeply)" and len(out) == 2


def _old_tail(data: bytes, count: int) -> list[tuple[str, object, object]]:
    """What ``audit tail -n count`` showed before it read backwards: every record of the
    whole file up to its last newline, then the last ``count`` (all of them when there are
    fewer: the old slice went negative then and showed too few)."""
    from dicomsec.cli.commands.audit import read_records

    records = list(read_records(data[:data.rfind(b"\n") + 1]))
    return [(r.kind, r.content, r.raw) for r in records[max(0, len(records) - count) if count
                                                        else len(records):]]


_SAMPLE = (AUDIT_DATA / "application-activity-start.xml").read_bytes()


@pytest.mark.parametrize("data", [
    b"", b"no newline at all", _line("a").encode() + b"partial",
    b"\n\n" + _line("a").encode() + b"  \n\n" + _line("b").encode() + b"\n\n",
    b"a\rb\r\n\xef\xbb\xbf" + _SAMPLE.replace(b"\n", b" ") + b"\nnot json\n{}\n",
    _SAMPLE, b"\xef\xbb\xbf  \n" + _SAMPLE, _SAMPLE + b"\n" + _SAMPLE,
    b"".join(_line(str(i), pad=i % 50).encode() for i in range(300)),
], ids=["empty", "no-newline", "partial", "blanks", "mixed", "one-xml", "bom-xml",
        "two-xml", "many"])
@pytest.mark.parametrize("count", [0, 1, 3, 10, 1000])
def test_last_records_equal_the_whole_read(tmp_path: Path, data: bytes, count: int,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """``audit tail -n N`` reads blocks backwards (tiny blocks here, so that every path is
    taken): the records shown are those the whole file gave."""
    from dicomsec.cli.commands import audit as audit_cmd

    monkeypatch.setattr(audit_cmd, "_BLOCK", 7)
    log = tmp_path / "a.log"
    log.write_bytes(data)
    with open(log, "rb") as fh:
        records, end = audit_cmd.last_records(fh, count)
    assert [(r.kind, r.content, r.raw) for r in records] == _old_tail(data, count)
    assert end == data.rfind(b"\n") + 1


def test_tail_of_a_big_log_reads_its_end_only(tmp_path: Path) -> None:
    """A log of 20,000 records (~40 MB): the last 10 are those of the whole read, and only
    the end of the file is read (memory bounded by what is shown)."""
    from dicomsec.cli.commands.audit import last_records

    record = json.dumps({"event_id": "110100", "xml": _SAMPLE.decode("utf-8")}).encode()
    data = b"".join(record[:-1] + f', "i": {i}}}\n'.encode() for i in range(20_000))
    log = tmp_path / "big.log"
    log.write_bytes(data + b"{partial")

    class Counting(io.FileIO):
        taken = 0

        def read(self, size: int | None = -1) -> bytes:
            chunk = super().read(size)
            Counting.taken += len(chunk)
            return chunk

    with Counting(log, "rb") as fh:
        records, end = last_records(fh, 10)
    assert [(r.kind, r.content, r.raw) for r in records] == _old_tail(data, 10)
    assert [r.raw["i"] for r in records if r.raw] == list(range(19_990, 20_000))
    assert end == len(data) and Counting.taken < 1 << 20


def test_debug_only_before_the_double_dash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    """After ``--`` a ``--debug`` is a file name, never the option."""
    from dicomsec.cli._root import DEBUG

    monkeypatch.chdir(tmp_path)
    (tmp_path / "--debug").write_bytes((PYDICOM_FILES / "CT_small.dcm").read_bytes())
    assert cli_main(["--audit", "off", "verify", "--allow-unsigned", "--workers", "1", "--",
                     "--debug"]) == 0
    assert DEBUG[0] is False
    assert "--debug" in capsys.readouterr().out


def test_isolation_drops_the_users_audit_settings(tmp_path: Path) -> None:
    """tests/conftest.py and bench/audit.py never let a user's DICOMSEC_AUDIT or
    DICOMSEC_AUDIT_SPOOL reach a test or a benchmarked command."""
    repo = Path(__file__).resolve().parents[2]
    probe = ("import importlib.util, json, os, tests.conftest\n"
             "spec = importlib.util.spec_from_file_location('b', 'bench/audit.py')\n"
             "assert spec is not None and spec.loader is not None\n"
             "b = importlib.util.module_from_spec(spec); spec.loader.exec_module(b)\n"
             "names = ('DICOMSEC_AUDIT', 'DICOMSEC_AUDIT_SPOOL')\n"
             "print(json.dumps([[n in os.environ, n in b.ENV] for n in names]))\n")
    env = {**os.environ, "DICOMSEC_AUDIT": f"file://{tmp_path}/user.log",
           "DICOMSEC_AUDIT_SPOOL": str(tmp_path / "user-spool")}
    done = subprocess.run([sys.executable, "-c", probe], cwd=repo, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [[False, False], [False, False]]


@pytest.mark.parametrize(("exc", "code", "outcome", "text"), [
    (OSError(5, "Input/output error", "disk.dcm"), 2, "4", "disk.dcm: Input/output error"),
    (RuntimeError("broken\nacross lines"), 70, "8",
     "internal error: RuntimeError: broken across lines"),
])
def test_unexpected_failure_is_audited(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str], exc: Exception,
                                       code: int, outcome: str, text: str) -> None:
    """An exception that is not a DicomSecError during a verification (an OSError, a defect)
    is still the file's VERIFY failure record: outcome 4 (8 for a defect), its one line as
    Alert Description, no traceback; the command says one line."""
    import base64
    import xml.etree.ElementTree as ET

    import dicomsec.signatures

    def broken(*args: object, **kwargs: object) -> None:
        raise exc

    monkeypatch.setattr(dicomsec.signatures, "verify_file", broken)
    log = tmp_path / "a.log"
    assert cli_main(["--audit", log.as_uri(), "--audit-spool", str(tmp_path / "s"), "verify",
                     str(PYDICOM_FILES / "CT_small.dcm"), "--workers", "1"]) == code
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
    (record,) = _log_records(log)
    root = ET.fromstring(str(record["xml"]))
    event = root.find("EventIdentification")
    assert event is not None and event.get("EventOutcomeIndicator") == outcome
    details = [base64.b64decode(d.get("value", "")).decode() for d in
               root.iter("ParticipantObjectDetail") if d.get("type") == "Alert Description"]
    assert details == [text]
    assert "Traceback" not in log.read_text("utf-8")
