"""Explicit contexts the commands build from their arguments: signing keys, trust stores,
the algorithm policy.

Nothing here falls back to the OS trust store or reads configuration on its own; the library
modules are imported when a context is built, not before.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import datetime as _dt

    from dicomsec.algorithms.policy import AlgorithmPolicy
    from dicomsec.keys import FileSigningKey
    from dicomsec.trust import TrustStore

__all__ = ["algorithm_policy", "input_error", "load_signing_key", "moment", "trust_store"]

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


def load_signing_key(key: Path, cert: Path, password_file: Path | None,
                     rsa_pss: bool = False) -> FileSigningKey:
    """A signing key from a key file and its certificate; the password comes from
    ``password_file``, else ``$DICOMSEC_KEY_PASSWORD``, else a prompt on a terminal."""
    from dicomsec.errors import InvalidInput
    from dicomsec.keys import FileSigningKey, load_certificate, load_private_key, read_password

    def ask() -> bytes | None:
        if sys.stdin.isatty():
            import getpass

            return getpass.getpass(f"password for {key}: ").encode()
        return None

    password = read_password(password_file)
    private = load_private_key(key, password=password,
                               password_callback=None if password is not None else ask)
    certificate = load_certificate(cert)
    try:
        return FileSigningKey(private, certificate, rsa_pss=rsa_pss)
    except InvalidInput as exc:
        raise InvalidInput(exc.message, path=f"{key} and {cert}") from None


def trust_store(paths: list[Path] | None, crls: list[Path] | None) -> TrustStore | None:
    """The trust store of ``--trust`` files or folders (and ``--crl`` files); ``None`` when
    no ``--trust`` was given."""
    from dicomsec.trust import TrustStore

    if not paths:
        return None
    return TrustStore.from_paths(paths, crls=crls or ())


def input_error(p: Path) -> Exception:
    """The error for an input path that is not a readable file."""
    from dicomsec.errors import InvalidInput

    if p.is_dir():
        return InvalidInput("is a directory", path=str(p))
    return InvalidInput("no such file", path=str(p))
