"""A Spark standalone cluster on the loopback interface, for tests and local trials.

:class:`StandaloneCluster` starts one standalone master and ``workers`` workers as separate OS
processes (separate JVMs), with the launcher classes shipped inside the ``pyspark``
distribution (``<pyspark>/bin/spark-class org.apache.spark.deploy.master.Master`` and
``…deploy.worker.Worker``). Every daemon binds to ``127.0.0.1`` on ports picked free at run
time; logs and the workers' scratch directories live in ``work_dir``. ``start()`` returns once
the master reports every worker ``ALIVE`` (polled on its JSON endpoint); ``stop()`` terminates
every process group (then kills what is left), so no JVM outlives the cluster.

    with StandaloneCluster(workers=2) as cluster:
        ingest(raw, lake, engine=SparkEngine(master=cluster.url))
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

from sndslab.errors import SndslabError

__all__ = ["StandaloneCluster", "free_port", "spark_home"]

HOST = "127.0.0.1"
MASTER_CLASS = "org.apache.spark.deploy.master.Master"
WORKER_CLASS = "org.apache.spark.deploy.worker.Worker"


def spark_home() -> Path:
    """The ``pyspark`` package directory (a complete ``SPARK_HOME``: ``bin/``, ``jars/``)."""
    import pyspark

    return Path(pyspark.__file__).resolve().parent


def free_port(host: str = HOST) -> int:
    """A TCP port free on ``host`` right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _tail(path: Path, lines: int) -> str:
    try:
        text = path.read_text("utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


class StandaloneCluster:
    """A Spark standalone master and ``workers`` workers on 127.0.0.1 (separate processes).

    Use as a context manager, or call :meth:`start` and :meth:`stop`. ``url`` is the master
    URL for ``SparkEngine(master=...)``; ``web_url`` the master's web UI (``/json/`` gives its
    state). ``work_dir`` (a new temporary directory when omitted, removed on stop) receives
    ``master.log``, ``worker-<i>.log`` and the workers' scratch directories.
    """

    def __init__(
        self,
        workers: int = 2,
        cores_per_worker: int = 1,
        memory_per_worker: str = "1g",
        work_dir: Path | str | None = None,
        *,
        start_timeout: float = 120.0,
        daemon_memory: str = "512m",
    ) -> None:
        if workers < 1 or cores_per_worker < 1:
            raise ValueError("a cluster needs at least one worker with one core")
        self.workers = workers
        self.cores_per_worker = cores_per_worker
        self.memory_per_worker = memory_per_worker
        self.start_timeout = start_timeout
        self.daemon_memory = daemon_memory
        self._own_dir: tempfile.TemporaryDirectory[str] | None = None
        self._work_dir = Path(work_dir) if work_dir is not None else None
        self.port = 0
        self.web_port = 0
        self.processes: list[subprocess.Popen[bytes]] = []
        self._logs: list[Path] = []

    # ---- addresses ---------------------------------------------------------------------------

    @property
    def work_dir(self) -> Path:
        if self._work_dir is None:
            raise RuntimeError("the cluster is not started")
        return self._work_dir

    @property
    def url(self) -> str:
        """The master URL, ``spark://127.0.0.1:PORT``."""
        if not self.port:
            raise RuntimeError("the cluster is not started")
        return f"spark://{HOST}:{self.port}"

    @property
    def web_url(self) -> str:
        """The master's web UI, ``http://127.0.0.1:PORT`` (``/json/``: its state as JSON)."""
        if not self.web_port:
            raise RuntimeError("the cluster is not started")
        return f"http://{HOST}:{self.web_port}"

    @property
    def total_cores(self) -> int:
        return self.workers * self.cores_per_worker

    # ---- state -------------------------------------------------------------------------------

    def status(self, timeout: float = 2.0) -> dict[str, Any]:
        """The master's state (``GET /json/``): ``workers``, ``activeapps``, ``completedapps``…"""
        with urllib.request.urlopen(f"{self.web_url}/json/", timeout=timeout) as resp:
            data: dict[str, Any] = json.loads(resp.read().decode("utf-8"))
        return data

    def alive_workers(self) -> int:
        """Workers the master reports ``ALIVE`` (0 while the master does not answer)."""
        try:
            state = self.status()
        except (OSError, ValueError):
            return 0
        return sum(1 for w in state.get("workers", []) if w.get("state") == "ALIVE")

    def log_tail(self, lines: int = 15) -> str:
        """The last ``lines`` lines of every daemon's log, each under its file name."""
        parts = []
        for log in self._logs:
            parts.append(f"--- {log.name}\n{_tail(log, lines)}")
        return "\n".join(parts)

    # ---- lifecycle ---------------------------------------------------------------------------

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            SPARK_HOME=str(spark_home()),
            SPARK_LOCAL_IP=HOST,
            SPARK_LOCAL_HOSTNAME="localhost",
            SPARK_DAEMON_MEMORY=self.daemon_memory,
            SPARK_LOG_DIR=str(self.work_dir),
            SPARK_WORKER_DIR=str(self.work_dir / "work"),
            # executors run the driver's interpreter (same Python, same packages)
            PYSPARK_PYTHON=sys.executable,
        )
        # daemons log to stdout/stderr (the log files below): no conf dir of the user's
        env.pop("SPARK_CONF_DIR", None)
        return env

    def _spawn(self, name: str, args: list[str]) -> None:
        log = self.work_dir / f"{name}.log"
        self._logs.append(log)
        cmd = [str(spark_home() / "bin" / "spark-class"), *args]
        with log.open("ab") as fh:
            proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=fh,
                stderr=subprocess.STDOUT,
                env=self._env(),
                cwd=self.work_dir,
                start_new_session=True,  # its own process group: stop() signals the group
                preexec_fn=_die_with_parent,
            )
        self.processes.append(proc)

    def _fail(self, why: str) -> SndslabError:
        message = f"the Spark standalone cluster did not start: {why}\n{self.log_tail()}"
        self.stop()
        return SndslabError(message)

    def _wait(self, ready: Any, what: str, deadline: float) -> None:
        while not ready():
            dead = [p for p in self.processes if p.poll() is not None]
            if dead:
                raise self._fail(f"a daemon exited with code {dead[0].returncode} ({what})")
            if time.monotonic() > deadline:
                raise self._fail(f"timed out after {self.start_timeout:.0f} s ({what})")
            time.sleep(0.25)

    def start(self) -> StandaloneCluster:
        """Start the master, then the workers; return once all workers are ``ALIVE``."""
        if self.processes:
            raise RuntimeError("the cluster is already started")
        if self._work_dir is None:
            self._own_dir = tempfile.TemporaryDirectory(prefix="sndslab-spark-cluster-")
            self._work_dir = Path(self._own_dir.name)
        self.work_dir.mkdir(parents=True, exist_ok=True)
        (self.work_dir / "work").mkdir(exist_ok=True)
        deadline = time.monotonic() + self.start_timeout
        self.port, self.web_port = free_port(), free_port()
        self._spawn(
            "master",
            [MASTER_CLASS, "--host", HOST, "--port", str(self.port),
             "--webui-port", str(self.web_port)],
        )  # fmt: skip
        self._wait(lambda: self._answers(), "master on " + self.url, deadline)
        for i in range(self.workers):
            self._spawn(
                f"worker-{i}",
                [WORKER_CLASS, self.url, "--host", HOST, "--port", str(free_port()),
                 "--webui-port", str(free_port()), "--cores", str(self.cores_per_worker),
                 "--memory", self.memory_per_worker,
                 "--work-dir", str(self.work_dir / "work" / f"worker-{i}")],
            )  # fmt: skip
        self._wait(
            lambda: self.alive_workers() >= self.workers,
            f"{self.workers} workers ALIVE on {self.url}",
            deadline,
        )
        return self

    def _answers(self) -> bool:
        try:
            self.status()
        except (OSError, ValueError):
            return False
        return True

    def stop(self, timeout: float = 15.0) -> None:
        """Stop the workers, then the master: SIGTERM to each process group, SIGKILL to what is
        still running after ``timeout`` seconds. Idempotent."""
        procs, self.processes = self.processes, []
        for proc in reversed(procs):  # workers first, the master last
            _signal_group(proc, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for proc in reversed(procs):
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(max(0.1, deadline - time.monotonic()))
            # the group too: an executor JVM a worker started may outlive its worker
            _signal_group(proc, signal.SIGKILL)
            if proc.poll() is None:
                proc.wait(5)
        for proc in procs:  # gone, not just signalled (zombies are reaped by init, later)
            _wait_group_gone(proc.pid, deadline=time.monotonic() + 10)
        if self._own_dir is not None:
            self._own_dir.cleanup()
            self._own_dir = None
            self._work_dir = None
        self.port = self.web_port = 0

    def __enter__(self) -> StandaloneCluster:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _die_with_parent() -> None:  # pragma: no cover - runs in the child, before exec
    """Linux: SIGTERM the daemon when the process that started it dies (even killed), so a
    killed test run leaves no JVM behind (``PR_SET_PDEATHSIG``; a no-op elsewhere)."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _wait_group_gone(pgid: int, deadline: float) -> None:
    """Wait until no process of group ``pgid`` is left (or ``deadline`` passes)."""
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except (ProcessLookupError, PermissionError):
            return
        time.sleep(0.1)


def _signal_group(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    """Send ``sig`` to the process group ``proc`` leads (its own session), ignoring a group
    that is already gone."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)
