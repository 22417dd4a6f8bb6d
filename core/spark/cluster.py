"""A Spark standalone cluster on this machine: one master, N workers and the Thrift server.

Started from the `pyspark` package in the Spark environment (`make spark-install` creates
`.venv-spark`), with the machine's Java (17 or newer). Every process is started in its own
session, its log under ``<spark_dir>/logs``; ``<spark_dir>/cluster.json`` records the pids, so
``down`` stops exactly what ``up`` started, and ``up`` on a running cluster changes nothing.

The Thrift server is the cluster's one long-lived driver: dbt-spark connects to it (method
``thrift``), so dbt starts no JVM of its own per invocation and every client shares one Hive
metastore (embedded Derby under ``<spark_dir>/metastore_db``, which admits one driver only).
On a real cluster the master, workers and Thrift server are the operator's; only the
``DMP_SPARK_*`` host and port settings change.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from core.processes import process_alive, read_pids, start_detached, stop_detached, write_pids
from core.settings import PROJECT_ROOT, Settings

MIN_JAVA = 17


class SparkSetupError(RuntimeError):
    """What is missing to start the cluster, and how to get it."""


@dataclass(frozen=True)
class ClusterConfig:
    spark_dir: Path
    spark_home: Path
    java_home: Path
    host: str
    master_port: int
    master_webui_port: int
    thrift_port: int
    workers: int
    worker_cores: int
    worker_memory: str
    executor_memory: str
    driver_memory: str
    shuffle_partitions: int

    @property
    def master_url(self) -> str:
        return f"spark://{self.host}:{self.master_port}"

    @property
    def state_file(self) -> Path:
        return self.spark_dir / "cluster.json"

    @property
    def log_dir(self) -> Path:
        return self.spark_dir / "logs"

    @property
    def warehouse_dir(self) -> Path:
        return self.spark_dir / "warehouse"


def find_java(java_home: str | None = None) -> Path:
    """JAVA_HOME of a Java 17+ runtime: $JAVA_HOME, else the `java` on PATH. Raises SparkSetupError."""
    candidates: list[Path] = []
    if java_home := java_home or os.environ.get("JAVA_HOME"):
        candidates.append(Path(java_home))
    elif found := shutil.which("java"):
        candidates.append(Path(found).resolve().parent.parent)
    if not candidates:
        raise SparkSetupError(
            f"Spark needs Java {MIN_JAVA} or newer and none was found (no JAVA_HOME, no `java` on PATH). "
            "Install it (Debian/Ubuntu: `apt-get install -y openjdk-17-jre-headless`) or set JAVA_HOME "
            "to a Java 17+ installation, then run `make spark-up` again."
        )
    home = candidates[0]
    java = home / "bin" / "java"
    if not java.exists():
        raise SparkSetupError(
            f"JAVA_HOME={home} has no bin/java: point JAVA_HOME at a Java {MIN_JAVA}+ installation "
            "(Debian: /usr/lib/jvm/java-17-openjdk-amd64) or unset it to use the `java` on PATH."
        )
    out = subprocess.run([str(java), "-version"], capture_output=True, text=True).stderr
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out)
    major = int(match.group(1)) if match else 0
    if major == 1 and match and match.group(2):  # "1.8.0" is Java 8
        major = int(match.group(2))
    if major < MIN_JAVA:
        raise SparkSetupError(
            f"{java} is Java {major or '(unknown version)'}; Spark 4 needs Java {MIN_JAVA} or newer. "
            "Install it (Debian/Ubuntu: `apt-get install -y openjdk-17-jre-headless`) and set JAVA_HOME to it."
        )
    return home


def find_spark_home(venv: Path) -> Path:
    """The pyspark package of the Spark environment (its jars and launch scripts)."""
    found = sorted(venv.glob("lib/python3*/site-packages/pyspark/bin/spark-class"))
    if not found:
        raise SparkSetupError(
            f"the Spark environment {venv} has no pyspark: run `make spark-install` (it creates it from "
            "deploy/spark/requirements.txt), or set DMP_SPARK_VENV to an environment with pyspark 4."
        )
    return found[0].parent.parent


def config(settings: Settings | None = None) -> ClusterConfig:
    s = settings or Settings()
    java_home = find_java()  # first: the one thing `make spark-install` cannot provide
    return ClusterConfig(
        spark_dir=s.spark_dir,
        spark_home=find_spark_home(s.spark_venv),
        java_home=java_home,
        host=s.spark_host,
        master_port=s.spark_master_port,
        master_webui_port=s.spark_master_webui_port,
        thrift_port=s.spark_thrift_port,
        workers=s.spark_workers,
        worker_cores=s.spark_worker_cores,
        worker_memory=s.spark_worker_memory,
        executor_memory=s.spark_executor_memory,
        driver_memory=s.spark_driver_memory,
        shuffle_partitions=s.spark_shuffle_partitions,
    )


def _env(cfg: ClusterConfig) -> dict[str, str]:
    return {
        **os.environ,
        "JAVA_HOME": str(cfg.java_home),
        "SPARK_HOME": str(cfg.spark_home),
        "SPARK_LOCAL_IP": cfg.host,
        "SPARK_LOCAL_DIRS": str(cfg.spark_dir / "local"),
        "SPARK_LOG_DIR": str(cfg.log_dir),
        # the Thrift server's driver and the executors run this interpreter's python for UDFs (none used)
        "PYSPARK_PYTHON": sys.executable,
    }


def _port_open(host: str, port: int) -> bool:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def _start(cfg: ClusterConfig, name: str, argv: list[str]) -> int:
    return start_detached(argv, cfg.log_dir / f"{name}.log", _env(cfg), cfg.spark_dir)


def _log_tail(cfg: ClusterConfig, name: str, lines: int = 15) -> str:
    path = cfg.log_dir / f"{name}.log"
    if not path.exists():
        return "(no log)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def _wait(cfg: ClusterConfig, name: str, pid: int, ready, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        if not process_alive(pid):
            raise SparkSetupError(
                f"Spark {name} (pid {pid}) exited while starting; the end of {cfg.log_dir / (name + '.log')}:\n"
                + _log_tail(cfg, name)
            )
        time.sleep(0.5)
    raise SparkSetupError(
        f"Spark {name} (pid {pid}) was not ready after {timeout:.0f} s; the end of its log:\n" + _log_tail(cfg, name)
    )


def alive_workers(cfg: ClusterConfig) -> list[dict]:
    """The workers the master lists as ALIVE (from its JSON status page)."""
    try:
        with urllib.request.urlopen(f"http://{cfg.host}:{cfg.master_webui_port}/json/", timeout=2) as resp:
            status = json.load(resp)
    except OSError:
        return []
    return [w for w in status.get("workers", []) if w.get("state") == "ALIVE"]


def read_state(cfg: ClusterConfig) -> dict[str, int]:
    return read_pids(cfg.state_file)


def _write_state(cfg: ClusterConfig, state: dict[str, int]) -> None:
    write_pids(cfg.state_file, state)


def status(cfg: ClusterConfig) -> dict:
    state = read_state(cfg)
    return {
        "master_url": cfg.master_url,
        "thrift": f"{cfg.host}:{cfg.thrift_port}",
        "processes": {name: {"pid": pid, "alive": process_alive(pid)} for name, pid in state.items()},
        "alive_workers": len(alive_workers(cfg)),
        "thrift_listening": _port_open(cfg.host, cfg.thrift_port),
    }


def up(cfg: ClusterConfig, timeout: float = 120.0) -> dict[str, int]:
    """Start whatever of master, workers and Thrift server is not running; return the pids."""
    cfg.spark_dir.mkdir(parents=True, exist_ok=True)
    state = {name: pid for name, pid in read_state(cfg).items() if process_alive(pid)}
    spark_class = str(cfg.spark_home / "bin" / "spark-class")
    if "master" not in state:
        if _port_open(cfg.host, cfg.master_port):
            raise SparkSetupError(
                f"port {cfg.master_port} on {cfg.host} is taken by a process this project did not start: stop it, "
                "or choose another with DMP_SPARK_MASTER_PORT"
            )
        state["master"] = _start(
            cfg,
            "master",
            [
                spark_class,
                "org.apache.spark.deploy.master.Master",
                "--host",
                cfg.host,
                "--port",
                str(cfg.master_port),
                "--webui-port",
                str(cfg.master_webui_port),
            ],
        )
        _write_state(cfg, state)
    _wait(cfg, "master", state["master"], lambda: _port_open(cfg.host, cfg.master_webui_port), timeout)
    for i in range(1, cfg.workers + 1):
        name = f"worker-{i}"
        if name in state:
            continue
        work = cfg.spark_dir / "work" / name
        work.mkdir(parents=True, exist_ok=True)
        state[name] = _start(
            cfg,
            name,
            [
                spark_class,
                "org.apache.spark.deploy.worker.Worker",
                "--host",
                cfg.host,
                "--cores",
                str(cfg.worker_cores),
                "--memory",
                cfg.worker_memory,
                "--webui-port",
                "0",
                "--work-dir",
                str(work),
                cfg.master_url,
            ],
        )
        _write_state(cfg, state)
    workers = [name for name in state if name.startswith("worker-")]
    _wait(cfg, "master", state["master"], lambda: len(alive_workers(cfg)) >= len(workers), timeout)
    if "thrift" not in state:
        if _port_open(cfg.host, cfg.thrift_port):
            raise SparkSetupError(
                f"port {cfg.thrift_port} on {cfg.host} is taken by a process this project did not start: stop it, "
                "or choose another with DMP_SPARK_THRIFT_PORT"
            )
        metastore = cfg.spark_dir / "metastore_db"
        state["thrift"] = _start(
            cfg,
            "thrift",
            [
                str(cfg.spark_home / "bin" / "spark-submit"),
                "--class",
                "org.apache.spark.sql.hive.thriftserver.HiveThriftServer2",
                "--master",
                cfg.master_url,
                "--name",
                "dmp-thrift-server",
                "--driver-memory",
                cfg.driver_memory,
                "--conf",
                f"spark.executor.memory={cfg.executor_memory}",
                "--conf",
                f"spark.executor.cores={cfg.worker_cores}",
                "--conf",
                f"spark.sql.warehouse.dir={cfg.warehouse_dir}",
                "--conf",
                f"spark.hadoop.javax.jdo.option.ConnectionURL=jdbc:derby:;databaseName={metastore};create=true",
                "--conf",
                f"spark.driver.extraJavaOptions=-Dderby.system.home={cfg.spark_dir}",
                # Timestamps in the lake are naive UTC: read and written as such.
                "--conf",
                "spark.sql.session.timeZone=UTC",
                "--conf",
                f"spark.sql.shuffle.partitions={cfg.shuffle_partitions}",
                "--conf",
                "spark.ui.showConsoleProgress=false",
                "--hiveconf",
                f"hive.server2.thrift.port={cfg.thrift_port}",
                "--hiveconf",
                f"hive.server2.thrift.bind.host={cfg.host}",
                "spark-internal",
            ],
        )
        _write_state(cfg, state)
    _wait(cfg, "thrift", state["thrift"], lambda: _port_open(cfg.host, cfg.thrift_port), timeout)
    return state


def down(cfg: ClusterConfig, timeout: float = 30.0) -> list[str]:
    """Stop every process `up` started (Thrift server first, master last); return their names."""
    state = read_state(cfg)
    order = sorted(state, key=lambda n: (n != "thrift", n == "master", n))
    stopped = []
    for name in order:
        if stop_detached(state[name], timeout):
            stopped.append(name)
    with contextlib.suppress(FileNotFoundError):
        cfg.state_file.unlink()
    return stopped


def default_venv() -> Path:
    return PROJECT_ROOT / ".venv-spark"
