"""Templates: a byte format that round-trips exactly and refuses anything malformed,
bounded adaptive updates, varied selection and consistent enrolment."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from facegate.biometrics.template import (
    ADAPTIVE_TTL_SECONDS,
    EMBEDDING_MODEL,
    MAX_ADAPTIVE,
    MAX_ENROLLED,
    Template,
    adapt,
    build_template,
    consistent_captures,
    select_varied,
)
from facegate.errors import EnrolmentError, VaultTampered

DIM = 128
NOW = 1_800_000_000.0


def unit_rows(rng: np.random.Generator, k: int, dim: int = DIM) -> np.ndarray:
    rows = rng.standard_normal((k, dim)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def make_template(
    k: int, *, seed: int = 0, adaptive: np.ndarray | None = None, added: np.ndarray | None = None
) -> Template:
    rng = np.random.default_rng(seed)
    return Template(
        embeddings=unit_rows(rng, k),
        added_at=np.full(k, NOW) if added is None else added.astype(np.float64),
        adaptive=np.zeros(k, bool) if adaptive is None else adaptive.astype(bool),
    )


@st.composite
def templates(draw: st.DrawFn) -> Template:
    k = draw(st.integers(min_value=1, max_value=8))
    seed = draw(st.integers(min_value=0, max_value=2**32 - 1))
    rng = np.random.default_rng(seed)
    times = draw(
        st.lists(st.floats(min_value=0, max_value=4e9, allow_nan=False), min_size=k, max_size=k)
    )
    flags = draw(st.lists(st.booleans(), min_size=k, max_size=k))
    model = draw(st.sampled_from([EMBEDDING_MODEL, "other-model/v9", "ünïcode"]))
    return Template(
        embeddings=unit_rows(rng, k),
        added_at=np.array(times, np.float64),
        adaptive=np.array(flags, bool),
        model=model,
    )


# --- serialisation -----------------------------------------------------------------------


@given(template=templates())
@settings(max_examples=60, deadline=None)
def test_bytes_round_trip_exactly(template: Template) -> None:
    back = Template.from_bytes(template.to_bytes())
    assert len(back) == len(template)
    assert back.model == template.model
    assert back.embeddings.dtype == np.float32
    np.testing.assert_array_equal(back.embeddings, template.embeddings)
    np.testing.assert_array_equal(back.added_at, template.added_at)
    np.testing.assert_array_equal(back.adaptive, template.adaptive)
    assert back.to_bytes() == template.to_bytes()


@given(template=templates(), data=st.data())
@settings(max_examples=60, deadline=None)
def test_truncated_payload_is_tampering(template: Template, data: st.DataObject) -> None:
    payload = template.to_bytes()
    cut = data.draw(st.integers(min_value=0, max_value=len(payload) - 1))
    with pytest.raises(VaultTampered):
        Template.from_bytes(payload[:cut])


def test_extra_trailing_byte_is_tampering() -> None:
    with pytest.raises(VaultTampered, match="malformed"):
        Template.from_bytes(make_template(3).to_bytes() + b"\x00")


def _with_header(header: bytes, body: bytes = b"") -> bytes:
    return b"FGT1" + struct.pack("<I", len(header)) + header + body


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"FGT",
        b"XXXX" + make_template(1).to_bytes()[4:],
        _with_header(b"not json at all"),
        _with_header(b"\xff\xfe\x00garbage"),
        _with_header(b"[1, 2, 3]"),
        _with_header(b'"a string"'),
        _with_header(json.dumps({"model": "m"}).encode()),
        _with_header(json.dumps({"shape": [1, 128]}).encode(), bytes(128 * 4 + 8 + 1)),
        _with_header(json.dumps({"model": "m", "shape": [1]}).encode()),
        _with_header(json.dumps({"model": "m", "shape": ["a", "b"]}).encode()),
        _with_header(json.dumps({"model": "m", "shape": [[1], 2]}).encode()),
        _with_header(json.dumps({"model": "m", "shape": [0, 128]}).encode()),
        _with_header(json.dumps({"model": "m", "shape": [2, 128]}).encode(), bytes(100)),
        b"FGT1" + struct.pack("<I", 2**31) + b"{}",
        _with_header(b"[" * 100_000),
    ],
    ids=[
        "empty",
        "short-magic",
        "bad-magic",
        "not-json",
        "not-utf8",
        "json-list",
        "json-string",
        "no-shape",
        "no-model",
        "one-dim-shape",
        "text-shape",
        "nested-shape",
        "zero-rows",
        "short-body",
        "huge-header-length",
        "deeply-nested-header",
    ],
)
def test_garbled_payload_is_tampering(payload: bytes) -> None:
    with pytest.raises(VaultTampered):
        Template.from_bytes(payload)


def test_header_claiming_more_rows_is_tampering() -> None:
    payload = make_template(2).to_bytes()
    (hlen,) = struct.unpack("<I", payload[4:8])
    header = json.loads(payload[8 : 8 + hlen])
    header["shape"][0] = 3
    forged = json.dumps(header, sort_keys=True).encode()
    with pytest.raises(VaultTampered, match="length mismatch"):
        Template.from_bytes(_with_header(forged, payload[8 + hlen :]))


def test_template_validates_its_arrays() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="float32"):
        Template(unit_rows(rng, 2).astype(np.float64), np.zeros(2), np.zeros(2, bool))
    with pytest.raises(ValueError, match=r"\(2,\)"):
        Template(unit_rows(rng, 2), np.zeros(3), np.zeros(2, bool))
    with pytest.raises(ValueError, match="K>=1"):
        Template(np.zeros((0, DIM), np.float32), np.zeros(0), np.zeros(0, bool))


# --- adaptive updates ------------------------------------------------------------------


def test_adapt_appends_an_adaptive_entry() -> None:
    template = make_template(3)
    probe = unit_rows(np.random.default_rng(9), 1)[0]
    out = adapt(template, probe, NOW + 10)
    assert len(out) == 4
    assert out.adaptive.tolist() == [False, False, False, True]
    np.testing.assert_array_equal(out.embeddings[-1], probe)
    assert out.added_at[-1] == NOW + 10
    assert out.model == template.model


@given(
    n_enrolled=st.integers(min_value=1, max_value=MAX_ENROLLED),
    steps=st.lists(st.floats(min_value=0, max_value=20 * 24 * 3600), min_size=1, max_size=12),
)
@settings(max_examples=60, deadline=None)
def test_adapt_bounds_adaptive_entries_and_keeps_enrolled(
    n_enrolled: int, steps: list[float]
) -> None:
    template = make_template(n_enrolled, seed=n_enrolled)
    enrolled = template.embeddings.copy()
    rng = np.random.default_rng(len(steps))
    now = NOW
    for step in steps:
        now += step
        template = adapt(template, unit_rows(rng, 1)[0], now)
        assert int(template.adaptive.sum()) <= MAX_ADAPTIVE
        np.testing.assert_array_equal(template.embeddings[~template.adaptive], enrolled)
        ages = now - template.added_at[template.adaptive]
        assert np.all(ages < ADAPTIVE_TTL_SECONDS)
        assert template.adaptive[-1] and template.added_at[-1] == now


def test_adapt_replaces_the_oldest_adaptive_entry() -> None:
    template = make_template(2)
    rng = np.random.default_rng(1)
    probes = unit_rows(rng, MAX_ADAPTIVE + 1)
    for i, probe in enumerate(probes):
        template = adapt(template, probe, NOW + i)
    assert int(template.adaptive.sum()) == MAX_ADAPTIVE
    kept = template.embeddings[template.adaptive]
    np.testing.assert_array_equal(kept, probes[1:])  # the first (oldest) one went


def test_adapt_drops_expired_adaptive_entries_but_never_enrolled_ones() -> None:
    old = NOW - 10 * ADAPTIVE_TTL_SECONDS  # enrolled long ago: still kept
    template = make_template(
        4,
        adaptive=np.array([False, False, True, True]),
        added=np.array([old, old, NOW - ADAPTIVE_TTL_SECONDS - 1, NOW - 60]),
    )
    probe = unit_rows(np.random.default_rng(5), 1)[0]
    out = adapt(template, probe, NOW)
    assert out.adaptive.tolist() == [False, False, True, True]
    np.testing.assert_array_equal(out.embeddings[:2], template.embeddings[:2])
    np.testing.assert_array_equal(out.embeddings[2], template.embeddings[3])  # fresh one stays
    np.testing.assert_array_equal(out.embeddings[3], probe)
    assert out.added_at.tolist() == [old, old, NOW - 60, NOW]


# --- selection and enrolment -----------------------------------------------------------


@given(
    n_rows=st.integers(min_value=1, max_value=12),
    n=st.integers(min_value=1, max_value=8),
    seed=st.integers(min_value=0, max_value=10_000),
    duplicates=st.booleans(),
)
@settings(max_examples=80, deadline=None)
def test_select_varied_picks_distinct_indices(
    n_rows: int, n: int, seed: int, duplicates: bool
) -> None:
    rows = unit_rows(np.random.default_rng(seed), n_rows)
    if duplicates:
        rows = np.vstack([rows, rows])  # exact copies must not be picked twice
    chosen = select_varied(rows, n)
    assert len(chosen) == min(n, len(rows))
    assert len(set(chosen)) == len(chosen)
    assert all(0 <= i < len(rows) for i in chosen)


def test_select_varied_prefers_the_spread() -> None:
    base = unit_rows(np.random.default_rng(3), 1)[0]
    rng = np.random.default_rng(4)
    near = [base + 0.01 * rng.standard_normal(DIM).astype(np.float32) for _ in range(4)]
    far = unit_rows(rng, 1)[0]
    rows = np.stack([*near, far])
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    assert 4 in select_varied(rows, 2)


def test_build_template_keeps_at_most_max_enrolled() -> None:
    rows = list(unit_rows(np.random.default_rng(2), MAX_ENROLLED + 4))
    template = build_template(rows, NOW)
    assert len(template) == MAX_ENROLLED
    assert not template.adaptive.any()
    assert np.all(template.added_at == NOW)


def test_build_template_without_captures_is_an_enrolment_error() -> None:
    with pytest.raises(EnrolmentError):
        build_template([], NOW)


def _same_person(n: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    base = unit_rows(rng, 1)[0]
    rows = [base + 0.03 * rng.standard_normal(DIM).astype(np.float32) for _ in range(n)]
    return [r / np.linalg.norm(r) for r in rows]


def test_consistent_captures_drops_a_stray() -> None:
    captures = _same_person(4)
    stray = unit_rows(np.random.default_rng(99), 1)[0]
    captures.insert(2, stray)
    keep = consistent_captures(captures, threshold=0.5)
    assert 2 not in keep
    assert sorted(keep) == [0, 1, 3, 4]


def test_consistent_captures_refuses_a_majority_of_strays() -> None:
    rng = np.random.default_rng(7)
    captures = [*_same_person(2), *unit_rows(rng, 3)]
    with pytest.raises(EnrolmentError, match="same person"):
        consistent_captures(captures, threshold=0.5)


def test_consistent_captures_refuses_nothing() -> None:
    with pytest.raises(EnrolmentError):
        consistent_captures([], threshold=0.5)


def test_two_captures_of_two_people_never_enrol() -> None:
    """With an even split there is no majority face, so enrolment must be refused."""
    a = np.zeros(128, np.float32)
    a[0] = 1.0
    b = np.zeros(128, np.float32)
    b[1] = 1.0
    with pytest.raises(EnrolmentError, match="same person"):
        consistent_captures([a, b], threshold=0.4)
