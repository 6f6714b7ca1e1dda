"""Describing RecipientInfos without any key: kind, version, identifier, algorithms (the
``recipients`` of ``dicomsec inspect``)."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

from asn1crypto import core as a1core
from asn1crypto import x509 as a1x509

from dicomsec.algorithms import Kind
from dicomsec.cms import _asn1
from dicomsec.cms._der import element_spans
from dicomsec.cms.recipients._common import (
    _ASN1_ERRORS,
    _kemri_parts,
    _name_of,
    _oaep_parts,
    _params,
)
from dicomsec.errors import InvalidInput

__all__ = ["describe", "parameter_deviations"]


_SHORT_NAMES = {
    "common_name": "CN", "organization_name": "O", "organizational_unit_name": "OU",
    "country_name": "C", "locality_name": "L", "state_or_province_name": "ST",
    "street_address": "STREET", "domain_component": "DC", "user_id": "UID",
    "email_address": "emailAddress", "serial_number": "serialNumber",
}


def _escape_rdn_value(value: str) -> str:
    out = "".join("\\" + c if c in ',+"\\<>;' else c for c in value)
    if out.startswith(("#", " ")):
        out = "\\" + out
    if out.endswith(" ") and len(out) > 1:
        out = out[:-1] + "\\ "
    return out


#: RDNs of a name rendered, and attributes of one RDN (a hostile name of thousands is
#: counted, not rendered: describing stays linear and small)
NAME_PARTS = 16
#: RecipientEncryptedKeys of one KeyAgreeRecipientInfo listed (the rest are counted)
KEYS_LISTED = 64


#: characters of one attribute value rendered (a longer one is cut, with "…")
VALUE_CHARS = 256
#: universal string types whose value an unknown attribute type is rendered as text
_STRING_TAGS = frozenset({0x0C, 0x12, 0x13, 0x14, 0x16, 0x1A, 0x1C, 0x1E})


def _first_children(value: Any, most: int, spec: Any) -> tuple[list[Any], int]:
    """The first ``most`` children of an asn1crypto SEQUENCE OF / SET OF (as ``spec``) and
    how many it has, BER or DER, without building an object for the others.

    Raises:
        ValueError: malformed (the RecipientInfo is then described as undecoded).
    """
    data = bytes(value.contents or b"")
    try:
        spans, count = element_spans(data, most)
    except InvalidInput as exc:  # LimitExceeded included: nothing was spent on it
        raise ValueError(str(exc)) from None
    return [spec.load(data[a:b]) for a, b in spans], count


def _capped(text: str) -> str:
    return text if len(text) <= VALUE_CHARS else text[:VALUE_CHARS] + "…"


def _value_text(attr: Any) -> str:
    """An attribute value as RFC 4514 text: a known type's string; of an unknown type, a
    string value as text, anything else as ``#`` and the hexadecimal of its encoding
    (RFC 4514 §2.4). Never longer than :data:`VALUE_CHARS` (and "…"): nothing but a string
    is decoded, so a hostile structure costs no object per element."""
    value = attr["value"]
    if not isinstance(value, a1core.Any):
        return _capped(_escape_rdn_value(str(value.native)))
    raw = bytes(value.dump())
    if raw[:1] and raw[0] in _STRING_TAGS:
        return _capped(_escape_rdn_value(str(a1core.load(raw).native)))
    half = VALUE_CHARS // 2
    return "#" + raw[:half].hex() + ("…" if len(raw) > half else "")


def _rdn_text(rdn: Any) -> str:
    attrs, count = _first_children(rdn, NAME_PARTS, a1x509.NameTypeAndValue)
    parts = []
    for attr in attrs:
        label = _SHORT_NAMES.get(attr["type"].native, attr["type"].dotted)
        parts.append(f"{label}={_value_text(attr)}")
    if count > len(attrs):
        parts.append(f"... and {count - len(attrs)} more")
    return "+".join(parts)


def _name_text(name: Any) -> str:
    """RFC 4514 string of an asn1crypto Name (last RDN first, like cryptography's); of a name
    longer than :data:`NAME_PARTS` RDNs, the first ones, preceded by a count of the rest
    (which come first in RFC 4514 order)."""
    rdns, count = _first_children(name.chosen, NAME_PARTS, a1x509.RelativeDistinguishedName)
    text = ",".join(reversed([_rdn_text(rdn) for rdn in rdns]))
    if count > len(rdns):
        text = f"... {count - len(rdns)} more RDNs," + text
    return text


def _describe_rid(rid: Any) -> dict[str, object]:
    if rid.name == "issuer_and_serial_number":
        serial = int(rid.chosen["serial_number"].native)
        return {"issuer": _name_text(rid.chosen["issuer"]), "serial": hex(serial)}
    if rid.name == "subject_key_identifier":
        return {"ski": bytes(rid.chosen.native).hex()}
    if rid.name == "r_key_id":
        return {"ski": bytes(rid.chosen["subject_key_identifier"].native).hex()}
    return {"type": str(rid.name)}


def _describe_ktri(ktri: Any) -> dict[str, object]:
    alg_id = ktri["key_encryption_algorithm"]
    oid = alg_id["algorithm"].dotted
    out: dict[str, object] = {"rid": _describe_rid(ktri["rid"]),
                              "key_encryption": _name_of(oid, Kind.KEY_TRANSPORT)}
    if out["key_encryption"] == "rsa-oaep":
        hash_oid, mgf_oid, mgf_hash_oid, label = _oaep_parts(_params(alg_id))
        out["oaep_hash"] = _name_of(hash_oid, Kind.DIGEST)
        out["oaep_mgf"] = _name_of(mgf_oid, Kind.KDF)
        out["oaep_mgf_hash"] = _name_of(mgf_hash_oid, Kind.DIGEST)
        if label:
            out["oaep_label"] = label.hex()
    return out


def _describe_kari(kari: Any) -> dict[str, object]:
    originator = kari["originator"]
    out: dict[str, object] = {}
    if originator.name == "originator_key":
        origin = originator.chosen["algorithm"]
        out["originator"] = {"type": "originator_key",
                             "algorithm": _name_of(origin["algorithm"].dotted,
                                                   Kind.KEY_AGREEMENT)}
    else:
        out["originator"] = {"type": str(originator.name),
                             **_describe_rid(originator)}
    if not isinstance(kari["ukm"], a1core.Void):
        out["ukm"] = bytes(kari["ukm"].native).hex()
    alg_id = kari["key_encryption_algorithm"]
    out["key_agreement"] = _name_of(alg_id["algorithm"].dotted, Kind.KEY_AGREEMENT)
    params = _params(alg_id)
    if params is not None:
        wrap_oid = _asn1.AlgorithmIdentifier.load(params)["algorithm"].dotted
        out["key_wrap"] = _name_of(wrap_oid, Kind.KEY_WRAP)
    keys, count = _first_children(kari["recipient_encrypted_keys"], KEYS_LISTED,
                                  _asn1.RecipientEncryptedKey)
    out["recipients"] = [{"rid": _describe_rid(rek["rid"])} for rek in keys]
    if count > len(keys):
        out["recipients_not_listed"] = count - len(keys)
    return out


def _describe_kekri(kekri: Any) -> dict[str, object]:
    kekid = kekri["kekid"]
    out: dict[str, object] = {"kek_id": bytes(kekid["key_identifier"].native).hex()}
    if not isinstance(kekid["date"], a1core.Void):
        out["date"] = kekid["date"].native.isoformat()
    out["key_wrap"] = _name_of(kekri["key_encryption_algorithm"]["algorithm"].dotted,
                               Kind.KEY_WRAP)
    return out


def _describe_pwri(pwri: Any) -> dict[str, object]:
    out: dict[str, object] = {}
    kdf_id = pwri["key_derivation_algorithm"]
    if isinstance(kdf_id, a1core.Void):
        out["kdf"] = None
    else:
        out["kdf"] = _name_of(kdf_id["algorithm"].dotted, Kind.KDF)
        if out["kdf"] == "pbkdf2":
            params = _asn1.Pbkdf2Params.load(_params(kdf_id) or b"")
            out["iterations"] = int(params["iteration_count"].native)
            if params["salt"].name == "specified":
                out["salt_length"] = len(params["salt"].chosen.native)
            out["prf"] = _name_of(params["prf"]["algorithm"].dotted, Kind.KDF)
            if params["key_length"].native is not None:
                out["key_length"] = int(params["key_length"].native)
    alg_id = pwri["key_encryption_algorithm"]
    out["key_wrap"] = _name_of(alg_id["algorithm"].dotted, Kind.KEY_WRAP)
    params_der = _params(alg_id)
    if out["key_wrap"] == "pwri-kek" and params_der is not None:
        inner = _asn1.AlgorithmIdentifier.load(params_der)
        out["kek_cipher"] = _name_of(inner["algorithm"].dotted, Kind.CIPHER)
    return out


def _describe_ori(ori: Any) -> dict[str, object]:
    out: dict[str, object] = {"ori_type": ori["ori_type"].dotted}
    kemri = _kemri_parts(ori)
    if kemri is None:
        return out
    out["ori"] = "kem"
    out["version"] = _version(kemri["version"])
    out["rid"] = _describe_rid(kemri["rid"])
    out["kem"] = _name_of(kemri["kem"]["algorithm"].dotted, Kind.KEM)
    out["kdf"] = _name_of(kemri["kdf"]["algorithm"].dotted, Kind.KDF)
    out["kek_length"] = int(kemri["kek_length"].native)
    out["key_wrap"] = _name_of(kemri["wrap"]["algorithm"].dotted, Kind.KEY_WRAP)
    out["ukm"] = not isinstance(kemri["ukm"], a1core.Void)
    return out


_DESCRIBERS: dict[str, Callable[[Any], dict[str, object]]] = {
    "ktri": _describe_ktri,
    "kari": _describe_kari,
    "kekri": _describe_kekri,
    "pwri": _describe_pwri,
    "ori": _describe_ori,
}
_TAG_KIND = {0x30: "ktri", 0xA1: "kari", 0xA2: "kekri", 0xA3: "pwri", 0xA4: "ori"}


def _version(value: Any) -> int | None:
    native = value.native
    if isinstance(native, int):
        return native
    text = str(native)
    return int(text[1:]) if text.startswith("v") and text[1:].isdigit() else None


def describe(recipient_info: bytes) -> dict[str, object]:
    """What a RecipientInfo says, without any key: kind, version, identifier, algorithms.

    Algorithms are given by registry name, unknown ones by dotted OID. A well-formed DER
    element that cannot be decoded as a RecipientInfo is reported, not raised.

    Raises:
        InvalidInput: not one well-formed DER/BER element.
    """
    data = bytes(recipient_info)
    try:
        a1core.load(data, strict=True)
    except _ASN1_ERRORS as exc:
        raise InvalidInput(f"malformed RecipientInfo: {exc}") from None
    kind = _TAG_KIND.get(data[0], "unknown")
    try:
        info = _asn1.RecipientInfo.load(data)
        chosen = info.chosen
        out: dict[str, object] = {"kind": info.name}
        if info.name != "ori":
            out["version"] = _version(chosen["version"])
        out.update(_DESCRIBERS[info.name](chosen))
        return out
    except _ASN1_ERRORS:
        return {"kind": kind, "tag": f"0x{data[0]:02x}", "decoded": False}




_NULL = b"\x05\x00"


def _wrap_deviation(alg_id: Any, what: str) -> list[str]:
    """RFC 3565 §2.3.2 / RFC 5649 §3: AES key wrap parameters are absent."""
    if _params(alg_id) == _NULL:
        return [f"{what} parameters NULL, RFC 3565 §2.3.2 requires them absent"]
    return []


def _ktri_deviations(ktri: Any) -> list[str]:
    alg_id = ktri["key_encryption_algorithm"]
    if _name_of(alg_id["algorithm"].dotted, Kind.KEY_TRANSPORT) == "rsa-pkcs1v15-transport" \
            and _params(alg_id) is None:
        return ["rsaEncryption parameters absent, RFC 3370 §4.2.1 requires NULL"]
    return []


def _kari_deviations(kari: Any) -> list[str]:
    out: list[str] = []
    originator = kari["originator"]
    if originator.name == "originator_key":
        params = _params(originator.chosen["algorithm"])
        # RFC 5753 §7.1.2: absent or ECParameters (matching the recipient's), absent
        # generated; the recipient's own curve is what is used either way
        if params == _NULL:
            out.append("originatorKey parameters NULL, RFC 5753 §7.1.2 allows absent or "
                       "ECParameters")
        elif params is not None:
            out.append("originatorKey parameters name the curve, RFC 5753 §7.1.2 says they "
                       "should be absent (the recipient's curve is used)")
    params = _params(kari["key_encryption_algorithm"])
    if params is not None:
        out += _wrap_deviation(_asn1.AlgorithmIdentifier.load(params), "key wrap")
    return out


def _kekri_deviations(kekri: Any) -> list[str]:
    return _wrap_deviation(kekri["key_encryption_algorithm"], "key wrap")


def _pwri_deviations(pwri: Any) -> list[str]:
    kdf_id = pwri["key_derivation_algorithm"]
    if isinstance(kdf_id, a1core.Void) or _name_of(kdf_id["algorithm"].dotted,
                                                    Kind.KDF) != "pbkdf2":
        return []
    prf = _present_prf(_params(kdf_id) or b"")
    if prf is not None and _params(_asn1.AlgorithmIdentifier.load(prf)) is None:
        return ["PBKDF2 prf parameters absent, RFC 8018 §B.1 requires NULL"]
    return []


def _present_prf(params: bytes) -> bytes | None:
    """The prf AlgorithmIdentifier of PBKDF2-params as written, or ``None`` when it is left
    out (its DER DEFAULT, hmacWithSHA1, which asn1crypto would fill in): the last of more
    than two fields, a SEQUENCE (salt, iterationCount, keyLength OPTIONAL, prf DEFAULT)."""
    import io

    from dicomsec.cms._der import SEQUENCE, TLVReader

    r = TLVReader(io.BytesIO(params), len(params))
    fields = list(itertools.islice(r.children(r.header(0)), 5))
    if len(fields) > 2 and fields[-1].is_universal(SEQUENCE):
        return r.element_bytes(fields[-1])
    return None


def _ori_deviations(ori: Any) -> list[str]:
    kemri = _kemri_parts(ori)
    if kemri is None:
        return []
    out = _wrap_deviation(kemri["wrap"], "key wrap")
    if _params(kemri["kdf"]) == _NULL:
        out.append("KEM kdf parameters NULL, RFC 9629 §5 has them absent")
    return out


_DEVIATIONS: dict[str, Callable[[Any], list[str]]] = {
    "ktri": _ktri_deviations,
    "kari": _kari_deviations,
    "kekri": _kekri_deviations,
    "pwri": _pwri_deviations,
    "ori": _ori_deviations,
}


def parameter_deviations(recipient_info: bytes) -> tuple[str, ...]:
    """Deviations in the algorithm parameters of a RecipientInfo that carry no security
    meaning and are read anyway: NULL where the standard has them absent (key wraps, the
    originator key, the KEM kdf), absent where it has NULL (rsaEncryption, the PBKDF2 prf),
    curve parameters of an ephemeral originator key. An element that cannot be decoded has
    none here (opening it or describing it says so)."""
    try:
        info = _asn1.RecipientInfo.load(bytes(recipient_info))
        return tuple(_DEVIATIONS[info.name](info.chosen))
    except (*_ASN1_ERRORS, InvalidInput):
        return ()
