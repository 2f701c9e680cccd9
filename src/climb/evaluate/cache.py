"""Evaluation result cache: a finished suite result is stored under a key of everything that
decides it, so the same model is never evaluated twice for the same suite and protocol.

Key = sha256 of (model weights digest, suite name and version, protocol, lm-eval version,
limit, benchmark data identity, and whether the suite's optional members ran). The backend
(eval.backend) and batch size are not in the key: they do not change scores. Files are written
atomically; a corrupt entry is ignored. An entry holds the whole EvalResult, per-document
results included; an entry of an older format (e.g. one without per-document results) is
reported and re-evaluated, never read as if it were complete.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

from pydantic import ValidationError

from climb.records import EVAL_FORMAT, EvalResult
from climb.state import write_json_atomic

log = logging.getLogger(__name__)


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


def cache_get(root: Path, key: str) -> EvalResult | None:
    """Return the cached EvalResult for `key`, or None: missing, unreadable, or of another
    format (logged with the reason: the caller re-evaluates)."""
    path = root / f"{key}.json"
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, json.JSONDecodeError) as exc:
        log.warning("eval cache: ignoring unreadable entry %s (%s); re-evaluating", path, exc)
        return None
    if not isinstance(data, dict) or data.get("cache_key") != key:
        log.warning("eval cache: ignoring %s: not an entry for key %s", path, key[:12])
        return None
    if data.get("format") != EVAL_FORMAT:
        log.warning(
            "eval cache: %s is of format %s, not %s (it has no per-document results); "
            "re-evaluating",
            path.name,
            data.get("format", 1),
            EVAL_FORMAT,
        )
        return None
    try:
        return EvalResult.model_validate(data)
    except ValidationError as exc:
        log.warning("eval cache: ignoring invalid entry %s (%s); re-evaluating", path, exc)
        return None


def cache_put(root: Path, key: str, result: EvalResult) -> Path:
    """Store `result` under `key` (atomically) and return its path."""
    path = root / f"{key}.json"
    entry = result.model_copy(update={"cache_key": key, "cached": False, "seconds": 0.0})
    write_json_atomic(path, entry.model_dump(mode="json"))
    return path
