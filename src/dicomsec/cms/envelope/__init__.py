"""Streaming EnvelopedData (RFC 5652 §6) and AuthEnvelopedData (RFC 5083/5084).

Writing (:mod:`~dicomsec.cms.envelope._write`): every length is computed up front, so the output
is definite-length DER written in one pass; the content is encrypted in 1 MiB chunks. With an
unknown size (a pipe) the outer structures use BER indefinite lengths and the content is
written as a constructed OCTET STRING.

Reading (:mod:`~dicomsec.cms.envelope._read`): only headers and small parts are loaded
(:mod:`dicomsec.cms._der`); DER and BER (indefinite lengths, chunked content) are accepted.
:func:`decrypt_content` streams plaintext to a file the caller provides; for AEAD ciphers the
tag is checked at the end, and the caller must discard that file unless the call returned
normally (see :func:`dicomsec._atomic.atomic_output`).
"""

from __future__ import annotations

from dicomsec.cms._ciphers import cbc_cipher
from dicomsec.cms.envelope._common import (
    ATTR_CONTENT_TYPE,
    CHUNK,
    GCM_NONCE,
    GCM_TAG,
    ONE_SHOT_LIMIT,
)
from dicomsec.cms.envelope._read import MAX_RECIPIENTS, Envelope, decrypt_content, read_envelope
from dicomsec.cms.envelope._write import WriteResult, auth_attrs_for, write_envelope

# low-level DER writers that tests use to build hostile structures by hand
from dicomsec.cms.envelope._write import _int as _int
from dicomsec.cms.envelope._write import _octets as _octets
from dicomsec.cms.envelope._write import _seq as _seq
from dicomsec.cms.envelope._write import _tlv as _tlv

__all__ = [
    "ATTR_CONTENT_TYPE",
    "CHUNK",
    "GCM_NONCE",
    "GCM_TAG",
    "MAX_RECIPIENTS",
    "ONE_SHOT_LIMIT",
    "Envelope",
    "WriteResult",
    "auth_attrs_for",
    "cbc_cipher",
    "decrypt_content",
    "read_envelope",
    "write_envelope",
]
