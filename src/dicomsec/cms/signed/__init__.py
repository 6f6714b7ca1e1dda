"""Inner content of a Secure DICOM File: SignedData and DigestedData (RFC 5652 §5, §7).

The package has a producer and a judge; every name is importable from here:

- :mod:`~dicomsec.cms.signed._write`: :class:`CmsSigner`, :func:`signed_data_parts` and
  :func:`digested_data_parts` give the DER around a content streamed by the caller.
- :mod:`~dicomsec.cms.signed._read`: :func:`extract_inner` streams the eContent out of the
  decrypted plaintext while hashing it, then checks the digest or every SignerInfo
  (:mod:`~dicomsec.cms.signed._check`), into an :class:`InnerReport`
  (:mod:`~dicomsec.cms.signed._reports`); :func:`check_signed_data_limits` refuses a small
  SignedData (a timestamp token) over the limits before a recursive parser loads it.

Verification failures are report fields; only malformed structures raise
:class:`~dicomsec.errors.InvalidInput`.
"""

from __future__ import annotations

from dicomsec.cms.signed._check import (
    SignatureProblem,
    check_content_attributes,
    signed_attributes,
    verify_signer_signature,
)
from dicomsec.cms.signed._common import (
    CHUNK_SIZE,
    OID_ATTR_CONTENT_TYPE,
    OID_ATTR_MESSAGE_DIGEST,
    OID_ATTR_SIGNING_TIME,
    first_line,
)
from dicomsec.cms.signed._read import check_signed_data_limits, extract_inner
from dicomsec.cms.signed._reports import InnerReport, SignerReport
from dicomsec.cms.signed._write import CmsSigner, digested_data_parts, signed_data_parts

__all__ = [
    "CHUNK_SIZE",
    "OID_ATTR_CONTENT_TYPE",
    "OID_ATTR_MESSAGE_DIGEST",
    "OID_ATTR_SIGNING_TIME",
    "CmsSigner",
    "InnerReport",
    "SignatureProblem",
    "SignerReport",
    "check_content_attributes",
    "check_signed_data_limits",
    "digested_data_parts",
    "extract_inner",
    "first_line",
    "signed_attributes",
    "signed_data_parts",
    "verify_signer_signature",
]
