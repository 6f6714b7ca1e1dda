"""Describe a file without any key: a plain Part 10 file, or the CMS structure of a secure one."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from dicomsec._atomic import regular_input
from dicomsec.securefile._report import SecureFileInfo, content_name

if TYPE_CHECKING:
    from dicomsec.cms.envelope import Envelope

__all__ = ["inspect"]


def inspect(path: Path | str) -> SecureFileInfo:
    """Say whether ``path`` is a plain DICOM Part 10 file or a Secure DICOM File, and describe
    the outer CMS structure of a secure one: content type, cipher, encoding, recipients.

    Nothing is decrypted or verified (no key is needed): the description is what the file
    claims. A file that starts with a SEQUENCE and parses as an EnvelopedData or
    AuthEnvelopedData ContentInfo filling the whole file is secure (PS3.10 §7.4), whatever its
    bytes 128-131 say; otherwise a file with ``DICM`` at offset 128 is plain (PS3.10 §7.1).

    Deviations from the standards that carry no security meaning (an EnvelopedData version
    that does not fit its recipients, SET OF order, NULL or absent algorithm parameters) are
    read and listed in ``deviations``, never refused.

    Raises:
        InvalidInput: not a regular file, or neither a Part 10 file nor a readable CMS
            structure (trailing bytes and missing BER end-of-contents octets included).
        LimitExceeded: more RecipientInfos than the ``recipients`` limit, nesting deeper than
            ``der_depth`` (:mod:`dicomsec.limits`), before memory is spent on them.
    """
    from dicomsec.cms.envelope import read_envelope
    from dicomsec.cms.envelope._read import is_envelope  # (not re-exported by the package yet)

    p = Path(path)
    regular_input(p)  # a FIFO or a device would hang or never end
    with open(p, "rb") as fh:
        size = fh.seek(0, 2)
        fh.seek(0)
        head = fh.read(132)
        part10 = size >= 132 and head[128:132] == b"DICM"
        # CMS first: a secure file whose bytes 128-131 happen to read DICM is still secure
        # (and its errors are its own); a preamble that only begins like a SEQUENCE is not
        if part10 and not (head.startswith(b"\x30") and is_envelope(fh, size)):
            return SecureFileInfo(path=str(p), kind="dicom-part10", size=size)
        env = read_envelope(fh, size, str(p))
    return _secure(p, size, env)


def _secure(p: Path, size: int, env: Envelope) -> SecureFileInfo:
    from dicomsec.cms.recipients import describe

    return SecureFileInfo(
        path=str(p),
        kind="secure-dicom-file",
        size=size,
        outer=env.outer,
        version=env.version,
        encoding="ber" if env.ber else "der",
        content_type=content_name(env.content_type),
        cipher=env.cipher.name if env.cipher else env.cipher_oid,
        icv_len=env.icv_len if env.aead else None,
        authenticated_attributes=bool(env.aad),
        recipients=tuple(describe(ri) for ri in env.recipient_infos),
        originator_info=env.has_originator_info,
        unprotected_attributes=env.has_unprotected_attrs,
        deviations=env.deviations,
    )
