"""Encrypted Attributes Sequence items: writing (compatible and modern modes, recipient groups,
--attributes-for), opening (every recipient kind, each seeing only its subset), and every way
an item can fail: corrupted content, plaintext that is not one Modified Attributes item, limits,
policy, passwords. gdcmanon's vectors and gdcmanon -d itself are in test_reid.py.
"""

from __future__ import annotations

import copy
import io
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

import pydicom
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset
from pydicom.tag import Tag

from dicomsec import limits
from dicomsec.algorithms import Status
from dicomsec.algorithms.policy import AlgorithmPolicy
from dicomsec.cms import ID_DATA
from dicomsec.cms.envelope import read_envelope, write_envelope
from dicomsec.cms.recipients import Credentials, KeyTransRecipient, describe
from dicomsec.deid._envelope import (
    CONTENT_FAILS,
    MODES,
    NO_RECIPIENT,
    RecipientGroup,
    decode_plaintext,
    encode_plaintext,
    encrypted_attributes,
    open_encrypted_attributes,
    parse_attributes_for,
    parse_tag,
    recipient_groups,
    unpad_content,
)
from dicomsec.deid._reid import load_credentials, reidentify_dataset
from dicomsec.errors import DecryptionFailed, InvalidInput, PolicyViolation
from dicomsec.keys import (
    generate_private_key,
    issue_certificate,
    load_certificate,
    load_private_key_any,
    write_private_key,
)
from tests.conftest import PYDICOM_FILES

DATA = Path(__file__).resolve().parent.parent / "data"
ANON = DATA / "pki-anon"
GDCM = DATA / "gdcmanon"
RSA_CERT = ANON / "recipient.cert.pem"
RSA_KEY = ANON / "recipient.key.pem"

#: the top-level attributes a test "de-identifies" (with their dummy values), and the private
#: element (with its creator) that CT_small carries
CHANGED = {"PatientName": "ANON", "PatientID": "ID", "SOPInstanceUID": "2.25.1",
           "StudyInstanceUID": "2.25.2", "InstitutionName": "X"}
PRIVATE = 0x00091002  # (0009,1002) "CT01", creator (0009,0010) GEMS_IDEN_01


@dataclass(frozen=True)
class Holder:
    """A recipient: certificate file and private key file."""

    cert: Path
    key: Path

    def credentials(self, *, with_cert: bool = False) -> Credentials:
        return load_credentials(self.key, self.cert if with_cert else None)


@pytest.fixture(scope="module")
def holders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Holder]:
    """RSA (the pki-anon recipient), an ECDH P-256 and an ML-KEM-768 recipient (certificates
    issued by a throw-away P-256 CA with dicomsec.keys)."""
    folder = tmp_path_factory.mktemp("recipients")
    ca_key = generate_private_key("ecdsa-p256")
    ca = issue_certificate(ca_key, "Test deid CA", ca=True)
    made = {"rsa": Holder(RSA_CERT, RSA_KEY)}
    for name, scheme in (("ec", "ecdsa-p256"), ("kem", "ml-kem-768")):
        key = generate_private_key(scheme)
        cert = issue_certificate(key, f"deid recipient {name}", issuer_key=ca_key,  # type: ignore[arg-type]
                                 issuer_cert=ca, encryption=True)
        write_private_key(key, folder / f"{name}.key.pem")
        (folder / f"{name}.cert.pem").write_bytes(cert.public_bytes(Encoding.PEM))
        made[name] = Holder(folder / f"{name}.cert.pem", folder / f"{name}.key.pem")
    return made


#: the RSA recipient's credentials, loaded once (a key load costs more than an opening)
_RSA_CREDS = load_credentials(RSA_KEY)


def _original() -> Dataset:
    return pydicom.dcmread(PYDICOM_FILES / "CT_small.dcm")


def _deidentified(original: Dataset) -> tuple[Dataset, Dataset]:
    """(a crudely de-identified copy, the originals item): enough to test envelopes without
    the engine."""
    ds = copy.deepcopy(original)
    originals = Dataset()
    for keyword, dummy in CHANGED.items():
        originals.add(copy.deepcopy(original[keyword]))
        setattr(ds, keyword, dummy)
    for tag in (0x00090010, PRIVATE):
        originals.add(copy.deepcopy(original[tag]))
        del ds[tag]
    return ds, originals


def _saved(ds: Dataset, tmp_path: Path) -> Dataset:
    """Written and read back (the Encrypted Content goes through an OB value: odd DER padded)."""
    path = tmp_path / "x.dcm"
    ds.save_as(path, enforce_file_format=True)
    return pydicom.dcmread(path)


# --------------------------------------------------------------------------------------------
# --attributes-for and recipient groups


@pytest.mark.parametrize(("text", "tag"), [
    ("PatientName", 0x00100010), ("(0010,0010)", 0x00100010), ("0010,0010", 0x00100010),
    ("00100010", 0x00100010), (" patientid ", None), ("(0009,1002)", PRIVATE),
])
def test_parse_tag(text: str, tag: int | None) -> None:
    if tag is None:
        with pytest.raises(InvalidInput, match="unknown attribute"):
            parse_tag(text)
    else:
        assert parse_tag(text) == tag


@pytest.mark.parametrize("text", ["NoSuchKeyword", "0010,001", "(0002,0003)", "FFFEE000",
                                  "(0010,0010", "12345678x"])
def test_parse_tag_refuses(text: str) -> None:
    with pytest.raises(InvalidInput):
        parse_tag(text)


def test_parse_attributes_for() -> None:
    path, tags = parse_attributes_for("a=b/cert.pem=PatientName,0010,0020,(0008,0018)")
    assert path == Path("a=b/cert.pem")
    assert tags == {0x00100010, 0x00100020, 0x00080018}
    for bad in ("cert.pem", "=PatientName", "cert.pem=", "cert.pem=Nope"):
        with pytest.raises(InvalidInput):
            parse_attributes_for(bad)


def test_recipient_groups_least_privilege(tmp_path: Path) -> None:
    a, b, c, d = (tmp_path / f"{n}.pem" for n in "abcd")
    groups = recipient_groups(
        [a, b, a, c],
        [(b, frozenset({1})), (c, frozenset({2})), (d, frozenset({1})), (c, frozenset({3}))])
    assert groups == (
        RecipientGroup((a,), None),  # b and c are in --attributes-for: they get only subsets
        RecipientGroup((b, d), frozenset({1})),  # one item per distinct subset
        RecipientGroup((c,), frozenset({2, 3})),  # named twice: the union
    )
    assert recipient_groups([], []) == ()


# --------------------------------------------------------------------------------------------
# compatible mode: the structure gdcmanon reads


def test_compatible_structure() -> None:
    _, originals = _deidentified(_original())
    seq = encrypted_attributes(originals, [RecipientGroup((RSA_CERT,), None)], mode="compatible")
    assert len(seq) == 1
    assert seq[0].EncryptedContentTransferSyntaxUID == "1.2.840.10008.1.2.1"
    der = seq[0].EncryptedContent
    env = read_envelope(io.BytesIO(der), len(der))
    assert (env.outer, env.version, env.cipher.name if env.cipher else None) == (
        "enveloped-data", 0, "aes256-cbc")
    assert env.content_type == ID_DATA and not env.has_originator_info
    info = describe(env.recipient_infos[0])
    assert info["kind"] == "ktri" and info["version"] == 0
    assert info["key_encryption"] == "rsa-pkcs1v15-transport"
    assert info["rid"] == {"issuer": "CN=Test De-identification CA,O=DICOM Security Toolkit "
                                     "Test,C=XX", "serial": "0x2"}


def test_plaintext_is_one_modified_attributes_item() -> None:
    _, originals = _deidentified(_original())
    plain = encode_plaintext(originals)
    assert plain[:8] == b"\x00\x04\x50\x05SQ\x00\x00"  # (0400,0550) SQ, explicit VR LE
    back = decode_plaintext(plain, "1.2.840.10008.1.2.1")
    assert back == originals
    assert back[0x00090010].value == originals[0x00090010].value  # creator kept


def _pydicom_plaintext(item: Dataset) -> bytes:
    """The reference: pydicom writes the item (every element decoded and encoded again)."""
    fp = DicomBytesIO()
    fp.is_little_endian, fp.is_implicit_VR = True, False
    write_dataset(fp, copy.deepcopy(item))
    content = fp.getvalue()
    return (b"\x00\x04\x50\x05SQ\x00\x00" + (len(content) + 8).to_bytes(4, "little")
            + b"\xfe\xff\x00\xe0" + len(content).to_bytes(4, "little") + content)


@pytest.mark.parametrize(("name", "decoded"), [
    ("CT_small.dcm", False), ("CT_small.dcm", True),  # decoded: items copied as read
    ("waveform_ecg.dcm", False),  # Explicit VR LE, sequences nested in sequences
    ("rtplan.dcm", True),  # Implicit VR LE: items pydicom re-encodes
])
def test_plaintext_bytes_are_what_pydicom_writes(name: str, decoded: bool) -> None:
    """Elements still as read are copied with a header packed by hand, empty values and
    sequences framed by hand (items copied as read when pydicom would copy them), the others
    (a changed value, an added item) go through pydicom; a group length is left out: the
    bytes are the ones pydicom's writer gives for the whole item."""
    item = pydicom.dcmread(PYDICOM_FILES / name)
    item.pop(0x7FE00010, None)
    item.pop(0x54000100, None)  # Waveform Sequence: large, nothing more to prove
    item.add_new(0x00120062, "CS", None)  # empty values, as the engine records added ones
    item.add_new(0x00120064, "SQ", [])
    item.add_new(0x00081110, "SQ", [Dataset()])  # Referenced Study Sequence, one empty item
    item[0x00081110].value[0].ReferencedSOPInstanceUID = "1.2.3"
    ambiguous = Dataset()  # an item made in code with an ambiguous VR: pydicom corrects it
    ambiguous.PixelRepresentation = 1
    ambiguous.add_new(0x00280106, "US or SS", -5)
    undefined = Dataset()  # undefined lengths (sequence and item), as read from some files
    undefined.CodeValue = "113100"
    undefined.is_undefined_length_sequence_item = True
    item.add_new(0x00081115, "SQ", [ambiguous, undefined])
    item[0x00081115].is_undefined_length = True
    item.add_new(0x00190000, "UL", 12)  # a group length: left out, as pydicom does
    item.PatientName = "Changed^Name"
    if decoded:
        for elem in item:  # converts every top-level raw element (items stay as read)
            assert elem.value is not None or elem.VM == 0
    raws = sum(isinstance(e, RawDataElement) for e in item.values())
    assert raws == 0 if decoded else raws > 20
    assert encode_plaintext(item) == _pydicom_plaintext(item)


@pytest.mark.parametrize("mode", MODES)
def test_replaced_certificate_file_is_read_again(mode: str, tmp_path: Path) -> None:
    """Recipients are remembered per process by path and file version (device, inode, mtime,
    size): a certificate file replaced under the same name is read (and checked) again."""
    _, originals = _deidentified(_original())
    cert = tmp_path / "to.pem"
    cert.write_bytes(RSA_CERT.read_bytes())
    first = Dataset()
    first.EncryptedAttributesSequence = encrypted_attributes(
        originals, [RecipientGroup((cert,))], mode=mode)
    new = tmp_path / "new.pem"
    new.write_bytes((ANON / "other.cert.pem").read_bytes())
    os.replace(new, cert)
    second = Dataset()
    second.EncryptedAttributesSequence = encrypted_attributes(
        originals, [RecipientGroup((cert,))], mode=mode)
    other = load_credentials(ANON / "other.key.pem")
    assert open_encrypted_attributes(first, _RSA_CREDS).originals == originals
    assert open_encrypted_attributes(second, other).originals == originals
    with pytest.raises(DecryptionFailed):
        open_encrypted_attributes(second, _RSA_CREDS)


@pytest.mark.parametrize("holder", ["ec", "kem"])
def test_compatible_needs_rsa_certificate(holders: dict[str, Holder], holder: str) -> None:
    _, originals = _deidentified(_original())
    with pytest.raises(InvalidInput, match="RSA certificate"):
        encrypted_attributes(originals, [RecipientGroup((holders[holder].cert,), None)],
                             mode="compatible")


def test_unknown_mode() -> None:
    with pytest.raises(InvalidInput, match="unknown mode"):
        encrypted_attributes(Dataset(), [], mode="legacy")
    assert MODES == ("compatible", "modern")


# --------------------------------------------------------------------------------------------
# modern mode: every recipient kind, each seeing only its subset


SUBSETS = {"rsa": frozenset({0x00100010, PRIVATE}), "ec": frozenset({0x00100020}),
           "kem": frozenset({0x00080018, 0x0020000D, 0x00080080})}
KINDS = {"rsa": ("ktri", "rsa-oaep"), "ec": ("kari", None), "kem": ("ori", None)}


def test_modern_round_trip_each_sees_only_its_subset(holders: dict[str, Holder],
                                                     tmp_path: Path) -> None:
    original = _original()
    ds, originals = _deidentified(original)
    groups = recipient_groups([], [(holders[n].cert, SUBSETS[n]) for n in SUBSETS])
    ds.EncryptedAttributesSequence = encrypted_attributes(originals, groups)
    ds = _saved(ds, tmp_path)
    for index, name in enumerate(SUBSETS):
        der = unpad_content(ds.EncryptedAttributesSequence[index].EncryptedContent)
        info = describe(read_envelope(io.BytesIO(der), len(der)).recipient_infos[0])
        assert info["kind"] == KINDS[name][0]
        if KINDS[name][1]:
            assert info["key_encryption"] == KINDS[name][1]
        for with_cert in (False, True):
            result = reidentify_dataset(ds, holders[name].credentials(with_cert=with_cert))
            opened = result.opened
            assert (opened.item_index, opened.outer, opened.cipher, opened.authenticated) == (
                index, "auth-enveloped-data", "aes256-gcm", True)
            assert opened.recipient_kind == KINDS[name][0]
            seen = set(SUBSETS[name]) | ({0x00090010} if PRIVATE in SUBSETS[name] else set())
            assert {int(e.tag) for e in opened.originals} == seen
            for tag in seen:
                assert result.dataset[tag] == original[tag]
            for keyword in CHANGED:  # what this recipient may not see stays de-identified
                tag = int(original[keyword].tag)
                if tag not in seen:
                    assert result.dataset[tag].value == CHANGED[keyword]
            assert (PRIVATE in result.dataset) == (PRIVATE in seen)


def test_to_and_attributes_for_share_items(holders: dict[str, Holder], tmp_path: Path) -> None:
    """--to rsa and ec (full), --attributes-for ec=PatientID: ec gets ONLY PatientID, rsa all;
    one envelope carries several RecipientInfos."""
    original = _original()
    ds, originals = _deidentified(original)
    kem = holders["kem"].cert
    groups = recipient_groups([holders["rsa"].cert, holders["ec"].cert, kem],
                              [(holders["ec"].cert, frozenset({0x00100020}))])
    assert [len(g.recipients) for g in groups] == [2, 1]
    ds.EncryptedAttributesSequence = encrypted_attributes(originals, groups)
    ds = _saved(ds, tmp_path)
    full = reidentify_dataset(ds, holders["kem"].credentials())
    assert len(full.restored) == len(originals) and full.opened.item_index == 0
    assert full.dataset.PatientName == original.PatientName
    part = reidentify_dataset(ds, holders["ec"].credentials())
    assert part.restored == ("(0010,0020) PatientID",) and part.opened.item_index == 1
    assert part.dataset.PatientName == "ANON"


# --------------------------------------------------------------------------------------------
# failures: every one is DecryptionFailed (exit 1) unless the input is unusable (exit 2)


@pytest.fixture(scope="module")
def sealed(holders: dict[str, Holder], tmp_path_factory: pytest.TempPathFactory
           ) -> dict[str, Dataset]:
    """A de-identified CT per mode, with one item for the RSA recipient."""
    out = {}
    for mode in MODES:
        ds, originals = _deidentified(_original())
        ds.EncryptedAttributesSequence = encrypted_attributes(
            originals, [RecipientGroup((RSA_CERT,), None)], mode=mode)
        out[mode] = _saved(ds, tmp_path_factory.mktemp(mode))
    return out


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("where", ["first", "header", "middle", "tag", "last", "truncate"])
def test_corrupted_content_fails(sealed: dict[str, Dataset], mode: str, where: str) -> None:
    ds = copy.deepcopy(sealed[mode])
    der = bytearray(unpad_content(ds.EncryptedAttributesSequence[0].EncryptedContent))
    pos = {"first": 0, "header": 5, "middle": len(der) // 2, "tag": len(der) - 5,
           "last": len(der) - 1}.get(where)
    if pos is None:
        der = der[: len(der) // 2]
    else:
        der[pos] ^= 0x01
    ds.EncryptedAttributesSequence[0].EncryptedContent = bytes(der)
    with pytest.raises(DecryptionFailed):
        reidentify_dataset(ds, Credentials(private_key=load_private_key_any(RSA_KEY)))


@pytest.mark.parametrize("mode", MODES)
def test_foreign_key_fails(sealed: dict[str, Dataset], holders: dict[str, Holder],
                           mode: str) -> None:
    other = load_credentials(ANON / "other.key.pem")
    with pytest.raises(DecryptionFailed, match="fails its check"):
        open_encrypted_attributes(sealed[mode], other)
    with pytest.raises(DecryptionFailed, match="no item"):  # the certificate tells: no match
        open_encrypted_attributes(sealed[mode], load_credentials(
            ANON / "other.key.pem", ANON / "other.cert.pem"))
    with pytest.raises(DecryptionFailed, match="no item"):  # an EC key fits no RSA recipient
        open_encrypted_attributes(sealed[mode], holders["ec"].credentials())


def _envelope_of(plain: bytes) -> Dataset:
    """A de-identified data set whose one item envelopes ``plain`` for the RSA recipient."""
    out = io.BytesIO()
    write_envelope([plain], len(plain), out,
                   recipients=[KeyTransRecipient(load_certificate(RSA_CERT))])
    item = Dataset()
    item.EncryptedContentTransferSyntaxUID = "1.2.840.10008.1.2.1"
    item.EncryptedContent = out.getvalue()
    ds = Dataset()
    ds.PatientName = "ANON"
    ds.EncryptedAttributesSequence = [item]
    return ds


def _encoded(ds: Dataset, *, implicit: bool = False, little: bool = True) -> bytes:
    fp = DicomBytesIO()
    fp.is_little_endian, fp.is_implicit_VR = little, implicit
    write_dataset(fp, ds)
    return fp.getvalue()


def _mas(*items: Dataset, extra: bool = False) -> bytes:
    ds = Dataset()
    ds.ModifiedAttributesSequence = list(items)
    if extra:
        ds.PatientName = "Extra"
    return _encoded(ds)


def _item() -> Dataset:
    item = Dataset()
    item.PatientName = "Original^Name"
    return item


@pytest.mark.parametrize("plain", [
    pytest.param(b"", id="empty"),
    pytest.param(b"not a data set at all", id="garbage"),
    pytest.param(_mas(), id="zero-items"),
    pytest.param(_mas(_item(), _item()), id="two-items"),
    pytest.param(_mas(_item(), extra=True), id="extra-element"),
    pytest.param(_encoded(_item()), id="no-mas"),
    pytest.param(_mas(_item())[:-3], id="truncated"),
])
def test_plaintext_that_is_not_one_item_fails(plain: bytes) -> None:
    with pytest.raises(DecryptionFailed, match="fails its check"):
        open_encrypted_attributes(_envelope_of(plain), load_credentials(RSA_KEY))


def test_no_encrypted_attributes_is_invalid_input() -> None:
    with pytest.raises(InvalidInput, match="no Encrypted Attributes"):
        reidentify_dataset(_original(), load_credentials(RSA_KEY))


def test_a_later_item_opens() -> None:
    first = _envelope_of(_mas(_item()))
    other = encrypted_attributes(_item(), [RecipientGroup((ANON / "other.cert.pem",), None)])
    first.EncryptedAttributesSequence.insert(0, other[0])
    opened = open_encrypted_attributes(first, load_credentials(RSA_KEY))
    assert opened.item_index == 1 and opened.originals.PatientName == "Original^Name"


# --------------------------------------------------------------------------------------------
# the plaintext's transfer syntax and gdcmanon's UN elements


@pytest.mark.parametrize(("uid", "implicit", "little"), [
    ("1.2.840.10008.1.2", True, True),
    ("1.2.840.10008.1.2.2", False, False),
    ("1.2.840.10008.1.2.1", False, True),
])
def test_content_transfer_syntax(uid: str, implicit: bool, little: bool) -> None:
    original = _original()
    item = Dataset()
    for tag in (0x00100010, 0x00280010, 0x00080018):
        item.add(copy.deepcopy(original[tag]))
    ref = Dataset()
    ref.ReferencedSOPInstanceUID = "1.2.3.4"
    item.ReferencedImageSequence = [ref]
    outer = Dataset()
    outer.ModifiedAttributesSequence = [item]
    plain = _encoded(outer, implicit=implicit, little=little)
    ds = _envelope_of(plain)
    ds.EncryptedAttributesSequence[0].EncryptedContentTransferSyntaxUID = uid
    opened = open_encrypted_attributes(ds, load_credentials(RSA_KEY))
    assert opened.originals == item and opened.transfer_syntax == uid
    assert opened.originals[0x00280010].VR == "US"


def test_deflated_content() -> None:
    item = _item()
    deflate = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    plain = deflate.compress(_mas(item)) + deflate.flush()
    assert decode_plaintext(plain, "1.2.840.10008.1.2.1.99") == item
    for broken in (plain[: len(plain) // 2], b"\xff" * 16):
        with pytest.raises(DecryptionFailed):
            decode_plaintext(broken, "1.2.840.10008.1.2.1.99")


def test_unknown_content_transfer_syntax() -> None:
    with pytest.raises(InvalidInput, match="transfer syntax"):
        decode_plaintext(_mas(_item()), "1.2.3.4")


@pytest.mark.parametrize("replace_un", [True, False])
def test_un_elements_get_dictionary_vrs(monkeypatch: pytest.MonkeyPatch,
                                        replace_un: bool) -> None:
    """gdcmanon's plaintext for an Implicit VR input: every element UN, sequences UN blobs of
    Implicit VR items; mapped whatever pydicom.config says (monkeypatch restores it)."""
    monkeypatch.setattr(pydicom.config, "replace_un_with_known_vr", replace_un)
    monkeypatch.setattr(pydicom.config.settings, "infer_sq_for_un_vr", replace_un)
    plain = (GDCM / "rtplan-aes256" / "deid" / "rtplan.plain.bin").read_bytes()
    item = decode_plaintext(plain, "1.2.840.10008.1.2.1")
    original = pydicom.dcmread(GDCM / "rtplan-aes256" / "in" / "rtplan.dcm")
    assert item.PatientName == original.PatientName and item[0x00100010].VR == "PN"
    assert item.BeamSequence == original.BeamSequence
    assert item.ReferencedRTPlanSequence[0].ReferencedSOPInstanceUID == (
        original.ReferencedRTPlanSequence[0].ReferencedSOPInstanceUID)


def test_unpad_content() -> None:
    der = bytes.fromhex("3003020101")
    assert unpad_content(der + b"\x00") == der
    assert unpad_content(der) == der
    assert unpad_content(b"\x30\x80\x00\x00") == b"\x30\x80\x00\x00"
    assert unpad_content(bytes.fromhex("300402010100")) == bytes.fromhex("300402010100")


# --------------------------------------------------------------------------------------------
# limits, policy, passwords


def test_limits(sealed: dict[str, Dataset]) -> None:
    ds = copy.deepcopy(sealed["modern"])
    ds.EncryptedAttributesSequence.append(copy.deepcopy(ds.EncryptedAttributesSequence[0]))
    creds = load_credentials(RSA_KEY)
    with limits.applied(limits.current().replaced(recipients=1)), pytest.raises(
            limits.LimitExceeded, match="recipients"):
        open_encrypted_attributes(ds, creds)
    with limits.applied(limits.current().replaced(value_bytes=100)), pytest.raises(
            limits.LimitExceeded, match="value_bytes"):
        open_encrypted_attributes(ds, creds)
    with limits.applied(limits.current().replaced(elements=3)), pytest.raises(
            limits.LimitExceeded, match="elements"):
        open_encrypted_attributes(ds, creds)


def test_policy_judges_reading_and_writing(sealed: dict[str, Dataset]) -> None:
    creds = load_credentials(RSA_KEY)
    no_cbc = AlgorithmPolicy.default().with_status("aes256-cbc", Status.FORBIDDEN)
    with pytest.raises(PolicyViolation):
        open_encrypted_attributes(sealed["compatible"], creds, policy=no_cbc)
    assert open_encrypted_attributes(sealed["modern"], creds, policy=no_cbc).authenticated
    no_oaep = AlgorithmPolicy.default().with_status("rsa-oaep", Status.FORBIDDEN)
    with pytest.raises(PolicyViolation):
        open_encrypted_attributes(sealed["modern"], creds, policy=no_oaep)
    with pytest.raises(PolicyViolation):
        encrypted_attributes(_item(), [RecipientGroup((RSA_CERT,), None)], policy=no_oaep)
    with pytest.raises(PolicyViolation):
        encrypted_attributes(_item(), [RecipientGroup((RSA_CERT,), None)], mode="compatible",
                             policy=no_cbc)


@pytest.mark.parametrize("password", ["pässwort", "tab\there", "日本"])
def test_non_ascii_password_refused(sealed: dict[str, Dataset], password: str) -> None:
    with pytest.raises(InvalidInput, match="outside the DICOM default character repertoire"):
        load_credentials(RSA_KEY, password=password.encode())
    with pytest.raises(InvalidInput, match="outside the DICOM default character repertoire"):
        open_encrypted_attributes(sealed["modern"], Credentials(
            private_key=load_private_key_any(RSA_KEY), password=password))


def test_encrypted_key_file(tmp_path: Path, sealed: dict[str, Dataset]) -> None:
    key = tmp_path / "enc.key.pem"
    write_private_key(load_private_key_any(RSA_KEY), key, password=b"ascii only 123")  # type: ignore[arg-type]
    creds = load_credentials(key, RSA_CERT, b"ascii only 123")
    assert isinstance(creds.certificate, x509.Certificate)
    assert open_encrypted_attributes(sealed["compatible"], creds).cipher == "aes256-cbc"
    with pytest.raises(InvalidInput, match="password"):
        load_credentials(key, password=b"wrong")


def test_no_recipient_message(sealed: dict[str, Dataset], holders: dict[str, Holder]) -> None:
    with pytest.raises(DecryptionFailed) as caught:
        open_encrypted_attributes(sealed["modern"], holders["kem"].credentials())
    assert caught.value.message == NO_RECIPIENT
    assert CONTENT_FAILS != NO_RECIPIENT


def test_several_v15_recipients_need_certificate() -> None:
    """Two RSA PKCS#1 v1.5 recipients in one compatible item: without the certificate the CMS
    layer cannot tell which is meant without a padding oracle, and says so (exit 2)."""
    ds = Dataset()
    ds.EncryptedAttributesSequence = encrypted_attributes(
        _item(), [RecipientGroup((RSA_CERT, ANON / "other.cert.pem"), None)], mode="compatible")
    with pytest.raises(InvalidInput, match="--cert"):
        open_encrypted_attributes(ds, load_credentials(RSA_KEY))
    for key, cert in ((RSA_KEY, RSA_CERT), (ANON / "other.key.pem", ANON / "other.cert.pem")):
        opened = open_encrypted_attributes(ds, load_credentials(key, cert))
        assert opened.originals.PatientName == "Original^Name"


def test_recipient_cache_follows_the_file(tmp_path: Path) -> None:
    """Recipients are remembered per certificate file version: a replaced file is read again."""
    cert = tmp_path / "to.pem"
    cert.write_bytes(RSA_CERT.read_bytes())
    ds = Dataset()
    ds.EncryptedAttributesSequence = encrypted_attributes(_item(), [RecipientGroup((cert,))])
    assert open_encrypted_attributes(ds, load_credentials(RSA_KEY)).item_index == 0
    cert.write_bytes((ANON / "other.cert.pem").read_bytes())
    os.utime(cert, ns=(1, 1))
    ds.EncryptedAttributesSequence = encrypted_attributes(_item(), [RecipientGroup((cert,))])
    with pytest.raises(DecryptionFailed):
        open_encrypted_attributes(ds, load_credentials(RSA_KEY))
    assert open_encrypted_attributes(ds, load_credentials(ANON / "other.key.pem")).originals


def test_encrypted_attributes_not_a_sequence() -> None:
    ds = Dataset()
    ds[0x04000500] = RawDataElement(Tag(0x04000500), "OB", 2, b"\x01\x02", 0, False, True)
    with pytest.raises(InvalidInput, match="not a sequence"):
        open_encrypted_attributes(ds, load_credentials(RSA_KEY))


def test_subset_keeps_the_character_set() -> None:
    """A subset's text stays readable: (0008,0005) of the originals goes into every item."""
    originals = Dataset()
    originals.SpecificCharacterSet = "ISO_IR 192"
    originals.PatientName = "Gérard^Müller"
    originals.PatientID = "Ünïcode-ID"
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.EncryptedAttributesSequence = encrypted_attributes(
        originals, [RecipientGroup((RSA_CERT,), frozenset({0x00100010}))])
    opened = open_encrypted_attributes(ds, load_credentials(RSA_KEY))
    assert [int(e.tag) for e in opened.originals] == [0x00080005, 0x00100010]
    assert opened.originals.PatientName == "Gérard^Müller"


@settings(max_examples=120, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_modern_any_changed_byte_fails_or_changes_nothing(sealed: dict[str, Dataset],
                                                          data: st.DataObject) -> None:
    """AES-GCM: a changed byte anywhere in the Encrypted Content either fails (exit 1, or
    exit 2 for a structure over a limit) or, where it touches only what carries no meaning
    (a version number), gives exactly the original values: never different ones."""
    ds = copy.deepcopy(sealed["modern"])
    der = bytearray(unpad_content(ds.EncryptedAttributesSequence[0].EncryptedContent))
    pos = data.draw(st.integers(0, len(der) - 1))
    der[pos] ^= data.draw(st.integers(1, 255))
    ds.EncryptedAttributesSequence[0].EncryptedContent = bytes(der)
    try:
        got = open_encrypted_attributes(ds, _RSA_CREDS).originals
    except (DecryptionFailed, InvalidInput):
        return
    assert got == _deidentified(_original())[1]
