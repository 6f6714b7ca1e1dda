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
"""

from __future__ import annotations
