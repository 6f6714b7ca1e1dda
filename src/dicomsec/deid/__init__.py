"""De-identification per PS3.15 Annex E (the Basic Application Level Confidentiality Profile
and its options), reversible through the Encrypted Attributes Sequence (PS3.3 C.12.1.1.4).

Layout (each job in its own module):

- ``_rules``: Table E.1-1 as generated rules (``data/rules.json``, ``tools/deid-rules.py``);
- ``_types``: attribute types per IOD, which decide the combined action codes;
- ``_engine`` (with ``_replace``, ``_clean``): makes the de-identified data set and the item
  of original values;
- ``_pixels`` (with ``_ocr``): burned-in text found and blanked in the stored pixels;
- ``_envelope``: the Encrypted Attributes Sequence items (CMS through :mod:`dicomsec.cms`);
- ``_reid``: re-identification;
- ``_file``, ``_batch``, ``_report``: files, batches and their reports.

Public API (every name imported on first use: ``dicomsec deid`` pays only for what it runs)::

    deidentify_file(src, dst, config: DeidConfig, *, handlers=None) -> DeidReport     (paths)
    reidentify_file(src, dst, credentials, *, policy=None, handlers=None) -> ReidReport
    deidentify_dataset(ds, Settings(options, secret)) -> EngineResult      (pydicom)
    reidentify_dataset(ds, credentials, *, policy=None) -> ReidResult      (pydicom)
    encrypted_attributes(originals, groups, *, mode="modern") -> Sequence  (pydicom)
    recipient_groups(to, attributes_for) -> tuple[RecipientGroup, ...]
    clean_pixels(ds, rules, *, ocr=True) -> PixelResult

:class:`DeidConfig` is frozen and picklable (paths and bytes), so worker processes take it as
it is. Reports follow :class:`dicomsec.report.Report` and never hold an original value.
Expected risks (burned-in text not cleaned) are report flags; exceptions mean the work could
not be done (:class:`~dicomsec.errors.InvalidInput`, :class:`~dicomsec.errors.PolicyViolation`
for a ``strict`` refusal, :class:`~dicomsec.errors.DecryptionFailed`), and then nothing is
written. See ``docs/deid.md``.

Audit: the file functions take ``handlers`` (:mod:`dicomsec.events`) and give them one event
per file: DEIDENTIFY (the output's study, anonymized, and the original patient), REIDENTIFY
(outcome 0, or 4 with an Alert Description), POLICY_VIOLATION for a refusal. Batch jobs
(``_batch.audited_deid_job`` / ``audited_reid_job``) collect them in the worker and return
them for the parent to re-emit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dicomsec._lazy import lazy_exports

if TYPE_CHECKING:
    from dicomsec.deid._engine import EngineResult, Settings, deidentify_dataset
    from dicomsec.deid._envelope import (
        MODES,
        Opened,
        RecipientGroup,
        encrypted_attributes,
        open_encrypted_attributes,
        parse_attributes_for,
        recipient_groups,
    )
    from dicomsec.deid._file import DeidConfig, deidentify_file, reidentify_file
    from dicomsec.deid._pixels import (
        PixelResult,
        PixelRules,
        Region,
        burned_in_risk,
        clean_pixels,
        default_pixel_rules,
        load_pixel_rules,
        visual_features_risk,
    )
    from dicomsec.deid._reid import ReidResult, reidentify_dataset
    from dicomsec.deid._report import DeidReport, ReidReport
    from dicomsec.deid._rules import Option

__all__ = [
    "MODES", "DeidConfig", "DeidReport", "EngineResult", "Opened", "Option", "PixelResult",
    "PixelRules", "RecipientGroup", "Region", "ReidReport", "ReidResult", "Settings",
    "burned_in_risk", "clean_pixels", "default_pixel_rules", "deidentify_dataset",
    "deidentify_file", "encrypted_attributes", "load_pixel_rules", "open_encrypted_attributes",
    "parse_attributes_for", "recipient_groups", "reidentify_dataset", "reidentify_file",
    "visual_features_risk",
]

#: where each public name lives: imported on first use
_LAZY = {
    "EngineResult": "_engine", "Settings": "_engine", "deidentify_dataset": "_engine",
    "MODES": "_envelope", "Opened": "_envelope", "RecipientGroup": "_envelope",
    "encrypted_attributes": "_envelope", "open_encrypted_attributes": "_envelope",
    "parse_attributes_for": "_envelope", "recipient_groups": "_envelope",
    "DeidConfig": "_file", "deidentify_file": "_file", "reidentify_file": "_file",
    "PixelResult": "_pixels", "PixelRules": "_pixels", "Region": "_pixels",
    "burned_in_risk": "_pixels", "clean_pixels": "_pixels",
    "default_pixel_rules": "_pixels", "load_pixel_rules": "_pixels",
    "visual_features_risk": "_pixels",
    "ReidResult": "_reid", "reidentify_dataset": "_reid",
    "DeidReport": "_report", "ReidReport": "_report",
    "Option": "_rules",
}


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, __all__)
