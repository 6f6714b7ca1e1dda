"""The five RecipientInfo kinds of CMS: writing them, and opening them to get the CEK.

The package has one module per job; every name is importable from here:

- :mod:`~dicomsec.cms.recipients._write`: :class:`Recipient` objects (ktri, kari, kekri, pwri,
  ori/KEM) turn a content-encryption key into one RecipientInfo; :func:`recipient_for` picks
  the kind from a certificate or public key file (RSA-OAEP unless ``oaep=False``).
- :mod:`~dicomsec.cms.recipients._open`: :func:`unwrap_cek` tries every RecipientInfo that the
  :class:`Credentials` fit; every failure gives one message (no padding oracle).
- :mod:`~dicomsec.cms.recipients._describe`: :func:`describe` says what a RecipientInfo holds,
  without keys; :func:`parameter_deviations` lists its harmless deviations in parameters.

Key files are loaded by :mod:`dicomsec.keys` (:func:`~dicomsec.keys.load_private_key_any`,
re-exported here). All algorithm OIDs come from :mod:`dicomsec.algorithms`.
"""

from __future__ import annotations

from collections.abc import Sequence

from dicomsec.cms import DOES_NOT_OPEN
from dicomsec.cms.recipients._common import (
    MAX_PBKDF2_ITERATIONS,
    MAX_PBKDF2_TOTAL,
    MIN_PBKDF2_ITERATIONS,
    NO_MATCH,
    check_password,
)

# the AES key wrap, reached through this module by known-answer tests
from dicomsec.cms.recipients._common import _aes_unwrap as _aes_unwrap
from dicomsec.cms.recipients._common import _aes_wrap as _aes_wrap
from dicomsec.cms.recipients._describe import describe, parameter_deviations
from dicomsec.cms.recipients._open import Credentials, OpenedKey, open_cek
from dicomsec.cms.recipients._open import unwrap_cek as _unwrap_cek
from dicomsec.cms.recipients._write import (
    KekRecipient,
    KemRecipient,
    KeyAgreeRecipient,
    KeyTransRecipient,
    PasswordRecipient,
    Recipient,
    recipient_for,
)
from dicomsec.keys import load_private_key_any

__all__ = [
    "DOES_NOT_OPEN",
    "MAX_PBKDF2_ITERATIONS",
    "MAX_PBKDF2_TOTAL",
    "MIN_PBKDF2_ITERATIONS",
    "NO_MATCH",
    "Credentials",
    "KekRecipient",
    "KemRecipient",
    "KeyAgreeRecipient",
    "KeyTransRecipient",
    "OpenedKey",
    "PasswordRecipient",
    "Recipient",
    "check_password",
    "describe",
    "load_private_key_any",
    "open_cek",
    "parameter_deviations",
    "recipient_for",
    "unwrap_cek",
]


def unwrap_cek(recipient_infos: Sequence[bytes], creds: Credentials, *,
               cek_size: int) -> tuple[bytes, int]:
    """:func:`dicomsec.cms.recipients._open.unwrap_cek` with this module's
    :data:`MAX_PBKDF2_TOTAL` as the PBKDF2 work one file may ask for in all.

    Raises:
        DecryptionFailed, UnsupportedAlgorithm, InvalidInput, PolicyViolation: as
            :func:`~dicomsec.cms.recipients._open.unwrap_cek`.
    """
    return _unwrap_cek(recipient_infos, creds, cek_size=cek_size,
                       pbkdf2_total=MAX_PBKDF2_TOTAL)

