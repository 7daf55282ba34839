"""The estimate of pi and its uncertainty."""

from __future__ import annotations

import math
import numbers
import operator
import time
from dataclasses import dataclass
from statistics import NormalDist

from ._core import count_hits

__all__ = ["Estimate", "estimate_pi"]


@dataclass(frozen=True)
class Estimate:
    """An estimate of pi from ``hits`` of ``n`` points of seed ``seed``'s stream.

    Attributes
    ----------
    n : int
        Points sampled.
    hits : int
        Points inside the quarter circle.
    seed : int
        The stream's seed.
    elapsed : float
        Wall-clock seconds the sampling took.
    backend : str
        What did the work, ``"serial"`` for the calling thread.
    workers : int
        How many workers shared it.

    ``pi`` and ``stderr`` are derived from ``hits`` and ``n``. Estimates are
    immutable, compare by value and pickle, so they can travel between
    processes.
    """

    n: int
    hits: int
    seed: int
    elapsed: float = 0.0
    backend: str = "serial"
    workers: int = 1

    def __post_init__(self) -> None:
        for name in ("n", "hits", "seed", "workers"):
            value = getattr(self, name)
            index = _as_index(value)
            if index is None:
                raise TypeError(f"{name} must be an integer, not {type(value).__name__}")
            object.__setattr__(self, name, index)  # NumPy integers become int
        if self.n < 1:
            raise ValueError(f"n must be >= 1, got {self.n}")
        if not 0 <= self.hits <= self.n:
            raise ValueError(f"hits must be in [0, n], got hits={self.hits}, n={self.n}")
        if not 0 <= self.seed < 2**64:
            raise ValueError(f"seed must be in [0, 2**64), got {self.seed}")
        if self.workers < 1:
            raise ValueError(f"workers must be >= 1, got {self.workers}")
        if isinstance(self.elapsed, bool) or not isinstance(self.elapsed, numbers.Real):
            raise TypeError(f"elapsed must be a number, not {type(self.elapsed).__name__}")
        if not self.elapsed >= 0:
            raise ValueError(f"elapsed must be >= 0 seconds, got {self.elapsed!r}")
        object.__setattr__(self, "elapsed", float(self.elapsed))
        if not isinstance(self.backend, str) or not self.backend:
            raise TypeError(f"backend must be a non-empty str, got {self.backend!r}")

    @property
    def pi(self) -> float:
        """The estimate ``4 * hits / n``."""
        return 4.0 * self.hits / self.n

    @property
    def stderr(self) -> float:
        """The estimated standard error of ``pi``: ``4 * sqrt(p (1 - p) / n)``
        with ``p = hits / n``."""
        p = self.hits / self.n
        return 4.0 * math.sqrt(p * (1.0 - p) / self.n)

    def ci(self, level: float = 0.95) -> tuple[float, float]:
        """Return the confidence interval ``(low, high)`` for pi.

        Parameters
        ----------
        level : float, optional
            Confidence level, strictly between 0 and 1.

        Notes
        -----
        The Wilson score interval for the binomial proportion ``hits / n``,
        scaled by 4. Unlike the plain normal interval ``pi +- z * stderr`` it
        keeps its coverage for small ``n`` and does not collapse to a point
        when ``hits`` is 0 or ``n``; for large ``n`` the two agree.
        """
        if isinstance(level, bool) or not isinstance(level, numbers.Real):
            raise TypeError(f"level must be a number, not {type(level).__name__}")
        if not 0.0 < level < 1.0:
            raise ValueError(f"level must be strictly between 0 and 1, got {level!r}")
        z = NormalDist().inv_cdf(0.5 + level / 2.0)
        n, p = self.n, self.hits / self.n
        shrink = 1.0 + z * z / n
        centre = (p + z * z / (2 * n)) / shrink
        half = z / shrink * math.sqrt(p * (1.0 - p) / n + z * z / (4 * n * n))
        low = 0.0 if self.hits == 0 else max(centre - half, 0.0)
        high = 1.0 if self.hits == n else min(centre + half, 1.0)
        return (4.0 * low, 4.0 * high)

    def to_dict(self) -> dict[str, object]:
        """Return a JSON-serialisable dict with the keys ``pi, stderr, n, hits,
        seed, backend, workers, elapsed_s``."""
        return {
            "pi": self.pi,
            "stderr": self.stderr,
            "n": self.n,
            "hits": self.hits,
            "seed": self.seed,
            "backend": self.backend,
            "workers": self.workers,
            "elapsed_s": self.elapsed,
        }

    def __repr__(self) -> str:
        return (
            f"Estimate(pi={self.pi!r}, stderr={self.stderr:.3g}, n={self.n}, "
            f"hits={self.hits}, seed={self.seed}, elapsed={self.elapsed:.3g}, "
            f"backend={self.backend!r}, workers={self.workers})"
        )

    def __str__(self) -> str:
        low, high = self.ci()
        return (
            f"pi ~= {self.pi:.10f} +- {self.stderr:.2g} "
            f"(95% CI [{low:.10f}, {high:.10f}]; n={self.n:,}, seed={self.seed})"
        )


def estimate_pi(n: int, *, seed: int = 0) -> Estimate:
    """Estimate pi from the first ``n`` points of seed ``seed``'s stream.

    Parameters
    ----------
    n : int
        Number of points, at least 1.
    seed : int, optional
        The stream's seed, ``0 <= seed < 2**64``.

    Returns
    -------
    Estimate
        With ``hits == count_hits(n, seed)``, whatever does the work.
    """
    index = _as_index(n)
    if index is not None and index < 1:  # other bad n: count_hits names them
        raise ValueError(f"n must be >= 1 to estimate pi, got {index}")
    begin = time.perf_counter()
    hits = count_hits(n, seed)  # checks n and seed, naming them
    elapsed = time.perf_counter() - begin
    return Estimate(n=n, hits=hits, seed=seed, elapsed=elapsed)


def _as_index(value: object) -> int | None:
    """``value`` as an int if it is an integer other than bool, else None."""
    if isinstance(value, bool):
        return None
    try:
        return operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        return None
