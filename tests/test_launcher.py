"""Telling from the environment alone that an MPI launcher started several
ranks, so that ``mpiexec -n 4 pymcpi run`` shares the run instead of repeating
it four times (the jobs themselves are in test_cli.py)."""

from __future__ import annotations

import pytest
from interpreters import run_python

from pymcpi.launcher import launched_ranks


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
