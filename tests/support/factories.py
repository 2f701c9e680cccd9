"""Factories for the stage records (climb.records): tests build typed records here, never
hand-built result dicts. Defaults describe a small open-llm-v1 run on the smoke set.
"""

from __future__ import annotations

import math

from climb.data.report import DataReport, DecontaminationReport
from climb.records import (
    Candidate,
    Decision,
    DocResult,
    EvalResult,
    ModelInfo,
    PreparedData,
    PublishResult,
    Release,
    ResolvedModel,
    RunSummary,
    StageTimings,
    SuiteScores,
    TaskScore,
)

TASKS = ("arc_challenge", "hellaswag", "mmlu", "truthfulqa_mc2")
METRICS = {
    "arc_challenge": ("acc_norm", 25),
    "hellaswag": ("acc_norm", 10),
    "mmlu": ("acc", 5),
    "truthfulqa_mc2": ("acc", 0),  # the suite reads mc2 from climb_truthfulqa_mc2 as acc
}


def documents(values: list[float], metric: str = "acc", salt: str = "doc") -> list[DocResult]:
    """DocResults with ids 0.. and stable content hashes (`salt` + id), one value each."""
    return [
        DocResult(doc_id=i, doc_hash=f"{salt}-{i}", values={metric: float(v)})
        for i, v in enumerate(values)
    ]


def eval_result(
    average: float | None = None,
    scores: dict[str, float] | None = None,
    *,
    limit: int | None = 2,
    n: int = 2,
    stderr: float | None = 0.01,
    digest: str = "cand",
    data_source: str = "smoke",
    scale: float = 100.0,
    suite: str = "open-llm-v1",
    deviations: list[str] | None = None,
) -> EvalResult:
    """An EvalResult with the given task scores (0..1) or, with `average` (suite scale), every
    task at average / scale. Each task has `n` documents (ids 0..n-1) whose values have the
    task's score as their mean."""
    if scores is None:
        value = (average if average is not None else 50.0) / scale
        scores = {t: value for t in TASKS}
    tasks, docs = {}, {}
    for name, score in scores.items():
        metric, shots = METRICS.get(name, ("acc", 0))
        tasks[name] = TaskScore(
            score=score, stderr=stderr, metric=metric, num_fewshot=shots, n=n, leaves=[name]
        )
        docs[name] = documents([score] * n, metric, salt=name)
    mean = scale * sum(scores.values()) / len(scores) if scores else 0.0
    return EvalResult(
        suite=suite,
        suite_version="1",
        protocol="lm-eval-0.4",
        lm_eval_version="0.4.13",
        limit=limit,
        data_source=data_source,
        scale=scale,
        tasks=tasks,
        average=mean if average is None else average,
        deviations=deviations or [],
        model=ModelInfo(name=f"model {digest}", digest=digest, dtype="float32"),
        documents=docs,
    )


def suite_scores(
    average: float | None = None, scores: dict[str, float] | None = None, **kw: object
) -> SuiteScores:
    """The compact SuiteScores of `eval_result(average, scores, **kw)`."""
    return eval_result(average, scores, **kw).compact()  # type: ignore[arg-type]


def published_result() -> EvalResult:
    """A suite result with the leaderboard's shots and metrics, as publishing shows it."""
    return eval_result(
        scores={"arc_challenge": 0.5, "hellaswag": 0.25, "mmlu": 0.3, "truthfulqa_mc2": 0.61},
        stderr=0.1,
        digest="abc",
        deviations=["hellaswag few-shot from validation"],
    ).model_copy(update={"average": 41.5})


def resolved_model(path: str = "/models/base", name: str = "base") -> ResolvedModel:
    """A ResolvedModel at `path`."""
    return ResolvedModel(path=path, name=name, uri=name, digest="b" * 64)


def candidate(
    weights_path: str = "/runs/x/train/adapter",
    method: str = "lora",
    base: ResolvedModel | None = None,
    digest: str = "d" * 64,
    source: str = "runs:/r/adapter",
    train_run_id: str = "r",
) -> Candidate:
    """A trained Candidate (nothing on disk unless the caller put it there)."""
    return Candidate(
        base=base or resolved_model(),
        weights_path=weights_path,
        method=method,  # type: ignore[arg-type]
        digest=digest,
        source=source,
        train_run_id=train_run_id,
        train_loss=1.0,
    )


def prepared_data(clean: bool = True, path: str = "/data/x") -> PreparedData:
    """A PreparedData whose decontamination verdict is `clean`."""
    report = DataReport(
        examples=10,
        decontamination=DecontaminationReport(enabled=True, clean=clean),
    )
    return PreparedData(
        path=path, digest="e" * 64, key="k", cached=False, report=report, seconds=1.0
    )


def run_summary(
    candidate_result: SuiteScores,
    reference_result: SuiteScores | None,
    *,
    promoted: bool = True,
    reasons: list[str] | None = None,
    reference_kind: str = "base",
    reference_version: str | None = None,
    timings: StageTimings | None = None,
    total_seconds: float = 100.0,
) -> RunSummary:
    """A RunSummary of a completed run (outbox publishing when promoted)."""
    delta = (
        None if reference_result is None else candidate_result.average - reference_result.average
    )
    publish = (
        PublishResult(mode="outbox", location="/outbox/x", message="wrote it")
        if promoted
        else PublishResult(mode="skipped", message="not promoted")
    )
    return RunSummary(
        name="demo",
        candidate=candidate(),
        data=prepared_data(),
        candidate_result=candidate_result,
        reference_kind=reference_kind,  # type: ignore[arg-type]
        reference_version=reference_version,
        reference_result=reference_result,
        decision=Decision(
            promote=promoted,
            outcome="better" if promoted else "not_better",
            reference=reference_kind,  # type: ignore[arg-type]
            delta=delta,
            reasons=reasons or ["why"],
        ),
        release=Release(
            registered_model="m", version="3", promoted=promoted, reason="why", publish=publish
        ),
        mlflow_run_url="http://mlflow/x",
        prefect_flow_run_url="http://prefect/y",
        timings=timings or StageTimings(fine_tune=90.0, evaluate_candidate=8.0),
        total_seconds=total_seconds,
    )


def binomial_stderr(p: float, n: int) -> float:
    """The standard error of an accuracy `p` over `n` documents (sample variance, as lm-eval)."""
    return math.sqrt(p * (1 - p) / max(n - 1, 1))
