"""``python -m dicomsec``."""

from dicomsec.cli import main

raise SystemExit(main())
