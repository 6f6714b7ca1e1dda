"""Outputs stay valid DICOM (acceptance 3): ``dciodvfy`` (dicom3tools) reports no error on the
de-identified file that it did not already report on the input. Error lines are compared
with UIDs normalised (the mapping changes them, the error stays the same)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from pydicom.dataset import Dataset

from dicomsec.deid._engine import Settings, deidentify_dataset
from dicomsec.deid._rules import Option
from tests.conftest import require_tool
from tests.deid import samples
from tests.deid.samples import SECRET

pytestmark = pytest.mark.peer

_UID = re.compile(r"\d+(?:\.\d+){2,}")
EVERYTHING = frozenset({
    Option.CLEAN_DESCRIPTORS, Option.CLEAN_STRUCTURED_CONTENT, Option.CLEAN_GRAPHICS,
    Option.RETAIN_SAFE_PRIVATE, Option.RETAIN_LONGITUDINAL_MODIFIED_DATES,
    Option.RETAIN_PATIENT_CHARACTERISTICS, Option.RETAIN_DEVICE_IDENTITY,
    Option.RETAIN_INSTITUTION_IDENTITY,
})


def errors(tool: str, path: Path) -> set[str]:
    run = subprocess.run([tool, str(path)], capture_output=True, text=True, check=False,
                         timeout=60)
    lines = (run.stdout + run.stderr).splitlines()
    return {_UID.sub("<UID>", line.strip()) for line in lines if line.startswith("Error")}


def _input(kind: str, rich: bool, tmp_path: Path) -> tuple[Dataset, Path]:
    if not rich:
        return samples.load(kind), samples.path_of(kind)
    ds = samples.rich(kind)
    path = tmp_path / "in.dcm"
    ds.save_as(path, enforce_file_format=True)
    return ds, path


@pytest.mark.parametrize("options", [frozenset(), EVERYTHING], ids=["basic", "options"])
@pytest.mark.parametrize("kind,rich", [(k, False) for k in samples.REAL] + [("CT", True),
                                                                            ("SR", True)])
def test_no_new_dciodvfy_error(kind: str, rich: bool, options: frozenset[Option],
                               tmp_path: Path) -> None:
    tool = require_tool("dciodvfy")
    ds, source = _input(kind, rich, tmp_path)
    result = deidentify_dataset(ds, Settings(options, SECRET))
    target = tmp_path / "out.dcm"
    result.dataset.save_as(target, enforce_file_format=True)
    before, after = errors(tool, source), errors(tool, target)
    assert not after - before, sorted(after - before)


def test_the_comparison_sees_errors() -> None:
    """test-SR.dcm has known errors: the parsing of dciodvfy's output is not blind."""
    assert errors(require_tool("dciodvfy"), samples.path_of("SR"))
