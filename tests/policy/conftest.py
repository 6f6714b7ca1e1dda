"""The policy tests' shared material: one generated archive per session, policy files, the
expected verdict of every file computed from what the generator made."""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from dicomsec import policy
from dicomsec.trust import TrustStore
from tests.cli.conftest import Run
from tests.policy.archive import CA_NAME, ENFORCE_FROM, Archive, Made, make_archive

#: rules of the staged policy: vendor A's CT scanners monitored, enforced from ENFORCE_FROM
#: (with the site CA as issuer), MR monitored; device D (US) is not covered
STAGED = f"""
# staged roll-out: the enforce rule comes first; it applies from its date on
[[rule]]
name = "Vendor A CT: enforce"
match = {{ Manufacturer = "VendorA*", Modality = "CT" }}
require = "any"
mode = "enforce"
from = {ENFORCE_FROM.isoformat()}
signer = {{ issuer = "{CA_NAME}", device_must_match = true }}

[[rule]]
name = "Vendor A CT: monitor"
match = {{ Manufacturer = "VendorA*", Modality = "CT" }}
mode = "monitor"
signer = {{ device_must_match = true }}

[[rule]]
name = "MR: monitor"
match = {{ Modality = ["MR", "XA"] }}
mode = "monitor"
signer = {{ device_must_match = true }}
"""
MONITOR_ONLY = STAGED.replace('mode = "enforce"', 'mode = "monitor"')

_BY_KIND = {"signed": "compliant", "unsigned": "unsigned", "tampered": "invalid",
            "wrong-device": "device-mismatch", "revoked": "revoked",
            "md5": "algorithm-not-allowed", "stranger": "untrusted"}


def expected_rule(m: Made) -> str | None:
    """The rule that judges a file, from what the generator made."""
    if m.device.modality == "CT" and m.device.manufacturer.startswith("VendorA"):
        return "Vendor A CT: enforce" if m.day >= ENFORCE_FROM else "Vendor A CT: monitor"
    if m.device.modality == "MR":
        return "MR: monitor"
    return None


def expected_verdict(m: Made) -> str:
    rule = expected_rule(m)
    if rule is None:
        return "not-covered"
    if m.kind == "foreign":  # a trusted certificate of the right device, another issuer
        return "wrong-signer" if rule == "Vendor A CT: enforce" else "compliant"
    return _BY_KIND[m.kind]


def expected_counts(archive: Archive) -> Counter[str]:
    return Counter(expected_verdict(m) for m in archive.files)


class Probe:
    """A local HTTP server that records every request it gets (it must get none).

    Bound at once (its port goes into the archive), served only inside :meth:`serving`: a
    thread running all session long would make the batch executor spawn its workers instead
    of forking them (seconds per run)."""

    def __init__(self) -> None:
        import http.server

        self.requests: list[str] = []
        seen = self.requests

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                seen.append(self.path)
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                return None

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]

    @contextlib.contextmanager
    def serving(self) -> Iterator[Probe]:
        import threading

        thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self.server.shutdown()
            thread.join()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/x"

    def stop(self) -> None:
        self.server.server_close()


@pytest.fixture(scope="session")
def probe() -> Iterator[Probe]:
    server = Probe()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def archive(tmp_path_factory: pytest.TempPathFactory, probe: Probe) -> Archive:
    """240 files; the US device's model name is an image tag pointing at the probe."""
    return make_archive(tmp_path_factory.mktemp("policy-archive"),
                        hostile_model=f'<img src="{probe.url}">')


@pytest.fixture(scope="session")
def staged(archive: Archive) -> Path:
    path = archive.folder.parent / "staged.toml"
    path.write_text(STAGED, encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def monitor_only(archive: Archive) -> Path:
    path = archive.folder.parent / "monitor.toml"
    path.write_text(MONITOR_ONLY, encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def store(archive: Archive) -> TrustStore:
    return TrustStore.from_paths([archive.ca, archive.foreign_ca], crls=[archive.crl])


@pytest.fixture(scope="session")
def judged(archive: Archive, staged: Path, store: TrustStore) -> list[policy.Verdict]:
    """The staged policy's verdict on every file of the archive, through the library."""
    pol = policy.load(staged)
    return [policy.check_file(m.path, pol, trust=store) for m in archive.files]


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str]) -> Run:
    return Run(capsys)
