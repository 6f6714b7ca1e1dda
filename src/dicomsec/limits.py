"""The one table of resource limits: counts, sizes and times checked *while reading*, before
memory or time is spent on hostile structure.

Every parser asks :func:`current` once per input and compares its counters against the fields;
exceeding one raises :class:`LimitExceeded` (an :class:`~dicomsec.errors.InvalidInput`, exit 2)
naming the limit and how to raise it. The defaults keep the peak memory of any command on
hostile structure under 150 MB while accepting every real file we know of; docs/security.md
lists them with their reasons.

A library user raises a limit for a block of code with :func:`applied`, or for the process with
:func:`set_default`; the command line does it with ``--limit NAME=VALUE`` (repeatable) or the
environment variable ``DICOMSEC_LIMITS`` (``"elements=2000000,ccm_bytes=256M"``).

    >>> from dicomsec import limits
    >>> with limits.applied(limits.current().replaced(elements=5_000_000)):
    ...     pass  # parse a very large enhanced multi-frame file here
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from dicomsec.errors import InvalidInput

__all__ = ["DESCRIPTIONS", "ENVIRONMENT", "MAXIMA", "LimitExceeded", "Limits", "applied",
           "current", "from_environment", "set_default"]

#: the environment variable the command line reads (comma-separated ``name=value`` pairs)
ENVIRONMENT = "DICOMSEC_LIMITS"

_KIB, _MIB = 1 << 10, 1 << 20


@dataclass(frozen=True, slots=True)
class Limits:
    """Resource limits; every field is a maximum (a count, bytes, or seconds): what each one
    bounds is in :data:`DESCRIPTIONS` (CMS, DICOM data sets, the DICOM network)."""

    recipients: int = 1024
    certificates: int = 256
    signers: int = 64
    der_depth: int = 32
    ccm_bytes: int = 32 * _MIB
    elements: int = 500_000
    items: int = 200_000
    fragments: int = 1_000_000
    depth: int = 64
    signatures: int = 256
    signatures_per_file: int = 1024
    value_bytes: int = 16 * _MIB
    pdu_bytes: int = 1 * _MIB
    association_pdu_bytes: int = 64 * _KIB
    spool_bytes: int = 4 * _MIB
    spool_total_bytes: int = 32 * _MIB
    pixel_bytes: int = 128 * _MIB
    ocr_frames: int = 500

    def replaced(self, **changes: int) -> Limits:
        """A copy with some limits changed (names as the fields; values ≥ 1)."""
        names = {f.name for f in dataclasses.fields(self)}
        for name, value in changes.items():
            if name not in names:
                raise InvalidInput(f"unknown limit {name!r} (known: {', '.join(sorted(names))})")
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidInput(f"limit {name} must be a whole number of at least 1")
            if value > MAXIMA.get(name, value):
                raise InvalidInput(f"limit {name} must be at most {MAXIMA[name]}: "
                                   f"{MAXIMA_WHY[name]}")
        return dataclasses.replace(self, **changes)

    def with_pairs(self, pairs: Iterable[str]) -> Limits:
        """A copy with ``name=value`` pairs applied; values take K, M or G (powers of 1024) and
        ``_`` separators: ``ccm_bytes=256M``, ``elements=2_000_000``.

        Raises:
            InvalidInput: an unknown name or a value that is not a positive whole number.
        """
        changes: dict[str, int] = {}
        for pair in pairs:
            name, sep, text = pair.partition("=")
            name = name.strip().replace("-", "_")
            if not sep or not name:
                raise InvalidInput(f"limit {pair!r} is not NAME=VALUE")
            changes[name] = _parse_value(name, text.strip())
        return self.replaced(**changes)

    def as_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)


#: what each limit bounds (the one place it is written: ``dicomsec limits`` and the docs use it)
DESCRIPTIONS: dict[str, str] = {
    "recipients": "recipient keys in one EnvelopedData / AuthEnvelopedData: each RecipientInfo "
                  "counts one, a KeyAgreeRecipientInfo one per RecipientEncryptedKey",
    "certificates": "certificates (and CRLs) in one SignedData",
    "signers": "SignerInfos in one SignedData",
    "der_depth": "nesting depth of BER/DER",
    "ccm_bytes": "one-shot AEAD content (AES-CCM cannot be decrypted in bounded memory: "
                 "refused above)",
    "elements": "data elements in one data set, all nesting levels counted",
    "items": "sequence items in one data set, all sequences counted",
    "fragments": "encapsulated Pixel Data fragments in one file (16 bytes each in memory)",
    "depth": "sequence nesting depth",
    "signatures": "Digital Signatures Sequence (and MAC Parameters Sequence) items on one level",
    "signatures_per_file": "Digital Signatures Sequence items in one file, all levels (each "
                           "costs a certificate parse and a path validation)",
    "value_bytes": "any single value that has to be held in memory whole",
    "pdu_bytes": "P-DATA-TF PDU length after association (the negotiated maximum may be lower)",
    "association_pdu_bytes": "any PDU before the association is accepted",
    "spool_bytes": "one received C-STORE data set the SCP holds in memory (beyond: spooled into "
                   "an unnamed file in --out); also bounds any other DIMSE message held until "
                   "complete, never below 64 KiB",
    "spool_total_bytes": "received data sets the SCP holds in memory, all associations together",
    "pixel_bytes": "decoded pixel data of one image held whole while burned-in text is cleaned "
                   "(deid --option clean-pixel-data)",
    "ocr_frames": "distinct frames of one image read with OCR (about 0.5 s each)",
}


#: the highest value a limit may be raised to, where a higher one would break something else
#: than memory: recursion depth of the parsers, the 32-bit PDU length of PS3.8
MAXIMA: dict[str, int] = {
    "der_depth": 256,
    "pdu_bytes": 1 << 30,
    "association_pdu_bytes": 1 << 30,
}
MAXIMA_WHY: dict[str, str] = {
    "der_depth": "asn1crypto parses the checked elements recursively, once per level",
    "pdu_bytes": "a PDU length is 32 bits (PS3.8 9.3) and a PDU is judged whole",
    "association_pdu_bytes": "a PDU length is 32 bits (PS3.8 9.3) and a PDU is judged whole",
}


class LimitExceeded(InvalidInput):
    """Input whose structure exceeds a limit (exit 2); the message names the limit."""

    def __init__(self, what: str, name: str, limit: int, *, path: str | None = None) -> None:
        super().__init__(
            f"{what}: over the limit {name}={limit} (raise it with --limit {name}=N)", path=path)
        self.name = name
        self.limit = limit


_VALUE = re.compile(r"^([0-9][0-9_]*)([KMG]?)$", re.IGNORECASE)
_SCALE = {"": 1, "K": _KIB, "M": _MIB, "G": 1 << 30}


def _parse_value(name: str, text: str) -> int:
    m = _VALUE.match(text)
    if not m:
        raise InvalidInput(f"limit {name} must be a whole number (with K, M or G), not {text!r}")
    return int(m.group(1).replace("_", "")) * _SCALE[m.group(2).upper()]


_default = Limits()
_active: contextvars.ContextVar[Limits | None] = contextvars.ContextVar("dicomsec_limits",
                                                                        default=None)


def current() -> Limits:
    """The limits in force here: those of the innermost :func:`applied` block of this context,
    else the process default."""
    active = _active.get()
    return _default if active is None else active


def set_default(limits: Limits) -> None:
    """Set the process-wide limits (threads and contexts without their own see these)."""
    global _default
    _default = limits


@contextlib.contextmanager
def applied(limits: Limits) -> Iterator[Limits]:
    """Use ``limits`` inside the block (this thread / context only)."""
    token = _active.set(limits)
    try:
        yield limits
    finally:
        _active.reset(token)


def from_environment(environ: dict[str, str] | None = None, *,
                     pairs: Iterable[str] = ()) -> Limits:
    """The defaults, then ``DICOMSEC_LIMITS``, then ``pairs`` (the command line's ``--limit``)."""
    import os

    env = os.environ if environ is None else environ
    text = env.get(ENVIRONMENT, "")
    base = Limits().with_pairs(p for p in text.split(",") if p.strip())
    return base.with_pairs(pairs)
