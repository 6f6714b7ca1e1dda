"""Judge: decrypt a Secure DICOM File, prove its integrity, and only then release the content.

Nothing is released before it is proven: plaintext goes to a private (0600) file with no name
in the target folder (``O_TMPFILE``) that is linked into place only after the AES-GCM tag
verified and, for signed or digested content, after the inner check passed; on any failure, a
SIGKILL included, no output and no temporary file exist.

The algorithm policy is asked about every algorithm unwrap uses, before it is used or, for the
inner content, before the output is published: the content cipher and every algorithm of the
RecipientInfos the credentials fit (DECRYPT) before anything is decrypted, then the inner
digest and each signer's scheme with its key (VERIFY) once the inner check passed.
"""

from __future__ import annotations

import datetime as _dt
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Literal

from dicomsec._atomic import (
    atomic_output,
    output_mode,
    publish_file,
    regular_input,
    unnamed_file,
)
from dicomsec.cms import DOES_NOT_OPEN, ID_DATA
from dicomsec.errors import (
    DecryptionFailed,
    DicomSecError,
    InvalidInput,
    PolicyViolation,
    TrustError,
)
from dicomsec.securefile._report import InnerContentReport, UnwrapReport, content_name

if TYPE_CHECKING:
    from dicomsec.algorithms import Algorithm
    from dicomsec.algorithms.policy import AlgorithmPolicy, Decision
    from dicomsec.cms.envelope import Envelope
    from dicomsec.cms.recipients import Credentials, OpenedKey
    from dicomsec.events import AuditEvent, AuditHandler
    from dicomsec.signatures._events import Identity
    from dicomsec.trust import TrustStore

__all__ = ["unwrap"]

_log = logging.getLogger(__name__)


def unwrap(
    src: Path | str,
    dst: Path | str,
    *,
    credentials: Credentials,
    trust: TrustStore | None = None,
    allow_unauthenticated: bool = False,
    policy: AlgorithmPolicy | None = None,
    at: _dt.datetime | _dt.date | None = None,
    handlers: Iterable[AuditHandler] | None = None,
) -> UnwrapReport:
    """Decrypt a Secure DICOM File and check it; writes the recovered DICOM file to ``dst``.

    Content is released only when its integrity is proven: by the AES-GCM tag, or, for CBC
    files, by the inner DigestedData or SignedData. CBC files whose content type is plain data
    have no integrity at all; they are refused (before anything is decrypted) unless
    ``allow_unauthenticated`` is given. For CBC files every failure after decryption (padding,
    inner structure, digest, signature) gives the same error, so that no oracle is built. The
    output is written with mode 0600. Inner signers are checked against ``trust`` when it is
    given; without it they must verify but need not be trusted. ``policy`` (default: the
    default policy) judges, on the day ``at`` (default: now), every algorithm used: before
    anything is decrypted, the content cipher and the algorithms of every RecipientInfo the
    credentials fit (key transport or KEM with the key, OAEP hashes, key agreement, key wrap,
    PBKDF2 and its PRF, the PWRI-KEK cipher) for DECRYPT, a recipient with a refused algorithm
    being not tried; once the inner check passed and before the output is published, the
    inner digest and each signer's scheme with its key for VERIFY. The refusal of a recipient
    depends only on the file and on which credentials were given, never on a decryption. The
    report carries the cipher's decision (``policy``) and all of them (``policy_decisions``):
    legacy algorithms (3DES, RSA PKCS#1 v1.5 transport, SHA-1) stay allowed, marked legacy.

    ``handlers`` get one audit event (:mod:`dicomsec.events`): UNWRAP with the study (marked
    encrypted) and the patient of the released file (read from its first elements) and the
    input as MEDIA; a refusal by the policy POLICY_VIOLATION; any other failure (no recipient
    fits, wrong key, corrupt) UNWRAP with outcome 4 and the error as Alert Description.

    Raises:
        InvalidInput: not a readable (Auth)EnvelopedData structure.
        PolicyViolation: a CBC file without integrity and ``allow_unauthenticated`` not given,
            or the policy refuses the content cipher, an algorithm of every recipient the
            credentials fit, or an inner digest or signer's scheme (the message names the
            policy; no output).
        DecryptionFailed: no recipient fits, wrong key/password/KEK, failed tag or padding, or
            (CBC) a broken inner structure, digest or signature.
        VerificationFailed: inner digest or signature does not verify (AEAD files).
        TrustError: a signer is not trusted under ``trust``.
    """
    from dicomsec.events import Operation
    from dicomsec.signatures._events import Identity, emit_built, failure_event

    src, dst = Path(src), Path(dst)
    seen: list[Identity] = []
    try:
        report = _unwrap(src, dst, credentials=credentials, trust=trust,
                         allow_unauthenticated=allow_unauthenticated, policy=policy, at=at,
                         seen=seen if handlers else None)
    except Exception as exc:  # every failure is audited (an OSError too)
        emit_built(handlers, failure_event, Operation.UNWRAP, exc, src)
        raise
    emit_built(handlers, _unwrap_event, src, seen[0] if seen else Identity())
    return report


def _unwrap_event(src: Path, ident: Identity) -> AuditEvent:
    """UNWRAP: the study (encrypted) and patient of the released file, the input as MEDIA."""
    from dicomsec.events import AuditEvent, ObjectKind, Operation
    from dicomsec.signatures._events import file_object, identity_objects

    return AuditEvent(Operation.UNWRAP, objects=(
        *identity_objects(ident, encrypted=True), file_object(src, ObjectKind.MEDIA)))


def _unwrap(src: Path, dst: Path, *, credentials: Credentials, trust: TrustStore | None,
            allow_unauthenticated: bool, policy: AlgorithmPolicy | None,
            at: _dt.datetime | _dt.date | None, seen: list[Identity] | None) -> UnwrapReport:
    """:func:`unwrap`; the released file's identity is appended to ``seen`` (when given)."""
    from dicomsec.cms.envelope import read_envelope

    regular_input(src)  # a FIFO or a device would hang or never end
    output_mode(dst)  # a device, FIFO, folder or symlink output: refused before any work
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
        opened = _open(env, credentials, policy, at, str(src))
        judge = _InnerJudge(policy, at, str(src))
        inner, is_dicom = _release(fh, size, env, opened.cek, dst, trust, str(src), judge,
                                   seen)
    return UnwrapReport(
        path=str(dst), outer=env.outer, cipher=env.cipher.name, recipient_index=opened.index,
        recipient_kind=env.recipient_kinds[opened.index],
        content_type=content_name(env.content_type), form=inner.form,
        integrity=_integrity(env, inner), inner=inner, is_dicom=is_dicom,
        legacy=env.cipher.legacy, policy=decision,
        policy_decisions=(decision, *opened.decisions, *judge.decisions),
        deviations=env.deviations,
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


def _open(env: Envelope, credentials: Credentials, policy: AlgorithmPolicy | None,
          at: _dt.datetime | _dt.date | None, name: str) -> OpenedKey:
    """The content-encryption key, the index of the recipient that opened it and the policy's
    DECRYPT decisions on that recipient's algorithms (judged before anything secret is used,
    for every recipient the credentials fit)."""
    from dicomsec.cms.recipients import MAX_PBKDF2_TOTAL, open_cek

    assert env.cipher is not None
    try:
        return open_cek(env.recipient_infos, credentials, cek_size=env.cipher.key_size,
                        pbkdf2_total=MAX_PBKDF2_TOTAL, policy=policy, at=at)
    except (DecryptionFailed, PolicyViolation) as exc:
        exc.path = exc.path or name
        raise


class _InnerJudge:
    """Collects the algorithms the inner check used and asks the policy about them (VERIFY)
    once the check passed: a refusal then tells nothing about unproven plaintext."""

    def __init__(self, policy: AlgorithmPolicy | None, at: _dt.datetime | _dt.date | None,
                 name: str) -> None:
        self.policy, self.at, self.name = policy, at, name
        self.used: list[tuple[Algorithm, Any]] = []
        self.decisions: tuple[Decision, ...] = ()

    def require(self) -> None:
        """Judge what was used; raise the first refusal.

        Raises:
            PolicyViolation: the policy refuses an inner algorithm for verification.
        """
        from dicomsec.algorithms.policy import Purpose
        from dicomsec.cms._policy import judge_use

        decisions = [d for alg, key in self.used
                     for d in judge_use(alg, key, Purpose.VERIFY, policy=self.policy,
                                        at=self.at)]
        self.decisions = tuple(decisions)
        for decision in decisions:
            if not decision.allowed:
                raise PolicyViolation(f"{decision.policy}: {decision.reason}", path=self.name,
                                      hint=decision.hint or None)


def _integrity(env: Envelope, inner: InnerContentReport
               ) -> Literal["aead", "signed", "digested", "none"]:
    if env.aead:
        return "aead"
    if inner.kind == "signed" or inner.kind == "digested":
        return inner.kind
    return "none"


def _release(fh: BinaryIO, size: int, env: Envelope, cek: bytes, dst: Path,
             trust: TrustStore | None, name: str, judge: _InnerJudge,
             seen: list[Identity] | None = None) -> tuple[InnerContentReport, bool]:
    """Decrypt into a private file with no name next to ``dst`` (see
    :func:`dicomsec._atomic.unnamed_file`: a kill at any moment leaves no plaintext) and
    publish the checked content; (inner report, content is DICOM). CBC failures all give
    :data:`DOES_NOT_OPEN`."""
    folder = dst.parent if str(dst.parent) else Path(".")
    try:
        with unnamed_file(folder, dst.name) as plain:
            return _decrypt_and_check(fh, size, env, cek, plain, dst, trust, name, judge,
                                      seen)
    except (OSError, PolicyViolation, TrustError):
        # the disk's own failures; a policy or trust refusal comes after the content was proven
        raise
    except Exception as exc:
        if env.aead:
            raise
        # CBC has no integrity of its own: one answer for every failure before the content is
        # proven, whatever raised it (no oracle; a parser's exception included)
        _log.debug("CBC content of %s did not open: %s", name, type(exc).__name__)
        raise DecryptionFailed(DOES_NOT_OPEN, path=name) from None


def _decrypt_and_check(fh: BinaryIO, size: int, env: Envelope, cek: bytes, plain: BinaryIO,
                       dst: Path, trust: TrustStore | None, name: str, judge: _InnerJudge,
                       seen: list[Identity] | None = None) -> tuple[InnerContentReport, bool]:
    """Decrypt into the unnamed file ``plain`` and publish the checked content at ``dst``;
    (report, is DICOM). The inner algorithms are judged after the inner check passed, before
    publishing; inner content is extracted into an output of its own (unnamed too). The
    identity of checked DICOM content goes to ``seen`` (when given)."""
    from dicomsec.cms.envelope import decrypt_content
    from dicomsec.cms.signed import extract_inner

    plain_size = decrypt_content(fh, size, env, cek, plain, name=name)
    plain.flush()
    plain.seek(128)
    magic = plain.read(4)
    plain.seek(0)
    first = plain.read(1)
    plain.seek(0)
    if env.content_type == ID_DATA and (magic == b"DICM" or first != b"\x30"):
        if seen is not None and magic == b"DICM":
            seen.append(_identity(plain))
        publish_file(plain, dst, mode=0o600)
        return InnerContentReport.plain(), magic == b"DICM"
    with atomic_output(dst, mode=0o600) as out:
        report = extract_inner(plain, plain_size, env.content_type, out, trust=trust,
                               name=name, used=judge.used)
        if not report.ok:
            _raise_inner(report, name)
        judge.require()
        out.flush()
        out.seek(128)
        magic = out.read(4)
        if seen is not None and magic == b"DICM":
            seen.append(_identity(out))
    return report, magic == b"DICM"


def _identity(fh: BinaryIO) -> Identity:
    from dicomsec.signatures._events import head_identity

    return head_identity(fh)


def _raise_inner(report: InnerContentReport, name: str) -> None:
    """Raise the failed inner check's exception (the atomic output is then discarded)."""
    try:
        report.raise_for_failure()
    except DicomSecError as exc:
        exc.path = name
        raise
