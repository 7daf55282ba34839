"""pymcpi under a real Slurm: a one-node cluster of the tests' own
(tests/slurm/), and the README's batch script submitted with sbatch,
adapted in size only.

- the script runs under ``srun --mpi=pmi2`` and prints one exact result;
- under ``srun --mpi=none`` each task is an MPI world of one, and the run is
  refused in one line instead of being counted once per task;
- a job cut by its time limit, submitted again until it finishes, ends with
  the exact answer; each cut's loss is measured;
- ``scancel`` ends a run with ``pymcpi: terminated``, and its checkpoint
  holds the work of every rank.

The cluster needs Debian's ``slurm-wlm`` and ``munge`` and root. Where they
are missing these tests skip, unless the environment sets
PYMCPI_REQUIRE_SLURM=1 (as CI does), which makes that a failure. Four to
five minutes in all on two cores, most of it the time-limit test: Slurm's
limits are whole minutes, checked every 30 s.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import pytest
from interpreters import python_env, run_python
from slurm.cluster import Cluster, missing

import pymcpi

ROOT = Path(__file__).resolve().parents[1]
REQUIRE = os.environ.get("PYMCPI_REQUIRE_SLURM") == "1"
RANKS = 2
KILL_WAIT = 10  # seconds from SIGTERM to SIGKILL (Slurm's default is 30)
# Seconds of work for the time-limit test, at the rate of its ranks. A
# one-minute job is cut 60-90 s after it starts (the limit is checked every
# 30 s), and one submitted right after a cut about 88 s after it starts, at
# the check after next: 185 s cannot be done in two runs, and is done in the
# third.
CUT_WORK_SECONDS = 185


@pytest.fixture(scope="session")
def cluster():
    reason = missing()
    if reason is None:
        try:
            import mpi4py  # noqa: F401
        except ImportError:
            reason = 'mpi4py is not installed (pip install ".[mpi]")'
    if reason is not None:
        if REQUIRE:
            pytest.fail(f"PYMCPI_REQUIRE_SLURM=1 but {reason}", pytrace=False)
        pytest.skip(reason)
    started = Cluster(cpus=max(4, RANKS), kill_wait=KILL_WAIT)
    try:
        yield started
    finally:
        started.stop()


_rates: dict[tuple[str, int], float] = {}


def rate(simd: str = "", workers: int = RANKS, fresh: bool = False) -> float:
    """Points per second of ``workers`` threads at once on this machine, on
    the SIMD path ``simd`` (``PYMCPI_SIMD``; default the fastest): the best
    of three counts of about half a second, so that the machine's quiet pace
    shows even where other programs come and go. Measured once, or again if
    ``fresh``."""
    key = (simd, workers)
    if fresh or key not in _rates:
        code = ("import time, pymcpi\n"
                "def timed(n):\n"
                "    t = time.perf_counter()\n"
                f"    pymcpi.estimate_pi(n, backend='threads', workers={workers})\n"
                "    return time.perf_counter() - t\n"
                "n = 2**24\n"
                "while timed(n) < 0.5:\n"
                "    n *= 2\n"
                "print(n / min(timed(n) for _ in range(3)))\n")
        _rates[key] = float(run_python(code, env=python_env(PYMCPI_SIMD=simd)).stdout)
    return _rates[key]


def cpu_rate() -> float:
    """Points per second of CPU time that one counting thread achieves here:
    a pace that another program's load on the machine does not slow down,
    since it is the clock of this work alone (the best of three counts)."""
    code = ("import time, pymcpi\n"
            "def timed(n):\n"
            "    t = time.process_time()\n"
            "    pymcpi.count_hits(n)\n"
            "    return time.process_time() - t\n"
            "n = 2**24\n"
            "while timed(n) < 0.5:\n"
            "    n *= 2\n"
            "print(n / min(timed(n) for _ in range(3)))\n")
    return float(run_python(code).stdout)


def reference_hits(n: int, seed: int = 0) -> int:
    """``pymcpi.count_hits(n, seed)``, counted as two halves on two threads
    (the kernel releases the GIL; `split` cuts so the halves add up to it)."""
    with ThreadPoolExecutor(2) as pool:
        return sum(pool.map(lambda chunk: pymcpi.count_hits(*chunk), pymcpi.split(n, 2, seed)))


def readme_batch_script() -> str:
    """The batch script of the README's "MPI: install and clusters"."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    found = re.search(r"^<!-- slurm: batch script -->\n```sh\n(.*?)^```$", text, re.M | re.S)
    assert found, "README: no batch script after '<!-- slurm: batch script -->'"
    return found.group(1)


def adapt(script: str, n: int, *, time_limit: str | None = None, mpi: str | None = None) -> str:
    """The README's script for this cluster, changed in size only: one node,
    ``RANKS`` tasks, ``n`` points, no ``module load``, the environment that
    runs these tests; and the time limit or srun's MPI plugin if given."""
    changes = [
        (r"^#SBATCH --nodes=\d+$", "#SBATCH --nodes=1"),
        (r"^#SBATCH --ntasks-per-node=\d+$", f"#SBATCH --ntasks-per-node={RANKS}"),
        (r"^source \S+/bin/activate$", _activate()),
        (r"^(srun .*pymcpi run .*)-n \S+", rf"\g<1>-n {n}"),
        (r"^module load .*\n", ""),
    ]
    if time_limit is not None:
        changes.append((r"^#SBATCH --time=\S+$", f"#SBATCH --time={time_limit}"))
    if mpi is not None:
        changes.append((r"^srun --mpi=\S+", f"srun --mpi={mpi}"))
    for pattern, replacement in changes:
        script, count = re.subn(pattern, replacement, script, flags=re.M)
        assert count == 1 or pattern.startswith("^module"), (
            f"README's batch script has no line like {pattern!r}:\n{script}")
    return script


def _activate() -> str:
    """The line that puts the environment running these tests on PATH."""
    activate = Path(sys.prefix) / "bin" / "activate"
    if activate.is_file():
        return f"source {shlex.quote(str(activate))}"
    return f'export PATH={shlex.quote(os.path.dirname(sys.executable))}:"$PATH"'


def output(tmp_path: Path, job: int) -> str:
    return (tmp_path / f"slurm-{job}.out").read_text(encoding="utf-8", errors="replace")


def results(text: str) -> list[dict]:
    """The JSON results a job printed."""
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def one_line(text: str) -> str:
    """The job's one line from pymcpi (rank 0 speaks for the job), with no
    traceback."""
    assert "Traceback" not in text, text
    ours = [line for line in text.splitlines() if line.startswith("pymcpi:")]
    assert len(ours) == 1, text
    return ours[0]


def finished_points(path: Path) -> int:
    """The points the checkpoint records as counted."""
    return sum(end - start for start, end, _ in json.loads(path.read_text())["ranges"])


def read_save(path: Path) -> tuple[float, int] | None:
    """The checkpoint's ``(elapsed_s, points)``; None before its first save.
    (It is replaced by a rename, so it is never read half written.)"""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data["elapsed_s"], sum(end - start for start, end, _ in data["ranges"])


def seconds(info: dict[str, str]) -> int:
    """How long a job ran, by Slurm's clock (whole seconds)."""
    start, end = (datetime.fromisoformat(info[key]) for key in ("StartTime", "EndTime"))
    return int((end - start).total_seconds())


def test_readme_batch_script_under_srun_pmi2_prints_one_exact_result(cluster, tmp_path):
    n = int(rate() * 3)  # a few seconds
    job = cluster.sbatch(adapt(readme_batch_script(), n), tmp_path)
    info = cluster.wait(job, timeout=120)
    text = output(tmp_path, job)
    assert (info["JobState"], info["ExitCode"]) == ("COMPLETED", "0:0"), text
    assert "Traceback" not in text and "error" not in text, text
    found = results(text)
    assert len(found) == 1, text
    assert (found[0]["n"], found[0]["backend"], found[0]["workers"]) == (n, "mpi", RANKS)
    assert found[0]["hits"] == reference_hits(n)
    assert finished_points(tmp_path / "pi.json") == n


def test_srun_mpi_none_is_refused_in_one_line(cluster, tmp_path):
    # The MPICH wheels need srun's PMI-2: under --mpi=none each task is a
    # world of one, and would count the whole run and print it.
    n = int(rate() * 2)
    job = cluster.sbatch(adapt(readme_batch_script(), n, mpi="none"), tmp_path)
    info = cluster.wait(job, timeout=120)
    text = output(tmp_path, job)
    assert info["JobState"] == "FAILED" and info["ExitCode"] != "0:0", (info, text)
    assert results(text) == [], text
    line = one_line(text)
    assert line.startswith(f"pymcpi: error: srun started {RANKS} tasks, but MPI"), text
    for fix in ("srun --mpi=pmi2", "srun --mpi=pmix", "srun --mpi=list"):
        assert fix in line


@pytest.mark.slow
def test_job_cut_by_its_time_limit_resumes_to_the_exact_answer(cluster, tmp_path, capsys):
    # The ranks count on the scalar path, so that checking the answer here
    # on the fastest path takes a fraction of the job's time.
    simd = "scalar"
    n = int(rate(simd) * CUT_WORK_SECONDS)
    script = adapt(readme_batch_script(), n, time_limit="1")
    checkpoint = tmp_path / "pi.json"
    cuts: list[dict] = []
    before = (0.0, 0)  # the checkpoint's (elapsed_s, points) after the last run
    for _ in range(6):
        job = cluster.sbatch(script, tmp_path, env={"PYMCPI_SIMD": simd})
        seen: list[tuple[float, int]] = []  # this run's saves, as they come

        def look() -> None:
            save = read_save(checkpoint)
            if save is not None and save[0] > before[0] and save not in seen:
                seen.append(save)

        info = cluster.wait(job, timeout=90 + 30 + KILL_WAIT + 30, poll=look)
        text = output(tmp_path, job)
        found = results(text)
        if found:
            break
        # Cut: SIGTERM, and pymcpi saves what every rank finished. What they
        # had counted by then: the pace of this run's earlier saves, carried
        # on to the last save's time (or the rate measured before the job
        # where the run saved too seldom to tell its pace).
        final = read_save(checkpoint) or before
        during = [save for save in seen if save != final]
        if len(during) >= 2 and during[-1][0] - during[0][0] >= 10:
            (e0, p0), (e1, p1) = during[0], during[-1]
            pace = (p1 - p0) / (e1 - e0)
        else:
            (e1, p1), pace = before, rate(simd)
        counted = p1 + pace * (final[0] - e1) - before[1]
        cut = {"slurm_s": seconds(info), "run_s": final[0] - before[0], "pace": pace,
               "saved": final[1] - before[1], "counted": counted}
        cut["loss"] = counted - cut["saved"]
        cuts.append(cut)
        with capsys.disabled():
            print(f"\ntime limit cut {len(cuts)}: ran {cut['slurm_s']} s by Slurm's clock, "
                  f"{cut['run_s']:.1f} s in the checkpoint, at {pace / 1e6:.0f} M points/s: "
                  f"saved {cut['saved']:.4g} of about {counted:.4g} points counted, "
                  f"a loss of {cut['loss']:.3g} ({100 * cut['loss'] / counted:.2f}%)")
        assert info["JobState"] == "TIMEOUT", (info, text)
        assert one_line(text).startswith("pymcpi: terminated"), text
        assert "Exited with exit code 143" in text, text
        # The last save came with the cut (a run starts within seconds)...
        assert cut["run_s"] >= cut["slurm_s"] - 5, cuts
        # ...with what the ranks had finished.
        assert cut["saved"] >= 0.8 * counted, cuts
        before = final
    else:
        pytest.fail(f"not finished after {len(cuts)} cuts: {cuts}")
    assert len(found) == 1, text
    # A run that finishes within seconds of the limit may still be exiting
    # when Slurm's check comes: the job then says TIMEOUT, but its answer is
    # out and its checkpoint holds the whole run.
    assert info["JobState"] in ("COMPLETED", "TIMEOUT"), (info, text)
    assert len(cuts) >= 1, "the job was never cut: n is too small for this machine"
    assert (found[0]["n"], found[0]["workers"]) == (n, RANKS)
    assert found[0]["hits"] == reference_hits(n)


def test_scancel_saves_the_work_of_every_rank(cluster, tmp_path, capsys):
    pace = cpu_rate()
    n = 10**15  # days of work
    job = cluster.sbatch(adapt(readme_batch_script(), n), tmp_path)
    checkpoint = tmp_path / "pi.json"
    cluster.wait_running(job)
    deadline = time.monotonic() + 60
    while not checkpoint.exists():  # its first save: the ranks are counting
        assert time.monotonic() < deadline, output(tmp_path, job)
        assert cluster.job(job)["JobState"] == "RUNNING", output(tmp_path, job)
        time.sleep(0.1)
    began = time.monotonic()
    start = cpu_seconds(str(checkpoint))  # start-up (imports, MPI) is not counting
    time.sleep(10)
    cpu = cpu_seconds(str(checkpoint))  # each rank's, just before the signal
    cluster.run(["scancel", str(job)])
    ran = time.monotonic() - began
    info = cluster.wait(job, timeout=KILL_WAIT + 30)
    text = output(tmp_path, job)
    data = json.loads(checkpoint.read_text())
    points = finished_points(checkpoint)
    with capsys.disabled():
        print(f"\nscancel after {ran:.1f} s of counting: the checkpoint holds {points:.4g} "
              f"points in {len(data['ranges'])} ranges, elapsed_s {data['elapsed_s']:.1f}; "
              f"the ranks had used {' + '.join(f'{t:.1f}' for t in cpu)} s of CPU, "
              f"and the points take {points / pace:.1f} s of CPU to count")
    assert info["JobState"] == "CANCELLED", (info, text)
    assert one_line(text).startswith("pymcpi: terminated"), text
    assert "Exited with exit code 143" in text, text
    assert results(text) == [], text
    # Saved at the end, not at some earlier moment...
    assert data["elapsed_s"] >= ran - 1, (data["elapsed_s"], ran)
    # ...with what every rank finished. CPU time since the first save, not
    # the clock, tells what the ranks could count, however busy the machine:
    # one rank's share alone would be about half of it; the pieces in flight
    # at the signal, a few per cent.
    assert len(cpu) == len(start) == RANKS, (start, cpu)
    counting = sum(cpu) - sum(start)
    assert points >= 0.75 * pace * counting, (points, pace, start, cpu, data["ranges"])


def cpu_seconds(marker: str) -> list[float]:
    """The CPU seconds used so far by each Python process whose command line
    holds ``marker`` (the ranks of a job; not srun, which runs them)."""
    tick = os.sysconf("SC_CLK_TCK")
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            argv = Path(entry.path, "cmdline").read_bytes().split(b"\0")
            stat = Path(entry.path, "stat").read_text()
        except OSError:  # ended meanwhile
            continue
        if marker.encode() in argv and os.path.basename(argv[0]).startswith(b"python"):
            fields = stat[stat.rindex(")") + 2:].split()  # from field 3, the state
            found.append((int(fields[11]) + int(fields[12])) / tick)  # utime + stime
    return found
