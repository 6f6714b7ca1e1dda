"""Kept for code that imported the old module to register ``tls-check`` and ``conformance``:
every command is registered by :mod:`dicomsec.cli` now (``cli/commands/tlscheck.py``)."""

from __future__ import annotations

import dicomsec.cli.commands.tlscheck  # noqa: F401
