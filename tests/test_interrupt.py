"""Ctrl-C stops a long count promptly, on every SIMD path and in the CLI."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time

import pytest
from interpreters import python_env

import pymcpi

# Prints "ready", then counts 10**13 points: hours of work.
CHILD = """
import pymcpi
print("ready", flush=True)
try:
    pymcpi.count_hits(10**13, seed=1, start=12345)
except KeyboardInterrupt:
    print("interrupted", flush=True)
"""


def interrupt_after_start(command: list[str], env: dict, ready: bool = False
                          ) -> tuple[subprocess.Popen, float, str]:
    """Start ``command``, wait until it is counting (after it prints "ready",
    if ``ready``), send SIGINT and return the process, the seconds it took to
    exit, and its output."""
    # A shell that starts jobs in the background may hand SIGINT down as
    # ignored; a terminal's Ctrl-C reaches a process with the default action.
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=tempfile.gettempdir(), env=env,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        if ready:
            assert proc.stdout.readline().strip() == "ready"
        time.sleep(0.5)  # well into the C loop
        assert proc.poll() is None, "finished before it was interrupted"
        sent = time.perf_counter()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
        return proc, time.perf_counter() - sent, out + err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize("path", pymcpi.simd_paths())
def test_ctrl_c_stops_count_hits(path):
    proc, latency, output = interrupt_after_start(
        [sys.executable, "-P", "-c", CHILD], python_env(PYMCPI_SIMD=path), ready=True)
    assert proc.returncode == 0 and "interrupted" in output, output
    # A piece of work between signal checks takes ~5 ms (avx2) to ~25 ms
    # (scalar); the bound leaves room for a loaded machine.
    assert latency < 1.0, f"took {latency:.3f} s to stop"


def test_ctrl_c_in_cli_exits_130_without_traceback():
    script = os.path.join(os.path.dirname(sys.executable), "pymcpi")
    proc, latency, output = interrupt_after_start([script, "run", "-n", "1e13"], python_env())
    assert proc.returncode == 130
    assert "Traceback" not in output and "interrupted" in output
    assert latency < 1.0
