"""The backends that count chunks: the calling thread, a thread pool, worker
processes, a pool the user brings, and MPI ranks.

Each runner takes a list of ``(index, chunk)`` and yields ``(index, hits)`` as
chunks finish, in any order; the caller adds the counts up exactly, so the
result never depends on the runner or on how many workers it has.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from ._core import count_hits
from .chunks import Chunk, count_arg

__all__ = ["BACKENDS", "make_runner"]

BACKENDS = ("serial", "threads", "processes", "mpi")

# How often a process pool may break (a worker killed) without any chunk
# finishing in between, before the run gives up.
MAX_BROKEN = 3

Work = list[tuple[int, Chunk]]


def default_workers() -> int:
    """The CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def count_indexed(item: tuple[int, Chunk]) -> tuple[int, int]:
    """``(index, count_hits(*chunk))``: the task a multiprocessing.Pool runs."""
    index, chunk = item
    return index, count_hits(*chunk)


class SerialRunner:
    """Counts chunks one after another in the calling thread."""

    backend = "serial"
    workers = 1

    def map(self, work: Work) -> Iterator[tuple[int, int]]:
        return map(count_indexed, work)

    def close(self) -> None:
        pass


def _as_completed(executor: Executor, work: Work, window: int) -> Iterator[tuple[int, int]]:
    """Yield ``(index, hits)`` as chunks finish, keeping at most ``window``
    chunks submitted at a time; on any exit before the end, cancel what has not
    started.

    Finished futures come through a queue that their callbacks fill, not from
    concurrent.futures.wait: wait takes the lock of every pending future on
    each call, which is slow for thousands of chunks, and a Ctrl-C between two
    of those acquisitions leaves locks held, so that shutting the pool down
    then hangs."""
    finished: queue.SimpleQueue[Future[int]] = queue.SimpleQueue()
    futures: dict[Future[int], int] = {}
    todo = iter(work)

    def submit_next() -> None:
        for index, chunk in todo:
            future = executor.submit(count_hits, *chunk)
            futures[future] = index
            future.add_done_callback(finished.put)
            return

    try:
        for _ in range(window):
            submit_next()
        for _ in range(len(work)):
            future = finished.get()
            index = futures.pop(future)
            submit_next()
            yield index, future.result()
    finally:
        for future in futures:
            future.cancel()


class ThreadRunner:
    """A thread pool; it scales because count_hits releases the GIL."""

    backend = "threads"

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.executor = ThreadPoolExecutor(workers, thread_name_prefix="pymcpi")

    def map(self, work: Work) -> Iterator[tuple[int, int]]:
        return _as_completed(self.executor, work, window=4 * self.workers)

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
        import signal

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

    A worker that dies (SIGKILL, the OOM killer) breaks the pool: a new pool
    is started and the chunks that had not come back are counted again.
    """

    backend = "processes"

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.context = multiprocessing.get_context()
        self.executor: ProcessPoolExecutor | None = None

    def map(self, work: Work) -> Iterator[tuple[int, int]]:
        left = dict(work)
        broken = 0
        while left:
            if self.executor is None:
                self.executor = ProcessPoolExecutor(
                    self.workers, mp_context=self.context,
                    initializer=_die_with_driver,
                    initargs=(os.getpid(), self.context.get_start_method() != "forkserver"))
            try:
                for index, hits in _as_completed(self.executor, list(left.items()),
                                                 window=4 * self.workers):
                    del left[index]
                    broken = 0
                    yield index, hits
            except BrokenProcessPool:
                broken += 1
                self._stop()
                if broken > MAX_BROKEN:
                    raise RuntimeError(
                        f"worker processes died {broken} times in a row without "
                        "finishing a chunk; giving up"
                    ) from None

    def _stop(self) -> None:
        """End the pool now: no worker outlives it."""
        executor, self.executor = self.executor, None
        if executor is None:
            return
        # The executor has no public way to stop running tasks; its worker
        # processes are in _processes on every Python version pymcpi supports.
        for process in list(getattr(executor, "_processes", {}).values()):
            process.terminate()
        executor.shutdown(wait=True, cancel_futures=True)

    def close(self) -> None:
        self._stop()


class PoolRunner:
    """A pool the user owns: a multiprocessing.Pool, a concurrent.futures
    executor or an mpi4py.futures.MPIPoolExecutor. It is used, not closed."""

    backend = "pool"

    def __init__(self, pool: Any, workers: int | None) -> None:
        if not (hasattr(pool, "submit") or hasattr(pool, "imap_unordered")):
            raise TypeError(
                "pool must be a multiprocessing.Pool or a concurrent.futures.Executor "
                f"(anything with submit or imap_unordered), not {type(pool).__name__}"
            )
        self.pool = pool
        guess = (getattr(pool, "_processes", None) or getattr(pool, "_max_workers", None)
                 or getattr(pool, "num_workers", None))
        self.workers = workers or (guess if isinstance(guess, int) and guess > 0 else 1)

    def map(self, work: Work) -> Iterator[tuple[int, int]]:
        if hasattr(self.pool, "submit"):
            return _as_completed(self.pool, work, window=4 * self.workers)
        return self.pool.imap_unordered(count_indexed, work)  # type: ignore[no-any-return]

    def close(self) -> None:
        pass


class MPIRunner:
    """MPI ranks of ``comm``, called collectively. Rank r counts every
    size-th chunk; after each round of one chunk per rank, all ranks exchange
    their counts, so every rank sees every result in the same order."""

    backend = "mpi"

    def __init__(self, comm: Any) -> None:
        if comm is None:
            from mpi4py import MPI  # only now: importing it initialises MPI

            comm = MPI.COMM_WORLD
        self.comm = comm
        self.rank = comm.Get_rank()
        self.workers = comm.Get_size()

    def map(self, work: Work) -> Iterator[tuple[int, int]]:
        size = self.workers
        for first in range(0, len(work), size):
            group = work[first:first + size]
            mine = None
            if self.rank < len(group):
                index, chunk = group[self.rank]
                mine = (index, count_hits(*chunk))
            for result in self.comm.allgather(mine):
                if result is not None:
                    yield result

    def abort(self, exc: BaseException) -> None:
        """End the whole job: a rank that stops alone would leave the others
        waiting forever in a collective call."""
        if self.workers > 1:
            sys.stderr.write(f"pymcpi: rank {self.rank} of {self.workers} failed:\n")
            traceback.print_exception(exc, file=sys.stderr)
            sys.stderr.flush()
            self.comm.Abort(1)

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
