"""`python -m api`: serve the data API with uvicorn.

Host and port from DMP_API_HOST / DMP_API_PORT (default 127.0.0.1:8000); the snapshot from
DMP_API_SNAPSHOT, else the settings' serving snapshot (<serving_dir>/serving.duckdb); keys from
DMP_API_KEYS and/or DMP_API_KEYS_FILE (see api/keys.py). The dashboard is the settings'
<serving_dir>/dashboard/index.html.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import uvicorn

from api.app import create_app
from api.keys import KeyConfigError, keys_from_env, mask


def snapshot_path() -> Path:
    if os.environ.get("DMP_API_SNAPSHOT"):
        return Path(os.environ["DMP_API_SNAPSHOT"]).resolve()
    # The settings module has no Dagster import; it only resolves the configured directories.
    from core.settings import get_settings

    return get_settings().serving_path


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        keys = keys_from_env()
    except (KeyConfigError, OSError) as exc:
        print(f"cannot read the API keys: {exc}", file=sys.stderr)
        return 2
    if not keys:
        print(
            "no API keys configured: set DMP_API_KEYS (e.g. 'key1:kpis,customers;key2:*') or "
            "DMP_API_KEYS_FILE; only /health and the OpenAPI docs will answer",
            file=sys.stderr,
        )
    path = snapshot_path()
    host = os.environ.get("DMP_API_HOST", "127.0.0.1")
    port = int(os.environ.get("DMP_API_PORT", "8000"))
    logging.getLogger("dmp.api").info(
        "serving %s on http://%s:%d with %d keys (%s)", path, host, port, len(keys), ", ".join(mask(k) for k in keys)
    )
    uvicorn.run(create_app(path, keys), host=host, port=port, log_level="info")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
