"""Issue 9 (B2): ``unwrap`` validates the inner signer with the one validator and the same
flags as ``verify`` (``--trust``, ``--untrusted``, ``--crl``, ``--offline``, ``--soft-fail``):
a revoked inner signer is exit 1 with one line, and no plaintext is written."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.conftest import Run
from tests.cli.conftest import run as run  # the in-process runner fixture
from tests.cli.revocation_pki import RevocationPki, make_pki
from tests.conftest import PYDICOM_FILES

CT = PYDICOM_FILES / "CT_small.dcm"
KEK = "00112233445566778899aabbccddeeff" * 2


@pytest.fixture(scope="module")
def wrapped(tmp_path_factory: pytest.TempPathFactory) -> tuple[RevocationPki, dict[str, Path]]:
    from dicomsec.cli import main

    folder = tmp_path_factory.mktemp("unwraptrust")
    pki = make_pki(folder, {"signer-good": "signer", "signer-revoked": "signer"})
    (folder / "kek.hex").write_text(KEK + "\n")
    files = {}
    for name in ("signer-good", "signer-revoked"):
        files[name] = folder / f"{name}.secure.dcm"
        assert main(["wrap", str(CT), "-o", str(files[name]), "--kek-file",
                     str(folder / "kek.hex"), "--kek-id", "01", "--sign-key",
                     str(pki.key(name)), "--sign-cert", str(pki.path(name))]) == 0
    return pki, files


def _unwrap(run: Run, pki: RevocationPki, src: Path, out: Path, *trust: str) -> int:
    return run("unwrap", src, "-o", out, "--kek-file", pki.folder / "kek.hex", "--kek-id",
               "01", *trust)


def test_revoked_inner_signer_exit_1_and_no_output(
        run: Run, wrapped: tuple[RevocationPki, dict[str, Path]], tmp_path: Path) -> None:
    pki, files = wrapped
    out = tmp_path / "plain.dcm"
    assert _unwrap(run, pki, files["signer-revoked"], out, *pki.trust_args()) == 1
    run.assert_one_line_error()
    assert "revoked" in run.err
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_good_inner_signer_needs_its_intermediate(
        run: Run, wrapped: tuple[RevocationPki, dict[str, Path]], tmp_path: Path) -> None:
    pki, files = wrapped
    out = tmp_path / "plain.dcm"
    assert _unwrap(run, pki, files["signer-good"], out,
                   *pki.trust_args(untrusted=False)) == 1
    run.assert_one_line_error()
    assert not out.exists()
    assert _unwrap(run, pki, files["signer-good"], out, *pki.trust_args()) == 0, run.err
    assert out.read_bytes()[128:132] == b"DICM"
