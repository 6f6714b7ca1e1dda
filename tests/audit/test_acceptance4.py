"""Issue 11, acceptance 4, end to end through the command line tool.

Every command runs with ``--audit file://LOG --audit syslog+tls://...`` (a real rsyslog started
by the test, ``tests/audit/receiver.py``; the client key encrypted, its password in a file) and
one ``--audit-spool``: a failed verification (``verify``), a refused TLS client (a ``dicomsec
scp`` subprocess with an encrypted server key, and a client without a certificate), a
re-identification (``deid`` then ``reid`` with an encrypted key) and a signing-policy violation
(``policy check``). Each gives the expected DICOM message (its XML parsed: EventID,
EventTypeCode, action, outcome, participants, objects), every message validates against the
schema, and the receiver stores what the file sink holds.

Then no secret the suite uses appears anywhere the trail writes: the spool (the SQLite files'
bytes), the file sink and the receiver's store are searched for every key password, PIN and
passphrase collected from ``tests/data/**/README*``, the ``*password*`` files under
``tests/data`` and the constants of the test modules (``PASSWORD``, ``SECRET``, ``PIN``, ...).
Long ones are searched as bytes; short or all-digit ones (a PIN such as 1234 is a substring of
many UIDs) must not be any value of a message (attribute, text, decoded detail) nor a word of
one.
"""

from __future__ import annotations

import ast
import base64
import contextlib
import json
import re
import socket
import ssl
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pydicom
import pytest

from dicomsec.audit import AuditSource, validate
from dicomsec.cli import main as cli_main
from dicomsec.keys import load_private_key, write_private_key
from tests.audit.receiver import PKI_SYSLOG, Receiver, running_receiver
from tests.conftest import DATA, DCMSIGN_FIXTURES, PKI, PYDICOM_FILES
from tests.transport.test_dimse import Pki, _start_scp
from tests.transport.test_dimse import pki as pki  # the module's test PKI fixture

TESTS = Path(__file__).resolve().parents[1]
CT = PYDICOM_FILES / "CT_small.dcm"
TAMPERED = DCMSIGN_FIXTURES / "ct_rsa2048_sha256_tampered.dcm"
ANON = DATA / "pki-anon"
SYSLOG_KEY_PASSWORD = "acceptance-4 syslog client key password"
SCP_KEY_PASSWORD = "acceptance-4 scp server key password"
REID_KEY_PASSWORD = "acceptance-4 reid key password"
UID_SECRET = "acceptance-4 uid secret, 32 bytes+"
#: a constant whose name ends so holds a password, PIN or passphrase
_SECRET_NAME = re.compile(r"(^|_)(PASSWORD|PASSPHRASE|PASSCODE|PIN|SECRET)$")


# ------------------------------------------------------------------------------------------
# the secrets of the suite


def _constants(path: Path) -> Iterator[str]:
    """Module-level ``NAME = "..."`` / ``b"..."`` of a test module whose name says secret."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in tree.body:
        target = node.target if isinstance(node, ast.AnnAssign) else (
            node.targets[0] if isinstance(node, ast.Assign) and len(node.targets) == 1
            else None)
        value = getattr(node, "value", None)
        if (isinstance(target, ast.Name) and _SECRET_NAME.search(target.id)
                and isinstance(value, ast.Constant) and isinstance(value.value, str | bytes)):
            text = value.value
            yield text.decode("latin-1") if isinstance(text, bytes) else text


def suite_secrets() -> set[str]:
    """Every key password, PIN and passphrase the suite uses (see the module docstring)."""
    found: set[str] = set()
    for path in DATA.rglob("*"):
        if path.is_file() and "password" in path.name.lower():
            found.add(path.read_text(encoding="utf-8").splitlines()[0].strip())
        if path.is_file() and path.name.startswith("README"):
            for line in path.read_text(encoding="utf-8").splitlines():
                if re.search(r"(?i)password|passphrase|\bpin\b", line):
                    found.update(v for v in re.findall(r"`([^`]+)`", line)
                                 if not (path.parent / v).exists())
    for module in TESTS.rglob("*.py"):
        found.update(_constants(module))
    return {s for s in found if s.strip()}


def test_the_secret_list_holds_what_the_suite_uses() -> None:
    secrets = suite_secrets()
    assert "correct horse battery staple 1234" in secrets          # a README and its file
    assert {"1234", "12345678", SCP_KEY_PASSWORD, UID_SECRET} <= secrets   # PINs, constants
    assert "correct horse battery" in secrets                       # the site PKI passphrase


# ------------------------------------------------------------------------------------------
# the run


def _encrypted_copy(key: Path, out: Path, password: str) -> Path:
    write_private_key(load_private_key(key), out, password=password.encode())
    return out


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[Receiver]:
    with running_receiver(tmp_path / "run") as rsyslog:
        yield rsyslog


def _audit_args(tmp_path: Path, receiver: Receiver) -> list[str]:
    ca = PKI_SYSLOG.resolve()
    key = _encrypted_copy(ca / "client.key.pem", tmp_path / "syslog.key.pem",
                          SYSLOG_KEY_PASSWORD)
    password = tmp_path / "syslog.pw"
    password.write_text(SYSLOG_KEY_PASSWORD + "\n", encoding="utf-8")
    tls = (f"syslog+tls://127.0.0.1:{receiver.tls_port}?ca={ca}/ca.cert.pem"
           f"&cert={ca}/client.cert.pem&key={key}&password-file={password}")
    return ["--audit", (tmp_path / "audit.log").as_uri(), "--audit", tls,
            "--audit-spool", str(tmp_path / "spool")]


def _refused_tls_client(pki: Pki, tmp_path: Path, audit: list[str]) -> None:
    """A ``dicomsec scp`` with an encrypted server key; a TLS client without a certificate."""
    _encrypted_copy(pki.key("server-ec"), pki.folder / "server-enc.key", SCP_KEY_PASSWORD)
    (pki.folder / "server-enc.pem").write_bytes(pki.cert("server-ec").read_bytes())
    password = tmp_path / "scp.pw"
    password.write_text(SCP_KEY_PASSWORD + "\n", encoding="utf-8")
    scp = _start_scp(pki, tmp_path / "received", "b12", "--key-password-file", str(password),
                     *audit, pairs=("server-enc",))
    try:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(pki.ca)
        raw = socket.create_connection(("127.0.0.1", scp.port), timeout=10)
        with contextlib.suppress(OSError), \
                ctx.wrap_socket(raw, server_hostname="127.0.0.1") as sock:
            sock.recv(1)  # TLS 1.3: the refusal comes after the client's handshake
        scp.wait_for(r"^TLS-REJECT ")
    finally:
        assert scp.stop() == 0, "\n".join(scp.lines)


def _reidentification(tmp_path: Path, audit: list[str],
                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DICOMSEC_UID_SECRET", UID_SECRET)
    assert cli_main([*audit, "deid", str(CT), "-o", str(tmp_path / "deid"), "--to",
                     str(ANON / "recipient.cert.pem")]) == 0
    key = _encrypted_copy(ANON / "recipient.key.pem", tmp_path / "reid.key.pem",
                          REID_KEY_PASSWORD)
    password = tmp_path / "reid.pw"
    password.write_text(REID_KEY_PASSWORD + "\n", encoding="utf-8")
    assert cli_main([*audit, "reid", str(tmp_path / "deid"), "-o",
                     str(tmp_path / "reid"), "--key", str(key), "--key-password-file",
                     str(password)]) == 0


def _policy_violation(tmp_path: Path, audit: list[str]) -> None:
    rules = tmp_path / "policy.toml"
    rules.write_text('[[rule]]\nname = "ct-signed"\nmatch = { Modality = "CT" }\n'
                     'mode = "enforce"\n', encoding="utf-8")
    assert cli_main([*audit, "policy", "check", str(CT), "--policy", str(rules), "--trust",
                     str(PKI / "ca.cert.pem"), "--workers", "1"]) == 1


# ------------------------------------------------------------------------------------------
# reading the messages


def _file_sink(tmp_path: Path) -> list[bytes]:
    lines = (tmp_path / "audit.log").read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["xml"].encode("utf-8") for line in lines if line.strip()]


def _event(root: ET.Element) -> tuple[str | None, str | None, str | None, str | None]:
    """(EventID, first EventTypeCode, EventActionCode, EventOutcomeIndicator)."""
    ident = root.find("EventIdentification")
    assert ident is not None
    event_id = ident.find("EventID")
    type_code = ident.find("EventTypeCode")
    return (None if event_id is None else event_id.get("csd-code"),
            None if type_code is None else type_code.get("csd-code"),
            ident.get("EventActionCode"), ident.get("EventOutcomeIndicator"))


def _find(roots: list[ET.Element], event_id: str, type_code: str | None,
          action: str, outcome: str) -> list[ET.Element]:
    return [r for r in roots if _event(r) == (event_id, type_code, action, outcome)]


def _requestors(root: ET.Element) -> list[ET.Element]:
    return [p for p in root.findall("ActiveParticipant") if p.get("UserIsRequestor") == "true"]


def _tool(root: ET.Element) -> ET.Element:
    (tool,) = [p for p in root.findall("ActiveParticipant")
               if any(r.get("csd-code") == "110150" for r in p.findall("RoleIDCode"))]
    return tool


def _objects(root: ET.Element, id_type: str) -> list[ET.Element]:
    return [o for o in root.findall("ParticipantObjectIdentification")
            if (code := o.find("ParticipantObjectIDTypeCode")) is not None
            and code.get("csd-code") == id_type]


def _alert(obj: ET.Element) -> str:
    (detail,) = [d for d in obj.findall("ParticipantObjectDetail")
                 if d.get("type") == "Alert Description"]
    return base64.b64decode(detail.get("value", "")).decode("utf-8")


def _values(root: ET.Element) -> Iterator[str]:
    """Every attribute value and text of a message, detail values decoded."""
    for node in root.iter():
        yield from node.attrib.values()
        if node.text and node.text.strip():
            yield node.text
        if node.tag == "ParticipantObjectDetail":
            yield base64.b64decode(node.get("value", "")).decode("utf-8", "replace")


# ------------------------------------------------------------------------------------------
# the checks


def _check_failed_verification(roots: list[ET.Element], user: str) -> None:
    (alert,) = _find(roots, "110113", "110135", "E", "4")
    (target,) = _objects(alert, "12")
    assert target.get("ParticipantObjectID") == TAMPERED.resolve().as_uri()
    assert _alert(target)
    assert user in [p.get("UserID") for p in _requestors(alert)]  # a person asked


def _check_refused_client(roots: list[ET.Element]) -> None:
    (refused,) = _find(roots, "110113", "110126", "E", "4")
    (node,) = _objects(refused, "110182")
    assert node.get("ParticipantObjectID") == "127.0.0.1"
    assert "peer did not return a certificate" in _alert(node)
    (peer,) = _requestors(refused)  # the remote node asked; neither the tool nor a person
    assert peer.get("NetworkAccessPointID") == "127.0.0.1"
    assert peer.get("NetworkAccessPointTypeCode") == "2"
    assert _tool(refused).get("UserIsRequestor") == "false"
    assert len(refused.findall("ActiveParticipant")) == 2


def _check_reidentification(roots: list[ET.Element], user: str) -> None:
    """110103 C and 110113 + 110132, both naming the restored study and patient (the
    de-identification before it is also a 110103 C, of the de-identified study)."""
    original = pydicom.dcmread(CT, stop_before_pixels=True)

    def restored(root: ET.Element) -> bool:
        return [o.get("ParticipantObjectID") for o in _objects(root, "110180")] == [
            original.StudyInstanceUID]

    (accessed,) = [r for r in _find(roots, "110103", None, "C", "0") if restored(r)]
    (restricted,) = _find(roots, "110113", "110132", "E", "0")
    assert restored(restricted)
    for root in (accessed, restricted):
        (patient,) = _objects(root, "2")
        assert patient.get("ParticipantObjectID") == original.PatientID
        assert user in [p.get("UserID") for p in _requestors(root)]


def _check_policy_violation(roots: list[ET.Element], user: str) -> None:
    (violation,) = _find(roots, "110113", "110144", "E", "4")
    (target,) = _objects(violation, "12")
    assert target.get("ParticipantObjectID") == CT.resolve().as_uri()
    assert "rule 'ct-signed'" in _alert(target) and "unsigned" in _alert(target)
    assert user in [p.get("UserID") for p in _requestors(violation)]


def _check_no_secret(tmp_path: Path, receiver: Receiver, roots: list[ET.Element]) -> None:
    stores = {p: p.read_bytes() for p in (tmp_path / "spool").rglob("*") if p.is_file()}
    assert stores, "no spool file"
    stores[tmp_path / "audit.log"] = (tmp_path / "audit.log").read_bytes()
    stores[receiver.store] = receiver.store.read_bytes()
    stored = [*roots, *(ET.fromstring(str(r["msg"]).lstrip("\ufeff").encode("utf-8"))
                        for r in receiver.records())]
    values = [v for root in stored for v in _values(root)]
    words = {w for v in values for w in re.split(r"[\s,;:=()'\"\[\]<>]+", v)}
    for secret in suite_secrets():
        if len(secret) >= 8 and not secret.isdigit():
            for where, data in stores.items():
                for encoded in {secret.encode("utf-8"), secret.encode("latin-1", "ignore")}:
                    assert encoded not in data, f"a secret in {where}"
        assert secret not in values and secret not in words, "a secret in a message"


def test_acceptance_4(pki: Pki, receiver: Receiver, tmp_path: Path,
                      monkeypatch: pytest.MonkeyPatch) -> None:
    audit = _audit_args(tmp_path, receiver)
    assert cli_main([*audit, "verify", str(TAMPERED), "--trust", str(PKI / "ca.cert.pem")]) == 1
    _refused_tls_client(pki, tmp_path, audit)
    _reidentification(tmp_path, audit, monkeypatch)
    _policy_violation(tmp_path, audit)
    assert cli_main([*audit, "audit", "flush"]) == 0  # what the scp's child left, if anything

    sent = _file_sink(tmp_path)
    for xml in sent:
        assert validate(xml) == [], xml
    roots = [ET.fromstring(xml) for xml in sent]
    user = AuditSource.local().user
    _check_failed_verification(roots, user)
    _check_refused_client(roots)
    _check_reidentification(roots, user)
    _check_policy_violation(roots, user)

    records = receiver.wait_for(len(sent))
    received = [str(r["msg"]).lstrip("\ufeff").encode("utf-8") for r in records]
    assert set(received) == set(sent)  # byte for byte (a detached delivery may repeat one)
    _check_no_secret(tmp_path, receiver, roots)
