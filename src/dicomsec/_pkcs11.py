"""Signing keys held in a PKCS#11 token, named by an RFC 7512 URI.

``pkcs11:token=ct1;object=sign`` names a private key in the token labelled ``ct1``; the PKCS#11
module comes from the URI's ``module-path`` query attribute or ``$DICOMSEC_PKCS11_MODULE``. The
PIN never comes from the URI (``pin-value`` is refused: it would end up in shell history and
logs): it comes from a file, ``$DICOMSEC_PKCS11_PIN`` or a prompt on a terminal.

:class:`Pkcs11SigningKey` is a :class:`dicomsec.keys.SigningKey`: the private key never leaves
the token, only sign operations are asked of it. The binding (python-pkcs11) is imported when a
key is opened, never at start-up.
"""

from __future__ import annotations

import os
import stat
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import unquote_to_bytes

from dicomsec import algorithms
from dicomsec.errors import DicomSecError, InvalidInput, UnsupportedAlgorithm
from dicomsec.keys import CertifiedKey, _public_der
from dicomsec.report import Report

if TYPE_CHECKING:
    from cryptography import x509

__all__ = [
    "MODULE_ENV",
    "PIN_ENV",
    "TOKEN_KEY_TYPES",
    "Pkcs11SigningKey",
    "Pkcs11Uri",
    "TokenKey",
    "TokenKeyReport",
    "TokenLoginFailed",
    "close_session",
    "destroy_token_key",
    "generate_token_key",
    "is_pkcs11_uri",
    "make_token_key",
    "open_signing_key",
    "open_token_key",
    "parse_pkcs11_uri",
    "read_pin",
]

MODULE_ENV = "DICOMSEC_PKCS11_MODULE"
PIN_ENV = "DICOMSEC_PKCS11_PIN"
#: path attributes read here (RFC 7512 section 2.3); the others are refused, not ignored
_PATH_ATTRS = frozenset({"token", "object", "id", "type", "manufacturer", "serial", "model",
                         "library-manufacturer", "library-description", "library-version",
                         "slot-description", "slot-id", "slot-manufacturer"})
_QUERY_ATTRS = frozenset({"module-path", "pin-source", "module-name"})


class TokenLoginFailed(DicomSecError):
    """The token refused the PIN (exit 1: a security check, never retried)."""


@dataclass(frozen=True, slots=True)
class Pkcs11Uri:
    """The attributes of an RFC 7512 ``pkcs11:`` URI that name a private key."""

    token: str | None = None
    object: str | None = None
    id: bytes | None = None
    module_path: str | None = None
    pin_source: str | None = None
    #: every other attribute, decoded (checked, not used to select)
    other: dict[str, str] = field(default_factory=dict)


def is_pkcs11_uri(text: str) -> bool:
    """Whether ``text`` is meant as a PKCS#11 URI (starts with ``pkcs11:``)."""
    return text[:7].lower() == "pkcs11:"


def _pairs(part: str, sep: str, where: str) -> dict[str, bytes]:
    found: dict[str, bytes] = {}
    for item in part.split(sep) if part else ():
        name, eq, value = item.partition("=")
        name = name.strip().lower()
        if not eq or not name:
            raise InvalidInput(f"PKCS#11 URI: {where} attribute {item!r} is not NAME=VALUE")
        if name in found:
            raise InvalidInput(f"PKCS#11 URI: attribute {name!r} given twice")
        found[name] = unquote_to_bytes(value)
    return found


def parse_pkcs11_uri(text: str) -> Pkcs11Uri:
    """Read an RFC 7512 URI: path attributes split on ``;``, query attributes on ``&``, values
    percent-decoded, ``id`` as bytes.

    Raises:
        InvalidInput: not ``pkcs11:``, a malformed or repeated attribute, an unknown one,
            ``pin-value`` (a PIN never goes in a URI or on the command line), or
            ``type`` other than ``private``.
    """
    if not is_pkcs11_uri(text):
        raise InvalidInput(f"not a PKCS#11 URI (pkcs11:...): {text!r}")
    path, _, query = text[7:].partition("?")
    attrs = _pairs(path, ";", "path")
    queries = _pairs(query, "&", "query")
    if "pin-value" in attrs or "pin-value" in queries:
        raise InvalidInput("PKCS#11 URI: pin-value is refused (a PIN in a URI ends up in shell "
                           "history and logs)", hint=f"use --pin-file or ${PIN_ENV}")
    unknown = sorted(attrs.keys() - _PATH_ATTRS) + sorted(queries.keys() - _QUERY_ATTRS)
    if unknown:
        raise InvalidInput(f"PKCS#11 URI: unknown attribute {unknown[0]!r}")
    try:
        text_of = {k: v.decode() for k, v in {**attrs, **queries}.items() if k != "id"}
    except UnicodeDecodeError:
        raise InvalidInput("PKCS#11 URI: an attribute is not UTF-8") from None
    if text_of.get("type", "private") != "private":
        raise InvalidInput(f"PKCS#11 URI: type={text_of['type']} is not a private key")
    used = {"token", "object", "id", "type", "module-path", "pin-source"}
    return Pkcs11Uri(token=text_of.get("token"), object=text_of.get("object"),
                     id=attrs.get("id"), module_path=text_of.get("module-path"),
                     pin_source=text_of.get("pin-source"),
                     other={k: v for k, v in text_of.items() if k not in used})


def read_pin(uri: Pkcs11Uri, pin_file: os.PathLike[str] | str | None) -> str:
    """The PIN: ``pin_file`` (first line), else the URI's ``pin-source`` file, else
    ``$DICOMSEC_PKCS11_PIN``, else a prompt on a terminal.

    Raises:
        InvalidInput: an unreadable PIN file, or no PIN from any source.
    """
    import sys

    source = pin_file if pin_file is not None else uri.pin_source
    if source is not None:
        name = str(source).removeprefix("file:")
        try:
            if not stat.S_ISREG(os.stat(name).st_mode):  # never a FIFO or device (a hang)
                raise InvalidInput("the PIN file is not a regular file", path=name)
            with open(name, encoding="utf-8") as fh:
                return fh.readline().rstrip("\r\n")
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidInput(f"cannot read PIN file: {exc}", path=name) from None
    env = os.environ.get(PIN_ENV)
    if env is not None:
        return env
    if sys.stdin.isatty():
        import getpass

        return getpass.getpass(f"PIN for PKCS#11 token {uri.token or ''}: ")
    raise InvalidInput("no PIN for the PKCS#11 token", hint=f"use --pin-file or ${PIN_ENV}")


def _digest_info(digest: bytes, digest_alg: algorithms.Algorithm) -> bytes:
    """DER DigestInfo (RFC 8017 section 9.2) of a digest, what ``CKM_RSA_PKCS`` signs."""
    arcs = [int(a) for a in digest_alg.oid.split(".")]
    body = bytearray([40 * arcs[0] + arcs[1]])
    for arc in arcs[2:]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.insert(0, 0x80 | (arc & 0x7F))
            arc >>= 7
        body.extend(chunk)
    alg = bytes([0x06, len(body)]) + bytes(body) + b"\x05\x00"
    alg = bytes([0x30, len(alg)]) + alg
    inner = alg + bytes([0x04, len(digest)]) + digest
    return bytes([0x30, len(inner)]) + inner


def _pss_params(digest_alg: algorithms.Algorithm) -> tuple[Any, Any, int]:
    from pkcs11 import MGF, Mechanism

    table = {"sha256": (Mechanism.SHA256, MGF.SHA256), "sha384": (Mechanism.SHA384, MGF.SHA384),
             "sha512": (Mechanism.SHA512, MGF.SHA512)}
    if digest_alg.name not in table:
        raise UnsupportedAlgorithm(f"RSA-PSS in a PKCS#11 token with {digest_alg.name}")
    mech, mgf = table[digest_alg.name]
    return mech, mgf, digest_alg.digest_size


def _token_sign(key: Any, family: algorithms.Family, rsa_pss: bool, digest: bytes,
                digest_alg: algorithms.Algorithm) -> bytes:
    """Sign a digest with a token private key, the mechanism chosen by the key family.

    ECDSA: ``CKM_ECDSA`` over the digest, the raw ``r||s`` re-encoded as DER; RSA v1.5:
    ``CKM_RSA_PKCS`` over the DigestInfo; RSA-PSS: ``CKM_RSA_PKCS_PSS`` (salt = digest size);
    EdDSA: ``CKM_EDDSA`` with the digest as the message (dicomsec's rule for EdDSA DICOM
    signatures, the same bytes as ``FileSigningKey``).
    """
    from pkcs11 import Mechanism

    if family is algorithms.Family.EC:
        from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

        raw = key.sign(digest, mechanism=Mechanism.ECDSA)
        n = len(raw) // 2
        return encode_dss_signature(int.from_bytes(raw[:n], "big"),
                                    int.from_bytes(raw[n:], "big"))
    if family is algorithms.Family.RSA and rsa_pss:
        return bytes(key.sign(digest, mechanism=Mechanism.RSA_PKCS_PSS,
                              mechanism_param=_pss_params(digest_alg)))
    if family is algorithms.Family.RSA:
        return bytes(key.sign(_digest_info(digest, digest_alg), mechanism=Mechanism.RSA_PKCS))
    if family is algorithms.Family.EDDSA:
        return bytes(key.sign(digest, mechanism=Mechanism.EDDSA))
    raise UnsupportedAlgorithm(f"{family.value} keys in a PKCS#11 token are not supported "
                               "(RSA, ECDSA and EdDSA are)")


def _guarded(label: str, sign: Any, *args: Any) -> bytes:
    """Run a token sign call; a binding failure becomes one DicomSecError line."""
    from pkcs11.exceptions import PKCS11Error

    try:
        return bytes(sign(*args))
    except PKCS11Error as exc:  # e.g. the token was removed, a mechanism it lacks
        raise DicomSecError(f"PKCS#11 token {label}: signing failed: "
                            f"{type(exc).__name__} {exc}".rstrip()) from None


class _TokenSigning:
    """What a private key in a token signs, for :class:`TokenKey` and
    :class:`Pkcs11SigningKey` alike (one copy of the rules)."""

    __slots__ = ()
    key: Any
    token_label: str
    rsa_pss: bool

    if TYPE_CHECKING:  # each subclass has its own (TokenKey's, CertifiedKey's)
        @property
        def scheme(self) -> algorithms.Algorithm: ...

    def sign_digest(self, digest: bytes, digest_alg: algorithms.Algorithm, *,
                    deterministic: bool = False) -> bytes:
        """Sign a digest inside the token (:func:`_token_sign`'s mechanisms; a MAC digest for
        ``sign``, a TBS digest for :mod:`_x509sign`).

        Raises:
            InvalidInput: ``deterministic`` (a token makes randomised ECDSA signatures).
            UnsupportedAlgorithm: a key family not wired for tokens (ML-DSA).
            DicomSecError: the token failed.
        """
        if deterministic:
            raise InvalidInput(f"PKCS#11 token {self.token_label}: deterministic ECDSA is not "
                               "offered by a token (drop --deterministic)")
        return _guarded(self.token_label, _token_sign, self.key, self.scheme.family,
                        self.rsa_pss, digest, digest_alg)

    def sign_message(self, data: bytes) -> bytes:
        """EdDSA only: sign ``data`` itself with ``CKM_EDDSA`` (PureEdDSA, RFC 8032), e.g. an
        X.509 TBS (:mod:`_x509sign`).

        Raises:
            UnsupportedAlgorithm: not an EdDSA key.
        """
        from pkcs11 import Mechanism

        if self.scheme.family is not algorithms.Family.EDDSA:
            raise UnsupportedAlgorithm(f"{self.scheme.name} signs digests, not messages")
        return _guarded(self.token_label, lambda: self.key.sign(data, mechanism=Mechanism.EDDSA))


@dataclass(frozen=True)
class TokenKey(_TokenSigning):
    """A private key in a PKCS#11 token WITHOUT a certificate: its public key comes from the
    token's public key object (e.g. a self-signed root CA or a new key in the token).

    It signs digests (:meth:`sign_digest`, the ``SigningKey`` rule) and, for EdDSA, whole
    messages (:meth:`sign_message`, what X.509 signatures need). Build it with
    :func:`open_token_key`; :meth:`close` ends the session.
    """

    key: Any = field(repr=False)
    session: Any = field(repr=False)
    public: Any
    token_label: str
    rsa_pss: bool = False

    def __repr__(self) -> str:
        return f"TokenKey(token={self.token_label!r}, scheme={self.scheme.name})"

    def public_key(self) -> Any:
        """The key's public half (a cryptography public key)."""
        return self.public

    @property
    def scheme(self) -> algorithms.Algorithm:
        return algorithms.signature_scheme_for_key(self.public, rsa_pss=self.rsa_pss)

    @property
    def bits(self) -> int | None:
        return algorithms.key_bits(self.public)

    def provenance(self) -> dict[str, bool | None]:
        """The private key's PKCS#11 provenance attributes (``None``: the token would not
        say): ``local`` (generated in the token), ``never_extractable``, ``sensitive``,
        ``extractable``."""
        from pkcs11 import Attribute
        from pkcs11.exceptions import PKCS11Error

        found: dict[str, bool | None] = {}
        for name, attr in (("local", Attribute.LOCAL),
                           ("never_extractable", Attribute.NEVER_EXTRACTABLE),
                           ("sensitive", Attribute.SENSITIVE),
                           ("extractable", Attribute.EXTRACTABLE)):
            try:
                found[name] = bool(self.key[attr])
            except PKCS11Error:
                found[name] = None
        return found

    def close(self) -> None:
        """End the token session (the last one to close logs the token out)."""
        close_session(self.session)

    def __enter__(self) -> TokenKey:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True)
class Pkcs11SigningKey(_TokenSigning, CertifiedKey):
    """A private key in a PKCS#11 token, paired with its certificate (a ``SigningKey``).

    Build it with :func:`open_signing_key`. It holds the open session; :meth:`close` ends it.
    """

    key: Any = field(repr=False)
    session: Any = field(repr=False)
    certificate: x509.Certificate
    token_label: str
    rsa_pss: bool = False

    def __repr__(self) -> str:
        return f"Pkcs11SigningKey(token={self.token_label!r}, scheme={self.scheme.name})"

    def close(self) -> None:
        """End the token session (the last one to close logs the token out)."""
        close_session(self.session)

    def __enter__(self) -> Pkcs11SigningKey:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _token_public_key(session: Any, key: Any) -> Any:
    """The public key (a cryptography object) of the token's public key object beside ``key``
    (same label and id); ``None`` when there is none or it is of another family.

    EC and RSA are encoded by python-pkcs11 and read back by cryptography; an EdDSA
    ``CKA_EC_POINT`` is an OCTET STRING around the 32 (Ed25519) or 57 (Ed448) key bytes.
    """
    from cryptography.hazmat.primitives.serialization import load_der_public_key
    from pkcs11 import Attribute, KeyType, ObjectClass
    from pkcs11.exceptions import NoSuchKey, PKCS11Error

    select: dict[str, Any] = {}
    for name, attr in (("label", Attribute.LABEL), ("id", Attribute.ID)):
        try:
            if key[attr]:
                select[name] = key[attr]
        except PKCS11Error:
            pass
    try:
        pub = session.get_key(object_class=ObjectClass.PUBLIC_KEY, **select)
        if pub.key_type == KeyType.EC_EDWARDS:
            return _edwards_public_key(bytes(pub[Attribute.EC_POINT]))
    except (NoSuchKey, PKCS11Error):
        return None
    if pub.key_type == KeyType.EC:
        from pkcs11.util.ec import encode_ec_public_key

        return load_der_public_key(encode_ec_public_key(pub))
    if pub.key_type == KeyType.RSA:
        from pkcs11.util.rsa import encode_rsa_public_key

        return load_der_public_key(encode_rsa_public_key(pub))
    return None


def _edwards_public_key(point: bytes) -> Any:
    """Ed25519/Ed448 public key from a ``CKA_EC_POINT`` (DER OCTET STRING, or the raw bytes
    some tokens store)."""
    from asn1crypto.core import OctetString
    from cryptography.hazmat.primitives.asymmetric import ed448, ed25519

    raw = point
    if len(point) in (34, 59) and point[0] == 0x04:
        raw = OctetString.load(point).native
    if len(raw) == 32:
        return ed25519.Ed25519PublicKey.from_public_bytes(raw)
    if len(raw) == 57:
        return ed448.Ed448PublicKey.from_public_bytes(raw)
    return None


def _token_public_der(session: Any, key: Any) -> bytes | None:
    """SPKI DER of :func:`_token_public_key` (``None`` when there is none)."""
    public = _token_public_key(session, key)
    return None if public is None else _public_der(public)


def _check_pair(signing: Pkcs11SigningKey) -> None:
    """Refuse a certificate whose public key is not the token key's: the public key objects
    are compared; without one, a probe signature is verified with the certificate."""
    mine = _token_public_der(signing.session, signing.key)
    theirs = _public_der(signing.certificate.public_key())
    if mine is not None:
        if mine != theirs:
            raise InvalidInput(f"PKCS#11 token {signing.token_label}: the certificate's public "
                               "key is not the token key's")
        return
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa, utils

    digest_alg = algorithms.by_name("sha256", algorithms.Kind.DIGEST)
    probe = os.urandom(32)
    signature = signing.sign_digest(probe, digest_alg)
    pub = signing.certificate.public_key()
    prehashed = utils.Prehashed(digest_alg.crypto_hash())
    try:
        if isinstance(pub, ec.EllipticCurvePublicKey):
            pub.verify(signature, probe, ec.ECDSA(prehashed))
        elif isinstance(pub, rsa.RSAPublicKey):
            pad: padding.AsymmetricPadding = (
                padding.PSS(padding.MGF1(digest_alg.crypto_hash()), 32) if signing.rsa_pss
                else padding.PKCS1v15())
            pub.verify(signature, probe, pad, prehashed)
        elif isinstance(pub, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
            pub.verify(signature, probe)
    except InvalidSignature:
        raise InvalidInput(f"PKCS#11 token {signing.token_label}: the certificate's public "
                           "key is not the token key's") from None


class _Login:
    """One login of this process to a token, shared by every session opened on it."""

    __slots__ = ("anchor", "tag", "users")

    def __init__(self, anchor: Any, tag: bytes) -> None:
        self.anchor, self.tag, self.users = anchor, tag, 1


#: PKCS#11 login state is per application and token: a second ``C_Login`` fails
#: (``CKR_USER_ALREADY_LOGGED_IN``) and a ``C_Logout`` ends every session's login. So the first
#: key opened on a token logs in (the anchor session) and the others open plain sessions that
#: share that login, the PIN they were given compared with the first one's (a keyed hash, never
#: the PIN itself, is kept); the anchor is closed (logging out) when the last key closes.
_LOGINS: dict[tuple[str, int], _Login] = {}
_SESSIONS: dict[int, tuple[tuple[str, int], _Login]] = {}
_LOGIN_LOCK = threading.Lock()
_TAG_KEY = os.urandom(32)


def _login(module: str, token: Any, pin: str, label: str, *, rw: bool) -> Any:
    import hmac

    where = (module, int(token.slot.slot_id))
    tag = hmac.new(_TAG_KEY, pin.encode(), "sha256").digest()
    with _LOGIN_LOCK:
        entry = _LOGINS.get(where)
        if entry is not None and not _alive(entry.anchor):
            del _LOGINS[where]  # the module was re-initialised or the token reinserted
            entry = None
        if entry is None:
            session = token.open(rw=rw, user_pin=pin)
            entry = _LOGINS[where] = _Login(session, tag)
        else:
            if not hmac.compare_digest(entry.tag, tag):
                raise TokenLoginFailed(f"PKCS#11 token {label}: PIN incorrect")
            session = token.open(rw=rw)  # a public session sees the login of the anchor
            entry.users += 1
        _SESSIONS[id(session)] = (where, entry)
        return session


def _alive(session: Any) -> bool:
    """Whether a session still exists (asked with one ``C_GenerateRandom`` of 8 bits: no
    operation state, unlike a search; a token without an RNG counts as alive)."""
    from pkcs11.exceptions import (
        DeviceRemoved,
        PKCS11Error,
        SessionClosed,
        SessionHandleInvalid,
        TokenNotPresent,
    )

    try:
        session.generate_random(8)
    except (SessionHandleInvalid, SessionClosed, DeviceRemoved, TokenNotPresent):
        return False
    except PKCS11Error:
        return True
    return True


def close_session(session: Any) -> None:
    """Close a session from :func:`_open_session`; the token's login ends with the last one."""
    from pkcs11.exceptions import PKCS11Error

    with _LOGIN_LOCK:
        where, entry = _SESSIONS.pop(id(session), (None, None))
        closing = [session]
        if entry is not None:
            entry.users -= 1
            closing = [] if session is entry.anchor else [session]
            if entry.users <= 0:
                closing.append(entry.anchor)
                if _LOGINS.get(where) is entry:  # type: ignore[arg-type]
                    del _LOGINS[where]  # type: ignore[arg-type]
        for each in closing:
            try:
                each.close()
            except PKCS11Error:  # the library was re-initialised, the token removed
                pass


def _open_session(uri: Pkcs11Uri, pin: str, *, rw: bool = False) -> Any:
    import pkcs11
    from pkcs11.exceptions import (
        GeneralError,
        NoSuchToken,
        PinIncorrect,
        PinInvalid,
        PinLenRange,
        PKCS11Error,
        UserAlreadyLoggedIn,
    )

    module = uri.module_path or os.environ.get(MODULE_ENV)
    if not module:
        raise InvalidInput("no PKCS#11 module: give module-path in the URI or set "
                           f"${MODULE_ENV}")
    label = uri.token or ""
    try:
        lib = pkcs11.lib(module)
    except (PKCS11Error, OSError, RuntimeError) as exc:
        raise InvalidInput(f"cannot load PKCS#11 module {module}: {exc or type(exc).__name__}"
                           ) from None
    try:
        token = lib.get_token(token_label=uri.token) if uri.token else lib.get_token()
        return _login(module, token, pin, label, rw=rw)
    except NoSuchToken:
        raise InvalidInput(f"no PKCS#11 token {label!r} in {module}") from None
    except UserAlreadyLoggedIn:
        raise InvalidInput(f"PKCS#11 token {label}: already logged in by this process outside "
                           "dicomsec (close that session first)") from None
    except (PinIncorrect, PinInvalid, PinLenRange):
        raise TokenLoginFailed(f"PKCS#11 token {label}: PIN incorrect") from None
    except GeneralError as exc:
        raise InvalidInput(f"PKCS#11 token {label}: {exc or 'general error'} (is the token "
                           "store readable? check the module's configuration, e.g. "
                           "SOFTHSM2_CONF)") from None
    except PKCS11Error as exc:
        raise InvalidInput(f"PKCS#11 token {label}: {type(exc).__name__} {exc}") from None


def _find_private(session: Any, parsed: Pkcs11Uri, build: Any) -> Any:
    """``build(key)`` for the one private key the URI selects; the session is closed on any
    failure.

    Raises:
        InvalidInput: no key, several keys, a token error; what ``build`` raises.
    """
    from pkcs11 import ObjectClass
    from pkcs11.exceptions import MultipleObjectsReturned, NoSuchKey, PKCS11Error

    label = parsed.token or ""
    select: dict[str, Any] = {}
    if parsed.object is not None:
        select["label"] = parsed.object
    if parsed.id is not None:
        select["id"] = parsed.id
    try:
        return build(session.get_key(object_class=ObjectClass.PRIVATE_KEY, **select))
    except NoSuchKey:
        close_session(session)
        raise InvalidInput(f"PKCS#11 token {label}: no private key "
                           f"{parsed.object or parsed.id!r}") from None
    except MultipleObjectsReturned:
        close_session(session)
        raise InvalidInput(f"PKCS#11 token {label}: several private keys match; add id= or "
                           "object=") from None
    except PKCS11Error as exc:
        close_session(session)
        raise InvalidInput(f"PKCS#11 token {label}: {type(exc).__name__} {exc}") from None
    except DicomSecError:
        close_session(session)
        raise


def _parse_for_key(uri: str | Pkcs11Uri) -> Pkcs11Uri:
    parsed = parse_pkcs11_uri(uri) if isinstance(uri, str) else uri
    if parsed.object is None and parsed.id is None:
        raise InvalidInput("PKCS#11 URI: name the key with object= or id=")
    return parsed


def open_signing_key(uri: str | Pkcs11Uri, certificate: x509.Certificate, *,
                     pin: str | None = None, pin_file: os.PathLike[str] | str | None = None,
                     rsa_pss: bool = False) -> Pkcs11SigningKey:
    """Open the token key a URI names and pair it with its certificate.

    The PIN is ``pin``, else :func:`read_pin`'s sources. The PIN is tried once, never retried
    (a real token locks after a few wrong ones).

    Raises:
        InvalidInput: bad URI, no module/token/key, several keys match, or a certificate whose
            public key is not the token key's (exit 2).
        TokenLoginFailed: the token refused the PIN (exit 1).
    """
    parsed = _parse_for_key(uri)
    session = _open_session(parsed, pin if pin is not None else read_pin(parsed, pin_file))
    label = parsed.token or ""

    def build(key: Any) -> Pkcs11SigningKey:
        signing = Pkcs11SigningKey(key, session, certificate, label, rsa_pss)
        _check_pair(signing)
        return signing

    return _find_private(session, parsed, build)  # type: ignore[no-any-return]


def open_token_key(uri: str | Pkcs11Uri, *, pin: str | None = None,
                   pin_file: os.PathLike[str] | str | None = None,
                   rsa_pss: bool = False) -> TokenKey:
    """Open the token key a URI names, without a certificate: its public key is read from the
    token's public key object (same label and id), e.g. to sign a self-signed root CA or a
    certificate request in the token (:mod:`dicomsec._x509sign`).

    The PIN is ``pin``, else :func:`read_pin`'s sources, tried once.

    Raises:
        InvalidInput: bad URI, no module/token/key, several keys match, no public key object
            beside the private key, or a key family not supported here (exit 2).
        TokenLoginFailed: the token refused the PIN (exit 1).
    """
    parsed = _parse_for_key(uri)
    session = _open_session(parsed, pin if pin is not None else read_pin(parsed, pin_file))
    label = parsed.token or ""

    def build(key: Any) -> TokenKey:
        public = _token_public_key(session, key)
        if public is None:
            raise InvalidInput(f"PKCS#11 token {label}: no public key object of a supported "
                               f"family beside private key {parsed.object or parsed.id!r}")
        return TokenKey(key, session, public, label, rsa_pss)

    return _find_private(session, parsed, build)  # type: ignore[no-any-return]


#: ``keys generate --pkcs11 --key-type`` names → (key scheme of :mod:`dicomsec.keys`, what
#: the token generates)
TOKEN_KEY_TYPES: dict[str, str] = {"ec-p256": "ecdsa-p256", "ec-p384": "ecdsa-p384",
                                   "rsa-2048": "rsa2048", "rsa-3072": "rsa3072",
                                   "ed25519": "ed25519"}
_EC_CURVES = {"ec-p256": "secp256r1", "ec-p384": "secp384r1"}


def _refuse_existing(session: Any, label: str, key_id: bytes | None, token: str) -> None:
    """Refuse when any object of the token has the label or the id (a key is never
    replaced, nor given a second object under the same name)."""
    from pkcs11 import Attribute

    for attr, value, what in ((Attribute.LABEL, label, f"label {label!r}"),
                              (Attribute.ID, key_id, f"id {key_id.hex() if key_id else ''}")):
        if value is not None and list(session.get_objects({attr: value})):
            raise InvalidInput(f"PKCS#11 token {token}: an object with {what} exists; a key "
                               "is never replaced (choose another object= or id=)")


def _generate_pair(session: Any, key_type: str, label: str, key_id: bytes) -> Any:
    """Generate ``key_type`` in the token: private key SENSITIVE, never EXTRACTABLE, a token
    object; returns the private key object."""
    from pkcs11 import Attribute, KeyType

    private = {Attribute.SENSITIVE: True, Attribute.EXTRACTABLE: False, Attribute.SIGN: True,
               Attribute.TOKEN: True, Attribute.PRIVATE: True}
    public = {Attribute.VERIFY: True, Attribute.TOKEN: True}
    if key_type.startswith("rsa-"):
        _, priv = session.generate_keypair(KeyType.RSA, int(key_type[4:]), label=label,
                                           id=key_id, store=True, private_template=private,
                                           public_template=public)
        return priv
    if key_type == "ed25519":  # CKA_EC_PARAMS: the curve's OBJECT IDENTIFIER (RFC 8410)
        from asn1crypto.core import ObjectIdentifier

        oid = algorithms.by_name("ed25519", algorithms.Kind.SIGNATURE).oid
        kind, params = KeyType.EC_EDWARDS, ObjectIdentifier(oid).dump()
    else:
        from pkcs11.util.ec import encode_named_curve_parameters

        kind, params = KeyType.EC, encode_named_curve_parameters(_EC_CURVES[key_type])
    domain = session.create_domain_parameters(kind, {Attribute.EC_PARAMS: params}, local=True)
    _, priv = domain.generate_keypair(store=True, label=label, id=key_id,
                                      private_template=private, public_template=public)
    return priv


def generate_token_key(uri: str | Pkcs11Uri, key_type: str, *, pin: str | None = None,
                       pin_file: os.PathLike[str] | str | None = None,
                       policy: Any = None) -> TokenKey:
    """Create a key pair IN the token the URI names (``object=`` is its label, ``id=`` its
    id, else 8 random bytes) and open it: the private key is SENSITIVE and never EXTRACTABLE,
    so only its public key ever leaves the token. ``key_type``: one of
    :data:`TOKEN_KEY_TYPES`. The algorithm policy (``policy``, default the default policy)
    must allow creating the key today; checked before the token is opened.

    Raises:
        InvalidInput: an unknown key type, a URI without ``object=``, an object with that label
            or id already in the token, a token or module error (exit 2).
        PolicyViolation: the algorithm policy refuses the key (exit 1).
        TokenLoginFailed: the token refused the PIN (exit 1).
    """
    from pkcs11.exceptions import PKCS11Error

    from dicomsec.keys import check_key_creation

    if key_type not in TOKEN_KEY_TYPES:
        raise InvalidInput(f"unknown token key type {key_type!r} (known: "
                           f"{', '.join(TOKEN_KEY_TYPES)})")
    parsed = _parse_for_key(uri)
    if parsed.object is None:
        raise InvalidInput("PKCS#11 URI: name the new key with object= (its label)")
    check_key_creation(TOKEN_KEY_TYPES[key_type], policy=policy)
    label, key_id = parsed.object, parsed.id or os.urandom(8)
    session = _open_session(parsed, pin if pin is not None else read_pin(parsed, pin_file),
                            rw=True)
    token = parsed.token or ""
    try:
        _refuse_existing(session, label, parsed.id, token)
        private = _generate_pair(session, key_type, label, key_id)
        public = _token_public_key(session, private)
    except PKCS11Error as exc:
        close_session(session)
        raise InvalidInput(f"PKCS#11 token {token}: cannot generate {key_type}: "
                           f"{type(exc).__name__} {exc}".rstrip()) from None
    except DicomSecError:
        close_session(session)
        raise
    return TokenKey(private, session, public, token)


def destroy_token_key(key: TokenKey) -> None:
    """Destroy a key pair made by :func:`generate_token_key` (private and public objects),
    e.g. when what it was made for failed; the session stays open."""
    from pkcs11 import Attribute, ObjectClass
    from pkcs11.exceptions import PKCS11Error

    try:
        select = {"label": key.key[Attribute.LABEL], "id": key.key[Attribute.ID]}
        pub = key.session.get_key(object_class=ObjectClass.PUBLIC_KEY, **select)
        pub.destroy()
    except PKCS11Error:
        pass
    try:
        key.key.destroy()
    except PKCS11Error:
        pass


@dataclass(frozen=True, slots=True)
class TokenKeyReport(Report):
    """A key pair generated in a token and what was written for it (a request or a
    certificate; never the key). ``ok``: the token says the private key was generated there
    (``LOCAL``), is sensitive and was never extractable (PKCS#11 v2.40 section 4.9)."""

    schema: ClassVar[str] = "dicomsec.keys.token_key/1"

    token: str
    label: str
    key_id: str
    key_type: str
    scheme: str
    #: SHA-256 of the SubjectPublicKeyInfo, hex
    public_key_sha256: str
    #: ``local``, ``never_extractable``, ``sensitive``, ``extractable`` (None: not said)
    provenance: dict[str, bool | None]
    #: ``csr``, ``self-signed`` or ``certificate``
    output_kind: str
    output: str
    subject: str
    issuer: str | None = None

    @property
    def ok(self) -> bool:
        p = self.provenance
        return bool(p.get("local") and p.get("never_extractable") and p.get("sensitive")
                    and p.get("extractable") is False)

    def summary(self) -> str:
        flags = ",".join(k for k, v in self.provenance.items() if v)
        return (f"{'ok' if self.ok else 'not-token-born'} token={self.token} "
                f"label={self.label} type={self.key_type} provenance={flags or '-'} "
                f"{self.output_kind}={self.output}")

    def _content(self) -> dict[str, Any]:
        return {"token": self.token, "label": self.label, "key_id": self.key_id,
                "key_type": self.key_type, "scheme": self.scheme,
                "public_key_sha256": self.public_key_sha256,
                "provenance": dict(self.provenance), "output_kind": self.output_kind,
                "output": self.output, "subject": self.subject, "issuer": self.issuer}


def make_token_key(uri: str | Pkcs11Uri, key_type: str, *, output_kind: str,
                   out: os.PathLike[str] | str, subject: x509.Name, days: int = 825,
                   issuer: tuple[x509.Certificate, Any] | None = None,
                   pin: str | None = None, pin_file: os.PathLike[str] | str | None = None,
                   policy: Any = None) -> TokenKeyReport:
    """Generate a key in the token (:func:`generate_token_key`) and write, atomically, only
    its certificate request (``output_kind="csr"``), a self-signed certificate
    (``"self-signed"``) or a certificate issued by ``issuer`` = (CA certificate, CA key)
    (``"certificate"``; check the CA certificate for issuing first). When anything fails after
    the key pair was made, the pair is destroyed (a re-run is then not refused).

    Raises:
        InvalidInput, PolicyViolation, TokenLoginFailed: as :func:`generate_token_key`.
    """
    import hashlib

    from cryptography.hazmat.primitives.serialization import Encoding

    from dicomsec._atomic import atomic_write_bytes
    from dicomsec.keys import certificate_request, issue_certificate

    if output_kind not in ("csr", "self-signed", "certificate"):
        raise InvalidInput(f"unknown output kind {output_kind!r}")
    if (output_kind == "certificate") != (issuer is not None):
        raise InvalidInput("an issued certificate needs the CA certificate and key")
    key = generate_token_key(uri, key_type, pin=pin, pin_file=pin_file, policy=policy)
    try:
        name = subject.rfc4514_string()
        try:
            obj: Any = (certificate_request(key, subject) if output_kind == "csr" else
                        issue_certificate(key, name, subject=subject, days=days,
                                          issuer_key=issuer[1] if issuer else None,
                                          issuer_cert=issuer[0] if issuer else None))
            atomic_write_bytes(os.fspath(out), obj.public_bytes(Encoding.PEM))
        except BaseException:
            destroy_token_key(key)
            raise
        from pkcs11 import Attribute

        return TokenKeyReport(
            token=key.token_label, label=str(key.key[Attribute.LABEL]),
            key_id=bytes(key.key[Attribute.ID]).hex(), key_type=key_type,
            scheme=key.scheme.name,
            public_key_sha256=hashlib.sha256(_public_der(key.public)).hexdigest(),
            provenance=key.provenance(), output_kind=output_kind, output=str(out),
            subject=name, issuer=issuer[0].subject.rfc4514_string() if issuer else None)
    finally:
        key.close()
