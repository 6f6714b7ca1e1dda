"""The adversarial classes of issue 8 item 2 run as children of a measuring process
(acceptance 2): validly encrypted SignedData with each of the four malformed certificates, the
CBC ciphertext bit flip aimed at the issuer name, and an OAEP hash the crypto library cannot
run. Each ends with exit 1, one line on stderr, within 150 MB of peak memory and 10 s of CPU.

The hostile files are made by the builders of ``test_crafted_plaintext`` (imported, not copied);
what each case means is explained there. Memory and CPU come from the measuring helper of
``test_limits`` (a fresh process reading its own RUSAGE_CHILDREN).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from dicomsec import securefile
from dicomsec.cms import DOES_NOT_OPEN, ID_SIGNED_DATA
from dicomsec.cms._der import encode_oid
from tests.securefile.test_crafted_plaintext import (
    CT,
    ISSUER_CN,
    PKI,
    SHA256_OID,
    Signer,
    _crafted,
    _envelope,
    _kek_args,
    _make_signer,
    _signed,
)
from tests.securefile.test_limits import _dicomsec

#: the four exceptions that escaped as "internal error" (exit 70) from certificate parsing
FOUR_ERRORS = ["InvalidVersion", "ValueError", "UnicodeDecodeError", "UnsupportedAlgorithm"]


@pytest.fixture(scope="module")
def signer() -> Signer:
    return _make_signer()


@pytest.mark.parametrize("case", FOUR_ERRORS)
def test_malformed_certificate_as_a_child(case: str, signer: Signer, tmp_path: Path) -> None:
    src, dst = tmp_path / "crafted.cms", tmp_path / "out.dcm"
    src.write_bytes(_envelope(_crafted(signer, case), cipher="aes256-cbc",
                              content_type=ID_SIGNED_DATA))
    child = _dicomsec("unwrap", src, "-o", dst, *_kek_args(tmp_path))
    assert child.one_line_refusal(1) == f"error: {src}: {DOES_NOT_OPEN}"
    assert child.out == "" and not dst.exists()


def test_cbc_bit_flip_as_a_child(signer: Signer, tmp_path: Path) -> None:
    """The flip of ``test_cbc_ciphertext_bit_flip_gives_the_uniform_message``: one bit of the
    ciphertext block before one inside the issuer name (it gave UnicodeDecodeError, exit 70)."""
    plain = _signed(signer.signer)
    data = bytearray(_envelope(plain, cipher="aes256-cbc", content_type=ID_SIGNED_DATA))
    ciphertext_at = len(data) - (len(plain) // 16 + 1) * 16
    target = (plain.index(ISSUER_CN.encode()) // 16 + 2) * 16
    data[ciphertext_at + target - 16] ^= 0x80
    src, dst = tmp_path / "flip.cms", tmp_path / "out.dcm"
    src.write_bytes(bytes(data))
    child = _dicomsec("unwrap", src, "-o", dst, *_kek_args(tmp_path))
    assert child.one_line_refusal(1) == f"error: {src}: {DOES_NOT_OPEN}"
    assert not dst.exists()


def test_unsupported_oaep_hash_as_a_child(tmp_path: Path) -> None:
    """RSA-OAEP's hash rewritten to SHA3-256 (UnsupportedAlgorithm at decryption, exit 70)."""
    src, dst = tmp_path / "oaep.cms", tmp_path / "out.dcm"
    securefile.wrap(CT, src, recipients=[securefile.recipient_for(PKI / "recip-rsa2048.pem")])
    data = src.read_bytes()
    at = data.index(SHA256_OID)
    sha3 = encode_oid("2.16.840.1.101.3.4.2.8")
    src.write_bytes(data[:at] + sha3 + data[at + len(SHA256_OID):])
    child = _dicomsec("unwrap", src, "-o", dst, "--key", PKI / "recip-rsa2048.key",
                      "--cert", PKI / "recip-rsa2048.pem")
    assert "no recipient matches" in child.one_line_refusal(1)
    assert not dst.exists()
