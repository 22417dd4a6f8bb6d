"""A content-versioned model store on the local file system (never in git).

Layout under the store root::

    <model name>/<version>/model.pkl        the fitted estimator(s)
    <model name>/<version>/metadata.json    metrics, training window, features, parameters, versions
    <model name>/champion.json              the promoted version (replaced atomically)
    <model name>/promotions.jsonl           every promotion decision, appended

A version is a hash of what determines the model: the training window, the feature list, the
parameters and the code version. Training the same thing twice gives the same version, so the
store never holds two copies of one model. Predictions load the champion named in
`champion.json`, never "the newest directory".
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import pickle
import platform
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class ModelStoreError(RuntimeError):
    pass


def model_version(identity: dict[str, Any]) -> str:
    """The content version of a model: 16 hex digits of the hash of its identity."""
    canonical = json.dumps(identity, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def library_versions() -> dict[str, str]:
    import duckdb
    import numpy
    import pandas
    import sklearn

    return {
        "python": platform.python_version(),
        "scikit-learn": sklearn.__version__,
        "numpy": numpy.__version__,
        "pandas": pandas.__version__,
        "duckdb": duckdb.__version__,
    }


def write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@dataclass(frozen=True)
class StoredModel:
    name: str
    version: str
    model: Any
    metadata: dict[str, Any]


class ModelStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _dir(self, name: str, version: str) -> Path:
        return self.root / name / version

    def save(self, name: str, identity: dict[str, Any], model: Any, metadata: dict[str, Any]) -> StoredModel:
        """Store a fitted model under its content version (a no-op if that version is stored)."""
        version = model_version(identity)
        target = self._dir(name, version)
        meta = {
            "name": name,
            "version": version,
            "identity": identity,
            "libraries": library_versions(),
            "stored_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            **metadata,
        }
        if not (target / "metadata.json").exists():
            write_atomic(target / "model.pkl", pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL))
            write_atomic(target / "metadata.json", json.dumps(meta, indent=2, sort_keys=True, default=str).encode())
        return self.load(name, version)

    def load(self, name: str, version: str) -> StoredModel:
        target = self._dir(name, version)
        try:
            meta = json.loads((target / "metadata.json").read_text())
            model = pickle.loads((target / "model.pkl").read_bytes())
        except FileNotFoundError as exc:
            raise ModelStoreError(f"model {name} version {version} is not in the store at {target}") from exc
        return StoredModel(name, version, model, meta)

    def versions(self, name: str) -> list[str]:
        base = self.root / name
        return sorted(p.name for p in base.iterdir() if (p / "metadata.json").exists()) if base.is_dir() else []

    def write_record(self, name: str, record_name: str, record: dict[str, Any]) -> None:
        """Replace `<name>/<record_name>.json` atomically (champion, pending candidate, serving choice)."""
        write_atomic(
            self.root / name / f"{record_name}.json", json.dumps(record, indent=2, sort_keys=True, default=str).encode()
        )

    def read_record(self, name: str, record_name: str) -> dict[str, Any]:
        path = self.root / name / f"{record_name}.json"
        return json.loads(path.read_text()) if path.exists() else {}

    def champion_version(self, name: str) -> str | None:
        return self.read_record(name, "champion").get("version")

    def champion(self, name: str) -> StoredModel | None:
        """The promoted model, or None before the first promotion."""
        version = self.champion_version(name)
        return self.load(name, version) if version else None

    def promote(self, name: str, version: str, decision: dict[str, Any]) -> None:
        """Make `version` the champion and record the decision that promoted it."""
        self.load(name, version)  # it must exist
        record = {
            "version": version,
            "promoted_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            **decision,
        }
        self.record_decision(name, {"action": "promoted", **record})
        self.write_record(name, "champion", record)

    def record_decision(self, name: str, decision: dict[str, Any]) -> None:
        path = self.root / name / "promotions.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(decision, default=str, sort_keys=True) + "\n")

    def decisions(self, name: str) -> list[dict[str, Any]]:
        path = self.root / name / "promotions.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
