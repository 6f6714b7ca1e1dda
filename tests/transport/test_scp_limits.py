"""Issue 8, item 6: the SCP's bounds are options. The PDU bounds come from
``dicomsec.limits`` (``pdu_bytes``: the maximum PDU length announced and the P-DATA bound;
``association_pdu_bytes``: every other PDU), the ACSE timeout from ``make_scp(acse_timeout=)``.

In process, against ``make_scp`` on 127.0.0.1 with raw TLS clients; nothing here measures time.
"""

from __future__ import annotations

import contextlib
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest

from dicomsec import limits
from dicomsec.errors import InvalidInput
from dicomsec.transport import dimse
from dicomsec.transport._pynetdicom import PduLimits
from dicomsec.trust import TrustStore
from tests.transport.test_dimse import Pki
from tests.transport.test_dimse import pki as pki  # the module's test PKI fixture
from tests.transport.test_scp_hardening import _associate_rq, _recv_pdu, _tls_connection


@contextlib.contextmanager
def _scp(pki: Pki, out: Path, events: list[dimse.ScpEvent],
         **options: float) -> Iterator[dimse.DimseServer]:
    out.mkdir(exist_ok=True)
    with dimse.make_scp("b12", [(pki.cert("server-ec"), pki.key("server-ec"))],
                        TrustStore.from_paths([pki.ca]), out, host="127.0.0.1", port=0,
                        on_event=events.append, require_profile_config=False,
                        **options) as server:  # type: ignore[arg-type]
        yield server


def _drain(sock: object) -> None:
    with contextlib.suppress(OSError):
        while sock.recv(4096):  # type: ignore[attr-defined]  # until the server drops us
            pass


def _max_length(ac_body: bytes) -> int:
    """The Maximum Length Received of an A-ASSOCIATE-AC's user information."""
    from pynetdicom.pdu import A_ASSOCIATE_AC
    from pynetdicom.pdu_primitives import MaximumLengthNotification

    pdu = A_ASSOCIATE_AC()
    pdu.decode(b"\x02\x00" + struct.pack(">L", len(ac_body)) + ac_body)
    info = pdu.to_primitive().user_information
    return next(i.maximum_length_received for i in info
                if isinstance(i, MaximumLengthNotification))


def _aborted(events: list[dimse.ScpEvent]) -> str:
    aborted = [e for e in events if e.kind == "aborted"]
    assert len(aborted) == 1, events
    return aborted[0].detail


def test_pdu_bytes_is_announced_and_bounds_p_data(pki: Pki, tmp_path: Path) -> None:
    events: list[dimse.ScpEvent] = []
    with limits.applied(limits.current().replaced(pdu_bytes=64 * 1024)), \
            _scp(pki, tmp_path / "out", events) as server, \
            _tls_connection(pki, server.port) as sock:
        sock.sendall(_associate_rq())
        pdu_type, body = _recv_pdu(sock)
        assert pdu_type == 0x02 and _max_length(body) == 64 * 1024
        sock.sendall(b"\x04\x00" + struct.pack(">L", 64 * 1024 + 1) + bytes(16))
        _drain(sock)
    assert "P-DATA PDU of 65537 bytes exceeds the maximum PDU length negotiated (65536)" in \
        _aborted(events)


def test_association_pdu_bytes_bounds_pdus_before_the_association(pki: Pki,
                                                                   tmp_path: Path) -> None:
    events: list[dimse.ScpEvent] = []
    with limits.applied(limits.current().replaced(association_pdu_bytes=4096)), \
            _scp(pki, tmp_path / "out", events) as server, \
            _tls_connection(pki, server.port) as sock:
        sock.sendall(b"\x01\x00" + struct.pack(">L", 4097) + bytes(16))
        _drain(sock)
    assert "PDU type 0x01 of 4097 bytes before the association exceeds 4096" in _aborted(events)


def test_the_default_limits_are_the_documented_ones() -> None:
    assert limits.Limits().pdu_bytes == dimse.MAX_PDU_SIZE == 1 << 20
    assert limits.Limits().association_pdu_bytes == 64 * 1024


@pytest.mark.parametrize(("ours", "negotiated", "refused"), [
    (1 << 20, 0, 1 << 20),  # nothing negotiated: our bound
    (1 << 20, 16384, 16384),  # the negotiated maximum when it is lower
    (16384, 1 << 20, 16384),  # ours when it is lower
])
def test_p_data_bound_is_the_lower_of_ours_and_the_negotiated(ours: int, negotiated: int,
                                                               refused: int) -> None:
    bounds = PduLimits(ours, lambda reason, established: None)
    assert bounds.refusal(0x04, refused, True, negotiated) is None
    reason = bounds.refusal(0x04, refused + 1, True, negotiated)
    assert reason is not None and f"negotiated ({refused})" in reason


def test_acse_timeout_is_an_option(pki: Pki, tmp_path: Path) -> None:
    """A peer that sends no A-ASSOCIATE-RQ is dropped after ``acse_timeout`` (the network
    timeout stays long), and the drop names the timeout."""
    events: list[dimse.ScpEvent] = []
    with _scp(pki, tmp_path / "out", events, acse_timeout=0.5, network_timeout=60.0) as server, \
            _tls_connection(pki, server.port) as sock:
        _drain(sock)
    assert "no A-ASSOCIATE-RQ within the ACSE timeout (0.5 s)" in _aborted(events)


@pytest.mark.parametrize("option", ["acse_timeout", "network_timeout"])
def test_timeouts_must_be_positive(pki: Pki, tmp_path: Path, option: str) -> None:
    with pytest.raises(InvalidInput, match="timeout must be positive"), \
            _scp(pki, tmp_path / "out", [], **{option: 0.0}):
        pass


@pytest.mark.parametrize(("flag", "state", "expected"), [
    (False, "Sta3", False), (False, "Sta6", True), (False, "Sta7", True),
    (True, "Sta6", True), (False, "Sta13", False), (False, "Sta2", False)])
def test_established_follows_the_state_machine(flag: bool, state: str,
                                               expected: bool) -> None:
    """A P-DATA right after our A-ASSOCIATE-AC (state Sta6, ``is_established`` not yet set
    by the association thread) is judged as inside the association: the race two test
    workers exposed, where it was refused by the pre-association bound."""
    from types import SimpleNamespace

    from dicomsec.transport._pynetdicom import _BoundedReads

    dul = _BoundedReads()
    dul.assoc = SimpleNamespace(is_established=flag)
    dul.state_machine = SimpleNamespace(current_state=state)
    assert dul._established() is expected
