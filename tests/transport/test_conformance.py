"""The Conformance Statement security section (``dicomsec conformance``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from dicomsec.errors import InvalidInput
from dicomsec.transport.conformance import security_section
from dicomsec.trust import TrustStore
from tests.conftest import require_tool
from tests.transport.scan_support import ROOT, ScanPki, make_pki

B12_TLS12 = {"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
             "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"}


def _trust(pki: ScanPki) -> TrustStore:
    return TrustStore.from_paths([pki.ca])


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> ScanPki:
    return make_pki(tmp_path_factory.mktemp("confpki"), require_tool("openssl"))


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    """A fresh process, so that the profile's OpenSSL configuration precedes ``import ssl``."""
    env = {k: v for k, v in os.environ.items() if k != "OPENSSL_CONF"}
    env["PYTHONPATH"] = f"{ROOT / 'src'}{os.pathsep}{ROOT}"
    return subprocess.run([sys.executable, "-m", "dicomsec", "conformance", *args],
                          capture_output=True, text=True, timeout=60, env=env, check=False)


def test_b12_and_b13_tls12_suites(pki: ScanPki) -> None:
    b12 = security_section("b12", 2762, [], _trust(pki))
    b13 = security_section("b13", 2762, [], _trust(pki))
    names12 = {s.iana for s in b12.tls12_suites}
    names13 = {s.iana for s in b13.tls12_suites}
    assert names12 == B12_TLS12
    assert B12_TLS12 < names13
    assert {"TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8", "TLS_ECDHE_ECDSA_WITH_AES_256_CCM",
            "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256"} <= names13
    assert not any("CCM" in n or "CHACHA" in n for n in names12)
    assert all(s.code == int(s.to_dict()["code"], 16) for s in b13.tls12_suites)


def test_only_loaded_certificate_types(pki: ScanPki) -> None:
    cert, key = pki["server-rsa"]
    section = security_section("b13", 11112, [cert], _trust(pki), keys=[key])
    assert section.tls12_suites and all("_RSA_" in s.iana for s in section.tls12_suites)
    assert [c.key_type for c in section.certificates] == ["RSA"]
    assert section.certificates[0].signature_hash == "SHA-256"
    ec_cert, ec_key = pki["server-ec"]
    both = security_section("b13", 11112, [cert, ec_cert], _trust(pki), keys=[key, ec_key])
    assert any("_ECDSA_" in s.iana for s in both.tls12_suites)
    with pytest.raises(InvalidInput):
        security_section("b13", 11112, [cert], _trust(pki), keys=[key, ec_key])


def test_port_mutual_auth_and_failure_behaviour(pki: ScanPki) -> None:
    section = security_section("b13", 11112, [pki["server-ec"][0]], _trust(pki))
    text = section.to_markdown()
    assert "| 11112/tcp | DIMSE over TLS" in text
    assert "2762/tcp" in text and "dicom-tls" in text
    assert "Mutual authentication" in text and "SCP: required" in text
    assert "A-P-ABORT" in text and "provider reason 0" in text
    assert "CP 2311" in text and "Supplement 230" in text
    data = section.to_dict()
    assert data["ports"][0]["port"] == 11112
    assert data["mutual_authentication"]["scp"].startswith("required")
    assert "CRL" in " ".join(data["key_management"])
    optional = security_section("b13", 11112, [], _trust(pki), require_client_cert=False)
    assert optional.to_dict()["mutual_authentication"]["scp"].startswith("optional")


def test_weak_certificate_is_flagged(pki: ScanPki) -> None:
    section = security_section("b13", 2762, [pki["server-sha1"][0]], _trust(pki))
    assert section.certificates[0].problems
    assert "Warning" in section.to_markdown()


@pytest.mark.parametrize("profile", ["b12", "b13"])
def test_cli_json_tls13_suites(pki: ScanPki, profile: str) -> None:
    proc = _cli("--profile", profile, "--port", "11112", "--trust", str(pki.ca), "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    tls13 = {s["iana"] for s in data["cipher_suites"]["TLSv1.3"]}
    assert {"TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256",
            "TLS_AES_128_GCM_SHA256"} <= tls13
    ccm = {"TLS_AES_128_CCM_SHA256", "TLS_AES_128_CCM_8_SHA256"}
    assert (ccm <= tls13) if profile == "b13" else not (ccm & tls13)
    assert data["ports"][0]["port"] == 11112
    assert data["missing_suites"] == []


def test_cli_markdown(pki: ScanPki) -> None:
    cert, key = pki["server-rsa"]
    ec_cert, ec_key = pki["server-ec"]
    proc = _cli("--profile", "b13", "--port", "2762", "--cert", str(cert), "--key", str(key),
                "--cert", str(ec_cert), "--key", str(ec_key), "--trust", str(pki.ca),
                "--no-client-auth")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("## Security: Modified BCP 195 RFC 8996")
    assert "`TLS_AES_128_CCM_8_SHA256`" in proc.stdout
    assert "`TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8`" in proc.stdout
    assert "SCP: optional" in proc.stdout
    bad = _cli("--profile", "b13", "--cert", str(cert), "--key", str(key), "--key", str(key))
    assert bad.returncode == 2
