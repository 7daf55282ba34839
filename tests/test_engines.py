"""The engine (rounds and the ledger of finished ranges) and the pools it
runs on: user pools of every kind keep all their workers busy and report
their failures, Dask and Ray clusters, and process pools that cannot start or
lose their fork server."""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from interpreters import python_env, run_python

from pymcpi import count_hits, estimate_pi
from pymcpi.backends import UNKNOWN_POOL_WINDOW, pool_size
from pymcpi.engine import Ledger, round_edges
from pymcpi.schedule import Pace, Schedule

SEED = 7
N = 50 * 2**20 + 12345

# Rounds and pieces


@pytest.mark.parametrize("n", [1, 255, 2**20, N, 10**12, 2**64 - 1])
def test_round_edges_double_and_end_at_n(n):
    assert round_edges(n, growing=False) == [n]
    edges = round_edges(n, growing=True)
    assert edges[-1] == n and len(edges) <= 66
    first = edges[0]
    assert first == n or (first % 256 == 0 and 2**20 <= first <= 2**28)
    assert edges[:-1] == [first * 2**k for k in range(len(edges) - 1)]


def test_the_first_pieces_come_at_once_for_any_n():
    n = 2**64 - 1
    schedule = Schedule(Ledger(n, [n]), [n], 4)
    assert [p.count for p in schedule.refill(8, 0.0)] == [Pace.FIRST] * 4  # probes
    assert len(schedule.ledger) == 0 and len(schedule.inflight) == 4


# The ledger


@given(n=st.integers(1, 10**6), data=st.data())
@settings(max_examples=200, deadline=None)
def test_ledger_merges_within_rounds_whatever_the_order(n, data):
    edges = round_edges(n, growing=True)
    cuts = sorted(set(data.draw(st.lists(st.integers(1, n - 1), max_size=20)) if n > 1 else [])
                  | set(edges[:-1]) - {0})
    bounds = [0, *cuts, n]
    parts = [(a, b, (b - a) // 2) for a, b in zip(bounds, bounds[1:]) if a < b]
    order = data.draw(st.permutations(parts))
    ledger = Ledger(n, edges)
    for k, (a, b, h) in enumerate(order):
        ledger.add(a, b, h)
        assert ledger.points == sum(e - s for s, e, _ in order[:k + 1])
        done = sorted(order[:k + 1])
        assert sum(e - s for s, e in ledger.gaps(0, n)) == n - ledger.points
        assert all(not any(s < g1 and g0 < e for s, e, _ in done) for g0, g1 in ledger.gaps(0, n))
    # Finished: one range per round, each with the sum of its parts' hits.
    starts = [0, *edges[:-1]]
    assert ledger.ranges() == [
        (a, b, sum(h for s, e, h in parts if a <= s and e <= b)) for a, b in zip(starts, edges)]
    for end in edges:
        assert ledger.hits_in(0, end) == sum(h for s, e, h in parts if e <= end)


def test_ledger_refuses_double_counting():
    ledger = Ledger(1000, [1000], [(100, 200, 50)])
    for start, end in [(150, 250), (50, 150), (0, 1001), (-1, 10), (5, 5)]:
        with pytest.raises(ValueError):
            ledger.add(start, end, 0)
    with pytest.raises(ValueError, match="more than its new points"):
        ledger.add(0, 300, 201)  # 200 new points around the finished 100
    ledger.add(0, 300, 200)
    assert ledger.ranges() == [(0, 300, 250)] and ledger.points == 300


def test_ledger_stays_small_while_pieces_finish_out_of_order():
    # With 8 pieces in flight, at most 4 islands stand apart from the finished
    # prefix: the length is bounded by the window, not by the pieces done.
    ledger = Ledger(2**40, [2**40])
    longest = 0
    for k in range(0, 10_000, 8):
        for j in (7, 3, 5, 1, 0, 2, 6, 4):
            ledger.add((k + j) * 2**20, (k + j + 1) * 2**20, 0)
            longest = max(longest, len(ledger))
    assert longest <= 5 and len(ledger) == 1


# User pools


class CountingExecutor:
    """Wraps an executor and records the most tasks it ever had in flight;
    other attributes are the wrapped executor's, so that its size can still
    be learnt."""

    def __init__(self, inner):
        self.inner = inner
        self.lock = threading.Lock()
        self.now = self.peak = 0

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def _started(self):
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)

    def _ended(self, *_):
        with self.lock:
            self.now -= 1

    def submit(self, fn, /, *args):
        self._started()
        future = self.inner.submit(fn, *args)
        future.add_done_callback(self._ended)
        return future


class CountingAsyncPool(CountingExecutor):
    """The same for a multiprocessing-style pool (apply_async)."""

    submit = None  # type: ignore[assignment]

    def __getattribute__(self, name):
        if name == "submit":
            raise AttributeError(name)
        return super().__getattribute__(name)

    def apply_async(self, fn, args, callback, error_callback):
        self._started()

        def ok(result):
            self._ended()
            callback(result)

        def failed(exc):
            self._ended()
            error_callback(exc)

        return self.inner.apply_async(fn, args, callback=ok, error_callback=failed)


def test_process_pool_size_is_known_after_first_use():
    with ProcessPoolExecutor(2) as executor:
        executor.submit(int).result()
        counting = CountingExecutor(executor)
        est = estimate_pi(N, seed=SEED, pool=counting)
    assert (est.hits, est.workers) == (count_hits(N, SEED), 2)
    assert counting.peak >= 2


def test_pool_of_unknown_size_gets_a_cluster_sized_window():
    from concurrent.futures import Future

    class Opaque:
        """An executor that hides its size and answers no hits, as if each
        task had been counting all the while it was pending: a task finishes
        when 256 are
        waiting, or when none was submitted for 50 ms (so that a smaller
        window still ends)."""

        def __init__(self):
            self.pending: list[Future] = []
            self.peak = 0
            self.last = time.monotonic()
            self.lock = threading.Lock()
            self.stop = threading.Event()
            threading.Thread(target=self._idle, daemon=True).start()

        def submit(self, fn, /, count, seed, start):
            future = Future()
            future.submitted = time.time()
            with self.lock:
                self.last = time.monotonic()
                self.pending.append(future)
                self.peak = max(self.peak, len(self.pending))
                oldest = self.pending.pop(0) if len(self.pending) == 256 else None
            if oldest is not None:
                oldest.set_result((0, oldest.submitted, time.time(), "opaque"))
            return future

        def _idle(self):
            while not self.stop.wait(0.05):
                with self.lock:
                    ready = self.pending if time.monotonic() - self.last > 0.05 else []
                    self.pending = [f for f in self.pending if f not in ready]
                for future in ready:
                    future.set_result((0, future.submitted, time.time(), "opaque"))

    pool = Opaque()
    try:
        assert pool_size(pool) is None
        n = 2000 * 2**26
        est = estimate_pi(n, seed=SEED, pool=pool)
    finally:
        pool.stop.set()
    assert (est.n, est.workers) == (n, 1)  # the workers that answered, not the window
    assert pool.peak == UNKNOWN_POOL_WINDOW
    with ProcessPoolExecutor(2) as executor:
        named = estimate_pi(N, seed=SEED, pool=CountingExecutor(executor), workers=3)
    assert (named.hits, named.workers) == (count_hits(N, SEED), 3)


class ReturnsErrors:
    """A pool like Ray's, whose results may be exception objects."""

    _processes = 2

    def apply_async(self, fn, args, callback, error_callback):
        class Handle:
            def get(self):
                return ConnectionAbortedError("the actor died")

        callback(None)
        return Handle()


def test_an_exception_returned_by_a_pool_is_raised_as_itself():
    with pytest.raises(ConnectionAbortedError, match="the actor died"):
        estimate_pi(N, seed=SEED, pool=ReturnsErrors())


def test_numpy_integers_from_a_pool_are_counts():
    import numpy as np

    class NumPyPool(ReturnsErrors):
        def apply_async(self, fn, args, callback, error_callback):
            class Handle:
                def get(self):
                    hits, began, ended, worker = fn(*args)
                    return np.int64(hits), np.float64(began), ended, worker

            callback(None)
            return Handle()

    assert estimate_pi(N, seed=SEED, pool=NumPyPool()).hits == count_hits(N, SEED)


def test_a_wrong_result_from_a_pool_is_an_error():
    class Lies(ReturnsErrors):
        def apply_async(self, fn, args, callback, error_callback):
            class Handle:
                def get(self):
                    hits, began, ended, worker = fn(*args)
                    return self.lie(args[0], began, ended, worker)

            Handle.lie = staticmethod(self.lie)
            callback(None)
            return Handle()

    lies = [lambda count, b, e, w: (count + 1, b, e, w),  # more hits than points
            lambda count, b, e, w: (-1, b, e, w),
            lambda count, b, e, w: (0, e + 1, e, w),  # ended before it began
            lambda count, b, e, w: 0,  # not a piece's answer
            lambda count, b, e, w: (0, b, e)]
    for lie in lies:
        with pytest.raises(RuntimeError, match="returned"):
            estimate_pi(N, seed=SEED, pool=type("Liar", (Lies,), {"lie": staticmethod(lie)})())


# Dask and Ray


@pytest.fixture(scope="module")
def dask_client():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=2, processes=True,
                                  dashboard_address=None) as cluster:
        with distributed.Client(cluster) as client:
            yield client


@pytest.mark.slow
def test_dask_cluster_counts_exactly_with_every_worker_busy(dask_client):
    counting = CountingExecutor(dask_client.get_executor())
    est = estimate_pi(N, seed=SEED, pool=counting)
    assert (est.hits, est.backend, est.workers) == (count_hits(N, SEED), "pool", 4)
    assert counting.peak >= 4


@pytest.mark.slow
def test_dask_recovers_from_a_killed_worker(dask_client):
    import signal

    pids = list(dask_client.run(os.getpid).values())
    n = 3 * 10**9  # a second or two on two workers

    def kill():
        time.sleep(0.3)
        os.kill(pids[0], signal.SIGKILL)

    killer = threading.Thread(target=kill)
    killer.start()
    try:
        est = estimate_pi(n, seed=SEED, pool=dask_client.get_executor())
    finally:
        killer.join()
    assert est.hits == count_hits(n, SEED)
    assert pids[0] not in dask_client.run(os.getpid).values()


def start_ray():
    """A local Ray instance of 2 CPUs whose workers start outside the source
    tree (they import from their working folder), so that they import the
    installed pymcpi."""
    ray = pytest.importorskip("ray")
    if not ray.is_initialized():
        here = os.getcwd()
        os.chdir(tempfile.gettempdir())
        try:
            ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        finally:
            os.chdir(here)
    return ray


@pytest.fixture(scope="module")
def ray_pool():
    ray = start_ray()
    from ray.util.multiprocessing import Pool

    try:
        with Pool(2) as pool:
            yield pool
    finally:
        ray.shutdown()


@pytest.mark.slow
def test_ray_pool_counts_exactly_with_every_worker_busy(ray_pool):
    counting = CountingAsyncPool(ray_pool)
    est = estimate_pi(N, seed=SEED, pool=counting)
    assert (est.hits, est.backend, est.workers) == (count_hits(N, SEED), "pool", 2)
    assert counting.peak >= 2


@pytest.mark.slow
def test_ray_worker_killed_is_reported_as_its_own_exception():
    # A pool of its own, as the killed actor is not replaced.
    import signal

    ray = start_ray()
    from ray.util.multiprocessing import Pool

    with Pool(1) as pool:
        [pid] = {pool.apply(os.getpid, ()) for _ in range(2)}

        def kill():
            time.sleep(0.5)
            os.kill(pid, signal.SIGKILL)

        killer = threading.Thread(target=kill)
        killer.start()
        try:
            with pytest.raises(ray.exceptions.RayActorError):
                estimate_pi(10**10, seed=SEED, pool=pool)
        finally:
            killer.join()


# Process pools under faults

RLIMIT = """
import json, resource, time
import pymcpi

def vm():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmSize"))

limit = vm() + (2 << 20)  # 2 MiB more address space: no room for a new thread's stack
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
outcome = {}
for backend in ("threads", "processes"):
    try:
        pymcpi.estimate_pi(10**8, backend=backend, workers=2)
        outcome[backend] = "finished"
    except (RuntimeError, OSError, MemoryError) as exc:
        outcome[backend] = type(exc).__name__
print(json.dumps(outcome))
"""


def test_pool_that_cannot_start_its_threads_raises():
    proc = run_python(RLIMIT, timeout=60)
    outcome = json.loads(proc.stdout.strip().splitlines()[-1])
    # An error, whichever the platform raises, instead of a hang (the
    # timeout) or a run that somehow finished.
    assert set(outcome) == {"threads", "processes"}
    assert set(outcome.values()) <= {"RuntimeError", "OSError", "MemoryError"}


FORKSERVER_KILL = """
import json, multiprocessing, os, signal, sys, threading, time
import multiprocessing.forkserver as forkserver
import pymcpi

multiprocessing.set_start_method("forkserver")
n = 4 * 10**8
expected = pymcpi.count_hits(n, 5)
results = []
for attempt in range(int(sys.argv[1])):
    killed = []

    def kill():
        time.sleep(0.2 + 0.01 * attempt)
        server = forkserver._forkserver._forkserver_pid
        with open(f"/proc/{server}/task/{server}/children") as f:
            workers = [int(pid) for pid in f.read().split()]
        os.kill(server, signal.SIGKILL)
        time.sleep(0.01)
        for pid in workers[:1]:
            os.kill(pid, signal.SIGKILL)  # the pool must start a worker again
        killed.append(len(workers))

    killer = threading.Thread(target=kill)
    killer.start()
    try:
        est = pymcpi.estimate_pi(n, seed=5, backend="processes", workers=2)
        outcome = est.hits == expected
    except Exception as exc:
        outcome = f"{type(exc).__name__}: {exc}"
    killer.join()
    results.append([outcome, killed])
print(json.dumps(results))
"""


@pytest.mark.slow
def test_killed_fork_server_is_recovered_like_a_dead_worker():
    tries = 12
    code = FORKSERVER_KILL.replace("int(sys.argv[1])", str(tries))
    proc = run_python(code, env=python_env(PYMCPI_SIMD="scalar"), timeout=300)
    results = json.loads(proc.stdout.strip().splitlines()[-1])
    assert [outcome for outcome, _ in results] == [True] * tries
    # The server was killed mid-run each time, most times with a worker, so
    # that the pool had to start one through a dead server.
    assert all(killed for _, killed in results)
    assert sum(killed == [2] for _, killed in results) >= tries // 2, results


def test_mpi_backend_without_mpi4py_names_the_extra():
    code = """
import sys
sys.modules["mpi4py"] = None  # as if it were not installed
import pymcpi
try:
    pymcpi.estimate_pi(1000, backend="mpi")
except ImportError as exc:
    print(exc)
"""
    assert 'pip install "pymcpi[mpi]"' in run_python(code).stdout


def test_a_slow_central_dispatcher_gets_few_large_pieces():
    from pymcpi.bench_scheduling import SlowDispatcher

    n = 4 * 10**9
    pool = SlowDispatcher(2, 0.02)  # 20 ms of dispatch per task, one task at a time
    try:
        est = estimate_pi(n, seed=SEED, pool=pool, trace=True)
    finally:
        pool.shutdown()
    assert (est.hits, est.workers) == (count_hits(n, SEED), 2)
    # Pieces of at least 2 workers x 20 ms / 0.5 = 0.08 s of counting: at
    # most a few dozen tasks (fixed pieces of 2**26 points would be 60), and
    # both worker threads counted.
    assert pool.tasks == len(est.trace) <= 40
    assert len({r.worker for r in est.trace}) == 2


# Engines named as backends, Dask clients, pools that hide their size

import re  # noqa: E402


@pytest.mark.parametrize("name, form", [
    ("dask", "pool=client.get_executor()"), ("Dask", "pool=client.get_executor()"),
    ("distributed", "pool=client.get_executor()"),
    ("ray", "pool=ray.util.multiprocessing.Pool()"),
    ("loky", "pool=loky.get_reusable_executor()"),
    ("multiprocessing", "backend='processes'"),
    ("mpi4py", "backend='mpi'"),
    ("pool", "client.get_executor() for Dask, ray.util.multiprocessing.Pool() for Ray"),
])
def test_an_engine_named_as_a_backend_points_to_pool(name, form):
    with pytest.raises(ValueError, match=re.escape(form)):
        estimate_pi(N, seed=SEED, backend=name)


def test_a_cluster_given_as_a_pool_points_to_its_executor():
    class LocalCluster:  # neither submit nor apply_async
        pass

    with pytest.raises(TypeError, match=re.escape("for Dask: pool=client.get_executor()")):
        estimate_pi(N, seed=SEED, pool=LocalCluster())


def test_a_pool_that_hides_its_size_reports_the_workers_that_counted():
    from concurrent.futures import Future

    class Hidden:
        """Counts each piece at once and names three workers in turn."""

        def __init__(self):
            self.tasks = 0

        def submit(self, fn, /, *args):
            hits, began, ended, _ = fn(*args)
            self.tasks += 1
            future = Future()
            future.set_result((hits, began, ended, f"worker-{self.tasks % 3}"))
            return future

    pool = Hidden()
    assert pool_size(pool) is None
    est = estimate_pi(N, seed=SEED, pool=pool)
    assert pool.tasks >= 3
    assert (est.hits, est.workers) == (count_hits(N, SEED), 3)
    named = estimate_pi(N, seed=SEED, pool=Hidden(), workers=5)
    assert (named.hits, named.workers) == (count_hits(N, SEED), 5)


@pytest.mark.slow
def test_a_dask_client_is_used_through_its_executor(dask_client):
    assert pool_size(dask_client) == 4
    est = estimate_pi(N, seed=SEED, pool=dask_client)
    assert (est.hits, est.backend, est.workers) == (count_hits(N, SEED), "pool", 4)
