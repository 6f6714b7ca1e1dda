"""Issue 9, acceptance 2: intermediates "from the signature's own certificate set". A Secure
DICOM File made by the real OpenSSL CLI (``openssl cms -sign -certfile issuing.pem``, then
``openssl cms -encrypt -aes-256-gcm`` to a KEK: the OpenSSL pipeline form) carries the issuing
CA in its inner SignedData: ``unwrap --trust root`` trusts the signer without ``--untrusted``,
and without the intermediate anywhere the signer's issuer is unknown (exit 1, nothing written).
A certificate set of 12 same-name CAs that sign each other (review: path building exploded)
is answered at once.

DICOM signatures carry no chain: the Certificate of Signer holds the signer's certificate alone
(PS3.3 C.12.1.1.3, Certificate Type X509_1), so there the intermediate comes from ``--untrusted``.
"""

from __future__ import annotations

import datetime as dt
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.cli.conftest import Run
from tests.cli.conftest import run as run  # the in-process runner fixture
from tests.cli.revocation_pki import RevocationPki, make_pki
from tests.conftest import PYDICOM_FILES, require_tool

pytestmark = pytest.mark.peer

CT = PYDICOM_FILES / "CT_small.dcm"
KEK = "00112233445566778899aabbccddeeff" * 2
PEM = serialization.Encoding.PEM


def _openssl(*args: str | Path) -> None:
    done = subprocess.run([require_tool("openssl"), *map(str, args)], capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr


def _secure_file(folder: Path, stem: str, signer: Path, key: Path,
                 certfile: Path | None) -> Path:
    """``openssl cms -sign`` (with ``-certfile``: extra certificates in the SignedData), then
    ``openssl cms -encrypt`` (AES-256-GCM AuthEnvelopedData to the KEK ``01``)."""
    inner, out = folder / f"{stem}.inner.der", folder / f"{stem}.secure.dcm"
    extra = ["-certfile", str(certfile)] if certfile is not None else []
    _openssl("cms", "-sign", "-binary", "-nodetach", "-md", "sha256", "-in", CT,
             "-signer", signer, "-inkey", key, *extra, "-outform", "DER", "-out", inner)
    _openssl("cms", "-encrypt", "-binary", "-in", inner, "-aes-256-gcm", "-secretkey", KEK,
             "-secretkeyid", "01", "-outform", "DER", "-out", out)
    return out


def _loop_signer(folder: Path) -> tuple[Path, Path, Path]:
    """A signer issued by the first of 12 "Loop CA" certificates that sign each other in a
    ring (no key identifiers), written with the ring as ``loop.pem``."""
    now = dt.datetime.now(dt.UTC)
    loop = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Loop CA")])

    def cert(subject: x509.Name, key: ec.EllipticCurvePrivateKey,
             signer: ec.EllipticCurvePrivateKey, ca: bool) -> x509.Certificate:
        return (x509.CertificateBuilder().subject_name(subject).issuer_name(loop)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - dt.timedelta(days=1))
                .not_valid_after(now + dt.timedelta(days=30))
                .add_extension(x509.BasicConstraints(ca, None), True)
                .sign(signer, hashes.SHA256()))

    keys = [ec.generate_private_key(ec.SECP256R1()) for _ in range(12)]
    ring = [cert(loop, k, keys[(i + 1) % 12], True) for i, k in enumerate(keys)]
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = cert(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "loop signer")]),
                leaf_key, keys[0], False)
    (folder / "loop.pem").write_bytes(b"".join(c.public_bytes(PEM) for c in ring))
    (folder / "loop-signer.pem").write_bytes(leaf.public_bytes(PEM))
    (folder / "loop-signer.key").write_bytes(leaf_key.private_bytes(
        PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return folder / "loop-signer.pem", folder / "loop-signer.key", folder / "loop.pem"


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> tuple[RevocationPki, dict[str, Path]]:
    folder = tmp_path_factory.mktemp("unwrapchain")
    pki = make_pki(folder, {"signer-good": "signer"})
    (folder / "kek.hex").write_text(KEK + "\n")
    signer, key = pki.path("signer-good"), pki.key("signer-good")
    loop_signer, loop_key, ring = _loop_signer(folder)
    return pki, {
        "with-chain": _secure_file(folder, "with-chain", signer, key, pki.path("issuing")),
        "signer-only": _secure_file(folder, "signer-only", signer, key, None),
        "loop": _secure_file(folder, "loop", loop_signer, loop_key, ring),
    }


def _unwrap(run: Run, pki: RevocationPki, src: Path, out: Path) -> int:
    # --trust root and both CRLs, no --untrusted: the intermediate must come from the file
    return run("unwrap", src, "-o", out, "--kek-file", pki.folder / "kek.hex", "--kek-id",
               "01", *pki.trust_args(untrusted=False))


def test_intermediate_carried_in_the_signature(
        run: Run, made: tuple[RevocationPki, dict[str, Path]], tmp_path: Path) -> None:
    pki, files = made
    out = tmp_path / "plain.dcm"
    assert _unwrap(run, pki, files["with-chain"], out) == 0, run.err
    assert out.read_bytes() == CT.read_bytes()


def test_no_intermediate_anywhere_is_unknown_issuer(
        run: Run, made: tuple[RevocationPki, dict[str, Path]], tmp_path: Path) -> None:
    pki, files = made
    out = tmp_path / "plain.dcm"
    assert _unwrap(run, pki, files["signer-only"], out) == 1
    run.assert_one_line_error()
    assert "not trusted" in run.err and "no issuer matching" in run.err
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_hostile_certificate_set_is_bounded(
        run: Run, made: tuple[RevocationPki, dict[str, Path]], tmp_path: Path) -> None:
    pki, files = made
    out = tmp_path / "plain.dcm"
    assert _unwrap(run, pki, files["loop"], out) == 1
    run.assert_one_line_error()
    assert "not trusted" in run.err
    assert not out.exists()
