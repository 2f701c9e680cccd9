"""Registered model versions: registering a candidate (idempotent per pipeline run), listing
versions, reading aliases and the version that holds `champion`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from climb.registry.tracking import PIPELINE_RUN_TAG, TAG_PREFIX

CHAMPION = "champion"
CHALLENGER = "challenger"


@dataclass(frozen=True)
class Champion:
    """The registered model version holding the `champion` alias."""

    version: str
    run_id: str | None
    source: str
    tags: dict[str, str]

    @property
    def average(self) -> float | None:
        """The champion's recorded suite average, if any."""
        raw = self.tags.get(f"{TAG_PREFIX}average")
        return float(raw) if raw is not None else None

    @property
    def result(self) -> dict[str, Any] | None:
        """The champion's recorded suite result (scores, suite, protocol), if any."""
        raw = self.tags.get(f"{TAG_PREFIX}result")
        return json.loads(raw) if raw else None


def get_champion(client: Any, model_name: str) -> Champion | None:
    """Return the version holding the champion alias, or None (no model or no alias yet)."""
    from mlflow.exceptions import MlflowException

    try:
        mv = client.get_model_version_by_alias(model_name, CHAMPION)
    except MlflowException:
        return None
    return Champion(
        version=str(mv.version), run_id=mv.run_id, source=mv.source, tags=dict(mv.tags or {})
    )


def register_version(
    client: Any, model_name: str, source: str, run_id: str | None, tags: dict[str, str]
) -> str:
    """Register `source` as a new version of `model_name` (created if missing); return it.

    Idempotent per pipeline run: when `tags` carry `climb.pipeline_run_id` and a version with
    that tag exists (a retried task), that version is returned instead of a duplicate.
    """
    from mlflow.exceptions import MlflowException

    try:
        client.create_registered_model(model_name)
    except MlflowException as exc:
        if "RESOURCE_ALREADY_EXISTS" not in str(exc.error_code):
            raise
    pipeline_run = tags.get(PIPELINE_RUN_TAG)
    if pipeline_run:
        for mv in list_versions(client, model_name):
            if mv.tags.get(PIPELINE_RUN_TAG) == pipeline_run:
                return str(mv.version)
    mv = client.create_model_version(model_name, source, run_id=run_id, tags=tags)
    return str(mv.version)


def list_versions(client: Any, model_name: str) -> list[Any]:
    """Return every version of `model_name` (all pages; oldest first); [] if it does not exist."""
    out: list[Any] = []
    token = None
    while True:
        page = client.search_model_versions(
            f"name = '{model_name}'", max_results=1000, page_token=token
        )
        out.extend(page)
        token = page.token
        if not token:
            break
    return sorted(out, key=lambda mv: int(mv.version))


def aliases(client: Any, model_name: str) -> dict[str, str]:
    """Return alias -> version for `model_name` ({} if the model does not exist)."""
    from mlflow.exceptions import MlflowException

    try:
        rm = client.get_registered_model(model_name)
    except MlflowException:
        return {}
    return {str(k): str(v) for k, v in (rm.aliases or {}).items()}
