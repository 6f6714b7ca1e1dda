"""Describe a file without any key: a plain Part 10 file, or the CMS structure of a secure one."""

from __future__ import annotations

from pathlib import Path

from dicomsec.errors import InvalidInput
from dicomsec.securefile._report import SecureFileInfo, content_name

__all__ = ["inspect"]


def inspect(path: Path | str) -> SecureFileInfo:
    """Say whether ``path`` is a plain DICOM Part 10 file or a Secure DICOM File, and describe
    the outer CMS structure of a secure one: content type, cipher, encoding, recipients.

    Nothing is decrypted or verified (no key is needed): the description is what the file
    claims. A file with ``DICM`` at offset 128 is plain (PS3.10 §7.1); any other file must
    parse as an EnvelopedData or AuthEnvelopedData ContentInfo (PS3.10 §7.4).

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
            return SecureFileInfo(path=str(p), kind="dicom-part10", size=size)
        env = read_envelope(fh, size, str(p))
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
    )
