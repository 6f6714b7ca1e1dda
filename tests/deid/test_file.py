"""The file layer as a library: :func:`dicomsec.deid.deidentify_file` and
:func:`dicomsec.deid.reidentify_file` (the API docs/api.md shows), the configuration that worker
processes receive, and the write that never leaves a half-done file."""

from __future__ import annotations

import pickle
from pathlib import Path

import pydicom
import pytest

from dicomsec import deid
from dicomsec.cms.recipients import Credentials
from dicomsec.errors import DecryptionFailed, InvalidInput, PolicyViolation
from dicomsec.keys import load_certificate, load_private_key
from tests.conftest import DATA, PYDICOM_FILES

CT = PYDICOM_FILES / "CT_small.dcm"
ANON = DATA / "pki-anon"
SECRET = b"a site secret of 32 bytes here!!"


def _config(**kw: object) -> deid.DeidConfig:
    groups = deid.recipient_groups([ANON / "recipient.cert.pem"], [])
    return deid.DeidConfig(secret=SECRET, groups=groups, **kw)  # type: ignore[arg-type]


def _credentials(name: str = "recipient") -> Credentials:
    return Credentials(private_key=load_private_key(ANON / f"{name}.key.pem"),
                       certificate=load_certificate(ANON / f"{name}.cert.pem"))


def test_config_is_picklable_and_hides_its_secret() -> None:
    config = _config(options=frozenset({deid.Option.RETAIN_UIDS}), mode="compatible")
    assert pickle.loads(pickle.dumps(config)) == config
    assert SECRET.decode() not in repr(config)


@pytest.mark.parametrize("mode", ["modern", "compatible"])
def test_round_trip(mode: str, tmp_path: Path) -> None:
    report = deid.deidentify_file(CT, tmp_path / "d.dcm", _config(mode=mode))
    assert report.ok and report.encrypted is not None and report.encrypted.mode == mode
    out = pydicom.dcmread(tmp_path / "d.dcm")
    original = pydicom.dcmread(CT)
    assert out.PatientName != original.PatientName
    assert out.preamble == b"\0" * 128
    assert "SourceApplicationEntityTitle" not in out.file_meta
    back = deid.reidentify_file(tmp_path / "d.dcm", tmp_path / "r.dcm", _credentials())
    assert back.ok and back.item_index == 0
    restored = pydicom.dcmread(tmp_path / "r.dcm")
    # all but Data Set Trailing Padding (removed, not worth restoring: documented)
    assert all(restored[e.tag].value == e.value for e in original if e.tag != 0xFFFCFFFC)
    assert restored.PatientIdentityRemoved == "NO"


def test_failures_write_nothing(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="16 bytes"):
        deid.deidentify_file(CT, tmp_path / "a.dcm", deid.DeidConfig(secret=b"short"))
    ds = pydicom.dcmread(CT)
    ds.BurnedInAnnotation = "YES"
    ds.save_as(tmp_path / "burned.dcm")
    with pytest.raises(PolicyViolation, match="burned-in"):
        deid.deidentify_file(tmp_path / "burned.dcm", tmp_path / "b.dcm", _config(strict=True))
    deid.deidentify_file(CT, tmp_path / "d.dcm", _config())
    with pytest.raises(DecryptionFailed):
        deid.reidentify_file(tmp_path / "d.dcm", tmp_path / "r.dcm", _credentials("other"))
    with pytest.raises(InvalidInput):
        deid.reidentify_file(CT, tmp_path / "r.dcm", _credentials())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["burned.dcm", "d.dcm"]


@pytest.mark.parametrize(("body_part", "claimed"), [("KNEE", True), (None, False)])
def test_visual_features_claimed_only_when_no_face_can_show(
        body_part: str | None, claimed: bool, tmp_path: Path) -> None:
    """clean-recognizable-visual-features: claimed (113102, (0028,0302) NO) only when the
    image cannot show a face; otherwise flagged, and refused with strict."""
    ds = pydicom.dcmread(CT)
    if body_part is not None:
        ds.BodyPartExamined = body_part
    ds.save_as(tmp_path / "in.dcm")
    option = frozenset({deid.Option.CLEAN_RECOGNIZABLE_VISUAL_FEATURES})
    report = deid.deidentify_file(tmp_path / "in.dcm", tmp_path / "out.dcm",
                                  _config(options=option))
    out = pydicom.dcmread(tmp_path / "out.dcm")
    assert ("113102" in report.claimed) is claimed
    assert (out.get("RecognizableVisualFeatures") == "NO") is claimed
    assert any("113102" == item.CodeValue for item in out.DeidentificationMethodCodeSequence) \
        is claimed
    assert bool(report.flags) is not claimed
    if not claimed:
        with pytest.raises(PolicyViolation, match="recognizable"):
            deid.deidentify_file(tmp_path / "in.dcm", tmp_path / "refused.dcm",
                                 _config(options=option, strict=True))
        assert not (tmp_path / "refused.dcm").exists()
