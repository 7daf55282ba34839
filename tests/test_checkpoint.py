"""Checkpoints: what they record, resuming after a kill or Ctrl-C and across
backends, refusing checkpoints of other runs, corrupt ones (every single
flipped bit) and paths that cannot be read or written, and saving without
leaving temporary files."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from interpreters import python_env

import pymcpi
import pymcpi.backends
import pymcpi.checkpoint
import pymcpi.engine
from pymcpi import count_hits, estimate_pi

SEED = 7
N = 50 * 2**20 + 12345
SMALL = 5 * 2**20 + 7
PIECE = 2**20


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def sign(data: dict) -> str:
    """``data`` written as a checkpoint with a valid checksum, so that the
    checks behind the checksum can be tested."""
    data = {k: v for k, v in data.items() if k != "sha256"}
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"))
    data["sha256"] = hashlib.sha256(canonical.encode()).hexdigest()
    return json.dumps(data)


def fail_after(monkeypatch, calls: int) -> list[tuple[int, int]]:
    """Make the kernel raise once ``calls`` pieces have been counted, as if the
    run had been stopped there; returns the pieces counted, (start, count)."""
    real = pymcpi.backends.count_hits
    counted = []

    def counting(n, seed, start):
        if len(counted) == calls:
            raise KeyboardInterrupt
        counted.append((start, n))
        return real(n, seed, start)

    monkeypatch.setattr(pymcpi.backends, "count_hits", counting)
    return counted


def record_counts(monkeypatch) -> list[tuple[int, int]]:
    """Record every piece the kernel counts from now on, as (start, count)."""
    real = pymcpi.backends.count_hits
    pieces: list[tuple[int, int]] = []

    def recording(n, seed, start):
        pieces.append((start, n))
        return real(n, seed, start)

    monkeypatch.setattr(pymcpi.backends, "count_hits", recording)
    return pieces


def prefix(counted: list[tuple[int, int]]) -> list[list[int]]:
    """The one range that pieces counted in stream order make."""
    end = sum(count for _, count in counted)
    assert [start for start, _ in counted] == [sum(c for _, c in counted[:k])
                                               for k in range(len(counted))]
    return [[0, end, count_hits(end, SEED)]]


def tiles(pieces: list[tuple[int, int]], ranges: list[list[int]], n: int) -> bool:
    """Whether ``pieces`` cover exactly what ``ranges`` leave of ``[0, n)``."""
    spans = sorted([(s, s + c) for s, c in pieces] + [(a, b) for a, b, _ in ranges])
    return spans[0][0] == 0 and spans[-1][1] == n and all(
        a[1] == b[0] for a, b in zip(spans, spans[1:]))


def test_checkpoint_records_the_run_as_merged_ranges(tmp_path):
    path = tmp_path / "run.json"
    est = estimate_pi(N, seed=SEED, backend="threads", workers=2, checkpoint=path)
    data = load(path)
    assert (data["format"], data["version"]) == ("pymcpi checkpoint", 2)
    assert data["params"] == {"n": N, "seed": SEED, "tol": None, "confidence": None}
    assert data["ranges"] == [[0, N, count_hits(N, SEED)]] and est.hits == count_hits(N, SEED)
    assert data["elapsed_s"] >= 0
    rest = {k: v for k, v in data.items() if k != "sha256"}
    canonical = json.dumps(rest, sort_keys=True, separators=(",", ":")).encode()
    assert data["sha256"] == hashlib.sha256(canonical).hexdigest()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.json"]


def test_finished_checkpoint_answers_without_counting(tmp_path, monkeypatch):
    path = tmp_path / "run.json"
    first = estimate_pi(N, seed=SEED, checkpoint=path)
    ranges = load(path)["ranges"]
    record = record_counts(monkeypatch)
    again = estimate_pi(N, seed=SEED, backend="threads", workers=2, checkpoint=path)
    assert record == []
    assert (again.n, again.hits, again.seed) == (first.n, first.hits, first.seed)
    assert again.elapsed >= first.elapsed
    assert load(path)["ranges"] == ranges


# The handler is set, not inherited: a shell runs background jobs with SIGINT
# ignored.
DRIVER = """
import signal, sys
import pymcpi

signal.signal(signal.SIGINT, signal.default_int_handler)
pymcpi.estimate_pi({n}, seed={seed}, backend="threads", workers=2, checkpoint=sys.argv[1])
print("finished")
"""


def partial(path: Path) -> dict | None:
    """The checkpoint at ``path`` if it has finished work; it is replaced
    atomically, so it is never seen half-written."""
    try:
        data = load(path)
    except FileNotFoundError:
        return None
    return data if data["ranges"] else None


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["SIGKILL", "SIGINT"])
def test_resume_after_the_driver_is_stopped(tmp_path, monkeypatch, sig):
    n = 2 * 10**9  # a few seconds on two threads on the scalar path
    path = tmp_path / "run.json"
    proc = subprocess.Popen(
        [sys.executable, "-P", "-c", DRIVER.format(n=n, seed=SEED), str(path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        cwd=tempfile.gettempdir(), env=python_env(PYMCPI_SIMD="scalar"))
    try:
        deadline = time.monotonic() + 60
        while partial(path) is None and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert "finished" not in out, "the run ended before it could be stopped"
    if sig == signal.SIGINT:
        assert "KeyboardInterrupt" in err
    saved = load(path)
    assert 0 < sum(b - a for a, b, _ in saved["ranges"]) < n
    assert len(path.read_bytes()) < 1000  # a few ranges, however long the run

    record = record_counts(monkeypatch)
    est = estimate_pi(n, seed=SEED, backend="threads", workers=2, checkpoint=path)
    assert (est.n, est.hits) == (n, count_hits(n, SEED))
    assert tiles(record, saved["ranges"], n)  # the gaps, each point once
    assert est.elapsed >= saved["elapsed_s"]
    assert load(path)["ranges"] == [[0, n, count_hits(n, SEED)]]


@pytest.mark.parametrize("backend, workers", [("serial", None), ("threads", 2), ("processes", 2)])
def test_resume_on_another_backend(tmp_path, monkeypatch, backend, workers):
    path = tmp_path / "run.json"
    with monkeypatch.context() as patch:
        counted = fail_after(patch, 1)
        with pytest.raises(KeyboardInterrupt):
            estimate_pi(N, seed=SEED, checkpoint=path)
    assert load(path)["ranges"] == prefix(counted)
    est = estimate_pi(N, seed=SEED, backend=backend, workers=workers, checkpoint=path)
    assert (est.n, est.hits, est.backend) == (N, count_hits(N, SEED), backend)
    assert load(path)["ranges"] == [[0, N, count_hits(N, SEED)]]


def test_precision_target_resumes_to_the_uninterrupted_answer(tmp_path, monkeypatch):
    budget, tol = 3 * 10**8, 6e-4
    whole = estimate_pi(budget, seed=SEED, tol=tol)
    assert whole.n < budget
    path = tmp_path / "run.json"
    with monkeypatch.context() as patch:
        counted = fail_after(patch, 4)
        with pytest.raises(KeyboardInterrupt):
            estimate_pi(budget, seed=SEED, tol=tol, checkpoint=path)
    saved = load(path)
    # Rounds are never merged across their edges, so that each finished
    # round's hits can be read off: the first round (4687616 points) and the
    # second stay apart.
    edges = pymcpi.engine.round_edges(budget, growing=True)
    assert edges[0] == 4687616
    assert sum(c for _, c in counted) > edges[0] and len(saved["ranges"]) >= 2
    assert saved["ranges"][0][:2] == [0, edges[0]]
    assert not any(a < e < b for a, b, _ in saved["ranges"] for e in edges)
    assert sum(b - a for a, b, _ in saved["ranges"]) == sum(c for _, c in counted)
    assert (saved["params"]["tol"], saved["params"]["confidence"]) == (tol, 0.95)
    resumed = estimate_pi(budget, seed=SEED, tol=tol, backend="threads", workers=2,
                          checkpoint=path)
    assert (resumed.n, resumed.hits) == (whole.n, whole.hits)
    again = estimate_pi(budget, seed=SEED, tol=tol, backend="processes", workers=2,
                        checkpoint=path)
    assert (again.n, again.hits) == (whole.n, whole.hits)


@pytest.mark.parametrize("tol, confidence", [
    (np.float32(1e-3), np.float64(0.95)), (Fraction(1, 1000), Fraction(19, 20))],
    ids=["numpy", "Fraction"])
def test_precision_target_of_any_real_type_with_a_checkpoint(tmp_path, tol, confidence):
    path = tmp_path / "run.json"
    est = estimate_pi(3 * 10**8, seed=SEED, tol=tol, confidence=confidence, checkpoint=path)
    plain = estimate_pi(3 * 10**8, seed=SEED, tol=float(tol), confidence=float(confidence))
    assert (est.n, est.hits) == (plain.n, plain.hits)
    assert load(path)["params"]["tol"] == float(tol)
    again = estimate_pi(3 * 10**8, seed=SEED, tol=tol, confidence=confidence, checkpoint=path)
    assert (again.n, again.hits) == (plain.n, plain.hits)


@pytest.fixture
def small_checkpoint(tmp_path) -> Path:
    """The finished checkpoint of ``estimate_pi(SMALL, seed=SEED, tol=1e-9)``."""
    path = tmp_path / "run.json"
    estimate_pi(SMALL, seed=SEED, tol=1e-9, checkpoint=path)
    return path


@pytest.mark.parametrize("change, difference", [
    (dict(n=SMALL + 1), rf"n={SMALL} \(now {SMALL + 1}\)"),
    (dict(seed=SEED + 1), rf"seed={SEED} \(now {SEED + 1}\)"),
    (dict(tol=1e-3), r"tol=1e-09 \(now 0.001\)"),
    (dict(tol=None), r"tol=1e-09 \(now None\)"),
    (dict(confidence=0.99), r"confidence=0.95 \(now 0.99\)"),
])
def test_checkpoint_of_another_run_is_refused_and_kept(small_checkpoint, change, difference):
    before = small_checkpoint.read_bytes()
    kwargs = dict(n=SMALL, seed=SEED, tol=1e-9) | change
    with pytest.raises(ValueError, match=f"another run: .*{difference}"):
        estimate_pi(kwargs.pop("n"), checkpoint=small_checkpoint, **kwargs)
    assert small_checkpoint.read_bytes() == before


def edit(signed: bool = True, **changes):
    """A corruption that sets fields of the checkpoint's JSON (``ranges.I.J``
    sets one number of one range), with a valid checksum or not."""
    def corrupt(data: dict) -> str:
        for key, value in changes.items():
            if key.startswith("ranges."):
                _, i, j = key.split(".")
                data["ranges"][int(i)][int(j)] = value
            elif value is None:
                del data[key]
            else:
                data[key] = value
        return sign(data) if signed else json.dumps(data)
    return corrupt


CORRUPTIONS = {
    "empty": lambda data: "",
    "truncated": lambda data: json.dumps(data)[:-10],
    "not JSON": lambda data: "hits: 12",
    "a list": lambda data: "[]",
    "a string": lambda data: '"pymcpi checkpoint"',
    "nested brackets": lambda data: "[" * 100_000 + "]" * 100_000,
    "a 5000-digit number": lambda data: '{"elapsed_s": 1' + "0" * 5000 + "}",
    "wrong format": edit(format="pymcpi results"),
    "future version": edit(version=3),
    "hits changed, checksum kept": edit(signed=False, **{"ranges.0.2": 1}),
    "checksum removed": edit(signed=False, sha256=None),
    "extra key": edit(note="hello"),
    "no ranges": edit(ranges=None),
    "ranges a dict": edit(ranges={"0": 1}),
    "params a list": edit(params=[1, 2]),
    "params missing": edit(params=None),
    "params without tol": edit(params={"n": SMALL, "seed": SEED, "confidence": 0.95}),
    "range of two numbers": edit(ranges=[[0, SMALL]]),
    "range past n": edit(**{"ranges.0.1": SMALL + 1}),
    "empty range": edit(**{"ranges.0.1": 0}),
    "negative start": edit(**{"ranges.0.0": -1}),
    "float hits": edit(**{"ranges.0.2": 812345.0}),
    "string hits": edit(**{"ranges.0.2": "812345"}),
    "bool hits": edit(**{"ranges.0.2": True}),
    "hits above the points": edit(**{"ranges.0.2": PIECE + 1}),
    "implausible hits": edit(**{"ranges.0.2": PIECE // 2}),
    "overlapping ranges": edit(ranges=[[2 * PIECE, 4 * PIECE, 1646800],
                                       [3 * PIECE, 4 * PIECE, 823400]]),
    "unsorted ranges": edit(ranges=[[2 * PIECE, 3 * PIECE, 823400], [0, PIECE, 823400]]),
    "range across a round edge": edit(ranges=[[0, 2 * PIECE, 1647000]]),
    "negative elapsed": edit(elapsed_s=-1.0),
    "elapsed a string": edit(elapsed_s="1 s"),
    "elapsed too large for a float": edit(elapsed_s=10**400),
    "elapsed infinite": edit(elapsed_s=float("inf")),
}


@pytest.mark.parametrize("corruption", CORRUPTIONS.values(), ids=CORRUPTIONS.keys())
def test_corrupt_checkpoint_is_refused_and_kept(small_checkpoint, corruption):
    small_checkpoint.write_text(corruption(load(small_checkpoint)), encoding="utf-8")
    before = small_checkpoint.read_bytes()
    with pytest.raises(ValueError, match="corrupt or not a pymcpi checkpoint") as info:
        estimate_pi(SMALL, seed=SEED, tol=1e-9, checkpoint=small_checkpoint)
    assert str(small_checkpoint) in str(info.value)
    assert small_checkpoint.read_bytes() == before


def test_undecodable_checkpoint_is_refused_and_kept(tmp_path):
    path = tmp_path / "run.json"
    path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ValueError, match="corrupt"):
        estimate_pi(SMALL, seed=SEED, checkpoint=path)
    assert path.read_bytes() == b"\xff\xfe\x00garbage"


def test_every_flipped_bit_is_refused_or_harmless(tmp_path, monkeypatch):
    # A checkpoint of an interrupted run (its first piece done); each of its
    # bits is flipped in turn, and the run resumed from the damaged file.
    path = tmp_path / "run.json"
    with monkeypatch.context() as patch:
        counted = fail_after(patch, 1)
        with pytest.raises(KeyboardInterrupt):
            estimate_pi(SMALL, seed=SEED, checkpoint=path)
    good = path.read_bytes()
    assert load(path)["ranges"] == prefix(counted) and counted[0][1] < SMALL
    exact = count_hits(SMALL, SEED)
    outcomes = {"refused": 0, "exact": 0}
    for bit in range(8 * len(good)):
        damaged = bytearray(good)
        damaged[bit // 8] ^= 1 << (bit % 8)
        path.write_bytes(bytes(damaged))
        try:
            est = estimate_pi(SMALL, seed=SEED, checkpoint=path)
        except ValueError:
            assert path.read_bytes() == bytes(damaged), "a refused file was changed"
            outcomes["refused"] += 1
        else:
            assert (est.n, est.hits) == (SMALL, exact), f"bit {bit} gave a wrong answer"
            outcomes["exact"] += 1
    assert outcomes["refused"] > 0.9 * 8 * len(good)


def test_version_1_checkpoint_is_refused_with_a_way_forward(tmp_path):
    path = tmp_path / "run.json"
    old = {"format": "pymcpi checkpoint", "version": 1,
           "params": {"n": SMALL, "seed": SEED, "chunk": PIECE, "tol": None, "confidence": None},
           "done": {"0": count_hits(PIECE, SEED)}, "elapsed_s": 1.0}
    path.write_text(json.dumps(old), encoding="utf-8")
    before = path.read_bytes()
    with pytest.raises(ValueError, match="version 1.*no checksum.*remove the file to start afresh"):
        estimate_pi(SMALL, seed=SEED, checkpoint=path)
    assert path.read_bytes() == before


def test_fifo_is_refused_without_hanging(tmp_path):
    path = tmp_path / "run.json"
    os.mkfifo(path)
    code = f"import pymcpi; pymcpi.estimate_pi(1000, checkpoint={str(path)!r})"
    proc = subprocess.run([sys.executable, "-P", "-c", code], capture_output=True, text=True,
                          timeout=60, cwd=tempfile.gettempdir(), env=python_env())
    assert proc.returncode != 0
    assert "not a regular file" in proc.stderr and str(path) in proc.stderr


@pytest.mark.parametrize("where, message", [
    ("", "empty path"),
    (".", "is a directory"),
    ("missing/run.json", "cannot be written"),
], ids=["empty", "directory", "missing folder"])
def test_unusable_path_fails_before_counting(tmp_path, monkeypatch, where, message):
    path = where if where == "" else str(tmp_path / where)
    record = record_counts(monkeypatch)
    with pytest.raises((ValueError, OSError), match=message) as info:
        estimate_pi(N, seed=SEED, checkpoint=path)
    assert record == []
    if path:
        assert path in str(info.value)
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes to read-only folders")
def test_read_only_folder_fails_before_counting(tmp_path, monkeypatch):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    record = record_counts(monkeypatch)
    try:
        with pytest.raises(OSError, match="cannot be written"):
            estimate_pi(N, seed=SEED, checkpoint=folder / "run.json")
    finally:
        folder.chmod(0o700)
    assert record == []


@pytest.mark.parametrize("error", [KeyboardInterrupt, OSError])
def test_interrupted_or_failed_save_leaves_no_temporary_file(tmp_path, monkeypatch, error):
    path = tmp_path / "run.json"
    calls = []
    real = os.fsync

    def failing_fsync(fd):
        calls.append(fd)
        if len(calls) == 3:  # the first is the start-up check, the second a save
            raise error(28, "No space left on device") if error is OSError else error()
        return real(fd)

    monkeypatch.setattr(pymcpi.checkpoint.os, "fsync", failing_fsync)
    with pytest.raises(error):
        estimate_pi(N, seed=SEED, checkpoint=path)
    assert len(calls) >= 3
    assert [p.name for p in tmp_path.iterdir() if p.name != "run.json"] == []


def test_saves_are_throttled_from_the_end_of_the_last_one(tmp_path, monkeypatch):
    path = tmp_path / "run.json"
    params = {"n": N, "seed": SEED, "tol": None, "confidence": None}
    saved = pymcpi.checkpoint.Checkpoint(path, params, [N])
    real = os.fsync

    def slow_fsync(fd):
        time.sleep(0.02)
        return real(fd)

    monkeypatch.setattr(pymcpi.checkpoint.os, "fsync", slow_fsync)
    assert saved.due()
    saved.save(lambda: [(0, PIECE, count_hits(PIECE, SEED))], 1.0, every=True)
    ended = time.monotonic()
    # A save that took >= 20 ms waits >= 2 s (100 times as long) before the next.
    assert not saved.due()
    assert saved._next_save >= ended + 1.9
    first = path.read_bytes()
    saved.save(lambda: [(0, 2 * PIECE, count_hits(2 * PIECE, SEED))], 2.0, every=True)
    assert path.read_bytes() == first
    saved.save(lambda: [(0, 2 * PIECE, count_hits(2 * PIECE, SEED))], 2.0)
    assert load(path)["ranges"] == [[0, 2 * PIECE, count_hits(2 * PIECE, SEED)]]


def test_cli_reports_a_corrupt_checkpoint_in_one_line(tmp_path):
    path = tmp_path / "run.json"
    path.write_text(sign({"format": "pymcpi checkpoint", "version": 2,
                          "params": {"n": SMALL, "seed": 0, "tol": None, "confidence": None},
                          "ranges": [], "elapsed_s": 10**400}), encoding="utf-8")
    proc = subprocess.run([sys.executable, "-P", "-m", "pymcpi", "run", "-n", str(SMALL),
                           "--checkpoint", str(path), "--no-progress"],
                          capture_output=True, text=True, timeout=60,
                          cwd=tempfile.gettempdir(), env=python_env())
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "corrupt" in proc.stderr, proc.stderr


def test_confidence_without_a_target_is_explained_in_the_mismatch(tmp_path):
    # The first run had a target at 99%; the second gives --confidence 0.99
    # but forgets --tol, so its confidence is not part of the run.
    path = tmp_path / "run.json"

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-P", "-m", "pymcpi", "run", "-n", str(SMALL),
                               "--checkpoint", str(path), "--no-progress", *args],
                              capture_output=True, text=True, timeout=60,
                              cwd=tempfile.gettempdir(), env=python_env())

    assert run("--tol", "1e-9", "--confidence", "0.99").returncode == 0
    proc = run("--confidence", "0.99")
    assert proc.returncode == 2
    assert proc.stderr == (
        f"pymcpi: error: checkpoint {str(path)!r} belongs to another run: tol=1e-09 "
        "(now None), confidence=0.99 (now None: confidence is part of a run only with a "
        "target, tol); use another file or remove it\n")


def test_a_target_where_the_checkpoint_had_none_is_explained(tmp_path):
    path = tmp_path / "run.json"
    estimate_pi(SMALL, seed=SEED, checkpoint=path)
    with pytest.raises(ValueError, match=r"another run: tol=None \(now 0\.001\), "
                       r"confidence=None \(now 0\.95: confidence is part of a run only "
                       r"with a target, tol\); use another file"):
        estimate_pi(SMALL, seed=SEED, tol=1e-3, checkpoint=path)


def test_checkpoint_of_the_other_coverage_belongs_to_another_run(tmp_path):
    path = tmp_path / "run.json"
    estimate_pi(SMALL, seed=SEED, tol=1e-3, checkpoint=path)
    assert "coverage" not in load(path)["params"]  # the default is not written
    before = path.read_bytes()
    with pytest.raises(ValueError, match=r"belongs to another run: coverage='nominal' "
                                         r"\(now 'guaranteed'\)"):
        estimate_pi(SMALL, seed=SEED, tol=1e-3, coverage="guaranteed", checkpoint=path)
    assert path.read_bytes() == before
