"""Checkpoints: what they record, resuming after a kill or Ctrl-C and across
backends, and refusing checkpoints of other runs or corrupt ones."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from interpreters import python_env

import pymcpi
import pymcpi.backends
from pymcpi import count_hits, estimate_pi

SEED = 7
N = 50 * 2**20 + 12345  # 51 chunks of 2**20 points, the last one short
SMALL = 5 * 2**20 + 7  # 6 chunks, the last one of 7 points


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def chunk_starts(n: int, chunk: int) -> list[int]:
    return list(range(0, n, chunk))


def fail_after(monkeypatch, calls: int) -> None:
    """Make the kernel raise once ``calls`` chunks have been counted, as if the
    run had been stopped there."""
    real = pymcpi.backends.count_hits
    counted = []

    def counting(n, seed, start):
        if len(counted) == calls:
            raise KeyboardInterrupt
        counted.append(start)
        return real(n, seed, start)

    monkeypatch.setattr(pymcpi.backends, "count_hits", counting)


def record_counts(monkeypatch) -> list[int]:
    """Record the start of every chunk the kernel counts from now on."""
    real = pymcpi.backends.count_hits
    starts: list[int] = []

    def recording(n, seed, start):
        starts.append(start)
        return real(n, seed, start)

    monkeypatch.setattr(pymcpi.backends, "count_hits", recording)
    return starts


def test_checkpoint_records_the_run_and_every_chunk(tmp_path):
    path = tmp_path / "run.json"
    est = estimate_pi(N, seed=SEED, backend="threads", workers=2, checkpoint=path)
    data = load(path)
    assert (data["format"], data["version"]) == ("pymcpi checkpoint", 1)
    params = data["params"]
    chunk = params["chunk"]
    assert params == {"n": N, "seed": SEED, "chunk": chunk, "tol": None, "confidence": None}
    assert 2**20 <= chunk <= 2**28 and chunk % 256 == 0
    starts = chunk_starts(N, chunk)
    assert data["done"] == {
        str(k): count_hits(min(chunk, N - start), SEED, start) for k, start in enumerate(starts)
    }
    assert sum(data["done"].values()) == est.hits == count_hits(N, SEED)
    assert data["elapsed_s"] >= 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.json"]


def test_finished_checkpoint_answers_without_counting(tmp_path, monkeypatch):
    path = tmp_path / "run.json"
    first = estimate_pi(N, seed=SEED, checkpoint=path)
    done = load(path)["done"]
    record = record_counts(monkeypatch)
    again = estimate_pi(N, seed=SEED, backend="threads", workers=2, checkpoint=path)
    assert record == []
    assert (again.n, again.hits, again.seed) == (first.n, first.hits, first.seed)
    assert again.elapsed >= first.elapsed
    assert load(path)["done"] == done


# The handler is set, not inherited: a shell runs background jobs with SIGINT
# ignored.
DRIVER = """
import signal, sys
import pymcpi

signal.signal(signal.SIGINT, signal.default_int_handler)
pymcpi.estimate_pi({n}, seed={seed}, backend="threads", workers=1, checkpoint=sys.argv[1])
print("finished")
"""


def partial(path: Path) -> dict | None:
    """The checkpoint at ``path`` if it has some finished chunks; it is
    replaced atomically, so it is never seen half-written."""
    try:
        data = load(path)
    except FileNotFoundError:
        return None
    return data if data["done"] else None


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["SIGKILL", "SIGINT"])
def test_resume_after_the_driver_is_stopped(tmp_path, monkeypatch, sig):
    n = 10**9  # a couple of seconds on one thread on the scalar path
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
    chunk = saved["params"]["chunk"]
    starts = chunk_starts(n, chunk)
    done = {int(k) for k in saved["done"]}
    assert 0 < len(done) < len(starts)

    record = record_counts(monkeypatch)
    est = estimate_pi(n, seed=SEED, backend="threads", workers=2, checkpoint=path)
    assert (est.n, est.hits) == (n, count_hits(n, SEED))
    assert sorted(record) == [s for k, s in enumerate(starts) if k not in done]
    assert est.elapsed >= saved["elapsed_s"]
    assert len(load(path)["done"]) == len(starts)


@pytest.mark.parametrize("backend, workers", [("serial", None), ("threads", 2), ("processes", 2)])
def test_resume_on_another_backend(tmp_path, monkeypatch, backend, workers):
    path = tmp_path / "run.json"
    with monkeypatch.context() as patch:
        fail_after(patch, 20)
        with pytest.raises(KeyboardInterrupt):
            estimate_pi(N, seed=SEED, checkpoint=path)
    assert len(load(path)["done"]) == 20
    est = estimate_pi(N, seed=SEED, backend=backend, workers=workers, checkpoint=path)
    assert (est.n, est.hits, est.backend) == (N, count_hits(N, SEED), backend)
    assert len(load(path)["done"]) == 51


def test_precision_target_resumes_to_the_uninterrupted_answer(tmp_path, monkeypatch):
    budget, tol = 3 * 10**8, 6e-4
    whole = estimate_pi(budget, seed=SEED, tol=tol)
    assert whole.n < budget
    path = tmp_path / "run.json"
    with monkeypatch.context() as patch:
        fail_after(patch, 3)
        with pytest.raises(KeyboardInterrupt):
            estimate_pi(budget, seed=SEED, tol=tol, checkpoint=path)
    saved = load(path)
    assert len(saved["done"]) == 3
    assert (saved["params"]["tol"], saved["params"]["confidence"]) == (tol, 0.95)
    resumed = estimate_pi(budget, seed=SEED, tol=tol, backend="threads", workers=2,
                          checkpoint=path)
    assert (resumed.n, resumed.hits) == (whole.n, whole.hits)
    again = estimate_pi(budget, seed=SEED, tol=tol, backend="processes", workers=2,
                        checkpoint=path)
    assert (again.n, again.hits) == (whole.n, whole.hits)


@pytest.fixture
def small_checkpoint(tmp_path) -> Path:
    """The finished checkpoint of ``estimate_pi(SMALL, seed=SEED, tol=1e-9)``."""
    path = tmp_path / "run.json"
    estimate_pi(SMALL, seed=SEED, tol=1e-9, checkpoint=path)
    return path


@pytest.mark.parametrize("change, difference", [
    (dict(n=SMALL + 1), rf"n={SMALL} \(now {SMALL + 1}\)"),
    (dict(n=100 * 2**20), r"chunk=1048576 \(now 1638400\)"),
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


def edit(**changes):
    """A corruption that sets fields of the checkpoint's JSON."""
    def corrupt(data: dict) -> str:
        for key, value in changes.items():
            if key.startswith("done."):
                data["done"][key[5:]] = value
            elif value is None:
                del data[key]
            else:
                data[key] = value
        return json.dumps(data)
    return corrupt


CORRUPTIONS = {
    "empty": lambda data: "",
    "truncated": lambda data: json.dumps(data)[:-10],
    "not JSON": lambda data: "hits: 12",
    "a list": lambda data: "[]",
    "a string": lambda data: '"pymcpi checkpoint"',
    "wrong format": edit(format="pymcpi results"),
    "future version": edit(version=2),
    "no done": edit(done=None),
    "done a list": edit(done=[1, 2]),
    "params a list": edit(params=[1, 2]),
    "params missing": edit(params=None),
    "hits above the chunk size": edit(**{"done.0": 2**20 + 1}),
    "hits above the last chunk's size": edit(**{"done.5": 8}),
    "negative hits": edit(**{"done.1": -1}),
    "float hits": edit(**{"done.2": 812345.0}),
    "string hits": edit(**{"done.2": "812345"}),
    "bool hits": edit(**{"done.2": True}),
    "index out of range": edit(**{"done.6": 0}),
    "negative index": edit(**{"done.-1": 0}),
    "index not a number": edit(**{"done.first": 0}),
    "negative elapsed": edit(elapsed_s=-1.0),
    "elapsed a string": edit(elapsed_s="1 s"),
}


@pytest.mark.parametrize("corruption", CORRUPTIONS.values(), ids=CORRUPTIONS.keys())
def test_corrupt_checkpoint_is_refused_and_kept(small_checkpoint, corruption):
    small_checkpoint.write_text(corruption(load(small_checkpoint)), encoding="utf-8")
    before = small_checkpoint.read_bytes()
    with pytest.raises(ValueError, match="corrupt or not a pymcpi checkpoint"):
        estimate_pi(SMALL, seed=SEED, tol=1e-9, checkpoint=small_checkpoint)
    assert small_checkpoint.read_bytes() == before


def test_undecodable_checkpoint_is_refused_and_kept(tmp_path):
    path = tmp_path / "run.json"
    path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ValueError, match="corrupt"):
        estimate_pi(SMALL, seed=SEED, checkpoint=path)
    assert path.read_bytes() == b"\xff\xfe\x00garbage"
