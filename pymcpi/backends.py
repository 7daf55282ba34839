"""The runners that count a run's pieces: the calling thread, a thread pool,
worker processes, a pool the user brings (multiprocessing, any
concurrent.futures executor, Dask, Ray, loky, mpi4py.futures), and MPI ranks.

Every runner keeps the same contract, `Runner`; `estimate_pi` knows no other.
The schedule (`schedule.py`) decides which piece comes next and how big it
is; a runner only moves pieces to its workers and results back. Pools keep a
window of pieces in flight, `QUEUED_PER_WORKER` per worker, so that whichever
worker is free starts the next piece at once. MPI ranks ask rank 0 for their
next piece when they finish one (`MPIRunner`).
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Protocol, TypeVar

from ._core import count_hits
from .checks import index
from .engine import Span
from .launcher import check_world
from .schedule import Desk, Schedule

__all__ = ["BACKENDS", "Runner", "make_runner"]

BACKENDS = ("serial", "threads", "processes", "mpi")

# How often a process pool may break (a worker or the fork server killed, or
# the pool failing to start) without any piece finishing in between, before
# the run gives up.
MAX_BROKEN = 3

# Pieces kept in flight per worker: one running and one queued, so that no
# worker waits for the driver between two pieces (CPython's process pool
# keeps one extra call queued for the same reason).
QUEUED_PER_WORKER = 2

# The window for a user's pool that cannot tell its size: enough to keep a
# cluster of a hundred workers busy; ``workers=`` overrides it.
UNKNOWN_POOL_WINDOW = 256

# The status with which a new worker process ends when importing the main
# script (as every worker does under spawn and forkserver) reaches
# estimate_pi(backend="processes"): the driver recognises it and names the
# missing `if __name__ == "__main__":` instead of starting workers again.
UNGUARDED_STATUS = 86

T = TypeVar("T")


class Runner(Protocol):
    """What every backend implements; `estimate_pi` uses nothing else.

    One process, the *lead*, holds the run's schedule, ledger, progress bar
    and checkpoint: the only process locally, rank 0 under MPI. A new backend
    implements these five members and is added to `make_runner`.

    Attributes
    ----------
    backend : str
        Its name, as `Estimate.backend` reports it.
    workers : int
        How many workers count: the schedule sizes pieces for them.
    lead : bool
        Whether this process is the lead.
    """

    backend: str
    workers: int
    lead: bool

    def on_lead(self, make: Callable[[], T]) -> T | None:
        """``make()`` on the lead; its exception, if any, raised on every
        process. Returns its result on the lead, None elsewhere."""

    def run(self, schedule: Schedule | None, seed: int, tick: Callable[[], None]) -> None:
        """Count the pieces ``schedule`` deals (the lead's; None elsewhere)
        until the run is decided, reporting each finished piece to it, and
        call ``tick()`` on the lead every piece or so, from the thread that
        called run (for the progress bar and the checkpoint)."""

    def agree(self, values: tuple[float, ...] | None) -> tuple[float, ...]:
        """The lead's ``values`` (the result), on every process."""

    def abort(self, exc: BaseException, note: str) -> None:
        """Called on every process that is leaving the run with ``exc``,
        after the lead's final save: end whatever would otherwise wait for
        this process forever. ``note`` is the line that says how the run
        ended, for a runner that ends the process itself."""

    def close(self) -> None:
        """Release the workers (a pool the user brought stays open)."""


def count_piece(count: int, seed: int, start: int) -> tuple[int, float, float, str]:
    """The task a worker runs: the hits among points ``[start, start +
    count)``, when it counted them (see `timed_count`) and which worker it
    is (host, process and thread)."""
    hits, began, ended = timed_count(count, seed, start)
    thread = threading.current_thread()
    where = f"{_HOST}/{os.getpid()}"
    if thread is not threading.main_thread():
        where += f"/{thread.name}"
    return hits, began, ended, where


def timed_count(count: int, seed: int, start: int) -> tuple[int, float, float]:
    """``count_hits(count, seed, start)``, and when it began and ended: the
    wall clock at the start, which other processes can compare, and the
    start plus the time it took on the monotonic clock, which does not tick
    coarsely."""
    began, clock = time.time(), time.perf_counter()
    hits = count_hits(count, seed, start)
    return hits, began, began + (time.perf_counter() - clock)


_HOST = os.uname().nodename if hasattr(os, "uname") else "host"


def default_workers() -> int:
    """The CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def checked_result(result: object, piece: Span) -> tuple[int, float, float, str]:
    """A worker's answer for ``piece``, checked: hits in ``[0, count]``, two
    times in order and a worker name. An engine that reports a failure as a
    returned exception object (Ray's pool does) has it raised here, as
    itself."""
    if isinstance(result, BaseException):
        raise result
    try:
        hits, began, ended, worker = result  # type: ignore[misc]
        hits = index(hits, "hits")  # an engine may hand back a NumPy integer
        if not (0 <= hits <= piece.count and float(began) <= float(ended)
                and isinstance(worker, str)):
            raise ValueError
    except (TypeError, ValueError):
        raise RuntimeError(f"a worker returned {result!r} for a piece of {piece.count} "
                           "points") from None
    return hits, float(began), float(ended), worker


class _Local:
    """What the runners of a single process share: the lead is here, and a
    window of pieces is kept in flight on a pool."""

    lead = True

    def on_lead(self, make: Callable[[], T]) -> T:
        return make()

    def agree(self, values: tuple[float, ...] | None) -> tuple[float, ...]:
        assert values is not None
        return values

    def abort(self, exc: BaseException, note: str) -> None:
        pass

    def close(self) -> None:
        pass


class _Task:
    """One piece in flight, and the handle its pool gave back."""

    __slots__ = ("piece", "handle")

    def __init__(self, piece: Span) -> None:
        self.piece = piece
        self.handle: Any = None


def _submitter(pool: Any) -> tuple[Callable[[Span, int, Callable[[], None]], Any],
                                    Callable[[Any], object]]:
    """``submit(piece, seed, done)`` and ``result(handle)`` for a
    concurrent.futures executor (``submit``) or a multiprocessing-style pool
    (``apply_async``: multiprocessing's and Ray's). ``done`` is called once the
    task has finished, in whatever thread the pool uses."""
    if hasattr(pool, "submit"):
        def submit(piece: Span, seed: int, done: Callable[[], None]) -> Any:
            future = pool.submit(count_piece, piece.count, seed, piece.start)
            future.add_done_callback(lambda _: done())
            return future

        return submit, lambda future: future.result()

    def apply(piece: Span, seed: int, done: Callable[[], None]) -> Any:
        return pool.apply_async(count_piece, (piece.count, seed, piece.start),
                                callback=lambda _: done(), error_callback=lambda _: done())

    return apply, lambda handle: handle.get()


def _drive(pool: Any, schedule: Schedule, seed: int, window: int, tick: Callable[[], None],
           healthy: Callable[[], bool] = lambda: True) -> None:
    """Count ``schedule``'s pieces on ``pool``, keeping ``window`` in flight,
    until the run is decided; on any exit before that, cancel what has not
    started and give back to the schedule what was in flight.

    Finished tasks come through a queue that the pool's callbacks fill, not
    from concurrent.futures.wait: wait takes the lock of every pending future
    on each call, and a Ctrl-C between two of those acquisitions leaves locks
    held, so that shutting the pool down then hangs. While waiting,
    ``healthy()`` is asked every second; once it says no, the pool will never
    answer, and BrokenProcessPool is raised."""
    submit, result = _submitter(pool)
    finished: queue.SimpleQueue[_Task] = queue.SimpleQueue()
    inflight: set[_Task] = set()

    def refill() -> None:
        for piece in schedule.refill(window, time.perf_counter()):
            task = _Task(piece)
            inflight.add(task)  # before submitting: if that fails, it is given back
            task.handle = submit(piece, seed, lambda task=task: finished.put(task))

    try:
        refill()
        while inflight:
            try:
                task = finished.get(timeout=1.0)
            except queue.Empty:
                if not healthy():
                    raise BrokenProcessPool("the pool's manager thread has ended") from None
                continue
            hits, began, ended, worker = checked_result(result(task.handle), task.piece)
            inflight.discard(task)
            schedule.finish(task.piece, hits, began, ended, worker, time.perf_counter())
            refill()
            tick()
        if not schedule.done:
            raise RuntimeError("the schedule dealt no work and is not finished")  # a bug
    finally:
        # Leaving early (Ctrl-C, SIGTERM, a failure): pieces whose results are
        # already in are finished work, for the final save; the rest is given
        # back.
        for task in inflight:
            answer = _ready(task.handle)
            try:
                hits, began, ended, worker = checked_result(answer, task.piece)
            except BaseException:  # noqa: BLE001 - not ready, or not usable
                if hasattr(task.handle, "cancel"):
                    task.handle.cancel()
                schedule.lost(task.piece)
            else:
                schedule.finish(task.piece, hits, began, ended, worker, time.perf_counter())


def _ready(handle: Any) -> object:
    """The result behind a task's handle if it is already in, else None."""
    if isinstance(handle, Future):
        if handle.done() and not handle.cancelled() and handle.exception() is None:
            return handle.result()
    elif hasattr(handle, "ready") and handle.ready() and handle.successful():
        return handle.get()
    return None


class _Inline:
    """An executor that runs each task at once, in the calling thread."""

    def submit(self, fn: Callable[..., Any], /, *args: Any) -> Future:
        future: Future = Future()
        future.set_result(fn(*args))
        return future


class SerialRunner(_Local):
    """Counts pieces one after another in the calling thread."""

    backend = "serial"
    workers = 1

    def run(self, schedule: Schedule | None, seed: int, tick: Callable[[], None]) -> None:
        assert schedule is not None
        _drive(_Inline(), schedule, seed, 1, tick)


class ThreadRunner(_Local):
    """A thread pool; it scales because count_hits releases the GIL."""

    backend = "threads"

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.executor = ThreadPoolExecutor(workers, thread_name_prefix="pymcpi")

    def run(self, schedule: Schedule | None, seed: int, tick: Callable[[], None]) -> None:
        assert schedule is not None
        _drive(self.executor, schedule, seed, QUEUED_PER_WORKER * self.workers, tick)

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)


def _worker_start(driver: int, forked_by_driver: bool) -> None:
    """Worker initializer. Signals meant for the job (Ctrl-C at the terminal,
    a scheduler's SIGTERM to every process) are left to the driver, which
    saves what is finished and then ends the workers itself. And the worker
    ends when the driver dies, even by SIGKILL or the OOM killer, so that an
    interrupted run leaves no idle workers behind.

    A worker that the driver started itself asks Linux to kill it when its
    parent dies (PR_SET_PDEATHSIG). A worker of a fork server, whose parent is
    the server, watches the driver instead; the server then ends too, once its
    last worker is gone."""
    for name in ("SIGINT", "SIGTERM", "SIGHUP", "SIGUSR1"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_IGN)
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


class ProcessRunner(_Local):
    """Worker processes of the default multiprocessing context (fork, spawn or
    forkserver). The task is pymcpi's own `count_piece`, so it pickles under
    every start method, from scripts, REPLs and notebooks alike.

    A worker that dies (SIGKILL, the OOM killer) breaks the pool, and a killed
    fork server makes starting workers fail: either way a new pool is started
    (with a new server), the pieces that were in flight are dealt again first,
    and the run goes on; after `MAX_BROKEN` failures in a row without a piece
    finishing, it gives up with the last error as the cause.
    """

    backend = "processes"

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.context = multiprocessing.get_context()
        self.executor: ProcessPoolExecutor | None = None

    def run(self, schedule: Schedule | None, seed: int, tick: Callable[[], None]) -> None:
        assert schedule is not None
        broken = 0

        def ticked() -> None:
            nonlocal broken
            broken = 0  # a piece finished
            tick()

        while True:
            try:
                if self.executor is None:
                    self.executor = self._start()
                executor = self.executor
                _drive(executor, schedule, seed, QUEUED_PER_WORKER * self.workers, ticked,
                       lambda: _manager_alive(executor))
                return
            except (BrokenProcessPool, OSError, EOFError) as exc:
                # A dead worker breaks the pool; a dead fork server refuses
                # the connection (or closes it) when workers are started.
                broken += 1
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
            self.workers, mp_context=self.context, initializer=_worker_start,
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
        except BaseException as exc:
            unguarded = isinstance(exc, BrokenProcessPool) and _stopped_unguarded(executor)
            _terminate(executor)
            if unguarded:
                script = (getattr(sys.modules.get("__main__"), "__file__", None)
                          or "the main script")
                raise RuntimeError(
                    f"the worker processes stopped while importing {script}: under the "
                    f"{self.context.get_start_method()!r} start method every worker imports "
                    "the main script first, and this one calls estimate_pi(backend="
                    "'processes') at its top level, so each worker would start the run "
                    "again. Put the call under `if __name__ == \"__main__\":`") from None
            raise
        return executor

    def _stop(self) -> None:
        """End the pool now: no worker outlives it."""
        executor, self.executor = self.executor, None
        if executor is not None:
            _terminate(executor)

    def close(self) -> None:
        self._stop()


def _stopped_unguarded(executor: ProcessPoolExecutor) -> bool:
    """Whether a worker of ``executor`` ended with `UNGUARDED_STATUS`."""
    deadline = time.monotonic() + 1.0
    for process in list((getattr(executor, "_processes", None) or {}).values()):
        if process.exitcode is None:  # a worker that has just ended is reaped in moments
            process.join(max(deadline - time.monotonic(), 0.0))
        if process.exitcode == UNGUARDED_STATUS:
            return True
    return False


def _check_processes_can_start() -> None:
    """Refuse backend="processes" where its workers cannot start.

    In a new worker process that is importing the main script (under spawn
    and forkserver every worker does, before it runs anything), a call of
    estimate_pi there is one that the script makes at its top level, not
    under ``if __name__ == "__main__":``: the worker says so in one line and
    ends with `UNGUARDED_STATUS`, which its driver recognises, instead of
    starting workers of its own (the standard library's long error, once per
    worker and per attempt). And a daemonic process (a worker of a
    multiprocessing.Pool) may not have children at all."""
    process = multiprocessing.current_process()
    if getattr(process, "_inheriting", False):
        sys.stderr.write(
            "pymcpi: error: a new worker process, importing the main script, reached "
            "estimate_pi(backend='processes'): the call belongs under "
            "`if __name__ == \"__main__\":`\n")
        sys.stderr.flush()
        # os._exit: a fork server's child turns SystemExit into status 1.
        os._exit(UNGUARDED_STATUS)
    if process.daemon:
        raise RuntimeError(
            f"backend='processes' cannot start worker processes from {process.name}: it is "
            "a daemonic process, such as a worker of a multiprocessing.Pool, and those may "
            "not have children. Use backend='threads' there (the kernel releases the GIL, "
            "so threads use every core), or run the outer work on a "
            "concurrent.futures.ProcessPoolExecutor, whose workers may start processes")


def _manager_alive(executor: ProcessPoolExecutor) -> bool:
    """Whether the pool's manager thread, which hands out work and collects
    results, still runs (a thread that failed to start its own queue thread
    ends with an exception, and the pool then never answers)."""
    thread = getattr(executor, "_executor_manager_thread", None)
    return thread is None or thread.is_alive()


def _terminate(executor: ProcessPoolExecutor) -> None:
    # The executor has no public way to stop running tasks; its worker
    # processes are in _processes on every Python version pymcpi supports.
    # SIGKILL: the workers ignore SIGTERM (see _worker_start).
    for process in list((getattr(executor, "_processes", None) or {}).values()):
        process.kill()
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
    if _is_dask_client(pool):
        client = pool
    if client is not None and hasattr(client, "nthreads"):
        total = sum(client.nthreads().values())
        return total if total > 0 else None
    actors = getattr(pool, "_actor_pool", None)  # ray.util.multiprocessing.Pool
    if isinstance(actors, list) and actors:
        return len(actors)
    return None


class PoolRunner(_Local):
    """A pool the user owns: a multiprocessing.Pool (or Ray's), a
    concurrent.futures executor (Dask's ``client.get_executor()``, loky's,
    ``mpi4py.futures.MPIPoolExecutor``). It is used, not closed.

    Every worker is kept busy: the window of pieces in flight is
    `QUEUED_PER_WORKER` times ``workers`` if given, else the pool's size where
    the pool can tell it (`pool_size`), else `UNKNOWN_POOL_WINDOW`. A Dask
    ``Client`` is used through its executor, ``client.get_executor()``.

    ``workers`` is that number, except for a pool of unknown size: the
    schedule sizes pieces for `UNKNOWN_POOL_WINDOW` workers, and after the
    run ``workers`` is the number of distinct workers that counted pieces
    (each answer names its worker), so that `Estimate.workers` does not
    report the window as a worker count.
    """

    backend = "pool"

    def __init__(self, pool: Any, workers: int | None) -> None:
        if _is_dask_client(pool):
            pool = pool.get_executor()
        if not (hasattr(pool, "submit") or hasattr(pool, "apply_async")):
            raise TypeError(
                "pool must be a multiprocessing.Pool or a concurrent.futures.Executor "
                f"(anything with submit or apply_async), not {type(pool).__name__}; for "
                "Dask: pool=client.get_executor(), for Ray: "
                "pool=ray.util.multiprocessing.Pool()"
            )
        self.pool = pool
        size = workers or pool_size(pool)
        self.sized = size is not None
        self.workers = size or UNKNOWN_POOL_WINDOW
        self.window = QUEUED_PER_WORKER * size if size else UNKNOWN_POOL_WINDOW

    def run(self, schedule: Schedule | None, seed: int, tick: Callable[[], None]) -> None:
        assert schedule is not None
        try:
            _drive(self.pool, schedule, seed, self.window, tick)
        finally:
            if not self.sized:
                self.workers = max(len(schedule.pace.rates), 1)  # the workers seen


def _is_dask_client(pool: Any) -> bool:
    """Whether ``pool`` is a Dask ``distributed.Client`` (without importing
    Dask)."""
    return (type(pool).__module__.split(".")[0] == "distributed"
            and callable(getattr(pool, "get_executor", None)))


class MPIRunner:
    """MPI ranks of ``comm``, called collectively.

    Rank 0 holds the schedule. Every rank, rank 0 included, counts a piece,
    hands it in and asks for the next (`schedule.Desk`), so a rank that is
    three times slower counts a third as much and all ranks finish together.
    Rank 0 answers the other ranks from a service thread while its main
    thread counts; where MPI gives no thread support for that, rank 0 only
    serves. A request and its answer are fixed-size uint64 buffers: the
    finished piece (start, count, hits, its times in nanoseconds, how long
    the rank waited for it, and a signal number if the rank must stop) and
    the next piece (start, count; count 0 means the run is over, start
    `STOPPED` that the job is stopping on the signal in count). Rank 0 hears
    of every finished piece at once, so its progress bar and checkpoint are
    never more than a piece behind any rank; every other rank keeps O(1)
    state.

    A signal (Ctrl-C, SIGTERM) stops the job without MPI_Abort, which a
    launcher such as srun reports as a kill: rank 0 saves, then answers
    every request with `STOPPED` until each rank has asked or said it is
    stopping, and every rank leaves with the signal's exit status. Only a
    rank that does not ask within `STOP_WAIT` seconds (a piece longer than
    that) makes rank 0 end the job with MPI_Abort.
    """

    backend = "mpi"
    ASK, ANSWER = 1, 2  # message tags
    STOPPED = (1 << 64) - 1  # an answer's start: the job is stopping; no piece starts there
    # Seconds rank 0 waits for every rank to hear that the job is stopping,
    # within the 30 s that Slurm allows between SIGTERM and SIGKILL.
    STOP_WAIT = 20.0
    POLL = 0.001  # seconds rank 0's service sleeps between looks for a request

    def __init__(self, comm: Any) -> None:
        try:
            from mpi4py import MPI  # only now: importing it initialises MPI
        except ImportError as exc:
            raise ImportError(
                'backend="mpi" needs mpi4py: pip install ".[mpi]" in a clone of pymcpi '
                f'(pip install "pymcpi[mpi]" once released) ({exc})', name="mpi4py") from exc
        if comm is None:
            comm = MPI.COMM_WORLD
            check_world(comm.Get_size())
        self.MPI = MPI
        self.comm = comm
        self.rank = comm.Get_rank()
        self.workers = comm.Get_size()
        self.lead = self.rank == 0
        self.threaded = MPI.Query_thread() >= MPI.THREAD_MULTIPLE
        # Rank 0's service: the desk, its thread, and once the job is
        # stopping, the signal and the ranks that know.
        self._desk: Desk | None = None
        self._service: threading.Thread | None = None
        self._lock = threading.Lock()
        self._stopping = 0
        self._gone: set[int] = set()
        self._told = 0  # ranks told that the run is over
        self._mine: list[Span | None] = []  # the desk's answer to rank 0
        self._ready = threading.Condition(self._lock)
        self._stopped = False  # every rank heard that the job is stopping
        self._interrupting = False  # a rank's signal was passed to the main thread

    def on_lead(self, make: Callable[[], T]) -> T | None:
        result: T | None = None
        error: BaseException | None = None
        if self.lead:
            try:
                result = make()
            except (OSError, ValueError, TypeError) as exc:
                error = exc
        error = self.comm.bcast(error, root=0)  # once per run, and small
        if error is not None:
            raise error
        return result

    def agree(self, values: tuple[float, ...] | None) -> tuple[float, ...]:
        return tuple(self.comm.bcast(values, root=0))

    def run(self, schedule: Schedule | None, seed: int, tick: Callable[[], None]) -> None:
        if self.workers == 1:
            assert schedule is not None
            _drive(_Inline(), schedule, seed, 1, tick)
        elif self.lead:
            assert schedule is not None
            self._lead(Desk(schedule), seed, tick)
        else:
            self._follow(seed)

    def _follow(self, seed: int) -> None:
        """A rank other than 0: ask, count, hand in, until told to stop."""
        import numpy as np

        from .signals import Terminated

        ask = np.zeros(7, dtype=np.uint64)  # start, count, hits, began, ended, waited, signal
        answer = np.zeros(2, dtype=np.uint64)  # start, count
        while True:
            asked = time.perf_counter()
            self.comm.Send(ask, dest=0, tag=self.ASK)
            self.comm.Recv(answer, source=0, tag=self.ANSWER)
            waited = time.perf_counter() - asked
            start, count = int(answer[0]), int(answer[1])
            if start == self.STOPPED:
                self._gone.add(self.rank)  # rank 0 knows: nothing to send when leaving
                raise KeyboardInterrupt if count == signal.SIGINT else Terminated(count)
            if count == 0:
                return
            hits, began, ended = timed_count(count, seed, start)
            ask[:] = (start, count, hits, int(began * 1e9), int(ended * 1e9), int(waited * 1e9), 0)

    def _send(self, answers: list[tuple[int, Span | None]]) -> None:
        """Send the desk's answers (with the lock held): rank 0's own to the
        waiting main thread, the others' as MPI messages."""
        import numpy as np

        for rank, piece in answers:
            if rank == 0:
                self._mine.append(piece)
                self._ready.notify_all()
                continue
            buffer = np.array((0, 0) if piece is None else (piece.start, piece.count),
                              dtype=np.uint64)
            self.comm.Send(buffer, dest=rank, tag=self.ANSWER)
            if piece is None:
                self._told += 1
                self._ready.notify_all()

    def _lead(self, desk: Desk, seed: int, tick: Callable[[], None]) -> None:
        """Rank 0: a service thread answers the other ranks while this
        thread counts pieces of its own through the same desk."""
        import numpy as np

        self._desk = desk
        try:
            self._count_and_serve(desk, seed, tick)
        except KeyboardInterrupt as exc:  # Ctrl-C, or Terminated
            from .signals import Terminated, ignored

            with ignored():  # a second signal must not cut this short
                if desk.schedule.done:
                    # Too late to stop: the answer is decided, and the other
                    # ranks are leaving for the end of the run.
                    self._finish_service(lambda: None)
                    return
                # Before the final save: the pieces the ranks hand in while
                # they hear of it are saved too.
                self._stopped = self._stop_job(exc.signum if isinstance(exc, Terminated)
                                               else int(signal.SIGINT))
            raise

    def _count_and_serve(self, desk: Desk, seed: int, tick: Callable[[], None]) -> None:
        if not self.threaded:
            while self._told < self.workers - 1:  # rank 0 only serves
                self._serve_one()
            return
        failed: list[BaseException] = []

        def serve() -> None:
            try:
                while self._serve_one():
                    pass
            except BaseException as exc:  # noqa: BLE001 - raised again in the main thread
                with self._lock:
                    failed.append(exc)
                    self._ready.notify_all()

        def wait_for(condition: Callable[[], bool]) -> None:
            # Other ranks' pieces keep coming while rank 0 waits: its
            # progress bar and checkpoint keep up with them.
            while True:
                with self._lock:
                    if not (condition() or failed):
                        self._ready.wait(0.1)
                    if condition() or failed:
                        break
                tick()
            if failed:
                raise failed[0]

        self._service = threading.Thread(target=serve, name="pymcpi-mpi-desk", daemon=True)
        self._service.start()
        finished = None
        while True:
            asked = time.perf_counter()
            with self._lock:
                self._send(desk.ask(0, asked, finished))
            wait_for(lambda: bool(self._mine))
            piece = self._mine.pop()
            if piece is None:
                break
            waited = time.perf_counter() - asked
            hits, began, ended = timed_count(piece.count, seed, piece.start)
            finished = (piece, hits, began, ended, waited)
            tick()
        self._finish_service(tick)
        if failed:
            raise failed[0]

    def _finish_service(self, tick: Callable[[], None]) -> None:
        """Once the run is decided: wait until every other rank has been
        told (each is, when it asks next), then end the service thread,
        which has nothing left to receive but rank 0's own message."""
        while True:
            with self._lock:
                if self._told == self.workers - 1 or not (
                        self._service is not None and self._service.is_alive()):
                    break
                self._ready.wait(0.1)
            tick()
        self._wake_service()

    def _wake_service(self) -> None:
        """End the service thread: it ends on a message from rank 0 itself."""
        import numpy as np

        if self._service is not None and self._service.is_alive():
            self.comm.Send(np.zeros(7, dtype=np.uint64), dest=0, tag=self.ASK)
            self._service.join()

    def _serve_one(self) -> bool:
        """Answer one request; False for rank 0's own last message, which
        ends the service. A rank that must stop (a signal reached it alone)
        says so in its request; rank 0 then stops the job as if the signal
        had reached it. While the job is stopping, every request is answered
        with `STOPPED`."""
        import _thread

        import numpy as np

        request = np.zeros(7, dtype=np.uint64)
        status = self.MPI.Status()
        # A blocking receive spins in many MPIs, taking half the core that
        # rank 0 counts on; polling with short sleeps costs next to nothing,
        # and a busy desk finds a request waiting at every poll.
        while not self.comm.Iprobe(source=self.MPI.ANY_SOURCE, tag=self.ASK, status=status):
            time.sleep(self.POLL)
        rank = status.Get_source()
        self.comm.Recv(request, source=rank, tag=self.ASK)
        if rank == 0:
            return False
        start, count, hits, began, ended, waited, signum = map(int, request)
        finished = None
        if count:
            finished = (Span(start, start + count), hits, began / 1e9, ended / 1e9,
                        waited / 1e9)
        assert self._desk is not None
        with self._lock:
            if signum or self._stopping:
                if finished is not None:  # saved with the rest
                    piece, hits, began, ended, waited = finished
                    self._desk.schedule.finish(piece, hits, began, ended, rank,
                                               time.perf_counter(), waited)
                if not signum:
                    self._tell_stopping(rank)
                self._gone.add(rank)
                self._ready.notify_all()
                if not (self._stopping or self._interrupting):
                    self._interrupting = True  # once: the main thread is stopping the job
                    _thread.interrupt_main(signum)
                return True
            self._send(self._desk.ask(rank, time.perf_counter(), finished))
        return True

    def _tell_stopping(self, rank: int) -> None:
        import numpy as np

        self.comm.Send(np.array((self.STOPPED, self._stopping), dtype=np.uint64), dest=rank,
                       tag=self.ANSWER)

    def _stop_job(self, signum: int) -> bool:
        """Rank 0: tell every rank that the job is stopping, as each asks
        (handing in its last piece); whether all knew within `STOP_WAIT`."""
        with self._lock:
            self._stopping = signum
            if self._desk is not None:
                while self._desk.waiting:  # ranks waiting for the round's end
                    rank = self._desk.waiting.popleft()
                    if rank != 0:
                        self._tell_stopping(rank)
                        self._gone.add(rank)
        deadline = time.monotonic() + self.STOP_WAIT
        others = set(range(1, self.workers))
        while not others <= self._gone and time.monotonic() < deadline:
            if self._service is not None and self._service.is_alive():
                time.sleep(0.01)
            elif self.comm.Iprobe(source=self.MPI.ANY_SOURCE, tag=self.ASK):
                self._serve_one()
            else:
                time.sleep(self.POLL)
        self._wake_service()
        return others <= self._gone

    def abort(self, exc: BaseException, note: str) -> None:
        """Leave the run with ``exc`` without leaving another rank waiting
        forever. A signal stops the whole job (see the class notes); any
        other error prints its traceback and ends the job with MPI_Abort."""
        if self.workers == 1:
            return
        import numpy as np

        from .signals import Terminated, exit_status, ignored

        interrupted = isinstance(exc, KeyboardInterrupt)
        signum = (exc.signum if isinstance(exc, Terminated) else int(signal.SIGINT))
        with ignored():
            if interrupted and not self.lead:
                if self.rank not in self._gone:  # rank 0 does not know yet
                    stop = np.array((0, 0, 0, 0, 0, 0, signum), dtype=np.uint64)
                    self.comm.Send(stop, dest=0, tag=self.ASK)
                return
            if interrupted and self._stopped:
                return
            if interrupted:
                sys.stderr.write(note + "\n")  # the job ends here: one line for it
            else:
                sys.stderr.write(f"pymcpi: rank {self.rank} of {self.workers} failed:\n"
                                 + "".join(traceback.format_exception(exc)))
            sys.stderr.flush()
            time.sleep(0.5)  # let the launcher forward it before the job ends
            # MPI_Abort prints a line of its own on some MPIs; the job's
            # line, or the failure, has been said.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 2)
            self.comm.Abort(exit_status(exc))

    def close(self) -> None:
        pass


POOL_FORMS = ("pool=multiprocessing.Pool(), any concurrent.futures executor, "
              "client.get_executor() for Dask, ray.util.multiprocessing.Pool() for Ray")

# What a backend name that is not one means: engines that come in through pool=.
_DASK = ("Dask is used through pool=: estimate_pi(n, pool=client.get_executor()), with "
         "client = distributed.Client(...)")
_RAY = ("Ray is used through pool=: estimate_pi(n, pool=ray.util.multiprocessing.Pool()), "
        "after ray.init()")
_LOKY = ("loky is used through pool=: estimate_pi(n, pool=loky.get_reusable_executor())")
_MULTIPROCESSING = ("worker processes are backend='processes'; a multiprocessing.Pool of "
                    "your own goes in pool=")
_MPI4PY = ("MPI ranks are backend='mpi' (every rank calls); an "
           "mpi4py.futures.MPIPoolExecutor goes in pool=")
_EXECUTOR = "an executor of your own goes in pool=: estimate_pi(n, pool=executor)"
ENGINE_HINTS = {
    "dask": _DASK, "distributed": _DASK, "dask.distributed": _DASK,
    "ray": _RAY,
    "loky": _LOKY, "joblib": _LOKY,
    "multiprocessing": _MULTIPROCESSING, "process": _MULTIPROCESSING,
    "processpool": _MULTIPROCESSING, "processpoolexecutor": _MULTIPROCESSING,
    "thread": "threads are backend='threads'", "threading": "threads are backend='threads'",
    "threadpool": "threads are backend='threads'",
    "mpi4py": _MPI4PY, "mpi4py.futures": _MPI4PY, "mpipoolexecutor": _MPI4PY,
    "executor": _EXECUTOR, "futures": _EXECUTOR, "concurrent.futures": _EXECUTOR,
}


def make_runner(backend: str | None, workers: int | None, pool: Any, comm: Any) -> Runner:
    """The runner for estimate_pi's arguments, after checking them."""
    if backend is None:
        backend = "pool" if pool is not None else "mpi" if comm is not None else "serial"
    if not isinstance(backend, str) or backend not in BACKENDS + ("pool",):
        hint = ENGINE_HINTS.get(backend.lower(), "") if isinstance(backend, str) else ""
        raise ValueError(f"backend must be one of {', '.join(map(repr, BACKENDS))}, "
                         f"got {backend!r}" + (f"; {hint}" if hint else ""))
    if workers is not None:
        workers = index(workers, "workers", least=1)
    if backend == "pool" and pool is None:
        raise ValueError("backend='pool' is what pool= implies; pass the pool itself instead: "
                         f"{POOL_FORMS}")
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
        _check_processes_can_start()
        return ProcessRunner(workers or default_workers())
    if backend == "pool":
        return PoolRunner(pool, workers)
    if workers is not None:
        raise ValueError("backend='mpi' has one worker per rank; set it with mpiexec -n")
    return MPIRunner(comm)
