"""asn1crypto structures for the CMS parts asn1crypto lacks or encodes too cleverly.

asn1crypto's own RecipientInfo types tie each AlgorithmIdentifier to a name map and force NULL
parameters for some OIDs; the recipient code needs the exact encoding (absent vs NULL
parameters, RFC 5753 / 8418 scheme OIDs asn1crypto does not know), so the RecipientInfo CHOICE
is redefined here over a plain :class:`AlgorithmIdentifier` (OID + ``ANY``), reusing asn1crypto's
identifier types (IssuerAndSerialNumber, RecipientKeyIdentifier, KEKIdentifier).

New structures: GCMParameters (RFC 5084), ECC-CMS-SharedInfo (RFC 5753), KEMRecipientInfo and
CMSORIforKEMOtherInfo (RFC 9629). No OID literal lives here: every algorithm OID comes from
:mod:`dicomsec.algorithms`.
"""

from __future__ import annotations

from typing import Any, ClassVar

from asn1crypto import algos, cms, core

__all__ = [
    "ID_ORI_KEM",
    "AlgorithmIdentifier",
    "CMSORIforKEMOtherInfo",
    "ECCCMSSharedInfo",
    "GCMParameters",
    "KEKRecipientInfo",
    "KEMRecipientInfo",
    "KeyAgreeRecipientInfo",
    "KeyTransRecipientInfo",
    "OriginatorIdentifierOrKey",
    "OriginatorPublicKey",
    "OtherRecipientInfo",
    "PasswordRecipientInfo",
    "Pbkdf2Params",
    "PrivateKeyInfo",
    "RSAESOAEPParams",
    "RecipientInfo",
    "RecipientInfos",
]

#: id-ori-kem (RFC 9629 §3): the oriType of a KEMRecipientInfo (an ori type, not an algorithm)
ID_ORI_KEM = "1.2.840.113549.1.9.16.13.3"

#: reused from asn1crypto unchanged
RSAESOAEPParams = algos.RSAESOAEPParams
Pbkdf2Params = algos.Pbkdf2Params


class AlgorithmIdentifier(core.Sequence):  # type: ignore[misc]
    """AlgorithmIdentifier with a plain OID and raw parameters (absent stays absent)."""

    _fields: ClassVar[list[Any]] = [
        ("algorithm", core.ObjectIdentifier),
        ("parameters", core.Any, {"optional": True}),
    ]


class GCMParameters(core.Sequence):  # type: ignore[misc]
    """RFC 5084: {aes-nonce OCTET STRING, aes-ICVlen INTEGER DEFAULT 12}."""

    _fields: ClassVar[list[Any]] = [
        ("aes_nonce", core.OctetString),
        ("aes_icvlen", core.Integer, {"default": 12}),
    ]


class ECCCMSSharedInfo(core.Sequence):  # type: ignore[misc]
    """RFC 5753 §7.2: the X9.63 / HKDF SharedInfo of ECDH key agreement."""

    _fields: ClassVar[list[Any]] = [
        ("key_info", AlgorithmIdentifier),
        ("entity_u_info", core.OctetString, {"explicit": 0, "optional": True}),
        ("supp_pub_info", core.OctetString, {"explicit": 2}),
    ]


class KeyTransRecipientInfo(core.Sequence):  # type: ignore[misc]
    _fields: ClassVar[list[Any]] = [
        ("version", cms.CMSVersion),
        ("rid", cms.RecipientIdentifier),
        ("key_encryption_algorithm", AlgorithmIdentifier),
        ("encrypted_key", core.OctetString),
    ]


class OriginatorPublicKey(core.Sequence):  # type: ignore[misc]
    _fields: ClassVar[list[Any]] = [
        ("algorithm", AlgorithmIdentifier),
        ("public_key", core.OctetBitString),
    ]


class OriginatorIdentifierOrKey(core.Choice):  # type: ignore[misc]
    _alternatives: ClassVar[list[Any]] = [
        ("issuer_and_serial_number", cms.IssuerAndSerialNumber),
        ("subject_key_identifier", core.OctetString, {"implicit": 0}),
        ("originator_key", OriginatorPublicKey, {"implicit": 1}),
    ]


class RecipientEncryptedKey(core.Sequence):  # type: ignore[misc]
    _fields: ClassVar[list[Any]] = [
        ("rid", cms.KeyAgreementRecipientIdentifier),
        ("encrypted_key", core.OctetString),
    ]


class RecipientEncryptedKeys(core.SequenceOf):  # type: ignore[misc]
    _child_spec = RecipientEncryptedKey


class KeyAgreeRecipientInfo(core.Sequence):  # type: ignore[misc]
    _fields: ClassVar[list[Any]] = [
        ("version", cms.CMSVersion),
        ("originator", OriginatorIdentifierOrKey, {"explicit": 0}),
        ("ukm", core.OctetString, {"explicit": 1, "optional": True}),
        ("key_encryption_algorithm", AlgorithmIdentifier),
        ("recipient_encrypted_keys", RecipientEncryptedKeys),
    ]


class KEKRecipientInfo(core.Sequence):  # type: ignore[misc]
    _fields: ClassVar[list[Any]] = [
        ("version", cms.CMSVersion),
        ("kekid", cms.KEKIdentifier),
        ("key_encryption_algorithm", AlgorithmIdentifier),
        ("encrypted_key", core.OctetString),
    ]


class PasswordRecipientInfo(core.Sequence):  # type: ignore[misc]
    _fields: ClassVar[list[Any]] = [
        ("version", cms.CMSVersion),
        ("key_derivation_algorithm", AlgorithmIdentifier, {"implicit": 0, "optional": True}),
        ("key_encryption_algorithm", AlgorithmIdentifier),
        ("encrypted_key", core.OctetString),
    ]


class OtherRecipientInfo(core.Sequence):  # type: ignore[misc]
    _fields: ClassVar[list[Any]] = [
        ("ori_type", core.ObjectIdentifier),
        ("ori_value", core.Any),
    ]


class KEMRecipientInfo(core.Sequence):  # type: ignore[misc]
    """RFC 9629 §3."""

    _fields: ClassVar[list[Any]] = [
        ("version", cms.CMSVersion),
        ("rid", cms.RecipientIdentifier),
        ("kem", AlgorithmIdentifier),
        ("kemct", core.OctetString),
        ("kdf", AlgorithmIdentifier),
        ("kek_length", core.Integer),
        ("ukm", core.OctetString, {"explicit": 0, "optional": True}),
        ("wrap", AlgorithmIdentifier),
        ("encrypted_key", core.OctetString),
    ]


class CMSORIforKEMOtherInfo(core.Sequence):  # type: ignore[misc]
    """RFC 9629 §5: the KDF ``info`` input."""

    _fields: ClassVar[list[Any]] = [
        ("wrap", AlgorithmIdentifier),
        ("kek_length", core.Integer),
        ("ukm", core.OctetString, {"explicit": 0, "optional": True}),
    ]


class PrivateKeyInfo(core.Sequence):  # type: ignore[misc]
    """PKCS#8 / RFC 5958 OneAsymmetricKey, with a plain AlgorithmIdentifier (any key type)."""

    _fields: ClassVar[list[Any]] = [
        ("version", core.Integer),
        ("private_key_algorithm", AlgorithmIdentifier),
        ("private_key", core.OctetString),
        ("attributes", core.Any, {"implicit": 0, "optional": True}),
        ("public_key", core.Any, {"implicit": 1, "optional": True}),
    ]


class RecipientInfo(core.Choice):  # type: ignore[misc]
    _alternatives: ClassVar[list[Any]] = [
        ("ktri", KeyTransRecipientInfo),
        ("kari", KeyAgreeRecipientInfo, {"implicit": 1}),
        ("kekri", KEKRecipientInfo, {"implicit": 2}),
        ("pwri", PasswordRecipientInfo, {"implicit": 3}),
        ("ori", OtherRecipientInfo, {"implicit": 4}),
    ]


class RecipientInfos(core.SetOf):  # type: ignore[misc]
    """The recipientInfos SET OF (DER: encodings sorted on dump)."""

    _child_spec = RecipientInfo
