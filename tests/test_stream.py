"""The point stream: the C kernels against the pure-Python reference, pinned
answers, the splitting property, and identical results on every SIMD path."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from interpreters import python_env, run_python

import pymcpi
from pymcpi import reference

BLOCK = pymcpi._core.BLOCK
END = 2**64

# Ranges that start and end inside blocks, on block edges, span many blocks,
# and touch both ends of the stream.
RANGES = [
    (0, 0, 1),
    (0, 0, BLOCK),
    (1, 0, BLOCK + 1),
    (7, 5, 3),
    (7, BLOCK - 1, 2),
    (7, 3 * BLOCK, 9 * BLOCK),
    (42, BLOCK // 2, 20 * BLOCK + 17),
    (2**63, 2**40 + 3, 1000),
    (END - 1, END - 700, 700),
    (123456789, END - 1, 1),
]


def test_block_size_matches_reference():
    assert BLOCK == reference.BLOCK == 256


@pytest.mark.parametrize("seed,start,n", RANGES)
def test_count_hits_matches_reference(seed, start, n):
    assert pymcpi.count_hits(n, seed, start) == reference.count_hits(n, seed, start)


@pytest.mark.parametrize("seed,start,n", RANGES)
def test_sample_points_matches_reference(seed, start, n):
    points = pymcpi.sample_points(n, seed, start)
    assert points.shape == (n, 2) and points.dtype == np.float64
    assert points.flags.c_contiguous
    np.testing.assert_array_equal(points, np.array(reference.sample_points(n, seed, start)))


@pytest.mark.parametrize("seed,start,n", RANGES + [(3, 0, 100_000), (9, 12345, 300_001)])
def test_count_inside_agrees_with_kernel(seed, start, n):
    points = pymcpi.sample_points(n, seed, start)
    hits = pymcpi.count_hits(n, seed, start)
    assert pymcpi.count_inside(points) == hits
    # The float32 copy rounds some coordinates, so it only agrees closely.
    assert abs(pymcpi.count_inside(points.astype(np.float32)) - hits) <= max(2, n // 10**4)


def test_coordinates_are_cell_centres():
    points = pymcpi.sample_points(10_000, seed=5)
    cells = points * 2**32
    assert np.all(cells == np.round(cells))
    assert np.all(cells.astype(np.int64) % 2 == 1)
    assert points.min() > 0 and points.max() < 1


# Known answers, fixed forever: a change here changes every user's results.
PINNED = [
    # (n, seed, start, hits)
    (1, 0, 0, 1),
    (1000, 0, 0, 805),
    (10**6, 0, 0, 784887),
    (10**6, 7, 0, 785184),
    (10**7, 7, 0, 7853108),
    (12345, 1, 255, 9731),
    (10**6, 3, 2**64 - 10**6, 784934),
    (10**8, 2024, 10**12, 78542281),
]


@pytest.mark.parametrize("n,seed,start,hits", PINNED)
def test_pinned_answers(n, seed, start, hits):
    assert pymcpi.count_hits(n, seed, start) == hits


def test_pinned_points():
    points = pymcpi.sample_points(2, seed=0)
    assert points.tolist() == [
        [0.9094358903821558, 0.19914463511668146],
        [0.49743002257309854, 0.2606314590666443],
    ]


def test_pinned_answers_match_reference():
    for n, seed, start, hits in PINNED:
        if n <= 10**4:
            assert reference.count_hits(n, seed, start) == hits


@settings(max_examples=300, deadline=None)
@given(
    seed=st.integers(0, END - 1),
    start=st.integers(0, END - 1),
    a=st.integers(0, 5 * 10**5),
    b=st.integers(0, 5 * 10**5),
)
def test_splitting(seed, start, a, b):
    start = min(start, END - a - b)
    whole = pymcpi.count_hits(a + b, seed, start)
    assert whole == pymcpi.count_hits(a, seed, start) + pymcpi.count_hits(b, seed, start + a)
    assert 0 <= whole <= a + b


@pytest.mark.parametrize("a,b", [(0, 0), (1, 0), (0, 1), (BLOCK, 0), (5 * 10**5, 0), (3, 700)])
def test_splitting_at_the_end_of_the_stream(a, b):
    # The empty range at start = 2**64 is valid, so every split is.
    start = END - a - b
    assert pymcpi.count_hits(a + b, 9, start) == (
        pymcpi.count_hits(a, 9, start) + pymcpi.count_hits(b, 9, start + a))
    assert pymcpi.sample_points(0, 9, END).shape == (0, 2)
    with pytest.raises(ValueError, match="start must be below 2"):
        pymcpi.count_hits(0, 9, END + 1)


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, END - 1), cuts=st.lists(st.integers(0, 3 * 10**6), max_size=12))
def test_splitting_into_many_parts(seed, cuts):
    n = 3 * 10**6
    edges = sorted({0, n, *cuts})
    parts = sum(pymcpi.count_hits(hi - lo, seed, lo) for lo, hi in itertools.pairwise(edges))
    assert parts == pymcpi.count_hits(n, seed)


def test_long_call_spanning_many_slices_splits_exactly():
    # Slices of 2**23 points are counted with the GIL released; a range that
    # straddles their edges must not notice them.
    n, start = 3 * 2**23 + 12345, 2**23 - 777
    assert pymcpi.count_hits(n, 11, start) == sum(
        pymcpi.count_hits(m, 11, s)
        for s, m in [(start, 1000), (start + 1000, n - 2000), (start + n - 1000, 1000)]
    )


def test_sample_points_across_a_slice_edge_is_the_same_as_in_short_calls():
    # Each slice writes its own rows of the array; short calls (under 2**14
    # points) run in one go.
    n, start = 3 * 10**4, 2**23 - 777
    short = [pymcpi.sample_points(min(10**4, n - k), 5, start + k) for k in range(0, n, 10**4)]
    np.testing.assert_array_equal(pymcpi.sample_points(n, 5, start), np.concatenate(short))


# Each path computes a battery of answers in its own interpreter, chosen by
# PYMCPI_SIMD at import; every path must agree with the scalar one bit for bit.
BATTERY = """
import hashlib, json, pymcpi
ranges = [(0, 0, 1), (7, 255, 2), (42, 128, 20 * 256 + 17), (1, 0, 8 * 256 * 5 + 3),
          (2**63, 2**40 + 3, 10**6), (2**64 - 1, 2**64 - 10**6, 10**6), (99, 10**9, 10**8 + 1)]
ranges += [(s, 0, 256 * k) for s in (3, 4) for k in range(1, 20)]
out = {
    "simd": pymcpi.simd(),
    "hits": [pymcpi.count_hits(n, s, start) for s, start, n in ranges],
    "points": hashlib.sha256(pymcpi.sample_points(10**5, 5, 77).tobytes()).hexdigest(),
}
print(json.dumps(out))
"""


def battery(path: str) -> dict:
    proc = run_python(BATTERY, env=python_env(PYMCPI_SIMD=path))
    return json.loads(proc.stdout)


@pytest.fixture(scope="module")
def scalar_battery() -> dict:
    return battery("scalar")


@pytest.mark.parametrize("path", ["avx2", "avx512"])
def test_simd_path_identical_to_scalar(path, scalar_battery):
    if path not in pymcpi.simd_paths():
        pytest.skip(f"this CPU (or its OS, or this build) cannot run the {path} path")
    result = battery(path)
    assert result["simd"] == path
    assert result == {**scalar_battery, "simd": path}


def test_every_usable_path_has_an_identity_test():
    tested = {"scalar", "avx2", "avx512"}
    assert set(pymcpi.simd_paths()) <= tested


# The self-test's known answers (csrc/dispatch.c): hits among `count` whole
# blocks from block `first` of its seed, as the pure-Python reference gives.
SELF_TEST_SEED = 20240229
SELF_TEST_CASES = [(0, 1, 196), (2**56 - 7, 7, 1410), (2**40 + 5, 27, 5442)]


@pytest.mark.parametrize("first,count,hits", SELF_TEST_CASES)
def test_self_test_answers_are_the_streams(first, count, hits):
    assert reference.count_hits(count * BLOCK, SELF_TEST_SEED, first * BLOCK) == hits
    assert pymcpi.count_hits(count * BLOCK, SELF_TEST_SEED, first * BLOCK) == hits


@pytest.mark.parametrize("path", pymcpi.simd_paths())
def test_every_usable_path_passes_its_self_test(path):
    assert pymcpi._core._self_test(path) is True


def test_self_test_of_an_unknown_path_is_an_error():
    with pytest.raises(ValueError, match="unknown SIMD path 'neon'; known paths"):
        pymcpi._core._self_test("neon")


def test_default_path_is_the_fastest_supported():
    proc = run_python("import pymcpi; print(pymcpi.simd(), *pymcpi.simd_paths())")
    active, *paths = proc.stdout.split()
    assert paths[0] == "scalar"
    assert active == paths[-1]
