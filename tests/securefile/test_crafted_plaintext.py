"""Crafted plaintext inside validly encrypted envelopes (issue 8, item 2; acceptance 2 and 3).

The envelopes are made in-process by the library's own writer around a plaintext the test
chose (a SignedData with a malformed certificate, mutated SignedData / DigestedData), so the
encryption is valid and only the content is hostile. Whatever the plaintext, ``unwrap`` raises
one of the project's errors (exit 1 or 2, never the internal error 70), and for CBC files,
whose content is unproven until the inner check passed, every failure is the one uniform
"does not open" message: no oracle. An OAEP parameter changed to a hash the crypto library
cannot run is refused cleanly too.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import io
import random
import warnings
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import NameOID

from dicomsec import securefile
from dicomsec.cli import main
from dicomsec.cms import DOES_NOT_OPEN, ID_DATA, ID_DIGESTED_DATA, ID_SIGNED_DATA
from dicomsec.cms._der import encode_oid
from dicomsec.cms.envelope import write_envelope
from dicomsec.cms.recipients import Credentials, KekRecipient, PasswordRecipient
from dicomsec.cms.signed import CmsSigner, digested_data_parts, signed_data_parts
from dicomsec.errors import DecryptionFailed, DicomSecError
from dicomsec.keys import load_certificate, load_private_key
from tests.conftest import DATA, PYDICOM_FILES

PKI = DATA / "pki-cms"
CT = PYDICOM_FILES / "CT_small.dcm"
KEK, KEK_ID = bytes(range(32)), b"\x0a\x0b"
PASSWORD = "crafted plaintext"
#: a small DICOM-looking content: the fuzz cares about the structure around it
CONTENT = bytes(128) + b"DICM" + bytes(range(96))
ISSUER_CN = "dicomsec crafted issuer " + "I" * 36
SUBJECT_CN = "dicomsec crafted subject " + "S" * 35
P256_OID = encode_oid("1.2.840.10045.3.1.7")


# --------------------------------------------------------------------------- material


@dataclass(frozen=True)
class Signer:
    signer: CmsSigner
    cert_der: bytes


def _make_signer() -> Signer:
    """A P-256 signer whose certificate has UTF8String issuer and subject names of their own
    (one certificate, its bytes found again in the SignedData)."""
    key = ec.generate_private_key(ec.SECP256R1())
    start = _dt.datetime(2025, 1, 1, tzinfo=_dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ISSUER_CN)]))
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, SUBJECT_CN)]))
        .public_key(key.public_key())
        .serial_number(0x5EED)
        .not_valid_before(start)
        .not_valid_after(start + _dt.timedelta(days=3650))
        .sign(key, hashes.SHA256())
    )
    return Signer(CmsSigner(key, cert), cert.public_bytes(serialization.Encoding.DER))


@pytest.fixture(scope="module")
def crafted_signer() -> Signer:
    return _make_signer()


def _signed(signer: CmsSigner, digest: str = "sha256") -> bytes:
    """The SignedData value around :data:`CONTENT` (strict form)."""
    value = hashlib.new(digest, CONTENT).digest()
    prefix, suffix = signed_data_parts(len(CONTENT), value, [signer], digest=digest)
    return prefix + CONTENT + suffix


def _digested() -> bytes:
    prefix, suffix = digested_data_parts(len(CONTENT), hashlib.sha256(CONTENT).digest(),
                                         "sha256")
    return prefix + CONTENT + suffix


def _pipeline(inner: bytes, content_type: str) -> bytes:
    """ContentInfo(inner): the OpenSSL pipeline form, carried as id-data."""
    from dicomsec.cms.envelope import _seq, _tlv

    return _seq(encode_oid(content_type), _tlv(0xA0, inner))


def _envelope(plaintext: bytes, *, cipher: str, content_type: str,
              recipient: KekRecipient | PasswordRecipient | None = None) -> bytes:
    """A validly encrypted (Auth)EnvelopedData around ``plaintext``, by the library's writer."""
    out = io.BytesIO()
    write_envelope([plaintext], len(plaintext), out,
                   recipients=[recipient or KekRecipient(KEK, KEK_ID)], cipher=cipher,
                   content_type=content_type)
    return out.getvalue()


def _kek_args(tmp_path: Path) -> list[str]:
    kek_file = tmp_path / "kek.hex"
    kek_file.write_text(KEK.hex())
    return ["--kek-file", str(kek_file), "--kek-id", KEK_ID.hex()]


def _cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, list[str]]:
    """Exit code, stdout and the stderr lines of an in-process run; a Python warning would be
    one more line on a real stderr, so there must be none."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rc = main(argv)
    assert [str(w.message) for w in caught] == []
    out, err = capsys.readouterr()
    return rc, out, [line for line in err.splitlines() if line.strip()]


def _replace_once(data: bytes, old: bytes, new: bytes) -> bytes:
    assert len(old) == len(new) and data.count(old) >= 1
    at = data.index(old)
    return data[:at] + new + data[at + len(old):]


# --------------------------------------------------------------------------- crafted certificates


def _bad_utf8(name: str) -> tuple[bytes, bytes]:
    """(old, new): the name's bytes with one octet that is never valid UTF-8."""
    old = name.encode()
    return old, old[:30] + b"\xff" + old[31:]


def _crafted(signer: Signer, case: str) -> bytes:
    """A SignedData whose (only) certificate is malformed in one way, same length each time,
    so the structure around it stays valid DER."""
    plain = _signed(signer.signer)
    cert_at = plain.index(signer.cert_der)
    head, cert, tail = (plain[:cert_at], signer.cert_der,
                        plain[cert_at + len(signer.cert_der):])
    if case == "InvalidVersion":  # version v3 (2) -> 5: cryptography refuses to load it
        cert = _replace_once(cert, b"\xa0\x03\x02\x01\x02", b"\xa0\x03\x02\x01\x05")
    elif case == "ValueError":  # the subject is not UTF-8: cryptography's lazy name parse
        cert = _replace_once(cert, *_bad_utf8(SUBJECT_CN))
    elif case == "UnicodeDecodeError":  # the issuer, in the certificate only: name matching
        cert = _replace_once(cert, *_bad_utf8(ISSUER_CN))
    elif case == "UnsupportedAlgorithm":  # an unknown named curve in the public key
        cert = _replace_once(cert, P256_OID, P256_OID[:-1] + b"\x0a")
    elif case == "NegativeSerial":  # cryptography warns (a second line on stderr)
        cert = _replace_once(cert, b"\x02\x02\x5e\xed", b"\x02\x02\xde\xed")
    else:
        raise AssertionError(case)
    return head + cert + tail


CERT_CASES = ["InvalidVersion", "ValueError", "UnicodeDecodeError", "UnsupportedAlgorithm",
              "NegativeSerial"]


@pytest.mark.parametrize("cipher", ["aes256-gcm", "aes256-cbc"])
@pytest.mark.parametrize("case", CERT_CASES)
def test_malformed_certificate_in_signed_content(
        case: str, cipher: str, crafted_signer: Signer, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    """A validly encrypted SignedData whose certificate makes a parser raise ``case`` (it did
    escape as "internal error", exit 70): exit 1, one line, nothing on stdout, no output; the
    CBC file says only the uniform "does not open"."""
    src, dst = tmp_path / "crafted.cms", tmp_path / "out.dcm"
    src.write_bytes(_envelope(_crafted(crafted_signer, case), cipher=cipher,
                              content_type=ID_SIGNED_DATA))
    rc, out, err = _cli(["unwrap", str(src), "-o", str(dst), *_kek_args(tmp_path)], capsys)
    assert (rc, out, len(err)) == (1, "", 1), err
    assert "Traceback" not in err[0] and "internal error" not in err[0]
    assert not dst.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["crafted.cms", "kek.hex"]
    if cipher == "aes256-cbc":
        assert err[0] == f"error: {src}: {DOES_NOT_OPEN}"
    else:
        assert "the signer's certificate is not in the SignedData" in err[0]


def test_crafted_certificates_untouched_open(crafted_signer: Signer, tmp_path: Path) -> None:
    """The same SignedData with its certificate untouched opens (GCM and CBC): the failures
    above come from the certificate alone."""
    for cipher in ("aes256-gcm", "aes256-cbc"):
        src, dst = tmp_path / f"{cipher}.cms", tmp_path / f"{cipher}.dcm"
        src.write_bytes(_envelope(_signed(crafted_signer.signer), cipher=cipher,
                                  content_type=ID_SIGNED_DATA))
        report = securefile.unwrap(src, dst, credentials=Credentials(kek=KEK, kek_id=KEK_ID))
        assert report.integrity in ("aead", "signed") and dst.read_bytes() == CONTENT


# --------------------------------------------------------------------------- CBC bit flip


def test_cbc_ciphertext_bit_flip_gives_the_uniform_message(
        crafted_signer: Signer, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """One ciphertext bit flip in a CBC, signed file: it garbles one plaintext block and flips
    the same bit in the next. Aimed so the flipped bit turns a letter of the certificate's
    issuer name into a byte that is never UTF-8 (0x49 -> 0xC9... with the garbled block inside
    the name too): this gave "internal error: UnicodeDecodeError" where every other flip gives
    the uniform message. Now it is the uniform message, exit 1, one line, no output."""
    plain = _signed(crafted_signer.signer)
    data = _envelope(plain, cipher="aes256-cbc", content_type=ID_SIGNED_DATA)
    ciphertext_at = len(data) - (len(plain) // 16 + 1) * 16  # CBC content ends the file
    name_at = plain.index(ISSUER_CN.encode())  # the certificate's issuer comes first
    target = (name_at // 16 + 2) * 16  # a block start whose previous block is in the name
    assert target + 1 < name_at + len(ISSUER_CN)
    flipped = bytearray(data)
    flipped[ciphertext_at + target - 16] ^= 0x80  # garbles block target-16, flips 'I' to 0xC9
    src, dst = tmp_path / "flip.cms", tmp_path / "out.dcm"
    src.write_bytes(bytes(flipped))
    rc, out, err = _cli(["unwrap", str(src), "-o", str(dst), *_kek_args(tmp_path)], capsys)
    assert (rc, out, err) == (1, "", [f"error: {src}: {DOES_NOT_OPEN}"])
    assert not dst.exists()


def test_cbc_every_block_flip_gives_the_uniform_message(crafted_signer: Signer,
                                                         tmp_path: Path) -> None:
    """A bit flip in every ciphertext block of a CBC, signed file: every failure is the same
    DecryptionFailed message; a flip that garbles only what no check reads (the certificate's
    own signature: no trust store here) releases the original content."""
    plain = _signed(crafted_signer.signer)
    data = _envelope(plain, cipher="aes256-cbc", content_type=ID_SIGNED_DATA)
    length = (len(plain) // 16 + 1) * 16
    src, dst = tmp_path / "flip.cms", tmp_path / "out.dcm"
    messages: Counter[str] = Counter()
    for block in range(length // 16):
        flipped = bytearray(data)
        flipped[len(data) - length + block * 16 + block % 16] ^= 1 << (block % 8)
        src.write_bytes(bytes(flipped))
        try:
            securefile.unwrap(src, dst, credentials=Credentials(kek=KEK, kek_id=KEK_ID))
        except DecryptionFailed as exc:
            messages[str(exc)] += 1
            assert not dst.exists()
        else:
            assert dst.read_bytes() == CONTENT
            dst.unlink()
    assert list(messages) == [f"{src}: {DOES_NOT_OPEN}"]
    assert messages[f"{src}: {DOES_NOT_OPEN}"] > length // 32


# --------------------------------------------------------------------------- OAEP parameters


SHA256_OID = encode_oid("2.16.840.1.101.3.4.2.1")


@pytest.mark.parametrize("which", ["hash", "mgf1-hash"])
@pytest.mark.parametrize("oid", ["2.16.840.1.101.3.4.2.8", "2.16.840.1.101.3.4.2.12"],
                         ids=["sha3-256", "sha512-224"])
def test_unsupported_oaep_hash_is_refused_cleanly(
        which: str, oid: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """RSA-OAEP parameters rewritten to a hash the crypto library cannot run for OAEP
    (SHA-3: it was exit 70, UnsupportedAlgorithm at decryption) or does not know: the recipient
    is refused when it is planned, from the file alone; exit 1, one line, no output."""
    src, dst = tmp_path / "oaep.cms", tmp_path / "out.dcm"
    securefile.wrap(CT, src, recipients=[securefile.recipient_for(PKI / "recip-rsa2048.pem")])
    data = src.read_bytes()
    assert data.count(SHA256_OID) == 2  # OAEP's hash, then MGF1's (the writer's order)
    at = data.index(SHA256_OID)
    if which == "mgf1-hash":
        at = data.index(SHA256_OID, at + 1)
    src.write_bytes(data[:at] + encode_oid(oid) + data[at + len(SHA256_OID):])
    rc, out, err = _cli(["unwrap", str(src), "-o", str(dst),
                         "--key", str(PKI / "recip-rsa2048.key"),
                         "--cert", str(PKI / "recip-rsa2048.pem")], capsys)
    assert (rc, out, len(err)) == (1, "", 1), err
    assert "no recipient matches" in err[0] and "Traceback" not in err[0]
    assert not dst.exists()


def test_supported_oaep_hashes_still_open(tmp_path: Path) -> None:
    """The refusal is for hashes OAEP cannot run: the file as written opens."""
    src, dst = tmp_path / "oaep.cms", tmp_path / "out.dcm"
    securefile.wrap(CT, src, recipients=[securefile.recipient_for(PKI / "recip-rsa2048.pem")])
    creds = Credentials(private_key=load_private_key(PKI / "recip-rsa2048.key"),
                        certificate=load_certificate(PKI / "recip-rsa2048.pem"))
    assert securefile.unwrap(src, dst, credentials=creds).ok


# --------------------------------------------------------------------------- the fuzz


def _headers(der: bytes, start: int, end: int, depth: int = 0) -> Iterator[int]:
    """Offsets of every DER header in ``der[start:end]`` (definite lengths: our writer's)."""
    pos = start
    while pos + 2 <= end and depth < 40:
        tag, first = der[pos], der[pos + 1]
        if first < 0x80:
            length, head = first, 2
        else:
            n = first & 0x7F
            length, head = int.from_bytes(der[pos + 2:pos + 2 + n], "big"), 2 + n
        yield pos
        if tag & 0x20:
            yield from _headers(der, pos + head, min(pos + head + length, end), depth + 1)
        pos += head + length


INTERESTING = (0x00, 0x01, 0x02, 0x04, 0x05, 0x06, 0x0C, 0x13, 0x16, 0x17, 0x18, 0x1E, 0x30,
               0x31, 0x7F, 0x80, 0x81, 0x82, 0x83, 0x84, 0x88, 0xA0, 0xA1, 0xA3, 0xC1, 0xFF)


@dataclass(frozen=True)
class Base:
    """A valid plaintext and what mutations aim at: DER headers, the certificate's span."""

    plain: bytes
    headers: tuple[int, ...]
    cert: tuple[int, int]


def _base(plain: bytes, cert_der: bytes | None) -> Base:
    at = plain.find(cert_der) if cert_der else -1
    cert = (at, at + len(cert_der)) if cert_der and at >= 0 else (0, len(plain))
    return Base(plain, tuple(_headers(plain, 0, len(plain))), cert)


def _mutate(rng: random.Random, base: Base) -> bytes:
    """One seeded mutation: a bit flip, an interesting or random byte, a header's tag or
    length, a change inside the certificate, a CBC-style garbled block with a flipped bit in
    the next, bytes deleted or inserted, a cut, or several random bytes."""
    data = bytearray(base.plain)
    n = len(data)
    op = rng.randrange(9)
    if op == 0:
        data[rng.randrange(n)] ^= 1 << rng.randrange(8)
    elif op == 1:
        data[rng.randrange(n)] = rng.choice(INTERESTING)
    elif op == 2:  # a header: tag, length or first length octet
        at = min(rng.choice(base.headers) + rng.randrange(3), n - 1)
        data[at] = rng.choice(INTERESTING) if rng.randrange(2) else rng.randrange(256)
    elif op == 3:  # inside the certificate
        lo, hi = base.cert
        at = rng.randrange(lo, hi)
        data[at] = rng.choice(INTERESTING) if rng.randrange(2) else data[at] ^ 0x80
    elif op == 4:  # what a CBC ciphertext bit flip does to the plaintext
        block = rng.randrange(max(1, n // 16 - 1))
        data[block * 16:block * 16 + 16] = rng.randbytes(16)
        data[min(block * 16 + 16 + rng.randrange(16), n - 1)] ^= 1 << rng.randrange(8)
    elif op == 5:
        at = rng.randrange(n)
        del data[at:at + rng.randrange(1, 5)]
    elif op == 6:
        at = rng.randrange(n)
        data[at:at] = rng.randbytes(rng.randrange(1, 4))
    elif op == 7:
        del data[rng.randrange(1, n):]
    else:
        for _ in range(rng.randrange(2, 8)):
            data[rng.randrange(n)] = rng.randrange(256)
    return bytes(data)


@dataclass(frozen=True)
class FuzzCase:
    inner: str  # signed, digested, pipeline-signed, pipeline-digested
    cipher: str
    recipient: str  # kek, password
    count: int
    seed: int


#: 8 x 1,250 = 10,000 mutated plaintexts over KEK and password recipients, GCM and CBC,
#: signed and digested inner content, plus the OpenSSL pipeline form (GCM: CBC id-data is
#: refused before decryption)
FUZZ = [
    *(FuzzCase(inner, cipher, recipient, 1250, seed)
      for seed, (inner, cipher, recipient) in enumerate(
          (inner, cipher, recipient)
          for inner in ("signed", "digested")
          for cipher in ("aes256-gcm", "aes256-cbc")
          for recipient in ("kek", "password"))),
    FuzzCase("pipeline-signed", "aes256-gcm", "kek", 250, 8),
    FuzzCase("pipeline-digested", "aes256-gcm", "password", 250, 9),
]


def _ed25519_signer() -> CmsSigner:
    """An Ed25519 signer with a self-issued certificate (SHA-512 content digest)."""
    key = ed25519.Ed25519PrivateKey.generate()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "dicomsec crafted ed25519")])
    start = _dt.datetime(2025, 1, 1, tzinfo=_dt.UTC)
    cert = (x509.CertificateBuilder().issuer_name(name).subject_name(name)
            .public_key(key.public_key()).serial_number(0xED)
            .not_valid_before(start).not_valid_after(start + _dt.timedelta(days=3650))
            .sign(key, None))
    return CmsSigner(key, cert)


def _fuzz_base(case: FuzzCase, crafted: Signer) -> tuple[Base, str]:
    """The valid plaintext of a case and the EncryptedContentInfo content type."""
    if case.inner == "digested":
        return _base(_digested(), None), ID_DIGESTED_DATA
    if case.inner == "pipeline-digested":
        return _base(_pipeline(_digested(), ID_DIGESTED_DATA), None), ID_DATA
    if case.inner == "pipeline-signed":
        signer = _ed25519_signer()
        cert_der = signer.certificate.public_bytes(serialization.Encoding.DER)
        return (_base(_pipeline(_signed(signer, "sha512"), ID_SIGNED_DATA), cert_der),
                ID_DATA)
    if case.recipient == "kek":
        signer, cert_der = crafted.signer, crafted.cert_der
    else:  # the peer PKI's RSA signer (PrintableString names)
        cert = load_certificate(PKI / "signer-rsa2048.pem")
        signer = CmsSigner(load_private_key(PKI / "signer-rsa2048.key"), cert)
        cert_der = cert.public_bytes(serialization.Encoding.DER)
    return _base(_signed(signer), cert_der), ID_SIGNED_DATA


@pytest.mark.parametrize("case", FUZZ, ids=lambda c: f"{c.inner}-{c.cipher}-{c.recipient}")
def test_fuzz_mutated_plaintext_inside_valid_envelopes(case: FuzzCase, crafted_signer: Signer,
                                                       tmp_path: Path) -> None:
    """Seeded mutations of the plaintext, each encrypted validly by the library's writer and
    unwrapped in-process: only the project's errors (no library exception, so never exit 70),
    no output after a failure, the original content after a success (a mutation outside what
    is signed, such as the certificate's own signature, may still verify), and for CBC every
    failure is the one uniform message."""
    base, content_type = _fuzz_base(case, crafted_signer)
    if case.recipient == "kek":
        recipient: KekRecipient | PasswordRecipient = KekRecipient(KEK, KEK_ID)
        creds = Credentials(kek=KEK, kek_id=KEK_ID)
    else:  # the minimum iteration count keeps 1,250 cases fast; the reader is the same
        recipient = PasswordRecipient(PASSWORD, iterations=1000)
        creds = Credentials(password=PASSWORD)
    rng = random.Random(case.seed)
    src, dst = tmp_path / "fuzz.cms", tmp_path / "out.dcm"
    uniform = f"{src}: {DOES_NOT_OPEN}"
    outcomes: Counter[str] = Counter()
    for index in range(case.count):
        plain = _mutate(rng, base)
        src.write_bytes(_envelope(plain, cipher=case.cipher, content_type=content_type,
                                  recipient=recipient))
        try:
            securefile.unwrap(src, dst, credentials=creds)
        except DicomSecError as exc:
            assert not dst.exists(), f"case {index}: output left after {exc!r}"
            if case.cipher.endswith("cbc"):
                assert isinstance(exc, DecryptionFailed) and str(exc) == uniform, (
                    f"case {index}: CBC failure that is not the uniform one: {exc!r}")
            outcomes[type(exc).__name__] += 1
        except Exception as exc:
            raise AssertionError(f"case {index} (seed {case.seed}): "
                                 f"{type(exc).__module__}.{type(exc).__name__} escaped") from exc
        else:
            # id-data under GCM: a plaintext no longer read as a ContentInfo is plain content,
            # authenticated by the tag as it was encrypted
            released = (CONTENT, plain) if content_type == ID_DATA else (CONTENT,)
            assert dst.read_bytes() in released, f"case {index}: other content released"
            dst.unlink()
            outcomes["ok"] += 1
    assert sum(outcomes.values()) == case.count
    assert outcomes["ok"] < case.count // 2, outcomes  # the mutations do reach the checks
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fuzz.cms"]  # no temporaries


def test_fuzz_covers_ten_thousand_plaintexts() -> None:
    """Acceptance 3: at least 10,000 mutated plaintexts over both recipient kinds, both
    cipher modes and both inner content kinds."""
    assert sum(c.count for c in FUZZ) >= 10_000
    assert {c.recipient for c in FUZZ} == {"kek", "password"}
    assert {c.cipher for c in FUZZ} == {"aes256-gcm", "aes256-cbc"}
    assert {c.inner for c in FUZZ} >= {"signed", "digested"}
