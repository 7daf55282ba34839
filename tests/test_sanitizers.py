"""The kernel tests once more, on an AddressSanitizer + UBSan build.

The extension is compiled from csrc/ straight into a temporary folder, next to
a copy of the Python package, and the kernel test files run against it in a
child pytest with the ASan runtime preloaded. Any invalid access, overflow of
a signed integer, misaligned load or other undefined behaviour aborts the run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import numpy as np
import pytest
from interpreters import python_env

ROOT = Path(__file__).resolve().parents[1]
KERNEL_TESTS = ["tests/test_stream.py", "tests/test_bad_input.py"]


def runtime(name: str) -> str | None:
    """The path of gcc's shared runtime library ``name``, if there is one."""
    if shutil.which("gcc") is None:
        return None
    path = subprocess.run(["gcc", f"-print-file-name={name}"], capture_output=True,
                          text=True).stdout.strip()
    return path if os.path.isabs(path) and os.path.exists(path) else None


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="sanitizer build is set up for Linux")
def test_kernel_tests_pass_under_asan_and_ubsan(tmp_path):
    libasan = runtime("libasan.so")
    if libasan is None:
        pytest.skip("gcc with libasan is not installed")
    package = tmp_path / "pymcpi"
    shutil.copytree(ROOT / "pymcpi", package, ignore=shutil.ignore_patterns("*.so", "__pycache__"))
    suffix = sysconfig.get_config_var("EXT_SUFFIX")
    build = subprocess.run(
        ["gcc", "-shared", "-fPIC", "-O1", "-g", "-std=c11", "-ffp-contract=off",
         "-fsanitize=address,undefined", "-fno-sanitize-recover=all",
         "-fno-omit-frame-pointer",
         "-DNPY_TARGET_VERSION=NPY_2_0_API_VERSION",
         "-DNPY_NO_DEPRECATED_API=NPY_2_0_API_VERSION",
         f"-I{sysconfig.get_paths()['include']}", f"-I{np.get_include()}",
         *sorted(str(p) for p in (ROOT / "csrc").glob("*.c")),
         "-o", str(package / f"_core{suffix}")],
        capture_output=True, text=True,
    )
    assert build.returncode == 0, build.stderr
    env = python_env(
        PYTHONPATH=str(tmp_path),
        LD_PRELOAD=libasan,
        ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:allocator_may_return_null=1",
        UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1",
    )
    probe = subprocess.run(
        [sys.executable, "-P", "-c", "import pymcpi; print(pymcpi.__file__)"],
        capture_output=True, text=True, env=env, cwd=tmp_path,
    )
    assert probe.stdout.strip() == str(package / "__init__.py"), probe.stderr
    proc = subprocess.run(
        [sys.executable, "-P", "-m", "pytest", "-q", "-p", "no:cacheprovider", *KERNEL_TESTS],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=1200,
    )
    report = proc.stdout[-3000:] + proc.stderr[-5000:]
    assert proc.returncode == 0, report
    assert "ERROR: AddressSanitizer" not in report and "runtime error" not in report
