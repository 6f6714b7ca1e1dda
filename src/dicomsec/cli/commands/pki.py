"""``dicomsec pki ...``: the site PKI (see docs/pki.md)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

from dicomsec.cli._audit import audit_handlers
from dicomsec.cli._contexts import input_file, moment, output_file, port_number
from dicomsec.cli._root import command, err, print_json

if TYPE_CHECKING:
    from collections.abc import Callable

    import typer

    from dicomsec.trust.identity import DeviceIdentity

_PHRASE_FILE_HELP = ("File whose first line is the CA passphrase; else DICOMSEC_PKI_PASSPHRASE, "
                     "else a prompt on a terminal. Never stored, never shown.")
_PIN_FILE_HELP = ("File whose first line is the PKCS#11 token's PIN (else $DICOMSEC_PKCS11_PIN, "
                  "else a prompt on a terminal).")
DIR_HELP = "The site PKI folder (made by 'dicomsec pki init')."


def _passphrase(path: Path | None, *, new: bool = False) -> bytes:
    from dicomsec.trust.pki import read_passphrase

    if sys.stdin.isatty():
        return read_passphrase(path, new=new)
    return read_passphrase(path, new=new, prompt=None)


def _needs_passphrase(folder: Path) -> bool:
    """Whether a CA key file may be opened: always, unless the root key is in a token and
    there is no issuing CA."""
    from dicomsec.trust.pki import read_settings

    settings = read_settings(folder)
    return not (settings.ca_key and settings.issuer == "root")


def _site_passphrase(folder: Path, path: Path | None) -> bytes | None:
    return _passphrase(path) if _needs_passphrase(folder) else None


def _asker(path: Path | None) -> Callable[[], bytes]:
    """The passphrase, read on first use (``ocsp-serve`` needs it only to issue
    responders)."""
    got: list[bytes] = []

    def ask() -> bytes:
        if not got:
            got.append(_passphrase(path))
        return got[0]

    return ask


def _folder(path: Path) -> Path:
    from dicomsec.errors import InvalidInput

    if not path.is_dir():
        raise InvalidInput("no such folder", path=str(path))
    return path


@command("init", group="pki")
def pki_init(
    folder: Annotated[Path, typer.Argument(metavar="DIR", help="A new or empty folder.")],
    key_type: Annotated[str, typer.Option(
        "--key-type", help="Root CA key: ec-p384 (default; issuing CA P-256), rsa-3072, "
        "ml-dsa-65 (not readable by DCMTK).")] = "ec-p384",
    intermediate: Annotated[bool, typer.Option(
        "--intermediate", help="Also make an issuing CA (pathLen 0) that issues the end "
        "entities; the root then only signs it and its CRL.")] = False,
    passphrase_file: Annotated[Path | None, typer.Option(
        "--passphrase-file", help=_PHRASE_FILE_HELP + " Asked twice at a prompt; at least 8 "
        "characters.")] = None,
    crl_url: Annotated[str | None, typer.Option(
        "--crl-url", help="CRL distribution point written into end-entity certificates.")]
    = None,
    ocsp_url: Annotated[str | None, typer.Option(
        "--ocsp-url", help="OCSP responder URL (AIA) written into issued certificates.")]
    = None,
    name: Annotated[str, typer.Option("--name", help="The root CA's common name.")]
    = "dicomsec Site Root CA",
    organization: Annotated[str | None, typer.Option(
        "--organization", help="O= of every subject (the site's name).")] = None,
    ca_key: Annotated[str | None, typer.Option(
        "--ca-key", metavar="PKCS11_URI", help="The root CA's key is this existing key of a "
        "PKCS#11 token (RFC 7512 URI, e.g. 'pkcs11:token=ca;object=root'; module from "
        "module-path or $DICOMSEC_PKCS11_MODULE); it never leaves the token.")] = None,
    pin_file: Annotated[Path | None, typer.Option("--pin-file", help=_PIN_FILE_HELP)] = None,
) -> int:
    """Create a site PKI: a root CA (10 years) and optionally an issuing CA (5 years).

    Writes DIR/ca.cert.pem (the trust anchor), DIR/ca.key.pem (PBES2, 600 000 PBKDF2
    iterations), DIR/issuing.* with --intermediate, DIR/index.txt (OpenSSL ca format),
    DIR/pki.toml and DIR/certs/. Exit 2 for a non-empty DIR, a bad option or passphrase;
    1 when the algorithm policy refuses the key type.
    """
    from dicomsec.cli._contexts import http_url
    from dicomsec.trust import pki

    for url, option in ((crl_url, "--crl-url"), (ocsp_url, "--ocsp-url")):
        if url is not None:
            http_url(url, option)
    if key_type not in pki.CA_KEY_TYPES:
        from dicomsec.errors import InvalidInput

        raise InvalidInput(f"--key-type must be one of {', '.join(pki.CA_KEY_TYPES)}, not "
                           f"{key_type!r}")
    pki.check_new_folder(folder)
    if ca_key is not None:
        from dicomsec._pkcs11 import parse_pkcs11_uri

        parse_pkcs11_uri(ca_key)
    secret = _passphrase(passphrase_file, new=True) if ca_key is None or intermediate \
        else None
    settings = pki.init(folder, passphrase=secret, key_type=key_type, intermediate=intermediate,
                        name=name, organization=organization, crl_url=crl_url,
                        ocsp_url=ocsp_url, ca_key=ca_key, pin_file=pin_file,
                        handlers=audit_handlers("pki init"))
    err(f"site PKI made in {folder}: trust anchor {folder / 'ca.cert.pem'}"
        + (f", issuing CA {folder / 'issuing.cert.pem'}" if settings.issuer == "issuing"
           else ""))
    return 0


def _identity(manufacturer: str | None, model: str | None, serial: str | None,
              station: str | None, kind: str) -> DeviceIdentity | None:
    from dicomsec.errors import InvalidInput
    from dicomsec.trust.identity import DeviceIdentity

    given = any(v is not None for v in (manufacturer, model, serial, station))
    if given and kind != "device":
        raise InvalidInput("--manufacturer, --model, --serial and --station go with "
                           "--kind device only")
    return DeviceIdentity(manufacturer, model, serial, station) if kind == "device" else None


def _public_key(public_key: Path | None, pkcs11: str | None,
                pin_file: Path | None) -> object:
    """The public key to certify: from a file, or read from a token key (the private key
    stays in the token); ``None``: a new key is made."""
    from dicomsec.errors import InvalidInput

    if public_key is not None and pkcs11 is not None:
        raise InvalidInput("give --public-key or --pkcs11, not both")
    if pkcs11 is not None:
        from dicomsec._pkcs11 import open_token_key

        with open_token_key(pkcs11, pin_file=pin_file) as token_key:
            return token_key.public_key()
    if public_key is None:
        return None
    from cryptography.hazmat.primitives.serialization import (
        load_der_public_key,
        load_pem_public_key,
    )

    data = input_file(public_key).read_bytes()
    try:
        return (load_pem_public_key(data) if b"-----BEGIN" in data
                else load_der_public_key(data))
    except (ValueError, TypeError):
        raise InvalidInput("not a public key (PEM or DER SubjectPublicKeyInfo)",
                           path=str(public_key)) from None


@command("issue", group="pki")
def pki_issue(
    folder: Annotated[Path, typer.Argument(metavar="DIR", help=DIR_HELP)],
    kind: Annotated[str, typer.Option(
        "--kind", help="device, operator, tls-server, tls-client, tsa or ocsp (key usage "
        "and extended key usage: docs/pki.md).")],
    name: Annotated[str, typer.Option("--name", help="Subject common name.")],
    out: Annotated[Path, typer.Option(
        "--out", metavar="PREFIX", help="Writes PREFIX.key.pem (0600) and PREFIX.cert.pem.")],
    manufacturer: Annotated[str | None, typer.Option(
        "--manufacturer", help="Device: Manufacturer (0008,0070).")] = None,
    model: Annotated[str | None, typer.Option(
        "--model", help="Device: Manufacturer's Model Name (0008,1090).")] = None,
    serial: Annotated[str | None, typer.Option(
        "--serial", help="Device: Device Serial Number (0018,1000); subject serialNumber, "
        "so A-Z a-z 0-9 space ' ( ) + , - . / : = ? only.")] = None,
    station: Annotated[str | None, typer.Option(
        "--station", help="Device: Station Name (0008,1010).")] = None,
    san: Annotated[list[str] | None, typer.Option(
        "--san", metavar="IP_OR_DNS", help="subjectAltName IP address or DNS name; "
        "repeatable (tls-server default: --name).")] = None,
    passphrase_file: Annotated[Path | None, typer.Option(
        "--passphrase-file", help=_PHRASE_FILE_HELP)] = None,
    key_type: Annotated[str | None, typer.Option(
        "--key-type", help="ec-p256, ec-p384, rsa-2048, rsa-3072, ed25519, ml-dsa-65... "
        "(default: the issuing CA's kind of key).")] = None,
    days: Annotated[int | None, typer.Option(
        "--days", help="Validity in days (default 365; tsa 1095; ocsp 30), never past the "
        "issuing CA's.")] = None,
    public_key: Annotated[Path | None, typer.Option(
        "--public-key", metavar="PEM", help="Certify this public key (held elsewhere): no "
        "PREFIX.key.pem is written.")] = None,
    pkcs11: Annotated[str | None, typer.Option(
        "--pkcs11", metavar="URI", help="Certify a key held in a PKCS#11 token (RFC 7512 "
        "URI; e.g. made by 'keys generate --pkcs11'): no PREFIX.key.pem is written.")] = None,
    pin_file: Annotated[Path | None, typer.Option(
        "--pin-file", help=_PIN_FILE_HELP + " For --pkcs11 and a CA key in a token.")] = None,
    key_passphrase_file: Annotated[Path | None, typer.Option(
        "--key-passphrase-file", help="Encrypt PREFIX.key.pem with this file's first line "
        "(PBES2, as the CA key); default: unencrypted, 0600.")] = None,
) -> int:
    """Issue a key and a certificate of one kind from the site's issuing CA.

    PREFIX is outside DIR; an existing PREFIX.key.pem or PREFIX.cert.pem is never replaced.
    Exit 2 for a bad option (unknown kind, a serial outside PrintableString, PREFIX inside
    DIR or its files existing) or a wrong passphrase; 1 when the algorithm policy refuses the
    key type.
    """
    from dicomsec.trust import pki

    _folder(folder)
    request = pki.Request(kind, name, _identity(manufacturer, model, serial, station, kind),
                          tuple(san or ()), key_type, days)
    pki.check_request(request)
    for path in (out.with_name(out.name + ".key.pem"), out.with_name(out.name + ".cert.pem")):
        output_file(path)
    pki.check_issue_outputs(folder, out)
    pub = _public_key(public_key, pkcs11, pin_file)
    key_secret = None
    if key_passphrase_file is not None:
        key_secret = pki.read_passphrase(key_passphrase_file, new=True, prompt=None)
    issued = pki.issue(folder, request, passphrase=_site_passphrase(folder, passphrase_file),
                       public_key=pub, out=out, key_passphrase=key_secret, pin_file=pin_file,
                       handlers=audit_handlers("pki issue"))
    err(f"issued {kind} certificate serial {issued.certificate.serial_number:X}: "
        f"{issued.cert_path}" + (f", key {issued.key_path}" if issued.key_path else ""))
    return 0


@command("revoke", group="pki")
def pki_revoke(
    folder: Annotated[Path, typer.Argument(metavar="DIR", help=DIR_HELP)],
    cert: Annotated[Path, typer.Option("--cert", help="The certificate to revoke.")],
    reason: Annotated[str, typer.Option(
        "--reason", help="unspecified, key-compromise, ca-compromise, affiliation-changed, "
        "superseded, cessation-of-operation, certificate-hold, privilege-withdrawn.")]
    = "unspecified",
    invalidity_date: Annotated[str | None, typer.Option(
        "--invalidity-date", help="When the key is known or suspected to have been "
        "compromised (ISO 8601; key-compromise and ca-compromise only).")] = None,
    passphrase_file: Annotated[Path | None, typer.Option(
        "--passphrase-file", help=_PHRASE_FILE_HELP)] = None,
    pin_file: Annotated[Path | None, typer.Option(
        "--pin-file", help=_PIN_FILE_HELP + " When the root CA key is in a token.")] = None,
) -> int:
    """Revoke a certificate of the site (the next CRL and the OCSP responder say so at once).

    Exit 2 for an unknown reason, a certificate of another CA or not in the index, one
    already revoked (a certificate-hold may be revoked again), a wrong passphrase.
    """
    from dicomsec.errors import InvalidInput
    from dicomsec.trust import pki

    _folder(folder)
    if reason not in pki.REASONS:
        raise InvalidInput(f"--reason must be one of {', '.join(pki.REASONS)}, not {reason!r}")
    when = moment(invalidity_date, "--invalidity-date")
    certificate = pki.certificate_of(input_file(cert))
    entry = pki.revoke(folder, certificate,
                       passphrase=_site_passphrase(folder, passphrase_file), reason=reason,
                       invalidity=when, pin_file=pin_file, handlers=audit_handlers("pki revoke"))
    err(f"revoked serial {entry.serial_hex} ({reason}); run 'dicomsec pki crl' to publish "
        "a new CRL")
    return 0


@command("crl", group="pki")
def pki_crl(
    folder: Annotated[Path, typer.Argument(metavar="DIR", help=DIR_HELP)],
    out: Annotated[Path, typer.Option(
        "-o", "--output", metavar="CRL", help="The issuing CA's CRL (PEM). With an issuing "
        "CA the root's CRL goes beside it as <stem>.root.pem; pass both to verify --crl.")],
    days: Annotated[int, typer.Option("--days", help="nextUpdate, in days (1 to 366).")] = 7,
    passphrase_file: Annotated[Path | None, typer.Option(
        "--passphrase-file", help=_PHRASE_FILE_HELP)] = None,
    pin_file: Annotated[Path | None, typer.Option(
        "--pin-file", help=_PIN_FILE_HELP + " When the root CA key is in a token.")] = None,
) -> int:
    """Sign a new CRL for each CA of the site (CRLNumber one more each time).

    Copies go to DIR/crl.pem (and DIR/root.crl.pem) for publishing at --crl-url. CRL must
    be outside DIR; an existing file there is replaced only if it is a CRL of the same CA.
    Exit 2 for such an output, a bad option or a wrong passphrase.
    """
    from dicomsec.errors import InvalidInput
    from dicomsec.trust import pki

    _folder(folder)
    if not 1 <= days <= pki.MAX_CRL_DAYS:
        raise InvalidInput(f"--days must be 1 to {pki.MAX_CRL_DAYS}, not {days}")
    for path in pki.crl_paths(out, 2):
        output_file(path)
    pki.check_crl_outputs(folder, out)
    paths = pki.write_crls(folder, out, passphrase=_site_passphrase(folder, passphrase_file),
                           days=days, pin_file=pin_file, handlers=audit_handlers("pki crl"))
    err("wrote " + ", ".join(map(str, paths)))
    return 0


@command("list", group="pki")
def pki_list(
    folder: Annotated[Path, typer.Argument(metavar="DIR", help=DIR_HELP)],
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")]
    = False,
) -> int:
    """List the certificates of the site: serial, kind, subject, notAfter, status (V valid,
    R revoked, E expired), revocation date and reason."""
    from dicomsec.trust import pki

    report = pki.list_certificates(_folder(folder))
    if as_json:
        print_json(report)
        return 0
    for c in report.certificates:
        revoked = (f"  revoked {c.revoked_at:%Y-%m-%dT%H:%M:%SZ} {c.revocation_reason}"
                   if c.revoked_at else "")
        print(f"{c.status} {c.serial} {c.ca:7} {c.kind:10} {c.not_after:%Y-%m-%d} "
              f"{c.subject}{revoked}")
    err(report.summary())
    return 0


@command("ocsp-serve", group="pki")
def pki_ocsp_serve(
    folder: Annotated[Path, typer.Argument(metavar="DIR", help=DIR_HELP)],
    port: Annotated[int, typer.Option("--port", help="TCP port (0: any free port).")],
    bind: Annotated[str, typer.Option("--bind", help="Address to listen on.")]
    = "127.0.0.1",
    passphrase_file: Annotated[Path | None, typer.Option(
        "--passphrase-file", help=_PHRASE_FILE_HELP + " Needed only to issue the responder "
        "certificates (on first start, and when they are due).")] = None,
    pin_file: Annotated[Path | None, typer.Option(
        "--pin-file", help=_PIN_FILE_HELP + " When the root CA key is in a token.")] = None,
) -> int:
    """Answer OCSP requests (RFC 6960, POST and GET) for the site's CAs until SIGTERM/Ctrl-C.

    Signs with a delegated responder certificate per CA (kept in DIR/ocsp/); reads the index
    again for every request; one line per request on stderr.
    """
    import signal
    import threading

    from dicomsec.trust import pki

    port_number(port, any_port=True)
    server = pki.make_server(_folder(folder), port=port, bind=bind,
                             passphrase=_asker(passphrase_file), pin_file=pin_file, log=err,
                             handlers=audit_handlers("pki ocsp-serve"))

    def stop(*_: object) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    err(f"OCSP responder listening on http://{bind}:{server.port}/")
    sys.stderr.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    err("OCSP responder stopped")
    return 0
