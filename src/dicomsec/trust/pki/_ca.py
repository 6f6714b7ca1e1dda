"""The certificate authorities of the site PKI: the folder layout, ``init``, ``issue`` and
``revoke``; one :class:`CaSigner` through which every CA signature goes."""

from __future__ import annotations

import contextlib
import datetime as _dt
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dicomsec import keys
from dicomsec._atomic import atomic_write_bytes
from dicomsec.errors import InvalidInput
from dicomsec.trust import KeyPurpose, check_for_use
from dicomsec.trust.identity import DeviceIdentity
from dicomsec.trust.pki import _db, _profiles
from dicomsec.trust.pki._audit import emit_configuration
from dicomsec.trust.pki._passphrase import encrypt_private_key

if TYPE_CHECKING:
    from collections.abc import Iterable

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
    from cryptography.x509 import ocsp

    from dicomsec.events import AuditHandler

__all__ = ["CA_KEY_TYPES", "CaSigner", "Issued", "Layout", "Request", "check_issue_outputs",
           "check_new_folder", "check_outputs", "check_request", "init", "issue", "issue_from",
           "load_signer", "oneline", "revoke", "which_ca"]

#: ``--key-type`` of ``pki init`` → (root key scheme, issuing CA and default end-entity scheme)
CA_KEY_TYPES: dict[str, tuple[str, str]] = {
    "ec-p384": ("ecdsa-p384", "ecdsa-p256"),
    "rsa-3072": ("rsa3072", "rsa3072"),
    "ml-dsa-65": ("ml-dsa-65", "ml-dsa-65"),
}
#: spellings ``pki issue --key-type`` takes besides the key scheme names of ``keys generate``
_ALIASES = {"ec-p256": "ecdsa-p256", "ec-p384": "ecdsa-p384", "ec-p521": "ecdsa-p521",
            "rsa-2048": "rsa2048", "rsa-3072": "rsa3072", "rsa-4096": "rsa4096"}
#: how long before a certificate's notBefore the clock may lag (clients with a slow clock)
_BACKDATE = _dt.timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class Layout:
    """Where the files of a site PKI folder are."""

    folder: Path

    def cert(self, ca: str) -> Path:
        return self.folder / ("ca.cert.pem" if ca == "root" else "issuing.cert.pem")

    def key(self, ca: str) -> Path:
        return self.folder / ("ca.key.pem" if ca == "root" else "issuing.key.pem")

    def index(self, ca: str, settings: _db.Settings) -> Path:
        """The index of ``ca``: ``index.txt`` is the one of the CA that issues end entities."""
        return self.folder / ("index.txt" if ca == settings.issuer else "root.index.txt")

    @property
    def certs(self) -> Path:
        return self.folder / "certs"

    def cas(self, settings: _db.Settings) -> tuple[str, ...]:
        """The CAs of the site, the issuing one first."""
        return ("issuing", "root") if settings.issuer == "issuing" else ("root",)


class CaSigner:
    """The one way a CA key signs (certificates, CRLs, OCSP responses): an in-memory key from
    a file, or a key in a PKCS#11 token (a :class:`dicomsec._pkcs11.TokenKey`), both through
    :mod:`dicomsec._x509sign` (which checks every signature it makes). :meth:`close` ends a
    token session."""

    __slots__ = ("_key", "cert")

    def __init__(self, key: Any, cert: x509.Certificate) -> None:
        self._key = key
        self.cert = cert

    def __repr__(self) -> str:
        return f"CaSigner(subject={self.cert.subject.rfc4514_string()!r}, key=<redacted>)"

    def public_key(self) -> Any:
        return self.cert.public_key()

    def hash_algorithm(self) -> hashes.SHA256 | hashes.SHA384 | hashes.SHA512 | None:
        return _hash_for(self.cert.public_key())

    def sign_certificate(self, builder: x509.CertificateBuilder) -> x509.Certificate:
        from dicomsec._x509sign import sign_certificate

        return sign_certificate(builder, self._key, self.hash_algorithm())

    def sign_crl(self, builder: x509.CertificateRevocationListBuilder
                 ) -> x509.CertificateRevocationList:
        from dicomsec._x509sign import sign_crl

        return sign_crl(builder, self._key, self.hash_algorithm())

    def sign_ocsp_response(self, builder: ocsp.OCSPResponseBuilder) -> ocsp.OCSPResponse:
        from dicomsec._x509sign import sign_ocsp_response

        return sign_ocsp_response(builder, self._key, self.hash_algorithm())

    def close(self) -> None:
        close = getattr(self._key, "close", None)
        if callable(close):
            close()

    def __enter__(self) -> CaSigner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _hash_for(public_key: Any) -> hashes.SHA256 | hashes.SHA384 | hashes.SHA512 | None:
    """SHA-384 for P-384, SHA-512 for P-521, SHA-256 for other EC and RSA; none for EdDSA and
    ML-DSA (their own hashing)."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    if isinstance(public_key, ec.EllipticCurvePublicKey):
        bits = public_key.curve.key_size
        return hashes.SHA512() if bits > 384 else hashes.SHA384() if bits > 256 \
            else hashes.SHA256()
    if isinstance(public_key, rsa.RSAPublicKey):
        return hashes.SHA256()
    return None


@dataclass(frozen=True, slots=True)
class Issued:
    """A certificate the site CA issued, and where it was written."""

    certificate: x509.Certificate
    cert_path: Path | None = None
    key_path: Path | None = None


def _load_cert(path: Path, what: str) -> x509.Certificate:
    try:
        return keys.load_certificate(path)
    except InvalidInput as exc:
        raise InvalidInput(f"{what}: {exc.message}", path=str(path)) from None


def load_signer(layout: Layout, ca: str, passphrase: bytes | None, *,
                settings: _db.Settings | None = None,
                pin_file: Path | None = None) -> CaSigner:
    """The signer of ``ca`` (``root`` or ``issuing``): the root's key in a PKCS#11 token when
    the site was made with ``ca_key``, else the key file decrypted with ``passphrase``.

    Raises:
        InvalidInput: a missing or unreadable file, a wrong passphrase (exit 2, as ``sign``
            treats a wrong key password), a key that is not the certificate's, a token error.
        TokenLoginFailed: the token refused the PIN (exit 1).
    """
    settings = settings or _db.read_settings(layout.folder)
    cert = _load_cert(layout.cert(ca), f"{ca} CA certificate")
    if ca == "root" and settings.ca_key:
        return _token_signer(settings.ca_key, cert, pin_file)
    if passphrase is None:
        raise InvalidInput(f"the {ca} CA key is encrypted and no passphrase was given")
    try:
        key = keys.load_private_key(layout.key(ca), password=passphrase)
    except InvalidInput as exc:
        if "password" not in exc.message:
            raise
        raise InvalidInput(f"wrong passphrase for the {ca} CA key (or not a key)",
                           path=str(layout.key(ca))) from None
    keys.check_issuer(key, cert)
    return CaSigner(key, cert)


def _token_signer(uri: str, cert: x509.Certificate, pin_file: Path | None) -> CaSigner:
    """A CA signer for the token key ``uri`` names (the key must be ``cert``'s)."""
    return CaSigner(_token_key(uri, cert, pin_file), cert)


def _token_key(uri: str, cert: x509.Certificate | None, pin_file: Path | None,
               now: _dt.datetime | None = None) -> Any:
    """The token key ``uri`` names; with ``cert``, the key must be its key; without (a new
    root), the algorithm policy must allow the key for creation ``now``."""
    from dicomsec._pkcs11 import open_token_key
    from dicomsec.algorithms.policy import AlgorithmPolicy, Purpose

    token_key = open_token_key(uri, pin_file=pin_file)
    try:
        public = token_key.public_key()
        if cert is None:
            AlgorithmPolicy.default().require(token_key.scheme, public, Purpose.CREATE, now)
        elif _spki(public) != _spki(cert.public_key()):
            raise InvalidInput("the token key of pki.toml's ca_key is not the root CA's key")
    except BaseException:
        token_key.close()
        raise
    return token_key


def _spki(public_key: Any) -> bytes:
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    return public_key.public_bytes(Encoding.DER,  # type: ignore[no-any-return]
                                   PublicFormat.SubjectPublicKeyInfo)


def _scheme(name: str) -> keys.KeyScheme:
    scheme = keys.parse_key_scheme(_ALIASES.get(name.strip().lower(), name))
    if scheme.recipient_only:
        raise InvalidInput(f"{name} keys cannot sign: not a key type for the site PKI")
    return scheme


def _new_key(scheme: str, now: _dt.datetime) -> PrivateKeyTypes:
    """A new key, after the algorithm policy allowed its creation (PolicyViolation: exit 1)."""
    return keys.generate_private_key(_scheme(scheme), at=now)


def _write_key(path: Path, key: PrivateKeyTypes, passphrase: bytes | None) -> None:
    from cryptography.hazmat.primitives import serialization

    data = encrypt_private_key(key, passphrase) if passphrase else key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption())
    atomic_write_bytes(path, data, mode=0o600)


def _pem(cert: x509.Certificate) -> bytes:
    from cryptography.hazmat.primitives.serialization import Encoding

    return cert.public_bytes(Encoding.PEM)


def oneline(name: x509.Name) -> str:
    """A name as OpenSSL's index writes it: ``/CN=.../serialNumber=...``."""
    from cryptography.x509.oid import NameOID

    short = {NameOID.COMMON_NAME: "CN", NameOID.ORGANIZATION_NAME: "O",
             NameOID.ORGANIZATIONAL_UNIT_NAME: "OU", NameOID.SERIAL_NUMBER: "serialNumber",
             NameOID.COUNTRY_NAME: "C"}
    return "".join(f"/{short.get(a.oid, a.oid.dotted_string)}={a.value!s}" for a in name)


def _serial(taken: set[int]) -> int:
    """A random positive serial of 20 bytes at most (RFC 5280 §4.1.2.2), not yet used."""
    while True:
        serial = int.from_bytes(os.urandom(20), "big") >> 1
        if serial and serial not in taken:
            return serial


def _record(layout: Layout, index: Path, cert: x509.Certificate) -> None:
    """Add ``cert`` to ``index`` and keep a copy in ``certs/<SERIAL>.pem``."""
    entries = _db.read_index(index)
    entry = _db.Entry("V", cert.not_valid_after_utc, cert.serial_number, oneline(cert.subject))
    layout.certs.mkdir(exist_ok=True)
    atomic_write_bytes(layout.certs / f"{entry.serial_hex}.pem", _pem(cert), mode=0o644)
    _db.write_index(index, [*entries, entry])


def _ca_cert(signer: CaSigner | None, key: Any, name: x509.Name, *,
             path_length: int, days: int, now: _dt.datetime,
             ocsp_url: str | None, crl_url: str | None = None) -> x509.Certificate:
    from cryptography import x509

    start = now - _BACKDATE
    issuer = signer.cert if signer is not None else None
    builder = (x509.CertificateBuilder().subject_name(name)
               .issuer_name(issuer.subject if issuer is not None else name)
               .public_key(key.public_key())
               .serial_number(_serial(set())).not_valid_before(start)
               .not_valid_after(start + _dt.timedelta(days=days)))
    builder = _profiles.ca_extensions(builder, key.public_key(), issuer_cert=issuer,
                                      path_length=path_length, ocsp_url=ocsp_url,
                                      crl_url=crl_url)
    if signer is None:  # self-signed: the new root key (in memory or in a token)
        from dicomsec._x509sign import sign_certificate

        return sign_certificate(builder, key, _hash_for(key.public_key()))
    return signer.sign_certificate(builder)


def _same_file_inside(site: Path, path: Path) -> bool:
    """Whether ``path``, an existing file with several hard links, is a file of ``site``."""
    try:
        st = os.stat(path)
    except OSError:
        return False
    if st.st_nlink < 2:
        return False
    for root, _, files in os.walk(site):
        for name in files:
            with contextlib.suppress(OSError):
                other = os.stat(os.path.join(root, name))
                if (other.st_dev, other.st_ino) == (st.st_dev, st.st_ino):
                    return True
    return False


def check_outputs(folder: Path, paths: list[Path]) -> None:
    """Refuse an output inside the site PKI ``folder``: its CA certificates (the trust
    anchor), CA keys, indexes, settings, ``certs/`` and ``ocsp/`` are never replaced by a
    command's output. Paths are resolved first (symbolic links, ``..``), and an existing
    output hard-linked to a file of the folder is refused too.

    Raises:
        InvalidInput: one of ``paths`` is (or would be) a file of the folder.
    """
    site = folder.resolve()
    for path in paths:
        where = path.resolve()
        if where == site or site in where.parents or _same_file_inside(site, path):
            raise InvalidInput(f"is inside the site PKI folder {folder} (its keys, "
                               "certificates and index are never an output); write it "
                               "elsewhere", path=str(path))


def check_issue_outputs(folder: Path, out: Path) -> tuple[Path, Path]:
    """``out.key.pem`` and ``out.cert.pem`` for :func:`issue`: outside the PKI folder and
    not existing (an issued key or certificate is never replaced).

    Raises:
        InvalidInput: either is a file of the folder, or exists.
    """
    key_path, cert_path = (out.with_name(out.name + ".key.pem"),
                           out.with_name(out.name + ".cert.pem"))
    check_outputs(folder, [key_path, cert_path])
    for path, what in ((key_path, "a private key"), (cert_path, "a certificate")):
        if path.exists() or path.is_symlink():
            raise InvalidInput(f"exists; refusing to replace {what} (remove it or choose "
                               "another --out)", path=str(path))
    return key_path, cert_path


def check_new_folder(folder: Path) -> bool:
    """Whether ``folder`` must be made; refuse a non-empty one or a file."""
    if not folder.exists():
        return True
    if not folder.is_dir():
        raise InvalidInput("exists and is not a folder", path=str(folder))
    if any(folder.iterdir()):
        raise InvalidInput("the folder is not empty; a site PKI is made in a new or empty "
                           "folder", path=str(folder))
    return False


def init(folder: Path, *, passphrase: bytes | None, key_type: str = "ec-p384",
         intermediate: bool = False, name: str = "dicomsec Site Root CA",
         organization: str | None = None, crl_url: str | None = None,
         ocsp_url: str | None = None, ca_key: str | None = None,
         pin_file: Path | None = None, now: _dt.datetime | None = None,
         handlers: Iterable[AuditHandler] | None = None) -> _db.Settings:
    """Make a site PKI in ``folder`` (new or empty): a root CA (10 years, pathLen 1) and, with
    ``intermediate``, an issuing CA (5 years, pathLen 0) that issues the end entities.

    ``ca_key``: the root's key is the existing key of a PKCS#11 token this RFC 7512 URI names
    (its PIN from ``pin_file`` or the other sources of :func:`dicomsec._pkcs11.read_pin`);
    ``key_type`` then only chooses the issuing CA's and the end entities' keys. File keys
    are encrypted with ``passphrase`` (not needed for a token root without ``intermediate``).
    ``handlers`` get a SECURITY_CONFIGURATION event per CA certificate made.

    Raises:
        InvalidInput: a non-empty folder, an unknown key type, a bad name or URL, no
            passphrase where one is needed, a token error.
        PolicyViolation: the algorithm policy refuses a key type (nothing is written).
        TokenLoginFailed: the token refused the PIN (exit 1).
    """
    if key_type not in CA_KEY_TYPES:
        raise InvalidInput(f"unknown CA key type {key_type!r} (known: "
                           f"{', '.join(CA_KEY_TYPES)})")
    for url in (crl_url, ocsp_url):
        if url is not None and not url.startswith(("http://", "https://")):
            raise InvalidInput(f"{url!r} is not an http:// or https:// URL")
    if passphrase is None and (ca_key is None or intermediate):
        raise InvalidInput("a passphrase is needed for the CA key files")
    now = now or _dt.datetime.now(_dt.UTC)
    root_scheme, issuing_scheme = CA_KEY_TYPES[key_type]
    subject = _profiles.subject_name(name, organization=organization)
    made = check_new_folder(folder)
    issuing_key = _new_key(issuing_scheme, now) if intermediate else None
    settings = _db.Settings(key_type=key_type, issuer="issuing" if intermediate else "root",
                            crl_url=crl_url, ocsp_url=ocsp_url, organization=organization,
                            ca_key=ca_key)
    root_key: Any = _new_key(root_scheme, now) if ca_key is None else \
        _token_key(ca_key, None, pin_file, now)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        _write_ca_files(Layout(folder), settings, root_key, issuing_key, subject,
                        passphrase=passphrase, now=now)
    except BaseException:
        _undo(folder, made)
        raise
    finally:
        if ca_key is not None:
            root_key.close()
    layout = Layout(folder)
    for ca in layout.cas(settings):
        emit_configuration(handlers, "issue", layout.cert(ca),
                           f"site PKI made: {ca} CA certificate issued")
    return settings


def _undo(folder: Path, made: bool) -> None:
    """Remove what a failed ``init`` wrote (the folder itself when ``init`` made it)."""
    with contextlib.suppress(OSError):
        if made:
            shutil.rmtree(folder)
        else:
            for child in folder.iterdir():
                shutil.rmtree(child) if child.is_dir() else child.unlink()


def _write_ca_key(path: Path, key: PrivateKeyTypes, passphrase: bytes | None) -> None:
    """A CA key file: always encrypted (PBES2)."""
    if not passphrase:
        raise InvalidInput("a passphrase is needed for the CA key files")
    _write_key(path, key, passphrase)


def _write_ca_files(layout: Layout, settings: _db.Settings, root_key: Any,
                    issuing_key: PrivateKeyTypes | None, subject: x509.Name, *,
                    passphrase: bytes | None, now: _dt.datetime) -> None:
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    root = _ca_cert(None, root_key, subject, path_length=1, days=_profiles.CA_DAYS["root"],
                    now=now, ocsp_url=None)
    if settings.ca_key is None:
        _write_ca_key(layout.key("root"), root_key, passphrase)
    atomic_write_bytes(layout.cert("root"), _pem(root), mode=0o644)
    _db.write_index(layout.index(settings.issuer, settings), [])
    if issuing_key is not None:
        cn = subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
        name = f"{cn!s} Issuing"[:64] if "Root" not in str(cn) else \
            str(cn).replace("Root", "Issuing")[:64]
        issuing_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name),
                                  *[a for a in subject if a.oid != NameOID.COMMON_NAME]])
        issuing = _ca_cert(CaSigner(root_key, root), issuing_key, issuing_name, path_length=0,
                           days=_profiles.CA_DAYS["issuing"], now=now,
                           ocsp_url=settings.ocsp_url, crl_url=settings.crl_url)
        _write_ca_key(layout.key("issuing"), issuing_key, passphrase)
        atomic_write_bytes(layout.cert("issuing"), _pem(issuing), mode=0o644)
        _record(layout, layout.index("root", settings), issuing)
    layout.certs.mkdir(exist_ok=True)
    _db.write_settings(layout.folder, settings)


@dataclass(frozen=True, slots=True)
class Request:
    """What ``pki issue`` is asked for."""

    kind: str
    name: str
    identity: DeviceIdentity | None = None
    sans: tuple[str, ...] = ()
    key_type: str | None = None
    days: int | None = None
    not_before: _dt.datetime | None = None   # library only: e.g. an already expired test cert


def _validity(request: Request, ca: x509.Certificate,
              now: _dt.datetime) -> tuple[_dt.datetime, _dt.datetime]:
    days = request.days if request.days is not None else _profiles.DEFAULT_DAYS[request.kind]
    if not 1 <= days <= keys.MAX_CERT_DAYS:
        raise InvalidInput(f"--days must be 1 to {keys.MAX_CERT_DAYS}, not {days}")
    start = request.not_before or (now - _BACKDATE)
    end = min(start + _dt.timedelta(days=days), ca.not_valid_after_utc)
    if end <= start:
        raise InvalidInput("the issuing CA expires before the certificate would start")
    return start, end


def _subject(request: Request, organization: str | None) -> x509.Name:
    serial = request.identity.serial if request.identity is not None else None
    if request.kind != "device":
        serial = None
    return _profiles.subject_name(request.name, serial=serial, organization=organization)


def _builder(request: Request, public_key: Any, signer: CaSigner, settings: _db.Settings,
             taken: set[int], now: _dt.datetime) -> x509.CertificateBuilder:
    from cryptography import x509

    sans = [_profiles.parse_san(s) for s in request.sans]
    if request.kind == "tls-server" and not sans:
        sans = [_profiles.parse_san(request.name)]
    start, end = _validity(request, signer.cert, now)
    identity = request.identity
    if request.kind == "device" and (identity is None or identity.is_empty()):
        identity = DeviceIdentity(station=request.name)  # the station is the device's name
    builder = (x509.CertificateBuilder().subject_name(_subject(request, settings.organization))
               .issuer_name(signer.cert.subject).public_key(public_key)
               .serial_number(_serial(taken)).not_valid_before(start).not_valid_after(end))
    return _profiles.end_entity_extensions(  # type: ignore[no-any-return]
        builder, request.kind, public_key, issuer_cert=signer.cert,
        identity=identity, sans=sans, crl_url=settings.crl_url,
        ocsp_url=settings.ocsp_url)


def check_request(request: Request) -> None:
    """Refuse a request before any key is made or any passphrase asked (one line; exit 2,
    or 1 when the algorithm policy refuses ``key_type``)."""
    if request.kind not in _profiles.KINDS:
        raise InvalidInput(f"unknown certificate kind {request.kind!r} (known: "
                           f"{', '.join(_profiles.KINDS)})")
    _subject(request, None)
    for san in request.sans:
        _profiles.parse_san(san)
    if request.key_type is not None:  # PolicyViolation (exit 1) for a refused key type
        keys.check_key_creation(_scheme(request.key_type))


def issue(folder: Path, request: Request, *, passphrase: bytes | None,
          public_key: Any = None, out: Path | None = None,
          key_passphrase: bytes | None = None, pin_file: Path | None = None,
          now: _dt.datetime | None = None,
          handlers: Iterable[AuditHandler] | None = None) -> Issued:
    """Issue an end-entity certificate from the site's issuing CA.

    A new key is made (of ``request.key_type``, else the site's default) unless
    ``public_key`` is given (a key held elsewhere, e.g. in a token). With ``out``, writes
    ``out.key.pem`` (0600; encrypted when ``key_passphrase``) and ``out.cert.pem``. The
    certificate is recorded in the CA's index and kept in ``certs/``. ``handlers`` get one
    SECURITY_CONFIGURATION event (action ``issue``).

    Raises:
        InvalidInput: not a PKI folder, a bad request, a wrong passphrase, an existing
            ``out.key.pem`` or ``out.cert.pem``, ``out`` inside the PKI folder
            (:func:`check_issue_outputs`).
        PolicyViolation: the algorithm policy refuses the key type.
    """
    check_request(request)
    layout = Layout(folder)
    settings = _db.read_settings(folder)
    now = now or _dt.datetime.now(_dt.UTC)
    key_path = cert_path = None
    if out is not None:
        key_path, cert_path = check_issue_outputs(folder, out)
    key = None
    if public_key is None:  # the policy judges the key type before anything is asked
        keys.check_key_creation(_scheme(request.key_type or CA_KEY_TYPES[settings.key_type][1]),
                                at=now)
    else:
        _check_given_key(public_key, now)
    with load_signer(layout, settings.issuer, passphrase, settings=settings,
                     pin_file=pin_file) as signer:  # a wrong passphrase: before a key is made
        if public_key is None:
            key = _new_key(request.key_type or CA_KEY_TYPES[settings.key_type][1], now)
            public_key = key.public_key()
        cert = issue_from(layout, settings, settings.issuer, signer, request, public_key, now)
    if key is not None and key_path is not None:
        _write_key(key_path, key, key_passphrase)
    if cert_path is not None:
        atomic_write_bytes(cert_path, _pem(cert), mode=0o644)
    serial = _db.Entry("V", cert.not_valid_after_utc, cert.serial_number, "").serial_hex
    emit_configuration(handlers, "issue", cert_path or layout.certs / f"{serial}.pem",
                       f"{request.kind} certificate issued", serial=serial,
                       subject=oneline(cert.subject))
    return Issued(cert, cert_path, key_path if key is not None else None)


def issue_from(layout: Layout, settings: _db.Settings, ca: str, signer: CaSigner,
               request: Request, public_key: Any, now: _dt.datetime) -> x509.Certificate:
    """Issue from ``ca`` (its ``signer``) and record the certificate in its index."""
    check_for_use(signer.cert, KeyPurpose.ISSUING, at=now, name=f"the {ca} CA",
                  path=layout.cert(ca))
    with _db.lock(layout.folder):
        index = layout.index(ca, settings)
        taken = {e.serial for e in _db.read_index(index)}
        cert = signer.sign_certificate(_builder(request, public_key, signer, settings, taken,
                                                now))
        _record(layout, index, cert)
    return cert


def _check_given_key(public_key: Any, now: _dt.datetime) -> None:
    """A key made elsewhere must be a signing key the algorithm policy allows creating now.

    Raises:
        InvalidInput: a key that cannot sign (exit 2).
        PolicyViolation: refused by the policy, e.g. RSA below 2048 bits (exit 1).
    """
    from dicomsec import algorithms
    from dicomsec.algorithms.policy import AlgorithmPolicy, Purpose

    try:
        scheme = algorithms.signature_scheme_for_key(public_key)
    except (InvalidInput, ValueError) as exc:
        raise InvalidInput(f"the public key cannot sign: {exc}") from None
    AlgorithmPolicy.default().require(scheme, public_key, Purpose.CREATE, now)


def which_ca(layout: Layout, settings: _db.Settings, cert: x509.Certificate) -> str:
    """The CA of the site that issued ``cert`` (its signature checked).

    Raises:
        InvalidInput: issued by none of them.
    """

    from cryptography.exceptions import InvalidSignature

    for ca in layout.cas(settings):
        issuer = _load_cert(layout.cert(ca), f"{ca} CA certificate")
        if cert.issuer != issuer.subject:
            continue
        try:
            cert.verify_directly_issued_by(issuer)
        except (InvalidSignature, ValueError, TypeError):
            continue
        return ca
    raise InvalidInput("the certificate was not issued by this site's CA")


def revoke(folder: Path, cert: x509.Certificate, *, passphrase: bytes | None,
           reason: str = "unspecified", invalidity: _dt.datetime | None = None,
           pin_file: Path | None = None, now: _dt.datetime | None = None,
           handlers: Iterable[AuditHandler] | None = None) -> _db.Entry:
    """Mark ``cert`` revoked in its CA's index (the next CRL and the responder say so).

    The passphrase is checked (only the CA's holder revokes). A certificate on hold may be
    revoked again with a final reason; any other second revocation is refused. ``handlers``
    get one SECURITY_CONFIGURATION event (action ``revoke``).

    Raises:
        InvalidInput: an unknown reason, a certificate of another CA or not in the index,
            already revoked, an invalidity date with a reason other than a compromise, a
            wrong passphrase.
    """
    if reason not in _db.REASONS:
        raise InvalidInput(f"unknown revocation reason {reason!r} (known: "
                           f"{', '.join(_db.REASONS)})")
    if invalidity is not None and reason not in ("key-compromise", "ca-compromise"):
        raise InvalidInput("--invalidity-date goes with key-compromise or ca-compromise only")
    layout = Layout(folder)
    settings = _db.read_settings(folder)
    ca = which_ca(layout, settings, cert)
    load_signer(layout, ca, passphrase, settings=settings, pin_file=pin_file).close()
    now = now or _dt.datetime.now(_dt.UTC)
    with _db.lock(folder):
        index = layout.index(ca, settings)
        entries = _db.read_index(index)
        hits = [i for i, e in enumerate(entries) if e.serial == cert.serial_number]
        if not hits:
            raise InvalidInput("the certificate is not in the site's index")
        old = entries[hits[0]]
        if old.status == "R" and old.reason != "certificate-hold":
            when = old.revoked_at.isoformat() if old.revoked_at else "?"
            raise InvalidInput(f"already revoked on {when} ({old.reason})")
        entries[hits[0]] = old.revoke(now, reason, invalidity)
        _db.write_index(index, entries)
    entry = entries[hits[0]]
    emit_configuration(handlers, "revoke", layout.certs / f"{entry.serial_hex}.pem",
                       f"certificate revoked ({reason})", serial=entry.serial_hex,
                       subject=entry.subject)
    return entry


