"""Secure transport: the PS3.15 B.12 / B.13 TLS profiles (Supplement 230).

``tls`` builds server and client ``ssl.SSLContext`` objects for the profiles and checks peer
certificates after the handshake. DIMSE over TLS, the endpoint scanner and the Conformance
Statement section build on it (issue #4, in progress).
"""
