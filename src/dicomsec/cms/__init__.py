"""CMS (RFC 5652 and friends) for dicomsec: knows nothing of DICOM.

Layout:

- ``_der``: streaming BER/DER TLV reading (headers only, over the shared window of
  :mod:`dicomsec._window`) and the DER header writing of the streamed framing.
- ``_asn1``: asn1crypto structures asn1crypto lacks (GCMParameters, ECC-CMS-SharedInfo,
  KEMRecipientInfo, CMSORIforKEMOtherInfo, ...). Every small structure is built with
  asn1crypto; hand-written DER is left only around streamed content.
- ``_ciphers``: ``cryptography`` CBC ciphers for registry block ciphers.
- ``recipients``: the five RecipientInfo kinds, for writing (``Recipient`` objects,
  ``recipients._write``), for reading (``Credentials`` -> content-encryption key,
  ``recipients._open``) and for describing (``recipients._describe``).
- ``signed``: inner SignedData / DigestedData, built around a file (``signed._write``) and
  checked while the content is extracted (``signed._read``, ``signed._check``).
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
