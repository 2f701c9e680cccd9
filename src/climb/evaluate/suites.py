"""Leaderboard suites as data: config/suites/NAME.yaml names lm-eval tasks, shots, the metric
read from each, how subtasks aggregate, and how task scores combine into the suite average.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from climb.resources import config_dir


class SuiteError(ValueError):
    """A suite file is missing or invalid."""


class SuiteTask(BaseModel):
    """One benchmark of a suite."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, description="Key of this benchmark in results.")
    task: str = Field(min_length=1, description="lm-eval task or group name.")
    num_fewshot: int = Field(ge=0)
    metric: str = Field(min_length=1, description="lm-eval metric key, e.g. acc_norm.")
    aggregate: Literal["single", "subtask_mean"] = "single"
    random_baseline: float | None = Field(
        default=None,
        ge=0.0,
        lt=1.0,
        description="1/k for leaderboard-v2 normalisation ((raw-b)/(1-b), clipped at 0).",
    )
    optional: bool = False
    card: dict[str, str] | None = Field(
        default=None,
        description="Model-card model-index fields: dataset_name, dataset_type, "
        "dataset_config, split, metric_name.",
    )


class Suite(BaseModel):
    """A leaderboard suite."""

    model_config = ConfigDict(extra="forbid")

    name: str
    version: str
    description: str = ""
    scale: float = 100.0
    tasks: list[SuiteTask] = Field(min_length=1)

    def selected(self, include_optional: bool = False) -> list[SuiteTask]:
        """Return the tasks that count (optional members only when asked for)."""
        return [t for t in self.tasks if include_optional or not t.optional]


def suites_dir() -> Path:
    """Return the folder holding suite YAMLs."""
    return config_dir() / "suites"


def load_suite(name_or_path: str) -> Suite:
    """Load a suite by name (config/suites/NAME.yaml) or by path; raise SuiteError."""
    path = Path(name_or_path)
    if not path.suffix:
        path = suites_dir() / f"{name_or_path}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in suites_dir().glob("*.yaml"))
        raise SuiteError(f"eval.suite: no suite {name_or_path!r}; known suites: {known}")
    try:
        return Suite.model_validate(yaml.safe_load(path.read_text()))
    except ValidationError as exc:
        raise SuiteError(f"suite file {path} is invalid: {exc}") from exc
