"""Audit events of the signing policy: a verdict that violates a rule is a POLICY_VIOLATION
(DICOM 110113 Security Alert, type 110144 Authorization Decision).

A verdict is a violation when a rule judged the file and the verdict is not ``compliant``
(``not-covered``, no rule, is none). Outcome 4 (minor failure: refused) when the rule
enforces, 8 (serious failure: let through) when it only monitors. The event names the file
by its URI and says, as its Alert Description, which rule, which verdict, why and the
algorithms of the file's signatures; never a key or the file's content.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from dicomsec.events import AuditEvent, AuditObject, ObjectKind, Operation, Outcome

if TYPE_CHECKING:
    from dicomsec.policy._judge import Verdict

__all__ = ["violation_event"]

#: verdicts that are no violation
_NOT_VIOLATIONS = frozenset({"compliant", "not-covered"})


def violation_event(verdict: Verdict) -> AuditEvent | None:
    """The POLICY_VIOLATION event of ``verdict``, or ``None`` when it violates no rule."""
    if verdict.verdict in _NOT_VIOLATIONS or verdict.rule is None:
        return None
    algorithms = ", ".join((*verdict.schemes, *verdict.macs)) or "none"
    action = "refused (enforce)" if verdict.enforced else "let through (monitor)"
    alert = (f"rule {verdict.rule!r} ({verdict.mode}): {verdict.verdict}; {action}; "
             f"algorithms: {algorithms}"
             + (f"; {'; '.join(verdict.details)}" if verdict.details else ""))
    path = Path(verdict.path)
    target = AuditObject(ObjectKind.FILE, path.resolve().as_uri(), name=path.name,
                         details=(("Alert Description", alert),))
    outcome = Outcome.MINOR_FAILURE if verdict.enforced else Outcome.SERIOUS_FAILURE
    return AuditEvent(Operation.POLICY_VIOLATION, outcome,
                      f"signing policy {verdict.verdict}: rule {verdict.rule!r}",
                      objects=(target,))
