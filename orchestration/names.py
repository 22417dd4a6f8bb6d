"""Names the layers share: the warehouse pool, the jobs, and the tags that select assets."""

# DuckDB allows one writer: every step that writes the warehouse runs in this pool (limit 1).
WAREHOUSE_POOL = "warehouse"

PLATFORM_JOB = "platform_daily"
MODEL_JOB = "model_training"

# Assets with this tag are retrained on their own (weekly) schedule, not by the daily job.
CADENCE_TAG = "dmp/cadence"
WEEKLY = {CADENCE_TAG: "weekly"}
