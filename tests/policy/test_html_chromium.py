"""Acceptance 5: the HTML report opens in headless Chromium (two runs: --dump-dom with a net
log, --screenshot); the coverage chart, the algorithm mix and the violations table are there
with the expected numbers, and no request leaves the page: a hostile ``<img>`` pointing at a
local probe server (through a data set's Manufacturer's Model Name) reaches nothing, and the
net log holds no non-file URL that succeeded."""

from __future__ import annotations

import datetime as _dt
import json
import os
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from dicomsec import policy
from tests.conftest import require_tool
from tests.policy.archive import Archive
from tests.policy.conftest import Probe, expected_counts, expected_rule, expected_verdict

pytestmark = pytest.mark.peer

#: refresh docs/img/policy-report.png from this test's screenshot (DICOMSEC_UPDATE_DOCS=1)
DOCS_PNG = Path(__file__).resolve().parents[2] / "docs" / "img" / "policy-report.png"


def _chromium(chromium: str, profile: Path, page: Path, *extra: str) -> str:
    cmd = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
           "--disable-background-networking", "--host-resolver-rules=MAP * ~NOTFOUND",
           f"--user-data-dir={profile}", "--window-size=1200,900", *extra, page.as_uri()]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def _network_urls(net_log: Path) -> dict[str, list[int]]:
    """Every URL the browser requested, with the net errors its source ended with."""
    text = net_log.read_text(encoding="utf-8")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError:  # a log cut at exit: close the events list
        doc = json.loads(text.rstrip().rstrip(",") + "]}")
    urls: dict[int, str] = {}
    errors: dict[int, list[int]] = {}
    for event in doc["events"]:
        source = event.get("source", {}).get("id")
        params = event.get("params") or {}
        if isinstance(params.get("url"), str):
            urls.setdefault(source, params["url"])
        if isinstance(params.get("net_error"), int):
            errors.setdefault(source, []).append(params["net_error"])
    out: dict[str, list[int]] = {}
    for source, url in urls.items():
        out.setdefault(url, []).extend(errors.get(source, []))
    return out


def test_report_in_headless_chromium(archive: Archive, staged: Path, probe: Probe,
                                     judged: list[policy.Verdict], tmp_path: Path) -> None:
    chromium = require_tool("chromium")
    report = policy.coverage(judged, policy.load(staged), at=_dt.date(2026, 12, 2))
    page = tmp_path / "report.html"
    page.write_text(policy.render_html(report), encoding="utf-8")
    assert probe.url in page.read_text(encoding="utf-8").replace("&quot;", '"').replace(
        "&lt;", "<")  # the hostile value is in the page, escaped
    net_log, shot = tmp_path / "net.json", tmp_path / "report.png"
    with probe.serving():
        dom = _chromium(chromium, tmp_path / "profile", page, "--dump-dom",
                        f"--log-net-log={net_log}")
        _chromium(chromium, tmp_path / "profile", page, f"--screenshot={shot}")
    assert probe.requests == []

    # the three parts, with the numbers the generator implies
    for anchor in ('id="coverage-chart"', 'id="violations"', 'id="algorithm-mix"',
                   'id="policy"', "<svg", "<polyline"):
        assert anchor in dom
    assert "<img" not in dom  # the hostile value stayed text
    counts = expected_counts(archive)
    violations = sum(n for v, n in counts.items() if v not in ("compliant", "not-covered"))
    enforced = sum(expected_rule(m) == "Vendor A CT: enforce" and expected_verdict(m) !=
                   "compliant" for m in archive.files)
    assert f"{violations} instance(s) not compliant, {enforced} under an enforced rule" in dom
    assert dom.count('<td class="verdict">') == violations
    rows = Counter(dom.split('<td class="verdict">')[i].split("<", 1)[0]
                   for i in range(1, violations + 1))
    assert rows == {v: n for v, n in counts.items() if v not in ("compliant", "not-covered")}
    signed = sum(m.kind != "unsigned" for m in archive.files)
    assert f'<td class="algorithm">ecdsa-p256</td><td class="count">{signed}</td>' in dom
    md5 = sum(m.kind == "md5" for m in archive.files)
    assert f'<td class="algorithm">md5</td><td class="count">{md5}</td>' in dom
    assert "until 2035-12-31" in dom  # P-256, from the algorithm policy
    assert "enforce from 2026-10-01" in dom  # the rule's start marked on the chart

    # nothing but the page itself was fetched; the browser's own traffic failed to resolve
    urls = _network_urls(net_log)
    assert not any(f"127.0.0.1:{probe.port}" in url for url in urls)
    succeeded = [url for url, errs in urls.items()
                 if not url.startswith(("file:", "data:", "chrome:", "about:"))
                 and not any(e < 0 for e in errs)]
    assert succeeded == []

    assert shot.stat().st_size > 20_000
    if os.environ.get("DICOMSEC_UPDATE_DOCS") == "1":
        shutil.copyfile(shot, DOCS_PNG)
