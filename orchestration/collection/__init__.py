"""Layer 1, collection: source exports in the landing zone -> validated rows in the raw lake."""

from orchestration.collection.assets import build_collection_assets

__all__ = ["build_collection_assets"]
