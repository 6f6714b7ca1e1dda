"""Malformed CMS input: the reader raises InvalidInput or returns; nothing else, never a hang."""

from __future__ import annotations

import io
import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dicomsec.cms._der import TLVReader
from dicomsec.cms.envelope import read_envelope
from dicomsec.errors import InvalidInput

VECTORS = sorted((Path(__file__).parent.parent / "data" / "secure-files").glob("*.cms"))
SEEDS = [p.read_bytes() for p in VECTORS]


def _read(data: bytes) -> None:
    try:
        env = read_envelope(io.BytesIO(data), len(data), "<fuzz>")
    except InvalidInput:
        return
    # a structure that parsed must also have walkable content chunks
    if env.content is not None:
        r = TLVReader(io.BytesIO(data), len(data), "<fuzz>")
        try:
            for _ in r.octet_chunks(env.content):
                pass
        except InvalidInput:
            return


def _mutate(rng: random.Random, data: bytes) -> bytes:
    kind = rng.randrange(6)
    b = bytearray(data)
    if kind == 0:  # truncation
        return bytes(b[: rng.randrange(len(b))])
    if kind == 1:  # random byte changes near the header region (lengths, tags)
        for _ in range(rng.randrange(1, 4)):
            i = rng.randrange(min(len(b), 2048))
            b[i] = rng.randrange(256)
        return bytes(b)
    if kind == 2:  # wrong lengths: make a length octet long-form and huge
        i = rng.randrange(1, min(len(b), 1024))
        b[i] = 0x84
        return bytes(b)
    if kind == 3:  # wrong tags
        i = rng.randrange(min(len(b), 1024))
        b[i] = rng.choice([0x30, 0x31, 0xA0, 0xA1, 0x80, 0x04, 0x24, 0x06, 0x02, 0x00, 0xFF])
        return bytes(b)
    if kind == 4:  # random bytes
        return rng.randbytes(rng.randrange(0, 512))
    # indefinite-length markers sprinkled in
    i = rng.randrange(1, min(len(b), 1024))
    b[i : i + 1] = b"\x80"
    return bytes(b)


def test_ten_thousand_malformed_inputs() -> None:
    rng = random.Random(20261122)
    for n in range(10_000):
        data = _mutate(rng, SEEDS[n % len(SEEDS)])
        _read(data)  # a clean refusal or a parse, never a crash (time: bench/, issue 8)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=600))
def test_arbitrary_bytes(data: bytes) -> None:
    _read(data)


@pytest.mark.parametrize("path", VECTORS, ids=[p.name for p in VECTORS])
def test_every_truncation_of_the_header(path: Path) -> None:
    data = path.read_bytes()
    for cut in range(0, min(len(data), 1200)):
        _read(data[:cut])


def test_deep_nesting_is_refused() -> None:
    data = b"\x30\x80" * 5000
    with pytest.raises(InvalidInput):
        read_envelope(io.BytesIO(data), len(data), "<deep>")
