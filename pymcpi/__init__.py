"""Monte Carlo estimation of pi with an exact, reproducible C kernel.

pymcpi counts random points of the unit square that fall inside the quarter
circle, so that pi ~= 4 * hits / n.  Every point belongs to a fixed stream named
by ``(seed, index)``, so the answer depends on ``(n, seed)`` alone: not on how
the work is split among processes, threads or MPI ranks, nor on the CPU.

The kernel::

    >>> import pymcpi
    >>> pymcpi.count_hits(10**6, seed=7)              # hits among points [0, 10**6)
    >>> pymcpi.count_hits(10**6, seed=7, start=10**6)  # the next 10**6 points

and the estimate with its uncertainty::

    >>> est = pymcpi.estimate_pi(10**9, seed=7)
    >>> est.pi, est.stderr, est.ci(0.99)

The environment variable ``PYMCPI_SIMD`` (``scalar``, ``avx2``) forces a SIMD
path at import; every path gives the same answers.
"""

import itertools
import os
import sys
from importlib.metadata import PackageNotFoundError, version

from . import _core
from ._core import count_hits, count_inside, sample_points, simd, simd_paths
from .chunks import Chunk, split
from .estimate import Estimate, estimate_pi

__all__ = [
    "Chunk",
    "Estimate",
    "count_hits",
    "count_inside",
    "estimate_pi",
    "sample_points",
    "simd",
    "simd_paths",
    "split",
]

try:
    __version__ = version("pymcpi")
except PackageNotFoundError:  # pragma: no cover - running from a bare build
    __version__ = "unknown"


def _started_as_cli() -> bool:
    """True while the ``pymcpi`` command or ``python -m pymcpi`` imports us."""
    argv = getattr(sys, "orig_argv", sys.argv)
    script = os.path.basename(sys.argv[0]) if sys.argv else ""
    return script in ("pymcpi", "pymcpi.exe") or any(
        a == "-m" and b == "pymcpi" for a, b in itertools.pairwise(argv)
    )


def _apply_simd_override() -> None:
    forced = os.environ.get("PYMCPI_SIMD", "").strip()
    if not forced:
        return
    try:
        _core._select_simd(forced)
    except ValueError as exc:
        message = f"PYMCPI_SIMD={forced!r}: {exc}"
        if _started_as_cli():  # one line on stderr, as for every CLI error
            print(f"pymcpi: error: {message}", file=sys.stderr)
            raise SystemExit(2) from None
        raise ValueError(message) from None


_apply_simd_override()
