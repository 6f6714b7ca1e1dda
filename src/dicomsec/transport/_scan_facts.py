"""What the endpoint scanner learns from a server, before any judgement (low-level).

:func:`gather` runs the raw ClientHello probes and enumerations (``_scan_probe``) in a thread
pool and, at the same time, the full handshakes in a helper process (``_scan_handshake``)
whose OpenSSL offers every TLS 1.3 suite (CCM and CCM_8 too) and every group, so that a full
handshake succeeds whenever the server can complete one with anybody.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dicomsec.errors import InvalidInput
from dicomsec.transport import _iana
from dicomsec.transport._scan_probe import (
    FALLBACK_SCSV,
    Hello,
    client_hello,
    enumerate_codes,
    probe_hello,
)

__all__ = ["Facts", "Session", "gather"]

_HELPER = Path(__file__).with_name("_scan_handshake.py")
_HELPER_CONF = (
    "openssl_conf = scan_init\n[scan_init]\nssl_conf = scan_ssl\n[scan_ssl]\n"
    "system_default = scan_tls\n[scan_tls]\n"
    "Ciphersuites = TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256:"
    "TLS_AES_128_CCM_SHA256:TLS_AES_128_CCM_8_SHA256\n"
    "Groups = P-256:P-384:P-521:X25519:X448:ffdhe2048:ffdhe3072:ffdhe4096:ffdhe6144:ffdhe8192\n"
    "CipherString = ALL:COMPLEMENTOFALL:@SECLEVEL=0\n"
)
_SHA1_SIGALGS = (0x0201, 0x0203)
_SHA224_SIGALGS = (0x0301, 0x0303)
_SHA512_SIGALGS = (0x0601, 0x0603, 0x0806, 0x080B)
_TLS12_GROUP_KINDS = ("ec", "ecx")


@dataclass(frozen=True, slots=True)
class Session:
    """One full handshake made by the helper process."""

    handshake: bool
    error: str | None = None
    version: str | None = None
    cipher: str | None = None
    chain: tuple[bytes, ...] = ()
    after: str | None = None  # what a read after the handshake gave: timeout, alert …, closed
    resumed: bool | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> Session:
        if not data:
            return cls(False, "no result from the handshake helper")
        return cls(bool(data.get("handshake")), data.get("error"), data.get("version"),
                   data.get("cipher"),
                   tuple(base64.b64decode(c) for c in data.get("chain") or ()),
                   data.get("after"), data.get("resumed"))


@dataclass
class Facts:
    """Everything the probes saw; the rules (``_scan_rules``) judge it."""

    host: str
    port: int
    legacy: dict[int, Hello] = field(default_factory=dict)  # SSL 3.0, TLS 1.0, TLS 1.1
    tls12: Hello = field(default_factory=Hello)
    tls13: Hello = field(default_factory=Hello)
    both: Hello = field(default_factory=Hello)
    scsv: Hello = field(default_factory=Hello)
    compression: Hello = field(default_factory=Hello)
    suites12: list[Hello] = field(default_factory=list)
    suites13: list[Hello] = field(default_factory=list)
    groups13: list[int] = field(default_factory=list)
    groups12: list[int] = field(default_factory=list)
    groups12_undetermined: list[int] = field(default_factory=list)
    sigalgs: dict[str, Hello] = field(default_factory=dict)  # "sha1" / "sha224" / "sha512"
    sessions: dict[str, Session] = field(default_factory=dict)

    @property
    def tls12_ok(self) -> bool:
        return self.tls12.accepted and self.tls12.version == 0x0303

    @property
    def tls13_ok(self) -> bool:
        return self.tls13.accepted and self.tls13.version == 0x0304

    def accepted12(self) -> list[int]:
        return [h.suite for h in self.suites12 if h.suite is not None]

    def accepted13(self) -> list[int]:
        return [h.suite for h in self.suites13 if h.suite is not None]

    def chains(self) -> list[tuple[str, tuple[bytes, ...]]]:
        """(where seen, chain as sent) for every TLS 1.2 authentication type and TLS 1.3."""
        out: list[tuple[str, tuple[bytes, ...]]] = []
        seen: set[bytes] = set()
        for hello in self.suites12:
            auth = _iana.traits(hello.suite or 0).auth
            if hello.certificates and hello.certificates[0] not in seen:
                seen.add(hello.certificates[0])
                out.append((f"TLS 1.2 {auth}" if auth in ("RSA", "ECDSA") else "TLS 1.2",
                            hello.certificates))
        for name in ("tls13", "client", "tls12"):
            session = self.sessions.get(name)
            if session and session.chain and session.chain[0] not in seen:
                seen.add(session.chain[0])
                out.append(("TLS 1.3" if session.version == "TLSv1.3" else "TLS 1.2",
                            session.chain))
        return out


def _helper_jobs(host: str, port: int, sni: str | None, *, cadata: str | None,
                 client: tuple[Path, Path] | None, timeout: float, wait: float,
                 ) -> list[dict[str, Any]]:
    base = {"host": host, "port": port, "sni": sni, "timeout": timeout, "wait": wait}
    jobs = [{**base, "id": "tls12", "max12": True, "resume": True},
            {**base, "id": "tls13", "min13": True, "resume": True}]
    if cadata:
        jobs.append({**base, "id": "trust", "cadata": cadata, "wait": 0.05})
    if client is not None:
        jobs.append({**base, "id": "client", "cadata": cadata, "cert": str(client[0]),
                     "key": str(client[1]), "resume": True})
    return jobs


def _run_helper(jobs: list[dict[str, Any]], timeout: float) -> dict[str, Session]:
    """Run the full handshakes in a fresh interpreter with the scanner's OpenSSL configuration."""
    fd, conf = tempfile.mkstemp(prefix="dicomsec-scan-", suffix=".cnf")
    with os.fdopen(fd, "w") as fh:
        fh.write(_HELPER_CONF)
    env = {"OPENSSL_CONF": conf, "PATH": os.environ.get("PATH", "")}
    try:
        proc = subprocess.run([sys.executable, "-I", str(_HELPER)], input=json.dumps(jobs),
                              capture_output=True, text=True, env=env,
                              timeout=timeout * 3 + 10, check=False)
    except subprocess.TimeoutExpired:
        return {job["id"]: Session(False, "the handshake helper timed out") for job in jobs}
    finally:
        with contextlib.suppress(OSError):
            os.unlink(conf)
    try:
        raw: dict[str, Any] = json.loads(proc.stdout)
    except ValueError:
        error = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return {job["id"]: Session(False, f"handshake helper failed: {error}") for job in jobs}
    for job in jobs:
        if raw.get(job["id"], {}).get("input"):
            raise InvalidInput(f"cannot load the client certificate, key or trust anchors: "
                               f"{raw[job['id']]['error']}", path=job.get("cert"))
    return {job["id"]: Session.from_json(raw.get(job["id"])) for job in jobs}


class _Prober:
    """The raw probes of one endpoint, sharing a thread pool."""

    def __init__(self, address: tuple[str, int], sni: str | None, timeout: float,
                 pool: ThreadPoolExecutor) -> None:
        self.address, self.sni, self.timeout, self.pool = address, sni, timeout, pool

    def hello(self, suites: Sequence[int], **kw: Any) -> Hello:
        return probe_hello(self.address, client_hello(suites, server_name=self.sni, **kw),
                           timeout=self.timeout)

    def later(self, suites: Sequence[int], **kw: Any) -> Future[Hello]:
        return self.pool.submit(self.hello, suites, **kw)

    def suites(self, codes: Sequence[int], *, tls13: bool, parts: int) -> list[Hello]:
        extra: dict[str, Any] = {"tls13": (0x0304,), "share": False} if tls13 else {}
        return enumerate_codes(lambda c: self.hello(c, **extra), codes,
                               pick=lambda h: h.suite, parts=parts, pool=self.pool)

    def groups13(self) -> list[int]:
        found = enumerate_codes(
            lambda g: self.hello(_iana.TLS13_PROBE_CODES, tls13=(0x0304,), groups=g,
                                 share=False),
            tuple(_iana.GROUPS), pick=lambda h: h.group, parts=3, pool=self.pool)
        return [h.group for h in found if h.group is not None]

    def groups12(self, suites12: list[Hello]) -> tuple[list[int], list[int]]:
        """Groups accepted in TLS 1.2, and those that could not be told (an ECDSA-only server
        needs its certificate's curve offered too, and may always prefer it)."""
        rsa = [h.suite for h in suites12 if _iana.traits(h.suite or 0).kx == "ECDHE"
               and _iana.traits(h.suite or 0).auth == "RSA"]
        ecdsa = [h for h in suites12 if _iana.traits(h.suite or 0).kx == "ECDHE"
                 and _iana.traits(h.suite or 0).auth == "ECDSA"]
        suites = rsa or [h.suite for h in ecdsa]
        anchor = None if rsa or not ecdsa else _curve_code(ecdsa[0].certificates)
        remaining = [g.code for g in _iana.GROUPS.values()
                     if g.kind in _TLS12_GROUP_KINDS and g.code != anchor]
        found: list[int] = []
        while suites and remaining:
            offer = [*remaining, *([anchor] if anchor is not None else [])]
            chosen = self.hello([s for s in suites if s is not None], groups=offer).group
            if chosen is None or chosen not in offer:
                return found, []
            found.append(chosen)
            if chosen == anchor:
                return found, remaining
            remaining.remove(chosen)
        return found, []


def _curve_code(chain: tuple[bytes, ...]) -> int | None:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec

    try:
        key = x509.load_der_x509_certificate(chain[0]).public_key()
    except (ValueError, IndexError):
        return None
    if not isinstance(key, ec.EllipticCurvePublicKey):
        return None
    names = {"secp256r1": 0x17, "secp384r1": 0x18, "secp521r1": 0x19}
    return names.get(key.curve.name)


def gather(host: str, port: int, sni: str | None, *, cadata: str | None,
           client: tuple[Path, Path] | None, timeout: float, wait: float) -> Facts:
    """Probe the endpoint; raises only for unusable local input (client certificate, trust)."""
    facts = Facts(host, port)
    jobs = _helper_jobs(host, port, sni, cadata=cadata, client=client, timeout=timeout,
                        wait=wait)
    with ThreadPoolExecutor(max_workers=12) as pool:
        helper = pool.submit(_run_helper, jobs, timeout)
        probe = _Prober((host, port), sni, timeout, pool)
        all12, all13 = _iana.TLS12_PROBE_CODES, _iana.TLS13_PROBE_CODES
        legacy = {v: probe.later(all12, version=v) for v in (0x0300, 0x0301, 0x0302)}
        singles = {"tls12": probe.later(all12), "tls13": probe.later(all13, tls13=(0x0304,)),
                   "both": probe.later((*all13, *all12), tls13=(0x0304, 0x0303)),
                   "scsv": probe.later((*all12, FALLBACK_SCSV)),
                   "compression": probe.later(all12, compression=b"\x01\x00")}
        facts.suites12 = probe.suites(all12, tls13=False, parts=4)
        facts.suites13 = probe.suites(all13, tls13=True, parts=1)
        facts.groups13 = probe.groups13()
        facts.groups12, facts.groups12_undetermined = probe.groups12(facts.suites12)
        strong = [c for c in facts.accepted12() if _iana.traits(c).kx in ("ECDHE", "DHE")
                  and _iana.traits(c).auth in ("RSA", "ECDSA", "DSS")]
        for name, sigalgs in (("sha1", _SHA1_SIGALGS), ("sha224", _SHA224_SIGALGS),
                              ("sha512", _SHA512_SIGALGS)):
            if strong:
                facts.sigalgs[name] = probe.hello(strong, sigalgs=sigalgs)
        facts.legacy = {v: f.result() for v, f in legacy.items()}
        for name, future in singles.items():
            setattr(facts, name, future.result())
        facts.sessions = helper.result()
    return facts
