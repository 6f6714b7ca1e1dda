"""``dicomsec deid`` and ``dicomsec reid`` end to end, in process, on pydicom's samples (issue
10: the CLI contract, acceptance 1 second half, 4, 5 last sentence and 6 at the command line).

Peers: ``gdcmanon`` (libgdcm-tools) re-identifies what we de-identify in compatible mode."""

from __future__ import annotations

import csv
import json
import os
import re
import stat
import subprocess
from pathlib import Path
from typing import Any

import pydicom
import pytest
from cryptography.hazmat.primitives import serialization
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import UID

from dicomsec.cli import main
from tests.conftest import DATA, PYDICOM_FILES, require_tool

CT = PYDICOM_FILES / "CT_small.dcm"
MR = PYDICOM_FILES / "MR_small.dcm"
ANON = DATA / "pki-anon"
CMS = DATA / "pki-cms"
RECIPIENT = ["--to", str(ANON / "recipient.cert.pem")]
KEY = ["--key", str(ANON / "recipient.key.pem"), "--cert", str(ANON / "recipient.cert.pem")]
#: UIDs no de-identification may replace (the SOP Class and the transfer syntaxes)
STRUCTURAL = {"1.2.840.10008.5.1.4.1.1.2", "1.2.840.10008.5.1.4.1.1.4",
              "1.2.840.10008.1.2.1", "1.2.840.10008.1.2"}


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    rc = main(argv)
    out, err = capsys.readouterr()
    return rc, out, err


def lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    path = tmp_path / "site.secret"
    path.write_text("0123456789abcdef0123456789abcdef\n")
    path.chmod(0o600)
    return path


def _study(folder: Path) -> dict[str, Dataset]:
    """A two-series study from CT_small: s1/a.dcm and s1/b.dcm (b refers to a), s2/c.dcm
    (another series, same study, same Frame of Reference)."""
    made: dict[str, Dataset] = {}
    base = pydicom.dcmread(CT)
    series = {"s1": base.SeriesInstanceUID, "s2": base.SeriesInstanceUID + ".2"}
    for n, name in enumerate(("s1/a.dcm", "s1/b.dcm", "s2/c.dcm"), 1):
        ds = pydicom.dcmread(CT)
        uid = UID(f"{base.SOPInstanceUID}.{n}")
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = uid
        ds.SeriesInstanceUID = series[name[:2]]
        ds.InstanceNumber = n
        if name == "s1/b.dcm":
            ref = Dataset()
            ref.ReferencedSOPClassUID = ds.SOPClassUID
            ref.ReferencedSOPInstanceUID = made["s1/a.dcm"].SOPInstanceUID
            ds.ReferencedImageSequence = Sequence([ref])
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        ds.save_as(folder / name)
        made[name] = ds
    return made


def _mapping(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def _deid_study(study: Path, out: Path, secret: Path, mapping: Path,
                capsys: pytest.CaptureFixture[str], workers: str = "1") -> list[dict[str, Any]]:
    rc, stdout, err = run(["deid", str(study), "-o", str(out), "--uid-secret-file", str(secret),
                           "--mapping", str(mapping), "--workers", workers, "--json"], capsys)
    assert rc == 0, err
    return list(json.loads(stdout))


def test_folder_keeps_relative_paths_and_one_mapping(tmp_path: Path, secret: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """Acceptance 4 at the CLI: one mapping across a two-series study, across two runs with
    one secret, another with another secret; every reference follows; --mapping lists every
    replaced UID and Patient ID exactly once, mode 0600."""
    study = tmp_path / "study"
    originals = _study(study)
    runs = {}
    for name, workers in (("one", "2"), ("two", "1")):
        reports = _deid_study(study, tmp_path / name, secret, tmp_path / f"{name}.csv", capsys,
                              workers)
        assert {r["schema"] for r in reports} == {"dicomsec.deid.file/1"}
        assert files(tmp_path / name) == ["s1/a.dcm", "s1/b.dcm", "s2/c.dcm"]
        runs[name] = _mapping(tmp_path / f"{name}.csv")
        assert stat.S_IMODE(os.stat(tmp_path / f"{name}.csv").st_mode) == 0o600
    rows = runs["one"]
    assert rows == runs["two"]  # the same secret, the same mapping, whatever the workers
    pairs = [(r["kind"], r["original"]) for r in rows]
    assert len(pairs) == len(set(pairs))
    uids = {r["original"]: r["replacement"] for r in rows if r["kind"] == "uid"}
    pids = {r["original"]: r["replacement"] for r in rows if r["kind"] == "patient_id"}
    a = originals["s1/a.dcm"]
    for ds in originals.values():
        for uid in (ds.SOPInstanceUID, ds.SeriesInstanceUID, ds.StudyInstanceUID,
                    ds.FrameOfReferenceUID):
            assert uids[uid].startswith("2.25.")
    assert not STRUCTURAL & set(uids)
    assert a.PatientID in pids and pids[a.PatientID] != a.PatientID
    out = {n: pydicom.dcmread(tmp_path / "one" / n) for n in originals}
    assert len({ds.StudyInstanceUID for ds in out.values()}) == 1
    assert out["s1/a.dcm"].SeriesInstanceUID == out["s1/b.dcm"].SeriesInstanceUID \
        != out["s2/c.dcm"].SeriesInstanceUID
    assert len({ds.FrameOfReferenceUID for ds in out.values()}) == 1
    ref = out["s1/b.dcm"].get("ReferencedImageSequence")
    if ref:  # kept (Type 1 here) or removed (Type 3): when kept, it follows the mapping
        assert ref[0].ReferencedSOPInstanceUID == out["s1/a.dcm"].SOPInstanceUID
    for name, ds in out.items():
        assert ds.SOPInstanceUID == uids[originals[name].SOPInstanceUID]
        assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
        assert ds.PatientIdentityRemoved == "YES"
    other = tmp_path / "other.secret"
    other.write_bytes(os.urandom(32))
    _deid_study(study, tmp_path / "three", other, tmp_path / "three.csv", capsys)
    third = {(r["kind"], r["original"]): r["replacement"]
             for r in _mapping(tmp_path / "three.csv")}
    assert set(third) == set(pairs)
    assert all(third[(r["kind"], r["original"])] != r["replacement"] for r in rows)


def test_json_reports_hold_no_original_value(tmp_path: Path, secret: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    rc, stdout, err = run(["deid", str(CT), "-o", str(tmp_path / "out"), "--uid-secret-file",
                           str(secret), "--option", "retain-longitudinal-modified-dates",
                           *RECIPIENT, "--json"], capsys)
    assert rc == 0, err
    [report] = json.loads(stdout)
    ds = pydicom.dcmread(CT)
    for value in (ds.PatientName, ds.PatientID, ds.SOPInstanceUID, ds.StudyInstanceUID,
                  ds.StudyDate, ds.InstitutionName):
        assert str(value) not in stdout
    assert report["date_shifted"] is True
    assert report["encrypted"] == {"items": 1, "recipients": ["recipient.cert.pem"],
                                   "mode": "modern"}
    assert report["counts"]["removed"] == len(report["removed"]) > 0
    assert "113107" in report["claimed"] and report["claimed"][0] == "113100"


def _same_values(original: Path, restored: Path) -> None:
    """Every top-level element of the original is back with its value (but Data Set
    Trailing Padding, which is removed and not worth restoring, and group lengths)."""
    before, after = pydicom.dcmread(original), pydicom.dcmread(restored)
    differ = [elem.tag for elem in before
              if elem.tag != 0xFFFCFFFC and elem.tag.element != 0 and (elem.tag not in after
              or after[elem.tag].value != elem.value)]
    assert not differ, differ
    assert after.file_meta.MediaStorageSOPInstanceUID == before.SOPInstanceUID


@pytest.mark.parametrize("mode", ["modern", "compatible"])
def test_reid_round_trip(mode: str, tmp_path: Path, secret: Path,
                         capsys: pytest.CaptureFixture[str]) -> None:
    rc, _, err = run(["deid", str(MR), "-o", str(tmp_path / "d"), "--uid-secret-file",
                      str(secret), "--mode", mode, *RECIPIENT], capsys)
    assert rc == 0, err
    rc, stdout, err = run(["reid", str(tmp_path / "d"), "-o", str(tmp_path / "r"), *KEY],
                          capsys)
    assert rc == 0, err
    # the GCM tag proves the item unaltered since it was made, never who made it
    assert ("maker not proven" if mode == "modern" else "no integrity check") in stdout
    assert "authenticated" not in stdout
    rc, stdout, err = run(["reid", str(tmp_path / "d"), "-o", str(tmp_path / "r2"), *KEY,
                           "--json"], capsys)
    assert rc == 0, err
    [report] = json.loads(stdout)
    assert report["schema"] == "dicomsec.deid.reid/1"
    assert report["authenticated"] is (mode == "modern")
    assert "(0010,0010) PatientName" in report["restored"] or any(
        "0010,0010" in r for r in report["restored"])
    restored = tmp_path / "r" / "MR_small.dcm"
    assert stat.S_IMODE(os.stat(restored).st_mode) == 0o600
    _same_values(MR, restored)
    assert pydicom.dcmread(restored).PatientIdentityRemoved == "NO"


@pytest.mark.parametrize(("mode", "cert", "key"), [
    ("compatible", ANON / "recipient.cert.pem", ANON / "recipient.key.pem"),
    ("modern", ANON / "recipient.cert.pem", ANON / "recipient.key.pem"),  # RSA-OAEP, GCM
    ("modern", CMS / "recip-p256.pem", CMS / "recip-p256.key"),  # ECDH P-256, GCM
], ids=["compatible", "modern-rsa-oaep", "modern-ecdh-p256"])
def test_gdcmanon_reidentifies_what_we_deidentify(
        mode: str, cert: Path, key: Path, tmp_path: Path, secret: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Acceptance 1, second half: gdcmanon -d restores what we de-identified in compatible
    mode; and (found here, GDCM 3.0.21 on OpenSSL 3) also the modern mode's AES-256-GCM
    AuthEnvelopedData, with an RSA-OAEP or an ECDH P-256 recipient (docs/deid.md)."""
    gdcmanon = require_tool("gdcmanon")
    rc, _, err = run(["deid", str(CT), "-o", str(tmp_path / "d"), "--uid-secret-file",
                      str(secret), "--mode", mode, "--to", str(cert)], capsys)
    assert rc == 0, err
    subprocess.run([gdcmanon, "-d", "-k", str(key), "-c", str(cert),
                    "-i", str(tmp_path / "d" / "CT_small.dcm"), "-o", str(tmp_path / "g.dcm")],
                   check=True, capture_output=True, timeout=60)
    _same_values(CT, tmp_path / "g.dcm")


def test_foreign_key_and_corrupted_content_exit_1(tmp_path: Path, secret: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """Acceptance 6: a foreign key exits 1 and writes nothing; so does a corrupted
    Encrypted Content (the GCM tag fails)."""
    rc, _, err = run(["deid", str(CT), "-o", str(tmp_path / "d"), "--uid-secret-file",
                      str(secret), *RECIPIENT], capsys)
    assert rc == 0, err
    deid = tmp_path / "d" / "CT_small.dcm"
    rc, _, err = run(["reid", str(deid), "-o", str(tmp_path / "r1"), "--key",
                      str(ANON / "other.key.pem")], capsys)
    assert rc == 1
    assert len(lines(err)) == 1 and "Traceback" not in err
    assert files(tmp_path / "r1") == []
    ds = pydicom.dcmread(deid)
    content = bytearray(ds.EncryptedAttributesSequence[0].EncryptedContent)
    content[-40] ^= 0x01
    ds.EncryptedAttributesSequence[0].EncryptedContent = bytes(content)
    bad = tmp_path / "bad" / "CT_small.dcm"
    bad.parent.mkdir()
    ds.save_as(bad)
    rc, _, err = run(["reid", str(bad), "-o", str(tmp_path / "r2"), *KEY], capsys)
    assert rc == 1, err
    assert len(lines(err)) == 1 and "Traceback" not in err
    assert files(tmp_path / "r2") == []


def test_non_ascii_key_password_is_refused(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    password = tmp_path / "pw.txt"
    password.write_text("pässword\n", encoding="utf-8")
    rc, _, err = run(["reid", str(CT), "-o", str(tmp_path / "r"), *KEY,
                      "--key-password-file", str(password)], capsys)
    assert rc == 2
    [line] = lines(err)
    assert "ASCII" in line
    assert not (tmp_path / "r").exists()


def _mlkem_public(tmp_path: Path) -> Path:
    key = serialization.load_pem_private_key((CMS / "recip-mlkem768.key.pem").read_bytes(),
                                             None)
    path = tmp_path / "mlkem768.pub.pem"
    path.write_bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return path


def test_modern_recipients_each_see_only_their_subset(
        tmp_path: Path, secret: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Acceptance 6: RSA-OAEP, ECDH P-256 and ML-KEM-768 recipients of one file, each with
    its subset through --attributes-for."""
    mlkem = _mlkem_public(tmp_path)
    subsets = {"rsa": (CMS / "recip-rsa2048.pem", CMS / "recip-rsa2048.key", "PatientName"),
               "ec": (CMS / "recip-p256.pem", CMS / "recip-p256.key", "(0010,0020)"),
               "kem": (mlkem, CMS / "recip-mlkem768.key.pem", "StudyDate,00080080")}
    argv = ["deid", str(CT), "-o", str(tmp_path / "d"), "--uid-secret-file", str(secret)]
    for cert, _, tags in subsets.values():
        argv += ["--attributes-for", f"{cert}={tags}"]
    rc, _, err = run(argv, capsys)
    assert rc == 0, err
    deid = tmp_path / "d" / "CT_small.dcm"
    assert len(pydicom.dcmread(deid).EncryptedAttributesSequence) == 3
    original = pydicom.dcmread(CT)
    expect = {"rsa": {0x00100010}, "ec": {0x00100020}, "kem": {0x00080020, 0x00080080}}
    for name, (_, key, _) in subsets.items():
        rc, stdout, err = run(["reid", str(deid), "-o", str(tmp_path / name), "--key",
                               str(key), "--json"], capsys)
        assert rc == 0, f"{name}: {err}"
        [report] = json.loads(stdout)
        assert report["authenticated"] is True
        # each subset carries the originals' Specific Character Set, to decode its text
        restored = [r for r in report["restored"] if "(0008,0005)" not in r]
        assert len(restored) == len(expect[name]), report["restored"]
        back = pydicom.dcmread(tmp_path / name / "CT_small.dcm")
        for tag in expect[name]:
            assert back[tag].value == original[tag].value
        for other in set().union(*expect.values()) - expect[name]:
            assert other not in back or back[other].value != original[other].value


def test_bad_input_exit_2_one_line_nothing_half_done(tmp_path: Path, secret: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "junk.dcm").write_bytes(b"\0" * 128 + b"DICM" + b"\x02\x00\x10")
    (folder / "text.dcm").write_text("not dicom at all")
    (folder / "ct.dcm").write_bytes(CT.read_bytes())
    rc, _, err = run(["deid", str(folder), "-o", str(tmp_path / "out"), "--uid-secret-file",
                      str(secret), "--workers", "1"], capsys)
    assert rc == 2
    errors = [line for line in lines(err) if line.startswith("error:")]
    assert len(errors) == 2 and "Traceback" not in err
    assert sorted(e.split(": ")[1].rsplit("/", 1)[1] for e in errors) == ["junk.dcm",
                                                                          "text.dcm"]
    assert files(tmp_path / "out") == ["ct.dcm"]
    rc, _, err = run(["deid", str(folder / "text.dcm"), "-o", str(tmp_path / "o2"),
                      "--uid-secret-file", str(secret)], capsys)
    assert rc == 2 and len(lines(err)) == 1
    assert files(tmp_path / "o2") == []


def test_strict_refuses_burned_in_annotation(tmp_path: Path, secret: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    """Acceptance 5, last sentence: flagged without the option, refused with --strict."""
    ds = pydicom.dcmread(CT)
    ds.BurnedInAnnotation = "YES"
    src = tmp_path / "burned.dcm"
    ds.save_as(src)
    rc, _, err = run(["deid", str(src), "-o", str(tmp_path / "s"), "--uid-secret-file",
                      str(secret), "--strict"], capsys)
    assert rc == 1
    [line] = lines(err)
    assert "burned-in" in line
    assert files(tmp_path / "s") == []
    rc, stdout, err = run(["deid", str(src), "-o", str(tmp_path / "f"), "--uid-secret-file",
                           str(secret), "--json"], capsys)
    assert rc == 0, err
    [report] = json.loads(stdout)
    assert any("burned-in" in f for f in report["flags"])


def test_options_repeatable_and_comma_separated(tmp_path: Path, secret: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    rc, stdout, err = run(["deid", str(CT), "-o", str(tmp_path / "o"), "--uid-secret-file",
                           str(secret), "--option", "retain-uids,retain-device-identity",
                           "--option", "clean-descriptors", "--json"], capsys)
    assert rc == 0, err
    [report] = json.loads(stdout)
    assert {"113100", "113110", "113109", "113105"} <= set(report["claimed"])
    assert pydicom.dcmread(tmp_path / "o" / "CT_small.dcm").StudyInstanceUID == \
        pydicom.dcmread(CT).StudyInstanceUID  # retain-uids


@pytest.mark.parametrize(("argv", "says"), [
    (["--option", "retain-everything"], "retain-safe-private"),
    (["--option", "retain-longitudinal-full-dates,retain-longitudinal-modified-dates"],
     "exclude"),
    (["--mode", "fast"], "--mode"),
    (["--to", "/nonexistent/cert.pem"], "cert.pem"),
    (["--attributes-for", "{cert}=NoSuchKeyword"], "NoSuchKeyword"),
    (["--uid-secret-file", "{short}"], "16"),
])
def test_usage_errors_exit_2_before_any_work(argv: list[str], says: str, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    short = tmp_path / "short.secret"
    short.write_text("too short\n")
    cert = str(ANON / "recipient.cert.pem")
    argv = [a.replace("{short}", str(short)).replace("{cert}", cert) for a in argv]
    rc, _, err = run(["deid", str(CT), "-o", str(tmp_path / "o"), *argv], capsys)
    assert rc == 2
    [line] = lines(err)
    assert says in line and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_secret_from_environment_or_random_with_a_warning(
        tmp_path: Path, secret: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    rc, _, err = run(["deid", str(CT), "-o", str(tmp_path / "a"), "--uid-secret-file",
                      str(secret)], capsys)
    assert rc == 0, err
    monkeypatch.setenv("DICOMSEC_UID_SECRET", secret.read_text().strip())
    rc, _, err = run(["deid", str(CT), "-o", str(tmp_path / "b")], capsys)
    assert rc == 0 and "warning" not in err
    uid = [pydicom.dcmread(tmp_path / n / "CT_small.dcm").SOPInstanceUID for n in "ab"]
    assert uid[0] == uid[1]
    monkeypatch.delenv("DICOMSEC_UID_SECRET")
    rc, _, err = run(["deid", str(CT), "-o", str(tmp_path / "c")], capsys)
    assert rc == 0 and "random secret" in err
    assert pydicom.dcmread(tmp_path / "c" / "CT_small.dcm").SOPInstanceUID != uid[0]


def test_clean_pixel_data_is_claimed_after_the_pixels_are_clean(
        tmp_path: Path, secret: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The file layer claims 113101 and sets Burned In Annotation NO only once the pixel
    module blanked the regions (a region rule here: deterministic); --pixel-rules is read
    before any work."""
    ds = pydicom.dcmread(CT)
    ds.BurnedInAnnotation = "YES"
    pixels = ds.pixel_array
    src = tmp_path / "burned.dcm"
    ds.save_as(src)
    rules = tmp_path / "rules.toml"
    rules.write_text('[[rule]]\nname = "header"\nmodality = "CT"\n'
                     'regions = [[0, 0, 128, 10]]\n')
    rc, stdout, err = run(["deid", str(src), "-o", str(tmp_path / "o"), "--uid-secret-file",
                           str(secret), "--option", "clean-pixel-data", "--pixel-rules",
                           str(rules), "--strict", "--json"], capsys)
    assert rc == 0, err
    [report] = json.loads(stdout)
    assert "113101" in report["claimed"] and not report["flags"]
    assert {"x": 0, "y": 0, "width": 128, "height": 10, "source": "rule:header"} in \
        report["pixels"]["regions"]
    out = pydicom.dcmread(tmp_path / "o" / "burned.dcm")
    assert out.BurnedInAnnotation == "NO"
    assert (out.pixel_array[:10] == pixels.min()).all()  # blanked in the stored values
    assert (out.pixel_array[10:] == pixels[10:]).all()  # the rest unchanged
    bad = tmp_path / "bad.toml"
    bad.write_text('[[rule]]\nname = "x"\nmanufactuer = "typo"\nregions = [[0, 0, 1, 1]]\n')
    rc, _, err = run(["deid", str(src), "-o", str(tmp_path / "b"), "--uid-secret-file",
                      str(secret), "--option", "clean-pixel-data", "--pixel-rules", str(bad)],
                     capsys)
    assert rc == 2 and len(lines(err)) == 1
    assert not (tmp_path / "b").exists()


def _iod_errors(path: Path) -> set[str]:
    """dciodvfy's errors, UIDs written as ``<uid>`` (a replaced UID is the same error)."""
    tool = require_tool("dciodvfy")
    done = subprocess.run([tool, str(path)], capture_output=True, text=True, timeout=120)
    return {re.sub(r"\d+(\.\d+){2,}", "<uid>", re.sub(r"\s+", " ", line.strip()))
            for line in (done.stdout + done.stderr).splitlines() if line.startswith("Error")}


def test_outputs_add_no_iod_error(tmp_path: Path, secret: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    """Acceptance 3 for the whole file pipeline (engine, pixels, Encrypted Attributes
    Sequence, File Meta): dciodvfy finds no error in an output that its input did not have;
    nor in the re-identified outputs (the marks listed with zero length, e.g. an empty
    (0012,0064), mean "absent" and are removed, not restored empty)."""
    folder = tmp_path / "in"
    folder.mkdir()
    names = ("CT_small.dcm", "MR_small.dcm", "MR_small_implicit.dcm", "rtplan.dcm",
             "test-SR.dcm", "examples_overlay.dcm")
    for name in names:
        (folder / name).write_bytes((PYDICOM_FILES / name).read_bytes())
    rc, _, err = run(["deid", str(folder), "-o", str(tmp_path / "out"), "--uid-secret-file",
                      str(secret), "--mode", "compatible", *RECIPIENT, "--option",
                      "clean-pixel-data,clean-graphics,retain-longitudinal-modified-dates",
                      "--workers", "1"],
                     capsys)
    assert rc == 0, err
    rc, _, err = run(["reid", str(tmp_path / "out"), "-o", str(tmp_path / "reid"), *KEY,
                      "--workers", "1"], capsys)
    assert rc == 0, err
    for name in names:
        before = _iod_errors(folder / name)
        for made in ("out", "reid"):
            new = _iod_errors(tmp_path / made / name) - before
            assert not new, (made, name, sorted(new))
        restored = pydicom.dcmread(tmp_path / "reid" / name)
        assert "DeidentificationMethodCodeSequence" not in restored
        assert restored.PatientIdentityRemoved == "NO"


def _two_inputs(tmp_path: Path) -> tuple[Path, Path]:
    """x/a.dcm (MR) and y/a.dcm (CT): one base name in two folders."""
    x, y = tmp_path / "x", tmp_path / "y"
    for folder, src in ((x, MR), (y, CT)):
        folder.mkdir()
        (folder / "a.dcm").write_bytes(src.read_bytes())
    return x, y


@pytest.mark.parametrize(("command", "inputs", "outdir", "says"), [
    ("deid", ["x/a.dcm", "y"], "x", "inside the output folder"),  # the folder of an input file
    ("deid", ["x", "y"], "x", "inside the input folder"),  # an input folder
    ("deid", ["x"], "x/out", "inside the input folder"),  # inside one
    ("deid", ["x/a.dcm"], ".", "inside the output folder"),  # an input inside OUTDIR
    ("reid", ["y", "x"], "x", "inside the input folder"),
])
def test_an_output_folder_overlapping_an_input_is_a_usage_error(
        command: str, inputs: list[str], outdir: str, says: str, tmp_path: Path,
        secret: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """No output can ever replace an input: OUTDIR shares no tree with any input (exit 2,
    one line, before any work; the inputs are untouched)."""
    x, y = _two_inputs(tmp_path)
    args = ["--uid-secret-file", str(secret)] if command == "deid" else KEY
    rc, _, err = run([command, *(str(tmp_path / i) for i in inputs), "-o",
                      str(tmp_path / outdir), *args], capsys)
    assert rc == 2 and says in err
    assert len(lines(err)) == 1 and "Traceback" not in err
    assert (x / "a.dcm").read_bytes() == MR.read_bytes()
    assert (y / "a.dcm").read_bytes() == CT.read_bytes()
    assert files(tmp_path) == ["site.secret", "x/a.dcm", "y/a.dcm"]


@pytest.mark.parametrize(("mapping", "says"), [
    ("x/a.dcm", "an input"), ("x/sub/map.csv", "inside the input"),
    ("out/map.csv", "output folder"), ("out/sub/map.dcm", "output folder"),
])
def test_mapping_onto_an_input_or_into_the_output_is_refused(
        mapping: str, says: str, tmp_path: Path, secret: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    """--mapping (PHI) never replaces an input, never lands among the originals nor in the
    folder that gets shared."""
    x, _ = _two_inputs(tmp_path)
    rc, _, err = run(["deid", str(x), "-o", str(tmp_path / "out"), "--uid-secret-file",
                      str(secret), "--mapping", str(tmp_path / mapping)], capsys)
    assert rc == 2 and says in err and "--mapping" in err
    assert (x / "a.dcm").read_bytes() == MR.read_bytes()
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("mode", "cert", "says"), [
    ("modern", ANON / "ca.cert.pem", "ca.cert.pem"),  # a CA certificate
    ("modern", CMS / "signer-p256.pem", "signer-p256.pem"),  # sign-only
    ("compatible", CMS / "recip-p256.pem", "RSA"),  # EC in compatible mode
])
def test_recipients_are_checked_once_before_the_output_folder_is_made(
        mode: str, cert: Path, says: str, tmp_path: Path, secret: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    x, _ = _two_inputs(tmp_path)
    (x / "b.dcm").write_bytes(CT.read_bytes())
    rc, _, err = run(["deid", str(x), "-o", str(tmp_path / "out"), "--uid-secret-file",
                      str(secret), "--mode", mode, "--to", str(cert), "--workers", "1"],
                     capsys)
    assert rc == 2, err
    [line] = lines(err)
    assert says in line
    assert not (tmp_path / "out").exists()


def test_secret_file_is_a_small_regular_file_and_private(
        tmp_path: Path, secret: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A device (it would never end) or a file over 1 MiB is refused; a secret file its group
    or others may read is a warning (and works)."""
    big = tmp_path / "big.secret"
    big.write_bytes(b"k" * ((1 << 20) + 1))
    for path, says in ((Path("/dev/zero"), "not a regular file"), (big, "1 MiB")):
        rc, _, err = run(["deid", str(CT), "-o", str(tmp_path / "o"), "--uid-secret-file",
                          str(path)], capsys)
        assert rc == 2 and says in err and len(lines(err)) == 1
        assert not (tmp_path / "o").exists()
    secret.chmod(0o644)
    rc, _, err = run(["deid", str(CT), "-o", str(tmp_path / "o"), "--uid-secret-file",
                      str(secret)], capsys)
    assert rc == 0 and "chmod 600" in err and "0644" in err


def test_every_gdcmanon_vector_reidentifies_through_the_cli(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Acceptance 1, first half, at the command line: one reid over every gdcmanon vector
    (AES-128/256-CBC, 3DES, an Implicit VR input, RT Plan, SR, a two-file study) gives the
    original values back."""
    vectors = DATA / "gdcmanon"
    folder = tmp_path / "in"
    for deid_file in sorted(vectors.glob("*/deid/*.dcm")):
        name = deid_file.parts[-3]
        (folder / name).mkdir(parents=True, exist_ok=True)
        (folder / name / deid_file.name).write_bytes(deid_file.read_bytes())
    rc, stdout, err = run(["reid", str(folder), "-o", str(tmp_path / "out"), *KEY, "--json",
                           "--workers", "1"], capsys)
    assert rc == 0, err
    reports = json.loads(stdout)
    assert len(reports) == 9 and all(r["authenticated"] is False for r in reports)
    assert {r["cipher"] for r in reports} >= {"aes128-cbc", "aes256-cbc", "des-ede3-cbc"}
    for out in (tmp_path / "out").rglob("*.dcm"):
        name = out.relative_to(tmp_path / "out").parts[0]
        _same_values(vectors / name / "in" / out.name, out)


def test_clean_graphics_clears_text_in_overlay_planes_and_reid_restores_them(
        tmp_path: Path, secret: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Clean Graphics keeps the overlay planes: the file layer clears text in their bitmaps
    (here a region rule over the overlay's top rows); the original plane goes into the
    Encrypted Attributes Sequence and comes back with reid."""
    src = PYDICOM_FILES / "examples_overlay.dcm"
    rules = tmp_path / "rules.toml"
    rules.write_text('[[rule]]\nname = "top"\nregions = [[0, 0, 484, 60]]\n')
    rc, stdout, err = run(["deid", str(src), "-o", str(tmp_path / "d"), "--uid-secret-file",
                           str(secret), "--option", "clean-graphics", "--pixel-rules",
                           str(rules), *RECIPIENT, "--json"], capsys)
    assert rc == 0, err
    [report] = json.loads(stdout)
    assert "113103" in report["claimed"] and report["overlays"]["regions"]
    before = pydicom.dcmread(src).overlay_array(0x6000)
    after = pydicom.dcmread(tmp_path / "d" / src.name).overlay_array(0x6000)
    assert before[:60].any() and not after[:60].any()
    assert (after[60:] == before[60:]).all()
    rc, _, err = run(["reid", str(tmp_path / "d"), "-o", str(tmp_path / "r"), *KEY], capsys)
    assert rc == 0, err
    assert (pydicom.dcmread(tmp_path / "r" / src.name).overlay_array(0x6000) == before).all()


def test_plan_never_lets_another_input_replace_a_refused_one(tmp_path: Path) -> None:
    """Behind the command's check: an input refused because its output would replace it
    also blocks its path for every later input (x/a.dcm is refused, then y/a.dcm, bound
    for the same x/a.dcm, is refused too rather than written over the original)."""
    from dicomsec.deid._batch import plan

    x, y = _two_inputs(tmp_path)
    planned = list(plan([x / "a.dcm", y], x))
    assert [p.src for p in planned] == [x / "a.dcm", y / "a.dcm"]
    assert all(p.problem for p in planned)


def test_key_arguments_hide_the_password_and_share_the_password_check(tmp_path: Path) -> None:
    """S6: the password is not in KeyArgs' repr; S7: the workers load keys through
    _reid.load_credentials, with its ISO-IR 6 password check."""
    from dicomsec.deid._batch import KeyArgs, credentials
    from dicomsec.errors import InvalidInput

    args = KeyArgs(ANON / "recipient.key.pem", password=b"hunter2-password")
    assert "hunter2" not in repr(args) and "hunter2" not in str(args)
    with pytest.raises(InvalidInput, match="ISO-IR 6"):
        credentials(KeyArgs(ANON / "recipient.key.pem", password="pässword".encode()))
