"""Superset's configuration for the platform (SUPERSET_CONFIG_PATH points here).

Everything Superset keeps (its metadata database, the secret key) lives under DMP_SUPERSET_HOME,
which `deploy/superset/bootstrap.py` prepares; nothing is written into the project.
"""

import os
from pathlib import Path

HOME = Path(os.environ["DMP_SUPERSET_HOME"])
SECRET_KEY = (HOME / "secret_key").read_text().strip()
SQLALCHEMY_DATABASE_URI = f"sqlite:///{HOME / 'superset.db'}"
# The snapshot is read-only and small: no async workers, no results backend, no example data.
FEATURE_FLAGS: dict[str, bool] = {}
SQLLAB_ASYNC_TIME_LIMIT_SEC = 60
SQLLAB_TIMEOUT = 60
ROW_LIMIT = 50_000
