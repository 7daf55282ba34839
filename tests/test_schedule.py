"""The scheduler (pieces dealt to whichever worker is free, sized by Pace) on
its own, and the simulation that drives it at cluster scale."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import pymcpi.schedule
import pymcpi.simulate
from pymcpi import count_hits
from pymcpi.engine import Ledger, Span, round_edges
from pymcpi.schedule import Desk, Pace, Schedule
from pymcpi.simulate import ideal_seconds, simulate

SEED = 7


def run_to_the_end(schedule: Schedule, speeds: list[float], order: random.Random,
                   window: int) -> list[tuple[Span, str]]:
    """Deal and finish pieces on a fake clock: ``window`` in flight, results
    back in a random order; returns what each worker counted."""
    now, counted, out = 0.0, [], []
    while not schedule.done:
        out.extend(schedule.refill(window, now))
        assert out, "nothing in flight and the run is not decided"
        piece = out.pop(order.randrange(len(out)))
        worker = order.randrange(len(speeds))
        seconds = piece.count / speeds[worker]
        schedule.finish(piece, count_hits(piece.count, SEED, piece.start), now, now + seconds,
                        f"w{worker}", now + seconds + 1e-4)
        now += seconds / len(speeds)
        counted.append((piece, f"w{worker}"))
    return counted


@given(n=st.integers(1, 3 * 2**22), workers=st.integers(1, 9), window=st.integers(1, 20),
       seed=st.integers(0, 2**32), growing=st.booleans())
@settings(max_examples=60, deadline=None)
def test_every_point_is_dealt_once_whatever_order_results_come_back(
        n, workers, window, seed, growing):
    edges = round_edges(n, growing)
    target = (lambda points, hits: points >= edges[len(edges) // 2]) if growing else None
    schedule = Schedule(Ledger(n, edges), edges, workers, target)
    counted = run_to_the_end(schedule, [1e9] * workers, random.Random(seed), window)
    used, hits = schedule.result
    assert hits == count_hits(used, SEED)
    spans = sorted(piece for piece, _ in counted)
    assert [s.start for s in spans] == [0] + [s.end for s in spans[:-1]]  # no gap, no overlap
    assert spans[-1].end == used and not schedule.inflight
    assert all(p.start % 256 == 0 for p in spans)  # pieces start on block boundaries


def test_pieces_shrink_towards_the_end_of_a_round_and_stay_above_the_shortest():
    n = 10**12
    schedule = Schedule(Ledger(n, [n]), [n], 4)
    pace = schedule.pace
    probes = schedule.refill(4, 0.0)
    assert [p.count for p in probes] == [Pace.FIRST] * 4
    assert schedule.take(0.0) is None, "no more than the probes before a rate is known"
    for k, piece in enumerate(probes):
        schedule.finish(piece, 0, 0.0, piece.count / 1e9, f"w{k}", piece.count / 1e9 + 1e-3)
    assert pace.overhead == pytest.approx(1e-3)
    sizes = []
    while (piece := schedule.take(1.0)) is not None:
        sizes.append(piece.count)
    assert sum(sizes) + 4 * Pace.FIRST == n
    seconds = [s / 1e9 for s in sizes]
    assert seconds[0] == pytest.approx(Pace.MAX_SECONDS, rel=1e-3)  # long runs: capped
    assert all(a >= b for a, b in zip(seconds, seconds[1:-1]))  # never growing
    assert min(seconds[:-1]) >= Pace.MIN_SECONDS * 0.999  # the last one is what is left
    tail = [s for s in seconds if s < Pace.MAX_SECONDS]
    assert len(tail) > 10, "the last pieces are guided: a share of what is left"


def test_a_dispatcher_is_kept_at_most_half_busy():
    workers, overhead = 10_000, 1e-3
    pace = Pace(workers)
    for w in range(workers):  # every worker has shown its speed
        pace.observe(w, 10**9, 1.0, overhead)
    assert Pace.LOAD < 0.5
    assert pace.shortest() == pytest.approx(workers * overhead / Pace.LOAD)  # 25 s
    # However little is left, a piece holds at least the shortest's points.
    assert pace.size(10**9) == pytest.approx(25 * 10**9, rel=1e-6)


def test_an_mpi_rank_gets_a_short_piece_then_pieces_for_its_own_speed():
    pace = Pace(2)
    assert pace.size(10**12, worker=0) == Pace.FIRST
    pace.observe(0, 3 * 10**9, 1.0, 0.0)
    # Rank 1 has not shown its speed: the shortest piece, at the mean rate.
    assert pace.size(10**12, worker=1) == pytest.approx(Pace.MIN_SECONDS * 3e9, rel=1e-6)
    pace.observe(1, 10**9, 1.0, 0.0)
    assert pace.size(10**12, worker=0) == pytest.approx(3 * pace.size(10**12, worker=1), rel=1e-6)
    assert pace.size(10**12, worker=2) == pytest.approx(Pace.MIN_SECONDS * 2e9, rel=1e-6)
    assert pace.size(10**12) == pytest.approx(2 * pace.size(10**12, worker=1), rel=1e-6)


def test_a_pool_gets_probes_until_every_worker_has_shown_its_speed():
    shortest = Pace.MIN_SECONDS * 10**10
    pace = Pace(3)
    pace.observe("fast", 10**10, 1.0, 0.0)
    assert pace.size(10**15) == shortest  # two workers unseen: one may be slow
    pace.observe("slow", 10**9, 1.0, 0.0)
    pace.observe("third", 10**9, 1.0, 0.0)
    assert pace.size(10**15) == Pace.MAX_SECONDS * 4e9  # guided now, and capped
    never = Pace(4)  # a pool that never shows all its workers
    never.observe("only", 10**10, 1.0, 0.0)
    sizes = [never.size(10**15) for _ in range(10)]
    assert sizes[:8] == [shortest] * 8 and sizes[8] > 10 * shortest  # 2 x 4 in all


def test_a_lost_piece_is_dealt_again_first():
    n = 2**30
    schedule = Schedule(Ledger(n, [n]), [n], 2)
    first, second = schedule.refill(2, 0.0)
    schedule.lost(first)
    assert schedule.take(0.0) == first
    assert schedule.tasks == 3


def test_no_piece_of_the_next_round_before_the_target_is_decided():
    n = 2**30
    edges = round_edges(n, growing=True)
    decided = []

    def target(points, hits):
        decided.append(points)
        return points == edges[1]

    schedule = Schedule(Ledger(n, edges), edges, 3, target)
    counted = run_to_the_end(schedule, [1e9] * 3, random.Random(1), 6)
    assert decided == edges[:2] and schedule.result[0] == edges[1]
    assert max(p.end for p, _ in counted) == edges[1]


def test_a_resumed_schedule_deals_only_the_gaps():
    n = 10**7
    done = [(0, 2**20, count_hits(2**20, SEED)), (5 * 2**20, 6 * 2**20, 0)]
    done[1] = (done[1][0], done[1][1], count_hits(2**20, SEED, 5 * 2**20))
    schedule = Schedule(Ledger(n, [n], done), [n], 2)
    counted = run_to_the_end(schedule, [1e9, 1e9], random.Random(2), 4)
    assert sum(p.count for p, _ in counted) == n - 2 * 2**20
    assert not any(p.start < e and s < p.end for p, _ in counted for s, e, _ in done)
    assert schedule.result == (n, count_hits(n, SEED))


def test_the_desk_answers_waiting_ranks_when_the_round_is_decided():
    n = 2**26
    schedule = Schedule(Ledger(n, [n]), [n], 2)
    desk = Desk(schedule)
    [(rank, probe)] = desk.ask(0, 0.0)
    assert rank == 0 and probe.count == Pace.FIRST
    [(rank, other)] = desk.ask(1, 0.0)
    assert rank == 1 and other.count == Pace.FIRST
    answers = desk.ask(0, 0.01, (probe, count_hits(probe.count, SEED, probe.start), 0.0, 0.0004,
                                 0.0))
    [(rank, rest)] = answers
    assert rank == 0 and rest.end == n  # a small run: all that is left
    assert desk.ask(1, 0.02, (other, count_hits(other.count, SEED, other.start), 0.0, 0.02,
                              0.0)) == []  # waits: rank 0 holds the last piece
    assert desk.ask(0, 0.1, (rest, count_hits(rest.count, SEED, rest.start), 0.01, 0.1,
                             0.0)) == [(1, None), (0, None)]
    assert schedule.result == (n, count_hits(n, SEED))


# The simulation


def test_the_simulation_runs_the_real_scheduler(monkeypatch):
    calls = []
    real = pymcpi.schedule.Pace.size

    def size(self, remaining, worker=None):
        calls.append(worker)
        return real(self, remaining, worker)

    monkeypatch.setattr(pymcpi.schedule.Pace, "size", size)
    out = simulate(10**11, [1e9] * 8, 1e-3, "pool")
    assert len(calls) == out.tasks
    assert pymcpi.simulate.Schedule is pymcpi.schedule.Schedule
    assert pymcpi.simulate.Desk is pymcpi.schedule.Desk


@pytest.mark.parametrize("engine, overhead", [("pool", 1e-3), ("mpi", 5e-5)])
@pytest.mark.parametrize("speeds", ["uniform", "mixed", "straggler"])
def test_simulated_efficiency_and_dispatcher_load(engine, overhead, speeds):
    workers = 200
    rates = [1e9] * workers
    if speeds == "mixed":
        rates = [1e9 if w % 2 else 1e9 / 3 for w in range(workers)]
    elif speeds == "straggler":
        rates[0] = 1e8
    out = simulate(int(120 * sum(rates)), rates, overhead, engine)  # two minutes
    assert out.efficiency >= 0.95
    assert out.load < 0.5
    # Pieces of about MAX_SECONDS, then a guided tail of a few dozen per worker.
    assert out.tasks <= 1.1 * workers * 120 / Pace.MAX_SECONDS + 30 * workers


def test_simulated_thousand_workers_keep_a_one_ms_dispatcher_below_half_busy():
    out = simulate(int(300 * 1e9 * 1000), [1e9] * 1000, 1e-3, "pool")
    assert out.load < 0.5 and out.efficiency >= 0.95
    assert out.tasks <= 300 * 1000 / 2.5 * 1.05  # pieces of about 2.5 s: 1000 * 1 ms / 0.4


def test_simulated_slow_dispatcher_two_workers():
    out = simulate(4 * 10**10, [2.5e9, 2.5e9], 0.05, "pool")
    assert out.efficiency >= 0.9 and out.tasks < 60


def test_simulated_killed_worker_loses_one_piece():
    out = simulate(10**12, [1e9] * 4, 1e-3, "pool", killed={1: 30.0})
    assert 0 < out.lost <= 1e9 * Pace.MAX_SECONDS
    assert out.efficiency >= 0.97


def test_ideal_time_accounts_for_killed_workers():
    assert ideal_seconds(100, [10, 10], {}) == 5
    assert ideal_seconds(100, [10, 10], {1: 2.0}) == pytest.approx(2 + 60 / 10)
    with pytest.raises(ValueError):
        ideal_seconds(100, [10], {0: 1.0})
