"""Layer 2, storage: the raw lake (written by collection) loaded into the DuckDB warehouse."""

from orchestration.storage.assets import build_storage_assets

__all__ = ["build_storage_assets"]
