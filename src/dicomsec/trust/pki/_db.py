"""The database of the site PKI: ``index.txt`` in OpenSSL ``ca`` format, and ``pki.toml``.

``index.txt`` (one line per issued certificate, tab-separated; spec: trust §3) is the very file
``openssl ca -gencrl`` and ``openssl ocsp -index`` read:

    V|R|E <TAB> notAfter YYMMDDHHMMSSZ <TAB> revocation YYMMDDHHMMSSZ[,reason] (empty for V)
    <TAB> serial (upper-case hex, even length) <TAB> unknown <TAB> /CN=.../serialNumber=...

Reasons are OpenSSL's names (``keyCompromise``...); a key or CA compromise with an invalidity
date is written as OpenSSL writes it (``keyTime,YYYYMMDDHHMMSSZ`` / ``CAkeyTime,...``), a hold
as ``certificateHold,holdInstructionNone``. Each CA of the site has its own index: with an
issuing CA, ``index.txt`` is the issuing CA's and ``root.index.txt`` the root's.

``pki.toml`` holds the settings (key type, URLs, which CA issues, CRL numbers, a token URI):
never a passphrase or a PIN. Changes are made under an exclusive lock (``DIR/.lock``) and
written atomically.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import fcntl
import json
import os
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from dicomsec._atomic import atomic_write_bytes
from dicomsec.errors import InvalidInput

__all__ = ["REASONS", "Entry", "Settings", "lock", "read_index", "read_settings", "write_index",
           "write_settings"]

#: RFC 5280 reason names as the CLI takes them → OpenSSL's index names
REASONS: dict[str, str] = {
    "unspecified": "unspecified",
    "key-compromise": "keyCompromise",
    "ca-compromise": "CACompromise",
    "affiliation-changed": "affiliationChanged",
    "superseded": "superseded",
    "cessation-of-operation": "cessationOfOperation",
    "certificate-hold": "certificateHold",
    "privilege-withdrawn": "privilegeWithdrawn",
}
_FROM_OPENSSL = {v: k for k, v in REASONS.items()} | {"keyTime": "key-compromise",
                                                       "CAkeyTime": "ca-compromise"}
#: the largest index.txt read (a site PKI of ~100 000 certificates)
MAX_INDEX_BYTES = 64 << 20


def _utc(text: str, what: str) -> _dt.datetime:
    fmt = "%Y%m%d%H%M%SZ" if len(text) == 15 else "%y%m%d%H%M%SZ"
    try:
        return _dt.datetime.strptime(text, fmt).replace(tzinfo=_dt.UTC)
    except ValueError:
        raise InvalidInput(f"index.txt: bad {what} {text!r}") from None


def _short(moment: _dt.datetime) -> str:
    """UTCTime as OpenSSL writes it (GeneralizedTime from 2050 on)."""
    moment = moment.astimezone(_dt.UTC)
    return moment.strftime("%y%m%d%H%M%SZ" if moment.year < 2050 else "%Y%m%d%H%M%SZ")


@dataclass(frozen=True, slots=True)
class Entry:
    """One certificate of a CA's index."""

    status: str                      # "V" valid, "R" revoked, "E" expired (as written)
    not_after: _dt.datetime
    serial: int
    subject: str                     # OpenSSL's one-line form
    revoked_at: _dt.datetime | None = None
    reason: str | None = None        # a key of REASONS
    invalidity: _dt.datetime | None = None

    @property
    def serial_hex(self) -> str:
        """The serial as index.txt writes it: upper-case hex, even length."""
        text = f"{self.serial:X}"
        return text if len(text) % 2 == 0 else "0" + text

    def status_at(self, now: _dt.datetime) -> str:
        if self.status == "R":
            return "R"
        return "E" if self.not_after <= now else "V"

    def revoke(self, at: _dt.datetime, reason: str,
               invalidity: _dt.datetime | None = None) -> Entry:
        return replace(self, status="R", revoked_at=at, reason=reason, invalidity=invalidity)

    def line(self) -> str:
        revocation = ""
        if self.revoked_at is not None:
            reason = REASONS[self.reason or "unspecified"]
            if self.invalidity is not None and reason in ("keyCompromise", "CACompromise"):
                reason = ("keyTime," if reason == "keyCompromise" else "CAkeyTime,") + \
                    self.invalidity.astimezone(_dt.UTC).strftime("%Y%m%d%H%M%SZ")
            elif reason == "certificateHold":
                reason += ",holdInstructionNone"
            revocation = f"{_short(self.revoked_at)},{reason}"
        return "\t".join((self.status, _short(self.not_after), revocation, self.serial_hex,
                          "unknown", self.subject))


def _parse_line(line: str, n: int) -> Entry:
    fields = line.split("\t")
    if len(fields) != 6 or fields[0] not in ("V", "R", "E"):
        raise InvalidInput(f"index.txt line {n}: not an OpenSSL index line")
    status, not_after, revocation, serial, _file, subject = fields
    try:
        number = int(serial, 16)
    except ValueError:
        raise InvalidInput(f"index.txt line {n}: bad serial {serial[:40]!r}") from None
    entry = Entry(status, _utc(not_after, "notAfter"), number, subject)
    if status != "R":
        return entry
    when, _, rest = revocation.partition(",")
    name, _, extra = rest.partition(",")
    invalidity = _utc(extra, "invalidity date") if name in ("keyTime", "CAkeyTime") else None
    return entry.revoke(_utc(when, "revocation date"), _FROM_OPENSSL.get(name, "unspecified"),
                        invalidity)


def read_index(path: Path) -> list[Entry]:
    """Every entry of an index file (a missing file: none).

    Raises:
        InvalidInput: unreadable, too large, or a malformed line.
    """
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_INDEX_BYTES + 1)
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise InvalidInput(f"cannot read: {exc.strerror}", path=str(path)) from None
    if len(data) > MAX_INDEX_BYTES:
        raise InvalidInput(f"larger than {MAX_INDEX_BYTES >> 20} MiB", path=str(path))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput("not UTF-8 text", path=str(path)) from None
    return [_parse_line(line, n) for n, line in enumerate(text.splitlines(), 1) if line]


def write_index(path: Path, entries: list[Entry]) -> None:
    """Write an index file (and its ``.attr`` next to it the first time), atomically."""
    atomic_write_bytes(path, "".join(e.line() + "\n" for e in entries).encode(), mode=0o644)
    attr = path.with_name(path.name + ".attr")
    if not attr.exists():
        atomic_write_bytes(attr, b"unique_subject = no\n", mode=0o644)


@dataclass(frozen=True, slots=True)
class Settings:
    """``pki.toml``: what the site configured. Never a passphrase or a PIN."""

    key_type: str
    issuer: str                      # "root" or "issuing": the CA that issues end entities
    crl_url: str | None = None
    ocsp_url: str | None = None
    organization: str | None = None
    ca_key: str | None = None        # a PKCS#11 URI when the CA keys are in a token
    crl_number: int = 0              # the last CRL number of the issuing CA
    root_crl_number: int = 0         # ... of the root, when there is an issuing CA


def read_settings(folder: Path) -> Settings:
    """``DIR/pki.toml``.

    Raises:
        InvalidInput: not a site PKI folder, or a malformed file.
    """
    path = folder / "pki.toml"
    try:
        data: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidInput("not a site PKI folder (no pki.toml; make one with "
                           "'dicomsec pki init')", path=str(folder)) from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise InvalidInput(f"unreadable pki.toml: {exc}", path=str(folder)) from None
    known = set(Settings.__dataclass_fields__)
    try:
        settings = Settings(**{k: v for k, v in data.items() if k in known})
    except TypeError as exc:
        raise InvalidInput(f"pki.toml: {exc}", path=str(folder)) from None
    if settings.issuer not in ("root", "issuing"):
        raise InvalidInput("pki.toml: issuer must be 'root' or 'issuing'", path=str(folder))
    return settings


def write_settings(folder: Path, settings: Settings) -> None:
    lines = ["# dicomsec site PKI settings (never a passphrase or a PIN)"]
    for key in Settings.__dataclass_fields__:
        value = getattr(settings, key)
        if value is not None:
            lines.append(f"{key} = {json.dumps(value)}")  # a JSON string is a TOML string
    atomic_write_bytes(folder / "pki.toml", ("\n".join(lines) + "\n").encode(), mode=0o644)


@contextlib.contextmanager
def lock(folder: Path) -> Iterator[None]:
    """An exclusive lock on the PKI folder while its database changes."""
    try:
        fd = os.open(folder / ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise InvalidInput(f"cannot lock the PKI folder: {exc.strerror}",
                           path=str(folder)) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
