"""Registered model versions: the tags a candidate's version carries (scores and provenance),
registering it (idempotent per pipeline run), listing versions, reading aliases and the version
that holds `champion`. RegisteredVersion is the one reading of a version's tags.
"""

from __future__ import annotations

import logging
from typing import Any

from pydantic import ValidationError

from climb.records import Candidate, PublishResult, Record, SuiteScores
from climb.registry import tags as T

log = logging.getLogger(__name__)
CHAMPION = "champion"
CHALLENGER = "challenger"


class RegisteredVersion(Record):
    """One registered model version as climb reads it: where its weights are and its tags."""

    name: str
    version: str
    run_id: str | None = None
    source: str
    created_ms: int = 0
    tags: dict[str, str]

    @property
    def scores(self) -> SuiteScores | None:
        """The suite scores recorded when the version was registered (None when absent or
        unreadable)."""
        raw = self.tags.get(T.RESULT)
        if not raw:
            return None
        try:
            return SuiteScores.model_validate_json(raw)
        except ValidationError as exc:
            log.warning("%s v%s: unreadable %s tag (%s)", self.name, self.version, T.RESULT, exc)
            return None

    @property
    def average(self) -> float | None:
        """The recorded suite average, if any."""
        raw = self.tags.get(T.AVERAGE)
        return float(raw) if raw else None

    @property
    def weights_digest(self) -> str:
        """The weights identity (the evaluation cache key's model part)."""
        return self.tags.get(T.WEIGHTS_DIGEST) or f"registry-{self.name}-v{self.version}"

    @property
    def method(self) -> str:
        """lora, qlora or full (lora when not recorded)."""
        return self.tags.get(T.METHOD, "lora")

    @property
    def published(self) -> bool:
        """True when the version was published (Hub push or outbox) when it became champion."""
        return T.PUBLISHED in self.tags


def version_of(mv: Any) -> RegisteredVersion:
    """Return the RegisteredVersion of an MLflow ModelVersion."""
    return RegisteredVersion(
        name=str(mv.name),
        version=str(mv.version),
        run_id=mv.run_id or None,
        source=str(mv.source or ""),
        created_ms=int(mv.creation_timestamp or 0),
        tags={str(k): str(v) for k, v in (mv.tags or {}).items()},
    )


def version_tags(
    candidate: Candidate, result: SuiteScores, provenance: dict[str, str], pipeline_run_id: str
) -> dict[str, str]:
    """Return the tags of a candidate's model version: its scores (on the suite's scale, and the
    compact result), how they were measured, and the pipeline run's provenance."""
    out = {k: v for k, v in provenance.items() if k in T.PROVENANCE and v}
    out.update(
        {
            T.AVERAGE: f"{result.average:.6f}",
            T.RESULT: result.compact().model_dump_json(),
            T.WEIGHTS_DIGEST: candidate.digest,
            T.BASE_MODEL: candidate.base.name,
            T.BASE_MODEL_URI: candidate.base.uri,
            T.METHOD: candidate.method,
            T.SUITE: result.suite,
            T.SUITE_VERSION: result.suite_version,
            T.PROTOCOL: result.protocol,
            T.LIMIT: str(result.limit),
            T.DATA_SOURCE: result.data_source,
            T.TRAIN_RUN_ID: candidate.train_run_id,
            T.PIPELINE_RUN_ID: pipeline_run_id,
        }
    )
    out.update({f"{T.SCORE_PREFIX}{k}": f"{result.points(k):.4f}" for k in result.tasks})
    return out


def get_champion(client: Any, model_name: str) -> RegisteredVersion | None:
    """Return the version holding the champion alias, or None (no model or no alias yet)."""
    from mlflow.exceptions import MlflowException

    try:
        mv = client.get_model_version_by_alias(model_name, CHAMPION)
    except MlflowException:
        return None
    return version_of(mv)


def get_version(client: Any, model_name: str, version: str) -> RegisteredVersion:
    """Return one version (raises MLflow's error for an unknown version)."""
    return version_of(client.get_model_version(model_name, version))


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
    pipeline_run = tags.get(T.PIPELINE_RUN_ID)
    if pipeline_run:
        for mv in list_versions(client, model_name):
            if mv.tags.get(T.PIPELINE_RUN_ID) == pipeline_run:
                return mv.version
    mv = client.create_model_version(model_name, source, run_id=run_id, tags=tags)
    return str(mv.version)


def list_versions(client: Any, model_name: str) -> list[RegisteredVersion]:
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
    return sorted((version_of(mv) for mv in out), key=lambda v: int(v.version))


def aliases(client: Any, model_name: str) -> dict[str, str]:
    """Return alias -> version for `model_name` ({} if the model does not exist)."""
    from mlflow.exceptions import MlflowException

    try:
        rm = client.get_registered_model(model_name)
    except MlflowException:
        return {}
    return {str(k): str(v) for k, v in (rm.aliases or {}).items()}


def published_record(version: RegisteredVersion) -> PublishResult | None:
    """Where the version was published (the `climb.published` tag), if it was."""
    raw = version.tags.get(T.PUBLISHED)
    return PublishResult.model_validate_json(raw) if raw else None
