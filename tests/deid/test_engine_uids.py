"""UID and Patient ID mapping (acceptance 4, library level): consistent across a two-series
study and across calls with one secret, different with another secret, every reference
follows; the keyed functions themselves."""

from __future__ import annotations

import pytest
from pydicom.dataset import Dataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian

from dicomsec.deid import _uids
from dicomsec.deid._engine import EngineResult, Settings, deidentify_dataset
from dicomsec.deid._rules import Option
from dicomsec.errors import InvalidInput
from tests.deid import samples
from tests.deid.samples import OTHER_SECRET, SECRET


def _run(secret: bytes, options: frozenset[Option] = frozenset()) -> list[EngineResult]:
    return [deidentify_dataset(ds, Settings(options, secret)) for ds in samples.study()]


def _uids_of(results: list[EngineResult]) -> list[tuple[str, str, str, str]]:
    return [(r.dataset.StudyInstanceUID, r.dataset.SeriesInstanceUID,
             r.dataset.SOPInstanceUID, str(r.dataset.get("FrameOfReferenceUID")))
            for r in results]


def test_study_stays_a_study_and_references_resolve() -> None:
    originals = samples.study()
    results = _run(SECRET)
    outs = [r.dataset for r in results]
    images, sr = outs[:-1], outs[-1]
    assert len({d.StudyInstanceUID for d in outs}) == 1
    assert len({d.FrameOfReferenceUID for d in images}) == 1
    assert len({d.SeriesInstanceUID for d in images}) == 2
    evidence = sr.CurrentRequestedProcedureEvidenceSequence[0]
    assert evidence.StudyInstanceUID == sr.StudyInstanceUID
    listed = {(s.SeriesInstanceUID, r.ReferencedSOPInstanceUID)
              for s in evidence.ReferencedSeriesSequence for r in s.ReferencedSOPSequence}
    assert listed == {(d.SeriesInstanceUID, d.SOPInstanceUID) for d in images}
    stack = list(sr.ContentSequence)
    image_refs = []
    while stack:
        item = stack.pop(0)
        if item.get("ValueType") == "IMAGE":
            image_refs.append(item.ReferencedSOPSequence[0].ReferencedSOPInstanceUID)
        stack.extend(item.get("ContentSequence") or [])
    assert image_refs and image_refs[0] == images[0].SOPInstanceUID
    assert len({d.SOPInstanceUID for d in outs}) == len(outs)
    assert len({d.PatientID for d in outs}) == 1 and outs[0].PatientID.startswith("ANON-")
    assert sr.PatientID == outs[0].PatientID
    new_sops = {d.SOPInstanceUID for d in outs}
    for before, out in zip(originals, outs, strict=True):
        assert out.StudyInstanceUID != before.StudyInstanceUID
        for keyword in ("ReferencedImageSequence", "SourceImageSequence"):
            if keyword in before and keyword in out and len(out[keyword].value):
                target = out[keyword][0].ReferencedSOPInstanceUID
                assert target in new_sops  # the reference follows the referenced instance
                assert target == _uids.new_uid(before[keyword][0].ReferencedSOPInstanceUID,
                                               SECRET)
    # every replaced UID is in the maps, once per original
    merged: dict[str, str] = {}
    for result in results:
        for old, new in result.uid_map.items():
            assert merged.setdefault(old, new) == new
    assert set(merged.values()) >= new_sops


def test_same_secret_same_mapping_other_secret_other_mapping() -> None:
    first, again, other = _run(SECRET), _run(SECRET), _run(OTHER_SECRET)
    assert _uids_of(first) == _uids_of(again)
    assert [r.dataset.PatientID for r in first] == [r.dataset.PatientID for r in again]
    for a, b in zip(_uids_of(first[:-1]), _uids_of(other[:-1]), strict=True):
        assert not set(a) & set(b)
    assert first[0].dataset.PatientID != other[0].dataset.PatientID
    modified = frozenset({Option.RETAIN_LONGITUDINAL_MODIFIED_DATES})
    offsets = {r.date_offset_days for r in _run(SECRET, modified)}
    assert len(offsets) == 1 and offsets == {r.date_offset_days for r in _run(SECRET, modified)}


def test_sr_references_follow_the_images() -> None:
    """An SR's UID content items and Referenced SOP Instance UIDs map like the instances."""
    sr = samples.load("SR")
    out = deidentify_dataset(sr, Settings(frozenset(), SECRET))
    uid_item = sr.ContentSequence[0]
    assert uid_item.ValueType == "UIDREF"
    assert out.dataset.ContentSequence[0].UID == _uids.new_uid(uid_item.UID, SECRET)
    for old, new in out.uid_map.items():
        assert new == _uids.new_uid(old, SECRET)


@pytest.mark.parametrize("uid", [str(CTImageStorage), str(ExplicitVRLittleEndian),
                                 "1.2.840.10008.1.1", "1.2.840.10008.5.1.4.1.1.88.99"])
def test_well_known_uids_never_change(uid: str) -> None:
    assert _uids.new_uid(uid, SECRET) == uid


def test_new_uid_format() -> None:
    uid = _uids.new_uid("1.2.826.0.1.3680043.2.1143.1", SECRET)
    assert uid.startswith("2.25.") and len(uid) <= 44 and not uid[5:].startswith("0")
    assert uid == _uids.new_uid("1.2.826.0.1.3680043.2.1143.1 ", SECRET)
    assert uid != _uids.new_uid("1.2.826.0.1.3680043.2.1143.1", OTHER_SECRET)
    pid = _uids.new_patient_id("12345", "ISSUER", SECRET)
    assert pid.startswith("ANON-") and len(pid) <= 64
    assert pid != _uids.new_patient_id("12345", "OTHER", SECRET)
    assert _uids.new_patient_id("", "", SECRET) == ""
    assert -3650 <= _uids.date_offset_days("12345", SECRET) <= -1
    with pytest.raises(InvalidInput):
        _uids.check_secret(b"short")


def test_retain_uids_keeps_every_uid() -> None:
    ds: Dataset = samples.rich("CT")
    result = deidentify_dataset(ds, Settings(frozenset({Option.RETAIN_UIDS}), SECRET))
    assert dict(result.uid_map) == {}
    assert result.dataset.StudyInstanceUID == ds.StudyInstanceUID
    assert result.dataset[samples.OUTSIDE["uid"]].value == ds[samples.OUTSIDE["uid"]].value
    # CT_small's UIDs embed its acquisition date: said, not hidden
    assert ds.StudyDate in ds.SOPInstanceUID
    assert any("embed an original date" in w for w in result.warnings)
