"""The Celery application the platform's workers run (`celery -A orchestration.celery_app worker`).

dagster-celery's own `dagster_celery.app` reads its broker from a generated config module; this
one takes the platform's settings (DMP_CELERY_BROKER, DMP_CELERY_BACKEND), the same the executor
gets through Settings.run_config(), so a worker and the runs it serves cannot disagree. A worker
executes a step in its own process: it loads the run's code location (orchestration.definitions,
from the DMP_* settings in its environment) and the Dagster instance of the run (DAGSTER_HOME).
"""

from __future__ import annotations

from dagster_celery.executor import CeleryExecutor
from dagster_celery.make_app import make_app
from dagster_celery.tasks import create_task

from core.settings import get_settings

_settings = get_settings()
app = make_app(CeleryExecutor.for_cli(broker=_settings.celery_broker, backend=_settings.celery_backend).app_args())
execute_plan = create_task(app)
