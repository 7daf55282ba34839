"""The ``pymcpi`` command line: ``run``, ``info`` and ``bench``."""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import threading
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from typing import NoReturn

from . import __version__
from .backends import BACKENDS
from .launcher import launched_ranks
from .signals import describe, exit_status, ignore_from_now, once

__all__ = ["ArgumentParser", "main", "parse_count", "parse_positive_count"]


class ArgumentParser(argparse.ArgumentParser):
    """argparse, with errors as one line on stderr that points to ``--help``
    (instead of the usage block), and exit status 2."""

    def error(self, message: str) -> NoReturn:
        """Print ``PROG: error: MESSAGE (see PROG --help)`` and exit with 2."""
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


class _ArgumentValueError(ValueError, argparse.ArgumentTypeError):
    """A ValueError for callers of parse_count; as an ArgumentTypeError,
    argparse prints its message instead of "invalid value"."""


def parse_count(text: str) -> int:
    """Parse a point count written as ``1e10``, ``10_000_000_000``, ``10**10``
    or a plain integer.

    Parameters
    ----------
    text : str
        The count as typed. Underscores go between digits, as in Python's
        numeric literals.

    Returns
    -------
    int
        The value, a whole number >= 0.

    Raises
    ------
    ValueError
        Naming the text, when it is not such a number. It is also an
        ``argparse.ArgumentTypeError``, so ``type=parse_count`` shows the
        message.
    """
    power = re.fullmatch(r"\s*(\d+)\s*\*\*\s*(\d+)\s*", text)
    if power:
        base, exponent = int(power.group(1)), int(power.group(2))
        if exponent > 64:
            raise _ArgumentValueError(f"{text!r} is too large")
        return int(base**exponent)
    # Decimal also takes "1_000_", "_10" and "1__0", which Python does not.
    if re.search(r"(?<![0-9])_|_(?![0-9])", text):
        raise _ArgumentValueError(f"{text!r} is not a number: an underscore goes "
                                  "between two digits")
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise _ArgumentValueError(f"{text!r} is not a number") from None
    if not value.is_finite() or value != value.to_integral_value():
        raise _ArgumentValueError(f"{text!r} is not a whole number")
    if value < 0:
        raise _ArgumentValueError(f"{text!r} is negative")
    if value.adjusted() > 30:
        raise _ArgumentValueError(f"{text!r} is too large")
    return int(value)


def parse_positive_count(text: str) -> int:
    """Parse a whole number >= 1 (workers, repeats), written as for
    `parse_count`; a ValueError (and ``argparse.ArgumentTypeError``) names
    the text otherwise."""
    value = parse_count(text)
    if value < 1:
        raise _ArgumentValueError(f"must be >= 1, got {text.strip()}")
    return value


def _tol_arg(text: str) -> float:
    value = _float_arg(text)
    if not value > 0:
        raise _ArgumentValueError(f"tol must be > 0, got {_as_typed(text, value)}")
    return value


def _confidence_arg(text: str) -> float:
    value = _float_arg(text)
    if not 0.0 < value < 1.0:
        raise _ArgumentValueError("confidence must be strictly between 0 and 1, "
                                  f"got {_as_typed(text, value)}")
    return value


def _seconds_arg(text: str) -> float:
    value = _float_arg(text)
    if not 0 < value < math.inf:
        raise _ArgumentValueError(f"must be > 0, got {_as_typed(text, value)}")
    return value


def _float_arg(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise _ArgumentValueError(f"{text!r} is not a number") from None


def _as_typed(text: str, value: float) -> str:
    """The value as the user typed it, and what it became if a float could not
    hold it (``1e-400`` is 0.0, ``0.99999999999999999999`` is 1.0)."""
    typed = text.strip()
    try:
        exact = Decimal(typed)
    except InvalidOperation:
        return typed
    if exact.is_finite() and exact != Decimal(repr(value)):
        return f"{typed}, which is {value!r} as a float"
    return typed


def _build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog="pymcpi",
        description="Monte Carlo estimation of pi with an exact, reproducible C kernel.",
    )
    parser.add_argument("--version", action="version", version=f"pymcpi {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="estimate pi", description="Estimate pi from n points.")
    run.add_argument("-n", type=parse_count, required=True,
                     help="number of points (the budget with --tol): 1e10, "
                     "10_000_000_000, 10**10 or 123")
    run.add_argument("--seed", type=parse_count, default=0, help="stream seed (default 0)")
    run.add_argument("--backend", choices=("auto", *BACKENDS), default="auto",
                     help="who counts (default auto: mpi when an MPI launcher such as "
                     "mpiexec or srun started several ranks, else threads when --workers "
                     "is above 1, else serial)")
    run.add_argument("--workers", type=parse_positive_count, default=None,
                     help="threads or processes; with --backend auto, more than 1 "
                     "means threads (default: 1 with auto, the CPUs available with "
                     "threads or processes)")
    run.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                     help="show a progress bar on stderr (default: when it is a terminal, "
                     "or when mpiexec started this process from one)")
    run.add_argument("--tol", type=_tol_arg, default=None,
                     help="stop once the confidence interval's half-width is at most TOL; "
                     "a warning on stderr says when n points were not enough")
    run.add_argument("--confidence", type=_confidence_arg, default=0.95,
                     help="confidence level for --tol and the printed interval (default 0.95)")
    run.add_argument("--coverage", choices=("nominal", "guaranteed"), default="nominal",
                     help="with --tol: nominal checks each round end at --confidence, so an "
                     "early stop can cover pi a little less often; guaranteed shares "
                     "1 - confidence among the round ends, so that the interval holds at "
                     "--confidence, at the price of more points (default nominal)")
    run.add_argument("--checkpoint", metavar="FILE", default=None,
                     help="record finished chunks in FILE and resume from it")
    run.add_argument("--json", action="store_true", help="print the result as JSON")

    info = sub.add_parser("info", help="show versions and SIMD paths",
                          description="Show the version, SIMD paths and dependencies.")
    info.add_argument("--json", action="store_true", help="print as JSON")

    bench = sub.add_parser(
        "bench", help="measure kernel throughput",
        description="Measure points/s of the kernel on each SIMD path, single-threaded, "
        "each vector path next to its own yardstick (a plain xoshiro256++ loop on the same "
        "instruction set), NumPy and pure Python, in one run.")
    bench.add_argument("--seconds", type=_seconds_arg, default=0.5,
                       help="target duration of one timed run (default 0.5)")
    bench.add_argument("--repeat", type=parse_positive_count, default=3,
                       help="timed runs per method; the best counts (default 3)")
    bench.add_argument("--json", action="store_true", help="print the results as JSON")
    bench.add_argument("--scaling", action="store_true",
                       help="measure strong and weak scaling of threads, processes and MPI; "
                       "says first about how long it will take, and Ctrl-C prints the runs "
                       "measured so far")
    bench.add_argument("--scheduling", action="store_true",
                       help="measure whether the work follows the workers: a pool behind a "
                       "dispatcher that spends 50 ms a task, and MPI ranks of different "
                       "speed (one fast SIMD path, one scalar), each against its ideal")
    bench.add_argument("-n", type=parse_count, default=2 * 10**10,
                       help="points for strong scaling (default 2e10); weak scaling "
                       "gives each worker n / max-workers")
    bench.add_argument("--max-workers", type=parse_positive_count, default=None,
                       help="largest worker count for --scaling (default: the CPUs available)")
    bench.add_argument("--plot", metavar="FILE.png", default=None,
                       help="with --scaling, draw speed-up and efficiency (needs matplotlib)")
    return parser


def _run(args: argparse.Namespace) -> None:
    from . import estimate_pi, simd
    from .launcher import LaunchError, launched_rank

    backend = args.backend
    ranks = launched_ranks()
    if backend == "auto":  # never one full run per rank: see launcher.py
        if ranks > 1:
            backend = "mpi"
        else:  # --workers 4 asks for 4 workers: threads, as the kernel releases the GIL
            backend = "threads" if (args.workers or 1) > 1 else "serial"
    progress = args.progress
    if progress is None:  # a terminal, or one behind mpiexec (whose ranks write to a pipe)
        from .estimate import launcher_terminal_columns

        progress = sys.stderr.isatty() or launcher_terminal_columns() is not None
    try:
        if backend != "mpi" and ranks > 1:  # nobody can give each rank a seed of its own here
            raise LaunchError(
                f"this is one of {ranks} tasks that an MPI launcher started, and --backend "
                f"{backend} would count all n points in each of them: use --backend mpi (or "
                "auto) to share the run, or start one task (srun -n 1, mpiexec -n 1) to "
                "count alone")
        est = estimate_pi(args.n, seed=args.seed, backend=backend, workers=args.workers,
                          progress=progress, tol=args.tol, confidence=args.confidence,
                          checkpoint=args.checkpoint, coverage=args.coverage)
    except LaunchError:
        # Every task of the job finds the same; the launcher's rank 0 says it.
        if launched_rank() != 0:
            raise SystemExit(2) from None
        raise
    except ImportError as exc:
        if exc.name != "mpi4py":  # the MPI backend's own ImportError names it
            raise
        started = "" if args.backend == "mpi" else (
            f"started as one of {ranks} MPI ranks, so --backend mpi; ")
        raise RuntimeError(f"{started}the mpi backend needs mpi4py: "
                           'pip install ".[mpi]" in a clone of pymcpi '
                           '(pip install "pymcpi[mpi]" once released)') from None
    if backend == "mpi" and _mpi_rank() != 0:
        return  # every rank has the same Estimate; rank 0 prints it
    if est.tol is not None and not est.target_met:
        needed = est.n * (est.half_width / est.tol) ** 2
        reach = (f"about {needed:.2g} points would reach it" if needed <= 2**64 - 1 else
                 f"the target is out of reach: it needs about {needed:.2g} points, beyond "
                 "the stream's 2**64 - 1")
        print(f"pymcpi: warning: precision target not met: the {100 * est.level:.6g}% "
              f"interval's half-width is {est.half_width:.3g} > --tol {est.tol:g} after all "
              f"n={est.n:,} points; {reach}", file=sys.stderr)
    if args.json:
        print(json.dumps(est.to_dict()))
        return
    low, high = est.ci(est.level)
    error = est.pi - math.pi
    rate = est.n / est.elapsed if est.elapsed > 0 else math.inf
    if est.stderr > 0:
        print(f"pi      ~= {est.pi:.12f} +- {est.stderr:.3g} (standard error)")
    else:  # hits is 0 or n: p (1 - p) is 0, which says nothing of the spread
        which = "its one point" if est.n == 1 else f"all {est.n:,} points"
        side = "inside" if est.hits else "outside"
        print(f"pi      ~= {est.pi:.12f}, standard error 0 because {which} fell {side} "
              "the quarter circle: too few points to measure the spread")
    if est.checks == 1:
        print(f"{f'{100 * est.confidence:g}% CI':<10} [{low:.12f}, {high:.12f}]")
    else:
        print(f"{f'{100 * est.level:.6g}% CI':<10} [{low:.12f}, {high:.12f}] "
              f"({100 * est.confidence:g}% over the {est.checks} checks: --coverage guaranteed)")
    if est.tol is not None:
        print(f"target     half-width {est.half_width:.3g} "
              f"{'<=' if est.target_met else '>'} tol {est.tol:g}: "
              f"{'met' if est.target_met else 'NOT met'}")
    sigmas = f" ({error / est.stderr:+.2f} standard errors)" if est.stderr > 0 else ""
    print(f"error      estimate - math.pi = {error:+.3g}{sigmas}")
    print(f"points     n={est.n:,}  hits={est.hits:,}  seed={est.seed}")
    print(f"run        {est.elapsed:.3f} s, {rate / 1e6:,.0f} M points/s, "
          f"backend={est.backend}, workers={est.workers}, simd={simd()}")


def _mpi_rank() -> int:
    """This process's rank in MPI.COMM_WORLD; 0 where MPI is not running
    (mpi4py is never imported here just to ask)."""
    mpi = sys.modules.get("mpi4py.MPI")
    if mpi is None or not mpi.Is_initialized() or mpi.Is_finalized():
        return 0
    return int(mpi.COMM_WORLD.Get_rank())


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

    if args.scheduling:
        from . import bench_scheduling

        if args.scaling or args.plot:
            raise ValueError("--scheduling goes alone")
        result = bench_scheduling.run_scheduling()
        print(json.dumps(result, indent=2) if args.json
              else bench_scheduling.format_scheduling(result))
        return
    if not args.scaling:
        if args.plot:
            raise ValueError("--plot goes with --scaling")
        result = bench.run_benchmarks(seconds=args.seconds, repeat=args.repeat)
        print(json.dumps(result, indent=2) if args.json else bench.format_table(result))
        return
    from .backends import default_workers

    max_workers = default_workers() if args.max_workers is None else args.max_workers
    if args.plot:  # now, not after minutes of measuring
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise RuntimeError('--plot needs matplotlib: pip install ".[plot]" in a clone of '
                               'pymcpi (pip install "pymcpi[plot]" once released)') from None
    if args.n < max_workers:
        raise ValueError(f"-n must be at least --max-workers, got {args.n}")
    try:
        result = bench.run_scaling(args.n, max_workers, repeat=args.repeat)
    except bench.ScalingInterrupted as stop:  # what was measured, then main's exit 130
        shown = stop.result
        print(json.dumps(shown, indent=2) if args.json else bench.format_scaling(shown))
        raise
    print(json.dumps(result, indent=2) if args.json else bench.format_scaling(result))
    if args.plot:
        bench.plot_scaling(result, args.plot)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status.

    0 on success; 2 after an error, said in one line on stderr; 130 after
    Ctrl-C and 128 + N after signal N that ends a job (143 for SIGTERM),
    once the finished work is saved; 141 when the reader of stdout closed it before the output was
    all written, as ``pymcpi run -n 1e9 | head -1`` does. That is what a
    shell reports for a program that SIGPIPE ended (128 + 13), as it ends
    ``yes | head -1``: the rest of the output is dropped without a word, and
    with ``set -o pipefail`` the pipeline still tells that the output was cut
    short. (Python ignores SIGPIPE, and sees a closed pipe as
    BrokenPipeError instead.)
    """
    import os

    try:
        try:
            status = _main(argv)
        finally:  # the output waits in a buffer: a closed pipe shows when it is flushed
            sys.stdout.flush()
    except BrokenPipeError:
        # What is left in the buffer goes to devnull when Python exits,
        # instead of a second BrokenPipeError there.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return 141
    return status


def _main(argv: Sequence[str] | None) -> int:
    args = _build_parser().parse_args(argv)
    if threading.current_thread() is threading.main_thread():
        once()  # a second signal must not cut the final save short
    command = {"run": _run, "info": _info, "bench": _bench}[args.command]
    try:
        command(args)
    except BrokenPipeError:
        raise  # for main, not an error to report
    except (ValueError, TypeError, MemoryError, RuntimeError, OSError) as exc:
        print(f"pymcpi: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM and its kin as Terminated
        ignore_from_now()  # the command is ending
        if _mpi_rank() == 0:  # a signal reaches every rank; one line for the job
            print(describe(exc, getattr(args, "checkpoint", None)), file=sys.stderr)
        return exit_status(exc)
    return 0
