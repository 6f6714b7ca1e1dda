"""End-to-end demo on the bundled sample: sign, verify, tamper, wrap (pq), unwrap, send over TLS.

Run with ``make demo``. Everything is written under ``demo-out/``; each step prints the
command it runs, so it doubles as a tutorial.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "demo" / "sample" / "CT_small.dcm"
OUT = ROOT / "demo-out"
DICOMSEC = [sys.executable, "-m", "dicomsec"]


def run(*args: str, expect: int) -> None:
    shown = " ".join(["dicomsec", *(str(a) for a in args)]).replace(str(ROOT) + "/", "")
    print(f"\n$ {shown}", flush=True)
    rc = subprocess.run([*DICOMSEC, *args], check=False).returncode
    if rc != expect:
        print(f"demo: expected exit code {expect}, got {rc}", file=sys.stderr)
        raise SystemExit(1)
    print(f"(exit code {rc}, as expected)")


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for(port: int) -> None:
    import socket
    import time

    for _ in range(100):
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise SystemExit("demo: the SCP did not start")


def main() -> int:
    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir()
    ca, dev = OUT / "site-ca", OUT / "ct-scanner"
    print("== 1. A site CA and a freshly generated ECDSA P-256 device certificate")
    run("keys", "generate", str(ca), "--ca", "--cn", "Demo Hospital Device CA", expect=0)
    run("keys", "generate", str(dev), "--algorithm", "ecdsa-p256", "--cn", "CT scanner 1",
        "--ca-cert", f"{ca}.cert.pem", "--ca-key", f"{ca}.key.pem", expect=0)

    print("\n== 2. The scanner signs the image it created (Creator profile, purpose 14)")
    signed = OUT / "CT_small.signed.dcm"
    run("sign", str(SAMPLE), "-o", str(signed), "--key", f"{dev}.key.pem",
        "--cert", f"{dev}.cert.pem", "--profile", "creator", "--purpose", "14", expect=0)

    print("\n== 3. Anyone holding the CA certificate verifies it")
    run("verify", str(signed), "--trust", f"{ca}.cert.pem", "--require", "creator", expect=0)

    print("\n== 4. A tampered copy: the patient's name is changed, the signature fails")
    tampered = OUT / "CT_small.tampered.dcm"
    data = signed.read_bytes()
    old = b"CompressedSamples^CT1"
    assert old in data, "sample changed?"
    tampered.write_bytes(data.replace(old, b"Tampered^Name^CT1XXX"[: len(old)].ljust(len(old)), 1))
    run("verify", str(tampered), "--trust", f"{ca}.cert.pem", expect=1)

    print("\n== 5. Without trust anchors the signature is intact but not trusted")
    run("verify", str(signed), expect=1)

    print("\n== 6. The archive's post-quantum key (ML-KEM-768), a Secure DICOM File (pq)")
    archive = OUT / "archive"
    run("keys", "generate", str(archive), "--algorithm", "ml-kem-768", "--cn", "Archive 2050",
        "--ca-cert", f"{ca}.cert.pem", "--ca-key", f"{ca}.key.pem", expect=0)
    secure = OUT / "CT_small.signed.cms"
    run("wrap", str(signed), "-o", str(secure), "--profile", "pq", "--to",
        f"{archive}.cert.pem", expect=0)
    run("inspect", str(secure), expect=0)

    print("\n== 7. Unwrap with the archive key: the image and its signature come back intact")
    back = OUT / "CT_small.unwrapped.dcm"
    run("unwrap", str(secure), "-o", str(back), "--key", f"{archive}.key.pem", expect=0)
    if back.read_bytes() != signed.read_bytes():
        print("demo: the unwrapped file differs from the signed one", file=sys.stderr)
        return 1
    run("verify", str(back), "--trust", f"{ca}.cert.pem", "--require", "creator", expect=0)

    print("\n== 8. A flipped bit in the Secure DICOM File: unwrap refuses, no output is written")
    broken = OUT / "CT_small.broken.cms"
    flipped = bytearray(secure.read_bytes())
    flipped[len(flipped) // 2] ^= 0x01
    broken.write_bytes(bytes(flipped))
    refused = OUT / "CT_small.refused.dcm"
    run("unwrap", str(broken), "-o", str(refused), "--key", f"{archive}.key.pem", expect=1)
    if refused.exists():
        print("demo: an output was left behind", file=sys.stderr)
        return 1

    print("\n== 9. The signed image travels over B.13 TLS to a local dicomsec scp")
    print("   (the scp logs the demo's own plain-TCP readiness probe as a TLS-REJECT line)")
    tls_ca = ca
    run("keys", "generate", str(OUT / "pacs"), "--algorithm", "ecdsa-p256", "--cn", "PACS",
        "--ca-cert", f"{tls_ca}.cert.pem", "--ca-key", f"{tls_ca}.key.pem", expect=0)
    run("keys", "generate", str(OUT / "modality"), "--algorithm", "ecdsa-p256", "--cn",
        "Modality", "--ca-cert", f"{tls_ca}.cert.pem", "--ca-key", f"{tls_ca}.key.pem", expect=0)
    port = _free_port()
    inbox = OUT / "pacs-inbox"
    inbox.mkdir()
    scp = subprocess.Popen([*DICOMSEC, "scp", "--port", str(port), "--bind", "127.0.0.1",
                            "--out", str(inbox), "--profile", "b13", "--cert",
                            f"{OUT / 'pacs'}.cert.pem", "--key", f"{OUT / 'pacs'}.key.pem",
                            "--trust", f"{tls_ca}.cert.pem", "-v"])
    try:
        _wait_for(port)
        run("send", str(signed), "--host", "127.0.0.1", "--port", str(port), "--profile", "b13",
            "--cert", f"{OUT / 'modality'}.cert.pem", "--key", f"{OUT / 'modality'}.key.pem",
            "--trust", f"{tls_ca}.cert.pem", "-v", expect=0)
    finally:
        scp.terminate()
        scp.wait(10)
    received = list(inbox.glob("*.dcm"))
    if len(received) != 1:
        print("demo: the SCP did not store the image", file=sys.stderr)
        return 1
    run("verify", str(received[0]), "--trust", f"{ca}.cert.pem", "--require", "creator",
        expect=0)

    print("\nDemo finished: outputs are in demo-out/.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
