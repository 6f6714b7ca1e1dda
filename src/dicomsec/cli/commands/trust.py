"""``dicomsec trust ...``: see docs/trust-and-policy.md."""

from __future__ import annotations
