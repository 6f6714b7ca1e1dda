"""The dated algorithm policy: default decisions at three dates, keys, legacy, derivation,
TOML policy files that tighten or loosen it, and bad policy files.

No wall clock: every check passes ``at``.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, mldsa, rsa

from dicomsec import algorithms
from dicomsec.algorithms import Family, Kind, Status
from dicomsec.algorithms.policy import (
    ALWAYS,
    DEFAULT_RULES,
    AlgorithmPolicy,
    Decision,
    Purpose,
    Rule,
)
from dicomsec.errors import InvalidInput, PolicyViolation, UnsupportedAlgorithm
from dicomsec.report import Report

ROOT = Path(__file__).resolve().parent.parent
TODAY = date(2026, 12, 2)
MID = date(2031, 6, 1)
LATE = date(2036, 6, 1)
END_2035 = date(2035, 12, 31)
CREATE, VERIFY, DECRYPT = Purpose.CREATE, Purpose.VERIFY, Purpose.DECRYPT
DEFAULT = AlgorithmPolicy.default()

# ------------------------------------------------------------------------------------------
# default decisions: (algorithm, key bits) x date x purpose
#   -> (allowed, not_allowed_after, deprecated, legacy)

_CLASSICAL_128 = {
    (TODAY, CREATE): (True, END_2035, False, False),
    (MID, CREATE): (True, END_2035, False, False),
    (LATE, CREATE): (False, END_2035, False, True),
    (TODAY, VERIFY): (True, None, False, False),
    (MID, VERIFY): (True, None, False, False),
    (LATE, VERIFY): (True, None, False, True),
}
_RSA_2048 = {
    **_CLASSICAL_128,
    (MID, CREATE): (True, END_2035, True, False),
    (MID, VERIFY): (True, None, True, False),
}
_ALWAYS_ALLOWED = {k: (True, None, False, False) for k in _CLASSICAL_128}


_Row = tuple[bool, date | None, bool, bool]


def _legacy(since: date) -> dict[tuple[date, Purpose], _Row]:
    out: dict[tuple[date, Purpose], _Row] = {}
    for day in (TODAY, MID, LATE):
        out[(day, CREATE)] = (False, since, False, True)
        out[(day, VERIFY)] = (True, None, False, True)
    return out


EXPECTED: dict[tuple[str, int | None], dict[tuple[date, Purpose], tuple[Any, ...]]] = {
    ("rsa-pkcs1v15", 2048): _RSA_2048,
    ("rsa-pss", 2048): _RSA_2048,
    ("rsa-pkcs1v15", 3072): _CLASSICAL_128,
    ("ecdsa-p256", None): _CLASSICAL_128,
    ("ed25519", None): _CLASSICAL_128,
    ("ml-dsa-65", None): _ALWAYS_ALLOWED,
    ("sha1", None): _legacy(date(2013, 12, 31)),
    ("des-ede3-cbc", None): _legacy(date(2023, 12, 31)),
}
CASES = [
    (name, bits, day, purpose, expected)
    for (name, bits), table in EXPECTED.items()
    for (day, purpose), expected in table.items()
]


@pytest.mark.parametrize(
    ("name", "bits", "day", "purpose", "expected"), CASES,
    ids=[f"{n}-{b or ''}-{d.year}-{p.value}" for n, b, d, p, _ in CASES],
)
def test_default_decisions(
    name: str, bits: int | None, day: date, purpose: Purpose, expected: tuple[Any, ...]
) -> None:
    decision = DEFAULT.check(name, bits, purpose, day)
    allowed, not_after, deprecated, legacy = expected
    got = (decision.allowed, decision.not_allowed_after, decision.deprecated, decision.legacy)
    assert got == (allowed, not_after, deprecated, legacy), decision
    assert bool(decision) is allowed
    assert decision.algorithm == name and decision.purpose is purpose and decision.at == day
    assert decision.policy == "default policy"
    if not allowed or deprecated or legacy:
        assert decision.reason
    alg = algorithms.by_name(name)
    assert decision.quantum_vulnerable is alg.quantum_vulnerable


def test_quantum_vulnerable_verification_note_in_2036() -> None:
    # a signature made today with P-256, verified in 2036: allowed, with the creation status
    decision = DEFAULT.check("ecdsa-p256", None, VERIFY, LATE)
    assert decision and decision.legacy and decision.quantum_vulnerable
    assert "quantum-vulnerable" in decision.reason
    assert "disallowed for new signatures after 2035-12-31" in decision.reason
    assert "NIST IR 8547" in decision.reason
    assert "legacy use" in decision.reason


def test_rsa_2048_deprecation_note() -> None:
    decision = DEFAULT.check("rsa-pkcs1v15", 2048, CREATE, MID)
    assert decision.deprecated and decision.strength == 112
    assert "deprecated for new signatures after 2030-12-31" in decision.reason


def test_decryption_of_3des_is_legacy_use() -> None:
    decision = DEFAULT.check("des-ede3-cbc", None, DECRYPT, TODAY)
    assert decision and decision.legacy
    assert "decryption as legacy use" in decision.reason
    assert any("SP 800-131A" in note for note in decision.notes)
    refused = DEFAULT.check("des-ede3-cbc", None, CREATE, TODAY)
    assert "new encryption after 2023-12-31" in " ".join(refused.notes)


@pytest.mark.parametrize("name", ["ml-dsa-44", "ml-dsa-65", "ml-dsa-87", "ml-kem-768"])
def test_post_quantum_allowed_without_end(name: str) -> None:
    for purpose in Purpose:
        decision = DEFAULT.check(name, None, purpose, date(2050, 1, 1))
        assert decision and decision.not_allowed_after is None
        assert not decision.quantum_vulnerable and not decision.legacy


@pytest.mark.parametrize("name", ["md5", "ripemd160", "sha1"])
def test_weak_digests_are_legacy(name: str) -> None:
    assert not DEFAULT.check(name, None, CREATE, TODAY)
    verify = DEFAULT.check(name, None, VERIFY, TODAY)
    assert verify and verify.legacy
    assert any("collision strength" in note for note in verify.notes)


def test_112_bit_digest_refused_after_2030() -> None:
    assert DEFAULT.check("sha224", None, CREATE, TODAY)
    assert not DEFAULT.check("sha224", None, CREATE, MID)
    assert DEFAULT.check("sha224", None, VERIFY, MID)


def test_p224_is_112_bit() -> None:
    assert DEFAULT.check("ecdsa-p224", None, CREATE, MID).deprecated
    assert not DEFAULT.check("ecdsa-p384", None, CREATE, MID).deprecated
    assert not DEFAULT.check("ecdsa-p384", None, CREATE, LATE)


def test_key_agreement_and_transport_follow_ir_8547() -> None:
    for name, bits in (("x25519", None), ("ecdh-x963-sha256", 256), ("rsa-oaep", 3072)):
        assert DEFAULT.check(name, bits, CREATE, TODAY).not_allowed_after == END_2035
        assert not DEFAULT.check(name, bits, CREATE, LATE)
        late = DEFAULT.check(name, bits, DECRYPT, LATE)
        assert late and late.legacy


def test_cms_signature_is_judged_with_its_hash() -> None:
    decision = DEFAULT.check("sha1-with-rsa", 2048, CREATE, TODAY)
    assert not decision
    assert any(note.startswith("sha1") for note in decision.notes)
    assert DEFAULT.check("sha256-with-rsa", 3072, CREATE, TODAY)


def test_experimental_note() -> None:
    decision = DEFAULT.check("ml-dsa-65", None, CREATE, TODAY)
    assert decision.reason == ""
    assert any("experimental" in note for note in decision.notes)


def test_upcoming_end_is_a_note_not_a_reason() -> None:
    decision = DEFAULT.check("ecdsa-p256", None, CREATE, TODAY)
    assert decision.reason == ""
    assert any("to be disallowed for new signatures after 2035-12-31" in n for n in decision.notes)


# ------------------------------------------------------------------------------------------
# keys


@pytest.fixture(scope="module")
def rsa_2048() -> rsa.RSAPublicKey:
    return rsa.generate_private_key(65537, 2048).public_key()


def test_key_objects(rsa_2048: rsa.RSAPublicKey) -> None:
    assert DEFAULT.check("rsa-pkcs1v15", rsa_2048, CREATE, MID).deprecated
    p256 = ec.generate_private_key(ec.SECP256R1())
    assert DEFAULT.check("ecdsa-p256", p256.public_key(), CREATE, TODAY).strength == 128
    assert DEFAULT.check("ecdsa-p256", p256, CREATE, TODAY).strength == 128  # private works
    ed = ed25519.Ed25519PrivateKey.generate().public_key()
    assert DEFAULT.check("ed25519", ed, CREATE, TODAY).strength == 128
    ml = mldsa.MLDSA65PrivateKey.generate().public_key()
    assert DEFAULT.check("ml-dsa-65", ml, CREATE, LATE).strength == 192


def test_rsa_without_key_is_judged_at_the_minimum() -> None:
    decision = DEFAULT.check("rsa-pkcs1v15", None, CREATE, MID)
    assert decision.deprecated and decision.strength == 112
    assert any("no key given" in note for note in decision.notes)


@pytest.mark.parametrize(("name", "bits"), [("rsa-pkcs1v15", 1024), ("rsa-pss", 2047),
                                            ("ecdsa-p256", 224)])
def test_small_keys_refused_for_creation_even_with_legacy(name: str, bits: int) -> None:
    for policy in (DEFAULT, DEFAULT.with_legacy_allowed()):
        decision = policy.check(name, bits, CREATE, TODAY)
        assert not decision
        assert f"below the minimum of {algorithms.by_name(name).min_key_bits}" in decision.reason
        assert decision.not_allowed_after == date(2013, 12, 31) or name == "ecdsa-p256"
    verify = DEFAULT.check(name, bits, VERIFY, TODAY)
    assert verify and verify.legacy


@pytest.mark.parametrize("key", [0, -2048, True])
def test_bad_key_sizes(key: Any) -> None:
    with pytest.raises(InvalidInput, match="key size"):
        DEFAULT.check("rsa-pkcs1v15", key, CREATE, TODAY)


def test_unknown_algorithm() -> None:
    with pytest.raises(UnsupportedAlgorithm):
        DEFAULT.check("whirlpool", None, CREATE, TODAY)


# ------------------------------------------------------------------------------------------
# time


def test_dates_are_utc_days() -> None:
    # 2036-01-01 00:30 at UTC+2 is still 2035-12-31 in UTC: P-256 creation allowed
    east = datetime(2036, 1, 1, 0, 30, tzinfo=timezone(timedelta(hours=2)))
    assert DEFAULT.check("ecdsa-p256", None, CREATE, east)
    assert not DEFAULT.check("ecdsa-p256", None, CREATE, datetime(2036, 1, 1, 0, 0, tzinfo=UTC))
    assert DEFAULT.check("ecdsa-p256", None, CREATE, datetime(2035, 12, 31, 23, 59))  # naive = UTC
    assert DEFAULT.check("ecdsa-p256", None, CREATE, END_2035).not_allowed_after == END_2035


# ------------------------------------------------------------------------------------------
# the decision record


def test_decision_record() -> None:
    decision = DEFAULT.check("ecdsa-p256", None, VERIFY, LATE)
    with pytest.raises(dataclasses.FrozenInstanceError):
        decision.allowed = False  # type: ignore[misc]
    data = decision.to_dict()
    assert list(data) == ["schema", "ok", "algorithm", "purpose", "at", "allowed", "reason",
                          "not_allowed_after", "deprecated", "legacy", "quantum_vulnerable",
                          "strength", "notes", "policy"]
    assert data["schema"] == "dicomsec.algorithms.decision/1" and data["ok"] is True
    assert isinstance(decision, Report) and decision.ok
    assert json.loads(decision.to_json()) == data
    assert json.loads(json.dumps(data)) == data
    assert data["at"] == "2036-06-01" and data["not_allowed_after"] is None
    refused = DEFAULT.check("ecdsa-p256", None, CREATE, LATE).to_dict()
    assert refused["allowed"] is False and refused["not_allowed_after"] == "2035-12-31"
    assert DEFAULT.check("ecdsa-p256", None, CREATE, LATE).summary() == (
        "refused create ecdsa-p256 not_allowed_after=2035-12-31 legacy quantum-vulnerable")


def test_refusal_raises_policy_violation_naming_the_policy() -> None:
    decision = DEFAULT.check("sha1", None, CREATE, TODAY)
    with pytest.raises(PolicyViolation) as info:
        decision.raise_for_failure()
    assert str(info.value).startswith("default policy: sha1 is a legacy algorithm")
    assert "allow-legacy" in info.value.diagnostics()
    with pytest.raises(PolicyViolation, match=r"default policy: .*quantum-vulnerable"):
        DEFAULT.require("ed25519", None, CREATE, LATE)
    assert isinstance(DEFAULT.require("ecdsa-p256", None, CREATE, TODAY), Decision)
    DEFAULT.check("sha1", None, VERIFY, TODAY).raise_for_failure()  # allowed: no exception


# ------------------------------------------------------------------------------------------
# legacy allowed, derivation


def test_allow_legacy_short_forms() -> None:
    assert AlgorithmPolicy.default(allow_legacy=True) == DEFAULT.with_legacy_allowed()
    assert DEFAULT.with_legacy_allowed().with_legacy_allowed(False) == DEFAULT
    assert not DEFAULT.allow_legacy


@pytest.mark.parametrize(("name", "day"), [("sha1", TODAY), ("md5", TODAY),
                                           ("des-ede3-cbc", TODAY), ("ecdsa-p256", LATE)])
def test_allow_legacy_allows_creation(name: str, day: date) -> None:
    decision = AlgorithmPolicy.default(allow_legacy=True).check(name, None, CREATE, day)
    assert decision and decision.legacy
    assert "created because legacy is allowed" in decision.reason


def test_forbidden_status_refuses_every_purpose() -> None:
    policy = DEFAULT.with_status("md5", Status.FORBIDDEN).with_legacy_allowed()
    for purpose in Purpose:
        decision = policy.check("md5", None, purpose, TODAY)
        assert not decision and decision.reason == "md5 is forbidden"
    assert DEFAULT.check("md5", None, VERIFY, TODAY)  # the original is unchanged


def test_policies_are_immutable_and_derived() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        DEFAULT.allow_legacy = True  # type: ignore[misc]
    later = dataclasses.replace(DEFAULT.rule("ir8547-quantum-vulnerable"),
                                disallowed_after=date(2037, 12, 31))
    moved = DEFAULT.with_rules(later)
    assert [r.id for r in moved.rules] == [r.id for r in DEFAULT.rules]
    assert moved.check("ecdsa-p256", None, CREATE, LATE)
    assert not DEFAULT.check("ecdsa-p256", None, CREATE, LATE)
    dropped = DEFAULT.without_rules("ir8547-quantum-vulnerable", "ir8547-112-bit")
    assert dropped.check("rsa-pkcs1v15", 2048, CREATE, LATE)
    named = DEFAULT.derive(name="device CT01")
    assert "device CT01: " in str(_violation(named, "sha1"))
    with pytest.raises(KeyError):
        DEFAULT.rule("no-such-rule")
    assert hash(DEFAULT) == hash(AlgorithmPolicy.default())


def test_a_device_transition_is_a_rule() -> None:
    # the next issue's per-device policy: P-256 until mid 2030, then P-384 only
    rule = Rule("ct01-p256", "device CT01 moves to P-384", "site", algorithms=frozenset(
        {"ecdsa-p256"}), disallowed_after=date(2030, 6, 30))
    device = DEFAULT.derive(name="device CT01", rules=[rule])
    assert device.check("ecdsa-p256", None, CREATE, date(2030, 6, 30))
    refused = device.check("ecdsa-p256", None, CREATE, date(2030, 7, 1))
    assert not refused and refused.not_allowed_after == date(2030, 6, 30)
    assert device.check("ecdsa-p384", None, CREATE, date(2030, 7, 1))
    assert device.check("ecdsa-p256", None, VERIFY, date(2030, 7, 1))


def _violation(policy: AlgorithmPolicy, name: str) -> PolicyViolation:
    with pytest.raises(PolicyViolation) as info:
        policy.require(name, None, CREATE, TODAY)
    return info.value


# ------------------------------------------------------------------------------------------
# TOML policy files


def _write(tmp_path: Path, text: str, name: str = "site.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_toml_forbids_p256_for_creation(tmp_path: Path) -> None:
    path = _write(tmp_path, """
[rules.site-no-p256]
algorithms = ["ecdsa-p256"]
disallowed = true
reason = "site rule: new signatures use P-384"
""")
    policy = AlgorithmPolicy.from_toml(path)
    assert policy.name == "policy file site.toml"
    decision = policy.check("ecdsa-p256", None, CREATE, TODAY)
    assert not decision and decision.not_allowed_after is None
    with pytest.raises(PolicyViolation) as info:
        decision.raise_for_failure()
    message = str(info.value)
    assert message.startswith("policy file site.toml: ecdsa-p256")
    assert "site rule: new signatures use P-384" in message
    # a site rule is not waivable unless it says so: no hint, and --allow-legacy keeps it
    assert "allow-legacy" not in info.value.diagnostics()
    assert not policy.with_legacy_allowed().check("ecdsa-p256", None, CREATE, TODAY)
    assert policy.check("ecdsa-p384", None, CREATE, TODAY)
    assert policy.check("ecdsa-p256", None, VERIFY, TODAY)
    # the default rules are still there, and still waivable
    assert not policy.check("sha1", None, CREATE, TODAY)
    assert policy.with_legacy_allowed().check("sha1", None, CREATE, TODAY)


def test_toml_waivable_rule_is_lifted_by_allow_legacy_for_creation_only(
        tmp_path: Path) -> None:
    path = _write(tmp_path, """
[rules.site-no-p256]
algorithms = ["ecdsa-p256"]
purposes = ["create", "verify"]
disallowed = true
waivable = true
reason = "site rule: new signatures use P-384"
""")
    policy = AlgorithmPolicy.from_toml(path)
    refused = policy.check("ecdsa-p256", None, CREATE, TODAY)
    assert not refused and "allow-legacy" in refused.hint
    legacy = policy.with_legacy_allowed()
    assert legacy.check("ecdsa-p256", None, CREATE, TODAY)
    # "legacy allowed for creation": verification stays refused, and no hint offers the flag
    for judge in (policy, legacy):
        verify = judge.check("ecdsa-p256", None, VERIFY, TODAY)
        assert not verify and verify.hint == ""


def test_hint_only_when_allow_legacy_would_lift_the_refusal(tmp_path: Path) -> None:
    # a LEGACY status and a default dated rule: the flag lifts them, the hint says so
    assert "allow-legacy" in _violation(DEFAULT, "sha1").diagnostics()
    assert "allow-legacy" in DEFAULT.check("ecdsa-p256", None, CREATE, LATE).hint
    assert DEFAULT.with_legacy_allowed().check("ecdsa-p256", None, CREATE, LATE)
    # a key floor, a FORBIDDEN status, a derived rule without waivable: no hint
    assert DEFAULT.check("rsa-pkcs1v15", 1024, CREATE, TODAY).hint == ""
    assert DEFAULT.with_status("md5", Status.FORBIDDEN).check("md5", None, CREATE,
                                                             TODAY).hint == ""
    site = DEFAULT.with_rules(Rule("site", "site rule", algorithms=frozenset({"ecdsa-p384"}),
                                   disallowed_after=ALWAYS))
    assert not Rule("r", "r").waivable
    assert site.check("ecdsa-p384", None, CREATE, TODAY).hint == ""
    assert not site.with_legacy_allowed().check("ecdsa-p384", None, CREATE, TODAY)
    # a waivable refusal beside one that is not: the flag would not lift it, no hint
    both = site.with_rules(Rule("site-q", "q", algorithms=frozenset({"ecdsa-p384"}),
                                disallowed_after=ALWAYS, waivable=True))
    assert both.check("ecdsa-p384", None, CREATE, TODAY).hint == ""


def test_default_rules_waivable_except_the_floor() -> None:
    waivable = {rule.id: rule.waivable for rule in DEFAULT_RULES}
    assert waivable.pop("sp800-131a-below-112") is False
    assert all(waivable.values())


def test_toml_overriding_a_default_rule_keeps_it_waivable(tmp_path: Path) -> None:
    path = _write(tmp_path, "[rules.ir8547-quantum-vulnerable]\ndisallowed_after = 2030-12-31\n")
    policy = AlgorithmPolicy.from_toml(path)
    assert not policy.check("ecdsa-p256", None, CREATE, MID)
    assert policy.with_legacy_allowed().check("ecdsa-p256", None, CREATE, MID)
    fixed = _write(tmp_path, "[rules.ir8547-quantum-vulnerable]\nwaivable = false\n", "w.toml")
    assert not AlgorithmPolicy.from_toml(fixed).with_legacy_allowed().check(
        "ecdsa-p256", None, CREATE, LATE)


@pytest.mark.parametrize("at", [
    datetime(1, 1, 1, 0, 0, tzinfo=timezone(timedelta(hours=1))),
    datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone(timedelta(hours=-1))),
])
def test_out_of_range_utc_day_is_invalid_input(at: datetime) -> None:
    with pytest.raises(InvalidInput, match="out of range in UTC") as info:
        DEFAULT.check("ecdsa-p256", None, CREATE, at)
    assert "\n" not in str(info.value)


def test_toml_tightens_verification_and_names_itself(tmp_path: Path) -> None:
    path = _write(tmp_path, """
[policy]
name = "hospital policy"

[status]
md5 = "forbidden"

[rules.no-sha1-after-2027]
kinds = ["digest"]
max_strength = 79
purposes = ["create", "verify"]
disallowed_after = 2027-06-30
reason = "digests this weak are not accepted here"
waivable = false
""")
    policy = AlgorithmPolicy.from_toml(path).with_legacy_allowed()
    assert not policy.check("md5", None, VERIFY, TODAY)
    assert policy.check("sha1", None, VERIFY, TODAY)
    late = policy.check("sha1", None, VERIFY, date(2027, 7, 1))
    assert not late and late.not_allowed_after == date(2027, 6, 30)
    assert "disallowed for new signatures and verification after 2027-06-30" in late.reason
    assert late.policy == "hospital policy"
    assert policy.check("ripemd160", None, VERIFY, date(2030, 1, 1))  # 80-bit: not selected


def test_toml_loosens_moves_a_date_and_disables_a_rule(tmp_path: Path) -> None:
    path = _write(tmp_path, """
[policy]
allow_legacy = true

[rules.ir8547-quantum-vulnerable]
disallowed_after = 2037-12-31

[rules.ir8547-112-bit]
enabled = false
""")
    policy = AlgorithmPolicy.from_toml(path)
    assert policy.allow_legacy
    assert policy.rule("ir8547-quantum-vulnerable").disallowed_after == date(2037, 12, 31)
    assert policy.rule("ir8547-quantum-vulnerable").source == "NIST IR 8547 ipd"
    p256 = policy.check("ecdsa-p256", None, CREATE, LATE)
    assert p256 and not p256.legacy
    assert p256.not_allowed_after is None  # legacy allowed: creation has no end any more
    strict = policy.with_legacy_allowed(False).check("ecdsa-p256", None, CREATE, LATE)
    assert strict and strict.not_allowed_after == date(2037, 12, 31)
    assert not policy.check("rsa-pkcs1v15", 2048, CREATE, MID).deprecated
    assert policy.check("sha1", None, CREATE, TODAY)  # allow_legacy from the file


def test_toml_empty_base(tmp_path: Path) -> None:
    path = _write(tmp_path, '[policy]\nbase = "empty"\n')
    policy = AlgorithmPolicy.from_toml(path)
    assert policy.rules == ()
    assert policy.check("ecdsa-p256", None, CREATE, LATE)
    assert not policy.check("sha1", None, CREATE, LATE)  # registry status still counts


def test_toml_over_a_given_base(tmp_path: Path) -> None:
    path = _write(tmp_path, "")
    policy = AlgorithmPolicy.from_toml(path, base=AlgorithmPolicy.default(allow_legacy=True))
    assert policy.allow_legacy and policy.rules == DEFAULT.rules


BAD_FILES = {
    "syntax": ("[rules\n", "not valid TOML"),
    "top-key": ("colour = 'red'\n", "unknown key 'colour'"),
    "policy-key": ("[policy]\nallow = true\n", "unknown key 'allow'"),
    "base": ("[policy]\nbase = 'strict'\n", "base must be"),
    "allow-type": ("[policy]\nallow_legacy = 'yes'\n", "allow_legacy must be true or false"),
    "name-type": ("[policy]\nname = 3\n", "name must be a str"),
    "rules-type": ("rules = 3\n", "rules must be a table"),
    "rule-key": ("[rules.x]\ncolour = 1\n", "[rules.x]: unknown key 'colour'"),
    "rule-type": ("[rules]\nx = 1\n", "[rules.x] must be a table"),
    "date": ("[rules.ir8547-112-bit]\ndisallowed_after = 'soon'\n", "must be a date"),
    "algorithm": ("[rules.x]\nalgorithms = ['sha999']\nreason = 'r'\ndisallowed = true\n",
                  "unknown algorithm 'sha999'"),
    "algorithms-type": ("[rules.x]\nalgorithms = 'sha1'\n", "non-empty list"),
    "kind": ("[rules.x]\nkinds = ['hash']\n", "unknown value"),
    "family": ("[rules.x]\nfamilies = 'rsa'\n", "must be a list"),
    "purposes-empty": ("[rules.x]\npurposes = []\n", "at least one purpose"),
    "strength-negative": ("[rules.x]\nmax_strength = -1\n", "must not be negative"),
    "strength-bool": ("[rules.x]\nmax_strength = true\n", "must be a int"),
    "no-reason": ("[rules.x]\nalgorithms = ['sha1']\ndisallowed = true\n", "needs a reason"),
    "no-selection": ("[rules.x]\nreason = 'r'\ndisallowed = true\n", "needs algorithms"),
    "no-date": ("[rules.x]\nreason = 'r'\nkinds = ['digest']\n", "needs deprecated_after"),
    "disallowed-false": ("[rules.x]\ndisallowed = false\n", "means nothing"),
    "both": ("[rules.x]\ndisallowed = true\ndisallowed_after = 2030-01-01\n", "not both"),
    "disable-unknown": ("[rules.nope]\nenabled = false\n", "has no such rule"),
    "status-name": ("[status]\nsha999 = 'legacy'\n", "unknown algorithm 'sha999'"),
    "status-value": ("[status]\nmd5 = 'banned'\n", "must be one of"),
    "status-type": ("[status]\nmd5 = 1\n", "must be one of"),
    "date-before-year-1": ("[rules.x]\nreason = 'r'\nkinds = ['digest']\n"
                           "disallowed_after = 0001-01-01T00:00:00+01:00\n", "out of range"),
    "date-after-year-9999": ("[rules.x]\nreason = 'r'\nkinds = ['digest']\n"
                             "deprecated_after = 9999-12-31T23:59:59-01:00\n", "out of range"),
}


@pytest.mark.parametrize(("text", "expected"), BAD_FILES.values(), ids=list(BAD_FILES))
def test_bad_policy_files(tmp_path: Path, text: str, expected: str) -> None:
    path = _write(tmp_path, text, "bad.toml")
    with pytest.raises(InvalidInput) as info:
        AlgorithmPolicy.from_toml(path)
    message = str(info.value)
    assert expected in message
    assert message.startswith(f"{path}: algorithm policy: ")
    assert "\n" not in message


def test_unreadable_policy_files(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="cannot read the file"):
        AlgorithmPolicy.from_toml(tmp_path / "missing.toml")
    with pytest.raises(InvalidInput, match="cannot read the file"):
        AlgorithmPolicy.from_toml(tmp_path)
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"name = '\xff'\n")
    with pytest.raises(InvalidInput, match="not UTF-8"):
        AlgorithmPolicy.from_toml(binary)


def test_documented_example_is_a_valid_policy(tmp_path: Path) -> None:
    doc = (ROOT / "docs" / "algorithm-policy.md").read_text(encoding="utf-8")
    example = doc.split("```toml\n", 1)[1].split("```", 1)[0]
    policy = AlgorithmPolicy.from_toml(_write(tmp_path, example))
    assert not policy.check("ecdsa-p256", None, CREATE, TODAY)
    assert policy.check("ecdsa-p384", None, CREATE, TODAY)


# ------------------------------------------------------------------------------------------
# the rules and their documentation


def test_every_default_rule_has_a_source_and_is_documented() -> None:
    doc = (ROOT / "docs" / "algorithm-policy.md").read_text(encoding="utf-8")
    for rule in DEFAULT_RULES:
        assert rule.source and rule.reason and rule.selects_something()
        assert f"`{rule.id}`" in doc, f"{rule.id} is not in docs/algorithm-policy.md"
    assert len({rule.id for rule in DEFAULT_RULES}) == len(DEFAULT_RULES)


def test_rules_select_by_registry_records() -> None:
    quantum = {a.name for a in algorithms.all_algorithms() if a.quantum_vulnerable}
    assert {"rsa-pkcs1v15", "ecdsa-p256", "ed25519", "x25519", "rsa-oaep"} <= quantum
    assert not {a.name for a in algorithms.all_algorithms()
                if a.family is Family.MLDSA or a.kind is Kind.KEM} & quantum
    rule = Rule("r", "r", kinds=frozenset({Kind.DIGEST}), min_strength=100)
    assert rule.matches(algorithms.by_name("sha256"), 128)
    assert not rule.matches(algorithms.by_name("sha256"), None)
    assert not Rule("empty", "selects nothing").matches(algorithms.by_name("sha256"), 128)


# ------------------------------------------------------------------------------------------
# importing stays cheap


def test_import_is_silent_and_light() -> None:
    code = ("import sys, dicomsec.algorithms.policy; "
            "print(sorted(m for m in sys.modules if m.startswith(('cryptography', 'tomllib', "
            "'pydicom'))))")
    proc = subprocess.run([sys.executable, "-W", "error", "-c", code], capture_output=True,
                          text=True, timeout=120, check=False, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]" and proc.stderr == ""
