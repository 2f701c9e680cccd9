"""The training spec: the one JSON file a launcher hands to `python -m climb.train`.

It carries everything the trainer process needs (paths, hyper-parameters, where to log), so the
same trainer runs the same way under a local torchrun or in a Kubernetes TrainJob pod.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from climb.config import TrainConfig


@dataclass
class TrainSpec:
    """Inputs of one training run."""

    model_path: str
    dataset_path: str
    output_dir: str
    train: dict[str, Any]
    mlflow_tracking_uri: str | None = None
    mlflow_run_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def train_config(self) -> TrainConfig:
        """Return the validated training hyper-parameters."""
        return TrainConfig.model_validate(self.train)

    def write(self, path: Path) -> Path:
        """Write the spec as JSON and return the path."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self), indent=2, sort_keys=True))
        return path

    @classmethod
    def read(cls, path: str | Path) -> TrainSpec:
        """Read a spec written by `write`."""
        return cls(**json.loads(Path(path).read_text()))


@dataclass
class TrainResult:
    """What a finished training run reports back (read from `<output_dir>/result.json`)."""

    adapter_path: str
    method: Literal["lora", "qlora", "full"]
    global_step: int
    train_loss: float
    first_loss: float | None
    last_loss: float | None
    tokens: int
    tokens_per_s: float
    train_seconds: float
    resumed_from: str | None = None
    world_size: int = 1

    @classmethod
    def read(cls, output_dir: str | Path) -> TrainResult:
        """Read `<output_dir>/result.json`."""
        return cls(**json.loads((Path(output_dir) / "result.json").read_text()))
