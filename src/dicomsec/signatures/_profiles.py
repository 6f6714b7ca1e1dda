"""Signature profiles of PS3.15 Annex C: what each one demands of a signature.

No attribute names the profile of a signature: conformance is judged from what was signed,
with which key family and MAC algorithm (as DCMTK dcmsign does). Tag lists come from
``data/signature_profile_tags.json`` (extracted from dcmsign 3.6.7, DICOM 2019c).

The standard's profiles name RSA only; the proposed profiles keep the same attribute rules with
ECDSA, EdDSA and ML-DSA keys. So a profile accepts every non-legacy signature scheme of the
registry, and the reports name the scheme used.
"""

from __future__ import annotations

import enum
import functools
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from dicomsec import algorithms
from dicomsec._rawdicom import Element

__all__ = ["PURPOSES", "Profile", "ProfileRules", "profile_problems", "required_tags"]

#: ASTM E1762 signature purposes (CID 7007), coding scheme ``ASTM-sigpurpose``.
#: Meanings are inside the MAC: they must stay byte-identical to what dcmsign writes.
PURPOSES: dict[int, str] = {
    1: "Author's Signature",
    2: "Coauthor's Signature",
    3: "Co-participant's Signature",
    4: "Transcriptionist/Recorder Signature",
    5: "Verification Signature",
    6: "Validation Signature",
    7: "Consent Signature",
    8: "Signature Witness Signature",
    9: "Event Witness Signature",
    10: "Identity Witness Signature",
    11: "Consent Witness Signature",
    12: "Interpreter Signature",
    13: "Review Signature",
    14: "Source Signature",
    15: "Addendum Signature",
    16: "Modification Signature",
    17: "Administrative (Error/Edit) Signature",
    18: "Timestamp Signature",
}
PURPOSE_SCHEME = "ASTM-sigpurpose"

CREATOR_VERSION_UID = 0x00089123
VERIFICATION_FLAG = 0x0040A493
_CURVE_ELEMENTS = (0x0005, 0x0010, 0x0022, 0x0030, 0x0040, 0x0103, 0x0104, 0x0105, 0x0106,
                   0x0110, 0x0112, 0x0114, 0x2500, 0x2600, 0x3000)


class Profile(enum.Enum):
    NONE = "none"
    BASE = "base"
    CREATOR = "creator"
    AUTHORIZATION = "authorization"
    SR = "sr"
    SR_VERIFICATION = "sr-verification"


@dataclass(frozen=True, slots=True)
class ProfileRules:
    if_present: frozenset[int]
    always: frozenset[int]
    private_with_creator_uid: bool = False


def _parse_tag(text: str) -> int:
    g, e = text.strip("()").split(",")
    return (int(g, 16) << 16) | int(e, 16)


@functools.cache
def _rules(profile: Profile) -> ProfileRules:
    if profile in (Profile.NONE, Profile.BASE):
        return ProfileRules(frozenset(), frozenset())
    # a plain path (the package is installed as files): importlib.resources would import
    # tempfile, shutil, zipfile and the compression modules for the same read
    table = Path(__file__).resolve().parent.parent / "data" / "signature_profile_tags.json"
    data = json.loads(table.read_text(encoding="utf-8"))["profiles"]

    def tags(name: str, key: str) -> frozenset[int]:
        return frozenset(_parse_tag(t["tag"]) for t in data[name][key])

    if profile is Profile.SR_VERIFICATION:
        return ProfileRules(
            tags("sr", "required_if_present")
            | tags("sr_verification_extra", "required_if_present"),
            tags("sr", "required_always") | tags("sr_verification_extra", "required_always"),
        )
    return ProfileRules(
        tags(profile.value, "required_if_present"),
        tags(profile.value, "required_always"),
        private_with_creator_uid=profile in (Profile.CREATOR, Profile.AUTHORIZATION),
    )


def _is_curve(tag: int) -> bool:
    group = tag >> 16
    return 0x5000 <= group <= 0x501E and group % 2 == 0 and (tag & 0xFFFF) in _CURVE_ELEMENTS


def required_tags(profile: Profile, present: Iterable[Element]) -> tuple[set[int], set[int]]:
    """(tags the profile requires that are present, required tags that are missing)."""
    rules = _rules(profile)
    els = list(present)
    tags = {e.tag for e in els}
    need = {t for t in tags if t in rules.if_present or t in rules.always}
    if rules.private_with_creator_uid:
        need |= {t for t in tags if _is_curve(t)}
        if CREATOR_VERSION_UID in tags:
            need |= {t for t in tags if (t >> 16) & 1 and t & 0xFFFF}
    return need, set(rules.always - tags)


def profile_problems(
    profile: Profile,
    *,
    level_elements: Iterable[Element],
    signed: frozenset[int] | set[int],
    scheme: algorithms.Algorithm | None,
    mac: algorithms.Algorithm | None,
    purpose: int | None,
    main_level: bool,
    verification_flag: str | None,
    creating: bool,
    sr_document: bool = True,
) -> list[str]:
    """What keeps a signature from satisfying ``profile`` (empty list: satisfied)."""
    problems: list[str] = []
    if profile is Profile.NONE:
        return problems
    if scheme is None or mac is None:
        return ["algorithm unknown"]
    if mac.dicom_term is None:
        problems.append(f"MAC algorithm {mac.name} has no DICOM defined term")
    if scheme.status is algorithms.Status.LEGACY:
        problems.append(f"signature scheme {scheme.name} is legacy")
    # Validators accept the legacy MAC terms (PS3.15 C.1); creators may not use them here.
    if creating and mac.legacy:
        problems.append(f"MAC algorithm {mac.dicom_term} is legacy")
    if profile is Profile.BASE:
        return problems
    if not main_level:
        problems.append(f"the {profile.value} profile applies to the main data set only")
        return problems
    from dicomsec._rawdicom import tag_str

    need, missing = required_tags(profile, level_elements)
    unsigned = need - set(signed)
    if not creating and (missing or unsigned):
        # verification only asks whether the profile is met: skip the keyword lookups
        return [*problems, "required attributes absent or not signed"]
    for tag in sorted(missing):
        problems.append(f"required attribute {_name(tag)} {tag_str(tag)} is absent")
    for tag in sorted(unsigned):
        problems.append(f"attribute {_name(tag)} {tag_str(tag)} is not signed")
    if profile in (Profile.SR, Profile.SR_VERIFICATION) and not sr_document:
        problems.append("the SR profile applies to SR documents only")
    if profile in (Profile.SR, Profile.SR_VERIFICATION) and purpose is None:
        problems.append("the SR profile requires a Digital Signature Purpose Code")
    if profile is Profile.SR_VERIFICATION:
        if purpose != 5:
            problems.append("an SR verification signature needs purpose 5 (Verification)")
        if verification_flag != "VERIFIED":
            problems.append("the SR is not VERIFIED (Verification Flag)")
    return problems


def _name(tag: int) -> str:
    from pydicom.datadict import keyword_for_tag

    return keyword_for_tag(tag) or "private"
