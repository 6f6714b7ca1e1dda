"""Run the ``dicomsec`` command line with the DIMSE commands registered (a test subprocess).

Until ``dicomsec.cli._app`` imports ``dicomsec.cli._transport`` itself, ``python -m dicomsec``
does not know ``scp``/``send``/``echo``; this does what ``main`` does, in the same order: the
profile's OpenSSL configuration first, then ``ssl``, then the commands.
"""

from __future__ import annotations

import sys

from dicomsec.cli import _arrange_tls, main

if __name__ == "__main__":
    args = sys.argv[1:]
    _arrange_tls(args)
    import ssl  # noqa: F401 - after OPENSSL_CONF, so that main() does not arrange it again

    import dicomsec.cli._transport  # noqa: F401 - registers scp, send, echo

    sys.exit(main(args))
