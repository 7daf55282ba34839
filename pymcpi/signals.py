"""Signals that end a run: Ctrl-C, and a scheduler's or a user's SIGTERM.

A batch scheduler ends a job with SIGTERM (at its time limit, on ``scancel``,
on preemption) and sends SIGKILL some seconds later (Slurm's ``KillWait``, 30
s by default). Some send SIGHUP, or SIGUSR1 ahead of the limit (``sbatch
--signal``). While a run is going, `handled` turns each of these into a
`Terminated` exception, which is a KeyboardInterrupt: the run stops as on
Ctrl-C, saves what is finished to its checkpoint and ends its workers.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

__all__ = ["Terminated", "describe", "exit_status", "handled", "ignore_from_now", "ignored",
           "once"]

# The signals that end a job, where the platform has them.
ENDING = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP", "SIGUSR1")
               if hasattr(signal, name))


class Terminated(KeyboardInterrupt):
    """The run was ended by a signal other than Ctrl-C's SIGINT.

    A KeyboardInterrupt, so that code which handles Ctrl-C handles this too.

    Attributes
    ----------
    signum : int
        The signal's number.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = int(signum)

    def __str__(self) -> str:
        return signal.Signals(self.signum).name


def _raise(signum: int, frame: FrameType | None) -> None:
    raise Terminated(signum)


@contextmanager
def handled() -> Iterator[None]:
    """Raise `Terminated` in the main thread when one of `ENDING` arrives,
    for the duration of the block; the previous handlers are restored after.

    Only signals whose handler is the default one are taken over: a program
    that set its own keeps it. Outside the main thread nothing is installed
    (Python allows handlers only there), so those signals do what the program
    made them do; by default, end the process without a final save.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {}
    for signum in ENDING:
        if signal.getsignal(signum) is signal.SIG_DFL:
            previous[signum] = signal.signal(signum, _raise)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def once() -> None:
    """For a program that ends when a run is interrupted (the ``pymcpi``
    command): from now on, the first Ctrl-C or ending signal raises
    (KeyboardInterrupt or `Terminated`) and any later one is ignored, so that
    the final save and the stop of an MPI job are not cut short. Launchers
    send more than one: mpiexec forwards Ctrl-C after the terminal's, and
    Slurm's srun and slurmstepd both send SIGTERM. Main thread only."""
    fired = []

    def first(signum: int, frame: FrameType | None) -> None:
        if fired:
            return
        fired.append(signum)
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        raise Terminated(signum)

    for signum in (signal.SIGINT, *ENDING):
        signal.signal(signum, first)


def ignore_from_now() -> None:
    """Ignore Ctrl-C and the ending signals for the rest of the process: for
    a command that is ending after a signal. Launchers send more than one,
    and one that came while MPI finalises (after Python has put the default
    actions back) would kill a rank that its peers then wait for."""
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, *ENDING):
            signal.signal(signum, signal.SIG_IGN)


@contextmanager
def ignored() -> Iterator[None]:
    """Ignore Ctrl-C and the ending signals for the duration of the block (in
    the main thread; elsewhere nothing changes): a final save, the stop of
    a job, or the end of a run that is already decided must not be cut
    short by a signal."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.signal(signum, signal.SIG_IGN)
                for signum in (signal.SIGINT, *ENDING)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def exit_status(exc: BaseException) -> int:
    """The conventional exit status of a process ended by ``exc``: 128 plus
    the signal's number for a signal (130 for Ctrl-C, 143 for SIGTERM), 1
    for anything else."""
    if isinstance(exc, Terminated):
        return 128 + exc.signum
    if isinstance(exc, KeyboardInterrupt):
        return 128 + int(signal.SIGINT)
    return 1


def describe(exc: BaseException, checkpoint: object = None) -> str:
    """The one line that tells a user how a run ended by ``exc`` ended:
    ``pymcpi: interrupted`` or ``pymcpi: terminated (SIGTERM)``, and where
    its finished work was saved, if it had a checkpoint."""
    if isinstance(exc, Terminated):
        line = f"pymcpi: terminated ({exc})"
    elif isinstance(exc, KeyboardInterrupt):
        line = "pymcpi: interrupted"
    else:
        line = f"pymcpi: error: {exc}"
    if checkpoint is not None and isinstance(exc, KeyboardInterrupt):
        line += f", progress saved to {os.fspath(checkpoint)}"  # type: ignore[arg-type]
    return line
