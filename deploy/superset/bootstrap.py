"""Prepare Apache Superset for the serving snapshot; run with the BI environment's Python.

    .venv-bi/bin/python deploy/superset/bootstrap.py --home DIR --snapshot PATH [--serve --port 8088]

1. DIR gets a secret key (created once, mode 0600) and Superset's metadata database
   (`superset db upgrade`, `superset init`: roles and permissions).
2. An `admin` user (the password is created once into DIR/admin_password, or taken from
   DMP_SUPERSET_ADMIN_PASSWORD).
3. The snapshot is registered as the database "Data Middle Platform" through duckdb-engine, opened
   read-only (`?access_mode=read_only`): Superset's SQL Lab, charts and dashboards read the marts;
   nothing Superset runs can write to the file. Superset opens a new connection per query, so
   each query sees the latest published snapshot.
4. With --serve, Superset's web server on 127.0.0.1:PORT.

Every step is idempotent: rerunning it (after a new snapshot, or to serve again) changes nothing
but what is new.
"""

from __future__ import annotations

import argparse
import os
import secrets
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATABASE_NAME = "Data Middle Platform"


def superset_env(home: Path) -> dict[str, str]:
    return {
        **os.environ,
        "SUPERSET_CONFIG_PATH": str(HERE / "superset_config.py"),
        "DMP_SUPERSET_HOME": str(home),
        "FLASK_APP": "superset",
    }


def _secret(path: Path, env_name: str | None = None) -> str:
    if env_name and os.environ.get(env_name):
        return os.environ[env_name]
    if not path.exists():
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(32) + "\n")
    return path.read_text().strip()


def _superset(home: Path, *args: str) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("superset")
    proc = subprocess.run([str(exe), *args], env=superset_env(home), capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(
            f"superset {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}"
        )
    return proc


def snapshot_uri(snapshot: Path) -> str:
    return f"duckdb:///{snapshot.resolve()}?access_mode=read_only"


def bootstrap(home: Path, snapshot: Path) -> str:
    """Prepare DIR for `superset run`; returns the admin password."""
    if not snapshot.exists():
        raise SystemExit(
            f"{snapshot} does not exist: publish the serving snapshot first (`make run`, or materialise "
            "service/serving_snapshot), then run this again"
        )
    home.mkdir(parents=True, exist_ok=True)
    _secret(home / "secret_key")
    password = _secret(home / "admin_password", "DMP_SUPERSET_ADMIN_PASSWORD")
    _superset(home, "db", "upgrade")
    users = _superset(home, "fab", "list-users").stdout
    if "username:admin " not in users and "username:admin\n" not in users:
        _superset(
            home,
            "fab",
            "create-admin",
            "--username",
            "admin",
            "--firstname",
            "Platform",
            "--lastname",
            "Admin",
            "--email",
            "admin@localhost",
            "--password",
            password,
        )
    _superset(home, "init")
    _superset(home, "set-database-uri", "--database_name", DATABASE_NAME, "--uri", snapshot_uri(snapshot))
    return password


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", type=Path, required=True, help="Superset's own directory (metadata, secret key)")
    parser.add_argument("--snapshot", type=Path, required=True, help="the serving snapshot (serving.duckdb)")
    parser.add_argument("--serve", action="store_true", help="then run Superset's web server")
    parser.add_argument("--port", type=int, default=8088, help="web server port (default: %(default)s)")
    args = parser.parse_args()
    bootstrap(args.home, args.snapshot)
    print(f"Superset is set up in {args.home}: user admin, password in {args.home / 'admin_password'}")
    print(f'database "{DATABASE_NAME}" = {snapshot_uri(args.snapshot)}')
    if args.serve:
        exe = Path(sys.executable).with_name("superset")
        print(f"Superset on http://127.0.0.1:{args.port}/ (Ctrl-C stops it)", flush=True)
        os.execve(
            str(exe),
            [str(exe), "run", "-h", "127.0.0.1", "-p", str(args.port), "--with-threads"],
            superset_env(args.home),
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
