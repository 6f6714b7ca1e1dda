"""A generated archive for the signing policy tests: 4 devices over 60 days, 240 small files.

Made with pydicom (8x8 pixels) and signed through the library (``dicomsec.signatures.sign``)
with keys and certificates made here with cryptography: a site CA, one device certificate per
device carrying its identity (``trust.identity.identity_extension``), a revoked certificate
(in the CA's CRL), a second trusted CA ("foreign") that issues certificates with the same
device identity, and an untrusted "stranger" CA. Every file's kind is recorded, so a test
computes the expected verdicts on its own.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from dicomsec.keys import FileSigningKey
from dicomsec.trust.identity import DeviceIdentity, identity_extension

FIRST_DAY = _dt.date(2026, 9, 1)
DAYS = 60
#: the day the staged policy starts enforcing for vendor A's CT scanners
ENFORCE_FROM = _dt.date(2026, 10, 1)
CA_NAME = "CN=Policy Test CA,O=Example Hospital"


@dataclass(frozen=True)
class Device:
    manufacturer: str
    model: str
    serial: str
    station: str
    modality: str

    @property
    def label(self) -> str:
        return f"{self.manufacturer}/{self.model}/{self.serial}"

    def identity(self) -> DeviceIdentity:
        return DeviceIdentity(self.manufacturer, self.model, self.serial, self.station)


DEVICES = (
    Device("VendorA", "CT-One", "SN-A1", "CTA", "CT"),
    Device("VendorA Medical", "CT-Two", "SN-B2", "CTB", "CT"),
    Device("VendorB", "MR-X", "SN-C3", "MRC", "MR"),
    Device("VendorC", "US-Y", "SN-D4", "USD", "US"),
)
#: what a file may be; each device cycles through this mix (shifted per device)
KINDS = ("signed", "signed", "unsigned", "signed", "tampered", "signed", "wrong-device",
         "signed", "revoked", "md5", "signed", "foreign", "stranger")


@dataclass(frozen=True)
class Made:
    path: Path
    device: Device
    day: _dt.date
    kind: str


@dataclass(frozen=True)
class Archive:
    folder: Path
    files: tuple[Made, ...]
    ca: Path
    foreign_ca: Path
    crl: Path


def _name(cn: str, org: str = "Example Hospital", serial: str | None = None) -> x509.Name:
    # ASN.1 order O, CN: RFC 4514 text "CN=...,O=..."
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
             x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    if serial:
        attrs.append(x509.NameAttribute(NameOID.SERIAL_NUMBER, serial))
    return x509.Name(attrs)


def _ca(cn: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name(cn)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(_dt.datetime(2025, 1, 1, tzinfo=_dt.UTC))
            .not_valid_after(_dt.datetime(2035, 1, 1, tzinfo=_dt.UTC))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False,
                                         False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .sign(key, hashes.SHA256()))
    return key, cert


def _device_key(device: Device, ca_key: ec.EllipticCurvePrivateKey,
                ca_cert: x509.Certificate) -> FileSigningKey:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(_name(device.station, serial=device.serial))
            .issuer_name(ca_cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(_dt.datetime(2025, 6, 1, tzinfo=_dt.UTC))
            .not_valid_after(_dt.datetime(2028, 1, 1, tzinfo=_dt.UTC))
            .add_extension(x509.KeyUsage(True, True, False, False, False, False, False, False,
                                         False), critical=True)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                ca_key.public_key()), critical=False)
            .add_extension(identity_extension(device.identity()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    return FileSigningKey(key, cert)


def _crl(ca_key: ec.EllipticCurvePrivateKey, ca_cert: x509.Certificate,
         revoked: list[x509.Certificate]) -> bytes:
    """The CA's CRL naming ``revoked`` (key compromise on 2026-08-01), valid for 30 days."""
    now = _dt.datetime.now(_dt.UTC)
    builder = (x509.CertificateRevocationListBuilder().issuer_name(ca_cert.subject)
               .last_update(now - _dt.timedelta(days=1)).next_update(now + _dt.timedelta(days=30))
               .add_extension(x509.CRLNumber(1), critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                   ca_key.public_key()), critical=False))
    for cert in revoked:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(cert.serial_number)
            .revocation_date(_dt.datetime(2026, 8, 1, tzinfo=_dt.UTC))
            .add_extension(x509.CRLReason(x509.ReasonFlags.key_compromise), critical=False)
            .build())
    return builder.sign(ca_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


def _dataset(device: Device, day: _dt.date, n: int, model: str | None = None) -> bytes:
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

    from dicomsec.signatures._values import dataset_to_bytes

    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    uid = generate_uid(entropy_srcs=[device.serial, str(n)])
    ds.file_meta.MediaStorageSOPInstanceUID = uid
    ds.SOPClassUID, ds.SOPInstanceUID = SecondaryCaptureImageStorage, uid
    ds.StudyInstanceUID = generate_uid(entropy_srcs=[device.serial, "study", str(n)])
    ds.SeriesInstanceUID = generate_uid(entropy_srcs=[device.serial, "series", str(n)])
    ds.PatientName, ds.PatientID = "PATIENT^ORIGINAL", f"P{n:05d}"
    ds.Modality = device.modality
    ds.Manufacturer, ds.ManufacturerModelName = device.manufacturer, model or device.model
    ds.DeviceSerialNumber = device.serial
    ds.StationName = device.station
    ds.StudyDate = ds.AcquisitionDate = day.strftime("%Y%m%d")
    ds.Rows = ds.Columns = 8
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PixelData = bytes(range(64))
    return dataset_to_bytes(ds)


#: the first device starts signing on this day of the 60 (a staged roll-out's first step)
FIRST_SIGNS_FROM = 20


def _kind(device_index: int, n: int) -> str:
    if device_index == 0 and n < FIRST_SIGNS_FROM:
        return "unsigned"
    return KINDS[(n * 5 + device_index * 3) % len(KINDS)]


def make_archive(folder: Path, *, hostile_model: str | None = None) -> Archive:
    """Write the archive under ``folder`` (``folder/files``, the CA, foreign CA and CRL);
    ``hostile_model`` replaces the last device's Manufacturer's Model Name in its data sets
    (it ends up in the device label of the reports)."""
    from dicomsec import signatures

    files_dir = folder / "files"
    files_dir.mkdir(parents=True)
    ca_key, ca_cert = _ca("Policy Test CA")
    foreign_key, foreign_cert = _ca("Foreign CA")
    keys = [_device_key(d, ca_key, ca_cert) for d in DEVICES]
    foreign = [_device_key(d, foreign_key, foreign_cert) for d in DEVICES]
    stranger_key, stranger_cert = _ca("Stranger CA")  # not trusted by the tests
    strangers = [_device_key(d, stranger_key, stranger_cert) for d in DEVICES]
    revoked = [_device_key(d, ca_key, ca_cert) for d in DEVICES]
    (folder / "ca.pem").write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    (folder / "foreign-ca.pem").write_bytes(
        foreign_cert.public_bytes(serialization.Encoding.PEM))
    # both CAs' CRLs in one PEM bundle: with a CRL given, every level must be checked
    (folder / "ca.crl.pem").write_bytes(
        _crl(ca_key, ca_cert, [r.certificate for r in revoked])
        + _crl(foreign_key, foreign_cert, []))
    made = []
    for n in range(DAYS):
        day = FIRST_DAY + _dt.timedelta(days=n)
        for i, device in enumerate(DEVICES):
            kind = _kind(i, n)
            model = hostile_model if i == len(DEVICES) - 1 else None
            path = files_dir / f"{device.serial}-{day.isoformat()}.dcm"
            raw = path.with_suffix(".raw")
            raw.write_bytes(_dataset(device, day, n, model))
            key = {"wrong-device": keys[(i + 1) % len(DEVICES)], "revoked": revoked[i],
                   "foreign": foreign[i], "stranger": strangers[i]}.get(kind, keys[i])
            when = _dt.datetime.combine(day, _dt.time(12), tzinfo=_dt.UTC)
            if kind == "unsigned":
                raw.rename(path)
            else:
                signatures.sign(raw, path, key=key, mac="md5" if kind == "md5" else "sha256",
                                allow_legacy=kind == "md5", now=when)
                raw.unlink()
            if kind == "tampered":
                data = path.read_bytes()
                path.write_bytes(data.replace(b"PATIENT^ORIGINAL", b"PATIENT^CHANGED!", 1))
            made.append(Made(path, device, day, kind))
    return Archive(files_dir, tuple(made), folder / "ca.pem", folder / "foreign-ca.pem",
                   folder / "ca.crl.pem")
