"""``verify --policy``: each file's signing-policy verdict beside its signature report; an
enforce rule violated fails the file too, a monitor rule never makes a failure pass."""

from __future__ import annotations

from pathlib import Path

from tests.cli.conftest import Run
from tests.policy.archive import Archive, Made
from tests.policy.conftest import expected_rule, expected_verdict


def _verify(run: Run, archive: Archive, pol: Path, *files: Path | str) -> int:
    return run("verify", *files, "--policy", pol, "--trust", archive.ca, "--trust",
               archive.foreign_ca, "--crl", archive.crl, "--offline", "--workers", "1",
               "--json", "--allow-unsigned")


def _pick(archive: Archive, kind: str, enforced: bool) -> Made:
    return next(m for m in archive.files if m.kind == kind
                and (expected_rule(m) == "Vendor A CT: enforce") is enforced)


def test_a_monitor_rule_never_makes_a_failed_verification_pass(
        run: Run, archive: Archive, staged: Path) -> None:
    for kind in ("unsigned", "tampered"):
        m = _pick(archive, kind, enforced=False)
        code = run("verify", m.path, "--policy", staged, "--trust", archive.ca, "--crl",
                   archive.crl, "--offline", "--workers", "1")
        assert code == 1, (kind, run.out)
        assert "monitored" in run.out


def test_verdicts_ride_along_and_enforce_decides(run: Run, archive: Archive,
                                                  staged: Path) -> None:
    early = _pick(archive, "unsigned", enforced=False)
    late = _pick(archive, "unsigned", enforced=True)
    good = _pick(archive, "signed", enforced=True)
    assert _verify(run, archive, staged, early.path) == 0  # monitored: reported, not failed
    doc = run.json()
    assert doc[0]["verdict"]["verdict"] == expected_verdict(early) == "unsigned"
    assert doc[0]["verdict"]["enforced"] is False
    assert _verify(run, archive, staged, late.path) == 1  # enforced from the rule's date
    assert run.json()[0]["verdict"]["enforced"] is True
    assert _verify(run, archive, staged, good.path) == 0
    assert run.json()[0]["verdict"]["verdict"] == "compliant"


def test_people_output_names_the_verdict(run: Run, archive: Archive, staged: Path) -> None:
    m = _pick(archive, "revoked", enforced=True)
    code = run("verify", m.path, "--policy", staged, "--trust", archive.ca, "--crl",
               archive.crl, "--offline", "--workers", "1")
    assert code == 1
    assert "policy: revoked (rule 'Vendor A CT: enforce', enforce; ENFORCED)" in run.out


def test_bad_policy_file_is_one_line_exit_2(run: Run, archive: Archive,
                                            tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[[rule]]\nname = "x"\nmode = "sometimes"\n', encoding="utf-8")
    m = archive.files[0]
    assert run("verify", m.path, "--policy", bad, "--trust", archive.ca) == 2
    assert len(run.err.strip().splitlines()) == 1
