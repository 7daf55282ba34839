"""The estimate of pi and its uncertainty."""

from __future__ import annotations

import bisect
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
from .signals import describe, handled, ignored

__all__ = ["Estimate", "estimate_pi"]

# How confidence holds for a run that tol may stop early: see estimate_pi.
COVERAGES = ("nominal", "guaranteed")


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
        The confidence level asked for: that of the run's interval, which
        ``tol`` refers to and ``str()`` shows; with ``checks`` above 1, that
        of all the checks together (see ``level``).

    trace : tuple of TraceRecord or None
        With ``estimate_pi(..., trace=True)``, one record per piece: which
        worker counted which span of the stream, and when (seconds from the
        start of the run). Not compared, not in ``repr`` or ``to_dict``.
    checks : int
        1, or with ``estimate_pi(..., tol=..., coverage="guaranteed")`` the
        number of round ends at which the target could be checked, among
        which ``1 - confidence`` is shared: each check, and the run's
        interval, is then at ``level = 1 - (1 - confidence) / checks``.

    ``pi``, ``stderr``, ``level``, ``half_width`` and ``target_met`` are
    derived from the fields.
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
    checks: int = 1

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
        object.__setattr__(self, "checks", checks.index(self.checks, "checks", least=1))

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
    def level(self) -> float:
        """The level of the run's own interval (``str()``, ``half_width``,
        ``target_met``): ``confidence``, or ``1 - (1 - confidence) / checks``
        when the run shared it among its checks (``coverage="guaranteed"``),
        so that all of them together hold at ``confidence``."""
        if self.checks == 1:
            return self.confidence
        return 1.0 - (1.0 - self.confidence) / self.checks

    @property
    def half_width(self) -> float:
        """Half the width of the confidence interval at the run's own
        ``level``: the precision that ``tol`` asks for."""
        low, high = self.ci(self.level)
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
            ``half_width`` use the run's own ``level``.

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
        (``tol`` and ``target_met`` are None without a target), and
        ``checks`` and ``level`` after them when ``checks`` is above 1."""
        shared = {} if self.checks == 1 else {"checks": self.checks, "level": self.level}
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
            **shared,
        }

    def __repr__(self) -> str:
        target = "" if self.tol is None else f", tol={self.tol!r}, target_met={self.target_met}"
        level = "" if self.confidence == 0.95 else f", confidence={self.confidence!r}"
        shared = "" if self.checks == 1 else f", checks={self.checks}"
        return (
            f"Estimate(pi={self.pi!r}, stderr={self.stderr:.3g}, n={self.n}, "
            f"hits={self.hits}, seed={self.seed}, elapsed={self.elapsed:.3g}, "
            f"backend={self.backend!r}, workers={self.workers}{target}{level}{shared})"
        )

    def _interval_label(self) -> str:
        """What the run's interval is, for ``str()`` and the command line:
        ``95% CI``, or ``99.6154% CI, 95% over 13 checks`` when its level
        was shared among checks."""
        if self.checks == 1:
            return f"{100 * self.confidence:g}% CI"
        return (f"{100 * self.level:.6g}% CI, {100 * self.confidence:g}% over "
                f"{self.checks} checks")

    def __str__(self) -> str:
        low, high = self.ci(self.level)
        missed = "" if self.target_met is not False else f"; target tol={self.tol:g} not met"
        return (
            f"pi ~= {self.pi:.10f} +- {self.stderr:.2g} "
            f"({self._interval_label()} [{low:.10f}, {high:.10f}]; "
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
    coverage: str = "nominal",
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
        Show a progress bar (tqdm) on stderr; under MPI, on rank 0 only. In
        a notebook it is a widget where ipywidgets is installed, else text
        redrawn once a second. With ``tol``, it counts the round being
        counted (the run may stop at its end) and ends with "tol met" or
        "tol not met".
    tol : float, optional
        Stop once the confidence interval's half-width is at most ``tol``,
        or after ``n`` points. Rounds that double the points so far, with
        edges that depend on ``n`` alone, are checked in order, so the final
        ``n`` and ``hits`` are the same on every backend.
    confidence : float, optional
        Confidence level of the interval ``tol`` refers to.
    coverage : {"nominal", "guaranteed"}, optional
        How ``confidence`` holds for a run that ``tol`` may stop early (see
        Notes). ``"nominal"``: each round end is checked at ``confidence``.
        ``"guaranteed"``: ``1 - confidence`` is shared among the K round
        ends that can be checked (Bonferroni), each check and the interval
        reported are at ``1 - (1 - confidence) / K`` (`Estimate.level`), and
        the chance that any checked interval misses pi is at most
        ``1 - confidence``. It stops later: at 95%, with the 7 to 37 round
        ends of an ``n`` from ``2**26`` up, each check is at z = 2.69 to
        3.20 instead of 1.96, so about 1.9 to 2.7 times the points, often
        one more round. Only with ``tol``; part of a checkpoint's
        parameters.
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

    Notes
    -----
    Coverage with ``tol``. The target is checked only at the round ends
    (`engine.round_edges`, fixed by ``n``: 7 to 37 of them for an ``n`` from
    ``2**26`` up), and the run stops at the first one whose interval is
    narrow enough. Since the half-width
    depends on the hits, stopping picks runs whose estimate happens to give
    a narrow interval, and when ``tol`` sits close to the half-width
    expected at a round end, the final interval covers pi less often than
    ``confidence``: at worst 0.934 at 95% (predicted 0.9341, measured
    0.9355 +- 0.0017) and 0.871 at 90%, according to an independent check
    of this stopping rule, and the nominal level for ``tol`` away from
    those points; ``abs(pi_hat - pi) <= tol`` held in at least 97% of runs
    at 95%.
    ``coverage="guaranteed"`` removes the shortfall at the price of more
    points.

    Examples
    --------
    >>> est = estimate_pi(10**10, seed=7, backend="processes", progress=True)
    >>> est = estimate_pi(10**12, tol=1e-5, confidence=0.99, backend="threads")
    >>> est = estimate_pi(10**12, tol=1e-5, coverage="guaranteed", backend="threads")
    """
    n = checks.index(n, "n", least=1, below=checks.STREAM)
    seed = checks.index(seed, "seed", below=checks.STREAM)
    if tol is not None:
        tol = checks.positive(tol, "tol")  # NumPy scalars and Fractions become floats
    confidence = checks.level(confidence, "confidence")
    if coverage not in COVERAGES:
        raise ValueError(f"coverage must be one of {', '.join(map(repr, COVERAGES))}, "
                         f"got {coverage!r}")
    if coverage != "nominal" and tol is None:
        raise ValueError(f"coverage={coverage!r} is about where a run with tol stops; "
                         "without tol there is one interval, at confidence")
    _refuse_repeats(backend, pool, comm)
    runner = make_runner(backend, workers, pool, comm)
    try:
        with handled():
            return _run(n, seed, runner, progress, tol, confidence, checkpoint, trace,
                        coverage)
    except BaseException as exc:
        runner.abort(exc, describe(exc, checkpoint))
        raise
    finally:
        runner.close()


def _run(n: int, seed: int, runner: Runner, progress: bool, tol: float | None,
         confidence: float, checkpoint_path: str | os.PathLike[str] | None,
         trace: bool, coverage: str = "nominal") -> Estimate:
    """Count ``[0, n)`` round by round (one round without ``tol``): the lead
    holds the schedule, the checkpoint and the progress bar, and every
    process counts what the schedule deals."""
    begin = time.perf_counter()
    started = time.time()
    edges = round_edges(n, growing=tol is not None)
    # With coverage="guaranteed", 1 - confidence is shared among the checks.
    shared = len(edges) if coverage == "guaranteed" else 1
    saved = None
    if checkpoint_path is not None:
        params: dict[str, Any] = {"n": n, "seed": seed, "tol": tol,
                                  "confidence": confidence if tol is not None else None}
        if coverage != "nominal":  # a nominal run's params are those of older versions
            params["coverage"] = coverage
        saved = runner.on_lead(lambda: Checkpoint(checkpoint_path, params, edges))
    if not runner.lead:
        runner.run(None, seed, lambda: None)
        with ignored():  # the run is decided: a signal now must not leave rank 0 waiting
            used, hits, elapsed = runner.agree(None)
        return Estimate(n=int(used), hits=int(hits), seed=seed, elapsed=elapsed,
                        backend=runner.backend, workers=runner.workers,
                        tol=tol, confidence=confidence, checks=shared)

    def met(points: int, hits: int) -> bool:
        return bool(Estimate(n=points, hits=hits, seed=seed, tol=tol,
                             confidence=confidence, checks=shared).target_met)

    ledger = Ledger(n, edges, saved.ranges if saved else ())
    previous = saved.elapsed if saved else 0.0
    schedule = Schedule(ledger, edges, runner.workers, met if tol is not None else None, trace)
    bar = _progress_bar(n, ledger.points, progress, edges if tol is not None else None)

    def show() -> None:
        if bar is not None:
            bar.show(schedule.points, schedule.result)

    def tick() -> None:
        show()
        if saved is not None and saved.due():
            saved.save(schedule.snapshot, previous + time.perf_counter() - begin, every=True)

    try:
        runner.run(schedule, seed, tick)
    finally:
        with ignored():  # a second signal must not cut the final save short
            elapsed = previous + time.perf_counter() - begin  # as saved: reruns add to it
            if saved is not None:
                saved.save(schedule.snapshot, elapsed)
            if bar is not None:
                show()
                note = None
                if tol is not None and schedule.result is not None:
                    note = "tol met" if met(*schedule.result) else "tol not met: n spent"
                bar.close(note)
    assert schedule.result is not None
    used, hits = schedule.result
    with ignored():  # the run is decided: a signal now must not leave ranks waiting
        runner.agree((used, hits, elapsed))
    records = None
    if schedule.records is not None:
        records = tuple(r._replace(began=r.began - started, ended=r.ended - started)
                        for r in schedule.records)
    return Estimate(n=used, hits=hits, seed=seed, elapsed=elapsed, backend=runner.backend,
                    workers=runner.workers, tol=tol, confidence=confidence, trace=records,
                    checks=shared)


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


def _progress_bar(total: int, initial: int, show: bool,
                  edges: list[int] | None = None) -> _Progress | None:
    """The run's progress bar, or None when not ``show``: `_Progress` over
    ``total`` points, ``initial`` of them done; with ``edges`` (a precision
    target's rounds), over the round being counted."""
    return _Progress(total, initial, edges) if show else None


class _Progress:
    """A progress bar on stderr (tqdm.auto: a widget in a notebook where
    ipywidgets is installed, text elsewhere).

    Text at a terminal is redrawn up to ten times a second, at the
    terminal's width. Anywhere else every redraw is kept (a notebook stores
    each as an output, a pipe passes each on), so it is redrawn once a
    second, at the width of the terminal behind an MPI launcher that forwards
    this process's stderr (`launcher_terminal_columns`), else ``$COLUMNS``,
    else 80 columns.

    With a precision target (``edges``, the round ends), the run may stop at
    the end of any round, so the bar counts the round being counted: its
    total is that round's end (its ETA the time to it) and its label says
    which round of how many. Once the run is decided its total is the points
    used, and `close` can say whether the target was met.
    """

    def __init__(self, total: int, initial: int, edges: list[int] | None) -> None:
        import warnings

        with warnings.catch_warnings():
            # Without ipywidgets, tqdm.auto warns once that the bar is text
            # in a notebook: a text bar is what it then draws.
            warnings.simplefilter("ignore")
            from tqdm.auto import tqdm  # type: ignore[import-untyped]

        self.edges = edges
        self.shown = initial
        self.forwarded = False  # by an MPI launcher, to a terminal
        options: dict[str, Any] = dict(unit="pt", unit_scale=True, smoothing=0.1)
        if tqdm.__module__ != "tqdm.notebook":
            options["file"] = sys.stderr
            if _isatty(sys.stderr):
                options["dynamic_ncols"] = True
            else:
                columns = launcher_terminal_columns()
                self.forwarded = columns is not None
                options.update(mininterval=1.0, ncols=columns or _environ_columns() or 80)
        else:
            options["mininterval"] = 1.0
        self.bar = tqdm(total=total if edges is None else self._end(initial),
                        initial=initial, desc=self._label(initial), **options)

    def _end(self, points: int) -> int:
        """The end of the round being counted once ``points`` are done:
        rounds are dealt one at a time, so it is the first edge above them."""
        assert self.edges is not None
        return self.edges[min(bisect.bisect_right(self.edges, points), len(self.edges) - 1)]

    def _label(self, points: int, end: int | None = None) -> str | None:
        if self.edges is None:
            return None
        end = self._end(points) if end is None else end
        return f"round {self.edges.index(end) + 1}/{len(self.edges)}"

    def show(self, points: int, result: tuple[int, int] | None) -> None:
        """Show ``points`` done; ``result`` is the schedule's, once decided."""
        if self.edges is not None:
            end = result[0] if result is not None else self._end(points)
            if end != self.bar.total:
                self.bar.total = end
                self.bar.set_description_str(self._label(points, end), refresh=False)
                container = getattr(self.bar, "container", None)  # a notebook's widget
                if container is not None:
                    container.children[1].max = end
        self.bar.update(points - self.shown)
        self.shown = points

    def close(self, note: str | None = None) -> None:
        """Draw the bar a last time, with ``note`` after it, and end it."""
        if note:
            self.bar.set_postfix_str(note, refresh=False)
        self.bar.close()
        sys.stderr.flush()  # a notebook's stderr holds the bar's last newline till then
        if self.forwarded:
            # The launcher forwards stderr and stdout through pipes of their
            # own: let it pass on the bar's last line before the result, which
            # would otherwise land at the end of the bar's line.
            time.sleep(0.2)


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # None, or a closed stream
        return False


def _environ_columns() -> int | None:
    """``$COLUMNS``, where it is a sane width."""
    try:
        columns = int(os.environ.get("COLUMNS", ""))
    except ValueError:
        return None
    return columns if 20 <= columns <= 1000 else None


# MPI launchers that forward their ranks' output: a rank's stderr is a pipe
# (or a socket) to the launcher, and the user reads the launcher's stderr.
_LAUNCHERS = ("mpiexec", "mpirun", "orterun", "prterun")


def launcher_terminal_columns() -> int | None:
    """The width of the terminal that this process's output reaches through
    the MPI launcher that started it, or None when there is none.

    ``mpiexec -n 4 pymcpi run`` at a terminal gives rank 0 a pipe for its
    stderr (MPICH's Hydra, Open MPI), and no controlling terminal either
    (Hydra starts the ranks in sessions of their own), but the launcher
    writes what comes through that pipe to its own stderr: the user's
    terminal. So, on Linux: this process's stderr must be a pipe or a
    socket, and an ancestor a few generations up (the launcher, past
    Hydra's proxy or Open MPI's daemon) must be a launcher whose stderr is a
    terminal; its size is the answer. Under a batch system the launcher's
    stderr is a file, and through ``| tee`` a pipe: None.
    """
    def stderr_of(pid: int | str) -> str:
        try:
            return os.readlink(f"/proc/{pid}/fd/2")
        except OSError:
            return ""

    if not stderr_of("self").startswith(("pipe:", "socket:")):
        return None
    pid = os.getppid()
    for _ in range(4):
        try:
            with open(f"/proc/{pid}/stat", encoding="utf-8", errors="replace") as f:
                stat = f.read()
        except OSError:
            return None
        name = stat[stat.find("(") + 1:stat.rfind(")")]
        if name.startswith(_LAUNCHERS):
            target = stderr_of(pid)
            if not target.startswith("/dev/"):
                return None
            try:
                fd = os.open(f"/proc/{pid}/fd/2", os.O_WRONLY | os.O_NOCTTY | os.O_NONBLOCK)
            except OSError:
                return None
            try:
                return os.get_terminal_size(fd).columns if os.isatty(fd) else None
            except OSError:
                return None
            finally:
                os.close(fd)
        pid = int(stat[stat.rfind(")") + 1:].split()[1])
        if pid <= 1:
            return None
    return None
