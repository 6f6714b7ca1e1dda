"""Acceptance 4: a generated archive (240 files, 4 devices, 60 days: signed, unsigned, tampered,
signed by the wrong device, by a revoked certificate, with a legacy MD5 MAC, by another
trusted CA, by an untrusted one) against a staged policy gives exactly the verdict counts
computed from what the generator made; monitor-only runs exit 0, enforced violations exit 1."""

from __future__ import annotations

import datetime as _dt
import json
from collections import Counter
from pathlib import Path

from pydicom import dcmread

from dicomsec import policy
from dicomsec.signatures import verify
from dicomsec.trust import TrustStore
from tests.cli.conftest import Run
from tests.policy.archive import ENFORCE_FROM, Archive
from tests.policy.conftest import expected_counts, expected_rule, expected_verdict


def test_archive_has_every_kind_on_every_device(archive: Archive) -> None:
    kinds = Counter((m.device.serial, m.kind) for m in archive.files)
    assert len(archive.files) >= 200
    assert {m.device.serial for m in archive.files} == {"SN-A1", "SN-B2", "SN-C3", "SN-D4"}
    assert (max(m.day for m in archive.files) - min(m.day for m in archive.files)).days == 59
    for serial in ("SN-A1", "SN-B2", "SN-C3"):
        for kind in ("signed", "unsigned", "tampered", "wrong-device", "revoked", "md5",
                     "foreign", "stranger"):
            assert kinds[(serial, kind)] > 0, (serial, kind)


def test_library_verdicts_are_exactly_the_expected_ones(
        archive: Archive, judged: list[policy.Verdict]) -> None:
    got = {(v.path, v.verdict, v.rule) for v in judged}
    want = {(str(m.path), expected_verdict(m), expected_rule(m)) for m in archive.files}
    assert got == want
    assert Counter(v.verdict for v in judged) == expected_counts(archive)
    assert {v.verdict for v in judged} == set(policy.VERDICTS)  # every verdict occurs


def test_enforced_only_from_the_rule_date(judged: list[policy.Verdict]) -> None:
    enforced = [v for v in judged if v.enforced]
    assert enforced and all(v.date is not None and v.date >= ENFORCE_FROM for v in enforced)
    assert all(v.mode == "enforce" for v in enforced)
    early = [v for v in judged if v.rule == "Vendor A CT: monitor"]
    assert early and all(v.date is not None and v.date < ENFORCE_FROM for v in early)
    assert any(f"applies from {ENFORCE_FROM.isoformat()}" in d for v in early for d in v.details)


def test_details_name_the_reason(judged: list[policy.Verdict]) -> None:
    by = {v.verdict: v for v in judged}
    assert "2026-08-01" in by["revoked"].details[0]
    assert "key_compromise" in by["revoked"].details[0]
    assert "md5" in by["algorithm-not-allowed"].details[0]
    assert "not the certificate's device" in by["device-mismatch"].details[0]
    assert "Foreign CA" in by["wrong-signer"].details[0]
    assert by["unsigned"].details == ("no signature",)
    assert by["untrusted"].details[0] == "unknown-issuer"


def test_evaluate_takes_a_pydicom_dataset(archive: Archive, staged: Path,
                                          store: TrustStore) -> None:
    pol = policy.load(staged)
    seen: set[str] = set()
    for m in archive.files:
        if m.kind in seen:
            continue
        seen.add(m.kind)
        verdict = pol.evaluate(verify(m.path, trust=store), dcmread(m.path), path=str(m.path))
        assert verdict.verdict == expected_verdict(m), m
        mapping = {"Manufacturer": m.device.manufacturer, "Modality": m.device.modality,
                   "AcquisitionDate": m.day.strftime("%Y%m%d")}
        assert pol.evaluate(verify(m.path, trust=store), mapping).rule == expected_rule(m)


def test_coverage_summary_and_algorithm_mix(archive: Archive, staged: Path,
                                            judged: list[policy.Verdict]) -> None:
    report = policy.coverage(judged, policy.load(staged), at=_dt.date(2026, 12, 2))
    assert not report.ok
    summary = report.to_dict()["summary"]
    assert summary["files"] == len(archive.files)
    assert summary["by_verdict"] == dict(sorted(expected_counts(archive).items()))
    assert summary["enforced_violations"] == sum(
        expected_rule(m) == "Vendor A CT: enforce" and expected_verdict(m) != "compliant"
        for m in archive.files)
    device = summary["devices"]["VendorA/CT-One/SN-A1"]
    assert device["files"] == 60 and len(device["per_day"]) == 60
    mix = {a["algorithm"]: a for a in summary["algorithms"]}
    assert mix["md5"]["legacy"] and not mix["md5"]["create_allowed"]
    assert mix["sha256"]["create_allowed"] and not mix["sha256"]["quantum_vulnerable"]
    p256 = mix["ecdsa-p256"]
    assert p256["quantum_vulnerable"] and p256["create_allowed"]
    assert p256["create_until"] == "2035-12-31"  # from the algorithm policy, not hard-coded
    assert p256["count"] == sum(m.kind != "unsigned" for m in archive.files)


def _run_check(run: Run, archive: Archive, pol: Path, *extra: str | Path) -> int:
    return run("policy", "check", archive.folder, "--policy", pol, "--trust", archive.ca,
               "--trust", archive.foreign_ca, "--crl", archive.crl, "--offline", "--json",
               *extra)


def test_cli_enforced_violations_exit_1(run: Run, archive: Archive, staged: Path,
                                        judged: list[policy.Verdict]) -> None:
    assert _run_check(run, archive, staged, "--workers", "2", "--no-progress") == 1
    doc = run.json()
    # streamed, yet the library's report exactly (files in order of completion)
    lib = policy.coverage(judged, policy.load(staged)).to_dict()
    assert doc["summary"] == lib["summary"]
    assert sorted(doc["files"], key=lambda f: f["path"]) == sorted(lib["files"],
                                                                  key=lambda f: f["path"])
    assert doc["schema"] == "dicomsec.policy.check/1" and doc["ok"] is False
    assert set(doc) == {"schema", "ok", "files", "summary"}
    assert {tuple(sorted(f)) for f in doc["files"]} == {
        ("details", "device", "path", "rule", "verdict")}
    want = {str(m.path): expected_verdict(m) for m in archive.files}
    assert {f["path"]: f["verdict"] for f in doc["files"]} == want
    assert doc["summary"]["by_verdict"] == dict(sorted(expected_counts(archive).items()))


def test_cli_monitor_only_exit_0_and_html(run: Run, archive: Archive, monitor_only: Path,
                                          tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    assert _run_check(run, archive, monitor_only, "--workers", "1", "--html", out) == 0
    doc = run.json()
    assert doc["ok"] is True and doc["summary"]["enforced_violations"] == 0
    assert doc["summary"]["by_verdict"] == dict(sorted(expected_counts(archive).items()))
    page = out.read_text(encoding="utf-8")
    for anchor in ('id="coverage-chart"', 'id="violations"', 'id="algorithm-mix"',
                   'id="policy"', "Content-Security-Policy"):
        assert anchor in page
    assert "<img" not in page and "&lt;img src=&quot;http://127.0.0.1:" in page


def test_cli_people_summary(run: Run, archive: Archive, staged: Path) -> None:
    files = [str(m.path) for m in archive.files if m.device.serial == "SN-B2"][:6]
    code = run("policy", "check", *files, "--policy", staged, "--trust", archive.ca,
               "--crl", archive.crl, "--offline", "--workers", "1")
    assert code == 0  # all before the enforce date: monitored only
    assert "VendorA Medical/CT-Two/SN-B2: 6 files" in run.out
    assert "signature ecdsa-p256" in run.out


def test_cli_unreadable_file_exit_2(run: Run, archive: Archive, monitor_only: Path,
                                    tmp_path: Path) -> None:
    bad = tmp_path / "not-dicom.dcm"
    bad.write_bytes(b"hello")
    good = next(m.path for m in archive.files if m.kind == "signed")
    code = run("policy", "check", good, bad, "--policy", monitor_only, "--trust", archive.ca,
               "--offline", "--json", "--workers", "1")
    assert code == 2
    doc = json.loads(run.out)
    assert [e["path"] for e in doc["summary"]["errors"]] == [str(bad)]
    assert "Traceback" not in run.err


def test_read_attributes_for_a_caller_with_a_report(archive: Archive, staged: Path,
                                                    store: TrustStore) -> None:
    """What ``verify --policy`` does: its own FileReport, then the rule attributes."""
    pol = policy.load(staged)
    for m in archive.files[:8]:
        attrs = policy.read_attributes(m.path, pol)
        assert attrs["DeviceSerialNumber"] == m.device.serial
        assert attrs["AcquisitionDate"] == m.day.strftime("%Y%m%d")
        verdict = pol.evaluate(verify(m.path, trust=store), attrs, path=str(m.path))
        assert verdict.verdict == expected_verdict(m)
