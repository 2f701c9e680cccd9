"""Writing a benchmark mirror for an air-gapped cluster: every dataset a suite's tasks read,
loaded with `datasets.load_dataset` (from the Hub, where it can be reached), written as JSONL in
the Hub schema, with a mirror.yaml layout and SHA256SUMS beside the files; and moving such a
folder to and from S3 (climb.storage).

Layout of an exported mirror:

    DIR/mirror.yaml                      Hub path -> dataset name -> {files: {split: file}}
    DIR/SHA256SUMS                       sha256 and path of every JSONL file
    DIR/<owner>__<dataset>/<name>/<split>.jsonl

`eval.data_dir: DIR` then reads it (climb's own layout, config/tasks/mirror.yaml, covers the
datasets the folder does not).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from climb import storage
from climb.evaluate.mirror import LAYOUT_FILE, MirrorError
from climb.evaluate.suites import Suite
from climb.state import file_sha256

SUMS_FILE = "SHA256SUMS"
Loader = Callable[..., Any]


@dataclass
class DatasetSpec:
    """One Hub dataset (path, name) and the splits the suite's tasks read from it."""

    path: str
    name: str | None
    splits: set[str] = field(default_factory=set)
    kwargs: dict[str, Any] = field(default_factory=dict)


def suite_datasets(suite: Suite, include_optional: bool = False) -> list[DatasetSpec]:
    """Return the datasets (and splits) the suite's leaf tasks read, in first-use order."""
    from climb.evaluate.tasks import plan_suite

    specs: dict[tuple[str, str | None], DatasetSpec] = {}
    plan = plan_suite(suite, None, include_optional)
    for leaf in plan.overrides:
        cfg = plan.config(leaf)
        path = cfg.get("dataset_path")
        if not path:
            raise MirrorError(f"task {cfg.get('task')}: no dataset_path, nothing to export")
        name = cfg.get("dataset_name")
        spec = specs.setdefault((path, name), DatasetSpec(path, name))
        spec.kwargs = dict(cfg.get("dataset_kwargs") or {})
        fewshot = (cfg.get("fewshot_config") or {}).get("split")
        for key in ("test_split", "validation_split", "training_split", "fewshot_split"):
            if cfg.get(key):
                spec.splits.add(cfg[key])
        if fewshot:
            spec.splits.add(fewshot)
    return list(specs.values())


def dataset_folder(path: str, name: str | None) -> str:
    """Return the mirror-relative folder of one dataset (owner/ds + name -> owner__ds/name)."""
    return f"{path.replace('/', '__')}/{name or 'default'}"


def write_splits(dataset: Any, spec: DatasetSpec, out_dir: Path) -> dict[str, str]:
    """Write the wanted splits of a loaded DatasetDict as JSONL; return {split: relative file}.

    Splits the dataset lacks are left out (the eval then reports the missing split by name).
    """
    files = {}
    for split in sorted(spec.splits):
        if split not in dataset:
            continue
        rel = f"{dataset_folder(spec.path, spec.name)}/{split}.jsonl"
        write_jsonl(dataset[split], out_dir / rel)
        files[split] = rel
    return files


def write_jsonl(rows: Iterable[dict[str, Any]], target: Path) -> int:
    """Write rows as JSONL (one object a line, UTF-8, through a `.part` file); return the count."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".jsonl.part")
    n = 0
    with tmp.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
            n += 1
    tmp.replace(target)
    return n


def export_mirror(
    suite: Suite, out_dir: Path, load: Loader | None = None, include_optional: bool = False
) -> dict[str, Any]:
    """Write every dataset `suite` reads into `out_dir`; return the layout written.

    `load(path, name, **dataset_kwargs)` returns a DatasetDict: `datasets.load_dataset` by
    default (the Hub); tests pass a loader over local files. mirror.yaml and SHA256SUMS in
    `out_dir` are merged with what is already there.
    """
    if load is None:
        import datasets

        load = datasets.load_dataset
    out_dir.mkdir(parents=True, exist_ok=True)
    layout_path = out_dir / LAYOUT_FILE
    layout: dict[str, Any] = {}
    if layout_path.is_file():
        layout = yaml.safe_load(layout_path.read_text()) or {}
    for spec in suite_datasets(suite, include_optional):
        files = write_splits(load(spec.path, spec.name, **spec.kwargs), spec, out_dir)
        if not files:
            raise MirrorError(f"{spec.path} ({spec.name}): none of {sorted(spec.splits)} loaded")
        layout.setdefault(spec.path, {})["null" if spec.name is None else spec.name] = {
            "files": files
        }
    layout_path.write_text(yaml.safe_dump(layout, sort_keys=True))
    write_sums(out_dir)
    return layout


def write_sums(folder: Path) -> Path:
    """Write SHA256SUMS (sha256sum format) over every JSONL file under `folder`."""
    lines = [
        f"{file_sha256(p)}  {p.relative_to(folder).as_posix()}"
        for p in sorted(folder.rglob("*.jsonl"))
    ]
    path = folder / SUMS_FILE
    path.write_text("\n".join(lines) + "\n")
    return path


def verify_sums(folder: Path) -> None:
    """Check every file SHA256SUMS lists; raise MirrorError naming the first bad one."""
    sums = folder / SUMS_FILE
    if not sums.is_file():
        raise MirrorError(f"{folder}: no {SUMS_FILE}; not an exported mirror")
    for line in sums.read_text().splitlines():
        digest, rel = line.split(maxsplit=1)
        path = folder / rel
        if not path.is_file() or file_sha256(path) != digest:
            raise MirrorError(f"{path}: missing or its sha256 does not match {SUMS_FILE}")


def upload_mirror(folder: Path, uri: str, s3: Any = None) -> list[str]:
    """Upload a mirror folder (mirror.yaml, JSONL files, then SHA256SUMS) under an s3:// prefix;
    return the URIs written. The folder is checked against its SHA256SUMS first."""
    verify_sums(folder)
    return storage.upload_dir(folder, storage.parse(uri, "mirror target"), (SUMS_FILE,), s3)


def download_mirror(uri: str, folder: Path, s3: Any = None) -> list[Path]:
    """Download every object under an s3:// prefix into `folder` and check SHA256SUMS; return
    the files written. A key that would land outside `folder` is refused before any write."""
    try:
        written = storage.download_prefix(storage.parse(uri, "mirror source"), folder, s3=s3)
    except storage.StorageError as exc:
        raise MirrorError(str(exc)) from exc
    if not written:
        raise MirrorError(f"nothing under {uri}")
    verify_sums(folder)
    return written
