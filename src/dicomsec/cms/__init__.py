"""CMS (RFC 5652 and friends) for dicomsec: knows nothing of DICOM.

Layout:

- ``_der``: streaming BER/DER TLV reading (headers only) and DER header writing.
- ``_asn1``: asn1crypto structures asn1crypto lacks (GCMParameters, ECC-CMS-SharedInfo,
  KEMRecipientInfo, CMSORIforKEMOtherInfo, ...).
- ``recipients``: the five RecipientInfo kinds, for writing (``Recipient`` objects) and for
  reading (``Credentials`` -> content-encryption key).
- ``signed``: inner SignedData / DigestedData, built around a file and checked while the
  content is extracted.
- ``envelope``: streaming EnvelopedData / AuthEnvelopedData writer and reader.

Algorithm names and OIDs come from :mod:`dicomsec.algorithms`; content-type OIDs are below.
"""

from __future__ import annotations

__all__ = [
    "DOES_NOT_OPEN",
    "ID_AUTH_ENVELOPED_DATA",
    "ID_CT_TSTINFO",
    "ID_DATA",
    "ID_DIGESTED_DATA",
    "ID_ENVELOPED_DATA",
    "ID_SIGNED_DATA",
]

#: CMS content types (RFC 5652 §4-8, RFC 5083)
ID_DATA = "1.2.840.113549.1.7.1"
ID_SIGNED_DATA = "1.2.840.113549.1.7.2"
ID_ENVELOPED_DATA = "1.2.840.113549.1.7.3"
ID_DIGESTED_DATA = "1.2.840.113549.1.7.5"
ID_AUTH_ENVELOPED_DATA = "1.2.840.113549.1.9.16.1.23"
ID_CT_TSTINFO = "1.2.840.113549.1.9.16.1.4"

#: the one message for every failure to decrypt (wrong key, password or KEK, failed key unwrap,
#: failed tag or padding, broken inner check of CBC content): no oracle (RFC 3218)
DOES_NOT_OPEN = "the key, password or KEK does not open this file, or the file was modified"
