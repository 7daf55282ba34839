"""Estimate pi on the ranks of an MPI job: the tutorial's MPI program.

Every rank counts its own share of the points, in its own memory, and one
message per rank (a reduction) brings the counts to rank 0, which prints the
result. Run it with, for example::

    mpiexec -n 4 python mpi_pi.py -n 1e9 --seed 7
    mpiexec -n 4 python mpi_pi.py -n 1e9 --seed 7 --json

The answer depends on ``-n`` and ``--seed`` only, never on the number of ranks.
"""

from __future__ import annotations

import argparse
import json
import time

import pymcpi
from pymcpi.cli import parse_count


def _points(text: str) -> int:
    """Parse ``-n``: a whole number in [1, 2**64], written as 1e9, 10**9 or
    1_000_000_000."""
    try:
        n = parse_count(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: need at least one point")
    if n > 2**64:
        raise argparse.ArgumentTypeError(f"{text!r}: a stream has 2**64 points")
    return n


def _seed(text: str) -> int:
    """Parse ``--seed``: a whole number in [0, 2**64)."""
    try:
        seed = parse_count(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if seed >= 2**64:
        raise argparse.ArgumentTypeError(f"{text!r}: the seed must be below 2**64")
    return seed


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Read the command line; ``--help`` works without mpiexec or mpi4py.

    Parameters
    ----------
    argv : list of str, optional
        The arguments; default ``sys.argv[1:]``.

    Returns
    -------
    argparse.Namespace
        With ``n``, ``seed`` and ``json``.
    """
    parser = argparse.ArgumentParser(
        description="Estimate pi on MPI ranks: each rank counts its chunk of the "
        "points, rank 0 adds the counts and prints the result.",
        epilog="run with: mpiexec -n 4 python mpi_pi.py -n 1e9 --seed 7",
    )
    parser.add_argument("-n", type=_points, default=10**8,
                        help="number of points: 1e9, 10**9, 1_000_000_000 (default 1e8)")
    parser.add_argument("--seed", type=_seed, default=0, help="stream seed (default 0)")
    parser.add_argument("--json", action="store_true",
                        help="print one line of JSON: n, hits, seed, ranks, pi, stderr, "
                        "elapsed_s, ...")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Count this rank's chunk, reduce the counts to rank 0 and print there.

    Parameters
    ----------
    argv : list of str, optional
        The arguments; default ``sys.argv[1:]``.
    """
    args = parse_args(argv)

    from mpi4py import MPI  # imported after parsing, so that --help needs no MPI

    comm = MPI.COMM_WORLD
    begin = time.perf_counter()
    mine = pymcpi.count_hits(*pymcpi.split(args.n, comm.size, args.seed)[comm.rank])
    hits = comm.reduce(mine, op=MPI.SUM, root=0)
    elapsed = time.perf_counter() - begin

    if comm.rank != 0:
        return
    est = pymcpi.Estimate(n=args.n, hits=hits, seed=args.seed, elapsed=elapsed,
                          backend="mpi", workers=comm.size)
    if args.json:
        print(json.dumps({**est.to_dict(), "ranks": comm.size}))
    else:
        print(f"{est} on {comm.size} rank{'s' if comm.size > 1 else ''} "
              f"in {elapsed:.3f} s")


if __name__ == "__main__":
    main()
