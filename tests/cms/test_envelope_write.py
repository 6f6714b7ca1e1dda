"""The hand-framed parts of an envelope are the bytes asn1crypto builds from the same fields."""

from __future__ import annotations

import os

import pytest
from asn1crypto import core

from dicomsec import algorithms
from dicomsec.cms import _asn1
from dicomsec.cms._der import encode_oid
from dicomsec.cms.envelope._write import _cipher_algid, _recipient_infos


@pytest.mark.parametrize("cipher", ["aes256-gcm", "aes128-gcm", "aes256-cbc", "aes128-cbc"])
def test_cipher_algid_is_what_asn1crypto_builds(cipher: str) -> None:
    alg = algorithms.by_name(cipher, algorithms.Kind.CIPHER)
    iv = os.urandom(12 if alg.mode == "gcm" else alg.block_size)
    params = (_asn1.GCMParameters({"aes_nonce": iv, "aes_icvlen": 16}) if alg.mode == "gcm"
              else core.OctetString(iv))
    expected = _asn1.AlgorithmIdentifier({"algorithm": alg.oid, "parameters": params}).dump()
    assert _cipher_algid(alg, iv) == expected
    assert encode_oid(alg.oid) == core.ObjectIdentifier(alg.oid).dump()


@pytest.mark.parametrize("count", [1, 2, 5])
def test_recipient_infos_sorted_like_asn1crypto(count: int) -> None:
    # kekri RecipientInfos of different lengths and contents: the SET OF is ordered by encoding
    infos = []
    for i in range(count):
        kekri = _asn1.KEKRecipientInfo({
            "version": 4,
            "kekid": {"key_identifier": os.urandom(1 + i * 3)},
            "key_encryption_algorithm": {"algorithm": "2.16.840.1.101.3.4.1.45"},
            "encrypted_key": os.urandom(40),
        })
        infos.append(bytes(_asn1.RecipientInfo(name="kekri", value=kekri).dump()))
    expected = _asn1.RecipientInfos([_asn1.RecipientInfo.load(i) for i in infos]).dump()
    assert _recipient_infos(infos) == expected
    assert _recipient_infos(list(reversed(infos))) == expected
