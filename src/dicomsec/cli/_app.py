"""Kept for code that imported the old module: ``app`` is :func:`dicomsec.cli.get_app`'s app
(with every command). New code imports ``dicomsec.cli`` or ``dicomsec.cli._root``."""

from __future__ import annotations

from dicomsec.cli import get_app
from dicomsec.cli._root import err

__all__ = ["app", "err"]

app = get_app()
