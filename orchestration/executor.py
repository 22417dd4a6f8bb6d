"""The executor of every platform job: in one process, a process per step, or Celery workers.

Dagster's default executor offers `in_process` and `multiprocess`; this one adds `celery`
(dagster-celery), so the same job runs its steps on worker processes started separately
(`make workers`, possibly on other machines) without another job definition. The choice is run
config, as with Dagster's default:

    execution: {config: {celery: {broker: "redis://127.0.0.1:6379/0", backend: "redis://127.0.0.1:6379/1"}}}

Settings.run_config() writes it from DMP_EXECUTOR, DMP_CELERY_BROKER and DMP_CELERY_BACKEND for
the runs the platform starts itself (schedules, sensors, `make backfill`). Pools hold on Celery
too: the executor claims the instance's concurrency slots before it hands a step to a worker.
"""

from __future__ import annotations

import dagster as dg
from dagster._core.definitions.executor_definition import multi_or_in_process_executor
from dagster_celery.executor import CELERY_CONFIG, CeleryExecutor

# The shapes of Dagster's own two choices, read from its default executor's config.
_DEFAULT_CHOICES = multi_or_in_process_executor.config_schema.config_type.fields


def _requirements(config) -> list:
    if "in_process" in config:
        return []
    return dg.multiple_process_executor_requirements()


@dg.executor(
    name="platform",
    config_schema=dg.Field(
        dg.Selector(
            {
                "in_process": _DEFAULT_CHOICES["in_process"],
                "multiprocess": _DEFAULT_CHOICES["multiprocess"],
                "celery": dg.Field(CELERY_CONFIG),
            }
        ),
        default_value={"multiprocess": {}},
    ),
    requirements=_requirements,
)
def platform_executor(init_context: dg.InitExecutorContext) -> dg.Executor:
    config = init_context.executor_config
    if "celery" in config:
        from dagster._core.execution.retries import RetryMode

        celery = config["celery"]
        return CeleryExecutor(
            broker=celery.get("broker"),
            backend=celery.get("backend"),
            config_source=celery.get("config_source"),
            include=celery.get("include"),
            retries=RetryMode.from_config(celery["retries"]),
        )
    return multi_or_in_process_executor.executor_creation_fn(init_context)
