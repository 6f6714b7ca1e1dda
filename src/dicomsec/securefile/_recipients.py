"""Recipients fitted to a writing profile (the OAEP-or-PKCS#1-v1.5 choice lives here, not in
the command line tool)."""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dicomsec.cms.recipients import Recipient

__all__ = ["V15_PROFILES", "recipient_for"]

#: profiles whose RSA recipients get PKCS#1 v1.5 key transport: the Basic profile of Secure
#: DICOM Files names it (PS3.15 D.1); every other profile gets RSA-OAEP
V15_PROFILES = frozenset({"basic"})


def recipient_for(path: Path | str, *, profile: str = "aead", rsa_v15: bool = False,
                  at: _dt.datetime | None = None, **opts: Any) -> Recipient:
    """A recipient for a certificate (PEM or DER) or a public key file, fitted to ``profile``.

    RSA → key transport with RSA-OAEP (SHA-256), except under the ``basic`` profile, whose text
    names RSA PKCS#1 v1.5 (PS3.15 D.1), or when ``rsa_v15`` is given; an explicit ``oaep=``
    option wins. EC, X25519, X448 → key agreement; ML-KEM → KEMRecipientInfo. Other ``opts``
    go to :func:`dicomsec.cms.recipients.recipient_for`.

    A certificate is checked for use at ``at`` (default: now) by
    :func:`dicomsec.trust.check_for_use` (encryption): within its validity period, and a key
    usage (when present) that allows keyEncipherment (RSA, ML-KEM) or keyAgreement (EC,
    X25519, X448). Its chain is not validated: whoever names a recipient vouches for it. A bare
    public key carries nothing to check.

    Raises:
        CertificateNotUsable: an expired or not yet valid certificate, or one whose key usage
            does not allow the key's recipient kind (an :class:`InvalidInput`, exit 2).
        InvalidInput: unreadable file, neither certificate nor public key, another key type,
            or an option that does not apply to that kind of recipient.
    """
    from cryptography import x509

    from dicomsec.cms import recipients
    from dicomsec.keys import load_certificate_or_public_key
    from dicomsec.trust import KeyPurpose, check_for_use

    path = Path(path)
    subject = load_certificate_or_public_key(path, "recipient")
    if isinstance(subject, x509.Certificate):
        check_for_use(subject, KeyPurpose.ENCRYPTION, at=at, name="recipient certificate",
                      path=path)
    opts = {name: value for name, value in opts.items() if value is not None}
    recipient = recipients.recipient_for(path, **opts)
    if recipient.kind == "ktri" and "oaep" not in opts and (profile in V15_PROFILES or rsa_v15):
        recipient = recipients.recipient_for(path, oaep=False, **opts)
    return recipient
