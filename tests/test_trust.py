"""The trust store: anchors from files and folders, path validation at a moment, key usage for
a purpose, CRL revocation.

Checked against the scripted test PKI (tests/data/pki) and against CAs and CRLs made here.
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from dicomsec import keys
from dicomsec.errors import InvalidInput
from dicomsec.keys import load_certificate
from dicomsec.trust import ChainResult, KeyPurpose, TrustStore
from tests.conftest import PKI

CA_CERT = PKI / "ca.cert.pem"
SIGNERS = ["rsa2048", "rsa3072", "ecp256", "ecp384", "ed25519"]
AT = _dt.datetime(2026, 1, 1, tzinfo=_dt.UTC)
LATE = _dt.datetime(2060, 1, 1, tzinfo=_dt.UTC)
Enc = serialization.Encoding


@pytest.fixture(scope="module")
def test_ca() -> TrustStore:
    return TrustStore.from_paths([CA_CERT])


@pytest.mark.parametrize("name", [*SIGNERS])
def test_fixture_signers_trusted(test_ca: TrustStore, name: str) -> None:
    cert = load_certificate(PKI / f"signer-{name}.cert.pem")
    result = test_ca.validate(cert, at=AT)
    assert isinstance(result, ChainResult)
    assert result.trusted, result.problems
    assert bool(result)
    assert result.problems == ()
    assert result.chain[0] == cert
    assert result.chain[-1] == load_certificate(CA_CERT)


@pytest.mark.parametrize("name", SIGNERS)
def test_fixture_signers_expired_in_2060(test_ca: TrustStore, name: str) -> None:
    result = test_ca.validate(load_certificate(PKI / f"signer-{name}.cert.pem"), at=LATE)
    assert not result.trusted
    assert not result
    assert result.problems


def test_not_yet_valid(test_ca: TrustStore) -> None:
    early = _dt.datetime(2020, 6, 1, tzinfo=_dt.UTC)
    assert not test_ca.validate(load_certificate(PKI / "signer-ecp256.cert.pem"), at=early)


def test_naive_time_is_utc(test_ca: TrustStore) -> None:
    cert = load_certificate(PKI / "signer-ecp256.cert.pem")
    assert test_ca.validate(cert, at=_dt.datetime(2026, 1, 1)).trusted


def _make_ca(name: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = keys.issue_certificate(key, name, ca=True, days=3650,
                                  not_before=_dt.datetime(2025, 1, 1, tzinfo=_dt.UTC))
    return key, cert


def _issue(ca: tuple[ec.EllipticCurvePrivateKey, x509.Certificate], name: str,
           eku: tuple[x509.ObjectIdentifier, ...] = ()) -> x509.Certificate:
    ca_key, ca_cert = ca
    return keys.issue_certificate(
        ec.generate_private_key(ec.SECP256R1()), name, issuer_key=ca_key, issuer_cert=ca_cert,
        days=3000, not_before=_dt.datetime(2025, 1, 1, tzinfo=_dt.UTC), extra_key_usage=eku,
    )


@pytest.mark.parametrize("name", SIGNERS)
def test_fixture_signers_not_trusted_by_another_ca(name: str) -> None:
    _key, other = _make_ca("some other CA")
    store = TrustStore(anchors=(other,))
    result = store.validate(load_certificate(PKI / f"signer-{name}.cert.pem"), at=AT)
    assert not result.trusted
    assert any("not trusted" in p for p in result.problems)


def test_empty_store_trusts_nothing() -> None:
    store = TrustStore()
    assert store.empty
    result = store.validate(load_certificate(PKI / "signer-ecp256.cert.pem"), at=AT)
    assert not result.trusted
    assert any("no trust anchors" in p for p in result.problems)


def test_from_paths_folder_and_errors(tmp_path: Path) -> None:
    folder = tmp_path / "anchors"
    folder.mkdir()
    (folder / "ca.pem").write_bytes(CA_CERT.read_bytes())
    (folder / "readme.txt").write_text("ignored")
    # a CA's key kept beside its certificate is passed over, as OpenSSL's capath does
    (folder / "ca.key.pem").write_bytes((PKI / "ca.key.pem").read_bytes())
    store = TrustStore.from_paths([folder])
    assert len(store.anchors) == 1
    # a file named as a certificate that is not one still fails
    (folder / "broken.der").write_bytes(b"not DER")
    with pytest.raises(InvalidInput):
        TrustStore.from_paths([folder])
    (folder / "broken.der").unlink()
    assert store.validate(load_certificate(PKI / "signer-rsa2048.cert.pem"), at=AT).trusted
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InvalidInput):
        TrustStore.from_paths([empty])
    with pytest.raises(InvalidInput):
        TrustStore.from_paths([tmp_path / "missing.pem"])
    bad_crl = tmp_path / "bad.crl"
    bad_crl.write_bytes(b"not a crl")
    with pytest.raises(InvalidInput):
        TrustStore.from_paths([CA_CERT], crls=[bad_crl])


def _crl(ca: tuple[ec.EllipticCurvePrivateKey, x509.Certificate],
         revoked: list[tuple[int, _dt.datetime]], *,
         signer: ec.EllipticCurvePrivateKey | None = None,
         next_update: _dt.datetime = _dt.datetime(2030, 1, 1, tzinfo=_dt.UTC),
         ) -> x509.CertificateRevocationList:
    ca_key, ca_cert = ca
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca_cert.subject)
        .last_update(_dt.datetime(2025, 6, 1, tzinfo=_dt.UTC))
        .next_update(next_update)
    )
    for serial, when in revoked:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(when).build()
        )
    return builder.sign(signer or ca_key, hashes.SHA256())


@pytest.fixture(scope="module")
def crl_pki() -> tuple[tuple[ec.EllipticCurvePrivateKey, x509.Certificate], x509.Certificate,
                       x509.Certificate]:
    ca = _make_ca("CRL test CA")
    return ca, _issue(ca, "revoked signer"), _issue(ca, "good signer")


CrlPki = tuple[tuple[ec.EllipticCurvePrivateKey, x509.Certificate], x509.Certificate,
               x509.Certificate]


def test_generated_chain_trusted_without_crl(crl_pki: CrlPki) -> None:
    ca, revoked, good = crl_pki
    store = TrustStore(anchors=(ca[1],))
    assert store.validate(revoked, at=AT).trusted
    assert store.validate(good, at=AT).trusted


def test_crl_revocation(crl_pki: CrlPki, tmp_path: Path) -> None:
    ca, revoked, good = crl_pki
    crl = _crl(ca, [(revoked.serial_number, _dt.datetime(2025, 9, 1, tzinfo=_dt.UTC))])
    # loaded from files, as the command line does (PEM and DER)
    ca_path, pem_path, der_path = tmp_path / "ca.pem", tmp_path / "ca.crl", tmp_path / "ca.der"
    ca_path.write_bytes(ca[1].public_bytes(Enc.PEM))
    pem_path.write_bytes(crl.public_bytes(Enc.PEM))
    der_path.write_bytes(crl.public_bytes(Enc.DER))
    for crl_path in (pem_path, der_path):
        store = TrustStore.from_paths([ca_path], crls=[crl_path])
        result = store.validate(revoked, at=AT)
        assert not result.trusted
        assert any("revoked" in p for p in result.problems), result.problems
        assert store.validate(good, at=AT).trusted
    # before the revocation date the signer was still good
    store = TrustStore(anchors=(ca[1],), crls=(crl,))
    assert store.validate(revoked, at=_dt.datetime(2025, 8, 1, tzinfo=_dt.UTC)).trusted


def test_crl_with_a_bad_signature_revokes_nothing(crl_pki: CrlPki) -> None:
    ca, revoked, _good = crl_pki
    forged = _crl(ca, [(revoked.serial_number, _dt.datetime(2025, 9, 1, tzinfo=_dt.UTC))],
                  signer=ec.generate_private_key(ec.SECP256R1()))
    result = TrustStore(anchors=(ca[1],), crls=(forged,)).validate(revoked, at=AT)
    # the subject's CN is "revoked signer": the reason codes say it was not revoked
    assert "revoked" not in result.reasons
    assert result.reasons == ("revocation-unknown",)
    assert any("CRL" in p for p in result.problems)


def test_outdated_crl(crl_pki: CrlPki) -> None:
    ca, _revoked, good = crl_pki
    stale = _crl(ca, [], next_update=_dt.datetime(2025, 7, 1, tzinfo=_dt.UTC))
    result = TrustStore(anchors=(ca[1],), crls=(stale,)).validate(good, at=AT)
    assert not result.trusted
    assert any("out of date" in p for p in result.problems)


def test_crl_of_another_issuer_does_not_revoke_but_fails_closed(crl_pki: CrlPki) -> None:
    # the only CRL is another issuer's: it does not revoke, and the certificate's own status
    # stays undetermined although revocation checking was asked for (a CRL given)
    ca, revoked, _good = crl_pki
    other = _make_ca("unrelated CA")
    crl = _crl(other, [(revoked.serial_number, _dt.datetime(2025, 9, 1, tzinfo=_dt.UTC))])
    result = TrustStore(anchors=(ca[1],), crls=(crl,)).validate(revoked, at=AT)
    assert result.reasons == ("revocation-unknown",)
    assert TrustStore(anchors=(ca[1],), crls=(crl,), soft_fail=True).validate(
        revoked, at=AT).trusted


def test_tsa_certificate_purpose(test_ca: TrustStore) -> None:
    tsa = load_certificate(PKI / "tsa-rsa2048.cert.pem")
    result = test_ca.validate(tsa, at=AT, purpose=KeyPurpose.TIMESTAMPING)
    assert result.trusted, result.problems


@pytest.mark.parametrize("name", SIGNERS)
def test_signer_certificate_is_no_tsa(test_ca: TrustStore, name: str) -> None:
    signer = load_certificate(PKI / f"signer-{name}.cert.pem")
    result = test_ca.validate(signer, at=AT, purpose=KeyPurpose.TIMESTAMPING)
    assert not result.trusted
    assert any("timeStamping" in p for p in result.problems)


def test_generated_tsa_certificate(crl_pki: CrlPki) -> None:
    ca = crl_pki[0]
    tsa = _issue(ca, "generated TSA", eku=(ExtendedKeyUsageOID.TIME_STAMPING,))
    store = TrustStore(anchors=(ca[1],))
    assert store.validate(tsa, at=AT, purpose=KeyPurpose.TIMESTAMPING).trusted
    plain = _issue(ca, "plain signer")
    assert not store.validate(plain, at=AT, purpose=KeyPurpose.TIMESTAMPING).trusted


def test_signing_purpose_needs_signature_key_usage(crl_pki: CrlPki) -> None:
    ca_key, ca_cert = crl_pki[0]
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "encipher only")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_dt.datetime(2025, 1, 1, tzinfo=_dt.UTC))
        .not_valid_after(_dt.datetime(2030, 1, 1, tzinfo=_dt.UTC))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=False, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=True, key_cert_sign=False, crl_sign=False,
            encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                       critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    result = TrustStore(anchors=(ca_cert,)).validate(cert, at=AT)
    assert not result.trusted
    assert any("key usage" in p for p in result.problems)


def test_crl_bundle_and_a_pem_without_crl(tmp_path: Path) -> None:
    one, two = _make_ca("bundle CA one"), _make_ca("bundle CA two")
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(_crl(one, []).public_bytes(Enc.PEM) + _crl(two, []).public_bytes(Enc.PEM))
    store = TrustStore.from_paths([CA_CERT], crls=[bundle])
    assert [c.issuer for c in store.crls] == [one[1].subject, two[1].subject]
    with pytest.raises(InvalidInput, match="not a readable CRL"):
        TrustStore.from_paths([CA_CERT], crls=[CA_CERT])  # PEM, but a certificate


def test_soft_fail_warnings_reach_the_signature_report(tmp_path: Path) -> None:
    from dicomsec.cli import main
    from dicomsec.signatures import verify
    from tests.conftest import PYDICOM_FILES

    signed = tmp_path / "signed.dcm"
    assert main(["sign", str(PYDICOM_FILES / "CT_small.dcm"), "-o", str(signed), "--key",
                 str(PKI / "signer-ecp256.key.pem"), "--cert",
                 str(PKI / "signer-ecp256.cert.pem")]) == 0
    # a CRL of another CA only: the signer's status cannot be determined
    crl = _crl(_make_ca("unrelated CA"), [])
    anchors = (load_certificate(CA_CERT),)
    strict = verify(signed, trust=TrustStore(anchors=anchors, crls=(crl,))).signatures[0]
    assert strict.trust_reasons == ("revocation-unknown",) and strict.trust_warnings == ()
    soft = verify(signed, trust=TrustStore(anchors=anchors, crls=(crl,), soft_fail=True))
    report = soft.signatures[0]
    assert report.trusted and report.trust_reasons == ()
    assert len(report.trust_warnings) == 1 and "soft-fail" in report.trust_warnings[0]
    assert report.to_dict()["trust_warnings"] == list(report.trust_warnings)
