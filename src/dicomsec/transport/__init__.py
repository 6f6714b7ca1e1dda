"""Secure transport: the PS3.15 B.12 / B.13 TLS profiles (Supplement 230).

- ``tls``: server and client ``ssl.SSLContext`` objects for the profiles, the OpenSSL
  configuration they need (arranged before ``ssl`` is imported) and the post-handshake
  certificate policy.
- ``dimse``: DIMSE over TLS with pynetdicom: Storage/Verification SCP with the handshake in the
  worker thread, Storage SCU, C-ECHO.
- ``scan``: the endpoint scanner behind ``dicomsec tls-check``.
- ``conformance``: the security section of a Conformance Statement, from the same options.
"""
