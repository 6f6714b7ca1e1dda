"""SoftHSM2 tokens for tests: one private token store per test process, keys generated inside.

SoftHSM2 reads ``SOFTHSM2_CONF`` once, at ``C_Initialize`` (the first ``pkcs11.lib()`` of the
process): a second store later in the same process would be invisible. So the store is made
once per process (a module-level cache) and every caller gets its OWN TOKEN LABEL in it:

    from tests.softhsm import generate_key, make_token, pkcs11_uri

    @pytest.fixture(scope="module")
    def token(tmp_path_factory):
        tok = make_token(tmp_path_factory.getbasetemp(), label="pki-ca")   # a label per module
        generate_key(tok, "ca", "ec-p384")
        return tok

    uri = pkcs11_uri(tok, "ca")    # pkcs11:token=pki-ca;object=ca?module-path=...

- The first call makes ``<tmpdir>/softhsm/`` (conf + token dir) and sets ``SOFTHSM2_CONF`` in
  ``os.environ`` for the rest of the process (never restored: the library keeps reading it);
  later calls ignore ``tmpdir``. ``Token.env`` is the environment for subprocesses
  (``dicomsec`` CLI runs, ``softhsm2-util``, ``pkcs11-tool``).
- ``make_token`` with a label already made returns the same :class:`Token` (idempotent).
- A NEW label after the library was initialised calls ``lib.reinitialize()``, which closes every
  open session of the process: make tokens in module-scoped fixtures, before opening keys.
- Keys are generated IN the token (``SENSITIVE``, never ``EXTRACTABLE``, so ``LOCAL`` and
  ``NEVER_EXTRACTABLE`` are true); only the public key comes out.

softhsm2 missing: ``require_tool`` fails under ``CI=true`` and skips otherwise.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from tests.conftest import require_tool

__all__ = ["KINDS", "MODULE", "SO_PIN", "Token", "generate_key", "key_id", "make_token",
           "open_session", "pkcs11_uri"]

MODULE = "/usr/lib/softhsm/libsofthsm2.so"
SO_PIN = "12345678"
#: key kinds :func:`generate_key` makes in a token
KINDS = ("ec-p256", "ec-p384", "rsa-2048", "rsa-3072", "ed25519")
_CURVES = {"ec-p256": "secp256r1", "ec-p384": "secp384r1"}
_ED25519_OID_DER = bytes.fromhex("06032b6570")  # OBJECT IDENTIFIER 1.3.101.112


@dataclass(frozen=True)
class Token:
    """A SoftHSM2 token in this process's store."""

    label: str
    pin: str
    #: a file holding the PIN (for ``--pin-file``)
    pin_file: Path
    #: the store's configuration (``SOFTHSM2_CONF``)
    conf: Path
    module: str = MODULE
    #: environment for subprocesses: ``os.environ`` + ``SOFTHSM2_CONF`` +
    #: ``DICOMSEC_PKCS11_MODULE``
    env: dict[str, str] = field(default_factory=dict, repr=False)


_store: dict[str, Path] = {}
_tokens: dict[str, Token] = {}


def _store_conf(tmpdir: Path) -> Path:
    if "conf" not in _store:
        root = Path(tmpdir) / "softhsm"
        (root / "tokens").mkdir(parents=True, exist_ok=True)
        conf = root / "softhsm2.conf"
        conf.write_text(f"directories.tokendir = {root / 'tokens'}\n"
                        "objectstore.backend = file\nlog.level = ERROR\n")
        os.environ["SOFTHSM2_CONF"] = str(conf)
        _store["conf"] = conf
    return _store["conf"]


def _lib() -> Any:
    import pkcs11

    return pkcs11.lib(MODULE)  # one object per path and process


def make_token(tmpdir: Path, label: str = "ct1", pin: str = "1234") -> Token:
    """A token labelled ``label`` in the process's store (made on first use; see the module
    docstring for the rules). Idempotent per label; a label reused with another PIN fails."""
    if label in _tokens:
        if _tokens[label].pin != pin:
            pytest.fail(f"softhsm token {label!r} was made with another PIN")
        return _tokens[label]
    util = require_tool("softhsm2-util")
    if not Path(MODULE).exists():
        pytest.fail(f"softhsm2-util is installed but {MODULE} is not")
    conf = _store_conf(tmpdir)
    env = {**os.environ, "SOFTHSM2_CONF": str(conf), "DICOMSEC_PKCS11_MODULE": MODULE}
    subprocess.run([util, "--init-token", "--free", "--label", label, "--so-pin", SO_PIN,
                    "--pin", pin], check=True, capture_output=True, timeout=60, env=env)
    lib = _lib()
    if label not in {t.label for t in lib.get_tokens()}:
        lib.reinitialize()  # the library scans the store at C_Initialize only
    pin_file = conf.parent / f"{label}.pin"
    pin_file.write_text(pin + "\n")
    token = Token(label, pin, pin_file, conf, MODULE, env)
    _tokens[label] = token
    return token


def open_session(token: Token, *, rw: bool = False) -> Any:
    """A logged-in python-pkcs11 session on the token (close it)."""
    return _lib().get_token(token_label=token.label).open(rw=rw, user_pin=token.pin)


def key_id(label: str) -> bytes:
    """The CKA_ID :func:`generate_key` gives a key: 8 bytes of SHA-256 of its label."""
    return hashlib.sha256(label.encode()).digest()[:8]


def generate_key(token: Token, label: str, kind: str = "ec-p256") -> Any:
    """Generate a key pair ``kind`` (one of :data:`KINDS`) labelled ``label`` IN the token
    (private key SENSITIVE and not EXTRACTABLE); returns its public key (a cryptography
    object), read from the token's public key object."""
    from pkcs11 import Attribute, KeyType

    if kind not in KINDS:
        pytest.fail(f"unknown token key kind {kind!r} (known: {', '.join(KINDS)})")
    private = {Attribute.SENSITIVE: True, Attribute.EXTRACTABLE: False,
               Attribute.SIGN: True}
    ident = key_id(label)
    session = open_session(token, rw=True)
    try:
        if kind.startswith("rsa-"):
            pub, _ = session.generate_keypair(KeyType.RSA, int(kind[4:]), label=label,
                                              id=ident, store=True, private_template=private)
        else:
            if kind == "ed25519":
                key_type, params = KeyType.EC_EDWARDS, _ED25519_OID_DER
            else:
                from pkcs11.util.ec import encode_named_curve_parameters

                key_type, params = KeyType.EC, encode_named_curve_parameters(_CURVES[kind])
            domain = session.create_domain_parameters(
                key_type, {Attribute.EC_PARAMS: params}, local=True)
            pub, _ = domain.generate_keypair(store=True, label=label, id=ident,
                                             private_template=private)
        return _public_key(pub, kind)
    finally:
        session.close()


def _public_key(pub: Any, kind: str) -> Any:
    from cryptography.hazmat.primitives.serialization import load_der_public_key
    from pkcs11 import Attribute

    if kind == "ed25519":
        from asn1crypto.core import OctetString
        from cryptography.hazmat.primitives.asymmetric import ed25519

        return ed25519.Ed25519PublicKey.from_public_bytes(
            OctetString.load(bytes(pub[Attribute.EC_POINT])).native)
    if kind.startswith("rsa-"):
        from pkcs11.util.rsa import encode_rsa_public_key

        return load_der_public_key(bytes(encode_rsa_public_key(pub)))
    from pkcs11.util.ec import encode_ec_public_key

    return load_der_public_key(bytes(encode_ec_public_key(pub)))


def pkcs11_uri(token: Token, label: str, *, module: bool = True) -> str:
    """The RFC 7512 URI of the key ``label`` in ``token`` (with ``module-path`` unless
    ``module=False``; the PIN never goes in the URI: use ``token.pin_file``)."""
    uri = f"pkcs11:token={quote(token.label, safe='')};object={quote(label, safe='')}"
    return f"{uri}?module-path={quote(token.module, safe='/')}" if module else uri


def token_key_reports() -> list[Any]:
    """Instances of ``dicomsec._pkcs11.TokenKeyReport`` for tests/test_reports.py's
    FACTORIES (``"dicomsec.keys.token_key/1"``): a token-born key (ok) and an imported one
    (not ok)."""
    from dicomsec._pkcs11 import TokenKeyReport

    born: dict[str, bool | None] = {"local": True, "never_extractable": True,
                                     "sensitive": True, "extractable": False}
    imported: dict[str, bool | None] = {"local": False, "never_extractable": False,
                                         "sensitive": True, "extractable": False}
    common: dict[str, Any] = {
        "token": "ct1", "label": "ct01-sign", "key_id": "0102", "key_type": "ec-p256",
        "scheme": "ecdsa-p256", "public_key_sha256": "ab" * 32, "output_kind": "certificate",
        "output": "ct01.cert.pem", "subject": "CN=CT01,O=Example Hospital",
        "issuer": "CN=Site Root"}
    return [TokenKeyReport(provenance=born, **common),
            TokenKeyReport(provenance=imported, **{**common, "output_kind": "csr",
                                                   "issuer": None})]
