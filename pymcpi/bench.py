"""``pymcpi bench``: kernel throughput against the usual ways of doing the same.

Every method counts points of the unit square inside the quarter circle,
single-threaded, in the same process and run, so that their ratios can be
compared; absolute figures depend on the machine and its load.
"""

from __future__ import annotations

import os
import platform
import random
import sys
import time
import timeit
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import numpy as np

from . import __version__, _core, count_hits
from .backends import default_workers

__all__ = ["busy_warning", "find_mpiexec", "format_scaling", "format_table", "machine_info",
           "plot_scaling", "run_benchmarks", "run_scaling", "run_sync_cost"]

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


def _mpiexec_json(mpiexec: str, ranks: int, args: list[str], timeout: float) -> Any:
    """The JSON that ``mpiexec -n ranks python ARGS`` prints last (rank 0's
    line). A failed or stuck launch raises instead of hanging the benchmark."""
    import json
    import subprocess

    proc = subprocess.run([mpiexec, "-n", str(ranks), sys.executable, *args],
                          capture_output=True, text=True, check=False, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"mpiexec -n {ranks} failed: {proc.stderr.strip()[-500:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _mpi_seconds(mpiexec: str, ranks: int, n: int) -> float:
    """Seconds estimate_pi takes under ``mpiexec -n ranks``, launch excluded."""
    result = _mpiexec_json(mpiexec, ranks, ["-m", "pymcpi", "run", "--backend", "mpi", "-n",
                                            str(n), "--json", "--no-progress"],
                           timeout=120 + n / 1e7)
    return float(result["elapsed_s"])


# Run under mpiexec: times the two collectives estimate_pi's MPI engine uses,
# on the same 2-word uint64 buffers. Rank 0 prints microseconds per call.
_SYNC_PROBE = """
import json, sys, time
import numpy as np
from mpi4py import MPI

comm, calls = MPI.COMM_WORLD, int(sys.argv[1])
mine = np.array([1, 2], dtype=np.uint64)
gathered = np.zeros((comm.size, 2), dtype=np.uint64) if comm.rank == 0 else None

def timed(step):
    for _ in range(max(1, calls // 10)):  # warm up connections
        step()
    comm.Barrier()
    begin = time.perf_counter()
    for _ in range(calls):
        step()
    took = time.perf_counter() - begin
    return comm.allreduce(took, op=MPI.MAX) / calls * 1e6

allreduce = timed(lambda: comm.Allreduce(MPI.IN_PLACE, mine.copy(), op=MPI.SUM))
igather = timed(lambda: comm.Igather(mine, gathered, root=0).Wait())
if comm.rank == 0:
    print(json.dumps({"allreduce_us": allreduce, "igather_us": igather}))
"""


def run_sync_cost(max_ranks: int = 16, calls: int = 200) -> dict[str, Any]:
    """Time the synchronisations of estimate_pi's MPI engine for 1, 2, 4 ...
    ``max_ranks`` ranks (oversubscribed where there are fewer CPUs).

    Per round the ranks make one ``Allreduce`` of 2 uint64 words; between
    round ends, every 2**32 points of a rank's share, one ``Igather`` of 2
    words to rank 0. Each rank sends 16 bytes per synchronisation; rank 0
    receives ``16 * ranks`` per gather. Times are per call, the slowest
    rank's mean over ``calls`` calls. Empty rows, with a note, where mpi4py
    or mpiexec is missing.
    """
    mpiexec = _usable_mpiexec()
    if mpiexec is None:
        return {"rows": [], "notes": ["MPI synchronisation skipped: mpi4py or mpiexec not "
                                      "found (pip install 'pymcpi[mpi]')"]}
    rows, ranks = [], 1
    while ranks <= max_ranks:
        row = {"ranks": ranks,
               **_mpiexec_json(mpiexec, ranks, ["-c", _SYNC_PROBE, str(calls)], timeout=300),
               "bytes_sent_per_rank": 16, "bytes_received_rank0": 16 * ranks}
        rows.append(row)
        print(f"sync: {ranks} ranks: Allreduce {row['allreduce_us']:.1f} us, "
              f"Igather {row['igather_us']:.1f} us", file=sys.stderr, flush=True)
        ranks *= 2
    return {"rows": rows, "notes": []}


def run_scaling(n: int, max_workers: int, repeat: int = 1) -> dict[str, Any]:
    """Strong scaling (``n`` points on 1..max_workers workers) and weak scaling
    (``n // max_workers`` points per worker) for threads, processes and MPI.

    Times are estimate_pi's own ``elapsed``: pool start-up included, the
    launch of MPI processes by mpiexec not. Speed-up is ``T(1) / T(w)``;
    efficiency is speed-up / w (strong) or ``T(1) / T(w)`` (weak). MPI is
    skipped, with a note, where mpi4py or mpiexec is missing.
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
    notes = []
    mpiexec = _usable_mpiexec()
    if mpiexec is None:
        notes.append("MPI skipped: mpi4py or mpiexec not found (pip install 'pymcpi[mpi]')")
    else:
        backends.append("mpi")
    per_worker = n // max_workers
    rows = []

    def measured(backend: str, workers: int, points: int, kind: str) -> float:
        seconds = timed(backend, workers, points)
        print(f"scaling: {backend}, {workers} workers, {kind} n={points:,}: {seconds:.3f} s",
              file=sys.stderr, flush=True)  # a line per measurement: runs take minutes
        return seconds

    for backend in backends:
        strong = [measured(backend, w, n, "strong") for w in range(1, max_workers + 1)]
        weak = [measured(backend, w, w * per_worker, "weak") for w in range(1, max_workers + 1)]
        for w in range(1, max_workers + 1):
            rows.append({
                "backend": backend, "workers": w,
                "strong_seconds": strong[w - 1], "speedup": strong[0] / strong[w - 1],
                "strong_efficiency": strong[0] / strong[w - 1] / w,
                "weak_n": w * per_worker, "weak_seconds": weak[w - 1],
                "weak_efficiency": weak[0] / weak[w - 1],
            })
    sync = run_sync_cost(16) if "mpi" in backends else {"rows": [], "notes": []}
    return {"machine": machine, "n": n, "max_workers": max_workers, "rows": rows,
            "sync": sync["rows"], "notes": notes + sync["notes"]}


def format_scaling(result: dict[str, Any]) -> str:
    """The scaling benchmark as a Markdown table, with the machine, its load
    and a warning if it was busy."""
    lines = _machine_lines(result["machine"]) + [
        f"strong: n = {result['n']:,}; weak: {result['n'] // result['max_workers']:,} "
        "points per worker",
        "",
        "| backend | workers | strong s | speed-up | efficiency | weak n | weak s | weak efficiency |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in result["rows"]:
        lines.append(
            f"| {r['backend']} | {r['workers']} | {r['strong_seconds']:.3f} | "
            f"{r['speedup']:.2f} | {r['strong_efficiency']:.3f} | {r['weak_n']:,} | "
            f"{r['weak_seconds']:.3f} | {r['weak_efficiency']:.3f} |"
        )
    if result.get("sync"):
        lines += ["", "MPI synchronisation (per call; every rank sends 16 bytes, rank 0 "
                  "receives 16 per rank per gather):", "",
                  "| ranks | Allreduce us (per round) | Igather us (per exchange) "
                  "| bytes sent per rank | bytes into rank 0 |",
                  "|---:|---:|---:|---:|---:|"]
        for r in result["sync"]:
            lines.append(f"| {r['ranks']} | {r['allreduce_us']:.1f} | {r['igather_us']:.1f} | "
                         f"{r['bytes_sent_per_rank']} | {r['bytes_received_rank0']} |")
    lines.extend(f"note: {note}" for note in result["notes"])
    return "\n".join(lines + _warning_lines(result["machine"]))


def plot_scaling(result: dict[str, Any], path: str) -> None:
    """Draw speed-up and efficiency against workers into ``path`` (PNG)."""
    try:
        from matplotlib.figure import Figure  # no pyplot: leaves the backend alone
    except ImportError:
        raise RuntimeError("--plot needs matplotlib: pip install 'pymcpi[plot]'") from None

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
