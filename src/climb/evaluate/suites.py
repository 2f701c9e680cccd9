"""Leaderboard suites as data: config/suites/NAME.yaml names lm-eval tasks, shots, the metric
read from each, how subtasks aggregate, and how task scores combine into the suite average.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from climb.resources import config_dir


class SuiteError(ValueError):
    """A suite file is missing or invalid."""


class SuiteTask(BaseModel):
    """One benchmark of a suite."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, description="Key of this benchmark in results.")
    task: str = Field(min_length=1, description="lm-eval task or group name.")
    num_fewshot: int = Field(ge=0)
    metric: str = Field(
        min_length=1,
        description="lm-eval metric key, e.g. acc_norm (the result's label with `average_of`).",
    )
    average_of: list[str] | None = Field(
        default=None,
        min_length=1,
        description="Score = plain mean of these lm-eval metrics (the leaderboard's IFEval: "
        "prompt- and instruction-level strict accuracy).",
    )
    filter: str = Field(
        default="none",
        min_length=1,
        description="lm-eval filter whose metric is read, e.g. strict-match (GSM8K).",
    )
    aggregate: Literal["single", "subtask_mean", "size_weighted"] = Field(
        default="single",
        description="How subtasks combine: plain mean of (normalised) subtask scores, or the "
        "mean over all documents (weighted by subtask size, normalised once).",
    )
    random_baseline: float | dict[str, float] | None = Field(
        default=None,
        description="1/k for leaderboard-v2 normalisation ((raw-b)/(1-b), clipped at 0); a map "
        "from subtask (leaf lm-eval task) to its own 1/k where subtasks differ (BBH, MuSR).",
    )
    optional: bool = False
    card: dict[str, str] | None = Field(
        default=None,
        description="Model-card model-index fields: dataset_name, dataset_type, "
        "dataset_config, split, metric_name.",
    )

    @model_validator(mode="after")
    def _check_baseline(self) -> SuiteTask:
        values = (
            self.random_baseline.values()
            if isinstance(self.random_baseline, dict)
            else [self.random_baseline]
        )
        if any(b is not None and not 0.0 <= b < 1.0 for b in values):
            raise ValueError(f"{self.name}: random_baseline values must be in [0, 1)")
        if self.aggregate == "size_weighted" and isinstance(self.random_baseline, dict):
            raise ValueError(f"{self.name}: size_weighted takes one random_baseline, not a map")
        return self

    def metrics(self) -> list[str]:
        """Return the lm-eval metric keys this task reads (one, or those of `average_of`)."""
        return list(self.average_of or [self.metric])

    def baseline(self, leaf: str) -> float | None:
        """Return the random baseline of one leaf task (None: no normalisation)."""
        if isinstance(self.random_baseline, dict):
            if leaf not in self.random_baseline:
                raise KeyError(f"{self.name}: no random_baseline for subtask {leaf}")
            return self.random_baseline[leaf]
        return self.random_baseline


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
    """Load a suite by name (config/suites/NAME.yaml) or by path.

    Returns the validated Suite; raises SuiteError with a one-line message naming the file and
    each invalid field when the file is missing, not YAML, or does not match the schema.
    """
    path = Path(name_or_path)
    if not path.suffix:
        path = suites_dir() / f"{name_or_path}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in suites_dir().glob("*.yaml"))
        raise SuiteError(f"eval.suite: no suite {name_or_path!r}; known suites: {known}")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        one_line = " ".join(str(exc).split())
        raise SuiteError(f"suite file {path} is not valid YAML: {one_line}") from exc
    try:
        return Suite.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(top level)'}: {err['msg']}"
            for err in exc.errors()
        )
        raise SuiteError(f"suite file {path} is invalid: {problems}") from exc
