"""The reports of Secure DICOM File operations: wrap, unwrap (with its inner-content check) and
inspect. Each follows :class:`dicomsec.report.Report`; ``to_dict()`` keeps every key the
command line tool printed before the protocol (``schema`` and ``ok`` were added)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from dicomsec.cms import (
    ID_AUTH_ENVELOPED_DATA,
    ID_DATA,
    ID_DIGESTED_DATA,
    ID_ENVELOPED_DATA,
    ID_SIGNED_DATA,
)
from dicomsec.cms.signed._reports import InnerContentReport, InnerKind, InnerSigner
from dicomsec.errors import DicomSecError
from dicomsec.report import Report

if TYPE_CHECKING:
    from dicomsec.algorithms.policy import Decision

__all__ = [
    "InnerContentReport",
    "InnerKind",
    "InnerSigner",
    "SecureFileInfo",
    "UnwrapReport",
    "WrapReport",
    "content_name",
]


_CONTENT_NAMES = {
    ID_DATA: "data",
    ID_SIGNED_DATA: "signed-data",
    ID_DIGESTED_DATA: "digested-data",
    ID_ENVELOPED_DATA: "enveloped-data",
    ID_AUTH_ENVELOPED_DATA: "auth-enveloped-data",
}


def content_name(oid: str) -> str:
    """The short name of a CMS content type (``"signed-data"``), or the OID when unknown."""
    return _CONTENT_NAMES.get(oid, oid)


@dataclass(frozen=True, slots=True)
class WrapReport(Report):
    """What :func:`~dicomsec.securefile.wrap` wrote.

    It exists only for a file that was written (wrapping raises otherwise), so ``ok`` is
    always true. ``inner`` is ``"data"``, ``"signed-data"`` or ``"digested-data"``; ``digest``
    is the inner digest algorithm (``None`` for data).
    """

    schema: ClassVar[str] = "dicomsec.securefile.wrap/1"

    path: str
    profile: str
    outer: str
    cipher: str
    recipients: tuple[str, ...]
    inner: str
    digest: str | None
    signers: int

    @property
    def ok(self) -> bool:
        return True

    def summary(self) -> str:
        return (f"WRAPPED file={self.path} profile={self.profile} outer={self.outer} "
                f"cipher={self.cipher} recipients={','.join(self.recipients)} "
                f"inner={self.inner}")

    def _content(self) -> dict[str, Any]:
        return {
            "file": self.path, "profile": self.profile, "outer": self.outer,
            "cipher": self.cipher, "recipients": list(self.recipients), "inner": self.inner,
            "digest": self.digest, "signers": self.signers,
        }


@dataclass(frozen=True, slots=True)
class UnwrapReport(Report):
    """What :func:`~dicomsec.securefile.unwrap` found and checked.

    Unwrapping raises when a check fails, so a report exists only for released content and
    ``ok`` is true. ``integrity`` says what proves the content unmodified: ``"aead"`` (the
    AES-GCM tag), ``"signed"`` / ``"digested"`` (the inner check of a CBC file) or ``"none"``
    (CBC with plain content, accepted only with ``allow_unauthenticated``). ``is_dicom``:
    the recovered content is a DICOM Part 10 file. ``legacy``: the content cipher is legacy
    (3DES). ``policy``: the algorithm policy's DECRYPT decision on the content cipher (always
    allowing here: a refusal raises before anything is decrypted; ``None`` for a report built
    by hand). ``policy_decisions``: every decision unwrap asked for, in order: the content
    cipher, the algorithms of the recipient that opened the file (DECRYPT), then the inner
    digest and signers' schemes (VERIFY); all allowing (a refusal raises). ``deviations``:
    departures from the standards that carry no security meaning, read and reported (an
    EnvelopedData version that does not fit its recipients, say).
    """

    schema: ClassVar[str] = "dicomsec.securefile.unwrap/1"

    path: str
    outer: str
    cipher: str
    recipient_index: int
    recipient_kind: str
    content_type: str
    form: str
    integrity: Literal["aead", "signed", "digested", "none"]
    inner: InnerContentReport = field(default_factory=InnerContentReport.plain)
    is_dicom: bool = True
    legacy: bool = False
    policy: Decision | None = None
    policy_decisions: tuple[Decision, ...] = ()
    deviations: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.inner.ok

    def summary(self) -> str:
        verdict = "UNWRAPPED" if self.ok else "FAILED"
        return (f"{verdict} file={self.path} outer={self.outer} cipher={self.cipher} "
                f"recipient={self.recipient_index}:{self.recipient_kind} "
                f"integrity={self.integrity} is_dicom={str(self.is_dicom).lower()}")

    def _content(self) -> dict[str, Any]:
        return {
            "file": self.path, "outer": self.outer, "cipher": self.cipher,
            "recipient": {"index": self.recipient_index, "kind": self.recipient_kind},
            "content_type": self.content_type, "form": self.form, "integrity": self.integrity,
            "inner": self.inner.to_dict(), "is_dicom": self.is_dicom, "legacy": self.legacy,
            "policy": self.policy.to_dict() if self.policy is not None else None,
            "policy_decisions": [d.to_dict() for d in self.policy_decisions],
            "deviations": list(self.deviations),
        }

    def _failure(self) -> DicomSecError:
        exc = self.inner._failure()
        exc.path = exc.path or self.path
        return exc


@dataclass(frozen=True, slots=True)
class SecureFileInfo(Report):
    """What :func:`~dicomsec.securefile.inspect` sees in a file without any key.

    ``kind`` is ``"dicom-part10"`` (a plain file: only ``path`` and ``size`` are set) or
    ``"secure-dicom-file"``; then the outer CMS structure follows. ``recipients`` describes each
    RecipientInfo (``kind`` plus the identifiers and algorithms of that kind). Nothing is
    decrypted or verified: ``ok`` only says the file was recognised. ``deviations`` lists
    departures from the standards that carry no security meaning (version numbers, SET OF
    order, NULL or absent parameters), read and reported, never refused. (``inspect()``
    returned a dict before the report protocol: ``to_dict()`` has the same keys, and
    ``deviations`` for a secure file.)
    """

    schema: ClassVar[str] = "dicomsec.securefile.info/1"

    path: str
    kind: Literal["dicom-part10", "secure-dicom-file"]
    size: int
    outer: str | None = None
    version: int | None = None
    encoding: Literal["der", "ber"] | None = None
    content_type: str | None = None
    cipher: str | None = None
    icv_len: int | None = None
    authenticated_attributes: bool = False
    recipients: tuple[Mapping[str, Any], ...] = ()
    originator_info: bool = False
    unprotected_attributes: bool = False
    deviations: tuple[str, ...] = ()

    @property
    def is_secure(self) -> bool:
        """The file is a Secure DICOM File (CMS), not a plain Part 10 file."""
        return self.kind == "secure-dicom-file"

    @property
    def ok(self) -> bool:
        return True

    def summary(self) -> str:
        if not self.is_secure:
            return f"PLAIN file={self.path} size={self.size}"
        return (f"SECURE file={self.path} outer={self.outer} version={self.version} "
                f"encoding={self.encoding} cipher={self.cipher} inner={self.content_type} "
                f"recipients={','.join(str(r.get('kind')) for r in self.recipients)}"
                + (f" deviations={len(self.deviations)}" if self.deviations else ""))

    def _content(self) -> dict[str, Any]:
        head: dict[str, Any] = {"file": self.path, "type": self.kind, "size": self.size}
        if not self.is_secure:
            return head
        return {
            **head,
            "outer": self.outer,
            "version": self.version,
            "encoding": self.encoding,
            "content_type": self.content_type,
            "cipher": self.cipher,
            "icv_len": self.icv_len,
            "authenticated_attributes": self.authenticated_attributes,
            "recipients": [dict(r) for r in self.recipients],
            "originator_info": self.originator_info,
            "unprotected_attributes": self.unprotected_attributes,
            "deviations": list(self.deviations),
        }
