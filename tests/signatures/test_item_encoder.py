"""The new signature items are encoded without pydicom: the bytes equal pydicom's own writer's.

``sign`` builds the MAC Parameters and Digital Signatures items with
:class:`dicomsec.signatures._splice.Encoder` (so that it does not import pydicom); these bytes
are inside the MAC and inside the file, so they must stay what ``pydicom.filewriter`` wrote for
the same elements, in every transfer syntax the signer writes.
"""

from __future__ import annotations

import datetime as _dt
import re

import pytest
from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset
from pydicom.sequence import Sequence as PdSequence

from dicomsec.signatures._profiles import PURPOSE_SCHEME, PURPOSES
from dicomsec.signatures._sign import _SignatureItem
from dicomsec.signatures._splice import Encoder
from dicomsec.signatures._values import (
    CERT_TYPE_X509,
    DATA_ELEMENTS_SIGNED,
    MAC_ALGORITHM,
    MAC_ID,
    MAC_TS_UID,
    TIMESTAMP_CMS_TSP,
    format_dt,
    new_uid,
)

ENCODINGS = [(True, False), (True, True), (False, False)]  # (little, implicit)


def _pydicom(ds: Dataset, little: bool, implicit: bool) -> bytes:
    buf = DicomBytesIO()
    buf.is_little_endian = little
    buf.is_implicit_VR = implicit
    write_dataset(buf, ds)
    return buf.getvalue()


@pytest.mark.parametrize(("little", "implicit"), ENCODINGS)
@pytest.mark.parametrize("purpose", [None, 1, 5, 17])
@pytest.mark.parametrize("value_size", [0, 71, 72, 256])
@pytest.mark.parametrize("timestamp", [None, b"\x30\x03\x02\x01\x01"])
def test_signature_item_bytes_equal_pydicom(little: bool, implicit: bool, purpose: int | None,
                                            value_size: int, timestamp: bytes | None) -> None:
    moment = format_dt(_dt.datetime(2026, 12, 2, 3, 4, 5, 678901, tzinfo=_dt.UTC))
    uid = "2.25.123456789012345678901234567890123"  # odd length: NUL-padded
    cert, value = b"\x30\x82\x01" * 11, bytes(range(256))[:value_size]
    ours = _SignatureItem(7, uid, moment, purpose, cert, value,
                          timestamp if value_size else None)
    ds = Dataset()
    ds.MACIDNumber = 7
    ds.DigitalSignatureUID = uid
    ds.DigitalSignatureDateTime = moment
    ds.CertificateType = CERT_TYPE_X509
    if value_size:
        ds.CertificateOfSigner = cert
        ds.Signature = value
        if timestamp is not None:
            ds.CertifiedTimestampType = TIMESTAMP_CMS_TSP
            ds.CertifiedTimestamp = timestamp
    if purpose is not None:
        code = Dataset()
        code.CodeValue = str(purpose)
        code.CodingSchemeDesignator = PURPOSE_SCHEME
        code.CodeMeaning = PURPOSES[purpose]
        ds.DigitalSignaturePurposeCodeSequence = PdSequence([code])
    assert ours.encode(Encoder(little, implicit)) == _pydicom(ds, little, implicit)


@pytest.mark.parametrize(("little", "implicit"), ENCODINGS)
@pytest.mark.parametrize("term", ["SHA256", "RIPEMD160", "SHA1"])
@pytest.mark.parametrize("tags", [[0x00080016], [0x00080016, 0x00100010, 0x7FE00010]])
def test_mac_parameters_bytes_equal_pydicom(little: bool, implicit: bool, term: str,
                                            tags: list[int]) -> None:
    ts = "1.2.840.10008.1.2.1"  # odd length: NUL-padded
    enc = Encoder(little, implicit)
    ours = (enc.us(MAC_ID, 3) + enc.text(MAC_TS_UID, "UI", ts)
            + enc.text(MAC_ALGORITHM, "CS", term) + enc.at(DATA_ELEMENTS_SIGNED, tags))
    ds = Dataset()
    ds.MACIDNumber = 3
    ds.MACCalculationTransferSyntaxUID = ts
    ds.MACAlgorithm = term
    ds.DataElementsSigned = tags
    assert ours == _pydicom(ds, little, implicit)


def test_new_uid_is_a_uuid_derived_uid() -> None:
    uid = new_uid()
    assert re.fullmatch(r"2\.25\.(0|[1-9][0-9]*)", uid)
    assert int(uid[5:]) < 1 << 128
    assert len(uid) <= 64
    assert new_uid() != uid
