"""A run at cluster scale on a simulated clock, scheduled by the real code.

A laptop cannot run 10**16 points on 10**4 workers, but it can run the
scheduler that would: this module drives `schedule.Schedule`, its `Pace` and
its `Desk` (the very objects `estimate_pi` uses) with simulated workers and a
simulated dispatcher, and measures what a real run would get.

Two kinds of engine are modelled:

``"pool"``
    A pool behind a central dispatcher (Dask's scheduler, a Ray head, a
    process pool's feeder): the driver keeps the runners' window of pieces
    in flight (`backends.QUEUED_PER_WORKER` per worker); each task costs the
    dispatcher ``overhead`` seconds, one task at a time, and then goes to
    whichever worker is free.
``"mpi"``
    Ranks that ask rank 0's desk for their next piece when they finish one;
    rank 0 spends ``overhead`` seconds on each request, one at a time.

Workers count at fixed speeds (points per second); a worker may be killed at
a given time, losing the piece it was counting (pools only: an MPI job ends
with its rank). Counting is not simulated, only its duration: every piece
gets ``round(count * pi / 4)`` hits.

Run it as ``python -m pymcpi.simulate`` for the README's table.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from collections.abc import Sequence
from typing import NamedTuple

from .backends import QUEUED_PER_WORKER
from .engine import Ledger, Span, round_edges
from .schedule import Desk, Schedule

__all__ = ["Outcome", "ideal_seconds", "simulate"]


class Outcome(NamedTuple):
    """What a simulated run got.

    Attributes
    ----------
    seconds : float
        When the last piece finished.
    ideal : float
        The least time the workers could have taken: all of them busy to the
        end, the work split in proportion to their speeds (`ideal_seconds`).
    efficiency : float
        ``ideal / seconds``.
    tasks : int
        Pieces dealt, lost ones included.
    load : float
        The fraction of the run the dispatcher (or rank 0's desk) was busy.
    lost : int
        Points dealt to a killed worker and dealt again.
    """

    seconds: float
    ideal: float
    efficiency: float
    tasks: int
    load: float
    lost: int


def ideal_seconds(n: int, speeds: Sequence[float], killed: dict[int, float]) -> float:
    """The time ``T`` at which the workers, each counting at its speed until
    it is killed, have counted ``n`` points together."""
    ends = sorted(set(killed.values()) | {math.inf})
    done, at = 0.0, 0.0
    for end in ends:
        rate = sum(s for w, s in enumerate(speeds) if killed.get(w, math.inf) > at)
        if rate > 0 and done + rate * (end - at) >= n:
            return at + (n - done) / rate
        done += rate * (end - at)
        at = end
    raise ValueError("the workers are all killed before the run ends")


def simulate(n: int, speeds: Sequence[float], overhead: float, engine: str = "pool",
             killed: dict[int, float] | None = None, tol: float | None = None) -> Outcome:
    """Simulate ``estimate_pi(n)`` on workers of the given ``speeds``.

    Parameters
    ----------
    n : int
        Points, up to ``2**64 - 1``.
    speeds : sequence of float
        Points per second of each worker.
    overhead : float
        Seconds the dispatcher spends on each task (``"pool"``) or rank 0 on
        each request (``"mpi"``).
    engine : {"pool", "mpi"}
        Which way pieces are handed out.
    killed : dict, optional
        Worker index -> the time it is killed (``"pool"`` only).
    tol : float, optional
        Stop rounds as ``estimate_pi(tol=...)`` does, with every piece at
        exactly pi / 4 hits.
    """
    killed = dict(killed or {})
    if engine not in ("pool", "mpi"):
        raise ValueError(f"engine must be 'pool' or 'mpi', got {engine!r}")
    if killed and engine == "mpi":
        raise ValueError("a killed rank ends an MPI job; killed= is for engine='pool'")
    edges = round_edges(n, growing=tol is not None)
    target = None
    if tol is not None:
        from .estimate import Estimate

        def target(points: int, hits: int) -> bool:
            return bool(Estimate(n=points, hits=hits, seed=0, tol=tol).target_met)

    schedule = Schedule(Ledger(n, edges), edges, len(speeds), target)
    run = (_Pool if engine == "pool" else _MPI)(schedule, speeds, overhead, killed)
    seconds = run.go()
    ideal = ideal_seconds(schedule.result[0] if schedule.result else n, speeds, killed)
    return Outcome(seconds, ideal, ideal / seconds, schedule.tasks, run.busy / seconds, run.lost)


def _hits(piece: Span) -> int:
    return round(piece.count * math.pi / 4)


class _Clock:
    """Events in time order; ties in the order they were made."""

    def __init__(self) -> None:
        self.now = 0.0
        self.events: list[tuple[float, int, str, object]] = []
        self.made = 0

    def at(self, time: float, kind: str, data: object) -> None:
        heapq.heappush(self.events, (time, self.made, kind, data))
        self.made += 1

    def next(self) -> tuple[str, object]:
        self.now, _, kind, data = heapq.heappop(self.events)
        return kind, data


class _Pool(_Clock):
    """A driver with a window of pieces, one dispatcher, a shared queue."""

    def __init__(self, schedule: Schedule, speeds: Sequence[float], overhead: float,
                 killed: dict[int, float]) -> None:
        super().__init__()
        self.schedule, self.speeds, self.overhead = schedule, speeds, overhead
        self.window = QUEUED_PER_WORKER * len(speeds)
        self.waiting: deque[Span] = deque()  # submitted, not yet dispatched
        self.ready: deque[Span] = deque()  # dispatched, for the next free worker
        self.idle = deque(range(len(speeds)))
        self.running: dict[int, tuple[Span, float]] = {}
        self.dead: set[int] = set()
        self.dispatching = False
        self.busy = 0.0
        self.lost = 0
        for worker, time in killed.items():
            self.at(time, "kill", worker)

    def go(self) -> float:
        self.submit()
        last = 0.0
        while not self.schedule.done:
            kind, data = self.next()
            if kind == "dispatched":
                self.dispatching = False
                self.ready.append(data)  # type: ignore[arg-type]
                self.dispatch()
            elif kind == "finished":
                worker, piece, began = data  # type: ignore[misc]
                if worker in self.dead or self.running.get(worker, (None,))[0] != piece:
                    continue  # the worker was killed while counting it
                del self.running[worker]
                self.idle.append(worker)
                self.schedule.finish(piece, _hits(piece), began, self.now, worker, self.now)
                last = self.now
                self.submit()
            else:  # a kill
                self.dead.add(data)  # type: ignore[arg-type]
                if data in self.idle:
                    self.idle.remove(data)
                if data in self.running:
                    piece, _ = self.running.pop(data)  # type: ignore[call-overload]
                    self.lost += piece.count
                    self.schedule.lost(piece)
                    self.submit()
            self.start()
        return last

    def submit(self) -> None:
        self.waiting.extend(self.schedule.refill(self.window, self.now))
        self.dispatch()

    def dispatch(self) -> None:
        if not self.dispatching and self.waiting:
            self.dispatching = True
            self.busy += self.overhead
            self.at(self.now + self.overhead, "dispatched", self.waiting.popleft())
        self.start()

    def start(self) -> None:
        while self.idle and self.ready:
            worker, piece = self.idle.popleft(), self.ready.popleft()
            self.running[worker] = (piece, self.now)
            self.at(self.now + piece.count / self.speeds[worker], "finished",
                    (worker, piece, self.now))


class _MPI(_Clock):
    """Ranks asking rank 0's desk, which answers one request at a time."""

    def __init__(self, schedule: Schedule, speeds: Sequence[float], overhead: float,
                 killed: dict[int, float]) -> None:
        super().__init__()
        self.desk = Desk(schedule)
        self.schedule, self.speeds, self.overhead = schedule, speeds, overhead
        self.queue: deque[tuple[int, object]] = deque()  # requests waiting for rank 0
        self.asked: dict[int, float] = {}
        self.serving = False
        self.busy = 0.0
        self.lost = 0

    def go(self) -> float:
        for rank in range(len(self.speeds)):
            self.ask(rank, None)
        last = 0.0
        while self.events:
            kind, data = self.next()
            if kind == "served":
                self.serving = False
                rank, finished = data  # type: ignore[misc]
                for answered, piece in self.desk.ask(rank, self.now, finished):
                    if piece is not None:
                        self.at(self.now + piece.count / self.speeds[answered], "counted",
                                (answered, piece, self.now, self.now - self.asked[answered]))
                self.serve()
            else:
                rank, piece, began, waited = data  # type: ignore[misc]
                last = self.now
                self.ask(rank, (piece, _hits(piece), began, self.now, waited))
        return last

    def ask(self, rank: int, finished: object) -> None:
        self.asked[rank] = self.now
        self.queue.append((rank, finished))
        self.serve()

    def serve(self) -> None:
        if not self.serving and self.queue:
            self.serving = True
            self.busy += self.overhead
            self.at(self.now + self.overhead, "served", self.queue.popleft())


def _table() -> None:  # pragma: no cover - prints the README's table
    """Efficiency and dispatcher load from 10**2 to 10**5 workers: an hour of
    the cluster behind a 1 ms-per-task dispatcher, and two minutes of MPI
    ranks asking a desk that spends 50 us on a request."""
    import time

    rate = 1e9  # points per second of one worker: about an AVX2 core
    cases = [("pool", 1e-3, 3600, "uniform"), ("pool", 1e-3, 3600, "mixed 1x/3x"),
             ("pool", 1e-3, 3600, "one straggler"), ("mpi", 5e-5, 120, "uniform"),
             ("mpi", 5e-5, 120, "mixed 1x/3x")]
    print("| engine | per task | run | workers | speeds | efficiency | tasks | "
          "dispatcher busy | simulated in |")
    print("|---|---:|---:|---:|---|---:|---:|---:|---:|")
    for engine, overhead, seconds, kind in cases:
        for workers in (100, 1000, 10_000, 100_000):
            speeds = [rate] * workers
            if kind == "mixed 1x/3x":
                speeds = [rate if w % 2 else rate / 3 for w in range(workers)]
            elif kind == "one straggler":
                speeds[0] = rate / 10
            n = min(int(seconds * sum(speeds)), 2**64 - 1)
            began = time.perf_counter()
            out = simulate(n, speeds, overhead, engine)
            print(f"| {engine} | {overhead * 1e3:g} ms | {seconds / 60:g} min | {workers:,} | "
                  f"{kind} | {out.efficiency:.3f} | {out.tasks:,} | {out.load:.1%} | "
                  f"{time.perf_counter() - began:.0f} s |", flush=True)


if __name__ == "__main__":  # pragma: no cover
    _table()
