"""Secure DICOM Files (PS3.10 §7.4, PS3.15 Annex D): a whole Part 10 file inside CMS.

Public API::

    wrap(src, dst, recipients=[...], profile="aead", signers=(), digest="sha256") -> WrapReport
    unwrap(src, dst, credentials=Credentials(...), trust=None) -> UnwrapReport
    inspect(path) -> dict

Profiles (decisions recorded in docs/secure-files.md):

- ``basic``: PS3.15 D.1. EnvelopedData, AES-256-CBC, recipients RSA PKCS#1 v1.5 key transport or
  password; inner SignedData (when signers are given) or DigestedData, SHA-256.
- ``aead`` (default): AuthEnvelopedData, AES-256-GCM, 16-octet tag; any recipient kind; inner
  id-data, or SignedData with authenticated attributes when signers are given.
- ``pq``: ``aead`` with at least one ML-KEM recipient (KEMRecipientInfo, RFC 9629/9936).

Nothing is released before it is proven: GCM plaintext goes to a temporary file in the target
folder that is renamed only after the tag verified (and, for signed or digested content, after
the inner check passed); on any failure no output exists.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from dicomsec._atomic import atomic_output, publish
from dicomsec.cms import (
    DOES_NOT_OPEN,
    ID_AUTH_ENVELOPED_DATA,
    ID_DATA,
    ID_DIGESTED_DATA,
    ID_ENVELOPED_DATA,
    ID_SIGNED_DATA,
)
from dicomsec.errors import DecryptionFailed, InvalidInput, PolicyViolation, VerificationFailed

if TYPE_CHECKING:
    from dicomsec.cms.envelope import Envelope
    from dicomsec.cms.recipients import Credentials, Recipient
    from dicomsec.cms.signed import CmsSigner, InnerReport
    from dicomsec.trust import TrustStore

__all__ = ["PROFILES", "UnwrapReport", "WrapReport", "inspect", "unwrap", "wrap"]

PROFILES = ("basic", "aead", "pq")
_CONTENT_NAMES = {
    ID_DATA: "data",
    ID_SIGNED_DATA: "signed-data",
    ID_DIGESTED_DATA: "digested-data",
    ID_ENVELOPED_DATA: "enveloped-data",
    ID_AUTH_ENVELOPED_DATA: "auth-enveloped-data",
}


def _content_name(oid: str) -> str:
    return _CONTENT_NAMES.get(oid, oid)


@dataclass(frozen=True, slots=True)
class WrapReport:
    """What :func:`wrap` wrote."""

    path: str
    profile: str
    outer: str
    cipher: str
    recipients: tuple[str, ...]
    inner: str
    digest: str | None
    signers: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.path, "profile": self.profile, "outer": self.outer,
            "cipher": self.cipher, "recipients": list(self.recipients), "inner": self.inner,
            "digest": self.digest, "signers": self.signers,
        }


@dataclass(frozen=True, slots=True)
class UnwrapReport:
    """What :func:`unwrap` found and checked."""

    path: str
    outer: str
    cipher: str
    recipient_index: int
    recipient_kind: str
    content_type: str
    form: str
    integrity: str  # "aead", "signed", "digested" or "none" (CBC with plain content)
    inner: dict[str, Any] | None = field(default=None)
    is_dicom: bool = True
    legacy: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.path, "outer": self.outer, "cipher": self.cipher,
            "recipient": {"index": self.recipient_index, "kind": self.recipient_kind},
            "content_type": self.content_type, "form": self.form, "integrity": self.integrity,
            "inner": self.inner, "is_dicom": self.is_dicom, "legacy": self.legacy,
        }


def _check_dicom(path: Path) -> int:
    try:
        with open(path, "rb") as fh:
            size = fh.seek(0, 2)
            fh.seek(128)
            magic = fh.read(4)
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
    buf = bytearray(1 << 20)
    view = memoryview(buf)
    with open(path, "rb") as fh:
        while n := fh.readinto(view):
            hasher.update(view[:n])
    return hasher.digest()


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
) -> WrapReport:
    """Wrap a DICOM Part 10 file into a Secure DICOM File.

    ``src`` may be an open binary stream (a pipe): the output then uses BER indefinite lengths
    (profiles that hash the content first, ``basic`` or with signers, spool it to a private
    temporary file in the output folder instead).

    Raises:
        InvalidInput: the input is not a Part 10 file, or the options don't fit the profile.
        PolicyViolation: the profile forbids a recipient kind or algorithm.
    """
    from dicomsec import algorithms
    from dicomsec.cms.envelope import write_envelope

    dst = Path(dst)
    if profile not in PROFILES:
        raise InvalidInput(f"unknown profile {profile!r}; choose from {', '.join(PROFILES)}")
    cipher = _profile_cipher(profile, cipher)
    if not isinstance(src, str | Path):
        return _wrap_stream(src, dst, recipients=recipients, profile=profile, signers=signers,
                            cipher=cipher, digest=digest, allow_legacy=allow_legacy)
    src = Path(src)
    size = _check_dicom(src)
    kinds = [r.kind for r in recipients]
    if not recipients:
        raise InvalidInput("give at least one recipient (a certificate, KEK or password)")
    if signers:
        # a signer's scheme may fix the digest (Ed25519 uses SHA-512, RFC 8419)
        fixed = {s.digest_algorithm.name for s in signers}
        if len(fixed) > 1:
            raise InvalidInput("all signers must use the same digest algorithm")
        digest = fixed.pop()
    dig_alg = algorithms.by_name(digest, algorithms.Kind.DIGEST)
    algorithms.check_create(dig_alg, allow_legacy=allow_legacy)
    if profile == "basic":
        bad = [k for k in kinds if k not in ("ktri", "pwri")]
        if bad:
            raise PolicyViolation(f"the basic profile allows RSA key transport and passwords "
                                  f"only, not {bad[0]}")
    else:
        if profile == "pq" and "ori" not in kinds:
            raise PolicyViolation("the pq profile needs an ML-KEM recipient (--to an ML-KEM "
                                  "certificate or public key)")

    prefix = suffix = b""
    inner = "data"
    content_type = ID_DATA
    if signers or profile == "basic":
        content_digest = _digest_file(src, dig_alg.name)
        from dicomsec.cms import signed as cms_signed

        if signers:
            prefix, suffix = cms_signed.signed_data_parts(size, content_digest, signers,
                                                          digest=dig_alg.name)
            content_type, inner = ID_SIGNED_DATA, "signed-data"
        else:
            prefix, suffix = cms_signed.digested_data_parts(size, content_digest, dig_alg.name)
            content_type, inner = ID_DIGESTED_DATA, "digested-data"

    with open(src, "rb") as fh, atomic_output(dst) as out:
        result = write_envelope(
            [prefix, fh, suffix], len(prefix) + size + len(suffix), out, recipients=recipients,
            cipher=cipher, content_type=content_type, allow_legacy=allow_legacy,
        )
    return WrapReport(
        path=str(dst), profile=profile, outer=result.outer, cipher=result.cipher,
        recipients=tuple(kinds), inner=inner,
        digest=dig_alg.name if inner != "data" else None, signers=len(signers),
    )


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


def _wrap_stream(
    stream: BinaryIO, dst: Path, *, recipients: Sequence[Recipient], profile: str,
    signers: Sequence[CmsSigner], cipher: str, digest: str, allow_legacy: bool,
) -> WrapReport:
    from dicomsec.cms.envelope import write_envelope

    head = stream.read(132)
    if len(head) < 132 or head[128:] != b"DICM":
        raise InvalidInput("standard input is not a DICOM Part 10 file (no DICM prefix)")
    folder = dst.parent if str(dst.parent) else Path(".")
    if profile == "basic" or signers:
        # the inner digest needs a first pass over the content: spool it (mode 0600)
        fd, name = tempfile.mkstemp(prefix=f".{dst.name}.", suffix=".in", dir=folder)
        try:
            with os.fdopen(fd, "wb") as spool:
                spool.write(head)
                while chunk := stream.read(1 << 20):
                    spool.write(chunk)
            return wrap(Path(name), dst, recipients=recipients, profile=profile,
                        signers=signers, cipher=cipher, digest=digest,
                        allow_legacy=allow_legacy)
        finally:
            with contextlib.suppress(OSError):
                os.unlink(name)
    if profile == "pq" and "ori" not in [r.kind for r in recipients]:
        raise PolicyViolation("the pq profile needs an ML-KEM recipient")
    with atomic_output(dst) as out:
        result = write_envelope([head, stream], None, out, recipients=recipients,
                                cipher=cipher, allow_legacy=allow_legacy)
    return WrapReport(path=str(dst), profile=profile, outer=result.outer, cipher=result.cipher,
                      recipients=result.recipients, inner="data", digest=None, signers=0)


def unwrap(
    src: Path | str,
    dst: Path | str,
    *,
    credentials: Credentials,
    trust: TrustStore | None = None,
    allow_unauthenticated: bool = False,
) -> UnwrapReport:
    """Decrypt a Secure DICOM File and check it; writes the recovered DICOM file to ``dst``.

    Content is released only when its integrity is proven: by the AES-GCM tag, or, for CBC
    files, by the inner DigestedData or SignedData. CBC files whose content type is plain data
    have no integrity at all; they are refused (before anything is decrypted) unless
    ``allow_unauthenticated`` is given. For CBC files every failure after decryption (padding,
    inner structure, digest, signature) gives the same error, so that no oracle is built. The
    output is written with mode 0600.

    Raises:
        InvalidInput: not a readable (Auth)EnvelopedData structure.
        PolicyViolation: a CBC file without integrity and ``allow_unauthenticated`` not given.
        DecryptionFailed: no recipient fits, wrong key/password/KEK, failed tag or padding, or
            (CBC) a broken inner structure, digest or signature.
        VerificationFailed: inner digest or signature does not verify (AEAD files).
        TrustError: a signer is not trusted under ``trust``.
    """
    from dicomsec.cms.envelope import read_envelope
    from dicomsec.cms.recipients import unwrap_cek

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
        try:
            cek, index = unwrap_cek(env.recipient_infos, credentials,
                                    cek_size=env.cipher.key_size)
        except DecryptionFailed as exc:
            exc.path = exc.path or str(src)
            raise
        folder = dst.parent if str(dst.parent) else Path(".")
        # decrypted content goes to a private (0600) temporary file next to the output; it
        # is published only after the tag (AEAD) and the inner check passed
        fd, tmp_name = tempfile.mkstemp(prefix=f".{dst.name}.", suffix=".tmp", dir=folder)
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            report, is_dicom = _decrypt_and_check(fh, size, env, cek, tmp, dst, trust,
                                                  str(src))
        except (InvalidInput, VerificationFailed, DecryptionFailed):
            if env.aead:
                raise
            # CBC has no integrity of its own: one answer for every failure (no oracle)
            raise DecryptionFailed(DOES_NOT_OPEN, path=str(src)) from None
        finally:
            with contextlib.suppress(OSError):
                tmp.unlink()
    if env.aead:
        integrity = "aead"
    elif report.kind in ("signed", "digested"):
        integrity = report.kind
    else:
        integrity = "none"
    return UnwrapReport(
        path=str(dst), outer=env.outer, cipher=env.cipher.name, recipient_index=index,
        recipient_kind=env.recipient_kinds[index], content_type=_content_name(env.content_type),
        form=report.form, integrity=integrity, inner=report.to_dict(), is_dicom=is_dicom,
        legacy=env.cipher.legacy,
    )


def _decrypt_and_check(fh: BinaryIO, size: int, env: Envelope, cek: bytes, tmp: Path,
                       dst: Path, trust: TrustStore | None, name: str
                       ) -> tuple[InnerReport, bool]:
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
            report = _plain_report()
            extracted = False
        else:
            with atomic_output(dst, mode=0o600) as out:
                report = extract_inner(plain, plain_size, env.content_type, out,
                                       trust=trust, name=name)
                if not report.ok:
                    _raise_inner(report, name)
                out.flush()
                out.seek(128)
                magic = out.read(4)
            extracted = True
    if not extracted:
        publish(tmp, dst, synced=True, mode=0o600)
    return report, magic == b"DICM"


def _plain_report() -> InnerReport:
    from dicomsec.cms.signed import InnerReport

    return InnerReport(kind="data", form="plain", digest=None, digest_ok=None, signers=())


def _raise_inner(report: InnerReport, name: str) -> None:
    from dicomsec.errors import TrustError

    problems = [p for s in report.signers for p in s.problems]
    if report.kind == "digested" or any(not s.valid for s in report.signers) or (
        report.kind == "signed" and not report.signers
    ):
        detail = "; ".join(problems) or "digest does not match the content"
        raise VerificationFailed(f"inner {report.kind} content does not verify: {detail}",
                                 path=name)
    raise TrustError("inner signer not trusted: " + ("; ".join(problems) or "untrusted"),
                     path=name)


def inspect(path: Path | str) -> dict[str, Any]:
    """Describe a file without any key: plain Part 10, or the CMS structure of a secure file.

    Raises:
        InvalidInput: neither a Part 10 file nor a readable CMS structure.
    """
    from dicomsec.cms.envelope import read_envelope
    from dicomsec.cms.recipients import describe

    p = Path(path)
    if not p.is_file():
        raise InvalidInput("is a directory" if p.is_dir() else "no such file", path=str(p))
    with open(p, "rb") as fh:
        size = fh.seek(0, 2)
        fh.seek(128)
        if size >= 132 and fh.read(4) == b"DICM":
            return {"file": str(p), "type": "dicom-part10", "size": size}
        env = read_envelope(fh, size, str(p))
    return {
        "file": str(p),
        "type": "secure-dicom-file",
        "size": size,
        "outer": env.outer,
        "version": env.version,
        "encoding": "ber" if env.ber else "der",
        "content_type": _content_name(env.content_type),
        "cipher": env.cipher.name if env.cipher else env.cipher_oid,
        "icv_len": env.icv_len if env.aead else None,
        "authenticated_attributes": bool(env.aad),
        "recipients": [describe(ri) for ri in env.recipient_infos],
        "originator_info": env.has_originator_info,
        "unprotected_attributes": env.has_unprotected_attrs,
    }
