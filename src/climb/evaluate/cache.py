"""Evaluation result cache: a finished suite result is stored under a key of everything that
decides it, so the same model is never evaluated twice for the same suite and protocol.

Key = sha256 of (model weights digest, suite name and version, protocol, lm-eval version,
limit, benchmark data identity, and whether the suite's optional members ran). The backend
(eval.backend) and batch size are not in the key: they do not change scores. Files are written
atomically; a corrupt entry is ignored.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from climb.state import write_json_atomic


def cache_key(
    *,
    model_digest: str,
    suite: str,
    suite_version: str,
    protocol: str,
    lm_eval_version: str,
    limit: int | None,
    data: str,
    include_optional: bool = False,
) -> str:
    """Return the cache key of one evaluation (optional suite members only enter the key when
    they are included, so keys of plain suite runs stay as they were)."""
    payload: dict[str, object] = {
        "model": model_digest,
        "suite": suite,
        "suite_version": suite_version,
        "protocol": protocol,
        "lm_eval": lm_eval_version,
        "limit": limit,
        "data": data,
    }
    if include_optional:
        payload["optional"] = True
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def cache_get(root: Path, key: str) -> dict[str, Any] | None:
    """Return the cached result for `key`, or None (missing or unreadable)."""
    path = root / f"{key}.json"
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) and data.get("cache_key") == key else None


def cache_put(root: Path, key: str, result: dict[str, Any]) -> Path:
    """Store `result` under `key` (atomically) and return its path."""
    path = root / f"{key}.json"
    write_json_atomic(path, {**result, "cache_key": key})
    return path
