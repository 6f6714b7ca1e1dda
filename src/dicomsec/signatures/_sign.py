"""The producer: add a digital signature to the main data set or an item of a Part 10 file.

Files are never re-encoded: the new MAC Parameters and Digital Signatures items are spliced
into a byte-exact copy of the input (copied with ``os.copy_file_range`` where possible), and the
lengths of enclosing defined-length items and sequences are patched. Large values are hashed in
chunks and never held in memory. The new signature is checked before the output replaces
anything.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from dicomsec import algorithms
from dicomsec._atomic import atomic_output, in_place_lock
from dicomsec._rawdicom import (
    UNDEFINED,
    Element,
    ParsedFile,
    parse_dataset_bytes,
    parse_file,
    parse_stream,
    tag_str,
)
from dicomsec.errors import InvalidInput, PolicyViolation, VerificationFailed
from dicomsec.signatures._macstream import (
    DIGITAL_SIGNATURES_SEQUENCE,
    MAC_PARAMETERS_SEQUENCE,
    MacStream,
    is_signable,
)
from dicomsec.signatures._profiles import (
    PURPOSE_SCHEME,
    PURPOSES,
    VERIFICATION_FLAG,
    Profile,
    profile_problems,
    required_tags,
)
from dicomsec.signatures._signer import check_signer_certificate, check_value
from dicomsec.signatures._splice import (
    Copier,
    Edit,
    Encoder,
    Lengths,
    grow,
    item_bytes,
    late_cut,
    write_spliced,
)
from dicomsec.signatures._values import (
    CERT_TYPE_X509,
    CERTIFICATE_OF_SIGNER,
    CERTIFICATE_TYPE,
    CODE_MEANING,
    CODE_VALUE,
    CODING_SCHEME,
    DATA_ELEMENTS_SIGNED,
    MAC_ALGORITHM,
    MAC_ID,
    MAC_TS_UID,
    PURPOSE_SEQUENCE,
    SIGNATURE,
    SIGNATURE_DATETIME,
    SIGNATURE_UID,
    TIMESTAMP,
    TIMESTAMP_CMS_TSP,
    TIMESTAMP_TYPE,
    all_mac_ids,
    digest_stream,
    format_dt,
    is_sr,
    mac_transfer_syntax,
    new_uid,
    parse_tag,
    resolve_level,
    text_value,
)
from dicomsec.signatures._verify import verify_all
from dicomsec.signatures.report import SignResult

if TYPE_CHECKING:
    from dicomsec._rawdicom import DataSet
    from dicomsec.algorithms.policy import AlgorithmPolicy
    from dicomsec.events import AuditEvent, AuditHandler
    from dicomsec.keys import SigningKey
    from dicomsec.signatures._events import Identity
    from dicomsec.signatures.timestamp import TimestampClient

__all__ = ["FULL_SELF_CHECK_LIMIT", "sign_file"]

#: a full re-verification of the output before it replaces anything, up to this size
FULL_SELF_CHECK_LIMIT = 64 << 20
#: Data Elements Signed is AT: in explicit VR its 2-byte length holds at most 16383 tags
_MAX_SIGNED_EXPLICIT = 0xFFFF // 4
#: at most this many elements and items are added by one signature (the self-check of the
#: output allows them beyond the limits the input was read with)
_NEW_ELEMENTS, _NEW_ITEMS = 32, 4


@dataclass(frozen=True, slots=True)
class _Request:
    """The checked choices of one signing: profile, MAC and signature algorithms, purpose."""

    profile: Profile
    mac: algorithms.Algorithm
    scheme: algorithms.Algorithm
    purpose: int | None


def _check_request(key: SigningKey, profile: Profile | str, mac: str, purpose: int | None,
                   policy: AlgorithmPolicy | None, allow_legacy: bool,
                   at: _dt.datetime) -> _Request:
    """Refuse unknown algorithms, algorithms (and keys) ``policy`` (default: the default
    policy; ``allow_legacy``: with legacy allowed) refuses for creation on the day ``at`` (the
    MAC digest, then the signature scheme with the signer's public key), unknown purposes.

    Raises:
        InvalidInput: an unknown or non-DICOM MAC algorithm, an unknown purpose.
        PolicyViolation: refused by the policy (the message names it), ECDSA with a MAC
            digest it cannot sign.
    """
    from dicomsec.algorithms.policy import AlgorithmPolicy, Purpose

    policy = policy or AlgorithmPolicy.default()
    if allow_legacy:
        policy = policy.with_legacy_allowed()
    profile = Profile(profile) if isinstance(profile, str) else profile
    mac_alg = algorithms.by_name(mac, algorithms.Kind.DIGEST)
    if mac_alg.dicom_term is None:
        raise InvalidInput(f"{mac_alg.name} is not a DICOM MAC algorithm")
    policy.require(mac_alg, None, Purpose.CREATE, at)
    scheme = key.scheme
    check_signer_certificate(key.certificate, at=at)  # before any byte of the input is read
    policy.require(scheme, key.certificate.public_key(), Purpose.CREATE, at)
    if scheme.family is algorithms.Family.EC and mac_alg.digest_info_prefix:
        raise PolicyViolation(f"ECDSA with {mac_alg.name} is not supported")
    if purpose is not None and purpose not in PURPOSES:
        raise InvalidInput(f"unknown signature purpose {purpose} (use 1-18)")
    if profile is Profile.SR_VERIFICATION and purpose is None:
        purpose = 5
    return _Request(profile, mac_alg, scheme, purpose)


def _choose_signed(elements: list[Element], tags: Sequence[str | int] | None,
                   profile: Profile, *, implicit: bool = False) -> set[int]:
    """The tags to sign: every signable attribute of the level, or ``tags`` plus those the
    profile requires.

    Raises:
        InvalidInput: nothing to sign, an absent or unsignable tag, more attributes than
            Data Elements Signed can list (an AT value of at most 65534 bytes in explicit VR).
    """
    signable = [e for e in elements if is_signable(e)]
    most = UNDEFINED // 4 if implicit else _MAX_SIGNED_EXPLICIT
    if tags is None and len(signable) > most:
        raise InvalidInput(f"{len(signable)} attributes to sign at one level: Data Elements "
                           f"Signed can list at most {most} in this transfer syntax")
    if tags is None:
        signed = {e.tag for e in signable}
    else:
        signed = set()
        present = {e.tag: e for e in elements}
        for t in tags:
            tag = t if isinstance(t, int) else parse_tag(t)
            el = present.get(tag)
            if el is None:
                raise InvalidInput(f"attribute {tag_str(tag)} to sign is absent")
            if not is_signable(el):
                raise InvalidInput(f"attribute {tag_str(tag)} cannot be signed")
            signed.add(tag)
        need, _missing = required_tags(profile, elements)
        need &= {e.tag for e in signable}  # unsignable ones make the profile check fail
        signed |= need
    if not signed:
        raise InvalidInput("nothing to sign at this level")
    if len(signed) > most:
        raise InvalidInput(f"{len(signed)} attributes to sign at one level: Data Elements "
                           f"Signed can list at most {most} in this transfer syntax")
    return signed


def _check_profile(req: _Request, parsed: ParsedFile, fh: BinaryIO, level: DataSet,
                   signed: set[int]) -> None:
    """Refuse a signature that would not meet the requested profile."""
    problems = profile_problems(
        req.profile, level_elements=level.elements, signed=signed, scheme=req.scheme,
        mac=req.mac, purpose=req.purpose, main_level=level.parent_item is None,
        verification_flag=text_value(parsed, fh, level.find(VERIFICATION_FLAG)),
        creating=True, sr_document=is_sr(parsed, fh),
    )
    if problems:
        raise PolicyViolation(f"profile {req.profile.value}: " + "; ".join(problems))


@dataclass(slots=True)
class _SignatureItem:
    """The new Digital Signatures Sequence item (PS3.3 C.12.1.1.3): part B of the MAC stream
    first; the Certificate of Signer, the Signature and a timestamp once signed."""

    mac_id: int
    uid: str
    moment: str  # DT, as dcmsign writes it
    purpose: int | None
    certificate: bytes = b""
    value: bytes = b""
    timestamp: bytes | None = None

    def encode(self, enc: Encoder) -> bytes:
        """The item's content in tag order (what pydicom's ``write_dataset`` wrote)."""
        parts = [enc.us(MAC_ID, self.mac_id), enc.text(SIGNATURE_UID, "UI", self.uid),
                 enc.text(SIGNATURE_DATETIME, "DT", self.moment),
                 enc.text(CERTIFICATE_TYPE, "CS", CERT_TYPE_X509)]
        if self.value:
            parts += [enc.element(CERTIFICATE_OF_SIGNER, "OB", self.certificate),
                      enc.element(SIGNATURE, "OB", self.value)]
        if self.timestamp is not None:
            parts += [enc.text(TIMESTAMP_TYPE, "CS", TIMESTAMP_CMS_TSP),
                      enc.element(TIMESTAMP, "OB", self.timestamp)]
        if self.purpose is not None:
            code = b"".join([enc.text(CODE_VALUE, "SH", str(self.purpose)),
                             enc.text(CODING_SCHEME, "SH", PURPOSE_SCHEME),
                             enc.text(CODE_MEANING, "LO", PURPOSES[self.purpose])])
            parts.append(enc.sequence(PURPOSE_SEQUENCE, [code]))
        return b"".join(parts)


def _signature_item(mac_id: int, uid: str, moment: _dt.datetime,
                    purpose: int | None) -> _SignatureItem:
    """The new Digital Signatures Sequence item, without its value and certificate yet."""
    return _SignatureItem(mac_id, uid, format_dt(moment), purpose)


def _mac_item_bytes(parsed: ParsedFile, mac_id: int, mac: algorithms.Algorithm,
                    hashed: list[int]) -> bytes:
    """The new MAC Parameters item, encoded as the file is."""
    enc = Encoder(parsed.little_endian, parsed.implicit_vr)
    content = b"".join([
        enc.us(MAC_ID, mac_id), enc.text(MAC_TS_UID, "UI", mac_transfer_syntax(parsed)),
        enc.text(MAC_ALGORITHM, "CS", mac.dicom_term or ""), enc.at(DATA_ELEMENTS_SIGNED, hashed),
    ])
    return item_bytes(content, parsed.little_endian)


def _complete(sig_item: _SignatureItem, digest: bytes, *, key: SigningKey,
              mac: algorithms.Algorithm, deterministic: bool,
              timestamp_client: TimestampClient | None) -> None:
    """Sign the digest, check the value, and add it, the certificate and a timestamp."""
    from cryptography.hazmat.primitives.serialization import Encoding

    value = key.sign_digest(digest, mac, deterministic=deterministic)
    check_value(key.certificate, value, digest, mac)
    sig_item.certificate = key.certificate.public_bytes(Encoding.DER)
    sig_item.value = value
    if timestamp_client is not None:
        sig_item.timestamp = timestamp_client.timestamp(value)


def sign_file(
    src: Path,
    dst: Path,
    *,
    key: SigningKey,
    profile: Profile | str = Profile.NONE,
    mac: str = "sha256",
    purpose: int | None = None,
    item: str | None = None,
    tags: Sequence[str | int] | None = None,
    deterministic: bool = False,
    timestamp_client: TimestampClient | None = None,
    allow_legacy: bool = False,
    now: _dt.datetime | None = None,
    policy: AlgorithmPolicy | None = None,
    handlers: Iterable[AuditHandler] | None = None,
) -> SignResult:
    """Add a digital signature to the main data set or an item of a Part 10 file.

    ``dst`` may equal ``src`` (in place); the output is written atomically and the new
    signature is checked before it replaces anything. ``policy`` (default: the default
    policy; ``allow_legacy=True`` allows legacy) judges the MAC digest and the scheme with the
    signer's key for creation on the day ``now`` (default: now, the Digital Signature DateTime).

    Raises:
        InvalidInput: unreadable input, bad item path or tag, unknown algorithm.
        PolicyViolation: refused by the policy (legacy algorithm without ``allow_legacy``, weak
            key, a date or a site rule; the message names the policy), profile not met.

    ``handlers`` get one audit event (:mod:`dicomsec.events`): SIGN with the study, the
    patient and the output file; a refusal by the policy or the profile POLICY_VIOLATION;
    any other failure SIGN with outcome 4 and the error as Alert Description.
    """
    from dicomsec.events import Operation
    from dicomsec.signatures._events import Identity, emit_built, failure_event, identity_objects

    seen: list[Identity] = []
    try:
        result = _sign_file(
            Path(src), Path(dst), key=key, profile=profile, mac=mac, purpose=purpose,
            item=item, tags=tags, deterministic=deterministic,
            timestamp_client=timestamp_client, allow_legacy=allow_legacy, now=now,
            policy=policy, seen=seen if handlers else None)
    except Exception as exc:  # every failure is audited (an OSError too)
        emit_built(handlers, failure_event, Operation.SIGN, exc, src,
                   identity_objects(seen[0]) if seen else ())
        raise
    emit_built(handlers, _sign_event, result, seen[0] if seen else Identity())
    return result


def _sign_event(result: SignResult, ident: Identity) -> AuditEvent:
    """SIGN: the study and patient of the signed file, and the output file."""
    from dicomsec.events import AuditEvent, Operation
    from dicomsec.signatures._events import file_object, identity_objects

    return AuditEvent(Operation.SIGN, objects=(*identity_objects(ident),
                                               file_object(result.path)))


def _sign_file(
    src: Path, dst: Path, *, key: SigningKey, profile: Profile | str, mac: str,
    purpose: int | None, item: str | None, tags: Sequence[str | int] | None,
    deterministic: bool, timestamp_client: TimestampClient | None, allow_legacy: bool,
    now: _dt.datetime | None, policy: AlgorithmPolicy | None, seen: list[Identity] | None,
) -> SignResult:
    """:func:`sign_file`; the input's identity is appended to ``seen`` (when given)."""
    now = now or _dt.datetime.now(_dt.UTC)
    req = _check_request(key, profile, mac, purpose, policy, allow_legacy, now)
    with in_place_lock(src, dst), open(src, "rb") as fh:  # in place: one signer at a time
        parsed = parse_file(src, fh)
        if seen is not None:
            from dicomsec.signatures._events import parsed_identity

            seen.append(parsed_identity(parsed, fh))
        size = fh.seek(0, 2)
        level = resolve_level(parsed, item)
        signed = _choose_signed(level.elements, tags, req.profile, implicit=parsed.implicit_vr)
        _check_profile(req, parsed, fh, level, signed)
        used = all_mac_ids(parsed, fh)
        mac_id = next((i for i in range(0x10000) if i not in used), None)
        if mac_id is None:
            raise InvalidInput("every MAC ID Number is in use", path=str(src))
        uid = new_uid()
        sig_item = _signature_item(mac_id, uid, now.astimezone(),
                                   req.purpose)
        # part B is encoded in the file's byte order so that MacStream treats it like file data
        little, implicit = parsed.little_endian, parsed.implicit_vr
        part_b = parse_dataset_bytes(sig_item.encode(Encoder(little, False)), little=little)
        hashed = sorted(signed)
        location = level.path() or "main"
        early: list[Edit] = []
        delta = grow(parsed, level.elements, level, MAC_PARAMETERS_SEQUENCE,
                     _mac_item_bytes(parsed, mac_id, req.mac, hashed), early)
        cut = late_cut(parsed, level, level.elements, size)
        with atomic_output(dst) as out:
            # The output up to the first signature-dependent edit is copied in a thread while
            # the MAC is computed (copy_file_range and hashlib both release the GIL).
            copier = Copier(src, out, early, cut, size)
            copier.start()
            try:
                digest = digest_stream(MacStream(parsed, fh), req.mac, level.elements, signed,
                                       part_b)
                _complete(sig_item, digest, key=key, mac=req.mac, deterministic=deterministic,
                          timestamp_client=timestamp_client)
            finally:
                copier.join()
            late: list[Edit] = []
            delta += grow(parsed, level.elements, level, DIGITAL_SIGNATURES_SEQUENCE,
                          item_bytes(sig_item.encode(Encoder(little, implicit)), little), late)
            lengths = Lengths()
            lengths.resize_ancestors(level, delta)
            write_spliced(fh, out, early + late + lengths.edits(little), cut, size)
            out.flush()
            del parsed, level, signed, part_b  # the output is parsed again: one tree at a time
            _self_check(dst, out, uid, full=size <= FULL_SELF_CHECK_LIMIT)
    return SignResult(
        path=str(dst), uid=uid, location=location, mac_id=mac_id,
        mac_algorithm=req.mac.dicom_term or req.mac.name, signature_algorithm=req.scheme.name,
        signed_tags=tuple(tag_str(t) for t in hashed), profile=req.profile.value,
        timestamp=timestamp_client is not None,
    )


def _self_check(dst: Path, out: BinaryIO, uid: str, *, full: bool) -> None:
    """Re-read the written output and check the new signature before it is renamed.

    Up to ``FULL_SELF_CHECK_LIMIT`` the new signature is verified in full; above it the
    output's structure is parsed again (the value was already checked against the digest).
    """
    from dicomsec import limits

    size = out.seek(0, 2)
    lim = limits.current()  # the output has what the input had, plus the new signature's
    grown = lim.replaced(elements=lim.elements + _NEW_ELEMENTS, items=lim.items + _NEW_ITEMS,
                         signatures=lim.signatures + 1)
    with open(out.name, "rb") as reader, limits.applied(grown):
        parsed = parse_stream(reader, size, str(dst))
        if not full:
            return
        reports, _ = verify_all(parsed, reader, trust=None, only_uid=uid)
        ts_ok = not reports or reports[0].timestamp is None or reports[0].timestamp.valid
        if not reports or not reports[0].valid or not ts_ok:
            problems = reports[0].problems if reports else ("signature not found",)
            raise VerificationFailed("the signed output does not verify: " + "; ".join(problems))
