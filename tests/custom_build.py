"""Builds of pymcpi with extra compiler flags, for tests that need one.

The extension is compiled with gcc from csrc/ straight into a temporary folder,
next to a copy of the Python package; a child Python with that folder on
PYTHONPATH imports the build.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def build_package(dest: Path, flags: list[str]) -> Path:
    """Copy the package into ``dest`` and compile its extension there with
    ``flags`` added; returns the package folder. Raises AssertionError with
    the compiler's messages if the build fails."""
    package = dest / "pymcpi"
    shutil.copytree(ROOT / "pymcpi", package, ignore=shutil.ignore_patterns("*.so", "__pycache__"))
    suffix = sysconfig.get_config_var("EXT_SUFFIX")
    build = subprocess.run(
        ["gcc", "-shared", "-fPIC", "-std=c11", "-ffp-contract=off", *flags,
         "-DNPY_TARGET_VERSION=NPY_2_0_API_VERSION",
         "-DNPY_NO_DEPRECATED_API=NPY_2_0_API_VERSION",
         f"-I{sysconfig.get_paths()['include']}", f"-I{np.get_include()}",
         *sorted(str(p) for p in (ROOT / "csrc").glob("*.c")),
         "-o", str(package / f"_core{suffix}")],
        capture_output=True, text=True, timeout=300,
    )
    assert build.returncode == 0, build.stderr
    return package


def imported_from(env: dict[str, str], cwd: Path) -> str:
    """The file pymcpi is imported from by a child Python with ``env``."""
    probe = subprocess.run(
        [sys.executable, "-P", "-c", "import pymcpi; print(pymcpi.__file__)"],
        capture_output=True, text=True, env=env, cwd=cwd, timeout=120,
    )
    return probe.stdout.strip() or probe.stderr
