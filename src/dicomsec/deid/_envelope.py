"""The Encrypted Attributes Sequence (0400,0500) of PS3.3 C.12.1.1.4 and PS3.15 E.1: writing
one item per recipient group, and opening one with a recipient's key.

Each item holds Encrypted Content Transfer Syntax UID (0400,0510) and Encrypted Content
(0400,0520): the DER of a CMS ContentInfo (through :mod:`dicomsec.cms`, the project's one CMS
codec) whose plaintext is the *Encrypted Attributes Data Set*: a bare data set (no preamble,
no File Meta) whose only element is Modified Attributes Sequence (0400,0550) with exactly one
item, the original values.

Two writing modes (:data:`MODES`):

- ``compatible``: what GDCM's ``gdcmanon -d`` reads, and what PS3.15 E.1.1 names: EnvelopedData
  v0, one KeyTransRecipientInfo per recipient identified by issuerAndSerialNumber, RSA PKCS#1
  v1.5 key transport, AES-256-CBC, id-data, Explicit VR Little Endian plaintext. RSA
  certificates only. CBC content has no integrity protection.
- ``modern`` (default): AuthEnvelopedData with AES-256-GCM, recipients by key type: RSA-OAEP
  (SHA-256), ECDH (RFC 5753 / 8418) or ML-KEM (RFC 9629 KEMRecipientInfo). ``gdcmanon -d``
  does not read it (it reads EnvelopedData with RSA recipients only).

Reading accepts any item, any recipient kind the CMS layer opens, EnvelopedData with
AES-128/192/256-CBC or 3DES (gdcmanon's choices) and AuthEnvelopedData, and the plaintext in
the transfer syntax named by (0400,0510) (Explicit or Implicit VR Little Endian, Explicit VR
Big Endian, Deflated). Elements that gdcmanon writes with VR UN (from Implicit VR inputs) get
their dictionary VR back, and UN-encoded sequences are parsed as Implicit VR Little Endian
(PS3.5 6.2.2), without touching :mod:`pydicom.config`.

Bounds (:mod:`dicomsec.limits`): the items and their RecipientInfos together count against
``recipients`` (each may cost a private-key operation), each Encrypted Content and its
plaintext against ``value_bytes``, and the plaintext's elements, items and nesting against
``elements``, ``items`` and ``depth`` before pydicom builds anything from it.
"""

from __future__ import annotations

import io
import logging
import re
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dicomsec import limits
from dicomsec.errors import DecryptionFailed, DicomSecError, InvalidInput, PolicyViolation

if TYPE_CHECKING:
    from pydicom.dataelem import DataElement
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence as DicomSequence

    from dicomsec.algorithms.policy import AlgorithmPolicy
    from dicomsec.cms.envelope import Envelope
    from dicomsec.cms.recipients import Credentials, Recipient

__all__ = [
    "CONTENT_FAILS",
    "MODES",
    "NO_RECIPIENT",
    "Opened",
    "RecipientGroup",
    "check_recipients",
    "decode_plaintext",
    "encode_plaintext",
    "encrypted_attributes",
    "open_encrypted_attributes",
    "parse_attributes_for",
    "parse_tag",
    "recipient_groups",
    "tag_label",
    "unpad_content",
]

_log = logging.getLogger(__name__)

#: the writing modes: ``compatible`` (what ``gdcmanon -d`` reads) and ``modern`` (default)
MODES = ("compatible", "modern")

#: the one message for an envelope the key fits that does not give a valid Encrypted
#: Attributes Data Set (wrong key, failed tag or padding, malformed structure or plaintext)
CONTENT_FAILS = "the encrypted content fails its check (wrong key, or the content was modified)"
#: no item of the Encrypted Attributes Sequence has a recipient the credentials fit
NO_RECIPIENT = "no item of the Encrypted Attributes Sequence has a recipient that matches the key"

_ENCRYPTED_ATTRIBUTES = 0x04000500
_MODIFIED_ATTRIBUTES = 0x04000550
_CHARSET = 0x00080005
_EXPLICIT_LE = "1.2.840.10008.1.2.1"
_CIPHERS = {"compatible": "aes256-cbc", "modern": "aes256-gcm"}


# --------------------------------------------------------------------------------------------
# tags and recipient groups


def tag_label(tag: int) -> str:
    """``"(gggg,eeee) Keyword"`` (no keyword for private or unknown tags)."""
    from pydicom.datadict import keyword_for_tag

    keyword = keyword_for_tag(tag) if (tag >> 16) % 2 == 0 else ""
    text = f"({tag >> 16:04X},{tag & 0xFFFF:04X})"
    return f"{text} {keyword}" if keyword else text


_HEX_TAG = re.compile(r"\(([0-9A-Fa-f]{4}),([0-9A-Fa-f]{4})\)|([0-9A-Fa-f]{4}),([0-9A-Fa-f]{4})"
                      r"|([0-9A-Fa-f]{8})")


def parse_tag(text: str) -> int:
    """A top-level data element tag: a keyword (``PatientName``), ``(0010,0010)``,
    ``0010,0010`` or ``00100010``.

    Raises:
        InvalidInput: an unknown keyword, a malformed tag, or a tag that is not a data set
            element (File Meta group 0002, item and delimiter tags of group FFFE).
    """
    from pydicom.datadict import tag_for_keyword

    word = text.strip()
    m = _HEX_TAG.fullmatch(word)
    if m is not None:
        parts = [g for g in m.groups() if g is not None]
        tag = int("".join(parts), 16)
    else:
        found = tag_for_keyword(word) if word.isidentifier() else None
        if found is None:
            raise InvalidInput(f"unknown attribute {word!r} (a keyword such as PatientName, "
                               "or a tag as (0010,0010), 0010,0010 or 00100010)")
        tag = int(found)
    if tag >> 16 in (0x0000, 0x0002, 0xFFFE):
        raise InvalidInput(f"{tag_label(tag)} is not a data set attribute (command, File Meta "
                           "or item tag)")
    return tag


def parse_attributes_for(text: str) -> tuple[Path, frozenset[int]]:
    """Parse ``--attributes-for CERT=TAG,TAG``: the certificate (or public key) file and the
    top-level tags whose original values that recipient may see. The certificate is what
    precedes the last ``=`` (a path may hold ``=``, a tag never does).

    Raises:
        InvalidInput: no ``=``, an empty certificate or tag list, an unknown keyword or a bad
            tag (see :func:`parse_tag`).
    """
    cert, sep, tags = text.rpartition("=")
    if not sep or not cert.strip():
        raise InvalidInput(f"--attributes-for {text!r} is not CERT=TAG,TAG")
    names = [t for t in tags.split(",") if t.strip()]
    # "0010,0010" splits into two halves: rejoin pairs of four hex digits
    joined: list[str] = []
    for name in names:
        if (joined and re.fullmatch(r"\(?[0-9A-Fa-f]{4}", joined[-1].strip())
                and re.fullmatch(r"[0-9A-Fa-f]{4}\)?", name.strip())):
            joined[-1] = f"{joined[-1].strip()},{name.strip()}"
        else:
            joined.append(name)
    if not joined:
        raise InvalidInput(f"--attributes-for {text!r} names no attribute")
    return Path(cert.strip()), frozenset(parse_tag(t) for t in joined)


@dataclass(frozen=True, slots=True)
class RecipientGroup:
    """Recipients sharing one item of the Encrypted Attributes Sequence (one envelope, one
    RecipientInfo each), and the top-level tags they may see (``None``: every original)."""

    recipients: tuple[Path, ...]
    tags: frozenset[int] | None = None


def _key(path: Path) -> Path:
    try:
        return path.resolve()
    except OSError:
        return path


def recipient_groups(to: Sequence[Path],
                     attributes_for: Sequence[tuple[Path, frozenset[int]]]
                     ) -> tuple[RecipientGroup, ...]:
    """The items to write: the ``--to`` certificates share one item holding every original;
    the ``--attributes-for`` certificates are grouped by their set of tags, one item per
    distinct set. A certificate named several times in ``--attributes-for`` gets the union
    of its tags. A certificate given both with ``--to`` and ``--attributes-for`` gets ONLY its
    subset (least privilege: naming a subset for a recipient is read as a restriction).
    Certificates are told apart by their resolved path; order is the order of first mention.
    """
    subsets: dict[Path, tuple[Path, set[int]]] = {}
    for path, tags in attributes_for:
        entry = subsets.setdefault(_key(path), (Path(path), set()))
        entry[1].update(tags)
    full: dict[Path, Path] = {}
    for path in to:
        if _key(path) not in subsets:
            full.setdefault(_key(path), Path(path))
    groups: list[RecipientGroup] = []
    if full:
        groups.append(RecipientGroup(tuple(full.values()), None))
    by_tags: dict[frozenset[int], list[Path]] = {}
    for path, chosen in subsets.values():
        by_tags.setdefault(frozenset(chosen), []).append(path)
    groups += (RecipientGroup(tuple(paths), tags) for tags, paths in by_tags.items())
    return tuple(groups)


# --------------------------------------------------------------------------------------------
# writing


def _subset(originals: Dataset, tags: frozenset[int] | None) -> Dataset:
    """The group's part of ``originals``: the chosen top-level elements, the Private Creator
    element of every private element chosen, and Specific Character Set (0008,0005) when
    ``originals`` has it (the text of the subset is written in it). The subset is only
    encoded, never changed: it shares the element objects of ``originals`` (no copy), and a
    group that takes every original gets ``originals`` itself."""
    from pydicom.dataset import Dataset

    if tags is None:
        return originals
    item = Dataset()
    wanted: set[int] = set(tags)
    wanted.add(_CHARSET)
    for tag in list(wanted):
        group, number = tag >> 16, tag & 0xFFFF
        if group % 2 and number >= 0x1000:
            wanted.add((group << 16) | (number >> 8))
    for elem in originals:
        if int(elem.tag) in wanted:
            item.add(elem)
    return item


def encode_plaintext(item: Dataset, *, character_set: str | Sequence[str] | None = None) -> bytes:
    """The Encrypted Attributes Data Set of ``item``: Explicit VR Little Endian, no preamble
    and no File Meta, one element (0400,0550) with one item (both of defined length). Text is
    encoded with the item's own Specific Character Set, else ``character_set`` (the file's),
    else the default. Undecoded elements read as Explicit VR Little Endian with a defined
    length (the private elements the engine leaves undecoded) are copied as they were read;
    the others are encoded by pydicom.

    Raises:
        InvalidInput: a value that cannot be encoded.
    """
    body = io.BytesIO()
    encoding: Any = list(character_set) if isinstance(character_set, list | tuple) else (
        character_set or "iso8859")
    try:
        _encode_item(body, item, encoding)
    except (ValueError, TypeError, LookupError, OverflowError, struct.error) as exc:
        raise InvalidInput(f"the original values cannot be encoded: {exc}") from None
    content = body.getvalue()
    # (0400,0550) SQ, defined length, holding one item (FFFE,E000) of defined length
    head = struct.pack("<HH2sHLHHL", 0x0400, 0x0550, b"SQ", 0, len(content) + 8,
                       0xFFFE, 0xE000, len(content))
    return head + content


_SHORT_HEAD = struct.Struct("<HH2sH")  # tag, VR, 16-bit length (Explicit VR LE)
_LONG_HEAD = struct.Struct("<HH2sHL")  # tag, VR, reserved, 32-bit length


def _encode_item(out: io.BytesIO, item: Dataset, encoding: Any) -> None:
    """The elements of ``item`` in tag order, Explicit VR Little Endian (group lengths of
    groups above 6 left out, as pydicom does). Elements still as read in Explicit VR Little
    Endian with a defined length get their header packed here and their value bytes copied;
    the others go through pydicom's writer."""
    from pydicom.dataelem import DataElement, RawDataElement
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import correct_ambiguous_vr_element, write_data_element, writers
    from pydicom.valuerep import EXPLICIT_VR_LENGTH_32

    parts: list[bytes] = []
    item_encoding = item.get("SpecificCharacterSet", encoding)
    # keys() and values() of a Dataset are its dict's, in the same order; values() gives the
    # elements as held (a RawDataElement is not converted); sorted on plain ints (tags unique)
    for tag, raw in sorted(zip(map(int, item.keys()), item.values(), strict=True)):
        if not tag & 0xFFFF and tag > 0x6FFFF:
            continue
        if type(raw) is RawDataElement:
            vr, length, value = raw.VR, raw.length, raw.value
            if (not raw.is_implicit_VR and raw.is_little_endian and vr and length != 0xFFFFFFFF
                    and (value is not None or length == 0)):  # not a deferred read
                value = value or b""
                if vr in EXPLICIT_VR_LENGTH_32:
                    parts.append(_LONG_HEAD.pack(tag >> 16, tag & 0xFFFF, vr.encode(), 0,
                                                 len(value)))
                else:
                    parts.append(_SHORT_HEAD.pack(tag >> 16, tag & 0xFFFF, vr.encode(),
                                                  len(value)))
                parts.append(value)
                continue
        if (type(raw) is DataElement and len(raw.VR) == 2 and raw.VR in writers
                and not raw.is_undefined_length and not raw.is_buffered and raw.is_empty):
            # an empty value (an attribute the de-identification added): the header alone,
            # as pydicom writes it (its VR is not ambiguous: no correction to make)
            if raw.VR in EXPLICIT_VR_LENGTH_32:
                parts.append(_LONG_HEAD.pack(tag >> 16, tag & 0xFFFF, raw.VR.encode(), 0, 0))
            else:
                parts.append(_SHORT_HEAD.pack(tag >> 16, tag & 0xFFFF, raw.VR.encode(), 0))
            continue
        if type(raw) is DataElement and raw.VR == "SQ" and not raw.is_buffered:
            parts.append(_encode_sequence(tag, raw, item_encoding))
            continue
        fp = DicomBytesIO()
        fp.is_little_endian = True
        fp.is_implicit_VR = False
        elem = correct_ambiguous_vr_element(item[tag], item, True)
        write_data_element(fp, elem, item_encoding)
        parts.append(fp.getvalue())
    out.write(b"".join(parts))


_ITEM = struct.Struct("<HHL")  # an item or delimiter tag and its 32-bit length
_UNDEFINED = 0xFFFFFFFF


def _encode_sequence(tag: int, elem: DataElement, encoding: Any) -> bytes:
    """A sequence element as pydicom's writer frames it (undefined lengths where the element
    or item has one, else defined), each item through :func:`_encode_item` when that gives
    pydicom's bytes (:func:`_copies_as_read`), else through pydicom."""
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_dataset

    parts: list[bytes] = []
    for ds in elem.value:
        if _copies_as_read(ds):
            body = io.BytesIO()
            _encode_item(body, ds, encoding)
            content = body.getvalue()
        else:
            fp = DicomBytesIO()
            fp.is_little_endian = True
            fp.is_implicit_VR = False
            write_dataset(fp, ds, parent_encoding=encoding)
            content = fp.getvalue()
        if getattr(ds, "is_undefined_length_sequence_item", False):
            parts += [_ITEM.pack(0xFFFE, 0xE000, _UNDEFINED), content,
                      _ITEM.pack(0xFFFE, 0xE00D, 0)]
        else:
            parts += [_ITEM.pack(0xFFFE, 0xE000, len(content)), content]
    value = b"".join(parts)
    if elem.is_undefined_length:
        return b"".join((_LONG_HEAD.pack(tag >> 16, tag & 0xFFFF, b"SQ", 0, _UNDEFINED), value,
                         _ITEM.pack(0xFFFE, 0xE0DD, 0)))
    return _LONG_HEAD.pack(tag >> 16, tag & 0xFFFF, b"SQ", 0, len(value)) + value


def _copies_as_read(ds: Dataset) -> bool:
    """Whether :func:`_encode_item` gives for this item the bytes pydicom's ``write_dataset``
    (Explicit VR Little Endian) gives: no element with an ambiguous VR (pydicom corrects them
    only when it re-encodes the item), and every element still as read one that
    :func:`_encode_item` copies and pydicom copies too (the item was read in Explicit VR
    Little Endian and its character set is unchanged; else pydicom decodes and re-encodes
    them). Decoded elements are written by pydicom's element writer in both."""
    from pydicom.dataelem import RawDataElement

    as_read = (ds.original_encoding == (False, True)
               and ds.original_character_set == ds._character_set)
    for elem in ds.values():
        if type(elem) is RawDataElement:
            if (not as_read or elem.is_implicit_VR or not elem.is_little_endian or not elem.VR
                    or elem.length == _UNDEFINED or elem.value is None):
                return False
        elif elem.VR is None or len(elem.VR) != 2:
            return False
    return True


def _recipient(path: Path, mode: str, policy: AlgorithmPolicy) -> Recipient:
    """The RecipientInfo writer for a certificate or public key file in ``mode``, its
    certificate checked for use and its algorithms judged by ``policy``."""
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import rsa

    from dicomsec.cms.recipients import recipient_for
    from dicomsec.keys import load_certificate_or_public_key
    from dicomsec.trust import KeyPurpose, check_for_use

    subject = load_certificate_or_public_key(path, "recipient")
    if isinstance(subject, x509.Certificate):
        check_for_use(subject, KeyPurpose.ENCRYPTION, name="recipient certificate", path=path)
    if mode == "modern":
        recipient = recipient_for(path, policy=policy)
    elif not isinstance(subject, x509.Certificate) or not isinstance(
            subject.public_key(), rsa.RSAPublicKey):
        raise InvalidInput("compatible mode (what gdcmanon reads: RSA PKCS#1 v1.5 key "
                           "transport, issuerAndSerialNumber) needs an RSA certificate",
                           path=str(path), hint="use --mode modern for EC, ML-KEM or bare keys")
    else:
        recipient = recipient_for(path, oaep=False, policy=policy)
    _judge(recipient, policy)
    return recipient


def check_recipients(groups: Sequence[RecipientGroup], *, mode: str = "modern",
                     policy: AlgorithmPolicy | None = None) -> None:
    """Check every recipient of ``groups`` once, as :func:`encrypted_attributes` would
    (readable, valid today, usable for encryption, a key type ``mode`` takes, algorithms the
    policy allows): a command calls it before any work, so that a bad certificate is one
    error, not one per file.

    Raises:
        InvalidInput: an unreadable or unusable certificate, a key type the mode does not
            take, an unknown mode.
        PolicyViolation: the policy refuses an algorithm or a key.
    """
    from dicomsec.algorithms.policy import AlgorithmPolicy

    if mode not in MODES:
        raise InvalidInput(f"unknown mode {mode!r}; choose from {', '.join(MODES)}")
    judge = policy or AlgorithmPolicy.default()
    checked: set[Path] = set()
    for group in groups:
        for path in group.recipients:
            if _key(path) not in checked:
                _recipient(Path(path), mode, judge)
                checked.add(_key(path))


def _judge(recipient: Recipient, policy: AlgorithmPolicy) -> None:
    """Ask ``policy`` (creation, today) about what the recipient uses: its key transport,
    key agreement or KEM with the recipient's key, and its key wrap. RSA PKCS#1 v1.5 keeps
    its legacy status waived (PS3.15 E.1.1 names it), as in the securefile basic profile;
    dated and site rules still judge it.

    Raises:
        PolicyViolation: refused (the message names the policy).
    """
    from dicomsec import algorithms
    from dicomsec.algorithms.policy import Purpose

    r: object = recipient
    uses = [(getattr(r, a, None), getattr(r, "public_key", None))
            for a in ("algorithm", "scheme", "kem")]
    uses += [(getattr(r, a, None), None) for a in ("wrap",)]
    for alg, key in uses:
        if not isinstance(alg, algorithms.Algorithm):
            continue
        judge = policy
        if alg.kind is algorithms.Kind.KEY_TRANSPORT and policy.status_of(alg) is (
                algorithms.Status.LEGACY):
            judge = policy.with_status(alg, algorithms.Status.ALLOWED)
        judge.require(alg, key, Purpose.CREATE)


#: recipients already made, by (path as given, device, inode, mtime, size, mode, policy):
#: reading and checking a certificate costs more than enveloping a small data set. Entries are
#: judged again after _RECIPIENT_TTL seconds (validity period, dated policy rules). The path is
#: not resolved (a system call per component for every file): two spellings of one file are
#: two entries, both checked.
_RECIPIENTS: dict[tuple[object, ...], tuple[float, Recipient]] = {}
_RECIPIENT_TTL = 60.0
_RECIPIENTS_MAX = 64


def _recipient_cached(path: Path, mode: str, policy: AlgorithmPolicy) -> Recipient:
    """:func:`_recipient`, remembered for a minute per file version, mode and policy (a
    recipient makes a fresh ephemeral key or encapsulation for every envelope: only its
    certificate and algorithm choices are reused)."""
    import time

    try:
        st = path.stat()
        key: tuple[object, ...] | None = (str(path), st.st_dev, st.st_ino, st.st_mtime_ns,
                                          st.st_size, mode, policy)
        hash(key)
    except (OSError, TypeError):
        key = None
    now = time.monotonic()
    if key is not None:
        hit = _RECIPIENTS.get(key)
        if hit is not None and now - hit[0] < _RECIPIENT_TTL:
            return hit[1]
    recipient = _recipient(path, mode, policy)
    if key is not None:
        if len(_RECIPIENTS) >= _RECIPIENTS_MAX:
            _RECIPIENTS.clear()
        _RECIPIENTS[key] = (now, recipient)
    return recipient


def encrypted_attributes(originals: Dataset, groups: Sequence[RecipientGroup], *,
                         mode: str = "modern", policy: AlgorithmPolicy | None = None,
                         character_set: str | Sequence[str] | None = None) -> DicomSequence:
    """Items of Encrypted Attributes Sequence (0400,0500), one per group, in group order.

    Each item: (0400,0510) Explicit VR Little Endian and (0400,0520) the DER ContentInfo of
    the group's plaintext (:func:`encode_plaintext` of its subset of ``originals``, private
    elements with their creators). ``compatible``: EnvelopedData, AES-256-CBC, RSA PKCS#1 v1.5
    (RSA certificates only); ``modern``: AuthEnvelopedData, AES-256-GCM, RSA-OAEP / ECDH /
    ML-KEM by key type. Recipient certificates are checked for use (validity period, key
    usage for encryption), not chain-validated: whoever names a recipient vouches for it.
    ``policy`` (default: the default policy) judges the key transport or agreement or KEM
    with its key, and the content cipher, for creation today. ``character_set``: the file's
    Specific Character Set, used for text when ``originals`` has none of its own. Recipients
    are remembered for a minute per certificate file, mode and policy (then judged again).

    Raises:
        InvalidInput: an unknown mode, an unreadable or unusable certificate, a key type the
            mode does not take, a value that cannot be encoded.
        PolicyViolation: the policy refuses an algorithm or a key (e.g. RSA below 2048 bits).
    """
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence as DicomSequence

    from dicomsec.algorithms.policy import AlgorithmPolicy
    from dicomsec.cms import ID_DATA
    from dicomsec.cms.envelope import write_envelope

    if mode not in MODES:
        raise InvalidInput(f"unknown mode {mode!r}; choose from {', '.join(MODES)}")
    policy = policy or AlgorithmPolicy.default()
    made: dict[Path, Recipient] = {}  # by the path as given (no resolve() per file)
    items = []
    for group in groups:
        if not group.recipients:
            raise InvalidInput("a recipient group without recipients")
        recipients = []
        for path in group.recipients:
            if path not in made:
                made[path] = _recipient_cached(Path(path), mode, policy)
            recipients.append(made[path])
        plain = encode_plaintext(_subset(originals, group.tags), character_set=character_set)
        out = io.BytesIO()
        write_envelope([plain], len(plain), out, recipients=recipients,
                       cipher=_CIPHERS[mode], content_type=ID_DATA, policy=policy)
        item = Dataset()
        item.add_new(0x04000510, "UI", _EXPLICIT_LE)  # Encrypted Content Transfer Syntax UID
        item.add_new(0x04000520, "OB", out.getvalue())  # Encrypted Content
        items.append(item)
    return DicomSequence(items)


# --------------------------------------------------------------------------------------------
# reading


@dataclass(frozen=True, slots=True)
class Opened:
    """An item of the Encrypted Attributes Sequence that the credentials opened.

    ``authenticated`` is True for AuthEnvelopedData (the AES-GCM tag was checked: the content
    is what was encrypted). For EnvelopedData (AES-CBC, 3DES; gdcmanon and the compatible mode)
    it is False: CBC has no integrity, so changed ciphertext may decrypt to changed values
    that only the padding and the data set parse can catch. In neither case does the
    envelope prove who made it: anyone with the recipient's public key can make one. Only a
    digital signature over the data set (covering (0400,0500)) tells its origin.
    """

    item_index: int
    originals: Dataset
    outer: str  # "enveloped-data" | "auth-enveloped-data"
    cipher: str
    recipient_kind: str
    authenticated: bool
    transfer_syntax: str = _EXPLICIT_LE


class _Tries:
    """What the items gave while they were tried (for the one error at the end)."""

    def __init__(self) -> None:
        self.fitted = False  # a recipient fitted the credentials and was tried
        self.refusal: PolicyViolation | None = None
        self.skipped: list[str] = []


def _item_parts(ds: Dataset) -> list[tuple[str, bytes]]:
    """(transfer syntax, content) of every item, counted against the limits."""
    items: list[Dataset] | None = []
    if _ENCRYPTED_ATTRIBUTES in ds:
        try:
            elem = ds[_ENCRYPTED_ATTRIBUTES]
            items = list(elem.value or ()) if elem.VR == "SQ" else None
        except Exception:  # pydicom's decoding of a malformed value raises many types
            items = None
    if items is None:
        raise InvalidInput("Encrypted Attributes Sequence (0400,0500) is not a sequence")
    if not items:
        raise InvalidInput("no Encrypted Attributes Sequence (0400,0500): nothing to "
                           "re-identify (the file was not de-identified reversibly)")
    lim = limits.current()
    if len(items) > lim.recipients:
        raise limits.LimitExceeded(f"{len(items)} Encrypted Attributes items", "recipients",
                                   lim.recipients)
    parts = []
    for item in items:
        ts = str(item.get("EncryptedContentTransferSyntaxUID", "") or "")
        content = item.get("EncryptedContent", b"") or b""
        if not isinstance(content, bytes | bytearray):
            content = b""
        parts.append((ts, bytes(content)))
    return parts


def unpad_content(content: bytes) -> bytes:
    """The DER of an Encrypted Content value without the trailing 00 that pads an odd-length
    DER to the even length of an OB value (PS3.5 7.1.1; gdcmanon's 3DES envelopes have one).
    Only a definite-length ContentInfo exactly one byte shorter than the value loses it."""
    if len(content) < 4 or len(content) % 2 or content[-1] != 0 or content[0] != 0x30:
        return content
    first = content[1]
    if first < 0x80:
        total = 2 + first
    elif first == 0x80 or first & 0x7F > 4:
        return content
    else:
        n = first & 0x7F
        total = 2 + n + int.from_bytes(content[2 : 2 + n], "big")
    return content[:-1] if total == len(content) - 1 else content


def _envelope(index: int, content: bytes, counted: list[int]) -> Envelope | None:
    """The parsed envelope of item ``index``; None when it is not one (malformed)."""
    from dicomsec.cms.envelope import read_envelope

    lim = limits.current()
    if len(content) > lim.value_bytes:
        raise limits.LimitExceeded(f"Encrypted Content of item {index} is {len(content)} "
                                   "bytes", "value_bytes", lim.value_bytes)
    try:
        env = read_envelope(io.BytesIO(content), len(content), f"Encrypted Content {index}")
    except limits.LimitExceeded:
        raise
    except InvalidInput as exc:
        _log.debug("Encrypted Attributes item %d is not an envelope: %s", index, exc)
        return None
    counted[0] += len(env.recipient_infos)
    if counted[0] > lim.recipients:
        raise limits.LimitExceeded("more recipients in all the Encrypted Attributes items",
                                   "recipients", lim.recipients)
    return env


def _check_password(credentials: Credentials) -> None:
    """A password outside ISO-IR 6 is refused before any item is tried."""
    from dicomsec.cms.recipients import check_password

    if credentials.password is not None:
        check_password(credentials.password)


def open_encrypted_attributes(ds: Dataset, credentials: Credentials, *,
                              policy: AlgorithmPolicy | None = None) -> Opened:
    """Open the first item of (0400,0500) whose envelope the credentials open and whose
    plaintext is a valid Encrypted Attributes Data Set; ``ds`` is not modified.

    ``policy`` (default: the default policy) judges, for decryption today and before anything
    secret is used, the content cipher and every algorithm of the RecipientInfos the
    credentials fit; legacy ones (3DES, RSA PKCS#1 v1.5) stay allowed for reading. Which item
    failed and why is not told (one message, no oracle).

    Raises:
        InvalidInput: ``ds`` has no Encrypted Attributes Sequence; a password outside the
            DICOM default repertoire; a limit exceeded (:class:`~dicomsec.limits.LimitExceeded`).
        PolicyViolation: the policy refuses every item the credentials fit.
        DecryptionFailed: no item has a recipient matching the credentials
            (:data:`NO_RECIPIENT`), or the ones that match do not give a valid data set
            (:data:`CONTENT_FAILS`: wrong key, failed tag or padding, malformed envelope, a
            plaintext that is not a data set holding one Modified Attributes item).
    """
    _check_password(credentials)
    tries = _Tries()
    counted = [0]
    parts = _item_parts(ds)
    for index, (ts, padded) in enumerate(parts):
        content = unpad_content(padded)
        env = _envelope(index, content, counted)
        if env is None:
            tries.fitted = True  # a malformed envelope counts as content that fails
            continue
        opened = _try_item(index, ts, env, content, credentials, policy, tries, ds)
        if opened is not None:
            return opened
    if tries.fitted:
        raise DecryptionFailed(CONTENT_FAILS)
    if tries.refusal is not None:
        raise tries.refusal
    hint = "skipped: " + "; ".join(tries.skipped) if tries.skipped else None
    raise DecryptionFailed(NO_RECIPIENT, hint=hint)


def _try_item(index: int, ts: str, env: Envelope, content: bytes, credentials: Credentials,
              policy: AlgorithmPolicy | None, tries: _Tries, ds: Dataset) -> Opened | None:
    """Open one item; None (and a note in ``tries``) when it does not open."""
    from dicomsec.algorithms.policy import AlgorithmPolicy, Purpose
    from dicomsec.cms.envelope import decrypt_content
    from dicomsec.cms.recipients import MAX_PBKDF2_TOTAL, open_cek

    if env.cipher is None:
        tries.skipped.append(f"item {index}: unknown content cipher")
        return None
    decision = (policy or AlgorithmPolicy.default()).check(env.cipher, None, Purpose.DECRYPT)
    if not decision.allowed:
        tries.refusal = tries.refusal or PolicyViolation(f"{decision.policy}: {decision.reason}")
        return None
    try:
        key = open_cek(env.recipient_infos, credentials, cek_size=env.cipher.key_size,
                       pbkdf2_total=MAX_PBKDF2_TOTAL, policy=policy)
    except PolicyViolation as exc:
        tries.refusal = tries.refusal or exc
        return None
    except DecryptionFailed as exc:
        from dicomsec.cms.recipients import NO_MATCH

        if exc.message != NO_MATCH:
            tries.fitted = True
        return None
    tries.fitted = True
    try:
        out = io.BytesIO()
        decrypt_content(io.BytesIO(content), len(content), env, key.cek, out,
                        name=f"Encrypted Content {index}")
        originals = decode_plaintext(out.getvalue(), ts, _charset(ds))
    except limits.LimitExceeded:
        raise
    except DicomSecError as exc:
        _log.debug("Encrypted Attributes item %d did not open: %s", index, type(exc).__name__)
        return None
    return Opened(item_index=index, originals=originals, outer=env.outer,
                  cipher=env.cipher.name, recipient_kind=env.recipient_kinds[key.index],
                  authenticated=env.aead, transfer_syntax=ts)


def _charset(ds: Dataset) -> Any:
    """The Specific Character Set of the main data set (the plaintext's default)."""
    value = ds.get("SpecificCharacterSet")
    if not value:
        return "iso8859"
    return list(value) if not isinstance(value, str) else value


# --------------------------------------------------------------------------------------------
# the plaintext


def _inflate(data: bytes) -> bytes:
    """Deflated Explicit VR Little Endian (raw DEFLATE, RFC 1951), bounded by value_bytes."""
    import zlib

    lim = limits.current().value_bytes
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    try:
        out = inflater.decompress(data, lim + 1)
    except zlib.error:
        raise DecryptionFailed(CONTENT_FAILS) from None
    if len(out) > lim:
        raise limits.LimitExceeded("inflated Encrypted Attributes Data Set", "value_bytes", lim)
    if not inflater.eof:  # truncated: the last block never ended
        raise DecryptionFailed(CONTENT_FAILS)
    return out


def decode_plaintext(plain: bytes, transfer_syntax: str, charset: Any = "iso8859") -> Dataset:
    """The item of Modified Attributes Sequence in an Encrypted Attributes Data Set encoded in
    ``transfer_syntax``; UN elements get their dictionary VR (UN sequences are read as
    Implicit VR Little Endian). ``charset``: the main data set's Specific Character Set,
    used when the item has none.

    The structure is walked by :mod:`dicomsec._rawdicom` first (elements, items, nesting
    counted against the limits, in bounded memory), then read by pydicom and every value
    converted here, so that a failure shows now, not when a value is first used.

    Raises:
        DecryptionFailed: :data:`CONTENT_FAILS`: not a data set, or not exactly one element
            (0400,0550) with exactly one item (group lengths aside).
        InvalidInput: an unsupported transfer syntax; LimitExceeded over a limit.
    """
    from pydicom.uid import UID

    uid = UID(transfer_syntax or "")
    if not uid.is_transfer_syntax:
        raise InvalidInput(f"Encrypted Content Transfer Syntax UID {transfer_syntax!r} is not "
                           "a transfer syntax this toolkit reads")
    lim = limits.current()
    if len(plain) > lim.value_bytes:
        raise limits.LimitExceeded("Encrypted Attributes Data Set", "value_bytes",
                                   lim.value_bytes)
    if uid.is_deflated:
        plain = _inflate(plain)
    implicit, little = bool(uid.is_implicit_VR), bool(uid.is_little_endian)
    try:
        return _read_item(plain, implicit, little, charset)
    except limits.LimitExceeded:
        raise
    except Exception as exc:
        _log.debug("Encrypted Attributes Data Set not readable: %s", type(exc).__name__)
        raise DecryptionFailed(CONTENT_FAILS) from None


def _read_item(plain: bytes, implicit: bool, little: bool, charset: Any) -> Dataset:
    from pydicom.filereader import read_dataset

    from dicomsec import _rawdicom

    elements = _rawdicom.parse_dataset_bytes(plain, little=little, implicit=implicit)
    tags = [e.tag for e in elements if e.tag & 0xFFFF]
    if tags != [_MODIFIED_ATTRIBUTES]:
        raise DecryptionFailed(CONTENT_FAILS)
    ds = read_dataset(io.BytesIO(plain), is_implicit_VR=implicit, is_little_endian=little,
                      parent_encoding=charset)
    _map_un(ds, little)
    seq = ds[_MODIFIED_ATTRIBUTES]
    if seq.VR != "SQ" or len(seq.value) != 1:
        raise DecryptionFailed(CONTENT_FAILS)
    item: Dataset = seq.value[0]
    _convert_all(item)
    return item


def _known_vr(tag: int) -> str | None:
    """The dictionary VR of a public tag (the first of an ambiguous "US or SS"); None for a
    private or unknown tag."""
    from pydicom.datadict import dictionary_VR

    if (tag >> 16) % 2:
        return None
    try:
        vr = str(dictionary_VR(tag))
    except KeyError:
        return None
    vr = vr.split(" or ")[0].strip()
    return None if vr in ("UN", "NONE") else vr


def _map_un(ds: Dataset, little: bool) -> None:
    """Give UN elements of ``ds`` (and of its sequences' items) their dictionary VR, before
    pydicom converts them: UN sequences are Implicit VR Little Endian inside (PS3.5 6.2.2);
    done here so that ``pydicom.config.replace_un_with_known_vr`` does not matter."""
    from pydicom.dataelem import DataElement, RawDataElement
    from pydicom.values import convert_SQ

    for tag in list(ds.keys()):
        held = ds.get_item(tag)
        if held is not None and held.VR == "UN":
            vr = _known_vr(int(tag))
            value = held.value if isinstance(held.value, bytes | bytearray) else b""
            if vr == "SQ":
                ds[tag] = DataElement(tag, "SQ", convert_SQ(bytes(value), True, True))
            elif vr is not None and (vr in _LONG_VRS or len(value) < 0xFFFF):
                ds[tag] = RawDataElement(tag, vr, len(value), bytes(value) or None, 0, False,
                                         little)
        elem = ds[tag]
        if elem.VR == "SQ":
            for item in elem.value:
                _map_un(item, little)


#: VRs whose explicit-VR length is 32 bits (PS3.5 7.1.2): any UN value fits them
_LONG_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UR", "UT", "UV"})


def _convert_all(ds: Dataset) -> None:
    """Convert every value now (pydicom converts lazily, on first use)."""
    for elem in ds:
        if elem.VR == "SQ":
            for item in elem.value:
                _convert_all(item)
