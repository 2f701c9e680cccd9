"""The prepared dataset as an MLflow dataset input (mlflow.data lineage): its content digest is
the dataset's version, its location the source, its columns the schema, its statistics the
profile. MLflow keeps dataset digests to 36 characters, so the first 32 hex digits of the sha256
are logged there and the full digest stays in the `climb.dataset_digest` tag and the manifest.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from climb.records import PreparedData

DIGEST_CHARS = 32


def dataset_input(data: PreparedData, name: str, context: str = "train") -> Any:
    """Return an mlflow DatasetInput for a prepared dataset (location, digest, columns, profile)."""
    from mlflow.entities import Dataset, DatasetInput, InputTag

    report = data.report
    location = data.uri or data.path
    schema = {"mlflow_colspec": [{"name": c, "type": "array"} for c in report.packing.columns]}
    profile = {
        "examples": report.examples,
        "train_examples": report.train_examples,
        "eval_examples": report.eval_examples,
        "tokens": report.tokens,
        "trainable_tokens": report.trainable_tokens,
        "padding_ratio": report.packing.padding_ratio,
        "contaminated_examples": report.decontamination.contaminated_examples,
    }
    dataset = Dataset(
        name=name,
        digest=data.digest[:DIGEST_CHARS],
        source_type="s3" if location.startswith("s3://") else "local",
        source=json.dumps({"uri": location}),
        schema=json.dumps(schema),
        profile=json.dumps(profile),
    )
    return DatasetInput(dataset=dataset, tags=[InputTag(key="mlflow.data.context", value=context)])


def log_dataset(client: Any, run_id: str, data: PreparedData, name: str) -> None:
    """Log the prepared dataset as an input of the run `run_id`."""
    client.log_inputs(run_id, datasets=[dataset_input(data, name)])
