"""The command line: ``pymcpi`` and ``python -m pymcpi``."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

import pytest
from interpreters import python_env

import pymcpi
from pymcpi.bench import find_mpiexec
from pymcpi.cli import parse_count

SCRIPT = shutil.which("pymcpi", path=os.path.dirname(sys.executable)) or shutil.which("pymcpi")


def cli(*args: str, module: bool = False, env: dict | None = None) -> subprocess.CompletedProcess:
    command = [sys.executable, "-P", "-m", "pymcpi"] if module else [SCRIPT]
    return subprocess.run([*command, *args], capture_output=True, text=True, timeout=300,
                          cwd=tempfile.gettempdir(), env=env or python_env())


@pytest.mark.parametrize(
    "text,value",
    [("1e10", 10**10), ("10_000_000_000", 10**10), ("123", 123), ("2.5e3", 2500),
     ("10**9", 10**9), (" 7 ", 7), ("0", 0), ("1E6", 10**6), ("1e1_0", 10**10),
     ("1_0e9", 10**10), ("2.5_0e3", 2500)],
)
def test_parse_count(text, value):
    assert parse_count(text) == value
    assert eval(text.strip()) == value  # the same number as Python's literal


@pytest.mark.parametrize("text", ["1.5", "1e-3", "-5", "abc", "nan", "inf", "", "1e40", "2**99"])
def test_parse_count_rejects(text):
    with pytest.raises(ValueError):
        parse_count(text)


@pytest.mark.parametrize("text", ["1_000_", "_10", "1__0", "1e9_", "1_e9", "1e_9", "1._5", "1_.5"])
def test_parse_count_follows_pythons_underscore_grammar(text):
    with pytest.raises((SyntaxError, NameError)):  # "_10" is a name to Python
        eval(text, {})
    with pytest.raises(ValueError, match="underscore"):
        parse_count(text)
    proc = cli("run", "-n", text)
    assert proc.returncode == 2 and "underscore" in proc.stderr


@pytest.mark.parametrize("module", [False, True])
def test_run_json(module):
    proc = cli("run", "-n", "1e6", "--seed", "7", "--json", module=module)
    assert proc.returncode == 0, proc.stderr
    d = json.loads(proc.stdout)
    assert d["hits"] == pymcpi.count_hits(10**6, 7)
    assert (d["n"], d["seed"], d["backend"], d["workers"]) == (10**6, 7, "serial", 1)
    assert set(d) == {"pi", "stderr", "n", "hits", "seed", "backend", "workers", "elapsed_s",
                      "tol", "confidence", "target_met"}
    assert (d["tol"], d["confidence"], d["target_met"]) == (None, 0.95, None)


def test_run_human_output():
    proc = cli("run", "-n", "10_000_000")
    assert proc.returncode == 0, proc.stderr
    hits = pymcpi.count_hits(10**7)
    assert f"hits={hits:,}" in proc.stdout
    assert f"{4 * hits / 10**7:.12f}" in proc.stdout
    assert "95% CI" in proc.stdout
    assert "99% CI" in cli("run", "-n", "1e6", "--confidence", "0.99").stdout


@pytest.mark.parametrize(
    "args,message",
    [
        (["run", "-n", "1.5"], "not a whole number"),
        (["run", "-n", "-3"], "negative"),
        (["run", "-n", "0"], "n must be >= 1"),
        (["run", "-n", "1e3", "--seed", "2**64"], "seed must be below 2**64"),
        (["run", "-n", "lots"], "not a number"),
        (["run"], "required"),
        (["frobnicate"], "invalid choice"),
        (["run", "-n", "1e6", "--frobnicate"], "unrecognized arguments"),
        (["bench", "--seconds", "0"], "argument --seconds: must be > 0, got 0"),
        (["bench", "--repeat", "0"], "argument --repeat: must be >= 1, got 0"),
        (["bench", "--scaling", "--max-workers", "0"], "argument --max-workers: must be >= 1"),
    ],
)
def test_errors_are_one_line_on_stderr(args, message):
    proc = cli(*args)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "usage:" not in proc.stderr
    assert message in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert proc.stderr.startswith("pymcpi")
    if "argument" in message or message in ("required", "invalid choice"):
        assert proc.stderr.rstrip().endswith("--help)")  # a usage mistake points to --help


@pytest.mark.parametrize(
    "args,shown",
    [
        (["--tol", "1e-400"], "tol must be > 0, got 1e-400, which is 0.0 as a float"),
        (["--confidence", "0.9999999999999999999"],
         "got 0.9999999999999999999, which is 1.0 as a float"),
        (["--confidence", "1.50"], "got 1.50 ("),
        (["--tol", "nan"], "tol must be > 0, got nan"),
        (["--tol", "tiny"], "'tiny' is not a number"),
    ],
)
def test_real_options_are_shown_as_typed(args, shown):
    proc = cli("run", "-n", "1e6", *args)
    assert proc.returncode == 2 and shown in proc.stderr


def test_version():
    for module in (False, True):
        proc = cli("--version", module=module)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.strip() == f"pymcpi {pymcpi.__version__}"
    assert pymcpi.__version__ != "unknown"


def test_missing_mpi4py_is_one_line_with_the_install_hint():
    proc = subprocess.run(
        [sys.executable, "-P", "-c",
         "import sys; sys.modules['mpi4py'] = None  # as if it were not installed\n"
         "from pymcpi.cli import main; sys.exit(main(['run', '-n', '1e6', '--backend', 'mpi']))"],
        capture_output=True, text=True, timeout=120, cwd=tempfile.gettempdir(),
        env=python_env())
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("pymcpi: error:")
    assert 'pip install "pymcpi[mpi]"' in proc.stderr


def test_plot_without_matplotlib_fails_before_measuring(tmp_path):
    # The default -n would measure for minutes: the timeout catches a late check.
    proc = subprocess.run(
        [sys.executable, "-P", "-c",
         "import sys; sys.modules['matplotlib'] = None  # as if it were not installed\n"
         "from pymcpi.cli import main\n"
         f"sys.exit(main(['bench', '--scaling', '--plot', {str(tmp_path / 's.png')!r}]))"],
        capture_output=True, text=True, timeout=60, cwd=tempfile.gettempdir(),
        env=python_env())
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    assert proc.stderr.startswith("pymcpi: error: --plot needs matplotlib")
    assert 'pip install "pymcpi[plot]"' in proc.stderr


@pytest.mark.parametrize("module", [False, True])
def test_bad_simd_variable_is_a_cli_error_not_a_traceback(module):
    proc = cli("info", module=module, env=python_env(PYMCPI_SIMD="avx9000"))
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith("pymcpi: error: PYMCPI_SIMD='avx9000': unknown SIMD path")


def test_info():
    proc = cli("info", "--json")
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert info["pymcpi"] == pymcpi.__version__
    assert info["simd_paths"] == pymcpi.simd_paths() and info["simd"] == pymcpi.simd()
    assert {"numpy", "mpi4py", "python", "cpu", "block"} <= set(info)
    text = cli("info").stdout
    assert "simd_paths" in text and "numpy" in text and "mpi4py" in text


def test_info_honours_simd_variable():
    proc = cli("info", "--json", env=python_env(PYMCPI_SIMD="scalar"))
    assert json.loads(proc.stdout)["simd"] == "scalar"


def test_info_does_not_import_mpi4py():
    proc = subprocess.run(
        [sys.executable, "-P", "-c",
         "import sys, pymcpi, pymcpi.cli; pymcpi.cli.main(['info']); "
         "assert 'mpi4py' not in sys.modules, 'mpi4py imported'"],
        capture_output=True, text=True, cwd=tempfile.gettempdir(), env=python_env(),
    )
    assert proc.returncode == 0, proc.stderr


@pytest.mark.slow
def test_bench_json():
    proc = cli("bench", "--json", "--seconds", "0.05", "--repeat", "1")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    kinds = [r["kind"] for r in result["rows"]]
    assert kinds.count("kernel") == len(pymcpi.simd_paths())
    assert {"numpy", "python"} <= set(kinds)
    for r in result["rows"]:
        assert r["points_per_s"] > 0 and r["n"] > 0
    assert all(us > 0 for us in result["call_us"].values())
    text = cli("bench", "--seconds", "0.05", "--repeat", "1").stdout
    assert "| pymcpi scalar |" in text and "vs NumPy" in text


@pytest.mark.parametrize("backend,workers", [("serial", None), ("threads", 2), ("processes", 2)])
def test_run_backends_agree(backend, workers):
    args = ["run", "-n", "3e8", "--seed", "5", "--backend", backend, "--json"]
    if workers:
        args += ["--workers", str(workers)]
    d = json.loads(cli(*args).stdout)
    assert d["hits"] == pymcpi.count_hits(3 * 10**8, 5)
    assert (d["backend"], d["workers"]) == (backend, workers or 1)


def test_run_precision_target_matches_the_api():
    proc = cli("run", "-n", "1e10", "--tol", "3e-4", "--confidence", "0.99",
               "--backend", "threads", "--json")
    d = json.loads(proc.stdout)
    est = pymcpi.estimate_pi(10**10, tol=3e-4, confidence=0.99)
    assert (d["n"], d["hits"]) == (est.n, est.hits)
    assert d["n"] < 10**10
    assert (d["tol"], d["confidence"], d["target_met"]) == (3e-4, 0.99, True)
    assert "warning" not in proc.stderr


@pytest.mark.parametrize("json_output", [False, True])
def test_unmet_precision_target_warns_and_exits_0(json_output):
    # 10**7 points give a 95% half-width of about 1e-3, far from 1e-5.
    proc = cli("run", "-n", "1e7", "--tol", "1e-5", *(["--json"] if json_output else []))
    assert proc.returncode == 0, proc.stderr
    warning = proc.stderr.strip().splitlines()
    assert len(warning) == 1 and warning[0].startswith("pymcpi: warning: precision target not met")
    assert "1e-05" in warning[0] and "n=10,000,000" in warning[0]
    if json_output:
        d = json.loads(proc.stdout)
        assert d["n"] == 10**7 and d["tol"] == 1e-5 and d["target_met"] is False
    else:
        assert "NOT met" in proc.stdout


def test_run_checkpoint_resumes(tmp_path):
    path = tmp_path / "run.json"
    first = json.loads(cli("run", "-n", "1e8", "--checkpoint", str(path), "--json").stdout)
    assert json.loads(path.read_text())["params"]["n"] == 10**8
    again = json.loads(cli("run", "-n", "1e8", "--checkpoint", str(path), "--json").stdout)
    assert again["hits"] == first["hits"] == pymcpi.count_hits(10**8)
    proc = cli("run", "-n", "2e8", "--checkpoint", str(path))
    assert proc.returncode == 2 and "belongs to another run" in proc.stderr


@pytest.mark.parametrize(
    "args,message",
    [
        (["--backend", "gpu"], "invalid choice"),
        (["--workers", "0"], "argument --workers: must be >= 1, got 0"),
        (["--backend", "serial", "--workers", "2"], "backend='serial' has one worker"),
        (["--tol", "0"], "tol must be > 0"),
        (["--tol=-1e-3"], "tol must be > 0"),
        (["--confidence", "1.5"], "confidence must be strictly between 0 and 1"),
        (["--confidence", "0"], "confidence must be strictly between 0 and 1"),
    ],
)
def test_run_bad_parallel_options(args, message):
    proc = cli("run", "-n", "1e6", *args)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert message in proc.stderr


def test_progress_bar_only_when_asked_or_on_a_terminal():
    shown = cli("run", "-n", "1e8", "--backend", "threads", "--progress")
    assert "pt/s" in shown.stderr and "100%" in shown.stderr
    assert "pt/s" not in cli("run", "-n", "1e8", "--no-progress").stderr
    assert "pt/s" not in cli("run", "-n", "1e8").stderr  # stderr is a pipe here


@pytest.mark.slow
def test_bench_scaling_table_json_and_plot(tmp_path):
    plot = tmp_path / "scaling.png"
    proc = cli("bench", "--scaling", "-n", "2e8", "--max-workers", "2", "--json",
               "--plot", str(plot))
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    backends = {r["backend"] for r in result["rows"]}
    assert {"threads", "processes"} <= backends
    for r in result["rows"]:
        assert r["strong_seconds"] > 0 and r["weak_seconds"] > 0
        if r["workers"] == 1:
            assert r["speedup"] == r["strong_efficiency"] == r["weak_efficiency"] == 1
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = cli("bench", "--scaling", "-n", "1e8", "--max-workers", "1").stdout
    assert "| threads | 1 |" in table and "speed-up" in table


def test_mpiexec_run_prints_one_result():
    mpiexec = find_mpiexec()
    if mpiexec is None:
        pytest.skip("no mpiexec")
    proc = subprocess.run([mpiexec, "-n", "2", SCRIPT, "run", "--backend", "mpi", "-n", "3e8",
                           "--seed", "4", "--json"], capture_output=True, text=True, timeout=120,
                          cwd=tempfile.gettempdir(), env=python_env())
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1
    d = json.loads(lines[0])
    assert (d["hits"], d["backend"], d["workers"]) == (pymcpi.count_hits(3 * 10**8, 4), "mpi", 2)


def test_mpiexec_without_backend_shares_the_run_instead_of_repeating_it():
    mpiexec = find_mpiexec()
    if mpiexec is None:
        pytest.skip("no mpiexec")
    pytest.importorskip("mpi4py")
    proc = subprocess.run([mpiexec, "-n", "2", SCRIPT, "run", "-n", "3e8", "--seed", "4",
                           "--json"], capture_output=True, text=True, timeout=120,
                          cwd=tempfile.gettempdir(), env=python_env())
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1, "one result, from rank 0"
    d = json.loads(lines[0])
    assert (d["hits"], d["backend"], d["workers"]) == (pymcpi.count_hits(3 * 10**8, 4), "mpi", 2)


def test_mpiexec_estimate_pi_without_backend_asks_which_is_meant():
    mpiexec = find_mpiexec()
    if mpiexec is None:
        pytest.skip("no mpiexec")
    code = ("import json, pymcpi\n"
            "try:\n"
            "    pymcpi.estimate_pi(10**7, seed=3)\n"
            "except ValueError as exc:\n"
            "    print(json.dumps(['refused', str(exc)]))\n"
            "est = pymcpi.estimate_pi(10**7, seed=3, backend='serial')\n"
            "print(json.dumps([est.backend, est.workers, est.hits]))")
    proc = subprocess.run([mpiexec, "-n", "2", sys.executable, "-P", "-c", code],
                          capture_output=True, text=True, timeout=120,
                          cwd=tempfile.gettempdir(), env=python_env())
    assert proc.returncode == 0, proc.stderr
    # The ranks' lines may reach mpiexec's stdout interleaved: take each list.
    results = [json.loads(item) for item in re.findall(r"\[[^][]*\]", proc.stdout)]
    refused = [r for r in results if r[0] == "refused"]
    assert len(refused) == 2
    assert all("one of 2 MPI ranks" in r[1] and "backend='mpi'" in r[1] for r in refused)
    # Told which to use, each rank counts alone when asked to.
    counted = [r for r in results if r[0] != "refused"]
    assert counted == [["serial", 1, pymcpi.count_hits(10**7, 3)]] * 2


@pytest.mark.parametrize("presses", [1, 2], ids=["once", "twice"])
def test_ctrl_c_under_mpiexec_ends_the_job_with_one_line(presses):
    import select
    import signal
    import time

    mpiexec = find_mpiexec()
    if mpiexec is None:
        pytest.skip("no mpiexec")
    pytest.importorskip("mpi4py")
    # Ctrl-C in a terminal signals the whole job, and mpiexec forwards it to
    # the ranks once more: every rank is interrupted, some of them twice.
    proc = subprocess.Popen(
        [mpiexec, "-n", "4", SCRIPT, "run", "-n", str(2**64 - 1), "--progress"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tempfile.gettempdir(),
        env=python_env(), start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        # Rank 0's progress bar appears once every rank is counting.
        ready, _, _ = select.select([proc.stderr], [], [], 60)
        assert ready, "no progress bar within 60 s"
        time.sleep(0.5)
        for _ in range(presses):  # a second Ctrl-C while the job stops
            os.killpg(proc.pid, signal.SIGINT)
            time.sleep(0.2)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    assert proc.returncode == 130, err
    assert err.count("pymcpi: interrupted") == 1 and "Traceback" not in err, err


@pytest.mark.parametrize("workers,backend", [("2", "threads"), ("1", "serial")])
def test_workers_alone_chooses_threads(workers, backend):
    proc = cli("run", "-n", "1e6", "--seed", "3", "--workers", workers, "--json")
    assert proc.returncode == 0, proc.stderr
    d = json.loads(proc.stdout)
    assert (d["backend"], d["workers"], d["hits"]) == (backend, int(workers),
                                                       pymcpi.count_hits(10**6, 3))
    assert "threads when --workers is above 1" in " ".join(cli("run", "--help").stdout.split())


@pytest.mark.parametrize("args", [("run", "-n", "1e6"), ("run", "-n", "1e6", "--json"),
                                  ("info",), ("info", "--json")])
def test_a_closed_pipe_ends_quietly_with_status_141(args):
    # A real pipe whose reader is gone before anything is written, as after
    # "| head -1" has its line: every write to it fails with EPIPE.
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        proc = subprocess.run([SCRIPT, *args], stdout=write_end, stderr=subprocess.PIPE,
                              text=True, timeout=300, cwd=tempfile.gettempdir(),
                              env=python_env())
    finally:
        os.close(write_end)
    assert (proc.returncode, proc.stderr) == (141, "")


def test_head_reads_the_first_line_and_the_rest_is_dropped_quietly():
    proc = subprocess.Popen([SCRIPT, "run", "-n", "1e6"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=tempfile.gettempdir(),
                            env=python_env())
    try:
        first = proc.stdout.readline()
        proc.stdout.close()  # the reader leaves, as head -1 does
        err = proc.stderr.read()
        proc.wait(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert first.startswith("pi      ~= ")
    assert proc.returncode in (0, 141) and err == ""  # 0 if it had written all already


@pytest.mark.parametrize("n", [1, 2])
@pytest.mark.parametrize("inside", [True, False])
def test_tiny_runs_say_why_the_standard_error_is_0(n, inside):
    import math

    seed = next(s for s in range(1000) if pymcpi.count_hits(n, s) == (n if inside else 0))
    proc = cli("run", "-n", str(n), "--seed", str(seed))
    assert proc.returncode == 0, proc.stderr
    which = "its one point" if n == 1 else f"all {n} points"
    side = "inside" if inside else "outside"
    assert (f"standard error 0 because {which} fell {side} the quarter circle: "
            "too few points to measure the spread") in proc.stdout
    assert "inf" not in proc.stdout and "+- 0 " not in proc.stdout
    error = next(line for line in proc.stdout.splitlines() if line.startswith("error"))
    assert error == f"error      estimate - math.pi = {4.0 * inside - math.pi:+.3g}"


def test_error_line_says_what_it_compares():
    import math

    proc = cli("run", "-n", "1e6", "--seed", "5", "--json")
    d = json.loads(proc.stdout)
    error = d["pi"] - math.pi
    human = cli("run", "-n", "1e6", "--seed", "5").stdout
    assert (f"error      estimate - math.pi = {error:+.3g} "
            f"({error / d['stderr']:+.2f} standard errors)") in human.splitlines()


@pytest.mark.parametrize("tol,end", [
    ("1e-6", "; about 1e+13 points would reach it"),
    ("1e-12", "; the target is out of reach: it needs about 1e+25 points, beyond the "
              "stream's 2**64 - 1"),
])
def test_unmet_target_says_whether_the_stream_can_reach_it(tol, end):
    proc = cli("run", "-n", "1e6", "--tol", tol, "--json")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.rstrip("\n").endswith(end), proc.stderr


# The progress bar where stderr is not a terminal


def bar_lines(stderr: str) -> list[str]:
    """The progress bar's redraws, one per line."""
    return [line for line in re.split(r"[\r\n]", stderr) if "pt/s" in line]


@pytest.mark.parametrize("columns", [None, "100"])
def test_progress_bar_through_a_pipe_has_a_sane_width(columns):
    proc = cli("run", "-n", "1e8", "--backend", "threads", "--progress",
               env=python_env(COLUMNS=columns or ""))
    assert proc.returncode == 0, proc.stderr
    lines = bar_lines(proc.stderr)
    assert lines and {len(line) for line in lines} == {int(columns or 80)}, lines
    assert "100%" in lines[-1]


SCRIPT_PTY = shutil.which("script")  # util-linux: runs a command on a terminal of its own


@pytest.mark.skipif(SCRIPT_PTY is None or not sys.platform.startswith("linux"),
                    reason="needs script(1) and /proc")
def test_progress_bar_under_mpiexec_at_a_terminal():
    # Rank 0's stderr is a pipe to the launcher, which writes it to the
    # terminal: the bar is on by default there, as wide as that terminal,
    # and its last line comes before the result.
    mpiexec = find_mpiexec()
    if mpiexec is None:
        pytest.skip("no mpiexec")
    command = f"stty cols 100; {mpiexec} -n 2 {SCRIPT} run -n 3e8 --backend mpi"
    proc = subprocess.run([SCRIPT_PTY, "-qc", command, "/dev/null"], capture_output=True,
                          text=True, timeout=120, cwd=tempfile.gettempdir(), env=python_env())
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout  # the terminal's output: the bar and the result
    lines = bar_lines(out)
    assert lines and {len(line) for line in lines} == {100}, lines
    assert out.index("100%") < out.index("pi      ~=")
    piped = subprocess.run([mpiexec, "-n", "2", SCRIPT, "run", "-n", "3e8", "--backend", "mpi"],
                           capture_output=True, text=True, timeout=120,
                           cwd=tempfile.gettempdir(), env=python_env())
    assert piped.returncode == 0 and "pt/s" not in piped.stderr  # no terminal behind it


def test_run_coverage_guaranteed():
    nominal = json.loads(cli("run", "-n", "3e8", "--seed", "7", "--tol", "1e-3", "--json").stdout)
    proc = cli("run", "-n", "3e8", "--seed", "7", "--tol", "1e-3", "--coverage", "guaranteed",
               "--json")
    assert proc.returncode == 0, proc.stderr
    d = json.loads(proc.stdout)
    assert d["n"] > nominal["n"] and d["target_met"] is True
    assert (d["checks"], d["level"], d["confidence"]) == (7, 1 - 0.05 / 7, 0.95)
    assert "checks" not in nominal
    human = cli("run", "-n", "3e8", "--seed", "7", "--tol", "1e-3", "--coverage", "guaranteed")
    assert ("99.2857% CI [" in human.stdout
            and "] (95% over the 7 checks: --coverage guaranteed)" in human.stdout)
    assert "--coverage {nominal,guaranteed}" in cli("run", "--help").stdout
    alone = cli("run", "-n", "1e6", "--coverage", "guaranteed")
    assert alone.returncode == 2 and "without tol" in alone.stderr
