"""Inner SignedData / DigestedData: building around a DICOM File, streaming extraction, checks.

Real-peer cross checks run the OpenSSL CLI both ways (ours -> openssl cms -verify /
-digest_verify, openssl cms -sign / -digest_create -> ours), in all three nesting forms.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import io
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import cms
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from dicomsec import algorithms
from dicomsec.algorithms import Kind
from dicomsec.cms import ID_DATA, ID_DIGESTED_DATA, ID_ENVELOPED_DATA, ID_SIGNED_DATA
from dicomsec.cms._der import encode_header, encode_oid
from dicomsec.cms.signed import (
    CHUNK_SIZE,
    CmsSigner,
    InnerReport,
    digested_data_parts,
    extract_inner,
    signed_data_parts,
)
from dicomsec.errors import InvalidInput, PolicyViolation
from dicomsec.trust import TrustStore
from tests.conftest import PKI, PYDICOM_FILES, require_tool

PKI_CMS = PKI.parent / "pki-cms"
CT_SMALL = PYDICOM_FILES / "CT_small.dcm"
CONTENT = CT_SMALL.read_bytes()
TRUST = TrustStore.from_paths([PKI_CMS / "ca.pem"])
WRONG_TRUST = TrustStore.from_paths([PKI / "ca.cert.pem"])


# --------------------------------------------------------------------------- helpers


def _signer(name: str, **kw: Any) -> CmsSigner:
    key = serialization.load_pem_private_key((PKI_CMS / f"signer-{name}.key").read_bytes(), None)
    cert = x509.load_pem_x509_certificate((PKI_CMS / f"signer-{name}.pem").read_bytes())
    return CmsSigner(key, cert, **kw)


def _hash(digest: str, data: bytes) -> bytes:
    h = algorithms.new_hasher(algorithms.by_name(digest, Kind.DIGEST))
    h.update(data)
    return h.digest()


def _signed(signers: Sequence[CmsSigner], digest: str = "sha256", content: bytes = CONTENT,
            **kw: Any) -> bytes:
    prefix, suffix = signed_data_parts(len(content), _hash(digest, content), signers,
                                       digest=digest, **kw)
    return prefix + content + suffix


def _digested(digest: str = "sha256", content: bytes = CONTENT, **kw: Any) -> bytes:
    prefix, suffix = digested_data_parts(len(content), _hash(digest, content), digest, **kw)
    return prefix + content + suffix


def _extract(der: bytes, content_type: str, trust: TrustStore | None = TRUST
             ) -> tuple[InnerReport, bytes]:
    out = io.BytesIO()
    report = extract_inner(io.BytesIO(der), len(der), content_type, out, trust=trust)
    return report, out.getvalue()


def _content_info(der: bytes, content_type: str) -> bytes:
    """Our SignedData/DigestedData value wrapped in a ContentInfo (asn1crypto re-encodes)."""
    spec = cms.SignedData if content_type == ID_SIGNED_DATA else cms.DigestedData
    info = cms.ContentInfo({"content_type": content_type, "content": spec.load(der)}).dump()
    assert der in info  # asn1crypto kept our encoding
    return bytes(info)


def _flip(der: bytes, at: int) -> bytes:
    out = bytearray(der)
    out[at] ^= 0x01
    return bytes(out)


def _content_offset(der: bytes) -> int:
    off = der.find(CONTENT)
    assert off > 0
    return off


# --------------------------------------------------------------------------- DigestedData


@pytest.mark.parametrize("digest", ["sha256", "sha384", "sha512", "sha3-256"])
def test_digested_round_trip(digest: str) -> None:
    der = _digested(digest)
    report, out = _extract(der, ID_DIGESTED_DATA)
    assert out == CONTENT
    assert (report.kind, report.form, report.digest, report.digest_ok) == (
        "digested", "strict", digest, True)
    assert report.ok and report.signers == ()
    assert report.to_dict()["ok"] is True


def test_digested_structure_is_der_per_asn1crypto() -> None:
    der = _digested("sha512")
    parsed = cms.DigestedData.load(der, strict=True)
    assert parsed["version"].native == "v0"
    assert parsed["digest_algorithm"]["algorithm"].dotted == algorithms.by_name("sha512").oid
    assert parsed["encap_content_info"]["content_type"].dotted == ID_DATA
    assert parsed["encap_content_info"]["content"].native == CONTENT
    assert parsed["digest"].native == hashlib.sha512(CONTENT).digest()
    assert parsed.dump(force=True) == der  # canonical DER


def test_digested_tampered_content() -> None:
    der = _digested()
    report, out = _extract(_flip(der, _content_offset(der) + 1000), ID_DIGESTED_DATA)
    assert report.digest_ok is False and not report.ok
    assert len(out) == len(CONTENT) and out != CONTENT  # streamed; the caller discards it


def test_digested_openssl_pipeline_form() -> None:
    info = _content_info(_digested(), ID_DIGESTED_DATA)
    report, out = _extract(info, ID_DATA)
    assert (report.kind, report.form, report.ok) == ("digested", "openssl-pipeline", True)
    assert out == CONTENT


def test_digested_bad_arguments() -> None:
    with pytest.raises(InvalidInput):
        digested_data_parts(10, b"\x00" * 31, "sha256")
    with pytest.raises(InvalidInput):
        digested_data_parts(-1, b"\x00" * 32, "sha256")
    with pytest.raises(InvalidInput):  # UnsupportedAlgorithm
        digested_data_parts(10, b"\x00" * 32, "nope")
    with pytest.raises(PolicyViolation):
        digested_data_parts(10, b"\x00" * 20, "sha1")
    report, out = _extract(_digested("sha1", allow_legacy=True), ID_DIGESTED_DATA)
    assert report.ok and out == CONTENT


# --------------------------------------------------------------------------- SignedData


SIGNED_CASES = [
    ("rsa2048", {}, "sha256", "sha256-with-rsa"),
    ("rsa2048", {"digest": "sha384"}, "sha384", "sha384-with-rsa"),
    ("rsa2048", {"digest": "sha512"}, "sha512", "sha512-with-rsa"),
    ("rsa2048", {"digest": "sha3-256"}, "sha3-256", "sha3-256-with-rsa"),
    ("rsa2048", {"rsa_pss": True}, "sha256", "rsassa-pss"),
    ("rsa2048", {"rsa_pss": True, "digest": "sha512"}, "sha512", "rsassa-pss"),
    ("rsa2048", {"rsa_pss": True, "digest": "sha3-256"}, "sha3-256", "rsassa-pss"),
    ("p256", {}, "sha256", "ecdsa-with-sha256"),
    ("p256", {"digest": "sha384"}, "sha384", "ecdsa-with-sha384"),
    ("p256", {"digest": "sha512"}, "sha512", "ecdsa-with-sha512"),
    ("p256", {"digest": "sha3-256"}, "sha3-256", "ecdsa-with-sha3-256"),
    ("ed25519", {}, "sha512", "cms-ed25519"),
]


@pytest.mark.parametrize(("name", "kw", "digest", "alg"), SIGNED_CASES)
def test_signed_round_trip(name: str, kw: dict[str, Any], digest: str, alg: str) -> None:
    when = _dt.datetime(2030, 5, 6, 7, 8, 9, tzinfo=_dt.UTC)
    der = _signed([_signer(name, **kw)], digest, signing_time=when)
    report, out = _extract(der, ID_SIGNED_DATA)
    assert out == CONTENT
    assert (report.kind, report.form, report.digest) == ("signed", "strict", digest)
    assert report.ok, report.to_dict()
    (signer,) = report.signers
    assert (signer.algorithm, signer.digest, signer.valid, signer.trusted) == (
        alg, digest, True, True)
    assert signer.signing_time == when
    assert f"CN=signer-{name}" in signer.signer and signer.problems == ()
    # the pipeline form of the same value
    report, out = _extract(_content_info(der, ID_SIGNED_DATA), ID_DATA)
    assert (report.form, report.ok, out == CONTENT) == ("openssl-pipeline", True, True)


def test_signed_structure() -> None:
    der = _signed([_signer("p256")])
    sd = cms.SignedData.load(der, strict=True)
    assert sd["version"].native == "v1"
    assert sd.dump(force=True) == der  # canonical DER (sorted SETs)
    si = sd["signer_infos"][0]
    assert si["version"].native == "v1"
    assert si["sid"].name == "issuer_and_serial_number"
    assert si["sid"].chosen["serial_number"].native == 0x4002
    attrs = {a["type"].dotted: a["values"][0] for a in si["signed_attrs"]}
    assert attrs["1.2.840.113549.1.9.3"].dotted == ID_DATA
    assert attrs["1.2.840.113549.1.9.4"].native == hashlib.sha256(CONTENT).digest()
    assert "1.2.840.113549.1.9.5" in attrs
    assert len(sd["certificates"]) == 1
    assert si["signature_algorithm"]["parameters"].native is None


def test_signed_pss_parameters_written() -> None:
    sd = cms.SignedData.load(_signed([_signer("rsa2048", rsa_pss=True, digest="sha384")],
                                     "sha384"))
    params = sd["signer_infos"][0]["signature_algorithm"]["parameters"]
    assert params["hash_algorithm"]["algorithm"].native == "sha384"
    assert params["mask_gen_algorithm"]["algorithm"].native == "mgf1"
    assert params["mask_gen_algorithm"]["parameters"]["algorithm"].native == "sha384"
    assert params["salt_length"].native == 48


def test_signing_time_after_2049_is_generalized_time() -> None:
    when = _dt.datetime(2051, 1, 1, tzinfo=_dt.UTC)
    der = _signed([_signer("rsa2048")], signing_time=when)
    report, _ = _extract(der, ID_SIGNED_DATA)
    assert report.signers[0].signing_time == when
    assert b"\x18\x0f20510101000000Z" in der


def test_two_signers() -> None:
    der = _signed([_signer("rsa2048"), _signer("p256"), _signer("rsa2048", rsa_pss=True)])
    report, out = _extract(der, ID_SIGNED_DATA)
    assert out == CONTENT and report.ok and len(report.signers) == 3
    assert len(cms.SignedData.load(der)["certificates"]) == 2  # deduplicated


def test_signed_tampered_content() -> None:
    der = _signed([_signer("rsa2048")])
    report, out = _extract(_flip(der, _content_offset(der) + 500), ID_SIGNED_DATA)
    assert not report.ok and len(out) == len(CONTENT)
    (signer,) = report.signers
    assert not signer.valid
    assert any("message-digest" in p for p in signer.problems)


@pytest.mark.parametrize("name", ["rsa2048", "p256", "ed25519"])
def test_signed_tampered_signature(name: str) -> None:
    digest = "sha512" if name == "ed25519" else "sha256"
    der = _signed([_signer(name)], digest)
    report, _ = _extract(_flip(der, len(der) - 3), ID_SIGNED_DATA)
    assert not report.ok and not report.signers[0].valid
    assert any("does not verify" in p for p in report.signers[0].problems)


def test_wrong_trust_anchor_and_no_trust() -> None:
    der = _signed([_signer("p256")])
    report, _ = _extract(der, ID_SIGNED_DATA, trust=WRONG_TRUST)
    (signer,) = report.signers
    assert signer.valid and not signer.trusted and not report.ok
    assert any("not trusted" in p for p in signer.problems)
    report, _ = _extract(der, ID_SIGNED_DATA, trust=None)
    assert report.ok and not report.trust_checked and not report.signers[0].trusted


def test_signing_time_outside_certificate_validity_is_untrusted() -> None:
    der = _signed([_signer("rsa2048")], signing_time=_dt.datetime(2001, 1, 1, tzinfo=_dt.UTC))
    report, _ = _extract(der, ID_SIGNED_DATA)
    assert report.signers[0].valid and not report.signers[0].trusted and not report.ok


def test_signer_argument_checks() -> None:
    rsa = _signer("rsa2048")
    assert "redacted" in repr(rsa) and "PrivateKey" not in repr(rsa)
    with pytest.raises(InvalidInput, match="does not match"):
        CmsSigner(rsa.key, _signer("p256").certificate)
    with pytest.raises(InvalidInput, match="RSA-PSS"):
        _signer("p256", rsa_pss=True)
    with pytest.raises(InvalidInput):
        _signer("rsa2048", digest="nope")
    with pytest.raises(InvalidInput, match="sha512"):
        _signed([_signer("ed25519")], "sha256")  # Ed25519 needs SHA-512 (RFC 8419)
    with pytest.raises(InvalidInput):
        _signed([_signer("rsa2048", digest="sha384")], "sha256")
    with pytest.raises(InvalidInput):
        _signed([], "sha256")
    with pytest.raises(PolicyViolation):
        _signed([_signer("rsa2048", digest="sha1")], "sha1")
    report, out = _extract(_signed([_signer("rsa2048", digest="sha1")], "sha1",
                                   allow_legacy=True), ID_SIGNED_DATA)
    assert report.ok and out == CONTENT
    assert "legacy digest algorithm sha1" in report.signers[0].problems


def test_ed25519_without_signed_attributes_is_reported() -> None:
    signer = _signer("ed25519")
    key = signer.key
    assert isinstance(key, ed25519.Ed25519PrivateKey)
    sd = cms.SignedData.load(_signed([signer], "sha512"))
    si = sd["signer_infos"][0]
    bare = cms.SignerInfo({
        "version": "v1",
        "sid": si["sid"],
        "digest_algorithm": si["digest_algorithm"],
        "signature_algorithm": si["signature_algorithm"],
        "signature": key.sign(CONTENT),
    })
    sd["signer_infos"] = [bare]
    report, out = _extract(sd.dump(force=True), ID_SIGNED_DATA)
    assert out == CONTENT and not report.ok
    assert report.signers[0].problems[0] == "unsupported: EdDSA without signed attributes"


def test_signer_certificate_missing() -> None:
    sd = cms.SignedData.load(_signed([_signer("rsa2048")]))
    del sd["certificates"]
    report, _ = _extract(sd.dump(force=True), ID_SIGNED_DATA)
    assert not report.ok and not report.signers[0].valid
    assert "serial 0x4001" in report.signers[0].signer


def test_econtent_type_other_than_data_is_a_problem() -> None:
    sd = cms.SignedData.load(_signed([_signer("rsa2048")]))
    sd["encap_content_info"]["content_type"] = "1.2.3.4"
    report, _ = _extract(sd.dump(force=True), ID_SIGNED_DATA)
    assert not report.ok and report.problems
    assert "differs from the eContentType" in report.signers[0].problems[0]


# --------------------------------------------------------------------------- forms and input


def test_plain_dicom_file() -> None:
    report, out = _extract(CONTENT, ID_DATA)
    assert (report.kind, report.form, report.digest, report.digest_ok) == (
        "data", "plain", None, None)
    assert report.ok and out == CONTENT


def test_plain_data_that_is_not_a_content_info() -> None:
    for data in (b"", b"\x08\x00\x05\x00CS", b"\x30\x05\x06\x03\x2a\x03\x04" + b"x" * 300,
                 b"\x30\x82\xff\xff"):
        report, out = _extract(data, ID_DATA)
        assert report.form == "plain" and out == data


def test_malformed_input_raises_invalid_input() -> None:
    der = _signed([_signer("rsa2048")])
    with pytest.raises(InvalidInput):
        _extract(der[:-10], ID_SIGNED_DATA)
    with pytest.raises(InvalidInput):
        _extract(der + b"\x00", ID_SIGNED_DATA)
    with pytest.raises(InvalidInput):
        _extract(_digested()[:200], ID_DIGESTED_DATA)
    with pytest.raises(InvalidInput):
        _extract(der, ID_ENVELOPED_DATA)
    with pytest.raises(InvalidInput):
        _extract(b"\x04\x03abc", ID_SIGNED_DATA)
    # a SignerInfo whose sid is not a SignerIdentifier
    at = der.rindex(b"\x02\x01\x01\x30")
    with pytest.raises(InvalidInput, match="SignerInfo"):
        _extract(der[: at + 3] + b"\x04" + der[at + 4 :], ID_SIGNED_DATA)
    # a ContentInfo(signedData) with broken content is an error, not plain data
    broken = _content_info(der, ID_SIGNED_DATA)
    with pytest.raises(InvalidInput):
        _extract(broken[:-5], ID_DATA)


def _ber_digested(content: bytes, chunk: int, *, indefinite: bool) -> bytes:
    """DigestedData with a constructed (chunked) eContent, definite or indefinite lengths."""
    alg = algorithms.by_name("sha256")
    pieces = b"".join(
        encode_header(0x04, len(content[i:i + chunk])) + content[i:i + chunk]
        for i in range(0, len(content), chunk)
    )
    eoc = b"\x00\x00"

    def cons(identifier: int, body: bytes) -> bytes:
        if indefinite:
            return encode_header(identifier, None) + body + eoc
        return encode_header(identifier, len(body)) + body

    encap = cons(0x30, encode_oid(ID_DATA) + cons(0xA0, cons(0x24, pieces)))
    algid = encode_header(0x30, len(encode_oid(alg.oid))) + encode_oid(alg.oid)
    digest = encode_header(0x04, 32) + hashlib.sha256(content).digest()
    return cons(0x30, b"\x02\x01\x00" + algid + encap + digest)


@pytest.mark.parametrize("indefinite", [True, False])
def test_ber_chunked_econtent(indefinite: bool) -> None:
    der = _ber_digested(CONTENT, 4096, indefinite=indefinite)
    report, out = _extract(der, ID_DIGESTED_DATA)
    assert report.ok and out == CONTENT


class _Recorder(io.BytesIO):
    """A file that remembers the largest read and write."""

    max_read = 0
    max_write = 0

    def read(self, n: int | None = -1, /) -> bytes:
        assert n is not None and n >= 0, "whole-file read"
        self.max_read = max(self.max_read, n)
        return super().read(n)

    def write(self, data: Any, /) -> int:
        self.max_write = max(self.max_write, len(data))
        return super().write(data)


def test_large_content_is_streamed_in_pieces() -> None:
    content = CONTENT + bytes(range(256)) * (3 * CHUNK_SIZE // 256 + 17)
    for der, ctype in (
        (_signed([_signer("p256")], content=content), ID_SIGNED_DATA),
        (_digested(content=content), ID_DIGESTED_DATA),
        (_ber_digested(content, 3 * CHUNK_SIZE // 2, indefinite=True), ID_DIGESTED_DATA),
        (content, ID_DATA),
    ):
        src, dst = _Recorder(der), _Recorder()
        report = extract_inner(src, len(der), ctype, dst, trust=TRUST)
        assert report.ok and dst.getvalue() == content
        assert src.max_read <= CHUNK_SIZE and dst.max_write <= CHUNK_SIZE


# --------------------------------------------------------------------------- OpenSSL, both ways


def _openssl(*args: str | Path) -> subprocess.CompletedProcess[str]:
    exe = require_tool("openssl")
    return subprocess.run([exe, *map(str, args)], capture_output=True, text=True, timeout=120,
                          check=False)


@pytest.mark.peer
@pytest.mark.parametrize(("name", "kw", "digest"), [
    ("rsa2048", {}, "sha256"),
    ("rsa2048", {"digest": "sha512"}, "sha512"),
    ("rsa2048", {"digest": "sha3-256"}, "sha3-256"),
    ("rsa2048", {"rsa_pss": True}, "sha256"),
    ("rsa2048", {"rsa_pss": True, "digest": "sha384"}, "sha384"),
    ("p256", {}, "sha256"),
    ("p256", {"digest": "sha384"}, "sha384"),
])
def test_openssl_verifies_our_signed_data(tmp_path: Path, name: str, kw: dict[str, Any],
                                          digest: str) -> None:
    ci = tmp_path / "ci.der"
    ci.write_bytes(_content_info(_signed([_signer(name, **kw)], digest), ID_SIGNED_DATA))
    out = tmp_path / "out.dcm"
    proc = _openssl("cms", "-verify", "-binary", "-inform", "DER", "-in", ci,
                    "-CAfile", PKI_CMS / "ca.pem", "-out", out)
    assert proc.returncode == 0, proc.stderr
    assert out.read_bytes() == CONTENT


@pytest.mark.peer
def test_openssl_verifies_our_two_signers(tmp_path: Path) -> None:
    ci = tmp_path / "ci.der"
    ci.write_bytes(_content_info(_signed([_signer("rsa2048"), _signer("p256")]), ID_SIGNED_DATA))
    out = tmp_path / "out.dcm"
    proc = _openssl("cms", "-verify", "-binary", "-inform", "DER", "-in", ci,
                    "-CAfile", PKI_CMS / "ca.pem", "-out", out)
    assert proc.returncode == 0, proc.stderr
    assert out.read_bytes() == CONTENT


@pytest.mark.peer
@pytest.mark.parametrize("digest", ["sha256", "sha384", "sha512", "sha3-256"])
def test_openssl_verifies_our_digested_data(tmp_path: Path, digest: str) -> None:
    ci = tmp_path / "ci.der"
    ci.write_bytes(_content_info(_digested(digest), ID_DIGESTED_DATA))
    out = tmp_path / "out.dcm"
    proc = _openssl("cms", "-digest_verify", "-binary", "-inform", "DER", "-in", ci,
                    "-out", out)
    assert proc.returncode == 0, proc.stderr
    assert out.read_bytes() == CONTENT


@pytest.mark.peer
def test_openssl_rejects_our_tampered_digested_data(tmp_path: Path) -> None:
    der = _digested()
    ci = tmp_path / "ci.der"
    ci.write_bytes(_content_info(_flip(der, _content_offset(der) + 10), ID_DIGESTED_DATA))
    proc = _openssl("cms", "-digest_verify", "-binary", "-inform", "DER", "-in", ci,
                    "-out", tmp_path / "out.dcm")
    assert proc.returncode != 0


def _strip_content_info(info: bytes) -> tuple[str, bytes]:
    """(contentType, the content's value encoding) of a ContentInfo, encoding kept."""
    parsed = cms.ContentInfo.load(info)
    content = parsed["content"].copy()
    content.explicit = None  # drop the [0] EXPLICIT wrapper; the contents stay as received (BER)
    return parsed["content_type"].dotted, bytes(content.dump())


def _check_both_forms(info: bytes, kind: str, *, signers: int = 1) -> None:
    report, out = _extract(info, ID_DATA)
    assert (report.kind, report.form) == (kind, "openssl-pipeline")
    assert report.ok, report.to_dict()
    assert out == CONTENT
    assert len(report.signers) == signers
    content_type, value = _strip_content_info(info)
    report, out = _extract(value, content_type)
    assert (report.kind, report.form, report.ok) == (kind, "strict", True), report.to_dict()
    assert out == CONTENT


OPENSSL_SIGN_CASES = [
    ("rsa2048", ()),
    ("rsa2048", ("-md", "sha512")),
    ("rsa2048", ("-keyopt", "rsa_padding_mode:pss")),
    ("rsa2048", ("-keyid",)),  # SignerIdentifier = subjectKeyIdentifier
    ("rsa2048", ("-noattr",)),  # signature over the content itself
    ("rsa2048", ("-stream",)),  # BER, indefinite lengths, chunked eContent
    ("rsa2048", ("-stream", "-md", "sha512")),  # (openssl 3.0 cannot -stream with PSS)
    ("p256", ()),
    ("p256", ("-noattr",)),
    ("p256", ("-stream", "-md", "sha384")),
]


@pytest.mark.peer
@pytest.mark.parametrize(("name", "extra"), OPENSSL_SIGN_CASES)
def test_we_extract_openssl_signed_data(tmp_path: Path, name: str,
                                        extra: tuple[str, ...]) -> None:
    ci = tmp_path / "ci.der"
    md = () if "-md" in extra else ("-md", "sha256")
    proc = _openssl("cms", "-sign", "-binary", "-nodetach", *md,
                    "-signer", PKI_CMS / f"signer-{name}.pem",
                    "-inkey", PKI_CMS / f"signer-{name}.key", *extra,  # -keyopt after -inkey
                    "-in", CT_SMALL, "-outform", "DER", "-out", ci)
    assert proc.returncode == 0, proc.stderr
    info = ci.read_bytes()
    if "-stream" in extra:
        assert info[1] == 0x80  # really BER indefinite
    _check_both_forms(info, "signed")
    report, _ = _extract(info, ID_DATA)
    assert report.signers[0].trusted
    report, _ = _extract(info, ID_DATA, trust=WRONG_TRUST)
    assert not report.ok and report.signers[0].valid and not report.signers[0].trusted


@pytest.mark.peer
def test_openssl_detached_signature_is_refused(tmp_path: Path) -> None:
    ci = tmp_path / "ci.der"
    proc = _openssl("cms", "-sign", "-binary", "-md", "sha256",
                    "-signer", PKI_CMS / "signer-rsa2048.pem",
                    "-inkey", PKI_CMS / "signer-rsa2048.key",
                    "-in", CT_SMALL, "-outform", "DER", "-out", ci)
    assert proc.returncode == 0, proc.stderr
    with pytest.raises(InvalidInput, match="detached"):
        _extract(ci.read_bytes(), ID_DATA)


@pytest.mark.peer
@pytest.mark.parametrize(("digest", "stream"), [
    ("sha256", False), ("sha512", False), ("sha3-256", False), ("sha256", True)])
def test_we_extract_openssl_digested_data(tmp_path: Path, digest: str, stream: bool) -> None:
    ci = tmp_path / "ci.der"
    proc = _openssl("cms", "-digest_create", "-binary", "-md", digest,
                    *(("-stream",) if stream else ()),
                    "-in", CT_SMALL, "-outform", "DER", "-out", ci)
    assert proc.returncode == 0, proc.stderr
    info = ci.read_bytes()
    _check_both_forms(info, "digested", signers=0)
    report, _ = _extract(info, ID_DATA)
    assert report.digest == digest


@pytest.mark.peer
def test_we_detect_tampered_openssl_signed_data(tmp_path: Path) -> None:
    ci = tmp_path / "ci.der"
    proc = _openssl("cms", "-sign", "-binary", "-nodetach", "-md", "sha256",
                    "-signer", PKI_CMS / "signer-p256.pem", "-inkey", PKI_CMS / "signer-p256.key",
                    "-in", CT_SMALL, "-outform", "DER", "-out", ci)
    assert proc.returncode == 0, proc.stderr
    info = ci.read_bytes()
    report, _ = _extract(_flip(info, info.find(CONTENT) + 4000), ID_DATA)
    assert not report.ok and not report.signers[0].valid


def test_an_algorithm_policy_decides_when_given() -> None:
    """Without a policy the registry status decides (SHA-1 legacy); a policy that forbids
    ECDSA P-256 refuses the signer, naming the policy."""
    from dicomsec.algorithms import Status
    from dicomsec.algorithms.policy import AlgorithmPolicy
    from dicomsec.keys import generate_private_key, issue_certificate

    key = generate_private_key("ecdsa-p256")
    signer = CmsSigner(key, issue_certificate(key, "policy signer"))
    digest = hashlib.sha256(CONTENT).digest()
    default = AlgorithmPolicy.default()
    assert signed_data_parts(len(CONTENT), digest, [signer], digest="sha256", policy=default)
    strict = default.with_status("ecdsa-with-sha256", Status.FORBIDDEN)
    with pytest.raises(PolicyViolation, match="forbidden"):
        signed_data_parts(len(CONTENT), digest, [signer], digest="sha256", policy=strict)
    sha1 = hashlib.sha1(CONTENT).digest()
    with pytest.raises(PolicyViolation):
        digested_data_parts(len(CONTENT), sha1, "sha1", policy=default)
    assert digested_data_parts(len(CONTENT), sha1, "sha1", policy=default, allow_legacy=True)
