#!/usr/bin/env python3
"""Copy the NIST PKITS files that tests/trust/test_pkits.py uses into tests/data/pkits.

Usage: python tools/pkits-import.py WHEEL

WHEEL is the ``cryptography-vectors`` wheel from PyPI (a zip, e.g.
``pip download --no-deps cryptography-vectors==50.0.2``), which carries PKITS under
``cryptography_vectors/x509/PKITS_data/{certs,crls}``. The list of files is read from the test's
own table (``CASES``, ``CRL_NAMES``), so the data and the test cannot drift apart. Rerunning it
rewrites the folder.
"""

from __future__ import annotations

import shutil
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "data" / "pkits"
PREFIX = "cryptography_vectors/x509/PKITS_data/"

README = """# NIST PKITS (subset)

Source: NIST Public Key Interoperability Test Suite (PKITS), the 2011 edition (certificates
valid 2010-2030, RSA-2048 with SHA-256), "Test Certificates 2011". A work of the US Government
(NIST), not subject to copyright in the United States (public domain).

Copied from the `cryptography-vectors` wheel ({wheel}), path
`cryptography_vectors/x509/PKITS_data/`, by `tools/pkits-import.py`: only the {count} files that
`tests/trust/test_pkits.py` uses (sections 4.1-4.4, 4.6, 4.7). Regenerate with

    python tools/pkits-import.py path/to/cryptography_vectors-*.whl

`certs/` holds DER certificates, `crls/` DER CRLs, names unchanged.
"""


def wanted() -> list[str]:
    sys.path.insert(0, str(ROOT))
    from tests.trust import test_pkits as t

    names = [f"certs/{t.ANCHOR}.crt", f"crls/{t.ANCHOR_CRL}.crl"]
    for case in t.CASES:
        certs, crls, ee = t.files_of(case)
        names += [f"certs/{p.name}" for p in (*certs, ee)]
        names += [f"crls/{p.name}" for p in crls]
    return sorted(set(names))


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: pkits-import.py WHEEL", file=sys.stderr)
        return 2
    wheel = Path(argv[1])
    names = wanted()
    for sub in ("certs", "crls"):
        shutil.rmtree(OUT / sub, ignore_errors=True)
        (OUT / sub).mkdir(parents=True)
    with zipfile.ZipFile(wheel) as z:
        for name in names:
            (OUT / name).write_bytes(z.read(PREFIX + name))
    (OUT / "README.md").write_text(README.format(wheel=wheel.name, count=len(names)))
    print(f"{len(names)} files from {wheel.name} into {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
