"""Long calls run in slices of 2**23 points (csrc/module.c, run_in_slices),
with the GIL released around each and a signal check between them.

count_hits and count_inside are tested for this in test_api.py and
test_interrupt.py; here the benchmark yardstick, which goes through the same
loop, and the slicing of its generators, which must not change its answer.
"""

from __future__ import annotations

import sys

import pytest
from interpreters import python_env
from test_api import ticks_during
from test_interrupt import interrupt_after_start

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
    proc, latency, output = interrupt_after_start(
        [sys.executable, "-P", "-c", CHILD, path], python_env(), ready=True)
    assert proc.returncode == 0 and "interrupted" in output, output
    # A slice takes a few ms; the bound leaves room for a loaded machine.
    assert latency < 1.0, f"took {latency:.3f} s to stop"


@pytest.mark.parametrize("path", VECTOR_PATHS)
def test_yardstick_releases_the_gil(path):
    assert ticks_during(lambda: _core._yardstick(path, 10**9)) >= 0.25
