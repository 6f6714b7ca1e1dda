"""Certified timestamps: a real TSA (openssl ts -reply over HTTP), verification, failures."""

from __future__ import annotations

import datetime as _dt
import json
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import cms, tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from dicomsec import keys
from dicomsec.errors import InvalidInput, PolicyViolation, UnsupportedAlgorithm, VerificationFailed
from dicomsec.signatures.timestamp import (
    HttpTimestampClient,
    TimestampClient,
    TimestampReport,
    TimestampServiceError,
    parse_timestamp_time,
    verify_timestamp,
)
from dicomsec.trust import TrustStore
from tests.tsa import openssl_or_skip, running_tsa

PKI = Path(__file__).resolve().parent.parent / "data" / "pki"
DATA = bytes(range(256)) * 2  # stands in for a Signature (0400,0120) value


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    # The test TSA listens on 127.0.0.1: never send its requests through a proxy.
    for name in ("http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


@pytest.fixture
def trust() -> TrustStore:
    return TrustStore.from_paths([PKI / "ca.cert.pem"])


@pytest.fixture
def tsa_url(tmp_path: Path) -> Iterator[str]:
    with running_tsa(tmp_path) as url:
        yield url


@pytest.fixture
def token(tsa_url: str) -> bytes:
    return HttpTimestampClient(tsa_url).timestamp(DATA)


def _flip(data: bytes, index: int) -> bytes:
    out = bytearray(data)
    out[index] ^= 0x01
    return bytes(out)


# --------------------------------------------------------------------------- happy path


def test_real_tsa_token_verifies_and_is_trusted(token: bytes, trust: TrustStore) -> None:
    client: TimestampClient = HttpTimestampClient("http://127.0.0.1:1/")  # protocol fits
    assert callable(client.timestamp)

    status = verify_timestamp(token, DATA, trust)

    assert status.ok, status.problems
    assert (status.present, status.valid, status.trusted) == (True, True, True)
    assert status.problems == ()
    assert status.hash_algorithm == "sha256"
    assert status.tsa == "CN=dicomsec test TSA,OU=TSA,O=dicomsec test PKI,C=XX"
    assert status.time is not None and status.time.tzinfo is not None
    assert status.time.utcoffset() == _dt.timedelta(0)
    assert abs(_dt.datetime.now(_dt.UTC) - status.time) < _dt.timedelta(minutes=5)
    assert parse_timestamp_time(token) == status.time
    assert isinstance(status.signer_certificate, x509.Certificate)
    assert status.signer_certificate.subject.rfc4514_string() == status.tsa


def test_token_is_the_content_info_not_the_response(token: bytes) -> None:
    info = cms.ContentInfo.load(token, strict=True)
    assert info["content_type"].native == "signed_data"
    tst = info["content"]["encap_content_info"]["content"].parsed
    assert isinstance(tst, tsp.TSTInfo)
    assert tst["nonce"].native is not None  # the request carried a nonce, echoed back
    assert len(info["content"]["certificates"]) >= 1  # certReq was set


def test_status_dict_is_json_and_hides_the_certificate(token: bytes, trust: TrustStore) -> None:
    status = verify_timestamp(token, DATA, trust)
    as_dict = status.to_dict()
    text = json.dumps(as_dict)
    assert "signer_certificate" not in as_dict and "signer_certificate" not in repr(status)
    assert as_dict["ok"] is True and as_dict["hash_algorithm"] == "sha256"
    assert status.time is not None
    assert as_dict["time"] == status.time.isoformat()
    assert _dt.datetime.fromisoformat(json.loads(text)["time"]) == status.time


def test_sha384_imprint(tsa_url: str, trust: TrustStore) -> None:
    token = HttpTimestampClient(tsa_url, hash_name="sha384").timestamp(DATA)
    status = verify_timestamp(token, DATA, trust)
    assert status.ok, status.problems
    assert status.hash_algorithm == "sha384"
    tst = cms.ContentInfo.load(token)["content"]["encap_content_info"]["content"].parsed
    assert len(tst["message_imprint"]["hashed_message"].native) == 48


def test_ecdsa_tsa(tmp_path: Path, trust: TrustStore) -> None:
    cert, key = _issue_tsa(tmp_path, "ecdsa-p256")
    with running_tsa(tmp_path / "run", signer=(cert, key)) as url:
        token = HttpTimestampClient(url).timestamp(DATA)
    status = verify_timestamp(token, DATA, trust)
    assert status.ok, status.problems
    assert status.tsa is not None and "test TSA ecdsa-p256" in status.tsa


@pytest.mark.peer
def test_openssl_accepts_our_token(token: bytes, tmp_path: Path) -> None:
    openssl = openssl_or_skip()
    (tmp_path / "data.bin").write_bytes(DATA)
    (tmp_path / "token.der").write_bytes(token)
    done = subprocess.run(
        [openssl, "ts", "-verify", "-data", str(tmp_path / "data.bin"),
         "-in", str(tmp_path / "token.der"), "-token_in", "-CAfile", str(PKI / "ca.cert.pem")],
        capture_output=True, text=True, check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Verification: OK" in done.stdout


@pytest.mark.peer
def test_openssl_rejects_token_for_other_data(token: bytes, tmp_path: Path) -> None:
    openssl = openssl_or_skip()
    (tmp_path / "data.bin").write_bytes(DATA + b"x")
    (tmp_path / "token.der").write_bytes(token)
    done = subprocess.run(
        [openssl, "ts", "-verify", "-data", str(tmp_path / "data.bin"),
         "-in", str(tmp_path / "token.der"), "-token_in", "-CAfile", str(PKI / "ca.cert.pem")],
        capture_output=True, text=True, check=False,
    )
    assert done.returncode != 0
    assert verify_timestamp(token, DATA + b"x", None).valid is False


# --------------------------------------------------------------------------- bad tokens


def test_wrong_data_is_invalid(token: bytes, trust: TrustStore) -> None:
    status = verify_timestamp(token, DATA[:-1], trust)
    assert status.present and not status.valid and not status.trusted and not status.ok
    assert any("imprint does not match" in p for p in status.problems)
    assert status.time == parse_timestamp_time(token)  # still reported for diagnostics


def test_flipped_signature_byte_is_invalid(token: bytes, trust: TrustStore) -> None:
    status = verify_timestamp(_flip(token, len(token) - 1), DATA, trust)
    assert not status.valid and not status.ok
    assert any("signature does not verify" in p for p in status.problems)


def test_flipped_tstinfo_byte_is_invalid(token: bytes, trust: TrustStore) -> None:
    tst_der = bytes(cms.ContentInfo.load(token)["content"]["encap_content_info"]["content"])
    start = token.index(tst_der)
    status = verify_timestamp(_flip(token, start + len(tst_der) - 1), DATA, trust)
    assert not status.valid
    assert any("message-digest does not match" in p for p in status.problems)


def test_any_flipped_byte_never_raises(token: bytes, trust: TrustStore) -> None:
    tst_der = bytes(cms.ContentInfo.load(token)["content"]["encap_content_info"]["content"])
    start = token.index(tst_der)
    signed_region = range(start, start + len(tst_der))
    for index in range(len(token)):
        status = verify_timestamp(_flip(token, index), DATA, trust)
        assert isinstance(status, TimestampReport) and status.present
        if not status.valid:
            assert status.problems
        if index in signed_region:
            assert not status.valid, index
    for cut in range(0, len(token), 97):
        assert not verify_timestamp(token[:cut] or b"\x30", DATA, trust).valid
        assert parse_timestamp_time(token[:cut]) is None


@pytest.mark.parametrize(
    "junk", [b"\x00", b"\x30\x00", b"\x30\x03\x02\x01\x00", b"not DER at all" * 10]
)
def test_junk_tokens_are_invalid(junk: bytes, trust: TrustStore) -> None:
    status = verify_timestamp(junk, DATA, trust)
    assert status.present and not status.valid and status.problems
    assert status.time is None and parse_timestamp_time(junk) is None


def test_whole_response_is_not_a_token(tsa_url: str, tmp_path: Path, trust: TrustStore) -> None:
    # A TimeStampResp (status + token) must not be accepted where the token belongs.
    info = cms.ContentInfo.load(HttpTimestampClient(tsa_url).timestamp(DATA))
    resp = tsp.TimeStampResp({"status": {"status": "granted"}, "time_stamp_token": info}).dump()
    status = verify_timestamp(resp, DATA, trust)
    assert not status.valid and status.problems


def test_empty_token_is_absent(trust: TrustStore) -> None:
    status = verify_timestamp(b"", DATA, trust)
    assert status == TimestampReport.absent()
    assert not status.present and not status.ok and status.to_dict()["time"] is None


# --------------------------------------------------------------------------- trust


def test_other_anchor_is_untrusted(token: bytes) -> None:
    other = TrustStore.from_paths([PKI / "signer-rsa2048.cert.pem"])
    status = verify_timestamp(token, DATA, other)
    assert status.valid and not status.trusted and not status.ok
    assert status.problems and all(p.startswith("TSA certificate:") for p in status.problems)


@pytest.mark.parametrize("store", [None, TrustStore()])
def test_no_anchors(token: bytes, store: TrustStore | None) -> None:
    status = verify_timestamp(token, DATA, store)
    assert status.valid and not status.trusted
    assert status.problems == ("no trust anchors configured",)


def test_tsa_certificate_without_timestamping_usage_is_untrusted(
    tmp_path: Path, token: bytes, trust: TrustStore
) -> None:
    # A signer certificate of the same CA, without EKU timeStamping, signing a token.
    key = _load_key(PKI / "signer-ecp256.key.pem")
    forged = _resign(token, PKI / "signer-ecp256.cert.pem", key)
    status = verify_timestamp(forged, DATA, trust)
    assert status.valid, status.problems
    assert not status.trusted
    assert any("timeStamping" in p for p in status.problems)


# --------------------------------------------------------------------------- other key types


@pytest.mark.parametrize("scheme", ["rsa-pss", "ed25519", "ecdsa-p384"])
def test_other_signature_schemes(
    scheme: str, tmp_path: Path, token: bytes, trust: TrustStore
) -> None:
    # openssl ts signs with RSA PKCS#1 v1.5 or ECDSA only: re-sign a real token with the scheme.
    cert, key_path = _issue_tsa(tmp_path, "rsa2048" if scheme == "rsa-pss" else scheme)
    resigned = _resign(token, cert, _load_key(key_path), pss=scheme == "rsa-pss")
    status = verify_timestamp(resigned, DATA, trust)
    assert status.ok, status.problems
    tampered = verify_timestamp(_flip(resigned, len(resigned) - 2), DATA, trust)
    assert not tampered.valid
    assert any("signature does not verify" in p for p in tampered.problems)


def test_substituted_certificate_is_caught(tmp_path: Path, token: bytes, trust: TrustStore) -> None:
    # Re-sign but keep the original signing-certificate attribute: must not verify.
    cert, key_path = _issue_tsa(tmp_path, "ecdsa-p256")
    resigned = _resign(token, cert, _load_key(key_path), keep_ess=True)
    status = verify_timestamp(resigned, DATA, trust)
    assert not status.valid
    assert any("signing-certificate attribute does not match" in p for p in status.problems)


# --------------------------------------------------------------------------- client errors


def test_garbage_response(tmp_path: Path) -> None:
    with running_tsa(tmp_path, mode="garbage") as url:
        client = HttpTimestampClient(url)
        with pytest.raises(TimestampServiceError, match="not a TimeStampResp") as info:
            client.timestamp(DATA)
    assert isinstance(info.value, InvalidInput)
    assert url in str(info.value)


def test_http_500(tmp_path: Path) -> None:
    with running_tsa(tmp_path, mode="http500") as url:
        with pytest.raises(TimestampServiceError, match="answered HTTP 500"):
            HttpTimestampClient(url).timestamp(DATA)


def test_refused_request(tsa_url: str) -> None:
    # The test TSA accepts sha256/sha384/sha512 imprints only: a real rejection.
    with pytest.raises(TimestampServiceError, match="refused the request: status rejection"):
        HttpTimestampClient(tsa_url, hash_name="sha224").timestamp(DATA)


def test_replayed_response_has_wrong_nonce(tmp_path: Path) -> None:
    with running_tsa(tmp_path, mode="replay") as url:
        client = HttpTimestampClient(url)
        client.timestamp(DATA)
        with pytest.raises(VerificationFailed, match="nonce does not match"):
            client.timestamp(DATA)


def test_unreachable_tsa() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(TimestampServiceError, match="cannot reach TSA"):
        HttpTimestampClient(f"http://127.0.0.1:{port}/", timeout=5).timestamp(DATA)


@pytest.mark.parametrize(
    "url", ["ftp://tsa.example/", "file:///etc/passwd", "tsa.example", "http:///nohost", ""]
)
def test_only_http_urls(url: str) -> None:
    with pytest.raises(InvalidInput, match="http:// or https://"):
        HttpTimestampClient(url)


def test_client_arguments() -> None:
    with pytest.raises(UnsupportedAlgorithm):
        HttpTimestampClient("https://tsa.example/", hash_name="whirlpool")
    with pytest.raises(PolicyViolation):
        HttpTimestampClient("https://tsa.example/", hash_name="sha1")
    with pytest.raises(InvalidInput, match="timeout"):
        HttpTimestampClient("https://tsa.example/", timeout=0)
    client = HttpTimestampClient("https://user:secret@tsa.example/ts")
    assert "secret" not in repr(client)


# --------------------------------------------------------------------------- helpers


def _load_key(path: Path) -> Any:
    return serialization.load_pem_private_key(path.read_bytes(), password=None)


def _issue_tsa(folder: Path, scheme: str) -> tuple[Path, Path]:
    """A TSA certificate (EKU timeStamping) of the test CA for a new key of ``scheme``."""
    ca_cert = keys.load_certificate(PKI / "ca.cert.pem")
    ca_key = _load_key(PKI / "ca.key.pem")
    key = keys.generate_private_key(scheme)
    cert = keys.issue_certificate(
        key, f"dicomsec test TSA {scheme}", issuer_key=ca_key, issuer_cert=ca_cert,
        days=30, extra_key_usage=[ExtendedKeyUsageOID.TIME_STAMPING],
    )
    folder.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = folder / f"tsa-{scheme}.cert.pem", folder / f"tsa-{scheme}.key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    keys.write_private_key(key, key_path)
    return cert_path, key_path


def _resign(
    token: bytes, cert_path: Path, key: Any, *, pss: bool = False, keep_ess: bool = False
) -> bytes:
    """The token signed again by ``key`` (a test stand-in for a TSA with that key type)."""
    cert_der = x509.load_pem_x509_certificate(cert_path.read_bytes()).public_bytes(
        serialization.Encoding.DER
    )
    new_cert = asn1_x509.Certificate.load(cert_der)
    info = cms.ContentInfo.load(token)
    signed_data = info["content"]
    signer = signed_data["signer_infos"][0]
    signed_data["certificates"] = [cms.CertificateChoices({"certificate": new_cert})]
    signer["sid"] = cms.SignerIdentifier({"issuer_and_serial_number": {
        "issuer": new_cert.issuer, "serial_number": new_cert.serial_number}})
    attrs = []
    for attr in signer["signed_attrs"]:
        if attr["type"].native == "signing_certificate_v2" and not keep_ess:
            attr = cms.CMSAttribute({"type": "signing_certificate_v2", "values": [
                {"certs": [{"cert_hash": _sha256(cert_der)}]}]})
        attrs.append(attr)
    signer["signed_attrs"] = attrs
    to_sign = b"\x31" + signer["signed_attrs"].dump(force=True)[1:]
    if isinstance(key, rsa.RSAPrivateKey) and pss:
        signer["signature_algorithm"] = {"algorithm": "rsassa_pss", "parameters": {
            "hash_algorithm": {"algorithm": "sha256"},
            "mask_gen_algorithm": {"algorithm": "mgf1", "parameters": {"algorithm": "sha256"}},
            "salt_length": 32, "trailer_field": "trailer_field_bc"}}
        signature = key.sign(to_sign, padding.PSS(padding.MGF1(hashes.SHA256()), 32),
                             hashes.SHA256())
    elif isinstance(key, ec.EllipticCurvePrivateKey):
        signer["signature_algorithm"] = {"algorithm": "sha256_ecdsa"}
        signature = key.sign(to_sign, ec.ECDSA(hashes.SHA256()))
    elif isinstance(key, ed25519.Ed25519PrivateKey):
        signer["signature_algorithm"] = {"algorithm": "ed25519"}
        signature = key.sign(to_sign)
    else:
        raise AssertionError(f"no test signer for {type(key).__name__}")
    signer["signature"] = signature
    return bytes(info.dump(force=True))


def _sha256(data: bytes) -> bytes:
    digest = hashes.Hash(hashes.SHA256())
    digest.update(data)
    return digest.finalize()
