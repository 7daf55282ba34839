"""The runners that count pieces of the stream: the calling thread, a thread
pool, worker processes, a pool the user brings (multiprocessing, any
concurrent.futures executor, Dask, Ray, loky, mpi4py.futures), and MPI ranks.

A local runner takes an iterator of pieces ``(start, count)`` and yields
``(start, count, hits)`` as pieces finish, in any order, keeping a bounded
window of pieces in flight and never reading the iterator further ahead: a run
of 2**64 points costs no more memory than a small one. MPI ranks instead
split each round among themselves (`MPIRunner.count_round`). The caller adds
counts up exactly, so the result never depends on the runner or on how many
workers it has.
"""

from __future__ import annotations

import bisect
import multiprocessing
import os
import queue
import signal
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from ._core import BLOCK, count_hits
from .chunks import as_index, count_arg
from .engine import Ledger, pieces

__all__ = ["BACKENDS", "make_runner"]

BACKENDS = ("serial", "threads", "processes", "mpi")

# How often a process pool may break (a worker or the fork server killed, or
# the pool failing to start) without any piece finishing in between, before
# the run gives up.
MAX_BROKEN = 3

# Pieces kept in flight per worker: one running, the rest queued, so that no
# worker waits for the driver between two pieces (CPython's process pool
# keeps one extra call queued for the same reason).
QUEUED_PER_WORKER = 4

# The window for a user's pool that cannot tell its size: enough to keep a
# cluster of a few hundred workers busy; ``workers=`` overrides it.
UNKNOWN_POOL_WINDOW = 256

Piece = tuple[int, int]  # (start, count)
Result = tuple[int, int, int]  # (start, count, hits)


def default_workers() -> int:
    """The CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def checked_hits(hits: object, count: int) -> int:
    """A worker's answer as an int in ``[0, count]``. An engine that reports
    a failure as a returned exception object (Ray's pool does) has it raised
    here, as itself."""
    if isinstance(hits, BaseException):
        raise hits
    index = as_index(hits)  # an engine may hand back a NumPy integer
    if index is None or not 0 <= index <= count:
        raise RuntimeError(f"a worker returned {hits!r} for a piece of {count} points")
    return index


class SerialRunner:
    """Counts pieces one after another in the calling thread."""

    backend = "serial"
    workers = 1

    def run(self, seed: int, work: Iterable[Piece]) -> Iterator[Result]:
        for start, count in work:
            yield start, count, count_hits(count, seed, start)

    def close(self) -> None:
        pass


class _Task:
    """One piece in flight, and the handle its pool gave back."""

    __slots__ = ("start", "count", "handle")

    def __init__(self, start: int, count: int) -> None:
        self.start, self.count = start, count
        self.handle: Any = None


def _submitter(pool: Any) -> tuple[Callable[[int, int, int, Callable[[], None]], Any],
                                    Callable[[Any], object]]:
    """``submit(count, seed, start, done)`` and ``result(handle)`` for a
    concurrent.futures executor (``submit``) or a multiprocessing-style pool
    (``apply_async``: multiprocessing's and Ray's). ``done`` is called once the
    task has finished, in whatever thread the pool uses."""
    if hasattr(pool, "submit"):
        def submit(count: int, seed: int, start: int, done: Callable[[], None]) -> Any:
            future = pool.submit(count_hits, count, seed, start)
            future.add_done_callback(lambda _: done())
            return future

        return submit, lambda future: future.result()

    def apply(count: int, seed: int, start: int, done: Callable[[], None]) -> Any:
        return pool.apply_async(count_hits, (count, seed, start),
                                callback=lambda _: done(), error_callback=lambda _: done())

    return apply, lambda handle: handle.get()


def _as_completed(pool: Any, seed: int, work: Iterator[Piece], window: int,
                  inflight: dict[_Task, None],
                  healthy: Callable[[], bool] = lambda: True) -> Iterator[Result]:
    """Yield ``(start, count, hits)`` as pieces finish, keeping at most
    ``window`` pieces submitted and reading ``work`` no further ahead; on any
    exit before the end, cancel what has not started.

    ``inflight`` holds the pieces taken from ``work`` that have not come back
    (a piece enters it before it is submitted), so that after a failure the
    caller can count them again. Finished tasks come through a queue that the
    pool's callbacks fill, not from concurrent.futures.wait: wait takes the
    lock of every pending future on each call, and a Ctrl-C between two of
    those acquisitions leaves locks held, so that shutting the pool down then
    hangs. While waiting, ``healthy()`` is asked every second; once it says
    no, the pool will never answer, and BrokenProcessPool is raised."""
    submit, result = _submitter(pool)
    finished: queue.SimpleQueue[_Task] = queue.SimpleQueue()

    def submit_next() -> None:
        for start, count in work:
            task = _Task(start, count)
            inflight[task] = None
            task.handle = submit(count, seed, start, lambda: finished.put(task))
            return

    try:
        for _ in range(window):
            submit_next()
        while inflight:
            try:
                task = finished.get(timeout=1.0)
            except queue.Empty:
                if not healthy():
                    raise BrokenProcessPool("the pool's manager thread has ended") from None
                continue
            hits = checked_hits(result(task.handle), task.count)
            submit_next()  # before the task leaves inflight: if this fails, it is redone
            del inflight[task]
            yield task.start, task.count, hits
    finally:
        for task in inflight:
            if hasattr(task.handle, "cancel"):
                task.handle.cancel()


class ThreadRunner:
    """A thread pool; it scales because count_hits releases the GIL."""

    backend = "threads"

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.executor = ThreadPoolExecutor(workers, thread_name_prefix="pymcpi")

    def run(self, seed: int, work: Iterable[Piece]) -> Iterator[Result]:
        return _as_completed(self.executor, seed, iter(work),
                             QUEUED_PER_WORKER * self.workers, {})

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)


def _die_with_driver(driver: int, forked_by_driver: bool) -> None:
    """Worker initializer: end this worker when the driver process dies, even
    by SIGKILL or the OOM killer, so that an interrupted run leaves no idle
    workers behind (they would wait for work forever).

    A worker that the driver started itself asks Linux to kill it when its
    parent dies (PR_SET_PDEATHSIG). A worker of a fork server, whose parent is
    the server, watches the driver instead; the server then ends too, once its
    last worker is gone."""
    if forked_by_driver and sys.platform.startswith("linux"):
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL))
        if os.getppid() != driver:
            os._exit(1)  # the driver died before the line above took effect
        return

    def watch() -> None:
        while _alive(driver):
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="pymcpi-watch-driver", daemon=True).start()


def _alive(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie (a killed driver
    stays one until its own parent reaps it)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - alive, another user's
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


class ProcessRunner:
    """Worker processes of the default multiprocessing context (fork, spawn or
    forkserver). The task is pymcpi's own count_hits, so it pickles under
    every start method, from scripts, REPLs and notebooks alike.

    A worker that dies (SIGKILL, the OOM killer) breaks the pool, and a killed
    fork server makes starting workers fail: either way a new pool is started
    (with a new server), the pieces that were in flight are counted first, and
    the run goes on; after `MAX_BROKEN` failures in a row without a piece
    finishing, it gives up with the last error as the cause.
    """

    backend = "processes"

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.context = multiprocessing.get_context()
        self.executor: ProcessPoolExecutor | None = None

    def run(self, seed: int, work: Iterable[Piece]) -> Iterator[Result]:
        work = iter(work)
        redo: deque[Piece] = deque()

        def feed() -> Iterator[Piece]:
            while redo:
                yield redo.popleft()
            for piece in work:  # not yield from: closing this feed must not close work
                yield piece

        broken = 0
        while True:
            inflight: dict[_Task, None] = {}
            try:
                if self.executor is None:
                    self.executor = self._start()
                executor = self.executor
                for result in _as_completed(executor, seed, feed(),
                                            QUEUED_PER_WORKER * self.workers, inflight,
                                            lambda: _manager_alive(executor)):
                    broken = 0
                    yield result
                return
            except (BrokenProcessPool, OSError, EOFError) as exc:
                # A dead worker breaks the pool; a dead fork server refuses
                # the connection (or closes it) when workers are started.
                broken += 1
                redo.extendleft(sorted(((t.start, t.count) for t in inflight), reverse=True))
                self._stop()
                if broken > MAX_BROKEN:
                    raise RuntimeError(
                        f"worker processes died or could not start {broken} times in a "
                        f"row without finishing a piece ({type(exc).__name__}: {exc}); "
                        "giving up"
                    ) from exc
                time.sleep(0.05 * broken)  # let a killed server be reaped

    def _start(self) -> ProcessPoolExecutor:
        executor = ProcessPoolExecutor(
            self.workers, mp_context=self.context, initializer=_die_with_driver,
            initargs=(os.getpid(), self.context.get_start_method() != "forkserver"))
        # Start the workers and the pool's threads now: a pool that cannot
        # (no memory for a thread under RLIMIT_AS, too many processes) raises
        # here instead of waiting forever for an answer that never comes.
        try:
            first = executor.submit(int)
            while not first.done():
                wait([first], timeout=0.1)
                if not first.done() and not _manager_alive(executor):
                    raise BrokenProcessPool("the process pool could not start its threads")
            first.result()
        except BaseException:
            _terminate(executor)
            raise
        return executor

    def _stop(self) -> None:
        """End the pool now: no worker outlives it."""
        executor, self.executor = self.executor, None
        if executor is not None:
            _terminate(executor)

    def close(self) -> None:
        self._stop()


def _manager_alive(executor: ProcessPoolExecutor) -> bool:
    """Whether the pool's manager thread, which hands out work and collects
    results, still runs (a thread that failed to start its own queue thread
    ends with an exception, and the pool then never answers)."""
    thread = getattr(executor, "_executor_manager_thread", None)
    return thread is None or thread.is_alive()


def _terminate(executor: ProcessPoolExecutor) -> None:
    # The executor has no public way to stop running tasks; its worker
    # processes are in _processes on every Python version pymcpi supports.
    for process in list((getattr(executor, "_processes", None) or {}).values()):
        process.terminate()
    executor.shutdown(wait=True, cancel_futures=True)


def pool_size(pool: Any) -> int | None:
    """The number of workers of a user's pool, where the pool can tell it."""
    for attr in ("_max_workers",  # concurrent.futures and loky executors
                 "_processes",  # multiprocessing.Pool (a dict in ProcessPoolExecutor)
                 "num_workers"):  # mpi4py.futures.MPIPoolExecutor
        size = getattr(pool, attr, None)
        if isinstance(size, int) and not isinstance(size, bool) and size > 0:
            return size
    client = getattr(pool, "_client", None)  # Dask's client.get_executor()
    if client is not None and hasattr(client, "nthreads"):
        total = sum(client.nthreads().values())
        return total if total > 0 else None
    actors = getattr(pool, "_actor_pool", None)  # ray.util.multiprocessing.Pool
    if isinstance(actors, list) and actors:
        return len(actors)
    return None


class PoolRunner:
    """A pool the user owns: a multiprocessing.Pool (or Ray's), a
    concurrent.futures executor (Dask's ``client.get_executor()``, loky's,
    ``mpi4py.futures.MPIPoolExecutor``). It is used, not closed.

    Every worker is kept busy: the window of pieces in flight is
    `QUEUED_PER_WORKER` times the pool's size where the pool can tell it
    (`pool_size`), else ``workers`` if given, else `UNKNOWN_POOL_WINDOW`.
    """

    backend = "pool"

    def __init__(self, pool: Any, workers: int | None) -> None:
        if not (hasattr(pool, "submit") or hasattr(pool, "apply_async")):
            raise TypeError(
                "pool must be a multiprocessing.Pool or a concurrent.futures.Executor "
                f"(anything with submit or apply_async), not {type(pool).__name__}"
            )
        self.pool = pool
        size = workers or pool_size(pool)
        self.workers = size or UNKNOWN_POOL_WINDOW
        self.window = QUEUED_PER_WORKER * size if size else UNKNOWN_POOL_WINDOW

    def run(self, seed: int, work: Iterable[Piece]) -> Iterator[Result]:
        return _as_completed(self.pool, seed, iter(work), self.window, {})

    def close(self) -> None:
        pass


class MPIRunner:
    """MPI ranks of ``comm``, called collectively.

    Each round's unfinished work is divided among the ranks by whole blocks,
    so every rank works whatever ``n`` is; each counts its share in pieces on
    its own. Ranks exchange only fixed-size uint64 buffers: one ``Allreduce``
    of 2 words at each round end, so that every rank makes the same precision
    decision, and every `EXCHANGE` points of a share an ``Igather`` of 2 words
    (points done, hits) to rank 0, for its progress bar and checkpoint. The
    gathers are non-blocking and up to `IN_FLIGHT` may be outstanding, so no
    rank waits for another (or for rank 0's disk) between round ends.
    """

    backend = "mpi"

    # Points of a share between two exchanges: 2**32 take about 2 s on
    # AVX-512 and 10 s on the scalar path.
    EXCHANGE = 1 << 32
    IN_FLIGHT = 4

    def __init__(self, comm: Any) -> None:
        if comm is None:
            try:
                from mpi4py import MPI  # only now: importing it initialises MPI
            except ImportError as exc:
                raise ImportError(
                    'backend="mpi" needs mpi4py: pip install "pymcpi[mpi]" '
                    f"(or pip install \".[mpi]\" in a clone) ({exc})") from exc
            comm = MPI.COMM_WORLD
        self.comm = comm
        self.rank = comm.Get_rank()
        self.workers = comm.Get_size()
        self.synchronisations = 0  # collective calls, for the benchmark and tests

    def share(self, gaps: list[tuple[int, int]], rank: int) -> tuple[int, int]:
        """Rank ``rank``'s share of a round's gaps, as ``[offset, offset +
        size)`` in the gaps laid end to end: whole blocks, sizes differing by
        at most one block, like `split`."""
        total = sum(end - start for start, end in gaps)
        blocks, rest = divmod(total, BLOCK)
        share, extra = divmod(blocks, self.workers)
        offset = (rank * share + min(rank, extra)) * BLOCK
        size = (share + (rank < extra)) * BLOCK + (rest if rank == self.workers - 1 else 0)
        return offset, size

    @staticmethod
    def stream_span(gaps: list[tuple[int, int]], cumulative: list[int], offset: int,
                    size: int) -> list[tuple[int, int]]:
        """Points ``[offset, offset + size)`` of the gaps laid end to end, as
        ranges of the stream."""
        spans = []
        i = bisect.bisect_right(cumulative, offset) - 1
        end = offset + size
        while offset < end:
            start, stop = gaps[i]
            begin = start + offset - cumulative[i]
            take = min(stop - begin, end - offset)
            spans.append((begin, begin + take))
            offset += take
            i += 1
        return spans

    def count_round(self, seed: int, ledger: Ledger, start: int, end: int, size: int,
                    tick: Callable[[int, Callable[[], list[tuple[int, int, int]]]], None]
                    ) -> None:
        """Count ``[start, end)``'s gaps across the ranks and record the whole
        round in ``ledger`` on every rank. On rank 0, ``tick(points, ranges)``
        is called as work is known to be done: ``points`` new since the last
        tick, ``ranges()`` the finished ranges so far, for a checkpoint."""
        import numpy as np

        from mpi4py import MPI

        gaps = ledger.gaps(start, end)
        cumulative = [0]
        for a, b in gaps:
            cumulative.append(cumulative[-1] + b - a)
        offset, mine = self.share(gaps, self.rank)
        longest = max(self.share(gaps, 0)[1], self.share(gaps, self.workers - 1)[1])
        exchanges = longest // self.EXCHANGE  # the same on every rank
        posted: deque[Any] = deque()
        known = np.zeros((self.workers, 2), dtype=np.uint64) if self.rank == 0 else None
        shown = 0  # points rank 0 has reported through tick
        done = hits = sent = 0

        def ranges() -> list[tuple[int, int, int]]:
            assert known is not None
            view = Ledger(ledger.n, ledger.edges, ledger.ranges())
            for rank in range(self.workers):
                d, h = (done, hits) if rank == 0 else map(int, known[rank])
                if d:
                    spans = self.stream_span(gaps, cumulative, self.share(gaps, rank)[0], d)
                    view.add(spans[0][0], spans[-1][1], h)
            return view.ranges()

        def report() -> None:
            nonlocal shown
            if known is None:
                return
            total = done + int(known[1:, 0].sum(dtype=np.uint64))
            tick(total - shown, ranges)
            shown = total

        def complete() -> None:
            """Complete the oldest exchange; rank 0 keeps its bar and
            checkpoint going while it waits."""
            request, _, buffer = posted.popleft()
            if known is None:
                request.Wait()
                return
            while not request.Test():
                time.sleep(0.005)
                report()
            np.maximum(known, buffer, out=known)  # gathers complete in order
            report()

        def exchange() -> None:
            nonlocal sent
            while len(posted) >= self.IN_FLIGHT or (posted and posted[0][0].Test()):
                complete()
            mine_now = np.array([done, hits], dtype=np.uint64)
            buffer = np.zeros((self.workers, 2), dtype=np.uint64) if known is not None else None
            # The send buffer must live until the gather completes.
            posted.append((self.comm.Igather(mine_now, buffer, root=0), mine_now, buffer))
            self.synchronisations += 1
            sent += 1

        for piece_start, count in pieces(self.stream_span(gaps, cumulative, offset, mine), size):
            hits += count_hits(count, seed, piece_start)
            done += count
            while sent < exchanges and done >= (sent + 1) * self.EXCHANGE:
                exchange()
            report()
        while sent < exchanges:
            exchange()
        while posted:
            complete()
        totals = np.array([done, hits], dtype=np.uint64)
        self.comm.Allreduce(MPI.IN_PLACE, totals, op=MPI.SUM)
        self.synchronisations += 1
        if int(totals[0]) != cumulative[-1]:
            raise RuntimeError(f"ranks counted {int(totals[0])} points of a round of "
                               f"{cumulative[-1]}")  # a bug, never the user's
        ledger.add(start, end, int(totals[1]))
        if known is not None:
            tick(cumulative[-1] - shown, ledger.ranges)

    def broadcast_ranges(self, ranges: list[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
        """Rank 0's ranges on every rank, as one uint64 buffer."""
        import numpy as np

        count = np.array([len(ranges)], dtype=np.uint64)
        self.comm.Bcast(count, root=0)
        table = np.zeros((int(count[0]), 3), dtype=np.uint64)
        if self.rank == 0 and ranges:
            table[:] = np.array(ranges, dtype=np.uint64)
        self.comm.Bcast(table, root=0)
        return [(int(a), int(b), int(h)) for a, b, h in table]

    def abort(self, exc: BaseException) -> None:
        """End the whole job: a rank that stops alone would leave the others
        waiting forever in a collective call."""
        if self.workers > 1:
            if threading.current_thread() is threading.main_thread():
                # The job is ending: a second Ctrl-C (mpiexec forwards one
                # after the terminal's) must not skip the Abort below.
                signal.signal(signal.SIGINT, signal.SIG_IGN)
            if isinstance(exc, KeyboardInterrupt):
                # Ctrl-C reaches every rank: one line for the job, not one
                # traceback per rank.
                if self.rank == 0:
                    sys.stderr.write("pymcpi: interrupted\n")
            else:
                sys.stderr.write(f"pymcpi: rank {self.rank} of {self.workers} failed:\n"
                                 + "".join(traceback.format_exception(exc)))
            sys.stderr.flush()
            time.sleep(0.5)  # let the launcher forward the message before the job ends
            self.comm.Abort(130 if isinstance(exc, KeyboardInterrupt) else 1)

    def close(self) -> None:
        pass


def make_runner(backend: str | None, workers: int | None, pool: Any, comm: Any) -> Any:
    """The runner for estimate_pi's arguments, after checking them."""
    if backend is None:
        backend = "pool" if pool is not None else "mpi" if comm is not None else "serial"
    if not isinstance(backend, str) or backend not in BACKENDS + ("pool",):
        raise ValueError(f"backend must be one of {', '.join(map(repr, BACKENDS))}, "
                         f"got {backend!r}")
    if workers is not None:
        workers = count_arg(workers, "workers", least=1)
    if backend == "pool" and pool is None:
        raise ValueError("backend='pool' is what pool= implies; pass pool= instead")
    if pool is not None and backend != "pool":
        raise ValueError(f"pool= brings its own workers; it does not go with backend={backend!r}")
    if comm is not None and backend != "mpi":
        raise ValueError(f"comm= is for backend='mpi', not {backend!r}")
    if backend == "serial":
        if workers not in (None, 1):
            raise ValueError("backend='serial' has one worker; choose 'threads' or 'processes'")
        return SerialRunner()
    if backend == "threads":
        return ThreadRunner(workers or default_workers())
    if backend == "processes":
        return ProcessRunner(workers or default_workers())
    if backend == "pool":
        return PoolRunner(pool, workers)
    if workers is not None:
        raise ValueError("backend='mpi' has one worker per rank; set it with mpiexec -n")
    return MPIRunner(comm)
