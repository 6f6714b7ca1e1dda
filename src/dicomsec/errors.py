"""The one exception tree of dicomsec.

Every error says what was wrong and where (file, tag, item). Messages never contain key
material, passwords or plaintext. ``diagnostics()`` adds a hint on what to check.

Exit codes of the command line tool follow the class: ``InvalidInput`` (and ``OSError``) → 2,
every other ``DicomSecError`` → 1.
"""

from __future__ import annotations

from typing import Literal

#: what a failure means for the caller: unreadable input or a bad argument, a failed security
#: check, or a defect
ErrorKind = Literal["input", "security", "internal"]

__all__ = [
    "DecryptionFailed",
    "DicomSecError",
    "ErrorKind",
    "InvalidInput",
    "PolicyViolation",
    "TrustError",
    "UnsupportedAlgorithm",
    "VerificationFailed",
    "error_kind",
]


class DicomSecError(Exception):
    """Root of every error raised on purpose by dicomsec."""

    hint: str = ""

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        tag: str | None = None,
        item: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.path = path
        self.tag = tag
        self.item = item
        if hint is not None:
            self.hint = hint

    def __str__(self) -> str:
        where = [p for p in (self.path, self.item, self.tag) if p]
        prefix = ": ".join(where)
        return f"{prefix}: {self.message}" if prefix else self.message

    def diagnostics(self) -> str:
        """A longer explanation of what to check, for people."""
        return self.hint or str(self)


class InvalidInput(DicomSecError):
    """Unreadable or malformed input, or a bad argument (exit code 2)."""


class UnsupportedAlgorithm(InvalidInput):
    """An algorithm name, OID or DICOM term that dicomsec does not know or cannot run."""


class PolicyViolation(DicomSecError):
    """Forbidden or legacy algorithm, weak key, or a profile whose demands are not met."""


class VerificationFailed(DicomSecError):
    """A signature, MAC, digest or timestamp did not verify."""


class DecryptionFailed(DicomSecError):
    """Decryption or authentication of encrypted content failed."""


class TrustError(DicomSecError):
    """A certificate could not be validated against the configured trust anchors."""


def error_kind(exc: BaseException) -> ErrorKind:
    """The one classification of an exception: :class:`InvalidInput` and :class:`OSError` are
    input (exit code 2), any other :class:`DicomSecError` a security failure (1), anything else
    a defect (70). The command line tool and the batch executor both ask this."""
    if isinstance(exc, InvalidInput | OSError):
        return "input"
    if isinstance(exc, DicomSecError):
        return "security"
    return "internal"
