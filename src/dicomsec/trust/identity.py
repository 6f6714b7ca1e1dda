"""Device identity in certificates: who made an image, as a certificate can say it.

A device certificate of the site PKI (:mod:`dicomsec.trust.pki`) names its device three ways
(spec: trust §2):

1. the subject: ``CN=<station>``, ``serialNumber=<device serial>`` (X.520 2.5.4.5, a
   PrintableString; the IEEE 802.1AR convention);
2. a SAN ``otherName`` id-on-hardwareModuleName (RFC 4108 §5):
   ``SEQUENCE { hwType OBJECT IDENTIFIER, hwSerialNum OCTET STRING }`` with the serial's UTF-8
   bytes (any characters);
3. a **non-critical** private extension under :data:`DEVICE_IDENTITY_OID`::

       DeviceIdentity ::= SEQUENCE {
           manufacturer  [0] UTF8String OPTIONAL,
           model         [1] UTF8String OPTIONAL,
           serial        [2] UTF8String OPTIONAL,
           station       [3] UTF8String OPTIONAL }

   Absent fields are left out (tagged, so ``None`` and ``""`` stay different). It is never
   critical: dcmsign and pyhanko refuse a certificate with an unknown critical extension.

:func:`device_identity` reads the private extension first, else the subject (serialNumber, and
CN as the station). :meth:`DeviceIdentity.matches` compares it with the Equipment attributes of
an image.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from dicomsec.errors import InvalidInput

if TYPE_CHECKING:
    from cryptography import x509

__all__ = [
    "DEVICE_IDENTITY_OID",
    "DICOM_KEYWORDS",
    "HARDWARE_MODULE_NAME_OID",
    "HW_TYPE_OID",
    "PRINTABLE",
    "DeviceIdentity",
    "device_identity",
    "hardware_module_name",
    "hardware_module_serial",
    "identity_extension",
]

#: the private extension carrying the device identity (non-critical), minted once for dicomsec
#: (a UUID OID, ITU-T X.667: no registration needed)
DEVICE_IDENTITY_OID = "2.25.337264376551655389642074095918974772627"
#: id-on-hardwareModuleName (RFC 4108 §5), a SAN otherName type
HARDWARE_MODULE_NAME_OID = "1.3.6.1.5.5.7.8.4"
#: the hwType dicomsec writes in hardwareModuleName: "a DICOM device" (an arc under our own OID)
HW_TYPE_OID = DEVICE_IDENTITY_OID + ".1"
#: the characters of an X.520 PrintableString (what subject serialNumber may hold)
PRINTABLE = re.compile(r"^[A-Za-z0-9 '()+,\-./:=?]*$")

#: DeviceIdentity field → the DICOM keyword it is compared with
DICOM_KEYWORDS: dict[str, str] = {
    "manufacturer": "Manufacturer",              # (0008,0070)
    "model": "ManufacturerModelName",            # (0008,1090)
    "serial": "DeviceSerialNumber",              # (0018,1000)
    "station": "StationName",                    # (0008,1010)
}

#: how long a field may be (DICOM LO/SH are 64/16 characters; the certificate may hold more)
_MAX_FIELD = 256


@functools.cache
def _asn1() -> tuple[Any, Any]:
    """The asn1crypto types (built on first use: the import stays off the start-up path)."""
    from asn1crypto import core

    class _Seq(core.Sequence):  # type: ignore[misc]
        _fields: ClassVar[list[Any]] = [(f, core.UTF8String, {"implicit": n, "optional": True})
                   for n, f in enumerate(DICOM_KEYWORDS)]

    class _HwName(core.Sequence):  # type: ignore[misc]
        _fields: ClassVar[list[Any]] = [("hw_type", core.ObjectIdentifier),
                                        ("hw_serial_num", core.OctetString)]

    return _Seq, _HwName


def _norm(value: str) -> str:
    """What two identity values are compared as: DICOM pads with spaces and vendors are
    inconsistent about case, so surrounding whitespace is stripped and case folded."""
    return value.strip().casefold()


@dataclass(frozen=True, slots=True)
class DeviceIdentity:
    """The identity of a device: manufacturer, model, serial number, station name."""

    manufacturer: str | None = None
    model: str | None = None
    serial: str | None = None
    station: str | None = None

    def __post_init__(self) -> None:
        for field in DICOM_KEYWORDS:
            value = getattr(self, field)
            if value is not None and (len(value) > _MAX_FIELD or "\x00" in value):
                raise InvalidInput(f"device {field} is longer than {_MAX_FIELD} characters "
                                   "or holds a NUL character")

    def matches(self, attrs: Mapping[str, str | None]) -> list[str]:
        """The DICOM keywords whose values differ from this identity.

        ``attrs`` maps DICOM keywords (``Manufacturer``, ``ManufacturerModelName``,
        ``DeviceSerialNumber``, ``StationName``) to the image's values. Only fields present
        (not ``None``, not empty after stripping) on *both* sides are compared, after
        stripping surrounding whitespace and case folding; an empty list means no mismatch.
        """
        wrong: list[str] = []
        for field, keyword in DICOM_KEYWORDS.items():
            mine = getattr(self, field)
            theirs = attrs.get(keyword)
            if mine is None or theirs is None or not mine.strip() or not str(theirs).strip():
                continue
            if _norm(mine) != _norm(str(theirs)):
                wrong.append(keyword)
        return wrong

    def is_empty(self) -> bool:
        return all(getattr(self, f) is None for f in DICOM_KEYWORDS)

    def to_dict(self) -> dict[str, str | None]:
        return {f: getattr(self, f) for f in DICOM_KEYWORDS}


def identity_extension(identity: DeviceIdentity) -> x509.UnrecognizedExtension:
    """The private extension value for ``identity`` (add it with ``critical=False``)."""
    from cryptography import x509

    _Seq = _asn1()[0]
    fields = {f: getattr(identity, f) for f in DICOM_KEYWORDS if getattr(identity, f) is not None}
    der = _Seq(fields).dump() if fields else b"\x30\x00"  # asn1crypto cannot dump it empty
    return x509.UnrecognizedExtension(x509.ObjectIdentifier(DEVICE_IDENTITY_OID), der)


def _parse_extension(der: bytes) -> DeviceIdentity:

    _Seq = _asn1()[0]
    try:
        parsed = _Seq.load(der, strict=True)
        values: dict[str, Any] = {f: parsed[f].native for f in DICOM_KEYWORDS}
    except (ValueError, TypeError, KeyError) as exc:
        raise InvalidInput("the device identity extension is not a valid DeviceIdentity "
                           "SEQUENCE") from exc
    return DeviceIdentity(**values)


def device_identity(cert: x509.Certificate) -> DeviceIdentity | None:
    """The device identity a certificate carries: the private extension first, else the
    subject's serialNumber (with CN as the station), else ``None``.

    Raises:
        InvalidInput: the private extension is present but malformed.
    """
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    try:
        ext = cert.extensions.get_extension_for_oid(x509.ObjectIdentifier(DEVICE_IDENTITY_OID))
    except x509.ExtensionNotFound:
        ext = None
    if ext is not None:
        value = ext.value
        if isinstance(value, x509.UnrecognizedExtension):
            return _parse_extension(value.value)
    serials = cert.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)
    if not serials:
        return None
    cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    station = str(cns[0].value) if cns else None
    return DeviceIdentity(serial=str(serials[0].value), station=station)


def hardware_module_name(serial: str | bytes) -> x509.OtherName:
    """The SAN ``otherName`` hardwareModuleName (RFC 4108) for a device serial number:
    ``SEQUENCE { hwType = HW_TYPE_OID, hwSerialNum = the serial's UTF-8 bytes }``."""
    from cryptography import x509

    raw = serial.encode("utf-8") if isinstance(serial, str) else bytes(serial)

    _HwName = _asn1()[1]
    value = _HwName({"hw_type": HW_TYPE_OID, "hw_serial_num": raw})
    return x509.OtherName(x509.ObjectIdentifier(HARDWARE_MODULE_NAME_OID), value.dump())


def hardware_module_serial(cert: x509.Certificate) -> bytes | None:
    """The hwSerialNum of the first hardwareModuleName in the certificate's SAN, or ``None``."""
    from cryptography import x509

    _HwName = _asn1()[1]
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None
    for name in san.get_values_for_type(x509.OtherName):
        if name.type_id.dotted_string == HARDWARE_MODULE_NAME_OID:
            try:
                parsed = _HwName.load(name.value, strict=True)
                return bytes(parsed["hw_serial_num"].native)
            except (ValueError, TypeError) as exc:
                raise InvalidInput("hardwareModuleName in the SAN is malformed") from exc
    return None
