"""The tutorial: every notebook runs top to bottom in a fresh kernel, is
committed without outputs, and its scripts run, under mpiexec too."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from interpreters import python_env

import pymcpi
from pymcpi.bench import find_mpiexec

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
EXPECTED = [
    "01_monte_carlo_pi.ipynb",
    "02_multiprocessing_pool.ipynb",
    "03_mpi4py.ipynb",
    "04_performance_and_scaling.ipynb",
]
SCRIPTS = NOTEBOOKS / "scripts"


def test_the_tutorial_has_its_notebooks_in_reading_order():
    assert sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")) == EXPECTED


@pytest.mark.parametrize("name", EXPECTED)
def test_notebook_is_committed_without_outputs(name):
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, cell.source[:60]
    assert nb.cells[0].cell_type == "markdown"
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, "one parameters cell lets a reader scale the notebook up"


@pytest.mark.slow
@pytest.mark.parametrize("name", EXPECTED)
def test_notebook_runs_top_to_bottom(name, tmp_path):
    # A copy, so that files the notebook writes stay out of the source tree.
    work = tmp_path / "notebooks"
    shutil.copytree(NOTEBOOKS, work)
    nb = nbformat.read(work / name, as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=300, kernel_name="python3",
        resources={"metadata": {"path": str(work)}},
    )
    client.execute()  # raises CellExecutionError on any error
    errors = [o for c in nb.cells if c.cell_type == "code"
              for o in c.outputs if o.output_type == "error"]
    assert errors == []


def test_pool_script(tmp_path):
    help_text = subprocess.run([sys.executable, str(SCRIPTS / "pool_pi.py"), "--help"],
                               capture_output=True, text=True, check=True).stdout
    assert "usage" in help_text
    proc = subprocess.run(
        [sys.executable, str(SCRIPTS / "pool_pi.py"), "-n", "3000000", "--workers", "2",
         "--seed", "7", "--json"],
        capture_output=True, text=True, env=python_env(), cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["hits"] == pymcpi.count_hits(3_000_000, 7)


@pytest.mark.parametrize(
    "args,message",
    [(["-n", "1.5"], "argument -n: '1.5' is not a whole number"),
     (["-n", "1_000_"],
      "argument -n: '1_000_' is not a number: an underscore goes between two digits"),
     (["--workers", "0"], "argument --workers: must be >= 1, got 0")],
)
def test_pool_script_says_what_the_cli_says(args, message, tmp_path):
    main = subprocess.run([sys.executable, "-P", "-m", "pymcpi", "run", *args],
                          capture_output=True, text=True, env=python_env(), cwd=tmp_path,
                          timeout=120)
    script = subprocess.run([sys.executable, str(SCRIPTS / "pool_pi.py"), *args],
                            capture_output=True, text=True, env=python_env(), cwd=tmp_path,
                            timeout=120)
    assert main.returncode == script.returncode == 2
    assert main.stderr == f"pymcpi run: error: {message} (see pymcpi run --help)\n"
    assert script.stderr == f"pool_pi.py: error: {message} (see pool_pi.py --help)\n"


def test_mpi_script_on_one_rank_says_rank(tmp_path):
    pytest.importorskip("mpi4py")
    proc = subprocess.run([sys.executable, str(SCRIPTS / "mpi_pi.py"), "-n", "1e6"],
                          capture_output=True, text=True, env=python_env(), cwd=tmp_path,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.rstrip().endswith(" on 1 rank")


@pytest.mark.parametrize("ranks", [1, 2, 3])
def test_mpi_script_under_mpiexec(ranks, tmp_path):
    if find_mpiexec() is None:
        pytest.skip("no mpiexec")
    pytest.importorskip("mpi4py")
    subprocess.run([sys.executable, str(SCRIPTS / "mpi_pi.py"), "--help"],
                   capture_output=True, text=True, check=True)
    proc = subprocess.run(
        [find_mpiexec(), "-n", str(ranks), sys.executable, str(SCRIPTS / "mpi_pi.py"),
         "-n", "3000000", "--seed", "7", "--json"],
        capture_output=True, text=True, env=python_env(), cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1, "only rank 0 prints"
    result = json.loads(lines[0])
    assert result["hits"] == pymcpi.count_hits(3_000_000, 7)
    assert result["ranks"] == ranks


@pytest.mark.slow
def test_notebook_04_draws_the_task_streams_of_both_schedules(tmp_path):
    """Notebook 04's task-stream figure: its parameters, its set-up cell and
    the cells tagged task-stream run in a fresh kernel; the figure cell shows
    one image of two panels, the equal chunks and estimate_pi's pieces, each
    with a lane per worker of the pool that had one slow worker."""
    work = tmp_path / "notebooks"
    shutil.copytree(NOTEBOOKS, work)
    nb = nbformat.read(work / "04_performance_and_scaling.ipynb", as_version=4)
    tags = [set(cell.metadata.get("tags", [])) for cell in nb.cells]
    figure = [i for i, t in enumerate(tags) if "task-stream-figure" in t]
    assert len(figure) == 1, "notebook 04 has one task-stream figure"
    parameters = next(i for i, t in enumerate(tags) if "parameters" in t)
    keep = [parameters, parameters + 1] + [
        i for i, t in enumerate(tags) if t & {"task-stream", "task-stream-figure"}]
    assert len(keep) > 4, "the pool, its runs and the figure are tagged task-stream"
    check = nbformat.v4.new_code_cell(  # and remove the scratch folder, as the last cell does
        "import json, shutil\n"
        "shutil.rmtree(TRACE_DIR, ignore_errors=True)\n"
        "print(json.dumps({'workers': TRACE_WORKERS, 'panels': len(fig.axes),\n"
        "    'lanes': [len(ax.get_yticks()) for ax in fig.axes],\n"
        "    'streams': {name: [len({r.worker for r in records}), len(records)]\n"
        "                for name, (records, _) in streams.items()}}))")
    nb.cells = [nb.cells[i] for i in keep] + [check]
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(work)}})
    client.execute()
    drawn = nb.cells[keep.index(figure[0])].outputs
    assert [o for o in drawn if "image/png" in o.get("data", {})], "the figure is drawn"
    result = json.loads(nb.cells[-1].outputs[-1]["text"])
    workers = result["workers"]
    assert workers >= 2 and result["panels"] == 2
    assert result["lanes"][0] == result["lanes"][1] >= 2, "a lane per worker, in both panels"
    (lanes_a, pieces_a), (lanes_b, pieces_b) = result["streams"].values()
    assert pieces_a == workers and lanes_a >= 2, "equal chunks, one per worker"
    assert pieces_b > workers and lanes_b >= 2, "estimate_pi's pieces, on several workers"
