"""The model card of a published champion: huggingface_hub's ModelCard with model-index results
in the Open LLM Leaderboard's format, the scores table, the deviations from the leaderboard's
protocol, why the model is the champion, and the training config (secrets redacted).
"""

from __future__ import annotations

from typing import Any

from climb.evaluate.suites import Suite
from climb.records import SuiteScores
from climb.secrets import redact

LEADERBOARD_SOURCE = (
    "Open LLM Leaderboard",
    "https://huggingface.co/spaces/open-llm-leaderboard/open_llm_leaderboard",
)


def model_card(
    *,
    repo_id: str,
    base_model: str,
    result: SuiteScores,
    suite: Suite,
    license_id: str,
    datasets: list[str],
    config_yaml: str,
    reasons: list[str],
    library_name: str = "peft",
    training_data: list[str] | None = None,
) -> Any:
    """Return a huggingface_hub ModelCard with model-index results in the leaderboard format.

    `datasets` are Hub dataset ids (card metadata); `training_data` names every source in the
    card's text (local files included). `reasons` say why this model is the champion. Every
    score is shown with its standard error and the number of documents it rests on.
    """
    from huggingface_hub import EvalResult, ModelCard, ModelCardData

    evals = []
    for st in suite.tasks:
        task = result.tasks.get(st.name)
        if task is None:
            continue
        card = st.card or {}
        evals.append(
            EvalResult(
                task_type="text-generation",
                task_name="Text Generation",
                dataset_type=card.get("dataset_type", st.task),
                dataset_name=card.get("dataset_name", f"{st.name} ({st.num_fewshot}-Shot)"),
                dataset_config=card.get("dataset_config"),
                dataset_split=card.get("split"),
                dataset_args={"num_few_shot": st.num_fewshot},
                metric_type=st.metric,
                metric_value=round(result.points(st.name), 2),
                metric_name=card.get("metric_name", st.metric),
                source_name=LEADERBOARD_SOURCE[0] if suite.name.startswith("open-llm") else "climb",
                source_url=LEADERBOARD_SOURCE[1] if suite.name.startswith("open-llm") else None,
            )
        )
    data = ModelCardData(
        model_name=repo_id.split("/")[-1],
        base_model=base_model,
        license=license_id,
        datasets=datasets or None,
        library_name=library_name,
        tags=["climb", "fine-tuned", suite.name],
        eval_results=evals,
        pipeline_tag="text-generation",
    )
    rows = "\n".join(
        f"| {name} | {t.num_fewshot} | {t.metric} | {result.points(name):.2f} | "
        f"{_se(result.stderr_points(name))} | {t.n} |"
        for name, t in result.tasks.items()
    )
    deviations = "\n".join(f"- {d}" for d in result.deviations) or "- none"
    content = f"""---
{data.to_yaml()}
---

# {repo_id.split("/")[-1]}

Fine-tuned from [{base_model}](https://huggingface.co/{base_model}) with
[climb](https://github.com/climb-llm/climb) and published as the champion of its registry on the
`{suite.name}` suite (v{suite.version}).

Training data: {", ".join(training_data or datasets) or "not recorded"}.

## Evaluation ({suite.name}, lm-eval {result.lm_eval_version}, protocol {result.protocol})

Scores on a 0-{result.scale:g} scale; ± is the standard error; documents is how many scored
documents each score rests on.

| task | shots | metric | score | ± | documents |
|---|---|---|---|---|---|
{rows}
| **average** | | | **{result.average:.2f}** | {_se(result.average_stderr())} | \
{result.documents_scored} |

Limit per task: {result.limit or "none (full benchmarks)"}. Data: {result.data_source}.
Deviations from the leaderboard's protocol:
{deviations}

## Why this model is the champion

{chr(10).join("- " + r for r in reasons)}

## Training configuration

```yaml
{redact(config_yaml).strip()}
```
"""
    return ModelCard(content)


def _se(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"
