"""Working from a clone, as the README tells a newcomer to: its examples run as
written, under spawn too, and the source folder either works (an editable
install) or says what is wrong."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest
from interpreters import python_env

import pymcpi

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
PYTHON_BLOCKS = re.findall(r"```python\n(.*?)```", README, flags=re.S)
# The tree as a clone has it, without what a build leaves behind.
IGNORE = shutil.ignore_patterns(".git", ".venv", "build", "dist", "*.egg-info", "*.so",
                                "__pycache__", ".pytest_cache", ".hypothesis")


def readme_block(marker: str) -> str:
    """The README's one python block that contains ``marker``."""
    blocks = [b for b in PYTHON_BLOCKS if marker in b]
    assert len(blocks) == 1, f"{len(blocks)} README python blocks contain {marker!r}"
    return blocks[0]


def run_under_spawn(code: str, folder: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run ``code`` as the main script, with spawn as the start method: what
    ``python script.py`` does on macOS and Windows."""
    script = folder / "example.py"
    script.write_text('import multiprocessing\nmultiprocessing.set_start_method("spawn", '
                      'force=True)\n' + code)
    return subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          cwd=folder, env=python_env(), timeout=timeout,
                          stdin=subprocess.DEVNULL)


def test_examples_that_start_processes_guard_their_main_code():
    starts = [b for b in PYTHON_BLOCKS if "Pool(" in b or '"processes"' in b or "Executor(" in b]
    assert starts, "the README shows how to start processes"
    for block in starts:
        whole_program = "import " in block
        if whole_program:  # fragments continue a program shown above them
            assert 'if __name__ == "__main__":' in block, block


def test_readme_pool_example_runs_under_spawn(tmp_path):
    proc = run_under_spawn(readme_block("from multiprocessing import Pool"), tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert abs(float(proc.stdout) - 3.14159) < 1e-3
    assert "bootstrapping phase" not in proc.stderr


def test_readme_estimate_pi_example_runs_under_spawn(tmp_path):
    code = readme_block('backend="processes", workers=4')
    assert code.count("n = 10**10") == 1
    code = code.replace("n = 10**10", "n = 10**8")  # the same program, a hundredth of the work
    proc = run_under_spawn(code, tmp_path)
    assert proc.returncode == 0, proc.stderr
    hits = pymcpi.count_hits(10**8, seed=7)
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 2 and all(f"{4 * hits / 10**8:.10f}" in line for line in lines)


def test_importing_the_source_folder_says_what_to_do(tmp_path):
    clone = tmp_path / "clone"
    shutil.copytree(ROOT, clone, ignore=IGNORE)
    for command in (["-c", "import pymcpi"], ["-m", "pymcpi", "info"]):
        # No -P: the current folder comes first on sys.path, as for a user.
        proc = subprocess.run([sys.executable, *command], capture_output=True, text=True,
                              cwd=clone, env=python_env(), timeout=60)
        assert proc.returncode != 0
        assert "circular import" not in proc.stderr
        last = proc.stderr.strip().splitlines()[-1]
        assert "C extension is not built" in last and "source folder" in last, proc.stderr
        assert "pip install -e ." in last
    assert last.startswith("pymcpi: error:")  # python -m pymcpi: one line
    assert proc.stderr.count("\n") == 1


@pytest.mark.slow
def test_editable_install_works_inside_the_clone(tmp_path):
    clone = tmp_path / "clone"
    shutil.copytree(ROOT, clone, ignore=IGNORE)
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / ("Scripts" if os.name == "nt" else "bin") / "python"
    install = subprocess.run([str(python), "-m", "pip", "install", "--quiet", "-e", "."],
                             capture_output=True, text=True, cwd=clone, timeout=600,
                             env=python_env(PIP_DISABLE_PIP_VERSION_CHECK="1"))
    assert install.returncode == 0, install.stderr[-3000:]
    code = "import pymcpi; print(pymcpi.__file__); print(pymcpi.count_hits(10**7, seed=7))"
    proc = subprocess.run([str(python), "-c", code], capture_output=True, text=True,
                          cwd=clone, env=python_env(), timeout=60)
    assert proc.returncode == 0, proc.stderr
    where, hits = proc.stdout.split()
    assert Path(where).resolve() == (clone / "pymcpi" / "__init__.py").resolve()
    assert int(hits) == 7853108
    # What conftest.py reads to accept the clone as the installed package.
    code = ("import json; from importlib.metadata import distribution; "
            "print(json.loads(distribution('pymcpi').read_text('direct_url.json'))"
            "['dir_info']['editable'])")
    proc = subprocess.run([str(python), "-c", code], capture_output=True, text=True,
                          cwd=tmp_path, env=python_env(), timeout=60)
    assert proc.stdout.strip() == "True", proc.stderr
