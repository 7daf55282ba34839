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


# Coverage of a run that a precision target stops: the stop is checked at the
# round ends, and coverage="guaranteed" shares 1 - confidence among them.

from statistics import NormalDist  # noqa: E402

from pymcpi.engine import round_edges  # noqa: E402

BUDGET = 3 * 10**8  # 7 round ends


def test_the_guaranteed_level_is_what_the_docs_say():
    edges = round_edges(BUDGET, growing=True)
    est = pymcpi.estimate_pi(BUDGET, seed=7, tol=1e-3, coverage="guaranteed")
    assert est.checks == len(edges) == 7
    assert est.level == 1 - (1 - 0.95) / 7 and est.confidence == 0.95
    low, high = est.ci(est.level)
    assert est.half_width == (high - low) / 2
    assert str(est).split("(")[1].startswith("99.2857% CI, 95% over 7 checks [")
    assert est.to_dict()["checks"] == 7 and est.to_dict()["level"] == est.level
    # The z of each check, as estimate_pi's docstring gives it at 95%: 7 to 37
    # round ends for n from 2**26 up.
    counts = {len(round_edges(n, growing=True)) for n in (2**26, 10**10, 2**64 - 1)}
    assert min(counts) == 7 and max(counts) == 37
    z = [NormalDist().inv_cdf(1 - 0.05 / (2 * k)) for k in (7, 37)]
    assert [round(v, 2) for v in z] == [2.69, 3.20]
    assert [round((v / 1.96) ** 2, 1) for v in z] == [1.9, 2.7]
    plain = pymcpi.estimate_pi(BUDGET, seed=7, tol=1e-3)
    assert plain.checks == 1 and plain.level == 0.95 and "checks" not in plain.to_dict()


@pytest.mark.parametrize("seed", [1, 7])
def test_guaranteed_coverage_stops_later_on_every_backend_alike(seed):
    edges = round_edges(BUDGET, growing=True)
    nominal = pymcpi.estimate_pi(BUDGET, seed=seed, tol=1e-3)
    runs = [pymcpi.estimate_pi(BUDGET, seed=seed, tol=1e-3, coverage="guaranteed",
                               backend=backend, workers=workers)
            for backend, workers in [("serial", None), ("threads", 2), ("processes", 2)]]
    assert len({(e.n, e.hits, e.checks) for e in runs}) == 1
    guaranteed = runs[0]
    assert guaranteed.n > nominal.n and guaranteed.target_met and nominal.target_met
    assert guaranteed.hits == pymcpi.count_hits(guaranteed.n, seed)
    # It stopped at the first round end whose interval, at the shared level,
    # is narrow enough.
    before = edges[edges.index(guaranteed.n) - 1]
    earlier = pymcpi.Estimate(n=before, hits=pymcpi.count_hits(before, seed), seed=seed,
                              tol=1e-3, checks=len(edges))
    assert earlier.target_met is False


def test_guaranteed_coverage_is_a_checkpoint_parameter(tmp_path):
    import json

    nominal, guaranteed = tmp_path / "nominal.json", tmp_path / "guaranteed.json"
    pymcpi.estimate_pi(BUDGET, seed=7, tol=1e-3, checkpoint=nominal)
    est = pymcpi.estimate_pi(BUDGET, seed=7, tol=1e-3, coverage="guaranteed",
                             checkpoint=guaranteed)
    # A nominal run's parameters are those older versions wrote, so their
    # checkpoints still resume.
    assert set(json.loads(nominal.read_text())["params"]) == {"n", "seed", "tol", "confidence"}
    assert json.loads(guaranteed.read_text())["params"]["coverage"] == "guaranteed"
    again = pymcpi.estimate_pi(BUDGET, seed=7, tol=1e-3, coverage="guaranteed",
                               checkpoint=guaranteed)
    assert (again.n, again.hits, again.checks) == (est.n, est.hits, est.checks)
    with pytest.raises(ValueError, match="checkpoint"):
        pymcpi.estimate_pi(BUDGET, seed=7, tol=1e-3, checkpoint=guaranteed)


@pytest.mark.parametrize("kwargs, message", [
    (dict(tol=1e-3, coverage="bonferroni"), "coverage must be one of 'nominal', 'guaranteed'"),
    (dict(coverage="guaranteed"), "without tol"),
])
def test_coverage_is_checked(kwargs, message):
    with pytest.raises(ValueError, match=message):
        pymcpi.estimate_pi(BUDGET, **kwargs)


def simulated_coverage(n: int, tol: float, confidence: float, guaranteed: bool, runs: int,
                       seed: int) -> tuple[float, float]:
    """Coverage of the final interval, and how often |pi_hat - pi| <= tol, over
    ``runs`` runs of the stopping rule with Binomial(round, pi/4) hits per
    round (NumPy's generator, not pymcpi's kernel): rounds end at
    round_edges(n), and a run stops at the first end whose Wilson interval
    has a half-width of at most ``tol``, or at n."""
    edges = round_edges(n, growing=True)
    level = 1 - (1 - confidence) / len(edges) if guaranteed else confidence
    z = NormalDist().inv_cdf(0.5 + level / 2)
    rng = np.random.default_rng(seed)
    hits = np.zeros(runs, dtype=np.int64)
    stopped = np.zeros(runs, dtype=bool)
    covered = np.zeros(runs, dtype=bool)
    close = np.zeros(runs, dtype=bool)
    done = 0
    for end in edges:
        hits += rng.binomial(end - done, P, size=runs)
        done = end
        p = hits / end
        shrink = 1 + z * z / end
        centre = (p + z * z / (2 * end)) / shrink
        half = z / shrink * np.sqrt(p * (1 - p) / end + z * z / (4 * end * end))
        now = ~stopped & ((4 * half <= tol) | (end == n))
        covered[now] = np.abs(4 * centre[now] - math.pi) < 4 * half[now]
        close[now] = np.abs(4 * p[now] - math.pi) <= tol
        stopped |= now
    return float(covered.mean()), float(close.mean())


def tol_near_an_edge(n: int, confidence: float, a: float, guaranteed: bool = False) -> float:
    """A tol that the interval at the sixth round end meets when its
    estimate lies ``a`` standard errors above pi/4 or further: the worst
    case of the stopping rule is near a = 2 at 95%, 1.6 at 90%."""
    edges = round_edges(n, growing=True)
    level = 1 - (1 - confidence) / len(edges) if guaranteed else confidence
    z = NormalDist().inv_cdf(0.5 + level / 2)
    end = edges[5]
    p = P + a * math.sqrt(P * (1 - P) / end)
    shrink = 1 + z * z / end
    return 4 * z / shrink * math.sqrt(p * (1 - p) / end + z * z / (4 * end * end))


def test_simulated_coverage_of_the_stopping_rule():  # NumPy draws: under a second
    # What the docs say, from an independent check: at worst 0.934 at 95% and
    # 0.871 at 90% with coverage="nominal", |pi_hat - pi| <= tol in at least
    # 97% of runs at 95%; and with coverage="guaranteed", at least the
    # confidence.
    n, runs = 2**40, 100_000  # binomial sd of a coverage: under 0.0011
    covered, close = simulated_coverage(n, tol_near_an_edge(n, 0.95, 2.0), 0.95, False, runs, 1)
    assert 0.926 <= covered <= 0.942 and close >= 0.965
    covered, _ = simulated_coverage(n, tol_near_an_edge(n, 0.90, 1.6), 0.90, False, runs, 2)
    assert 0.862 <= covered <= 0.880
    covered, _ = simulated_coverage(n, tol_near_an_edge(n, 0.95, -2.0), 0.95, False, runs, 3)
    assert covered >= 0.95 - 0.0035  # tol away from the worst case: nominal
    for a in (2.0, 0.0, -2.0):
        for seed, tol in enumerate([tol_near_an_edge(n, 0.95, a, guaranteed=True),
                                    tol_near_an_edge(n, 0.95, a)], start=4):
            covered, _ = simulated_coverage(n, tol, 0.95, True, runs, seed)
            assert covered >= 0.95 - 0.0035, (a, tol, covered)
