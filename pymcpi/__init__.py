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

The environment variable ``PYMCPI_SIMD`` (``scalar``, ``avx2``, ``avx512``) forces a SIMD
path at import; every path gives the same answers.
"""

import itertools
import os
import sys


def _started_as_cli() -> bool:
    """True while the ``pymcpi`` command or ``python -m pymcpi`` imports us."""
    argv = getattr(sys, "orig_argv", sys.argv)
    script = os.path.basename(sys.argv[0]) if sys.argv else ""
    return script in ("pymcpi", "pymcpi.exe") or any(
        a == "-m" and b == "pymcpi" for a, b in itertools.pairwise(argv)
    )


def _fail(message: str, error: type[Exception]) -> None:
    """Raise ``error(message)``, which says all there is to say (no chained
    traceback); from the command line, one line on stderr."""
    if _started_as_cli():
        print(f"pymcpi: error: {message}", file=sys.stderr)
        raise SystemExit(2)
    raise error(message) from None


def _why_core_is_missing() -> str | None:
    """What to do when the C extension is not in the package folder at all;
    None when it is there (and the import failed for another reason)."""
    here = os.path.dirname(os.path.abspath(__file__))
    if any(name.startswith("_core.") and not name.endswith(".pyi") for name in os.listdir(here)):
        return None
    where = os.path.dirname(here)
    if os.path.exists(os.path.join(where, "setup.py")):
        return (f"pymcpi's C extension is not built in {here}: Python imported the source "
                f"folder {where} (the current folder comes first on sys.path), not the "
                "installed package; run from another folder, or build in place with "
                "pip install -e .")
    return f"pymcpi's C extension is missing from {here}; reinstall pymcpi"


try:
    from . import _core
except ImportError:
    _missing = _why_core_is_missing()
    if _missing is None:
        raise
    _fail(_missing, ImportError)

from ._core import count_hits, count_inside, sample_points, simd, simd_paths  # noqa: E402
from .chunks import Chunk, split  # noqa: E402
from .estimate import Estimate, estimate_pi  # noqa: E402
from .signals import Terminated  # noqa: E402

__all__ = [
    "Chunk",
    "Estimate",
    "Terminated",
    "count_hits",
    "count_inside",
    "estimate_pi",
    "sample_points",
    "simd",
    "simd_paths",
    "split",
]

# Written once, in _version.py, which pyproject.toml reads too.
from ._version import __version__  # noqa: E402


def _apply_simd_override() -> None:
    forced = os.environ.get("PYMCPI_SIMD", "").strip()
    if not forced:
        return
    try:
        _core._select_simd(forced)
    except ValueError as exc:
        _fail(f"PYMCPI_SIMD={forced!r}: {exc}", ValueError)


_apply_simd_override()
