"""Telling from the environment alone that an MPI launcher started several
ranks, so that ``mpiexec -n 4 pymcpi run`` shares the run instead of repeating
it four times (the jobs themselves are in test_cli.py); and refusing, in one
line that names the fix, a launch that cannot share it: an MPI world of one
under a launcher of several ranks, or an explicit local backend on the
command line (real srun jobs are in test_slurm.py)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

import pytest
from interpreters import python_env, run_python

import pymcpi
from pymcpi.launcher import LaunchError, check_world, launched_rank, launched_ranks


@pytest.mark.parametrize(
    "environ,ranks",
    [
        ({}, 1),
        ({"OMPI_COMM_WORLD_SIZE": "4", "OMPI_COMM_WORLD_RANK": "2"}, 4),  # Open MPI
        ({"PMI_SIZE": "2", "PMI_RANK": "0"}, 2),                         # MPICH (Hydra)
        ({"PMI_SIZE": "1", "PMI_RANK": "0"}, 1),                         # mpiexec -n 1
        ({"PMIX_SIZE": "8", "PMIX_RANK": "0"}, 8),
        ({"PMIX_RANK": "3", "PMIX_NAMESPACE": "job.1"}, 4),  # PMIx without a size: at least 4
        ({"PMIX_RANK": "0", "PMIX_NAMESPACE": "job.1"}, 1),
        # srun -n 64: a real job step
        ({"SLURM_STEP_ID": "0", "SLURM_PROCID": "5", "SLURM_STEP_NUM_TASKS": "64",
          "SLURM_NTASKS": "64", "SLURM_JOB_ID": "77"}, 64),
        # the batch script of sbatch --ntasks=64: one process, whatever SLURM_NTASKS says
        ({"SLURM_NTASKS": "64", "SLURM_JOB_ID": "77", "SLURM_PROCID": "0"}, 1),
        ({"SLURM_NTASKS": "64", "SLURM_JOB_ID": "77", "SLURM_STEP_ID": "4294967291",
          "SLURM_PROCID": "0", "SLURM_STEP_NUM_TASKS": "64"}, 1),  # the batch step's number
        # srun --mpi=pmix -n 16: PMIx names the rank, Slurm the size
        ({"PMIX_RANK": "0", "SLURM_STEP_ID": "2", "SLURM_PROCID": "0",
          "SLURM_STEP_NUM_TASKS": "16"}, 16),
        # mpiexec -n 2 inside a one-task srun step: the innermost launcher counts
        ({"PMI_SIZE": "2", "SLURM_STEP_ID": "0", "SLURM_PROCID": "0",
          "SLURM_STEP_NUM_TASKS": "1"}, 2),
        # nonsense is not a launcher
        ({"PMI_SIZE": "two", "OMPI_COMM_WORLD_SIZE": "-3", "PMIX_SIZE": "0"}, 1),
        ({"PMI_SIZE": "²"}, 1),
    ],
)
def test_launched_ranks(environ, ranks):
    assert launched_ranks(environ) == ranks


def test_launched_ranks_reads_the_process_environment(monkeypatch):
    for name in ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", "PMIX_RANK", "SLURM_STEP_ID"):
        monkeypatch.delenv(name, raising=False)
    assert launched_ranks() == 1
    monkeypatch.setenv("PMI_SIZE", "3")
    assert launched_ranks() == 3


def test_detection_does_not_import_mpi4py():
    code = ("import sys, pymcpi.launcher as l; l.launched_ranks(); "
            "assert 'mpi4py' not in sys.modules")
    run_python(code)


def test_estimate_pi_with_no_backend_refuses_to_repeat_the_run_on_every_rank(monkeypatch):
    import pymcpi

    for name in ("OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "PMIX_RANK", "SLURM_STEP_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PMI_SIZE", "4")
    with pytest.raises(ValueError, match=r"one of 4 MPI ranks.*backend='mpi'.*backend='serial'"):
        pymcpi.estimate_pi(10**6)
    # A backend chosen on purpose is used as it is.
    for backend in ("serial", "threads"):
        est = pymcpi.estimate_pi(10**6, seed=2, backend=backend)
        assert (est.backend, est.hits) == (backend, pymcpi.count_hits(10**6, 2))


# srun -n 4 with each plugin, as the tasks see it.
SRUN_STEP = {"SLURM_JOB_ID": "77", "SLURM_STEP_ID": "0", "SLURM_PROCID": "0",
             "SLURM_STEP_NUM_TASKS": "4", "SLURM_NTASKS": "4"}
SRUN_PMI2 = {**SRUN_STEP, "PMI_SIZE": "4", "PMI_RANK": "0", "PMI_FD": "11"}
SRUN_PMIX = {**SRUN_STEP, "PMIX_RANK": "0", "PMIX_NAMESPACE": "slurm.pmix.77.0"}


@pytest.mark.parametrize(
    "environ,rank",
    [
        ({}, 0),
        ({"OMPI_COMM_WORLD_SIZE": "4", "OMPI_COMM_WORLD_RANK": "2"}, 2),
        ({"PMI_SIZE": "2", "PMI_RANK": "1"}, 1),
        ({"PMI_SIZE": "2"}, 0),  # a launcher that does not say
        ({"PMIX_RANK": "3", "PMIX_NAMESPACE": "job.1"}, 3),
        ({**SRUN_STEP, "SLURM_PROCID": "3"}, 3),
        ({**SRUN_PMI2, "PMI_RANK": "2", "SLURM_PROCID": "2"}, 2),
        # mpiexec -n 2 inside a one-task step: the innermost launcher's rank
        ({"PMI_SIZE": "2", "PMI_RANK": "1", "SLURM_STEP_ID": "0", "SLURM_PROCID": "0",
          "SLURM_STEP_NUM_TASKS": "1"}, 1),
        # the batch script: not a rank of anything
        ({"SLURM_NTASKS": "4", "SLURM_JOB_ID": "77", "SLURM_PROCID": "0"}, 0),
    ],
)
def test_launched_rank(environ, rank):
    assert launched_rank(environ) == rank


def test_launched_ranks_of_a_pmix_srun_step_is_the_step_size_on_every_rank():
    # PMIx does not always export the size; rank 2 of srun --mpi=pmix -n 4
    # belongs to a job of 4, not "at least 3".
    assert launched_ranks({**SRUN_PMIX, "PMIX_RANK": "2", "SLURM_PROCID": "2"}) == 4
    assert launched_ranks({"PMIX_RANK": "2"}) == 3


@pytest.mark.parametrize("environ", [SRUN_STEP, SRUN_PMI2, SRUN_PMIX],
                         ids=["srun --mpi=none", "srun --mpi=pmi2", "srun --mpi=pmix"])
def test_check_world_under_srun_names_the_plugins(environ):
    check_world(4, environ)  # the world srun meant: nothing to say
    with pytest.raises(LaunchError) as info:
        check_world(1, environ)
    message = str(info.value)
    assert isinstance(info.value, RuntimeError)
    assert "\n" not in message
    assert message.startswith("srun started 4 tasks, but MPI")
    assert "world of 1" in message
    for fix in ("srun --mpi=pmi2", "srun --mpi=pmix", "srun --mpi=list", "MPICH", "Open MPI"):
        assert fix in message


@pytest.mark.parametrize(
    "environ,named",
    [
        ({"OMPI_COMM_WORLD_SIZE": "4", "OMPI_COMM_WORLD_RANK": "0"}, "OMPI_COMM_WORLD_SIZE=4"),
        ({"PMI_SIZE": "4", "PMI_RANK": "0"}, "PMI_SIZE=4"),
        # in the batch script of sbatch, or under salloc: mpiexec, not srun
        ({"PMI_SIZE": "4", "SLURM_JOB_ID": "77", "SLURM_NTASKS": "4",
          "SLURM_STEP_ID": "4294967291", "SLURM_PROCID": "0"}, "PMI_SIZE=4"),
        # Hydra's Slurm launcher: each proxy a one-task step, the ranks its children
        ({"PMI_SIZE": "4", "PMI_RANK": "0", "SLURM_STEP_ID": "0", "SLURM_PROCID": "0",
          "SLURM_STEP_NUM_TASKS": "1"}, "PMI_SIZE=4"),
    ],
)
def test_check_world_under_mpiexec_says_it_must_be_mpi4pys(environ, named):
    check_world(4, environ)
    with pytest.raises(LaunchError) as info:
        check_world(1, environ)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"an mpiexec started 4 ranks ({named}), but MPI")
    assert "the mpiexec must belong to the MPI that mpi4py uses" in message
    assert "srun" not in message


@pytest.mark.parametrize("environ", [{}, {"PMI_SIZE": "1", "PMI_RANK": "0"},
                                     {**SRUN_STEP, "SLURM_STEP_NUM_TASKS": "1"}])
def test_check_world_without_several_ranks_says_nothing(environ):
    check_world(1, environ)
    check_world(3, environ)  # more than launched: not this check's business


def test_check_world_reads_the_process_environment(monkeypatch):
    for name in ("OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "PMIX_RANK", "SLURM_STEP_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PMI_SIZE", "3")
    with pytest.raises(LaunchError, match="started 3 ranks"):
        check_world(1)
    monkeypatch.delenv("PMI_SIZE")
    check_world(1)


def test_check_world_names_mpi4pys_mpi_once_it_is_loaded():
    # Without mpi4py imported, nothing imports it; with it, its MPI is named.
    code = ("import sys, pymcpi.launcher as l\n"
            "env = {'PMI_SIZE': '2'}\n"
            "try:\n"
            "    l.check_world(1, env)\n"
            "except l.LaunchError as exc:\n"
            "    print(exc)\n"
            "assert 'mpi4py' not in sys.modules\n"
            "from mpi4py import MPI\n"
            "try:\n"
            "    l.check_world(1, env)\n"
            "except l.LaunchError as exc:\n"
            "    print(exc)\n")
    pytest.importorskip("mpi4py")
    before, after = run_python(code, env=python_env(PMI_SIZE="", PMI_RANK="")).stdout.splitlines()
    assert "but MPI sees" in before
    assert re.search(r"but MPI \(\w[^)]* \d+(\.\d+)*\) sees", after), after


def cli_in(environ: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    """``pymcpi ARGS`` in a process that looks launched as ``environ`` says."""
    env = python_env(**{**{name: "" for name in LAUNCHER_VARIABLES}, **environ})
    return subprocess.run([sys.executable, "-P", "-m", "pymcpi", *args], capture_output=True,
                          text=True, timeout=120, cwd=tempfile.gettempdir(), env=env)


LAUNCHER_VARIABLES = ("OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK", "PMI_SIZE", "PMI_RANK",
                      "PMIX_SIZE", "PMIX_RANK", "SLURM_STEP_ID", "SLURM_PROCID",
                      "SLURM_STEP_NUM_TASKS")


@pytest.mark.parametrize("backend", ["serial", "threads", "processes"])
def test_cli_refuses_an_explicit_local_backend_under_a_multi_rank_launch(backend):
    proc = cli_in({"PMI_SIZE": "4", "PMI_RANK": "0"}, "run", "--backend", backend, "-n", "1e6")
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("pymcpi: error: this is one of 4 tasks")
    for fix in (f"--backend {backend}", "--backend mpi (or auto)", "srun -n 1", "mpiexec -n 1"):
        assert fix in lines[0]


def test_cli_refusal_is_one_line_for_the_job():
    # Every rank refuses; only the launcher's rank 0 says so.
    for rank in ("1", "3"):
        proc = cli_in({**SRUN_STEP, "SLURM_PROCID": rank}, "run", "--backend", "serial",
                      "-n", "1e6")
        assert (proc.returncode, proc.stdout, proc.stderr) == (2, "", "")
    proc = cli_in(SRUN_STEP, "run", "--backend", "serial", "-n", "1e6")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr


def test_cli_counts_alone_under_a_one_rank_launch():
    proc = cli_in({"PMI_SIZE": "1", "PMI_RANK": "0"}, "run", "--backend", "threads",
                  "--workers", "2", "-n", "1e6", "--seed", "5", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["hits"] == pymcpi.count_hits(10**6, 5)


def test_mpiexec_with_an_explicit_local_backend_is_refused_in_one_line():
    from pymcpi.bench import find_mpiexec

    mpiexec = find_mpiexec()
    if mpiexec is None:
        pytest.skip("no mpiexec")
    script = shutil.which("pymcpi", path=os.path.dirname(sys.executable))
    proc = subprocess.run([mpiexec, "-n", "2", script, "run", "--backend", "serial", "-n", "1e9"],
                          capture_output=True, text=True, timeout=120,
                          cwd=tempfile.gettempdir(), env=python_env())
    assert proc.returncode != 0
    assert proc.stdout == ""
    assert proc.stderr.count("pymcpi: error: this is one of 2 tasks") == 1, proc.stderr
    assert "Traceback" not in proc.stderr
