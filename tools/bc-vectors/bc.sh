#!/bin/sh
# Compile BcVectors.java once (into $BC_BUILD, default a private folder under /tmp) and run it.
# bc.sh write PKI DICOM OUTDIR | bc.sh read IN OUT [--key K --cert C] [--kek HEXFILE --kek-id HEX]
#                                                 [--password-file F]
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/classpath.sh"
BUILD=${BC_BUILD:-${TMPDIR:-/tmp}/dicomsec-bc-vectors-$(id -u)}
mkdir -p "$BUILD"
if [ ! -f "$BUILD/BcVectors.class" ] || [ "$HERE/BcVectors.java" -nt "$BUILD/BcVectors.class" ]; then
    javac -nowarn -encoding UTF-8 -cp "$BC_JARS" -d "$BUILD" "$HERE/BcVectors.java"
fi
exec java -cp "$BUILD:$BC_JARS" BcVectors "$@"
