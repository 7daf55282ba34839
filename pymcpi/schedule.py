"""Who counts what, and when: the scheduler that deals a run's pieces.

::

    estimate_pi ── Schedule ──take()──► runner ──► workers
                    │  ▲                  │
                    │  └───finish()───────┘   (results, with their timings)
                    ├── Pace: how big the next piece is
                    └── Ledger: what is finished (engine.py)

The work goes out in *pieces*: spans of the stream, dealt in stream order
from the gaps of the current round. Whoever is free gets the next piece, so a
fast worker counts more of the run than a slow one and all finish together.
The size of each piece follows guided self-scheduling (Polychronopoulos and
Kuck, 1987) in its factoring form: a piece is worth ``1 / (2 * workers)`` of
the time the round has left, so pieces start large and shrink towards the
round's end. `Pace` turns that into points with the rates it measured, and
keeps every piece between two bounds:

- long enough that dispatching is cheap: at least `Pace.MIN_SECONDS`, and at
  least ``workers * overhead / LOAD`` seconds, so that a central dispatcher
  which spends ``overhead`` seconds on a task (Dask's scheduler, a Ray head,
  rank 0 under MPI) is busy about ``LOAD`` of the time (0.4: below half)
  however many workers it feeds;
- short enough that a killed worker, a cut job or a progress bar loses or
  waits for little: at most `Pace.MAX_SECONDS`, unless the dispatcher needs
  longer ones.

Two ways of handing pieces out sit on top of the schedule. Pools keep a window
of pieces in flight (`Schedule.refill`) and whichever worker of the pool is
free takes the next. MPI ranks come to rank 0's `Desk`, hand in the piece
they finished and get the next one. Nothing here reads a clock: callers pass
``now``, the real runners from the wall clock and `simulate.py` from its
simulated one, so the simulation runs exactly this code.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Hashable
from typing import NamedTuple

from ._core import BLOCK
from .engine import Counted, Ledger, Span

__all__ = ["Desk", "Pace", "Schedule", "TraceRecord"]


class TraceRecord(NamedTuple):
    """One piece of a run: which worker counted ``[start, end)``, and when
    (seconds from the start of the run)."""

    worker: str
    start: int
    end: int
    began: float
    ended: float


class Pace:
    """Piece sizes from what the workers have shown.

    Parameters
    ----------
    workers : int
        How many workers share the run.

    Notes
    -----
    ``observe`` records, for each finished piece, the worker's rate and the
    time the piece spent outside counting (dispatch, queues, transport). The
    least of those times is the dispatcher's cost per task: every task pays
    it, and the first ones pay nothing else.
    """

    # Pieces dealt before any has come back are probes of this many points:
    # a few milliseconds of counting on any path, so that rates are known
    # almost at once, and only a few of them, so that a thousand workers do
    # not all start with a piece too small for their dispatcher.
    FIRST = 1 << 22
    PROBES = 4
    # The shortest piece: long enough for a runner's own cost per piece (a
    # future, a pickle, a queue) to stay near 1% of it.
    MIN_SECONDS = 0.05
    # The longest piece, unless the dispatcher needs longer ones: what a
    # killed worker or a cut job loses, and how far a checkpoint lags behind.
    MAX_SECONDS = 1.0
    # The busiest a central dispatcher is planned to be: below half, with
    # room for the probes and the guided tail.
    LOAD = 0.4
    # Factoring: each piece is 1 / (SHARE * workers) of the round's time left.
    SHARE = 2

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.rates: dict[Hashable, float] = {}  # points per second of each worker
        self.total_rate = 0.0  # their sum
        self.overhead: float | None = None
        self.probes = 0  # probe pieces sized so far

    @property
    def known(self) -> bool:
        """Whether any rate has been measured."""
        return bool(self.rates)

    def observe(self, worker: Hashable, count: int, seconds: float, overhead: float) -> None:
        """Record a finished piece of ``count`` points that ``worker`` counted
        in ``seconds``, having waited ``overhead`` seconds outside counting."""
        if seconds >= 0:
            rate = count / max(seconds, 1e-6)  # a clock that did not tick: very fast
            old = self.rates.get(worker)
            new = rate if old is None else (old + rate) / 2  # follows a worker that slows down
            self.rates[worker] = new
            self.total_rate += new - (old or 0.0)
        overhead = max(overhead, 0.0)
        self.overhead = overhead if self.overhead is None else min(self.overhead, overhead)

    def shortest(self) -> float:
        """The shortest piece, in seconds: see the class notes."""
        return max(self.MIN_SECONDS, self.workers * (self.overhead or 0.0) / self.LOAD)

    def size(self, remaining: int, worker: Hashable = None) -> int:
        """Points for the next piece, when ``remaining`` points of the round
        are not dealt yet; a multiple of the block.

        Before any rate is known, a probe of `FIRST` points. A worker that
        has not shown its speed yet (an MPI rank asking for the first time;
        in a pool, whose free worker takes the piece, any while some have not
        reported, up to twice as many pieces as workers) gets the shortest
        piece the dispatcher allows, at the mean rate: a big piece on a slow
        worker could end the run late. Otherwise a guided piece, for the
        asking rank's own rate, or the mean rate in a pool.
        """
        if not self.rates:
            self.probes += 1
            points = min(self.FIRST, remaining // (self.SHARE * self.workers))
            return max(points // BLOCK * BLOCK, BLOCK)
        mean = self.total_rate / len(self.rates)
        shortest = self.shortest()
        if worker is None:
            unseen = len(self.rates) < self.workers and self.probes < 2 * self.workers
        else:
            unseen = worker not in self.rates
        if unseen:
            self.probes += 1
            seconds, rate = shortest, mean
        else:
            guided = remaining / (self.SHARE * mean * self.workers)
            seconds = min(max(guided, shortest), max(self.MAX_SECONDS, shortest))
            rate = self.rates.get(worker, mean)
        return max(int(seconds * rate) // BLOCK * BLOCK, BLOCK)


class Schedule:
    """Deals the pieces of a run and takes their results back.

    Rounds are dealt one after another (see `engine.round_edges`): the
    precision target is decided when a round is finished, and the next round
    is dealt only if it was not met, so no work is ever counted past the
    point where the run stops. Pieces come from the round's gaps in the
    ledger, in stream order; a piece given back with `lost` is dealt again
    first. All methods are thread-safe.

    Parameters
    ----------
    ledger : Ledger
        The finished work, possibly from a checkpoint; it is updated as
        pieces finish.
    edges : list of int
        The round edges.
    workers : int
        How many workers share the run (for piece sizes).
    target : callable, optional
        ``target(points, hits)`` says whether the precision target is met
        after the first ``points`` points; None runs to ``n``.
    trace : bool, optional
        Record a `TraceRecord` per finished piece in ``records``.
    """

    def __init__(self, ledger: Ledger, edges: list[int], workers: int,
                 target: Callable[[int, int], bool] | None = None, trace: bool = False) -> None:
        self.ledger = ledger
        self.edges = edges
        self.pace = Pace(workers)
        self.target = target
        self.records: list[TraceRecord] | None = [] if trace else None
        self.result: tuple[int, int] | None = None  # (points, hits) once decided
        self.inflight: dict[Span, float] = {}  # piece -> when it was dealt
        self.tasks = 0  # pieces dealt, redone ones included
        self._lock = threading.Lock()
        self._round = 0
        self._gaps: deque[Span] = deque()  # the round's undealt work
        self._undealt = 0
        self._pending = 0  # points dealt in the round and not finished
        self._redo: deque[Span] = deque()
        self._open_round()

    @property
    def done(self) -> bool:
        """Whether the run's answer is decided."""
        return self.result is not None

    def take(self, now: float, worker: Hashable = None) -> Span | None:
        """The next piece to count, or None if there is none now: the run is
        decided, or the round's last pieces (or the first probes) are still
        out and the next piece depends on them."""
        with self._lock:
            if self.result is not None:
                return None
            if self._redo:
                piece = self._redo.popleft()
            elif not self._gaps or (not self.pace.known and self.pace.probes >= min(
                    Pace.PROBES, self.pace.workers)):
                return None
            else:
                piece = self._cut(self.pace.size(self._undealt, worker))
            self.inflight[piece] = now
            self.tasks += 1
            return piece

    def refill(self, window: int, now: float) -> list[Span]:
        """Pieces to hand out so that ``window`` are in flight."""
        pieces = []
        while len(self.inflight) < window and (piece := self.take(now)) is not None:
            pieces.append(piece)
        return pieces

    def finish(self, piece: Span, hits: int, began: float, ended: float, worker: Hashable,
               now: float, waited: float | None = None) -> None:
        """Record ``piece`` as counted by ``worker`` between ``began`` and
        ``ended`` (on the worker's clock) with ``hits`` hits. The time it
        spent outside counting is ``waited`` where the worker measured it (an
        MPI rank's wait for rank 0), else the time since it was dealt, less
        the counting."""
        with self._lock:
            dealt = self.inflight.pop(piece)
            self.ledger.add(piece.start, piece.end, hits)
            self._pending -= piece.count
            seconds = ended - began
            self.pace.observe(worker, piece.count, seconds,
                              now - dealt - seconds if waited is None else waited)
            if self.records is not None:
                self.records.append(TraceRecord(str(worker), piece.start, piece.end, began, ended))
            if not (self._pending or self._undealt or self._redo):
                if not self._decide():
                    self._open_round()

    def lost(self, piece: Span) -> None:
        """Give back a piece that was dealt and will never be counted (its
        worker died): it is dealt again before anything else."""
        with self._lock:
            del self.inflight[piece]
            self._redo.append(piece)

    def snapshot(self) -> list[Counted]:
        """The finished ranges now, for a checkpoint."""
        with self._lock:
            return self.ledger.ranges()

    @property
    def points(self) -> int:
        """Points finished so far."""
        return self.ledger.points

    # The round being dealt

    def _open_round(self) -> None:
        """Take the gaps of the current round, deciding (and skipping) rounds
        that a checkpoint had already finished."""
        while True:
            start = self.edges[self._round - 1] if self._round else 0
            gaps = self.ledger.gaps(start, self.edges[self._round])
            if gaps:
                self._gaps = deque(gaps)
                self._undealt = sum(gap.count for gap in gaps)
                return
            if self._decide():
                return

    def _decide(self) -> bool:
        """At the end of the current round: whether the run stops here (the
        target is met, or this is the last round); if not, move on."""
        end = self.edges[self._round]
        hits = self.ledger.hits_in(0, end)
        if end == self.ledger.n or (self.target is not None and self.target(end, hits)):
            self.result = (end, hits)
            return True
        self._round += 1
        return False

    def _cut(self, size: int) -> Span:
        """The next ``size`` points of the round's gaps, ending on a block
        boundary unless the gap ends first."""
        gap = self._gaps[0]
        end = max((gap.start + size) // BLOCK, gap.start // BLOCK + 1) * BLOCK
        if end >= gap.end:
            end = gap.end
            self._gaps.popleft()
        else:
            self._gaps[0] = Span(end, gap.end)
        piece = Span(gap.start, end)
        self._undealt -= piece.count
        self._pending += piece.count
        return piece


class Desk:
    """Rank 0's desk under MPI: each rank hands in the piece it finished and
    asks for the next; rank 0 asks like any other.

    A rank that asks while nothing can be dealt (the round's last pieces are
    still out) waits in line and is answered as soon as there is a piece or
    the run is decided. The answer ``None`` tells a rank that the run is
    over. Thread-safe: rank 0's own loop and its service thread both use it.
    """

    def __init__(self, schedule: Schedule) -> None:
        self.schedule = schedule
        self.waiting: deque[int] = deque()
        self._lock = threading.Lock()

    def ask(self, rank: int, now: float,
            finished: tuple[Span, int, float, float, float] | None = None
            ) -> list[tuple[int, Span | None]]:
        """Rank ``rank`` hands in ``finished`` (piece, hits, began, ended,
        waited), if any, and asks for work. Returns the answers to send now,
        as ``(rank, piece or None)``: to this rank and to any that waited."""
        with self._lock:
            if finished is not None:
                piece, hits, began, ended, waited = finished
                self.schedule.finish(piece, hits, began, ended, rank, now, waited)
            self.waiting.append(rank)
            answers = []
            while self.waiting:
                piece = self.schedule.take(now, self.waiting[0])
                if piece is None and not self.schedule.done:
                    break
                answers.append((self.waiting.popleft(), piece))
            return answers
