"""Checkpoints: the finished ranges of a run, saved so that it can resume.

A checkpoint (format version 2) is a JSON object::

    {"format": "pymcpi checkpoint", "version": 2,
     "params": {"n": ..., "seed": ..., "tol": ..., "confidence": ...},
     "ranges": [[start, end, hits], ...],
     "elapsed_s": ...,
     "sha256": "<hex>"}

``params`` is what defines the answer (not the backend, the workers or how
the work was cut). ``ranges`` are the finished parts of ``[0, n)``, disjoint,
sorted and merged, so the file grows with the number of workers, never with
``n``. ``sha256`` is the SHA-256 of the canonical JSON (sorted keys, no
spaces) of everything else, so that any edit or flipped bit is caught, as git
does for its objects. The file is replaced atomically (temporary file, fsync,
rename, fsync of the folder), so a run killed at any moment leaves either the
previous checkpoint or the new one, never a torn file.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import reprlib
import stat
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

__all__ = ["Checkpoint"]

FORMAT = "pymcpi checkpoint"
VERSION = 2

# The largest file that is read: 128 MiB is about two million ranges, what a
# million MPI ranks can leave (two per rank). Anything larger is not one of
# ours, and reading it whole could exhaust memory.
MAX_BYTES = 128 << 20

# A range's hits must lie within this many standard deviations of its
# expected pi/4 share: no real count comes near it (the chance is below
# 1e-80), and a checkpoint that passes its checksum but was forged or
# written by a broken kernel is still caught.
PLAUSIBLE_SIGMAS = 20

KEYS = {"format", "version", "params", "ranges", "elapsed_s", "sha256"}

# The params every checkpoint has, and those written only when they differ
# from their default.
REQUIRED = {"n", "seed", "tol", "confidence"}
OPTIONAL = {"coverage": "nominal"}


def canonical(data: dict[str, Any]) -> bytes:
    """The bytes that are hashed and written: sorted keys, no spaces."""
    return json.dumps(data, sort_keys=True, separators=(",", ":")).encode("utf-8")


def digest(data: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON of ``data`` without its ``sha256``."""
    return hashlib.sha256(canonical({k: v for k, v in data.items() if k != "sha256"})).hexdigest()


def _differences(saved: dict[str, Any], now: dict[str, Any]) -> str:
    """The params that differ, as ``key=saved (now value)``. A run without a
    target (``tol`` None) has no confidence level either: its confidence is
    None whatever level was asked for, and the message says why."""
    parts = []
    for key in now:
        if saved[key] == now[key]:
            continue
        why = ""
        if key == "confidence" and None in (saved[key], now[key]):
            why = ": confidence is part of a run only with a target, tol"
        parts.append(f"{key}={saved[key]!r} (now {now[key]!r}{why})")
    return ", ".join(parts)


class Checkpoint:
    """The checkpoint file of one run.

    Parameters
    ----------
    path : str or os.PathLike
        The file. If it exists it must hold a checkpoint of a run with the same
        ``params``; a different or unreadable one raises ValueError and is left
        untouched. If it does not, it must be possible to create it: a missing
        folder, a read-only or full file system raises OSError now, before any
        counting.
    params : dict
        What defines the answer: n, seed, tol and confidence (plain numbers).
    edges : iterable of int
        The run's round edges; no saved range may straddle one.

    Attributes
    ----------
    ranges : list of (int, int, int)
        The finished ranges read from the file (empty for a new run).
    elapsed : float
        Seconds recorded by earlier runs.
    """

    def __init__(self, path: str | os.PathLike[str], params: dict[str, Any],
                 edges: Iterable[int]) -> None:
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"checkpoint must be a path, not {type(path).__name__}")
        if os.fspath(path) in ("", b""):
            raise ValueError("checkpoint must name a file, got an empty path")
        self.path = Path(path)
        self.params = params
        self.ranges: list[tuple[int, int, int]] = []
        self.elapsed = 0.0
        self._next_save = 0.0  # monotonic time before which save(every=True) skips
        if self.path.is_dir():
            raise ValueError(f"checkpoint {str(self.path)!r} is a directory, not a file")
        if os.path.lexists(self.path):
            self._load(set(edges))
        self._check_writable()

    def _fail(self, reason: str) -> ValueError:
        return ValueError(f"checkpoint {str(self.path)!r} is corrupt or not a pymcpi checkpoint "
                          f"({reason}); it was left as it is: remove it to start afresh")

    def _read(self) -> bytes:
        """The file's bytes; never blocks (a FIFO), never reads without bound."""
        try:
            fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        except OSError as exc:
            raise self._fail(f"cannot be opened: {exc.strerror}") from None
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise self._fail("not a regular file")
            if info.st_size > MAX_BYTES:
                raise self._fail(f"{info.st_size:,} bytes, more than a checkpoint can hold")
            chunks, size = [], 0
            while chunk := os.read(fd, 1 << 20):
                chunks.append(chunk)
                size += len(chunk)
                if size > MAX_BYTES:
                    raise self._fail("more bytes than a checkpoint can hold")
            return b"".join(chunks)
        except OSError as exc:
            raise self._fail(f"cannot be read: {exc.strerror}") from None
        finally:
            os.close(fd)

    def _load(self, edges: set[int]) -> None:
        raw = self._read()
        try:
            data = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError, MemoryError, OverflowError) as exc:
            raise self._fail(f"not JSON: {type(exc).__name__}") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise self._fail("no pymcpi checkpoint format tag")
        version = data.get("version")
        if version == 1 and type(version) is int:
            raise ValueError(
                f"checkpoint {str(self.path)!r} has format version 1, which carries no "
                "checksum, so its counts cannot be trusted by this version of pymcpi: "
                "finish the run with the pymcpi version that wrote it, or remove the "
                "file to start afresh")
        if type(version) is not int or version != VERSION:
            raise self._fail(f"unknown version {version!r}")
        if set(data) != KEYS:
            raise self._fail(f"keys {sorted(map(str, data))}, expected {sorted(KEYS)}")
        try:
            expected = digest(data)
        except (ValueError, TypeError, RecursionError, OverflowError) as exc:
            raise self._fail(f"cannot be hashed: {type(exc).__name__}") from None
        if data["sha256"] != expected:
            raise self._fail("checksum mismatch: the file was changed or damaged")
        params = data["params"]
        if not (isinstance(params, dict) and REQUIRED <= set(params) <= REQUIRED | set(OPTIONAL)):
            raise self._fail("bad params")
        # A param left at its default is not written, so that the files of
        # runs without it read as before.
        found, wanted = {**OPTIONAL, **params}, {**OPTIONAL, **self.params}
        if found != wanted:
            raise ValueError(f"checkpoint {str(self.path)!r} belongs to another run: "
                             f"{_differences(found, wanted)}; use another file or "
                             "remove it")
        elapsed = data["elapsed_s"]
        if type(elapsed) not in (int, float) or not 0 <= elapsed < math.inf:
            raise self._fail("bad elapsed_s")
        try:
            self.elapsed = float(elapsed)
        except OverflowError:
            raise self._fail("bad elapsed_s") from None
        if not math.isfinite(self.elapsed):
            raise self._fail("bad elapsed_s")
        self.ranges = self._check_ranges(data["ranges"], edges)

    def _check_ranges(self, ranges: object, edges: set[int]) -> list[tuple[int, int, int]]:
        n = self.params["n"]
        if not isinstance(ranges, list):
            raise self._fail("ranges is not a list")
        checked, last = [], 0
        for item in ranges:
            if not (isinstance(item, list) and len(item) == 3
                    and all(type(x) is int for x in item)):
                raise self._fail(f"bad range {reprlib.repr(item)}")  # short, whatever it holds
            start, end, hits = item
            if not last <= start < end <= n:
                raise self._fail(f"range [{start}, {end}) is out of order or outside [0, {n})")
            if any(start < e < end for e in edges):
                raise self._fail(f"range [{start}, {end}) straddles a round edge")
            size = end - start
            sigma = math.sqrt(size * math.pi / 4 * (1 - math.pi / 4))
            if not 0 <= hits <= size or abs(hits - size * math.pi / 4) > PLAUSIBLE_SIGMAS * sigma + 1:
                raise self._fail(f"implausible hits {hits} in [{start}, {end})")
            checked.append((start, end, hits))
            last = end
        return checked

    def _temporary(self) -> Path:
        return self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")

    def _write_temporary(self, content: bytes) -> Path:
        """Write ``content`` to the temporary file beside the checkpoint and
        flush it to disk; the caller removes or renames it."""
        tmp = self._temporary()
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            view = memoryview(content)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        return tmp

    def _check_writable(self) -> None:
        """Create and remove the temporary file, so that a checkpoint that
        cannot be written fails now, not after hours of counting."""
        try:
            self._write_temporary(b"{}")  # a full file system fails here
        except OSError as exc:
            raise OSError(exc.errno, f"checkpoint {str(self.path)!r} cannot be written "
                                     f"({exc.strerror})") from None
        finally:
            try:
                os.unlink(self._temporary())
            except OSError:
                pass

    def due(self) -> bool:
        """Whether a throttled save would write now."""
        return time.monotonic() >= self._next_save

    def save(self, ranges: Callable[[], Iterable[tuple[int, int, int]]], elapsed: float,
             *, every: bool = False) -> None:
        """Write the checkpoint atomically.

        With ``every``, skip the write unless enough time has passed since the
        end of the last one: max(0.5 s, 100 times its duration), so that
        saving costs at most about 1% of the run. ``ranges`` is called only
        when the file is written.
        """
        if every and not self.due():
            return
        begin = time.monotonic()
        data: dict[str, Any] = {
            "format": FORMAT,
            "version": VERSION,
            "params": self.params,
            "ranges": [list(r) for r in ranges()],
            "elapsed_s": float(elapsed),
        }
        data["sha256"] = digest(data)
        try:
            os.replace(self._write_temporary(canonical(data) + b"\n"), self.path)
        finally:
            try:  # never outlives a failed or interrupted save
                os.unlink(self._temporary())
            except FileNotFoundError:
                pass
        if hasattr(os, "O_DIRECTORY"):  # make the rename itself durable
            fd = os.open(self.path.parent, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        end = time.monotonic()
        self._next_save = end + max(0.5, 100 * (end - begin))
