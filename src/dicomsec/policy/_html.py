"""The coverage report as one self-contained HTML page.

Inline CSS and inline SVG, no script, no external resource, and a Content-Security-Policy
that forbids loading anything (``default-src 'none'``), so a hostile value that reaches the
page (a Station Name, a rule name) can neither run nor fetch. Every value goes through
:func:`html.escape`. Stable ids for tests and tools: ``coverage-chart``, ``violations``,
``algorithm-mix``, ``policy``.
"""

from __future__ import annotations

import datetime as _dt
from html import escape
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dicomsec.policy._coverage import DeviceCoverage, PolicyReport

__all__ = ["CSP", "render_html"]

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
#: more days than this are drawn per week (one point per day is noise with few files a day)
_DAILY_MAX = 31
_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b",
            "#e377c2")
_W, _H, _LEFT, _TOP, _BOTTOM = 900, 300, 50, 20, 40

_STYLE = """
body{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:1100px}
h1{font-size:22px}h2{font-size:18px;margin-top:28px}
table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:3px 6px;
text-align:left;vertical-align:top}th{background:#f2f2f2}
.bad{color:#b00020;font-weight:600}.ok{color:#1b7f3b}.muted{color:#777}
.legend span{display:inline-block;margin-right:14px}.sw{display:inline-block;width:12px;
height:12px;margin-right:4px;vertical-align:middle}
"""


def _e(value: object) -> str:
    return escape("" if value is None else str(value), quote=True)


def _buckets(days: list[_dt.date]) -> tuple[list[_dt.date], int]:
    """The x positions (days or Mondays) and the bucket size in days."""
    first, last = min(days), max(days)
    step = 1 if (last - first).days <= _DAILY_MAX else 7
    if step == 7:
        first -= _dt.timedelta(days=first.weekday())
    out, d = [], first
    while d <= last:
        out.append(d)
        d += _dt.timedelta(days=step)
    return out, step


def _series(dev: DeviceCoverage, xs: list[_dt.date], step: int,
            column: int = 2) -> list[tuple[int, float]]:
    """(x index, share of instances compliant (``column`` 2) or signed (1)) of the buckets
    where the device has instances."""
    out = []
    for i, start in enumerate(xs):
        n = c = 0
        for k in range(step):
            got = dev.days.get(start + _dt.timedelta(days=k))
            if got:
                n += got[0]
                c += got[column]
        if n:
            out.append((i, c / n))
    return out


def _chart(report: PolicyReport) -> str:
    # a device no rule covers has no coverage to draw (it stays in the table below)
    devices = [d for d in report.devices if d.files > d.by_verdict.get("not-covered", 0)]
    days = [d for dev in devices for d in dev.days]
    if not days:
        return '<p class="muted">No dated instance that a rule covers: nothing to draw.</p>'
    xs, step = _buckets(days)
    span = max(len(xs) - 1, 1)

    def x(i: float) -> float:
        return _LEFT + (_W - _LEFT - 10) * i / span

    def y(share: float) -> float:
        return _TOP + (_H - _TOP - _BOTTOM) * (1 - share)

    parts = [f'<svg width="{_W}" height="{_H}" '
             f'role="img" aria-label="signing coverage per device">']
    for share in (0, 0.5, 1):
        parts.append(f'<line x1="{_LEFT}" x2="{_W - 10}" y1="{y(share):.1f}" '
                     f'y2="{y(share):.1f}" stroke="#ddd"/><text x="5" y="{y(share) + 4:.1f}" '
                     f'font-size="11">{int(share * 100)}%</text>')
    for i, anchor in ((0, "start"), (len(xs) - 1, "end")):
        parts.append(f'<text x="{x(i):.1f}" y="{_H - 22}" font-size="11" '
                     f'text-anchor="{anchor}">{_e(xs[i].isoformat())}</text>')
    for rule in report.policy.rules:
        if rule.start is None or not xs[0] <= rule.start <= xs[-1] + _dt.timedelta(step - 1):
            continue
        pos = x((rule.start - xs[0]).days / step)
        parts.append(f'<g class="rule-start"><line x1="{pos:.1f}" x2="{pos:.1f}" y1="{_TOP}" '
                     f'y2="{_H - _BOTTOM}" stroke="#555" stroke-dasharray="4 3"/>'
                     f'<text x="{pos + 3:.1f}" y="{_TOP + 10}" font-size="11">'
                     f'{_e(rule.mode)} from {_e(rule.start.isoformat())}: {_e(rule.name)}'
                     f'</text></g>')
    for n, dev in enumerate(devices):
        colour = _COLOURS[n % len(_COLOURS)]
        for column, what, style in ((1, "signed", 'stroke-width="1" stroke-dasharray="2 3"'),
                                    (2, "compliant", 'stroke-width="2"')):
            path = " ".join(f"{x(i):.1f},{y(s):.1f}" for i, s in _series(dev, xs, step, column))
            parts.append(f'<polyline class="{what}" fill="none" stroke="{colour}" {style} '
                         f'points="{path}"><title>{_e(dev.device)}: {what}</title></polyline>')
    parts.append("</svg>")
    legend = "".join(f'<span><i class="sw" style="background:{_COLOURS[n % len(_COLOURS)]}">'
                     f'</i>{_e(d.device)}</span>' for n, d in enumerate(devices))
    unit = "day" if step == 1 else "week"
    return (f"<p>Share of each device's instances that are compliant (solid) and signed "
            f"(dotted), per {unit}; dashed grey lines: a rule's start date.</p>"
            f'{"".join(parts)}<p class="legend">{legend}</p>')


def _devices_table(report: PolicyReport) -> str:
    rows = "".join(
        f"<tr><td>{_e(d.device)}</td><td>{d.files}</td><td>{d.signed}</td>"
        f"<td>{d.compliant}</td><td>{d.enforced}</td><td>"
        + _e(", ".join(f"{k} {n}" for k, n in sorted(d.by_verdict.items()))) + "</td><td>"
        + _e(", ".join(f"{k} {n}" for k, n in sorted(d.by_scheme.items()))) + "</td></tr>"
        for d in report.devices)
    return ('<table class="devices"><tr><th>device</th><th>files</th><th>signed</th>'
            '<th>compliant</th><th>enforced violations</th><th>verdicts</th><th>schemes</th>'
            f"</tr>{rows}</table>")


def _violations(report: PolicyReport) -> str:
    bad = report.violations
    total = report.violation_count
    rows = "".join(
        f'<tr class="{"enforced" if v.enforced else "monitored"}"><td>{_e(v.path)}</td>'
        f"<td>{_e(v.device)}</td><td>{_e(v.date.isoformat() if v.date else '-')}</td>"
        f'<td class="verdict">{_e(v.verdict)}</td><td>{_e(v.rule)}</td><td>{_e(v.mode)}</td>'
        f'<td class="{"bad" if v.enforced else "muted"}">{"yes" if v.enforced else "no"}</td>'
        f"<td>{_e('; '.join(v.details))}</td></tr>" for v in bad)
    more = (f'<p class="muted">... and {total - len(bad)} more (see --json)</p>'
            if total > len(bad) else "")
    return (f"<p>{total} instance(s) not compliant, {report.enforced} under "
            "an enforced rule.</p><table><tr><th>file</th><th>device</th><th>date</th>"
            "<th>verdict</th><th>rule</th><th>mode</th><th>enforced</th><th>details</th></tr>"
            f"{rows}</table>{more}")


def _algorithm_mix(report: PolicyReport) -> str:
    total = max((a.count for a in report.algorithms), default=1)

    def until(allowed: bool, day: _dt.date | None) -> str:
        if allowed:
            return f"until {day.isoformat()}" if day else "no end known"
        return f'<span class="bad">refused{" after " + day.isoformat() if day else ""}</span>'

    rows = "".join(
        f'<tr><td>{_e(a.kind)}</td><td class="algorithm">{_e(a.algorithm)}</td>'
        f'<td class="count">{a.count}</td><td><svg width="160" height="12"><rect width="'
        f'{160 * a.count / total:.1f}" height="12" fill="{"#d62728" if a.legacy else "#1f77b4"}'
        f'"/></svg></td><td>{"yes" if a.quantum_vulnerable else "no"}</td>'
        f'<td>{"yes" if a.legacy else "no"}</td><td>{until(a.create_allowed, a.create_until)}'
        f"</td><td>{until(a.verify_allowed, a.verify_until)}</td></tr>"
        for a in report.algorithms)
    judge = report.policy.effective_algorithm_policy().name
    return (f"<p>Algorithms of the signatures found, judged by {_e(judge)} on "
            f"{_e(report.at.isoformat())}.</p><table><tr><th>kind"
            "</th><th>algorithm</th><th>signatures</th><th></th><th>quantum-vulnerable</th>"
            "<th>legacy</th><th>new signatures</th><th>verification</th></tr>"
            f"{rows}</table>")


def _policy(report: PolicyReport) -> str:
    rows = []
    for n, r in enumerate(report.policy.rules, 1):
        match = ", ".join(f"{k} = {' | '.join(v)}" for k, v in r.match) or "every instance"
        extra = []
        if r.signer is not None:
            extra += [f"issuer {r.signer.issuer}"] if r.signer.issuer else []
            extra += [f"subject {r.signer.subject}"] if r.signer.subject else []
            extra += ["device must match"] if r.signer.device_must_match else []
        extra += ["timestamp"] if r.timestamp else []
        extra += [f"schemes {', '.join(r.schemes)}"] if r.schemes else []
        extra += [f"macs {', '.join(r.macs)}"] if r.macs else []
        rows.append(f"<tr><td>{n}</td><td>{_e(r.name)}</td><td>{_e(match)}</td>"
                    f"<td>{_e(r.require)}</td><td>{_e(r.mode)}</td>"
                    f"<td>{_e(r.start.isoformat() if r.start else 'always')}</td>"
                    f"<td>{_e('; '.join(extra))}</td></tr>")
    return (f"<p>From {_e(report.policy.source or '-')}; the first matching rule whose start "
            "has come judges an instance.</p><table><tr><th>#</th><th>rule</th><th>match</th>"
            "<th>require</th><th>mode</th><th>from</th><th>also</th></tr>"
            f"{''.join(rows)}</table>")


def render_html(report: PolicyReport) -> str:
    """The report as one HTML page (UTF-8 text), without any external resource."""
    counts = ", ".join(f"{_e(k)} {n}" for k, n in report.by_verdict.items()) or "no files"
    verdict = ('<span class="ok">no enforced rule violated</span>' if report.ok else
               f'<span class="bad">{report.enforced} enforced '
               "violation(s)</span>")
    errors = (f'<p class="bad">{len(report.errors)} file(s) could not be read.</p>'
              if report.errors else "")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        f"<title>dicomsec signing policy report</title><style>{_STYLE}</style></head><body>"
        f"<h1>Signing policy report</h1><p>{report.files} files: {counts}. "
        f"{verdict}. Judged on {_e(report.at.isoformat())}.</p>{errors}"
        f'<section id="coverage-chart"><h2>Signing coverage per device</h2>{_chart(report)}'
        f"{_devices_table(report)}</section>"
        f'<section id="violations"><h2>Violations</h2>{_violations(report)}</section>'
        f'<section id="algorithm-mix"><h2>Algorithm mix</h2>{_algorithm_mix(report)}</section>'
        f'<section id="policy"><h2>Policy applied</h2>{_policy(report)}</section>'
        "</body></html>\n")
