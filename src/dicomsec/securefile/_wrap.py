"""Producer: wrap a DICOM Part 10 file into a Secure DICOM File (PS3.10 §7.4, PS3.15 Annex D).

The profiles and their decisions are described in :mod:`dicomsec.securefile` and
``docs/secure-files.md``.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from dicomsec._atomic import atomic_output, unnamed_file
from dicomsec.cms import ID_DATA, ID_DIGESTED_DATA, ID_SIGNED_DATA
from dicomsec.errors import InvalidInput, PolicyViolation
from dicomsec.securefile._report import WrapReport

if TYPE_CHECKING:
    from dicomsec.algorithms import Algorithm
    from dicomsec.algorithms.policy import AlgorithmPolicy, KeyLike
    from dicomsec.cms.recipients import Recipient
    from dicomsec.cms.signed import CmsSigner
    from dicomsec.events import AuditEvent, AuditHandler
    from dicomsec.signatures._events import Identity

__all__ = ["PROFILES", "wrap"]

#: the writing profiles: ``basic`` (PS3.15 D.1), ``aead`` (default) and ``pq``
PROFILES = ("basic", "aead", "pq")

_CHUNK = 1 << 20


def _check_dicom(path: Path, seen: list[Identity] | None = None) -> int:
    """The size of ``path``, which must be a DICOM Part 10 file (``DICM`` at offset 128);
    its identity (:func:`~dicomsec.signatures._events.head_identity`) is appended to
    ``seen`` when given."""
    try:
        with open(path, "rb") as fh:
            size = fh.seek(0, 2)
            fh.seek(128)
            magic = fh.read(4)
            if seen is not None and magic == b"DICM":
                from dicomsec.signatures._events import head_identity

                seen.append(head_identity(fh))
    except IsADirectoryError:
        raise InvalidInput("is a directory", path=str(path)) from None
    except OSError as exc:
        raise InvalidInput(f"cannot read: {exc.strerror or exc}", path=str(path)) from None
    if magic != b"DICM":
        raise InvalidInput("not a DICOM Part 10 file (no DICM prefix); a Secure DICOM File "
                           "holds a whole Part 10 file", path=str(path))
    return size


def _digest_file(path: Path, digest: str) -> bytes:
    from dicomsec import algorithms

    hasher = algorithms.new_hasher(algorithms.by_name(digest, algorithms.Kind.DIGEST))
    buf = bytearray(_CHUNK)
    view = memoryview(buf)
    with open(path, "rb") as fh:
        while n := fh.readinto(view):
            hasher.update(view[:n])
    return hasher.digest()


def _profile_cipher(profile: str, cipher: str | None) -> str:
    """The content cipher: the profile's default, or a choice the profile allows."""
    from dicomsec import algorithms

    mode = "cbc" if profile == "basic" else "gcm"
    if cipher is None:
        return f"aes256-{mode}"
    alg = algorithms.by_name(cipher, algorithms.Kind.CIPHER)
    if alg.mode != mode:
        raise InvalidInput(f"the {profile} profile uses {mode.upper()} content encryption, "
                           f"not {alg.name}")
    return alg.name


def _policy_for(policy: AlgorithmPolicy | None, allow_legacy: bool) -> AlgorithmPolicy:
    """``policy`` (default: the default policy), with legacy allowed for ``allow_legacy``."""
    from dicomsec.algorithms.policy import AlgorithmPolicy

    policy = policy or AlgorithmPolicy.default()
    return policy.with_legacy_allowed() if allow_legacy else policy


def _recipient_algorithms(recipient: Recipient) -> Iterator[tuple[Algorithm, KeyLike]]:
    """What a recipient uses to carry the content key: its scheme (with the recipient's
    public key) and its key wrap or KEK cipher."""
    r: object = recipient
    for attr in ("algorithm", "scheme", "kem"):
        alg = getattr(r, attr, None)
        if alg is not None:
            yield alg, getattr(r, "public_key", None)
    for attr in ("wrap", "cipher"):
        alg = getattr(r, attr, None)
        if alg is not None:
            yield alg, None


def _check_creation(profile: str, recipients: Sequence[Recipient], signers: Sequence[CmsSigner],
                    digest: Algorithm | None, cipher: str, *, policy: AlgorithmPolicy,
                    at: _dt.datetime | _dt.date | None) -> None:
    """The one place wrap asks the algorithm policy (``Purpose.CREATE`` on the day ``at``):
    the inner digest, the profile's recipient kinds, each recipient's scheme (with its key)
    and key wrap, each signer's scheme (with its key), then the content cipher.

    RSA PKCS#1 v1.5 key transport keeps its registry status waived (the Basic profile names
    it, PS3.15 D.1), as :class:`~dicomsec.cms.recipients.KeyTransRecipient` does; dated and
    site rules still judge it.

    Raises:
        PolicyViolation: refused by the policy (the message names it), or a recipient kind
            the profile does not allow.
    """
    from dicomsec import algorithms
    from dicomsec.algorithms.policy import Purpose
    from dicomsec.trust import KeyPurpose, check_for_use

    if digest is not None:
        policy.require(digest, None, Purpose.CREATE, at)
    kinds = [r.kind for r in recipients]
    if profile == "basic":
        bad = [k for k in kinds if k not in ("ktri", "pwri")]
        if bad:
            raise PolicyViolation(f"the basic profile allows RSA key transport and passwords "
                                  f"only, not {bad[0]}")
    elif profile == "pq" and "ori" not in kinds:
        raise PolicyViolation("the pq profile needs an ML-KEM recipient (--to an ML-KEM "
                              "certificate or public key)")
    for recipient in recipients:
        for alg, key in _recipient_algorithms(recipient):
            judge = policy
            if alg.kind is algorithms.Kind.KEY_TRANSPORT and policy.status_of(alg) is (
                    algorithms.Status.LEGACY):
                judge = policy.with_status(alg, algorithms.Status.ALLOWED)
            judge.require(alg, key, Purpose.CREATE, at)
    for signer in signers:
        check_for_use(signer.certificate, KeyPurpose.SIGNING,
                      at=at if isinstance(at, _dt.datetime) else None, name="signer certificate")
        policy.require(signer.signature_algorithm, signer.certificate.public_key(),
                       Purpose.CREATE, at)
    policy.require(algorithms.by_name(cipher, algorithms.Kind.CIPHER), None, Purpose.CREATE, at)


def _inner_digest(signers: Sequence[CmsSigner], digest: str) -> Algorithm:
    """The inner digest algorithm: ``digest``, unless the signers' scheme fixes it (Ed25519
    uses SHA-512, RFC 8419)."""
    from dicomsec import algorithms

    if signers:
        fixed = {s.digest_algorithm.name for s in signers}
        if len(fixed) > 1:
            raise InvalidInput("all signers must use the same digest algorithm")
        digest = fixed.pop()
    return algorithms.by_name(digest, algorithms.Kind.DIGEST)


def _inner_parts(src: Path, size: int, signers: Sequence[CmsSigner], digest: Algorithm
                 ) -> tuple[bytes, bytes, str, str]:
    """(prefix, suffix, content type OID, inner name) of the inner SignedData or DigestedData
    that surrounds the file's bytes."""
    from dicomsec.cms import signed as cms_signed

    # the policy judged the digest and the signers already (_check_creation): the CMS
    # writers are told legacy is allowed so that they do not judge again by registry alone
    content_digest = _digest_file(src, digest.name)
    if signers:
        prefix, suffix = cms_signed.signed_data_parts(size, content_digest, signers,
                                                      digest=digest.name, allow_legacy=True)
        return prefix, suffix, ID_SIGNED_DATA, "signed-data"
    prefix, suffix = cms_signed.digested_data_parts(size, content_digest, digest.name,
                                                    allow_legacy=True)
    return prefix, suffix, ID_DIGESTED_DATA, "digested-data"


def wrap(
    src: Path | str | BinaryIO,
    dst: Path | str,
    *,
    recipients: Sequence[Recipient],
    profile: str = "aead",
    signers: Sequence[CmsSigner] = (),
    cipher: str | None = None,
    digest: str = "sha256",
    allow_legacy: bool = False,
    policy: AlgorithmPolicy | None = None,
    at: _dt.datetime | _dt.date | None = None,
    handlers: Iterable[AuditHandler] | None = None,
) -> WrapReport:
    """Wrap a DICOM Part 10 file into a Secure DICOM File at ``dst`` (written atomically).

    ``profile``: ``"basic"`` (PS3.15 D.1: EnvelopedData, AES-CBC, RSA PKCS#1 v1.5 or password
    recipients, inner DigestedData or SignedData), ``"aead"`` (AuthEnvelopedData, AES-GCM, any
    recipient) or ``"pq"`` (``aead`` with at least one ML-KEM recipient). ``signers`` add an
    inner SignedData. ``src`` may be an open binary stream (a pipe): the output then uses BER
    indefinite lengths (profiles that hash the content first, ``basic`` or with signers,
    spool it to a private temporary file in the output folder instead).

    Checked: the input is a Part 10 file; the profile allows the recipients and cipher;
    ``policy`` (default: the default policy; ``allow_legacy=True`` is its short form of "legacy
    allowed for creation") allows, for creation on the day ``at`` (default: now), the inner
    digest, each recipient's scheme with its key and its key wrap, each signer's scheme with
    its key, and the content cipher. Not checked: the recipients' certificates (whoever chose
    them vouches for them).

    ``handlers`` get one audit event (:mod:`dicomsec.events`): WRAP with the study and the
    patient of the input (read from its first elements; none for a stream), the output as
    MEDIA and the recipients as participants; a refusal by the policy or the profile
    POLICY_VIOLATION; another failure WRAP with outcome 4 and the error as Alert Description.

    Raises:
        InvalidInput: the input is not a Part 10 file, or the options don't fit the profile.
        PolicyViolation: the profile forbids a recipient kind, or the policy refuses an
            algorithm (3DES or SHA-1 without ``allow_legacy``, a site rule; the message names
            the policy).
    """
    from dicomsec.events import Operation
    from dicomsec.signatures._events import Identity, emit_built, failure_event

    seen: list[Identity] = []
    try:
        report = _wrap(src, Path(dst), recipients=recipients, profile=profile,
                       signers=signers, cipher=cipher, digest=digest,
                       allow_legacy=allow_legacy, policy=policy, at=at,
                       seen=seen if handlers else None)
    except Exception as exc:  # every failure is audited (an OSError too)
        emit_built(handlers, failure_event, Operation.WRAP, exc,
                   src if isinstance(src, str | Path) else None)
        raise
    emit_built(handlers, _wrap_event, report, recipients, seen[0] if seen else Identity())
    return report


def _wrap_event(report: WrapReport, recipients: Sequence[Recipient],
                ident: Identity) -> AuditEvent:
    """WRAP: the study and patient, the output file as MEDIA, the recipients."""
    from dicomsec.events import AuditEvent, ObjectKind, Operation
    from dicomsec.signatures._events import (
        file_object,
        identity_objects,
        recipient_participant,
    )

    return AuditEvent(
        Operation.WRAP,
        objects=(*identity_objects(ident), file_object(report.path, ObjectKind.MEDIA)),
        participants=tuple(recipient_participant(r) for r in recipients))


def _wrap(
    src: Path | str | BinaryIO, dst: Path, *, recipients: Sequence[Recipient], profile: str,
    signers: Sequence[CmsSigner], cipher: str | None, digest: str, allow_legacy: bool,
    policy: AlgorithmPolicy | None, at: _dt.datetime | _dt.date | None,
    seen: list[Identity] | None,
) -> WrapReport:
    """:func:`wrap`; the input's identity is appended to ``seen`` (when given)."""
    from dicomsec.cms.envelope import write_envelope

    if profile not in PROFILES:
        raise InvalidInput(f"unknown profile {profile!r}; choose from {', '.join(PROFILES)}")
    cipher = _profile_cipher(profile, cipher)
    if not isinstance(src, str | Path):
        return _wrap_stream(src, dst, recipients=recipients, profile=profile, signers=signers,
                            cipher=cipher, digest=digest,
                            policy=_policy_for(policy, allow_legacy), at=at)
    src = Path(src)
    size = _check_dicom(src, seen)
    kinds = [r.kind for r in recipients]
    if not recipients:
        raise InvalidInput("give at least one recipient (a certificate, KEK or password)")
    dig_alg = _inner_digest(signers, digest)
    _check_creation(profile, recipients, signers, dig_alg, cipher,
                    policy=_policy_for(policy, allow_legacy), at=at)
    prefix = suffix = b""
    content_type, inner = ID_DATA, "data"
    if signers or profile == "basic":
        prefix, suffix, content_type, inner = _inner_parts(src, size, signers, dig_alg)
    with open(src, "rb") as fh, atomic_output(dst) as out:
        result = write_envelope(
            [prefix, fh, suffix], len(prefix) + size + len(suffix), out, recipients=recipients,
            cipher=cipher, content_type=content_type, allow_legacy=True,  # judged above
        )
    return WrapReport(
        path=str(dst), profile=profile, outer=result.outer, cipher=result.cipher,
        recipients=tuple(kinds), inner=inner,
        digest=dig_alg.name if inner != "data" else None, signers=len(signers),
    )


def _wrap_stream(
    stream: BinaryIO, dst: Path, *, recipients: Sequence[Recipient], profile: str,
    signers: Sequence[CmsSigner], cipher: str, digest: str, policy: AlgorithmPolicy,
    at: _dt.datetime | _dt.date | None,
) -> WrapReport:
    """:func:`wrap` of a stream: BER indefinite lengths for id-data, else a spooled copy."""
    from dicomsec.cms.envelope import write_envelope

    head = stream.read(132)
    if len(head) < 132 or head[128:] != b"DICM":
        raise InvalidInput("standard input is not a DICOM Part 10 file (no DICM prefix)")
    folder = dst.parent if str(dst.parent) else Path(".")
    if profile == "basic" or signers:
        # the inner digest needs a first pass over the content: spool it into a private
        # file without a name (a kill leaves nothing), reopened by its /proc/self/fd path
        with unnamed_file(folder, dst.name) as spool:
            spool.write(head)
            while chunk := stream.read(_CHUNK):
                spool.write(chunk)
            spool.flush()
            return _wrap(Path(spool.name), dst, recipients=recipients, profile=profile,
                         signers=signers, cipher=cipher, digest=digest, allow_legacy=False,
                         policy=policy, at=at, seen=None)
    if profile == "pq" and "ori" not in [r.kind for r in recipients]:
        raise PolicyViolation("the pq profile needs an ML-KEM recipient")
    _check_creation(profile, recipients, signers, None, cipher, policy=policy, at=at)
    with atomic_output(dst) as out:
        result = write_envelope([head, stream], None, out, recipients=recipients,
                                cipher=cipher, allow_legacy=True)  # judged above
    return WrapReport(path=str(dst), profile=profile, outer=result.outer, cipher=result.cipher,
                      recipients=result.recipients, inner="data", digest=None, signers=0)
