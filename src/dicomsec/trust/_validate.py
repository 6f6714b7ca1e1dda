"""Certificate path validation with revocation, on pyhanko-certvalidator (low-level; use
:meth:`TrustStore.validate <dicomsec.trust.TrustStore.validate>`).

One validation is:

1. the *path run*: pyhanko builds and validates a path from the certificate to an explicit
   anchor at the moment ``at`` (signatures, validity periods, name chaining, basic
   constraints, CA key usage, the algorithm policy), without revocation;
2. per certificate of that path below the anchor, whether its revocation is *checked*: every
   one is when the caller gave any CRL or OCSP response (revocation checking was asked for);
   otherwise one is when fetching is allowed and it declares a CRL distribution point or an
   OCSP URL (they are fetched, :mod:`._fetch`, whenever fetching is allowed);
3. a *revocation run* per checked certificate: pyhanko validates it as the end of its path at
   ``revocation_at`` with revocation information required for it (``CRL_OR_OCSP_REQUIRED``)
   and treated as retroactive (a CRL issued later speaks for the earlier moment);
4. what pyhanko does not apply: ``certificateHold`` entries count as revoked whatever their
   date, and a keyCompromise entry whose ``invalidityDate`` is not after ``at`` revokes.

A checked certificate whose status cannot be determined fails (``revocation-unknown``) unless
soft-fail. A certificate for which nothing of 2 holds is reported "revocation not checked"
(nothing was given and nothing can be fetched; RFC 5280 does not require revocation
checking). docs/validation.md gives the reasons.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dicomsec.trust import _candidates, _urls
from dicomsec.trust._request import PATHS_CACHED, Request, cached_path, remember_path
from dicomsec.trust._result import ChainResult, RevocationStatus

if TYPE_CHECKING:
    from asn1crypto import x509 as asn1_x509
    from cryptography import x509


__all__ = ["Request", "validate"]


@dataclass(slots=True)
class _Level:
    """One certificate of the path below the anchor, with its issuer and revocation data."""

    cert: x509.Certificate
    issuer: x509.Certificate
    crls: list[x509.CertificateRevocationList] = field(default_factory=list)
    ocsps: list[bytes] = field(default_factory=list)
    declared: bool = False
    #: the caller gave revocation data (for any certificate): this one must be determined too
    required: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def checked(self) -> bool:
        return bool(self.crls or self.ocsps or self.declared or self.required)

    @property
    def source(self) -> str:
        kinds = [k for k, have in (("crl", self.crls), ("ocsp", self.ocsps)) if have]
        return "+".join(kinds) or "none"


def _name(cert: x509.Certificate) -> str:
    return cert.subject.rfc4514_string() or "(empty subject)"


def _asn1(cert: x509.Certificate) -> asn1_x509.Certificate:
    from asn1crypto import x509 as asn1_x509
    from cryptography.hazmat.primitives import serialization

    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


def _load(der: bytes) -> asn1_x509.Certificate:
    from asn1crypto import x509 as asn1_x509

    return asn1_x509.Certificate.load(der)


def validate(req: Request) -> ChainResult:
    """Run one validation (see the module docstring); never raises for an untrusted chain.

    pyhanko's API is async: run it in a fresh event loop, in a worker thread when the caller
    is itself inside a running loop. A path validated earlier the same day with nothing to
    check for revocation needs no loop at all (``verify`` of many files by one signer)."""
    chain = cached_path(req)
    if chain is not None:
        levels = _levels(req, chain)
        if req.allow_fetching:
            _fetch_for(levels)  # answered by the fetch cache when fetched lately
        known = [_known_status(req, lv) for lv in levels]
        if all(st is not None for st in known):
            return _verdict(req, chain, [_after_pyhanko(req, lv, st) for lv, st
                                         in zip(levels, known, strict=True) if st is not None])
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(_validate(req))
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, _validate(req)).result()


async def _validate(req: Request) -> ChainResult:
    from pyhanko_certvalidator.errors import PathBuildingError, ValidationError

    # DER here, parsed afresh for every run: asn1crypto objects change their own encoding once
    # pyhanko has read some fields (a subjectUniqueID certificate, PKITS 4.3.6, then fails
    # its signature check in the next run), so no parsed certificate is shared between runs
    roots = [c.public_bytes(_der()) for c in req.anchors]
    pool = [c.public_bytes(_der()) for c in req.intermediates]
    chain = cached_path(req)
    if chain is None:
        refused = _candidates.over_budget(req.cert, req.intermediates)
        if refused is not None:
            return ChainResult(False, (f"certificate chain not checked: {refused}",),
                               reasons=("invalid",))
        try:
            chain = await _path_run(req, roots, pool)
        except (PathBuildingError, ValidationError) as exc:
            return _failed_path(req, exc)
        except _MALFORMED as exc:  # a certificate the libraries cannot process
            why = _first_line(str(exc)) or type(exc).__name__
            return ChainResult(False, (f"certificate chain not checkable: {why}",),
                               reasons=("invalid",))
        remember_path(req, chain)
    levels = _levels(req, chain)
    if req.allow_fetching:
        # in this thread, blocking this private loop: every fetch has its own deadline, and a
        # signal (Ctrl-C, SIGTERM) ends the wait at once, where a ``to_thread`` worker would
        # keep ``asyncio.run`` waiting for it on the way out
        _fetch_for(levels)
    # every CRL and OCSP response in hand goes to each run: a CRL issuer's own certificate
    # (PKITS 4.4.19) needs the revocation data of its own issuer
    crls = list(dict.fromkeys(c.public_bytes(_der()) for c in
                              (*req.crls, *(c for lv in levels for c in lv.crls))))
    ocsps = list(dict.fromkeys((*req.ocsps, *(o for lv in levels for o in lv.ocsps))))
    statuses = []
    for lv in levels:
        st = _known_status(req, lv)
        if st is None:
            st = await _revocation_run(req, roots, pool, lv, crls, ocsps)
            _remember_status(req, lv, st)
        statuses.append(st)
    statuses = [_after_pyhanko(req, lv, st) for lv, st in zip(levels, statuses, strict=True)]
    return _verdict(req, chain, statuses)


#: what malformed certificates, CRLs or responses raise inside asn1crypto and pyhanko
_MALFORMED = (ValueError, TypeError, KeyError, NotImplementedError)

#: at most this many validated paths are kept per trust store
_PATHS_CACHED = PATHS_CACHED


def _status_key(lv: _Level) -> tuple[Any, ...]:
    return (lv.cert, lv.issuer, tuple(c.signature for c in lv.crls), tuple(lv.ocsps))


def _known_status(req: Request, lv: _Level) -> RevocationStatus | None:
    """The status of ``lv`` without a pyhanko run: "not checked", or a "good" verdict of the
    same certificate from the same revocation data judged at another moment that is still
    inside the data's freshness and the certificate's validity (a "good" answer of data that
    list the certificate nowhere cannot change within it); ``None``: run pyhanko."""
    if not lv.checked:
        return RevocationStatus(_name(lv.cert))
    if req.status_cache is None:
        return None
    hit = req.status_cache.get(_status_key(lv))
    if hit is None:
        return None
    status, _judged_at, fresh_until = hit
    cert = lv.cert
    moment = req.revocation_at
    if cert.not_valid_before_utc <= moment <= min(fresh_until, cert.not_valid_after_utc):
        return status
    return None


def _remember_status(req: Request, lv: _Level, st: RevocationStatus) -> None:
    """Keep a "good" verdict when no CRL of the level lists the certificate and every OCSP
    answer about it is good, until the earliest nextUpdate of them."""
    if req.status_cache is None or st.status != "good" or len(req.status_cache) >= _PATHS_CACHED:
        return
    from cryptography.x509 import ocsp

    until: list[_dt.datetime] = []
    for crl in lv.crls:
        if crl.next_update_utc is None:
            return
        if crl.get_revoked_certificate_by_serial_number(lv.cert.serial_number) is not None:
            return
        until.append(crl.next_update_utc)
    for der in lv.ocsps:
        single = _ocsp_for(der, lv.cert, lv.issuer)
        if single is None or single.certificate_status != ocsp.OCSPCertStatus.GOOD \
                or single.next_update_utc is None:
            return
        until.append(single.next_update_utc)
    if until:
        req.status_cache[_status_key(lv)] = (st, req.revocation_at, min(until))


def _context(req: Request, roots: list[bytes], pool: list[bytes], *, moment: _dt.datetime,
             revocation: bool, crls: Sequence[bytes] = (),
             ocsps: Sequence[bytes] = ()) -> Any:
    from pyhanko_certvalidator import ValidationContext
    from pyhanko_certvalidator.policy_decl import (
        NO_REVOCATION,
        CertRevTrustPolicy,
        RevocationCheckingPolicy,
        RevocationCheckingRule,
    )

    from dicomsec.trust._algorithms import CertificateAlgorithmPolicy

    rules = (RevocationCheckingPolicy(RevocationCheckingRule.CRL_OR_OCSP_REQUIRED,
                                      RevocationCheckingRule.NO_CHECK)
             if revocation else NO_REVOCATION)
    return ValidationContext(
        trust_roots=[_load(d) for d in roots],  # always explicit: never the OS list
        other_certs=[_load(d) for d in pool], moment=moment, allow_fetching=False,
        crls=list(crls), ocsps=list(ocsps),
        revinfo_policy=CertRevTrustPolicy(rules, retroactive_revinfo=True),
        algorithm_usage_policy=CertificateAlgorithmPolicy(req.algorithm_policy),
    )


async def _path_run(req: Request, roots: list[bytes], pool: list[bytes]
                    ) -> list[x509.Certificate]:
    """The path from ``req.cert`` to its anchor (leaf first), validated at ``req.at``."""
    from cryptography import x509
    from pyhanko_certvalidator import CertificateValidator

    vc = _context(req, roots, pool, moment=req.at, revocation=False)
    try:
        path = await CertificateValidator(_asn1(req.cert), validation_context=vc
                                          ).async_validate_path()
    finally:
        await vc.aclose()
    known = {c.public_bytes(_der()): c for c in (req.cert, *req.anchors, *req.intermediates)}
    out = []
    for item in path.iter_certs(include_root=True):
        der = item.dump()
        out.append(known.get(der) or x509.load_der_x509_certificate(der))
    return out[::-1]


def _der() -> Any:
    from cryptography.hazmat.primitives import serialization

    return serialization.Encoding.DER


def _levels(req: Request, chain: list[x509.Certificate]) -> list[_Level]:
    """The certificates below the anchor with the revocation data given for each."""
    levels = []
    required = bool(req.crls or req.ocsps)
    for cert, issuer in itertools.pairwise(chain):
        lv = _Level(cert, issuer, required=required)
        lv.crls = [c for c in req.crls if c.issuer == issuer.subject]
        # pyhanko consults OCSP only for certificates that name a responder (AIA): a response
        # for another certificate would be ignored, so it does not make the level checked
        if _urls.ocsp_urls(cert):
            lv.ocsps = [o for o in req.ocsps if _ocsp_for(o, cert, issuer) is not None]
        lv.declared = req.allow_fetching and bool(_urls.crl_urls(cert) or _urls.ocsp_urls(cert))
        levels.append(lv)
    return levels


def _fetch_for(levels: list[_Level]) -> None:
    """Fetch the CRLs and OCSP responses the certificates declare (blocking; each fetch
    within :data:`._fetch.DEADLINE`)."""
    from cryptography import x509

    for lv in levels:
        if not lv.declared:
            continue
        from dicomsec.trust import _fetch  # imported only when something is fetched

        for url in _urls.crl_urls(lv.cert):
            got = _fetch.fetch_crl(url)
            if got.data is None:
                lv.notes.append(got.error)
                continue
            crl = x509.load_der_x509_crl(got.data)
            if crl.issuer == lv.issuer.subject and crl not in lv.crls:
                lv.crls.append(crl)
        for url in _urls.ocsp_urls(lv.cert):
            got = _fetch.fetch_ocsp(url, lv.cert, lv.issuer)
            if got.data is None:
                lv.notes.append(got.error)
            elif _ocsp_for(got.data, lv.cert, lv.issuer) is not None:
                lv.ocsps.append(got.data)


def _ocsp_for(der: bytes, cert: x509.Certificate, issuer: x509.Certificate) -> Any:
    """The single response of the OCSP response ``der`` about ``cert`` (``None``: none)."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509 import ocsp

    try:
        response = ocsp.load_der_ocsp_response(der)
        if response.response_status != ocsp.OCSPResponseStatus.SUCCESSFUL:
            return None
        for single in response.responses:
            if single.serial_number != cert.serial_number:
                continue
            digest = hashes.Hash(single.hash_algorithm)
            digest.update(issuer.subject.public_bytes())
            if digest.finalize() == single.issuer_name_hash:
                return single
    except (ValueError, TypeError):
        return None
    return None


async def _revocation_run(req: Request, roots: list[bytes], pool: list[bytes], lv: _Level,
                          crls: list[bytes], ocsps: list[bytes]) -> RevocationStatus:
    """pyhanko's revocation verdict on one checked certificate at ``req.revocation_at``
    (at ``req.at`` when the certificate is no longer valid then: its validity was judged)."""
    from pyhanko_certvalidator import CertificateValidator
    from pyhanko_certvalidator.errors import (
        ExpiredError,
        InsufficientRevinfoError,
        NotYetValidError,
        RevokedError,
        ValidationError,
    )

    base = RevocationStatus(_name(lv.cert), True, lv.source)
    for moment in dict.fromkeys((req.revocation_at, req.at)):
        vc = _context(req, roots, [*pool, lv.issuer.public_bytes(_der())], moment=moment,
                      revocation=True, crls=crls, ocsps=ocsps)
        try:
            await CertificateValidator(_asn1(lv.cert), validation_context=vc
                                       ).async_validate_path()
            return _replace(base, status="good")
        except RevokedError as exc:
            return _replace(base, status="revoked", revoked_at=exc.revocation_dt,
                            reason=exc.reason.native or "unspecified")
        except (ExpiredError, NotYetValidError):
            continue  # not valid at revocation_at: judge revocation at ``at``
        except InsufficientRevinfoError as exc:
            return _replace(base, status="unknown", detail=_unknown_detail(lv, exc))
        except ValidationError as exc:
            return _replace(base, status="unknown", detail=_first_line(str(exc)))
        except _MALFORMED as exc:
            return _replace(base, status="unknown", detail=f"revocation data not checkable: "
                            f"{_first_line(str(exc)) or type(exc).__name__}")
        finally:
            await vc.aclose()
    return _replace(base, status="unknown", detail="no moment to judge its revocation at")


def _replace(st: RevocationStatus, **changes: Any) -> RevocationStatus:
    import dataclasses

    return dataclasses.replace(st, **changes)


def _unknown_detail(lv: _Level, exc: BaseException) -> str:
    from pyhanko_certvalidator.errors import StaleRevinfoError

    parts = list(lv.notes)
    if isinstance(exc, StaleRevinfoError):
        parts.append("the CRL or OCSP response is out of date at the validation time")
    else:
        bad = [c for c in lv.crls if not _crl_signed_by(c, lv.issuer)]
        if bad:
            parts.append("a CRL's signature does not verify; CRL ignored")
        text = _first_line(str(exc))
        parts.append(text or "no usable CRL or OCSP response")
    return "; ".join(parts)


def _crl_signed_by(crl: x509.CertificateRevocationList, issuer: x509.Certificate) -> bool:
    try:
        return crl.is_signature_valid(issuer.public_key())  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


def _after_pyhanko(req: Request, lv: _Level, st: RevocationStatus) -> RevocationStatus:
    """certificateHold counts as revoked whatever its date; keyCompromise counts from its
    invalidityDate when that is not after ``req.at`` (spec §5: pyhanko applies neither)."""
    if st.status in ("revoked", "not-checked"):
        return st
    from cryptography import x509

    for crl in lv.crls:
        entry = crl.get_revoked_certificate_by_serial_number(lv.cert.serial_number)
        if entry is None or not _crl_signed_by(crl, lv.issuer):
            continue
        reason = _entry_ext(entry, x509.CRLReason)
        flag = reason.reason if reason is not None else None
        if flag is x509.ReasonFlags.certificate_hold:
            return _replace(st, status="revoked", revoked_at=entry.revocation_date_utc,
                            reason="certificate_hold")
        invalid = _entry_ext(entry, x509.InvalidityDate)
        if (flag is x509.ReasonFlags.key_compromise and invalid is not None
                and _aware(invalid.invalidity_date_utc) <= _aware(req.at)):
            return _replace(st, status="revoked", revoked_at=_aware(invalid.invalidity_date_utc),
                            reason="key_compromise")
    return st


def _entry_ext(entry: x509.RevokedCertificate, cls: type[Any]) -> Any:
    from cryptography import x509

    try:
        return entry.extensions.get_extension_for_class(cls).value
    except x509.ExtensionNotFound:
        return None


def _aware(moment: _dt.datetime) -> _dt.datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=_dt.UTC)


def _first_line(text: str) -> str:
    """The first line of a pyhanko message, without its boilerplate opening."""
    line = text.strip().splitlines()[0] if text.strip() else ""
    for opening in ("The path could not be validated because ", "the end-entity certificate "):
        if line.startswith(opening):
            line = line[len(opening):]
    return line


def _verdict(req: Request, chain: list[x509.Certificate],
             statuses: list[RevocationStatus]) -> ChainResult:
    problems: list[str] = []
    reasons: list[str] = []
    warnings: list[str] = []
    revoked_at, revocation_reason = None, None
    for st in statuses:
        if st.status == "revoked":
            reasons.append("revoked")
            when = st.revoked_at
            problems.append(f"certificate {st.subject} revoked"
                            + (f" on {when:%Y-%m-%d}" if when else "")
                            + f" ({st.reason or 'unspecified'})")
            if revoked_at is None:
                revoked_at, revocation_reason = st.revoked_at, st.reason
        elif st.status == "unknown":
            text = f"revocation status of certificate {st.subject} unknown: {st.detail}"
            if req.soft_fail:
                warnings.append(text + " (passed: soft-fail)")
            else:
                reasons.append("revocation-unknown")
                problems.append(text)
    return ChainResult(not problems, tuple(problems), tuple(chain),
                       reasons=tuple(dict.fromkeys(reasons)), revoked_at=revoked_at,
                       revocation_reason=revocation_reason, revocation=tuple(statuses),
                       soft_fail_warnings=tuple(warnings))


def _failed_path(req: Request, exc: BaseException) -> ChainResult:
    """A path that could not be built or validated: the reason code and one sentence."""
    from pyhanko_certvalidator import errors as e

    message = _first_line(str(exc)) or type(exc).__name__
    if isinstance(exc, e.ExpiredError):
        code = "expired"
        sentence = _dated(exc, req, "expired on", exc.expired_dt)
    elif isinstance(exc, e.NotYetValidError):
        code = "not-yet-valid"
        sentence = _dated(exc, req, "not valid before", exc.valid_from)
    elif isinstance(exc, e.PathBuildingError):
        code, sentence = "unknown-issuer", f"certificate chain not trusted: {message}"
    elif isinstance(exc, e.DisallowedAlgorithmError):
        code, sentence = "algorithm-not-allowed", f"certificate chain not trusted: {message}"
    elif isinstance(exc, e.InvalidCertificateError):
        code, sentence = "wrong-key-usage", f"certificate chain not trusted: {message}"
    elif _is_signature_failure(exc, message):
        code, sentence = "bad-signature", f"certificate chain not trusted: {message}"
    else:
        code, sentence = "invalid", f"certificate chain not trusted: {message}"
    return ChainResult(False, (sentence,), reasons=(code,))


def _is_signature_failure(exc: BaseException, message: str) -> bool:
    from cryptography.exceptions import InvalidSignature

    return isinstance(exc, InvalidSignature) or "signature" in message.lower()


def _dated(exc: Any, req: Request, verb: str, when: _dt.datetime) -> str:
    """"certificate CN=X expired on 2026-11-02 10:00 UTC (validation time ...)"."""
    subject = "a certificate of the path"
    for cert in (req.cert, *req.intermediates, *req.anchors):
        edge = cert.not_valid_after_utc if verb.startswith("expired") else \
            cert.not_valid_before_utc
        if abs((edge - _aware(when)).total_seconds()) < 1:
            subject = f"certificate {_name(cert)}"
            break
    return (f"{subject} {verb} {_aware(when):%Y-%m-%d %H:%M} UTC "
            f"(validation time {_aware(req.at):%Y-%m-%d %H:%M} UTC)")
