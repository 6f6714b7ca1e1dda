"""Signed outputs are still valid DICOM: dicom3tools ``dciodvfy`` finds no new error.

dciodvfy prints its findings on stderr: the IOD it recognised (``CTImage``, ``BasicTextSR``...),
then ``Error - ...`` and ``Warning - ...`` lines (some prefixed by a tag). Signing adds no value
that dciodvfy could find wrong, so the errors of the output must be a sub-multiset of the
errors of the input. New warnings are allowed only about the signature attributes themselves:
dicom3tools' dictionary does not know the SHA-2 MAC Algorithm terms, and signature attributes
inside a content item are "not present in standard DICOM IOD" (Standard Extended SOP Class).
"""

from __future__ import annotations

import re
import subprocess
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pydicom
import pytest

from dicomsec.signatures import Profile, sign_file, verify_file
from dicomsec.trust import TrustStore
from tests.conftest import PKI, PYDICOM_FILES, cli_sign, fixture_key, require_tool

pytestmark = pytest.mark.peer

_ERROR = re.compile(r"(?:^|\s-\s)(?:Error|Abort)\s-\s")
_WARNING = re.compile(r"(?:^|\s-\s)Warning\s-\s")
_IOD = re.compile(r"^[A-Za-z][A-Za-z0-9]*$")
#: new warnings that signing may legitimately cause (see the module docstring)
_ALLOWED_NEW_WARNING = re.compile(
    r"Unrecognized defined term <SHA(?:256|384|512)> for value 1 of attribute <MAC Algorithm>"
    r"|not present in standard DICOM IOD - \((?:0x0400,0x[0-9a-f]{4}|0x4ffe,0x0001|0xfffa,0xfffa"
    r"|0x0008,0x010[024])\)"
    r"|this is a Standard Extended SOP Class"
)


@dataclass(frozen=True)
class Findings:
    iod: tuple[str, ...]
    errors: Counter[str]
    warnings: Counter[str]


def _normalise(line: str) -> str:
    return " ".join(line.split())


def _dciodvfy(path: Path) -> Findings:
    exe = require_tool("dciodvfy")
    done = subprocess.run([exe, str(path)], capture_output=True, text=True, errors="replace",
                          timeout=120, check=False)
    lines = [_normalise(x) for x in (done.stderr + "\n" + done.stdout).splitlines() if x.strip()]
    return Findings(
        iod=tuple(x for x in lines if _IOD.match(x)),
        errors=Counter(x for x in lines if _ERROR.search(x)),
        warnings=Counter(x for x in lines if _WARNING.search(x) and not _ERROR.search(x)),
    )


def _assert_no_new_findings(src: Path, out: Path) -> None:
    before, after = _dciodvfy(src), _dciodvfy(out)
    # dciodvfy did read and recognise both files the same way (so the comparison means something)
    assert before.iod and after.iod == before.iod, (before.iod, after.iod)
    new_errors = after.errors - before.errors
    assert not new_errors, sorted(new_errors)
    new_warnings = after.warnings - before.warnings
    unexpected = [w for w in new_warnings if not _ALLOWED_NEW_WARNING.search(w)]
    assert not unexpected, unexpected


_key = fixture_key
_cli_sign = cli_sign


def _assert_verifies(path: Path, count: int) -> None:
    report = verify_file(path, trust=TrustStore.from_paths([PKI / "ca.cert.pem"]))
    assert report.ok, [s.problems for s in report.signatures]
    assert len(report.signatures) == count


# --------------------------------------------------------------------------------------------


def test_comparison_detects_a_new_error(tmp_path: Path) -> None:
    """Negative control: a real defect added to the file is caught by the comparison."""
    src = PYDICOM_FILES / "CT_small.dcm"
    bad = tmp_path / "bad.dcm"
    ds = pydicom.dcmread(src)
    del ds.Modality  # Type 1 in General Series
    ds.save_as(bad)
    before, after = _dciodvfy(src), _dciodvfy(bad)
    assert before.iod == after.iod == ("CTImage",)
    assert not before.errors
    new = after.errors - before.errors
    assert any("Modality" in e for e in new), after.errors
    with pytest.raises(AssertionError):
        _assert_no_new_findings(src, bad)


@pytest.mark.parametrize(
    ("name", "iod"),
    [("CT_small.dcm", "CTImage"), ("MR_small.dcm", "MRImage"), ("reportsi.dcm", "BasicTextSR")],
)
def test_inputs_are_recognised(name: str, iod: str) -> None:
    findings = _dciodvfy(PYDICOM_FILES / name)
    assert findings.iod == (iod,)


@pytest.mark.parametrize(
    ("name", "key", "extra"),
    [
        ("CT_small.dcm", "rsa2048", ()),
        ("CT_small.dcm", "ecp256", ("--profile", "creator", "--mac", "sha384", "--purpose", "1")),
        ("MR_small.dcm", "rsa3072", ("--profile", "authorization", "--mac", "sha512")),
        ("MR_small.dcm", "ecp384", ("--profile", "base", "--mac", "sha384")),
        ("MR_small_implicit.dcm", "rsa2048", ()),
        ("reportsi.dcm", "rsa2048", ("--profile", "sr", "--purpose", "1")),
        ("reportsi.dcm", "ecp256", ()),
    ],
    ids=["ct-rsa", "ct-ec-creator", "mr-rsa-auth", "mr-ec-base", "mr-implicit", "sr-srprofile",
         "sr-ec"],
)
def test_main_level_signature_adds_no_error(
    name: str, key: str, extra: tuple[str, ...], tmp_path: Path,
) -> None:
    src, out = PYDICOM_FILES / name, tmp_path / "signed.dcm"
    _cli_sign(src, out, key, *extra)
    _assert_verifies(out, 1)
    _assert_no_new_findings(src, out)


@pytest.mark.parametrize(
    "item",
    ["ContentSequence[1]", "ContentSequence[4]", "ContentSequence[4].ContentSequence[0]",
     "ContentSequence[4].ContentSequence[1]"],
)
def test_sr_item_level_signature_adds_no_error(item: str, tmp_path: Path) -> None:
    src, out = PYDICOM_FILES / "reportsi.dcm", tmp_path / "signed.dcm"
    sign_file(src, out, key=_key("rsa2048"), item=item, purpose=2)
    _assert_verifies(out, 1)
    _assert_no_new_findings(src, out)


def test_sr_main_and_item_signatures_add_no_error(tmp_path: Path) -> None:
    src = PYDICOM_FILES / "reportsi.dcm"
    a, b = tmp_path / "a.dcm", tmp_path / "b.dcm"
    sign_file(src, a, key=_key("ecp256"), item="ContentSequence[4].ContentSequence[0]")
    sign_file(a, b, key=_key("rsa2048"), profile=Profile.SR, purpose=1)
    _assert_verifies(b, 2)
    _assert_no_new_findings(src, b)


def test_two_main_level_signatures_add_no_error(tmp_path: Path) -> None:
    src = PYDICOM_FILES / "CT_small.dcm"
    a, b = tmp_path / "a.dcm", tmp_path / "b.dcm"
    sign_file(src, a, key=_key("rsa2048"))
    sign_file(a, b, key=_key("ecp384"), mac="sha512")
    _assert_verifies(b, 2)
    _assert_no_new_findings(src, b)
