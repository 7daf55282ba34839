"""Costs of the MPI primitives of a request/reply engine, for ``pymcpi bench
--scaling`` (``bench.run_sync_cost``). Run it under an MPI launcher::

    mpiexec -n 4 python -m pymcpi._mpi_probe [CALLS]

Two measurements, each after a warm-up of ``CALLS // 10`` calls (at least
one) and a Barrier:

- requests: every rank but 0 makes ``CALLS`` round trips to rank 0, each a
  blocking ``Send`` of a request of ``WORDS`` uint64 words and a ``Recv`` of
  a reply of the same size; rank 0 serves the requests of all ranks as they
  come (``Recv`` from any source, ``Send`` of the reply to it);
- ``Bcast`` of ``WORDS`` uint64 words from rank 0 to every rank, ``CALLS``
  times.

Rank 0 prints one line of JSON::

    {"ranks": 4, "bytes": 32, "roundtrip_us": ..., "rank0_us_per_request": ...,
     "bcast_us": ...}

``bytes`` is the size of a request, of a reply and of a broadcast.
``roundtrip_us`` is the time from a request's Send to the end of its reply's
Recv, the slowest requesting rank's mean; ``rank0_us_per_request`` is rank
0's time serving all the requests divided by their number: what a request
costs rank 0 while every other rank is asking. Both are null on one rank,
which has no one to ask. ``bcast_us`` is the slowest rank's mean time per
Bcast. All are microseconds.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

WORDS = 4  # uint64 words per request, reply and broadcast
REQUEST, REPLY = 1, 2  # message tags


def _requests(comm: Any, calls: int) -> float:
    """Seconds this rank spends on ``calls`` round trips per asking rank:
    serving all of them on rank 0, making its own on the others."""
    out = np.arange(WORDS, dtype=np.uint64)
    into = np.empty(WORDS, dtype=np.uint64)
    begin = time.perf_counter()
    if comm.rank == 0:
        from mpi4py import MPI

        status = MPI.Status()
        for _ in range(calls * (comm.size - 1)):
            comm.Recv(into, source=MPI.ANY_SOURCE, tag=REQUEST, status=status)
            comm.Send(out, dest=status.Get_source(), tag=REPLY)
    else:
        for _ in range(calls):
            comm.Send(out, dest=0, tag=REQUEST)
            comm.Recv(into, source=0, tag=REPLY)
    return time.perf_counter() - begin


def _broadcasts(comm: Any, calls: int) -> float:
    """Seconds this rank spends in ``calls`` Bcasts from rank 0."""
    buffer = np.arange(WORDS, dtype=np.uint64)
    begin = time.perf_counter()
    for _ in range(calls):
        comm.Bcast(buffer, root=0)
    return time.perf_counter() - begin


def probe(comm: Any, calls: int) -> dict[str, Any]:
    """Measure on every rank of ``comm``; every rank returns the same dict,
    the JSON described in the module's docstring."""
    from mpi4py import MPI

    def timed(measure: Any) -> float:
        measure(comm, max(1, calls // 10))  # the first calls open connections
        comm.Barrier()
        return float(measure(comm, calls))

    requests = timed(_requests)
    asking = requests / calls if comm.rank > 0 else 0.0
    roundtrip = comm.allreduce(asking, op=MPI.MAX)
    serving = comm.bcast(requests / (calls * (comm.size - 1)) if comm.size > 1 else None,
                         root=0)
    bcast = comm.allreduce(timed(_broadcasts) / calls, op=MPI.MAX)
    several = comm.size > 1
    return {"ranks": comm.size, "bytes": 8 * WORDS,
            "roundtrip_us": roundtrip * 1e6 if several else None,
            "rank0_us_per_request": serving * 1e6 if serving is not None else None,
            "bcast_us": bcast * 1e6}


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m pymcpi._mpi_probe [CALLS]`` (default 200): rank 0 prints
    the JSON line."""
    args = sys.argv[1:] if argv is None else list(argv)
    calls = int(args[0]) if args else 200
    if calls < 1:
        raise SystemExit(f"CALLS must be >= 1, got {calls}")
    from mpi4py import MPI

    result = probe(MPI.COMM_WORLD, calls)
    if MPI.COMM_WORLD.rank == 0:
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
