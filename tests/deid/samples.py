"""Sample data sets for the de-identification tests (shared: other deid tests may import them).

Real objects from pydicom's test files, plus builders that add what those lack: private blocks
(one declared safe, one mixed, one undeclared), nested sequences with references, identifying
text in descriptors, digital signatures at two levels, overlays and curves, attributes outside
Table E.1-1, and a two-series study whose second series references the first.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import UID

PYDICOM_FILES = Path(pydicom.data.__file__).parent / "test_files"

#: the real samples: name -> pydicom test file
REAL = {
    "CT": "CT_small.dcm",
    "MR": "MR_small.dcm",
    "SR": "test-SR.dcm",
    "RTPLAN": "rtplan.dcm",
    "RTSTRUCT": "rtstruct.dcm",
    "SC": "SC_rgb_small_odd.dcm",
    "OVERLAY": "examples_overlay.dcm",
    "ENHANCED": "liver_1frame.dcm",  # Enhanced CT (segmentation-derived), functional groups
}

SECRET = b"dicomsec-test-secret-0123456789"
OTHER_SECRET = b"another-secret-for-the-tests-42"

#: identifying values the builders put into the objects
PATIENT_NAME = "Doe^Johnathan^Q"
PATIENT_ID = "MRN-448812"
ACCESSION = "ACC20260117"
ADDRESS = "12 Quayside Lane, Exeter"
TELEPHONE = "01392 555 0199"
INSTITUTION = "Exeter Royal Infirmary"
INSTITUTION_ADDRESS = "1 Barrack Road"
#: attributes outside Table E.1-1: SecondaryReviewerName, InterventionDescription,
#: SecondaryReviewDate, SecondaryReviewTime, TargetFrameOfReferenceUID
OUTSIDE = {"name": 0x00140104, "text": 0x0018003A, "date": 0x00140102, "time": 0x00140103,
           "uid": 0x0018991E}
SAFE_CREATOR = "DICOMSEC SAFE TEST"
MIXED_CREATOR = "DICOMSEC MIXED TEST"
UNSAFE_CREATOR = "DICOMSEC UNSAFE TEST"


def path_of(kind: str) -> Path:
    return PYDICOM_FILES / REAL[kind]


def load(kind: str) -> Dataset:
    """A real sample (read with force: rtstruct.dcm has no preamble)."""
    return pydicom.dcmread(path_of(kind), force=True)


def _code(value: str, scheme: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = scheme
    item.CodeMeaning = meaning
    return item


def _private_blocks(ds: Dataset) -> None:
    """Three private blocks in group 0x0009 and one nested in a sequence item; the
    Private Data Element Characteristics Sequence declares the first SAFE, the second MIXED."""
    safe = ds.private_block(0x0009, SAFE_CREATOR, create=True)
    safe.add_new(0x01, "DS", "3.5")
    safe.add_new(0x02, "LO", "kernel B30f")
    mixed = ds.private_block(0x0009, MIXED_CREATOR, create=True)
    mixed.add_new(0x01, "US", 12)
    mixed.add_new(0x02, "LO", PATIENT_NAME.replace("^", " "))
    mixed.add_new(0x03, "LO", "to dummy")
    unsafe = ds.private_block(0x0009, UNSAFE_CREATOR, create=True)
    unsafe.add_new(0x01, "LO", PATIENT_ID)
    inner = Dataset()
    inner.private_block(0x0011, UNSAFE_CREATOR, create=True).add_new(0x05, "LO", ACCESSION)
    inner.PatientName = PATIENT_NAME
    unsafe.add_new(0x10, "SQ", Sequence([inner]))
    declared = []
    for creator, status in ((SAFE_CREATOR, "SAFE"), (MIXED_CREATOR, "MIXED")):
        item = Dataset()
        item.PrivateGroupReference = 0x0009
        item.PrivateCreatorReference = creator
        item.BlockIdentifyingInformationStatus = status
        if status == "MIXED":
            item.NonidentifyingPrivateElements = [0x01]
            action = Dataset()
            action.IdentifyingPrivateElements = [0x03]
            action.DeidentificationAction = "D"
            item.DeidentificationActionSequence = Sequence([action])
        declared.append(item)
    ds.PrivateDataElementCharacteristicsSequence = Sequence(declared)


def _signatures(ds: Dataset, uid: str) -> Sequence:
    sig = Dataset()
    sig.MACIDNumber = 1
    sig.DigitalSignatureUID = uid
    sig.DigitalSignatureDateTime = "20040119101010"
    sig.CertificateType = "X509_1993_SIG"
    sig.CertificateOfSigner = b"\x30\x03\x02\x01\x01"
    sig.Signature = b"\x01" * 8
    return Sequence([sig])


def _graphics(ds: Dataset) -> None:
    ds.add_new(0x60000010, "US", 4)
    ds.add_new(0x60000011, "US", 4)
    ds.add_new(0x60000040, "CS", "G")
    ds.add_new(0x60000050, "SS", [1, 1])
    ds.add_new(0x60000100, "US", 1)
    ds.add_new(0x60000102, "US", 0)
    ds.add_new(0x60000022, "LO", f"ROI of {PATIENT_NAME}")
    ds.add_new(0x60003000, "OW", b"\x0f\x00")
    ds.add_new(0x60004000, "LT", f"drawn for {PATIENT_NAME} on 2004-01-19, ref {PATIENT_ID}")
    ds.add_new(0x50000005, "US", 2)
    ds.add_new(0x50000022, "LO", f"curve of {PATIENT_NAME}")
    ds.add_new(0x50003000, "OW", b"\x01\x00\x02\x00")


def rich(kind: str = "CT") -> Dataset:
    """A real sample with everything the engine must handle added (module docstring)."""
    ds = load(kind)
    ds.PatientName = PATIENT_NAME
    ds.PatientID = PATIENT_ID
    ds.IssuerOfPatientID = "EXETER-RI"
    ds.PatientBirthDate = "19610314"
    ds.PatientAddress = ADDRESS
    ds.PatientTelephoneNumbers = TELEPHONE
    ds.AccessionNumber = ACCESSION
    ds.InstitutionName = INSTITUTION
    ds.InstitutionAddress = INSTITUTION_ADDRESS
    ds.ReferringPhysicianName = "Smithers^Waylon"
    ds.StudyDate = "20040119"
    ds.StudyTime = "101010"
    ds.StudyDescription = f"CT head {PATIENT_NAME.split('^')[0]} 2004-01-19 {PATIENT_ID}"
    ds.ImageComments = f"patient {PATIENT_NAME.replace('^', ' ')} seen at {INSTITUTION}"
    other = Dataset()
    other.PatientID = "OLD-99172"
    other.IssuerOfPatientID = "OTHER-HOSP"
    other.TypeOfPatientID = "TEXT"
    ds.OtherPatientIDsSequence = Sequence([other])
    ref = Dataset()
    ref.ReferencedSOPClassUID = ds.SOPClassUID
    ref.ReferencedSOPInstanceUID = "1.2.826.0.1.3680043.2.1143.555.1"
    ds.ReferencedImageSequence = Sequence([ref])
    source = Dataset()
    source.ReferencedSOPClassUID = ds.SOPClassUID
    source.ReferencedSOPInstanceUID = "1.2.826.0.1.3680043.2.1143.555.2"
    source.PurposeOfReferenceCodeSequence = Sequence([_code("121320", "DCM", "Uncompressed "
                                                             "predecessor")])
    ds.SourceImageSequence = Sequence([source])
    # outside Table E.1-1 (checked by the tests): a name, a text, a date, a time, a UID
    ds.add_new(OUTSIDE["name"], "PN", "Reviewer^Quentin")
    ds.add_new(OUTSIDE["text"], "ST", f"{PATIENT_NAME} free text")
    ds.add_new(OUTSIDE["date"], "DA", "20031231")
    ds.add_new(OUTSIDE["time"], "TM", "093000")
    ds.add_new(OUTSIDE["uid"], "UI", "1.2.826.0.1.3680043.2.1143.555.3")
    # outside the table, UR: a WADO URL carrying the Patient ID and the original Study UID
    ds.add_new(0x00081190, "UR", f"https://pacs.example/wado?patient={PATIENT_ID}"
                                 f"&study={ds.StudyInstanceUID}")
    ds.add_new(0x0074100A, "UR", "mailto:waylon.smithers@example.org")
    _private_blocks(ds)
    _graphics(ds)
    ds.DigitalSignaturesSequence = _signatures(ds, "1.2.826.0.1.3680043.2.1143.555.9")
    ds.ReferencedImageSequence[0].DigitalSignaturesSequence = _signatures(
        ds, "1.2.826.0.1.3680043.2.1143.555.10")
    orig = Dataset()
    orig.ModifiedAttributesSequence = Sequence([Dataset()])
    orig.ModifiedAttributesSequence[0].PatientName = "Formerly^Known"
    orig.AttributeModificationDateTime = "20040119101010"
    orig.ModifyingSystem = "PACS"
    orig.ReasonForTheAttributeModification = "CORRECT"
    orig.SourceOfPreviousValues = ""
    ds.OriginalAttributesSequence = Sequence([orig])
    ds.add_new(0xFFFCFFFC, "OB", b"\0" * 16)
    return ds


def study(count_a: int = 2, count_b: int = 2) -> list[Dataset]:
    """A study of two CT series and an SR: series A has ``count_a`` instances, series B
    ``count_b``; every B instance references an A instance (Referenced Image Sequence and
    Source Image Sequence), the Frame of Reference is shared; the last data set is an SR whose
    evidence sequence lists every image and whose IMAGE content item references the first."""
    base = load("CT")
    base.PatientName = PATIENT_NAME
    base.PatientID = PATIENT_ID
    base.AccessionNumber = ACCESSION
    root = "1.2.826.0.1.3680043.2.1143.777"
    base.StudyInstanceUID = f"{root}.1"
    base.FrameOfReferenceUID = f"{root}.2"
    out: list[Dataset] = []
    for series, count in (("A", count_a), ("B", count_b)):
        for index in range(count):
            ds = copy.deepcopy(base)
            ds.SeriesInstanceUID = f"{root}.{3 if series == 'A' else 4}"
            ds.SOPInstanceUID = f"{root}.{10 if series == 'A' else 20}.{index + 1}"
            ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
            ds.InstanceNumber = index + 1
            if series == "B":
                target = f"{root}.10.{index % count_a + 1}"
                for keyword in ("ReferencedImageSequence", "SourceImageSequence"):
                    ref = Dataset()
                    ref.ReferencedSOPClassUID = ds.SOPClassUID
                    ref.ReferencedSOPInstanceUID = target
                    setattr(ds, keyword, Sequence([ref]))
            out.append(ds)
    out.append(_evidence_sr(base, out, f"{root}.5", f"{root}.30.1"))
    return out


def _evidence_sr(base: Dataset, images: list[Dataset], series: str, sop: str) -> Dataset:
    """test-SR.dcm moved into the study: its evidence lists every image, and its first IMAGE
    content item references the first one."""
    sr = load("SR")
    for keyword in ("PatientName", "PatientID", "AccessionNumber", "StudyInstanceUID"):
        setattr(sr, keyword, base.get(keyword))
    sr.SeriesInstanceUID, sr.SOPInstanceUID = series, sop
    sr.file_meta.MediaStorageSOPInstanceUID = UID(sop)
    by_series: dict[str, list[Dataset]] = {}
    for image in images:
        by_series.setdefault(str(image.SeriesInstanceUID), []).append(image)
    study_item = Dataset()
    study_item.StudyInstanceUID = base.StudyInstanceUID
    study_item.ReferencedSeriesSequence = Sequence()
    for series_uid, members in by_series.items():
        series_item = Dataset()
        series_item.SeriesInstanceUID = series_uid
        series_item.ReferencedSOPSequence = Sequence()
        for image in members:
            ref = Dataset()
            ref.ReferencedSOPClassUID = image.SOPClassUID
            ref.ReferencedSOPInstanceUID = image.SOPInstanceUID
            series_item.ReferencedSOPSequence.append(ref)
        study_item.ReferencedSeriesSequence.append(series_item)
    sr.CurrentRequestedProcedureEvidenceSequence = Sequence([study_item])
    stack = list(sr.ContentSequence)
    while stack:
        item = stack.pop(0)
        if item.get("ValueType") == "IMAGE":
            item.ReferencedSOPSequence[0].ReferencedSOPClassUID = images[0].SOPClassUID
            item.ReferencedSOPSequence[0].ReferencedSOPInstanceUID = images[0].SOPInstanceUID
            break
        stack.extend(item.get("ContentSequence") or [])
    return sr
