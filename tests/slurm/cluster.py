"""A one-node Slurm cluster of its own for the tests: munged, slurmctld and
slurmd, started from a temporary state folder and stopped by their PIDs.

Everything lives in the state folder: ``slurm.conf`` (from
``slurm.conf.in`` next to this file), munged's key and socket, the daemons'
spool, logs and PID files. ``SLURM_CONF`` names the configuration to the
daemons and to every command run through `Cluster.run`, so /etc/slurm and
/etc/munge are neither read nor written. It needs Debian's ``slurm-wlm`` and
``munge`` (``apt-get install slurm-wlm munge``) and root, since slurmd starts
the jobs' processes.
"""

from __future__ import annotations

import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path

__all__ = ["Cluster", "missing"]

TEMPLATE = Path(__file__).with_name("slurm.conf.in")
DAEMONS = ("munged", "slurmctld", "slurmd")
COMMANDS = ("sbatch", "srun", "salloc", "sinfo", "squeue", "scontrol", "scancel")
# Variables that would make the commands think they run inside another job
# (a CI runner may itself be a Slurm job), or the ranks inside another MPI job.
FOREIGN = re.compile(r"(SLURM|SBATCH|SALLOC|SRUN|PMI|PMIX|OMPI)_")
# Finished jobs stay in `scontrol show job` this long (MinJobAge).
TERMINAL_STATES = {"COMPLETED", "FAILED", "TIMEOUT", "CANCELLED", "NODE_FAIL",
                   "OUT_OF_MEMORY", "PREEMPTED", "BOOT_FAIL", "DEADLINE"}


def missing() -> str | None:
    """Why a cluster cannot be started here, or None when it can."""
    if os.geteuid() != 0:
        return "the Slurm tests run slurmd, which must be root"
    absent = [name for name in (*DAEMONS, *COMMANDS)
              if shutil.which(name, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")
              is None]
    if absent:
        return f"{', '.join(absent)} not found (apt-get install slurm-wlm munge)"
    try:
        pwd.getpwnam("munge")
    except KeyError:
        return "no munge user (apt-get install munge)"
    return None


def _which(name: str) -> str:
    path = shutil.which(name, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")
    assert path is not None, name
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Cluster:
    """A running one-node cluster; `stop` ends it and removes its state.

    Attributes
    ----------
    state : Path
        The state folder.
    node : str
        The node's name (this machine's short host name).
    cpus : int
        The CPUs the node offers (it may offer more than the machine has).
    kill_wait : int
        Seconds between SIGTERM and SIGKILL at a time limit or scancel.
    env : dict
        The environment for commands and jobs: SLURM_CONF set, no variables of
        an enclosing Slurm or MPI job.
    """

    def __init__(self, cpus: int = 4, kill_wait: int = 10) -> None:
        self.cpus = cpus
        self.kill_wait = kill_wait
        self.node = socket.gethostname().split(".")[0]
        self.state = Path(tempfile.mkdtemp(prefix="pymcpi-slurm-"))
        self.processes: dict[str, subprocess.Popen] = {}
        self.env = {k: v for k, v in os.environ.items()
                    if not FOREIGN.match(k) and k != "PYMCPI_SIMD"}
        self.env["SLURM_CONF"] = str(self.state / "slurm.conf")
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    # -- start and stop -------------------------------------------------------

    def _start(self) -> None:
        # munged checks that every folder on the way to its socket can be
        # searched by all and written by none but its owner.
        self.state.chmod(0o755)
        for sub in ("run", "log", "spool/slurmd", "spool/slurmctld"):
            (self.state / sub).mkdir(parents=True)
        self._start_munged()
        conf = TEMPLATE.read_text(encoding="utf-8")
        values = {"NODE": self.node, "STATE": str(self.state), "CPUS": str(self.cpus),
                  "CTLD_PORT": str(_free_port()), "SLURMD_PORT": str(_free_port()),
                  "MUNGE_SOCKET": str(self.munge_socket), "KILL_WAIT": str(self.kill_wait),
                  # below MaxJobId, 67043328 by default
                  "FIRST_JOB_ID": str(1000 + secrets.randbelow(60_000_000))}
        conf = re.sub(r"@([A-Z_]+)@", lambda m: values[m.group(1)], conf)
        (self.state / "slurm.conf").write_text(conf, encoding="utf-8")
        self._daemon("slurmctld", [_which("slurmctld"), "-D", "-i"])
        self._wait(lambda: "is UP" in self.run(["scontrol", "ping"], check=False).stdout,
                   "slurmctld to answer", 30)
        self._daemon("slurmd", [_which("slurmd"), "-D", "-N", self.node])
        self._wait(lambda: self.run(["sinfo", "-h", "-n", self.node, "-o", "%T"],
                                    check=False).stdout.strip() == "idle",
                   "the node to be idle", 60)

    def _start_munged(self) -> None:
        munge = pwd.getpwnam("munge")
        folder = self.state / "munge"
        folder.mkdir(mode=0o755)
        os.chown(folder, munge.pw_uid, munge.pw_gid)
        key = folder / "munge.key"
        fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(secrets.token_bytes(1024))
        os.chown(key, munge.pw_uid, munge.pw_gid)
        self.munge_socket = folder / "munge.socket"
        # In the foreground (-F), so that the PID is munged's own.
        self._daemon("munged", [
            _which("munged"), "-F", f"--socket={self.munge_socket}", f"--key-file={key}",
            f"--pid-file={folder / 'munged.pid'}", f"--log-file={folder / 'munged.log'}",
            f"--seed-file={folder / 'munged.seed'}"], user=munge.pw_uid, group=munge.pw_gid)
        self._wait(lambda: self.munge_socket.exists()
                   and stat.S_ISSOCK(self.munge_socket.stat().st_mode),
                   "munged's socket", 20)

    def _daemon(self, name: str, command: list[str], **kwargs: int) -> None:
        log = open(self.state / "log" / f"{name}.out", "wb")  # noqa: SIM115
        with log:
            self.processes[name] = subprocess.Popen(
                command, env=self.env, cwd=self.state, stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True, **kwargs)

    def _wait(self, ready, what: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            dead = [n for n, p in self.processes.items() if p.poll() is not None]
            if dead or time.monotonic() > deadline:
                why = f"{', '.join(dead)} exited" if dead else f"not within {timeout:g} s"
                raise RuntimeError(f"waiting for {what}: {why}\n{self.logs()}")
            time.sleep(0.2)

    def logs(self, lines: int = 15) -> str:
        """The last lines of each daemon's log, for failure messages."""
        parts = []
        for path in sorted((self.state / "log").glob("*")) + [self.state / "munge/munged.log"]:
            if path.is_file():
                tail = path.read_text(errors="replace").splitlines()[-lines:]
                parts.append(f"--- {path.name}\n" + "\n".join(tail))
        return "\n".join(parts)

    def stop(self) -> None:
        """Cancel what still runs, stop the daemons by their PIDs (slurmd,
        slurmctld, munged) and remove the state folder."""
        if "slurmd" in self.processes and self.processes["slurmd"].poll() is None:
            jobs = self.run(["squeue", "-h", "-o", "%i"], check=False).stdout.split()
            if jobs:
                self.run(["scancel", *jobs], check=False)
                deadline = time.monotonic() + self.kill_wait + 30
                while (self.run(["squeue", "-h", "-o", "%i"], check=False).stdout.strip()
                       and time.monotonic() < deadline):
                    time.sleep(0.5)
        for name in reversed(DAEMONS):
            process = self.processes.get(name)
            if process is None or process.poll() is not None:
                continue
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        shutil.rmtree(self.state, ignore_errors=True)

    # -- using it -------------------------------------------------------------

    def run(self, command: list[str], *, cwd: str | os.PathLike[str] | None = None,
            timeout: float = 60, check: bool = True,
            env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess:
        """Run a Slurm command (sbatch, srun, ...) against this cluster."""
        proc = subprocess.run(command, cwd=cwd or self.state, env={**self.env, **(env or {})},
                              capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"{' '.join(command)} failed ({proc.returncode}):\n"
                                 f"{proc.stdout}{proc.stderr}\n{self.logs()}")
        return proc

    def sbatch(self, script: str, cwd: str | os.PathLike[str], *options: str,
               env: Mapping[str, str] | None = None) -> int:
        """Submit ``script`` (its text) from ``cwd``, with ``env`` added to
        the environment it inherits; return the job ID."""
        path = Path(cwd) / f"job-{secrets.token_hex(4)}.sh"
        path.write_text(script, encoding="utf-8")
        out = self.run(["sbatch", "--parsable", *options, str(path)], cwd=cwd, env=env).stdout
        return int(out.strip().split(";")[0])

    def job(self, job_id: int) -> dict[str, str]:
        """``scontrol show job``'s fields, as strings."""
        out = self.run(["scontrol", "-o", "show", "job", str(job_id)]).stdout
        return dict(re.findall(r"(\w+)=(\S*)", out))

    def wait(self, job_id: int, timeout: float,
             poll: Callable[[], object] | None = None) -> dict[str, str]:
        """Wait until the job has ended, calling ``poll()`` about four times a
        second meanwhile; return the job's fields."""
        deadline = time.monotonic() + timeout
        while True:
            if poll is not None:
                poll()
            info = self.job(job_id)
            if info["JobState"] in TERMINAL_STATES:
                return info
            if time.monotonic() > deadline:
                self.run(["scancel", str(job_id)], check=False)
                raise AssertionError(f"job {job_id} still {info['JobState']} after "
                                     f"{timeout:g} s\n{self.logs()}")
            time.sleep(0.25)

    def wait_running(self, job_id: int, timeout: float = 30) -> dict[str, str]:
        """Wait until the job runs (or has ended already); return its fields."""
        deadline = time.monotonic() + timeout
        while True:
            info = self.job(job_id)
            if info["JobState"] != "PENDING":
                return info
            if time.monotonic() > deadline:
                raise AssertionError(f"job {job_id} still pending after {timeout:g} s: "
                                     f"{info.get('Reason')}\n{self.logs()}")
            time.sleep(0.25)
