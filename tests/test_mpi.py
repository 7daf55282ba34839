"""estimate_pi on MPI ranks, in jobs that mpiexec starts from the tests."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from interpreters import python_env

import pymcpi
from pymcpi import count_hits, estimate_pi, split
from pymcpi.bench import find_mpiexec

pytest.importorskip("mpi4py")


MPIEXEC = find_mpiexec()
if MPIEXEC is None:
    pytest.skip("mpiexec not found", allow_module_level=True)

SEED = 7
N = 50 * 2**20 + 12345  # 51 chunks: groups of 1, 2 or 3 ranks do not divide it

ESTIMATE = """
import json, sys
import pymcpi

kwargs = json.loads(sys.argv[1])
est = pymcpi.estimate_pi(kwargs.pop("n"), backend="mpi", **kwargs)
from mpi4py import MPI

comm = MPI.COMM_WORLD
mine = {"rank": comm.Get_rank(), "n": est.n, "hits": est.hits,
        "backend": est.backend, "workers": est.workers}
everyone = comm.gather(mine, root=0)
if comm.Get_rank() == 0:
    print(json.dumps(everyone))
"""


def write(tmp_path: Path, code: str, name: str = "job.py") -> Path:
    script = tmp_path / name
    script.write_text(code, encoding="utf-8")
    return script


def run(command: list[str], cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run ``command`` in a session of its own, so that a job that hangs is
    killed whole and fails the test."""
    proc = subprocess.Popen(command, cwd=cwd, env=python_env(), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail(f"{' '.join(command)} did not end within {timeout} s")
    return subprocess.CompletedProcess(command, proc.returncode, out, err)


def mpiexec(ranks: int, script: Path, *args: str, timeout: float = 60,
            check: bool = True) -> subprocess.CompletedProcess:
    proc = run([MPIEXEC, "-n", str(ranks), sys.executable, "-P", str(script), *args],
               script.parent, timeout)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def results(proc: subprocess.CompletedProcess) -> list[dict]:
    """What each rank of ESTIMATE got, gathered on rank 0."""
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("ranks", [1, 2, 3])
def test_every_rank_gets_the_exact_estimate(tmp_path, ranks):
    proc = mpiexec(ranks, write(tmp_path, ESTIMATE), json.dumps({"n": N, "seed": SEED}))
    assert results(proc) == [
        {"rank": r, "n": N, "hits": count_hits(N, SEED), "backend": "mpi", "workers": ranks}
        for r in range(ranks)
    ]


def test_mpi_backend_without_mpiexec_is_one_rank(tmp_path):
    code = f"""
import json, sys
import pymcpi

imported = "mpi4py" in sys.modules
est = pymcpi.estimate_pi({N}, seed={SEED}, backend="mpi")
from mpi4py import MPI
own = pymcpi.estimate_pi({N}, seed={SEED}, comm=MPI.COMM_SELF)
print(json.dumps([imported, [est.hits, est.backend, est.workers],
                  [own.hits, own.backend, own.workers]]))
"""
    proc = run([sys.executable, "-P", str(write(tmp_path, code))], tmp_path)
    assert proc.returncode == 0, proc.stderr
    hits = count_hits(N, SEED)
    assert json.loads(proc.stdout) == [False, [hits, "mpi", 1], [hits, "mpi", 1]]


TUTORIAL = """
from mpi4py import MPI
import pymcpi

comm = MPI.COMM_WORLD
n, seed = {n}, {seed}
hits = comm.reduce(pymcpi.count_hits(*pymcpi.split(n, comm.size, seed)[comm.rank]), op=MPI.SUM)
if comm.rank == 0:
    print(hits)
"""


@pytest.mark.parametrize("ranks", [2, 3])
def test_tutorial_split_and_reduce(tmp_path, ranks):
    proc = mpiexec(ranks, write(tmp_path, TUTORIAL.format(n=N, seed=SEED)))
    assert proc.stdout.split() == [str(count_hits(N, SEED))]


def test_precision_target_under_mpi_matches_serial(tmp_path):
    budget, tol = 3 * 10**8, 6e-4
    serial = estimate_pi(budget, seed=SEED, tol=tol)
    assert serial.n < budget
    proc = mpiexec(2, write(tmp_path, ESTIMATE),
                   json.dumps({"n": budget, "seed": SEED, "tol": tol}))
    assert [(r["n"], r["hits"]) for r in results(proc)] == [(serial.n, serial.hits)] * 2


FAILING_RANK = """
import json, sys, time
from mpi4py import MPI
import pymcpi, pymcpi.backends

if MPI.COMM_WORLD.Get_rank() == 1:
    real, calls = pymcpi.backends.count_hits, []

    def failing(n, seed, start):
        if len(calls) == 2:
            time.sleep(3)  # rank 0 has saved by now (it saves between pieces of its own)
            raise RuntimeError("rank 1 fails on purpose")
        calls.append([start, start + n])
        with open(sys.argv[2], "w") as f:
            json.dump(calls, f)
        return real(n, seed, start)

    pymcpi.backends.count_hits = failing
pymcpi.estimate_pi({n}, seed={seed}, backend="mpi", checkpoint=sys.argv[1])
print("finished", flush=True)
"""


def covered(path: Path) -> int:
    return sum(end - start for start, end, _ in json.loads(path.read_text())["ranges"])


def inside(span: list[int], ranges: list[list[int]]) -> bool:
    return any(a <= span[0] and span[1] <= b for a, b, _ in ranges)


def test_failing_rank_ends_the_job_and_its_checkpoint_resumes(tmp_path):
    checkpoint, counted = tmp_path / "run.json", tmp_path / "rank1.json"
    n = 40 * N  # long enough that rank 0 is still counting when rank 1 fails
    script = write(tmp_path, FAILING_RANK.format(n=n, seed=SEED), "failing.py")
    failed = mpiexec(2, script, str(checkpoint), str(counted), check=False)
    assert failed.returncode != 0
    assert "finished" not in failed.stdout
    assert "rank 1 of 2 failed" in failed.stderr
    assert "rank 1 fails on purpose" in failed.stderr
    # Rank 0 hears of each piece as it finishes: rank 1's two pieces are in
    # rank 0's checkpoint, beside rank 0's own.
    ranges = json.loads(checkpoint.read_text())["ranges"]
    rank1 = json.loads(counted.read_text())
    assert len(rank1) == 2 and all(inside(span, ranges) for span in rank1)
    assert sum(b - a for a, b in rank1) < covered(checkpoint) < n

    resume = write(tmp_path, ESTIMATE, "resume.py")
    args = json.dumps({"n": n, "seed": SEED, "checkpoint": str(checkpoint)})
    proc = mpiexec(1, resume, args)
    assert [(r["n"], r["hits"], r["workers"]) for r in results(proc)] == [
        (n, count_hits(n, SEED), 1)]
    assert json.loads(checkpoint.read_text())["ranges"] == [[0, n, count_hits(n, SEED)]]
    again = mpiexec(3, resume, args)
    assert {r["hits"] for r in results(again)} == {count_hits(n, SEED)}
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "failing.py", "rank1.json", "resume.py", "run.json"]


# Several runs in one launch: one point, fewer blocks than ranks, a run of
# a few pieces, a precision target and a checkpoint; ranks that wait for the
# round's last piece, and runs one after another on the same communicator.
MANY = """
import json, sys
from mpi4py import MPI
import pymcpi

comm = MPI.COMM_WORLD
runs = json.loads(sys.argv[1])
mine = []
for kwargs in runs:
    est = pymcpi.estimate_pi(kwargs.pop("n"), backend="mpi", **kwargs)
    mine.append([est.n, est.hits, est.workers])
everyone = comm.gather(mine, root=0)
if comm.Get_rank() == 0:
    print(json.dumps(everyone))
"""

RUNS = [dict(n=1, seed=3), dict(n=1000, seed=SEED), dict(n=5 * 2**20 + 7, seed=SEED),
        dict(n=N, seed=SEED), dict(n=3 * 10**8, seed=SEED, tol=6e-4)]


@pytest.mark.parametrize("ranks", [1, 2, 5, pytest.param(16, marks=pytest.mark.slow)])
def test_identical_hits_on_any_number_of_ranks(tmp_path, ranks):
    runs = RUNS + [dict(n=N, seed=SEED, checkpoint=str(tmp_path / "run.json"))]
    proc = mpiexec(ranks, write(tmp_path, MANY), json.dumps(runs), timeout=120)
    serial = [estimate_pi(r["n"], seed=r["seed"], tol=r.get("tol")) for r in runs]
    expected = [[e.n, e.hits, ranks] for e in serial]
    assert results(proc) == [expected] * ranks
    assert json.loads((tmp_path / "run.json").read_text())["ranges"] == [
        [0, N, count_hits(N, SEED)]]


def test_checkpoint_of_another_run_fails_on_every_rank(tmp_path):
    checkpoint = tmp_path / "run.json"
    script = write(tmp_path, ESTIMATE)
    mpiexec(2, script, json.dumps({"n": N, "seed": SEED, "checkpoint": str(checkpoint)}))
    before = checkpoint.read_bytes()
    proc = mpiexec(2, script, json.dumps({"n": N, "seed": SEED + 1,
                                          "checkpoint": str(checkpoint)}), check=False)
    assert proc.returncode != 0
    assert "belongs to another run" in proc.stderr
    assert checkpoint.read_bytes() == before


def test_progress_bar_on_rank_zero_only(tmp_path):
    proc = mpiexec(3, write(tmp_path, ESTIMATE),
                   json.dumps({"n": N, "seed": SEED, "progress": True}))
    assert {r["hits"] for r in results(proc)} == {count_hits(N, SEED)}
    assert proc.stderr.count(" 0.00/52.4M ") == 1  # each bar starts at 0 once
    assert "100%" in proc.stderr


# Signals: srun and mpiexec pass SIGTERM to every rank; a user's kill may
# reach one rank alone. Either way the job stops with one line and status
# 143, and rank 0's final checkpoint holds every piece any rank finished.

@pytest.mark.parametrize("target", ["mpiexec", "rank 0", "rank 1"])
def test_sigterm_saves_every_ranks_finished_pieces(tmp_path, target):
    from test_signals import LOGGED_CLI, finished_pieces, saved, within

    log, checkpoint = tmp_path / "pieces.log", tmp_path / "run.json"
    proc = subprocess.Popen(
        [MPIEXEC, "-n", "2", sys.executable, "-P", "-c", LOGGED_CLI, str(log), "run", "-n",
         "1e15", "--seed", str(SEED), "--checkpoint", str(checkpoint)],
        cwd=tmp_path, env=python_env(PYMCPI_SIMD="scalar"), text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    logs = [Path(f"{log}0"), Path(f"{log}1")]
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not all(
                p.exists() and len(finished_pieces(p)) >= 3 for p in logs):
            time.sleep(0.05)
        assert proc.poll() is None, proc.communicate()
        pids = [int(p.read_text().splitlines()[0]) for p in logs]
        wall = time.time()
        os.kill(proc.pid if target == "mpiexec" else pids[int(target[-1])], signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    assert proc.returncode == 143
    assert err == f"pymcpi: terminated (SIGTERM), progress saved to {checkpoint}\n"
    ranges = saved(checkpoint)
    for rank_log in logs:
        pieces = [p for p in finished_pieces(rank_log) if p[3] < wall - 0.25]
        assert pieces and all(within(p, ranges) for p in pieces), rank_log.name


MIXED = """
import json, time
from mpi4py import MPI
import pymcpi

n = {n}
began = time.perf_counter()
est = pymcpi.estimate_pi(n, seed={seed}, backend="mpi", trace=True)
if MPI.COMM_WORLD.Get_rank() == 0:
    work, busy = {{}}, {{}}
    for r in est.trace:
        work[r.worker] = work.get(r.worker, 0) + r.end - r.start
        busy[r.worker] = busy.get(r.worker, 0.0) + r.ended - r.began
    print(json.dumps({{"hits": est.hits, "work": work, "busy": busy,
                      "last": max(r.ended for r in est.trace)}}))
"""


def test_ranks_of_different_speed_share_the_work_by_speed(tmp_path):
    fast = pymcpi.simd_paths()[-1]
    if fast == "scalar":
        pytest.skip("one SIMD path only")
    n = 3 * 10**9
    script = write(tmp_path, MIXED.format(n=n, seed=SEED))
    command = [MPIEXEC, "-bind-to", "core",
               "-n", "1", "-env", "PYMCPI_SIMD", fast, sys.executable, "-P", str(script), ":",
               "-n", "1", "-env", "PYMCPI_SIMD", "scalar", sys.executable, "-P", str(script)]
    proc = run(command, tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["hits"] == count_hits(n, SEED)
    work, busy = result["work"], result["busy"]
    assert set(work) == {"0", "1"}
    assert work["0"] > 2 * work["1"], work  # the vector path counts most of it
    # Both ranks count until the end: neither waits for the other.
    assert min(busy.values()) > 0.85 * result["last"], (busy, result["last"])


SERVING_ONLY = """
import json, sys
from mpi4py import MPI
import pymcpi, pymcpi.backends as backends

real = backends.MPIRunner.__init__

def without_threads(self, comm):  # as where MPI gives no THREAD_MULTIPLE
    real(self, comm)
    self.threaded = False

backends.MPIRunner.__init__ = without_threads
runs = []
for n in json.loads(sys.argv[1]):
    est = pymcpi.estimate_pi(n, seed=7, backend="mpi", trace=True)
    runs.append([est.n, est.hits, sorted({r.worker for r in est.trace or ()})])
everyone = MPI.COMM_WORLD.gather(runs, root=0)
if MPI.COMM_WORLD.Get_rank() == 0:
    print(json.dumps(everyone))
"""


def test_without_thread_support_rank_0_only_serves(tmp_path):
    sizes = [1, N, 3 * 10**8]
    proc = mpiexec(3, write(tmp_path, SERVING_ONLY), json.dumps(sizes))
    everyone = results(proc)
    assert [[n, h] for n, h, _ in everyone[0]] == [[n, count_hits(n, SEED)] for n in sizes]
    assert everyone[0][-1][2] == ["1", "2"]  # rank 0 counted nothing
    assert all([[n, h] for n, h, _ in runs] == [[n, h] for n, h, _ in everyone[0]]
               for runs in everyone)
