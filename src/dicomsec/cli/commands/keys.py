"""``dicomsec keys generate``: test keys and certificates (for demos and test PKIs)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

from dicomsec.cli._contexts import POLICY_HELP, algorithm_policy
from dicomsec.cli._root import command, err, usage

if TYPE_CHECKING:
    import typer


def _check(algorithm: str, ca: bool, ca_cert: Path | None, ca_key: Path | None) -> bool:
    """Check the combination of options; returns whether the key can only be a recipient."""
    if (ca_cert is None) != (ca_key is None):
        raise usage("give both --ca-cert and --ca-key, or neither")
    from dicomsec.keys import recipient_only as receives_only

    recipient_only = receives_only(algorithm)
    if recipient_only and ca:
        raise usage(f"{algorithm} keys cannot sign, so they cannot be a CA")
    if recipient_only and ca_key is None:
        raise usage(f"{algorithm} keys cannot sign their own certificate: give --ca-cert "
                    "and --ca-key")
    return recipient_only


@command("generate", group="keys")
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
    policy_file: Annotated[Path | None, typer.Option(
        "--algorithm-policy", metavar="FILE", help=POLICY_HELP)] = None,
) -> int:
    """Generate a key and a certificate (self-signed, or issued by --ca-cert/--ca-key).

    Exit 1 when the algorithm policy refuses the key (e.g. RSA below 2048 bits), with no
    output; 2 for a bad policy file.
    """
    recipient_only = _check(algorithm, ca, ca_cert, ca_key)
    policy = algorithm_policy(policy_file)
    from cryptography.hazmat.primitives.serialization import Encoding

    from dicomsec._atomic import atomic_write_bytes
    from dicomsec.keys import (
        generate_private_key,
        issue_certificate,
        load_certificate,
        load_private_key,
        write_private_key,
    )

    key = generate_private_key(algorithm, policy=policy)
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
    return 0
