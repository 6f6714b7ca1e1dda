"""dicomsec: DICOM security brought up to date.

Submodules are imported lazily so that ``import dicomsec`` stays cheap (the command line tool
starts often, e.g. once per file in scripts): this module imports nothing, not even
``logging``. The library logs under the ``dicomsec`` logger, which has a ``NullHandler``
(attached here when ``logging`` is already loaded, else by :func:`get_logger`, which modules
that log use instead of ``logging.getLogger``).
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (mypy knows the name)
if TYPE_CHECKING:
    import logging

__version__ = "0.1.0"
__all__ = ["__version__", "get_logger"]


def get_logger(name: str) -> logging.Logger:
    """``logging.getLogger(name)``, with the library's ``NullHandler`` on ``dicomsec``."""
    import logging

    root = logging.getLogger(__name__)
    if not any(isinstance(h, logging.NullHandler) for h in root.handlers):
        root.addHandler(logging.NullHandler())
    return logging.getLogger(name)


if "logging" in sys.modules:
    get_logger(__name__)
