"""Fresh Python interpreters for tests that need a process of their own.

Children start in a temporary folder with ``-P``, so they import the installed
pymcpi and not the source folder.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile


def python_env(**extra: str) -> dict[str, str]:
    """The environment for a child Python, with ``extra`` added; a value of
    ``""`` removes that variable."""
    env = dict(os.environ)
    env.pop("PYMCPI_SIMD", None)
    for key, value in extra.items():
        if value == "":
            env.pop(key, None)
        else:
            env[key] = value
    return env


def run_python(code: str, *, env: dict[str, str] | None = None, timeout: float = 120,
               check: bool = True) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter, outside the source tree."""
    proc = subprocess.run(
        [sys.executable, "-P", "-c", code],
        cwd=tempfile.gettempdir(),
        env=env if env is not None else python_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"child failed ({proc.returncode}):\n{proc.stderr}")
    return proc
