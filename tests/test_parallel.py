"""The parallel layer: split, estimate_pi on every backend and on pools the
user brings, precision targets, the progress bar, worker faults, Ctrl-C, and
argument checks."""

from __future__ import annotations

import inspect
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from functools import cache

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from interpreters import python_env, run_python

from pymcpi import Chunk, Estimate, count_hits, estimate_pi, split

BLOCK = 256
N = 50 * 2**20 + 12345  # 51 chunks of estimate_pi's plan, the last one short
SEED = 7
BUDGET = 3 * 10**8  # 64 chunks: rounds of 1, 1, 2, 4, ... 32 chunks

HAS_PROC_CHILDREN = os.path.exists(f"/proc/{os.getpid()}/task/{os.getpid()}/children")
needs_proc_children = pytest.mark.skipif(
    not HAS_PROC_CHILDREN, reason="needs /proc/<pid>/task/<tid>/children")

def child_pids(pid: int) -> set[int]:
    """The pids of the live children of process ``pid``."""
    kids: set[int] = set()
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/children") as f:
                kids.update(map(int, f.read().split()))
        except FileNotFoundError:  # a thread that has just ended
            pass
    return kids


# Prepended to child programs: their workers are forked, so they are the
# child's own children (not a fork server's), and children() lists what is left.
CHILD = f"""
import multiprocessing, os

multiprocessing.set_start_method("fork")

{inspect.getsource(child_pids)}
def children():
    return sorted(child_pids(os.getpid()))
"""


@cache
def hits_of() -> int:
    return count_hits(N, SEED)


def last_json(proc: subprocess.CompletedProcess) -> dict:
    return json.loads(proc.stdout.strip().splitlines()[-1])


# split


@given(n=st.one_of(st.integers(0, 10**6), st.integers(0, 2**64 - 1)),
       parts=st.integers(1, 40), seed=st.integers(0, 2**64 - 1))
@settings(max_examples=200, deadline=None)
def test_split_cuts_contiguous_nearly_equal_chunks(n, parts, seed):
    chunks = split(n, parts, seed=seed)
    assert len(chunks) == parts
    assert all(type(c) is Chunk and c.seed == seed for c in chunks)
    ends = [c.start + c.n for c in chunks]
    assert [c.start for c in chunks] == [0] + ends[:-1]
    assert ends[-1] == n
    sizes = [c.n for c in chunks]
    assert max(sizes) - min(sizes) <= BLOCK
    assert all(c.start % BLOCK == 0 for c in chunks)
    assert all(c.n % BLOCK == 0 for c in chunks[:-1])


@given(n=st.integers(0, 300_000), parts=st.integers(1, 12), seed=st.integers(0, 2**64 - 1))
@settings(max_examples=60, deadline=None)
def test_split_counts_add_up_to_the_whole(n, parts, seed):
    assert sum(count_hits(*c) for c in split(n, parts, seed)) == count_hits(n, seed)


def test_split_tutorial_pattern_with_a_pool():
    with multiprocessing.Pool(2) as pool:
        hits = sum(pool.starmap(count_hits, split(N, 2, seed=SEED)))
    assert hits == hits_of()


@pytest.mark.parametrize("parts, error", [
    (0, ValueError), (-1, ValueError), (1.5, TypeError), (None, TypeError),
    (True, TypeError), ("2", TypeError)])
def test_split_rejects_bad_parts(parts, error):
    with pytest.raises(error, match="parts"):
        split(1000, parts)


@pytest.mark.parametrize("n, error", [
    (-1, ValueError), (2**64, ValueError), (1.5, TypeError), ("10", TypeError)])
def test_split_rejects_bad_n(n, error):
    with pytest.raises(error, match="n must"):
        split(n, 2)


# Backends


@pytest.mark.parametrize("backend, workers", [
    ("serial", None), ("serial", 1),
    ("threads", 1), ("threads", 2), ("threads", 3),
    ("processes", 1), ("processes", 2), ("processes", 3)])
def test_every_backend_counts_the_same_hits(backend, workers):
    est = estimate_pi(N, seed=SEED, backend=backend, workers=workers)
    assert (est.n, est.hits, est.seed) == (N, hits_of(), SEED)
    assert (est.backend, est.workers) == (backend, workers or 1)


@pytest.mark.parametrize("backend", ["threads", "processes"])
def test_default_workers_are_the_usable_cpus(backend):
    est = estimate_pi(N, seed=SEED, backend=backend)
    assert est.hits == hits_of()
    assert est.workers == len(os.sched_getaffinity(0))


START_METHOD = """
import json, multiprocessing
import pymcpi

multiprocessing.set_start_method({method!r})
runs = []
for workers in (1, 2, 3):
    est = pymcpi.estimate_pi({n}, seed={seed}, backend="processes", workers=workers)
    runs.append([est.hits, est.backend, est.workers])
print(json.dumps({{"runs": runs, "left": len(multiprocessing.active_children())}}))
"""


@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_processes_under_every_start_method_from_python_c(method):
    # Code run with python -c has no importable __main__, like a REPL.
    result = last_json(run_python(START_METHOD.format(method=method, n=N, seed=SEED)))
    assert result["runs"] == [[hits_of(), "processes", w] for w in (1, 2, 3)]
    assert result["left"] == 0


def test_multiprocessing_pool_is_used_and_left_open():
    with multiprocessing.Pool(2) as pool:
        est = estimate_pi(N, seed=SEED, pool=pool)
        assert pool.apply(count_hits, (1000, 3)) == count_hits(1000, 3)
    assert (est.hits, est.backend, est.workers) == (hits_of(), "pool", 2)


@pytest.mark.parametrize("make, size", [
    (lambda: ThreadPoolExecutor(3), 3), (lambda: ProcessPoolExecutor(2), 2)],
    ids=["ThreadPoolExecutor", "ProcessPoolExecutor"])
def test_executor_is_used_and_left_open(make, size):
    with make() as executor:
        est = estimate_pi(N, seed=SEED, pool=executor)
        assert executor.submit(count_hits, 1000, 3).result() == count_hits(1000, 3)
        named = estimate_pi(N, seed=SEED, pool=executor, workers=5)
    assert (est.hits, est.backend, est.workers) == (hits_of(), "pool", size)
    assert (named.hits, named.workers) == (hits_of(), 5)


# Precision targets


def half_width(est: Estimate, confidence: float) -> float:
    low, high = est.ci(confidence)
    return (high - low) / 2


@pytest.mark.parametrize("tol, confidence", [(1e-3, 0.95), (8e-4, 0.99)])
def test_precision_target_stops_at_the_same_round_on_every_backend(tol, confidence):
    runs = [estimate_pi(BUDGET, seed=SEED, tol=tol, confidence=confidence,
                        backend=backend, workers=workers)
            for backend, workers in [("serial", None), ("threads", 2), ("threads", 3),
                                     ("processes", 2)]]
    first = runs[0]
    assert {(e.n, e.hits) for e in runs} == {(first.n, first.hits)}
    assert first.n < BUDGET and first.n % 2 == 0
    assert first.hits == count_hits(first.n, SEED)
    assert half_width(first, confidence) <= tol
    before = first.n // 2  # each round doubles the points
    previous = Estimate(n=before, hits=count_hits(before, SEED), seed=SEED)
    assert half_width(previous, confidence) > tol


def test_loose_precision_target_stops_after_one_chunk():
    est = estimate_pi(BUDGET, seed=SEED, tol=1.0)
    assert BUDGET // 64 <= est.n <= BUDGET // 64 + BLOCK
    assert est.hits == count_hits(est.n, SEED)


@pytest.mark.parametrize("backend, workers", [("serial", None), ("threads", 2), ("processes", 2)])
def test_precision_target_out_of_budget_uses_every_point(backend, workers):
    n = 3 * 2**20 + 77
    est = estimate_pi(n, seed=SEED, tol=1e-9, backend=backend, workers=workers)
    assert (est.n, est.hits) == (n, count_hits(n, SEED))
    assert half_width(est, 0.95) > 1e-9


# Progress bar


@pytest.mark.parametrize("backend", ["serial", "threads", "processes"])
def test_progress_bar_goes_to_stderr(capsys, backend):
    est = estimate_pi(N, seed=SEED, backend=backend, progress=True)
    out, err = capsys.readouterr()
    assert est.hits == hits_of()
    assert out == ""
    assert "100%" in err and "pt/s" in err


def test_no_progress_bar_by_default(capsys):
    estimate_pi(N, seed=SEED, backend="threads", workers=2)
    assert capsys.readouterr() == ("", "")


# Faults

KILL_A_WORKER = """
import json, multiprocessing, signal, threading, time
import pymcpi

finished = threading.Event()
killed = []

def kill_a_worker():
    while not multiprocessing.active_children():
        time.sleep(0.01)
    time.sleep(0.3)
    pid = multiprocessing.active_children()[0].pid
    killed.append([pid, not finished.is_set()])
    os.kill(pid, signal.SIGKILL)

killer = threading.Thread(target=kill_a_worker)
killer.start()
est = pymcpi.estimate_pi({n}, seed={seed}, backend="processes", workers=2)
finished.set()
killer.join()
print(json.dumps({{"hits": est.hits, "backend": est.backend, "workers": est.workers,
                  "killed": killed, "children": children()}}))
"""


@needs_proc_children
def test_killed_worker_is_replaced_and_the_answer_is_exact():
    n = 10**9  # about a second on the scalar path with two workers
    proc = run_python(CHILD + KILL_A_WORKER.format(n=n, seed=SEED),
                      env=python_env(PYMCPI_SIMD="scalar"), timeout=60)
    result = last_json(proc)
    [[_, mid_run]] = result["killed"]
    assert mid_run, "the run ended before a worker could be killed"
    assert result["hits"] == count_hits(n, SEED)
    assert (result["backend"], result["workers"]) == ("processes", 2)
    assert result["children"] == []


KEEP_KILLING = CHILD + """
import json, multiprocessing, signal, threading, time
import pymcpi

stop = threading.Event()

def keep_killing():
    while not stop.is_set():
        for child in multiprocessing.active_children():
            try:
                os.kill(child.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.005)

killer = threading.Thread(target=keep_killing)
killer.start()
error = None
try:
    pymcpi.estimate_pi(10**11, seed=1, backend="processes", workers=2)
except RuntimeError as exc:
    error = str(exc)
finally:
    stop.set()
    killer.join()
print(json.dumps({"error": error, "children": children()}))
"""


@needs_proc_children
def test_workers_that_keep_dying_end_the_run_cleanly():
    result = last_json(run_python(KEEP_KILLING, timeout=60))
    assert result["error"] is not None, "the run did not give up"
    assert "died" in result["error"] and "giving up" in result["error"]
    assert result["children"] == []


RAISING_WORKER = CHILD + """
import json
import pymcpi, pymcpi.backends

def failing(n, seed, start):
    if start >= 10 * 2**20:
        raise ValueError(f"chunk at {start} fails on purpose")
    return pymcpi.count_hits(n, seed, start)

pymcpi.backends.count_hits = failing  # forked workers inherit it
error = None
try:
    pymcpi.estimate_pi(10**9, seed=1, backend="processes", workers=2)
except ValueError as exc:
    error = str(exc)
print(json.dumps({"error": error, "children": children()}))
"""


@needs_proc_children
def test_worker_exception_surfaces_and_no_worker_outlives_it():
    env = python_env(PYMCPI_SIMD="scalar")
    result = last_json(run_python(RAISING_WORKER, env=env, timeout=60))
    assert result["error"] is not None and "fails on purpose" in result["error"]
    assert result["children"] == []


def failing_pool(base: type[Executor]) -> Executor:
    """An executor of two workers whose third task counts -5 points, so that
    the kernel raises in a worker."""

    class FailingPool(base):
        submitted = 0

        def submit(self, fn, /, *args, **kwargs):
            self.submitted += 1
            if self.submitted == 3:
                args = (-5, *args[1:])
            return super().submit(fn, *args, **kwargs)

    return FailingPool(2)


@pytest.mark.parametrize("base", [ThreadPoolExecutor, ProcessPoolExecutor])
def test_worker_exception_in_a_users_pool_surfaces(base):
    with failing_pool(base) as pool:
        with pytest.raises(ValueError, match="n must be >= 0, got -5"):
            estimate_pi(N, seed=SEED, pool=pool)
        assert estimate_pi(N, seed=SEED, pool=pool).hits == hits_of()


# The handler is set, not inherited: a shell runs background jobs with SIGINT
# ignored.
INTERRUPTED = CHILD + """
import signal
import pymcpi

signal.signal(signal.SIGINT, signal.default_int_handler)
print("ready", flush=True)
pymcpi.estimate_pi(10**12, seed=3, backend="processes", workers=2)
"""


def running(pid: int) -> bool:
    """Whether ``pid`` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def wait_until(condition, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        if time.monotonic() > deadline:
            return result
        time.sleep(0.01)
    return result


def start_with_workers(code: str, *args: str) -> tuple[subprocess.Popen, set[int]]:
    """Start a child running ``code`` in a session of its own; once it prints
    "ready" and has two children, return it and their pids."""
    proc = subprocess.Popen([sys.executable, "-P", "-c", code, *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=tempfile.gettempdir(), env=python_env(),
                            start_new_session=True)
    assert proc.stdout.readline().strip() == "ready"
    workers = wait_until(lambda: kids if len(kids := child_pids(proc.pid)) >= 2 else None)
    assert workers, "no worker processes started"
    return proc, workers


@needs_proc_children
@pytest.mark.parametrize("target, delay", [
    ("driver", 0.2), ("driver", 0.5), ("driver", 0.8), ("driver", 1.1), ("group", 0.5)])
def test_ctrl_c_stops_the_run_and_leaves_no_worker(target, delay):
    # "driver": SIGINT to the driver alone, as `kill -INT` or a notebook's
    # interrupt does; "group": to the whole process group, as a terminal does.
    proc, workers = start_with_workers(INTERRUPTED)
    try:
        time.sleep(delay)
        assert proc.poll() is None
        if target == "group":
            os.killpg(proc.pid, signal.SIGINT)
        else:
            proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)
        wait_until(lambda: not any(map(running, workers)), timeout=5)
        left = [pid for pid in workers if running(pid)]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
        for pid in workers:
            if running(pid):
                os.kill(pid, signal.SIGKILL)
    assert "KeyboardInterrupt" in err
    assert left == [], "worker processes outlived the interrupted run"


KILLED = """
import multiprocessing, sys
import pymcpi

multiprocessing.set_start_method(sys.argv[1])
print("ready", flush=True)
pymcpi.estimate_pi(10**12, seed=3, backend="processes", workers=2)
"""


@needs_proc_children
@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_workers_end_with_a_killed_driver(method):
    # SIGKILL or the OOM killer gives the driver no chance to clean up; the
    # kernel ends its workers (PR_SET_PDEATHSIG), or, under forkserver, they
    # notice that the driver is gone.
    proc, workers = start_with_workers(KILLED, method)
    try:
        time.sleep(1.0)  # under forkserver the driver's children are servers; let workers start
        proc.kill()  # and leave it a zombie until communicate() has seen the pipes close
        proc.communicate(timeout=20)
        wait_until(lambda: not any(map(running, workers)), timeout=10)
        left = [pid for pid in workers if running(pid)]
    finally:
        for pid in workers:
            if running(pid):
                os.kill(pid, signal.SIGKILL)
    assert left == [], "worker processes outlived the killed driver"


# Bad arguments

IDLE_POOL = ThreadPoolExecutor(1)  # never given work, so it starts no thread


def kwargs_id(value: object) -> str | None:
    if not isinstance(value, dict):
        return None
    return ",".join(f"{k}={v!r}" if isinstance(v, (int, float, str)) else f"{k}={type(v).__name__}"
                    for k, v in value.items())


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(backend="gpu"), ValueError, "backend"),
    (dict(backend=5), ValueError, "backend"),
    (dict(backend="threads", workers=0), ValueError, "workers"),
    (dict(backend="processes", workers=-1), ValueError, "workers"),
    (dict(backend="threads", workers=1.5), TypeError, "workers"),
    (dict(backend="processes", workers=True), TypeError, "workers"),
    (dict(tol=0), ValueError, "tol"),
    (dict(tol=-1), ValueError, "tol"),
    (dict(tol=float("nan")), ValueError, "tol"),
    (dict(tol="x"), TypeError, "tol"),
    (dict(tol=1e-3, confidence=0), ValueError, "confidence"),
    (dict(confidence=1), ValueError, "confidence"),
    (dict(confidence=1.5), ValueError, "confidence"),
    (dict(confidence="high"), TypeError, "confidence"),
    (dict(backend="threads", pool=IDLE_POOL), ValueError, "pool"),
    (dict(backend="processes", pool=IDLE_POOL), ValueError, "pool"),
    (dict(backend="threads", comm=object()), ValueError, "comm"),
    (dict(backend="serial", workers=2), ValueError, "backend='serial' has one worker"),
    (dict(backend="mpi", workers=2), ValueError, "backend='mpi' has one worker per rank"),
    (dict(pool=object()), TypeError, "pool"),
], ids=kwargs_id)
def test_bad_arguments_are_named(kwargs, error, message):
    with pytest.raises(error, match=message):
        estimate_pi(N, seed=SEED, **kwargs)


def test_only_the_mpi_backend_imports_mpi4py():
    code = """
import sys
from concurrent.futures import ThreadPoolExecutor
import pymcpi

loaded = lambda: sorted(m for m in sys.modules if m.split(".")[0] == "mpi4py")
before = loaded()
for backend in ("serial", "threads", "processes"):
    pymcpi.estimate_pi(10**6, backend=backend)
with ThreadPoolExecutor(2) as pool:
    pymcpi.estimate_pi(10**6, pool=pool)
print(before, loaded())
"""
    assert run_python(code).stdout.split() == ["[]", "[]"]


# Where worker processes cannot start

UNGUARDED = """
import multiprocessing, sys
import pymcpi

multiprocessing.set_start_method(sys.argv[1], force=True)  # workers run this line too
print(pymcpi.estimate_pi({n}, seed={seed}, backend="processes", workers=2))
"""


@pytest.mark.parametrize("method", ["spawn", "forkserver"])
def test_a_script_without_the_main_guard_is_told_so_in_a_few_lines(method, tmp_path):
    script = tmp_path / "unguarded.py"
    script.write_text(UNGUARDED.format(n=N, seed=SEED))
    proc = subprocess.run([sys.executable, "-P", str(script), method], cwd=tmp_path,
                          env=python_env(), capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert lines[-1].startswith("RuntimeError: the worker processes stopped while importing "
                                f"{script}: under the {method!r} start method")
    assert lines[-1].endswith('Put the call under `if __name__ == "__main__":`')
    assert proc.stderr.count("Traceback") == 1 and len(lines) <= 25, proc.stderr
    assert "bootstrapping phase" not in proc.stderr and "giving up" not in proc.stderr


def test_processes_inside_a_pool_worker_say_what_to_use_instead():
    with multiprocessing.get_context("fork").Pool(1) as pool:
        with pytest.raises(RuntimeError, match="daemonic.*backend='threads'"):
            pool.apply(estimate_pi, (N,), {"seed": SEED, "backend": "processes"})
        est = pool.apply(estimate_pi, (N,), {"seed": SEED, "backend": "threads", "workers": 2})
    assert est.hits == hits_of()


# The progress bar with a precision target, and where every redraw is kept


def redraws(err: str) -> list[str]:
    return [line for line in err.replace("\r", "\n").split("\n") if "pt/s" in line]


def test_progress_bar_follows_the_rounds_and_says_when_the_target_is_met(capsys):
    import re

    from pymcpi.engine import round_edges

    est = estimate_pi(BUDGET, seed=SEED, tol=1e-3, backend="threads", workers=2, progress=True)
    lines = redraws(capsys.readouterr().err)
    edges = round_edges(BUDGET, growing=True)
    assert est.target_met and est.n in edges[:-1]
    assert lines[0].startswith(f"round 1/{len(edges)}:   0%")
    last = lines[-1]
    assert last.startswith(f"round {edges.index(est.n) + 1}/{len(edges)}: 100%")
    done, total = re.search(r"\| (\S+)/(\S+) \[", last).groups()
    assert done == total and last.endswith("tol met]")

    missed = estimate_pi(3 * 2**20 + 77, seed=SEED, tol=1e-9, progress=True)
    last = redraws(capsys.readouterr().err)[-1]
    assert missed.target_met is False
    assert " 100%" in last and last.endswith("tol not met: n spent]")


def test_progress_bar_to_a_stream_that_keeps_every_redraw_is_redrawn_once_a_second(
        capsys, monkeypatch):
    # Not a terminal (a notebook's text output, a pipe, a log): every redraw
    # is stored, so there are about as many as seconds.
    monkeypatch.delenv("COLUMNS", raising=False)
    n = 2 * 10**9
    est = estimate_pi(n, seed=SEED, backend="threads", workers=2, progress=True)
    lines = redraws(capsys.readouterr().err)
    assert est.n == n and "100%" in lines[-1]
    assert len(lines) <= est.elapsed / 1.0 + 3, (est.elapsed, lines)
    assert {len(line) for line in lines} == {80}


@pytest.mark.slow
def test_progress_bar_in_a_notebook_kernel_stores_a_redraw_a_second():
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(
        "import pymcpi\n"
        f"est = pymcpi.estimate_pi(3 * 10**9, seed={SEED}, backend='threads', workers=2, "
        "progress=True)\n"
        "print(est.elapsed)")]
    # The kernel starts outside the clone, whose pymcpi/ would shadow the
    # installed package.
    nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": tempfile.gettempdir()}}).execute()
    outputs = nb.cells[0].outputs
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    elapsed = float(next(o.text for o in outputs if o.get("name") == "stdout"))
    try:
        import ipywidgets  # noqa: F401
    except ImportError:  # a text bar
        assert "IProgress" not in text and "Warning" not in text, text
        lines = redraws(text)
        assert "100%" in lines[-1] and len(lines) <= elapsed / 1.0 + 3, (elapsed, lines)
    else:  # a widget: no text bar at all
        assert not redraws(text)
        assert any(o.output_type == "display_data" for o in outputs)
