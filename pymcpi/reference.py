"""The point stream in a few lines of pure Python: slow, and obviously correct.

This module is the readable definition of the stream that the C kernels
compute. The tests check every SIMD path against it, and it is the place to
read how a point is made:

1. ``seed`` gives four key words, the first outputs of SplitMix64 from ``seed``.
2. Point ``i`` lies in block ``i // BLOCK``. A block's xoshiro256++ state is
   four words hashed from the keys and the block number, so any block can be
   started without the ones before it.
3. Point ``j`` of a block is the block's ``j``-th output ``r``. Its top 31 bits
   are the cell ``tx`` of x, its low 31 bits the cell ``ty`` of y, and the
   coordinates are the cell centres ``(2t + 1) / 2**32``.
4. A point is inside when ``(2tx + 1)**2 + (2ty + 1)**2 < 2**64``: the exact
   test of ``x**2 + y**2 < 1``, done in integers.
"""

from __future__ import annotations

from collections.abc import Iterator

__all__ = ["BLOCK", "cells", "count_hits", "sample_points"]

BLOCK = 256
MASK = (1 << 64) - 1
GAMMA = 0x9E3779B97F4A7C15


def mix64(z: int) -> int:
    """SplitMix64's output function, a bijection of 64-bit integers."""
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def rotl(x: int, k: int) -> int:
    return ((x << k) | (x >> (64 - k))) & MASK


def block_state(seed: int, block: int) -> list[int]:
    """The xoshiro256++ state that starts block ``block`` of seed ``seed``."""
    keys = [mix64((seed + (i + 1) * GAMMA) & MASK) for i in range(4)]
    return [mix64((keys[i] + block * (2 * i + 1) * GAMMA) & MASK) for i in range(4)]


def xoshiro256pp(s: list[int]) -> Iterator[int]:
    """The outputs of xoshiro256++ from state ``s`` (Blackman and Vigna)."""
    s0, s1, s2, s3 = s
    while True:
        yield (rotl((s0 + s3) & MASK, 23) + s0) & MASK
        t = (s1 << 17) & MASK
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = rotl(s3, 45)


def cells(n: int, seed: int = 0, start: int = 0) -> Iterator[tuple[int, int]]:
    """The cells ``(tx, ty)``, each in ``[0, 2**31)``, of points
    ``[start, start + n)``."""
    index = start
    while index < start + n:
        block, offset = divmod(index, BLOCK)
        outputs = xoshiro256pp(block_state(seed, block))
        for _ in range(offset):
            next(outputs)
        for _ in range(min(BLOCK - offset, start + n - index)):
            r = next(outputs)
            yield r >> 33, r & 0x7FFFFFFF
            index += 1


def count_hits(n: int, seed: int = 0, start: int = 0) -> int:
    """Hits among points ``[start, start + n)``, by the exact integer test."""
    return sum((2 * tx + 1) ** 2 + (2 * ty + 1) ** 2 < 1 << 64
               for tx, ty in cells(n, seed, start))


def sample_points(n: int, seed: int = 0, start: int = 0) -> list[tuple[float, float]]:
    """Points ``[start, start + n)`` as ``(x, y)`` floats, exactly."""
    return [((2 * tx + 1) / 2**32, (2 * ty + 1) / 2**32)
            for tx, ty in cells(n, seed, start)]
