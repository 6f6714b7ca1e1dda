"""CMS structure limits on small SignedData (timestamp tokens) and the BER reader's walks
(issue 8, item 3): checked while reading, before a recursive parser sees the bytes."""

from __future__ import annotations

import io
import random

import pytest

from dicomsec import limits
from dicomsec.cms import ID_DATA, ID_SIGNED_DATA
from dicomsec.cms._der import TLVReader, encode_oid
from dicomsec.cms.envelope import _int, _octets, _seq, _tlv
from dicomsec.cms.signed import check_signed_data_limits
from dicomsec.errors import InvalidInput


def _token(certs: int = 0, crls: int = 0, signers: int = 1, nested: int = 0) -> bytes:
    content = _octets(b"tst")
    for _ in range(nested):
        content = _seq(content)
    encap = _seq(encode_oid(ID_DATA), _tlv(0xA0, content))
    parts = [_int(3), _tlv(0x31, b""), encap]
    if certs:
        parts.append(_tlv(0xA0, b"\x30\x00" * certs))
    if crls:
        parts.append(_tlv(0xA1, b"\x30\x00" * crls))
    parts.append(_tlv(0x31, b"\x30\x00" * signers))
    return _seq(encode_oid(ID_SIGNED_DATA), _tlv(0xA0, _seq(*parts)))


def test_a_token_within_the_limits_passes() -> None:
    check_signed_data_limits(_token(certs=200, crls=56, signers=64, nested=20))


@pytest.mark.parametrize(("token", "name"), [
    (_token(certs=257), "certificates=256"),
    (_token(certs=200, crls=57), "certificates=256"),
    (_token(signers=65), "signers=64"),
    (_token(nested=40), "der_depth=32"),
])
def test_a_token_over_a_limit_is_refused(token: bytes, name: str) -> None:
    with pytest.raises(limits.LimitExceeded, match=name):
        check_signed_data_limits(token, name="token")


def test_raised_limits_let_it_through() -> None:
    token = _token(certs=300, signers=70, nested=40)
    raised = limits.current().replaced(certificates=300, signers=70, der_depth=64)
    with limits.applied(raised):
        check_signed_data_limits(token)


@pytest.mark.parametrize("junk", [b"", b"\x30", b"\x30\x03\x02\x01\x00", b"\x04\x01x" * 5])
def test_malformed_is_left_to_the_parser(junk: bytes) -> None:
    check_signed_data_limits(junk)


def test_definite_nesting_is_walked_by_check_nesting() -> None:
    data = b"\x30\x80" * 40 + b"\x00\x00" * 40
    r = TLVReader(io.BytesIO(data), len(data))
    with pytest.raises(limits.LimitExceeded, match="der_depth"):
        r.end_of(r.header(0))
    deep = _octets(b"x")
    for _ in range(33):
        deep = _seq(deep)
    r = TLVReader(io.BytesIO(deep), len(deep))
    assert r.end_of(r.header(0)) == len(deep)  # definite: not walked
    with pytest.raises(limits.LimitExceeded, match="der_depth"):
        r.check_nesting(r.header(0))


def _random_octets(rng: random.Random, depth: int = 0) -> bytes:
    """A constructed OCTET STRING (definite or not) of chunks of random sizes, with runs of
    equal ones, long-form lengths and now and then a nested constructed chunk."""
    from dicomsec.cms._der import encode_header

    body = []
    for _ in range(rng.randrange(0, 40)):
        if depth < 3 and rng.random() < 0.05:
            body.append(_random_octets(rng, depth + 1))
            continue
        n = rng.choice([0, 1, 1, 2, 3, 31, 32, 33, 127, 128, 300, 5000])
        piece = encode_header(0x04, n) + rng.randbytes(n)
        body.append(piece * rng.choice([1, 1, 2, 17, 100]))
    inner = b"".join(body)
    if rng.random() < 0.5:
        return b"\x24\x80" + inner + b"\x00\x00"
    return encode_header(0x24, len(inner)) + inner


@pytest.mark.parametrize("seed", range(4))
def test_octet_data_agrees_with_the_chunk_by_chunk_walk(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(50):
        data = _random_octets(rng)
        r = TLVReader(io.BytesIO(data), len(data))
        top = r.header(0)
        slow = b"".join(data[o : o + n] for o, n in r.octet_chunks(top))
        assert b"".join(r.octet_data(top)) == slow
        assert TLVReader(io.BytesIO(data), len(data)).end_of(top) == len(data)


def test_runs_across_window_reloads() -> None:
    """More than one window (1 MiB) of mixed 1- and 2-byte chunks."""
    unit = b"\x04\x01a" * 1000 + b"\x04\x02bc" + b"\x04\x01d" * 7
    data = b"\x24\x80" + unit * 400 + b"\x00\x00"
    assert len(data) > 1 << 20
    r = TLVReader(io.BytesIO(data), len(data))
    top = r.header(0)
    assert b"".join(r.octet_data(top)) == (b"a" * 1000 + b"bc" + b"d" * 7) * 400
    assert r.end_of(top) == len(data)
    with pytest.raises(InvalidInput, match="end-of-contents"):
        cut = data[:-2]
        TLVReader(io.BytesIO(cut), len(cut)).end_of(top)


def _pwri_with_pbkdf2_params(params: bytes) -> bytes:
    """A PasswordRecipientInfo whose PBKDF2-params are ``params`` (DER)."""
    import os

    from dicomsec.cms.recipients import PasswordRecipient

    der = PasswordRecipient("a good password", iterations=1000).recipient_info(os.urandom(32))
    r = TLVReader(io.BytesIO(der), len(der))
    version, kdf, kea, key = (r.element_bytes(t) for t in r.children(r.header(0)))
    kdf = _tlv(0xA0, encode_oid("1.2.840.113549.1.5.12") + params)
    return _tlv(0xA3, version + kdf + kea + key)


@pytest.mark.parametrize(("prf", "expected"), [
    (b"", ()),  # left out: its DER DEFAULT (hmacWithSHA1)
    (bytes.fromhex("300c06082a864886f70d02090500"), ()),  # NULL, as RFC 8018 has it
    (bytes.fromhex("300a06082a864886f70d0209"),
     ("PBKDF2 prf parameters absent, RFC 8018 §B.1 requires NULL",)),
])
def test_pbkdf2_prf_parameters(prf: bytes, expected: tuple[str, ...]) -> None:
    from dicomsec.cms._der import encode_header
    from dicomsec.cms.recipients import parameter_deviations

    body = _octets(bytes(16)) + _int(1000) + prf
    der = _pwri_with_pbkdf2_params(encode_header(0x30, len(body)) + body)
    assert parameter_deviations(der) == expected


def _frames() -> int:
    import sys

    n, frame = 0, sys._getframe()
    while frame is not None:
        n, frame = n + 1, frame.f_back  # type: ignore[assignment]
    return n


@pytest.mark.parametrize("shape", ["chunks", "indefinite", "definite"])
def test_walks_keep_no_python_frame_per_level(shape: str) -> None:
    """``--limit der_depth`` raised far gave exit 70 (RecursionError from the recursive walks):
    the walks keep a list of open elements instead, so 250 levels are walked with 60 frames
    to spare."""
    import sys

    depth = 250
    if shape == "chunks":
        data = b"\x24\x80" * depth + b"\x04\x01x" + b"\x00\x00" * depth
    elif shape == "indefinite":
        data = b"\x30\x80" * depth + b"\x04\x01x" + b"\x00\x00" * depth
    else:
        data = _octets(b"x")
        for _ in range(depth):
            data = _seq(data)
    lim = limits.Limits(der_depth=depth)
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(_frames() + 60)
    try:
        r = TLVReader(io.BytesIO(data), len(data), lim=lim)
        top = r.header(0)
        assert r.end_of(top) == len(data)
        r.check_nesting(top)
        if shape == "chunks":
            assert b"".join(r.octet_data(top)) == b"x"
            assert [n for _, n in r.octet_chunks(top)] == [1]
        too_deep = TLVReader(io.BytesIO(data), len(data), lim=limits.Limits(der_depth=depth - 1))
        with pytest.raises(limits.LimitExceeded, match="der_depth"):
            too_deep.check_nesting(too_deep.header(0))
    finally:
        sys.setrecursionlimit(old)


def _ktri_issued_by(name: bytes) -> bytes:
    rsa = _seq(encode_oid("1.2.840.113549.1.1.1"), b"\x05\x00")
    return _seq(_int(0), _seq(name, _int(5)), rsa, _octets(bytes(16)))


def test_long_names_are_described_in_part() -> None:
    """inspect renders the first NAME_PARTS RDNs of a name (and attributes of an RDN) and
    counts the rest; a short name is rendered whole, RFC 4514 order (last RDN first, the count
    of those left out in front)."""
    from dicomsec.cms.recipients import describe
    from dicomsec.cms.recipients._describe import NAME_PARTS

    def rdn(*values: bytes) -> bytes:
        return _tlv(0x31, b"".join(_seq(encode_oid("2.5.4.3"), _tlv(0x0C, v)) for v in values))

    def issuer(info: bytes) -> object:
        rid = describe(info)["rid"]
        assert isinstance(rid, dict)
        return rid["issuer"]

    assert issuer(_ktri_issued_by(_seq(rdn(b"a"), rdn(b"b")))) == "CN=b,CN=a"
    many = [rdn(str(i).encode()) for i in range(NAME_PARTS + 5)]
    text = issuer(_ktri_issued_by(_seq(*many)))
    # the 5 left out follow the first NAME_PARTS: in RFC 4514 order they come first
    assert text == "... 5 more RDNs," + ",".join(f"CN={i}" for i in reversed(range(NAME_PARTS)))
    wide = rdn(*(str(i).encode() for i in range(NAME_PARTS + 3)))
    assert issuer(_ktri_issued_by(_seq(wide))) == "+".join(
        f"CN={i}" for i in range(NAME_PARTS)) + "+... and 3 more"


def _children_by_reader(data: bytes) -> list[tuple[int, int]]:
    """(start, end) of the elements of ``data`` by TLVReader (the reference walk)."""
    wrapped = _tlv(0x30, data)
    r = TLVReader(io.BytesIO(wrapped), len(wrapped))
    shift = len(wrapped) - len(data)
    return [(c.offset - shift, r.end_of(c) - shift) for c in r.children(r.header(0))]


@pytest.mark.parametrize("data", [
    b"",
    b"\x31\x00" * 1000,
    b"\x31\x00" * 1000 + b"\x31\x80\x00\x00",
    b"\x31\x80\x00\x00" + b"\x31\x00" * 7 + b"\x05\x00" + b"\x31\x00" * 3,
    b"\x30\x80\x30\x80\x04\x01x\x00\x00\x31\x00\x00\x00" * 20,
    b"\x1f\x81\x01\x00" + b"\x04\x82\x01\x00" + bytes(256) + b"\x30\x84\x00\x00\x00\x01\x05",
    b"".join(_seq(_octets(bytes(i % 5))) for i in range(200)),
])
def test_element_spans_agree_with_the_reader(data: bytes) -> None:
    """The flat walk that counts children (BER or DER) finds the
    elements the reader finds, whatever ``most``."""
    from dicomsec.cms._der import element_spans

    want = _children_by_reader(data)
    for most in (0, 1, 5, 10_000):
        spans, count = element_spans(data, most)
        assert count == len(want)
        assert spans == want[:most]


@pytest.mark.parametrize(("data", "why"), [
    (b"\x31", "truncated header"),
    (b"\x31\x00\x00\x00", "unexpected end-of-contents"),
    (b"\x31\x80\x31\x00", "without end-of-contents"),
    (b"\x04\x80\x00\x00", "indefinite length on a primitive"),
    (b"\x31\x05\x00", "runs past"),
    (b"\x31\x89" + bytes(9), "length field too long"),
    (b"\x1f\x81\x81\x81\x81\x81\x01\x00", "tag number too long"),
])
def test_element_spans_refuse_malformed(data: bytes, why: str) -> None:
    from dicomsec.cms._der import element_spans

    with pytest.raises(InvalidInput, match=why):
        element_spans(data, 3)


def test_element_spans_nesting_limit() -> None:
    from dicomsec.cms._der import element_spans

    deep = b"\x30\x80" * 40 + b"\x00\x00" * 40
    assert element_spans(deep, 1, depth=40) == ([(0, len(deep))], 1)
    with pytest.raises(limits.LimitExceeded, match="der_depth=39"):
        element_spans(deep, 1, depth=39)


def test_a_ber_name_of_half_a_million_rdns_is_counted_not_built() -> None:
    """The review's name: 520,000 empty RDNs and one of indefinite length (not plain DER, so
    every RDN was built by asn1crypto): now counted by the flat walk, rendered in part."""
    import tracemalloc

    from dicomsec.cms.recipients import describe
    from dicomsec.cms.recipients._describe import NAME_PARTS

    info = _ktri_issued_by(_seq(b"\x31\x00" * 520_000 + b"\x31\x80\x00\x00"))
    tracemalloc.start()
    try:
        rid = describe(info)["rid"]
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert rid == {"issuer": f"... {520_001 - NAME_PARTS} more RDNs," + "," * (NAME_PARTS - 1),
                   "serial": "0x5"}
    assert peak < 16 * len(info), peak  # copies of the value, not an object per RDN


def _attr_name(oid: str, value: bytes) -> bytes:
    return _seq(_tlv(0x31, _seq(encode_oid(oid), value)))


def test_attribute_values_are_capped() -> None:
    """Values are cut at VALUE_CHARS ("…"); a value of an unknown type that is not a string
    is ``#`` and the hex of its encoding (RFC 4514 §2.4), never a decoded structure."""
    from dicomsec.cms.recipients import describe
    from dicomsec.cms.recipients._describe import VALUE_CHARS

    def issuer(name: bytes) -> object:
        rid = describe(_ktri_issued_by(name))["rid"]
        assert isinstance(rid, dict)
        return rid["issuer"]

    assert issuer(_attr_name("2.5.4.3", _tlv(0x0C, b"x" * 5000))) == "CN=" + "x" * VALUE_CHARS + "…"
    assert issuer(_attr_name("1.2.3.4", _tlv(0x0C, b"plain"))) == "1.2.3.4=plain"
    assert issuer(_attr_name("1.2.3.4", _seq(_int(1)))) == "1.2.3.4=#3003020101"
    structure = _seq(b"\x05\x00" * 200_000)
    text = issuer(_attr_name("1.2.3.4", structure))
    assert text == "1.2.3.4=#" + structure[: VALUE_CHARS // 2].hex() + "…"


def _kari_with_keys(keys: bytes) -> bytes:
    """A KeyAgreeRecipientInfo whose RecipientEncryptedKeys field is ``keys`` (encoded)."""
    originator = _tlv(0xA0, _tlv(0xA1, _seq(encode_oid("1.3.101.110"))
                                 + _tlv(0x03, b"\x00" + bytes(32))))
    algid = _seq(encode_oid("1.2.840.113549.1.9.16.3.19"),
                 _seq(encode_oid("2.16.840.1.101.3.4.1.45")))
    return _tlv(0xA1, _int(3) + originator + algid + keys)


def _envelope_of(*infos: bytes) -> bytes:
    from dicomsec.cms import ID_ENVELOPED_DATA

    rset = _tlv(0x31, b"".join(infos))
    eci = _seq(encode_oid(ID_DATA), _seq(encode_oid("2.16.840.1.101.3.4.1.42"),
                                         _octets(bytes(16))), _tlv(0x80, bytes(32)))
    return _seq(encode_oid(ID_ENVELOPED_DATA), _tlv(0xA0, _seq(_int(2), rset, eci)))


def test_a_kari_whose_keys_cannot_be_counted_counts_one() -> None:
    """A kari with a framing error among its keys is read (counted as one recipient) and
    described as undecoded, as before the keys were counted: another recipient may still
    open the file. Nesting over ``der_depth`` is refused, naming the file and the offset of
    the keys in it."""
    from dicomsec.cms.envelope import read_envelope
    from dicomsec.cms.recipients import describe

    rek = _seq(_seq(_seq(), _int(5)), _octets(bytes(40)))
    kekri = _tlv(0xA2, _int(4) + _seq(_octets(b"id")) + _seq(encode_oid(
        "2.16.840.1.101.3.4.1.45")) + _octets(bytes(40)))
    for keys in (_seq(rek + b"\x30"), _seq(rek + b"\x00\x00"), _seq(rek + b"\x30\x05\x00")):
        data = _envelope_of(_kari_with_keys(keys), kekri)
        env = read_envelope(io.BytesIO(data), len(data), "bad-keys.cms")
        assert len(env.recipient_infos) == 2
        assert describe(env.recipient_infos[0]) == {"kind": "kari", "tag": "0xa1",
                                                    "decoded": False}
    depth = limits.Limits().der_depth + 1
    inner = rek + b"\x30\x80" * depth + b"\x00\x00" * depth
    keys = _seq(inner)
    data = _envelope_of(_kari_with_keys(keys))
    with pytest.raises(limits.LimitExceeded) as caught:
        read_envelope(io.BytesIO(data), len(data), "deep-keys.cms")
    where = data.index(keys) + len(keys) - len(inner)  # the value of the keys' SEQUENCE
    assert caught.value.path == "deep-keys.cms"
    assert f"at offset {where}:" in str(caught.value)


def test_signer_identifiers_are_not_built_whole() -> None:
    """The same pattern on the signed path: a SignerInfo whose issuer name holds half a
    million RDNs is named by its size in messages, and compared with a certificate of the
    same serial by its RDN count first (asn1crypto's comparison builds every RDN)."""
    from asn1crypto import cms
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    from dicomsec.cms.signed._check import _find_certificate, _sid_text, load_certificate
    from tests.conftest import PKI

    pem = (PKI / "signer-ecp256.cert.pem").read_bytes()
    cert = load_certificate(x509.load_pem_x509_certificate(pem).public_bytes(Encoding.DER))
    hostile = b"\x31\x00" * 500_000 + b"\x31\x80\x00\x00"
    sid = cms.SignerIdentifier.load(_seq(_seq(hostile), _int(cert.asn1.serial_number)))
    assert _sid_text(sid) == f"issuer of {len(hostile)} bytes, serial {cert.asn1.serial_number:#x}"
    assert _find_certificate(sid, [cert]) is None
    same = cms.SignerIdentifier.load(_seq(cert.asn1.issuer.dump(), _int(cert.asn1.serial_number)))
    assert _find_certificate(same, [cert]) is cert
    assert _sid_text(same).startswith("issuer ") and "of " not in _sid_text(same)


def test_signed_attributes_are_counted_before_they_are_read() -> None:
    from asn1crypto import cms

    from dicomsec.cms.signed._check import (
        SIGNED_ATTRIBUTES,
        SignatureProblem,
        signed_attributes,
    )

    def info(attrs: bytes) -> object:
        return cms.SignerInfo.load(_seq(
            _int(1), _seq(_seq(), _int(1)), _seq(encode_oid("2.16.840.1.101.3.4.2.1")),
            _tlv(0xA0, attrs), _seq(encode_oid("1.2.840.10045.4.3.2")), _octets(b"s")))

    one = _seq(encode_oid("1.2.3.4"), _tlv(0x31, _int(1)))
    got = signed_attributes(info(one))
    assert got is not None and list(got[1]) == ["1.2.3.4"]
    with pytest.raises(SignatureProblem, match=f"more than {SIGNED_ATTRIBUTES}"):
        signed_attributes(info(_seq(encode_oid("1.2.3.4"), _tlv(0x31, b"")) * 500_000))
    with pytest.raises(SignatureProblem, match=r"values of signed attribute 1\.2\.3\.4"):
        signed_attributes(info(_seq(encode_oid("1.2.3.4"), _tlv(0x31, b"\x05\x00" * 500_000))))
