"""The platform's domain logic, one subpackage per layer (mirroring `orchestration/`); no Dagster import.

collection  contracts, file checks, reading and validating exports into the raw lake and quarantine
storage     the warehouse loader, SQL-quoting helpers, what checks read from the warehouse
quality     Great Expectations suites, platform check rules, the alerting configuration
alerts      the alert store, webhook delivery, the KPI alert rules
service     the serving-snapshot publisher
application A/B test analysis and the KPI dashboard (the models live in `ml/`)
settings    the one typed settings object
"""
