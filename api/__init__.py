"""The HTTP data API over the serving snapshot (FastAPI; no Dagster import)."""
