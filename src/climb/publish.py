"""Publishing a promoted model to the Hugging Face Hub, or, with no token, to a local outbox.

The repo folder is built once, the same way for both: the adapter (or merged / full weights),
the tokenizer, a model card made with huggingface_hub's ModelCard carrying model-index results
in the Open LLM Leaderboard's format, the training config and the leaderboard results JSON. A
content digest inside the folder makes pushes idempotent: a digest already on the repo is not
pushed again (climb.hub). The token is read from the environment only and never written
anywhere: not in the card, the config copy, the outbox, MLflow or error messages.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from climb.config import PublishConfig
from climb.evaluate.suites import Suite
from climb.hub import DIGEST_FILE, HubError, push
from climb.secrets import redact
from climb.state import StateDir, atomic_dir, file_sha256, safe_name

LEADERBOARD_SOURCE = (
    "Open LLM Leaderboard",
    "https://huggingface.co/spaces/open-llm-leaderboard/open_llm_leaderboard",
)


class PublishError(RuntimeError):
    """Publishing failed; the message says what to fix (never contains the token)."""


@dataclass(frozen=True)
class PublishResult:
    """Where the model went."""

    mode: str  # "push" | "outbox" | "skipped"
    location: str
    digest: str
    pushed: bool
    message: str
    commit: str | None = None
    attempts: int = 0

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict."""
        return asdict(self)


def folder_digest(folder: Path) -> str:
    """Return a sha256 over every file's relative path and bytes (the digest file excluded)."""
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        if p.is_file() and p.name != DIGEST_FILE:
            h.update(p.relative_to(folder).as_posix().encode() + b"\0")
            h.update(bytes.fromhex(file_sha256(p)))
    return h.hexdigest()


def model_card(
    *,
    repo_id: str,
    base_model: str,
    result: dict[str, Any],
    suite: Suite,
    license_id: str,
    datasets: list[str],
    config_yaml: str,
    decision: dict[str, Any],
    library_name: str = "peft",
    training_data: list[str] | None = None,
) -> Any:
    """Return a huggingface_hub ModelCard with model-index results in the leaderboard format.

    `datasets` are Hub dataset ids (card metadata); `training_data` names every source in the
    card's text (local files included). `decision` is {"reasons": [...]}, shown as is.
    """
    from huggingface_hub import EvalResult, ModelCard, ModelCardData

    evals = []
    for st in suite.tasks:
        task = result["tasks"].get(st.name)
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
                metric_value=round(100.0 * task["score"], 2),
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
        f"| {name} | {t['num_fewshot']} | {t['metric']} | {100 * t['score']:.2f} |"
        for name, t in result["tasks"].items()
    )
    deviations = "\n".join(f"- {d}" for d in result.get("deviations", [])) or "- none"
    content = f"""---
{data.to_yaml()}
---

# {repo_id.split("/")[-1]}

Fine-tuned from [{base_model}](https://huggingface.co/{base_model}) with
[climb](https://github.com/climb-llm/climb) and published as the champion of its registry on the
`{suite.name}` suite (v{suite.version}).

Training data: {", ".join(training_data or datasets) or "not recorded"}.

## Evaluation ({suite.name}, lm-eval {result["lm_eval_version"]}, protocol {result["protocol"]})

| task | shots | metric | score |
|---|---|---|---|
{rows}
| **average** | | | **{result["average"]:.2f}** |

Limit per task: {result.get("limit") or "none (full benchmarks)"}. Data: {result["data_source"]}.
Deviations from the leaderboard's protocol:
{deviations}

## Why this model is the champion

{chr(10).join("- " + r for r in decision.get("reasons", []))}

## Training configuration

```yaml
{redact(config_yaml).strip()}
```
"""
    return ModelCard(content)


def build_repo_folder(
    target: Path, *, weights_dir: Path, card: Any, leaderboard: dict[str, Any], config_yaml: str
) -> str:
    """Write the exact repo contents into `target` (replaced atomically); return its digest."""
    if target.exists():
        shutil.rmtree(target)
    with atomic_dir(target) as tmp:
        for p in weights_dir.iterdir():
            if p.is_file():
                shutil.copy2(p, tmp / p.name)
        card.save(str(tmp / "README.md"))
        (tmp / "results.json").write_text(json.dumps(leaderboard, indent=2, sort_keys=True))
        (tmp / "climb_config.yaml").write_text(redact(config_yaml))
        digest = folder_digest(tmp)
        (tmp / DIGEST_FILE).write_text(digest + "\n")
    return digest


def resolved_mode(cfg: PublishConfig) -> str:
    """Return "push" or "dry-run": what `cfg.mode` means with the environment as it is."""
    if cfg.mode != "auto":
        return cfg.mode
    return "push" if os.environ.get(cfg.token_env) else "dry-run"


def write_outbox(cfg: PublishConfig, folder: Path, digest: str, state: StateDir) -> PublishResult:
    """Copy the exact repo contents to the outbox (replacing an older copy atomically)."""
    outbox = Path(cfg.outbox_dir) if cfg.outbox_dir else state.outbox
    target = outbox / safe_name(cfg.full_repo_id.replace("/", "__"))
    if target.exists():
        shutil.rmtree(target)
    with atomic_dir(target) as tmp:
        shutil.copytree(folder, tmp, dirs_exist_ok=True)
    why = "publish.mode=dry-run" if cfg.mode == "dry-run" else f"no {cfg.token_env} set"
    return PublishResult(
        "outbox",
        str(target),
        digest,
        False,
        f"{why}: wrote what would be pushed to {cfg.full_repo_id} into {target}",
    )


def publish_folder(
    cfg: PublishConfig, folder: Path, digest: str, state: StateDir, endpoint: str | None = None
) -> PublishResult:
    """Push `folder` to the Hub (mode push, or auto with a token), or copy it to the outbox.

    Idempotent: when the repo already holds this digest nothing is uploaded. Transient failures
    are retried `cfg.retries` times; raises PublishError (token-free message) when it fails.
    """
    mode = resolved_mode(cfg)
    if mode == "dry-run":
        return write_outbox(cfg, folder, digest, state)
    token = os.environ.get(cfg.token_env) or None
    if not token:
        raise PublishError(
            f"publish.mode=push needs a Hub token in ${cfg.token_env}; set it "
            "(or a Kubernetes secret mapped to it) or use publish.mode=dry-run"
        )
    from huggingface_hub import HfApi

    api = HfApi(
        token=token,
        endpoint=endpoint or cfg.endpoint or os.environ.get("HF_ENDPOINT"),
        library_name="climb",
    )
    try:
        result = push(
            api,
            cfg.full_repo_id,
            folder,
            digest,
            private=cfg.private,
            retries=cfg.retries,
            backoff_s=cfg.retry_backoff_s,
            token=token,
        )
    except HubError as exc:
        raise PublishError(str(exc).replace(token, "***")) from None
    return PublishResult(
        "push",
        result.url,
        digest,
        result.pushed,
        result.message,
        result.commit,
        result.attempts,
    )
