"""Statistics of the point stream, on fixed seeds so that every run sees the same
numbers: hit counts of many seeds and disjoint ranges, standardised against
Binomial(n, pi/4), must look standard normal; hits of neighbouring blocks, seeds
and points must be uncorrelated (|r| < 4/sqrt(N)); coordinates must be uniform.
Every test is at about the 1e-3 level."""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest
from scipy import stats

import pymcpi

P = math.pi / 4
ALPHA = 1e-3
END = 2**64
BLOCK = pymcpi._core.BLOCK
GAMMA = 0x9E3779B97F4A7C15  # seed s + GAMMA shares three key words with seed s
K, N = 400, 10**6
BLOCKS = 20_000

FAMILIES = {
    "consecutive seeds": [(s, 0) for s in range(K)],
    "seeds differing in the top bits": [(k << 55, 0) for k in range(K)],
    "seeds GAMMA apart": [(k * GAMMA % END, 0) for k in range(K)],
    "consecutive ranges of one seed": [(12345, k * N) for k in range(K)],
    "ranges at the stream end": [(7, END - (k + 1) * N) for k in range(K)],
}


@functools.cache
def family_hits(family: str) -> np.ndarray:
    return np.array([pymcpi.count_hits(N, seed, start) for seed, start in FAMILIES[family]])


@functools.cache
def block_hits(seed: int, first: int = 0) -> np.ndarray:
    """Hits of each of BLOCKS consecutive blocks, from block ``first`` on."""
    return np.array([pymcpi.count_hits(BLOCK, seed, BLOCK * (first + b)) for b in range(BLOCKS)])


@functools.cache
def points(seed: int = 2024, n: int = 10**6) -> np.ndarray:
    return pymcpi.sample_points(n, seed)


def z_scores(hits, n: int) -> np.ndarray:
    return (np.asarray(hits, dtype=np.float64) - n * P) / math.sqrt(n * P * (1 - P))


def assert_uncorrelated(a, b) -> None:
    r = stats.pearsonr(a, b).statistic
    assert abs(r) < 4 / math.sqrt(len(a)), r


@pytest.mark.parametrize("family", FAMILIES)
def test_hit_counts_are_binomial(family):
    z = z_scores(family_hits(family), N)
    assert stats.kstest(z, "norm").pvalue > ALPHA
    assert stats.shapiro(z).pvalue > ALPHA
    assert stats.normaltest(z).pvalue > ALPHA
    assert abs(z.mean()) < 4 / math.sqrt(K)
    spread = (K - 1) * z.var(ddof=1)
    assert stats.chi2.ppf(ALPHA, K - 1) < spread < stats.chi2.ppf(1 - ALPHA, K - 1)


def test_mean_estimate_is_pi():
    hits = np.concatenate([family_hits(f) for f in FAMILIES])
    total = len(hits) * N
    estimate, stderr = 4 * hits.sum() / total, 4 * math.sqrt(P * (1 - P) / total)
    assert abs(estimate - math.pi) < 4 * stderr


@pytest.mark.parametrize("seed", [0, 12345, END - 1])
def test_block_hits_are_binomial(seed):
    hits = block_hits(seed)
    cuts = np.unique(stats.binom.ppf(np.linspace(0, 1, 21)[1:-1], BLOCK, P))
    observed = np.bincount(np.searchsorted(cuts, hits), minlength=len(cuts) + 1)
    expected = np.diff(np.concatenate([[0], stats.binom.cdf(cuts, BLOCK, P), [1]])) * BLOCKS
    assert len(cuts) >= 10 and expected.min() > 100
    assert stats.chisquare(observed, expected).pvalue > ALPHA


@pytest.mark.parametrize("seed", [0, 12345, END - 1])
@pytest.mark.parametrize("lag", [1, 2, 8, BLOCK])
def test_neighbouring_blocks_are_uncorrelated(seed, lag):
    hits = block_hits(seed)
    assert_uncorrelated(hits[:-lag], hits[lag:])


NEIGHBOURS = {
    "seed + 1": lambda s: (s + 1) % END,
    "low bit flipped": lambda s: s ^ 1,
    "top bit flipped": lambda s: s ^ (1 << 63),
    "seed + GAMMA": lambda s: (s + GAMMA) % END,
    "seed - GAMMA": lambda s: (s - GAMMA) % END,
}


@pytest.mark.parametrize("seed", [0, 12345, END - 1])
@pytest.mark.parametrize("neighbour", NEIGHBOURS)
def test_neighbouring_seeds_are_uncorrelated(seed, neighbour):
    assert_uncorrelated(block_hits(seed), block_hits(NEIGHBOURS[neighbour](seed)))


@pytest.mark.parametrize("seed", [0, 12345])
def test_distant_blocks_of_one_seed_are_uncorrelated(seed):
    assert_uncorrelated(block_hits(seed), block_hits(seed, first=2**55))


def cells(v: np.ndarray) -> np.ndarray:
    """The cell t of each coordinate (2t + 1) / 2**32."""
    return ((v * 2.0**32 - 1) / 2).astype(np.int64)


@pytest.mark.parametrize("grid", ["coarse", "low bits"])
def test_points_fill_a_32x32_grid_evenly(grid):
    xy = points()
    if grid == "coarse":
        i, j = (np.floor(xy * 32).astype(np.int64)).T
    else:
        i, j = (cells(xy) % 32).T
    counts = np.bincount(32 * i + j, minlength=32 * 32)
    assert counts.size == 32 * 32
    assert stats.chisquare(counts).pvalue > ALPHA


def test_coordinates_are_uniform_cell_centres():
    xy = points()
    t = cells(xy)
    np.testing.assert_array_equal((2 * t + 1) / 2.0**32, xy)
    assert t.min() >= 0 and t.max() < 2**31
    for column in xy.T:
        assert stats.kstest(column, "uniform").pvalue > ALPHA


@pytest.mark.parametrize("pair", ["x, y", "x, next x", "y, next y", "x, next y", "x, x a block later"])
def test_coordinates_are_uncorrelated(pair):
    x, y = points().T
    a, b = {
        "x, y": (x, y),
        "x, next x": (x[:-1], x[1:]),
        "y, next y": (y[:-1], y[1:]),
        "x, next y": (x[:-1], y[1:]),
        "x, x a block later": (x[:-BLOCK], x[BLOCK:]),
    }[pair]
    assert_uncorrelated(a, b)


def test_points_of_neighbouring_seeds_are_uncorrelated():
    a, b = points(seed=99, n=10**5), points(seed=100, n=10**5)
    assert_uncorrelated(a[:, 0], b[:, 0])
    assert_uncorrelated(a[:, 1], b[:, 1])
