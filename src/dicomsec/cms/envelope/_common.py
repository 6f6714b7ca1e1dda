"""Constants shared by the envelope writer and reader. Private to :mod:`dicomsec.cms.envelope`."""

from __future__ import annotations

from dicomsec import algorithms

__all__ = ["ATTR_CONTENT_TYPE", "CHUNK", "GCM_NONCE", "GCM_TAG", "ONE_SHOT_LIMIT"]

CHUNK = 1 << 20
GCM_NONCE = 12
GCM_TAG = 16
#: former fixed cap of one-shot AEAD content (CCM, ChaCha20-Poly1305), kept for old callers;
#: readers now refuse content over the ``ccm_bytes`` limit of :mod:`dicomsec.limits`
ONE_SHOT_LIMIT = 256 << 20
ATTR_CONTENT_TYPE = "1.2.840.113549.1.9.3"

_C = algorithms.Kind.CIPHER
