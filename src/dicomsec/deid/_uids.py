"""Keyed, deterministic pseudonyms: UIDs, Patient IDs, per-patient date offsets, AE titles.

Every value is derived with HMAC-SHA256 under the caller's secret (PS3.15 E.1.1 leaves the
method open; an unkeyed hash of a UID is reversible by anyone holding candidate originals, so
none is used). With one secret the same input always gives the same output, across files,
processes and runs: the basis of UID and Patient ID consistency across a study. A different
secret gives unrelated outputs. The originals are never derivable from the outputs without the
secret; they are kept only in the Encrypted Attributes Sequence.

Not done here: choosing which values to replace (the engine), storing the secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from pydicom._uid_dict import UID_dictionary

from dicomsec.errors import InvalidInput

__all__ = [
    "MIN_SECRET_BYTES", "check_secret", "date_offset_days", "is_well_known_uid", "new_ae_title",
    "new_patient_id", "new_uid",
]

#: the shortest secret accepted (128 bits)
MIN_SECRET_BYTES = 16
#: the root of the UIDs the DICOM standard itself assigns (SOP classes, transfer syntaxes,
#: coding schemes, well-known frames of reference, context groups): never instance UIDs
_DICOM_ROOT = "1.2.840.10008."
#: date offsets lie in [-_MAX_OFFSET_DAYS, -1]: always into the past, up to about ten years
_MAX_OFFSET_DAYS = 3650


def check_secret(secret: bytes) -> None:
    """InvalidInput unless the secret has at least :data:`MIN_SECRET_BYTES` bytes."""
    if len(secret) < MIN_SECRET_BYTES:
        raise InvalidInput(f"the de-identification secret must have at least {MIN_SECRET_BYTES}"
                           f" bytes (got {len(secret)}): give --uid-secret-file or "
                           "DICOMSEC_UID_SECRET")


def _mac(secret: bytes, label: bytes, *parts: str) -> bytes:
    message = label + b"\0" + b"\0".join(p.encode("utf-8") for p in parts)
    return hmac.new(secret, message, hashlib.sha256).digest()


def is_well_known_uid(uid: str) -> bool:
    """True for a UID the standard defines (pydicom's UID dictionary: SOP classes, transfer
    syntaxes, coding schemes, well-known frames of reference ...) or any UID under the DICOM
    root ``1.2.840.10008.``: those identify no one and are never replaced."""
    return uid in UID_dictionary or uid.startswith(_DICOM_ROOT)


def new_uid(uid: str, secret: bytes) -> str:
    """``2.25.`` + the integer of the first 16 bytes of HMAC-SHA256(secret, ``uid\\0`` + uid)
    (at most 44 characters, PS3.5 B.2); a well-known UID (:func:`is_well_known_uid`) and the
    empty string are returned unchanged. Surrounding spaces and NULs are ignored."""
    uid = uid.strip(" \0")
    if not uid or is_well_known_uid(uid):
        return uid
    return "2.25." + str(int.from_bytes(_mac(secret, b"uid", uid)[:16], "big"))


def new_patient_id(patient_id: str, issuer: str, secret: bytes) -> str:
    """A readable keyed pseudonym of a Patient ID within its issuer: ``ANON-`` + 16 base32
    characters (80 bits; 21 characters, within LO's 64). The empty ID stays empty."""
    patient_id = patient_id.strip()
    if not patient_id:
        return ""
    digest = _mac(secret, b"patient-id", issuer.strip(), patient_id)[:10]
    return "ANON-" + base64.b32encode(digest).decode("ascii")


def date_offset_days(patient_id: str, secret: bytes) -> int:
    """The keyed day offset of one patient (Retain Longitudinal Temporal Information Modified
    Dates): from the secret and the original Patient ID only, so the same patient gets the same
    shift in every file and run; between -3650 and -1 days (dates move into the past)."""
    value = int.from_bytes(_mac(secret, b"date-offset", patient_id.strip())[:8], "big")
    return -(1 + value % _MAX_OFFSET_DAYS)


def new_ae_title(ae_title: str, secret: bytes) -> str:
    """A keyed pseudonym of an AE title (``AE`` + 12 hex digits, within AE's 16), so that a
    cleaned device identity stays consistent across files without naming the device."""
    ae_title = ae_title.strip()
    if not ae_title:
        return ""
    return "AE" + _mac(secret, b"ae", ae_title)[:6].hex().upper()
