#!/bin/sh
# Make the BouncyCastle vector set tests/data/secure-files/bc/*.cms (see its MANIFEST.md).
# Needs Java 17 (javac) and BouncyCastle 1.72 from Debian: apt-get install -y default-jdk-headless
# libbcprov-java libbcpkix-java (jars in /usr/share/java). Nothing is downloaded.
# Usage: tools/bc-vectors/make-vectors.sh [OUTDIR]   (default tests/data/secure-files/bc)
# Each run draws fresh keys, salts and IVs: the committed files are one run's snapshot.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
OUT=${1:-$ROOT/tests/data/secure-files/bc}
. "$HERE/classpath.sh"
DICOM=$("$ROOT/.venv/bin/python" -c 'import pydicom, pathlib; print(pathlib.Path(pydicom.__file__).parent / "data" / "test_files" / "CT_small.dcm")')
"$HERE/bc.sh" write "$ROOT/tests/data/pki-cms" "$DICOM" "$OUT"
