"""Every MLflow tag name climb writes, declared once. Tags are for people and for later runs
(the leaderboard, the next pipeline's champion lookup, manual promote and rollback); within a
run, stages hand each other records (climb.records), never tags.
"""

from __future__ import annotations

PREFIX = "climb."
MLFLOW_PARENT = "mlflow.parentRunId"

# The pipeline's parent run: provenance, written at start.
CONFIG_HASH = "climb.config_hash"
GIT_COMMIT = "climb.git_commit"
BASE_MODEL = "climb.base_model"
BASE_MODEL_URI = "climb.base_model_uri"
BASE_MODEL_REVISION = "climb.base_model_revision"
SUITE = "climb.suite"
PROTOCOL = "climb.protocol"
LM_EVAL_VERSION = "climb.lm_eval_version"
LAUNCHER = "climb.launcher"
CONFIG_PATH = "climb.config_path"
PREFECT_FLOW_RUN_ID = "climb.prefect_flow_run_id"
PREFECT_FLOW_RUN_URL = "climb.prefect_flow_run_url"

# Written by stages (on their own run; the data ones on the parent run as well).
STAGE = "climb.stage"
ERROR = "climb.error"
WEIGHTS_DIGEST = "climb.weights_digest"
CACHED = "climb.cached"
DATASET_DIGEST = "climb.dataset_digest"
DATASET_URI = "climb.dataset_uri"
DATA_CLEAN = "climb.data_clean"
ROLE = "climb.role"
DATA_SOURCE = "climb.data_source"
DEVIATIONS = "climb.deviations"
DECISION = "climb.decision"
DECISION_REASONS = "climb.decision_reasons"
REFERENCE = "climb.reference"
VERSION = "climb.version"
PROMOTED = "climb.promoted"
PROMOTION_REASON = "climb.promotion_reason"
PUBLISH_MODE = "climb.publish_mode"
PUBLISH_LOCATION = "climb.publish_location"
PUBLISH_DIGEST = "climb.publish_digest"
PUBLISH_COMMIT = "climb.publish_commit"
PUBLISH_ATTEMPTS = "climb.publish_attempts"

# Registered model versions: scores and provenance (climb.registry.versions reads them).
AVERAGE = "climb.average"
RESULT = "climb.result"
SCORE_PREFIX = "climb.score."
METHOD = "climb.method"
SUITE_VERSION = "climb.suite_version"
LIMIT = "climb.limit"
TRAIN_RUN_ID = "climb.train_run_id"
EVAL_RUN_ID = "climb.eval_run_id"
PIPELINE_RUN_ID = "climb.pipeline_run_id"
PUBLISHED = "climb.published"
PROMOTION_ERROR = "climb.promotion_error"

# Provenance copied from the parent run onto the versions it registers.
PROVENANCE = (
    CONFIG_HASH,
    GIT_COMMIT,
    DATASET_DIGEST,
    BASE_MODEL_REVISION,
    LM_EVAL_VERSION,
    LAUNCHER,
    PREFECT_FLOW_RUN_ID,
)

# Manual champion changes (`climb promote`, `climb rollback`): their run, and the version.
ACTION = "climb.action"
BY = "climb.by"
REASON = "climb.reason"
PREVIOUS = "climb.previous"
REGISTERED_MODEL = "climb.registered_model"


def manual_tag(kind: str, field: str) -> str:
    """The version tag of a manual change: `climb.manual_by`, `climb.rollback_reason`, ..."""
    return f"{PREFIX}{kind}_{field}"


# The registered model: one tag per move of the champion alias.
CHAMPION_EVENT_PREFIX = "climb.champion."
