"""SIGTERM and its kin (a scheduler's time limit, scancel, preemption) end a
run as Ctrl-C does: every finished piece saved, one line, the conventional
exit status, no worker left behind; and the library leaves signal handlers as
it found them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
from interpreters import python_env

import pymcpi
from pymcpi import Terminated, count_hits, estimate_pi

SEED = 7

# The CLI, with the kernel wrapped so that every piece it finishes is
# written down (appended and flushed, with the time) before it is handed in.
LOGGED_CLI = """
import json, os, sys, time
import pymcpi.backends
from pymcpi.cli import main

real = pymcpi.backends.count_hits
log = open(sys.argv[1] + os.environ.get("PMI_RANK", ""), "a")  # a file per MPI rank
log.write(str(os.getpid()) + "\\n")
log.flush()

def logged(n, seed, start):
    hits = real(n, seed, start)
    log.write(json.dumps([start, start + n, hits, time.time()]) + "\\n")
    log.flush()
    return hits

pymcpi.backends.count_hits = logged
sys.exit(main(sys.argv[2:]))
"""


def finished_pieces(log: Path) -> list[list[int]]:
    return [json.loads(line) for line in log.read_text().splitlines() if line.endswith("]")]


def saved(path: Path) -> list[list[int]]:
    return json.loads(path.read_text())["ranges"]


def within(piece: list, ranges: list[list[int]]) -> bool:
    return any(a <= piece[0] and piece[1] <= b for a, b, _ in ranges)


def children_of(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid and fields[0] != "Z":
                found.append(int(entry))
    return found


def start_logged_run(tmp_path: Path, backend: str, n: str = "1e15"
                     ) -> tuple[subprocess.Popen, Path, Path]:
    """Start ``pymcpi run`` on the scalar path, and return once it has
    finished a few pieces."""
    log, checkpoint = tmp_path / "pieces.log", tmp_path / "run.json"
    args = ["run", "-n", n, "--seed", str(SEED), "--backend", backend,
            "--checkpoint", str(checkpoint)]
    if backend != "serial":
        args += ["--workers", "2"]
    proc = subprocess.Popen([sys.executable, "-P", "-c", LOGGED_CLI, str(log), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=tempfile.gettempdir(), env=python_env(PYMCPI_SIMD="scalar"))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if log.exists() and len(finished_pieces(log)) >= 6:
            break
        time.sleep(0.05)
    assert proc.poll() is None, proc.communicate()
    return proc, log, checkpoint


@pytest.mark.parametrize("backend", ["serial", "threads", "processes"])
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1],
                         ids=["SIGTERM", "SIGHUP", "SIGUSR1"])
def test_a_terminating_signal_saves_every_finished_piece(tmp_path, backend, sig):
    proc, log, checkpoint = start_logged_run(tmp_path, backend)
    workers = children_of(proc.pid) if backend == "processes" else []
    sent, wall = time.monotonic(), time.time()
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=30)
    assert time.monotonic() - sent < 5
    name = signal.Signals(sig).name
    assert proc.returncode == 128 + sig
    assert err == f"pymcpi: terminated ({name}), progress saved to {checkpoint}\n"
    assert out == ""
    ranges = saved(checkpoint)
    pieces = finished_pieces(log)
    # Pieces finished before the signal (a worker process's answer may still
    # be in the pipe for a moment; a thread's piece that was running goes on
    # until it is done, after the save).
    handed_in = [p for p in pieces if p[3] < wall - (0.25 if backend == "processes" else 0)]
    assert handed_in and all(within(piece, ranges) for piece in handed_in)
    assert sum(b - a for a, b, _ in ranges) <= sum(p[1] - p[0] for p in pieces)
    if backend == "processes":
        assert len(workers) >= 2
        deadline = time.monotonic() + 5
        while any(os.path.exists(f"/proc/{w}") for w in workers) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not [w for w in workers if os.path.exists(f"/proc/{w}")], "a worker outlived it"


def test_resumed_after_sigterm_to_the_exact_answer(tmp_path):
    n = 3 * 10**9
    proc, log, checkpoint = start_logged_run(tmp_path, "threads", str(n))
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=30)
    assert proc.returncode == 143
    assert 0 < sum(b - a for a, b, _ in saved(checkpoint)) < n
    done = subprocess.run([sys.executable, "-P", "-m", "pymcpi", "run", "-n", str(n), "--seed",
                           str(SEED), "--backend", "threads", "--checkpoint", str(checkpoint),
                           "--json"], capture_output=True, text=True, timeout=120,
                          cwd=tempfile.gettempdir(), env=python_env())
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["hits"] == count_hits(n, SEED)


def test_library_raises_terminated_and_restores_the_handlers(tmp_path):
    code = """
import os, signal, sys, threading
import pymcpi

assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
mine = lambda *_: None
signal.signal(signal.SIGHUP, mine)
threading.Timer(0.5, lambda: os.kill(os.getpid(), signal.SIGTERM)).start()
try:
    pymcpi.estimate_pi(10**15, backend="threads", workers=2, checkpoint=sys.argv[1])
except pymcpi.Terminated as exc:
    assert isinstance(exc, KeyboardInterrupt) and exc.signum == signal.SIGTERM
    print("terminated", str(exc))
assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
assert signal.getsignal(signal.SIGHUP) is mine  # a program's own handler is kept
print("restored")
"""
    path = tmp_path / "run.json"
    proc = subprocess.run([sys.executable, "-P", "-c", code, str(path)], capture_output=True,
                          text=True, timeout=60, cwd=tempfile.gettempdir(), env=python_env())
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["terminated", "SIGTERM", "restored"]
    assert sum(b - a for a, b, _ in saved(path)) > 0


def test_outside_the_main_thread_no_handler_is_installed():
    seen = []

    def run():
        seen.append(signal.getsignal(signal.SIGTERM))
        est = estimate_pi(10**7, seed=SEED, backend="threads", workers=2)
        seen.append(est.hits)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    assert seen == [signal.SIG_DFL, count_hits(10**7, SEED)]


def test_terminated_names_its_signal():
    exc = Terminated(signal.SIGTERM)
    assert str(exc) == "SIGTERM" and exc.signum == 15
    assert isinstance(exc, KeyboardInterrupt)
    assert pymcpi.signals.exit_status(exc) == 143
    assert pymcpi.signals.exit_status(KeyboardInterrupt()) == 130
    assert pymcpi.signals.exit_status(ValueError()) == 1
