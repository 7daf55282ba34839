"""Long calls run in slices of 2**23 points (csrc/module.c, run_in_slices),
with the GIL released around each and a signal check between them.

count_hits and count_inside are tested for this in test_api.py and
test_interrupt.py; here the benchmark yardstick, which goes through the same
loop, and the slicing of its generators, which must not change its answer.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import tempfile
import threading
import time

import pytest
from interpreters import python_env

import pymcpi
from pymcpi import _core

VECTOR_PATHS = [p for p in pymcpi.simd_paths() if p != "scalar"]
SLICE = 2**23

# Hits of the yardstick before it was cut into slices, when one call ran the
# whole loop: n = 1, 1000, and a run over four slices that is not a whole
# number of rounds.
UNSLICED = {
    "avx2": [6, 801, 19774074],
    "avx512": [21, 803, 19776013],
}


@pytest.mark.parametrize("path", VECTOR_PATHS)
def test_yardstick_answers_do_not_depend_on_slices(path):
    assert [_core._yardstick(path, n) for n in (1, 1000, 3 * SLICE + 12345)] == UNSLICED[path]


# Prints "ready", then runs a yardstick of 10**13 points: hours of work.
CHILD = """
import sys
from pymcpi import _core
print("ready", flush=True)
try:
    _core._yardstick(sys.argv[1], 10**13)
except KeyboardInterrupt:
    print("interrupted", flush=True)
"""


@pytest.mark.parametrize("path", VECTOR_PATHS)
def test_ctrl_c_stops_a_yardstick(path):
    # A terminal's Ctrl-C reaches a process with SIGINT's default action.
    proc = subprocess.Popen([sys.executable, "-P", "-c", CHILD, path], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=tempfile.gettempdir(),
                            env=python_env(),
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(0.5)  # well into the C loop
        assert proc.poll() is None, "finished before it was interrupted"
        sent = time.perf_counter()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
        latency = time.perf_counter() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0 and "interrupted" in out, out + err
    # A slice takes a few ms; the bound leaves room for a loaded machine.
    assert latency < 1.0, f"took {latency:.3f} s to stop"


@pytest.mark.parametrize("path", VECTOR_PATHS)
def test_yardstick_releases_the_gil(path):
    # Another thread ticks every millisecond; with the GIL held for the whole
    # call it would stall.  A free thread makes about one tick per 2 ms.
    ticks = []
    done = threading.Event()

    def ticker():
        while not done.is_set():
            ticks.append(time.perf_counter())
            time.sleep(0.001)

    thread = threading.Thread(target=ticker)
    thread.start()
    begin = time.perf_counter()
    _core._yardstick(path, 10**9)
    end = time.perf_counter()
    done.set()
    thread.join()
    seen = len([t for t in ticks if begin < t < end])
    assert seen / ((end - begin) / 0.002) >= 0.25
