"""The policy file: what it reads, and bad input (one line naming the rule and the key, exit 2)."""

from __future__ import annotations

import datetime as _dt
from pathlib import Path

import pytest

from dicomsec import policy
from dicomsec.algorithms.policy import Purpose
from dicomsec.errors import InvalidInput
from tests.cli.conftest import Run
from tests.policy.archive import Archive

_OK_RULE = '[[rule]]\nname = "r"\nmatch = { Modality = "CT" }\n'

BAD = [
    ('[[rule]]\nname = "r"\nmatch = {}\ncolour = "red"\n', "rule 1 ('r'): unknown key 'colour'"),
    ('[[rule]]\nname = "r"\nmatch = {}\nmode = "warn"\n',
     "rule 1 ('r'): mode must be one of monitor, enforce, not 'warn'"),
    ('[[rule]]\nname = "r"\nmatch = {}\nrequire = "notary"\n',
     "rule 1 ('r'): require must be one of any, creator, authorization, sr"),
    ('[[rule]]\nname = "r"\nmatch = {}\nfrom = "yesterday"\n',
     "rule 1 ('r'): from must be a TOML date"),
    ('[[rule]]\nname = "r"\nmatch = {}\nfrom = 2026-02-30\n', "not valid TOML"),
    ('[[rule]]\nname = "r"\nmatch = { Vendor = "x" }\n',
     "rule 1 ('r'): match: 'Vendor' is not a DICOM attribute keyword"),
    ('[[rule]]\nname = "r"\nmatch = { Modality = 3 }\n', "match.Modality must be a string"),
    ('[[rule]]\nname = "r"\nmatch = {}\nsigner = { issuer = "not a name" }\n',
     "signer.issuer: not an RFC 4514 name"),
    ('[[rule]]\nname = "r"\nmatch = {}\nsigner = { device = true }\n',
     "signer: unknown key 'device'"),
    ('[[rule]]\nname = "r"\nmatch = {}\nschemes = ["ecdsa-p999"]\n', "rule 1 ('r'): schemes:"),
    ('[[rule]]\nmatch = {}\n', "rule 1: name must be a non-empty string"),
    (_OK_RULE + _OK_RULE, "rule 2: name 'r' is used twice"),
    ('[rule]\nname = "r"\n', "rule must be an array of tables"),
    ("", "no [[rule]] table"),
    (_OK_RULE + "[device]\nx = 1\n", "unknown top-level key 'device'"),
    (_OK_RULE + "[algorithms.policy]\nbasis = 1\n", "[algorithms.policy]: unknown key 'basis'"),
    (_OK_RULE + '[algorithms.status]\nmd5 = "fine"\n', "[algorithms.status] md5 must be one of"),
    (_OK_RULE + "[algorithms]\nfoo = 1\n", "signing policy: [algorithms]: unknown key 'foo'"),
    (_OK_RULE + "[algorithms.rules.x]\ncolour = 1\n", "[algorithms.rules.x]: unknown key"),
    ('[[rule]]\nname = "r"\nmatch = {}\nsigner = { subject = "CN=CT*,bogus" }\n',
     "signer.subject: not an RFC 4514 name"),
]


@pytest.mark.parametrize(("text", "message"), BAD, ids=[m for _, m in BAD])
def test_bad_policy_is_one_error(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "p.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InvalidInput) as caught:
        policy.load(path)
    assert message in str(caught.value)
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize("case", [0, 1, 3])
def test_bad_policy_exits_2_with_one_line(run: Run, archive: Archive, tmp_path: Path,
                                          case: int) -> None:
    path = tmp_path / "p.toml"
    path.write_text(BAD[case][0], encoding="utf-8")
    assert run("policy", "check", archive.folder, "--policy", path, "--trust",
               archive.ca) == 2
    run.assert_one_line_error()
    assert BAD[case][1] in run.err


@pytest.mark.parametrize("argv", [
    ["--policy", "missing.toml", "--trust", "CA"],        # unreadable policy
    ["--trust", "CA"],                                      # no --policy
    ["--policy", "P", "--workers", "0", "--trust", "CA"],
    ["--policy", "P", "--trust", "CA", "--at", "tomorrow"],
    ["--policy", "P"],                                      # no --trust
])
def test_bad_arguments_exit_2(run: Run, archive: Archive, staged: Path,
                              argv: list[str]) -> None:
    argv = [str(staged) if a == "P" else str(archive.ca) if a == "CA" else a for a in argv]
    assert run("policy", "check", archive.folder, *argv) == 2
    run.assert_one_line_error()


def test_html_output_must_not_be_a_symlink(run: Run, archive: Archive, staged: Path,
                                           tmp_path: Path) -> None:
    link = tmp_path / "r.html"
    link.symlink_to(tmp_path / "elsewhere.html")
    assert run("policy", "check", archive.folder, "--policy", staged, "--trust", archive.ca,
               "--html", link) == 2
    run.assert_one_line_error()
    assert not (tmp_path / "elsewhere.html").exists()


def test_load_reads_rules_and_algorithm_overrides(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text("""
[[rule]]
name = "CT scanners of vendor A must sign"
match = { Manufacturer = "VendorA*", Modality = ["CT", "PT"] }
require = "creator"
mode = "enforce"
from = 2026-01-01T06:00:00+08:00
signer = { issuer = "CN=Site CA,O=Hospital", device_must_match = true }
timestamp = true
schemes = ["ecdsa-p256", "ml-dsa-65"]
macs = ["sha256"]

[algorithms.policy]
name = "site algorithms"
[algorithms.rules.no-p256-after-2030]
reason = "site rule: P-256 only until 2030"
algorithms = ["ecdsa-p256"]
purposes = ["create"]
disallowed_after = 2030-12-31
""", encoding="utf-8")
    pol = policy.load(path)
    (rule,) = pol.rules
    assert rule.match == (("Manufacturer", ("VendorA*",)), ("Modality", ("CT", "PT")))
    assert rule.start == _dt.date(2025, 12, 31)  # in UTC
    assert rule.enforced and rule.timestamp and rule.require == "creator"
    assert rule.signer is not None and rule.signer.device_must_match
    assert rule.schemes == ("ecdsa-p256", "ml-dsa-65") and rule.macs == ("sha256",)
    assert pol.algorithm_policy is not None and pol.algorithm_policy.name == "site algorithms"
    decision = pol.algorithm_policy.check("ecdsa-p256", 256, Purpose.CREATE, _dt.date(2031, 1, 1))
    assert not decision.allowed
    assert pol.to_dict()["rules"][0]["from"] == "2025-12-31"


def test_require_a_profile_and_schemes(tmp_path: Path) -> None:
    """``require = "creator"``: a signature over the patient's name only is ``unsigned`` (not
    of the kind), a creator one ``compliant``; ``schemes`` that do not list the signer's
    scheme refuse it."""
    from dicomsec.signatures import sign
    from dicomsec.trust import TrustStore
    from tests.conftest import PKI, PYDICOM_FILES, fixture_key

    key = fixture_key("ecp256")
    plain, creator = tmp_path / "plain.dcm", tmp_path / "creator.dcm"
    sign(PYDICOM_FILES / "CT_small.dcm", plain, key=key, tags=["PatientName"])
    sign(PYDICOM_FILES / "CT_small.dcm", creator, key=key, profile="creator")
    path = tmp_path / "p.toml"
    path.write_text('[[rule]]\nname = "creator"\nmatch = { Modality = "CT" }\n'
                    'require = "creator"\nmode = "enforce"\n'
                    '[[rule]]\nname = "p384 only"\nmatch = {}\nschemes = ["ecdsa-p384"]\n',
                    encoding="utf-8")
    pol = policy.load(path)
    store = TrustStore.from_paths([PKI / "ca.cert.pem"])
    got = policy.check_file(plain, pol, trust=store)
    assert (got.verdict, got.enforced) == ("unsigned", True)
    assert "no creator signature" in got.details[0]
    assert policy.check_file(creator, pol, trust=store).verdict == "compliant"
    other = policy.Policy(pol.rules[1:], None)
    got = policy.check_file(plain, other, trust=store)
    assert got.verdict == "algorithm-not-allowed" and not got.enforced
    assert "ecdsa-p256 is not among the rule's ecdsa-p384" in got.details[0]
