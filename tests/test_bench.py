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


@pytest.fixture
def fake_runs(monkeypatch):
    """run_scaling without MPI, with estimate_pi replaced by a fake that
    takes points / (1e9 * workers) seconds and records its calls; the rate of
    one core is 1e9 points/s. Set ``interrupt_at`` to press Ctrl-C in the
    measured run of that number (1 is the first)."""
    import types

    import pymcpi.estimate

    state = types.SimpleNamespace(calls=[], interrupt_at=None)

    def estimate(points, *, backend, workers, seed=0):
        if points > 1:  # not the pool's start-up, timed before the plan
            state.calls.append((backend, workers, points))
            if len(state.calls) == state.interrupt_at:
                raise KeyboardInterrupt
        return types.SimpleNamespace(elapsed=points / 1e9 / workers)

    monkeypatch.setattr(pymcpi.estimate, "estimate_pi", estimate)
    monkeypatch.setattr(bench, "_usable_mpiexec", lambda: None)
    monkeypatch.setattr(bench, "_rate", lambda *args: {"points_per_s": 1e9})
    return state


def test_scaling_says_how_long_it_will_take_before_measuring(fake_runs, capsys):
    n, workers = 4 * 10**9, 2
    result = bench.run_scaling(n, workers, repeat=2)
    plan = bench.scaling_plan(n, workers, ["threads", "processes"])
    assert [(b, w, p) for b, _, w, p in plan for _ in range(2)] == fake_runs.calls
    cores = result["machine"]["cpus"]
    counting = 2 * sum(p / (1e9 * min(w, cores)) for _, _, w, p in plan)
    assert counting <= result["expected_s"] < counting + 5  # + a pool's start-up
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].startswith("scaling: 8 runs (threads, processes; 1 to 2 workers; best of 2): "
                               "expected about ")
    assert "1,000 M points/s" in lines[0] and "Ctrl-C" in lines[0]
    assert len(lines) == 1 + len(plan)
    assert not result["interrupted"] and [r["workers"] for r in result["rows"]] == [1, 2, 1, 2]


def test_ctrl_c_keeps_the_runs_measured_so_far(fake_runs, capsys):
    fake_runs.interrupt_at = 4  # threads: strong 1 and 2, weak 1, then Ctrl-C
    with pytest.raises(bench.ScalingInterrupted) as stop:
        bench.run_scaling(2 * 10**9, 2)
    assert isinstance(stop.value, KeyboardInterrupt)
    result = stop.value.result
    assert result["interrupted"] and result["expected_s"] > 0
    assert result["notes"][-1] == "interrupted by Ctrl-C: these are the runs measured before it"
    one, two = result["rows"]
    assert (one["backend"], one["workers"], one["speedup"], one["weak_efficiency"]) == (
        "threads", 1, 1.0, 1.0)
    assert (two["workers"], two["speedup"], two["weak_seconds"], two["weak_efficiency"]) == (
        2, 2.0, None, None)
    table = bench.format_scaling(result).splitlines()
    assert "| threads | 2 | 1.000 | 2.00 | 1.000 | 2,000,000,000 | - | - |" in table
    assert "note: interrupted by Ctrl-C: these are the runs measured before it" in table


def test_ctrl_c_in_the_cli_prints_a_partial_table_and_exits_130():
    import os
    import shutil
    import signal
    import subprocess
    import sys
    import tempfile

    from interpreters import python_env

    script = shutil.which("pymcpi", path=os.path.dirname(sys.executable))
    proc = subprocess.Popen(
        [script, "bench", "--scaling", "-n", "2e9", "--max-workers", "2", "--repeat", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tempfile.gettempdir(),
        env=python_env(), start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        expected = proc.stderr.readline()
        measured = proc.stderr.readline()  # the first run, then Ctrl-C in the second
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    assert "expected about" in expected
    assert measured.startswith("scaling: threads, 1 workers, strong n=2,000,000,000: ")
    assert proc.returncode == 130, err
    assert err.endswith("pymcpi: interrupted\n") and "Traceback" not in err, err
    seconds = measured.rsplit(": ", 1)[1].split()[0]
    assert f"| threads | 1 | {seconds} | 1.00 | 1.000 |" in out
    assert "note: interrupted by Ctrl-C: these are the runs measured before it" in out


def mpi_or_skip() -> str:
    pytest.importorskip("mpi4py")
    mpiexec = bench.find_mpiexec()
    if mpiexec is None:
        pytest.skip("no mpiexec")
    return mpiexec


def test_mpi_probe_is_a_module_that_prints_one_json_line():
    import json
    import subprocess
    import sys
    import tempfile

    from interpreters import python_env

    mpiexec = mpi_or_skip()
    for ranks in (1, 3):
        proc = subprocess.run([mpiexec, "-n", str(ranks), sys.executable, "-m",
                               "pymcpi._mpi_probe", "20"], capture_output=True, text=True,
                              timeout=120, cwd=tempfile.gettempdir(), env=python_env())
        assert proc.returncode == 0, proc.stderr
        lines = proc.stdout.splitlines()
        assert len(lines) == 1, "rank 0 prints"
        row = json.loads(lines[0])
        assert set(row) == {"ranks", "bytes", "roundtrip_us", "rank0_us_per_request",
                            "bcast_us"}
        assert (row["ranks"], row["bytes"]) == (ranks, 32) and row["bcast_us"] > 0
        if ranks == 1:
            assert row["roundtrip_us"] is row["rank0_us_per_request"] is None
        else:
            assert row["roundtrip_us"] > 0 and row["rank0_us_per_request"] > 0


def test_sync_cost_rows_and_table(capsys):
    mpi_or_skip()
    sync = bench.run_sync_cost(max_ranks=3, calls=20)
    assert [r["ranks"] for r in sync["rows"]] == [2] and sync["notes"] == []
    assert capsys.readouterr().err.startswith("sync: 2 ranks: round trip to rank 0 ")
    table = bench.format_scaling({"machine": bench.machine_info(), "n": 2, "max_workers": 1,
                                  "rows": [], "sync": sync["rows"], "notes": []})
    assert "| ranks | round trip to rank 0 us | rank 0 us per request | Bcast us |" in table
    assert "\n| 2 | " in table
