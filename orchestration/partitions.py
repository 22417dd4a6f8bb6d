"""The daily partitions every partitioned asset shares, and helpers to walk a run's days."""

from __future__ import annotations

import datetime as dt

import dagster as dg

from core.settings import Settings


def daily_partitions(settings: Settings) -> dg.DailyPartitionsDefinition:
    """One partition per day from the configured start; the last one is the configured end
    (DMP_PARTITIONS_END; the demo's last day for the simulated business), else yesterday (UTC)."""
    end = settings.partitions_end
    return dg.DailyPartitionsDefinition(
        start_date=settings.partitions_start.isoformat(),
        end_date=(end + dt.timedelta(days=1)).isoformat() if end is not None else None,
        timezone="UTC",
    )


def run_days(context: dg.AssetExecutionContext) -> list[dt.date]:
    """The days this run covers: one for a single partition, several for a single-run backfill."""
    return [dt.date.fromisoformat(k) for k in context.partition_keys]


def range_tags(start: dt.date, end: dt.date) -> dict[str, str]:
    """Run tags that make one run cover a range of partitions."""
    return {
        "dagster/asset_partition_range_start": start.isoformat(),
        "dagster/asset_partition_range_end": end.isoformat(),
    }
