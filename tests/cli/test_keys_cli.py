"""``dicomsec keys generate``: bad input exits 2 with one line, a policy refusal exits 1 naming
the policy, and neither leaves a file; good input writes a key and a certificate that match.

Bad input (exit 2): an unknown ``--algorithm`` (the message lists the known ones; nothing is
guessed, ``rsafoo`` is not RSA-3072), ``--days`` outside 1..36500, an empty or over-long
``--cn``. RSA below 2048 bits (even below the 1024 bits cryptography can make at all) is
refused by the algorithm policy before a key is made: exit 1.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from dicomsec.keys import load_certificate, load_private_key
from tests.cli.conftest import Run

BAD_INPUT: dict[str, tuple[list[str], str]] = {
    "rsafoo": (["--algorithm", "rsafoo"], "--algorithm: unknown key algorithm 'rsafoo'"),
    "rsa-pss": (["--algorithm", "rsa-pss"], "unknown key algorithm"),
    "rsa0": (["--algorithm", "rsa0"], "RSA keys of 0 bits"),
    "rsa-huge": (["--algorithm", "rsa99999"], "RSA keys of 99999 bits"),
    "dsa": (["--algorithm", "dsa-1024"], "unknown key algorithm"),
    "empty-algorithm": (["--algorithm", ""], "unknown key algorithm"),
    "days-negative": (["--days", "-5"], "--days must be 1 to 36500, not -5"),
    "days-zero": (["--days", "0"], "--days must be 1 to 36500, not 0"),
    "days-huge": (["--days", "99999999"], "--days must be 1 to 36500"),
    "cn-empty": (["--cn", ""], "--cn must not be empty"),
    "cn-blank": (["--cn", "   "], "--cn must not be empty"),
    "cn-long": (["--cn", "x" * 65], "--cn must be at most 64 characters"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUT))
def test_bad_input_is_exit_2_one_line_no_file(run: Run, outdir: Path, case: str) -> None:
    args, message = BAD_INPUT[case]
    assert run("keys", "generate", outdir / "k", *args) == 2, run.err
    run.assert_one_line_error()
    assert message in run.err
    assert list(outdir.iterdir()) == []


def test_unknown_algorithm_lists_the_known_ones(run: Run, outdir: Path) -> None:
    assert run("keys", "generate", outdir / "k", "--algorithm", "rsafoo") == 2
    for name in ("rsa2048", "ecdsa-p256", "ed25519", "ml-dsa-65", "x25519", "ml-kem-768"):
        assert name in run.err


@pytest.mark.parametrize("algorithm", ["rsa512", "rsa1024", "rsa1", "RSA2047"])
def test_small_rsa_is_refused_by_the_policy(run: Run, outdir: Path, algorithm: str) -> None:
    assert run("keys", "generate", outdir / "k", "--algorithm", algorithm) == 1, run.err
    run.assert_one_line_error()
    assert "default policy: rsa-pkcs1v15 key of" in run.err
    assert "below the minimum of 2048" in run.err
    assert "allow-legacy" not in run.err  # a key floor: the flag would not lift it
    assert list(outdir.iterdir()) == []


def test_policy_is_asked_before_the_ca_key_is_read(run: Run, tmp_path: Path,
                                                   outdir: Path) -> None:
    missing = tmp_path / "missing.pem"
    assert run("keys", "generate", outdir / "k", "--algorithm", "rsa1024",
               "--ca-cert", missing, "--ca-key", missing) == 1
    assert "default policy" in run.err
    assert list(outdir.iterdir()) == []


def test_bare_rsa_is_3072_bits_and_names_are_case_insensitive(run: Run, outdir: Path) -> None:
    assert run("keys", "generate", outdir / "k", "--algorithm", "RSA", "--days", "1",
               "--cn", "x" * 64) == 0, run.err
    key = load_private_key(outdir / "k.key.pem")
    assert isinstance(key, rsa.RSAPrivateKey) and key.key_size == 3072
    cert = load_certificate(outdir / "k.cert.pem")
    assert cert.public_key().public_numbers() == key.public_key().public_numbers()  # type: ignore[union-attr]
    validity = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert validity.days == 1


def test_the_limits_are_accepted(run: Run, outdir: Path) -> None:
    assert run("keys", "generate", outdir / "k", "--days", "36500") == 0, run.err
    cert = load_certificate(outdir / "k.cert.pem")
    assert (cert.not_valid_after_utc - cert.not_valid_before_utc).days == 36500


def test_output_linked_to_a_device_is_refused(run: Run, outdir: Path) -> None:
    (outdir / "k.key.pem").symlink_to("/dev/null")
    assert run("keys", "generate", outdir / "k") == 2, run.err
    run.assert_one_line_error()
    assert "is a symbolic link; refusing to replace it" in run.err
    assert (outdir / "k.key.pem").is_symlink() and not (outdir / "k.cert.pem").exists()


def test_an_existing_private_key_is_never_replaced_silently(run: Run, outdir: Path) -> None:
    assert run("keys", "generate", outdir / "ca", "--ca") == 0, run.err
    before = (outdir / "ca.key.pem").read_bytes()
    assert run("keys", "generate", outdir / "ca", "--ca") == 2
    run.assert_one_line_error()
    assert "--force" in run.err and (outdir / "ca.key.pem").read_bytes() == before
    assert run("keys", "generate", outdir / "ca", "--ca", "--force") == 0, run.err
    assert (outdir / "ca.key.pem").read_bytes() != before


def test_the_issuer_must_be_a_matching_valid_ca(run: Run, outdir: Path) -> None:
    assert run("keys", "generate", outdir / "ca", "--ca") == 0, run.err
    assert run("keys", "generate", outdir / "other", "--ca") == 0, run.err
    assert run("keys", "generate", outdir / "leaf") == 0, run.err
    cases: dict[str, list[str | Path]] = {
        "does not belong": ["--ca-cert", outdir / "ca.cert.pem",
                            "--ca-key", outdir / "other.key.pem"],
        "not a CA": ["--ca-cert", outdir / "leaf.cert.pem", "--ca-key", outdir / "leaf.key.pem"],
    }
    for message, args in cases.items():
        assert run("keys", "generate", outdir / "issued", *args) == 2, run.err
        run.assert_one_line_error()
        assert message in run.err
        assert not (outdir / "issued.key.pem").exists()
    ok: list[str | Path] = ["--ca-cert", outdir / "ca.cert.pem", "--ca-key", outdir / "ca.key.pem"]
    assert run("keys", "generate", outdir / "issued", *ok) == 0, run.err
