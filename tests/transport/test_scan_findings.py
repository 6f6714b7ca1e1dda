"""tls-check against real ``openssl s_server`` configurations, one per finding of issue 7
(point 9): each gives the verdict the profile text gives, and each finding names its clause."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from dicomsec.transport import scan, tls
from tests.conftest import require_tool
from tests.transport.scan_support import ScanPki, make_pki, openssl_server

pytestmark = pytest.mark.peer

_B13_TLS12 = ":".join(tls.PROFILES["b13"].tls12_suites)
_B13_TLS13 = ":".join(tls.PROFILES["b13"].tls13_suites)


@pytest.fixture(scope="module")
def openssl() -> str:
    return require_tool("openssl")


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory, openssl: str) -> ScanPki:
    return make_pki(tmp_path_factory.mktemp("findingspki"), openssl)


def _mutual(pki: ScanPki) -> tuple[str, ...]:
    """s_server options that require a client certificate chaining to the test CA."""
    return ("-Verify", "1", "-CAfile", str(pki.ca))


#: what else B.13 asks of a server that s_server does not do by default: groups ≥ 256 bits,
#: handshake signatures with SHA-256 or SHA-384 only
_B13_CLEAN = ("-groups", "P-256:P-384:P-521", "-sigalgs",
              "ECDSA+SHA256:ECDSA+SHA384:RSA+SHA256:RSA+SHA384:rsa_pss_rsae_sha256:"
              "rsa_pss_rsae_sha384")


def _both_certs(pki: ScanPki) -> tuple[str, ...]:
    cert, key = pki["server-ec"]
    return ("-dcert", str(cert), "-dkey", str(key))


def _checks(report: scan.ScanReport) -> dict[str, scan.Check]:
    return {c.id: c for c in report.checks}


def _scan(port: int, profile: str) -> tuple[scan.ScanReport, dict[str, scan.Check]]:
    report = scan.scan("127.0.0.1", port, profile, wait=0.3)
    return report, _checks(report)


@pytest.fixture(scope="module")
def complete_plus_forbidden(openssl: str, pki: ScanPki) -> Iterator[int]:
    """The complete B.13 set, plus a CBC and an RSA key transport suite."""
    with openssl_server(openssl, pki, "server-rsa", *_both_certs(pki), *_mutual(pki),
                        *_B13_CLEAN,
                        "-cipher", _B13_TLS12 + ":ECDHE-RSA-AES128-SHA256:AES256-GCM-SHA384",
                        "-ciphersuites", _B13_TLS13) as port:
        yield port


def test_extra_forbidden_suites_beside_the_complete_set(complete_plus_forbidden: int) -> None:
    report, checks = _scan(complete_plus_forbidden, "b13")
    assert not report.ok
    # every required suite is there: the sample-based scanner passed this server
    assert all(c.status == "pass" for cid, c in checks.items()
               if cid.startswith(("tls12.TLS_", "tls13.")))
    for cid, suite in (("forbidden.cbc", "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256"),
                       ("forbidden.rsa-kx", "TLS_RSA_WITH_AES_256_GCM_SHA384")):
        assert checks[cid].status == "fail"
        assert suite in checks[cid].detail
        assert checks[cid].clause.startswith("PS3.15 B.13")
    permitted = checks["suites.tls12.permitted"]
    assert permitted.status == "fail" and "B.13" in permitted.clause
    assert {c.id for c in report.failures} == {"forbidden.cbc", "forbidden.rsa-kx",
                                               "suites.tls12.permitted"}
    with pytest.raises(Exception, match="does not meet profile B13"):
        report.raise_for_failure()


def test_same_server_under_b12_only_warns(complete_plus_forbidden: int) -> None:
    """B.12 defers to RFC 9325: CBC and static RSA are SHOULD NOT, so WARN."""
    report, checks = _scan(complete_plus_forbidden, "b12")
    assert report.ok, report.failures
    assert checks["forbidden.cbc"].status == "warn"
    assert checks["forbidden.rsa-kx"].status == "warn"
    assert "RFC 9325 §4.1" in checks["forbidden.rsa-kx"].clause


@pytest.mark.parametrize(("groups", "version", "weak"), [
    ("P-256:P-384:P-224", "TLS 1.2", "secp224r1"),
    ("P-256:P-384:X25519", "TLS 1.3", "x25519"),
])
def test_weak_group_beside_strong_ones(openssl: str, pki: ScanPki, groups: str, version: str,
                                       weak: str) -> None:
    with openssl_server(openssl, pki, "server-rsa", *_mutual(pki), "-groups", groups,
                        "-cipher", _B13_TLS12, "-ciphersuites", _B13_TLS13) as port:
        report, checks = _scan(port, "b13")
    check = checks[f"groups.weak.{version}"]
    assert check.status == "fail", check
    assert weak in check.detail
    assert check.clause == "PS3.15 B.13: ECDHE ≥ 256 bits, DHE ≥ 2048 bits"
    assert checks["group.P-256"].status == "pass" and checks["group.P-384"].status == "pass"
    assert not report.ok


def test_rsa_key_transport_cbc(openssl: str, pki: ScanPki) -> None:
    """The old scanner said "CBC refused" here: its CBC sample had no RSA-key-transport suite."""
    with openssl_server(openssl, pki, "server-rsa", *_mutual(pki), "-no_tls1_3",
                        "-cipher", "AES128-SHA:ECDHE-RSA-AES128-GCM-SHA256") as port:
        _, checks = _scan(port, "b13")
        _, checks12 = _scan(port, "b12")
    for cid in ("forbidden.cbc", "forbidden.rsa-kx"):
        assert checks[cid].status == "fail"
        assert "TLS_RSA_WITH_AES_128_CBC_SHA" in checks[cid].detail
        assert checks12[cid].status == "warn"
        assert checks12[cid].clause.startswith("RFC 9325")


def test_tls13_ccm_only(openssl: str, pki: ScanPki) -> None:
    """The full handshakes offer CCM, so the certificate is read and client authentication
    judged (the old scanner reported "no certificate" and "client certificate not accepted")."""
    with openssl_server(openssl, pki, "server-ec", *_mutual(pki), "-tls1_3",
                        "-ciphersuites", "TLS_AES_128_CCM_SHA256") as port:
        report, checks = _scan(port, "b13")
    assert checks["tls13.TLS_AES_128_CCM_SHA256"].status == "pass"
    assert checks["tls13.TLS_AES_128_GCM_SHA256"].status == "fail"
    assert checks["version.TLS 1.2"].status == "fail"
    assert checks["client-auth.tls13"].status == "pass"
    assert "certificate_required" in checks["client-auth.tls13"].detail.lower()
    assert checks["certificate.key.TLS 1.3"].status == "pass"
    assert checks["certificate.hash.TLS 1.3"].status == "pass"
    assert "certificate" not in checks
    assert [c.subject for c in report.certificates if c.position == 0] == ["CN=server-ec"]


def test_tls12_with_a_p256_certificate(openssl: str, pki: ScanPki) -> None:
    """An ECDSA P-256 certificate needs P-256 offered too: P-384 is not "refused"."""
    with openssl_server(openssl, pki, "server-ec", *_mutual(pki), "-no_tls1_3",
                        "-groups", "P-384:P-256", "-cipher", _B13_TLS12) as port:
        _, checks = _scan(port, "b13")
    assert checks["group.P-384"].status == "pass", checks["group.P-384"]
    assert checks["group.P-256"].status == "pass"
    assert "secp384r1" in checks["groups.weak.TLS 1.2"].detail


def test_rsa_only_b12_server(openssl: str, pki: ScanPki) -> None:
    """B.12 lists no suites: an RSA-only server offering RFC 9325's ECDHE-RSA GCM suites meets
    it (the ECDSA suites are not expected); under B.13 the ECDSA suites are required."""
    with openssl_server(openssl, pki, "server-rsa", *_mutual(pki),
                        "-cipher", "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384:"
                        "DHE-RSA-AES128-GCM-SHA256") as port:
        report, checks = _scan(port, "b12")
        strict, strict_checks = _scan(port, "b13")
    assert report.ok, report.failures
    ecdsa = checks["tls12.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"]
    assert ecdsa.status == "info" and "no ECDSA certificate" in ecdsa.detail
    assert ecdsa.clause.startswith("RFC 9325 §4.2")
    assert checks["tls12.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"].status == "pass"
    assert checks["dhe.size"].status == "pass"
    assert not strict.ok
    assert strict_checks["tls12.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"].status == "fail"


def test_server_without_client_certificate_request(openssl: str, pki: ScanPki) -> None:
    with openssl_server(openssl, pki, "server-rsa", *_both_certs(pki), *_B13_CLEAN,
                        "-cipher", _B13_TLS12, "-ciphersuites", _B13_TLS13) as port:
        report, checks = _scan(port, "b13")
    assert report.ok, report.failures
    for cid in ("client-auth.tls12", "client-auth.tls13"):
        assert checks[cid].status == "warn"
        assert "may be configured not to use it" in checks[cid].clause
