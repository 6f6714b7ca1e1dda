"""Certified timestamps (RFC 3161) for DICOM digital signatures.

A DICOM Digital Signatures Sequence item may carry a Certified Timestamp (0400,0310): the DER
RFC 3161 *TimeStampToken* (a CMS ``ContentInfo`` holding ``SignedData`` whose eContent is a
``TSTInfo``), not the whole ``TimeStampResp``. The timestamped data is the value of the
Signature (0400,0120), without any pad byte; ``TSTInfo.messageImprint`` is a digest of it.

- :class:`TimestampClient` is the edge for getting tokens; :class:`HttpTimestampClient` asks an
  RFC 3161 time-stamping authority over HTTP(S).
- :func:`verify_timestamp` checks a token against the data and a :class:`~dicomsec.trust.TrustStore`
  and returns a :class:`~dicomsec.signatures.report.TimestampReport`; it never raises for a bad
  token.

Limits: the TSA certificate must be inside the token (requests set ``certReq``); signer keys may
be RSA (PKCS#1 v1.5 or PSS), ECDSA, Ed25519 or Ed448; revocation is checked only against the CRLs
loaded in the trust store.
"""

from __future__ import annotations

import datetime as _dt
import functools
import hmac
import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from dicomsec import algorithms
from dicomsec.algorithms import Kind
from dicomsec.cms import ID_CT_TSTINFO, ID_SIGNED_DATA
from dicomsec.cms.signed import (
    SignatureProblem,
    check_content_attributes,
    first_line,
    signed_attributes,
    verify_signer_signature,
)
from dicomsec.errors import InvalidInput, UnsupportedAlgorithm, VerificationFailed
from dicomsec.signatures.report import TimestampReport

if TYPE_CHECKING:
    from cryptography import x509

    from dicomsec.trust import TrustStore

__all__ = [
    "HttpTimestampClient",
    "TimestampClient",
    "TimestampReport",
    "TimestampServiceError",
    "parse_timestamp_time",
    "verify_timestamp",
]

_OID_ATTR_SIGNING_CERT = "1.2.840.113549.1.9.16.2.12"
_OID_ATTR_SIGNING_CERT_V2 = "1.2.840.113549.1.9.16.2.47"

#: The largest TimeStampResp read from a TSA (a token with a few certificates is a few KiB).
_MAX_RESPONSE = 1 << 20

_NO_ANCHORS = "no trust anchors configured"


class TimestampServiceError(InvalidInput):
    """The time-stamping authority could not be reached, refused, or sent an unreadable answer."""


class TimestampClient(Protocol):
    """Something that gets an RFC 3161 TimeStampToken for data."""

    def timestamp(self, data: bytes) -> bytes:
        """The DER TimeStampToken (CMS ContentInfo) whose imprint is a digest of ``data``."""
        ...


# --------------------------------------------------------------------------- status


# --------------------------------------------------------------------------- parsing


class _Bad(Exception):
    """A problem that makes a token invalid; the message goes into ``problems``."""


def _digest(alg: algorithms.Algorithm, data: bytes) -> bytes:
    hasher = algorithms.new_hasher(alg)
    hasher.update(data)
    return hasher.digest()


def _digest_alg(oid: str, what: str) -> algorithms.Algorithm:
    try:
        return algorithms.by_oid(oid, Kind.DIGEST)
    except UnsupportedAlgorithm:
        raise _Bad(f"unsupported {what} digest algorithm {oid}") from None


@dataclass(slots=True)
class _Token:
    signed_data: Any
    tst_der: bytes
    imprint_alg: algorithms.Algorithm
    imprint: bytes
    gen_time: _dt.datetime
    nonce: int | None
    version: object


def _parse_token(token: bytes) -> _Token:
    """Parse the CMS/TSTInfo layers (raises :class:`_Bad` or a parser error)."""
    from asn1crypto import cms, core, tsp

    from dicomsec.cms.signed import check_signed_data_limits

    check_signed_data_limits(token, name="timestamp token")  # before the recursive parser
    try:
        info = cms.ContentInfo.load(token, strict=True)
        content_type = info["content_type"].dotted
    except (ValueError, TypeError) as exc:
        raise _Bad(f"timestamp token is not a DER CMS ContentInfo: {first_line(exc)}") from None
    if content_type != ID_SIGNED_DATA:
        raise _Bad(f"timestamp token is not CMS SignedData (content type {content_type})")
    signed_data = info["content"]
    encap = signed_data["encap_content_info"]
    e_type = encap["content_type"].dotted
    if e_type != ID_CT_TSTINFO:
        raise _Bad(f"timestamp token does not hold a TSTInfo (eContentType {e_type})")
    content = encap["content"]
    if not isinstance(content, core.ParsableOctetString) or content.contents is None:
        raise _Bad("timestamp token has no TSTInfo content")
    tst_der = content.__bytes__()
    try:
        tst = tsp.TSTInfo.load(tst_der, strict=True)
        imprint = tst["message_imprint"]
        imprint_oid = imprint["hash_algorithm"]["algorithm"].dotted
        hashed = imprint["hashed_message"].native
        gen_time = tst["gen_time"].native
        nonce = tst["nonce"].native
        version = tst["version"].native
    except (ValueError, TypeError, KeyError) as exc:
        raise _Bad(f"timestamp TSTInfo is malformed: {first_line(exc)}") from None
    if not isinstance(gen_time, _dt.datetime) or gen_time.tzinfo is None:
        raise _Bad("timestamp genTime is not a UTC time")
    if not isinstance(hashed, bytes):
        raise _Bad("timestamp message imprint is malformed")
    return _Token(
        signed_data=signed_data,
        tst_der=tst_der,
        imprint_alg=_digest_alg(imprint_oid, "message imprint"),
        imprint=hashed,
        gen_time=gen_time.astimezone(_dt.UTC),
        nonce=nonce if isinstance(nonce, int) else None,
        version=version,
    )


def _certificates(signed_data: Any) -> list[Any]:
    """The X.509 certificates (asn1crypto objects) carried in SignedData."""
    from asn1crypto import core

    certs = signed_data["certificates"]
    if isinstance(certs, core.Void):
        return []
    return [choice.chosen for choice in certs if choice.name == "certificate"]


def _rdn_count(name: Any) -> int:
    """RDNs of an asn1crypto Name, counted without an object per RDN (-1: malformed)."""
    from dicomsec.cms._der import element_spans

    try:
        return element_spans(bytes(name.chosen.contents or b""), 0)[1]
    except InvalidInput:
        return -1


def _find_signer(signer_info: Any, certs: list[Any]) -> Any:
    sid = signer_info["sid"]
    for cert in certs:
        if sid.name == "issuer_and_serial_number":
            ias = sid.chosen
            # the serial first, then the same DER, then RFC 5280 matching only for names of
            # the same RDN count (a hostile name is counted, never built RDN by RDN)
            if cert.serial_number != ias["serial_number"].native:
                continue
            if cert.issuer.dump() == ias["issuer"].dump():
                return cert
            if _rdn_count(ias["issuer"]) == len(cert.issuer.chosen) and (
                    cert.issuer == ias["issuer"]):
                return cert
        elif sid.name == "subject_key_identifier":
            if cert.key_identifier is not None and cert.key_identifier == sid.chosen.native:
                return cert
    raise _Bad("the TSA certificate is not in the timestamp token")


def _check_signing_certificate(by_type: dict[str, Any], cert_der: bytes) -> None:
    """RFC 3161 / RFC 5035: the ESS signing-certificate attribute names the TSA certificate."""
    if _OID_ATTR_SIGNING_CERT_V2 in by_type:
        ids = by_type[_OID_ATTR_SIGNING_CERT_V2]["certs"]
        if len(ids) == 0:
            raise _Bad("timestamp signingCertificateV2 attribute is empty")
        first = ids[0]
        alg = _digest_alg(first["hash_algorithm"]["algorithm"].dotted, "signing certificate")
    elif _OID_ATTR_SIGNING_CERT in by_type:
        ids = by_type[_OID_ATTR_SIGNING_CERT]["certs"]
        if len(ids) == 0:
            raise _Bad("timestamp signingCertificate attribute is empty")
        first = ids[0]
        alg = algorithms.by_name("sha1", Kind.DIGEST)
    else:
        raise _Bad("timestamp has no signing-certificate attribute (RFC 3161 requires one)")
    if not hmac.compare_digest(first["cert_hash"].native, _digest(alg, cert_der)):
        raise _Bad("timestamp signing-certificate attribute does not match the TSA certificate")


# --------------------------------------------------------------------------- verification


@dataclass(slots=True)
class _Findings:
    problems: list[str] = field(default_factory=list)
    time: _dt.datetime | None = None
    tsa: str | None = None
    hash_algorithm: str | None = None
    signer: x509.Certificate | None = None
    others: list[x509.Certificate] = field(default_factory=list)


def _check(token: bytes, data: bytes, found: _Findings) -> None:
    """Fill ``found``; every problem that makes the token invalid goes into its list."""
    from cryptography import x509 as cx509

    parsed = _parse_token(token)
    found.time = parsed.gen_time
    found.hash_algorithm = parsed.imprint_alg.name
    if parsed.version != "v1":
        found.problems.append(f"timestamp TSTInfo version {parsed.version} is not 1")
    try:
        expected = _digest(parsed.imprint_alg, data)
    except UnsupportedAlgorithm as exc:
        found.problems.append(f"timestamp: {exc}")
    else:
        if not hmac.compare_digest(expected, parsed.imprint):
            found.problems.append(
                "timestamp message imprint does not match the signature value "
                "(the timestamp belongs to other data)"
            )

    signer_infos = parsed.signed_data["signer_infos"]
    if len(signer_infos) != 1:
        raise _Bad(f"timestamp token has {len(signer_infos)} signers, RFC 3161 requires one")
    signer_info = signer_infos[0]
    certs = _certificates(parsed.signed_data)
    signer = _find_signer(signer_info, certs)
    try:
        signer_cert = cx509.load_der_x509_certificate(signer.dump())
    except ValueError as exc:
        raise _Bad(f"the TSA certificate is unreadable: {first_line(exc)}") from None
    found.signer = signer_cert
    found.tsa = signer_cert.subject.rfc4514_string()
    for cert in certs:
        if cert is signer:
            continue
        try:
            found.others.append(cx509.load_der_x509_certificate(cert.dump()))
        except ValueError:
            continue  # an unreadable extra certificate only weakens path building

    digest_alg = _digest_alg(signer_info["digest_algorithm"]["algorithm"].dotted, "signer")
    try:
        attrs = signed_attributes(signer_info)
    except SignatureProblem as exc:
        raise _Bad(f"timestamp {exc}") from None
    if attrs is None:
        raise _Bad("timestamp signature has no signed attributes")
    signed, by_type = attrs
    try:
        tst_digest = _digest(digest_alg, parsed.tst_der)
    except UnsupportedAlgorithm as exc:
        raise _Bad(f"timestamp: {exc}") from None
    try:
        check_content_attributes(by_type, ID_CT_TSTINFO, tst_digest)
        _check_signing_certificate(by_type, signer.dump())
        verify_signer_signature(signer_info, signer_cert.public_key(), signed, False, digest_alg)
    except SignatureProblem as exc:
        raise _Bad(f"timestamp {exc}") from None


def verify_timestamp(token: bytes, data: bytes, trust: TrustStore | None) -> TimestampReport:
    """Check a Certified Timestamp (DER TimeStampToken) over ``data``.

    ``valid``: the token parses, its imprint is a digest of ``data`` and its CMS signature
    (signed attributes content-type, message-digest and signing-certificate) verifies with the
    TSA certificate inside it. ``trusted``: the TSA certificate has a valid path to an anchor of
    ``trust`` at the timestamp's time, with extended key usage timeStamping.

    Never raises for a bad token: problems are listed in the returned status.
    """
    if not token:
        return TimestampReport.absent()
    found = _Findings()
    try:
        _check(bytes(token), bytes(data), found)
    except _Bad as exc:
        found.problems.append(str(exc))
    except Exception as exc:  # malformed input deep in the parser: never escapes
        found.problems.append(f"timestamp token is malformed: {first_line(exc)}")
    valid = not found.problems
    trusted = False
    if trust is None or trust.empty:
        found.problems.append(_NO_ANCHORS)
    elif valid and found.signer is not None and found.time is not None:
        from dicomsec.trust import KeyPurpose

        try:
            result = trust.validate(
                found.signer,
                at=found.time,
                purpose=KeyPurpose.TIMESTAMPING,
                extra_intermediates=found.others,
            )
        except Exception as exc:  # e.g. a TSA certificate with malformed extensions
            found.problems.append(f"TSA certificate cannot be validated: {first_line(exc)}")
        else:
            trusted = result.trusted
            found.problems.extend(f"TSA certificate: {p}" for p in result.problems)
    return TimestampReport(
        present=True,
        valid=valid,
        trusted=trusted,
        time=found.time,
        tsa=found.tsa,
        hash_algorithm=found.hash_algorithm,
        problems=tuple(found.problems),
        signer_certificate=found.signer,
    )


def parse_timestamp_time(token: bytes) -> _dt.datetime | None:
    """The genTime of a TimeStampToken (timezone-aware UTC), or ``None`` if unreadable."""
    try:
        return _parse_token(bytes(token)).gen_time
    except Exception:
        return None


# --------------------------------------------------------------------------- HTTP client


def _display_url(url: str) -> str:
    """The URL without any user:password part (messages never carry secrets)."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


@functools.cache
def _response_spec() -> Any:
    """TimeStampResp with an optional token (asn1crypto's spec requires it, RFC 3161 does not)."""
    from asn1crypto import cms, core, tsp

    class _TimeStampResp(core.Sequence):  # type: ignore[misc]
        _fields = [  # noqa: RUF012
            ("status", tsp.PKIStatusInfo),
            ("time_stamp_token", cms.ContentInfo, {"optional": True}),
        ]

    return _TimeStampResp


class HttpTimestampClient:
    """Ask an RFC 3161 time-stamping authority over HTTP or HTTPS (RFC 3161 section 3.4).

    Each request carries a random 64-bit nonce and asks for the TSA certificate; the response
    must grant the request, echo the nonce and imprint, and its token must verify (not
    necessarily be trusted: that is checked with :func:`verify_timestamp`).
    """

    def __init__(self, url: str, *, hash_name: str = "sha256", timeout: float = 30.0) -> None:
        """
        Raises:
            InvalidInput: not an http:// or https:// URL, or a timeout that is not positive.
            UnsupportedAlgorithm: unknown digest name.
            PolicyViolation: a legacy digest (SHA-1, MD5, RIPEMD-160).
        """
        from urllib.parse import urlsplit

        try:
            parts = urlsplit(url)
            host = parts.hostname
        except ValueError:
            raise InvalidInput(f"TSA URL {_display_url(url)!r} is malformed") from None
        if parts.scheme.lower() not in ("http", "https") or not host:
            raise InvalidInput(
                f"TSA URL must be an http:// or https:// URL, not {_display_url(url)!r}"
            )
        if not timeout > 0:
            raise InvalidInput(f"TSA timeout must be positive, not {timeout}")
        self.hash_algorithm = algorithms.by_name(hash_name, Kind.DIGEST)
        from dicomsec.algorithms.policy import AlgorithmPolicy, Purpose

        AlgorithmPolicy.default().require(self.hash_algorithm, None, Purpose.CREATE)
        self.url = url
        self.timeout = float(timeout)

    def __repr__(self) -> str:
        return (
            f"HttpTimestampClient({_display_url(self.url)!r}, "
            f"hash_name={self.hash_algorithm.name!r}, timeout={self.timeout})"
        )

    def timestamp(self, data: bytes) -> bytes:
        """The DER TimeStampToken for ``data`` (the Signature value bytes).

        Raises:
            TimestampServiceError: network or HTTP failure, unreadable response, refusal.
            VerificationFailed: the response does not answer this request (nonce, imprint) or
                its token does not verify.
        """
        from asn1crypto import tsp

        alg = self.hash_algorithm
        digest = _digest(alg, bytes(data))
        nonce = secrets.randbits(64)
        request = tsp.TimeStampReq(
            {
                "version": "v1",
                "message_imprint": {
                    "hash_algorithm": {"algorithm": alg.oid},
                    "hashed_message": digest,
                },
                "nonce": nonce,
                "cert_req": True,
            }
        ).dump()
        body, content_type = self._post(request)
        token = self._token_from_response(body, content_type)
        where = f"TSA at {_display_url(self.url)}"
        try:
            parsed = _parse_token(token)
        except _Bad as exc:
            raise VerificationFailed(f"{where} sent a bad token: {exc}") from None
        except Exception as exc:
            raise VerificationFailed(
                f"{where} sent a malformed token: {first_line(exc)}"
            ) from None
        if parsed.nonce != nonce:
            raise VerificationFailed(f"{where}: TSA response nonce does not match the request")
        if parsed.imprint_alg is not alg or not hmac.compare_digest(parsed.imprint, digest):
            raise VerificationFailed(
                f"{where}: TSA response message imprint does not match the request"
            )
        status = verify_timestamp(token, data, None)
        if not status.valid:
            raise VerificationFailed(
                f"{where} sent a token that does not verify: {status.problems[0]}"
            )
        return token

    def _post(self, request: bytes) -> tuple[bytes, str]:
        import http.client
        import urllib.error
        import urllib.request

        class _NoRedirect(urllib.request.HTTPRedirectHandler):
            # A POST redirected by urllib becomes a GET without body: refuse instead.
            def redirect_request(self, *args: Any, **kwargs: Any) -> None:
                return None

        where = f"TSA at {_display_url(self.url)}"
        req = urllib.request.Request(
            self.url,
            data=request,
            method="POST",
            headers={
                "Content-Type": "application/timestamp-query",
                "Accept": "application/timestamp-reply",
            },
        )
        opener = urllib.request.build_opener(_NoRedirect)
        try:
            with opener.open(req, timeout=self.timeout) as resp:
                content_type = resp.headers.get_content_type()
                body: bytes = resp.read(_MAX_RESPONSE + 1)
        except urllib.error.HTTPError as exc:
            exc.close()
            raise TimestampServiceError(
                f"{where} answered HTTP {exc.code} {exc.reason}".rstrip()
            ) from None
        except urllib.error.URLError as exc:
            raise TimestampServiceError(f"cannot reach {where}: {exc.reason}") from None
        except TimeoutError:
            raise TimestampServiceError(
                f"{where} did not answer within {self.timeout:g} s"
            ) from None
        except (OSError, http.client.HTTPException) as exc:
            raise TimestampServiceError(f"{where} failed: {first_line(exc)}") from None
        if len(body) > _MAX_RESPONSE:
            raise TimestampServiceError(f"{where} sent a response larger than 1 MiB")
        return body, content_type

    def _token_from_response(self, body: bytes, content_type: str) -> bytes:
        from asn1crypto import core

        where = f"TSA at {_display_url(self.url)}"
        try:
            resp = _response_spec().load(body, strict=True)
            status_info = resp["status"]
            status = status_info["status"].native
        except Exception:
            raise TimestampServiceError(
                f"{where} sent a response that is not a TimeStampResp "
                f"(Content-Type {content_type}, {len(body)} bytes)"
            ) from None
        if status not in ("granted", "granted_with_mods"):
            details: list[str] = []
            try:
                fail = status_info["fail_info"]
                if not isinstance(fail, core.Void):
                    details.extend(sorted(str(f) for f in fail.native))
                text = status_info["status_string"]
                if not isinstance(text, core.Void):
                    details.extend(repr(str(t)) for t in text.native)
            except Exception:  # the refusal's details are optional decoration
                details.append("unreadable status details")
            extra = f" ({'; '.join(details)})" if details else ""
            raise TimestampServiceError(f"{where} refused the request: status {status}{extra}")
        try:
            token = resp["time_stamp_token"]
            if isinstance(token, core.Void) or token.contents is None:
                raise ValueError("missing")
            return bytes(token.dump())
        except Exception:
            raise TimestampServiceError(
                f"{where} granted the request but sent no TimeStampToken"
            ) from None
