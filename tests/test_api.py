"""The Python surface: Estimate, estimate_pi, SIMD selection, signatures and
stubs."""

from __future__ import annotations

import inspect
import json
import math
import pickle
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from interpreters import python_env, run_python

import pymcpi
from pymcpi import Estimate


def test_estimate_pi_uses_the_stream():
    est = pymcpi.estimate_pi(10**6, seed=7)
    assert est.hits == pymcpi.count_hits(10**6, 7)
    assert (est.n, est.seed, est.backend, est.workers) == (10**6, 7, "serial", 1)
    assert est.pi == 4 * est.hits / est.n
    assert est.elapsed > 0


def test_estimate_pi_accepts_numpy_integers():
    est = pymcpi.estimate_pi(np.int64(1000), seed=np.uint64(3))
    assert type(est.n) is int and type(est.seed) is int
    assert est == Estimate(n=1000, hits=pymcpi.count_hits(1000, 3), seed=3, elapsed=est.elapsed)


def test_estimate_pi_seed_is_keyword_only():
    with pytest.raises(TypeError):
        pymcpi.estimate_pi(1000, 3)


def test_stderr_and_ci():
    est = Estimate(n=10**8, hits=78_539_816, seed=0)
    p = est.hits / est.n
    assert est.stderr == pytest.approx(4 * math.sqrt(p * (1 - p) / est.n))
    low, high = est.ci(0.95)
    assert low < est.pi < high
    # For large n the Wilson interval is the normal one.
    assert high - low == pytest.approx(2 * 1.959964 * est.stderr, rel=1e-5)
    low99, high99 = est.ci(0.99)
    assert low99 < low and high < high99


def test_ci_for_extreme_counts_is_not_degenerate():
    all_in = Estimate(n=10, hits=10, seed=0)
    assert all_in.stderr == 0
    low, high = all_in.ci()
    assert 0 < low < 4 and high == 4
    none_in = Estimate(n=10, hits=0, seed=0)
    assert none_in.ci()[0] == 0 and none_in.ci()[1] > 0


def test_ci_coverage_over_many_seeds():
    # 95% intervals from 1000 seeds must cover pi about 950 times.
    n = 2000
    covered = 0
    for seed in range(1000):
        low, high = Estimate(n=n, hits=pymcpi.count_hits(n, seed), seed=seed).ci(0.95)
        covered += low < math.pi < high
    assert 920 <= covered <= 980


def test_to_dict_is_json_with_the_contract_keys():
    est = pymcpi.estimate_pi(12345, seed=2)
    d = est.to_dict()
    assert list(d) == ["pi", "stderr", "n", "hits", "seed", "backend", "workers", "elapsed_s",
                       "tol", "confidence", "target_met"]
    assert json.loads(json.dumps(d)) == d
    assert d["pi"] == est.pi and d["elapsed_s"] == est.elapsed


def test_to_dict_keeps_huge_counts_exact():
    est = Estimate(n=2**64 - 1, hits=2**63 + 12345, seed=2**64 - 1)
    assert json.loads(json.dumps(est.to_dict()))["hits"] == 2**63 + 12345


def test_estimate_pickles_and_is_immutable():
    est = pymcpi.estimate_pi(1000, seed=1)
    assert pickle.loads(pickle.dumps(est)) == est
    targeted = Estimate(n=1000, hits=785, seed=1, tol=0.5, confidence=0.9)
    assert pickle.loads(pickle.dumps(targeted)) == targeted
    with pytest.raises(AttributeError):
        est.hits = 0


def test_repr_and_str_are_readable():
    est = Estimate(n=1000, hits=785, seed=4, elapsed=0.5)
    assert repr(est) == (
        "Estimate(pi=3.14, stderr=0.052, n=1000, hits=785, seed=4, elapsed=0.5, "
        "backend='serial', workers=1)"
    )
    assert str(est).startswith("pi ~= 3.1400000000 +- 0.052 (95% CI [")
    sure = Estimate(n=1000, hits=785, seed=4, confidence=0.99)
    assert str(sure).startswith("pi ~= 3.1400000000 +- 0.052 (99% CI [")
    assert f"[{sure.ci(0.99)[0]:.10f}," in str(sure)
    assert repr(sure).endswith("workers=1, confidence=0.99)")
    missed = Estimate(n=1000, hits=785, seed=4, tol=1e-3)
    assert repr(missed).endswith("workers=1, tol=0.001, target_met=False)")
    assert str(missed).endswith("target tol=0.001 not met)")


def test_precision_target_is_recorded():
    plain = Estimate(n=10**6, hits=785_000, seed=0)
    assert (plain.tol, plain.confidence, plain.target_met) == (None, 0.95, None)
    assert plain.ci() == plain.ci(0.95) == plain.ci(plain.confidence)
    low, high = plain.ci()
    assert plain.half_width == pytest.approx((high - low) / 2)
    assert Estimate(n=10**6, hits=785_000, seed=0, tol=0.01).target_met is True
    assert Estimate(n=10**6, hits=785_000, seed=0, tol=1e-4).target_met is False
    # The same half-width is met at 95% and missed at 99.9%.
    tol = plain.half_width * 1.1
    assert Estimate(n=10**6, hits=785_000, seed=0, tol=tol).target_met is True
    assert Estimate(n=10**6, hits=785_000, seed=0, tol=tol, confidence=0.999).target_met is False


def test_estimate_pi_reports_a_target_it_could_not_reach():
    # 2**22 points give a 95% half-width of about 1.6e-3.
    missed = pymcpi.estimate_pi(2**22, seed=1, tol=1e-4)
    assert (missed.n, missed.tol, missed.confidence, missed.target_met) == (2**22, 1e-4, 0.95,
                                                                            False)
    assert missed.to_dict()["target_met"] is False
    met = pymcpi.estimate_pi(2**26, seed=1, tol=1e-2, confidence=0.99)
    assert met.n < 2**26 and met.half_width <= 1e-2
    assert (met.tol, met.confidence, met.target_met) == (1e-2, 0.99, True)
    assert pymcpi.estimate_pi(1000, seed=1).target_met is None


@pytest.mark.parametrize(
    "kwargs,error,message",
    [
        ({"tol": 0}, ValueError, "tol must be > 0"),
        ({"tol": -1.0}, ValueError, "tol must be > 0"),
        ({"tol": "0.1"}, TypeError, "tol must be a number"),
        ({"confidence": 1.0}, ValueError, "confidence must be strictly between 0 and 1"),
        ({"confidence": None}, TypeError, "confidence must be a number"),
    ],
)
def test_estimate_checks_its_target(kwargs, error, message):
    with pytest.raises(error, match=message):
        Estimate(n=1000, hits=785, seed=0, **kwargs)


def test_chunk_signature_shows_real_types():
    assert str(inspect.signature(pymcpi.Chunk)) == "(n: int, seed: int, start: int)"


def test_license_is_in_the_metadata():
    from importlib.metadata import metadata

    meta = metadata("pymcpi")
    assert meta["License-Expression"] == "MIT"
    assert "LICENSE" in (meta.get_all("License-File") or [])


def test_simd_functions():
    paths = pymcpi.simd_paths()
    assert paths[0] == "scalar" and pymcpi.simd() in paths
    assert all(p == p.lower() for p in paths)


@pytest.mark.parametrize("value", ["avx9000", "SCALAR", "neon "])
def test_unknown_simd_path_is_a_clear_error(value):
    proc = run_python("import pymcpi", env=python_env(PYMCPI_SIMD=value), check=False)
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("ValueError: PYMCPI_SIMD=")
    assert "unknown SIMD path" in last and "scalar" in last


def test_unsupported_simd_path_is_a_clear_error():
    unsupported = [p for p in ("avx2", "avx512") if p not in pymcpi.simd_paths()]
    if not unsupported:
        pytest.skip("this CPU runs every SIMD path pymcpi has")
    proc = run_python("import pymcpi", env=python_env(PYMCPI_SIMD=unsupported[0]), check=False)
    assert "not supported by this CPU" in proc.stderr


def test_empty_simd_variable_means_default():
    proc = run_python("import pymcpi; print(pymcpi.simd())", env=python_env(PYMCPI_SIMD=" "))
    assert proc.stdout.strip() == pymcpi.simd_paths()[-1]


PUBLIC = ["count_hits", "sample_points", "count_inside", "estimate_pi", "simd", "simd_paths"]


@pytest.mark.parametrize("name", PUBLIC)
def test_signatures_and_docstrings(name):
    func = getattr(pymcpi, name)
    sig = inspect.signature(func)  # works for the C functions too
    assert func.__doc__ and len(func.__doc__) > 60
    if name in ("count_hits", "sample_points"):
        assert str(sig) == "(n, seed=0, start=0)"
    if name == "estimate_pi":
        assert list(sig.parameters) == [
            "n", "seed", "backend", "workers", "pool", "comm", "progress", "tol",
            "confidence", "coverage", "checkpoint", "trace"]
        assert all(p.kind is p.KEYWORD_ONLY for p in list(sig.parameters.values())[1:])


def test_type_stubs_are_installed():
    pkg = Path(pymcpi.__file__).parent
    assert (pkg / "py.typed").exists()
    stub = (pkg / "_core.pyi").read_text()
    for name in ("count_hits", "sample_points", "count_inside", "simd", "simd_paths"):
        assert f"def {name}(" in stub


def test_c_functions_pickle_by_reference():
    # Pool.starmap(pymcpi.count_hits, ...) sends the function by name.
    assert pickle.loads(pickle.dumps(pymcpi.count_hits)) is pymcpi.count_hits


def ticks_during(call) -> float:
    """Run ``call`` while another thread ticks every millisecond; return the
    ticks seen during the call as a fraction of those a free thread would make
    (at most about one tick per 2 ms, sleep included)."""
    ticks = []
    done = threading.Event()

    def ticker():
        while not done.is_set():
            ticks.append(time.perf_counter())
            time.sleep(0.001)

    thread = threading.Thread(target=ticker)
    thread.start()
    begin = time.perf_counter()
    call()
    end = time.perf_counter()
    done.set()
    thread.join()
    return len([t for t in ticks if begin < t < end]) / ((end - begin) / 0.002)


def test_count_hits_releases_the_gil():
    # With the GIL held for the whole call, the ticker would stall.
    assert ticks_during(lambda: pymcpi.count_hits(2 * 10**9)) >= 0.25


def test_count_inside_releases_the_gil():
    points = pymcpi.sample_points(2 * 10**7, seed=1)
    assert ticks_during(lambda: pymcpi.count_inside(points)) >= 0.25


def test_count_hits_uses_constant_memory():
    # Peak resident memory must not grow with n: 4e9 points would need 64 GB
    # as float64 coordinates, and the machine has far less.
    code = """
import resource, pymcpi
pymcpi.count_hits(10**6)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
pymcpi.count_hits(4 * 10**9, seed=3)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(after - before)
"""
    grown_kib = int(run_python(code).stdout)
    assert grown_kib < 1024
