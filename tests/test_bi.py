"""BI tools on the serving snapshot: an older DuckDB (the kind BI tools bundle) reads every table, and
Apache Superset itself, set up by the project's bootstrap, answers a SQL Lab query on a mart, exactly,
and refuses to write. Both run in the BI environment (`make bi-install` creates .venv-bi), as a user's
would: separate processes, a real Superset web server."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from decimal import Decimal
from http.cookiejar import CookieJar
from pathlib import Path

import duckdb
import pytest

from core.service.snapshot import publish_snapshot, read_manifest

ROOT = Path(__file__).resolve().parent.parent
BI_PYTHON = ROOT / ".venv-bi" / "bin" / "python"
BOOTSTRAP = ROOT / "deploy" / "superset" / "bootstrap.py"
DOCS = ROOT / "docs" / "serving.md"


@pytest.fixture(scope="module")
def bi_python() -> Path:
    # Not a skip: the BI environment is part of the project's install (`make test` depends on it).
    assert BI_PYTHON.exists(), f"{BI_PYTHON} is missing: run `make bi-install` (make test does it)"
    return BI_PYTHON


@pytest.fixture(scope="module")
def snapshot(platform, tmp_path_factory) -> Path:
    """A snapshot published now from the shared build's warehouse, into this module's directory."""
    serving = tmp_path_factory.mktemp("bi") / "serving"
    settings = platform.settings
    publish_snapshot(settings.warehouse_path, serving, settings.alerts_path)
    return serving


def _direct_kpis(path: Path) -> dict:
    with duckdb.connect(str(path), read_only=True) as con:
        rows, total, last = con.execute(
            "select count(*), sum(net_revenue)::varchar, max(kpi_date)::varchar from marts.kpi_daily"
        ).fetchone()
    return {"rows": rows, "net_revenue": Decimal(total), "last_day": last}


OLD_DUCKDB_READER = r"""
import json, sys
import duckdb
path, tables = sys.argv[1], json.loads(sys.argv[2])
con = duckdb.connect(path, read_only=True)
counts = {t: con.execute(f"select count(*) from {t}").fetchone()[0] for t in tables}
rows, total, last = con.execute(
    "select count(*), sum(net_revenue)::varchar, max(kpi_date)::varchar from marts.kpi_daily"
).fetchone()
print(json.dumps({"version": duckdb.__version__, "counts": counts,
                  "kpis": {"rows": rows, "net_revenue": total, "last_day": last}}))
"""


def test_an_older_duckdb_reads_every_table_of_the_snapshot(bi_python, snapshot):
    manifest = read_manifest(snapshot)
    tables = manifest["tables"]
    assert "marts.kpi_daily" in tables and len(tables) > 10
    proc = subprocess.run(
        [str(bi_python), "-c", OLD_DUCKDB_READER, str(snapshot / "serving.duckdb"), json.dumps(sorted(tables))],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    seen = json.loads(proc.stdout)
    major, minor = (int(p) for p in seen["version"].split(".")[:2])
    # The platform's DuckDB is 2.x; the BI environment's must be one that cannot read a 2.x-format file.
    assert (major, minor) < (1, 2), seen["version"]
    assert int(duckdb.__version__.split(".")[0]) >= 2
    assert seen["counts"] == {name: meta["rows"] for name, meta in tables.items()}
    direct = _direct_kpis(snapshot / "serving.duckdb")
    assert seen["kpis"]["rows"] == direct["rows"]
    assert Decimal(seen["kpis"]["net_revenue"]) == direct["net_revenue"]
    assert seen["kpis"]["last_day"] == direct["last_day"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Client:
    """Superset's REST API as a browser session: a login token, its session cookie and CSRF token."""

    def __init__(self, base: str):
        self.base = base
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))
        self.headers = {"Content-Type": "application/json", "Referer": base + "/"}

    def call(self, method: str, path: str, body: dict | None = None) -> tuple[int, str]:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=self.headers)
        try:
            with self.opener.open(req, timeout=120) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode()

    def login(self, password: str) -> None:
        status, body = self.call(
            "POST", "/api/v1/security/login", {"username": "admin", "password": password, "provider": "db"}
        )
        assert status == 200, body
        self.headers["Authorization"] = "Bearer " + json.loads(body)["access_token"]
        status, body = self.call("GET", "/api/v1/security/csrf_token/")
        assert status == 200, body
        self.headers["X-CSRFToken"] = json.loads(body)["result"]


def _wait_healthy(base: str, server: subprocess.Popen, log: Path, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert server.poll() is None, f"superset exited ({server.returncode}):\n{log.read_text()[-3000:]}"
        try:
            with urllib.request.urlopen(base + "/health", timeout=5) as resp:
                if resp.read().decode().strip() == "OK":
                    return
        except OSError:
            pass
        time.sleep(1)
    raise AssertionError(f"superset did not answer /health in {timeout} s:\n{log.read_text()[-3000:]}")


def test_superset_set_up_by_the_project_queries_a_mart_and_cannot_write(bi_python, snapshot, tmp_path):
    home = tmp_path / "superset"
    snapshot_file = snapshot / "serving.duckdb"
    for _ in range(2):  # the bootstrap is idempotent: the second run changes nothing and does not fail
        proc = subprocess.run(
            [str(bi_python), str(BOOTSTRAP), "--home", str(home), "--snapshot", str(snapshot_file)],
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    password = (home / "admin_password").read_text().strip()
    assert (home / "secret_key").stat().st_mode & 0o077 == 0

    # A bootstrap pointed at a snapshot that does not exist says what to do, and fails.
    missing = subprocess.run(
        [str(bi_python), str(BOOTSTRAP), "--home", str(tmp_path / "other"), "--snapshot", str(tmp_path / "no.duckdb")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert missing.returncode != 0 and "publish the serving snapshot first" in missing.stderr

    sys.path.insert(0, str(BOOTSTRAP.parent))
    try:
        import bootstrap as superset_bootstrap  # the BI side's own module: only its env helper is used
    finally:
        sys.path.remove(str(BOOTSTRAP.parent))
    port = _free_port()
    log = tmp_path / "superset.log"
    exe = bi_python.with_name("superset")
    with log.open("w") as out:
        server = subprocess.Popen(
            [str(exe), "run", "-h", "127.0.0.1", "-p", str(port), "--with-threads"],
            env=superset_bootstrap.superset_env(home),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(base, server, log)
        client = Client(base)
        client.login(password)

        status, body = client.call("GET", "/api/v1/database/?q=(columns:!(id,database_name,allow_dml))")
        assert status == 200, body
        databases = {d["database_name"]: d for d in json.loads(body)["result"]}
        database = databases[superset_bootstrap.DATABASE_NAME]
        assert database["allow_dml"] is False
        status, body = client.call("GET", f"/api/v1/database/{database['id']}/connection")
        assert status == 200, body
        uri = json.loads(body)["result"]["sqlalchemy_uri"]
        assert uri.endswith("?access_mode=read_only") and str(snapshot_file.resolve()) in uri

        def sql_lab(sql: str) -> tuple[int, str]:
            return client.call(
                "POST",
                "/api/v1/sqllab/execute/",
                {
                    "database_id": database["id"],
                    "sql": sql,
                    "schema": "marts",
                    "runAsync": False,
                    "client_id": os.urandom(5).hex(),
                },
            )

        status, body = sql_lab(
            "select count(*) as n, sum(net_revenue)::varchar as total, max(kpi_date)::varchar as last_day "
            "from marts.kpi_daily"
        )
        assert status == 200, body
        answer = json.loads(body, parse_float=Decimal)
        row = answer["data"][0]
        direct = _direct_kpis(snapshot_file)
        assert row["n"] == direct["rows"] and direct["rows"] > 100
        assert Decimal(row["total"]) == direct["net_revenue"]
        assert row["last_day"] == direct["last_day"]

        status, body = sql_lab("create table marts.scratch as select 1 as x")
        assert status >= 400 and "DML" in body, (status, body)
        with duckdb.connect(str(snapshot_file), read_only=True) as con:
            assert con.execute(
                "select count(*) from information_schema.tables where table_name = 'scratch'"
            ).fetchone() == (0,)
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()


def test_the_serving_docs_list_exactly_the_published_tables(snapshot):
    published = set(read_manifest(snapshot)["tables"])
    text = DOCS.read_text()
    named = set(re.findall(r"`((?:marts|application|reference|ops)\.[a-z_0-9]+)`", text))
    # The schema overview names application and reference tables without their schema.
    overview = next(line for line in text.splitlines() if line.startswith("| `application`"))
    named |= {f"application.{t}" for t in re.findall(r"`([a-z_]+)`", overview) if t != "application"}
    named |= {"reference.kpi_targets", "ops.alerts"} & {
        f"{s}.{t}" for s, t in re.findall(r"\| `(reference|ops)` \| `([a-z_]+)`", text)
    }
    assert named - published == set(), f"docs/serving.md lists tables the snapshot does not have: {named - published}"
    marts = {t for t in published if t.startswith("marts.")}
    assert marts - named == set(), f"docs/serving.md does not list served marts: {marts - named}"
    assert {t for t in published if t.startswith("application.")} <= named
