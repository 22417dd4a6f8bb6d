"""API keys and their scopes: read from the environment or a YAML file, compared in constant time.

`DMP_API_KEYS="key1:kpis,customers;key2:*"` gives key1 the scopes kpis and customers and key2
every scope. `DMP_API_KEYS_FILE` names a YAML file of the same, either

    keys:
      key1: [kpis, customers]
      key2: ["*"]

or a list of `{key: ..., scopes: [...]}` entries. Keys are never logged: :func:`mask` shows
only enough of one to tell keys apart.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Mapping
from pathlib import Path

import yaml

SCOPES = ("kpis", "customers", "forecasts", "experiments", "alerts", "dashboard")
ALL = "*"


class KeyConfigError(ValueError):
    """The key configuration cannot be read."""


def _check(key: str, scopes: list[str], where: str) -> tuple[str, frozenset[str]]:
    key = str(key).strip()
    if len(key) < 8:
        raise KeyConfigError(f"{where}: API key {mask(key)} is shorter than 8 characters")
    unknown = [s for s in scopes if s not in SCOPES and s != ALL]
    if unknown:
        raise KeyConfigError(f"{where}: key {mask(key)} has unknown scopes {unknown}; known: {list(SCOPES)} or '*'")
    return key, frozenset(scopes)


def parse_keys(text: str) -> dict[str, frozenset[str]]:
    """`key1:kpis,customers;key2:*` -> {key1: {kpis, customers}, key2: {*}}."""
    keys = {}
    for entry in filter(None, (e.strip() for e in text.split(";"))):
        key, sep, scopes = entry.partition(":")
        if not sep:
            raise KeyConfigError(f"DMP_API_KEYS: entry {mask(key)} has no ':<scopes>' (e.g. key1:kpis,customers)")
        k, s = _check(key, [x.strip() for x in scopes.split(",") if x.strip()], "DMP_API_KEYS")
        keys[k] = s
    return keys


def load_key_file(path: Path) -> dict[str, frozenset[str]]:
    data = yaml.safe_load(Path(path).read_text()) or {}
    entries = data.get("keys", data) if isinstance(data, Mapping) else data
    keys = {}
    if isinstance(entries, Mapping):
        items = [(k, v) for k, v in entries.items()]
    elif isinstance(entries, list):
        items = [(e.get("key"), e.get("scopes")) for e in entries if isinstance(e, Mapping)]
    else:
        raise KeyConfigError(f"{path}: expected 'keys:' as a mapping of key -> scopes or a list of {{key, scopes}}")
    for key, scopes in items:
        if key is None:
            raise KeyConfigError(f"{path}: an entry has no key")
        scopes = [scopes] if isinstance(scopes, str) else list(scopes or [])
        k, s = _check(key, [str(x) for x in scopes], str(path))
        keys[k] = s
    return keys


def keys_from_env(environ: Mapping[str, str] = os.environ) -> dict[str, frozenset[str]]:
    keys = {}
    if environ.get("DMP_API_KEYS_FILE"):
        keys |= load_key_file(Path(environ["DMP_API_KEYS_FILE"]))
    if environ.get("DMP_API_KEYS"):
        keys |= parse_keys(environ["DMP_API_KEYS"])
    return keys


def mask(key: str | None) -> str:
    """A key as it may appear in a log line: its first two characters and its length."""
    if not key:
        return "<none>"
    return f"{key[:2]}…({len(key)} chars)"


def find_key(keys: Mapping[str, frozenset[str]], presented: str) -> frozenset[str] | None:
    """The scopes of the presented key, or None; compares against every key in constant time."""
    found = None
    given = presented.encode()
    for key, scopes in keys.items():
        if hmac.compare_digest(key.encode(), given):
            found = scopes
    return found


def allows(scopes: frozenset[str], scope: str) -> bool:
    return ALL in scopes or scope in scopes
