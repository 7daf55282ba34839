"""The self-test at dispatch, against a deliberately wrong kernel.

A test build (csrc/dispatch.c, MCPI_TEST_BROKEN_PATH) makes one path's kernel
count one hit too many. The self-test must catch it on import: the path is
not used, a RuntimeWarning names it, the best correct path runs instead, and
forcing the broken path with PYMCPI_SIMD is a clear error.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
from custom_build import build_package, imported_from
from interpreters import python_env

import pymcpi

REPORT = """
import json, warnings
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    import pymcpi
print(json.dumps({
    "simd": pymcpi.simd(),
    "paths": pymcpi.simd_paths(),
    "warnings": [(w.category.__name__, str(w.message)) for w in caught],
    "hits": pymcpi.count_hits(10**6, 7),
    "self_test": {p: pymcpi._core._self_test(p) for p in ("scalar", "avx2", "avx512")},
}))
"""


@pytest.fixture(scope="module", params=["avx2", "avx512"])
def broken_build(request, tmp_path_factory):
    """(broken path, environment of a Python that imports the broken build)."""
    path = request.param
    if path not in pymcpi.simd_paths():
        pytest.skip(f"this CPU cannot run the {path} path, so it cannot be broken here")
    if sys.platform != "linux" or shutil.which("gcc") is None:
        pytest.skip("the test build is set up for Linux with gcc")
    folder = tmp_path_factory.mktemp(f"broken-{path}")
    package = build_package(folder, ["-O1", f'-DMCPI_TEST_BROKEN_PATH="{path}"'])
    env = python_env(PYTHONPATH=str(folder))
    assert imported_from(env, folder) == str(package / "__init__.py")
    return path, env, folder


def run(code_or_args: list[str], env: dict[str, str], cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-P", *code_or_args], capture_output=True,
                          text=True, env=env, cwd=cwd, timeout=120)


def test_broken_path_is_refused_with_a_warning_and_a_correct_path_runs(broken_build):
    broken, env, folder = broken_build
    proc = run(["-c", REPORT], env, folder)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["self_test"][broken] is False
    assert broken not in report["paths"]
    assert report["paths"] == [p for p in pymcpi.simd_paths() if p != broken]
    assert report["simd"] == report["paths"][-1]
    assert report["hits"] == 785184  # the pinned answer, on the path actually used
    assert report["warnings"] == [[
        "RuntimeWarning",
        f"pymcpi: SIMD path '{broken}' failed its self-test on this machine (its kernel "
        f"disagrees with the scalar kernel) and is not used; using '{report['simd']}'",
    ]]


def test_forcing_the_broken_path_is_a_clear_error(broken_build):
    broken, env, folder = broken_build
    env = {**env, "PYMCPI_SIMD": broken}
    proc = run(["-W", "ignore::RuntimeWarning", "-c", "import pymcpi"], env, folder)
    assert proc.returncode == 1
    assert (f"ValueError: PYMCPI_SIMD='{broken}': SIMD path '{broken}' failed its "
            "self-test on this machine") in proc.stderr
    cli = run(["-W", "ignore::RuntimeWarning", "-m", "pymcpi", "info"], env, folder)
    assert cli.returncode == 2
    assert cli.stderr.startswith(f"pymcpi: error: PYMCPI_SIMD='{broken}': SIMD path "
                                 f"'{broken}' failed its self-test")
    assert len(cli.stderr.strip().splitlines()) == 1


def test_correct_build_warns_of_nothing(tmp_path):
    proc = run(["-W", "error", "-c", REPORT], python_env(), tmp_path)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["warnings"] == []
    assert all(report["self_test"][p] for p in report["paths"])
