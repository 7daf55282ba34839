"""The ``pymcpi`` command line: ``run``, ``info`` and ``bench``."""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation

from .backends import BACKENDS

__all__ = ["main", "parse_count"]


def parse_count(text: str) -> int:
    """Parse a point count written as ``1e10``, ``10_000_000_000``, ``10**10``
    or a plain integer; the value must be a whole number >= 0."""
    power = re.fullmatch(r"\s*(\d+)\s*\*\*\s*(\d+)\s*", text)
    if power:
        base, exponent = int(power.group(1)), int(power.group(2))
        if exponent > 64:
            raise ValueError(f"{text!r} is too large")
        return int(base**exponent)
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise ValueError(f"{text!r} is not a number") from None
    if not value.is_finite() or value != value.to_integral_value():
        raise ValueError(f"{text!r} is not a whole number")
    if value < 0:
        raise ValueError(f"{text!r} is negative")
    if value.adjusted() > 30:
        raise ValueError(f"{text!r} is too large")
    return int(value)


def _count_arg(text: str) -> int:
    try:
        return parse_count(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pymcpi",
        description="Monte Carlo estimation of pi with an exact, reproducible C kernel.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="estimate pi", description="Estimate pi from n points.")
    run.add_argument("-n", type=_count_arg, required=True,
                     help="number of points (the budget with --tol): 1e10, "
                     "10_000_000_000, 10**10 or 123")
    run.add_argument("--seed", type=_count_arg, default=0, help="stream seed (default 0)")
    run.add_argument("--backend", choices=BACKENDS, default="serial",
                     help="who counts (default serial); under mpiexec use mpi")
    run.add_argument("--workers", type=int, default=None,
                     help="threads or processes (default: the CPUs available)")
    run.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                     help="show a progress bar on stderr (default: when it is a terminal)")
    run.add_argument("--tol", type=float, default=None,
                     help="stop once the confidence interval's half-width is at most TOL")
    run.add_argument("--confidence", type=float, default=0.95,
                     help="confidence level for --tol and the printed interval (default 0.95)")
    run.add_argument("--checkpoint", metavar="FILE", default=None,
                     help="record finished chunks in FILE and resume from it")
    run.add_argument("--json", action="store_true", help="print the result as JSON")

    info = sub.add_parser("info", help="show versions and SIMD paths",
                          description="Show the version, SIMD paths and dependencies.")
    info.add_argument("--json", action="store_true", help="print as JSON")

    bench = sub.add_parser(
        "bench", help="measure kernel throughput",
        description="Measure points/s of the kernel on each SIMD path, single-threaded, "
        "next to a hand-written AVX2 xoshiro256+ loop, NumPy and pure Python, in one run.")
    bench.add_argument("--seconds", type=float, default=0.5,
                       help="target duration of one timed run (default 0.5)")
    bench.add_argument("--repeat", type=int, default=3,
                       help="timed runs per method; the best counts (default 3)")
    bench.add_argument("--json", action="store_true", help="print the results as JSON")
    bench.add_argument("--scaling", action="store_true",
                       help="measure strong and weak scaling of threads, processes and MPI")
    bench.add_argument("-n", type=_count_arg, default=2 * 10**10,
                       help="points for strong scaling (default 2e10); weak scaling "
                       "gives each worker n / max-workers")
    bench.add_argument("--max-workers", type=int, default=None,
                       help="largest worker count for --scaling (default: the CPUs available)")
    bench.add_argument("--plot", metavar="FILE.png", default=None,
                       help="with --scaling, draw speed-up and efficiency (needs matplotlib)")
    return parser


def _run(args: argparse.Namespace) -> None:
    from . import estimate_pi, simd

    progress = sys.stderr.isatty() if args.progress is None else args.progress
    est = estimate_pi(args.n, seed=args.seed, backend=args.backend, workers=args.workers,
                      progress=progress, tol=args.tol, confidence=args.confidence,
                      checkpoint=args.checkpoint)
    if args.backend == "mpi" and _mpi_rank() != 0:
        return  # every rank has the same Estimate; rank 0 prints it
    if args.json:
        print(json.dumps(est.to_dict()))
        return
    low, high = est.ci(args.confidence)
    error = est.pi - math.pi
    sigmas = error / est.stderr if est.stderr else math.inf
    rate = est.n / est.elapsed if est.elapsed > 0 else math.inf
    print(f"pi      ~= {est.pi:.12f} +- {est.stderr:.3g} (standard error)")
    print(f"{f'{100 * args.confidence:g}% CI':<10} [{low:.12f}, {high:.12f}]")
    print(f"error      {error:+.3g} ({sigmas:+.2f} standard errors)")
    print(f"points     n={est.n:,}  hits={est.hits:,}  seed={est.seed}")
    print(f"run        {est.elapsed:.3f} s, {rate / 1e6:,.0f} M points/s, "
          f"backend={est.backend}, workers={est.workers}, simd={simd()}")


def _mpi_rank() -> int:
    from mpi4py import MPI

    return int(MPI.COMM_WORLD.Get_rank())


def _info(args: argparse.Namespace) -> None:
    from .bench import machine_info

    info = machine_info()
    if args.json:
        print(json.dumps(info))
        return
    width = max(map(len, info))
    for key, value in info.items():
        if isinstance(value, list):
            value = ", ".join(value)
        print(f"{key:<{width}}  {value if value is not None else '-'}")


def _bench(args: argparse.Namespace) -> None:
    from . import bench

    if not args.seconds > 0:
        raise ValueError(f"--seconds must be > 0, got {args.seconds}")
    if args.repeat < 1:
        raise ValueError(f"--repeat must be >= 1, got {args.repeat}")
    if not args.scaling:
        if args.plot:
            raise ValueError("--plot goes with --scaling")
        result = bench.run_benchmarks(seconds=args.seconds, repeat=args.repeat)
        print(json.dumps(result, indent=2) if args.json else bench.format_table(result))
        return
    from .backends import default_workers

    max_workers = default_workers() if args.max_workers is None else args.max_workers
    if max_workers < 1:
        raise ValueError(f"--max-workers must be >= 1, got {max_workers}")
    if args.n < max_workers:
        raise ValueError(f"-n must be at least --max-workers, got {args.n}")
    result = bench.run_scaling(args.n, max_workers, repeat=args.repeat)
    print(json.dumps(result, indent=2) if args.json else bench.format_scaling(result))
    if args.plot:
        bench.plot_scaling(result, args.plot)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    args = _build_parser().parse_args(argv)
    command = {"run": _run, "info": _info, "bench": _bench}[args.command]
    try:
        command(args)
    except (ValueError, TypeError, MemoryError, RuntimeError, OSError) as exc:
        print(f"pymcpi: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("pymcpi: interrupted", file=sys.stderr)
        return 130
    return 0
