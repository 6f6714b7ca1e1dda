"""Judge: decrypt a Secure DICOM File, prove its integrity, and only then release the content.

Nothing is released before it is proven: plaintext goes to a private (0600) temporary file in
the target folder that is renamed only after the AES-GCM tag verified and, for signed or
digested content, after the inner check passed; on any failure no output exists.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Literal

from dicomsec._atomic import atomic_output, publish
from dicomsec.cms import DOES_NOT_OPEN, ID_DATA
from dicomsec.errors import (
    DecryptionFailed,
    DicomSecError,
    InvalidInput,
    PolicyViolation,
    VerificationFailed,
)
from dicomsec.securefile._report import InnerContentReport, UnwrapReport, content_name

if TYPE_CHECKING:
    from dicomsec.algorithms.policy import AlgorithmPolicy, Decision
    from dicomsec.cms.envelope import Envelope
    from dicomsec.cms.recipients import Credentials
    from dicomsec.trust import TrustStore

__all__ = ["unwrap"]


def unwrap(
    src: Path | str,
    dst: Path | str,
    *,
    credentials: Credentials,
    trust: TrustStore | None = None,
    allow_unauthenticated: bool = False,
    policy: AlgorithmPolicy | None = None,
    at: _dt.datetime | _dt.date | None = None,
) -> UnwrapReport:
    """Decrypt a Secure DICOM File and check it; writes the recovered DICOM file to ``dst``.

    Content is released only when its integrity is proven: by the AES-GCM tag, or, for CBC
    files, by the inner DigestedData or SignedData. CBC files whose content type is plain data
    have no integrity at all; they are refused (before anything is decrypted) unless
    ``allow_unauthenticated`` is given. For CBC files every failure after decryption (padding,
    inner structure, digest, signature) gives the same error, so that no oracle is built. The
    output is written with mode 0600. Inner signers are checked against ``trust`` when it is
    given; without it they must verify but need not be trusted. ``policy`` (default: the
    default policy) judges the content cipher for decryption on the day ``at`` (default: now)
    before anything is decrypted; the report carries that decision (``policy``): a legacy
    cipher (3DES) is allowed for decryption, marked legacy.

    Raises:
        InvalidInput: not a readable (Auth)EnvelopedData structure.
        PolicyViolation: a CBC file without integrity and ``allow_unauthenticated`` not given,
            or the policy refuses the content cipher for decryption (the message names it).
        DecryptionFailed: no recipient fits, wrong key/password/KEK, failed tag or padding, or
            (CBC) a broken inner structure, digest or signature.
        VerificationFailed: inner digest or signature does not verify (AEAD files).
        TrustError: a signer is not trusted under ``trust``.
    """
    from dicomsec.cms.envelope import read_envelope

    src, dst = Path(src), Path(dst)
    if not src.is_file():
        raise InvalidInput("is a directory" if src.is_dir() else "no such file", path=str(src))
    with open(src, "rb") as fh:
        size = fh.seek(0, 2)
        env = read_envelope(fh, size, str(src))
        if env.cipher is None:
            raise InvalidInput(f"unknown content-encryption algorithm {env.cipher_oid}",
                               path=str(src))
        if not env.aead and env.content_type == ID_DATA and not allow_unauthenticated:
            raise PolicyViolation(
                "the file has no integrity protection (CBC encryption of plain content, no "
                "inner signature or digest): its content cannot be proven unmodified",
                path=str(src), hint="pass --allow-unauthenticated to accept it anyway")
        decision = _decrypt_decision(env, policy, at, str(src))
        cek, index = _open(env, credentials, str(src))
        inner, is_dicom = _release(fh, size, env, cek, dst, trust, str(src))
    return UnwrapReport(
        path=str(dst), outer=env.outer, cipher=env.cipher.name, recipient_index=index,
        recipient_kind=env.recipient_kinds[index], content_type=content_name(env.content_type),
        form=inner.form, integrity=_integrity(env, inner), inner=inner, is_dicom=is_dicom,
        legacy=env.cipher.legacy, policy=decision,
    )


def _decrypt_decision(env: Envelope, policy: AlgorithmPolicy | None,
                      at: _dt.datetime | _dt.date | None, name: str) -> Decision:
    """The policy's DECRYPT decision on the content cipher; raises when it refuses."""
    from dicomsec.algorithms.policy import AlgorithmPolicy, Purpose

    assert env.cipher is not None
    decision = (policy or AlgorithmPolicy.default()).check(env.cipher, None, Purpose.DECRYPT, at)
    if not decision.allowed:
        raise PolicyViolation(f"{decision.policy}: {decision.reason}", path=name)
    return decision


def _open(env: Envelope, credentials: Credentials, name: str) -> tuple[bytes, int]:
    """(content-encryption key, index of the recipient that opened it)."""
    from dicomsec.cms.recipients import unwrap_cek

    assert env.cipher is not None
    try:
        return unwrap_cek(env.recipient_infos, credentials, cek_size=env.cipher.key_size)
    except DecryptionFailed as exc:
        exc.path = exc.path or name
        raise


def _integrity(env: Envelope, inner: InnerContentReport
               ) -> Literal["aead", "signed", "digested", "none"]:
    if env.aead:
        return "aead"
    if inner.kind == "signed" or inner.kind == "digested":
        return inner.kind
    return "none"


def _release(fh: BinaryIO, size: int, env: Envelope, cek: bytes, dst: Path,
             trust: TrustStore | None, name: str) -> tuple[InnerContentReport, bool]:
    """Decrypt into a private temporary file next to ``dst`` and publish the checked content;
    (inner report, content is DICOM). CBC failures all give :data:`DOES_NOT_OPEN`."""
    folder = dst.parent if str(dst.parent) else Path(".")
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dst.name}.", suffix=".tmp", dir=folder)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        return _decrypt_and_check(fh, size, env, cek, tmp, dst, trust, name)
    except (InvalidInput, VerificationFailed, DecryptionFailed):
        if env.aead:
            raise
        # CBC has no integrity of its own: one answer for every failure (no oracle)
        raise DecryptionFailed(DOES_NOT_OPEN, path=name) from None
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


def _decrypt_and_check(fh: BinaryIO, size: int, env: Envelope, cek: bytes, tmp: Path,
                       dst: Path, trust: TrustStore | None, name: str
                       ) -> tuple[InnerContentReport, bool]:
    """Decrypt into ``tmp`` and publish the checked content at ``dst``; (report, is DICOM)."""
    from dicomsec.cms.envelope import decrypt_content
    from dicomsec.cms.signed import extract_inner

    with open(tmp, "r+b") as plain:
        plain_size = decrypt_content(fh, size, env, cek, plain, name=name)
        plain.flush()
        plain.seek(128)
        magic = plain.read(4)
        plain.seek(0)
        first = plain.read(1)
        plain.seek(0)
        if env.content_type == ID_DATA and (magic == b"DICM" or first != b"\x30"):
            os.fsync(plain.fileno())
            report = InnerContentReport.plain()
            extracted = False
        else:
            with atomic_output(dst, mode=0o600) as out:
                report = extract_inner(plain, plain_size, env.content_type, out, trust=trust,
                                       name=name)
                if not report.ok:
                    _raise_inner(report, name)
                out.flush()
                out.seek(128)
                magic = out.read(4)
            extracted = True
    if not extracted:
        publish(tmp, dst, synced=True, mode=0o600)
    return report, magic == b"DICM"


def _raise_inner(report: InnerContentReport, name: str) -> None:
    """Raise the failed inner check's exception (the atomic output is then discarded)."""
    try:
        report.raise_for_failure()
    except DicomSecError as exc:
        exc.path = name
        raise
