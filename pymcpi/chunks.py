"""Cutting ``[0, n)`` of a seed's stream into chunks of work.

Because any range of the stream can be counted on its own and the counts add
up exactly, the work can be cut anywhere: the answer never depends on the cut.
"""

# No "from __future__ import annotations": with it, NamedTuple leaves the
# fields typed ForwardRef('int'), and inspect.signature(Chunk) shows that.
from typing import NamedTuple

from ._core import BLOCK, _check_range
from .checks import index

__all__ = ["Chunk", "split"]


class Chunk(NamedTuple):
    """Points ``[start, start + n)`` of seed ``seed``'s stream.

    The fields are the arguments of `count_hits` in order, so
    ``count_hits(*chunk)`` counts the chunk and ``pool.starmap(count_hits,
    chunks)`` counts many.
    """

    n: int
    seed: int
    start: int


def split(n: int, parts: int, seed: int = 0) -> list[Chunk]:
    """Cut points ``[0, n)`` of seed ``seed`` into ``parts`` contiguous chunks.

    Parameters
    ----------
    n : int
        Points in all.
    parts : int
        Number of chunks, at least 1: typically the number of workers.
    seed : int, optional
        The stream's seed.

    Returns
    -------
    list of Chunk
        In stream order, covering ``[0, n)`` exactly. Chunks hold whole blocks
        of the stream where they can (so no worker re-generates a block
        another one started), and their sizes differ by at most one block;
        the last chunk also takes the points after the last whole block. So
        a run of fewer blocks (256 points each) than parts leaves some chunks
        empty: ``split(10, 3)`` gives chunks of 0, 0 and 10 points. Whatever ``parts`` is, ``sum(count_hits(*c) for c in split(n, parts,
        seed)) == count_hits(n, seed)``.

    Examples
    --------
    The tutorial's pattern::

        with multiprocessing.Pool(4) as pool:
            hits = sum(pool.starmap(pymcpi.count_hits, pymcpi.split(n, 4, seed=7)))
    """
    n, seed, _ = _check_range(n, seed)
    parts = index(parts, "parts", least=1)
    blocks, rest = divmod(n, BLOCK)
    share, extra = divmod(blocks, parts)
    chunks, start = [], 0
    for i in range(parts):
        size = (share + (i < extra)) * BLOCK + (rest if i == parts - 1 else 0)
        chunks.append(Chunk(size, seed, start))
        start += size
    return chunks

