"""``dicomsec tls-check`` against the dicomsec B.13 server and against non-conformant servers
(``openssl s_server``), with cross-checks by ``openssl s_client`` (acceptance point 2)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from dicomsec.cli import main
from dicomsec.errors import InvalidInput
from dicomsec.transport import scan, tls
from tests.conftest import require_tool
from tests.transport.scan_support import (
    ScanPki,
    dicomsec_server,
    free_port,
    make_pki,
    openssl_server,
)

pytestmark = pytest.mark.peer


@pytest.fixture(scope="module")
def openssl() -> str:
    return require_tool("openssl")


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory, openssl: str) -> ScanPki:
    return make_pki(tmp_path_factory.mktemp("scanpki"), openssl)


@pytest.fixture(scope="module")
def b13_port(pki: ScanPki) -> Iterator[int]:
    with dicomsec_server(pki, "b13", "server-rsa", "server-ec") as port:
        yield port


def _cli(capsys: pytest.CaptureFixture[str], port: int, *extra: str,
         profile: str = "b13") -> tuple[int, dict[str, dict[str, str]], str]:
    """Run tls-check with --json; returns the exit code, checks by id and stderr."""
    capsys.readouterr()
    rc = main(["tls-check", f"127.0.0.1:{port}", "--profile", profile, "--json", *extra])
    out, errors = capsys.readouterr()
    report = json.loads(out)
    return rc, {c["id"]: c for c in report["checks"]}, errors


def _text(capsys: pytest.CaptureFixture[str], port: int) -> tuple[int, list[str]]:
    capsys.readouterr()
    rc = main(["tls-check", f"127.0.0.1:{port}", "--profile", "b13"])
    return rc, capsys.readouterr().out.splitlines()


def _s_client(openssl: str, port: int, pki: ScanPki, *opts: str) -> str | None:
    """The suite `openssl s_client` negotiated (None: no handshake)."""
    cert, key = pki["client"]
    proc = subprocess.run(
        [openssl, "s_client", "-connect", f"127.0.0.1:{port}", "-brief", "-CAfile",
         str(pki.ca), "-cert", str(cert), "-key", str(key), *opts],
        input="", capture_output=True, text=True, timeout=20, check=False)
    for line in (proc.stdout + proc.stderr).splitlines():
        if line.startswith("Ciphersuite:"):
            return line.split(":", 1)[1].strip()
    return None


def _failed(checks: dict[str, dict[str, str]]) -> set[str]:
    return {cid for cid, c in checks.items() if c["status"] == "fail"}


def test_b13_server_passes(capsys: pytest.CaptureFixture[str], pki: ScanPki,
                           b13_port: int) -> None:
    cert, key = pki["client"]
    rc, checks, errors = _cli(capsys, b13_port, "--trust", str(pki.ca),
                              "--client-cert", str(cert), "--client-key", str(key))
    assert _failed(checks) == set()
    assert rc == 0
    assert "all requirements met" in errors
    prof = tls.PROFILES["b13"]
    for name in prof.tls13_suites:
        assert checks[f"tls13.{name}"]["status"] == "pass"
    assert sum(cid.startswith("tls12.TLS_") for cid in checks) == len(prof.tls12_suites)
    for cid in ("version.TLS 1.0", "version.TLS 1.1", "version.prefer-1.3", "forbidden.cbc",
                "forbidden.rsa-kx", "forbidden.static-ecdh", "forbidden.3des",
                "forbidden.null", "group.X25519", "group.P-384", "client-auth.tls12",
                "client-auth.tls13", "trust", "client-auth.accepted"):
        assert checks[cid]["status"] == "pass", checks[cid]
    assert "certificate_required" in checks["client-auth.tls13"]["detail"].lower()
    # both certificates were inspected, and their chains; every finding names its clause
    assert {"certificate.key.TLS 1.2 RSA", "certificate.key.TLS 1.2 ECDSA",
            "certificate.san.TLS 1.2 RSA", "certificate.chain.TLS 1.2 ECDSA"} <= set(checks)
    assert all(c["clause"] for c in checks.values())
    # the full enumeration found exactly the profile's suites, and no weak group
    for cid in ("suites.tls12.permitted", "suites.tls13.permitted", "groups.weak.TLS 1.2",
                "groups.weak.TLS 1.3", "sigalgs.sha512", "downgrade.scsv",
                "renegotiation.secure", "compression", "certificate.san.TLS 1.2 RSA"):
        assert checks[cid]["status"] == "pass", checks[cid]


def test_text_output_one_line_per_requirement(capsys: pytest.CaptureFixture[str],
                                              b13_port: int) -> None:
    rc, lines = _text(capsys, b13_port)
    assert rc == 0
    assert lines and all(line[:4] in ("PASS", "INFO", "WARN") for line in lines)
    assert any(line.startswith("PASS  TLS 1.3 TLS_AES_128_CCM_8_SHA256 accepted")
               for line in lines)


def test_ccm8_cross_checked_with_s_client(openssl: str, pki: ScanPki, b13_port: int) -> None:
    report = scan.scan("127.0.0.1", b13_port, "b13")
    checks = {c.id: c for c in report.checks}
    assert checks["tls13.TLS_AES_128_CCM_8_SHA256"].status == "pass"
    assert _s_client(openssl, b13_port, pki, "-tls1_3", "-ciphersuites",
                     "TLS_AES_128_CCM_8_SHA256") == "TLS_AES_128_CCM_8_SHA256"
    assert checks["tls12.TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8"].status == "pass"
    assert _s_client(openssl, b13_port, pki, "-tls1_2", "-cipher",
                     "ECDHE-ECDSA-AES128-CCM8") == "ECDHE-ECDSA-AES128-CCM8"
    # a forbidden CBC suite: refused by both
    assert checks["forbidden.cbc"].status == "pass"
    assert _s_client(openssl, b13_port, pki, "-tls1_2", "-cipher",
                     "ECDHE-RSA-AES128-SHA256:@SECLEVEL=0") is None


def test_cbc_only_server_fails(capsys: pytest.CaptureFixture[str], openssl: str,
                               pki: ScanPki) -> None:
    with openssl_server(openssl, pki, "server-rsa", "-no_tls1_3", "-cipher",
                        "ECDHE-RSA-AES128-SHA256") as port:
        rc, checks, errors = _cli(capsys, port)
        assert rc == 1
        assert "failed" in errors
        failed = _failed(checks)
        assert {"forbidden.cbc", "version.TLS 1.3", "tls13.TLS_AES_128_CCM_8_SHA256",
                "tls12.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "suites.tls12.permitted"} <= failed
        assert "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256" in checks["forbidden.cbc"]["detail"]
        assert checks["forbidden.cbc"]["requirement"] == "CBC suites refused"
        assert checks["forbidden.cbc"]["clause"] == "PS3.15 B.13: CBC suites forbidden"
        # no TLS 1.3: preference is not applicable; no client certificate asked: a warning
        assert checks["version.prefer-1.3"]["status"] == "info"
        assert checks["client-auth.tls12"]["status"] == "warn"
        # the server certificate is still inspected (and fine)
        assert checks["certificate.key.TLS 1.2 RSA"]["status"] == "pass"
        # s_client agrees: the CBC suite is negotiated
        assert _s_client(openssl, port, pki, "-tls1_2", "-cipher",
                         "ECDHE-RSA-AES128-SHA256:@SECLEVEL=0") == "ECDHE-RSA-AES128-SHA256"
        rc, lines = _text(capsys, port)
        assert rc == 1
        assert any(line.startswith("FAIL  CBC suites refused") for line in lines)


@pytest.mark.parametrize(("cert", "check", "word"), [
    ("server-rsa1024", "certificate.key", "RSA key of 1024 bits"),
    ("server-sha1", "certificate.hash", "SHA-1"),
])
def test_weak_server_certificate_fails(capsys: pytest.CaptureFixture[str], openssl: str,
                                       pki: ScanPki, cert: str, check: str, word: str) -> None:
    with openssl_server(openssl, pki, cert, "-cipher", "DEFAULT:@SECLEVEL=0") as port:
        rc, checks, _ = _cli(capsys, port)
    assert rc == 1
    hits = [c for cid, c in checks.items() if cid.startswith(check + ".")]
    assert hits and all(c["status"] == "fail" for c in hits)
    assert all(word in c["detail"] for c in hits)
    other = "certificate.hash" if check == "certificate.key" else "certificate.key"
    assert all(c["status"] == "pass" for cid, c in checks.items()
               if cid.startswith(other + "."))


def test_server_without_client_auth_warns(capsys: pytest.CaptureFixture[str],
                                          pki: ScanPki) -> None:
    """B.12/B.13: servers shall support mutual authentication but may be configured not to
    use it, so a server that does not require a client certificate is a WARN, not a FAIL."""
    with dicomsec_server(pki, "b13", "server-rsa", "server-ec", client_auth=False) as port:
        rc, checks, _ = _cli(capsys, port, "--wait", "0.5")
    assert rc == 0
    assert _failed(checks) == set()
    for cid in ("client-auth.tls12", "client-auth.tls13"):
        assert checks[cid]["status"] == "warn"
        assert "mutual authentication" in checks[cid]["clause"]
    assert checks["client-auth.tls13"]["requirement"] == "client certificate required (TLS 1.3)"


def test_b12_server_passes_b12(pki: ScanPki) -> None:
    with dicomsec_server(pki, "b12", "server-rsa", "server-ec") as port:
        report = scan.scan("127.0.0.1", port, "b12")
    assert report.ok, report.failures
    ids = {c.id for c in report.checks}
    assert "tls13.TLS_AES_128_CCM_8_SHA256" not in ids
    assert len([i for i in ids if i.startswith("tls12.TLS_")]) == 4
    data = report.to_dict()
    assert data["ok"] is True
    assert data["schema"] == "dicomsec.transport.tls_check/1"
    assert data["checks"][0]["schema"] == "dicomsec.transport.check/1"
    assert json.loads(report.to_json()) == data
    report.raise_for_failure()


def test_unreachable_and_usage(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tls-check", f"127.0.0.1:{free_port()}", "--profile", "b13"]) == 2
    assert "cannot connect" in capsys.readouterr().err
    assert main(["tls-check", "no-port-here", "--profile", "b13"]) == 2
    assert main(["tls-check", "127.0.0.1:1", "--profile", "b14"]) == 2
    assert main(["tls-check", "127.0.0.1:1", "--client-cert", "x.pem"]) == 2


def test_client_hello_is_well_formed() -> None:
    hello = scan.client_hello([0xC02B], tls13=(0x0304,), server_name="pacs.example")
    assert hello[:3] == b"\x16\x03\x01"
    assert int.from_bytes(hello[3:5], "big") == len(hello) - 5
    assert hello[5] == 1 and int.from_bytes(hello[6:9], "big") == len(hello) - 9
    assert b"pacs.example" in hello
    assert scan.parse_target("[::1]:2762") == ("::1", 2762)
    assert scan.parse_target("pacs:11112") == ("pacs", 11112)


def test_missing_client_certificate_is_an_input_error(tmp_path: Path, b13_port: int) -> None:
    with pytest.raises(InvalidInput):
        scan.scan("127.0.0.1", b13_port, "b13", client_cert=tmp_path / "no.pem",
                  client_key=tmp_path / "no.key")


def test_iana_tables_judge_suites_by_their_names() -> None:
    from dicomsec.transport import _iana
    from dicomsec.transport._scan_rules import _families, _permitted12_b13

    assert _families(0x002F) == {"rsa-kx", "cbc"}  # TLS_RSA_WITH_AES_128_CBC_SHA
    assert _families(0xC02B) == set()
    assert _families(0x000A) == {"rsa-kx", "cbc", "3des"}
    assert _families(0x0034) >= {"anon", "cbc"}
    assert _families(0xC031) == {"static-ecdh"}
    assert _permitted12_b13(0xC0AE, None)  # ECDHE-ECDSA AES-128-CCM_8
    assert _permitted12_b13(0xC086, None)  # ECDHE-ECDSA Camellia-128-GCM (CP 2311)
    assert _permitted12_b13(0x009E, 2048) and not _permitted12_b13(0x009E, 1024)
    assert not _permitted12_b13(0xC05C, None)  # ARIA-GCM is not in B.13's list
    for openssl in (*tls.PROFILES["b13"].tls12_suites, *tls.PROFILES["b13"].tls13_suites):
        assert _iana.suite_by_openssl(openssl)
    assert len(_iana.TLS12_PROBE_CODES) == 771 and 0x00FF not in _iana.TLS12_PROBE_CODES
    assert _iana.group_by_openssl("X25519").bits == 253
    assert _iana.suite_name(0xC0FF) == "0xC0FF"
