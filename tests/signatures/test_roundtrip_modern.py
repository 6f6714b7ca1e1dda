"""Round trips with signature schemes beyond what DICOM profiles and dcmsign 3.6.7 use.

Ed25519, Ed448, ML-DSA-44/65/87, RSASSA-PSS, ECDSA P-521 and deterministic ECDSA (RFC 6979):
signed with our code, verified by our verifier against a throwaway PKI (an ECDSA P-256 CA made
with ``generate_private_key``/``issue_certificate``). Schemes dcmsign cannot read must be reported
as not interoperable.
"""

from __future__ import annotations

import datetime as _dt
import json
from dataclasses import dataclass
from pathlib import Path

import pydicom
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificateIssuerPrivateKeyTypes,
    PrivateKeyTypes,
)
from cryptography.hazmat.primitives.serialization import Encoding

from dicomsec.cli import main as cli_main
from dicomsec.keys import (
    FileSigningKey,
    generate_private_key,
    issue_certificate,
    load_certificate,
    load_private_key,
    write_private_key,
)
from dicomsec.signatures import sign_file, verify_file
from dicomsec.trust import TrustStore
from tests.conftest import PKI, PYDICOM_FILES

CT = PYDICOM_FILES / "CT_small.dcm"
MR = PYDICOM_FILES / "MR_small.dcm"



@dataclass(frozen=True)
class ModernPki:
    folder: Path
    ca_key: PrivateKeyTypes
    ca_cert: x509.Certificate
    trust: TrustStore

    def signer(self, scheme: str, *, rsa_pss: bool = False) -> FileSigningKey:
        key = generate_private_key(scheme)
        issuer: CertificateIssuerPrivateKeyTypes = self.ca_key  # type: ignore[assignment]
        cert = issue_certificate(key, f"modern signer {scheme}", issuer_key=issuer,
                                 issuer_cert=self.ca_cert, days=30)
        return FileSigningKey(key, cert, rsa_pss=rsa_pss)

    def write(self, signer: FileSigningKey, name: str) -> tuple[Path, Path]:
        key_path, cert_path = self.folder / f"{name}.key.pem", self.folder / f"{name}.cert.pem"
        write_private_key(signer.key, key_path)
        cert_path.write_bytes(signer.certificate.public_bytes(Encoding.PEM))
        return key_path, cert_path


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> ModernPki:
    folder = tmp_path_factory.mktemp("modern-pki")
    ca_key = generate_private_key("ecdsa-p256")
    ca_cert = issue_certificate(ca_key, "modern test CA", ca=True, days=30)
    ca_path = folder / "ca.cert.pem"
    ca_path.write_bytes(ca_cert.public_bytes(Encoding.PEM))
    return ModernPki(folder, ca_key, ca_cert, TrustStore.from_paths([ca_path]))


def _signature_value(path: Path, index: int = 0) -> bytes:
    ds = pydicom.dcmread(path)
    value = ds.DigitalSignaturesSequence[index].Signature
    assert isinstance(value, bytes)
    return value


def _tamper_patient_name(src: Path, dst: Path) -> None:
    data = src.read_bytes()
    name = str(pydicom.dcmread(src).PatientName).encode()
    assert data.count(name) == 1
    pos = data.index(name)
    dst.write_bytes(data[:pos] + bytes([name[0] ^ 0x01]) + data[pos + 1:])


MODERN = [
    pytest.param("ed25519", False, "ed25519", id="ed25519"),
    pytest.param("ed448", False, "ed448", id="ed448"),
    pytest.param("ml-dsa-44", False, "ml-dsa-44", id="ml-dsa-44"),
    pytest.param("ml-dsa-65", False, "ml-dsa-65", id="ml-dsa-65"),
    pytest.param("ml-dsa-87", False, "ml-dsa-87", id="ml-dsa-87"),
    pytest.param("rsa3072", True, "rsa-pss", id="rsa-pss"),
]


@pytest.mark.parametrize(("scheme", "pss", "expected"), MODERN)
@pytest.mark.parametrize("mac", ["sha256", "sha512"])
def test_modern_scheme_round_trip(
    scheme: str, pss: bool, expected: str, mac: str, pki: ModernPki, tmp_path: Path,
) -> None:
    out = tmp_path / "signed.dcm"
    signer = pki.signer(scheme, rsa_pss=pss)
    result = sign_file(CT, out, key=signer, mac=mac, purpose=1)
    assert result.signature_algorithm == expected

    report = verify_file(out, trust=pki.trust)
    assert report.ok, [s.problems for s in report.signatures]
    (sig,) = report.signatures
    assert (sig.valid, sig.intact, sig.trusted) == (True, True, True)
    assert sig.signature_algorithm == expected
    assert sig.mac_algorithm == mac.upper()
    assert sig.uid == result.uid
    assert sig.legacy is False
    # dcmsign 3.6.7 cannot check these: our report must say so
    assert sig.interoperable is False
    assert sig.purpose == {"code": "1", "meaning": "Author's Signature"}

    # not trusted without the CA; broken when a signed value changes
    untrusted = verify_file(out, trust=TrustStore.from_paths([PKI / "ca.cert.pem"]))
    assert not untrusted.ok
    assert untrusted.signatures[0].intact and not untrusted.signatures[0].trusted
    tampered = tmp_path / "tampered.dcm"
    _tamper_patient_name(out, tampered)
    broken = verify_file(tampered, trust=pki.trust).signatures[0]
    assert not broken.intact and not broken.valid


@pytest.mark.parametrize(
    ("scheme", "flags", "expected"),
    [("ed25519", (), "ed25519"), ("ed448", (), "ed448"), ("rsa2048", ("--rsa-pss",), "rsa-pss"),
     ("ml-dsa-44", (), "ml-dsa-44")],
)
def test_modern_scheme_via_cli(
    scheme: str, flags: tuple[str, ...], expected: str, pki: ModernPki, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    signer = pki.signer(scheme, rsa_pss=bool(flags))
    key_path, cert_path = pki.write(signer, f"cli-{scheme}")
    out = tmp_path / "signed.dcm"
    assert cli_main(["sign", str(MR), "-o", str(out), "--key", str(key_path),
                     "--cert", str(cert_path), *flags]) == 0
    capsys.readouterr()
    rc = cli_main(["verify", str(out), "--trust", str(pki.folder / "ca.cert.pem"), "--json"])
    (result,) = json.loads(capsys.readouterr().out)
    assert rc == 0, result
    (sig,) = result["signatures"]
    assert sig["signature_algorithm"] == expected
    assert sig["interoperable"] is False
    assert sig["problems"] == []


def test_shared_ed25519_signer_round_trip(tmp_path: Path) -> None:
    """The Ed25519 signer of the shared test PKI (RSA CA), which dcmsign refuses to use."""
    signer = FileSigningKey(load_private_key(PKI / "signer-ed25519.key.pem"),
                            load_certificate(PKI / "signer-ed25519.cert.pem"))
    out = tmp_path / "signed.dcm"
    sign_file(MR, out, key=signer)
    report = verify_file(out, trust=TrustStore.from_paths([PKI / "ca.cert.pem"]))
    assert report.ok
    assert report.signatures[0].signature_algorithm == "ed25519"
    assert report.signatures[0].interoperable is False


def test_deterministic_ecdsa_gives_identical_values(
    pki: ModernPki, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """RFC 6979: same key, same MAC stream -> the same Signature value.

    The stream includes the Digital Signature UID and DateTime, so both are pinned here
    (the UID is generated inside sign_file by signatures._values.new_uid).
    """
    fixed_uid = "2.25.123456789012345678901234567890"
    monkeypatch.setattr("dicomsec.signatures._sign.new_uid", lambda: fixed_uid)
    moment = _dt.datetime.now(_dt.UTC).replace(microsecond=123456)  # inside the cert's validity
    signer = pki.signer("ecdsa-p256")
    outs = [tmp_path / f"det{i}.dcm" for i in range(2)]
    for out in outs:
        result = sign_file(CT, out, key=signer, deterministic=True, now=moment)
        assert result.uid == fixed_uid
    values = [_signature_value(p) for p in outs]
    assert values[0] == values[1]
    assert values[0][0] == 0x30  # DER ECDSA-Sig-Value
    for out in outs:
        report = verify_file(out, trust=pki.trust)
        assert report.ok, [s.problems for s in report.signatures]
        assert report.signatures[0].signature_algorithm == "ecdsa-p256"
        assert report.signatures[0].interoperable is True

    # control: randomised ECDSA over the very same stream gives different values
    rnd = [tmp_path / f"rnd{i}.dcm" for i in range(2)]
    for out in rnd:
        sign_file(CT, out, key=signer, deterministic=False, now=moment)
        assert verify_file(out, trust=pki.trust).ok
    assert _signature_value(rnd[0]) != _signature_value(rnd[1])
    assert values[0] not in {_signature_value(p) for p in rnd}


def _der_total_length(value: bytes) -> int:
    assert value[0] == 0x30
    if value[1] < 0x80:
        return 2 + value[1]
    n = value[1] & 0x7F
    return 2 + n + int.from_bytes(value[2:2 + n], "big")


def test_p521_round_trip_with_odd_and_even_values(pki: ModernPki, tmp_path: Path) -> None:
    """P-521 DER values have either parity; an odd one is stored with a 0x00 pad byte."""
    signer = pki.signer("ecdsa-p521")
    seen: set[int] = set()
    for i in range(40):
        out = tmp_path / f"p521-{i}.dcm"
        result = sign_file(MR, out, key=signer, mac="sha512")
        assert result.signature_algorithm == "ecdsa-p521"
        report = verify_file(out, trust=pki.trust)
        assert report.ok, [s.problems for s in report.signatures]
        assert report.signatures[0].signature_algorithm == "ecdsa-p521"
        value = _signature_value(out)
        der = _der_total_length(value)
        assert len(value) % 2 == 0 and len(value) - der in (0, 1)
        seen.add(der % 2)
        if seen == {0, 1}:
            break
    assert seen == {0, 1}, "did not get both value parities in 40 signatures"


def test_p521_with_shared_root_and_sha384(pki: ModernPki, tmp_path: Path) -> None:
    signer = pki.signer("ecdsa-p521")
    out = tmp_path / "signed.dcm"
    sign_file(CT, out, key=signer, mac="sha384", profile="base")
    report = verify_file(out, trust=pki.trust)
    assert report.ok
    assert "base" in report.signatures[0].profiles
