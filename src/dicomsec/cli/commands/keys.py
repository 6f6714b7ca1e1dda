"""``dicomsec keys generate``: test keys and certificates (for demos and test PKIs)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

from dicomsec.cli._contexts import POLICY_HELP, algorithm_policy, output_file
from dicomsec.cli._root import command, err, usage

if TYPE_CHECKING:
    import typer

    from dicomsec.keys import KeyScheme

#: the longest common name a certificate takes (RFC 5280 ub-common-name)
_MAX_CN = 64


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


@command("generate", group="keys")
def keys_generate(
    prefix: Annotated[Path, typer.Argument(help="Writes PREFIX.key.pem and PREFIX.cert.pem.")],
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
) -> int:
    """Generate a key and a certificate (self-signed, or issued by --ca-cert/--ca-key).

    Exit 1 when the algorithm policy refuses the key (e.g. RSA below 2048 bits, asked before
    the key is made), with no output; 2 for an unknown --algorithm, --days outside 1..36500,
    an empty --cn, a bad policy file, an existing PREFIX.key.pem without --force, or a
    --ca-key that does not belong to --ca-cert / a --ca-cert that is no CA or not valid now.
    """
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
