"""Re-identification against GDCM's gdcmanon, both ways (acceptance 1).

- Every vector of tests/data/gdcmanon (copied from shared/fixtures/gdcmanon; made by gdcmanon
  3.0.21 -e, see its MANIFEST.md) re-identifies to the original values: every data element
  equals in/NAME.dcm, as the MANIFEST compares (pydicom element equality), with the recipient
  key in PKCS#8 and in traditional RSA PEM; only (0012,0062) differs by design (``NO`` where
  gdcmanon removes it). The unrelated key fails with DecryptionFailed.
- What we envelope in compatible mode, put into a copy of a gdcmanon deid/ file in place of its
  (0400,0500), is re-identified by ``gdcmanon -d`` to the original values. The modern mode was
  tried with gdcmanon -d as well: the findings are asserted here so that a change shows.
"""

from __future__ import annotations

import copy
import json
import subprocess
from pathlib import Path

import pydicom
import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from dicomsec.deid._envelope import RecipientGroup, encrypted_attributes, tag_label
from dicomsec.deid._reid import load_credentials, reidentify_dataset
from dicomsec.errors import DecryptionFailed
from dicomsec.keys import generate_private_key, issue_certificate, write_private_key
from tests.conftest import require_tool

DATA = Path(__file__).resolve().parent.parent / "data"
GDCM = DATA / "gdcmanon"
ANON = DATA / "pki-anon"
FACTS = json.loads((GDCM / "facts.json").read_text())
VECTORS = [(vector, entry["file"]) for vector in sorted(FACTS) for entry in FACTS[vector]]
#: facts.json names the content algorithm as OpenSSL does; the registry names
CIPHERS = {"aes-128-cbc": "aes128-cbc", "aes-256-cbc": "aes256-cbc",
           "des-ede3-cbc": "des-ede3-cbc"}
IDENTITY_REMOVED = 0x00120062


def _facts(vector: str, name: str) -> dict[str, object]:
    entry: dict[str, object] = next(e for e in FACTS[vector] if e["file"] == name)
    return entry


def _differences(got: Dataset, want: Dataset) -> list[str]:
    """Tags whose element differs (data set only; (0012,0062) checked on its own)."""
    tags = (set(got.keys()) | set(want.keys())) - {IDENTITY_REMOVED}
    return sorted(str(t) for t in tags if t not in got or t not in want or got[t] != want[t])


def test_every_vector_is_listed() -> None:
    assert len(VECTORS) == 9
    assert {v for v, _ in VECTORS} == {
        "ct-aes128", "ct-aes256", "ct-des3", "mr-aes128", "mr-implicit-aes256",
        "rtplan-aes256", "sr-aes128", "study2-aes128"}


@pytest.mark.parametrize("key", ["recipient.key.pem", "recipient.key.rsa.pem"])
@pytest.mark.parametrize(("vector", "name"), VECTORS)
def test_gdcmanon_vector_reidentifies(vector: str, name: str, key: str) -> None:
    deid = pydicom.dcmread(GDCM / vector / "deid" / f"{name}.dcm")
    before = copy.deepcopy(deid)
    original = pydicom.dcmread(GDCM / vector / "in" / f"{name}.dcm")
    facts = _facts(vector, name)
    result = reidentify_dataset(deid, load_credentials(ANON / key))
    out = result.dataset
    assert _differences(out, original) == []
    assert out[IDENTITY_REMOVED].value == "NO"
    assert 0x00120063 not in out and 0x04000500 not in out
    assert out.file_meta.MediaStorageSOPInstanceUID == original.SOPInstanceUID
    tags = {f"({t[:4]},{t[5:]})" for t in facts["mas_tags"]}  # type: ignore[attr-defined]
    assert {r.split()[0] for r in result.restored} == tags
    opened = result.opened
    assert opened.cipher == CIPHERS[str(facts["content_alg"]).split()[0]]
    assert (opened.outer, opened.recipient_kind, opened.authenticated, opened.item_index) == (
        "enveloped-data", "ktri", False, 0)
    assert deid == before  # the input is not modified


@pytest.mark.parametrize(("vector", "name"), [VECTORS[0], ("ct-des3", "CT_small"),
                                              ("mr-implicit-aes256", "MR_small_implicit")])
def test_gdcmanon_vector_with_certificate_and_foreign_key(vector: str, name: str) -> None:
    deid = pydicom.dcmread(GDCM / vector / "deid" / f"{name}.dcm")
    creds = load_credentials(ANON / "recipient.key.pem", ANON / "recipient.cert.pem")
    assert reidentify_dataset(deid, creds).restored
    with pytest.raises(DecryptionFailed):
        reidentify_dataset(deid, load_credentials(ANON / "other.key.pem"))
    with pytest.raises(DecryptionFailed, match="no item"):
        reidentify_dataset(deid, load_credentials(ANON / "other.key.pem",
                                                  ANON / "other.cert.pem"))


# --------------------------------------------------------------------------------------------
# gdcmanon -d on what we write


@pytest.fixture(scope="module")
def recipients(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path]]:
    """(certificate, key) per kind: the pki-anon RSA recipient, ECDH P-256, ML-KEM-768."""
    folder = tmp_path_factory.mktemp("keys")
    ca_key = generate_private_key("ecdsa-p256")
    ca = issue_certificate(ca_key, "Test deid CA", ca=True)
    made = {"rsa": (ANON / "recipient.cert.pem", ANON / "recipient.key.pem")}
    for name, scheme in (("ec", "ecdsa-p256"), ("kem", "ml-kem-768")):
        key = generate_private_key(scheme)
        cert = issue_certificate(key, f"deid {name}", issuer_key=ca_key,  # type: ignore[arg-type]
                                 issuer_cert=ca, encryption=True)
        write_private_key(key, folder / f"{name}.key.pem")
        (folder / f"{name}.cert.pem").write_bytes(cert.public_bytes(Encoding.PEM))
        made[name] = (folder / f"{name}.cert.pem", folder / f"{name}.key.pem")
    return made


def _ours_in_gdcmanon_file(tmp_path: Path, mode: str, cert: Path) -> tuple[Path, Dataset]:
    """A copy of gdcmanon's de-identified CT whose (0400,0500) is replaced by our item of
    the same attributes' original values (read from the real input file)."""
    original = pydicom.dcmread(GDCM / "ct-aes128" / "in" / "CT_small.dcm")
    deid = pydicom.dcmread(GDCM / "ct-aes128" / "deid" / "CT_small.dcm")
    originals = Dataset()
    for tag in _facts("ct-aes128", "CT_small")["mas_tags"]:  # type: ignore[attr-defined]
        originals.add(copy.deepcopy(original[int(tag.replace(",", ""), 16)]))
    deid.EncryptedAttributesSequence = encrypted_attributes(
        originals, [RecipientGroup((cert,), None)], mode=mode)
    path = tmp_path / "ours.dcm"
    deid.save_as(path, enforce_file_format=True)
    return path, original


def _gdcmanon_d(src: Path, key: Path, cert: Path, dst: Path) -> subprocess.CompletedProcess[str]:
    tool = require_tool("gdcmanon")
    return subprocess.run([tool, "-d", "-k", str(key), "-c", str(cert), "-i", str(src),
                           "-o", str(dst)], capture_output=True, text=True, timeout=60,
                          check=False)


@pytest.mark.peer
def test_gdcmanon_reidentifies_compatible_mode(tmp_path: Path,
                                               recipients: dict[str, tuple[Path, Path]]) -> None:
    cert, key = recipients["rsa"]
    src, original = _ours_in_gdcmanon_file(tmp_path, "compatible", cert)
    done = _gdcmanon_d(src, key, cert, tmp_path / "reid.dcm")
    assert done.returncode == 0, done.stderr
    assert _differences(pydicom.dcmread(tmp_path / "reid.dcm"), original) == []
    # and our own reader gives the same
    ours = reidentify_dataset(pydicom.dcmread(src), load_credentials(key))
    assert _differences(ours.dataset, original) == []


@pytest.mark.peer
@pytest.mark.parametrize(("kind", "opens"), [("rsa", True), ("ec", True), ("kem", False)])
def test_gdcmanon_on_modern_mode(tmp_path: Path, recipients: dict[str, tuple[Path, Path]],
                                 kind: str, opens: bool) -> None:
    """Finding (GDCM 3.0.21 on OpenSSL 3.0): gdcmanon -d opens modern-mode items
    (AuthEnvelopedData AES-256-GCM) for RSA-OAEP and ECDH P-256 recipients, since it hands
    the envelope to OpenSSL's CMS; it cannot load an ML-KEM key ("Could not parse Private
    Key") and exits 1."""
    cert, key = recipients[kind]
    src, original = _ours_in_gdcmanon_file(tmp_path, "modern", cert)
    done = _gdcmanon_d(src, key, cert, tmp_path / "reid.dcm")
    if opens:
        assert done.returncode == 0, done.stderr
        assert _differences(pydicom.dcmread(tmp_path / "reid.dcm"), original) == []
    else:
        assert done.returncode != 0
    ours = reidentify_dataset(pydicom.dcmread(src), load_credentials(key))
    assert _differences(ours.dataset, original) == []
    assert ours.opened.authenticated


def test_restored_labels() -> None:
    assert tag_label(0x00100010) == "(0010,0010) PatientName"
    assert tag_label(0x00091002) == "(0009,1002)"


def _reid_with(originals: Dataset, **changes: object) -> tuple[Dataset, object]:
    """The gdcmanon de-identified CT with ``changes`` and one modern item holding
    ``originals``, re-identified with the recipient's key: (output, result)."""
    ds = pydicom.dcmread(GDCM / "ct-aes128" / "deid" / "CT_small.dcm")
    for keyword, value in changes.items():
        setattr(ds, keyword, value)
    ds.EncryptedAttributesSequence = encrypted_attributes(
        originals, [RecipientGroup((ANON / "recipient.cert.pem",), None)])
    result = reidentify_dataset(ds, load_credentials(ANON / "recipient.key.pem"))
    return result.dataset, result


def _full(**values: object) -> Dataset:
    """Originals as the engine writes a full set: the identity, and the marks it added
    listed with zero length."""
    originals = Dataset()
    originals.PatientName = "Original^Name"
    originals.PatientID = "ORIG-1"
    originals.SOPInstanceUID = "1.2.3.4.5"
    originals.PatientIdentityRemoved = None
    originals.DeidentificationMethod = None
    originals.DeidentificationMethodCodeSequence = Sequence()
    for keyword, value in values.items():
        setattr(originals, keyword, value)
        if originals[keyword].VR == "OB or OW":
            originals[keyword].VR = "OB"
    return originals


MARKS = {"LongitudinalTemporalInformationModified": "REMOVED",
         "DeidentificationMethod": "dicomsec test", "DeidentificationMethodCodeSequence": None}


@pytest.mark.parametrize("listed", [None, "", "UNMODIFIED"])
def test_markers_listed_empty_mean_absent(listed: str | None) -> None:
    """A mark the de-identifier added, listed with zero length (an empty string, an empty
    sequence: VM 0), means "absent in the original" and is removed; listed with a value it is
    restored; (0028,0303) not listed stays as the de-identified file has it."""
    code = Dataset()
    code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = (
        "113100", "DCM", "Basic Application Confidentiality Profile")
    extra = {} if listed is None else {"LongitudinalTemporalInformationModified": listed}
    out, result = _reid_with(_full(**extra), LongitudinalTemporalInformationModified="REMOVED",
                             DeidentificationMethod="dicomsec test",
                             DeidentificationMethodCodeSequence=Sequence([code]))
    assert out.get("LongitudinalTemporalInformationModified") == (
        "REMOVED" if listed is None else listed or None)
    assert out.PatientIdentityRemoved == "NO" and result.complete  # type: ignore[attr-defined]
    assert "DeidentificationMethod" not in out
    assert "DeidentificationMethodCodeSequence" not in out
    assert out.PatientName == "Original^Name"


def test_subset_item_keeps_the_file_marked_deidentified() -> None:
    """Spec 7.7: an item that does not give the identity back (here only the name: the
    Patient ID and the UIDs stay dummies) leaves (0012,0062) YES and the method marks; with
    the SOP Instance UID and the Patient ID the identity is back: NO, marks removed."""
    subset = Dataset()
    subset.PatientName = "Original^Name"
    out, result = _reid_with(subset, DeidentificationMethod="dicomsec test")
    assert out.PatientName == "Original^Name"
    assert out.PatientIdentityRemoved == "YES" and out.DeidentificationMethod == "dicomsec test"
    assert result.complete is False  # type: ignore[attr-defined]
    subset.PatientID = "ORIG-1"
    subset.SOPInstanceUID = "1.2.3.4.5"
    out, result = _reid_with(subset, DeidentificationMethod="dicomsec test")
    assert out.PatientIdentityRemoved == "NO" and "DeidentificationMethod" not in out
    assert out.file_meta.MediaStorageSOPInstanceUID == "1.2.3.4.5"
    assert result.complete is True  # type: ignore[attr-defined]


def _item(**values: object) -> Dataset:
    item = Dataset()
    for keyword, value in values.items():
        setattr(item, keyword, value)
    return item


@pytest.mark.parametrize(("keyword", "value", "label"), [
    ("DigitalSignaturesSequence", Sequence([_item(DigitalSignatureUID="1.2.3.9")]),
     "(FFFA,FFFA) DigitalSignaturesSequence"),
    ("EncryptedAttributesSequence", Sequence([_item(
        EncryptedContentTransferSyntaxUID="1.2.840.10008.1.2.1", EncryptedContent=b"xx")]),
     "(0400,0500) EncryptedAttributesSequence"),
    ("TransferSyntaxUID", "1.2.840.10008.1.2", "(0002,0010) TransferSyntaxUID"),
    ("PatientIdentityRemoved", "YES", None),
])
def test_item_never_restores_signatures_envelopes_meta_or_the_identity_mark(
        keyword: str, value: object, label: str | None) -> None:
    out, result = _reid_with(_full(**{keyword: value}))
    assert out.PatientName == "Original^Name" and out.PatientIdentityRemoved == "NO"
    assert "DigitalSignaturesSequence" not in out and "EncryptedAttributesSequence" not in out
    assert out.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1"
    skipped = result.skipped  # type: ignore[attr-defined]
    assert skipped == ((label,) if label else ())
    assert label not in result.restored  # type: ignore[attr-defined]


@pytest.mark.parametrize(("keyword", "value"), [
    ("PixelData", b"\0\1" * 8), ("FloatPixelData", b"\0" * 16),
    ("SOPClassUID", "1.2.840.10008.5.1.4.1.1.7"),
])
def test_item_restoring_pixels_or_another_sop_class_is_refused(keyword: str,
                                                               value: object) -> None:
    """A valid item (GCM included) can be made by anyone holding the recipient's
    certificate: one that would restore what de-identification never encrypts refuses the
    file (exit 1); the same SOP Class UID is restored as it is."""
    with pytest.raises(DecryptionFailed, match="never puts there"):
        _reid_with(_full(**{keyword: value}))
    out, _ = _reid_with(_full(SOPClassUID="1.2.840.10008.5.1.4.1.1.2"))
    assert out.SOPClassUID == "1.2.840.10008.5.1.4.1.1.2"
