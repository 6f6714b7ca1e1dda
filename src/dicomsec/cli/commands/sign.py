"""``dicomsec sign``: add a digital signature to a DICOM file (PS3.15 Annex C)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

from dicomsec.cli._audit import audit_handlers
from dicomsec.cli._contexts import (
    PASSWORD_HELP,
    PIN_HELP,
    POLICY_HELP,
    algorithm_policy,
    closing_key,
    http_url,
    input_file,
    load_signing_key,
    output_file,
)
from dicomsec.cli._root import command, err, print_json, usage

if TYPE_CHECKING:
    import typer

PROFILES = ["none", "base", "creator", "authorization", "sr", "sr-verification"]


@command("sign")
def sign(
    src: Annotated[Path, typer.Argument(metavar="IN", help="DICOM Part 10 file to sign.")],
    key: Annotated[str, typer.Option(
        "--key", help="Private key (PEM, DER or PKCS#12), or a key in a PKCS#11 token by "
        "RFC 7512 URI, e.g. 'pkcs11:token=ct1;object=sign' (see docs/pkcs11.md).")],
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
    policy_file: Annotated[Path | None, typer.Option(
        "--algorithm-policy", metavar="FILE", help=POLICY_HELP)] = None,
    key_password_file: Annotated[Path | None, typer.Option(
        "--key-password-file", help=PASSWORD_HELP)] = None,
    pin_file: Annotated[Path | None, typer.Option("--pin-file", help=PIN_HELP)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> int:
    """Add a digital signature to a DICOM file (PS3.15 Annex C).

    Exit 0 when signed; 1 when the algorithm policy (or the profile) refuses, with no output;
    2 for unreadable input or a bad policy file.
    """
    if (out is None) == (not in_place):
        raise usage("give exactly one of -o OUT and --in-place")
    if profile not in PROFILES:
        raise usage(f"unknown profile {profile!r}; choose from {', '.join(PROFILES)}")
    if tsa_url is not None:
        http_url(tsa_url, "--tsa-url")
    from dicomsec.signatures import sign_file
    from dicomsec.signatures._profiles import Profile

    input_file(src)  # a regular file: never a FIFO or device (a hang), never a directory
    if out is not None:
        output_file(out)  # absent or a regular file: never a device, FIFO or directory
    policy = algorithm_policy(policy_file)
    client = None
    if tsa_url:
        from dicomsec.signatures.timestamp import HttpTimestampClient

        client = HttpTimestampClient(tsa_url)
    signing_key = load_signing_key(key, cert, key_password_file, rsa_pss, pin_file=pin_file,
                                   deterministic=deterministic)
    dst = src if in_place else out
    assert dst is not None
    with closing_key(signing_key):  # a token's session ends here
        result = sign_file(
            src, dst, key=signing_key, profile=Profile(profile), mac=mac, purpose=purpose,
            item=item, tags=tag, deterministic=deterministic, timestamp_client=client,
            allow_legacy=allow_legacy, policy=policy,
            handlers=audit_handlers("sign"),
        )
    if as_json:
        print_json(result)
    else:
        err(f"signed {result.location} of {src} -> {result.path}: {result.signature_algorithm} "
            f"{result.mac_algorithm}, profile {result.profile}, {len(result.signed_tags)} "
            f"attributes, uid {result.uid}")
    return 0
