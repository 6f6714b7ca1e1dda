"""Re-identification (PS3.15 E.1.2): open an item of the Encrypted Attributes Sequence with a
recipient's key and copy the original values back.

Steps: find an item whose envelope the key opens (:func:`~dicomsec.deid._envelope.
open_encrypted_attributes`); refuse an item that would restore pixel data (group 7FE0) or
another SOP Class UID (:data:`REFUSED`: de-identification never encrypts them; such an item
was made by someone else, and anyone holding the recipient's certificate can make a valid
one, GCM included); remove the Encrypted Attributes Sequence (0400,0500); copy every
top-level element of the Modified Attributes item into the data set, replacing dummies and
re-inserting removed attributes, but never what :data:`NEVER_RESTORED` names nor the File
Meta group (0002) (the meta header is derived from the data set). A mark the de-identifier
added ((0012,0063), (0012,0064), (0028,0303)) listed with zero length (PS3.15 C.12.1.1.4.1
lets added attributes be listed so) means "the original had none": it is removed; listed
with a value, it is restored; not listed, (0028,0303) stays as the de-identified file has it.

Then, when the item gives the identity back (a full set of originals, or at least the SOP
Instance UID and the Patient ID: :func:`_complete`), set Patient Identity Removed (0012,0062)
to ``NO`` and remove De-identification Method (0012,0063) and its Code Sequence (0012,0064)
unless the originals hold their own values. A subset (a recipient of ``--attributes-for``)
leaves UIDs and IDs as dummies: (0012,0062) stays ``YES`` and the marks stay, so that dummy
values are never presented as real (PS3.15 E.1.2; the result says ``complete=False``).
Last, the File Meta's Media Storage SOP Instance UID follows the restored SOP Instance UID.

What is not promised: a byte-identical original (only what the de-identifier put in the item
comes back, and a recipient of a subset gets only that subset), nor that the originals came
from whom they claim: the GCM tag of a modern item proves the item was not altered after it
was made, not who made it (see :class:`~dicomsec.deid._envelope.Opened`); only a signature
over (0400,0500) would.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from dicomsec.deid._envelope import Opened, open_encrypted_attributes, tag_label
from dicomsec.errors import DecryptionFailed

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
_SOP_CLASS_UID = 0x00080016
_SOP_INSTANCE_UID = 0x00080018
_PATIENT_ID = 0x00100020
#: marks the de-identifier adds: listed with zero length, they mean "the original had none"
_MARKS = frozenset({_METHOD, _METHOD_CODES, _LONGITUDINAL})

#: never copied back from an item, whatever it holds: the File Meta group (0002) (derived from
#: the data set), Digital Signatures (they signed the original encoding, which is not what is
#: rebuilt; their removal is the de-identifier's), the Encrypted Attributes Sequence (one the
#: original object carried would re-open a door the de-identifier closed) and Patient
#: Identity Removed (0012,0062), which re-identification sets itself (``NO`` only when the
#: identity is back: :func:`reidentify_dataset`)
NEVER_RESTORED = frozenset({0xFFFAFFFA, _ENCRYPTED_ATTRIBUTES, _IDENTITY_REMOVED})

#: the refusal of an item that would restore what de-identification never encrypts
REFUSED = ("the Encrypted Attributes item would restore {what}, which de-identification "
           "never puts there: refused (the item was made by someone else)")


@dataclass(frozen=True, slots=True)
class ReidResult:
    """The re-identified data set, what was restored (``"(gggg,eeee) Keyword"``, in tag
    order), and which item opened and how (:class:`~dicomsec.deid._envelope.Opened`).
    ``complete``: the item gave the identity back (SOP Instance UID and Patient ID, or a full
    set of originals): (0012,0062) is ``NO`` and the method marks are gone; else (a subset)
    the file keeps (0012,0062) ``YES`` and its marks, for what it still holds are dummies.
    ``skipped``: elements of the item never copied back (:data:`NEVER_RESTORED`, group 0002)."""

    dataset: Dataset
    restored: tuple[str, ...]
    opened: Opened
    complete: bool = True
    skipped: tuple[str, ...] = ()


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
        DecryptionFailed: no item matches the key, or its content fails its check, or the
            item would restore what de-identification never encrypts (:data:`REFUSED`).
    """
    opened = open_encrypted_attributes(ds, credentials, policy=policy)
    _refuse_foreign(opened.originals, ds)
    out = copy.deepcopy(ds)
    del out[_ENCRYPTED_ATTRIBUTES]
    restored: list[int] = []
    skipped: list[int] = []
    for elem in opened.originals:
        tag = int(elem.tag)
        if tag >> 16 == 0x0002 or tag in NEVER_RESTORED:
            if tag != _IDENTITY_REMOVED:  # always listed by the engine; set below
                skipped.append(tag)
            continue
        if elem.is_empty and tag in _MARKS:
            if tag in out:
                del out[tag]  # listed with zero length: the original had none
        else:
            out[tag] = copy.deepcopy(elem)
        restored.append(tag)
    complete = _complete(opened.originals, ds)
    if complete:
        out[_IDENTITY_REMOVED] = _cs(_IDENTITY_REMOVED, "NO")
        for tag in (_METHOD, _METHOD_CODES):
            if tag in out and (tag not in opened.originals or opened.originals[tag].is_empty):
                del out[tag]
    meta = getattr(out, "file_meta", None)
    if meta is not None and _SOP_INSTANCE_UID in out:
        meta.MediaStorageSOPInstanceUID = out[_SOP_INSTANCE_UID].value
    return ReidResult(dataset=out, restored=tuple(tag_label(t) for t in sorted(restored)),
                      opened=opened, complete=complete,
                      skipped=tuple(tag_label(t) for t in sorted(skipped)))


def _refuse_foreign(originals: Dataset, ds: Dataset) -> None:
    """An item that would restore pixel data, or another SOP Class than the de-identified
    file's, was not made by a de-identifier of this file: the file is refused."""
    for elem in originals:
        tag = int(elem.tag)
        if tag >> 16 == 0x7FE0:
            raise DecryptionFailed(REFUSED.format(what=f"pixel data {tag_label(tag)}"))
        if tag == _SOP_CLASS_UID and _text(elem.value) != _text(ds.get("SOPClassUID")):
            raise DecryptionFailed(REFUSED.format(
                what=f"another SOP Class UID than the file's {tag_label(tag)}"))


def _complete(originals: Dataset, ds: Dataset) -> bool:
    """Whether the item restores the identity (PS3.15 E.1.2, spec 7.7): it lists the
    de-identification marks (a full set of originals, as the engine writes it), or it restores
    the SOP Instance UID and the Patient ID (when the file has one). A subset (a recipient of
    ``--attributes-for``) leaves the UIDs and IDs it does not hold as dummies: the file stays
    marked de-identified."""
    if any(tag in originals for tag in (_IDENTITY_REMOVED, _METHOD, _METHOD_CODES)):
        return True
    return _SOP_INSTANCE_UID in originals and (_PATIENT_ID in originals
                                               or _PATIENT_ID not in ds)


def _text(value: object) -> str:
    return str(value or "").strip(" \0")


def _cs(tag: int, value: str) -> DataElement:
    from pydicom.dataelem import DataElement

    return DataElement(tag, "CS", value)
