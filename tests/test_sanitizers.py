"""The kernel tests once more, on an AddressSanitizer + UBSan build.

The extension is compiled from csrc/ straight into a temporary folder, next to
a copy of the Python package, and the kernel test files run against it in a
child pytest with the ASan runtime preloaded. Any invalid access, overflow of
a signed integer, misaligned load or other undefined behaviour aborts the run.
The child runs the identity tests, which run every SIMD path this CPU has in a
Python of its own, on the same build.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
from custom_build import ROOT, build_package, imported_from
from interpreters import python_env

import pymcpi

KERNEL_TESTS = ["tests/test_stream.py", "tests/test_bad_input.py"]


def runtime(name: str) -> str | None:
    """The path of gcc's shared runtime library ``name``, if there is one."""
    if shutil.which("gcc") is None:
        return None
    path = subprocess.run(["gcc", f"-print-file-name={name}"], capture_output=True,
                          text=True, timeout=60).stdout.strip()
    return path if os.path.isabs(path) and os.path.exists(path) else None


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="sanitizer build is set up for Linux")
def test_kernel_tests_pass_under_asan_and_ubsan(tmp_path):
    libasan = runtime("libasan.so")
    if libasan is None:
        pytest.skip("gcc with libasan is not installed")
    package = build_package(tmp_path, [
        "-O1", "-g", "-fsanitize=address,undefined", "-fno-sanitize-recover=all",
        "-fno-omit-frame-pointer"])
    env = python_env(
        PYTHONPATH=str(tmp_path),
        LD_PRELOAD=libasan,
        ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:allocator_may_return_null=1",
        UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1",
    )
    assert imported_from(env, tmp_path) == str(package / "__init__.py")
    # The sanitized build must run every path the installed one runs.
    paths = subprocess.run(
        [sys.executable, "-P", "-c", "import pymcpi; print(*pymcpi.simd_paths())"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120,
    ).stdout.split()
    assert paths == pymcpi.simd_paths()
    proc = subprocess.run(
        [sys.executable, "-P", "-m", "pytest", "-q", "-p", "no:cacheprovider", *KERNEL_TESTS],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=1200,
    )
    report = proc.stdout[-3000:] + proc.stderr[-5000:]
    assert proc.returncode == 0, report
    assert "ERROR: AddressSanitizer" not in report and "runtime error" not in report
