"""Every benchmark item (question and answers) of a suite's tasks, read through the same lm-eval
task configs and benchmark mirror that evaluation uses (`climb.evaluate.tasks.plan_suite`), so
the data checked for contamination is the data scored.

Documents come from each task's evaluation split (test, else validation) through the task's own
loader (the mirror's `custom_dataset` hook, or `datasets.load_dataset` for the Hub) and its
`process_docs`; texts are rendered with the task's `doc_to_decontamination_query` (when the task
declares `should_decontaminate`) or `doc_to_text`, `doc_to_choice` and `doc_to_target`, with
lm-eval's rules for fields, Jinja templates and functions. Templates are compiled once per task
rather than per document (lm-eval recompiles them), which is what makes this fast.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from climb.evaluate.suites import Suite
from climb.evaluate.tasks import plan_suite


@dataclass(frozen=True)
class BenchmarkItem:
    """One evaluation document: which benchmark and task, its index, and the texts to match."""

    benchmark: str
    task: str
    doc: int
    segments: tuple[str, ...]


class _Renderer:
    """lm-eval's doc_to_* semantics with compiled templates cached by source text."""

    def __init__(self) -> None:
        from lm_eval.utils import env

        self.env = env
        self.cache: dict[str, Any] = {}

    def apply(self, spec: Any, doc: dict[str, Any]) -> Any:
        if spec is None or isinstance(spec, int | list | dict):
            return spec
        if callable(spec):
            return spec(doc)
        if spec in doc:
            return doc[spec]
        template = self.cache.get(spec)
        if template is None:
            template = self.cache[spec] = self.env.from_string(spec)
        return template.render(**doc)

    def choices(self, cfg: dict[str, Any], doc: dict[str, Any]) -> list[str]:
        value = self.apply(cfg.get("doc_to_choice"), doc)
        if isinstance(value, str):
            value = ast.literal_eval(value)
        if isinstance(value, dict):
            value = list(value.values())
        return [str(v) for v in value or []]

    def golds(self, cfg: dict[str, Any], doc: dict[str, Any], choices: list[str]) -> list[str]:
        value = self.apply(cfg.get("doc_to_target"), doc)
        if isinstance(value, str) and value.strip().isdigit() and choices:
            value = int(value)
        values = value if isinstance(value, list) else [value]
        out = []
        for v in values:
            if isinstance(v, int) and choices and 0 <= v < len(choices):
                out.append(choices[v])
            elif isinstance(v, str):
                out.append(v)
        return out

    def query(self, cfg: dict[str, Any], doc: dict[str, Any]) -> str:
        spec = cfg.get("doc_to_decontamination_query") if cfg.get("should_decontaminate") else None
        return str(self.apply(spec if spec is not None else cfg.get("doc_to_text"), doc))


def eval_docs(cfg: dict[str, Any]) -> Any:
    """Return the evaluation documents of one resolved lm-eval task config (test split, else
    validation), loaded and processed as lm-eval loads them."""
    split = cfg.get("test_split") or cfg.get("validation_split")
    kwargs = dict(cfg.get("dataset_kwargs") or {})
    loader = cfg.get("custom_dataset")
    if isinstance(kwargs.get("mirror_files"), dict):  # the mirror hook: read the one split used
        kwargs["mirror_files"] = {split: kwargs["mirror_files"][split]}
    if callable(loader):
        docs = loader(**(cfg.get("metadata") or {}), **kwargs)[split]
    else:
        import datasets

        kwargs.pop("trust_remote_code", None)
        docs = datasets.load_dataset(
            cfg["dataset_path"], cfg.get("dataset_name"), split=split, **kwargs
        )
    process = cfg.get("process_docs")
    docs = process(docs) if callable(process) else docs
    return docs.to_list() if hasattr(docs, "to_list") else docs


def iter_items(suite: Suite, data_dir: Path | None) -> Iterator[BenchmarkItem]:
    """Yield every evaluation item of `suite`'s tasks (`data_dir`: mirror folder; None = Hub).

    Segments per item: the query, the query followed by each gold answer, and every choice.
    """
    import datasets

    plan = plan_suite(suite, data_dir)
    bench_of = {leaf: name for name, leaves in plan.leaves.items() for leaf in leaves}
    render = _Renderer()
    datasets.disable_progress_bars()
    for cfg in plan.configs:
        for i, doc in enumerate(eval_docs(cfg)):
            query = render.query(cfg, doc)
            choices = render.choices(cfg, doc)
            golds = render.golds(cfg, doc, choices)
            segments = (query, *(f"{query} {g}" for g in golds), *choices)
            yield BenchmarkItem(bench_of[cfg["task"]], cfg["task"], i, segments)
