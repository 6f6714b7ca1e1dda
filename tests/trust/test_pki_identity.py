"""Device identity in certificates (dicomsec.trust.identity): the private extension, the
subject fallback, the RFC 4108 hardwareModuleName, and matching with Equipment attributes."""

from __future__ import annotations

import datetime as _dt

import pytest
from asn1crypto import core
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from dicomsec.errors import InvalidInput
from dicomsec.trust.identity import (
    DEVICE_IDENTITY_OID,
    HARDWARE_MODULE_NAME_OID,
    HW_TYPE_OID,
    DeviceIdentity,
    device_identity,
    hardware_module_name,
    hardware_module_serial,
    identity_extension,
)

_KEY = ec.generate_private_key(ec.SECP256R1())


def _cert(*extensions: tuple[x509.ExtensionType, bool],
          subject: list[x509.NameAttribute[str]] | None = None) -> x509.Certificate:
    name = x509.Name(subject or [x509.NameAttribute(NameOID.COMMON_NAME, "CT01")])
    now = _dt.datetime.now(_dt.UTC)
    builder = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
               .public_key(_KEY.public_key()).serial_number(7).not_valid_before(now)
               .not_valid_after(now + _dt.timedelta(days=1)))
    for ext, critical in extensions:
        builder = builder.add_extension(ext, critical=critical)
    return builder.sign(_KEY, hashes.SHA256())


def test_extension_round_trips_any_characters() -> None:
    ident = DeviceIdentity("ACME Medical", "CT 9000", "SN_000123/ü", "CT01")
    cert = _cert((identity_extension(ident), False))
    assert device_identity(cert) == ident
    ext = cert.extensions.get_extension_for_oid(x509.ObjectIdentifier(DEVICE_IDENTITY_OID))
    assert not ext.critical


def test_extension_keeps_absent_apart_from_empty() -> None:
    ident = DeviceIdentity(manufacturer="", serial="SN-1")
    assert device_identity(_cert((identity_extension(ident), False))) == ident
    empty = DeviceIdentity()
    assert device_identity(_cert((identity_extension(empty), False))) == empty


def test_extension_der_is_the_documented_sequence() -> None:
    der = identity_extension(DeviceIdentity("A", None, "S", None)).value
    # SEQUENCE { [0] "A", [2] "S" }: implicit context tags, absent fields left out
    assert der == bytes.fromhex("3006") + b"\x80\x01A" + b"\x82\x01S"


def test_malformed_extension_is_one_clear_error() -> None:
    bad = x509.UnrecognizedExtension(x509.ObjectIdentifier(DEVICE_IDENTITY_OID), b"\x04\x00")
    with pytest.raises(InvalidInput, match="device identity extension"):
        device_identity(_cert((bad, False)))


def test_subject_fallback_and_none() -> None:
    cert = _cert(subject=[x509.NameAttribute(NameOID.COMMON_NAME, "CT02"),
                          x509.NameAttribute(NameOID.SERIAL_NUMBER, "SN-9")])
    assert device_identity(cert) == DeviceIdentity(serial="SN-9", station="CT02")
    assert device_identity(_cert()) is None


def test_hardware_module_name_round_trip() -> None:
    cert = _cert((x509.SubjectAlternativeName([hardware_module_name("SN_000123/ü")]), False))
    assert hardware_module_serial(cert) == "SN_000123/ü".encode()
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    other = san.get_values_for_type(x509.OtherName)[0]
    assert other.type_id.dotted_string == HARDWARE_MODULE_NAME_OID
    seq = core.Sequence.load(other.value)
    assert seq[0].dump() == core.ObjectIdentifier(HW_TYPE_OID).dump()
    assert hardware_module_serial(_cert()) is None


def test_matches_compares_fields_present_on_both_sides() -> None:
    ident = DeviceIdentity("ACME Medical", "CT 9000", "SN-1", None)
    attrs = {"Manufacturer": " acme medical ", "ManufacturerModelName": "CT 9001",
             "DeviceSerialNumber": None, "StationName": "CT01"}
    assert ident.matches(attrs) == ["ManufacturerModelName"]
    assert ident.matches({}) == []
    assert DeviceIdentity(serial="SN-1").matches({"DeviceSerialNumber": "SN-2"}) == [
        "DeviceSerialNumber"]


def test_field_limits() -> None:
    with pytest.raises(InvalidInput):
        DeviceIdentity(serial="x" * 300)
    with pytest.raises(InvalidInput):
        DeviceIdentity(station="a\x00b")
