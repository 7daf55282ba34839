"""The estimate of pi and its uncertainty."""

from __future__ import annotations

import math
import os
import sys
import time
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Any

from .backends import Runner, make_runner
from .checkpoint import Checkpoint
from . import checks
from .engine import Ledger, round_edges
from .launcher import launched_ranks
from .schedule import Schedule, TraceRecord
from .signals import describe, handled

__all__ = ["Estimate", "estimate_pi"]


@dataclass(frozen=True)
class Estimate:
    """An estimate of pi from ``hits`` of ``n`` points of seed ``seed``'s stream.

    Attributes
    ----------
    n : int
        Points sampled.
    hits : int
        Points inside the quarter circle.
    seed : int
        The stream's seed.
    elapsed : float
        Wall-clock seconds the sampling took.
    backend : str
        What did the work, ``"serial"`` for the calling thread.
    workers : int
        How many workers shared it; for a pool that cannot tell its size
        (and no ``workers=``), how many distinct workers counted pieces.
    tol : float or None
        The precision target the run was given: the largest half-width of the
        confidence interval it asked for; None when it had none.
    confidence : float
        The confidence level of the run's interval: the level ``tol`` refers to,
        and the one ``str()`` shows.

    trace : tuple of TraceRecord or None
        With ``estimate_pi(..., trace=True)``, one record per piece: which
        worker counted which span of the stream, and when (seconds from the
        start of the run). Not compared, not in ``repr`` or ``to_dict``.

    ``pi``, ``stderr`` and ``target_met`` are derived from the fields.
    Estimates are immutable, compare by value and pickle, so they can travel
    between processes.
    """

    n: int
    hits: int
    seed: int
    elapsed: float = 0.0
    backend: str = "serial"
    workers: int = 1
    tol: float | None = None
    confidence: float = 0.95
    trace: tuple[TraceRecord, ...] | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        # NumPy integers become int, and so on: the fields hold plain values.
        object.__setattr__(self, "n", checks.index(self.n, "n", least=1))
        object.__setattr__(self, "hits", checks.index(self.hits, "hits", least=None))
        if not 0 <= self.hits <= self.n:
            raise ValueError(f"hits must be in [0, n], got hits={self.hits}, n={self.n}")
        object.__setattr__(self, "seed", checks.index(self.seed, "seed", below=checks.STREAM))
        object.__setattr__(self, "workers", checks.index(self.workers, "workers", least=1))
        if not checks.real(self.elapsed, "elapsed") >= 0:
            raise ValueError(f"elapsed must be >= 0 seconds, got {self.elapsed!r}")
        object.__setattr__(self, "elapsed", float(self.elapsed))
        if not isinstance(self.backend, str) or not self.backend:
            raise TypeError(f"backend must be a non-empty str, got {self.backend!r}")
        if self.tol is not None:
            object.__setattr__(self, "tol", checks.positive(self.tol, "tol"))
        object.__setattr__(self, "confidence", checks.level(self.confidence, "confidence"))

    @property
    def pi(self) -> float:
        """The estimate ``4 * hits / n``."""
        return 4.0 * self.hits / self.n

    @property
    def stderr(self) -> float:
        """The estimated standard error of ``pi``: ``4 * sqrt(p (1 - p) / n)``
        with ``p = hits / n``."""
        p = self.hits / self.n
        return 4.0 * math.sqrt(p * (1.0 - p) / self.n)

    @property
    def half_width(self) -> float:
        """Half the width of the confidence interval at the run's own
        ``confidence``: the precision that ``tol`` asks for."""
        low, high = self.ci(self.confidence)
        return (high - low) / 2

    @property
    def target_met(self) -> bool | None:
        """Whether ``half_width <= tol``; None when the run had no target.

        False means the budget ``n`` ran out first: more points are needed
        for the precision asked for.
        """
        return None if self.tol is None else self.half_width <= self.tol

    def ci(self, level: float = 0.95) -> tuple[float, float]:
        """Return the confidence interval ``(low, high)`` for pi.

        Parameters
        ----------
        level : float, optional
            Confidence level, strictly between 0 and 1; ``str()`` and
            ``half_width`` use the run's own ``confidence``.

        Notes
        -----
        The Wilson score interval for the binomial proportion ``hits / n``,
        scaled by 4. Unlike the plain normal interval ``pi +- z * stderr`` it
        keeps its coverage for small ``n`` and does not collapse to a point
        when ``hits`` is 0 or ``n``; for large ``n`` the two agree.
        """
        z = NormalDist().inv_cdf(0.5 + checks.level(level, "level") / 2.0)
        n, p = self.n, self.hits / self.n
        shrink = 1.0 + z * z / n
        centre = (p + z * z / (2 * n)) / shrink
        half = z / shrink * math.sqrt(p * (1.0 - p) / n + z * z / (4 * n * n))
        low = 0.0 if self.hits == 0 else max(centre - half, 0.0)
        high = 1.0 if self.hits == n else min(centre + half, 1.0)
        return (4.0 * low, 4.0 * high)

    def to_dict(self) -> dict[str, object]:
        """Return a JSON-serialisable dict with the keys ``pi, stderr, n, hits,
        seed, backend, workers, elapsed_s, tol, confidence, target_met``
        (``tol`` and ``target_met`` are None without a target)."""
        return {
            "pi": self.pi,
            "stderr": self.stderr,
            "n": self.n,
            "hits": self.hits,
            "seed": self.seed,
            "backend": self.backend,
            "workers": self.workers,
            "elapsed_s": self.elapsed,
            "tol": self.tol,
            "confidence": self.confidence,
            "target_met": self.target_met,
        }

    def __repr__(self) -> str:
        target = "" if self.tol is None else f", tol={self.tol!r}, target_met={self.target_met}"
        level = "" if self.confidence == 0.95 else f", confidence={self.confidence!r}"
        return (
            f"Estimate(pi={self.pi!r}, stderr={self.stderr:.3g}, n={self.n}, "
            f"hits={self.hits}, seed={self.seed}, elapsed={self.elapsed:.3g}, "
            f"backend={self.backend!r}, workers={self.workers}{target}{level})"
        )

    def __str__(self) -> str:
        low, high = self.ci(self.confidence)
        missed = "" if self.target_met is not False else f"; target tol={self.tol:g} not met"
        return (
            f"pi ~= {self.pi:.10f} +- {self.stderr:.2g} "
            f"({100 * self.confidence:g}% CI [{low:.10f}, {high:.10f}]; "
            f"n={self.n:,}, seed={self.seed}{missed})"
        )


def estimate_pi(
    n: int,
    *,
    seed: int = 0,
    backend: str | None = None,
    workers: int | None = None,
    pool: Any = None,
    comm: Any = None,
    progress: bool = False,
    tol: float | None = None,
    confidence: float = 0.95,
    checkpoint: str | os.PathLike[str] | None = None,
    trace: bool = False,
) -> Estimate:
    """Estimate pi from points ``[0, n)`` of seed ``seed``'s stream.

    Whatever the backend and the number of workers, the same ``(n, seed)``
    gives the same ``hits``, bit for bit: the run is the range ``[0, n)`` of
    the stream, dealt out in pieces to whichever worker is free, and the
    counts are added exactly. Memory does not grow with ``n``, up to
    ``2**64 - 1``.

    Parameters
    ----------
    n : int
        Number of points, at least 1; with ``tol``, the most that may be used.
    seed : int, optional
        The stream's seed, ``0 <= seed < 2**64``.
    backend : {"serial", "threads", "processes", "mpi"}, optional
        Who counts. ``"serial"``: the calling thread (the default).
        ``"threads"``: a thread pool, which scales because the kernel releases
        the GIL. ``"processes"``: worker processes of the default
        multiprocessing start method; works from scripts, REPLs and notebooks,
        and recovers from a killed worker. ``"mpi"``: the ranks of ``comm``;
        every rank must call, and every rank gets the same Estimate. Passing
        ``pool`` or ``comm`` alone is enough. With none of the three, a
        process that an MPI launcher started as one of several ranks
        (``mpiexec -n 4``, ``srun``) raises ValueError rather than repeat the
        whole run on every rank: pass ``backend="mpi"`` to share it, or
        ``backend="serial"`` to count on one rank alone.
    workers : int, optional
        Threads or processes; default: the CPUs this process may use. With
        ``pool``, the number of its workers, for a pool that cannot tell it
        (pieces in flight are 2 per worker, else 256); without it, such a
        pool's `Estimate.workers` is the number of distinct workers that
        counted pieces, never the 256.
    pool : multiprocessing.Pool or concurrent.futures.Executor, optional
        A pool you own, used and left open: also Dask's
        ``client.get_executor()`` (or the ``Client`` itself, used through
        it, with its real worker count ``client.nthreads()``),
        ``ray.util.multiprocessing.Pool``, loky's executors and
        ``mpi4py.futures.MPIPoolExecutor``. Dask, Ray and loky have no
        ``backend`` name: they come in through ``pool``.
    comm : mpi4py.MPI.Comm, optional
        The communicator for ``backend="mpi"``; default ``COMM_WORLD``.
        mpi4py is imported only by this backend.
    progress : bool, optional
        Show a progress bar (tqdm) on stderr; under MPI, on rank 0 only.
    tol : float, optional
        Stop once the confidence interval's half-width is at most ``tol``,
        or after ``n`` points. Rounds that double the points so far, with
        edges that depend on ``n`` alone, are checked in order, so the final
        ``n`` and ``hits`` are the same on every backend.
    confidence : float, optional
        Confidence level of the interval ``tol`` refers to.
    checkpoint : str or os.PathLike, optional
        A JSON file that records the finished ranges with a checksum,
        replaced atomically as the run goes (at most about 1% of the time).
        Running the same call again after Ctrl-C, SIGTERM, a kill or a crash
        resumes, on any backend and number of workers or ranks, and gives
        exactly the uninterrupted answer. A checkpoint of other parameters,
        or a damaged one, raises ValueError and is kept; one that cannot be
        written raises before any counting.
    trace : bool, optional
        Record which worker counted which piece, and when, in
        ``Estimate.trace`` (under MPI, on rank 0).

    Returns
    -------
    Estimate
        With ``elapsed`` summed over resumed runs, and ``tol`` and
        ``confidence`` as given: ``target_met`` is False when the budget ran
        out before the target was reached.

    Raises
    ------
    KeyboardInterrupt
        On Ctrl-C, and as `pymcpi.Terminated` on SIGTERM, SIGHUP or SIGUSR1
        (called from the main thread; the previous handlers are restored
        after), once the finished work is saved to ``checkpoint``.

    Examples
    --------
    >>> est = estimate_pi(10**10, seed=7, backend="processes", progress=True)
    >>> est = estimate_pi(10**12, tol=1e-5, confidence=0.99, backend="threads")
    """
    n = checks.index(n, "n", least=1, below=checks.STREAM)
    seed = checks.index(seed, "seed", below=checks.STREAM)
    if tol is not None:
        tol = checks.positive(tol, "tol")  # NumPy scalars and Fractions become floats
    confidence = checks.level(confidence, "confidence")
    _refuse_repeats(backend, pool, comm)
    runner = make_runner(backend, workers, pool, comm)
    try:
        with handled():
            return _run(n, seed, runner, progress, tol, confidence, checkpoint, trace)
    except BaseException as exc:
        runner.abort(exc, describe(exc, checkpoint))
        raise
    finally:
        runner.close()


def _run(n: int, seed: int, runner: Runner, progress: bool, tol: float | None,
         confidence: float, checkpoint_path: str | os.PathLike[str] | None,
         trace: bool) -> Estimate:
    """Count ``[0, n)`` round by round (one round without ``tol``): the lead
    holds the schedule, the checkpoint and the progress bar, and every
    process counts what the schedule deals."""
    begin = time.perf_counter()
    started = time.time()
    edges = round_edges(n, growing=tol is not None)
    saved = None
    if checkpoint_path is not None:
        params = {"n": n, "seed": seed, "tol": tol,
                  "confidence": confidence if tol is not None else None}
        saved = runner.on_lead(lambda: Checkpoint(checkpoint_path, params, edges))
    if not runner.lead:
        runner.run(None, seed, lambda: None)
        used, hits, elapsed = runner.agree(None)
        return Estimate(n=int(used), hits=int(hits), seed=seed, elapsed=elapsed,
                        backend=runner.backend, workers=runner.workers,
                        tol=tol, confidence=confidence)

    def met(points: int, hits: int) -> bool:
        return bool(Estimate(n=points, hits=hits, seed=seed, tol=tol,
                             confidence=confidence).target_met)

    ledger = Ledger(n, edges, saved.ranges if saved else ())
    previous = saved.elapsed if saved else 0.0
    schedule = Schedule(ledger, edges, runner.workers, met if tol is not None else None, trace)
    bar = _progress_bar(n, ledger.points, progress)
    shown = ledger.points

    def show() -> None:
        nonlocal shown
        if bar is not None:
            points = schedule.points
            bar.update(points - shown)
            shown = points

    def tick() -> None:
        show()
        if saved is not None and saved.due():
            saved.save(schedule.snapshot, previous + time.perf_counter() - begin, every=True)

    try:
        runner.run(schedule, seed, tick)
    finally:
        elapsed = previous + time.perf_counter() - begin  # as saved, so reruns add to it
        if saved is not None:
            saved.save(schedule.snapshot, elapsed)
        if bar is not None:
            show()
            bar.close()
    assert schedule.result is not None
    used, hits = schedule.result
    runner.agree((used, hits, elapsed))
    records = None
    if schedule.records is not None:
        records = tuple(r._replace(began=r.began - started, ended=r.ended - started)
                        for r in schedule.records)
    return Estimate(n=used, hits=hits, seed=seed, elapsed=elapsed, backend=runner.backend,
                    workers=runner.workers, tol=tol, confidence=confidence, trace=records)


def _refuse_repeats(backend: str | None, pool: Any, comm: Any) -> None:
    """Raise ValueError when no backend was chosen and an MPI launcher started
    this process as one of several ranks: every rank would silently count the
    whole run. Choosing ``"mpi"`` here instead would hang wherever only some
    ranks call (rank 0 of an ``mpi4py.futures`` job, an ``if rank == 0:``
    block), so the caller is asked to say which is meant."""
    if backend is None and pool is None and comm is None:
        ranks = launched_ranks()
        if ranks > 1:
            raise ValueError(
                f"this process is one of {ranks} MPI ranks and no backend was chosen, so "
                "every rank would count all n points: pass backend='mpi' to share the run "
                "(every rank must call), or backend='serial' to count on this rank alone")


def _progress_bar(total: int, initial: int, show: bool) -> Any:
    if not show:
        return None
    from tqdm import tqdm  # type: ignore[import-untyped]

    return tqdm(total=total, initial=initial, unit="pt", unit_scale=True,
                file=sys.stderr, smoothing=0.1, dynamic_ncols=True)
