"""CMS structure limits on small SignedData (timestamp tokens) and the BER reader's walks
(issue 8, item 3): checked while reading, before a recursive parser sees the bytes."""

from __future__ import annotations

import io

import pytest

from dicomsec import limits
from dicomsec.cms import ID_DATA, ID_SIGNED_DATA
from dicomsec.cms._der import TLVReader, encode_oid
from dicomsec.cms.envelope import _int, _octets, _seq, _tlv
from dicomsec.cms.signed import check_signed_data_limits


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
