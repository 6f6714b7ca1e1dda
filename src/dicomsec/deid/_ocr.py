"""OCR of burned-in text for ``--option clean-pixel-data``: Tesseract through pytesseract.

Low-level helper of :mod:`dicomsec.deid._pixels`, imported only when OCR is asked for. The
engine is Debian's ``tesseract-ocr`` (found on ``PATH`` with :func:`shutil.which`) driven by
``pytesseract`` (the ``[ocr]`` extra). Each frame arrives as an 8-bit grey image (the caller
applies the window or min/max); frames are upscaled (bicubic: 3x up to 512 pixels, 2x up to
1280, :data:`SCALES`) so that text of a few pixels reaches the size Tesseract reads best, and
Tesseract runs twice in sparse-text mode (``--psm 11``: annotations are scattered words, not a
page): on the grey frame, and on the frame binarised at :data:`BRIGHT` (burned-in text is
written near full brightness; the binary image reads it even over anatomy, where the grey one
does not). Every word box whose confidence is at least :data:`MIN_CONFIDENCE`, that holds a
letter or a digit and is not taller than an eighth of the frame (:data:`TALL_FRACTION`) is
grown by a margin (a quarter of its height, at least :data:`MIN_MARGIN` pixels) and returned in
frame coordinates.

What it does not catch: text Tesseract cannot read (handwriting, heavily stylised or rotated
text, text on busy anatomy, characters under about 4 pixels high or over an eighth of the
frame high); such text needs a region rule (:mod:`dicomsec.deid._pixels`).
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import shutil
from collections.abc import Iterator
from typing import TYPE_CHECKING

from dicomsec.errors import InvalidInput

if TYPE_CHECKING:
    import numpy as np

__all__ = ["MIN_CONFIDENCE", "MIN_MARGIN", "TIMEOUT", "tesseract", "text_boxes"]

#: lowest word confidence (0-100, Tesseract's scale) that counts as text
MIN_CONFIDENCE = 30.0
#: smallest margin (frame pixels) added on every side of a word box
MIN_MARGIN = 2
#: upscaling by the longer side of the frame: (at most this many pixels, factor); burned-in
#: text is 8-16 pixels high whatever the matrix, and Tesseract reads best at 25-50 pixels
SCALES = ((512, 3), (1280, 2))
#: a word taller than this fraction of the frame (and than TALL_MIN pixels) is taken for
#: anatomy Tesseract misread (a bright valve read as "ss" at 39 of 240 rows), not text
TALL_FRACTION = 1 / 8
TALL_MIN = 24
#: 8-bit level at and above which a pixel counts as text in the binarised pass
BRIGHT = 230
#: seconds one Tesseract call may take before the image is refused
TIMEOUT = 120

_MISSING = ("OCR of burned-in text needs Tesseract: install the extra with "
            "'pip install dicomsec[ocr]' and the engine with 'apt-get install tesseract-ocr' "
            "(Debian), or give --pixel-rules without OCR")


def tesseract() -> str:
    """The Tesseract engine's name and version (``"tesseract 5.3.0"``).

    Raises:
        InvalidInput: pytesseract is not installed or no ``tesseract`` program is on PATH.
    """
    path = shutil.which("tesseract")
    try:
        import pytesseract  # type: ignore[import-untyped]
    except ImportError:
        raise InvalidInput(_MISSING) from None
    if path is None:
        raise InvalidInput(_MISSING)
    pytesseract.pytesseract.tesseract_cmd = path
    return f"tesseract {_version(path)}"


@functools.cache
def _version(path: str) -> str:
    import pytesseract

    try:
        return str(pytesseract.get_tesseract_version())
    except (OSError, pytesseract.TesseractError, pytesseract.TesseractNotFoundError) as exc:
        raise InvalidInput(f"{_MISSING} (running {path} failed)") from exc


@contextlib.contextmanager
def _one_thread() -> Iterator[None]:
    """Tesseract's OpenMP threads spin on a busy machine (measured here: 3.6-4.2 s for one
    1280x960 frame, 0.8-1.1 s with one thread) and batches already use every core: unless the
    caller set ``OMP_THREAD_LIMIT``, the Tesseract processes started inside get 1 (the
    variable is restored afterwards; pytesseract passes the environment on, nothing else)."""
    if "OMP_THREAD_LIMIT" in os.environ:
        yield
        return
    os.environ["OMP_THREAD_LIMIT"] = "1"
    try:
        yield
    finally:
        os.environ.pop("OMP_THREAD_LIMIT", None)


def text_boxes(grey: np.ndarray, *, where: str = "frame", binary: bool = False
               ) -> list[tuple[int, int, int, int]]:
    """Word boxes ``(x, y, width, height)`` of the text Tesseract reads in one 8-bit grey frame,
    each grown by its margin and clipped to the frame.

    Call :func:`tesseract` first (it finds the program). ``where`` names the frame in errors.
    ``binary``: the frame is already black and white (an overlay plane, 0 or 255): only the
    binarised pass runs (the grey one would read the same pixels a second time).

    Raises:
        InvalidInput: Tesseract failed or took longer than :data:`TIMEOUT` seconds.
    """
    import pytesseract
    from PIL import Image

    rows, columns = int(grey.shape[0]), int(grey.shape[1])
    scale = next((factor for side, factor in SCALES if max(rows, columns) <= side), 1)
    inverted = (grey < BRIGHT).astype("uint8") * 255   # bright text -> black on white
    tallest = max(TALL_MIN, rows * TALL_FRACTION) * scale
    boxes: list[tuple[int, int, int, int]] = []
    for plane in ((inverted,) if binary else (grey, inverted)):
        image = Image.fromarray(plane)
        if scale > 1:
            image = image.resize((columns * scale, rows * scale), Image.Resampling.BICUBIC)
        try:
            with _one_thread():
                data = pytesseract.image_to_data(image, config="--psm 11",
                                                 output_type=pytesseract.Output.DICT,
                                                 timeout=TIMEOUT)
        except (RuntimeError, OSError, pytesseract.TesseractError) as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else "no output"
            raise InvalidInput(f"OCR of {where} failed: {reason}") from exc
        for text, conf, left, top, width, height in zip(
                data["text"], data["conf"], data["left"], data["top"], data["width"],
                data["height"], strict=True):
            if (float(conf) < MIN_CONFIDENCE or int(height) > tallest
                    or not any(c.isalnum() for c in str(text))):
                continue
            box = _grown(int(left), int(top), int(width), int(height), scale, rows, columns)
            if box not in boxes:
                boxes.append(box)
    return boxes


def _grown(left: int, top: int, width: int, height: int, scale: int, rows: int,
           columns: int) -> tuple[int, int, int, int]:
    """A word box of the upscaled image, back in frame pixels, grown by its margin, clipped."""
    x0, y0 = left // scale, top // scale
    x1, y1 = -(-(left + width) // scale), -(-(top + height) // scale)
    margin = max(MIN_MARGIN, math.ceil((y1 - y0) / 4))
    x0, y0 = max(0, x0 - margin), max(0, y0 - margin)
    x1, y1 = min(columns, x1 + margin), min(rows, y1 + margin)
    return x0, y0, x1 - x0, y1 - y0
