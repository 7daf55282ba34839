"""Checkpoints: the finished chunks of a run, saved so that it can resume.

A checkpoint is a small JSON file that records the run's parameters and the
hits of every finished chunk. It is replaced atomically (temporary file,
fsync, rename), so a run killed at any moment leaves either the previous
checkpoint or the new one, never a torn file. Because chunks are fixed by the
parameters and counts are exact, a resumed run gives exactly the answer of an
uninterrupted one.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["Checkpoint"]

FORMAT = "pymcpi checkpoint"
VERSION = 1


class Checkpoint:
    """The checkpoint file of one run.

    Parameters
    ----------
    path : str or os.PathLike
        The file. If it exists it must hold a checkpoint of a run with the same
        ``params``; a different or unreadable one raises ValueError and is left
        untouched.
    params : dict
        What defines the run (n, seed, chunk size, precision target).
    count : int
        Number of chunks of the run.
    chunk_size : callable
        Maps a chunk index to its number of points, to validate saved counts.
    """

    def __init__(self, path: str | os.PathLike[str], params: dict[str, Any],
                 count: int, chunk_size: Callable[[int], int]) -> None:
        self.path = Path(path)
        self.params = params
        self.done: dict[int, int] = {}
        self.elapsed = 0.0
        self._saved_at = 0.0
        if self.path.exists():
            self._load(count, chunk_size)

    def _load(self, count: int, chunk_size: Callable[[int], int]) -> None:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            if data["format"] != FORMAT or type(data["version"]) is not int \
                    or data["version"] != VERSION:
                raise ValueError("not a pymcpi checkpoint of a known version")
            params = data["params"]
            if not isinstance(params, dict):
                raise TypeError("bad params")
            done = {int(k): v for k, v in data["done"].items()}
            if len(done) != len(data["done"]) or any(str(k) not in data["done"] for k in done):
                raise ValueError("chunk indices are not plain integers")
            elapsed = data["elapsed_s"]
            if not (type(elapsed) in (int, float) and 0 <= elapsed < math.inf):
                raise ValueError("bad elapsed_s")
            for k, hits in done.items():
                if not (0 <= k < count and type(hits) is int and 0 <= hits <= chunk_size(k)):
                    raise ValueError(f"bad count for chunk {k}")
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError,
                AttributeError, ValueError) as exc:
            raise ValueError(
                f"checkpoint {str(self.path)!r} is corrupt or not a pymcpi checkpoint "
                f"({exc}); remove it to start afresh"
            ) from None
        if params != self.params:
            diff = ", ".join(
                f"{key}={params.get(key)!r} (now {self.params.get(key)!r})"
                for key in sorted(set(params) | set(self.params))
                if params.get(key) != self.params.get(key)
            )
            raise ValueError(
                f"checkpoint {str(self.path)!r} belongs to another run: {diff}; "
                "use another file or remove it"
            )
        self.done = done
        self.elapsed = float(elapsed)

    def save(self, elapsed: float, *, every: float = 0.0) -> None:
        """Write the checkpoint atomically, unless the last write was less than
        ``every`` seconds ago."""
        now = time.monotonic()
        if every and now - self._saved_at < every:
            return
        data = {
            "format": FORMAT,
            "version": VERSION,
            "params": self.params,
            "done": {str(k): v for k, v in sorted(self.done.items())},
            "elapsed_s": elapsed,
        }
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(data, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        if hasattr(os, "O_DIRECTORY"):  # make the rename itself durable
            fd = os.open(self.path.parent, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        self._saved_at = now
