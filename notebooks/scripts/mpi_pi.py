"""Estimate pi on the ranks of an MPI job: the tutorial's MPI program.

Every rank counts its own chunk of the points, in its own memory, and one
reduction brings the counts to rank 0, which prints the result. The answer
depends on -n and --seed only, never on the number of ranks.

    mpiexec -n 4 python mpi_pi.py -n 1e9 --seed 7
    mpiexec -n 4 python mpi_pi.py -n 1e9 --seed 7 --json
"""

import json
import time

import pymcpi
from pymcpi.cli import ArgumentParser, parse_count


def main() -> None:
    """Count this rank's chunk, reduce the counts to rank 0 and print there."""
    parser = ArgumentParser(  # pymcpi's: errors in one line, as from the pymcpi command
        description="Estimate pi on MPI ranks: pi ~= 4 * hits / n.",
        epilog="run with: mpiexec -n 4 python mpi_pi.py -n 1e9 --seed 7")
    parser.add_argument("-n", type=parse_count, default=10**8,
                        help="points: 1e9, 10**9 or 1_000_000_000 (default 1e8)")
    parser.add_argument("--seed", type=parse_count, default=0, help="stream seed (default 0)")
    parser.add_argument("--json", action="store_true",
                        help="print one line of JSON, with the number of ranks")
    args = parser.parse_args()

    from mpi4py import MPI  # after parsing, so that --help needs no MPI

    comm = MPI.COMM_WORLD
    begin = time.perf_counter()
    mine = pymcpi.count_hits(*pymcpi.split(args.n, comm.size, args.seed)[comm.rank])
    hits = comm.reduce(mine, op=MPI.SUM, root=0)
    if comm.rank == 0:
        est = pymcpi.Estimate(n=args.n, hits=hits, seed=args.seed, backend="mpi",
                              workers=comm.size, elapsed=time.perf_counter() - begin)
        print(json.dumps({**est.to_dict(), "ranks": comm.size}) if args.json
              else f"{est} on {comm.size} rank{'s' if comm.size > 1 else ''}")


if __name__ == "__main__":
    main()
