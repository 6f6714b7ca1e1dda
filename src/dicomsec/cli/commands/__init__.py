"""The commands of the ``dicomsec`` tool, one module per group; each registers its commands
with :func:`dicomsec.cli._root.command` when imported (``dicomsec.cli`` imports them all)."""

from __future__ import annotations

#: the command modules, in the order their commands appear in ``--help``
MODULES = ("sign", "verify", "signatures", "keys", "pki", "trust", "policy", "securefile",
           "deid", "tlscheck", "transport", "limits", "audit")
