"""The ``pymcpi`` command line: ``run``, ``info`` and ``bench``."""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation

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
                     help="number of points: 1e10, 10_000_000_000, 10**10 or 123")
    run.add_argument("--seed", type=_count_arg, default=0, help="stream seed (default 0)")
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
    return parser


def _run(args: argparse.Namespace) -> None:
    from . import estimate_pi, simd

    est = estimate_pi(args.n, seed=args.seed)
    if args.json:
        print(json.dumps(est.to_dict()))
        return
    low, high = est.ci(0.95)
    error = est.pi - math.pi
    sigmas = error / est.stderr if est.stderr else math.inf
    rate = est.n / est.elapsed if est.elapsed > 0 else math.inf
    print(f"pi      ~= {est.pi:.12f} +- {est.stderr:.3g} (standard error)")
    print(f"95% CI     [{low:.12f}, {high:.12f}]")
    print(f"error      {error:+.3g} ({sigmas:+.2f} standard errors)")
    print(f"points     n={est.n:,}  hits={est.hits:,}  seed={est.seed}")
    print(f"run        {est.elapsed:.3f} s, {rate / 1e6:,.0f} M points/s, "
          f"backend={est.backend}, workers={est.workers}, simd={simd()}")


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
    from .bench import format_table, run_benchmarks

    if not args.seconds > 0:
        raise ValueError(f"--seconds must be > 0, got {args.seconds}")
    if args.repeat < 1:
        raise ValueError(f"--repeat must be >= 1, got {args.repeat}")
    result = run_benchmarks(seconds=args.seconds, repeat=args.repeat)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(format_table(result))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    args = _build_parser().parse_args(argv)
    command = {"run": _run, "info": _info, "bench": _bench}[args.command]
    try:
        command(args)
    except (ValueError, TypeError, MemoryError) as exc:
        print(f"pymcpi: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("pymcpi: interrupted", file=sys.stderr)
        return 130
    return 0
