"""Re-identification (PS3.15 E.1.2): open an item of the Encrypted Attributes Sequence with a
recipient's key and copy the original values back.

Steps: find an item whose envelope the key opens (:func:`~dicomsec.deid._envelope.
open_encrypted_attributes`); remove the Encrypted Attributes Sequence (0400,0500) (the
originals may bring back one the original object had); copy every top-level element of the
Modified Attributes item into the data set, replacing dummies and re-inserting removed
attributes; set Patient Identity Removed (0012,0062) to ``NO`` and remove De-identification
Method (0012,0063) and its Code Sequence (0012,0064) unless the originals hold their own
values; set the File Meta's Media Storage SOP Instance UID to the restored SOP Instance UID.

What is not promised: a byte-identical original (only what the de-identifier put in the item
comes back, and a recipient of a subset gets only that subset), nor that the originals came
from whom they claim (see :class:`~dicomsec.deid._envelope.Opened`). Elements of the File
Meta group (0002) in the item are not copied (the meta header is derived from the data set).
Longitudinal Temporal Information Modified (0028,0303) is left as the de-identified file
has it unless the item lists it: with its original value, or with zero length for "the
original had none" (PS3.15 E.1.1 lets added attributes be listed so), which removes it;
zero-length (0012,0062), (0012,0063), (0012,0064) are read the same way.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from dicomsec.deid._envelope import Opened, open_encrypted_attributes, tag_label

if TYPE_CHECKING:
    from pydicom.dataelem import DataElement
    from pydicom.dataset import Dataset

    from dicomsec.algorithms.policy import AlgorithmPolicy
    from dicomsec.cms.recipients import Credentials

__all__ = ["ReidResult", "load_credentials", "reidentify_dataset"]

_ENCRYPTED_ATTRIBUTES = 0x04000500
_IDENTITY_REMOVED = 0x00120062
_METHOD = 0x00120063
_METHOD_CODES = 0x00120064
_LONGITUDINAL = 0x00280303
_SOP_INSTANCE_UID = 0x00080018


@dataclass(frozen=True, slots=True)
class ReidResult:
    """The re-identified data set, what was restored (``"(gggg,eeee) Keyword"``, in tag
    order), and which item opened and how (:class:`~dicomsec.deid._envelope.Opened`)."""

    dataset: Dataset
    restored: tuple[str, ...]
    opened: Opened


def load_credentials(key: Path, certificate: Path | None = None,
                     password: bytes | None = None) -> Credentials:
    """The credentials of a recipient: its private key file (PEM, DER or PKCS#12; RSA, EC,
    X25519/X448 or ML-KEM) and, optionally, its certificate (then only the recipients naming
    that certificate are tried). A key-file ``password`` (from
    :func:`dicomsec.keys.read_password`) must be printable ASCII (ISO-IR 6), as every
    password of this toolkit.

    Raises:
        InvalidInput: a password outside ISO-IR 6 (the message gives the position, never the
            password), an unreadable key or certificate, a wrong password.
        UnsupportedAlgorithm: an ML-KEM key of a level the installed cryptography lacks.
    """
    from dicomsec.cms.recipients import Credentials, check_password
    from dicomsec.keys import load_certificate, load_private_key_any

    if password is not None:
        check_password(password.decode("utf-8", "replace"))
    private = load_private_key_any(Path(key), password)
    cert = load_certificate(Path(certificate)) if certificate is not None else None
    return Credentials(private_key=private, certificate=cert)


def reidentify_dataset(ds: Dataset, credentials: Credentials, *,
                       policy: AlgorithmPolicy | None = None) -> ReidResult:
    """Re-identify a copy of ``ds`` (which is not modified) with ``credentials``.

    Raises:
        InvalidInput: no Encrypted Attributes Sequence; a password outside ISO-IR 6; a limit.
        PolicyViolation: the policy refuses every item the credentials fit.
        DecryptionFailed: no item matches the key, or its content fails its check.
    """
    opened = open_encrypted_attributes(ds, credentials, policy=policy)
    out = copy.deepcopy(ds)
    del out[_ENCRYPTED_ATTRIBUTES]
    restored = []
    for elem in opened.originals:
        tag = int(elem.tag)
        if tag >> 16 == 0x0002:
            continue
        out[tag] = copy.deepcopy(elem)
        restored.append(tag)
    held = {t for t in restored if opened.originals[t].value not in (None, "", b"")}
    if _IDENTITY_REMOVED not in held:
        out[_IDENTITY_REMOVED] = _cs(_IDENTITY_REMOVED, "NO")
    for tag in (_METHOD, _METHOD_CODES):
        if tag not in held and tag in out:
            del out[tag]
    if _LONGITUDINAL in restored and _LONGITUDINAL not in held:
        del out[_LONGITUDINAL]  # listed empty: the original had none
    meta = getattr(out, "file_meta", None)
    if meta is not None and _SOP_INSTANCE_UID in out:
        meta.MediaStorageSOPInstanceUID = out[_SOP_INSTANCE_UID].value
    return ReidResult(dataset=out, restored=tuple(tag_label(t) for t in sorted(restored)),
                      opened=opened)


def _cs(tag: int, value: str) -> DataElement:
    from pydicom.dataelem import DataElement

    return DataElement(tag, "CS", value)
