"""Smoke test of an installed pymcpi, run from a folder outside the clone.

    python .ci/smoke_wheel.py [--expect-version X.Y.Z]

The pinned answer, the same answer from every SIMD path this CPU runs (each in
a fresh interpreter with PYMCPI_SIMD set), and threads and processes runs of
estimate_pi with the same hits as the serial run. It refuses to test a pymcpi
imported from a source folder or an editable install: what it tests is the
installed wheel. Used by .ci/wheel_check and by cibuildwheel's test-command
(pyproject.toml), on every platform; standard library and pymcpi only.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import sysconfig
import tempfile
import time
from importlib.metadata import distribution
from pathlib import Path

PINNED = (10**7, 7, 7853108)  # count_hits(10**7, seed=7), fixed forever (README, tests)
N_BACKENDS = 10**8


def check(ok: bool, message: str) -> None:
    if not ok:
        print(f"smoke test FAILED: {message}", file=sys.stderr)
        raise SystemExit(1)


def installed_not_source(pymcpi) -> None:
    where = Path(pymcpi.__file__).resolve().parent
    sites = {Path(sysconfig.get_paths()[key]).resolve() for key in ("platlib", "purelib")}
    check(where.parent in sites, f"pymcpi was imported from {where}, not from {sites}")
    direct_url = distribution("pymcpi").read_text("direct_url.json") or "{}"
    check(not json.loads(direct_url).get("dir_info", {}).get("editable", False),
          "pymcpi is an editable install, not a wheel")
    cores = sorted(p.name for p in where.iterdir() if p.name.startswith("_core."))
    check(cores == sorted([Path(pymcpi._core.__file__).name, "_core.pyi"]),
          f"expected the extension and its stub _core.pyi, found {cores}")
    check((where / "py.typed").is_file(), "py.typed is missing")
    print(f"pymcpi {pymcpi.__version__} from {where}")


def each_simd_path(pymcpi) -> None:
    n, seed, hits = PINNED
    paths = pymcpi.simd_paths()
    check("scalar" in paths, f"simd_paths() lacks scalar: {paths}")
    code = ("import pymcpi; "
            f"print(pymcpi.simd(), pymcpi.count_hits({n}, {seed}))")
    for path in paths:
        env = dict(os.environ, PYMCPI_SIMD=path)
        # -I: not the current folder on sys.path, nor PYTHON* variables (-P is 3.11+).
        proc = subprocess.run([sys.executable, "-I", "-c", code], env=env, text=True,
                              capture_output=True, cwd=tempfile.gettempdir(), timeout=300)
        check(proc.returncode == 0, f"PYMCPI_SIMD={path}: {proc.stderr.strip()}")
        check(proc.stdout.split() == [path, str(hits)],
              f"PYMCPI_SIMD={path} printed {proc.stdout.strip()!r}, expected '{path} {hits}'")
        print(f"PYMCPI_SIMD={path}: count_hits({n}, {seed}) == {hits}")


def backends(pymcpi) -> None:
    serial = pymcpi.estimate_pi(N_BACKENDS, seed=7, backend="serial")
    check(serial.hits == pymcpi.count_hits(N_BACKENDS, 7), "serial run differs from count_hits")
    for backend in ("threads", "processes"):
        start = time.perf_counter()
        est = pymcpi.estimate_pi(N_BACKENDS, seed=7, backend=backend)
        check(est.hits == serial.hits,
              f"backend={backend!r} gave {est.hits} hits, serial {serial.hits}")
        print(f"estimate_pi(10**8, seed=7, backend={backend!r}): {est.hits} hits as serial, "
              f"{est.workers} workers, {time.perf_counter() - start:.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--expect-version", help="the version the wheel must carry")
    args = parser.parse_args()

    import pymcpi

    installed_not_source(pymcpi)
    if args.expect_version:
        check(pymcpi.__version__ == args.expect_version == distribution("pymcpi").version,
              f"pymcpi.__version__ {pymcpi.__version__}, metadata "
              f"{distribution('pymcpi').version}, expected {args.expect_version}")
    n, seed, hits = PINNED
    check(pymcpi.count_hits(n, seed) == hits, f"count_hits({n}, {seed}) != {hits}")
    print(f"count_hits({n}, {seed}) == {hits} on the default path, {pymcpi.simd()}")
    each_simd_path(pymcpi)
    backends(pymcpi)
    print("smoke test passed")


if __name__ == "__main__":  # processes are spawned on macOS and Windows
    main()
