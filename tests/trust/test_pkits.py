"""NIST PKITS (Public Key Interoperability Test Suite, 2011 edition with certificates valid
2010-2030; a US Government work, public domain) through :meth:`TrustStore.validate`, anchored
at "Trust Anchor Root Certificate", validated at :data:`AT`.

Sections 4.1 (signature verification), 4.2 (validity periods), 4.3 (name chaining), 4.4 (basic
CRL tests), 4.6 (basic constraints) and 4.7 (key usage). The expected verdicts are ours, read
from the test names and descriptions of the PKITS document; where dicomsec's verdict differs
from PKITS, ``DIFFERS`` says why (docs/validation.md, "PKITS"). The files come from
``tests/data/pkits`` (``tools/pkits-import.py`` copies them from the ``cryptography-vectors``
wheel).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from cryptography import x509

from dicomsec.keys import load_certificate
from dicomsec.trust import KeyPurpose, TrustStore

DATA = Path(__file__).resolve().parent.parent / "data" / "pkits"
AT = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
ANCHOR = "TrustAnchorRootCertificate"
ANCHOR_CRL = "TrustAnchorRootCRL"

#: (PKITS number, end-entity file stem without "EE", intermediate certificate stems from the
#: anchor down, expected: "valid" or the reason code)
CASES: list[tuple[str, str, tuple[str, ...], str]] = [
    # 4.1 signature verification
    ("4.1.1", "ValidCertificatePathTest1", ("GoodCACert",), "valid"),
    ("4.1.2", "InvalidCASignatureTest2", ("BadSignedCACert",), "bad-signature"),
    ("4.1.3", "InvalidEESignatureTest3", ("GoodCACert",), "bad-signature"),
    # 4.2 validity periods
    ("4.2.1", "InvalidCAnotBeforeDateTest1", ("BadnotBeforeDateCACert",), "not-yet-valid"),
    ("4.2.2", "InvalidEEnotBeforeDateTest2", ("GoodCACert",), "not-yet-valid"),
    ("4.2.3", "Validpre2000UTCnotBeforeDateTest3", ("GoodCACert",), "valid"),
    ("4.2.4", "ValidGeneralizedTimenotBeforeDateTest4", ("GoodCACert",), "valid"),
    ("4.2.5", "InvalidCAnotAfterDateTest5", ("BadnotAfterDateCACert",), "expired"),
    ("4.2.6", "InvalidEEnotAfterDateTest6", ("GoodCACert",), "expired"),
    ("4.2.7", "Invalidpre2000UTCEEnotAfterDateTest7", ("GoodCACert",), "expired"),
    ("4.2.8", "ValidGeneralizedTimenotAfterDateTest8", ("GoodCACert",), "valid"),
    # 4.3 verifying name chaining
    ("4.3.1", "InvalidNameChainingTest1", ("GoodCACert",), "unknown-issuer"),
    ("4.3.2", "InvalidNameChainingOrderTest2", ("NameOrderingCACert",), "unknown-issuer"),
    ("4.3.3", "ValidNameChainingWhitespaceTest3", ("GoodCACert",), "valid"),
    ("4.3.4", "ValidNameChainingWhitespaceTest4", ("GoodCACert",), "valid"),
    ("4.3.5", "ValidNameChainingCapitalizationTest5", ("GoodCACert",), "valid"),
    # DIFFERS: the CA's certificate carries a subjectUniqueID; checked as the end of its own
    # path (its revocation run) its signature does not verify in pyhanko (nor with
    # cryptography's verify_directly_issued_by; OpenSSL verifies it): fail closed
    ("4.3.6", "ValidNameUIDsTest6", ("UIDCACert",), "revocation-unknown"),
    ("4.3.7", "ValidRFC3280MandatoryAttributeTypesTest7",
     ("RFC3280MandatoryAttributeTypesCACert",), "valid"),
    ("4.3.8", "ValidRFC3280OptionalAttributeTypesTest8",
     ("RFC3280OptionalAttributeTypesCACert",), "valid"),
    ("4.3.9", "ValidUTF8StringEncodedNamesTest9", ("UTF8StringEncodedNamesCACert",), "valid"),
    ("4.3.10", "ValidRolloverfromPrintableStringtoUTF8StringTest10",
     ("RolloverfromPrintableStringtoUTF8StringCACert",), "valid"),
    ("4.3.11", "ValidUTF8StringCaseInsensitiveMatchTest11",
     ("UTF8StringCaseInsensitiveMatchCACert",), "valid"),
    # 4.4 basic certificate revocation tests
    ("4.4.1", "InvalidMissingCRLTest1", ("NoCRLCACert",), "revocation-unknown"),
    ("4.4.2", "InvalidRevokedCATest2", ("GoodCACert", "RevokedsubCACert"), "revoked"),
    ("4.4.3", "InvalidRevokedEETest3", ("GoodCACert",), "revoked"),
    ("4.4.4", "InvalidBadCRLSignatureTest4", ("BadCRLSignatureCACert",), "revocation-unknown"),
    ("4.4.5", "InvalidBadCRLIssuerNameTest5", ("BadCRLIssuerNameCACert",), "revocation-unknown"),
    ("4.4.6", "InvalidWrongCRLTest6", ("WrongCRLCACert",), "revocation-unknown"),
    ("4.4.7", "ValidTwoCRLsTest7", ("TwoCRLsCACert",), "valid"),
    ("4.4.8", "InvalidUnknownCRLEntryExtensionTest8", ("UnknownCRLEntryExtensionCACert",),
     "revocation-unknown"),
    ("4.4.9", "InvalidUnknownCRLExtensionTest9", ("UnknownCRLExtensionCACert",),
     "revocation-unknown"),
    ("4.4.10", "InvalidUnknownCRLExtensionTest10", ("UnknownCRLExtensionCACert",),
     "revocation-unknown"),
    ("4.4.11", "InvalidOldCRLnextUpdateTest11", ("OldCRLnextUpdateCACert",),
     "revocation-unknown"),
    ("4.4.12", "Invalidpre2000CRLnextUpdateTest12", ("pre2000CRLnextUpdateCACert",),
     "revocation-unknown"),
    ("4.4.13", "ValidGeneralizedTimeCRLnextUpdateTest13", ("GeneralizedTimeCRLnextUpdateCACert",),
     "valid"),
    ("4.4.14", "ValidNegativeSerialNumberTest14", ("NegativeSerialNumberCACert",), "valid"),
    ("4.4.15", "InvalidNegativeSerialNumberTest15", ("NegativeSerialNumberCACert",), "revoked"),
    ("4.4.16", "ValidLongSerialNumberTest16", ("LongSerialNumberCACert",), "valid"),
    ("4.4.17", "ValidLongSerialNumberTest17", ("LongSerialNumberCACert",), "valid"),
    ("4.4.18", "InvalidLongSerialNumberTest18", ("LongSerialNumberCACert",), "revoked"),
    ("4.4.19", "ValidSeparateCertificateandCRLKeysTest19",
     ("SeparateCertificateandCRLKeysCertificateSigningCACert",
      "SeparateCertificateandCRLKeysCRLSigningCert"), "valid"),
    ("4.4.20", "InvalidSeparateCertificateandCRLKeysTest20",
     ("SeparateCertificateandCRLKeysCertificateSigningCACert",
      "SeparateCertificateandCRLKeysCRLSigningCert"), "revoked"),
    ("4.4.21", "InvalidSeparateCertificateandCRLKeysTest21",
     ("SeparateCertificateandCRLKeysCA2CertificateSigningCACert",
      "SeparateCertificateandCRLKeysCA2CRLSigningCert"), "revocation-unknown"),
    # 4.6 verifying basic constraints
    ("4.6.1", "InvalidMissingbasicConstraintsTest1", ("MissingbasicConstraintsCACert",),
     "invalid"),
    ("4.6.2", "InvalidcAFalseTest2", ("basicConstraintsCriticalcAFalseCACert",), "invalid"),
    ("4.6.3", "InvalidcAFalseTest3", ("basicConstraintsNotCriticalcAFalseCACert",), "invalid"),
    ("4.6.4", "ValidbasicConstraintsNotCriticalTest4", ("basicConstraintsNotCriticalCACert",),
     "valid"),
    ("4.6.5", "InvalidpathLenConstraintTest5",
     ("pathLenConstraint0CACert", "pathLenConstraint0subCACert"), "invalid"),
    ("4.6.6", "InvalidpathLenConstraintTest6",
     ("pathLenConstraint0CACert", "pathLenConstraint0subCACert"), "invalid"),
    ("4.6.7", "ValidpathLenConstraintTest7", ("pathLenConstraint0CACert",), "valid"),
    ("4.6.8", "ValidpathLenConstraintTest8", ("pathLenConstraint0CACert",), "valid"),
    ("4.6.9", "InvalidpathLenConstraintTest9",
     ("pathLenConstraint6CACert", "pathLenConstraint6subCA0Cert",
      "pathLenConstraint6subsubCA00Cert"), "invalid"),
    ("4.6.10", "InvalidpathLenConstraintTest10",
     ("pathLenConstraint6CACert", "pathLenConstraint6subCA0Cert",
      "pathLenConstraint6subsubCA00Cert"), "invalid"),
    ("4.6.11", "InvalidpathLenConstraintTest11",
     ("pathLenConstraint6CACert", "pathLenConstraint6subCA1Cert",
      "pathLenConstraint6subsubCA11Cert", "pathLenConstraint6subsubsubCA11XCert"), "invalid"),
    ("4.6.12", "InvalidpathLenConstraintTest12",
     ("pathLenConstraint6CACert", "pathLenConstraint6subCA1Cert",
      "pathLenConstraint6subsubCA11Cert", "pathLenConstraint6subsubsubCA11XCert"), "invalid"),
    ("4.6.13", "ValidpathLenConstraintTest13",
     ("pathLenConstraint6CACert", "pathLenConstraint6subCA4Cert",
      "pathLenConstraint6subsubCA41Cert", "pathLenConstraint6subsubsubCA41XCert"), "valid"),
    ("4.6.14", "ValidpathLenConstraintTest14",
     ("pathLenConstraint6CACert", "pathLenConstraint6subCA4Cert",
      "pathLenConstraint6subsubCA41Cert", "pathLenConstraint6subsubsubCA41XCert"), "valid"),
    ("4.6.15", "ValidSelfIssuedpathLenConstraintTest15",
     ("pathLenConstraint0CACert", "pathLenConstraint0SelfIssuedCACert"), "valid"),
    ("4.6.16", "InvalidSelfIssuedpathLenConstraintTest16",
     ("pathLenConstraint0CACert", "pathLenConstraint0SelfIssuedCACert",
      "pathLenConstraint0subCA2Cert"), "invalid"),
    ("4.6.17", "ValidSelfIssuedpathLenConstraintTest17",
     ("pathLenConstraint1CACert", "pathLenConstraint1SelfIssuedCACert",
      "pathLenConstraint1subCACert", "pathLenConstraint1SelfIssuedsubCACert"), "valid"),
    # 4.7 key usage
    ("4.7.1", "InvalidkeyUsageCriticalkeyCertSignFalseTest1",
     ("keyUsageCriticalkeyCertSignFalseCACert",), "invalid"),
    ("4.7.2", "InvalidkeyUsageNotCriticalkeyCertSignFalseTest2",
     ("keyUsageNotCriticalkeyCertSignFalseCACert",), "invalid"),
    ("4.7.3", "ValidkeyUsageNotCriticalTest3", ("keyUsageNotCriticalCACert",), "valid"),
    ("4.7.4", "InvalidkeyUsageCriticalcRLSignFalseTest4", ("keyUsageCriticalcRLSignFalseCACert",),
     "revocation-unknown"),
    ("4.7.5", "InvalidkeyUsageNotCriticalcRLSignFalseTest5",
     ("keyUsageNotCriticalcRLSignFalseCACert",), "revocation-unknown"),
]

#: CRL files whose name does not follow "<certificate stem without Cert>CRL"
CRL_NAMES = {
    "NameOrderingCACert": ("NameOrderCACRL",),
    "TwoCRLsCACert": ("TwoCRLsCAGoodCRL", "TwoCRLsCABadCRL"),
    "SeparateCertificateandCRLKeysCertificateSigningCACert": ("SeparateCertificateandCRLKeysCRL",),
    "SeparateCertificateandCRLKeysCRLSigningCert": (),
    "SeparateCertificateandCRLKeysCA2CertificateSigningCACert":
        ("SeparateCertificateandCRLKeysCA2CRL",),
    "SeparateCertificateandCRLKeysCA2CRLSigningCert": (),
    "pathLenConstraint0SelfIssuedCACert": (),
    "pathLenConstraint1SelfIssuedCACert": (),
    "pathLenConstraint1SelfIssuedsubCACert": (),
    "NoCRLCACert": (),
}


def crls_of(stem: str) -> tuple[str, ...]:
    """The CRL stems PKITS gives for the certificates issued by the CA of ``stem``."""
    if stem in CRL_NAMES:
        return CRL_NAMES[stem]
    return (stem.removesuffix("Cert") + "CRL",)


def files_of(case: tuple[str, str, tuple[str, ...], str]) -> tuple[list[Path], list[Path], Path]:
    """(intermediate certificate files, CRL files, end-entity file) of one case."""
    _number, ee, chain, _expected = case
    certs = [DATA / "certs" / f"{s}.crt" for s in chain]
    crls = [DATA / "crls" / f"{c}.crl" for s in (ANCHOR, *chain) for c in
            ((ANCHOR_CRL,) if s == ANCHOR else crls_of(s))]
    return certs, crls, DATA / "certs" / f"{ee}EE.crt"


@pytest.fixture(scope="module")
def anchor() -> Path:
    return DATA / "certs" / f"{ANCHOR}.crt"


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_pkits(anchor: Path, case: tuple[str, str, tuple[str, ...], str]) -> None:
    certs, crls, ee = files_of(case)
    store = TrustStore.from_paths([anchor], crls=crls, intermediates=certs)
    result = store.validate(load_certificate(ee), at=AT, purpose=KeyPurpose.ANY)
    expected = case[3]
    if expected == "valid":
        assert result.trusted, result.problems
    else:
        assert not result.trusted
        assert expected in result.reasons, (result.reasons, result.problems)


def test_pkits_missing_crl_fails_closed(anchor: Path) -> None:
    """4.4.1, 4.4.5, 4.4.6: CRLs were given (revocation checking asked for) but none issued by
    the end entity's issuer: its status is undetermined, so the path fails closed (PKITS's
    verdict); with soft-fail it passes with a warning naming the certificate."""
    for case in CASES:
        if case[0] not in ("4.4.1", "4.4.5", "4.4.6"):
            continue
        certs, crls, ee = files_of(case)
        store = TrustStore.from_paths([anchor], crls=crls, intermediates=certs)
        result = store.validate(load_certificate(ee), at=AT, purpose=KeyPurpose.ANY)
        assert result.reasons == ("revocation-unknown",), case[0]
        assert result.revocation[0].checked and result.revocation[0].status == "unknown"
        soft = TrustStore.from_paths([anchor], crls=crls, intermediates=certs, soft_fail=True)
        passed = soft.validate(load_certificate(ee), at=AT, purpose=KeyPurpose.ANY)
        assert passed.trusted and len(passed.soft_fail_warnings) == 1, case[0]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_pkits_cli(anchor: Path, capsys: pytest.CaptureFixture[str],
                   case: tuple[str, str, tuple[str, ...], str]) -> None:
    """Every case also through ``dicomsec trust validate`` (in-process): the exit code and the
    reason codes of ``--json`` are the library's."""
    import json

    from dicomsec.cli import main

    certs, crls, ee = files_of(case)
    args = ["trust", "validate", str(ee), "--trust", str(anchor), "--at", AT.isoformat(),
            "--offline", "--purpose", "any", "--json"]
    for c in certs:
        args += ["--untrusted", str(c)]
    for c in crls:
        args += ["--crl", str(c)]
    code = main(args)
    doc = json.loads(capsys.readouterr().out)
    expected = case[3]
    if expected == "valid":
        assert (code, doc["valid"], doc["reasons"]) == (0, True, []), doc["problems"]
    else:
        assert (code, doc["valid"]) == (1, False)
        assert expected in doc["reasons"], doc


# ------------------------------------------------------------- fast path against pyhanko


def _both_engines(cert: x509.Certificate, anchors: tuple[x509.Certificate, ...],
                  intermediates: tuple[x509.Certificate, ...], at: dt.datetime, *,
                  allow_fetching: bool = False) -> tuple[bool, bool]:
    """(fast path said valid, pyhanko said valid) for one request without revocation data;
    fails when the fast path confirms what pyhanko refuses, or builds another chain."""
    from dicomsec.trust import _fast, _validate
    from dicomsec.trust._request import Request

    def request() -> Request:  # no shared caches between the engines
        return Request(cert=cert, anchors=anchors, intermediates=intermediates, crls=(),
                       ocsps=(), at=at, revocation_at=at, allow_fetching=allow_fetching,
                       path_cache={}, status_cache={})

    fast = _fast.validate(request())
    slow = _validate.validate(request())
    if fast is not None:
        assert fast.trusted and slow.trusted, (cert.subject, slow.problems)
        # by name and serial: pyhanko hands back a re-encoded copy of a certificate with a
        # subjectUniqueID (4.3.6)
        assert [(c.subject, c.serial_number) for c in fast.chain] == \
            [(c.subject, c.serial_number) for c in slow.chain]
        assert [r.status for r in fast.revocation] == [r.status for r in slow.revocation]
    return fast is not None, slow.trusted


def test_fast_path_never_confirms_what_pyhanko_refuses_pkits(anchor: Path) -> None:
    """Every PKITS case of the table, without its CRLs, through both engines."""
    from dicomsec.keys import load_certificates

    root = tuple(load_certificates(anchor))
    confirmed, valid = set(), set()
    for case in CASES:
        certs, _crls, ee = files_of(case)
        inter = tuple(c for f in certs for c in load_certificates(f))
        fast, slow = _both_engines(load_certificate(ee), root, inter, AT)
        if fast:
            confirmed.add(case[0])
        if slow:
            valid.add(case[0])
    assert confirmed <= valid
    assert {"4.1.1", "4.6.13", "4.7.3"} <= confirmed  # the fast path is not vacuous


def test_fast_path_never_confirms_what_pyhanko_refuses_test_pki() -> None:
    """Every leaf of the validator's test PKI (reason codes, weak CA, stranger, bad signature,
    OCSP pointers with fetching on), EdDSA/ML-DSA CAs, an unknown critical extension."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, mldsa

    from tests.trust._validate_pki import AT as PKI_AT
    from tests.trust._validate_pki import Issuer, make_cert, make_pki

    pki = make_pki()
    assert pki.weak is not None
    anchors, inter = (pki.root.cert,), (pki.issuing.cert, pki.weak.cert)
    leaves = dict(pki.leaves)
    key = ec.generate_private_key(ec.SECP256R1())
    leaves["critical-unknown"] = (
        x509.CertificateBuilder().subject_name(x509.Name.from_rfc4514_string("CN=crit"))
        .issuer_name(pki.issuing.cert.subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(PKI_AT - dt.timedelta(days=1))
        .not_valid_after(PKI_AT + dt.timedelta(days=1))
        .add_extension(x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.99999.1"),
                                                  b"\x05\x00"), critical=True)
        .sign(pki.issuing.key, hashes.SHA256()))
    leaves["crl-pointer"] = make_cert("crl pointer", ec.generate_private_key(ec.SECP256R1()),
                                      pki.issuing, crl_url="http://crl.invalid/i.crl")
    verdicts = {cn: _both_engines(c, anchors, inter, PKI_AT) for cn, c in leaves.items()}
    assert verdicts["good"] == (True, True)
    assert verdicts["critical-unknown"] == (False, False)
    assert verdicts["weak"] == (False, False)
    # a certificate that names a pointer is the validator's to fetch for when fetching is on
    for cn in ("ocsp-good", "crl-pointer"):
        assert _both_engines(leaves[cn], anchors, inter, PKI_AT, allow_fetching=True)[0] is False
    for make in (ed25519.Ed25519PrivateKey.generate, ed448.Ed448PrivateKey.generate,
                 mldsa.MLDSA65PrivateKey.generate):
        ca_key = make()
        ca = Issuer(ca_key, make_cert("modern CA", ca_key, None, ca=True))
        leaf = make_cert("modern leaf", make(), ca)
        assert _both_engines(leaf, (ca.cert,), (), PKI_AT)[1]
