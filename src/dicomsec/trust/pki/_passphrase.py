"""The CA passphrase: where it comes from, and the PBES2 encryption of CA keys.

The passphrase comes from ``--passphrase-file`` (first line), ``DICOMSEC_PKI_PASSPHRASE`` or a
prompt (``getpass``: not echoed; asked twice when a new key is made). It is never stored and
never appears in a message.

CA keys are PKCS#8 ``EncryptedPrivateKeyInfo`` with PBES2 (RFC 8018 §6.2): PBKDF2-HMAC-SHA256,
600 000 iterations, a 16-byte random salt, AES-256-CBC. cryptography's
``BestAvailableEncryption`` writes PBES2 with only 2048 iterations (spec: trust §2), so the
structure is written with asn1crypto and the primitives come from cryptography; cryptography
and ``openssl pkey`` read the result.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from dicomsec.errors import InvalidInput

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

__all__ = ["PASSPHRASE_ENV", "PBKDF2_ITERATIONS", "encrypt_private_key", "read_passphrase"]

#: the environment variable holding the CA passphrase
PASSPHRASE_ENV = "DICOMSEC_PKI_PASSPHRASE"  # noqa: S105 (a variable name)
#: PBKDF2 iterations for CA keys (OWASP 2023 figure for PBKDF2-HMAC-SHA256)
PBKDF2_ITERATIONS = 600_000
#: the shortest passphrase accepted for a new CA key
MIN_PASSPHRASE = 8


def _prompt(confirm: bool) -> bytes:
    import getpass

    try:
        first = getpass.getpass("CA passphrase: ")
        if confirm and getpass.getpass("CA passphrase (again): ") != first:
            raise InvalidInput("the two passphrases differ")
    except EOFError:
        raise InvalidInput(f"no CA passphrase (use --passphrase-file or {PASSPHRASE_ENV})") \
            from None
    return first.encode()


def read_passphrase(passphrase_file: Path | None = None, *, new: bool = False,
                    prompt: Callable[[bool], bytes] | None = _prompt) -> bytes:
    """The CA passphrase: from ``passphrase_file`` (its first line), else
    ``DICOMSEC_PKI_PASSPHRASE``, else ``prompt`` (asked twice when ``new``).

    Raises:
        InvalidInput: unreadable file, no source, an empty passphrase, or (``new``) one shorter
            than :data:`MIN_PASSPHRASE` characters.
    """
    value: bytes | None = None
    if passphrase_file is not None:
        try:
            text = Path(passphrase_file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
            raise InvalidInput(f"cannot read passphrase file: {reason}",
                               path=str(passphrase_file)) from None
        value = text.splitlines()[0].encode() if text else b""
    elif (env := os.environ.get(PASSPHRASE_ENV)) is not None:
        value = env.encode()
    elif prompt is not None:
        value = prompt(new)
    if value is None:
        raise InvalidInput(f"no CA passphrase (use --passphrase-file or {PASSPHRASE_ENV})")
    if not value:
        raise InvalidInput("the CA passphrase is empty")
    if new and len(value) < MIN_PASSPHRASE:
        raise InvalidInput(f"the CA passphrase must have at least {MIN_PASSPHRASE} characters")
    return value


def encrypt_private_key(key: PrivateKeyTypes, passphrase: bytes, *,
                        iterations: int = PBKDF2_ITERATIONS) -> bytes:
    """``key`` as a PEM ``ENCRYPTED PRIVATE KEY`` (PBES2, PBKDF2-HMAC-SHA256, AES-256-CBC)."""
    from asn1crypto import algos, core
    from asn1crypto import keys as akeys
    from cryptography.hazmat.primitives import hashes, padding, serialization
    from cryptography.hazmat.primitives.ciphers import Cipher, modes
    from cryptography.hazmat.primitives.ciphers import algorithms as ciphers
    from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

    salt, iv = os.urandom(16), os.urandom(16)
    kek = PBKDF2HMAC(hashes.SHA256(), 32, salt, iterations).derive(passphrase)
    plain = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption())
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plain) + padder.finalize()
    enc = Cipher(ciphers.AES(kek), modes.CBC(iv)).encryptor()
    sealed = enc.update(padded) + enc.finalize()
    kdf = algos.KdfAlgorithm({"algorithm": "pbkdf2", "parameters": algos.Pbkdf2Params({
        "salt": algos.Pbkdf2Salt(name="specified", value=salt),
        "iteration_count": iterations,
        "prf": algos.HmacAlgorithm({"algorithm": "sha256", "parameters": core.Null()}),
    })})
    scheme = algos.EncryptionAlgorithm({"algorithm": "aes256_cbc", "parameters": iv})
    info = akeys.EncryptedPrivateKeyInfo({
        "encryption_algorithm": algos.EncryptionAlgorithm({
            "algorithm": "pbes2",
            "parameters": algos.Pbes2Params({"key_derivation_func": kdf,
                                            "encryption_scheme": scheme})}),
        "encrypted_data": sealed,
    })
    body = base64.encodebytes(info.dump()).replace(b"\n", b"")
    lines = [body[i:i + 64] for i in range(0, len(body), 64)]
    return (b"-----BEGIN ENCRYPTED PRIVATE KEY-----\n" + b"\n".join(lines)
            + b"\n-----END ENCRYPTED PRIVATE KEY-----\n")
