"""Attacks found in review: each must fail verification (or be refused), never pass or crash."""

from __future__ import annotations

import datetime as dt
import json
import struct
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from dicomsec._rawdicom import parse_file
from dicomsec.cli import main as cli_main
from dicomsec.keys import FileSigningKey, generate_private_key, issue_certificate
from dicomsec.signatures import sign_file, verify_file
from dicomsec.trust import TrustStore
from tests.conftest import (
    DCMSIGN_FIXTURES,
    PKI,
    PYDICOM_FILES,
    cli_sign,
    require_tool,
)
from tests.tsa import running_tsa

CT = PYDICOM_FILES / "CT_small.dcm"
SR = PYDICOM_FILES / "reportsi.dcm"
CA = PKI / "ca.cert.pem"


def _verify_json(path: Path, *extra: str) -> tuple[int, dict[str, object]]:
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = cli_main(["verify", str(path), "--trust", str(CA), "--json", *extra])
    data = json.loads(buf.getvalue())
    assert isinstance(data, list)
    return rc, data[0]


def _element(tag: int, vr: str, value: bytes) -> bytes:
    return struct.pack("<HH", tag >> 16, tag & 0xFFFF) + vr.encode() + b"\0\0" + struct.pack(
        "<L", len(value)) + value


def test_duplicate_attribute_is_refused(tmp_path: Path) -> None:
    signed = tmp_path / "s.dcm"
    cli_sign(CT, signed, "ecp256")
    name = parse_file(signed).dataset.find(0x00100010)
    assert name is not None
    data = bytearray(signed.read_bytes())
    data[name.offset:name.offset] = _element(0x00100010, "UN", b"Mallory^Eve ")
    forged = tmp_path / "forged.dcm"
    forged.write_bytes(bytes(data))
    assert cli_main(["verify", str(forged), "--trust", str(CA)]) == 2


def test_backdating_does_not_dodge_revocation(tmp_path: Path) -> None:
    now = dt.datetime.now(dt.UTC)
    ca_key = generate_private_key("ecdsa-p256")
    ca = issue_certificate(ca_key, "Revoking CA", ca=True, not_before=now - dt.timedelta(days=90))
    leaf_key = generate_private_key("ecdsa-p256")
    leaf = issue_certificate(leaf_key, "leaf", issuer_key=ca_key, issuer_cert=ca,  # type: ignore[arg-type]
                             not_before=now - dt.timedelta(days=60))
    revoked = (x509.RevokedCertificateBuilder().serial_number(leaf.serial_number)
               .revocation_date(now - dt.timedelta(days=1))
               .add_extension(x509.CRLReason(x509.ReasonFlags.key_compromise), critical=False)
               .build())
    crl = (x509.CertificateRevocationListBuilder().issuer_name(ca.subject)
           .last_update(now - dt.timedelta(hours=1)).next_update(now + dt.timedelta(days=7))
           .add_revoked_certificate(revoked).sign(ca_key, hashes.SHA256()))  # type: ignore[arg-type]
    (tmp_path / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "crl.pem").write_bytes(crl.public_bytes(serialization.Encoding.PEM))
    trust = TrustStore.from_paths([tmp_path / "ca.pem"], crls=[tmp_path / "crl.pem"])
    key = FileSigningKey(leaf_key, leaf)
    out = tmp_path / "backdated.dcm"
    sign_file(CT, out, key=key, now=now - dt.timedelta(days=30))
    report = verify_file(out, trust=trust)
    assert not report.ok
    assert any("revoked" in p for p in report.signatures[0].problems)


def test_unsigned_required_attribute_as_un_breaks_the_profile(tmp_path: Path) -> None:
    signed = tmp_path / "s.dcm"
    cli_sign(CT, signed, "rsa2048", "--profile", "creator", "--tag", "PatientName")
    rc, _before = _verify_json(signed, "--require", "creator")
    assert rc == 0
    parsed = parse_file(signed)
    nxt = min(e.offset for e in parsed.dataset.elements if e.tag > 0x00280034)
    data = bytearray(signed.read_bytes())
    data[nxt:nxt] = _element(0x00280034, "UN", b"4\\3 ")  # Pixel Aspect Ratio, unsigned
    forged = tmp_path / "forged.dcm"
    forged.write_bytes(bytes(data))
    rc, after = _verify_json(forged, "--require", "creator")
    assert rc == 1
    sig = after["signatures"][0]  # type: ignore[index]
    assert "creator" not in sig["profiles"]


@pytest.mark.parametrize("flip_at", [20, 60, 200, 400])
def test_malformed_certificate_is_a_problem_not_a_crash(tmp_path: Path, flip_at: int,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    signed = tmp_path / "s.dcm"
    cli_sign(CT, signed, "ecp256")
    parsed = parse_file(signed)
    seq = parsed.dataset.find(0xFFFAFFFA)
    assert seq is not None and seq.items
    cert = next(e for e in seq.items[0].elements if e.tag == 0x04000115)
    data = bytearray(signed.read_bytes())
    data[cert.value_offset + flip_at] ^= 0x41
    forged = tmp_path / "forged.dcm"
    forged.write_bytes(bytes(data))
    capsys.readouterr()
    rc = cli_main(["verify", str(forged), "--trust", str(CA)])
    assert rc == 1
    assert "internal error" not in capsys.readouterr().err


def test_data_elements_signed_with_wrong_vr_fails_cleanly(tmp_path: Path) -> None:
    signed = tmp_path / "s.dcm"
    cli_sign(CT, signed, "ecp256")
    parsed = parse_file(signed)
    mac = parsed.dataset.find(0x4FFE0001)
    assert mac is not None and mac.items
    des = next(e for e in mac.items[0].elements if e.tag == 0x04000020)
    data = bytearray(signed.read_bytes())
    data[des.offset + 4:des.offset + 6] = b"OB"  # same header size: AT is short, OB long
    forged = tmp_path / "forged.dcm"
    forged.write_bytes(bytes(data))
    rc = cli_main(["verify", str(forged), "--trust", str(CA)])
    assert rc in (1, 2)


@pytest.mark.parametrize("scheme", ["ml-dsa-65", "ml-dsa-87", "ed448"])
def test_odd_length_values_with_a_timestamp(tmp_path: Path, scheme: str) -> None:
    """The timestamp covers the value without its pad byte, for every encoding."""
    from dicomsec.keys import load_certificate, load_private_key
    from dicomsec.signatures.timestamp import HttpTimestampClient

    ca_key = load_private_key(PKI / "ca.key.pem")
    ca = load_certificate(CA)
    leaf_key = generate_private_key(scheme)
    leaf = issue_certificate(leaf_key, scheme, issuer_key=ca_key, issuer_cert=ca)  # type: ignore[arg-type]
    out = tmp_path / "ts.dcm"
    with running_tsa(tmp_path / "tsa") as url:
        sign_file(CT, out, key=FileSigningKey(leaf_key, leaf),
                  timestamp_client=HttpTimestampClient(url))
    report = verify_file(out, trust=TrustStore.from_paths([CA]))
    assert report.ok, report.signatures[0].problems
    assert report.signatures[0].timestamp is not None and report.signatures[0].timestamp.ok


def test_remove_all_with_signatures_under_a_shared_item(tmp_path: Path) -> None:
    dcmsign = require_tool("dcmsign")
    a, b, c = tmp_path / "a.dcm", tmp_path / "b.dcm", tmp_path / "c.dcm"
    # dcmsign's own file has defined lengths, so the shared ancestors' length fields change
    base = DCMSIGN_FIXTURES / "sr_rsa2048_sha256_srprofile.dcm"
    cli_sign(base, a, "ecp256", "--item", "ContentSequence[4].ContentSequence[0]")
    cli_sign(a, b, "ecp256", "--item", "ContentSequence[4]")
    cli_sign(b, c, "ecp256", "--item", "ContentSequence[1]")
    out = tmp_path / "clean.dcm"
    assert cli_main(["signatures", "remove", str(c), "--all", "-o", str(out)]) == 0
    assert verify_file(out).signatures == ()
    import subprocess

    proc = subprocess.run([dcmsign, "--verify", str(out)], capture_output=True, text=True,
                          check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
