"""Estimate pi on the cores of one machine with multiprocessing.Pool.

The shared-memory program of the tutorial "Multiprocessing with Python": cut
points [0, n) of one random stream into a chunk per worker with pymcpi.split,
let a multiprocessing.Pool count the chunks with pymcpi.count_hits, and add
the counts. The answer depends on -n and --seed only, not on --workers.

The work starts under ``if __name__ == "__main__"``: under the spawn and
forkserver start methods every worker imports this file, and must not start
a pool of its own.

    python pool_pi.py -n 1e9 --workers 4
    python pool_pi.py -n 10**9 --workers 4 --seed 7 --json
"""

import json
import os
import time
from multiprocessing import Pool

import pymcpi
from pymcpi.cli import ArgumentParser, parse_count, parse_positive_count


def main() -> None:
    """Parse the command line, count with a Pool, print the estimate."""
    parser = ArgumentParser(  # pymcpi's: errors in one line, as from the pymcpi command
        description="Estimate pi with multiprocessing.Pool: pi ~= 4 * hits / n.")
    parser.add_argument("-n", type=parse_count, default=10**8,
                        help="points: 1e9, 10**9 or 1_000_000_000 (default 1e8)")
    parser.add_argument("--workers", type=parse_positive_count, default=os.cpu_count() or 1,
                        help="worker processes (default: all CPUs)")
    parser.add_argument("--seed", type=parse_count, default=0, help="stream seed (default 0)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args()

    begin = time.perf_counter()
    try:
        chunks = pymcpi.split(args.n, args.workers, seed=args.seed)  # one per worker
        with Pool(args.workers) as pool:
            hits = sum(pool.starmap(pymcpi.count_hits, chunks))
        est = pymcpi.Estimate(n=args.n, hits=hits, seed=args.seed, backend="pool",
                              workers=args.workers, elapsed=time.perf_counter() - begin)
    except (TypeError, ValueError) as exc:
        parser.error(str(exc))
    print(json.dumps(est.to_dict()) if args.json else est)


if __name__ == "__main__":
    main()
