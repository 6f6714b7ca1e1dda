"""Commands of the ``dicomsec`` tool: thin shells over the library.

Each command parses its arguments, builds explicit contexts (keys, trust), calls one library
function, renders the result (``--json`` for machines, text for people) and returns an exit
code. Messages for people and progress bars go to stderr; payloads to stdout.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, BinaryIO

import typer

from dicomsec import __version__

if TYPE_CHECKING:
    from dicomsec.keys import FileSigningKey
    from dicomsec.trust import TrustStore

app = typer.Typer(
    name="dicomsec",
    help="DICOM security: digital signatures on DICOM objects and items, and Secure DICOM "
    "Files (CMS).\n\n"
    "Exit codes: 0 ok, 1 a security check failed, 2 usage error or unreadable input. "
    "Add --debug (anywhere) to see tracebacks.",
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain usage errors and help: no boxes in logs and pipes
    pretty_exceptions_show_locals=False,
    add_completion=False,
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
sig_app = typer.Typer(help="List, remove and describe signatures.", no_args_is_help=True)
keys_app = typer.Typer(help="Create test keys and certificates (for demos and test PKIs).",
                       no_args_is_help=True)
app.add_typer(sig_app, name="signatures")
app.add_typer(keys_app, name="keys")


def err(message: str) -> None:
    """One line for people, on stderr."""
    print(message, file=sys.stderr)


def _version(value: bool) -> None:
    if value:
        print(f"dicomsec {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Show the version and exit.")] = False,
) -> None:
    """DICOM security toolkit."""


def _usage(message: str) -> typer.BadParameter:
    return typer.BadParameter(message)


class _NoProgress:
    """Stands in for a progress bar when stderr is not a terminal (rich is not imported)."""

    def __enter__(self) -> _NoProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def add_task(self, description: str, total: int) -> int:
        return 0

    def advance(self, task: int) -> None:
        return None


def _progress(total: int) -> Any:
    """A rich progress bar on stderr when it is a terminal (a no-op context otherwise)."""
    if total < 2 or not sys.stderr.isatty():
        return _NoProgress()
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    console = Console(stderr=True)
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    console=console, transient=True, disable=not console.is_terminal or total < 2)


def _load_signing_key(key: Path, cert: Path, password_file: Path | None,
                      rsa_pss: bool = False) -> FileSigningKey:
    from dicomsec.keys import FileSigningKey, load_certificate, load_private_key, read_password

    def ask() -> bytes | None:
        if sys.stdin.isatty():
            import getpass

            return getpass.getpass(f"password for {key}: ").encode()
        return None

    password = read_password(password_file)
    private = load_private_key(key, password=password,
                               password_callback=None if password is not None else ask)
    from dicomsec.errors import InvalidInput

    certificate = load_certificate(cert)
    try:
        return FileSigningKey(private, certificate, rsa_pss=rsa_pss)
    except InvalidInput as exc:
        raise InvalidInput(exc.message, path=f"{key} and {cert}") from None


def _trust(paths: list[Path] | None, crls: list[Path] | None) -> TrustStore | None:
    from dicomsec.trust import TrustStore

    if not paths:
        return None
    return TrustStore.from_paths(paths, crls=crls or ())


# ------------------------------------------------------------------------------------------
# sign

PROFILES = ["none", "base", "creator", "authorization", "sr", "sr-verification"]


@app.command()
def sign(
    src: Annotated[Path, typer.Argument(metavar="IN", help="DICOM Part 10 file to sign.")],
    key: Annotated[Path, typer.Option("--key", help="Private key (PEM, DER or PKCS#12).")],
    cert: Annotated[Path, typer.Option("--cert", help="Signer certificate (PEM or DER).")],
    out: Annotated[Path | None, typer.Option("-o", "--output", metavar="OUT",
                                             help="Where to write the signed file.")] = None,
    in_place: Annotated[bool, typer.Option("--in-place",
                                           help="Replace IN (atomically).")] = False,
    profile: Annotated[str, typer.Option(
        "--profile", help=f"Signature profile: {', '.join(PROFILES)}.")] = "none",
    mac: Annotated[str, typer.Option(
        "--mac", help="MAC algorithm: sha256, sha384, sha512 (legacy sha1, ripemd160, md5 "
        "need --allow-legacy).")] = "sha256",
    purpose: Annotated[int | None, typer.Option(
        "--purpose", help="Digital Signature Purpose code 1-18 (ASTM E1762); see "
        "'dicomsec signatures purposes'.")] = None,
    item: Annotated[str | None, typer.Option(
        "--item", help="Sign a sequence item instead of the main data set, e.g. "
        "'ContentSequence[1]' or 'A[0].B[2]'.")] = None,
    tag: Annotated[list[str] | None, typer.Option(
        "--tag", help="Sign only this attribute (keyword or gggg,eeee); repeatable. The "
        "profile's required attributes are added.")] = None,
    deterministic: Annotated[bool, typer.Option(
        "--deterministic", help="Deterministic ECDSA (RFC 6979).")] = False,
    rsa_pss: Annotated[bool, typer.Option(
        "--rsa-pss", help="RSASSA-PSS instead of PKCS#1 v1.5 (not readable by DCMTK).")] = False,
    tsa_url: Annotated[str | None, typer.Option(
        "--tsa-url", help="Request an RFC 3161 certified timestamp from this TSA.")] = None,
    allow_legacy: Annotated[bool, typer.Option(
        "--allow-legacy", help="Allow legacy MAC algorithms for new signatures.")] = False,
    key_password_file: Annotated[Path | None, typer.Option(
        "--key-password-file", help="File whose first line is the key password (else "
        "$DICOMSEC_KEY_PASSWORD, else a prompt).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Add a digital signature to a DICOM file (PS3.15 Annex C)."""
    from dicomsec.signatures import sign_file
    from dicomsec.signatures._profiles import Profile

    if (out is None) == (not in_place):
        raise _usage("give exactly one of -o OUT and --in-place")
    if profile not in PROFILES:
        raise _usage(f"unknown profile {profile!r}; choose from {', '.join(PROFILES)}")
    if not src.is_file():
        raise _input_error(src)
    signing_key = _load_signing_key(key, cert, key_password_file, rsa_pss)
    client = None
    if tsa_url:
        from dicomsec.signatures.timestamp import HttpTimestampClient

        client = HttpTimestampClient(tsa_url)
    dst = src if in_place else out
    assert dst is not None
    result = sign_file(
        src, dst, key=signing_key, profile=Profile(profile), mac=mac, purpose=purpose,
        item=item, tags=tag, deterministic=deterministic, timestamp_client=client,
        allow_legacy=allow_legacy,
    )
    if as_json:
        print(json.dumps({
            "file": result.path, "uid": result.uid, "location": result.location,
            "mac_id": result.mac_id, "mac_algorithm": result.mac_algorithm,
            "signature_algorithm": result.signature_algorithm, "profile": result.profile,
            "timestamp": result.timestamp, "signed_attributes": list(result.signed_tags),
        }, indent=2))
    else:
        err(f"signed {result.location} of {src} -> {result.path}: {result.signature_algorithm} "
            f"{result.mac_algorithm}, profile {result.profile}, {len(result.signed_tags)} "
            f"attributes, uid {result.uid}")
    raise typer.Exit(0)


def _input_error(p: Path) -> Exception:
    from dicomsec.errors import InvalidInput

    if p.is_dir():
        return InvalidInput("is a directory", path=str(p))
    return InvalidInput("no such file", path=str(p))


# ------------------------------------------------------------------------------------------
# verify


def _expand(paths: list[Path]) -> Iterator[Path]:
    for p in paths:
        if p.is_dir():
            for root, dirs, files in os.walk(p):
                dirs.sort()
                for f in sorted(files):
                    yield Path(root) / f
        else:
            yield p


def _render_report(rep: Any) -> None:
    status = "OK" if rep.ok else "FAILED"
    n = len(rep.signatures)
    print(f"{status}  {rep.file}: {n} signature{'s' if n != 1 else ''}"
          + ("" if rep.required_met else f"; none satisfies --require {rep.required}"))
    for s in rep.signatures:
        verdict = "valid" if s.valid else "INVALID"
        trust = "trusted" if s.trusted else "UNTRUSTED"
        extra = []
        if s.legacy:
            extra.append("LEGACY algorithm")
        if s.timestamp:
            extra.append("timestamp " + ("ok" if s.timestamp.get("ok") else "FAILED"))
        if s.purpose:
            extra.append(f"purpose {s.purpose['code']} {s.purpose['meaning']}")
        print(f"  [{verdict}, {trust}] {s.location} uid={s.uid}")
        print(f"      {s.signature_algorithm} / {s.mac_algorithm}; signer {s.signer}; "
              f"signed {s.datetime}")
        print(f"      profiles: {', '.join(s.profiles) or '-'}"
              + (f"; {'; '.join(extra)}" if extra else ""))
        for prob in s.problems:
            print(f"      problem: {prob}")
    if rep.signatures and rep.unsigned_attributes:
        shown = ", ".join(rep.unsigned_attributes[:8])
        more = len(rep.unsigned_attributes) - 8
        tail = f" (+{more} more)" if more > 0 else ""
        print(f"  unsigned top-level attributes: {shown}{tail}")
    for s in rep.skipped:
        print(f"  skipped: {s}")


@app.command()
def verify(
    paths: Annotated[list[Path], typer.Argument(metavar="PATH...",
                                                help="Files or folders (recursive).")],
    trust: Annotated[list[Path] | None, typer.Option(
        "--trust", help="Trusted CA certificate file or folder; repeatable.")] = None,
    crl: Annotated[list[Path] | None, typer.Option("--crl", help="CRL file; repeatable.")] = None,
    require: Annotated[str | None, typer.Option(
        "--require", help="Fail unless a valid, trusted signature of this kind exists: "
        "any, creator, authorization, sr.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (a list, one object "
                                          "per file).")] = False,
) -> None:
    """Verify every signature of DICOM files, at every level.

    Exit 0 when every signature is valid and trusted (and required ones exist), 1 otherwise,
    2 when a file cannot be read (a failed signature in another file takes precedence).
    """
    from dicomsec.errors import InvalidInput
    from dicomsec.signatures import verify_file

    if require is not None and require not in ("any", "creator", "authorization", "sr",
                                               "sr-verification"):
        raise _usage("--require takes any, creator, authorization or sr")
    store = _trust(trust, crl)
    files = list(_expand(paths))
    failed = unreadable = False
    # JSON is streamed one file object at a time, so memory does not grow with the folder
    sep = "[\n"
    with _progress(len(files)) as progress:
        task = progress.add_task("verifying", total=len(files))
        for f in files:
            result: dict[str, Any]
            try:
                rep = verify_file(f, trust=store, require=require)
            except InvalidInput as exc:
                unreadable = True
                result = {"file": str(f), "error": exc.message}
                if not as_json:
                    err(f"error: {exc}")
            else:
                failed |= not rep.ok
                result = rep.to_dict()
                if not as_json:
                    _render_report(rep)
            if as_json:
                sys.stdout.write(sep + json.dumps(result, indent=2))
                sep = ",\n"
            progress.advance(task)
    if as_json:
        print("[]" if sep == "[\n" else "\n]")
    raise typer.Exit(1 if failed else (2 if unreadable else 0))


# ------------------------------------------------------------------------------------------
# signatures list / remove / purposes


@sig_app.command("list")
def list_cmd(
    file: Annotated[Path, typer.Argument(help="DICOM file.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List the signatures of a file (integrity checked, trust not)."""
    from dicomsec.signatures import list_signatures

    rep = list_signatures(file)
    if as_json:
        print(json.dumps([s.to_dict() for s in rep.signatures], indent=2))
        raise typer.Exit(0)
    if not rep.signatures:
        print(f"{file}: no signatures")
    for s in rep.signatures:
        print(f"{s.uid}  {s.location}  MAC ID {s.mac_id}  {s.signature_algorithm}/"
              f"{s.mac_algorithm}  {'intact' if s.intact else 'BROKEN'}  {s.datetime}  "
              f"{s.signer}")
    raise typer.Exit(0)


@sig_app.command("remove")
def remove_cmd(
    file: Annotated[Path, typer.Argument(help="DICOM file.")],
    uid: Annotated[list[str] | None, typer.Option(
        "--uid", help="Digital Signature UID to remove; repeatable.")] = None,
    remove_all: Annotated[bool, typer.Option("--all", help="Remove every signature.")] = False,
    out: Annotated[Path | None, typer.Option("-o", "--output", metavar="OUT")] = None,
    in_place: Annotated[bool, typer.Option("--in-place", help="Replace FILE.")] = False,
) -> None:
    """Remove signatures (and their MAC Parameters items) from a file."""
    from dicomsec.signatures import remove_signatures

    if (out is None) == (not in_place):
        raise _usage("give exactly one of -o OUT and --in-place")
    if bool(uid) == remove_all:
        raise _usage("give either --uid UID or --all")
    dst = file if in_place else out
    assert dst is not None
    n = remove_signatures(file, dst, uids=uid or (), remove_all=remove_all)
    err(f"removed {n} signature{'s' if n != 1 else ''} -> {dst}")
    raise typer.Exit(0)


@sig_app.command("purposes")
def purposes_cmd(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List the Digital Signature Purpose codes (ASTM E1762, CID 7007)."""
    from dicomsec.signatures import PURPOSES

    if as_json:
        print(json.dumps({str(k): v for k, v in PURPOSES.items()}, indent=2))
    else:
        for code, meaning in PURPOSES.items():
            print(f"{code:>2}  {meaning}")
    raise typer.Exit(0)


# ------------------------------------------------------------------------------------------
# keys


@keys_app.command("generate")
def keys_generate(
    prefix: Annotated[Path, typer.Argument(help="Writes PREFIX.key.pem and PREFIX.cert.pem.")],
    algorithm: Annotated[str, typer.Option(
        "--algorithm", help="ecdsa-p256 (default), ecdsa-p384, rsa2048, rsa3072, ed25519, "
        "ed448, ml-dsa-65, ...; recipient keys: x25519, x448, ml-kem-768, ml-kem-1024")]
    = "ecdsa-p256",
    common_name: Annotated[str, typer.Option("--cn", help="Subject common name.")] = (
        "dicomsec device"
    ),
    ca: Annotated[bool, typer.Option("--ca", help="Make a CA certificate.")] = False,
    ca_cert: Annotated[Path | None, typer.Option("--ca-cert",
                                                 help="Issuing CA certificate.")] = None,
    ca_key: Annotated[Path | None, typer.Option("--ca-key", help="Issuing CA key.")] = None,
    days: Annotated[int, typer.Option("--days", help="Validity in days.")] = 825,
    encryption: Annotated[bool, typer.Option(
        "--encryption", help="A recipient certificate for Secure DICOM Files (key "
        "encipherment / key agreement) instead of a signer. Implied by x25519, x448, "
        "ml-kem-*.")] = False,
) -> None:
    """Generate a key and a certificate (self-signed, or issued by --ca-cert/--ca-key)."""
    from cryptography.hazmat.primitives.serialization import Encoding

    from dicomsec._atomic import atomic_write_bytes
    from dicomsec.keys import (
        generate_private_key,
        issue_certificate,
        load_certificate,
        load_private_key,
        write_private_key,
    )

    if (ca_cert is None) != (ca_key is None):
        raise _usage("give both --ca-cert and --ca-key, or neither")
    recipient_only = algorithm.lower() in ("x25519", "x448") or algorithm.lower().startswith(
        "ml-kem")
    if recipient_only and ca:
        raise _usage(f"{algorithm} keys cannot sign, so they cannot be a CA")
    if recipient_only and ca_key is None:
        raise _usage(f"{algorithm} keys cannot sign their own certificate: give --ca-cert "
                     "and --ca-key")
    key = generate_private_key(algorithm)
    issuer_key = load_private_key(ca_key) if ca_key else None
    issuer_cert = load_certificate(ca_cert) if ca_cert else None
    cert = issue_certificate(key, common_name, issuer_key=issuer_key,  # type: ignore[arg-type]
                             issuer_cert=issuer_cert, ca=ca, days=days,
                             encryption=encryption or recipient_only)
    key_path = Path(f"{prefix}.key.pem")
    cert_path = Path(f"{prefix}.cert.pem")
    write_private_key(key, key_path)
    atomic_write_bytes(cert_path, cert.public_bytes(Encoding.PEM))
    err(f"wrote {key_path} and {cert_path}")
    raise typer.Exit(0)


# ------------------------------------------------------------------------------------------
# Secure DICOM Files: wrap / unwrap / inspect


def _read_secret_file(path: Path, what: str) -> str:
    from dicomsec.errors import InvalidInput

    try:
        # read as UTF-8 so that the password rule (printable ASCII) can name what is wrong
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"cannot read {what} file ({type(exc).__name__})",
                           path=str(path)) from None
    lines = text.splitlines()
    return lines[0] if lines else ""


def _read_kek(kek_file: Path, kek_id: str) -> tuple[bytes, bytes]:
    from dicomsec.errors import InvalidInput

    try:
        kek = bytes.fromhex(_read_secret_file(kek_file, "KEK").strip())
        kid = bytes.fromhex(kek_id.strip())
    except ValueError:
        raise InvalidInput("--kek-file and --kek-id take hexadecimal text") from None
    if len(kek) not in (16, 24, 32):
        raise InvalidInput("a KEK is 16, 24 or 32 bytes (32, 48 or 64 hex digits)",
                           path=str(kek_file))
    return kek, kid


@app.command()
def wrap(
    src: Annotated[Path, typer.Argument(
        metavar="IN", help="DICOM Part 10 file to protect; '-' reads standard input (written "
        "with BER indefinite lengths).")],
    out: Annotated[Path, typer.Option("-o", "--output", metavar="OUT",
                                      help="Where to write the Secure DICOM File.")],
    profile: Annotated[str, typer.Option(
        "--profile", help="basic (PS3.15 D.1), aead (AES-256-GCM, default) or pq "
        "(aead with an ML-KEM recipient).")] = "aead",
    to: Annotated[list[Path] | None, typer.Option(
        "--to", help="Recipient certificate or public key (RSA, EC, X25519/X448, ML-KEM); "
        "repeatable.")] = None,
    password_file: Annotated[Path | None, typer.Option(
        "--password-file", help="File whose first line is the password (printable ASCII).")]
    = None,
    kek_file: Annotated[Path | None, typer.Option(
        "--kek-file", help="File holding a pre-shared KEK as hex text.")] = None,
    kek_id: Annotated[str | None, typer.Option("--kek-id", help="KEK identifier, hex.")] = None,
    sign_key: Annotated[Path | None, typer.Option(
        "--sign-key", help="Sign the content (inner SignedData) with this key.")] = None,
    sign_cert: Annotated[Path | None, typer.Option("--sign-cert",
                                                   help="Certificate of --sign-key.")] = None,
    digest: Annotated[str, typer.Option(
        "--digest", help="sha256, sha384, sha512 or sha3-256.")] = "sha256",
    cipher: Annotated[str | None, typer.Option(
        "--cipher", help="Content cipher: aes128/192/256-gcm for aead and pq (default "
        "aes256-gcm); aes128/192/256-cbc for basic (default aes256-cbc); des-ede3-cbc only "
        "with --allow-legacy.")] = None,
    sign_rsa_pss: Annotated[bool, typer.Option(
        "--sign-rsa-pss", help="Sign with RSASSA-PSS instead of PKCS#1 v1.5.")] = False,
    rsa_v15: Annotated[bool, typer.Option(
        "--rsa-v15", help="RSA PKCS#1 v1.5 key transport instead of OAEP (basic profile "
        "default).")] = False,
    allow_legacy: Annotated[bool, typer.Option(
        "--allow-legacy", help="Allow legacy algorithms for new files.")] = False,
    key_password_file: Annotated[Path | None, typer.Option(
        "--key-password-file", help="Password of --sign-key.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Wrap a DICOM file into a Secure DICOM File (PS3.10 7.4, CMS)."""
    from dicomsec.cms.recipients import (
        KekRecipient,
        PasswordRecipient,
        Recipient,
        recipient_for,
    )
    from dicomsec.securefile import wrap as do_wrap

    if (kek_file is None) != (kek_id is None):
        raise _usage("give both --kek-file and --kek-id")
    if (sign_key is None) != (sign_cert is None):
        raise _usage("give both --sign-key and --sign-cert")
    recipients: list[Recipient] = []
    for path in to or []:
        recipient = recipient_for(path)
        if recipient.kind == "ktri" and (profile == "basic" or rsa_v15):
            # the basic profile names RSA PKCS#1 v1.5 key transport (PS3.15 D.1)
            recipient = recipient_for(path, oaep=False)
        recipients.append(recipient)
    if password_file is not None:
        recipients.append(PasswordRecipient(_read_secret_file(password_file, "password")))
    if kek_file is not None and kek_id is not None:
        kek, kid = _read_kek(kek_file, kek_id)
        recipients.append(KekRecipient(kek, kid))
    signers = []
    if sign_key is not None and sign_cert is not None:
        from dicomsec.cms.signed import CmsSigner

        sk = _load_signing_key(sign_key, sign_cert, key_password_file)
        signers.append(CmsSigner(sk.key, sk.certificate, digest=digest,
                                 rsa_pss=sign_rsa_pss))
    source: Path | BinaryIO = sys.stdin.buffer if str(src) == "-" else src
    result = do_wrap(source, out, recipients=recipients, profile=profile, signers=signers,
                     cipher=cipher, digest=digest, allow_legacy=allow_legacy)
    if as_json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        err(f"wrapped {src} -> {result.path}: {result.outer}, {result.cipher}, recipients "
            f"{', '.join(result.recipients)}, inner {result.inner}")
    raise typer.Exit(0)


@app.command()
def unwrap(
    src: Annotated[Path, typer.Argument(metavar="IN", help="Secure DICOM File.")],
    out: Annotated[Path, typer.Option("-o", "--output", metavar="OUT",
                                      help="Where to write the recovered DICOM file.")],
    key: Annotated[Path | None, typer.Option("--key", help="Recipient private key.")] = None,
    cert: Annotated[Path | None, typer.Option("--cert", help="Recipient certificate.")] = None,
    password_file: Annotated[Path | None, typer.Option(
        "--password-file", help="File whose first line is the password.")] = None,
    kek_file: Annotated[Path | None, typer.Option("--kek-file", help="KEK as hex text.")]
    = None,
    kek_id: Annotated[str | None, typer.Option("--kek-id", help="KEK identifier, hex.")] = None,
    trust: Annotated[list[Path] | None, typer.Option(
        "--trust", help="Trusted CA for inner signers; repeatable.")] = None,
    key_password_file: Annotated[Path | None, typer.Option(
        "--key-password-file", help="Password of --key.")] = None,
    allow_unauthenticated: Annotated[bool, typer.Option(
        "--allow-unauthenticated", help="Accept a CBC file of plain content, whose integrity "
        "nothing proves (no inner signature or digest).")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Decrypt and check a Secure DICOM File; write the DICOM file it holds (mode 0600).

    Exit 0 on success; 1 when no recipient matches, the key or password is wrong, the tag or
    inner signature/digest fails, or a signer is untrusted; 2 when the input is not CMS. On any
    failure no output file exists.
    """
    from dicomsec.cms.recipients import Credentials, load_private_key_any
    from dicomsec.keys import load_certificate, read_password
    from dicomsec.securefile import unwrap as do_unwrap

    if (kek_file is None) != (kek_id is None):
        raise _usage("give both --kek-file and --kek-id")
    if key is None and password_file is None and kek_file is None:
        raise _usage("give --key (and --cert), --password-file or --kek-file/--kek-id")
    private = None
    if key is not None:
        private = load_private_key_any(key, read_password(key_password_file))
    kek = kid = None
    if kek_file is not None and kek_id is not None:
        kek, kid = _read_kek(kek_file, kek_id)
    creds = Credentials(
        private_key=private, certificate=load_certificate(cert) if cert else None, kek=kek,
        kek_id=kid,
        password=_read_secret_file(password_file, "password") if password_file else None,
    )
    report = do_unwrap(src, out, credentials=creds, trust=_trust(trust, None),
                       allow_unauthenticated=allow_unauthenticated)
    if as_json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        note = "" if report.is_dicom else " (warning: the content is not a DICOM Part 10 file)"
        if report.integrity == "none":
            note += " (WARNING: nothing proves this content unmodified)"
        err(f"unwrapped {src} -> {report.path}: {report.outer}, {report.cipher}, recipient "
            f"#{report.recipient_index} ({report.recipient_kind}), integrity {report.integrity}"
            f"{note}")
    raise typer.Exit(0)


@app.command()
def inspect(
    file: Annotated[Path, typer.Argument(help="A DICOM file or Secure DICOM File.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Say whether a file is plain DICOM or a Secure DICOM File, and show its CMS structure
    (no key needed)."""
    from dicomsec.securefile import inspect as do_inspect

    info = do_inspect(file)
    if as_json:
        print(json.dumps(info, indent=2))
        raise typer.Exit(0)
    if info["type"] == "dicom-part10":
        print(f"{file}: DICOM Part 10 file ({info['size']} bytes), not encrypted")
        raise typer.Exit(0)
    print(f"{file}: Secure DICOM File, {info['outer']} v{info['version']} "
          f"({info['encoding'].upper()}), {info['cipher']}, inner {info['content_type']}")
    for i, r in enumerate(info["recipients"]):
        details = ", ".join(f"{k}={v}" for k, v in r.items() if k != "kind")
        print(f"  recipient #{i}: {r.get('kind')}: {details}")
    raise typer.Exit(0)

# the transport commands register themselves on ``app``
from dicomsec.cli import _tlscheck, _transport  # noqa: E402,F401
