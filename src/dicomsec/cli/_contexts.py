"""Explicit contexts the commands build from their arguments: signing keys, trust stores,
the algorithm policy.

Nothing here falls back to the OS trust store or reads configuration on its own; the library
modules are imported when a context is built, not before.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from dicomsec.cli._root import usage

if TYPE_CHECKING:
    import datetime as _dt

    from dicomsec._pkcs11 import Pkcs11SigningKey
    from dicomsec.algorithms.policy import AlgorithmPolicy
    from dicomsec.keys import FileSigningKey
    from dicomsec.trust import TrustStore

__all__ = ["CRL_HELP", "MAX_SECONDS", "OFFLINE_HELP", "SOFT_FAIL_HELP", "TRUST_HELP",
           "UNTRUSTED_HELP", "TrustArgs", "algorithm_policy", "cached_trust_store", "closing_key",
           "count", "http_url", "input_error", "input_file", "key_password", "load_signing_key",
           "moment", "output_file", "port_number", "seconds", "trust_store"]

#: the help of ``--algorithm-policy`` (sign, verify, wrap, unwrap, keys generate)
POLICY_HELP = ("Algorithm policy file (TOML) that tightens or loosens the default policy "
               "(see docs/algorithm-policy.md).")


def algorithm_policy(path: Path | None) -> AlgorithmPolicy | None:
    """The policy of ``--algorithm-policy FILE``; ``None`` when it is not given: the library
    then uses the default policy (``--allow-legacy`` goes to the library as its short form).

    Raises:
        InvalidInput: the file cannot be read or is not a valid policy (one line naming it).
    """
    if path is None:
        return None
    from dicomsec.algorithms.policy import AlgorithmPolicy

    return AlgorithmPolicy.from_toml(path)


def moment(text: str | None, option: str = "--at") -> _dt.datetime | None:
    """An ISO 8601 date or date and time (``2036-06-01``, ``2036-06-01T12:00:00+01:00``; naive
    ones are UTC); ``None`` for ``None``.

    The value is returned in UTC.

    Raises:
        InvalidInput: not such a value, or one outside the years 1 to 9999 in UTC.
    """
    if text is None:
        return None
    import datetime as _dt

    from dicomsec.errors import InvalidInput

    try:
        value = _dt.datetime.fromisoformat(text)
        # in UTC now: an offset that moves it out of the years 1 to 9999 is bad input here,
        # not an OverflowError later
        return (value.astimezone(_dt.UTC) if value.tzinfo is not None
                else value.replace(tzinfo=_dt.UTC))
    except ValueError:
        raise InvalidInput(f"{option} takes an ISO 8601 date or date and time, not "
                           f"{text!r}") from None
    except OverflowError:
        raise InvalidInput(f"{option} {text!r} is out of range in UTC") from None


def _asker(key: Path, asked: list[bytes]) -> Callable[[], bytes | None]:
    """A prompt for the password of ``key`` on a terminal (``None`` elsewhere); what it reads
    is appended to ``asked``."""

    def ask() -> bytes | None:
        if sys.stdin.isatty():
            import getpass

            asked.append(getpass.getpass(f"password for {key}: ").encode())
            return asked[-1]
        return None

    return ask


#: the help of ``--key-password-file`` (sign, scp, send, echo)
PASSWORD_HELP = ("File whose first line is the key password (else $DICOMSEC_KEY_PASSWORD, "  # noqa: S105
                 "else a prompt on a terminal).")


def key_password(key: Path, password_file: Path | None) -> bytes:
    """The password of a TLS key file, read as ``sign`` reads it: ``password_file``, else
    ``$DICOMSEC_KEY_PASSWORD``, else a prompt on a terminal; the key is loaded once to check
    it, so that a wrong or missing password is one error naming the key file.

    Returns ``b""`` for a key that is not encrypted: OpenSSL, given a password, never
    prompts a second time.

    Raises:
        InvalidInput: unreadable key, not a key, wrong or missing password.
    """
    from dicomsec.keys import load_private_key, read_password

    asked: list[bytes] = []
    password = read_password(password_file)
    load_private_key(key, password=password,
                     password_callback=None if password is not None else _asker(key, asked))
    if password is None:
        password = asked[-1] if asked else b""
    return password


#: the help of ``--pin-file`` (sign with a PKCS#11 key)
PIN_HELP = ("File whose first line is the PIN of the PKCS#11 token of a pkcs11: --key (else "
            "$DICOMSEC_PKCS11_PIN, else a prompt on a terminal; never in the URI).")


def load_signing_key(key: Path | str, cert: Path, password_file: Path | None,
                     rsa_pss: bool = False, *, pin_file: Path | None = None,
                     deterministic: bool = False) -> FileSigningKey | Pkcs11SigningKey:
    """A signing key from a key file and its certificate; the password comes from
    ``password_file``, else ``$DICOMSEC_KEY_PASSWORD``, else a prompt on a terminal.

    A ``pkcs11:`` URI (RFC 7512) names a key in a token instead: its PIN comes from
    ``pin_file``, else ``$DICOMSEC_PKCS11_PIN``, else a prompt on a terminal; it cannot sign
    ``deterministic``-ally (refused before the token is opened).
    """
    from dicomsec.errors import InvalidInput

    if isinstance(key, str) and key[:7].lower() == "pkcs11:":
        from dicomsec._pkcs11 import open_signing_key
        from dicomsec.keys import load_certificate

        if deterministic:
            raise InvalidInput("--deterministic: a PKCS#11 token makes randomised ECDSA "
                               "signatures only", path=key)
        if pin_file is not None:
            input_file(pin_file)
        return open_signing_key(key, load_certificate(cert), pin_file=pin_file,
                                rsa_pss=rsa_pss)
    if pin_file is not None:
        raise InvalidInput("--pin-file is for a pkcs11: --key")
    key = Path(key)
    from dicomsec.keys import FileSigningKey, load_certificate, load_private_key, read_password

    password = read_password(password_file)
    private = load_private_key(key, password=password,
                               password_callback=None if password is not None
                               else _asker(key, []))
    certificate = load_certificate(cert)
    try:
        return FileSigningKey(private, certificate, rsa_pss=rsa_pss)
    except InvalidInput as exc:
        raise InvalidInput(exc.message, path=f"{key} and {cert}") from None


@contextlib.contextmanager
def closing_key(key: object) -> Iterator[None]:
    """Close a key that holds a session (a PKCS#11 token's) when the block ends."""
    try:
        yield
    finally:
        close = getattr(key, "close", None)
        if close is not None:
            close()


#: the help of the trust flags, the same on every command that checks a certificate
TRUST_HELP = "Trusted CA certificate file or folder (trust anchors); repeatable."
UNTRUSTED_HELP = ("File of intermediate CA certificates used to build the path (not trust "
                  "anchors); repeatable. Needs --trust.")
CRL_HELP = ("CRL file (PEM or DER; a PEM file may hold several CRLs); repeatable. Revocation "
            "is then checked for every certificate of the path: one whose issuer's CRL is "
            "missing fails unless it can be fetched. Needs --trust.")
OFFLINE_HELP = ("Never fetch CRLs or OCSP responses over the network (default: fetch them "
                "from the certificates' CRL distribution points and OCSP URLs). Needs --trust.")
SOFT_FAIL_HELP = ("A certificate whose revocation status cannot be determined passes, with a "
                  "warning (default: it is not valid). Needs --trust.")


def trust_store(paths: list[Path] | None, crls: list[Path] | None, *,
                untrusted: list[Path] | None = None, offline: bool = False,
                soft_fail: bool = False) -> TrustStore | None:
    """The trust store of ``--trust`` files or folders, with ``--untrusted`` intermediates,
    ``--crl`` files, ``--offline`` (no fetching of CRLs or OCSP responses; fetching is on by
    default on the command line) and ``--soft-fail``; ``None`` when no ``--trust`` was given.
    Every command that checks a certificate builds its store here.

    Raises:
        UsageError: ``--untrusted``, ``--crl``, ``--offline`` or ``--soft-fail`` without
            ``--trust`` (they would be silently ignored).
        InvalidInput: an unreadable file, or a folder without certificates.
    """
    if not paths:
        given = [name for name, value in (("--untrusted", untrusted), ("--crl", crls),
                                          ("--offline", offline), ("--soft-fail", soft_fail))
                 if value]
        if given:
            raise usage(f"{', '.join(given)} need{'s' if len(given) == 1 else ''} --trust")
        return None
    from dicomsec.trust import TrustStore

    return TrustStore.from_paths(paths, crls=crls or (), intermediates=untrusted or (),
                                 allow_fetching=not offline, soft_fail=soft_fail)


#: what a trust store is built from: --trust, --crl, --untrusted, --offline, --soft-fail
#: (paths and flags only: picklable, so a batch job carries it to its worker)
TrustArgs = tuple[tuple[Path, ...], tuple[Path, ...], tuple[Path, ...], bool, bool]

#: trust stores built in this process (a worker builds its own once, from the paths)
_STORES: dict[TrustArgs, TrustStore | None] = {}


def cached_trust_store(args: TrustArgs) -> TrustStore | None:
    """:func:`trust_store` of ``args`` (``(trust, crl, untrusted, offline, soft_fail)``),
    built once per process: the batch commands' jobs call it in every worker.

    Raises:
        UsageError, InvalidInput: as :func:`trust_store` (the first call; nothing is cached
            then).
    """
    if args not in _STORES:
        trust, crl, untrusted, offline, soft_fail = args
        _STORES[args] = trust_store(list(trust), list(crl), untrusted=list(untrusted),
                                    offline=offline, soft_fail=soft_fail)
    return _STORES[args]


def input_error(p: Path) -> Exception:
    """The error for an input path that is not a readable regular file (see
    :func:`input_file`, which raises it)."""
    from dicomsec.errors import InvalidInput

    try:
        input_file(p)
    except InvalidInput as exc:
        return exc
    return InvalidInput("not a readable file", path=str(p))


# ------------------------------------------------------------------------------------------
# argument checks: one line, exit 2, before any work

#: the longest timeout or wait any option accepts, in seconds
MAX_SECONDS = 3600.0


def port_number(value: int, option: str = "--port", *, any_port: bool = False) -> int:
    """A TCP port: 1-65535 (0 too, meaning "any free port", when ``any_port``).

    Raises:
        UsageError: out of range.
    """
    low = 0 if any_port else 1
    if not low <= value <= 65535:
        raise usage(f"{option} must be {low}-65535, not {value}")
    return value


def seconds(value: float, option: str) -> float:
    """A timeout in seconds: more than 0, at most :data:`MAX_SECONDS` (one hour).

    Raises:
        UsageError: not a finite number in that range.
    """
    if not 0 < value <= MAX_SECONDS:  # NaN fails too
        raise usage(f"{option} must be more than 0 and at most {MAX_SECONDS:.0f} seconds, "
                    f"not {value}")
    return value


def count(value: int, option: str, low: int, high: int) -> int:
    """A count between ``low`` and ``high``.

    Raises:
        UsageError: out of range.
    """
    if not low <= value <= high:
        raise usage(f"{option} must be {low}-{high}, not {value}")
    return value


def http_url(value: str, option: str) -> str:
    """An ``http://`` or ``https://`` URL with a host (a TSA's, say).

    Raises:
        UsageError: anything else (the URL is not repeated: it may carry credentials).
    """
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018  (a bad port raises here)
    except ValueError:
        raise usage(f"{option} is not a valid URL") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname \
            or any(c.isspace() or ord(c) < 32 for c in value):
        raise usage(f"{option} takes an http:// or https:// URL with a host")
    return value


def input_file(p: Path) -> Path:
    """An input that must be a regular file (symlinks followed): never a FIFO or device,
    which would hang or never end, never a directory. Checked before any work.

    Raises:
        InvalidInput: missing, unreadable or not a regular file (one line naming it).
    """
    from dicomsec._atomic import regular_input

    return regular_input(p)


def output_file(p: Path) -> Path:
    """An output path: absent, or an existing regular file; never a symbolic link (to a
    device, a FIFO, ``/proc/self/fd/1`` or a regular file alike: see
    :func:`dicomsec._atomic.output_mode`). Checked before any work, so nothing is changed when
    it is refused.

    Raises:
        InvalidInput: it exists and is not a regular file (one line naming it).
    """
    import os
    import stat

    from dicomsec._atomic import SYMLINK_OUTPUT, file_kind
    from dicomsec.errors import InvalidInput

    try:
        mode = os.lstat(p).st_mode
    except FileNotFoundError:
        _parent_writable(p)
        return p  # a new file
    except OSError as exc:
        raise InvalidInput(f"cannot write: {exc.strerror or exc}", path=str(p)) from None
    if stat.S_ISLNK(mode):
        raise InvalidInput(SYMLINK_OUTPUT, path=str(p))
    if not stat.S_ISREG(mode):
        raise InvalidInput(file_kind(mode) + "; refusing to write there", path=str(p))
    return p


def _parent_writable(p: Path) -> None:
    """The folder a new output goes into exists, is a folder and can be written (checked
    before the work, not after it)."""
    import os

    from dicomsec.errors import InvalidInput

    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise InvalidInput("cannot write: the folder does not exist", path=str(parent))
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InvalidInput("cannot write: permission denied", path=str(parent))
