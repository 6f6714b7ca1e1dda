"""``dicomsec wrap | unwrap | inspect``: Secure DICOM Files (PS3.10 7.4, PS3.15 Annex D)."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, BinaryIO

from dicomsec.cli._audit import audit_handlers
from dicomsec.cli._contexts import (
    CRL_HELP,
    OFFLINE_HELP,
    POLICY_HELP,
    SOFT_FAIL_HELP,
    UNTRUSTED_HELP,
    algorithm_policy,
    input_file,
    load_signing_key,
    output_file,
    trust_store,
)
from dicomsec.cli._root import command, err, print_json, usage

if TYPE_CHECKING:
    import typer

    from dicomsec.cms.recipients import Recipient
    from dicomsec.events import AuditHandler


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


def _recipients(to: list[Path] | None, profile: str, rsa_v15: bool,
                password_file: Path | None, kek_file: Path | None,
                kek_id: str | None) -> list[Recipient]:
    from dicomsec import securefile

    # the library chooses RSA-OAEP or PKCS#1 v1.5 from the profile (PS3.15 D.1) and --rsa-v15
    recipients: list[Recipient] = [
        securefile.recipient_for(path, profile=profile, rsa_v15=rsa_v15) for path in to or []
    ]
    if password_file is not None:
        recipients.append(securefile.PasswordRecipient(
            _read_secret_file(password_file, "password")))
    if kek_file is not None and kek_id is not None:
        kek, kid = _read_kek(kek_file, kek_id)
        recipients.append(securefile.KekRecipient(kek, kid))
    return recipients


@contextlib.contextmanager
def _refusals_audited(handlers: tuple[AuditHandler, ...], src: Path) -> Iterator[None]:
    """A :class:`~dicomsec.errors.PolicyViolation` raised inside (the algorithm policy
    refusing a recipient's or signer's key before the library runs) is audited as a
    POLICY_VIOLATION event, then raised on."""
    from dicomsec.errors import PolicyViolation

    try:
        yield
    except PolicyViolation as exc:
        from dicomsec.events import Operation
        from dicomsec.signatures._events import emit_built, failure_event

        emit_built(handlers, failure_event, Operation.WRAP, exc,
                   exc.path or (None if str(src) == "-" else src))
        raise


@command("wrap")
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
    policy_file: Annotated[Path | None, typer.Option(
        "--algorithm-policy", metavar="FILE", help=POLICY_HELP)] = None,
    key_password_file: Annotated[Path | None, typer.Option(
        "--key-password-file", help="Password of --sign-key.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> int:
    """Wrap a DICOM file into a Secure DICOM File (PS3.10 7.4, CMS).

    Exit 0 when written; 1 when the profile or the algorithm policy refuses an algorithm,
    with no output; 2 for unreadable input or a bad policy file.
    """
    if (kek_file is None) != (kek_id is None):
        raise usage("give both --kek-file and --kek-id")
    if (sign_key is None) != (sign_cert is None):
        raise usage("give both --sign-key and --sign-cert")
    if str(src) != "-":
        input_file(src)
    output_file(out)
    from dicomsec import securefile

    policy = algorithm_policy(policy_file)
    handlers = audit_handlers("wrap")
    with _refusals_audited(handlers, src):  # a recipient or signer key the policy refuses
        recipients = _recipients(to, profile, rsa_v15, password_file, kek_file, kek_id)
        signers = []
        if sign_key is not None and sign_cert is not None:
            sk = load_signing_key(sign_key, sign_cert, key_password_file)
            signers.append(securefile.CmsSigner(sk.key, sk.certificate, digest=digest,
                                                rsa_pss=sign_rsa_pss))
    source: Path | BinaryIO = sys.stdin.buffer if str(src) == "-" else src
    result = securefile.wrap(source, out, recipients=recipients, profile=profile,
                             signers=signers, cipher=cipher, digest=digest,
                             allow_legacy=allow_legacy, policy=policy, handlers=handlers)
    if as_json:
        print_json(result)
    else:
        err(f"wrapped {src} -> {result.path}: {result.outer}, {result.cipher}, recipients "
            f"{', '.join(result.recipients)}, inner {result.inner}")
    return 0


@command("unwrap")
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
        "--trust", help="Trusted CA certificate file or folder for inner signers (trust "
        "anchors); repeatable.")] = None,
    key_password_file: Annotated[Path | None, typer.Option(
        "--key-password-file", help="Password of --key.")] = None,
    allow_unauthenticated: Annotated[bool, typer.Option(
        "--allow-unauthenticated", help="Accept a CBC file of plain content, whose integrity "
        "nothing proves (no inner signature or digest).")] = False,
    policy_file: Annotated[Path | None, typer.Option(
        "--algorithm-policy", metavar="FILE", help=POLICY_HELP)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    untrusted: Annotated[list[Path] | None, typer.Option(
        "--untrusted", metavar="CERTS", help=UNTRUSTED_HELP)] = None,
    crl: Annotated[list[Path] | None, typer.Option("--crl", help=CRL_HELP)] = None,
    offline: Annotated[bool, typer.Option("--offline", help=OFFLINE_HELP)] = False,
    soft_fail: Annotated[bool, typer.Option("--soft-fail", help=SOFT_FAIL_HELP)] = False,
) -> int:
    """Decrypt and check a Secure DICOM File; write the DICOM file it holds (mode 0600).

    Exit 0 on success; 1 when no recipient matches, the key or password is wrong, the tag or
    inner signature/digest fails, a signer is untrusted, or the algorithm policy refuses the
    content cipher for decryption; 2 when the input is not CMS or the policy file is bad. On
    any failure no output file exists. Inner signers are validated against --trust as
    verify does (--untrusted, --crl, --offline, --soft-fail): a revoked signer is exit 1.
    """
    if (kek_file is None) != (kek_id is None):
        raise usage("give both --kek-file and --kek-id")
    if key is None and password_file is None and kek_file is None:
        raise usage("give --key (and --cert), --password-file or --kek-file/--kek-id")
    store = trust_store(trust, crl, untrusted=untrusted, offline=offline, soft_fail=soft_fail)
    input_file(src)
    output_file(out)
    from dicomsec import securefile
    from dicomsec.keys import load_certificate, load_private_key_any, read_password

    policy = algorithm_policy(policy_file)
    private = None
    if key is not None:
        private = load_private_key_any(key, read_password(key_password_file))
    kek = kid = None
    if kek_file is not None and kek_id is not None:
        kek, kid = _read_kek(kek_file, kek_id)
    creds = securefile.Credentials(
        private_key=private, certificate=load_certificate(cert) if cert else None, kek=kek,
        kek_id=kid,
        password=_read_secret_file(password_file, "password") if password_file else None,
    )
    report = securefile.unwrap(src, out, credentials=creds, trust=store,
                               allow_unauthenticated=allow_unauthenticated, policy=policy,
                               handlers=audit_handlers("unwrap"))
    if as_json:
        print_json(report)
    else:
        note = "" if report.is_dicom else " (warning: the content is not a DICOM Part 10 file)"
        if report.integrity == "none":
            note += " (WARNING: nothing proves this content unmodified)"
        err(f"unwrapped {src} -> {report.path}: {report.outer}, {report.cipher}, recipient "
            f"#{report.recipient_index} ({report.recipient_kind}), integrity {report.integrity}"
            f"{note}")
    return 0


@command("inspect")
def inspect(
    file: Annotated[Path, typer.Argument(help="A DICOM file or Secure DICOM File.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> int:
    """Say whether a file is plain DICOM or a Secure DICOM File, and show its CMS structure
    (no key needed)."""
    from dicomsec.securefile import inspect as do_inspect

    info = do_inspect(input_file(file))
    if as_json:
        print_json(info)
        return 0
    if not info.is_secure:
        print(f"{file}: DICOM Part 10 file ({info.size} bytes), not encrypted")
        return 0
    print(f"{file}: Secure DICOM File, {info.outer} v{info.version} "
          f"({(info.encoding or '').upper()}), {info.cipher}, inner {info.content_type}")
    for i, r in enumerate(info.recipients):
        details = ", ".join(f"{k}={v}" for k, v in r.items() if k != "kind")
        print(f"  recipient #{i}: {r.get('kind')}: {details}")
    return 0
