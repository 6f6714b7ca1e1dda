"""A TLS echo server on 127.0.0.1 built with dicomsec's profile contexts (run as a subprocess).

Usage: python tls_server.py PROFILE TRUST CERT KEY [CERT KEY] [--no-client-auth]
Prints the port on the first line, then one line per connection: OK <version> <cipher> or
REJECT <reason>. The OpenSSL configuration is arranged before ``ssl`` is imported, as the
command line tool does.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path

from dicomsec.transport import tls
from dicomsec.trust import TrustStore


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    name, trust, pairs = args[0], Path(args[1]), args[2:]
    tls.arrange_openssl_conf(name)
    import socket
    import ssl

    ctx = tls.server_context(
        name, [(Path(pairs[i]), Path(pairs[i + 1])) for i in range(0, len(pairs), 2)],
        TrustStore.from_paths([trust]), require_client_cert="--no-client-auth" not in sys.argv)
    missing = tls.missing_suites(ctx, name)
    listener = socket.create_server(("127.0.0.1", 0))
    print(listener.getsockname()[1], "MISSING:" + ",".join(missing), flush=True)

    def serve(conn: socket.socket) -> None:
        conn.settimeout(10)
        try:
            with ctx.wrap_socket(conn, server_side=True) as tconn:
                info = tls.negotiated(tconn)
                print("OK", info["version"], info["cipher"], flush=True)
                data = tconn.recv(1024)
                tconn.sendall(data or b"")
        except (ssl.SSLError, OSError) as exc:
            print("REJECT", str(exc).replace("\n", " ")[:200], flush=True)

    while True:
        conn, _ = listener.accept()
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    main()
