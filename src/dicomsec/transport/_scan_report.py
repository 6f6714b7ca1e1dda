"""The endpoint scanner's report: one :class:`Check` per requirement, the certificates seen,
one verdict (every part follows the :class:`~dicomsec.report.Report` protocol)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from dicomsec.errors import DicomSecError, PolicyViolation
from dicomsec.report import Report
from dicomsec.transport import tls

__all__ = ["CertificateInfo", "Check", "ScanReport", "Status", "certificate_info"]

Status = Literal["pass", "fail", "warn", "info"]


@dataclass(frozen=True, slots=True)
class Check(Report):
    """One requirement, the clause it comes from and its outcome: ``fail`` when a MUST of the
    text is broken, ``warn`` for a SHOULD or a recommendation, ``info`` when optional or not
    determined (never a failure)."""

    schema: ClassVar[str] = "dicomsec.transport.check/1"

    id: str
    requirement: str
    status: Status
    detail: str = ""
    clause: str = ""

    @property
    def ok(self) -> bool:
        return self.status != "fail"

    def summary(self) -> str:
        return f"{self.status.upper()} {self.id} clause={self.clause!r}"

    def _content(self) -> dict[str, Any]:
        return {"id": self.id, "requirement": self.requirement, "status": self.status,
                "detail": self.detail, "clause": self.clause}


@dataclass(frozen=True, slots=True)
class CertificateInfo(Report):
    """A certificate the server presented (``position`` 0 is the leaf)."""

    schema: ClassVar[str] = "dicomsec.transport.certificate/1"

    seen_in: str
    subject: str
    key_type: str
    key_bits: int
    signature_hash: str | None
    problems: tuple[str, ...]
    position: int = 0
    self_signed: bool = False

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        return (f"{'OK' if self.ok else 'PROBLEM'} certificate subject={self.subject!r} "
                f"key={self.key_type}/{self.key_bits}")

    def _content(self) -> dict[str, Any]:
        return {"seen_in": self.seen_in, "subject": self.subject, "key_type": self.key_type,
                "key_bits": self.key_bits, "signature_hash": self.signature_hash,
                "problems": list(self.problems), "position": self.position,
                "self_signed": self.self_signed}


@dataclass(frozen=True, slots=True)
class ScanReport(Report):
    """All checks of one endpoint against one profile; ``ok`` when no MUST is broken."""

    schema: ClassVar[str] = "dicomsec.transport.tls_check/1"

    host: str
    port: int
    profile: str
    checks: tuple[Check, ...]
    certificates: tuple[CertificateInfo, ...]
    preferred: str | None  # version and suite the server picks when offered everything
    seconds: float

    @property
    def failures(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if c.status == "fail")

    @property
    def warnings(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if c.status == "warn")

    @property
    def ok(self) -> bool:
        return not self.failures

    def summary(self) -> str:
        return (f"{'PASS' if self.ok else 'FAIL'} tls-check {self.host}:{self.port} "
                f"profile={self.profile} failures={len(self.failures)} "
                f"warnings={len(self.warnings)} seconds={self.seconds:.1f}")

    def _content(self) -> dict[str, Any]:
        return {"host": self.host, "port": self.port, "profile": self.profile,
                "failures": len(self.failures), "warnings": len(self.warnings),
                "preferred": self.preferred, "seconds": round(self.seconds, 3),
                "checks": [c.to_dict() for c in self.checks],
                "certificates": [c.to_dict() for c in self.certificates]}

    def _failure(self) -> DicomSecError:
        return PolicyViolation(f"{self.host}:{self.port} does not meet profile "
                               f"{self.profile.upper()}: "
                               + "; ".join(f"{c.requirement} ({c.clause})"
                                           for c in self.failures))


def _hash_name(name: str | None) -> str | None:
    if name is None:
        return None
    upper = name.upper()
    return upper.replace("SHA", "SHA-", 1) if upper.startswith("SHA") else upper


def certificate_info(der: bytes, seen_in: str, prof: tls.TlsProfile,
                     position: int = 0) -> CertificateInfo:
    """Key type, size and signature hash of a certificate, and what keeps it from the
    profile's minimums (the same ones the profile's own contexts enforce on their peers)."""
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    try:
        cert = x509.load_der_x509_certificate(der)
        key = cert.public_key()
        algo = cert.signature_hash_algorithm
    except Exception as exc:  # malformed or unsupported certificate
        return CertificateInfo(seen_in, "?", "?", 0, None,
                               (f"certificate not readable ({type(exc).__name__})",), position)
    subject = cert.subject.rfc4514_string() or "(empty subject)"
    if isinstance(key, rsa.RSAPublicKey):
        key_type, bits = "RSA", key.key_size
    elif isinstance(key, ec.EllipticCurvePublicKey):
        key_type, bits = f"EC {key.curve.name}", key.curve.key_size
    else:
        key_type, bits = type(key).__name__.removesuffix("PublicKey").lstrip("_"), 0
    hash_name = _hash_name(algo.name if algo is not None else None)
    problems = tuple(tls.certificate_problems(der, prof))
    return CertificateInfo(seen_in, subject, key_type, bits, hash_name, problems, position,
                           cert.issuer == cert.subject)
