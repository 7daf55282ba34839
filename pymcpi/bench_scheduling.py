"""``pymcpi bench --scheduling``: does the work follow the workers?

Two runs that a static split of the work handles badly, each compared with
what its workers could do at best, in one run of the benchmark:

``slow dispatcher``
    ``estimate_pi(n, pool=...)`` on a pool of 2 worker threads behind a
    dispatcher that spends ``delay`` seconds on each task before a worker
    may start it (`SlowDispatcher`: a central scheduler, much slower than
    Dask's). Compared with 2 threads that each count half of ``n`` directly.
``mixed ranks``
    ``estimate_pi(n, backend="mpi")`` on 2 ranks bound to their own cores,
    one on the fastest SIMD path and one forced to the scalar path (a
    cluster that mixes node generations). Compared with the
    throughput-weighted ideal ``n / (r_fast + r_slow)``, the rates measured
    on one core just before; and with the same ideal from the rates the
    ranks showed during the run (two busy cores count slower than one). Under
    mpiexec each rank runs ``python -m pymcpi.bench_scheduling N``, and rank 0
    prints the run as one JSON line: elapsed seconds, and points and busy
    seconds per rank.
"""

from __future__ import annotations

import json
import queue
import sys
import threading
import time
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from typing import Any

__all__ = ["SlowDispatcher", "format_scheduling", "run_scheduling"]


class SlowDispatcher(Executor):
    """An executor whose one dispatcher thread spends ``delay`` seconds on
    each task, one task at a time, before handing it to ``workers`` threads.

    Its size is known to pymcpi as that of a concurrent.futures executor
    (``_max_workers``).
    """

    def __init__(self, workers: int, delay: float) -> None:
        self._max_workers = workers
        self.delay = delay
        self.tasks = 0
        self._inner = ThreadPoolExecutor(workers, thread_name_prefix="pymcpi-slow")
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._dispatch, daemon=True)
        self._thread.start()

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future:
        future: Future = Future()
        self._queue.put((future, fn, args, kwargs))
        return future

    def _dispatch(self) -> None:
        while (item := self._queue.get()) is not None:
            future, fn, args, kwargs = item
            time.sleep(self.delay)  # the dispatcher's cost for this task
            self.tasks += 1
            if not future.set_running_or_notify_cancel():
                continue
            inner = self._inner.submit(fn, *args, **kwargs)
            inner.add_done_callback(lambda done, future=future: _copy(done, future))

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._queue.put(None)
        self._inner.shutdown(wait=wait, cancel_futures=cancel_futures)


def _copy(done: Future, future: Future) -> None:
    exc = done.exception()
    if exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(done.result())


def _two_threads(n: int) -> float:
    """Seconds for 2 threads that each count half of ``n`` directly."""
    from . import count_hits, split

    halves = split(n, 2)
    began = time.perf_counter()
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda c: count_hits(*c), halves))
    return time.perf_counter() - began


def slow_dispatcher(n: int, delay: float) -> dict[str, Any]:
    """The slow-dispatcher run and its yardstick, best of each of two tries,
    alternated so that load on the machine hits both alike."""
    from . import count_hits, estimate_pi

    direct, pooled, tasks = [], [], 0
    for _ in range(2):
        direct.append(_two_threads(n))
        pool = SlowDispatcher(2, delay)
        try:
            est = estimate_pi(n, pool=pool)
        finally:
            pool.shutdown()
        if est.hits != count_hits(n, 0):
            raise RuntimeError("the slow-dispatcher run gave a wrong answer")  # a bug
        pooled.append(est.elapsed)
        tasks = pool.tasks
    return {"name": "slow dispatcher", "n": n, "delay_s": delay, "tasks": tasks,
            "seconds": min(pooled), "ideal_s": min(direct),
            "efficiency": min(direct) / min(pooled)}


def _rate(path: str, n: int) -> float:
    """Points per second of one core on SIMD path ``path``."""
    from . import _core, count_hits, simd

    before = simd()
    _core._select_simd(path)
    try:
        count_hits(n // 10)
        began = time.perf_counter()
        count_hits(n)
        return n / (time.perf_counter() - began)
    finally:
        _core._select_simd(before)


def mixed_ranks(n: int) -> dict[str, Any] | None:
    """The mixed-speed MPI run and its ideal; None where MPI or a vector
    path is missing."""
    import subprocess

    from . import simd_paths
    from .bench import NEUTRAL_FOLDER, _usable_mpiexec

    mpiexec, fast = _usable_mpiexec(), simd_paths()[-1]
    if mpiexec is None or fast == "scalar":
        return None
    rates = {path: _rate(path, min(n // 4, 10**9)) for path in (fast, "scalar")}
    rank = [sys.executable, "-m", "pymcpi.bench_scheduling", str(n)]
    command = [mpiexec, "-bind-to", "core", "-n", "1", "-env", "PYMCPI_SIMD", fast, *rank, ":",
               "-n", "1", "-env", "PYMCPI_SIMD", "scalar", *rank]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False,
                          cwd=NEUTRAL_FOLDER)
    if proc.returncode != 0:
        raise RuntimeError(f"mpiexec failed: {proc.stderr.strip()[-500:]}")
    run = json.loads(proc.stdout.strip().splitlines()[-1])
    ideal = n / (rates[fast] + rates["scalar"])
    # The ranks' own rates during the run, from its trace: both cores busy
    # count slower than one alone, which no schedule can help.
    during = n / sum(run["work"][r] / run["busy"][r] for r in run["work"])
    return {"name": "mixed ranks", "n": n, "paths": [fast, "scalar"],
            "rates": [rates[fast], rates["scalar"]], "seconds": run["seconds"],
            "ideal_s": ideal, "efficiency": ideal / run["seconds"], "work": run["work"],
            "tasks": run["tasks"], "ideal_during_s": during,
            "efficiency_during": during / run["seconds"]}


def run_scheduling(n_pool: int = 4 * 10**10, n_mpi: int = 4 * 10**9,
                   delay: float = 0.05) -> dict[str, Any]:
    """Both runs, with the machine they ran on."""
    from .bench import machine_info

    rows = [slow_dispatcher(n_pool, delay)]
    mixed = mixed_ranks(n_mpi)
    if mixed is not None:
        rows.append(mixed)
    return {"machine": machine_info(), "rows": rows}


def format_scheduling(result: dict[str, Any]) -> str:
    """The runs as a Markdown table under the machine's heading."""
    from .bench import _machine_lines, _warning_lines

    lines = _machine_lines(result["machine"]) + _warning_lines(result["machine"]) + [
        "", "| run | points | tasks | seconds | ideal seconds | efficiency |",
        "|---|---:|---:|---:|---:|---:|"]
    for row in result["rows"]:
        what = row["name"]
        if "delay_s" in row:
            what += f" ({row['delay_s'] * 1e3:g} ms a task, 2 threads)"
        else:
            what += f" ({' + '.join(row['paths'])})"
        lines.append(f"| {what} | {row['n']:.3g} | {row['tasks']} | {row['seconds']:.2f} | "
                     f"{row['ideal_s']:.2f} | {row['efficiency']:.2f} |")
    for row in result["rows"]:
        if "ideal_during_s" in row:
            lines += ["", f"mixed ranks: the ideal from the rates measured one core at a time "
                      f"({row['rates'][0] / 1e9:.2f} and {row['rates'][1] / 1e9:.2f}·10^9 "
                      f"points/s); from the ranks' own rates during the run, "
                      f"{row['ideal_during_s']:.2f} s, efficiency {row['efficiency_during']:.2f}; "
                      f"points counted by rank: {row['work']}"]
    return "\n".join(lines)


def _rank_run(n: int) -> None:
    """One rank's part of the mixed-ranks run (under mpiexec)."""
    from mpi4py import MPI

    from . import count_hits, estimate_pi

    est = estimate_pi(n, backend="mpi", trace=True)
    if MPI.COMM_WORLD.Get_rank() == 0:
        if est.hits != count_hits(n, 0):
            raise RuntimeError("the mixed-ranks run gave a wrong answer")  # a bug
        assert est.trace is not None
        work: dict[str, int] = {}
        busy: dict[str, float] = {}
        for record in est.trace:
            work[record.worker] = work.get(record.worker, 0) + record.end - record.start
            busy[record.worker] = busy.get(record.worker, 0.0) + record.ended - record.began
        print(json.dumps({"seconds": est.elapsed, "work": work, "busy": busy,
                          "tasks": len(est.trace)}))


if __name__ == "__main__":
    _rank_run(int(sys.argv[1]))
