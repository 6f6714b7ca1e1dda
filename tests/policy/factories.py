"""Instances of the policy's report types, ok and not ok, for ``tests/test_reports.py``'s
FACTORIES (``"dicomsec.policy.verdict/1": verdicts``, ``"dicomsec.policy.check/1":
policy_reports``)."""

from __future__ import annotations

import datetime as _dt

from dicomsec.policy import Policy, Rule, Verdict, coverage
from dicomsec.policy._coverage import PolicyReport
from dicomsec.report import Report

_DAY = _dt.date(2026, 10, 2)
_POLICY = Policy((Rule("CT must sign", (("Modality", ("CT",)),), mode="enforce",
                       start=_dt.date(2026, 10, 1)),
                  Rule("MR watched", (("Modality", ("MR",)),))), None, "site.toml")


def _verdicts() -> list[Verdict]:
    return [
        Verdict("a.dcm", "compliant", "CT must sign", "enforce", False, "ACME/CT1/SN-1", _DAY,
                (), ("ecdsa-p256",), ("sha256",), True),
        Verdict("b.dcm", "unsigned", "CT must sign", "enforce", True, "ACME/CT1/SN-1", _DAY,
                ("no signature",)),
        Verdict("c.dcm", "revoked", "MR watched", "monitor", False, "ACME/MR1/SN-2", None,
                ("signer certificate revoked at 2026-08-01T00:00:00+00:00 (key_compromise)",),
                ("rsa-pkcs1v15/2048",), ("sha256",), True),
        Verdict("d.dcm", "not-covered", None, None, False, "unknown device", _DAY,
                ("no rule matches",)),
    ]


def verdicts() -> list[Report]:
    return list(_verdicts())


def policy_reports() -> list[Report]:
    made = _verdicts()
    reports: list[PolicyReport] = [
        coverage(made, _POLICY, at=_DAY),  # an enforced violation: VIOLATED
        coverage([made[0], made[2], made[3]], _POLICY, at=_DAY),  # monitored only: OK
        # files that could not be judged: INCOMPLETE, not ok
        coverage([made[0], made[2], made[3]], _POLICY, at=_DAY,
                 errors=[("e.dcm", "not a DICOM file")]),
    ]
    return list(reports)
