"""The work of a run as ranges of the stream: rounds, and the ledger of
finished ranges.

A run is points ``[0, n)`` of a seed's stream. A precision target is checked
at the ends of fixed rounds, whose edges depend on ``n`` alone. The ledger
records what is finished; the scheduler (`schedule.py`) deals out what is not.
Nothing here grows with ``n``: rounds are O(log n), and the ledger holds one
range per hole that work in flight leaves (O(workers)). Because
``count_hits(n, seed, start)`` is exact for any range, the answer never
depends on how the work was cut or who counted it.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from typing import NamedTuple

from ._core import BLOCK

__all__ = ["Counted", "Ledger", "Span", "first_round", "round_edges"]

# The first precision round is about 1/64 of the run, in whole blocks, kept
# between 2**20 points (so that per-round costs stay negligible) and 2**28;
# later rounds double the points done.
MIN_ROUND = 1 << 20
MAX_ROUND = 1 << 28


class Span(NamedTuple):
    """Points ``[start, end)`` of the stream: a piece of work."""

    start: int
    end: int

    @property
    def count(self) -> int:
        """The number of points, ``end - start``."""
        return self.end - self.start


class Counted(NamedTuple):
    """Points ``[start, end)`` of the stream, finished, with their hits."""

    start: int
    end: int
    hits: int


def first_round(n: int) -> int:
    """Points in the first precision round of a run of ``n`` points."""
    size = -(-n // 64)
    size = -(-size // BLOCK) * BLOCK
    return min(max(size, MIN_ROUND), MAX_ROUND)


def round_edges(n: int, growing: bool) -> list[int]:
    """The ends of the rounds after which a precision target is checked:
    ``[n]`` alone, or ``c, 2c, 4c, ... n`` with ``c`` the first round's size
    (n / 64 in whole blocks, kept between 2**20 and 2**28 points). At most 66
    numbers, whatever ``n``."""
    if not growing:
        return [n]
    edges, end = [], first_round(n)
    while end < n:
        edges.append(end)
        end *= 2
    edges.append(n)
    return edges


class Ledger:
    """The finished ranges of a run, disjoint and sorted, with neighbours
    merged as they join.

    Ranges are never merged across a round edge, so that the hits of every
    finished round can still be read off after a resume. Its length is the
    number of holes left by work in flight, plus at most one per round.

    Parameters
    ----------
    n : int
        The run's points: every range lies in ``[0, n)``.
    edges : iterable of int
        Round edges (see `round_edges`).
    ranges : iterable of (int, int, int), optional
        Finished ranges ``(start, end, hits)`` to start from, in any order.
    """

    def __init__(self, n: int, edges: Iterable[int],
                 ranges: Iterable[tuple[int, int, int]] = ()) -> None:
        self.n = n
        self.edges = frozenset(edges)
        self.starts: list[int] = []
        self.ends: list[int] = []
        self.hits: list[int] = []
        self.points = 0
        for start, end, hits in sorted(ranges):
            self.add(start, end, hits)

    def __len__(self) -> int:
        return len(self.starts)

    def ranges(self) -> list[Counted]:
        """The finished ranges, sorted."""
        return list(map(Counted, self.starts, self.ends, self.hits))

    def add(self, start: int, end: int, hits: int) -> None:
        """Record ``[start, end)`` as finished, with ``hits`` new hits.

        Finished ranges that lie inside ``[start, end)`` are absorbed (their
        hits kept). Partial overlap, a range outside ``[0, n)`` or more hits
        than new points is a ValueError: it would count points twice or count
        points that do not exist.
        """
        if not 0 <= start < end <= self.n:
            raise ValueError(f"range [{start}, {end}) is not inside [0, {self.n})")
        i = bisect.bisect_left(self.starts, start)
        j = bisect.bisect_left(self.starts, end)
        if (i > 0 and self.ends[i - 1] > start) or (j > i and self.ends[j - 1] > end):
            raise ValueError(f"range [{start}, {end}) overlaps finished work")
        inner = sum(e - s for s, e in zip(self.starts[i:j], self.ends[i:j]))
        if not 0 <= hits <= end - start - inner:
            raise ValueError(f"{hits} hits in [{start}, {end}) is more than its new points")
        self.points += end - start - inner
        hits += sum(self.hits[i:j])
        del self.starts[i:j], self.ends[i:j], self.hits[i:j]
        if i > 0 and self.ends[i - 1] == start and start not in self.edges:
            i -= 1
            start, hits = self.starts[i], hits + self.hits[i]
            del self.starts[i], self.ends[i], self.hits[i]
        if i < len(self.starts) and self.starts[i] == end and end not in self.edges:
            end, hits = self.ends[i], hits + self.hits[i]
            del self.starts[i], self.ends[i], self.hits[i]
        self.starts.insert(i, start)
        self.ends.insert(i, end)
        self.hits.insert(i, hits)

    def gaps(self, start: int, end: int) -> list[Span]:
        """The unfinished spans in ``[start, end)``, sorted."""
        i = bisect.bisect_right(self.ends, start)
        gaps, at = [], start
        while at < end and i < len(self.starts) and self.starts[i] < end:
            if self.starts[i] > at:
                gaps.append(Span(at, self.starts[i]))
            at = max(at, self.ends[i])
            i += 1
        if at < end:
            gaps.append(Span(at, end))
        return gaps

    def hits_in(self, start: int, end: int) -> int:
        """The hits in ``[start, end)``, which must be finished and have its
        ends on range boundaries (round edges are)."""
        i = bisect.bisect_left(self.starts, start)
        j = bisect.bisect_left(self.starts, end)
        if (self.gaps(start, end) or (i > 0 and self.ends[i - 1] > start)
                or (j > i and self.ends[j - 1] != end)):
            raise ValueError(f"[{start}, {end}) is not finished")  # a bug, never the user's
        return sum(self.hits[i:j])
