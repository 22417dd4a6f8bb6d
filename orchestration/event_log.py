"""The embedded instance's event log: Dagster's SQLite storage, writing a batch of events at once.

A run over a range of days records one materialisation per asset and day, and, before its first
step, one "materialization planned" event per asset and day (the UI uses those to mark the days of
a failed run as failed). Dagster's SQLite storage writes each event on its own: a new engine and
connection, a commit to the run's database, then a second connection and commit to mirror it into
the index database. For the demo's 27 daily assets over 182 days that is about 10,000 commits, most
of the run's wall time on this machine.

Dagster hands a storage such events in batches when `DAGSTER_EVENT_BATCH_SIZE` is set (its
PostgreSQL storage writes a batch in one statement; the SQLite one falls back to one event at a
time). :class:`BatchingSqliteEventLogStorage` writes a batch of asset events in one transaction per
database instead, through the same statements Dagster's own `store_event` runs, in the same order:
what is stored is the same, row for row. Any other batch (or a batch of mixed runs) goes through
`store_event` one event at a time, as before.

Written here because no released Dagster storage does this for SQLite; the PostgreSQL profile needs
nothing of it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from dagster import StringSource
from dagster._core.events import ASSET_EVENTS
from dagster._core.events.log import EventLogEntry
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from dagster._core.storage.sqlalchemy_compat import db_result

BATCH_SIZE_VARIABLE = "DAGSTER_EVENT_BATCH_SIZE"
BATCH_SIZE = "1000"  # events per transaction; Dagster flushes a batch at its end or at this size


def enable_batches() -> None:
    """Let Dagster pass batches to the storage in this process (a setting the user made wins)."""
    os.environ.setdefault(BATCH_SIZE_VARIABLE, BATCH_SIZE)


class BatchingSqliteEventLogStorage(SqliteEventLogStorage):
    """SQLite event log storage that writes a batch of one run's asset events in one transaction.

    Configured in the embedded profile (deploy/dagster.yaml) with `base_dir` Dagster's own place for
    the run databases, `<DAGSTER_HOME>/history/runs`, so an instance switched to this storage keeps
    its history. Loading it switches batching on in the process that opened the instance (the
    command line, the webserver, the daemon, a run worker).
    """

    def __init__(self, base_dir: str, inst_data=None):
        if "${" in base_dir:
            raise ValueError(
                f"event_log_storage base_dir {base_dir!r} still holds a placeholder: write the profile with "
                "`python -m orchestration.instance write` (make targets do), or put the instance's directory in "
                "place of ${DAGSTER_HOME} in dagster.yaml"
            )
        enable_batches()
        super().__init__(base_dir, inst_data=inst_data)

    @classmethod
    def config_type(cls):
        return {"base_dir": StringSource}

    @classmethod
    def from_config_value(cls, inst_data, config_value) -> BatchingSqliteEventLogStorage:
        return cls(inst_data=inst_data, **config_value)

    def store_event_batch(self, events: Sequence[EventLogEntry]) -> None:
        """Store the events in order; each stretch of one run's asset events is written at once."""
        stretch: list[EventLogEntry] = []
        for event in events:
            if _asset_event(event) and (not stretch or stretch[0].run_id == event.run_id):
                stretch.append(event)
                continue
            self._store_asset_events(stretch)
            stretch = []
            if _asset_event(event):
                stretch.append(event)
            else:
                self.store_event(event)
        self._store_asset_events(stretch)

    def _store_asset_events(self, events: list[EventLogEntry]) -> None:
        if len(events) <= 1:
            for event in events:
                self.store_event(event)
            return
        statements = [self.prepare_insert_event(event) for event in events]
        with self.run_connection(events[0].run_id) as conn:
            for statement in statements:
                conn.execute(statement)
        # The index mirror, as store_event writes it: the rows, their tags, the assets' records. The
        # run's rows are written now, so if the batched mirror fails it is retried event by event
        # (raising would make Dagster store the whole batch again, run rows included).
        try:
            with self.index_transaction() as conn:
                self._mirror(conn, events, statements)
        except Exception:
            for event, statement in zip(events, statements, strict=True):
                with self.index_transaction() as conn:
                    self._mirror(conn, [event], [statement])

    def _mirror(self, conn, events: list[EventLogEntry], statements: list) -> None:
        ids = []
        for statement in statements:
            with db_result(conn, statement) as result:
                ids.append(result.inserted_primary_key[0])
        self._store_asset_event_tags(conn, events, ids)
        # An asset's record is a set of columns each event type overwrites with its own values, so
        # the last event of each type and asset, applied in their order, leaves what applying every
        # event would: one update per asset instead of one per partition.
        last: dict[tuple[str, object], int] = {}
        for i, event in enumerate(events):
            last[(event.dagster_event.asset_key.to_string(), event.dagster_event_type)] = i
        for i in sorted(last.values()):
            self._store_asset_event(conn, events[i], ids[i])


def _asset_event(event: EventLogEntry) -> bool:
    return (
        event.is_dagster_event
        and event.dagster_event_type in ASSET_EVENTS
        and event.dagster_event.asset_key is not None
    )
