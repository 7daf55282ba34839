"""pymcpi bench: the yardsticks, the progress lines and the load warning.
Figures are not checked, only what is measured and reported."""

from __future__ import annotations

import contextlib
import io
import math

import pytest

import pymcpi
from pymcpi import _core, bench

VECTOR_PATHS = [p for p in pymcpi.simd_paths() if p != "scalar"]


@pytest.mark.parametrize("path", VECTOR_PATHS)
def test_yardstick_counts_a_whole_round_of_lanes(path):
    lanes = {"avx2": 8, "avx512": 24}[path]
    assert 0 <= _core._yardstick(path, 1) <= lanes
    assert _core._yardstick(path, 1) == _core._yardstick(path, lanes)
    n = 10**6
    hits = _core._yardstick(path, n)  # n is a whole number of rounds on both paths
    assert abs(hits / n - math.pi / 4) < 5 * math.sqrt(0.17 / n)


def test_yardstick_of_the_scalar_path_is_none_and_unknown_is_an_error():
    assert _core._yardstick("scalar", 1000) is None
    with pytest.raises(ValueError, match="unknown SIMD path"):
        _core._yardstick("sse9", 1000)
    with pytest.raises(ValueError, match="n must be >= 0"):
        _core._yardstick("scalar", -1)


@pytest.fixture(scope="module")
def measured():
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        result = bench.run_benchmarks(seconds=0.02, repeat=1)
    return result, stderr.getvalue()


def test_each_vector_path_is_measured_against_its_own_yardstick(measured):
    result, _ = measured
    rows = {r["method"]: r for r in result["rows"]}
    assert rows["pymcpi scalar"]["vs_yardstick"] is None
    for path in VECTOR_PATHS:
        kernel = rows[f"pymcpi {path}"]
        yard = rows[f"{path} yardstick: plain xoshiro256++ loop"]
        assert (kernel["kind"], yard["kind"]) == ("kernel", "yardstick")
        assert yard["vs_yardstick"] == 1.0
        assert kernel["vs_yardstick"] == kernel["points_per_s"] / yard["points_per_s"]
    assert sorted(result["self_test_us"]) == sorted(VECTOR_PATHS)
    assert all(us > 0 for us in result["self_test_us"].values())


def test_a_progress_line_per_measurement(measured):
    result, stderr = measured
    lines = stderr.splitlines()
    total = len(result["rows"])
    for i, row in enumerate(result["rows"], 1):
        assert lines[i - 1].startswith(f"pymcpi bench: [{i}/{total}] {row['method']}: ")
    assert len(lines) == total + 1  # and one for the call and self-test costs


def test_table_shows_yardstick_ratios_and_load(measured):
    result, _ = measured
    table = bench.format_table(result)
    assert "| method | points/s | vs NumPy | vs its yardstick |" in table
    for path in VECTOR_PATHS:
        assert f"| {path} yardstick: plain xoshiro256++ loop |" in table
        assert f"self-test of the {path} path:" in table
    if result["machine"]["load_average"] is not None:
        assert "load average: " in table


def busy(load: list[float] | None, cpus: int) -> dict:
    return {"load_average": load, "cpus": cpus}


def test_busy_warning_when_the_load_per_core_is_high(measured):
    assert bench.busy_warning(busy([0.4, 0.2, 0.1], 1)) is None
    assert bench.busy_warning(busy([1.9, 1.0, 1.0], 4)) is None
    assert bench.busy_warning(busy(None, 4)) is None
    warning = bench.busy_warning(busy([3.5, 1.0, 1.0], 4))
    assert warning is not None and "load average 3.50 on 4 cores" in warning
    result, _ = measured
    table = bench.format_table({**result, "machine": {**result["machine"],
                                                     "load_average": [3.5, 1.0, 1.0],
                                                     "cpus": 4}})
    assert table.splitlines()[-1] == f"warning: {warning}"


def test_machine_info_has_the_load_and_cores():
    info = bench.machine_info()
    assert info["cpus"] >= 1
    load = info["load_average"]
    assert load is None or (len(load) == 3 and all(x >= 0 for x in load))


def test_scaling_table_shows_the_load_and_warns_when_busy():
    machine = {**bench.machine_info(), "load_average": [3.5, 1.0, 1.0], "cpus": 4}
    result = {"machine": machine, "n": 10**8, "max_workers": 1, "notes": [], "sync": [],
              "rows": [{"backend": "threads", "workers": 1, "strong_seconds": 0.1,
                        "speedup": 1.0, "strong_efficiency": 1.0, "weak_n": 10**8,
                        "weak_seconds": 0.1, "weak_efficiency": 1.0}]}
    table = bench.format_scaling(result).splitlines()
    assert table[1].startswith("load average: 3.50, 1.00, 1.00 (1, 5, 15 min) on 4 cores")
    assert table[-1] == f"warning: {bench.busy_warning(machine)}"
    quiet = bench.format_scaling({**result, "machine": {**machine, "load_average": [0.1] * 3}})
    assert "warning:" not in quiet
