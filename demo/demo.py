"""End-to-end demo on the bundled sample: sign, verify, tamper, wrap (pq), unwrap, send over TLS,
scan the receiving endpoint, the dated algorithm policy, hardening (limits, outputs), a site PKI
with revocation, a device key in a PKCS#11 token, a staged signing-policy roll-out, and a
reversible de-identification.

Run with ``make demo``. Everything is written under ``demo-out/`` (the audit records of every
step too: ``demo-out/audit.log``, shown in the last step); each step prints the
command it runs, so it doubles as a tutorial.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "demo" / "sample" / "CT_small.dcm"
OUT = ROOT / "demo-out"
DICOMSEC = [sys.executable, "-m", "dicomsec"]
AUDIT_LOG = OUT / "audit.log"


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
    # every command below leaves audit records (docs/audit.md); the demo keeps them in
    # demo-out/ instead of the state folder (~/.local/state/dicomsec), see step 20
    os.environ["DICOMSEC_AUDIT"] = AUDIT_LOG.as_uri()
    os.environ["DICOMSEC_AUDIT_SPOOL"] = str(OUT / "audit-spool")
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
    site = _site_pki_steps()
    mr02 = _token_steps(site)
    if _rollout_steps(site, mr02) != 0:
        return 1
    if _deid_steps() != 0:
        return 1
    if _audit_steps() != 0:
        return 1
    print("\nDemo finished: outputs are in demo-out/.")
    return 0


def _site_pki_steps() -> Path:
    """Steps 15-16: a site PKI; a device certificate signs, is revoked, then fails."""
    print("\n== 15. The site's own PKI: a root CA whose key is encrypted with a passphrase from a"
          "\n   file (never stored), and device certificates that carry the device identity"
          "\n   (manufacturer, model, serial number, station name)")
    site, passphrase = OUT / "site-pki", OUT / "pki-passphrase.txt"
    passphrase.write_text("demo site passphrase\n", encoding="utf-8")
    pw = ("--passphrase-file", str(passphrase))
    run("pki", "init", str(site), "--organization", "Demo Hospital", *pw, expect=0)
    run("pki", "issue", str(site), "--kind", "device", "--name", "CT01", "--manufacturer",
        "VendorA", "--model", "CT 9000", "--serial", "SN-0001", "--station", "CT01",
        "--out", str(OUT / "ct01"), *pw, expect=0)
    run("pki", "issue", str(site), "--kind", "device", "--name", "US09", "--manufacturer",
        "VendorC", "--model", "Sono 5", "--serial", "SN-0009", "--station", "US09",
        "--out", str(OUT / "us09"), *pw, expect=0)
    us09 = OUT / "CT_small.us09.dcm"
    run("sign", str(SAMPLE), "-o", str(us09), "--key", str(OUT / "us09.key.pem"), "--cert",
        str(OUT / "us09.cert.pem"), expect=0)
    run("verify", str(us09), "--trust", str(site / "ca.cert.pem"), expect=0)

    print("\n== 16. The ultrasound is stolen: its certificate is revoked, a new CRL is signed,"
          "\n   and what it signed no longer verifies (exit 1, revoked, with the date and reason)")
    run("pki", "revoke", str(site), "--cert", str(OUT / "us09.cert.pem"), "--reason",
        "key-compromise", *pw, expect=0)
    run("pki", "crl", str(site), "-o", str(OUT / "site.crl.pem"), *pw, expect=0)
    run("verify", str(us09), "--trust", str(site / "ca.cert.pem"), "--crl",
        str(OUT / "site.crl.pem"), expect=1)
    return site


def _token_steps(site: Path) -> tuple[str, Path, Path | None]:
    """Step 17: a device key generated in a PKCS#11 token (SoftHSM2), certified by the site
    CA, signs. Returns how MR02 signs: (key, certificate, PIN file)."""
    pw = ("--passphrase-file", str(OUT / "pki-passphrase.txt"))
    identity = ("--manufacturer", "VendorB", "--model", "MR 3T", "--serial", "SN-0002",
                "--station", "MR02")
    util = shutil.which("softhsm2-util")
    module = Path("/usr/lib/softhsm/libsofthsm2.so")
    print("\n== 17. The MR scanner's key is generated inside a PKCS#11 token and never leaves it;"
          "\n   only a certificate request comes out, the site CA certifies the token's key")
    if util is None or not module.exists():
        print("   skipped: softhsm2 not installed (the MR scanner gets a key file instead)")
        run("pki", "issue", str(site), "--kind", "device", "--name", "MR02", *identity,
            "--out", str(OUT / "mr02"), *pw, expect=0)
        return str(OUT / "mr02.key.pem"), OUT / "mr02.cert.pem", None
    store = OUT / "softhsm"
    (store / "tokens").mkdir(parents=True)
    conf = store / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {store / 'tokens'}\nobjectstore.backend = file\n"
                    "log.level = ERROR\n", encoding="utf-8")
    os.environ["SOFTHSM2_CONF"] = str(conf)
    os.environ["DICOMSEC_PKCS11_MODULE"] = str(module)
    print(f"\n$ softhsm2-util --init-token --free --label demo --so-pin ... --pin ...  "
          f"(SOFTHSM2_CONF={conf.relative_to(ROOT)})")
    subprocess.run([util, "--init-token", "--free", "--label", "demo", "--so-pin", "12345678",
                    "--pin", "1234"], check=True, capture_output=True)
    pin = OUT / "token.pin"
    pin.write_text("1234\n", encoding="utf-8")
    uri = "pkcs11:token=demo;object=mr02"
    run("keys", "generate", "--pkcs11", uri, "--key-type", "ec-p256", "--pin-file", str(pin),
        "--csr", str(OUT / "mr02.csr.pem"), "--subject", "CN=MR02,O=Demo Hospital", expect=0)
    run("pki", "issue", str(site), "--kind", "device", "--name", "MR02", *identity,
        "--pkcs11", uri, "--pin-file", str(pin), "--out", str(OUT / "mr02"), *pw, expect=0)
    signed = OUT / "CT_small.mr02-token.dcm"
    run("sign", str(SAMPLE), "-o", str(signed), "--key", uri, "--cert",
        str(OUT / "mr02.cert.pem"), "--pin-file", str(pin), expect=0)
    run("verify", str(signed), "--trust", str(site / "ca.cert.pem"), "--crl",
        str(OUT / "site.crl.pem"), expect=0)
    return uri, OUT / "mr02.cert.pem", pin


#: the roll-out archive: (station, manufacturer, model, serial, modality) of each device
_DEVICES = (("CT01", "VendorA", "CT 9000", "SN-0001", "CT"),
            ("MR02", "VendorB", "MR 3T", "SN-0002", "MR"))


def _archive(mr02: tuple[str, Path, Path | None]) -> Path:
    """A dozen instances from CT01 and MR02 over six days: CT01 signs them all, MR02 only
    from the fourth day on (its token key). Made with the library (the CLI signs one file a
    call: see steps 2 and 17)."""
    import datetime as _dt

    import pydicom
    from pydicom.uid import generate_uid

    from dicomsec import signatures
    from dicomsec._pkcs11 import open_signing_key
    from dicomsec.keys import FileSigningKey, load_certificate, load_private_key

    folder = OUT / "rollout-archive"
    folder.mkdir()
    ct01 = FileSigningKey(load_private_key(OUT / "ct01.key.pem"),
                          load_certificate(OUT / "ct01.cert.pem"))
    key_text, cert, pin = mr02
    mr_key: Any
    if pin is None:
        mr_key = FileSigningKey(load_private_key(Path(key_text)), load_certificate(cert))
    else:
        mr_key = open_signing_key(key_text, load_certificate(cert), pin_file=pin)
    try:
        for day in range(6):
            date = (_dt.date(2026, 11, 1) + _dt.timedelta(days=day)).strftime("%Y%m%d")
            for station, maker, model, serial, modality in _DEVICES:
                ds = pydicom.dcmread(SAMPLE)
                ds.Manufacturer, ds.ManufacturerModelName = maker, model
                ds.DeviceSerialNumber, ds.StationName, ds.Modality = serial, station, modality
                ds.AcquisitionDate = ds.ContentDate = ds.StudyDate = date
                ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
                path = folder / f"{date}-{station}.dcm"
                ds.save_as(path)
                key = ct01 if station == "CT01" else (mr_key if day >= 3 else None)
                if key is not None:
                    signatures.sign_file(path, path, key=key, profile="creator")
    finally:
        if pin is not None:
            mr_key.close()
    return folder


def _rollout_steps(site: Path, mr02: tuple[str, Path, Path | None]) -> int:
    """Step 18: a staged roll-out judged by the signing policy, monitor then enforce."""
    print("\n== 18. A staged roll-out: CT01 signs every image; MR02 starts signing on 2026-11-04."
          "\n   First every device is only monitored (exit 0, violations reported); then the site"
          "\n   enforces MR02 from 2026-11-02: its two unsigned images after that date fail"
          "\n   (exit 1). The HTML report charts the coverage per device over time.")
    archive = _archive(mr02)
    from cryptography import x509

    issuer = x509.load_pem_x509_certificate((site / "ca.cert.pem").read_bytes()).subject
    monitor = ('[[rule]]\nname = "All devices: monitor"\nmatch = {}\nmode = "monitor"\n'
               'signer = { device_must_match = true }\n')
    (OUT / "policy-monitor.toml").write_text(monitor, encoding="utf-8")
    (OUT / "policy-staged.toml").write_text(
        '[[rule]]\nname = "MR02 must sign"\nmatch = { StationName = "MR02" }\n'
        'require = "creator"\nmode = "enforce"\nfrom = 2026-11-02\n'
        f'signer = {{ issuer = "{issuer.rfc4514_string()}", device_must_match = true }}\n\n'
        + monitor, encoding="utf-8")
    common = ("--trust", str(site / "ca.cert.pem"), "--crl", str(OUT / "site.crl.pem"),
              "--workers", "1")
    run("policy", "check", str(archive), "--policy", str(OUT / "policy-monitor.toml"),
        *common, expect=0)
    report = OUT / "rollout-report.html"
    run("policy", "check", str(archive), "--policy", str(OUT / "policy-staged.toml"),
        *common, "--html", str(report), expect=1)
    if not report.is_file():
        print("demo: the HTML report was not written", file=sys.stderr)
        return 1
    print(f"   the coverage report: {report.relative_to(ROOT)} (one self-contained file)")
    return 0


def _deid_steps() -> int:
    """Step 19: de-identify the sample reversibly, show the mapping, restore it."""
    print("\n== 19. De-identification (PS3.15 Annex E) for a trial: the Basic profile with"
          "\n   shifted dates; the originals stay in the file, encrypted for the coordinator"
          "\n   (compatible mode: gdcmanon -d reads it too); one keyed secret keeps UIDs and"
          "\n   Patient IDs consistent across batches; the mapping CSV is PHI (mode 0600).")
    coordinator = OUT / "coordinator"
    run("keys", "generate", str(coordinator), "--algorithm", "rsa2048", "--cn",
        "Trial coordinator", "--encryption", "--ca-cert", f"{OUT / 'site-ca'}.cert.pem",
        "--ca-key", f"{OUT / 'site-ca'}.key.pem", expect=0)
    secret = OUT / "trial.secret"  # a key: mode 0600 from its creation, never readable by others
    secret.unlink(missing_ok=True)
    fd = os.open(secret, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(os.urandom(32).hex() + "\n")
    mapping = OUT / "deid-mapping.csv"
    run("deid", str(SAMPLE), "-o", str(OUT / "deid"), "--uid-secret-file", str(secret),
        "--option", "retain-longitudinal-modified-dates", "--to",
        f"{coordinator}.cert.pem", "--mode", "compatible", "--mapping", str(mapping),
        "--workers", "1", expect=0)
    print(f"   {mapping.relative_to(ROOT)} (old -> new):")
    for line in mapping.read_text(encoding="utf-8").splitlines():
        print(f"     {line}")
    print("\n   The coordinator restores the originals with the private key:")
    run("reid", str(OUT / "deid"), "-o", str(OUT / "reid"), "--key",
        f"{coordinator}.key.pem", "--cert", f"{coordinator}.cert.pem", "--workers", "1",
        expect=0)
    import pydicom

    original, anonymous, restored = (pydicom.dcmread(p) for p in (
        SAMPLE, OUT / "deid" / SAMPLE.name, OUT / "reid" / SAMPLE.name))
    for keyword in ("PatientName", "PatientID", "StudyDate", "SOPInstanceUID"):
        print(f"   {keyword:15s} original {original.get(keyword)!s:32.32s} de-identified "
              f"{anonymous.get(keyword)!s:24.24s} restored {restored.get(keyword)!s:.32s}")
        if restored.get(keyword) != original.get(keyword):
            print(f"demo: {keyword} was not restored", file=sys.stderr)
            return 1
    return 0


def _audit_steps() -> int:
    """Step 20: where the audit records of the steps above went; one of them in full."""
    print("\n== 20. The audit trail: every command above left DICOM audit messages (PS3.15 A.5)"
          "\n   in a spool, delivered to the sinks of DICOMSEC_AUDIT (here the file"
          f"\n   {AUDIT_LOG.relative_to(ROOT)}; without it ~/.local/state/dicomsec/audit.log; add"
          "\n   --audit syslog+tls://... for an audit repository; docs/audit.md)")
    run("audit", "status", expect=0)
    run("audit", "tail", "-n", "6", expect=0)
    run("audit", "validate", str(AUDIT_LOG), expect=0)
    import json

    records = [json.loads(line) for line in AUDIT_LOG.read_text("utf-8").splitlines()]
    alert = next((r for r in records if r["event_id"] == "110113" and r["outcome"]), None)
    if alert is None:
        print("demo: no Security Alert for the tampered file in the audit log", file=sys.stderr)
        return 1
    print(f"\n   {len(records)} records; the Security Alert of step 4 (the tampered file), as "
          "sent to a repository:")
    print("   " + alert["xml"].replace("><", ">\n   <"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
