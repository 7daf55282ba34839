"""Estimate pi on the cores of one machine with multiprocessing.Pool.

The shared-memory program of the tutorial "Multiprocessing with Python": cut
points ``[0, n)`` of one random stream into a chunk per worker with
``pymcpi.split``, let a ``multiprocessing.Pool`` count the chunks with
``pymcpi.count_hits``, and add the counts. The result depends on ``n`` and
``--seed`` only, not on ``--workers``.

The work starts under ``if __name__ == "__main__"``: with the spawn and
forkserver start methods (the default on macOS and Windows, and from Python
3.14 on Linux too) every worker imports this file, and must not start a pool
of its own.

Examples
--------
::

    python pool_pi.py -n 1e9 --workers 4
    python pool_pi.py -n 10**9 --workers 4 --seed 7 --json
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections.abc import Sequence
from multiprocessing import Pool

import pymcpi
from pymcpi.cli import parse_count


def count_with_pool(n: int, workers: int, seed: int = 0) -> int:
    """Count the hits among points ``[0, n)`` of ``seed`` with a process pool.

    Parameters
    ----------
    n : int
        Number of points.
    workers : int
        Number of worker processes, and of chunks.
    seed : int, optional
        The stream's seed.

    Returns
    -------
    int
        Points inside the quarter circle; always ``pymcpi.count_hits(n, seed)``.
    """
    chunks = pymcpi.split(n, workers, seed=seed)
    with Pool(workers) as pool:
        return sum(pool.starmap(pymcpi.count_hits, chunks))


def _count(text: str) -> int:
    try:
        n = parse_count(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if not 1 <= n < 2**64:
        raise argparse.ArgumentTypeError(f"{text!r} must be in [1, 2**64)")
    return n


def _workers(text: str) -> int:
    try:
        workers = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if workers < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return workers


def _seed(text: str) -> int:
    try:
        seed = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if not 0 <= seed < 2**64:
        raise argparse.ArgumentTypeError(f"{text!r} must be in [0, 2**64)")
    return seed


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse the command line.

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments; default ``sys.argv[1:]``.

    Returns
    -------
    argparse.Namespace
        With ``n``, ``workers``, ``seed`` and ``json``.
    """
    parser = argparse.ArgumentParser(
        description="Estimate pi with multiprocessing.Pool and pymcpi: "
        "pi ~= 4 * hits / n.")
    parser.add_argument("-n", type=_count, default=10**8,
                        help="number of points: 1e9, 10**9, 1_000_000_000 or 1000000000 "
                        "(default 1e8)")
    parser.add_argument("--workers", type=_workers, default=os.cpu_count() or 1,
                        help="worker processes (default: the number of CPUs, "
                        f"{os.cpu_count() or 1} here)")
    parser.add_argument("--seed", type=_seed, default=0, help="stream seed (default 0)")
    parser.add_argument("--json", action="store_true",
                        help="print the result as one JSON object")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the estimate and print it.

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments; default ``sys.argv[1:]``.

    Returns
    -------
    int
        The exit status, 0.
    """
    args = parse_args(argv)
    begin = time.perf_counter()
    hits = count_with_pool(args.n, args.workers, args.seed)
    elapsed = time.perf_counter() - begin
    p = hits / args.n
    result = {
        "n": args.n,
        "hits": hits,
        "seed": args.seed,
        "workers": args.workers,
        "pi": 4 * p,
        "stderr": 4 * math.sqrt(p * (1 - p) / args.n),
        "elapsed_s": elapsed,
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(f"pi ~= {result['pi']:.10f} +- {result['stderr']:.2g} "
              f"(n={args.n:,}, hits={hits:,}, seed={args.seed}, "
              f"{args.workers} workers, {elapsed:.3f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
