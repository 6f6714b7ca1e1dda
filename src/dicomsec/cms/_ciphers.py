"""Low-level: ``cryptography`` cipher objects for registry block ciphers.

Shared by the envelope (content encryption) and the password recipient (the RFC 3211 PWRI-KEK
wrap), so that neither imports the other.
"""

from __future__ import annotations

from typing import Any

from dicomsec import algorithms
from dicomsec.errors import InvalidInput

__all__ = ["cbc_cipher"]


def cbc_cipher(alg: algorithms.Algorithm, key: bytes, iv: bytes) -> Any:
    """A ``cryptography`` CBC Cipher for a registry block cipher (AES, or legacy 3DES, whose
    decrepit module is imported only when it is used).

    Raises:
        InvalidInput: ``alg`` is not a CBC cipher.
    """
    from cryptography.hazmat.primitives.ciphers import Cipher, modes

    if alg.mode != "cbc":
        raise InvalidInput(f"{alg.name} is not a CBC block cipher")
    if alg.name == "des-ede3-cbc":
        from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES

        return Cipher(TripleDES(key), modes.CBC(iv))
    from cryptography.hazmat.primitives.ciphers.algorithms import AES

    return Cipher(AES(key), modes.CBC(iv))
