"""The alerts: the store (SQLite), webhook delivery, and the KPI alert rules."""
