"""``pymcpi bench``: kernel throughput against the usual ways of doing the same.

Every method counts points of the unit square inside the quarter circle,
single-threaded, in the same process and run, so that their ratios can be
compared; absolute figures depend on the machine and its load.

``pymcpi bench --scaling`` (`run_scaling`) times estimate_pi on 1 to N
workers, then the MPI primitives of a request/reply engine, where ranks ask
rank 0 for work and report to it: ``python -m pymcpi._mpi_probe CALLS``
under ``mpiexec -n RANKS`` prints one JSON line (rank 0's), a row of
`run_sync_cost`::

    {"ranks": 4, "bytes": 32, "roundtrip_us": ..., "rank0_us_per_request": ...,
     "bcast_us": ...}

``bytes``: the size of each request, reply and broadcast (4 uint64 words);
``roundtrip_us``: a blocking Send of a request from rank k to rank 0 and the
Recv of its reply, the slowest rank's mean over CALLS, while every rank but 0
asks at once; ``rank0_us_per_request``: rank 0's time serving all those
requests (Recv from any source, Send back) divided by their number, the cost
rank 0 pays per request; ``bcast_us``: one Bcast from rank 0, the slowest
rank's mean. All in microseconds, each after a warm-up and a Barrier; the
round-trip figures are null on one rank.
"""

from __future__ import annotations

import os
import platform
import random
import sys
import tempfile
import time
import timeit
from collections.abc import Callable, Iterator
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import numpy as np

from . import __version__, _core, count_hits
from .backends import default_workers

__all__ = ["ScalingInterrupted", "busy_warning", "find_mpiexec", "format_scaling", "format_table",
           "machine_info", "plot_scaling", "run_benchmarks", "run_scaling", "run_sync_cost",
           "scaling_plan"]

# Above this 1-minute load average per core, other programs compete for the
# CPU and timings come out low and noisy.
BUSY_LOAD_PER_CORE = 0.5


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _dist_version(name: str) -> str | None:
    # Metadata only: importing mpi4py would initialise MPI.
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def machine_info() -> dict[str, object]:
    """Versions, CPU, SIMD paths and load, as printed by ``pymcpi info``.

    ``load_average`` is the 1, 5 and 15-minute load average (processes running
    or waiting for a CPU) as a tuple, or None where the OS has none; ``cpus``
    is the number of cores this process may run on.
    """
    return {
        "pymcpi": __version__,
        "simd_paths": _core.simd_paths(),
        "simd": _core.simd(),
        "block": _core.BLOCK,
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "mpi4py": _dist_version("mpi4py"),
        "numba": _dist_version("numba"),
        "platform": platform.platform(),
        "cpu": _cpu_name(),
        "cpus": default_workers(),
        "load_average": (tuple(round(x, 2) for x in os.getloadavg())
                         if hasattr(os, "getloadavg") else None),
    }


def busy_warning(machine: dict[str, Any]) -> str | None:
    """A warning if the machine was busy, else None.

    Parameters
    ----------
    machine : dict
        As returned by `machine_info`, taken before measuring.

    Returns
    -------
    str or None
        One line saying how busy the machine was, when its 1-minute load
        average per core exceeds ``BUSY_LOAD_PER_CORE``: other programs then
        take CPU time from the measurement.
    """
    load = machine.get("load_average")
    cores = machine.get("cpus") or 1
    if not load or load[0] / cores <= BUSY_LOAD_PER_CORE:
        return None
    return (f"the machine was busy (load average {load[0]:.2f} on {cores} cores): "
            "timings may be low and noisy; rerun on a quiet machine")


def _rate(count: Callable[[int], object], seconds: float, repeat: int, n0: int) -> dict[str, Any]:
    """Best points/s of ``count(n)``, with n grown until one call takes about
    ``seconds``."""
    n = n0
    while True:
        begin = time.perf_counter()
        count(n)
        took = time.perf_counter() - begin
        if took >= seconds / 4:
            break
        n *= 4
    n = max(1, int(n * seconds / took))
    best = min(timeit.repeat(lambda: count(n), number=1, repeat=repeat))
    return {"n": n, "seconds": best, "points_per_s": n / best}


def numpy_count(n: int, chunk: int = 1 << 20) -> int:
    """The NumPy-vectorised baseline: PCG64 doubles in chunks of ``chunk``."""
    rng = np.random.default_rng(12345)
    x = np.empty(chunk)
    y = np.empty(chunk)
    hits = 0
    for done in range(0, n, chunk):
        m = min(chunk, n - done)
        rng.random(out=x[:m])
        rng.random(out=y[:m])
        np.multiply(x[:m], x[:m], out=x[:m])
        np.multiply(y[:m], y[:m], out=y[:m])
        np.add(x[:m], y[:m], out=x[:m])
        hits += int(np.count_nonzero(x[:m] < 1.0))
    return hits


def python_count(n: int) -> int:
    """The pure-Python loop of the textbooks."""
    rand = random.random
    hits = 0
    for _ in range(n):
        x, y = rand(), rand()
        if x * x + y * y < 1.0:
            hits += 1
    return hits


def _numba_count() -> Callable[[int], int] | None:
    try:
        import numba  # type: ignore[import-not-found]
    except ImportError:
        return None

    @numba.njit(cache=False)  # type: ignore[untyped-decorator]
    def count(n: int) -> int:  # pragma: no cover - compiled
        hits = 0
        for _ in range(n):
            x = np.random.random()
            y = np.random.random()
            if x * x + y * y < 1.0:
                hits += 1
        return hits

    count(1000)  # compile outside the timing
    return count  # type: ignore[no-any-return]


def _with_path(path: str) -> Callable[[int], int]:
    def count(n: int) -> int:
        previous = _core.simd()
        _core._select_simd(path)
        try:
            return count_hits(n, 7)
        finally:
            _core._select_simd(previous)

    return count


def _yardstick(path: str) -> Callable[[int], object]:
    return lambda n: _core._yardstick(path, n)


def run_benchmarks(seconds: float = 0.5, repeat: int = 3,
                   progress: bool = True) -> dict[str, Any]:
    """Measure every method and return the figures as a JSON-ready dict.

    Parameters
    ----------
    seconds : float
        About how long one timed call of each method takes.
    repeat : int
        Timed calls per method; the fastest counts.
    progress : bool
        Print a line on stderr as each measurement finishes.

    Returns
    -------
    dict
        ``machine`` (`machine_info`, taken before measuring), ``rows`` (one per
        method: points/s, and ratios to NumPy and to the method's yardstick),
        ``call_us`` (cost of a call with ``n=1``) and ``self_test_us`` (the
        self-test of each SIMD path).

    Notes
    -----
    Rows: the kernel on each SIMD path this CPU runs, each vector path followed
    by its yardstick, the plainest loop of the same generator, cells and test
    on the same instruction set, with one output per point and no blocks (the
    practical limit of that path); NumPy; Numba if installed; pure Python.
    """
    machine = machine_info()
    rows: list[dict[str, Any]] = []
    paths = _core.simd_paths()
    yardsticks = [p for p in paths if _core._yardstick(p, 1) is not None]
    total = len(paths) + len(yardsticks) + 2 + (_dist_version("numba") is not None)

    def say(text: str) -> None:
        if progress:
            print(f"pymcpi bench: {text}", file=sys.stderr, flush=True)

    def add(name: str, kind: str, path: str | None, count: Callable[[int], object],
            n0: int) -> None:
        rows.append({"method": name, "kind": kind, "path": path,
                     **_rate(count, seconds, repeat, n0)})
        say(f"[{len(rows)}/{total}] {name}: {rows[-1]['points_per_s'] / 1e6:,.1f} M points/s")

    for path in paths:
        add(f"pymcpi {path}", "kernel", path, _with_path(path), 1 << 20)
        if path in yardsticks:
            add(f"{path} yardstick: plain xoshiro256++ loop", "yardstick", path,
                _yardstick(path), 1 << 20)
    add("NumPy PCG64, chunked", "numpy", None, numpy_count, 1 << 18)
    numba_count = _numba_count()
    if numba_count is not None:
        add("Numba loop", "numba", None, numba_count, 1 << 18)
    add("pure Python loop", "python", None, python_count, 1 << 12)

    base = next(r["points_per_s"] for r in rows if r["kind"] == "numpy")
    yard = {r["path"]: r["points_per_s"] for r in rows if r["kind"] == "yardstick"}
    for r in rows:
        r["vs_numpy"] = r["points_per_s"] / base
        r["vs_yardstick"] = r["points_per_s"] / yard[r["path"]] if r["path"] in yard else None

    calls = 100_000
    last = _core.BLOCK - 1  # the worst start: skips a whole block but one
    call_us = {
        "n=1, start=0": min(timeit.repeat(lambda: count_hits(1), number=calls, repeat=repeat)),
        f"n=1, start={last}": min(
            timeit.repeat(lambda: count_hits(1, start=last), number=calls, repeat=repeat)
        ),
    }
    tests = 1000
    self_test_us = {
        path: min(timeit.repeat(lambda: _core._self_test(path), number=tests,  # noqa: B023
                                repeat=repeat)) / tests * 1e6
        for path in yardsticks
    }
    say("call and self-test costs measured")
    return {
        "machine": machine,
        "rows": rows,
        "call_us": {k: v / calls * 1e6 for k, v in call_us.items()},
        "self_test_us": self_test_us,
    }


def _machine_lines(m: dict[str, Any]) -> list[str]:
    """The machine and its load before measuring, as a table's heading."""
    lines = [f"CPU: {m['cpu']}; Python {m['python']}, NumPy {m['numpy']}, pymcpi {m['pymcpi']}"]
    if m.get("load_average"):
        lines.append("load average: " + ", ".join(f"{x:.2f}" for x in m["load_average"])
                     + f" (1, 5, 15 min) on {m['cpus']} cores, before measuring")
    return lines


def _warning_lines(m: dict[str, Any]) -> list[str]:
    warning = busy_warning(m)
    return [] if warning is None else [f"warning: {warning}"]


def format_table(result: dict[str, Any]) -> str:
    """The benchmark as a Markdown table, with the machine, its load, a
    warning if it was busy, and the call and self-test costs."""
    lines = _machine_lines(result["machine"]) + [
        "",
        "| method | points/s | vs NumPy | vs its yardstick |",
        "|---|---:|---:|---:|",
    ]
    for r in result["rows"]:
        yard = f"{r['vs_yardstick']:.2f}x" if r["vs_yardstick"] is not None else "-"
        lines.append(
            f"| {r['method']} | {r['points_per_s'] / 1e6:,.1f} M | "
            f"{r['vs_numpy']:.2f}x | {yard} |"
        )
    lines.append("")
    for name, us in result["call_us"].items():
        lines.append(f"count_hits({name}): {us:.2f} us per call")
    for path, us in result["self_test_us"].items():
        lines.append(f"self-test of the {path} path: {us:.1f} us, once per process")
    return "\n".join(lines + _warning_lines(result["machine"]))


def find_mpiexec() -> str | None:
    """mpiexec beside this Python (as pip's mpich installs it), else on PATH;
    None if there is none."""
    import shutil

    here = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    return here if os.access(here, os.X_OK) else shutil.which("mpiexec")


def _usable_mpiexec() -> str | None:
    """mpiexec, where it and mpi4py are both installed; else None."""
    return find_mpiexec() if _dist_version("mpi4py") is not None else None


# Where ``python -m pymcpi...`` children start: not a clone's top folder,
# whose pymcpi/ source folder would come first on their sys.path.
NEUTRAL_FOLDER = tempfile.gettempdir()


def _mpiexec_json(mpiexec: str, ranks: int, args: list[str], timeout: float) -> Any:
    """The JSON that ``mpiexec -n ranks python ARGS`` prints last (rank 0's
    line). A failed or stuck launch raises instead of hanging the benchmark."""
    import json
    import subprocess

    try:
        proc = subprocess.run([mpiexec, "-n", str(ranks), sys.executable, *args],
                              capture_output=True, text=True, check=False, timeout=timeout,
                              cwd=NEUTRAL_FOLDER)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"mpiexec -n {ranks} {' '.join(args)} did not finish within "
                           f"{timeout:.0f} s") from None
    if proc.returncode != 0:
        raise RuntimeError(f"mpiexec -n {ranks} failed: {proc.stderr.strip()[-500:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _mpi_seconds(mpiexec: str, ranks: int, n: int) -> float:
    """Seconds estimate_pi takes under ``mpiexec -n ranks``, launch excluded."""
    result = _mpiexec_json(mpiexec, ranks, ["-m", "pymcpi", "run", "--backend", "mpi", "-n",
                                            str(n), "--json", "--no-progress"],
                           timeout=120 + n / 1e7)
    return float(result["elapsed_s"])


def _sync_ranks(max_ranks: int) -> list[int]:
    """The rank counts of the MPI probe: 2, 4, 8 ... up to ``max_ranks``."""
    ranks, size = [], 2
    while size <= max_ranks:
        ranks.append(size)
        size *= 2
    return ranks


def _sync_rows(mpiexec: str, ranks: list[int], calls: int) -> Iterator[dict[str, Any]]:
    """The probe's row for each rank count, as it is measured."""
    for size in ranks:
        row = _mpiexec_json(mpiexec, size, ["-m", "pymcpi._mpi_probe", str(calls)],
                            timeout=300)
        print(f"sync: {size} ranks: round trip to rank 0 {row['roundtrip_us']:.1f} us, "
              f"rank 0 {row['rank0_us_per_request']:.1f} us per request, "
              f"Bcast {row['bcast_us']:.1f} us", file=sys.stderr, flush=True)
        yield row


_NO_MPI = ('mpi4py or mpiexec not found: pip install ".[mpi]" in a clone of pymcpi '
           '(pip install "pymcpi[mpi]" once released)')


def run_sync_cost(max_ranks: int = 16, calls: int = 200) -> dict[str, Any]:
    """Time the MPI primitives of a request/reply engine on 2, 4, 8 ...
    ``max_ranks`` ranks (oversubscribed where there are fewer CPUs).

    Each rank count is one ``mpiexec -n RANKS python -m pymcpi._mpi_probe
    CALLS``, whose JSON is a row (see the module's docstring): the round
    trip of a request to rank 0 and rank 0's cost per request, with every
    other rank asking at once, and a Bcast from rank 0. Empty rows, with a
    note, where mpi4py or mpiexec is missing.
    """
    mpiexec = _usable_mpiexec()
    if mpiexec is None:
        return {"rows": [], "notes": [f"MPI synchronisation skipped: {_NO_MPI}"]}
    return {"rows": list(_sync_rows(mpiexec, _sync_ranks(max_ranks), calls)), "notes": []}


class ScalingInterrupted(KeyboardInterrupt):
    """Ctrl-C during `run_scaling`. ``result`` is what was measured before
    it, in the form of a finished run's result, with ``interrupted`` True."""

    def __init__(self, result: dict[str, Any]) -> None:
        super().__init__()
        self.result = result


def scaling_plan(n: int, max_workers: int,
                 backends: list[str]) -> list[tuple[str, str, int, int]]:
    """The runs of `run_scaling` in the order it makes them, each as
    ``(backend, kind, workers, points)``, kind "strong" or "weak"."""
    per_worker = n // max_workers
    return [(backend, kind, w, n if kind == "strong" else w * per_worker)
            for backend in backends for kind in ("strong", "weak")
            for w in range(1, max_workers + 1)]


def _expected_seconds(plan: list[tuple[str, str, int, int]], repeat: int, cores: int,
                      mpiexec: str | None, sync_ranks: list[int]) -> tuple[float, float]:
    """About how long `run_scaling` takes, and the points/s of one core.

    Measured first: the rate of one core, a process pool's start-up (when
    the plan has processes) and an mpiexec launch of one rank (when it has
    MPI; this also fails early where MPI cannot run). A run then takes its
    fixed cost plus its points at that rate on ``min(workers, cores)``
    cores; ranks beyond the cores make a launch longer in proportion.
    """
    from .estimate import estimate_pi

    rate = _rate(lambda m: count_hits(m, 1), 0.2, 1, 1 << 20)["points_per_s"]
    pool_s = launch_s = 0.0
    if any(backend == "processes" for backend, *_ in plan):
        begin = time.perf_counter()
        estimate_pi(1, backend="processes", workers=1)
        pool_s = time.perf_counter() - begin
    if mpiexec is not None:
        begin = time.perf_counter()
        _mpi_seconds(mpiexec, 1, 1)
        launch_s = time.perf_counter() - begin

    def launch(ranks: int) -> float:
        return launch_s * max(1.0, ranks / cores)

    def run(backend: str, workers: int, points: int) -> float:
        fixed = pool_s if backend == "processes" else launch(workers) if backend == "mpi" else 0
        return fixed + points / (rate * min(workers, cores))

    total = repeat * sum(run(backend, w, points) for backend, _, w, points in plan)
    return total + sum(launch(ranks) for ranks in sync_ranks), rate


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _scaling_rows(times: dict[tuple[str, str, int], float], backends: list[str],
                  max_workers: int, per_worker: int) -> list[dict[str, Any]]:
    """A row per backend and worker count with a measured run; None for a
    run not measured (yet)."""
    rows = []
    for backend in backends:
        strong_1 = times.get((backend, "strong", 1))
        weak_1 = times.get((backend, "weak", 1))
        for w in range(1, max_workers + 1):
            strong = times.get((backend, "strong", w))
            weak = times.get((backend, "weak", w))
            if strong is None and weak is None:
                continue
            speedup = strong_1 / strong if strong_1 is not None and strong else None
            rows.append({
                "backend": backend, "workers": w,
                "strong_seconds": strong, "speedup": speedup,
                "strong_efficiency": speedup / w if speedup is not None else None,
                "weak_n": w * per_worker, "weak_seconds": weak,
                "weak_efficiency": weak_1 / weak if weak_1 is not None and weak else None,
            })
    return rows


def run_scaling(n: int, max_workers: int, repeat: int = 1) -> dict[str, Any]:
    """Strong scaling (``n`` points on 1..max_workers workers) and weak scaling
    (``n // max_workers`` points per worker) for threads, processes and MPI,
    then the MPI probe (`run_sync_cost`) on 2 to 16 ranks.

    Times are estimate_pi's own ``elapsed``: pool start-up included, the
    launch of MPI processes by mpiexec not. Speed-up is ``T(1) / T(w)``;
    efficiency is speed-up / w (strong) or ``T(1) / T(w)`` (weak). MPI is
    skipped, with a note, where mpi4py or mpiexec is missing.

    Before measuring, a line on stderr says which runs it will make and
    about how long they take (``expected_s`` in the result; see
    `_expected_seconds`); then a line per run. Ctrl-C raises
    `ScalingInterrupted`, whose ``result`` holds the runs measured so far
    (None in a row for a run not made) with a note, and ``interrupted``
    True.
    """
    from .estimate import estimate_pi

    machine = machine_info()  # the load before our own runs add to it

    def timed(backend: str, workers: int, points: int) -> float:
        if backend == "mpi":
            assert mpiexec is not None  # MPI is only measured when it was found
            return min(_mpi_seconds(mpiexec, workers, points) for _ in range(repeat))
        return min(estimate_pi(points, seed=1, backend=backend, workers=workers).elapsed
                   for _ in range(repeat))

    backends = ["threads", "processes"]
    notes: list[str] = []
    mpiexec = _usable_mpiexec()
    if mpiexec is None:
        notes.append(f"MPI skipped: {_NO_MPI}")
    else:
        backends.append("mpi")
    per_worker = n // max_workers
    plan = scaling_plan(n, max_workers, backends)
    sync_ranks = _sync_ranks(16) if mpiexec is not None else []
    result: dict[str, Any] = {"machine": machine, "n": n, "max_workers": max_workers,
                              "rows": [], "sync": [], "notes": notes, "expected_s": None,
                              "interrupted": False}
    times: dict[tuple[str, str, int], float] = {}
    try:
        expected, rate = _expected_seconds(plan, repeat, machine["cpus"], mpiexec, sync_ranks)
        result["expected_s"] = expected
        probe = (f", then the MPI probe on {sync_ranks[0]} to {sync_ranks[-1]} ranks"
                 if sync_ranks else "")
        print(f"scaling: {len(plan)} runs ({', '.join(backends)}; 1 to {max_workers} workers; "
              f"best of {repeat}){probe}: expected about {_duration(expected)} (one core "
              f"counts {rate / 1e6:,.0f} M points/s); Ctrl-C stops and prints what was "
              "measured", file=sys.stderr, flush=True)
        for backend, kind, workers, points in plan:
            seconds = timed(backend, workers, points)
            times[backend, kind, workers] = seconds
            result["rows"] = _scaling_rows(times, backends, max_workers, per_worker)
            # A line per run, once the run is in the result: a Ctrl-C right
            # after the line keeps what it says.
            print(f"scaling: {backend}, {workers} workers, {kind} n={points:,}: "
                  f"{seconds:.3f} s", file=sys.stderr, flush=True)
        if mpiexec is not None:
            for row in _sync_rows(mpiexec, sync_ranks, 200):
                result["sync"].append(row)
    except KeyboardInterrupt:
        result["interrupted"] = True
        notes.append("interrupted by Ctrl-C: these are the runs measured before it")
        raise ScalingInterrupted(result) from None
    return result


def _cell(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def format_scaling(result: dict[str, Any]) -> str:
    """The scaling benchmark as a Markdown table, with the machine, its load
    and a warning if it was busy; "-" for a run not made (after Ctrl-C)."""
    lines = _machine_lines(result["machine"]) + [
        f"strong: n = {result['n']:,}; weak: {result['n'] // result['max_workers']:,} "
        "points per worker",
        "",
        "| backend | workers | strong s | speed-up | efficiency | weak n | weak s | weak efficiency |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in result["rows"]:
        lines.append(
            f"| {r['backend']} | {r['workers']} | {_cell(r['strong_seconds'], '.3f')} | "
            f"{_cell(r['speedup'], '.2f')} | {_cell(r['strong_efficiency'], '.3f')} | "
            f"{r['weak_n']:,} | {_cell(r['weak_seconds'], '.3f')} | "
            f"{_cell(r['weak_efficiency'], '.3f')} |"
        )
    if result.get("sync"):
        lines += ["", "MPI primitives of a request/reply engine (per call; requests, replies "
                  f"and broadcasts of {result['sync'][0]['bytes']} bytes):", "",
                  "| ranks | round trip to rank 0 us | rank 0 us per request | Bcast us |",
                  "|---:|---:|---:|---:|"]
        for r in result["sync"]:
            lines.append(f"| {r['ranks']} | {r['roundtrip_us']:.1f} | "
                         f"{r['rank0_us_per_request']:.1f} | {r['bcast_us']:.1f} |")
    lines.extend(f"note: {note}" for note in result["notes"])
    return "\n".join(lines + _warning_lines(result["machine"]))


def plot_scaling(result: dict[str, Any], path: str) -> None:
    """Draw speed-up and efficiency against workers into ``path`` (PNG)."""
    try:
        from matplotlib.figure import Figure  # no pyplot: leaves the backend alone
    except ImportError:
        raise RuntimeError('--plot needs matplotlib: pip install ".[plot]" in a clone of '
                           'pymcpi (pip install "pymcpi[plot]" once released)') from None

    fig = Figure(figsize=(9, 3.6), layout="constrained")
    left, right = fig.subplots(1, 2)
    workers = list(range(1, result["max_workers"] + 1))
    left.plot(workers, workers, "k:", label="ideal")
    right.axhline(1.0, color="k", linestyle=":", label="ideal")
    for backend in dict.fromkeys(r["backend"] for r in result["rows"]):
        rows = [r for r in result["rows"] if r["backend"] == backend]
        w = [r["workers"] for r in rows]
        (line,) = left.plot(w, [r["speedup"] for r in rows], "o-", label=backend)
        colour = line.get_color()
        right.plot(w, [r["strong_efficiency"] for r in rows], "o-", color=colour,
                   label=f"{backend}, strong")
        right.plot(w, [r["weak_efficiency"] for r in rows], "s--", color=colour,
                   label=f"{backend}, weak")
    left.set(xlabel="workers", ylabel="speed-up", xticks=workers,
             title=f"strong scaling, n = {result['n']:.3g}")
    right.set(xlabel="workers", ylabel="parallel efficiency", xticks=workers,
              ylim=(0, 1.1), title="efficiency")
    left.legend()
    right.legend(fontsize="small", loc="lower left")
    fig.savefig(path, dpi=100)
