"""IANA TLS registries the transport package needs, in one place: cipher suites, named groups,
signature schemes, protocol versions and alert descriptions.

Low-level: names and codes only; what a profile allows is decided in ``tls`` (contexts) and
``scan`` (judging a server). Each suite's traits (key exchange, authentication, cipher, mode)
are read from its IANA name, so a code that only appears in the registry is judged like the
rest. Sources: the IANA "TLS Parameters" registry (cipher suites, supported groups, signature
schemes), RFC 8446 and RFC 5246; OpenSSL names from ``openssl ciphers -V -stdname``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "ALERTS",
    "GROUPS",
    "SIGALGS",
    "SUITES",
    "TLS12_PROBE_CODES",
    "TLS13_PROBE_CODES",
    "VERSIONS",
    "Group",
    "SignatureScheme",
    "SuiteTraits",
    "group_by_openssl",
    "group_name",
    "sigalg_by_openssl",
    "suite_by_openssl",
    "suite_name",
    "traits",
]

#: IANA cipher suite code -> (IANA name, OpenSSL name or "" when OpenSSL 3.0 lacks it)
SUITES: dict[int, tuple[str, str]] = {
    0x0001: ("TLS_RSA_WITH_NULL_MD5", "NULL-MD5"),
    0x0002: ("TLS_RSA_WITH_NULL_SHA", "NULL-SHA"),
    0x0003: ("TLS_RSA_EXPORT_WITH_RC4_40_MD5", ""),
    0x0004: ("TLS_RSA_WITH_RC4_128_MD5", "RC4-MD5"),
    0x0005: ("TLS_RSA_WITH_RC4_128_SHA", "RC4-SHA"),
    0x0006: ("TLS_RSA_EXPORT_WITH_RC2_CBC_40_MD5", ""),
    0x0008: ("TLS_RSA_EXPORT_WITH_DES40_CBC_SHA", ""),
    0x0009: ("TLS_RSA_WITH_DES_CBC_SHA", ""),
    0x000A: ("TLS_RSA_WITH_3DES_EDE_CBC_SHA", "DES-CBC3-SHA"),
    0x000D: ("TLS_DH_DSS_WITH_3DES_EDE_CBC_SHA", ""),
    0x0010: ("TLS_DH_RSA_WITH_3DES_EDE_CBC_SHA", ""),
    0x0011: ("TLS_DHE_DSS_EXPORT_WITH_DES40_CBC_SHA", ""),
    0x0012: ("TLS_DHE_DSS_WITH_DES_CBC_SHA", ""),
    0x0013: ("TLS_DHE_DSS_WITH_3DES_EDE_CBC_SHA", "DHE-DSS-DES-CBC3-SHA"),
    0x0014: ("TLS_DHE_RSA_EXPORT_WITH_DES40_CBC_SHA", ""),
    0x0015: ("TLS_DHE_RSA_WITH_DES_CBC_SHA", ""),
    0x0016: ("TLS_DHE_RSA_WITH_3DES_EDE_CBC_SHA", "DHE-RSA-DES-CBC3-SHA"),
    0x0017: ("TLS_DH_anon_EXPORT_WITH_RC4_40_MD5", ""),
    0x0018: ("TLS_DH_anon_WITH_RC4_128_MD5", ""),
    0x001B: ("TLS_DH_anon_WITH_3DES_EDE_CBC_SHA", "ADH-DES-CBC3-SHA"),
    0x002C: ("TLS_PSK_WITH_NULL_SHA", "PSK-NULL-SHA"),
    0x002D: ("TLS_DHE_PSK_WITH_NULL_SHA", "DHE-PSK-NULL-SHA"),
    0x002E: ("TLS_RSA_PSK_WITH_NULL_SHA", "RSA-PSK-NULL-SHA"),
    0x002F: ("TLS_RSA_WITH_AES_128_CBC_SHA", "AES128-SHA"),
    0x0030: ("TLS_DH_DSS_WITH_AES_128_CBC_SHA", ""),
    0x0031: ("TLS_DH_RSA_WITH_AES_128_CBC_SHA", ""),
    0x0032: ("TLS_DHE_DSS_WITH_AES_128_CBC_SHA", "DHE-DSS-AES128-SHA"),
    0x0033: ("TLS_DHE_RSA_WITH_AES_128_CBC_SHA", "DHE-RSA-AES128-SHA"),
    0x0034: ("TLS_DH_anon_WITH_AES_128_CBC_SHA", "ADH-AES128-SHA"),
    0x0035: ("TLS_RSA_WITH_AES_256_CBC_SHA", "AES256-SHA"),
    0x0036: ("TLS_DH_DSS_WITH_AES_256_CBC_SHA", ""),
    0x0037: ("TLS_DH_RSA_WITH_AES_256_CBC_SHA", ""),
    0x0038: ("TLS_DHE_DSS_WITH_AES_256_CBC_SHA", "DHE-DSS-AES256-SHA"),
    0x0039: ("TLS_DHE_RSA_WITH_AES_256_CBC_SHA", "DHE-RSA-AES256-SHA"),
    0x003A: ("TLS_DH_anon_WITH_AES_256_CBC_SHA", "ADH-AES256-SHA"),
    0x003B: ("TLS_RSA_WITH_NULL_SHA256", "NULL-SHA256"),
    0x003C: ("TLS_RSA_WITH_AES_128_CBC_SHA256", "AES128-SHA256"),
    0x003D: ("TLS_RSA_WITH_AES_256_CBC_SHA256", "AES256-SHA256"),
    0x0040: ("TLS_DHE_DSS_WITH_AES_128_CBC_SHA256", "DHE-DSS-AES128-SHA256"),
    0x0041: ("TLS_RSA_WITH_CAMELLIA_128_CBC_SHA", "CAMELLIA128-SHA"),
    0x0044: ("TLS_DHE_DSS_WITH_CAMELLIA_128_CBC_SHA", "DHE-DSS-CAMELLIA128-SHA"),
    0x0045: ("TLS_DHE_RSA_WITH_CAMELLIA_128_CBC_SHA", "DHE-RSA-CAMELLIA128-SHA"),
    0x0046: ("TLS_DH_anon_WITH_CAMELLIA_128_CBC_SHA", "ADH-CAMELLIA128-SHA"),
    0x0067: ("TLS_DHE_RSA_WITH_AES_128_CBC_SHA256", "DHE-RSA-AES128-SHA256"),
    0x006A: ("TLS_DHE_DSS_WITH_AES_256_CBC_SHA256", "DHE-DSS-AES256-SHA256"),
    0x006B: ("TLS_DHE_RSA_WITH_AES_256_CBC_SHA256", "DHE-RSA-AES256-SHA256"),
    0x006C: ("TLS_DH_anon_WITH_AES_128_CBC_SHA256", "ADH-AES128-SHA256"),
    0x006D: ("TLS_DH_anon_WITH_AES_256_CBC_SHA256", "ADH-AES256-SHA256"),
    0x0084: ("TLS_RSA_WITH_CAMELLIA_256_CBC_SHA", "CAMELLIA256-SHA"),
    0x0087: ("TLS_DHE_DSS_WITH_CAMELLIA_256_CBC_SHA", "DHE-DSS-CAMELLIA256-SHA"),
    0x0088: ("TLS_DHE_RSA_WITH_CAMELLIA_256_CBC_SHA", "DHE-RSA-CAMELLIA256-SHA"),
    0x0089: ("TLS_DH_anon_WITH_CAMELLIA_256_CBC_SHA", "ADH-CAMELLIA256-SHA"),
    0x008C: ("TLS_PSK_WITH_AES_128_CBC_SHA", "PSK-AES128-CBC-SHA"),
    0x008D: ("TLS_PSK_WITH_AES_256_CBC_SHA", "PSK-AES256-CBC-SHA"),
    0x0090: ("TLS_DHE_PSK_WITH_AES_128_CBC_SHA", "DHE-PSK-AES128-CBC-SHA"),
    0x0091: ("TLS_DHE_PSK_WITH_AES_256_CBC_SHA", "DHE-PSK-AES256-CBC-SHA"),
    0x0094: ("TLS_RSA_PSK_WITH_AES_128_CBC_SHA", "RSA-PSK-AES128-CBC-SHA"),
    0x0095: ("TLS_RSA_PSK_WITH_AES_256_CBC_SHA", "RSA-PSK-AES256-CBC-SHA"),
    0x009C: ("TLS_RSA_WITH_AES_128_GCM_SHA256", "AES128-GCM-SHA256"),
    0x009D: ("TLS_RSA_WITH_AES_256_GCM_SHA384", "AES256-GCM-SHA384"),
    0x009E: ("TLS_DHE_RSA_WITH_AES_128_GCM_SHA256", "DHE-RSA-AES128-GCM-SHA256"),
    0x009F: ("TLS_DHE_RSA_WITH_AES_256_GCM_SHA384", "DHE-RSA-AES256-GCM-SHA384"),
    0x00A0: ("TLS_DH_RSA_WITH_AES_128_GCM_SHA256", ""),
    0x00A1: ("TLS_DH_RSA_WITH_AES_256_GCM_SHA384", ""),
    0x00A2: ("TLS_DHE_DSS_WITH_AES_128_GCM_SHA256", "DHE-DSS-AES128-GCM-SHA256"),
    0x00A3: ("TLS_DHE_DSS_WITH_AES_256_GCM_SHA384", "DHE-DSS-AES256-GCM-SHA384"),
    0x00A4: ("TLS_DH_DSS_WITH_AES_128_GCM_SHA256", ""),
    0x00A5: ("TLS_DH_DSS_WITH_AES_256_GCM_SHA384", ""),
    0x00A6: ("TLS_DH_anon_WITH_AES_128_GCM_SHA256", "ADH-AES128-GCM-SHA256"),
    0x00A7: ("TLS_DH_anon_WITH_AES_256_GCM_SHA384", "ADH-AES256-GCM-SHA384"),
    0x00A8: ("TLS_PSK_WITH_AES_128_GCM_SHA256", "PSK-AES128-GCM-SHA256"),
    0x00A9: ("TLS_PSK_WITH_AES_256_GCM_SHA384", "PSK-AES256-GCM-SHA384"),
    0x00AA: ("TLS_DHE_PSK_WITH_AES_128_GCM_SHA256", "DHE-PSK-AES128-GCM-SHA256"),
    0x00AB: ("TLS_DHE_PSK_WITH_AES_256_GCM_SHA384", "DHE-PSK-AES256-GCM-SHA384"),
    0x00AC: ("TLS_RSA_PSK_WITH_AES_128_GCM_SHA256", "RSA-PSK-AES128-GCM-SHA256"),
    0x00AD: ("TLS_RSA_PSK_WITH_AES_256_GCM_SHA384", "RSA-PSK-AES256-GCM-SHA384"),
    0x00AE: ("TLS_PSK_WITH_AES_128_CBC_SHA256", "PSK-AES128-CBC-SHA256"),
    0x00AF: ("TLS_PSK_WITH_AES_256_CBC_SHA384", "PSK-AES256-CBC-SHA384"),
    0x00B0: ("TLS_PSK_WITH_NULL_SHA256", "PSK-NULL-SHA256"),
    0x00B1: ("TLS_PSK_WITH_NULL_SHA384", "PSK-NULL-SHA384"),
    0x00B2: ("TLS_DHE_PSK_WITH_AES_128_CBC_SHA256", "DHE-PSK-AES128-CBC-SHA256"),
    0x00B3: ("TLS_DHE_PSK_WITH_AES_256_CBC_SHA384", "DHE-PSK-AES256-CBC-SHA384"),
    0x00B4: ("TLS_DHE_PSK_WITH_NULL_SHA256", "DHE-PSK-NULL-SHA256"),
    0x00B5: ("TLS_DHE_PSK_WITH_NULL_SHA384", "DHE-PSK-NULL-SHA384"),
    0x00B6: ("TLS_RSA_PSK_WITH_AES_128_CBC_SHA256", "RSA-PSK-AES128-CBC-SHA256"),
    0x00B7: ("TLS_RSA_PSK_WITH_AES_256_CBC_SHA384", "RSA-PSK-AES256-CBC-SHA384"),
    0x00B8: ("TLS_RSA_PSK_WITH_NULL_SHA256", "RSA-PSK-NULL-SHA256"),
    0x00B9: ("TLS_RSA_PSK_WITH_NULL_SHA384", "RSA-PSK-NULL-SHA384"),
    0x00BA: ("TLS_RSA_WITH_CAMELLIA_128_CBC_SHA256", "CAMELLIA128-SHA256"),
    0x00BD: ("TLS_DHE_DSS_WITH_CAMELLIA_128_CBC_SHA256", "DHE-DSS-CAMELLIA128-SHA256"),
    0x00BE: ("TLS_DHE_RSA_WITH_CAMELLIA_128_CBC_SHA256", "DHE-RSA-CAMELLIA128-SHA256"),
    0x00BF: ("TLS_DH_anon_WITH_CAMELLIA_128_CBC_SHA256", "ADH-CAMELLIA128-SHA256"),
    0x00C0: ("TLS_RSA_WITH_CAMELLIA_256_CBC_SHA256", "CAMELLIA256-SHA256"),
    0x00C3: ("TLS_DHE_DSS_WITH_CAMELLIA_256_CBC_SHA256", "DHE-DSS-CAMELLIA256-SHA256"),
    0x00C4: ("TLS_DHE_RSA_WITH_CAMELLIA_256_CBC_SHA256", "DHE-RSA-CAMELLIA256-SHA256"),
    0x00C5: ("TLS_DH_anon_WITH_CAMELLIA_256_CBC_SHA256", "ADH-CAMELLIA256-SHA256"),
    0x1301: ("TLS_AES_128_GCM_SHA256", "TLS_AES_128_GCM_SHA256"),
    0x1302: ("TLS_AES_256_GCM_SHA384", "TLS_AES_256_GCM_SHA384"),
    0x1303: ("TLS_CHACHA20_POLY1305_SHA256", "TLS_CHACHA20_POLY1305_SHA256"),
    0x1304: ("TLS_AES_128_CCM_SHA256", "TLS_AES_128_CCM_SHA256"),
    0x1305: ("TLS_AES_128_CCM_8_SHA256", "TLS_AES_128_CCM_8_SHA256"),
    0x1306: ("TLS_AEGIS_256_SHA512", ""),
    0x1307: ("TLS_AEGIS_128L_SHA256", ""),
    0xC001: ("TLS_ECDH_ECDSA_WITH_NULL_SHA", ""),
    0xC002: ("TLS_ECDH_ECDSA_WITH_RC4_128_SHA", ""),
    0xC003: ("TLS_ECDH_ECDSA_WITH_3DES_EDE_CBC_SHA", ""),
    0xC004: ("TLS_ECDH_ECDSA_WITH_AES_128_CBC_SHA", ""),
    0xC005: ("TLS_ECDH_ECDSA_WITH_AES_256_CBC_SHA", ""),
    0xC006: ("TLS_ECDHE_ECDSA_WITH_NULL_SHA", "ECDHE-ECDSA-NULL-SHA"),
    0xC007: ("TLS_ECDHE_ECDSA_WITH_RC4_128_SHA", "ECDHE-ECDSA-RC4-SHA"),
    0xC008: ("TLS_ECDHE_ECDSA_WITH_3DES_EDE_CBC_SHA", "ECDHE-ECDSA-DES-CBC3-SHA"),
    0xC009: ("TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", "ECDHE-ECDSA-AES128-SHA"),
    0xC00A: ("TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", "ECDHE-ECDSA-AES256-SHA"),
    0xC00B: ("TLS_ECDH_RSA_WITH_NULL_SHA", ""),
    0xC00C: ("TLS_ECDH_RSA_WITH_RC4_128_SHA", ""),
    0xC00D: ("TLS_ECDH_RSA_WITH_3DES_EDE_CBC_SHA", ""),
    0xC00E: ("TLS_ECDH_RSA_WITH_AES_128_CBC_SHA", ""),
    0xC00F: ("TLS_ECDH_RSA_WITH_AES_256_CBC_SHA", ""),
    0xC010: ("TLS_ECDHE_RSA_WITH_NULL_SHA", "ECDHE-RSA-NULL-SHA"),
    0xC011: ("TLS_ECDHE_RSA_WITH_RC4_128_SHA", "ECDHE-RSA-RC4-SHA"),
    0xC012: ("TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA", "ECDHE-RSA-DES-CBC3-SHA"),
    0xC013: ("TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", "ECDHE-RSA-AES128-SHA"),
    0xC014: ("TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", "ECDHE-RSA-AES256-SHA"),
    0xC015: ("TLS_ECDH_anon_WITH_NULL_SHA", "AECDH-NULL-SHA"),
    0xC016: ("TLS_ECDH_anon_WITH_RC4_128_SHA", ""),
    0xC017: ("TLS_ECDH_anon_WITH_3DES_EDE_CBC_SHA", ""),
    0xC018: ("TLS_ECDH_anon_WITH_AES_128_CBC_SHA", "AECDH-AES128-SHA"),
    0xC019: ("TLS_ECDH_anon_WITH_AES_256_CBC_SHA", "AECDH-AES256-SHA"),
    0xC01D: ("TLS_SRP_SHA_WITH_AES_128_CBC_SHA", "SRP-AES-128-CBC-SHA"),
    0xC01E: ("TLS_SRP_SHA_RSA_WITH_AES_128_CBC_SHA", "SRP-RSA-AES-128-CBC-SHA"),
    0xC01F: ("TLS_SRP_SHA_DSS_WITH_AES_128_CBC_SHA", "SRP-DSS-AES-128-CBC-SHA"),
    0xC020: ("TLS_SRP_SHA_WITH_AES_256_CBC_SHA", "SRP-AES-256-CBC-SHA"),
    0xC021: ("TLS_SRP_SHA_RSA_WITH_AES_256_CBC_SHA", "SRP-RSA-AES-256-CBC-SHA"),
    0xC022: ("TLS_SRP_SHA_DSS_WITH_AES_256_CBC_SHA", "SRP-DSS-AES-256-CBC-SHA"),
    0xC023: ("TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256", "ECDHE-ECDSA-AES128-SHA256"),
    0xC024: ("TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384", "ECDHE-ECDSA-AES256-SHA384"),
    0xC025: ("TLS_ECDH_ECDSA_WITH_AES_128_CBC_SHA256", ""),
    0xC026: ("TLS_ECDH_ECDSA_WITH_AES_256_CBC_SHA384", ""),
    0xC027: ("TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256", "ECDHE-RSA-AES128-SHA256"),
    0xC028: ("TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384", "ECDHE-RSA-AES256-SHA384"),
    0xC029: ("TLS_ECDH_RSA_WITH_AES_128_CBC_SHA256", ""),
    0xC02A: ("TLS_ECDH_RSA_WITH_AES_256_CBC_SHA384", ""),
    0xC02B: ("TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "ECDHE-ECDSA-AES128-GCM-SHA256"),
    0xC02C: ("TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "ECDHE-ECDSA-AES256-GCM-SHA384"),
    0xC02D: ("TLS_ECDH_ECDSA_WITH_AES_128_GCM_SHA256", ""),
    0xC02E: ("TLS_ECDH_ECDSA_WITH_AES_256_GCM_SHA384", ""),
    0xC02F: ("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "ECDHE-RSA-AES128-GCM-SHA256"),
    0xC030: ("TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "ECDHE-RSA-AES256-GCM-SHA384"),
    0xC031: ("TLS_ECDH_RSA_WITH_AES_128_GCM_SHA256", ""),
    0xC032: ("TLS_ECDH_RSA_WITH_AES_256_GCM_SHA384", ""),
    0xC035: ("TLS_ECDHE_PSK_WITH_AES_128_CBC_SHA", "ECDHE-PSK-AES128-CBC-SHA"),
    0xC036: ("TLS_ECDHE_PSK_WITH_AES_256_CBC_SHA", "ECDHE-PSK-AES256-CBC-SHA"),
    0xC037: ("TLS_ECDHE_PSK_WITH_AES_128_CBC_SHA256", "ECDHE-PSK-AES128-CBC-SHA256"),
    0xC038: ("TLS_ECDHE_PSK_WITH_AES_256_CBC_SHA384", "ECDHE-PSK-AES256-CBC-SHA384"),
    0xC039: ("TLS_ECDHE_PSK_WITH_NULL_SHA", "ECDHE-PSK-NULL-SHA"),
    0xC03A: ("TLS_ECDHE_PSK_WITH_NULL_SHA256", "ECDHE-PSK-NULL-SHA256"),
    0xC03B: ("TLS_ECDHE_PSK_WITH_NULL_SHA384", "ECDHE-PSK-NULL-SHA384"),
    0xC050: ("TLS_RSA_WITH_ARIA_128_GCM_SHA256", "ARIA128-GCM-SHA256"),
    0xC051: ("TLS_RSA_WITH_ARIA_256_GCM_SHA384", "ARIA256-GCM-SHA384"),
    0xC052: ("TLS_DHE_RSA_WITH_ARIA_128_GCM_SHA256", "DHE-RSA-ARIA128-GCM-SHA256"),
    0xC053: ("TLS_DHE_RSA_WITH_ARIA_256_GCM_SHA384", "DHE-RSA-ARIA256-GCM-SHA384"),
    0xC056: ("TLS_DHE_DSS_WITH_ARIA_128_GCM_SHA256", "DHE-DSS-ARIA128-GCM-SHA256"),
    0xC057: ("TLS_DHE_DSS_WITH_ARIA_256_GCM_SHA384", "DHE-DSS-ARIA256-GCM-SHA384"),
    0xC05C: ("TLS_ECDHE_ECDSA_WITH_ARIA_128_GCM_SHA256", "ECDHE-ECDSA-ARIA128-GCM-SHA256"),
    0xC05D: ("TLS_ECDHE_ECDSA_WITH_ARIA_256_GCM_SHA384", "ECDHE-ECDSA-ARIA256-GCM-SHA384"),
    0xC060: ("TLS_ECDHE_RSA_WITH_ARIA_128_GCM_SHA256", "ECDHE-ARIA128-GCM-SHA256"),
    0xC061: ("TLS_ECDHE_RSA_WITH_ARIA_256_GCM_SHA384", "ECDHE-ARIA256-GCM-SHA384"),
    0xC06A: ("TLS_PSK_WITH_ARIA_128_GCM_SHA256", "PSK-ARIA128-GCM-SHA256"),
    0xC06B: ("TLS_PSK_WITH_ARIA_256_GCM_SHA384", "PSK-ARIA256-GCM-SHA384"),
    0xC06C: ("TLS_DHE_PSK_WITH_ARIA_128_GCM_SHA256", "DHE-PSK-ARIA128-GCM-SHA256"),
    0xC06D: ("TLS_DHE_PSK_WITH_ARIA_256_GCM_SHA384", "DHE-PSK-ARIA256-GCM-SHA384"),
    0xC06E: ("TLS_RSA_PSK_WITH_ARIA_128_GCM_SHA256", "RSA-PSK-ARIA128-GCM-SHA256"),
    0xC06F: ("TLS_RSA_PSK_WITH_ARIA_256_GCM_SHA384", "RSA-PSK-ARIA256-GCM-SHA384"),
    0xC072: ("TLS_ECDHE_ECDSA_WITH_CAMELLIA_128_CBC_SHA256", "ECDHE-ECDSA-CAMELLIA128-SHA256"),
    0xC073: ("TLS_ECDHE_ECDSA_WITH_CAMELLIA_256_CBC_SHA384", "ECDHE-ECDSA-CAMELLIA256-SHA384"),
    0xC076: ("TLS_ECDHE_RSA_WITH_CAMELLIA_128_CBC_SHA256", "ECDHE-RSA-CAMELLIA128-SHA256"),
    0xC077: ("TLS_ECDHE_RSA_WITH_CAMELLIA_256_CBC_SHA384", "ECDHE-RSA-CAMELLIA256-SHA384"),
    0xC07C: ("TLS_DHE_RSA_WITH_CAMELLIA_128_GCM_SHA256", ""),
    0xC07D: ("TLS_DHE_RSA_WITH_CAMELLIA_256_GCM_SHA384", ""),
    0xC086: ("TLS_ECDHE_ECDSA_WITH_CAMELLIA_128_GCM_SHA256", ""),
    0xC087: ("TLS_ECDHE_ECDSA_WITH_CAMELLIA_256_GCM_SHA384", ""),
    0xC088: ("TLS_ECDH_ECDSA_WITH_CAMELLIA_128_GCM_SHA256", ""),
    0xC08A: ("TLS_ECDHE_RSA_WITH_CAMELLIA_128_GCM_SHA256", ""),
    0xC08B: ("TLS_ECDHE_RSA_WITH_CAMELLIA_256_GCM_SHA384", ""),
    0xC08C: ("TLS_ECDH_RSA_WITH_CAMELLIA_128_GCM_SHA256", ""),
    0xC094: ("TLS_PSK_WITH_CAMELLIA_128_CBC_SHA256", "PSK-CAMELLIA128-SHA256"),
    0xC095: ("TLS_PSK_WITH_CAMELLIA_256_CBC_SHA384", "PSK-CAMELLIA256-SHA384"),
    0xC096: ("TLS_DHE_PSK_WITH_CAMELLIA_128_CBC_SHA256", "DHE-PSK-CAMELLIA128-SHA256"),
    0xC097: ("TLS_DHE_PSK_WITH_CAMELLIA_256_CBC_SHA384", "DHE-PSK-CAMELLIA256-SHA384"),
    0xC098: ("TLS_RSA_PSK_WITH_CAMELLIA_128_CBC_SHA256", "RSA-PSK-CAMELLIA128-SHA256"),
    0xC099: ("TLS_RSA_PSK_WITH_CAMELLIA_256_CBC_SHA384", "RSA-PSK-CAMELLIA256-SHA384"),
    0xC09A: ("TLS_ECDHE_PSK_WITH_CAMELLIA_128_CBC_SHA256", "ECDHE-PSK-CAMELLIA128-SHA256"),
    0xC09B: ("TLS_ECDHE_PSK_WITH_CAMELLIA_256_CBC_SHA384", "ECDHE-PSK-CAMELLIA256-SHA384"),
    0xC09C: ("TLS_RSA_WITH_AES_128_CCM", "AES128-CCM"),
    0xC09D: ("TLS_RSA_WITH_AES_256_CCM", "AES256-CCM"),
    0xC09E: ("TLS_DHE_RSA_WITH_AES_128_CCM", "DHE-RSA-AES128-CCM"),
    0xC09F: ("TLS_DHE_RSA_WITH_AES_256_CCM", "DHE-RSA-AES256-CCM"),
    0xC0A0: ("TLS_RSA_WITH_AES_128_CCM_8", "AES128-CCM8"),
    0xC0A1: ("TLS_RSA_WITH_AES_256_CCM_8", "AES256-CCM8"),
    0xC0A2: ("TLS_DHE_RSA_WITH_AES_128_CCM_8", "DHE-RSA-AES128-CCM8"),
    0xC0A3: ("TLS_DHE_RSA_WITH_AES_256_CCM_8", "DHE-RSA-AES256-CCM8"),
    0xC0A4: ("TLS_PSK_WITH_AES_128_CCM", "PSK-AES128-CCM"),
    0xC0A5: ("TLS_PSK_WITH_AES_256_CCM", "PSK-AES256-CCM"),
    0xC0A6: ("TLS_DHE_PSK_WITH_AES_128_CCM", "DHE-PSK-AES128-CCM"),
    0xC0A7: ("TLS_DHE_PSK_WITH_AES_256_CCM", "DHE-PSK-AES256-CCM"),
    0xC0A8: ("TLS_PSK_WITH_AES_128_CCM_8", "PSK-AES128-CCM8"),
    0xC0A9: ("TLS_PSK_WITH_AES_256_CCM_8", "PSK-AES256-CCM8"),
    0xC0AA: ("TLS_PSK_DHE_WITH_AES_128_CCM_8", "DHE-PSK-AES128-CCM8"),
    0xC0AB: ("TLS_PSK_DHE_WITH_AES_256_CCM_8", "DHE-PSK-AES256-CCM8"),
    0xC0AC: ("TLS_ECDHE_ECDSA_WITH_AES_128_CCM", "ECDHE-ECDSA-AES128-CCM"),
    0xC0AD: ("TLS_ECDHE_ECDSA_WITH_AES_256_CCM", "ECDHE-ECDSA-AES256-CCM"),
    0xC0AE: ("TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8", "ECDHE-ECDSA-AES128-CCM8"),
    0xC0AF: ("TLS_ECDHE_ECDSA_WITH_AES_256_CCM_8", "ECDHE-ECDSA-AES256-CCM8"),
    0xC0B4: ("TLS_SHA256_SHA256", ""),
    0xC0B5: ("TLS_SHA384_SHA384", ""),
    0xCC13: ("OLD_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", ""),
    0xCC14: ("OLD_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", ""),
    0xCC15: ("OLD_TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256", ""),
    0xCCA8: ("TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", "ECDHE-RSA-CHACHA20-POLY1305"),
    0xCCA9: ("TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", "ECDHE-ECDSA-CHACHA20-POLY1305"),
    0xCCAA: ("TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256", "DHE-RSA-CHACHA20-POLY1305"),
    0xCCAB: ("TLS_PSK_WITH_CHACHA20_POLY1305_SHA256", "PSK-CHACHA20-POLY1305"),
    0xCCAC: ("TLS_ECDHE_PSK_WITH_CHACHA20_POLY1305_SHA256", "ECDHE-PSK-CHACHA20-POLY1305"),
    0xCCAD: ("TLS_DHE_PSK_WITH_CHACHA20_POLY1305_SHA256", "DHE-PSK-CHACHA20-POLY1305"),
    0xCCAE: ("TLS_RSA_PSK_WITH_CHACHA20_POLY1305_SHA256", "RSA-PSK-CHACHA20-POLY1305"),
    0xD001: ("TLS_ECDHE_PSK_WITH_AES_128_GCM_SHA256", ""),
    0xD002: ("TLS_ECDHE_PSK_WITH_AES_256_GCM_SHA384", ""),
    0xD003: ("TLS_ECDHE_PSK_WITH_AES_128_CCM_8_SHA256", ""),
    0xD005: ("TLS_ECDHE_PSK_WITH_AES_128_CCM_SHA256", ""),
}


@dataclass(frozen=True, slots=True)
class Group:
    """One named group (supported_groups / key_share)."""

    code: int
    name: str  # IANA name
    openssl: str  # OpenSSL's name ("" when it has none)
    bits: int  # OpenSSL's security-relevant size: curve bits, 253 for X25519, DH modulus bits
    kind: str  # "ec" | "ecx" | "ffdhe" | "kem" | "hybrid" | "gost"


def _groups() -> dict[int, Group]:
    table: list[tuple[int, str, str, int, str]] = [
        (1, "sect163k1", "", 163, "ec"), (2, "sect163r1", "", 163, "ec"),
        (3, "sect163r2", "", 163, "ec"), (4, "sect193r1", "", 193, "ec"),
        (5, "sect193r2", "", 193, "ec"), (6, "sect233k1", "", 232, "ec"),
        (7, "sect233r1", "", 233, "ec"), (8, "sect239k1", "", 238, "ec"),
        (9, "sect283k1", "", 281, "ec"), (10, "sect283r1", "", 282, "ec"),
        (11, "sect409k1", "", 407, "ec"), (12, "sect409r1", "", 409, "ec"),
        (13, "sect571k1", "", 570, "ec"), (14, "sect571r1", "", 570, "ec"),
        (15, "secp160k1", "", 161, "ec"), (16, "secp160r1", "", 161, "ec"),
        (17, "secp160r2", "", 161, "ec"), (18, "secp192k1", "", 192, "ec"),
        (19, "secp192r1", "P-192", 192, "ec"), (20, "secp224k1", "", 225, "ec"),
        (21, "secp224r1", "P-224", 224, "ec"), (22, "secp256k1", "", 256, "ec"),
        (23, "secp256r1", "P-256", 256, "ec"), (24, "secp384r1", "P-384", 384, "ec"),
        (25, "secp521r1", "P-521", 521, "ec"), (26, "brainpoolP256r1", "brainpoolP256r1", 256,
                                                "ec"),
        (27, "brainpoolP384r1", "brainpoolP384r1", 384, "ec"),
        (28, "brainpoolP512r1", "brainpoolP512r1", 512, "ec"),
        (29, "x25519", "X25519", 253, "ecx"), (30, "x448", "X448", 448, "ecx"),
        (31, "brainpoolP256r1tls13", "", 256, "ec"), (32, "brainpoolP384r1tls13", "", 384, "ec"),
        (33, "brainpoolP512r1tls13", "", 512, "ec"),
        (34, "GC256A", "", 256, "gost"), (35, "GC256B", "", 256, "gost"),
        (36, "GC256C", "", 256, "gost"), (37, "GC256D", "", 256, "gost"),
        (38, "GC512A", "", 512, "gost"), (39, "GC512B", "", 512, "gost"),
        (40, "GC512C", "", 512, "gost"), (41, "curveSM2", "", 256, "ec"),
        (0x0100, "ffdhe2048", "ffdhe2048", 2048, "ffdhe"),
        (0x0101, "ffdhe3072", "ffdhe3072", 3072, "ffdhe"),
        (0x0102, "ffdhe4096", "ffdhe4096", 4096, "ffdhe"),
        (0x0103, "ffdhe6144", "ffdhe6144", 6144, "ffdhe"),
        (0x0104, "ffdhe8192", "ffdhe8192", 8192, "ffdhe"),
        (0x0200, "MLKEM512", "", 0, "kem"), (0x0201, "MLKEM768", "", 0, "kem"),
        (0x0202, "MLKEM1024", "", 0, "kem"),
        (0x11EB, "SecP256r1MLKEM768", "", 256, "hybrid"),
        (0x11EC, "X25519MLKEM768", "", 253, "hybrid"),
        (0x11ED, "SecP384r1MLKEM1024", "", 384, "hybrid"),
    ]
    return {code: Group(code, name, openssl, bits, kind)
            for code, name, openssl, bits, kind in table}


#: every named group in the registry the scanner offers, by code
GROUPS: dict[int, Group] = _groups()


@dataclass(frozen=True, slots=True)
class SignatureScheme:
    """One TLS signature scheme (signature_algorithms)."""

    code: int
    name: str  # IANA name
    openssl: str  # the spelling OpenSSL's SignatureAlgorithms accepts
    hash: str  # "SHA-256", …; "" for EdDSA


def _sigalgs() -> dict[int, SignatureScheme]:
    table = [
        (0x0401, "rsa_pkcs1_sha256", "RSA+SHA256", "SHA-256"),
        (0x0501, "rsa_pkcs1_sha384", "RSA+SHA384", "SHA-384"),
        (0x0601, "rsa_pkcs1_sha512", "RSA+SHA512", "SHA-512"),
        (0x0403, "ecdsa_secp256r1_sha256", "ECDSA+SHA256", "SHA-256"),
        (0x0503, "ecdsa_secp384r1_sha384", "ECDSA+SHA384", "SHA-384"),
        (0x0603, "ecdsa_secp521r1_sha512", "ECDSA+SHA512", "SHA-512"),
        (0x0804, "rsa_pss_rsae_sha256", "rsa_pss_rsae_sha256", "SHA-256"),
        (0x0805, "rsa_pss_rsae_sha384", "rsa_pss_rsae_sha384", "SHA-384"),
        (0x0806, "rsa_pss_rsae_sha512", "rsa_pss_rsae_sha512", "SHA-512"),
        (0x0809, "rsa_pss_pss_sha256", "rsa_pss_pss_sha256", "SHA-256"),
        (0x080A, "rsa_pss_pss_sha384", "rsa_pss_pss_sha384", "SHA-384"),
        (0x080B, "rsa_pss_pss_sha512", "rsa_pss_pss_sha512", "SHA-512"),
        (0x0807, "ed25519", "ed25519", ""), (0x0808, "ed448", "ed448", ""),
        (0x0301, "rsa_pkcs1_sha224", "RSA+SHA224", "SHA-224"),
        (0x0303, "ecdsa_sha224", "ECDSA+SHA224", "SHA-224"),
        (0x0201, "rsa_pkcs1_sha1", "RSA+SHA1", "SHA-1"),
        (0x0203, "ecdsa_sha1", "ECDSA+SHA1", "SHA-1"),
    ]
    return {code: SignatureScheme(code, name, openssl, digest)
            for code, name, openssl, digest in table}


#: signature schemes by code
SIGALGS: dict[int, SignatureScheme] = _sigalgs()

VERSIONS: dict[int, str] = {0x0300: "SSL 3.0", 0x0301: "TLS 1.0", 0x0302: "TLS 1.1",
                            0x0303: "TLS 1.2", 0x0304: "TLS 1.3"}
ALERTS: dict[int, str] = {
    0: "close_notify", 10: "unexpected_message", 20: "bad_record_mac", 40: "handshake_failure",
    42: "bad_certificate", 43: "unsupported_certificate", 47: "illegal_parameter",
    48: "unknown_ca", 50: "decode_error", 51: "decrypt_error", 70: "protocol_version",
    71: "insufficient_security", 80: "internal_error", 86: "inappropriate_fallback",
    90: "user_canceled", 109: "missing_extension", 110: "unsupported_extension",
    112: "unrecognized_name", 116: "certificate_required", 120: "no_application_protocol",
}

#: every TLS 1.2 suite code the registry can hold (SCSVs 0x00FF and 0x5600 left out), so that
#: an enumeration finds *anything* a server accepts, registered in our table or not
TLS12_PROBE_CODES: tuple[int, ...] = (
    *range(0x0000, 0x00FF), *range(0xC001, 0xC100), *range(0xCC00, 0xCD00),
    *range(0xD001, 0xD006),
)
#: TLS 1.3 suite codes (RFC 8446, RFC 9150 integrity-only, RFC 9367 GOST, AEGIS drafts)
TLS13_PROBE_CODES: tuple[int, ...] = (*range(0x1301, 0x1308), 0xC0B4, 0xC0B5,
                                      *range(0xC103, 0xC107))

_BY_OPENSSL = {openssl: code for code, (_, openssl) in SUITES.items() if openssl}


def suite_name(code: int) -> str:
    """IANA name of a cipher suite code (``0xC0FF`` style when not in the table)."""
    return SUITES.get(code, (f"0x{code:04X}", ""))[0]


def suite_by_openssl(name: str) -> int:
    """The IANA code of an OpenSSL suite name.

    Raises:
        LookupError: OpenSSL name not in the table.
    """
    try:
        return _BY_OPENSSL[name]
    except KeyError:
        raise LookupError(f"unknown OpenSSL cipher suite {name!r}") from None


def group_name(code: int | None) -> str:
    if code is None:
        return "?"
    group = GROUPS.get(code)
    return group.name if group else f"0x{code:04X}"


def group_by_openssl(name: str) -> Group:
    """The group OpenSSL calls ``name`` (``P-256``, ``X25519``, ``ffdhe2048``).

    Raises:
        LookupError: not a group name OpenSSL knows.
    """
    for group in GROUPS.values():
        if name in (group.openssl, group.name):
            return group
    raise LookupError(f"unknown group {name!r}")


def sigalg_by_openssl(name: str) -> SignatureScheme:
    """The signature scheme OpenSSL's ``SignatureAlgorithms`` spells ``name``.

    Raises:
        LookupError: not in the table.
    """
    for scheme in SIGALGS.values():
        if name in (scheme.openssl, scheme.name):
            return scheme
    raise LookupError(f"unknown signature algorithm {name!r}")


@dataclass(frozen=True, slots=True)
class SuiteTraits:
    """What a suite's IANA name says about it."""

    code: int
    name: str
    tls13: bool
    kx: str  # "ECDHE", "DHE", "RSA", "ECDH", "DH", "PSK", "SRP", "" (TLS 1.3), "?" (unknown)
    auth: str  # "ECDSA", "RSA", "DSS", "anon", "PSK", "" (TLS 1.3), "?"
    cipher: str  # "AES_128_GCM", "CHACHA20_POLY1305", "3DES_EDE_CBC", "NULL", …
    export: bool

    @property
    def aead(self) -> bool:
        return any(m in self.cipher for m in ("_GCM", "_CCM", "POLY1305", "AEGIS"))

    @property
    def cbc(self) -> bool:
        return self.cipher.endswith("_CBC") or "_CBC_" in self.cipher

    @property
    def forward_secret(self) -> bool:
        return self.tls13 or self.kx in ("ECDHE", "DHE")

    @property
    def family(self) -> str:
        """A coarse label: null, anon, export, rc4, des, 3des, static-rsa, static-dh, cbc, …"""
        checks = [("null", self.cipher == "NULL" or self.cipher.startswith("NULL")),
                  ("anon", self.auth == "anon"), ("export", self.export),
                  ("rc4", self.cipher.startswith("RC4")),
                  ("des", self.cipher.startswith(("DES_", "DES40", "RC2", "IDEA"))),
                  ("3des", self.cipher.startswith("3DES")), ("psk", "PSK" in self.kx + self.auth),
                  ("srp", self.kx == "SRP"), ("static-rsa", self.kx == "RSA"),
                  ("static-dh", self.kx in ("DH", "ECDH")), ("cbc", self.cbc),
                  ("unknown", self.kx == "?")]
        return next((label for label, hit in checks if hit), "aead")


_NAME = re.compile(r"^(?:OLD_)?TLS_(?P<kx>[A-Za-z0-9]+?)(?:_(?P<auth>ECDSA|RSA|DSS|anon|PSK|"
                   r"SHA_RSA|SHA_DSS|SHA|DHE|SM2))?(?P<export>_EXPORT)?_WITH_(?P<cipher>.+?)"
                   r"(?:_(?:SHA|SHA256|SHA384|MD5|SM3))?$")
_CIPHER_13 = re.compile(r"^TLS_(?P<cipher>.+)_(?:SHA256|SHA384|SHA512|SM3)$")


def traits(code: int) -> SuiteTraits:
    """Key exchange, authentication and cipher of a suite, read from its IANA name."""
    name = suite_name(code)
    if code >> 8 == 0x13 or code in (0xC0B4, 0xC0B5) or 0xC103 <= code <= 0xC106:
        match13 = _CIPHER_13.match(name)
        cipher = match13.group("cipher") if match13 else ("NULL" if "SHA" in name else "?")
        if code in (0xC0B4, 0xC0B5):
            cipher = "NULL"
        return SuiteTraits(code, name, True, "", "", cipher, False)
    match = _NAME.match(name)
    if match is None:
        return SuiteTraits(code, name, False, "?", "?", "?", False)
    kx, auth = match.group("kx"), match.group("auth") or ""
    if kx == "PSK" and auth == "DHE":  # OpenSSL's spelling TLS_PSK_DHE_WITH_…
        kx, auth = "DHE", "PSK"
    if kx == "SRP":
        auth = "SRP"
    if kx in ("RSA", "PSK") and not auth:
        auth = kx
    cipher = match.group("cipher")
    if cipher.endswith("_CCM_8_SHA256") or cipher.endswith("_CCM_SHA256"):
        cipher = cipher.removesuffix("_SHA256")
    return SuiteTraits(code, name, False, kx, auth, cipher, bool(match.group("export")))
