"""dicomsec: DICOM security brought up to date.

Submodules are imported lazily so that ``import dicomsec`` stays cheap (the command line tool
starts often, e.g. once per file in scripts).
"""

from __future__ import annotations

import logging

__version__ = "0.1.0"
__all__ = ["__version__"]

logging.getLogger(__name__).addHandler(logging.NullHandler())
