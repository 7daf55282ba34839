"""How many ranks an MPI launcher started this process with, read from the
environment alone.

``mpiexec -n 4 pymcpi run -n 1e9`` starts four copies of the program. Without
``--backend mpi`` each copy would count all the points itself and print its own
result: four times the work, and nothing to say it went wrong. Launchers tell
their processes about the job in environment variables, so the copies can find
out that they are ranks of one job before anything imports mpi4py (which would
initialise MPI, and make a later fork unsafe).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

__all__ = ["launched_ranks"]

# Slurm's own steps that are not an srun job step: the batch script, the
# extern and the interactive step (SLURM_BATCH_SCRIPT and its neighbours in
# slurm.h) are numbered from 0xfffffff0 up.
_SLURM_SPECIAL_STEPS = 0xFFFFFFF0


def launched_ranks(environ: Mapping[str, str] | None = None) -> int:
    """Return the number of ranks the launcher started, 1 when there is none.

    Parameters
    ----------
    environ : mapping, optional
        The environment to read; default ``os.environ``.

    Returns
    -------
    int
        The job's size, at least 1.

    Notes
    -----
    The variables, innermost launcher first:

    - ``OMPI_COMM_WORLD_SIZE``: Open MPI's ``mpirun`` / ``mpiexec``;
    - ``PMI_SIZE``: MPICH's Hydra ``mpiexec``, Intel MPI, MVAPICH, and Slurm's
      PMI-2 plugin;
    - ``PMIX_SIZE``, or else ``PMIX_RANK`` above 0: a PMIx launcher, which does
      not always export the size; a rank above 0 means there are several;
    - ``SLURM_STEP_NUM_TASKS`` with ``SLURM_PROCID``, inside a real ``srun``
      job step (``SLURM_STEP_ID`` a step number). The batch script of
      ``sbatch`` has ``SLURM_NTASKS`` too, but it is one process, so that
      variable alone says nothing.

    A value that is not a positive integer is ignored. A child process
    inherits these variables, so a process that a rank starts (not through
    MPI) is counted as that job's too.
    """
    env = os.environ if environ is None else environ
    for name in ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"):
        size = _positive(env.get(name))
        if size is not None:
            return size
    rank = _positive(env.get("PMIX_RANK"), least=0)
    if rank is not None and rank > 0:
        return rank + 1  # at least
    step = _positive(env.get("SLURM_STEP_ID"), least=0)
    if (step is not None and step < _SLURM_SPECIAL_STEPS
            and _positive(env.get("SLURM_PROCID"), least=0) is not None):
        size = _positive(env.get("SLURM_STEP_NUM_TASKS"))
        if size is not None:
            return size
    return 1


def _positive(text: str | None, least: int = 1) -> int | None:
    """``text`` as a decimal integer >= ``least``, else None."""
    if text is None or not (text.isascii() and text.strip().isdigit()):
        return None
    value = int(text)
    return value if value >= least else None
