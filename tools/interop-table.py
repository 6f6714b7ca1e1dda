#!/usr/bin/env python3
"""Measure which readers open each kind of Secure DICOM File that ``dicomsec wrap`` writes.

Usage (from the repository root, as root is not needed):

    .venv/bin/python tools/interop-table.py > /tmp/table.md

For every kind of file (content cipher, recipient kind, inner content) it wraps pydicom's
CT_small.dcm with ``dicomsec wrap`` to the test PKI of ``tests/data/pki-cms``, then tries three
readers and prints a Markdown table:

- OpenSSL (the ``openssl`` CLI on PATH): ``openssl cms -decrypt``; for signed or digested inner
  content the decrypted SignedData/DigestedData value is put into a ContentInfo and checked with
  ``openssl cms -verify -CAfile ca.pem`` / ``-digest_verify`` (as
  tests/data/secure-files/MANIFEST.md describes), so "yes" means the DICOM file came back byte
  for byte with its inner check passed.
- BouncyCastle 1.72: the reader mode of ``tools/bc-vectors`` (Java 17; signatures checked with the
  included certificate, digests recomputed; no path validation).
- GDCM: ``gdcmdump`` and ``gdcmanon -d`` (the only GDCM tools that decrypt anything).

A cell is "yes" or "no" followed by the reader's first error line. Test material only.
"""

from __future__ import annotations

import datetime
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pydicom
from asn1crypto import cms
from cryptography.hazmat.primitives import serialization

ROOT = Path(__file__).resolve().parent.parent
PKI = ROOT / "tests" / "data" / "pki-cms"
BC = ROOT / "tools" / "bc-vectors" / "bc.sh"
CT = Path(pydicom.__file__).parent / "data" / "test_files" / "CT_small.dcm"
PASSWORD = PKI / "password.txt"
KEK_ID = "c0ffee0000000001"


@dataclass(frozen=True)
class Recipient:
    """How to wrap to a recipient and how each reader names the matching credential."""

    wrap: tuple[str, ...]
    openssl: tuple[str, ...]
    bc: tuple[str, ...]


def _certified(name: str) -> Recipient:
    cert, key = str(PKI / f"{name}.pem"), str(PKI / f"{name}.key")
    return Recipient(("--to", cert), ("-recip", cert, "-inkey", key),
                     ("--key", key, "--cert", cert))


def _recipients(work: Path) -> dict[str, Recipient]:
    mlkem = work / "mlkem768.pub.pem"
    private = serialization.load_pem_private_key(
        (PKI / "recip-mlkem768.key.pem").read_bytes(), None)
    mlkem.write_bytes(private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    kek = str(PKI / "kek-aes256.hex")
    password = PASSWORD.read_text().splitlines()[0]
    return {
        "rsa": _certified("recip-rsa2048"),
        "p256": _certified("recip-p256"),
        "p384": _certified("recip-p384"),
        "x25519": Recipient(("--to", str(PKI / "recip-x25519.pem")),
                            ("-recip", str(PKI / "recip-x25519.pem"),
                             "-inkey", str(PKI / "recip-x25519.key")),
                            ("--key", str(PKI / "recip-x25519.key"),
                             "--cert", str(PKI / "recip-x25519.pem"))),
        "kek": Recipient(("--kek-file", kek, "--kek-id", KEK_ID),
                         ("-secretkey", (PKI / "kek-aes256.hex").read_text().strip(),
                          "-secretkeyid", KEK_ID),
                         ("--kek", kek, "--kek-id", KEK_ID)),
        "password": Recipient(("--password-file", str(PASSWORD)),
                              ("-pwri_password", password),
                              ("--password-file", str(PASSWORD))),
        "mlkem": Recipient(("--to", str(mlkem)),
                           ("-inkey", str(PKI / "recip-mlkem768.key.pem")),
                           ("--key", str(PKI / "recip-mlkem768.key.pem"))),
    }


SIGN_P256 = ("--sign-key", str(PKI / "signer-p256.key"),
             "--sign-cert", str(PKI / "signer-p256.pem"))
SIGN_RSA = ("--sign-key", str(PKI / "signer-rsa2048.key"),
            "--sign-cert", str(PKI / "signer-rsa2048.pem"))

#: (label, profile and options, recipient, inner) of every kind of file measured
KINDS: list[tuple[str, tuple[str, ...], str, str]] = [
    ("basic: AES-256-CBC, ktri RSA PKCS#1 v1.5, DigestedData SHA-256",
     ("--profile", "basic"), "rsa", "digested"),
    ("basic: AES-128-CBC, ktri RSA PKCS#1 v1.5, DigestedData SHA-256",
     ("--profile", "basic", "--cipher", "aes128-cbc"), "rsa", "digested"),
    ("basic: AES-256-CBC, pwri (PBKDF2-HMAC-SHA256), DigestedData SHA-256",
     ("--profile", "basic"), "password", "digested"),
    ("basic: AES-256-CBC, ktri RSA PKCS#1 v1.5, SignedData RSA PKCS#1 v1.5",
     ("--profile", "basic", *SIGN_RSA), "rsa", "signed"),
    ("basic: AES-256-CBC, ktri RSA PKCS#1 v1.5, SignedData RSASSA-PSS",
     ("--profile", "basic", *SIGN_RSA, "--sign-rsa-pss"), "rsa", "signed"),
    ("aead: AES-256-GCM (ICVlen 16), ktri RSA-OAEP SHA-256, id-data",
     (), "rsa", "data"),
    ("aead: AES-128-GCM (ICVlen 16), ktri RSA-OAEP SHA-256, id-data",
     ("--cipher", "aes128-gcm"), "rsa", "data"),
    ("aead: AES-256-GCM, ktri RSA PKCS#1 v1.5 (--rsa-v15 --allow-legacy), id-data",
     ("--rsa-v15", "--allow-legacy"), "rsa", "data"),
    ("aead: AES-256-GCM, kari ECDH P-256 (X9.63 SHA-256, AES-128 wrap), id-data",
     (), "p256", "data"),
    ("aead: AES-256-GCM, kari ECDH P-384 (X9.63 SHA-384, AES-256 wrap), id-data",
     (), "p384", "data"),
    ("aead: AES-256-GCM, kari X25519 (HKDF-SHA256), id-data", (), "x25519", "data"),
    ("aead: AES-256-GCM, kekri AES-256 wrap, id-data", (), "kek", "data"),
    ("aead: AES-256-GCM, pwri (PBKDF2-HMAC-SHA256), id-data", (), "password", "data"),
    ("pq: AES-256-GCM, ori KEMRecipientInfo ML-KEM-768, id-data",
     ("--profile", "pq"), "mlkem", "data"),
    ("aead: AES-256-GCM, ktri RSA-OAEP, SignedData ECDSA P-256 (authenticated attributes)",
     SIGN_P256, "rsa", "signed"),
    ("aead: AES-256-GCM, kekri, SignedData RSA (authenticated attributes)",
     SIGN_RSA, "kek", "signed"),
]


def _first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip()[:110]
    return "(no message)"


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False)


def _openssl_inner(plain: Path, inner: str, out: Path) -> str | None:
    """Put the decrypted inner value into a ContentInfo and let OpenSSL check it."""
    if inner == "data":
        shutil.copyfile(plain, out)
        return None
    kind, load = (("signed_data", cms.SignedData.load) if inner == "signed"
                  else ("digested_data", cms.DigestedData.load))
    ci = plain.with_suffix(".ci.der")
    ci.write_bytes(cms.ContentInfo({"content_type": kind,
                                    "content": load(plain.read_bytes())}).dump())
    check = (["-verify", "-CAfile", str(PKI / "ca.pem")] if inner == "signed"
             else ["-digest_verify"])
    r = _run(["openssl", "cms", *check, "-binary", "-inform", "DER", "-in", str(ci),
              "-out", str(out)])
    return None if r.returncode == 0 else f"inner check: {_first_line(r.stderr)}"


def read_openssl(src: Path, rec: Recipient, inner: str, work: Path) -> str:
    plain, out = work / "openssl.plain", work / "openssl.dcm"
    r = _run(["openssl", "cms", "-decrypt", "-binary", "-inform", "DER", "-in", str(src),
              "-out", str(plain), *rec.openssl])
    if r.returncode != 0:
        return f"no: {_first_line(r.stderr)}"
    problem = _openssl_inner(plain, inner, out)
    if problem:
        return f"no: {problem}"
    return "yes" if out.read_bytes() == CT.read_bytes() else "no: other content"


def read_bc(src: Path, rec: Recipient, work: Path) -> str:
    out = work / "bc.dcm"
    r = _run([str(BC), "read", str(src), str(out), *rec.bc])
    if r.returncode != 0:
        return f"no: {_first_line(r.stderr)}"
    return "yes" if out.read_bytes() == CT.read_bytes() else "no: other content"


def read_gdcm(src: Path, rec: Recipient, work: Path) -> str:
    dump = _run(["gdcmdump", str(src)])
    if "Failed to read" not in dump.stdout + dump.stderr and dump.returncode == 0:
        return "gdcmdump parses it (unexpected): check by hand"
    anon = _run(["gdcmanon", "-d", *_gdcm_credentials(rec), "-i", str(src),
                 "-o", str(work / "gdcm.dcm")])
    if anon.returncode == 0 and (work / "gdcm.dcm").exists():
        return "gdcmanon -d wrote an output (unexpected): check by hand"
    return "n/a (no reader)"


def _gdcm_credentials(rec: Recipient) -> list[str]:
    if rec.bc[:1] == ("--key",) and len(rec.bc) == 4:
        return ["-k", rec.bc[1], "-c", rec.bc[3]]
    if rec.bc[:1] == ("--password-file",):
        return ["-p", PASSWORD.read_text().splitlines()[0]]
    return []


def measure(work: Path) -> list[tuple[str, str, str, str]]:
    recipients = _recipients(work)
    rows = []
    for i, (label, options, recipient, inner) in enumerate(KINDS):
        rec = recipients[recipient]
        src = work / f"kind{i:02d}.p7m"
        r = _run([sys.executable, "-m", "dicomsec", "wrap", str(CT), "-o", str(src),
                  *options, *rec.wrap])
        if r.returncode != 0:
            rows.append((label, f"wrap failed: {_first_line(r.stderr)}", "", ""))
            continue
        rows.append((label, read_openssl(src, rec, inner, work), read_bc(src, rec, work),
                     read_gdcm(src, rec, work)))
    return rows


def _version(argv: list[str]) -> str:
    r = _run(argv)
    return _first_line(r.stdout + r.stderr)


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="dicomsec-interop-") as tmp:
        rows = measure(Path(tmp))
    today = datetime.datetime.now(datetime.UTC).date().isoformat()
    print(f"Measured {today} with `tools/interop-table.py`: {_version(['openssl', 'version'])};"
          f" BouncyCastle 1.72 (Debian libbcprov-java/libbcpkix-java), "
          f"{_version(['java', '-version'])}; GDCM {_version(['gdcmdump', '--version'])}.")
    print()
    print("| file `dicomsec wrap` writes | OpenSSL 3.0 | BouncyCastle 1.72 | GDCM |")
    print("|---|---|---|---|")
    for label, openssl, bc, gdcm in rows:
        print(f"| {label} | {openssl} | {bc} | {gdcm} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
