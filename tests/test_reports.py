"""Every report type follows the one protocol and is documented (issue 7, acceptance 3).

The walker imports every module of ``dicomsec`` and takes every class that derives from
:class:`dicomsec.report.Report` (``all_report_types()``). Each must be a frozen ``slots``
dataclass with a well-formed, unique schema that implements ``ok``, ``summary()`` and
``_content()`` itself; its schema and every key of its ``to_dict()`` must be in
``docs/reports.md``; and instances built by a factory below (one per type, ok and not ok where
both exist) must give ``to_dict()`` with ``schema`` then ``ok`` first, a ``to_json()`` that
round-trips, and ``raise_for_failure()`` raising a ``DicomSecError`` exactly when not ok.

A new report type fails here until it has a factory in :data:`FACTORIES` and a section in
``docs/reports.md``. The signature and Secure DICOM File packages test their reports against
real operations (``tests/signatures/test_reports.py``, ``tests/securefile/test_api.py``); this
file covers all of them at once, and ``sign --json`` against the library.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import functools
import importlib
import inspect
import json
import pkgutil
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import pytest

import dicomsec
from dicomsec.errors import DicomSecError
from dicomsec.report import SCHEMA_PATTERN, Report, all_report_types

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "reports.md"


# ------------------------------------------------------------------------------------------
# the walk


def _import_everything() -> None:
    """Import every module of the library: not ``__main__`` (it runs the tool), nor ``cli``
    (the top layer renders reports and defines none; importing its command modules at
    collection would change what other test modules find in ``sys.modules``)."""
    todo = [dicomsec]
    while todo:
        package = todo.pop()
        for info in pkgutil.iter_modules(package.__path__, package.__name__ + "."):
            if info.name in ("dicomsec.__main__", "dicomsec.cli"):
                continue
            module = importlib.import_module(info.name)
            if info.ispkg:
                todo.append(module)


def _canonical(cls: type[Report]) -> bool:
    """The class its module names (``dataclass(slots=True)`` builds a new class; on Python
    3.11 the class it replaced can linger among ``Report.__subclasses__()``)."""
    obj: object = sys.modules[cls.__module__]
    for part in cls.__qualname__.split("."):
        obj = getattr(obj, part, None)
    return obj is cls


@functools.cache
def report_types() -> tuple[type[Report], ...]:
    """Every report class of dicomsec (test classes deriving from Report are left out)."""
    _import_everything()
    found = [c for c in all_report_types() if c.__module__.startswith("dicomsec.")]
    return tuple(c for c in found if _canonical(c))


def _name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def test_the_walk_finds_the_known_reports() -> None:
    names = {c.__qualname__ for c in report_types()}
    assert {"FileReport", "SignatureReport", "TimestampReport", "SignResult", "WrapReport",
            "UnwrapReport", "InnerContentReport", "SecureFileInfo", "ScanReport", "Check",
            "CertificateInfo", "SendReport", "EchoReport", "StoreResult"} <= names


def test_the_walk_lists_each_class_once() -> None:
    """``dataclass(slots=True)`` replaces the class it decorates; the replaced original stays
    among ``Report.__subclasses__()`` but ``all_report_types()`` leaves it out."""
    listed = [c for c in all_report_types() if c.__module__.startswith("dicomsec.")]
    assert len({_name(c) for c in listed}) == len(listed)
    assert all(_canonical(c) for c in listed)


# ------------------------------------------------------------------------------------------
# the class: schema, frozen slots dataclass, its own ok / summary / _content


def _types() -> list[type[Report]]:
    return list(report_types())


@pytest.mark.parametrize("cls", _types(), ids=_name)
def test_class_follows_the_protocol(cls: type[Report]) -> None:
    assert SCHEMA_PATTERN.match(cls.schema), f"{_name(cls)}: bad schema {cls.schema!r}"
    params = getattr(cls, "__dataclass_params__", None)
    assert params is not None and params.frozen, f"{_name(cls)} is not a frozen dataclass"
    assert "__slots__" in vars(cls), f"{_name(cls)} is not a slots dataclass"
    for attr in ("ok", "summary", "_content"):
        assert getattr(cls, attr) is not getattr(Report, attr), (
            f"{_name(cls)} does not implement {attr}")
    assert isinstance(inspect.getattr_static(cls, "ok"), property), f"{_name(cls)}.ok"


def test_schemas_are_unique() -> None:
    schemas = [c.schema for c in report_types()]
    assert len(schemas) == len(set(schemas)), sorted(schemas)


# ------------------------------------------------------------------------------------------
# factories: a few instances of every report type, ok and not ok where both exist


def _decisions() -> list[Report]:
    from dicomsec.algorithms.policy import AlgorithmPolicy, Purpose

    policy = AlgorithmPolicy.default()
    return [policy.check("ecdsa-p256", None, Purpose.VERIFY, _dt.date(2036, 6, 1)),
            policy.check("sha1", None, Purpose.CREATE, _dt.date(2026, 12, 1))]


def _signature_policies() -> list[Report]:
    from dicomsec.algorithms import Status
    from dicomsec.algorithms.policy import AlgorithmPolicy, Purpose
    from dicomsec.signatures.report import SignaturePolicy

    policy, day = AlgorithmPolicy.default(), _dt.date(2036, 6, 1)
    refuse = policy.with_status("ecdsa-p256", Status.FORBIDDEN)
    return [
        SignaturePolicy(policy.name, day, policy.check("ecdsa-p256", None, Purpose.VERIFY, day),
                        policy.check("sha256", None, Purpose.VERIFY, day)),
        SignaturePolicy("site", day, refuse.check("ecdsa-p256", None, Purpose.VERIFY, day)),
    ]


def _timestamps() -> list[Report]:
    from dicomsec.signatures.report import TimestampReport

    moment = _dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=_dt.UTC)
    return [TimestampReport(present=True, valid=True, trusted=True, time=moment, tsa="CN=TSA",
                            hash_algorithm="sha256"),
            TimestampReport.absent(),
            TimestampReport(present=True, valid=True, trusted=False, time=moment,
                            problems=("TSA certificate not trusted",))]


def _signature(**changes: object) -> Report:
    from dicomsec.signatures.report import SignatureReport

    fields: dict[str, object] = {
        "uid": "2.25.1", "location": "main", "mac_id": 0, "intact": True, "valid": True,
        "trusted": True, "mac_algorithm": "SHA256", "signature_algorithm": "ecdsa-p256",
        "signer": "CN=signer", "datetime": "20261201120000.000000+0000",
        "profiles": ("base",), "purpose": None, "timestamp": _timestamps()[0], "legacy": False,
        "problems": (), "covered": ("(0010,0010)",), "policy": _signature_policies()[0],
    }
    fields.update(changes)
    return SignatureReport(**fields)  # type: ignore[arg-type]


def _signatures() -> list[Report]:
    return [_signature(),
            _signature(trusted=False, problems=("signer not checked: no trust anchors given",)),
            _signature(intact=False, valid=False, problems=("MAC does not verify",)),
            _signature(policy=_signature_policies()[1], problems=("site: refused",))]


def _files() -> list[Report]:
    from dicomsec.signatures.report import FileReport, SignatureReport

    good, untrusted = (s for s in _signatures()[:2] if isinstance(s, SignatureReport))
    return [FileReport("a.dcm", (good,), ()),
            FileReport("b.dcm", (good, untrusted), ("(0008,0018)",)),
            FileReport("c.dcm", (), ("(0010,0010)",), required="creator", required_met=False)]


def _sign_results() -> list[Report]:
    from dicomsec.signatures.report import SignResult

    return [SignResult("s.dcm", "2.25.1", "main", 0, "SHA256", "ecdsa-p256",
                       ("(0010,0010)",), "base", False)]


def _wraps() -> list[Report]:
    from dicomsec.securefile import WrapReport

    return [WrapReport("x.p7m", "aead", "auth-enveloped-data", "aes256-gcm", ("ktri", "pwri"),
                       "data", None, 0)]


def _inners() -> list[Report]:
    from dicomsec.securefile import InnerContentReport, InnerSigner

    signer = InnerSigner("CN=s", "ecdsa-with-SHA256", "sha256", True, False)
    return [InnerContentReport.plain(),
            InnerContentReport("digested", "strict", "sha256", digest_ok=True),
            InnerContentReport("digested", "strict", "sha256", digest_ok=False),
            InnerContentReport("signed", "strict", "sha256", signers=(signer,),
                               trust_checked=True)]


def _unwraps() -> list[Report]:
    from dicomsec.securefile import InnerContentReport, UnwrapReport

    bad = InnerContentReport("digested", "strict", "sha256", digest_ok=False)
    return [UnwrapReport("x.dcm", "auth-enveloped-data", "aes256-gcm", 0, "ktri", "data",
                         "plain", "aead", policy=_decisions()[0]),  # type: ignore[arg-type]
            UnwrapReport("y.dcm", "enveloped-data", "aes256-cbc", 1, "pwri", "digested-data",
                         "strict", "digested", inner=bad)]


def _infos() -> list[Report]:
    from dicomsec.securefile import SecureFileInfo

    return [SecureFileInfo("a.dcm", "dicom-part10", 1234),
            SecureFileInfo("a.p7m", "secure-dicom-file", 2345, outer="auth-enveloped-data",
                           version=0, encoding="der", content_type="data",
                           cipher="aes256-gcm", icv_len=16,
                           recipients=({"kind": "pwri", "kdf": "pbkdf2"},))]


def _checks() -> list[Report]:
    from dicomsec.transport._scan_report import Check

    return [Check("tls12.TLS_X", "suite refused", "pass", "", "B.13"),
            Check("tls12.TLS_Y", "suite refused", "fail", "accepted", "B.13"),
            Check("client-auth.tls12", "client certificate required", "warn", "", "B.13")]


def _certificates() -> list[Report]:
    from dicomsec.transport._scan_report import CertificateInfo

    return [CertificateInfo("TLSv1.3", "CN=pacs", "EC secp256r1", 256, "SHA-256", ()),
            CertificateInfo("TLSv1.2", "CN=old", "RSA", 1024, "SHA-1", ("RSA key below 2048",),
                            1, True)]


def _scans() -> list[Report]:
    from dicomsec.transport._scan_report import CertificateInfo, Check, ScanReport

    checks = tuple(c for c in _checks() if isinstance(c, Check))
    certs = tuple(c for c in _certificates() if isinstance(c, CertificateInfo))
    return [ScanReport("127.0.0.1", 2762, "b13", checks[:1], certs[:1], "TLSv1.3 X", 0.5),
            ScanReport("127.0.0.1", 2762, "b13", checks, certs, None, 1.25)]


def _stores() -> list[Report]:
    from dicomsec.transport.dimse import StoreResult

    return [StoreResult(Path("a.dcm"), "1.2.3", 0),
            StoreResult(Path("b.dcm"), "1.2.4", 0xA700, "status 0xA700"),
            StoreResult(Path("c.dcm"), "1.2.5", None, "not sent")]


def _sends() -> list[Report]:
    from dicomsec.transport.dimse import SendReport, StoreResult

    good, bad, _ = (s for s in _stores() if isinstance(s, StoreResult))
    return [SendReport((good,), "TLSv1.3", "TLS_AES_128_GCM_SHA256", "h:1"),
            SendReport((good, bad), "TLSv1.3", "TLS_AES_128_GCM_SHA256", "h:1"),
            SendReport((), failure="association rejected")]


def _echoes() -> list[Report]:
    from dicomsec.transport.dimse import EchoReport

    return [EchoReport(0, "TLSv1.3", "TLS_AES_256_GCM_SHA384", "h:1"),
            EchoReport(None, peer="h:1", failure="no association")]


def _events() -> list[Report]:
    from dicomsec.transport.dimse import ScpEvent

    return [ScpEvent("stored", "h:2", path=Path("x.dcm"), calling_aet="SCU"),
            ScpEvent("rejected", "h:2", "TLS handshake timed out")]


def _pki_lists() -> list[Report]:
    from dicomsec.trust.pki import PkiEntry, PkiList

    t = _dt.datetime(2027, 1, 1, tzinfo=_dt.UTC)
    return [PkiList("site", (PkiEntry("0A1B", "issuing", "device", "/CN=CT01", t, "V"),
                             PkiEntry("0C", "issuing", "tls-server", "/CN=pacs", t, "R", t,
                                      "key-compromise")))]


def _validations() -> list[Report]:
    from tests.trust._validate_pki import validation_reports

    return validation_reports()


def _verdicts() -> list[Report]:
    from tests.policy.factories import verdicts

    return verdicts()


def _policy_reports() -> list[Report]:
    from tests.policy.factories import policy_reports

    return policy_reports()


def _token_keys() -> list[Report]:
    from tests.softhsm import token_key_reports

    return token_key_reports()


def _deid_reports() -> list[Report]:
    from dicomsec.deid._report import DeidReport, EncryptedSummary, PixelSummary

    return [DeidReport("in/ct.dcm", "out/ct.dcm", ("113100",), ("(0010,1010) PatientAge",),
                       ("(0010,0010) PatientName",), (), 4, 1, False),
            DeidReport("in/us.dcm", "out/us.dcm", ("113100", "113101", "113107"),
                       ("(0008,1140)[0].(0008,1155)",), ("(0008,0018) SOPInstanceUID",),
                       ("(0008,0070) Manufacturer",), 3, 1, True, ("1.2.3.4",),
                       EncryptedSummary(2, ("a.cert.pem", "b.pem"), "modern"),
                       PixelSummary(((0, 0, 120, 20, "rule:us-header"),), 1, "rules",
                                    "1.2.840.10008.1.2.1"),
                       ("clean-recognizable-visual-features not claimed: MR head",),
                       ("a warning",),
                       PixelSummary(((10, 5, 40, 12, "ocr"),), 1, "tesseract",
                                    "1.2.840.10008.1.2.1"))]


def _reid_reports() -> list[Report]:
    from dicomsec.deid._report import ReidReport

    return [ReidReport("d.dcm", "r.dcm", ("(0010,0010) PatientName",), 0,
                       "auth-enveloped-data", "aes256-gcm", "ktri", True),
            ReidReport("g.dcm", "r.dcm", (), 1, "enveloped-data", "des-ede3-cbc", "ktri",
                       False, complete=False, skipped=("(FFFA,FFFA) DigitalSignaturesSequence",))]


def _spool_statuses() -> list[Report]:
    from dicomsec.audit.spool import SinkStatus, SpoolStatus

    t = "2026-12-02T13:00:00+00:00"
    return [SpoolStatus("/s/spool.sqlite3", (
                SinkStatus("syslog+tls://a:6514", 0, None, t, None, 0, None, 5),)),
            SpoolStatus("/s/spool.sqlite3", (
                SinkStatus("syslog+tls://a:6514", 3, t, None, "cannot connect", 2, t, 0),))]


def _flush_reports() -> list[Report]:
    from dicomsec.audit.trail import FlushReport, SinkFlush

    return [FlushReport((SinkFlush("file:///l/audit.log", 2, 0),)),
            FlushReport((SinkFlush("syslog+tls://a:6514", 0, 3, error="timed out"),))]


#: one factory per report type, by schema
FACTORIES: dict[str, Callable[[], list[Report]]] = {
    "dicomsec.algorithms.decision/1": _decisions,
    "dicomsec.signatures.policy/1": _signature_policies,
    "dicomsec.signatures.timestamp/1": _timestamps,
    "dicomsec.signatures.signature/1": _signatures,
    "dicomsec.signatures.report/1": _files,
    "dicomsec.signatures.sign/1": _sign_results,
    "dicomsec.securefile.wrap/1": _wraps,
    "dicomsec.securefile.inner/1": _inners,
    "dicomsec.securefile.unwrap/1": _unwraps,
    "dicomsec.securefile.info/1": _infos,
    "dicomsec.transport.check/1": _checks,
    "dicomsec.transport.certificate/1": _certificates,
    "dicomsec.transport.tls_check/1": _scans,
    "dicomsec.transport.store/1": _stores,
    "dicomsec.transport.send/1": _sends,
    "dicomsec.transport.echo/1": _echoes,
    "dicomsec.transport.scp_event/1": _events,
    "dicomsec.pki.list/1": _pki_lists,
    "dicomsec.trust.validation/1": _validations,
    "dicomsec.policy.verdict/1": _verdicts,
    "dicomsec.policy.check/1": _policy_reports,
    "dicomsec.keys.token_key/1": _token_keys,
    "dicomsec.deid.file/1": _deid_reports,
    "dicomsec.deid.reid/1": _reid_reports,
    "dicomsec.audit.spool/1": _spool_statuses,
    "dicomsec.audit.flush/1": _flush_reports,
}


def _instances(cls: type[Report]) -> list[Report]:
    factory = FACTORIES.get(cls.schema)
    if factory is None:
        pytest.fail(f"report type {_name(cls)} ({cls.schema}) has no factory: add one to "
                    "FACTORIES in tests/test_reports.py and document its keys in "
                    "docs/reports.md")
    made = factory()
    assert made and all(type(r) is cls for r in made), f"the factory of {cls.schema} is wrong"
    return made


@pytest.mark.parametrize("cls", _types(), ids=_name)
def test_instances_follow_the_protocol(cls: type[Report]) -> None:
    for report in _instances(cls):
        d = report.to_dict()
        assert list(d)[:2] == ["schema", "ok"], list(d)
        assert d["schema"] == cls.schema and d["ok"] is report.ok
        assert json.loads(report.to_json()) == d
        assert json.loads(report.to_json(indent=None)) == d
        line = report.summary()
        assert line and "\n" not in line
        assert not hasattr(report, "__dict__")
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(report, dataclasses.fields(cast(Any, report))[0].name, None)
        if report.ok:
            report.raise_for_failure()
        else:
            with pytest.raises(DicomSecError):
                report.raise_for_failure()


def test_every_factory_has_a_report_type() -> None:
    """No factory outlives its type (a renamed schema must be renamed here too)."""
    assert set(FACTORIES) == {c.schema for c in report_types()}


def test_ok_and_not_ok_are_both_exercised_where_they_exist() -> None:
    always_ok = {"dicomsec.signatures.sign/1", "dicomsec.securefile.wrap/1",
                 "dicomsec.securefile.info/1", "dicomsec.pki.list/1",
                 "dicomsec.deid.file/1", "dicomsec.deid.reid/1"}
    for schema, factory in FACTORIES.items():
        verdicts = {r.ok for r in factory()}
        assert verdicts == ({True} if schema in always_ok else {True, False}), schema


# ------------------------------------------------------------------------------------------
# docs/reports.md


def _section(doc: str, schema: str) -> str:
    """The part of the page under the heading that names ``schema`` (up to the next heading
    of the same or a higher level)."""
    m = re.search(rf"^(#+) .*`{re.escape(schema)}`.*$", doc, re.MULTILINE)
    assert m is not None, f"docs/reports.md has no heading naming `{schema}`"
    level = len(m.group(1))
    end = re.search(rf"^#{{1,{level}}} ", doc[m.end():], re.MULTILINE)
    return doc[m.end():m.end() + end.start()] if end else doc[m.end():]


@pytest.mark.parametrize("cls", _types(), ids=_name)
def test_report_is_documented(cls: type[Report]) -> None:
    doc = DOC.read_text(encoding="utf-8")
    section = _section(doc, cls.schema)
    assert cls.__name__ in section or cls.__name__ in doc
    keys = {k for r in _instances(cls) for k in r.to_dict()} - {"schema"}  # said once, above
    missing = sorted(k for k in keys if f"`{k}`" not in section)
    assert not missing, f"docs/reports.md, section {cls.schema}: keys not documented {missing}"
    assert "`ok`" in section, f"docs/reports.md does not say what ok means for {cls.schema}"


def test_docs_name_no_schema_that_does_not_exist() -> None:
    named = set(re.findall(r"`(dicomsec\.[a-z0-9_.-]+/[0-9]+)`", DOC.read_text("utf-8")))
    assert named <= {c.schema for c in report_types()}, named - {
        c.schema for c in report_types()}


# ------------------------------------------------------------------------------------------
# --json is to_dict(): sign (verify, wrap, unwrap and inspect are checked in their packages)


def test_sign_json_is_the_library_result(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                         ) -> None:
    from dicomsec import signatures
    from dicomsec.cli import main
    from tests.conftest import PKI, PYDICOM_FILES, fixture_key

    ct = PYDICOM_FILES / "CT_small.dcm"
    by_cli, by_lib = tmp_path / "cli.dcm", tmp_path / "lib.dcm"
    rc = main(["sign", str(ct), "-o", str(by_cli), "--key", str(PKI / "signer-ecp256.key.pem"),
               "--cert", str(PKI / "signer-ecp256.cert.pem"), "--profile", "base", "--json"])
    assert rc == 0
    printed = json.loads(capsys.readouterr().out)
    lib = signatures.sign(ct, by_lib, key=fixture_key("ecp256"), profile="base").to_dict()
    assert list(printed) == list(lib)
    # the same operation: every value equal but the new file's name and the random UID
    differ = {k for k in lib if printed[k] != lib[k]}
    assert differ <= {"file", "uid"}, differ
    assert printed["file"] == str(by_cli)
    (sig,) = signatures.verify(by_cli).signatures
    assert sig.uid == printed["uid"]
