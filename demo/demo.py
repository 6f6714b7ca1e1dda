"""End-to-end demo on the bundled sample: sign, verify, tamper, wrap (pq), unwrap, send over TLS,
scan the receiving endpoint, the dated algorithm policy, and hardening (limits, outputs).

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

    if _transport_steps(ca, signed) != 0:
        return 1
    return _policy_steps(ca, dev)


def _transport_steps(ca: Path, signed: Path) -> int:
    print("\n== 9. The signed image travels over B.13 TLS to a local dicomsec scp")
    print("   (the scp logs the demo's own plain-TCP readiness probe as a TLS-REJECT line)")
    tls_ca = ca
    print("   (the PACS serves an EC and an RSA certificate side by side: B.13 requires both the"
          "\n   ECDHE_ECDSA and the ECDHE_RSA suites of TLS 1.2)")
    run("keys", "generate", str(OUT / "pacs"), "--algorithm", "ecdsa-p256", "--cn", "PACS",
        "--ca-cert", f"{tls_ca}.cert.pem", "--ca-key", f"{tls_ca}.key.pem", expect=0)
    run("keys", "generate", str(OUT / "pacs-rsa"), "--algorithm", "rsa2048", "--cn", "PACS",
        "--ca-cert", f"{tls_ca}.cert.pem", "--ca-key", f"{tls_ca}.key.pem", expect=0)
    run("keys", "generate", str(OUT / "modality"), "--algorithm", "ecdsa-p256", "--cn",
        "Modality", "--ca-cert", f"{tls_ca}.cert.pem", "--ca-key", f"{tls_ca}.key.pem", expect=0)
    port = _free_port()
    inbox = OUT / "pacs-inbox"
    inbox.mkdir()
    scp = subprocess.Popen([*DICOMSEC, "scp", "--port", str(port), "--bind", "127.0.0.1",
                            "--out", str(inbox), "--profile", "b13",
                            "--cert", f"{OUT / 'pacs'}.cert.pem",
                            "--key", f"{OUT / 'pacs'}.key.pem",
                            "--cert", f"{OUT / 'pacs-rsa'}.cert.pem",
                            "--key", f"{OUT / 'pacs-rsa'}.key.pem",
                            "--trust", f"{tls_ca}.cert.pem", "-v"])
    try:
        _wait_for(port)
        run("send", str(signed), "--host", "127.0.0.1", "--port", str(port), "--profile", "b13",
            "--cert", f"{OUT / 'modality'}.cert.pem", "--key", f"{OUT / 'modality'}.key.pem",
            "--trust", f"{tls_ca}.cert.pem", "-v", expect=0)
        print("\n== 10. tls-check scans the PACS endpoint: every suite and group it accepts, its"
              "\n   certificate chain, client authentication; each finding cites its clause")
        run("tls-check", f"127.0.0.1:{port}", "--profile", "b13", "--trust",
            f"{tls_ca}.cert.pem", "--client-cert", f"{OUT / 'modality'}.cert.pem",
            "--client-key", f"{OUT / 'modality'}.key.pem", expect=0)
    finally:
        scp.terminate()
        scp.wait(10)
    received = list(inbox.glob("*.dcm"))
    if len(received) != 1:
        print("demo: the SCP did not store the image", file=sys.stderr)
        return 1
    run("verify", str(received[0]), "--trust", f"{ca}.cert.pem", "--require", "creator",
        expect=0)
    return 0


def _policy_steps(ca: Path, dev: Path) -> int:
    print("\n== 11. The algorithm policy knows dates: the same ECDSA P-256 signature verified as"
          "\n   of 2036 is intact, with a note that P-256 is quantum-vulnerable and disallowed"
          "\n   for new signatures after 2035 (NIST IR 8547)")
    signed = OUT / "CT_small.signed.dcm"
    run("verify", str(signed), "--trust", f"{ca}.cert.pem", "--at", "2036-06-01", expect=0)

    print("\n== 12. A site policy that forbids new ECDSA P-256 signatures: sign refuses (exit 1),"
          "\n   naming the policy, and writes nothing")
    site = OUT / "site-policy.toml"
    site.write_text('[policy]\nname = "Demo Hospital policy"\n\n'
                    '[rules.no-new-p256]\nalgorithms = ["ecdsa-p256"]\npurposes = ["create"]\n'
                    'disallowed = true\nwaivable = false\n'
                    'reason = "new signatures use P-384 (security board, 2026-11)"\n',
                    encoding="utf-8")
    refused = OUT / "CT_small.refused-by-policy.dcm"
    run("sign", str(SAMPLE), "-o", str(refused), "--key", f"{dev}.key.pem", "--cert",
        f"{dev}.cert.pem", "--algorithm-policy", str(site), expect=1)
    if refused.exists():
        print("demo: an output was left behind", file=sys.stderr)
        return 1
    return _hardening_steps(signed)


def _hardening_steps(signed: Path) -> int:
    print("\n== 13. Limits before work: structure over a limit is refused while it is read,"
          "\n   before memory is spent (exit 2, the message names the limit and how to raise it);"
          "\n   `dicomsec limits` lists them all (docs/security.md)")
    run("--limit", "elements=40", "verify", str(signed), "--allow-unsigned", expect=2)
    run("limits", expect=0)

    print("\n== 14. Outputs are never a symbolic link, a device or a FIFO: refused before any"
          "\n   work (a link would be written through, or replaced while its target stays as"
          "\n   it was)")
    link = OUT / "CT_small.link.dcm"
    link.symlink_to(signed.name)
    run("signatures", "remove", str(link), "--all", "--in-place", expect=2)
    if not link.is_symlink():
        print("demo: the link was replaced", file=sys.stderr)
        return 1
    print("\nDemo finished: outputs are in demo-out/.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
