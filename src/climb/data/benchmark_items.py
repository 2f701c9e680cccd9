"""Every benchmark item of a suite, as the documents' own content: what a leak copies is the
question, its choices and its answer, whatever prompt template the harness wraps around them.

The documents are read through the same lm-eval task configs and benchmark mirror that
evaluation uses (`climb.evaluate.tasks.plan_suite`), turned into task objects by lm-eval's public
`TaskManager.load` (climb's TaskManager, as evaluation uses); each task's `eval_docs` (test split,
else validation, after the task's `process_docs`), `doc_to_choice`, `doc_to_target` and
`doc_to_text` give the documents, their choices, the gold answer and the prompt. An item's
segments are:

- every string in the document (question, context, passage, every choice, the processed fields
  such as HellaSwag's `query`): the content of the benchmark, whatever the task calls it;
- the choices and the gold answer(s) as the task defines them; where the task's choices are bare
  labels (MMLU's "A".."D"), the document's list of the same length holds their texts, or its
  fields named by the labels (KMMLU's `A`..`D`);
- each content string (3 words or more; `is_content`) followed by each gold answer, so a leak
  that writes a short question and its answer back to back is found by the n-grams across the
  junction;
- the prompt as the task renders it, alone and followed by the gold choice (as a few-shot example
  reads), for leaks that copy the harness's own format (MMLU's lettered options).

Short strings (metadata such as ids, labels, split names) are in the segments too; n-gram
matching ignores whatever is shorter than `decontamination.min_words`, and n-grams that many items
share (template words) are dropped when the index is built.

Items are rendered by lm-eval's own task objects, unpatched: reading the Korean suite's 39,591
documents takes about a minute here, once per index (the index is cached).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from climb.data.textnorm import is_hangul, match_text, words
from climb.evaluate.suites import Suite
from climb.evaluate.tasks import plan_suite


@dataclass(frozen=True)
class BenchmarkItem:
    """One evaluation document: its benchmark and task, its index, its text (for reports), the
    segments to match, and its questions and answers (for short questions, `climb.data.shortqa`)."""

    benchmark: str
    task: str
    doc: int
    text: str
    segments: tuple[str, ...]
    questions: tuple[str, ...] = ()  # the content strings that are not answers
    answers: tuple[str, ...] = ()  # the choices' texts and the gold answer(s)


def string_leaves(value: Any) -> list[str]:
    """Return every non-empty string inside `value` (dict values and list items, recursively),
    stripped, in document order."""
    if isinstance(value, str):
        return [value.strip()] if value.strip() else []
    if isinstance(value, dict):
        return [s for v in value.values() for s in string_leaves(v)]
    if isinstance(value, list | tuple):
        return [s for v in value for s in string_leaves(v)]
    return []


def _choice_texts(doc: dict[str, Any], choices: list[str]) -> list[str]:
    """Return the choices' texts: `choices` itself, or, when they are bare labels ("A", "1"),
    the document's list of strings of the same length, else its fields named by the labels."""
    if not choices or not all(len(c) <= 3 and len(c.split()) == 1 for c in choices):
        return choices
    for value in doc.values():
        if (
            isinstance(value, list)
            and len(value) == len(choices)
            and all(isinstance(v, str) for v in value)
        ):
            return [v.strip() for v in value]
    if all(isinstance(doc.get(c), str | int | float) for c in choices):
        return [str(doc[c]).strip() for c in choices]
    return choices


def is_content(text: str) -> bool:
    """Return True for a text long enough to be content rather than metadata (an id, a label,
    a split name): 3 words or more, or 3 Hangul syllables or more once its particles are left
    out (a two-word Korean sentence such as "살이 탔다." is a whole clause)."""
    if len(text.split()) >= 3:
        return True
    units = words(match_text(text))
    return is_hangul(units) and len(units) >= 3


def _golds(target: Any, choices: list[str]) -> list[str]:
    """Return the gold answer texts of a `doc_to_target` value (an index into `choices`, a
    string, or a list of either)."""
    out = []
    for t in target if isinstance(target, list) else [target]:
        if isinstance(t, int) and not isinstance(t, bool) and 0 <= t < len(choices):
            out.append(choices[t])
        elif isinstance(t, str) and t.strip():
            out.append(t.strip())
    return out


def item_texts(
    doc: dict[str, Any], choices: list[str], target: Any, prompt: str = ""
) -> tuple[str, tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """Return (report text, segments, questions, answers) of one document given the task's
    choices, target and rendered prompt (see the module docstring)."""
    raw = [str(c).strip() for c in choices]
    texts = _choice_texts(doc, raw)
    golds = _golds(target, texts)
    leaves = string_leaves(doc)
    chosen = set(texts) | set(golds)
    content = [s for s in leaves if s not in chosen and is_content(s)]
    joined = [f"{c} {g}" for c in content for g in golds]
    shots = [f"{prompt} {g}" for g in _golds(target, raw)] if prompt else []
    segments = tuple(
        s for s in dict.fromkeys([*leaves, *texts, *golds, *joined, prompt, *shots]) if s
    )
    shown = max(content, key=len) if content else (texts[0] if texts else prompt)
    answers = tuple(dict.fromkeys([*texts, *golds]))
    return shown, segments, tuple(dict.fromkeys(content)), answers


@contextmanager
def _quiet() -> Iterator[None]:
    """Silence lm-eval's per-task warnings and datasets' progress bars while loading."""
    import datasets

    log = logging.getLogger("lm_eval")
    level, bars = log.level, datasets.is_progress_bar_enabled()
    log.setLevel(logging.ERROR)
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        log.setLevel(level)
        if bars:
            datasets.enable_progress_bars()


def iter_items(suite: Suite, data_dir: Path | None) -> Iterator[BenchmarkItem]:
    """Yield every evaluation item of `suite`'s tasks (`data_dir`: mirror folder; None = Hub),
    with the segments described in the module docstring, task by task in the plan's order."""
    plan = plan_suite(suite, data_dir)
    bench_of = {leaf: name for name, leaves in plan.leaves.items() for leaf in leaves}
    with _quiet():
        for name, task in plan.tasks().items():
            has_choices = task.config.doc_to_choice is not None
            for i, doc in enumerate(task.eval_docs):
                choices = list(task.doc_to_choice(doc)) if has_choices else []
                prompt = task.doc_to_text(doc)
                text, segments, questions, answers = item_texts(
                    doc,
                    choices,
                    task.doc_to_target(doc),
                    prompt if isinstance(prompt, str) else "",
                )
                yield BenchmarkItem(bench_of[name], name, i, text, segments, questions, answers)
