"""The Dagster instance: which dagster.yaml DAGSTER_HOME holds, and what it amounts to.

Two profiles live in `deploy/`: the embedded default (`dagster.yaml`: SQLite files under
DAGSTER_HOME) and the server deployment (`dagster-postgres.yaml`: runs, event logs, schedules and
ticks in PostgreSQL, so webserver, daemon and code server can be separate processes). The setting
`DMP_INSTANCE` (sqlite | postgres) chooses one and :func:`prepare_home` writes it into DAGSTER_HOME.
A profile file starts with a `# dmp-instance-profile:` line; a dagster.yaml without it was written
by hand and is never overwritten.

    python -m orchestration.instance write [--pools]   # write the chosen profile, print DAGSTER_HOME
    python -m orchestration.instance show              # storage, run queue, pools of the instance
"""

from __future__ import annotations

import argparse
import importlib.util
import os
from pathlib import Path

from core.settings import PROJECT_ROOT, Settings, get_settings

DEPLOY_DIR = PROJECT_ROOT / "deploy"
PROFILES = {"sqlite": DEPLOY_DIR / "dagster.yaml", "postgres": DEPLOY_DIR / "dagster-postgres.yaml"}
PROFILE_LINE = "# dmp-instance-profile:"
# The first line of the embedded profile before it carried a profile line: still ours to replace.
LEGACY_FIRST_LINE = "# Dagster instance for the embedded default"
POOL_LIMITS = {"warehouse": 1}  # DuckDB takes one writer at a time


class InstanceConfigError(RuntimeError):
    """The chosen instance profile cannot be used as configured."""


def default_home() -> Path:
    return Path(os.environ.get("DAGSTER_HOME") or PROJECT_ROOT / ".dagster_home").resolve()


def written_profile(path: Path) -> str | None:
    """The profile a dagster.yaml was written from, or None if it was written by hand (or is absent)."""
    if not path.is_file():
        return None
    with path.open(encoding="utf-8") as fh:
        first = fh.readline().strip()
    if first.startswith(PROFILE_LINE):
        return first[len(PROFILE_LINE) :].strip()
    return "sqlite" if first.startswith(LEGACY_FIRST_LINE) else None


def check_postgres_url(url: str) -> None:
    """SQLAlchemy 2.1 reads a bare postgresql:// URL with psycopg 3; the platform installs psycopg2."""
    scheme = url.split("://", 1)[0]
    if scheme in ("postgresql", "postgres") and importlib.util.find_spec("psycopg") is None:
        raise InstanceConfigError(
            f"DMP_POSTGRES_URL starts with {scheme}://, which needs the psycopg 3 driver (not installed); "
            "write it as postgresql+psycopg2://<user>:<password>@<host>:5432/<database>"
        )


HOME_PLACEHOLDER = "${DAGSTER_HOME}"


def render_profile(name: str, home: Path) -> str:
    """A profile's text for the instance in `home`: the directory written in place of ${DAGSTER_HOME}
    (Dagster reads a storage's paths from dagster.yaml; only whole values can come from the environment)."""
    return PROFILES[name].read_text(encoding="utf-8").replace(HOME_PLACEHOLDER, os.fspath(home.resolve()))


def write_instance_config(home: Path, settings: Settings) -> Path:
    """Write the profile `settings.instance` names to `<home>/dagster.yaml` (a hand-written file stays)."""
    if settings.instance == "postgres" and not settings.postgres_url:
        raise InstanceConfigError(
            "DMP_INSTANCE=postgres needs the database: set DMP_POSTGRES_URL="
            "postgresql+psycopg2://<user>:<password>@<host>:5432/<database> (an existing, empty database is fine; "
            "Dagster creates its tables on first use)"
        )
    if settings.instance == "postgres":
        check_postgres_url(settings.postgres_url)
    target = home / "dagster.yaml"
    if target.exists() and written_profile(target) is None:
        return target
    text = render_profile(settings.instance, home)
    if not target.exists() or target.read_text(encoding="utf-8") != text:
        home.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".dagster.yaml.{os.getpid()}.tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, target)
    return target


def prepare_home(settings: Settings | None = None, home: Path | None = None) -> Path:
    """Create DAGSTER_HOME with the chosen profile and point this process (and its children) at it."""
    settings = settings or get_settings()
    home = (home or default_home()).resolve()
    home.mkdir(parents=True, exist_ok=True)
    write_instance_config(home, settings)
    if settings.postgres_url:
        # dagster.yaml reads the URL from the environment; a value from .env must reach it too.
        os.environ.setdefault("DMP_POSTGRES_URL", settings.postgres_url)
    os.environ["DAGSTER_HOME"] = str(home)
    os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "1")
    return home


def set_pool_limits(instance) -> dict[str, int]:
    """Give each pool its limit in the instance's storage (`dagster instance concurrency set ...`)."""
    for pool, limit in POOL_LIMITS.items():
        instance.event_log_storage.set_concurrency_slots(pool, limit)
    return {pool: instance.event_log_storage.get_concurrency_info(pool).slot_count for pool in POOL_LIMITS}


def describe(instance) -> dict:
    """What the instance stores where, how runs are queued, and the pools' limits."""
    concurrency = instance.get_concurrency_config()
    queue = concurrency.run_queue_config
    default = concurrency.pool_config.default_pool_limit
    configured = instance.event_log_storage.get_concurrency_keys()
    pools = {
        pool: instance.event_log_storage.get_concurrency_info(pool).slot_count
        if pool in configured
        else f"default_limit ({default})"
        for pool in sorted(set(POOL_LIMITS) | configured)
    }
    return {
        "run_storage": type(instance.run_storage).__name__,
        "event_log_storage": type(instance.event_log_storage).__name__,
        "schedule_storage": type(instance.schedule_storage).__name__,
        "run_coordinator": type(instance.run_coordinator).__name__,
        "max_concurrent_runs": queue.max_concurrent_runs if queue else None,
        "tag_concurrency_limits": list(queue.tag_concurrency_limits) if queue else [],
        "run_monitoring": instance.run_monitoring_enabled,
        "pool_default_limit": default,
        "pools": pools,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m orchestration.instance", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    write = sub.add_parser("write", help="write the profile DMP_INSTANCE chooses into DAGSTER_HOME")
    write.add_argument("--pools", action="store_true", help="also store the pools' limits in the instance")
    sub.add_parser("show", help="print the instance's storage, run queue and pool limits")
    args = parser.parse_args(argv)
    try:
        home = prepare_home()
    except InstanceConfigError as exc:
        parser.exit(2, f"error: {exc}\n")
    if args.command == "write" and not args.pools:
        print(home)
        return 0
    import dagster as dg

    with dg.DagsterInstance.get() as instance:
        if args.command == "write":
            set_pool_limits(instance)
            print(home)
            return 0
        for key, value in describe(instance).items():
            print(f"{key:<24}{value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
