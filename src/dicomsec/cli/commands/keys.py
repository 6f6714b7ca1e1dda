"""``dicomsec keys generate``: test keys and certificates (for demos and test PKIs)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from dicomsec.cli._contexts import POLICY_HELP, algorithm_policy, output_file
from dicomsec.cli._root import command, err, exit_code, print_json, usage

if TYPE_CHECKING:
    import typer
    from cryptography import x509

    from dicomsec.keys import KeyScheme

#: the longest common name a certificate takes (RFC 5280 ub-common-name)
_MAX_CN = 64


#: the options of ``keys generate --pkcs11`` (name → help, metavar)
_TOKEN_OPTIONS: dict[str, tuple[str, str | None]] = {
    "--pkcs11": ("Generate the key IN this PKCS#11 token ('pkcs11:token=T;object=LABEL"
                 "[;id=%01]?module-path=...'); it never leaves the token (sensitive, not "
                 "extractable) and only --csr, --self-signed or --issue-with-ca/--out is "
                 "written. Refused (exit 2) if an object with that label or id exists.", "URI"),
    "--key-type": ("With --pkcs11: ec-p256 (default), ec-p384, rsa-2048, rsa-3072, ed25519.",
                   None),
    "--pin-file": ("With --pkcs11: the token PIN (first line); else $DICOMSEC_PKCS11_PIN or "
                   "a prompt.", None),
    "--csr": ("With --pkcs11: write a certificate request (PKCS#10, signed in the token).",
              "OUT"),
    "--self-signed": ("With --pkcs11: write a self-signed certificate (signed in the token).",
                      "OUT"),
    "--issue-with-ca": ("With --pkcs11 and --out: a certificate issued by this CA (key "
                        "password from $DICOMSEC_KEY_PASSWORD).", "CA_CERT CA_KEY"),
    "--out": ("With --issue-with-ca: where the certificate goes.", None),
    "--subject": ("With --pkcs11: the subject, RFC 4514 (e.g. 'CN=CT01,O=Example "
                  "Hospital').", None),
    "--json": ("With --pkcs11: print the report (key provenance) as JSON.", None),
}


def _opt(name: str) -> Any:
    """The typer option ``name`` of :data:`_TOKEN_OPTIONS` (called when the app is built)."""
    import typer

    help_text, metavar = _TOKEN_OPTIONS[name]
    return typer.Option(name, help=help_text, metavar=metavar)


def _check(algorithm: str, common_name: str, days: int, ca: bool, ca_cert: Path | None,
           ca_key: Path | None) -> KeyScheme:
    """Check the options before anything is made; returns the parsed key scheme.

    Raises:
        InvalidInput: an unknown --algorithm (with the known ones), --days outside 1 to
            36500, an empty or over-long --cn (one line, exit 2).
        UsageError: --ca-cert without --ca-key (or the reverse), a recipient-only key as a CA
            or self-signed.
    """
    from dicomsec.errors import InvalidInput
    from dicomsec.keys import MAX_CERT_DAYS, parse_key_scheme

    try:
        scheme = parse_key_scheme(algorithm)
    except InvalidInput as exc:
        raise InvalidInput(f"--algorithm: {exc.message}") from None
    if not 1 <= days <= MAX_CERT_DAYS:
        raise InvalidInput(f"--days must be 1 to {MAX_CERT_DAYS}, not {days}")
    if not common_name.strip():
        raise InvalidInput("--cn must not be empty")
    if len(common_name) > _MAX_CN:
        raise InvalidInput(f"--cn must be at most {_MAX_CN} characters, not {len(common_name)}")
    if (ca_cert is None) != (ca_key is None):
        raise usage("give both --ca-cert and --ca-key, or neither")
    if scheme.recipient_only and ca:
        raise usage(f"{algorithm} keys cannot sign, so they cannot be a CA")
    if scheme.recipient_only and ca_key is None:
        raise usage(f"{algorithm} keys cannot sign their own certificate: give --ca-cert "
                    "and --ca-key")
    return scheme


def _token_output(csr: Path | None, self_signed: Path | None,
                  issue_with_ca: tuple[Path, Path] | None, out: Path | None) -> tuple[str, Path]:
    """The one output of ``--pkcs11``: (kind, path), checked before the token is touched.

    Raises:
        UsageError: none or several of --csr / --self-signed / --issue-with-ca, --out without
            --issue-with-ca or the reverse.
    """
    given = [n for n, v in (("--csr", csr), ("--self-signed", self_signed),
                            ("--issue-with-ca", issue_with_ca)) if v is not None]
    if len(given) != 1:
        raise usage("--pkcs11 writes exactly one of --csr OUT, --self-signed OUT, "
                    "--issue-with-ca CA_CERT CA_KEY --out CERT" +
                    (f" (given: {' '.join(given)})" if given else ""))
    if (issue_with_ca is None) != (out is None):
        raise usage("--out goes with --issue-with-ca (and --issue-with-ca needs --out)")
    if csr is not None:
        return "csr", output_file(csr)
    if self_signed is not None:
        return "self-signed", output_file(self_signed)
    assert out is not None
    return "certificate", output_file(out)


def _subject(text: str) -> x509.Name:
    """``--subject``: an RFC 4514 name (``CN=CT01,O=Example Hospital``).

    Raises:
        InvalidInput: not a readable name, or empty.
    """
    from cryptography import x509

    from dicomsec.errors import InvalidInput

    try:
        name = x509.Name.from_rfc4514_string(text)
    except ValueError as exc:
        raise InvalidInput(f"--subject: not an RFC 4514 name ({exc})") from None
    if not len(name):
        raise InvalidInput("--subject must not be empty")
    return name


def _generate_in_token(uri: str, key_type: str, pin_file: Path | None, kind: str, out: Path,
                       subject: str, days: int, issue_with_ca: tuple[Path, Path] | None,
                       policy_file: Path | None, as_json: bool) -> int:
    """``keys generate --pkcs11``: the key pair is made in the token; only a request or a
    certificate is written."""
    from dicomsec._pkcs11 import TOKEN_KEY_TYPES, make_token_key
    from dicomsec.errors import InvalidInput
    from dicomsec.keys import MAX_CERT_DAYS, load_certificate, load_private_key, read_password

    if key_type not in TOKEN_KEY_TYPES:
        raise InvalidInput(f"--key-type: unknown {key_type!r} (known: "
                           f"{', '.join(TOKEN_KEY_TYPES)})")
    if not 1 <= days <= MAX_CERT_DAYS:
        raise InvalidInput(f"--days must be 1 to {MAX_CERT_DAYS}, not {days}")
    name = _subject(subject)
    policy = algorithm_policy(policy_file)
    issuer = None
    if issue_with_ca is not None:
        from dicomsec.keys import check_issuer
        from dicomsec.trust import KeyPurpose, check_for_use

        ca_cert = load_certificate(issue_with_ca[0])
        check_for_use(ca_cert, KeyPurpose.ISSUING, name="CA certificate",
                      path=issue_with_ca[0])
        ca_key = load_private_key(issue_with_ca[1],
                                  password_callback=lambda: read_password(None))
        check_issuer(ca_key, ca_cert)
        issuer = (ca_cert, ca_key)
    report = make_token_key(uri, key_type, output_kind=kind, out=out, subject=name, days=days,
                            issuer=issuer, pin_file=pin_file, policy=policy)
    if as_json:
        print_json(report)
    err(f"generated {key_type} key {report.label!r} in token {report.token} "
        f"(provenance: {', '.join(k for k, v in report.provenance.items() if v) or 'none'}); "
        f"wrote {out}")
    return exit_code(report)


def _generate_file_key(prefix: Path, algorithm: str, common_name: str, ca: bool,
                       ca_cert: Path | None, ca_key: Path | None, days: int, encryption: bool,
                       policy_file: Path | None, force: bool) -> int:
    """``keys generate PREFIX``: a key file and its certificate."""
    scheme = _check(algorithm, common_name, days, ca, ca_cert, ca_key)
    key_path = output_file(Path(f"{prefix}.key.pem"))
    cert_path = output_file(Path(f"{prefix}.cert.pem"))
    if key_path.exists() and not force:
        from dicomsec.errors import InvalidInput

        raise InvalidInput("exists; a private key is never replaced without --force",
                           path=str(key_path))
    policy = algorithm_policy(policy_file)
    from cryptography.hazmat.primitives.serialization import Encoding

    from dicomsec._atomic import atomic_write_bytes
    from dicomsec.keys import (
        check_issuer,
        check_key_creation,
        generate_private_key,
        issue_certificate,
        load_certificate,
        load_private_key,
        write_private_key,
    )
    from dicomsec.trust import KeyPurpose, check_for_use

    check_key_creation(scheme, policy=policy)  # before loading or making anything
    issuer_cert = load_certificate(ca_cert) if ca_cert else None
    if issuer_cert is not None:  # the one validator: a CA, keyCertSign, valid now
        check_for_use(issuer_cert, KeyPurpose.ISSUING, name="CA certificate", path=ca_cert)
    issuer_key = load_private_key(ca_key) if ca_key else None
    if issuer_key is not None and issuer_cert is not None:
        check_issuer(issuer_key, issuer_cert)
    key = generate_private_key(scheme, policy=policy)
    cert = issue_certificate(key, common_name, issuer_key=issuer_key,  # type: ignore[arg-type]
                             issuer_cert=issuer_cert, ca=ca, days=days,
                             encryption=encryption or scheme.recipient_only)
    write_private_key(key, key_path)
    atomic_write_bytes(cert_path, cert.public_bytes(Encoding.PEM))
    err(f"wrote {key_path} and {cert_path}")
    return 0


@command("generate", group="keys")
def keys_generate(
    prefix: Annotated[Path | None, typer.Argument(
        help="Writes PREFIX.key.pem and PREFIX.cert.pem (not with --pkcs11).")] = None,
    algorithm: Annotated[str, typer.Option(
        "--algorithm", help="ecdsa-p256 (default), ecdsa-p384, ecdsa-p521, rsa2048, rsa3072 "
        "(rsa<bits>; below 2048 the policy refuses), ed25519, ed448, ml-dsa-44/65/87; "
        "recipient keys: x25519, x448, ml-kem-512/768/1024")]
    = "ecdsa-p256",
    common_name: Annotated[str, typer.Option(
        "--cn", help="Subject common name (1 to 64 characters).")] = "dicomsec device",
    ca: Annotated[bool, typer.Option("--ca", help="Make a CA certificate.")] = False,
    ca_cert: Annotated[Path | None, typer.Option("--ca-cert",
                                                 help="Issuing CA certificate.")] = None,
    ca_key: Annotated[Path | None, typer.Option("--ca-key", help="Issuing CA key.")] = None,
    days: Annotated[int, typer.Option("--days", help="Validity in days (1 to 36500).")] = 825,
    encryption: Annotated[bool, typer.Option(
        "--encryption", help="A recipient certificate for Secure DICOM Files (key "
        "encipherment / key agreement) instead of a signer. Implied by x25519, x448, "
        "ml-kem-*.")] = False,
    policy_file: Annotated[Path | None, typer.Option(
        "--algorithm-policy", metavar="FILE", help=POLICY_HELP)] = None,
    force: Annotated[bool, typer.Option(
        "--force", help="Replace an existing PREFIX.key.pem (never done without it).")] = False,
    pkcs11: Annotated[str | None, _opt("--pkcs11")] = None,
    key_type: Annotated[str, _opt("--key-type")] = "ec-p256",
    pin_file: Annotated[Path | None, _opt("--pin-file")] = None,
    csr: Annotated[Path | None, _opt("--csr")] = None,
    self_signed: Annotated[Path | None, _opt("--self-signed")] = None,
    issue_with_ca: Annotated[tuple[Path, Path] | None, _opt("--issue-with-ca")] = None,
    out: Annotated[Path | None, _opt("--out")] = None,
    subject: Annotated[str, _opt("--subject")] = "CN=dicomsec token key",
    as_json: Annotated[bool, _opt("--json")] = False,
) -> int:
    """Generate a key and a certificate (self-signed, or issued by --ca-cert/--ca-key).

    Exit 1 when the algorithm policy refuses the key (e.g. RSA below 2048 bits, asked before
    the key is made), with no output; 2 for an unknown --algorithm, --days outside 1..36500,
    an empty --cn, a bad policy file, an existing PREFIX.key.pem without --force, or a
    --ca-key that does not belong to --ca-cert / a --ca-cert that is no CA or not valid now.

    With --pkcs11 URI the key pair is generated inside the token and only a request or a
    certificate is written (exit 1 also for a wrong PIN or a key the token does not say is
    token-born and never extractable).
    """
    if pkcs11 is not None:
        if prefix is not None:
            raise usage("--pkcs11 writes no key file: drop PREFIX (use --csr, --self-signed or "
                        "--issue-with-ca/--out)")
        kind, path = _token_output(csr, self_signed, issue_with_ca, out)
        return _generate_in_token(pkcs11, key_type, pin_file, kind, path, subject, days,
                                  issue_with_ca, policy_file, as_json)
    if prefix is None:
        raise usage("give PREFIX (or --pkcs11 URI)")
    token_only = [n for n, v in (("--csr", csr), ("--self-signed", self_signed),
                                 ("--issue-with-ca", issue_with_ca), ("--out", out),
                                 ("--pin-file", pin_file), ("--json", as_json or None))
                  if v is not None]
    if token_only:
        raise usage(f"{token_only[0]} goes with --pkcs11")
    return _generate_file_key(prefix, algorithm, common_name, ca, ca_cert, ca_key, days,
                              encryption, policy_file, force)
