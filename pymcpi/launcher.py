"""How many ranks an MPI launcher started this process with, read from the
environment alone, and the checks that stop a launch that would go wrong.

``mpiexec -n 4 pymcpi run -n 1e9`` starts four copies of the program. Without
``--backend mpi`` each copy would count all the points itself and print its own
result: four times the work, and nothing to say it went wrong. Launchers tell
their processes about the job in environment variables, so the copies can find
out that they are ranks of one job before anything imports mpi4py (which would
initialise MPI, and make a later fork unsafe).

The same happens when the launcher and MPI do not understand each other:
``srun --mpi=none`` with the MPICH wheels, or an ``mpiexec`` of another MPI
than the one mpi4py was built with, starts N processes that each find an MPI
world of one. `check_world` turns that into a `LaunchError` whose message is
one line naming the fix, instead of N full runs.

A library caller that passes ``backend="serial"``, ``"threads"`` or
``"processes"`` on purpose under a multi-rank launch gets what it asked for:
every rank counts the whole run. To get N independent estimates that way,
give each rank its own seed, for example ``seed=base + launched_rank()``;
with the same seed the N runs are identical to the last bit. (The command line
refuses an explicit local backend under such a launch instead, since nobody
can pass it a seed per rank.)
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

__all__ = ["LaunchError", "check_world", "launched_rank", "launched_ranks"]

# Slurm's own steps that are not an srun job step: the batch script, the
# extern and the interactive step (SLURM_BATCH_SCRIPT and its neighbours in
# slurm.h) are numbered from 0xfffffff0 up.
_SLURM_SPECIAL_STEPS = 0xFFFFFFF0


class LaunchError(RuntimeError):
    """The launcher started this process in a way that cannot share the run
    (each rank would count all of it). The message is one line that names
    the fix."""


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
      not always export the size; a rank above 0 means there are several (as
      many as the srun step's tasks inside one);
    - ``SLURM_STEP_NUM_TASKS`` with ``SLURM_PROCID``, inside a real ``srun``
      job step (``SLURM_STEP_ID`` a step number). The batch script of
      ``sbatch`` has ``SLURM_NTASKS`` too, but it is one process, so that
      variable alone says nothing.

    A value that is not a positive integer is ignored. A child process
    inherits these variables, so a process that a rank starts (not through
    MPI) is counted as that job's too.
    """
    return _launch(os.environ if environ is None else environ)[1]


def launched_rank(environ: Mapping[str, str] | None = None) -> int:
    """Return this process's rank among those the launcher started, 0 when
    there is no launcher; read from the same launcher as `launched_ranks`
    (``OMPI_COMM_WORLD_RANK``, ``PMI_RANK``, ``PMIX_RANK`` or
    ``SLURM_PROCID``), 0 when it does not say."""
    return _launch(os.environ if environ is None else environ)[2]


def check_world(world_size: int, environ: Mapping[str, str] | None = None) -> None:
    """Raise `LaunchError` when a launcher started several ranks but MPI
    reports a world of one: every rank would then count the whole run.

    Call it with ``MPI.COMM_WORLD.Get_size()`` once MPI is initialised, and
    only for ``COMM_WORLD`` (a communicator the caller chose, such as
    ``COMM_SELF``, may be of one on purpose).

    Parameters
    ----------
    world_size : int
        The size of ``MPI.COMM_WORLD``.
    environ : mapping, optional
        The environment to read; default ``os.environ``.

    Raises
    ------
    LaunchError
        A RuntimeError with a one-line message. Under ``srun``: use
        ``srun --mpi=pmi2`` for MPICH (the wheels of ``pymcpi[mpi]``) or
        ``srun --mpi=pmix`` for Open MPI, and ``srun --mpi=list`` shows the
        plugins there are. Under an ``mpiexec``: it must belong to the MPI
        that mpi4py uses. Every rank raises the same message.
    """
    env = os.environ if environ is None else environ
    launcher, ranks, _ = _launch(env)
    if world_size != 1 or ranks <= 1:
        return
    mpi = _mpi_name()
    sees = f"MPI{f' ({mpi})' if mpi else ''} sees a world of 1 in each"
    if launcher == "srun":
        raise LaunchError(
            f"srun started {ranks} tasks, but {sees}, so each would count the whole run: "
            "srun's MPI plugin does not match the MPI that mpi4py uses; start the job with "
            "srun --mpi=pmi2 for MPICH (the wheels of pymcpi[mpi]) or srun --mpi=pmix for "
            "Open MPI (srun --mpi=list shows the plugins this Slurm has)")
    raise LaunchError(
        f"an mpiexec started {ranks} ranks ({launcher}), but {sees}, so each would count "
        "the whole run: the mpiexec must belong to the MPI that mpi4py uses (for the "
        "wheels of pymcpi[mpi], the mpiexec in the same bin/ as this Python)")


def _launch(env: Mapping[str, str]) -> tuple[str, int, int]:
    """``(launcher, ranks, rank)``: ``launcher`` is ``"srun"`` for a
    Slurm job step whose size the rank count is, else the variable that
    gave the count as ``NAME=value``; ``("", 1, 0)`` without a launcher."""
    step_tasks = None
    step = _positive(env.get("SLURM_STEP_ID"), least=0)
    if (step is not None and step < _SLURM_SPECIAL_STEPS
            and _positive(env.get("SLURM_PROCID"), least=0) is not None):
        step_tasks = _positive(env.get("SLURM_STEP_NUM_TASKS"))

    def found(name: str, ranks: int, rank_name: str) -> tuple[str, int, int]:
        rank = _positive(env.get(rank_name), least=0) or 0
        # srun's own plugins (PMI-2, PMIx) set these for the step's tasks.
        launcher = "srun" if ranks == step_tasks else f"{name}={env[name]}"
        return launcher, ranks, rank

    for name, rank_name in (("OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK"),
                            ("PMI_SIZE", "PMI_RANK"), ("PMIX_SIZE", "PMIX_RANK")):
        size = _positive(env.get(name))
        if size is not None:
            return found(name, size, rank_name)
    rank = _positive(env.get("PMIX_RANK"), least=0)
    if rank is not None and rank > 0:
        if step_tasks is not None and step_tasks > rank:
            return found("SLURM_STEP_NUM_TASKS", step_tasks, "PMIX_RANK")
        return found("PMIX_RANK", rank + 1, "PMIX_RANK")  # at least
    if step_tasks is not None:
        return found("SLURM_STEP_NUM_TASKS", step_tasks, "SLURM_PROCID")
    return "", 1, 0


def _mpi_name() -> str:
    """The MPI that mpi4py uses, as ``MPICH 4.3.0``, if mpi4py is loaded
    already (it is never imported here); else ``""``."""
    mpi = sys.modules.get("mpi4py.MPI")
    try:
        name, version = mpi.get_vendor()  # type: ignore[union-attr]
        return f"{name} {'.'.join(map(str, version))}"
    except Exception:  # no mpi4py, or one without get_vendor
        return ""


def _positive(text: str | None, least: int = 1) -> int | None:
    """``text`` as a decimal integer >= ``least``, else None."""
    if text is None or not (text.isascii() and text.strip().isdigit()):
        return None
    value = int(text)
    return value if value >= least else None
