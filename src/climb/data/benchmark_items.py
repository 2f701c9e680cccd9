"""Every benchmark item (question and answers) of a suite's tasks, read through the same lm-eval
task configs and benchmark mirror that evaluation uses (`climb.evaluate.tasks.plan_suite`), so
the data checked for contamination is the data scored.

Documents are each lm-eval task's `eval_docs` (test split, else validation, after the task's
`process_docs`; the plan's Task objects, built by lm-eval's TaskManager); texts are rendered with
the task's `doc_to_decontamination_query` (when the task declares `should_decontaminate`) or
`doc_to_text`, `doc_to_choice` and `doc_to_target`, with lm-eval's rules for fields, Jinja
templates and functions. Templates are compiled once per task rather than per document (lm-eval
recompiles them), which is what makes this fast.
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


def iter_items(suite: Suite, data_dir: Path | None) -> Iterator[BenchmarkItem]:
    """Yield every evaluation item of `suite`'s tasks (`data_dir`: mirror folder; None = Hub).

    Segments per item: the query, the query followed by each gold answer, and every choice.
    """
    import datasets

    plan = plan_suite(suite, data_dir)
    bench_of = {leaf: name for name, leaves in plan.leaves.items() for leaf in leaves}
    render = _Renderer()
    datasets.disable_progress_bars()
    for name, task in plan.tasks().items():
        cfg = task.config.to_dict(keep_callable=True)
        for i, doc in enumerate(task.eval_docs):
            query = render.query(cfg, doc)
            choices = render.choices(cfg, doc)
            golds = render.golds(cfg, doc, choices)
            segments = (query, *(f"{query} {g}" for g in golds), *choices)
            yield BenchmarkItem(bench_of[name], name, i, segments)
