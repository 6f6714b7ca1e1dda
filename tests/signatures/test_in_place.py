"""Concurrent in-place signers (issue 8, item 7): two ``sign --in-place`` runs on one file both
end up in it; neither is told it succeeded while its signature is gone."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from dicomsec import signatures
from dicomsec.trust import TrustStore
from tests.conftest import PKI, PYDICOM_FILES

CT = PYDICOM_FILES / "CT_small.dcm"
ROOT = Path(__file__).resolve().parents[2]


def _signer(name: str, target: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "dicomsec", "sign", str(target), "--in-place",
         "--key", str(PKI / f"signer-{name}.key.pem"),
         "--cert", str(PKI / f"signer-{name}.cert.pem")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)


def test_two_concurrent_in_place_signers_both_survive(tmp_path: Path) -> None:
    trust = TrustStore.from_paths([PKI / "ca.cert.pem"])
    for round_ in range(3):
        target = tmp_path / f"ct{round_}.dcm"
        shutil.copyfile(CT, target)
        procs = [_signer("ecp256", target), _signer("rsa2048", target)]
        results = [p.communicate(timeout=120) for p in procs]
        assert [p.returncode for p in procs] == [0, 0], results
        report = signatures.verify(target, trust=trust)
        assert len(report.signatures) == 2 and report.ok, report.to_json()
        assert sorted(s.signature_algorithm or "" for s in report.signatures) == [
            "ecdsa-p256", "rsa-pkcs1v15"]
    # the lock leaves nothing behind
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ct0.dcm", "ct1.dcm", "ct2.dcm"]


def test_in_place_through_a_symlink_is_refused(tmp_path: Path) -> None:
    """``sign LINK --in-place`` would replace the link by a signed copy and leave the file it
    names unsigned while reporting success: refused, exit 2, both unchanged."""
    target = tmp_path / "ct.dcm"
    shutil.copyfile(CT, target)
    link = tmp_path / "link.dcm"
    link.symlink_to(target)
    proc = _signer("ecp256", link)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 2, (out, err)
    assert err.count("\n") == 1 and "is a symbolic link" in err
    assert link.is_symlink() and target.read_bytes() == CT.read_bytes()
