"""The signing policy: which devices must sign, how and from when; verdicts and coverage.

Public API::

    load(path) -> Policy                      (a TOML file: [[rule]] tables, [algorithms])
    Policy.evaluate(report, dataset) -> Verdict
    check_file(path, policy, trust=...) -> Verdict      (verify + attributes from one parse)
    read_attributes(path, policy) -> dict               (for a caller holding a FileReport)
    coverage(verdicts, policy) -> PolicyReport          (per device, per day, algorithm mix)
    Tally().add(verdict) ... .report(policy)            (the same, one verdict at a time)
    render_html(report) -> str                          (one self-contained page)
    violation_event(verdict) -> AuditEvent | None       (POLICY_VIOLATION for the audit trail)

The format, the verdicts and their precedence are in ``docs/trust-and-policy.md``. Layer:
above ``signatures`` and ``trust``, beside ``batch``; nothing here imports ``cli``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from dicomsec._lazy import lazy_exports

if TYPE_CHECKING:
    from dicomsec.policy._audit import violation_event
    from dicomsec.policy._check import check_file, read_attributes
    from dicomsec.policy._coverage import PolicyReport, Tally, coverage, file_entry
    from dicomsec.policy._html import render_html
    from dicomsec.policy._judge import VERDICTS, Policy, Verdict
    from dicomsec.policy._model import Rule, SignerRule

__all__ = ["VERDICTS", "Policy", "PolicyReport", "Rule", "SignerRule", "Tally", "Verdict",
           "check_file", "coverage", "file_entry", "load", "read_attributes", "render_html",
           "violation_event"]

_LAZY = {
    "VERDICTS": "_judge", "Policy": "_judge", "Verdict": "_judge", "Rule": "_model",
    "SignerRule": "_model", "check_file": "_check", "read_attributes": "_check",
    "PolicyReport": "_coverage", "coverage": "_coverage", "Tally": "_coverage",
    "file_entry": "_coverage", "render_html": "_html", "violation_event": "_audit",
}


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, __all__)


def load(path: Path | str) -> Policy:
    """Read a signing policy file.

    The result has ``.rules``, ``.algorithm_policy`` (the file's ``[algorithms]`` overrides
    applied to the default policy, or ``None``) and ``.evaluate(report, dataset)``.

    Raises:
        InvalidInput: unreadable, not TOML, unknown keys or bad values (one line naming the
            rule and the key).
    """
    from dicomsec.policy._judge import Policy
    from dicomsec.policy._model import read_policy

    rules, algorithm_policy = read_policy(Path(path))
    return Policy(rules, algorithm_policy, str(path))
