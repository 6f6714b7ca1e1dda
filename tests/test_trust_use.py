"""Issue 8, item 6: one validator for the certificates we use.

``trust.check_for_use`` refuses, at use, what ``verify`` (or the peer) would refuse: ``sign``
with an expired, not yet valid, CA-only, time-stamping or keyEncipherment-only certificate;
``wrap --to`` an expired certificate or an RSA one without keyEncipherment; ``scp``, ``send``,
``echo`` and ``tls-check`` with an expired certificate; ``keys generate`` under an expired CA.
Each is exit 2, one line, nothing written. The certificates are made here, in ``tmp_path``.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from dicomsec.cli import main
from dicomsec.errors import InvalidInput
from dicomsec.keys import FileSigningKey
from dicomsec.signatures import sign_file, verify_file
from dicomsec.trust import (
    CertificateNotUsable,
    KeyPurpose,
    TrustStore,
    check_for_use,
    usage_problems,
)
from tests.conftest import PYDICOM_FILES

ROOT = Path(__file__).resolve().parents[1]
CT = PYDICOM_FILES / "CT_small.dcm"
NOW = dt.datetime.now(dt.UTC)
DAY = dt.timedelta(days=1)
EKU = ExtendedKeyUsageOID

_KU_FIELDS = ("digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
              "key_agreement", "key_cert_sign", "crl_sign", "encipher_only", "decipher_only")


def _ku(*names: str) -> x509.KeyUsage:
    return x509.KeyUsage(**{f: f in names for f in _KU_FIELDS})


SIGNER_KU = _ku("digital_signature", "content_commitment")


@dataclass(frozen=True)
class Spec:
    """One certificate to make: its key, validity, key usage and extended key usage."""

    kind: str = "ec"  # ec | rsa
    start: dt.datetime = NOW - DAY
    end: dt.datetime = NOW + 30 * DAY
    ku: x509.KeyUsage | None = SIGNER_KU
    eku: tuple[x509.ObjectIdentifier, ...] = ()
    ca: bool = False


class Pki:
    """A CA and certificates issued by it, written under ``folder``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.ca_key = ec.generate_private_key(ec.SECP256R1())
        self.ca_cert = self._build(self.ca_key, "use CA", self.ca_key, x509.Name(
            [x509.NameAttribute(NameOID.COMMON_NAME, "use CA")]),
            Spec(ku=_ku("key_cert_sign", "crl_sign"), ca=True, start=NOW - 2 * DAY,
                 end=NOW + 3650 * DAY))
        self.ca = self._write("ca", self.ca_cert, self.ca_key)[0]
        self._keys: dict[str, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey] = {
            "ec": ec.generate_private_key(ec.SECP256R1()),
            "rsa": rsa.generate_private_key(public_exponent=65537, key_size=2048),
        }

    @staticmethod
    def _build(key: object, cn: str, issuer_key: object, issuer: x509.Name,
               spec: Spec) -> x509.Certificate:
        san = x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                           x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
        builder = (x509.CertificateBuilder()
                   .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
                   .issuer_name(issuer)
                   .public_key(key.public_key())  # type: ignore[attr-defined]
                   .serial_number(x509.random_serial_number())
                   .not_valid_before(spec.start).not_valid_after(spec.end)
                   .add_extension(x509.BasicConstraints(ca=spec.ca, path_length=None),
                                  critical=True)
                   .add_extension(san, critical=False))
        if spec.ku is not None:
            builder = builder.add_extension(spec.ku, critical=True)
        if spec.eku:
            builder = builder.add_extension(x509.ExtendedKeyUsage(list(spec.eku)),
                                            critical=False)
        return builder.sign(issuer_key, hashes.SHA256())  # type: ignore[arg-type]

    def _write(self, name: str, cert: x509.Certificate, key: object) -> tuple[Path, Path]:
        cert_path, key_path = self.folder / f"{name}.pem", self.folder / f"{name}.key"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(key.private_bytes(  # type: ignore[attr-defined]
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()))
        return cert_path, key_path

    def issue(self, name: str, spec: Spec) -> tuple[Path, Path, x509.Certificate]:
        key = self._keys[spec.kind]
        cert = self._build(key, name, self.ca_key, self.ca_cert.subject, spec)
        return (*self._write(name, cert, key), cert)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki(tmp_path_factory.mktemp("usepki"))


def _run(argv: Iterable[str | Path], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    capsys.readouterr()
    code = main([str(a) for a in argv])
    return code, capsys.readouterr().err


def _one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err and "internal error" not in err
    return lines[0]


def _cli(*argv: str | Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """The tool in a child process (the TLS commands arrange OpenSSL before ``ssl``)."""
    env = {k: v for k, v in os.environ.items() if k != "OPENSSL_CONF"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), str(ROOT)])
    return subprocess.run([sys.executable, "-m", "dicomsec", *map(str, argv)], env=env,
                          capture_output=True, text=True, timeout=timeout, check=False)


# ------------------------------------------------------------------------------------------
# the validator and verify agree

#: signer certificates verify refuses, and the reason the validator gives
BAD_SIGNERS: dict[str, tuple[Spec, str]] = {
    "expired": (Spec(start=NOW - 30 * DAY, end=NOW - DAY), "expired on"),
    "not-yet-valid": (Spec(start=NOW + DAY, end=NOW + 30 * DAY), "not valid before"),
    "ca-only": (Spec(ku=_ku("key_cert_sign", "crl_sign")), "neither digitalSignature"),
    "timestamping": (Spec(eku=(EKU.TIME_STAMPING,)), "dedicated to time-stamping"),
    "key-encipherment": (Spec(kind="rsa", ku=_ku("key_encipherment")),
                         "neither digitalSignature"),
}


@pytest.mark.parametrize("case", BAD_SIGNERS)
def test_validator_refuses_what_verify_refuses(pki: Pki, tmp_path: Path, case: str) -> None:
    spec, reason = BAD_SIGNERS[case]
    _cert_path, _key_path, cert = pki.issue(f"signer-{case}", spec)
    with pytest.raises(CertificateNotUsable) as caught:
        check_for_use(cert, KeyPurpose.SIGNING, name="signer certificate")
    assert isinstance(caught.value, InvalidInput)  # exit 2
    assert reason in str(caught.value) and "\n" not in str(caught.value)
    assert caught.value.purpose is KeyPurpose.SIGNING
    # verify's chain check at the same moment refuses the same certificate
    assert not TrustStore(anchors=(pki.ca_cert,)).validate(cert, at=NOW).trusted


def test_a_good_signer_passes_both(pki: Pki, tmp_path: Path) -> None:
    _cert_path, key_path, cert = pki.issue("signer-good", Spec())
    check_for_use(cert, KeyPurpose.SIGNING)
    assert usage_problems(cert, KeyPurpose.SIGNING) == []
    from dicomsec.keys import load_private_key

    out = tmp_path / "signed.dcm"
    sign_file(CT, out, key=FileSigningKey(load_private_key(key_path), cert))
    assert verify_file(out, trust=TrustStore(anchors=(pki.ca_cert,))).ok


@pytest.mark.parametrize(("purpose", "spec", "reason"), [
    (KeyPurpose.ENCRYPTION, Spec(kind="rsa", ku=SIGNER_KU), "keyEncipherment"),
    (KeyPurpose.ENCRYPTION, Spec(kind="ec", ku=_ku("key_encipherment")), "keyAgreement"),
    (KeyPurpose.TLS_SERVER, Spec(eku=(EKU.CLIENT_AUTH,)), "serverAuth"),
    (KeyPurpose.TLS_CLIENT, Spec(eku=(EKU.SERVER_AUTH,)), "clientAuth"),
    (KeyPurpose.TLS_SERVER, Spec(ku=_ku("key_agreement")), "digitalSignature"),
    (KeyPurpose.ISSUING, Spec(), "not a CA"),
    (KeyPurpose.TIMESTAMPING, Spec(), "timeStamping"),
])
def test_purpose_rules(pki: Pki, purpose: KeyPurpose, spec: Spec, reason: str) -> None:
    cert = pki.issue(f"p-{purpose.value}", spec)[2]
    with pytest.raises(CertificateNotUsable, match=reason):
        check_for_use(cert, purpose)
    assert usage_problems(cert, purpose)  # the list TrustStore.validate applies


@pytest.mark.parametrize(("purpose", "spec"), [
    (KeyPurpose.ENCRYPTION, Spec(kind="rsa", ku=_ku("key_encipherment"))),
    (KeyPurpose.ENCRYPTION, Spec(kind="ec", ku=_ku("key_agreement"))),
    (KeyPurpose.ENCRYPTION, Spec(kind="rsa", ku=None)),
    (KeyPurpose.TLS_SERVER, Spec(ku=_ku("digital_signature"), eku=(EKU.SERVER_AUTH,))),
    (KeyPurpose.TLS_CLIENT, Spec(ku=None, eku=(EKU.CLIENT_AUTH, EKU.SERVER_AUTH))),
    (KeyPurpose.TIMESTAMPING, Spec(eku=(EKU.TIME_STAMPING,))),
    (KeyPurpose.ISSUING, Spec(ku=_ku("key_cert_sign"), ca=True)),
])
def test_purpose_rules_accept(pki: Pki, purpose: KeyPurpose, spec: Spec) -> None:
    check_for_use(pki.issue(f"ok-{purpose.value}", spec)[2], purpose)


def test_validity_is_judged_at_the_moment_given(pki: Pki) -> None:
    cert = pki.issue("window", Spec(start=NOW + DAY, end=NOW + 10 * DAY))[2]
    check_for_use(cert, KeyPurpose.SIGNING, at=NOW + 2 * DAY)
    with pytest.raises(CertificateNotUsable, match="not valid before"):
        check_for_use(cert, KeyPurpose.SIGNING, at=NOW)
    with pytest.raises(CertificateNotUsable, match="expired on"):
        check_for_use(cert, KeyPurpose.SIGNING, at=NOW + 11 * DAY)


# ------------------------------------------------------------------------------------------
# sign, wrap --to, keys generate: exit 2, one line, nothing written


@pytest.mark.parametrize("case", BAD_SIGNERS)
def test_sign_refuses(pki: Pki, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                      case: str) -> None:
    cert, key, _ = pki.issue(f"sign-{case}", BAD_SIGNERS[case][0])
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    code, err = _run(["sign", CT, "-o", out_dir / "s.dcm", "--key", key, "--cert", cert], capsys)
    assert code == 2, err
    line = _one_line(err)
    assert "signer certificate cannot be used for signing" in line
    assert BAD_SIGNERS[case][1] in line
    assert list(out_dir.iterdir()) == []


WRAP_REFUSED: dict[str, tuple[Spec, str]] = {
    "expired": (Spec(kind="rsa", ku=_ku("key_encipherment"), start=NOW - 30 * DAY,
                     end=NOW - DAY), "expired on"),
    "not-yet-valid": (Spec(kind="ec", ku=_ku("key_agreement"), start=NOW + DAY),
                      "not valid before"),
    "rsa-signer": (Spec(kind="rsa", ku=SIGNER_KU), "keyEncipherment"),
    "ec-signer": (Spec(kind="ec", ku=SIGNER_KU), "keyAgreement"),
}


@pytest.mark.parametrize("case", WRAP_REFUSED)
def test_wrap_to_refuses(pki: Pki, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                         case: str) -> None:
    cert = pki.issue(f"recipient-{case}", WRAP_REFUSED[case][0])[0]
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    code, err = _run(["wrap", CT, "-o", out_dir / "s.cms", "--to", cert], capsys)
    assert code == 2, err
    line = _one_line(err)
    assert "recipient certificate cannot be used for encryption" in line
    assert WRAP_REFUSED[case][1] in line and str(cert) in line
    assert list(out_dir.iterdir()) == []


def test_wrap_to_a_fitting_recipient(pki: Pki, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    cert = pki.issue("recipient-ok", Spec(kind="rsa", ku=_ku("key_encipherment")))[0]
    code, err = _run(["wrap", CT, "-o", tmp_path / "s.cms", "--to", cert], capsys)
    assert code == 0, err


def test_keys_generate_refuses_an_expired_ca(pki: Pki, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    ca, ca_key, _ = pki.issue("old-ca", Spec(ku=_ku("key_cert_sign", "crl_sign"), ca=True,
                                             start=NOW - 30 * DAY, end=NOW - DAY))
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    code, err = _run(["keys", "generate", out_dir / "leaf", "--ca-cert", ca, "--ca-key",
                      ca_key], capsys)
    assert code == 2, err
    assert "CA certificate cannot be used for issuing certificates: expired on" in _one_line(err)
    assert list(out_dir.iterdir()) == []


# ------------------------------------------------------------------------------------------
# scp, send, echo, tls-check: exit 2 before listening or connecting

EXPIRED_TLS = Spec(ku=_ku("digital_signature"), start=NOW - 30 * DAY, end=NOW - DAY)


def test_scp_does_not_start_with_an_expired_certificate(pki: Pki, tmp_path: Path) -> None:
    cert, key, _ = pki.issue("server-expired", EXPIRED_TLS)
    out = tmp_path / "out"
    out.mkdir()
    proc = _cli("scp", "--out", out, "--cert", cert, "--key", key, "--trust", pki.ca,
                "--port", "0", "--bind", "127.0.0.1", "--profile", "b12")
    assert proc.returncode == 2, proc.stderr
    line = _one_line(proc.stderr)
    assert "our TLS certificate cannot be used for a TLS server: expired on" in line
    assert "listening" not in proc.stderr and list(out.iterdir()) == []


def test_scp_does_not_start_with_a_client_only_certificate(pki: Pki, tmp_path: Path) -> None:
    cert, key, _ = pki.issue("server-clientauth", Spec(ku=_ku("digital_signature"),
                                                       eku=(EKU.CLIENT_AUTH,)))
    out = tmp_path / "out"
    out.mkdir()
    proc = _cli("scp", "--out", out, "--cert", cert, "--key", key, "--trust", pki.ca,
                "--port", "0", "--bind", "127.0.0.1", "--profile", "b12")
    assert proc.returncode == 2, proc.stderr
    assert "extended key usage lacks serverAuth" in _one_line(proc.stderr)


@pytest.mark.parametrize("command", ["send", "echo"])
def test_client_with_an_expired_certificate(pki: Pki, tmp_path: Path, command: str) -> None:
    cert, key, _ = pki.issue(f"client-expired-{command}", EXPIRED_TLS)
    files = [str(CT)] if command == "send" else []
    # nothing listens on the port: the certificate is refused before any connection
    proc = _cli(command, *files, "--host", "127.0.0.1", "--port", "9", "--profile", "b12",
                "--cert", cert, "--key", key, "--trust", pki.ca)
    assert proc.returncode == 2, proc.stderr
    assert "our TLS certificate cannot be used for a TLS client: expired on" in _one_line(
        proc.stderr)


def test_tls_check_with_an_expired_client_certificate(pki: Pki) -> None:
    cert, key, _ = pki.issue("client-expired-scan", EXPIRED_TLS)
    proc = _cli("tls-check", "127.0.0.1:9", "--profile", "b12", "--client-cert", cert,
                "--client-key", key)
    assert proc.returncode == 2, proc.stderr
    assert "client certificate cannot be used for a TLS client: expired on" in _one_line(
        proc.stderr)


def test_wrap_refuses_an_expired_inner_signer(pki: Pki, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """wrap --sign-cert is a certificate we use for signing: the same rules as sign."""
    recipient = pki.issue("recipient-for-signed", Spec(kind="rsa", ku=_ku("key_encipherment")))[0]
    cert, key, _ = pki.issue("old-signer", Spec(start=NOW - 30 * DAY, end=NOW - DAY))
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    code, err = _run(["wrap", CT, "-o", out_dir / "s.cms", "--to", recipient,
                      "--sign-key", key, "--sign-cert", cert], capsys)
    assert code == 2, err
    assert "signer certificate cannot be used for signing: expired on" in _one_line(err)
    assert list(out_dir.iterdir()) == []
