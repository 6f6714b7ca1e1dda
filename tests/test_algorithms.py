"""The algorithm registry: lookups, unknown input, legacy policy, key sizes, hashers, schemes."""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, mldsa, rsa, x25519

from dicomsec import algorithms
from dicomsec.algorithms import Algorithm, Family, Kind, Status
from dicomsec.algorithms.policy import AlgorithmPolicy, Purpose
from dicomsec.errors import DicomSecError, InvalidInput, PolicyViolation, UnsupportedAlgorithm

ALL = algorithms.all_algorithms()
DIGESTS = [a for a in ALL if a.kind is Kind.DIGEST]
SIGNATURES = [a for a in ALL if a.kind is Kind.SIGNATURE]
DICOM_TERMS = {"SHA256": "sha256", "SHA384": "sha384", "SHA512": "sha512", "SHA1": "sha1",
               "RIPEMD160": "ripemd160", "MD5": "md5"}


def _ids(alg: Algorithm) -> str:
    return alg.name


# ------------------------------------------------------------------------------------------
# the registry itself


def test_registry_is_consistent() -> None:
    names = [a.name for a in ALL]
    assert len(names) == len(set(names))
    keys = [(a.kind, oid) for a in ALL for oid in (a.oid, *a.alt_oids)]
    assert len(keys) == len(set(keys))
    terms = [a.dicom_term for a in ALL if a.dicom_term]
    assert len(terms) == len(set(terms))
    assert all(a.kind is Kind.DIGEST for a in ALL if a.dicom_term)
    assert all(a.digest_size > 0 for a in DIGESTS)
    assert all(a.family is not Family.NONE for a in SIGNATURES)


def test_records_are_frozen() -> None:
    alg = algorithms.by_name("sha256")
    with pytest.raises(dataclasses.FrozenInstanceError):
        alg.status = Status.FORBIDDEN  # type: ignore[misc]


def test_statuses() -> None:
    assert algorithms.by_name("sha256").status is Status.RECOMMENDED
    assert algorithms.by_name("ecdsa-p256").status is Status.RECOMMENDED
    for name in ("sha1", "md5", "ripemd160"):
        alg = algorithms.by_name(name)
        assert alg.status is Status.LEGACY and alg.legacy
    for name in ("sha256", "sha384", "sha512", "rsa-pkcs1v15", "ed25519"):
        assert not algorithms.by_name(name).legacy
    assert {a.name for a in ALL if a.status is Status.EXPERIMENTAL} >= {
        "ml-dsa-44", "ml-dsa-65", "ml-dsa-87"}


def test_digest_algorithms() -> None:
    assert {a.dicom_term for a in algorithms.digest_algorithms(dicom_only=True)} == set(DICOM_TERMS)
    every = algorithms.digest_algorithms()
    assert {a.name for a in every} >= {"sha224", "sha3-256", "sha3-384", "sha3-512"}
    assert all(a.kind is Kind.DIGEST for a in every)


# ------------------------------------------------------------------------------------------
# lookups


@pytest.mark.parametrize("alg", ALL, ids=_ids)
def test_by_name_round_trip(alg: Algorithm) -> None:
    assert algorithms.by_name(alg.name) is alg
    assert algorithms.by_name(alg.name.upper()) is alg
    assert algorithms.by_name(f"  {alg.name} ") is alg
    assert algorithms.by_name(alg.name, alg.kind) is alg


@pytest.mark.parametrize("alg", ALL, ids=_ids)
def test_by_oid_round_trip(alg: Algorithm) -> None:
    for oid in (alg.oid, *alg.alt_oids):
        assert algorithms.by_oid(oid, alg.kind) is alg


@pytest.mark.parametrize(("term", "name"), sorted(DICOM_TERMS.items()))
def test_by_dicom_term(term: str, name: str) -> None:
    alg = algorithms.by_dicom_term(term)
    assert alg.name == name
    assert alg.dicom_term == term
    assert algorithms.by_dicom_term(f"{term} ") is alg  # CS values are space padded
    # by_name accepts the defined term too
    assert algorithms.by_name(term) is alg
    assert algorithms.by_name(term, Kind.DIGEST) is alg


@pytest.mark.parametrize("call", [
    lambda: algorithms.by_name("sha999"),
    lambda: algorithms.by_name(""),
    lambda: algorithms.by_name("sha256", Kind.SIGNATURE),
    lambda: algorithms.by_name("ecdsa-p256", Kind.DIGEST),
    lambda: algorithms.by_name("SHA256", Kind.SIGNATURE),
    lambda: algorithms.by_oid("1.2.3.4", Kind.DIGEST),
    lambda: algorithms.by_oid("2.16.840.1.101.3.4.2.1", Kind.SIGNATURE),
    lambda: algorithms.by_oid("", Kind.DIGEST),
    lambda: algorithms.by_dicom_term("SHA3"),
    lambda: algorithms.by_dicom_term("sha256"),
    lambda: algorithms.by_dicom_term(""),
], ids=["name", "empty-name", "digest-as-signature", "signature-as-digest",
        "term-as-signature", "oid", "oid-wrong-kind", "empty-oid", "term", "lowercase-term",
        "empty-term"])
def test_unknown_raises_unsupported_algorithm(call: Callable[[], Any]) -> None:
    with pytest.raises(UnsupportedAlgorithm) as info:
        call()
    assert isinstance(info.value, InvalidInput)
    assert isinstance(info.value, DicomSecError)
    assert str(info.value)


def test_unsupported_algorithm_is_invalid_input() -> None:
    assert issubclass(UnsupportedAlgorithm, InvalidInput)
    assert issubclass(InvalidInput, DicomSecError)
    assert not issubclass(PolicyViolation, InvalidInput)


def test_unknown_name_is_in_the_message() -> None:
    with pytest.raises(UnsupportedAlgorithm, match="whirlpool"):
        algorithms.by_name("whirlpool")


# ------------------------------------------------------------------------------------------
# policy for new objects


# (the registry's statuses and minimum key sizes as the dated policy applies them; the dates
# themselves are tested in test_algorithm_policy.py)
_TODAY = datetime.date(2026, 12, 2)
_DEFAULT = AlgorithmPolicy.default()
_LEGACY_OK = AlgorithmPolicy.default(allow_legacy=True)


def _create(policy: AlgorithmPolicy, alg: Algorithm, bits: int | None = None) -> None:
    policy.require(alg, bits, Purpose.CREATE, _TODAY)


@pytest.mark.parametrize("name", ["sha1", "md5", "ripemd160"])
def test_legacy_refused_for_creation_unless_allowed(name: str) -> None:
    alg = algorithms.by_name(name)
    with pytest.raises(PolicyViolation, match="legacy") as info:
        _create(_DEFAULT, alg)
    assert "allow-legacy" in info.value.diagnostics()
    _create(_LEGACY_OK, alg)


@pytest.mark.parametrize("alg", [a for a in ALL if a.status is not Status.LEGACY], ids=_ids)
def test_non_legacy_allowed_for_creation(alg: Algorithm) -> None:
    _create(_DEFAULT, alg, alg.min_key_bits)


def test_forbidden_is_refused_even_with_allow_legacy() -> None:
    policy = _LEGACY_OK.with_status("md5", Status.FORBIDDEN)
    with pytest.raises(PolicyViolation, match="forbidden"):
        _create(policy, algorithms.by_name("md5"))


@pytest.mark.parametrize(("name", "too_small", "enough"), [
    ("rsa-pkcs1v15", 1024, 2048),
    ("rsa-pss", 2047, 3072),
    ("ecdsa-p256", 224, 256),
    ("ecdsa-p384", 256, 384),
])
def test_min_key_bits(name: str, too_small: int, enough: int) -> None:
    alg = algorithms.by_name(name)
    assert alg.min_key_bits is not None
    with pytest.raises(PolicyViolation, match=str(too_small)):
        _create(_DEFAULT, alg, too_small)
    # allow_legacy does not relax key sizes
    with pytest.raises(PolicyViolation):
        _create(_LEGACY_OK, alg, too_small)
    _create(_DEFAULT, alg, enough)
    _create(_DEFAULT, alg, None)


def test_rsa_minimum_is_2048() -> None:
    assert algorithms.by_name("rsa-pkcs1v15").min_key_bits == 2048
    assert algorithms.by_name("rsa-pss").min_key_bits == 2048


# ------------------------------------------------------------------------------------------
# hashers


MESSAGE = b"DICOM digital signature MAC stream" * 37


@pytest.mark.parametrize("alg", DIGESTS, ids=_ids)
def test_new_hasher(alg: Algorithm) -> None:
    try:
        hasher = algorithms.new_hasher(alg)
    except UnsupportedAlgorithm:
        assert alg.legacy, f"{alg.name} must be available"
        pytest.skip(f"{alg.name} not in this OpenSSL build")
    hasher.update(MESSAGE[:100])
    hasher.update(memoryview(MESSAGE)[100:])
    digest = hasher.digest()
    assert len(digest) == alg.digest_size
    assert digest == hashlib.new(alg.hashlib_name, MESSAGE).digest()
    # a fresh hasher each time
    assert algorithms.new_hasher(alg).digest() == hashlib.new(alg.hashlib_name).digest()


def test_known_answer_sha256() -> None:
    hasher = algorithms.new_hasher(algorithms.by_dicom_term("SHA256"))
    hasher.update(b"abc")
    assert hasher.digest().hex() == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")


@pytest.mark.parametrize("alg", SIGNATURES, ids=_ids)
def test_new_hasher_refuses_signature_schemes(alg: Algorithm) -> None:
    with pytest.raises(UnsupportedAlgorithm):
        algorithms.new_hasher(alg)


@pytest.mark.parametrize("alg", [a for a in DIGESTS if a.name != "ripemd160"], ids=_ids)
def test_crypto_hash(alg: Algorithm) -> None:
    h = alg.crypto_hash()
    assert isinstance(h, hashes.HashAlgorithm)
    assert h.digest_size == alg.digest_size
    ctx = hashes.Hash(h)
    ctx.update(MESSAGE)
    assert ctx.finalize() == hashlib.new(alg.hashlib_name, MESSAGE).digest()


def test_crypto_hash_unavailable() -> None:
    with pytest.raises(UnsupportedAlgorithm):
        algorithms.by_name("ripemd160").crypto_hash()
    with pytest.raises(UnsupportedAlgorithm):
        algorithms.by_name("ecdsa-p256").crypto_hash()


# ------------------------------------------------------------------------------------------
# signature schemes for keys


@pytest.mark.parametrize(("make", "name", "bits"), [
    (lambda: rsa.generate_private_key(65537, 2048), "rsa-pkcs1v15", 2048),
    (lambda: ec.generate_private_key(ec.SECP224R1()), "ecdsa-p224", 224),
    (lambda: ec.generate_private_key(ec.SECP256R1()), "ecdsa-p256", 256),
    (lambda: ec.generate_private_key(ec.SECP384R1()), "ecdsa-p384", 384),
    (lambda: ec.generate_private_key(ec.SECP521R1()), "ecdsa-p521", 521),
    (ed25519.Ed25519PrivateKey.generate, "ed25519", None),
    (ed448.Ed448PrivateKey.generate, "ed448", None),
    (mldsa.MLDSA44PrivateKey.generate, "ml-dsa-44", None),
    (mldsa.MLDSA65PrivateKey.generate, "ml-dsa-65", None),
    (mldsa.MLDSA87PrivateKey.generate, "ml-dsa-87", None),
], ids=lambda v: v if isinstance(v, str) else "")
def test_signature_scheme_for_key(make: Callable[[], Any], name: str, bits: int | None) -> None:
    public = make().public_key()
    scheme = algorithms.signature_scheme_for_key(public)
    assert scheme.name == name
    assert scheme.kind is Kind.SIGNATURE
    assert algorithms.key_bits(public) == bits
    if scheme.curve is not None:
        assert scheme.curve == public.curve.name
    # the scheme's OID leads back to it
    assert algorithms.by_oid(scheme.oid, Kind.SIGNATURE) is scheme


def test_rsa_pss_scheme() -> None:
    public = rsa.generate_private_key(65537, 2048).public_key()
    assert algorithms.signature_scheme_for_key(public, rsa_pss=True).name == "rsa-pss"
    assert algorithms.signature_scheme_for_key(public, rsa_pss=False).name == "rsa-pkcs1v15"
    # rsa_pss means nothing for other key types
    ec_public = ec.generate_private_key(ec.SECP256R1()).public_key()
    assert algorithms.signature_scheme_for_key(ec_public, rsa_pss=True).name == "ecdsa-p256"


@pytest.mark.parametrize("make", [
    lambda: ec.generate_private_key(ec.SECP256K1()),
    lambda: dsa.generate_private_key(2048),
    x25519.X25519PrivateKey.generate,
], ids=["secp256k1", "dsa", "x25519"])
def test_signature_scheme_for_unsupported_keys(make: Callable[[], Any]) -> None:
    with pytest.raises(UnsupportedAlgorithm):
        algorithms.signature_scheme_for_key(make().public_key())


# ------------------------------------------------------------------------------------------
# security strength and quantum vulnerability (what the dated policy selects on)


@pytest.mark.parametrize(("name", "strength"), [
    ("sha256", 128), ("sha384", 192), ("sha512", 256), ("sha224", 112), ("sha3-256", 128),
    ("ripemd160", 80), ("aes128-gcm", 128), ("aes256-cbc", 256), ("des-ede3-cbc", 112),
    ("aes256-wrap", 256), ("ecdsa-p224", 112), ("ecdsa-p256", 128), ("ecdsa-p384", 192),
    ("ecdsa-p521", 256), ("ed25519", 128), ("ed448", 224), ("ml-dsa-44", 128),
    ("ml-dsa-65", 192), ("ml-dsa-87", 256), ("ml-kem-768", 192), ("x25519", 128),
])
def test_fixed_strengths(name: str, strength: int) -> None:
    assert algorithms.by_name(name).strength == strength


@pytest.mark.parametrize("name", ["sha1", "md5"])
def test_broken_digests_are_below_80_bits(name: str) -> None:
    strength = algorithms.by_name(name).strength
    assert strength is not None and strength < 80


@pytest.mark.parametrize(("bits", "strength"), [
    (512, 0), (1024, 80), (2047, 80), (2048, 112), (3072, 128), (4096, 128), (7680, 192),
    (15360, 256),
])
def test_rsa_strength(bits: int, strength: int) -> None:
    assert algorithms.rsa_strength(bits) == strength
    for name in ("rsa-pkcs1v15", "rsa-pss", "rsa-oaep", "sha256-with-rsa"):
        assert algorithms.strength_for_key(algorithms.by_name(name), bits) == strength


def test_strength_for_key() -> None:
    by_name = algorithms.by_name
    assert algorithms.strength_for_key(by_name("rsa-pkcs1v15"), None) is None
    assert algorithms.strength_for_key(by_name("ecdsa-p256"), None) == 128
    assert algorithms.strength_for_key(by_name("ecdsa-p256"), 224) == 112  # smaller key
    assert algorithms.strength_for_key(by_name("ecdsa-with-sha256"), 384) == 192
    assert algorithms.strength_for_key(by_name("ecdh-x963-sha256"), 521) == 256
    assert algorithms.strength_for_key(by_name("ed25519"), None) == 128
    assert algorithms.strength_for_key(by_name("sha256"), 4096) == 128  # key irrelevant


def test_quantum_vulnerable() -> None:
    vulnerable = {a.name for a in ALL if a.quantum_vulnerable}
    assert {"rsa-pkcs1v15", "rsa-pss", "ecdsa-p256", "ed25519", "ed448", "rsa-oaep",
            "rsa-pkcs1v15-transport", "x25519", "ecdh-hkdf-sha256", "sha256-with-rsa",
            "cms-ed25519"} <= vulnerable
    assert not vulnerable & {"ml-dsa-44", "ml-dsa-65", "ml-dsa-87", "ml-kem-512", "sha256",
                             "aes256-gcm", "aes256-wrap", "hkdf-sha256"}
