"""The same stream on other architectures: tests/crosscheck.c, compiled with
the C core for this machine, for aarch64 and for big-endian s390x, checks
answers produced on x86-64. The foreign builds run under qemu-user.

Where a cross compiler or qemu is missing the test skips, unless the
environment sets PYMCPI_REQUIRE_CROSS=1 (as CI does), which makes a missing
tool a failure. Debian/Ubuntu: apt-get install gcc-aarch64-linux-gnu
gcc-s390x-linux-gnu qemu-user. The core is also built natively with clang,
where it is installed, for clang's warnings and its handling of the target
attributes of the vector kernels.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from custom_build import ROOT

# The core: everything in csrc/ but the Python binding (range.c, dispatch.c,
# the kernels and inside.c). The vector kernels compile to nothing off x86.
CORE = sorted(str(p) for p in (ROOT / "csrc").glob("*.c") if p.name != "module.c")
# setup.py's flags, warnings as errors.
FLAGS = ["-O2", "-std=c11", "-ffp-contract=off", "-fno-strict-aliasing",
         "-Wall", "-Wextra", "-Werror", f"-I{ROOT / 'csrc'}"]

TARGETS = {
    # name: (compiler, runner, byte order)
    "native": ("gcc", [], None),
    "clang": ("clang", [], None),
    "aarch64": ("aarch64-linux-gnu-gcc", ["qemu-aarch64", "-L", "/usr/aarch64-linux-gnu"],
                "little"),
    "s390x": ("s390x-linux-gnu-gcc", ["qemu-s390x", "-L", "/usr/s390x-linux-gnu"], "big"),
}


@pytest.mark.parametrize("target", TARGETS)
def test_core_gives_the_x86_answers(target, tmp_path):
    compiler, runner, order = TARGETS[target]
    missing = [tool for tool in [compiler, *runner[:1]] if shutil.which(tool) is None]
    if runner and not os.path.isdir(runner[-1]):
        missing.append(runner[-1])
    if missing and target == "clang":
        pytest.skip("clang not found")
    if missing:
        reason = f"{target}: {', '.join(missing)} not found"
        if runner:
            reason += " (apt-get install gcc-aarch64-linux-gnu gcc-s390x-linux-gnu qemu-user)"
        if os.environ.get("PYMCPI_REQUIRE_CROSS") == "1":
            pytest.fail(f"PYMCPI_REQUIRE_CROSS=1 but {reason}")
        pytest.skip(reason)
    program = tmp_path / f"crosscheck-{target}"
    build = subprocess.run(
        [compiler, *FLAGS, str(ROOT / "tests" / "crosscheck.c"), *CORE, "-lm", "-o", str(program)],
        capture_output=True, text=True, timeout=300,
    )
    assert build.returncode == 0, build.stderr  # no warning either: -Werror
    run = subprocess.run([*runner, str(program)], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "all as on x86-64" in run.stdout
    if order is not None:
        assert f"({order}-endian)" in run.stdout
