"""Sign, verify, list and remove DICOM digital signatures on Part 10 files.

Files are never re-encoded: new attributes are spliced into a byte-exact copy of the input
(copied with ``os.copy_file_range`` where possible), and the lengths of enclosing defined-length
items and sequences are patched. Large values are hashed in chunks and never held in memory.
"""

from __future__ import annotations

import datetime as _dt
import io
import logging
import re
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from dicomsec import algorithms
from dicomsec._atomic import atomic_output
from dicomsec._rawdicom import (
    EXPLICIT_BE,
    EXPLICIT_LE,
    IMPLICIT_LE,
    UNDEFINED,
    DataSet,
    Element,
    Item,
    ParsedFile,
    find,
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
    value_bytes,
)
from dicomsec.signatures._profiles import (
    PURPOSE_SCHEME,
    PURPOSES,
    VERIFICATION_FLAG,
    Profile,
    profile_problems,
    required_tags,
)
from dicomsec.signatures._splice import (
    Copier,
    Edit,
    Lengths,
    encode_dataset,
    grow,
    item_bytes,
    late_cut,
    shrink,
    write_spliced,
)
from dicomsec.signatures.report import FileReport, SignatureReport

if TYPE_CHECKING:
    from cryptography import x509
    from pydicom.dataset import Dataset

    from dicomsec.keys import SigningKey
    from dicomsec.signatures.timestamp import TimestampClient
    from dicomsec.trust import TrustStore

log = logging.getLogger(__name__)

MAC_ID = 0x04000005
MAC_TS_UID = 0x04000010
MAC_ALGORITHM = 0x04000015
DATA_ELEMENTS_SIGNED = 0x04000020
SIGNATURE_UID = 0x04000100
SIGNATURE_DATETIME = 0x04000105
CERTIFICATE_TYPE = 0x04000110
CERTIFICATE_OF_SIGNER = 0x04000115
SIGNATURE = 0x04000120
TIMESTAMP_TYPE = 0x04000305
TIMESTAMP = 0x04000310
PURPOSE_SEQUENCE = 0x04000401
CODE_VALUE = 0x00080100
CODE_MEANING = 0x00080104

CERT_TYPE_X509 = "X509_1993_SIG"
TIMESTAMP_CMS_TSP = "CMS_TSP"
#: elements of the signature item that are outside the MAC (PS3.15 C.12.1.1.3.1)
PART_B_EXCLUDED = frozenset({CERTIFICATE_OF_SIGNER, SIGNATURE, TIMESTAMP_TYPE, TIMESTAMP})
#: tolerated difference between the signer's clock and a TSA's
CLOCK_SKEW = _dt.timedelta(minutes=5)
#: a full re-verification of the output before it replaces anything, up to this size
FULL_SELF_CHECK_LIMIT = 64 << 20

__all__ = [
    "SignResult",
    "list_signatures",
    "remove_signatures",
    "sign_file",
    "verify_file",
]


# --------------------------------------------------------------------------------------------
# small decoding helpers


def _text(parsed: ParsedFile, fh: BinaryIO, el: Element | None) -> str | None:
    if el is None or not _plain(el):
        return None
    return value_bytes(parsed, fh, el).rstrip(b"\x00 ").decode("latin-1")


def _plain(el: Element | None) -> bool:
    """A defined-length value that is neither a sequence nor encapsulated."""
    return (el is not None and el.length != UNDEFINED and el.items is None
            and el.fragments is None)


def _us(parsed: ParsedFile, fh: BinaryIO, el: Element | None) -> int | None:
    if el is None or not _plain(el) or el.vr != "US" or el.length != 2:
        return None
    return int(struct.unpack("<H", value_bytes(parsed, fh, el))[0])


def _at_list(parsed: ParsedFile, fh: BinaryIO, el: Element) -> list[int] | None:
    """The tags of an AT value; ``None`` when the element is not a well-formed AT."""
    if not _plain(el) or el.vr != "AT" or el.length % 4:
        return None
    raw = value_bytes(parsed, fh, el)
    out = []
    for i in range(0, len(raw), 4):
        g, e = struct.unpack("<HH", raw[i : i + 4])
        out.append((g << 16) | e)
    return out


def _der_length(data: bytes) -> int | None:
    """Total length of the DER TLV at the start of ``data`` (to drop a DICOM pad byte)."""
    if len(data) < 2:
        return None
    first = data[1]
    if first < 0x80:
        return 2 + first
    n = first & 0x7F
    if n == 0 or n > 4 or len(data) < 2 + n:
        return None
    return 2 + n + int.from_bytes(data[2 : 2 + n], "big")


def unpadded_value(value: bytes, scheme: algorithms.Algorithm | None) -> bytes:
    """A Signature (0400,0120) value without the OB pad byte, by the scheme's own encoding.

    ECDSA values are DER (their length says where they end); EdDSA and ML-DSA values have a
    fixed size; RSA values are as long as the modulus and never padded.
    """
    if scheme is None:
        return value
    if scheme.family is algorithms.Family.EC:
        return strip_der_pad(value)
    size = scheme.signature_size
    if size and len(value) == size + 1 and value[-1] == 0:
        return value[:-1]
    return value


def strip_der_pad(data: bytes) -> bytes:
    """Drop the 0x00 pad byte DICOM adds to odd-length DER values (OB)."""
    n = _der_length(data)
    if n is not None and n <= len(data) and all(b == 0 for b in data[n:]):
        return data[:n]
    return data


def parse_tag(text: str) -> int:
    """A tag from a keyword, ``gggg,eeee``, ``(gggg,eeee)`` or ``ggggeeee``."""
    from pydicom.datadict import tag_for_keyword

    t = text.strip()
    m = re.fullmatch(r"\(?([0-9A-Fa-f]{4}),?([0-9A-Fa-f]{4})\)?", t)
    if m:
        return (int(m.group(1), 16) << 16) | int(m.group(2), 16)
    tag = tag_for_keyword(t)
    if tag is None:
        raise InvalidInput(f"unknown attribute {text!r}")
    return int(tag)


def _dt_parse(text: str | None) -> _dt.datetime | None:
    """Parse a DICOM DT value; a value without UTC offset is taken as UTC."""
    if not text:
        return None
    m = re.fullmatch(
        r"(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(?:\.(\d{1,6}))?([+-]\d{4})?", text.strip()
    )
    if not m:
        return None
    y, mo, d, h, mi, s, frac, off = m.groups()
    tz = _dt.UTC
    if off:
        sign = 1 if off[0] == "+" else -1
        tz = _dt.timezone(sign * _dt.timedelta(hours=int(off[1:3]), minutes=int(off[3:5])))
    try:
        return _dt.datetime(
            int(y), int(mo or 1), int(d or 1), int(h or 0), int(mi or 0), int(s or 0),
            int((frac or "0").ljust(6, "0")), tzinfo=tz,
        )
    except ValueError:
        return None


def format_dt(moment: _dt.datetime) -> str:
    """``YYYYMMDDHHMMSS.ffffff+ZZZZ`` as dcmsign writes it."""
    return moment.strftime("%Y%m%d%H%M%S.%f%z")


# --------------------------------------------------------------------------------------------
# locating levels


def resolve_level(parsed: ParsedFile, path: str | None) -> DataSet:
    """The data set at an item path such as ``ContentSequence[1]`` or ``A[0].B[2]``."""
    if not path:
        return parsed.dataset
    ds = parsed.dataset
    for part in path.split("."):
        m = re.fullmatch(r"\s*([^\[\]]+)\[(\d+)\]\s*", part)
        if not m:
            raise InvalidInput(f"bad item path {path!r}: expected Keyword[index] parts")
        tag = parse_tag(m.group(1))
        seq = ds.find(tag)
        if seq is None or seq.items is None or seq.vr == "UN":
            raise InvalidInput(f"item path {path!r}: no sequence {m.group(1)}")
        idx = int(m.group(2))
        if idx >= len(seq.items):
            raise InvalidInput(
                f"item path {path!r}: {m.group(1)} has {len(seq.items)} item(s), no [{idx}]"
            )
        item = seq.items[idx]
        ds = DataSet(item.elements, item, (*ds.parent_chain, (seq, item)))
    return ds


def _all_mac_ids(parsed: ParsedFile) -> set[int]:
    ids: set[int] = set()

    def walk(elements: list[Element]) -> None:
        for el in elements:
            if el.items is None:
                continue
            for it in el.items:
                if el.tag in (MAC_PARAMETERS_SEQUENCE, DIGITAL_SIGNATURES_SEQUENCE):
                    mid = find(it.elements, MAC_ID)
                    if mid is not None and mid.value is not None and len(mid.value) >= 2:
                        fmt = "<H" if parsed.little_endian else ">H"
                        ids.add(int(struct.unpack(fmt, mid.value[:2])[0]))
                walk(it.elements)

    walk(parsed.dataset.elements)
    return ids


# --------------------------------------------------------------------------------------------
# signing


@dataclass(frozen=True, slots=True)
class SignResult:
    """What :func:`sign_file` did."""

    path: str
    uid: str
    location: str
    mac_id: int
    mac_algorithm: str
    signature_algorithm: str
    signed_tags: tuple[str, ...]
    profile: str
    timestamp: bool


def _mac_ts(parsed: ParsedFile) -> str:
    if parsed.transfer_syntax in (IMPLICIT_LE, EXPLICIT_BE):
        return EXPLICIT_LE
    return parsed.transfer_syntax


def _digest_stream(stream: MacStream, alg: algorithms.Algorithm, level_elements: list[Element],
                   signed: set[int] | frozenset[int], part_b: list[Element]) -> bytes:
    hasher = algorithms.new_hasher(alg)
    stream.feed_signed(hasher, level_elements, signed)
    stream.feed_elements(hasher, [e for e in part_b if e.tag not in PART_B_EXCLUDED])
    return hasher.digest()


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
) -> SignResult:
    """Add a digital signature to the main data set or an item of a Part 10 file.

    ``dst`` may equal ``src`` (in place); the output is written atomically and the new
    signature is checked before it replaces anything.

    Raises:
        InvalidInput: unreadable input, bad item path or tag, unknown algorithm.
        PolicyViolation: legacy algorithm without ``allow_legacy``, weak key, profile not met.
    """
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence as PdSequence
    from pydicom.uid import generate_uid

    profile = Profile(profile) if isinstance(profile, str) else profile
    mac_alg = algorithms.by_name(mac, algorithms.Kind.DIGEST)
    if mac_alg.dicom_term is None:
        raise InvalidInput(f"{mac_alg.name} is not a DICOM MAC algorithm")
    algorithms.check_create(mac_alg, allow_legacy=allow_legacy)
    scheme = key.scheme
    bits = algorithms.key_bits(key.certificate.public_key())
    algorithms.check_create(scheme, allow_legacy=allow_legacy, bits=bits)
    if scheme.family is algorithms.Family.EC and mac_alg.digest_info_prefix:
        raise PolicyViolation(f"ECDSA with {mac_alg.name} is not supported")
    if purpose is not None and purpose not in PURPOSES:
        raise InvalidInput(f"unknown signature purpose {purpose} (use 1-18)")
    if profile is Profile.SR_VERIFICATION and purpose is None:
        purpose = 5
    src, dst = Path(src), Path(dst)

    with open(src, "rb") as fh:
        parsed = parse_file(src, fh)
        size = fh.seek(0, 2)
        level = resolve_level(parsed, item)
        elements = level.elements
        main = level.parent_item is None
        signable = [e for e in elements if is_signable(e)]
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
        vflag = _text(parsed, fh, level.find(VERIFICATION_FLAG))
        problems = profile_problems(
            profile, level_elements=elements, signed=signed, scheme=scheme, mac=mac_alg,
            purpose=purpose, main_level=main, verification_flag=vflag, creating=True,
            sr_document=_is_sr(parsed, fh),
        )
        if problems:
            raise PolicyViolation(f"profile {profile.value}: " + "; ".join(problems))

        used = _all_mac_ids(parsed)
        mac_id = next(i for i in range(0x10000) if i not in used)
        moment = (now or _dt.datetime.now(_dt.UTC)).astimezone()
        uid = str(generate_uid(prefix=None))

        sig_item = Dataset()
        sig_item.MACIDNumber = mac_id
        sig_item.DigitalSignatureUID = uid
        sig_item.DigitalSignatureDateTime = format_dt(moment)
        sig_item.CertificateType = CERT_TYPE_X509
        if purpose is not None:
            code = Dataset()
            code.CodeValue = str(purpose)
            code.CodingSchemeDesignator = PURPOSE_SCHEME
            code.CodeMeaning = PURPOSES[purpose]
            sig_item.DigitalSignaturePurposeCodeSequence = PdSequence([code])
        # part B is encoded in the file's byte order so that MacStream treats it like file data
        le = parsed.little_endian
        part_b = parse_dataset_bytes(encode_dataset(sig_item, little=le, implicit=False),
                                     little=le)

        mac_item = Dataset()
        mac_item.MACIDNumber = mac_id
        mac_item.MACCalculationTransferSyntaxUID = _mac_ts(parsed)
        mac_item.MACAlgorithm = mac_alg.dicom_term
        hashed = sorted(t for t in signed)
        mac_item.DataElementsSigned = hashed
        little, implicit = parsed.little_endian, parsed.implicit_vr
        early: list[Edit] = []
        delta = grow(parsed, elements, level, MAC_PARAMETERS_SEQUENCE,
                      item_bytes(encode_dataset(mac_item, little=little, implicit=implicit),
                                  little), early)
        cut = late_cut(parsed, level, elements, size)

        with atomic_output(dst) as out:
            # The output up to the first signature-dependent edit is copied in a thread while
            # the MAC is computed (copy_file_range and hashlib both release the GIL).
            copier = Copier(src, out, early, cut, size)
            copier.start()
            try:
                stream = MacStream(parsed, fh)
                digest = _digest_stream(stream, mac_alg, elements, signed, part_b)
                value = key.sign_digest(digest, mac_alg, deterministic=deterministic)
                _check_value(key.certificate, value, digest, mac_alg)

                from cryptography.hazmat.primitives.serialization import Encoding

                sig_item.CertificateOfSigner = key.certificate.public_bytes(Encoding.DER)
                sig_item.Signature = value
                if timestamp_client is not None:
                    sig_item.CertifiedTimestampType = TIMESTAMP_CMS_TSP
                    sig_item.CertifiedTimestamp = timestamp_client.timestamp(value)
            finally:
                copier.join()
            late: list[Edit] = []
            delta += grow(parsed, elements, level, DIGITAL_SIGNATURES_SEQUENCE,
                           item_bytes(encode_dataset(sig_item, little=little,
                                                       implicit=implicit), little), late)
            lengths = Lengths()
            lengths.resize_ancestors(level, delta)
            late += lengths.edits(little)
            write_spliced(fh, out, early + late, cut, size)
            out.flush()
            _self_check(dst, out, uid, full=size <= FULL_SELF_CHECK_LIMIT)

    return SignResult(
        path=str(dst), uid=uid, location=level.path() or "main", mac_id=mac_id,
        mac_algorithm=mac_alg.dicom_term or mac_alg.name, signature_algorithm=scheme.name,
        signed_tags=tuple(tag_str(t) for t in hashed), profile=profile.value,
        timestamp=timestamp_client is not None,
    )


def _check_value(cert: x509.Certificate, value: bytes, digest: bytes,
                 mac_alg: algorithms.Algorithm) -> None:
    """Verify a value just made (guards against faults and key/certificate mix-ups)."""
    _scheme, problem = _verify_value(cert, value, digest, mac_alg)
    if problem:
        raise VerificationFailed(f"the new signature does not verify: {problem}")


def _self_check(dst: Path, out: BinaryIO, uid: str, *, full: bool) -> None:
    """Re-read the written output and check the new signature before it is renamed.

    Up to ``FULL_SELF_CHECK_LIMIT`` the new signature is verified in full; above it the
    output's structure is parsed again (the value was already checked against the digest).
    """
    size = out.seek(0, 2)
    with open(out.name, "rb") as reader:
        parsed = parse_stream(reader, size, str(dst))
        if not full:
            return
        reports, _ = _verify_all(parsed, reader, trust=None, only_uid=uid)
        ts_ok = not reports or reports[0].timestamp is None or reports[0].timestamp["valid"]
        if not reports or not reports[0].valid or not ts_ok:
            problems = reports[0].problems if reports else ("signature not found",)
            raise VerificationFailed("the signed output does not verify: " + "; ".join(problems))


# --------------------------------------------------------------------------------------------
# verification


def _verify_value(cert: x509.Certificate, value: bytes, digest: bytes,
                  mac_alg: algorithms.Algorithm) -> tuple[algorithms.Algorithm | None, str | None]:
    """Check a signature value over a MAC digest; returns (scheme used, problem or None)."""
    from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils

    pub = cert.public_key()
    try:
        scheme = algorithms.signature_scheme_for_key(pub)
    except InvalidInput as exc:
        return None, str(exc)
    try:
        if isinstance(pub, rsa.RSAPublicKey):
            if mac_alg.digest_info_prefix:
                # no hash class: recover the DigestInfo and compare (PS3.15 C.1, RFC 8017)
                import hmac

                recovered = pub.recover_data_from_signature(value, padding.PKCS1v15(), None)
                if not hmac.compare_digest(recovered, mac_alg.digest_info_prefix + digest):
                    return scheme, "signature does not match the data"
                return scheme, None
            h = mac_alg.crypto_hash()
            try:
                pub.verify(value, digest, padding.PKCS1v15(), utils.Prehashed(h))
                return scheme, None
            except InvalidSignature:
                pub.verify(value, digest, padding.PSS(padding.MGF1(mac_alg.crypto_hash()),
                                                      padding.PSS.AUTO), utils.Prehashed(h))
                return algorithms.signature_scheme_for_key(pub, rsa_pss=True), None
        if isinstance(pub, ec.EllipticCurvePublicKey):
            pub.verify(unpadded_value(value, scheme), digest,
                       ec.ECDSA(utils.Prehashed(mac_alg.crypto_hash())))
            return scheme, None
        pub.verify(unpadded_value(value, scheme), digest)  # type: ignore[union-attr,call-arg]
        return scheme, None
    except InvalidSignature:
        return scheme, "signature does not match the data"
    except (UnsupportedAlgorithm, InvalidInput) as exc:
        return scheme, f"cannot check this signature: {exc}"
    except (ValueError, TypeError) as exc:
        return scheme, f"malformed signature value ({exc})"


def _load_signer(raw: bytes | None) -> tuple[x509.Certificate | None, str | None]:
    from cryptography import x509

    if not raw:
        return None, "no Certificate of Signer"
    try:
        cert = x509.load_der_x509_certificate(strip_der_pad(raw))
        # cryptography parses lazily: touch what verification uses, so that a malformed
        # certificate is reported here and not raised later
        cert.public_key()
        cert.subject.rfc4514_string()
        _ = cert.extensions, cert.not_valid_before_utc, cert.not_valid_after_utc
    except Exception as exc:  # the library raises several types for malformed input
        return None, f"Certificate of Signer is not usable ({type(exc).__name__})"
    return cert, None


def _is_sr(parsed: ParsedFile, fh: BinaryIO) -> bool:
    """Structured Report or Key Object Selection storage (PS3.4 B.5, SR SOP classes)."""
    sop_class = _text(parsed, fh, parsed.dataset.find(0x00080016)) or ""
    return sop_class.startswith("1.2.840.10008.5.1.4.1.1.88.")


def _raw(parsed: ParsedFile, fh: BinaryIO, el: Element | None) -> bytes | None:
    if el is None or not _plain(el):
        return None
    return value_bytes(parsed, fh, el)


def _verify_item(
    parsed: ParsedFile, fh: BinaryIO, stream: MacStream, level: DataSet, sig_item: Item,
    *, trust: TrustStore | None, now: _dt.datetime,
) -> tuple[SignatureReport, set[int]]:
    problems: list[str] = []
    els = sig_item.elements
    uid = _text(parsed, fh, find(els, SIGNATURE_UID)) or ""
    location = level.path() or "main"
    mac_id = _us(parsed, fh, find(els, MAC_ID))
    when_text = _text(parsed, fh, find(els, SIGNATURE_DATETIME))
    when = _dt_parse(when_text)
    cert_type = _text(parsed, fh, find(els, CERTIFICATE_TYPE))
    value = _raw(parsed, fh, find(els, SIGNATURE))
    cert, cert_problem = _load_signer(_raw(parsed, fh, find(els, CERTIFICATE_OF_SIGNER)))
    purpose: dict[str, str] | None = None
    pseq = find(els, PURPOSE_SEQUENCE)
    if pseq is not None and pseq.items:
        code = _text(parsed, fh, find(pseq.items[0].elements, CODE_VALUE)) or ""
        meaning = _text(parsed, fh, find(pseq.items[0].elements, CODE_MEANING)) or ""
        purpose = {"code": code, "meaning": meaning}

    mac_alg: algorithms.Algorithm | None = None
    signed: list[int] = []
    mac_item = None
    mseq = level.find(MAC_PARAMETERS_SEQUENCE)
    if mac_id is None:
        problems.append("no MAC ID Number")
    elif mseq is not None and mseq.items:
        for it in mseq.items:
            if _us(parsed, fh, find(it.elements, MAC_ID)) == mac_id:
                mac_item = it
                break
    if mac_item is None:
        problems.append(f"no MAC Parameters item with MAC ID {mac_id} at this level")
    else:
        term = _text(parsed, fh, find(mac_item.elements, MAC_ALGORITHM)) or ""
        try:
            mac_alg = algorithms.by_dicom_term(term)
        except InvalidInput as exc:
            problems.append(str(exc))
        ts = _text(parsed, fh, find(mac_item.elements, MAC_TS_UID))
        if ts in (IMPLICIT_LE, EXPLICIT_BE):
            problems.append(f"MAC Calculation Transfer Syntax {ts} is not allowed")
        elif not ts:
            problems.append("no MAC Calculation Transfer Syntax UID")
        des = find(mac_item.elements, DATA_ELEMENTS_SIGNED)
        listed = _at_list(parsed, fh, des) if des is not None else []
        if listed is None:
            problems.append("Data Elements Signed is not a well-formed AT value")
        signed = listed or []
        if not signed:
            problems.append("no data elements signed")
        present = {e.tag: e for e in level.elements}
        for tag in signed:
            el = present.get(tag)
            if el is None:
                problems.append(f"signed attribute {tag_str(tag)} is absent")
            elif not is_signable(el):
                problems.append(f"signed attribute {tag_str(tag)} is not signable (VR {el.vr})")
    if cert_type != CERT_TYPE_X509:
        problems.append(f"unsupported Certificate Type {cert_type!r}")
    if cert_problem:
        problems.append(cert_problem)
    if value is None:
        problems.append("no Signature value")

    intact = False
    scheme = None
    if cert is not None:
        try:
            scheme = algorithms.signature_scheme_for_key(cert.public_key())
        except (InvalidInput, ValueError) as exc:
            problems.append(str(exc))
    if not problems and mac_alg is not None and cert is not None and value is not None:
        try:
            digest = _digest_stream(stream, mac_alg, level.elements, set(signed), els)
        except InvalidInput as exc:
            problems.append(str(exc))
        else:
            scheme, problem = _verify_value(cert, value, digest, mac_alg)
            if problem:
                problems.append(problem)
            else:
                intact = True
    valid = intact and not problems

    # certified timestamp
    ts_dict = None
    ts_time: _dt.datetime | None = None
    ts_raw = _raw(parsed, fh, find(els, TIMESTAMP))
    if ts_raw is not None:
        from dicomsec.signatures.timestamp import verify_timestamp

        ttype = _text(parsed, fh, find(els, TIMESTAMP_TYPE))
        status = verify_timestamp(strip_der_pad(ts_raw),
                                  unpadded_value(value, scheme) if value else b"", trust)
        ts_dict = status.to_dict()
        if ttype != TIMESTAMP_CMS_TSP:
            problems.append(f"Certified Timestamp Type {ttype!r} is not CMS_TSP")
        if not status.ok:
            problems.extend(f"timestamp: {p}" for p in status.problems)
        elif status.time is not None:
            ts_time = status.time

    # trust: the chain at the signing time (or the certified timestamp's time)
    trusted = False
    if cert is not None:
        time_ok = True
        if when is None:
            problems.append(f"Digital Signature DateTime {when_text!r} is missing or invalid")
            time_ok = False
        elif not (cert.not_valid_before_utc <= when <= cert.not_valid_after_utc):
            problems.append("Digital Signature DateTime is outside the certificate's validity")
            time_ok = False
        elif ts_time is not None and when > ts_time + CLOCK_SKEW:
            problems.append("Digital Signature DateTime is later than its certified timestamp")
            time_ok = False
        if trust is None or trust.empty:
            problems.append("signer not checked: no trust anchors given")
        else:
            from dicomsec.trust import KeyPurpose

            # validity at the signing time, but revocation at the timestamp's time or now:
            # the signer writes the DateTime, so it cannot move a revocation out of the way
            result = trust.validate(cert, at=ts_time or when or now, purpose=KeyPurpose.SIGNING,
                                    revocation_at=ts_time or now)
            trusted = result.trusted and time_ok
            problems.extend(result.problems)

    vflag = _text(parsed, fh, level.find(VERIFICATION_FLAG))
    profiles: list[str] = []
    sr_doc = _is_sr(parsed, fh)
    if valid:
        for prof in (Profile.BASE, Profile.CREATOR, Profile.AUTHORIZATION, Profile.SR,
                     Profile.SR_VERIFICATION):
            pnum = int(purpose["code"]) if purpose and purpose["code"].isdigit() else None
            if not profile_problems(
                prof, level_elements=level.elements, signed=set(signed), scheme=scheme,
                mac=mac_alg,
                purpose=pnum, main_level=level.parent_item is None, verification_flag=vflag,
                creating=False, sr_document=sr_doc,
            ):
                profiles.append(prof.value)

    report = SignatureReport(
        uid=uid, location=location, mac_id=mac_id, intact=intact, valid=valid, trusted=trusted,
        mac_algorithm=mac_alg.dicom_term if mac_alg else None,
        signature_algorithm=scheme.name if scheme else None,
        signer=cert.subject.rfc4514_string() if cert is not None else None,
        datetime=when_text, profiles=tuple(profiles), purpose=purpose, timestamp=ts_dict,
        legacy=bool((mac_alg and mac_alg.legacy) or (scheme and scheme.legacy)),
        problems=tuple(problems), covered=tuple(tag_str(t) for t in signed),
        interoperable=bool(scheme and scheme.dcmtk_interop and mac_alg and mac_alg.dcmtk_interop),
    )
    return report, set(signed) if valid else set()


def _verify_all(
    parsed: ParsedFile, fh: BinaryIO, *, trust: TrustStore | None, only_uid: str | None = None,
    now: _dt.datetime | None = None,
) -> tuple[list[SignatureReport], set[int]]:
    stream = MacStream(parsed, fh)
    now = now or _dt.datetime.now(_dt.UTC)
    reports: list[SignatureReport] = []
    covered_main: set[int] = set()
    for level in parsed.levels():
        seq = level.find(DIGITAL_SIGNATURES_SEQUENCE)
        if seq is None or not seq.items:
            continue
        for it in seq.items:
            if only_uid is not None:
                if _text(parsed, fh, find(it.elements, SIGNATURE_UID)) != only_uid:
                    continue
            report, covered = _verify_item(parsed, fh, stream, level, it, trust=trust, now=now)
            reports.append(report)
            if level.parent_item is None:
                covered_main |= covered
    return reports, covered_main


def _satisfies(report: SignatureReport, require: str) -> bool:
    if not report.ok:
        return False
    if require == "any":
        return True
    if report.location != "main":
        return False
    return require in report.profiles


def verify_file(
    path: Path | str,
    *,
    trust: TrustStore | None = None,
    require: str | None = None,
    now: _dt.datetime | None = None,
) -> FileReport:
    """Verify every signature of a Part 10 file, at every level.

    Checks, per signature: MAC parameters, listed attributes present and signable, the MAC
    stream under the signer's key, the Digital Signature DateTime within the certificate's
    validity, the chain to ``trust`` at the signing time (or at a valid certified timestamp's
    time), key usage, and the timestamp's imprint and TSA chain. Signatures inside Original
    Attributes Sequence are skipped and named in ``skipped``.

    Raises:
        InvalidInput: the file cannot be read or is not DICOM.
    """
    p = Path(path)
    if not p.is_file():
        raise InvalidInput("is a directory" if p.is_dir() else
                           ("not a regular file" if p.exists() else "no such file"), path=str(p))
    with open(p, "rb") as fh:
        parsed = parse_file(p, fh)
        reports, covered = _verify_all(parsed, fh, trust=trust, now=now)
        skipped = _skipped(parsed, fh)
    unsigned = tuple(
        tag_str(e.tag)
        for e in sorted(parsed.dataset.elements, key=lambda e: e.tag)
        if e.tag not in covered
        and e.tag not in (MAC_PARAMETERS_SEQUENCE, DIGITAL_SIGNATURES_SEQUENCE, 0xFFFCFFFC)
        and e.tag & 0xFFFF
    )
    met = True
    if require:
        met = any(_satisfies(r, require) for r in reports)
    return FileReport(str(p), tuple(reports), unsigned, skipped, require, met)


def _skipped(parsed: ParsedFile, fh: BinaryIO) -> tuple[str, ...]:
    inside = {id(ds) for ds in parsed.levels(skip_original_attributes=True)}
    out = []
    for ds in parsed.levels(skip_original_attributes=False):
        if id(ds) in inside:
            continue
        seq = ds.find(DIGITAL_SIGNATURES_SEQUENCE)
        if seq is not None and seq.items:
            out.append(f"{ds.path()}: {len(seq.items)} signature(s) inside Original Attributes")
    return tuple(out)


def verify_dataset_bytes(data: bytes, **kwargs: object) -> FileReport:
    """Verify a Part 10 file held in memory (used for pydicom Datasets)."""
    import tempfile

    with tempfile.NamedTemporaryFile(suffix=".dcm") as tmp:
        tmp.write(data)
        tmp.flush()
        return verify_file(Path(tmp.name), **kwargs)  # type: ignore[arg-type]


def list_signatures(path: Path | str) -> FileReport:
    """The signatures of a file, checked for integrity but not for trust."""
    return verify_file(path, trust=None)


# --------------------------------------------------------------------------------------------
# removal


def remove_signatures(
    src: Path | str, dst: Path | str, *, uids: Sequence[str] = (), remove_all: bool = False,
) -> int:
    """Remove signatures by Digital Signature UID (or all); returns how many were removed.

    A MAC Parameters item is removed with the last signature item that uses it; a sequence
    left empty is removed whole. The output is written atomically.

    Raises:
        InvalidInput: unreadable input, or a UID that is not in the file.
    """
    src, dst = Path(src), Path(dst)
    if not uids and not remove_all:
        raise InvalidInput("name a signature UID or ask for all")
    with open(src, "rb") as fh:
        parsed = parse_file(src, fh)
        size = fh.seek(0, 2)
        edits: list[Edit] = []
        lengths = Lengths()
        found: set[str] = set()
        removed = 0
        for level in parsed.levels():
            seq = level.find(DIGITAL_SIGNATURES_SEQUENCE)
            if seq is None or not seq.items:
                continue
            drop = [
                it for it in seq.items
                if remove_all or _text(parsed, fh, find(it.elements, SIGNATURE_UID)) in uids
            ]
            if not drop:
                continue
            found |= {_text(parsed, fh, find(it.elements, SIGNATURE_UID)) or "" for it in drop}
            removed += len(drop)
            keep = [it for it in seq.items if it not in drop]
            live_ids = {_us(parsed, fh, find(it.elements, MAC_ID)) for it in keep}
            dead_ids = {_us(parsed, fh, find(it.elements, MAC_ID)) for it in drop} - live_ids
            delta = shrink(parsed, seq, drop, edits)
            mseq = level.find(MAC_PARAMETERS_SEQUENCE)
            if mseq is not None and mseq.items:
                mdrop = [it for it in mseq.items
                         if _us(parsed, fh, find(it.elements, MAC_ID)) in dead_ids]
                if mdrop:
                    delta += shrink(parsed, mseq, mdrop, edits)
            lengths.resize_ancestors(level, -delta)
        missing = set(uids) - found
        if missing:
            raise InvalidInput(f"no signature with UID {sorted(missing)[0]}", path=str(src))
        edits += lengths.edits(parsed.little_endian)
        with atomic_output(dst) as out:
            write_spliced(fh, out, edits, 0, size)
    return removed


def dataset_to_bytes(ds: Dataset) -> bytes:
    """Encode a pydicom Dataset as a Part 10 file in memory."""
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()
