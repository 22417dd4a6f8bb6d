"""The server deployment, for real: a Dagster instance on PostgreSQL with the code server, the
webserver and the daemon as separate processes; a backfill the daemon executes as one run and
that leaves the same marts as three single runs; two runs at once sharing the warehouse pool; and
collection retrying a transient read error with back-off but never a contract failure."""

from __future__ import annotations

import contextlib
import ctypes
import datetime as dt
import functools
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import dagster as dg
import httpx
import pandas as pd
import psycopg2
import pytest

from core.settings import Settings
from orchestration.definitions import PLATFORM_JOB, build_definitions
from orchestration.instance import InstanceConfigError, prepare_home, render_profile, written_profile
from simulator import DefectRates, SimulationConfig, simulate
from tests.conftest import PROJECT_ROOT, assets_in_groups
from tests.test_processing import _assert_same, _marts

pytestmark = pytest.mark.slow  # every test here runs Dagster and dbt

START, END = dt.date(2026, 1, 1), dt.date(2026, 1, 3)
DAYS = [START + dt.timedelta(days=i) for i in range((END - START).days + 1)]
LOCATION = "data_middle_platform"
PYTHON = sys.executable
BIN = Path(sys.executable).parent
# The PostgreSQL server of the machine (and of CI): trust authentication, database `test`.
ADMIN_URLS = (
    [os.environ["DMP_TEST_POSTGRES_ADMIN"]]
    if os.environ.get("DMP_TEST_POSTGRES_ADMIN")
    else ["postgresql://postgres@127.0.0.1:5432/test", "postgresql://root@127.0.0.1:5432/test"]
)
IN_PROCESS = {"execution": {"config": {"in_process": {}}}}
LAUNCH = """
mutation($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
    ... on RunConfigValidationInvalid { errors { message } }
  }
}"""
# What each of the two concurrent runs materialises: three sources' lake and warehouse tables.
CONCURRENT_ASSETS = [
    dg.AssetKey([layer, source]) for source in ("orders", "users", "products") for layer in ("lake", "raw")
]
# The layers up to the marts: the backfill and the single runs compare what they leave there.
CORE_GROUPS = ("collection", "storage", "processing")


# ------------------------------------------------------------------ helpers
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _settings_env(root: Path, landing: Path) -> dict[str, str]:
    return {
        "DMP_DATA_DIR": str(root / "data"),
        "DMP_LANDING_DIR": str(landing),
        "DMP_PARTITIONS_START": START.isoformat(),
        "DMP_DEMO_START": START.isoformat(),
        "DMP_DEMO_END": END.isoformat(),
    }


def _child_env(**values: str) -> dict[str, str]:
    """The environment of a child process: the project importable from source, telemetry off."""
    path = os.pathsep.join(p for p in (str(PROJECT_ROOT), os.environ.get("PYTHONPATH")) if p)
    return {**os.environ, "PYTHONPATH": path, "DAGSTER_DISABLE_TELEMETRY": "1", "PYTHONWARNINGS": "ignore", **values}


def _wait(predicate, timeout: float, what: str, poll: float = 0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


@contextlib.contextmanager
def _process(args: list[str], env: dict[str, str], log: Path):
    """A child process in its own session, stopped (SIGTERM, then SIGKILL) when the block ends."""
    with log.open("w") as out:
        proc = subprocess.Popen(
            args, cwd=PROJECT_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


def _assert_same_marts(got: dict[str, pd.DataFrame], want: dict[str, pd.DataFrame]) -> None:
    assert all(len(want[t]) > 0 for t in ("kpi_daily", "segment_daily", "user_profile")), "the marts were built"
    _assert_same(got, want)


def single_runs(root: Path, landing: Path) -> None:
    """Reference: one in-process run per day, in day order (run as `python -m tests.test_deployment`)."""
    settings = Settings(
        data_dir=root / "data", landing_dir=landing, partitions_start=START, demo_start=START, demo_end=END
    )
    job = build_definitions(settings).resolve_job_def(PLATFORM_JOB)
    core = _core_assets()
    with dg.DagsterInstance.ephemeral() as instance:
        for day in DAYS:
            result = job.execute_in_process(
                instance=instance, partition_key=day.isoformat(), asset_selection=core, raise_on_error=False
            )
            if not result.success:
                raise SystemExit(
                    f"single run for {day} failed: "
                    + "; ".join(e.message or "" for e in result.all_events if e.is_failure)
                )


def _graphql(url: str, query: str, variables: dict | None = None) -> dict:
    response = httpx.post(url, json={"query": query, "variables": variables or {}}, timeout=60)
    response.raise_for_status()
    body = response.json()
    assert "errors" not in body, body["errors"]
    return body["data"]


@functools.cache
def _core_defs() -> dg.Definitions:
    return build_definitions(Settings(data_dir=PROJECT_ROOT / "data"))


def _core_assets(groups=CORE_GROUPS) -> list[dg.AssetKey]:
    return assets_in_groups(_core_defs(), groups)


def _warehouse_steps() -> set[str]:
    """Names of the steps (ops) in the warehouse pool, among the core layers."""
    defs = _core_defs()
    return {defs.get_assets_def(k).op.name for k in _core_assets() if defs.get_assets_def(k).op.pool == "warehouse"}


def _finished(instance: dg.DagsterInstance, run_ids: list[str], timeout: float = 420) -> list:
    def done():
        runs = [instance.get_run_by_id(i) for i in run_ids]
        return all(r.is_finished for r in runs) and runs

    return _wait(done, timeout, f"runs {run_ids}", poll=1)


def _launch(url: str, day: dt.date, assets: list[dg.AssetKey]) -> str:
    """Launch a run of some of the platform job's assets for a day through the webserver's GraphQL."""
    params = {
        "selector": {
            "repositoryLocationName": LOCATION,
            "repositoryName": "__repository__",
            "jobName": PLATFORM_JOB,
            "assetSelection": [{"path": k.path} for k in assets],
        },
        "runConfigData": IN_PROCESS,
        "executionMetadata": {"tags": [{"key": "dagster/partition", "value": day.isoformat()}]},
    }
    result = _graphql(url, LAUNCH, {"params": params})["launchRun"]
    assert result["__typename"] == "LaunchRunSuccess", result
    return result["run"]["runId"]


def _failures(instance: dg.DagsterInstance, run_id: str) -> list[str]:
    return [
        f"{r.step_key}: {r.dagster_event.message}"
        for r in instance.all_logs(run_id)
        if r.dagster_event is not None and r.dagster_event.is_failure
    ]


def _step_windows(instance: dg.DagsterInstance, run_id: str) -> dict[str, tuple[float, float]]:
    """step key -> (first start, last end) from the run's event log."""
    starts, ends = {}, {}
    for record in instance.all_logs(run_id):
        event = record.dagster_event
        if event is None or record.step_key is None:
            continue
        if event.event_type_value == "STEP_START":
            starts.setdefault(record.step_key, record.timestamp)
        elif event.event_type_value in ("STEP_SUCCESS", "STEP_FAILURE"):
            ends[record.step_key] = record.timestamp
    return {k: (starts[k], ends[k]) for k in starts if k in ends}


# ------------------------------------------------------------------ fixtures
def _connect_admin():
    errors = []
    for url in ADMIN_URLS:
        try:
            return psycopg2.connect(url)
        except psycopg2.OperationalError as exc:
            errors.append(f"{url}: {exc}")
    raise AssertionError("no PostgreSQL server to test against (set DMP_TEST_POSTGRES_ADMIN):\n" + "\n".join(errors))


@pytest.fixture(scope="module")
def postgres_url():
    """A throwaway database on the local PostgreSQL server, dropped at the end."""
    name = f"dmp_test_{uuid.uuid4().hex[:10]}"
    admin = _connect_admin()
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'create database "{name}"')
    user = admin.info.user
    try:
        yield f"postgresql+psycopg2://{user}@{admin.info.host}:{admin.info.port}/{name}"
    finally:
        with admin.cursor() as cur:
            cur.execute(f'drop database if exists "{name}" with (force)')
        admin.close()


@pytest.fixture(scope="module")
def tiny_landing(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("deploy_landing")
    # Seed and scale give every day some orders with a customer id (the raw_orders suite's red
    # "not more than 80% guest checkouts" holds for each single day, not only for the range).
    simulate(
        SimulationConfig(start=START, end=END, seed=7, scale=0.3, defects=DefectRates.none()),
        root / "landing",
        root / "truth",
    )
    return root / "landing"


@pytest.fixture(scope="module")
def reference(tmp_path_factory, tiny_landing):
    """The three single runs, in a process of their own that starts as early as possible (it is the
    longest piece of work here) and goes on while the other tests run."""
    root = tmp_path_factory.mktemp("reference")
    with _process(
        [PYTHON, "-m", "tests.test_deployment", str(root), str(tiny_landing)], _child_env(), root / "reference.log"
    ) as proc:
        yield {
            "process": proc,
            "log": root / "reference.log",
            "warehouse": root / "data" / "warehouse" / "warehouse.duckdb",
        }


@pytest.fixture(scope="module")
def deployment(tmp_path_factory, postgres_url, tiny_landing, reference):
    """Code server, webserver and daemon on a PostgreSQL instance, with a 3-day backfill requested
    through the CLI before the daemon starts and two more runs launched through the webserver."""
    root = tmp_path_factory.mktemp("deploy")
    home = root / "dagster_home"
    code_port, web_port = _free_port(), _free_port()
    env = _child_env(
        **_settings_env(root, tiny_landing),
        DAGSTER_HOME=str(home),
        DMP_INSTANCE="postgres",
        DMP_POSTGRES_URL=postgres_url,
        DMP_CODE_SERVER_HOST="127.0.0.1",
        DMP_CODE_SERVER_PORT=str(code_port),
    )
    subprocess.run(
        [PYTHON, "-m", "orchestration.instance", "write", "--pools"],
        cwd=PROJECT_ROOT,
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    workspace = str(PROJECT_ROOT / "deploy" / "workspace-server.yaml")
    with contextlib.ExitStack() as stack:
        servers = [
            stack.enter_context(
                _process(
                    [
                        str(BIN / "dagster"),
                        "code-server",
                        "start",
                        "-m",
                        "orchestration.definitions",
                        "-h",
                        "127.0.0.1",
                        "-p",
                        str(code_port),
                        "--location-name",
                        LOCATION,
                    ],
                    env,
                    root / "code_server.log",
                )
            )
        ]
        _wait(
            lambda: "Started Dagster code proxy server" in (root / "code_server.log").read_text(),
            120,
            "the code server",
        )
        groups = [a for g in CORE_GROUPS for a in ("--group", g)]
        backfill = subprocess.run(
            [
                PYTHON,
                "-m",
                "orchestration.backfill",
                "--start",
                START.isoformat(),
                "--end",
                END.isoformat(),
                "--workspace",
                workspace,
                *groups,
            ],
            cwd=PROJECT_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert backfill.returncode == 0, backfill.stdout + backfill.stderr
        backfill_id = backfill.stdout.split()[1].rstrip(":")
        stack.enter_context(
            _environ(
                DMP_POSTGRES_URL=postgres_url, DMP_CODE_SERVER_HOST="127.0.0.1", DMP_CODE_SERVER_PORT=str(code_port)
            )
        )
        instance = stack.enter_context(dg.DagsterInstance.from_config(str(home)))
        schedule_tick = _tick_schedule(instance, workspace)
        servers.append(
            stack.enter_context(
                _process([str(BIN / "dagster-daemon"), "run", "-w", workspace], env, root / "daemon.log")
            )
        )
        servers.append(
            stack.enter_context(
                _process(
                    [str(BIN / "dagster-webserver"), "-w", workspace, "-h", "127.0.0.1", "-p", str(web_port)],
                    env,
                    root / "webserver.log",
                )
            )
        )
        url = f"http://127.0.0.1:{web_port}/graphql"
        _wait(lambda: _server_up(url), 120, "the webserver")
        concurrent_runs = [_launch(url, DAYS[1], CONCURRENT_ASSETS), _launch(url, DAYS[2], CONCURRENT_ASSETS)]
        stack.callback(_stop_together, servers)  # runs first: all three stop at once
        yield {
            "instance": instance,
            "url": url,
            "backfill_id": backfill_id,
            "schedule_tick": schedule_tick,
            "concurrent_runs": concurrent_runs,
            "root": root,
            "env": env,
            "warehouse": root / "data" / "warehouse" / "warehouse.duckdb",
            "postgres_url": postgres_url,
            "reference": reference,
        }


def _stop_together(processes: list[subprocess.Popen]) -> None:
    for proc in processes:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)


@contextlib.contextmanager
def _environ(**values: str):
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _tick_schedule(instance: dg.DagsterInstance, workspace: str):
    """Run the scheduler's own tick code for the daily schedule at 02:00 on END (clock frozen), then
    cancel the run it queued so that the daemon, started next, leaves it alone."""
    import logging

    from dagster._core.test_utils import freeze_time
    from dagster._core.workspace.context import WorkspaceProcessContext
    from dagster._core.workspace.load_target import WorkspaceFileTarget
    from dagster._scheduler.scheduler import launch_scheduled_runs

    scheduled = dt.datetime.combine(END, dt.time(2, 0), tzinfo=dt.UTC)
    with WorkspaceProcessContext(instance, WorkspaceFileTarget(paths=[workspace])) as context:
        repo = context.create_request_context().get_code_location(LOCATION).get_repository("__repository__")
        schedule = repo.get_schedule("daily_platform_schedule")
        with freeze_time(scheduled - dt.timedelta(minutes=5)):
            instance.start_schedule(schedule)
        try:
            with freeze_time(scheduled + dt.timedelta(seconds=30)):
                list(
                    launch_scheduled_runs(
                        context,
                        logging.getLogger("scheduler"),
                        scheduled + dt.timedelta(seconds=30),
                        iteration_times={},
                    )
                )
        finally:
            instance.stop_schedule(schedule.get_remote_origin_id(), schedule.selector_id, schedule)
        ticks = instance.get_ticks(schedule.get_remote_origin_id(), schedule.selector_id)
    assert len(ticks) == 1, ticks
    run = instance.get_run_by_id(ticks[0].run_ids[0]) if ticks[0].run_ids else None
    if run is not None and not run.is_finished:
        instance.report_run_canceled(run)
    return ticks[0], run


def _server_up(url: str) -> bool:
    try:
        return httpx.post(url, json={"query": "{ version }"}, timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


# ------------------------------------------------------------------ profile
def test_the_profile_setting_writes_the_chosen_dagster_yaml(tmp_path, monkeypatch):
    monkeypatch.delenv("DMP_POSTGRES_URL", raising=False)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    home = prepare_home(Settings(data_dir=tmp_path))
    assert (home / "dagster.yaml").read_text() == render_profile("sqlite", home)
    assert str(home.resolve()) in render_profile("sqlite", home) and "${" not in render_profile("sqlite", home)
    with pytest.raises(InstanceConfigError, match="DMP_POSTGRES_URL"):
        prepare_home(Settings(data_dir=tmp_path, instance="postgres"))
    with pytest.raises(InstanceConfigError, match="postgresql\\+psycopg2://"):
        prepare_home(Settings(data_dir=tmp_path, instance="postgres", postgres_url="postgresql://u@h/db"))
    url = "postgresql+psycopg2://u@h:5432/db"
    prepare_home(Settings(data_dir=tmp_path, instance="postgres", postgres_url=url))
    text = (home / "dagster.yaml").read_text()
    assert written_profile(home / "dagster.yaml") == "postgres" and url not in text, "no credentials in files"
    assert os.environ["DMP_POSTGRES_URL"] == url
    # A hand-written dagster.yaml is the operator's: never overwritten.
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    prepare_home(Settings(data_dir=tmp_path))
    assert (home / "dagster.yaml").read_text() == "telemetry:\n  enabled: false\n"


# ------------------------------------------------------------------ retries
def _without_file_read_override() -> None:
    """In the child before exec: drop the capabilities that let root read any file, so a file's
    permission bits apply to the run as they would to a service account."""
    if os.geteuid() != 0:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
        if libc.prctl(24, capability, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def _collection_setup(root: Path, landing: Path) -> tuple[Path, Path, dict[str, str]]:
    """A landing zone with the orders exports, a data directory and a (SQLite) instance of their own."""
    import shutil

    from orchestration.instance import write_instance_config

    shutil.copytree(landing / "orders", root / "landing" / "orders")
    home = root / "dagster_home"
    write_instance_config(home, Settings(data_dir=root / "data"))
    env = _child_env(**_settings_env(root, root / "landing"), DAGSTER_HOME=str(home))
    return root / "landing" / "orders" / f"{DAYS[1]}.csv", home, env


def _materialize_orders(env: dict[str, str], **popen) -> subprocess.Popen:
    return subprocess.Popen(
        [
            str(BIN / "dagster"),
            "asset",
            "materialize",
            "-m",
            "orchestration.definitions",
            "--select",
            "lake/orders",
            "--partition",
            DAYS[1].isoformat(),
        ],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        **popen,
    )


def _events(instance: dg.DagsterInstance, run_id: str, step: str = "lake__orders") -> list[tuple[str, float, str]]:
    """(event type, time, message and error) of one step's events."""
    out = []
    for record in instance.all_logs(run_id):
        event = record.dagster_event
        if event is None or record.step_key != step:
            continue
        error = getattr(event.event_specific_data, "error", None)
        out.append(
            (
                event.event_type_value,
                record.timestamp,
                (event.message or "") + (" " + error.to_string() if error is not None else ""),
            )
        )
    return out


@pytest.mark.usefixtures("reference")  # starts the reference runs now, to overlap with this test
def test_collection_retries_a_transient_read_error_with_back_off_but_not_a_contract_failure(tmp_path, tiny_landing):
    """Two real runs at once. (1) The day's orders export is unreadable (permissions) on the first
    attempt; the operator fixes the permissions while the step waits; the retry reads it. (2) A
    truncated export (no final newline) is a contract failure: it fails at once, no retry."""
    transient, transient_home, transient_env = _collection_setup(tmp_path / "transient", tiny_landing)
    truncated, contract_home, contract_env = _collection_setup(tmp_path / "contract", tiny_landing)
    policy = _core_defs().get_assets_def(dg.AssetKey(["lake", "orders"])).op.retry_policy
    assert (policy.max_retries, policy.delay, policy.backoff) == (2, 2, dg.Backoff.EXPONENTIAL)

    transient.chmod(0)
    truncated.write_bytes(truncated.read_bytes().rstrip(b"\n"))
    fixed = threading.Event()
    with dg.DagsterInstance.from_config(str(transient_home)) as instance:
        proc = _materialize_orders(transient_env, preexec_fn=_without_file_read_override)
        contract_proc = _materialize_orders(contract_env)

        def fix_when_up_for_retry():
            # Light polling (SQLite): the step waits 2 s before its retry, and 6 s before a second one.
            deadline = time.monotonic() + 240
            while time.monotonic() < deadline and proc.poll() is None:
                runs = instance.get_runs(limit=1)
                if (
                    runs
                    and instance.get_records_for_run(
                        runs[0].run_id, of_type=dg.DagsterEventType.STEP_UP_FOR_RETRY, limit=1
                    ).records
                ):
                    transient.chmod(0o644)
                    fixed.set()
                    return
                time.sleep(0.4)

        watcher = threading.Thread(target=fix_when_up_for_retry, daemon=True)
        watcher.start()
        output, _ = proc.communicate(timeout=240)
        watcher.join(timeout=5)
        transient.chmod(0o644)
        assert proc.returncode == 0 and fixed.is_set(), output[-3000:]
        run = instance.get_runs(limit=1)[0]
        assert run.status == dg.DagsterRunStatus.SUCCESS
        events = _events(instance, run.run_id)
    kinds = [e[0] for e in events]
    assert kinds.count("STEP_UP_FOR_RETRY") >= 1 and "STEP_RESTARTED" in kinds and kinds[-1] == "STEP_SUCCESS", kinds
    assert "STEP_FAILURE" not in kinds
    up = next(e for e in events if e[0] == "STEP_UP_FOR_RETRY")
    restarted = next(e for e in events if e[0] == "STEP_RESTARTED")
    assert "Permission denied" in up[2], up
    assert restarted[1] - up[1] >= 1.9, "the retry waited for the back-off delay (2 s)"
    assert (tmp_path / "transient" / "data" / "lake" / "raw" / "orders" / f"dt={DAYS[1]}" / "part-0.parquet").exists()

    output, _ = contract_proc.communicate(timeout=240)
    assert contract_proc.returncode != 0, output[-3000:]
    with dg.DagsterInstance.from_config(str(contract_home)) as instance:
        run = instance.get_runs(limit=1)[0]
        assert run.status == dg.DagsterRunStatus.FAILURE
        events = _events(instance, run.run_id)
    kinds = [e[0] for e in events]
    assert kinds.count("STEP_FAILURE") == 1 and "STEP_UP_FOR_RETRY" not in kinds and "STEP_RESTARTED" not in kinds
    assert "truncated" in next(e for e in events if e[0] == "STEP_FAILURE")[2]


# ------------------------------------------------------------------ server deployment
def test_server_profile_keeps_runs_and_ticks_in_postgres(deployment):
    instance = deployment["instance"]
    assert type(instance.run_storage).__name__ == "PostgresRunStorage"
    assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
    assert type(instance.schedule_storage).__name__ == "PostgresScheduleStorage"
    queue = instance.get_concurrency_config().run_queue_config
    assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator" and queue.max_concurrent_runs == 4
    assert {"key": "dagster/backfill", "limit": 2} in list(queue.tag_concurrency_limits)
    assert instance.run_monitoring_enabled
    assert instance.event_log_storage.get_concurrency_info("warehouse").slot_count == 1

    # The daemon ticks the alert sensors (running by default) into PostgreSQL.
    con = psycopg2.connect(deployment["postgres_url"].replace("+psycopg2", ""))
    try:

        def sensor_ticks():
            with con.cursor() as cur:
                cur.execute("select count(*) from job_ticks where type = 'SENSOR'")
                return cur.fetchone()[0]

        assert _wait(sensor_ticks, 60, "a sensor tick") > 0
        with con.cursor() as cur:
            cur.execute("select count(*) from runs")
            assert cur.fetchone()[0] >= 1, "the backfill's run is in PostgreSQL"
            cur.execute("select daemon_type from daemon_heartbeats")
            assert {"BACKFILL", "SCHEDULER", "SENSOR", "QUEUED_RUN_COORDINATOR", "MONITORING"} <= {
                r[0] for r in cur.fetchall()
            }
    finally:
        con.close()


def test_schedule_tick_is_recorded_in_postgres(deployment):
    """The daemon's scheduler code evaluated the daily schedule at 02:00 on 3 January (clock frozen)."""
    instance = deployment["instance"]
    tick, run = deployment["schedule_tick"]
    assert tick.status.value == "SUCCESS" and tick.run_ids == [run.run_id]
    assert run.tags["dagster/partition"] == "2026-01-02", "yesterday's partition"
    assert run.tags["dagster/schedule_name"] == "daily_platform_schedule"
    assert instance.get_run_by_id(run.run_id) is not None
    con = psycopg2.connect(deployment["postgres_url"].replace("+psycopg2", ""))
    try:
        with con.cursor() as cur:
            cur.execute("select status from job_ticks where type = 'SCHEDULE'")
            assert [r[0] for r in cur.fetchall()] == ["SUCCESS"]
    finally:
        con.close()


def test_webserver_serves_the_assets_and_the_runs(deployment):
    url = deployment["url"]
    nodes = _graphql(url, "{ assetNodes { assetKey { path } groupName } }")["assetNodes"]
    keys = {"/".join(n["assetKey"]["path"]): n["groupName"] for n in nodes}
    assert keys["lake/orders"] == "collection" and keys["raw/orders"] == "storage"
    assert keys["marts/kpi_daily"] == "processing"
    health = _graphql(url, "{ instance { daemonHealth { allDaemonStatuses { daemonType healthy } } } }")
    statuses = {d["daemonType"]: d["healthy"] for d in health["instance"]["daemonHealth"]["allDaemonStatuses"]}
    assert statuses["BACKFILL"] and statuses["QUEUED_RUN_COORDINATOR"] and statuses["SENSOR"], statuses


def test_backfill_runs_once_through_the_daemon_and_matches_three_single_runs(deployment):
    instance, backfill_id = deployment["instance"], deployment["backfill_id"]
    filters = dg.RunsFilter(tags={"dagster/backfill": backfill_id})
    runs = _wait(
        lambda: [r for r in instance.get_runs(filters) if r.is_finished] or None, 300, "the backfill's run", poll=1
    )
    assert len(instance.get_runs(filters)) == 1, "one run for the whole range"
    run = runs[0]
    assert run.status == dg.DagsterRunStatus.SUCCESS, _failures(instance, run.run_id)
    assert (run.tags["dagster/asset_partition_range_start"], run.tags["dagster/asset_partition_range_end"]) == (
        START.isoformat(),
        END.isoformat(),
    )
    materialized = {
        r.partition_key
        for r in instance.fetch_materializations(dg.AssetKey(["marts", "kpi_daily"]), limit=10).records
        if r.run_id == run.run_id
    }
    assert materialized == {d.isoformat() for d in DAYS}
    backfill = _wait(
        lambda: (b := instance.get_backfill(backfill_id)).status.value.startswith("COMPLETED") and b,
        90,
        "the daemon to close the backfill",
        poll=1,
    )
    assert backfill.status.value == "COMPLETED_SUCCESS"

    _finished(instance, deployment["concurrent_runs"])  # the warehouse has one writer: read it after them
    reference = deployment["reference"]
    assert reference["process"].wait(timeout=300) == 0, reference["log"].read_text()[-3000:]
    _assert_same_marts(_marts(deployment["warehouse"]), _marts(reference["warehouse"]))


def test_two_runs_at_once_share_the_warehouse_pool(deployment):
    """Two runs (three sources' collection and storage for a day each) launched together through
    GraphQL while the backfill's run goes on: all three finish, and no two warehouse writers overlap."""
    instance = deployment["instance"]
    run_ids = deployment["concurrent_runs"]
    runs = _finished(instance, run_ids)
    assert [r.status for r in runs] == [dg.DagsterRunStatus.SUCCESS] * 2, [_failures(instance, i) for i in run_ids]
    backfill_run = _finished(
        instance,
        [r.run_id for r in instance.get_runs(dg.RunsFilter(tags={"dagster/backfill": deployment["backfill_id"]}))],
    )[0]
    windows = [_step_windows(instance, i) for i in run_ids]
    spans = [(min(s for s, _ in w.values()), max(e for _, e in w.values())) for w in windows]
    assert spans[0][0] < spans[1][1] and spans[1][0] < spans[0][1], f"the two runs ran at the same time: {spans}"
    writers = sorted(
        (start, end, f"{run_id[:8]}:{step}")
        for run_id in [*run_ids, backfill_run.run_id]
        for step, (start, end) in _step_windows(instance, run_id).items()
        if step in _warehouse_steps()
    )
    assert len(writers) >= 2 * 3 + 9, writers
    for (_s1, e1, w1), (s2, _e2, w2) in zip(writers, writers[1:]):
        assert e1 <= s2, f"warehouse writers {w1} and {w2} overlapped"
    # The webserver reports the finished runs too (what the UI's run page reads).
    for run_id in run_ids:
        answer = _graphql(
            deployment["url"],
            "query($id: ID!) { runOrError(runId: $id) { __typename ... on Run { runId status } } }",
            {"id": run_id},
        )["runOrError"]
        assert answer == {"__typename": "Run", "runId": run_id, "status": "SUCCESS"}, answer


if __name__ == "__main__":
    single_runs(Path(sys.argv[1]), Path(sys.argv[2]))
