"""Secure DICOM Files (PS3.10 §7.4, PS3.15 Annex D): a whole Part 10 file inside CMS.

Everything a library user needs is here (``from dicomsec import securefile``)::

    report = securefile.wrap("ct.dcm", "ct.p7m",
                             recipients=[securefile.recipient_for(Path("doctor.pem")),
                                         securefile.PasswordRecipient("s3cret words")])
    info = securefile.inspect("ct.p7m")                  # SecureFileInfo, no key needed
    back = securefile.unwrap("ct.p7m", "ct-back.dcm",
                             credentials=securefile.Credentials(password="s3cret words"))
    back.raise_for_failure()

- :func:`wrap` -> :class:`WrapReport`; :func:`unwrap` -> :class:`UnwrapReport` (with its
  :class:`InnerContentReport`); :func:`inspect` -> :class:`SecureFileInfo`. Each follows the
  report protocol of :mod:`dicomsec.report` (``ok``, ``summary()``, ``to_dict()``,
  ``to_json()``, ``raise_for_failure()``).
- Recipients for writing: :class:`KeyTransRecipient` (RSA), :class:`KeyAgreeRecipient` (ECDH,
  X25519/X448), :class:`KekRecipient` (pre-shared AES key), :class:`PasswordRecipient`,
  :class:`KemRecipient` (ML-KEM), or :func:`recipient_for` (from a certificate or public key
  file, RSA-OAEP or PKCS#1 v1.5 chosen by the profile); :class:`CmsSigner` for an inner
  signature. For reading, :class:`Credentials`.

Profiles (decisions recorded in docs/secure-files.md):

- ``basic``: PS3.15 D.1. EnvelopedData, AES-256-CBC, recipients RSA PKCS#1 v1.5 key transport or
  password; inner SignedData (when signers are given) or DigestedData, SHA-256.
- ``aead`` (default): AuthEnvelopedData, AES-256-GCM, 16-octet tag; any recipient kind; inner
  id-data, or SignedData with authenticated attributes when signers are given.
- ``pq``: ``aead`` with at least one ML-KEM recipient (KEMRecipientInfo, RFC 9629/9936).

Nothing is released before it is proven: GCM plaintext goes to a temporary file in the target
folder that is renamed only after the tag verified (and, for signed or digested content, after
the inner check passed); on any failure no output exists.

Audit: :func:`wrap` and :func:`unwrap` take ``handlers`` (:mod:`dicomsec.events`) and give
them one event per file: WRAP (Export: the study and patient, the output as media, the
recipients by certificate subject or kind) and UNWRAP (Import: the study marked encrypted),
outcome 4 with an Alert Description for a failure, POLICY_VIOLATION for a policy refusal.
No password, KEK or key ever goes into an event.

The recipient, credential and signer classes live in :mod:`dicomsec.cms`; they are imported on
first use, so that ``import dicomsec.securefile`` stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dicomsec.securefile._inspect import inspect
from dicomsec.securefile._recipients import recipient_for
from dicomsec.securefile._report import (
    InnerContentReport,
    InnerKind,
    InnerSigner,
    SecureFileInfo,
    UnwrapReport,
    WrapReport,
)
from dicomsec.securefile._unwrap import unwrap
from dicomsec.securefile._wrap import PROFILES, wrap

if TYPE_CHECKING:
    from dicomsec.cms.recipients import (
        Credentials,
        KekRecipient,
        KemRecipient,
        KeyAgreeRecipient,
        KeyTransRecipient,
        PasswordRecipient,
        Recipient,
    )
    from dicomsec.cms.signed import CmsSigner

__all__ = [
    "PROFILES",
    "CmsSigner",
    "Credentials",
    "InnerContentReport",
    "InnerKind",
    "InnerSigner",
    "KekRecipient",
    "KemRecipient",
    "KeyAgreeRecipient",
    "KeyTransRecipient",
    "PasswordRecipient",
    "Recipient",
    "SecureFileInfo",
    "UnwrapReport",
    "WrapReport",
    "inspect",
    "recipient_for",
    "unwrap",
    "wrap",
]

#: names re-exported from :mod:`dicomsec.cms.recipients`, imported on first use (PEP 562)
_FROM_RECIPIENTS = frozenset({
    "Credentials", "KekRecipient", "KemRecipient", "KeyAgreeRecipient", "KeyTransRecipient",
    "PasswordRecipient", "Recipient",
})


def __getattr__(name: str) -> Any:
    if name in _FROM_RECIPIENTS:
        from dicomsec.cms import recipients

        value = getattr(recipients, name)
    elif name == "CmsSigner":
        from dicomsec.cms import signed

        value = signed.CmsSigner
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
