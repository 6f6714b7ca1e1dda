# Sourced by make-vectors.sh and bc.sh: BouncyCastle 1.72 jars from Debian's packages.
BC_JARS=/usr/share/java/bcprov-1.72.jar:/usr/share/java/bcpkix-1.72.jar:/usr/share/java/bcutil-1.72.jar
for jar in $(echo "$BC_JARS" | tr ':' ' '); do
    [ -f "$jar" ] || { echo "missing $jar: apt-get install -y libbcprov-java libbcpkix-java" >&2; exit 2; }
done
