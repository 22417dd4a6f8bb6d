"""Column-level lineage of the dbt models, for the Dagster UI's column lineage view.

dagster-dbt's own `fetch_column_metadata()` opens the warehouse through dbt's adapter while the
dbt process still holds DuckDB's write lock, so it cannot run here. The platform reads the column
schemas itself once dbt has released the file, and hands them with the invocation's manifest and
compiled SQL to dagster-dbt's sqlglot lineage builder (pinned with dagster-dbt in constraints.txt).

Ephemeral models are inlined into their children's SQL as CTEs, so a child's lineage runs through
them to the materialised models they read; their parents stand in for them. The result depends on
the model's SQL and on its and its parents' columns only (not on the run's window), so it is cached
under that key: a run whose models did not change computes nothing.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import os
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import dagster as dg

Columns = dict[str, dict[str, str]]
log = logging.getLogger(__name__)


def _materialized_parents(manifest: Mapping[str, Any], unique_id: str) -> list[str]:
    """The node's parents, an ephemeral parent replaced by its own (recursively)."""
    node = manifest["nodes"].get(unique_id) or manifest["sources"][unique_id]
    out: list[str] = []
    for parent in node.get("depends_on", {}).get("nodes", []):
        props = manifest["nodes"].get(parent) or manifest["sources"].get(parent)
        if props is None:
            continue
        if props.get("config", {}).get("materialized") == "ephemeral":
            out += [p for p in _materialized_parents(manifest, parent) if p not in out]
        elif parent not in out:
            out.append(parent)
    return out


def _relation(props: Mapping[str, Any]) -> tuple[str, str]:
    return props["schema"], props.get("alias") or props.get("identifier") or props["name"]


class LineageCache:
    """Lineage per (model SQL, columns) in one JSON file; written atomically, safe to lose."""

    def __init__(self, path: Path):
        self.path = path
        try:
            self.entries: dict[str, dict[str, list[list]]] = json.loads(path.read_text())
        except (OSError, ValueError):
            self.entries = {}
        self.dirty = False

    def save(self) -> None:
        if not self.dirty:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{uuid.uuid4().hex}.tmp")
        tmp.write_text(json.dumps(self.entries, sort_keys=True))
        os.replace(tmp, self.path)


def column_lineage(
    manifest: Mapping[str, Any],
    unique_id: str,
    columns_of: Callable[[str, str], Columns],
    translator,
    target_path: Path,
    project,
    cache: LineageCache,
) -> dg.TableColumnLineage | None:
    """The model's column lineage (each column's upstream asset columns), or None if it cannot be built."""
    from dagster_dbt.core.dbt_cli_event import EventHistoryMetadata, _build_column_lineage_metadata

    node = manifest["nodes"][unique_id]
    parents = _materialized_parents(manifest, unique_id)
    own = columns_of(*_relation(node))
    parent_columns = {p: columns_of(*_relation(manifest["nodes"].get(p) or manifest["sources"][p])) for p in parents}
    key = hashlib.sha256(
        json.dumps([node["checksum"]["checksum"], own, parent_columns], sort_keys=True).encode()
    ).hexdigest()
    if key not in cache.entries:
        props = copy.deepcopy(node)
        props["depends_on"]["nodes"] = parents
        relation_names = {
            (manifest["nodes"].get(p) or manifest["sources"][p])["relation_name"]: cols
            for p, cols in parent_columns.items()
        }
        try:
            metadata = _build_column_lineage_metadata(
                event_history_metadata=EventHistoryMetadata(columns=own, parents=relation_names),
                dbt_resource_props=props,
                manifest=manifest,
                dagster_dbt_translator=translator,
                target_path=target_path,
                project=project,
            )
        except Exception as exc:  # lineage is a view aid: never fail a build for it
            log.warning("no column lineage for %s: %s", unique_id, exc)
            return None
        lineage = metadata.get("dagster/column_lineage")
        if lineage is None:
            return None
        cache.entries[key] = {
            column: sorted([list(dep.asset_key.path), dep.column_name] for dep in deps)
            for column, deps in lineage.deps_by_column.items()
        }
        cache.dirty = True
    return dg.TableColumnLineage(
        deps_by_column={
            column: [dg.TableColumnDep(asset_key=dg.AssetKey(path), column_name=name) for path, name in deps]
            for column, deps in cache.entries[key].items()
        }
    )
