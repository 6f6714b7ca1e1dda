"""Kept for code that imported the old module to register ``scp``, ``send`` and ``echo``:
every command is registered by :mod:`dicomsec.cli` now (``cli/commands/transport.py``)."""

from __future__ import annotations

import dicomsec.cli.commands.transport  # noqa: F401
