"""Acceptance 1 of issue 8: a SIGKILL at any moment leaves nothing behind.

``sign``, ``wrap``, ``unwrap`` and ``sign --in-place`` run as child processes on a 250 MiB
input and are killed with SIGKILL at random moments, uniform over the command's measured
duration until its output is published (seeded: the seed is in every failure message;
``DICOMSEC_KILL_SEED=N`` replays a run), plus one kill per command at a moment when its
unnamed output is known to be half written. After each kill: no file in the output folder,
the input's folder holds what it held, ``$TMPDIR`` is empty, and the input is unchanged (same
inode, size and mtime, same bytes in the header, the tail and sampled blocks; in full once
per command). ``sign --in-place`` is timed by the ``sign`` run (the same work).

A kill that comes after the command published its output is no kill: the output must then be
complete (the size of the measured run's); it is removed (for ``--in-place`` the input is made
again), the duration becomes that moment (runs vary on a loaded machine: the shortest seen is
kept) and another moment is drawn.
"""

from __future__ import annotations

import hashlib
import io
import os
import random
import shutil
import signal
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import UID, ExplicitVRLittleEndian, generate_uid

from tests.conftest import DATA

PIXEL_BYTES = 250 << 20  # 250 MiB of Pixel Data
ROWS, COLUMNS = 16000, 8192  # x 2 bytes = PIXEL_BYTES
KILLS = 20
SEED = int(os.environ.get("DICOMSEC_KILL_SEED") or int.from_bytes(os.urandom(4), "big"))
PKI = DATA / "pki"
KEK_ID = "c0ffee00000000aa"
_SAMPLE = 64 << 10
_POLLS = 20_000  # bound on the polls that wait for a half-written output (2 ms each)


def _header() -> bytes:
    """A valid Part 10 header whose last element is a Pixel Data value of PIXEL_BYTES."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID("1.2.840.10008.5.1.4.1.1.7")  # Secondary Capture
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.PatientName = "Kill^Test"
    ds.PatientID = "KILL-1"
    ds.Modality = "OT"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = ROWS, COLUMNS
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue() + struct.pack("<HH2sHI", 0x7FE0, 0x0010, b"OW", 0, PIXEL_BYTES)


def _make_input(path: Path, header: bytes) -> None:
    """The 250 MiB input, sparse: the header, then a hole (fast, no disk space)."""
    with open(path, "wb") as fh:
        fh.write(header)
        fh.truncate(len(header) + PIXEL_BYTES)


@dataclass(frozen=True)
class Fingerprint:
    inode: int
    size: int
    mtime_ns: int
    digest: str


def _fingerprint(path: Path, *, full: bool = False) -> Fingerprint:
    """Identity and content digest: in full, or the first MiB, the last block and 16
    blocks at fixed spread offsets (cheap enough to take after every kill)."""
    st = os.stat(path)
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        if full:
            while chunk := fh.read(1 << 22):
                h.update(chunk)
        else:
            h.update(fh.read(1 << 20))
            for k in range(16):
                fh.seek((st.st_size * k) // 16 + 4099 * k)
                h.update(fh.read(_SAMPLE))
            fh.seek(max(0, st.st_size - _SAMPLE))
            h.update(fh.read())
    return Fingerprint(st.st_ino, st.st_size, st.st_mtime_ns, h.hexdigest())


@dataclass
class Scene:
    """One command under test, with the folders it may touch."""

    name: str
    argv: list[str]
    input: Path
    out_dir: Path  # must be empty after a kill (for --in-place: the input's folder)
    output: Path
    tmpdir: Path
    log: Path
    duration: float = 0.0
    output_size: int = 0

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["TMPDIR"] = str(self.tmpdir)
        env.pop("DICOMSEC_KEY_PASSWORD", None)
        return env

    def start(self) -> subprocess.Popen[bytes]:
        with open(self.log, "ab") as log:
            return subprocess.Popen([sys.executable, "-m", "dicomsec", *self.argv],
                                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=log, env=self.env())


@dataclass
class World:
    root: Path
    header: bytes
    big: Path
    kek: Path
    secure: Path
    inplace: Path
    in_fp: Fingerprint
    inplace_fp: Fingerprint
    secure_digest: str = ""
    #: measured runs: command -> (seconds until the output was published, output size)
    measured: dict[str, tuple[float, int]] = field(default_factory=dict)


def _run_to_end(scene: Scene) -> None:
    """The measured run: the time until its output is published (a kill after that finds
    the work done) and the output's size."""
    before = os.stat(scene.input).st_ino if scene.output == scene.input else -1
    began = time.monotonic()
    proc = scene.start()
    scene.duration = 0.0
    while proc.poll() is None:
        try:
            published = os.stat(scene.output).st_ino != before
        except FileNotFoundError:
            published = False
        if published:
            scene.duration = time.monotonic() - began
            break
        time.sleep(0.002)
    rc = proc.wait()
    scene.duration = scene.duration or time.monotonic() - began
    assert rc == 0, f"{scene.name} failed (rc {rc}): {scene.log.read_text()[-2000:]}"
    scene.output_size = scene.output.stat().st_size


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("kill")
    for d in ("in", "sec", "inplace", "keys", "tmp", "logs"):
        (root / d).mkdir()
    header = _header()
    big = root / "in" / "big.dcm"
    _make_input(big, header)
    kek = root / "keys" / "kek.hex"
    kek.write_text("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")
    secure = root / "sec" / "big.dcm.p7"
    inplace = root / "inplace" / "big.dcm"
    _make_input(inplace, header)
    w = World(root, header, big, kek, secure, inplace, _fingerprint(big, full=True),
              _fingerprint(inplace, full=True))
    # the secure file unwrap reads: made once by wrap (KEK recipient: no PBKDF2 to wait for)
    scene = _scene(w, "wrap", root / "out-setup")
    _run_to_end(scene)
    w.measured["wrap"] = scene.duration, scene.output_size
    shutil.move(scene.output, secure)
    w.secure_digest = _fingerprint(secure, full=True).digest
    yield w
    shutil.rmtree(root, ignore_errors=True)  # 750 MiB: not kept for the session


def _scene(w: World, name: str, out_dir: Path) -> Scene:
    out_dir.mkdir(exist_ok=True)
    signer = ["--key", str(PKI / "signer-ecp256.key.pem"),
              "--cert", str(PKI / "signer-ecp256.cert.pem")]
    kek = ["--kek-file", str(w.kek), "--kek-id", KEK_ID]
    output = out_dir / "out.dcm"
    src = w.big
    if name == "sign":
        argv = ["sign", str(w.big), *signer, "-o", str(output)]
    elif name == "wrap":
        argv = ["wrap", str(w.big), "-o", str(output), *kek]
    elif name == "unwrap":
        src = w.secure
        argv = ["unwrap", str(w.secure), "-o", str(output), *kek]
    else:  # sign --in-place
        src = output = out_dir / w.inplace.name
        argv = ["sign", str(output), *signer, "--in-place"]
    return Scene(name, argv, src, out_dir, output, w.root / "tmp",
                 w.root / "logs" / f"{name}.log")


def _check_after_kill(w: World, scene: Scene, want: Fingerprint, what: str) -> None:
    where = f"{scene.name}, {what}, seed {SEED} (DICOMSEC_KILL_SEED={SEED} replays it)"
    if scene.out_dir != scene.input.parent:
        assert os.listdir(scene.out_dir) == [], f"left in the output folder: {where}"
    assert os.listdir(scene.input.parent) == [scene.input.name], \
        f"left beside the input: {where}"
    assert os.listdir(scene.tmpdir) == [], f"left in $TMPDIR: {where}"
    assert _fingerprint(scene.input) == want, f"input changed: {where}"


def _unnamed_output_size(pid: int, folder: Path) -> int:
    """Size of the child's open unnamed file in ``folder`` (``/proc/PID/fd`` shows an
    O_TMPFILE file as ``FOLDER/#INODE (deleted)``); -1 when there is none (yet)."""
    prefix = f"{folder}/#"
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return -1
    best = -1
    for fd in fds:
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
            if link.startswith(prefix) and link.endswith(" (deleted)"):
                best = max(best, os.stat(f"/proc/{pid}/fd/{fd}").st_size)
        except OSError:
            continue
    return best


def _kill_half_written(w: World, scene: Scene, want: Fingerprint) -> None:
    """Kill once when the unnamed output holds at least half the input: a partial output
    (for unwrap: unproven plaintext) certainly exists, and must vanish with the process."""
    proc = scene.start()
    seen = -1
    for _ in range(_POLLS):
        seen = _unnamed_output_size(proc.pid, scene.out_dir)
        if seen >= PIXEL_BYTES // 2 or proc.poll() is not None:
            break
        time.sleep(0.002)
    proc.kill()
    rc = proc.wait()
    assert rc == -signal.SIGKILL and seen >= PIXEL_BYTES // 2, \
        f"{scene.name}: no half-written unnamed output seen before the end (rc {rc}, {seen})"
    _check_after_kill(w, scene, want, "killed half-written")


def _after_completion(w: World, scene: Scene, rc: int, what: str) -> Fingerprint:
    """The command finished before the kill: its output must be whole; undo it."""
    assert rc == 0, f"{scene.name} {what}: exit {rc} (seed {SEED}): {scene.log.read_text()}"
    assert _whole(scene.output.stat().st_size, scene), f"{scene.name} {what}: partial"
    if scene.name == "sign --in-place":
        scene.output.unlink()
        _make_input(scene.output, w.header)
    else:
        scene.output.unlink()
    return _fingerprint(scene.input)


def _published(scene: Scene, before: Fingerprint) -> bool:
    """The kill came after the output was published (while the command was exiting)."""
    try:
        st = os.stat(scene.output)
    except FileNotFoundError:
        return False
    if scene.output == scene.input and st.st_ino == before.inode:
        return False  # --in-place: still the input's own inode
    return _whole(st.st_size, scene)


def _whole(size: int, scene: Scene) -> bool:
    """The size of a finished output: the measured run's (a signature's DER length varies
    by a few bytes from one run to the next)."""
    return abs(size - scene.output_size) <= 16


def _kill_at_random(w: World, scene: Scene) -> str:
    rng = random.Random(f"{SEED}/{scene.name}")
    want = _fingerprint(scene.input)
    kills = finished = 0
    while kills < KILLS:
        delay = rng.uniform(0.0, scene.duration)
        began = time.monotonic()
        proc = scene.start()
        time.sleep(max(0.0, delay - (time.monotonic() - began)))
        proc.kill()
        rc = proc.wait()
        what = f"kill {kills + 1} at {delay:.3f} s of {scene.duration:.3f} s"
        if rc != -signal.SIGKILL or _published(scene, want):
            rc = 0 if rc == -signal.SIGKILL else rc  # killed after its output was published
            finished += 1
            scene.duration = min(scene.duration, delay)  # runs vary: the shortest seen
            assert finished <= KILLS, f"{scene.name}: finishes before every kill (seed {SEED})"
            want = _after_completion(w, scene, rc, what)
            _check_after_kill(w, scene, want, what + ", after it finished")
            continue
        kills += 1
        _check_after_kill(w, scene, want, what)
    return f"{scene.name}: {kills} kills over {scene.duration:.2f} s, {finished} finished first"


def _measure(w: World, scene: Scene, key: str) -> None:
    """Time the command once (kept for the module: wrap is timed making unwrap's input)."""
    if key not in w.measured:
        probe = _scene(w, key, w.root / f"measure-{key}")
        _run_to_end(probe)
        probe.output.unlink()
        w.measured[key] = probe.duration, probe.output_size
    scene.duration, scene.output_size = w.measured[key]


@pytest.mark.parametrize("name", ["sign", "wrap", "unwrap", "sign --in-place"])
def test_sigkill_leaves_nothing(world: World, name: str) -> None:
    if name == "sign --in-place":
        scene = _scene(world, name, world.inplace.parent)
        _measure(world, scene, "sign")
        full = world.inplace_fp.digest
    else:
        scene = _scene(world, name, world.root / f"out-{name}")
        _measure(world, scene, name)
        full = world.secure_digest if name == "unwrap" else world.in_fp.digest
    _kill_half_written(world, scene, _fingerprint(scene.input))
    print(_kill_at_random(world, scene))
    assert _fingerprint(scene.input, full=True).digest == full, \
        f"{name}: input changed (seed {SEED})"
