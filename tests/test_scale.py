"""Runs of any size: ``estimate_pi(2**64 - 1)`` starts counting at once on
every backend, in the memory of a small run, stops on Ctrl-C with a small
checkpoint, and resumes from it, also on another backend or rank count."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from interpreters import python_env

from pymcpi import count_hits
from pymcpi.bench import find_mpiexec

SEED = 1
HUGE = [2**64 - 1, 10**15 + 12345]

# The handler is set, not inherited: a shell runs background jobs with SIGINT
# ignored. The child reports its peak memory once it stops.
RUN = """
import json, resource, signal, sys
import pymcpi

signal.signal(signal.SIGINT, signal.default_int_handler)
n, backend, path = int(sys.argv[1]), sys.argv[2], sys.argv[3] or None
workers = None if backend in ("serial", "mpi") else 2
outcome = "finished"
try:
    pymcpi.estimate_pi(n, seed={seed}, backend=backend, workers=workers, checkpoint=path)
except KeyboardInterrupt:
    outcome = "interrupted"
print(json.dumps({{"outcome": outcome,
                  "rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}}), flush=True)
""".format(seed=SEED)


def ranges(path: Path) -> list[list[int]]:
    try:
        return json.loads(path.read_text())["ranges"]
    except FileNotFoundError:
        return []


def start(command: list[str]) -> subprocess.Popen:
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=tempfile.gettempdir(), env=python_env(), start_new_session=True)


def rank_peaks(pid: int) -> list[int]:
    """Peak RSS (kB) of the Python processes below ``pid``: the ranks that
    mpiexec started, through its proxy."""
    peaks, todo = [], [pid]
    while todo:
        parent = todo.pop()
        try:
            with open(f"/proc/{parent}/task/{parent}/children") as f:
                todo += [int(child) for child in f.read().split()]
            with open(f"/proc/{parent}/status") as f:
                status = dict(line.split(":", 1) for line in f)
        except (FileNotFoundError, ProcessLookupError):
            continue
        if status["Name"].strip().startswith("python"):
            peaks.append(int(status["VmHWM"].split()[0]))
    return peaks


def interrupt_once_counted(proc: subprocess.Popen, path: Path, beyond: int,
                           before=lambda: None) -> tuple[str, str]:
    """Wait until the checkpoint covers more than ``beyond`` points, call
    ``before()``, then SIGINT the whole job; return what it printed on
    stdout and stderr."""
    try:
        deadline = time.monotonic() + 60
        while (sum(e - s for s, e, _ in ranges(path)) <= beyond and proc.poll() is None
               and time.monotonic() < deadline):
            time.sleep(0.02)
        assert proc.poll() is None, proc.communicate()[1]
        before()
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    assert sum(e - s for s, e, _ in ranges(path)) > beyond, err
    return out, err


def check_exact(found: list[list[int]]) -> None:
    """Every saved range holds exactly the hits of its points."""
    for start, end, hits in found:
        assert hits == count_hits(end - start, SEED, start)


def python_run(n: int, backend: str, path: Path | str) -> subprocess.Popen:
    return start([sys.executable, "-P", "-c", RUN, str(n), backend, str(path)])


@pytest.mark.parametrize("backend", ["serial", "threads", "processes"])
@pytest.mark.parametrize("n", HUGE, ids=["2**64-1", "1e15"])
def test_huge_run_counts_at_once_in_small_memory_and_resumes(tmp_path, backend, n):
    small = python_run(10**6, backend, "")
    out, err = small.communicate(timeout=60)
    baseline = json.loads(out)
    assert baseline["outcome"] == "finished", err

    path = tmp_path / "run.json"
    first = json.loads(interrupt_once_counted(python_run(n, backend, path), path, 0)[0])
    assert first["outcome"] == "interrupted"
    assert first["rss_kb"] - baseline["rss_kb"] < 8 * 1024  # within a few MB
    saved = ranges(path)
    assert 0 < len(saved) <= 2 * 4 * 2 + 1  # holes left by a window of 4 pieces per worker
    assert len(path.read_bytes()) < 2000
    check_exact(saved)

    # Resume on another backend: it keeps what was done and goes on.
    other = "threads" if backend != "threads" else "serial"
    before = sum(e - s for s, e, _ in saved)
    again = json.loads(interrupt_once_counted(python_run(n, other, path), path, before)[0])
    assert again["outcome"] == "interrupted"
    resumed = ranges(path)
    assert all(any(a <= s and e <= b for a, b, _ in resumed) for s, e, _ in saved)
    check_exact([r for r in resumed if r not in saved])
    assert len(path.read_bytes()) < 2000


MPIEXEC = find_mpiexec()


@pytest.mark.skipif(MPIEXEC is None, reason="mpiexec not found")
def test_huge_mpi_run_counts_at_once_and_resumes_on_another_rank_count(tmp_path):
    pytest.importorskip("mpi4py")
    n = 2**64 - 1
    path = tmp_path / "run.json"
    script = tmp_path / "run.py"
    script.write_text(RUN, encoding="utf-8")
    small = start([MPIEXEC, "-n", "2", sys.executable, "-P", str(script), "1000000", "mpi", ""])
    out, err = small.communicate(timeout=60)
    # The ranks' lines may arrive interleaved.
    baseline = max(map(int, re.findall(r'"rss_kb": (\d+)', out)))
    job = start([MPIEXEC, "-n", "2", sys.executable, "-P", str(script), str(n), "mpi", str(path)])
    peaks: list[int] = []
    out, err = interrupt_once_counted(job, path, 0, lambda: peaks.extend(rank_peaks(job.pid)))
    # Ctrl-C reaches every rank, and every rank's call raises KeyboardInterrupt
    # (rank 0's once it has saved), which the script catches: no traceback.
    assert out.count('"outcome": "interrupted"') == 2 and "Traceback" not in err, (out, err)
    assert len(peaks) == 2 and max(peaks) - baseline < 8 * 1024, (peaks, baseline)
    saved = ranges(path)
    assert saved and saved[0][0] == 0  # rank 0 counts from the start of its share
    assert len(path.read_bytes()) < 1000
    check_exact(saved)
    before = sum(e - s for s, e, _ in saved)
    single = start([MPIEXEC, "-n", "1", sys.executable, "-P", str(script), str(n), "mpi",
                    str(path)])
    interrupt_once_counted(single, path, before)
    resumed = ranges(path)
    assert all(any(a <= s and e <= b for a, b, _ in resumed) for s, e, _ in saved)
    check_exact([r for r in resumed if r not in saved])
