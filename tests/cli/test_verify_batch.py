"""``verify`` of many files through the batch executor: the same answers in-process and with
worker processes, per-file errors, ``--workers`` checked."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from dicomsec.cli import main
from tests.conftest import PKI, PYDICOM_FILES

CT = PYDICOM_FILES / "CT_small.dcm"
CA = PKI / "ca.cert.pem"


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("study")
    (root / "sub").mkdir()
    for name in ("1.dcm", "2.dcm", "sub/3.dcm"):
        assert main(["sign", str(CT), "-o", str(root / name), "--key",
                     str(PKI / "signer-ecp256.key.pem"), "--cert",
                     str(PKI / "signer-ecp256.cert.pem")]) == 0
    (root / "notes.txt").write_text("not dicom\n")
    return root


def _verify(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, Any]:
    capsys.readouterr()
    code = main(["verify", *map(str, argv)])
    return code, json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("workers", ["1", "2"])
def test_same_answer_in_process_and_in_workers(capsys: pytest.CaptureFixture[str],
                                               folder: Path, workers: str) -> None:
    code, reports = _verify(capsys, folder, "--trust", CA, "--json", "--workers", workers)
    assert code == 2  # notes.txt cannot be read
    by_file = {Path(r["file"]).name: r for r in reports}
    assert sorted(by_file) == ["1.dcm", "2.dcm", "3.dcm", "notes.txt"]
    assert set(by_file["notes.txt"]) == {"file", "error"}
    assert all(by_file[n]["signatures"][0]["valid"] for n in ("1.dcm", "2.dcm", "3.dcm"))


def test_untrusted_beats_unreadable(capsys: pytest.CaptureFixture[str], folder: Path) -> None:
    code, reports = _verify(capsys, folder, "--json", "--workers", "2")  # no --trust
    assert code == 1
    assert len(reports) == 4


def test_many_files_as_arguments(capsys: pytest.CaptureFixture[str], folder: Path) -> None:
    code, reports = _verify(capsys, folder / "1.dcm", folder / "sub" / "3.dcm", "--trust", CA,
                            "--json")
    assert code == 0
    assert sorted(Path(r["file"]).name for r in reports) == ["1.dcm", "3.dcm"]


def test_workers_must_be_positive(capsys: pytest.CaptureFixture[str], folder: Path) -> None:
    assert main(["verify", str(folder), "--workers", "0"]) == 2
    assert "--workers" in capsys.readouterr().err


def test_text_output_per_file(capsys: pytest.CaptureFixture[str], folder: Path) -> None:
    capsys.readouterr()
    assert main(["verify", str(folder), "--trust", str(CA), "--workers", "2"]) == 2
    out, err = capsys.readouterr()
    assert out.count("OK  ") == 3
    assert err.count("error: ") == 1 and "notes.txt" in err


def test_progress_bar_only_when_asked(capsys: pytest.CaptureFixture[str], folder: Path) -> None:
    capsys.readouterr()
    assert main(["verify", str(folder / "1.dcm"), str(folder / "2.dcm"), "--trust", str(CA),
                 "--json"]) == 0
    assert capsys.readouterr().err == ""  # stderr is not a terminal: no bar
    assert main(["verify", str(folder / "1.dcm"), str(folder / "2.dcm"), "--trust", str(CA),
                 "--json", "--progress"]) == 0
    out, err = capsys.readouterr()
    assert "verifying" in err
    assert len(json.loads(out)) == 2  # stdout keeps only the JSON
