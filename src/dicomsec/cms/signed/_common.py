"""Shared by the writing and reading of inner SignedData / DigestedData: attribute type OIDs
(RFC 5652 §11), the content chunk size, small helpers. Private to :mod:`dicomsec.cms.signed`.
"""

from __future__ import annotations

import functools

from dicomsec import algorithms
from dicomsec.algorithms import Algorithm, Kind

__all__ = [
    "CHUNK_SIZE",
    "OID_ATTR_CONTENT_TYPE",
    "OID_ATTR_MESSAGE_DIGEST",
    "OID_ATTR_SIGNING_TIME",
    "first_line",
    "parser_errors",
]

#: CMS attribute types (RFC 5652 §11)
OID_ATTR_CONTENT_TYPE = "1.2.840.113549.1.9.3"
OID_ATTR_MESSAGE_DIGEST = "1.2.840.113549.1.9.4"
OID_ATTR_SIGNING_TIME = "1.2.840.113549.1.9.5"

#: the largest piece of content read, hashed and written at once
CHUNK_SIZE = 1 << 20

_UNBOUNDED = 1 << 62
_CONTEXT_0 = 0xA0  # [0] constructed


def _digest(name: str) -> Algorithm:
    return algorithms.by_name(name, Kind.DIGEST)


def first_line(exc: BaseException, limit: int = 160) -> str:
    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0].strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


@functools.cache
def parser_errors() -> tuple[type[Exception], ...]:
    """What the ASN.1 and certificate parsers raise on malformed input (asn1crypto's
    ``ValueError`` / ``TypeError`` / ``KeyError`` / ``UnicodeDecodeError``, cryptography's
    ``UnsupportedAlgorithm`` for an unknown key type or curve and ``InvalidVersion`` for a
    certificate version): readers turn them into the project's own errors."""
    from cryptography.exceptions import UnsupportedAlgorithm as CryptoUnsupported
    from cryptography.x509 import InvalidVersion

    return (ValueError, TypeError, KeyError, IndexError, OverflowError, CryptoUnsupported,
            InvalidVersion)
