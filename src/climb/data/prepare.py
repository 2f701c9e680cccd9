"""The data-preparation stage: sources -> normalised examples -> filters, dedup,
decontamination -> tokenised rows (packed or not) -> versioned Parquet + manifest.

Every step streams: rows are read a chunk at a time, worked on by `data.num_proc` processes
(`climb.data.pipeline`), and written a row group at a time in input order (a bounded shuffle
buffer and a few open packing rows aside), so memory does not grow with the input and the dataset
is the same whatever the number of processes; the dedup indices keep ~80 bytes per kept example.
The output folder is named by a key over everything that decides its content (the sources'
content, the data config, the tokenizer and template, the decontamination index), so the same
inputs are never prepared twice - not even on another machine when `data.output.uri` names an S3
prefix; its manifest carries the content digest that MLflow records as the dataset's version.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from climb.config import DataConfig, EvalConfig
from climb.data.parallel import frozen_gc
from climb.data.pipeline import Example, ExampleStream
from climb.data.report import DataReport, ReportBuilder
from climb.data.stream import source_identity
from climb.data.templates import resolve_template
from climb.data.writer import SplitWriter, new_digest
from climb.records import PreparedData
from climb.state import StateDir, atomic_dir, write_json_atomic

log = logging.getLogger(__name__)
FORMAT_VERSION = 3
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "chat_template.jinja",
    "special_tokens_map.json",
    "tokenizer.model",
)


class ContaminationError(ValueError):
    """Contaminated training examples were found and data.decontamination.action is `fail`."""


def tokenizer_digest(model_path: str | Path) -> str:
    """Return a sha256 over the tokenizer / chat-template files of a model folder."""
    h = hashlib.sha256()
    for name in TOKENIZER_FILES:
        p = Path(model_path) / name
        if p.is_file():
            h.update(name.encode() + b"\0" + p.read_bytes())
    return h.hexdigest()


def preparation_key(
    cfg: DataConfig,
    model_path: str | Path,
    eval_cfg: EvalConfig | None = None,
    identities: list[str] | None = None,
) -> str:
    """Return the cache key of a preparation: the sources' content (`identities`, computed when
    not given), the data config (less where the output goes), the tokenizer, the chat template
    and the decontamination index. Where the output goes and how many processes make it are
    not part of it: they do not change the content."""
    decontam = None
    if cfg.decontamination.enabled:
        from climb.data.decontam import index_key, resolve_target

        decontam = index_key(
            resolve_target(cfg.decontamination, eval_cfg or EvalConfig()), cfg.decontamination
        )
    payload = {
        "config": cfg.model_dump(mode="json", exclude={"output", "num_proc"}),
        "sources": identities or [source_identity(s) for s in cfg.sources],
        "tokenizer": tokenizer_digest(model_path),
        "template": resolve_template(cfg.chat_template),
        "decontamination": decontam,
        "format_version": FORMAT_VERSION,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def _shuffled(
    items: Iterable[tuple[str, Example]], size: int, rng: random.Random
) -> Iterator[tuple[str, Example]]:
    """Yield `items` in an order shuffled within a buffer of `size` (0 = unchanged)."""
    buffer: list[tuple[str, Example]] = []
    for item in items:
        if size <= 1:
            yield item
            continue
        buffer.append(item)
        if len(buffer) >= size:
            i = rng.randrange(len(buffer))
            buffer[i], buffer[-1] = buffer[-1], buffer[i]
            yield buffer.pop()
    rng.shuffle(buffer)
    yield from buffer


def _write(cfg: DataConfig, stream: ExampleStream, folder: Path, pad_id: int) -> tuple[str, dict]:
    from climb.data.pack import COLUMNS, RowBuilder

    mode, length = cfg.packing.mode, cfg.packing.length or cfg.max_length
    digest = new_digest()
    builders, writers = {}, {}
    for split in ("train", "eval"):
        builders[split] = RowBuilder(mode, length, pad_id, cfg.packing.stats_batch_size)
        writers[split] = SplitWriter(
            folder, split, COLUMNS[mode], cfg.output.row_group_rows, digest
        )
    for split, ex in _shuffled(stream, cfg.shuffle_buffer, random.Random(cfg.seed + 1)):
        for row in builders[split].add(ex):
            writers[split].write(row)
    for split in builders:
        for row in builders[split].finish():
            writers[split].write(row)
    files = {split: w.close() for split, w in writers.items()}
    stats = {split: b.stats() for split, b in builders.items()}
    total_tokens = sum(s["tokens"] for s in stats.values())
    total_pad = sum(s["padding_tokens"] for s in stats.values())
    packing = {
        "mode": mode,
        "length": length,
        "columns": list(COLUMNS[mode]),
        "rows": sum(s["rows"] for s in stats.values()),
        "padding_tokens": total_pad,
        "padding_ratio": round(total_pad / max(total_tokens + total_pad, 1), 4),
        "splits": stats,
    }
    if mode == "none":
        packing["padding_estimate"] = f"micro-batches of {cfg.packing.stats_batch_size} in order"
    return digest.hexdigest(), {"files": files, "packing": packing}


def _fetch_remote(uri: str, target: Path) -> bool:
    """Download a dataset published under `uri` into `target`; False when none is there."""
    from climb import storage

    loc = storage.parse(uri, "data.output.uri")
    if not storage.exists(loc.join("manifest.json")):
        return False
    with atomic_dir(target) as tmp:
        storage.download_prefix(loc, tmp)
    return True


def _prepare_into(
    target: Path,
    cfg: DataConfig,
    model_path: str | Path,
    state: StateDir,
    eval_cfg: EvalConfig | None,
    key: str,
    identities: list[str],
) -> tuple[str, DataReport]:
    """Prepare the dataset into the folder `target` (atomically); return its content digest
    and its report."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(model_path))
    report = ReportBuilder()
    stream = ExampleStream(cfg, tokenizer, report, state, eval_cfg or EvalConfig())
    with atomic_dir(target) as tmp:
        pad_id = (
            tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        )
        digest, out = _write(cfg, stream, tmp, int(pad_id or 0))
        stream.finish()
        report.packing = out["packing"]
        if not report.examples:
            raise ValueError(
                f"data: no usable rows left from {[s.path for s in cfg.sources]}; "
                f"dropped by reason: {report.skipped}"
            )
        if (
            report.decontamination.get("action") == "fail"
            and report.decontamination["contaminated_examples"]
        ):
            raise ContaminationError(
                f"data: {report.decontamination['contaminated_examples']} training examples "
                f"overlap the suite's benchmarks: {report.decontamination['per_benchmark']}; "
                f"first: {report.decontamination['examples'][:3]}"
            )
        frozen = report.freeze()
        write_json_atomic(
            tmp / "manifest.json",
            {
                "digest": digest,
                "key": key,
                "report": frozen.model_dump(mode="json"),
                "files": out["files"],
                "splits": {k: v["rows"] for k, v in out["files"].items() if v["rows"]},
                "sources": [
                    {**s.model_dump(mode="json"), "identity": i}
                    for s, i in zip(cfg.sources, identities, strict=True)
                ],
                "tokenizer": str(model_path),
                "format_version": FORMAT_VERSION,
            },
        )
    log.info(
        "data: %d examples, %d tokens, dropped %s", report.examples, report.tokens, report.skipped
    )
    return digest, frozen


def prepare_data(
    cfg: DataConfig, model_path: str | Path, state: StateDir, eval_cfg: EvalConfig | None = None
) -> PreparedData:
    """Prepare the training data for `model_path`'s tokenizer; reuse an identical earlier run
    (in the state folder, else under data.output.uri on S3).

    `eval_cfg` names the suite and benchmark data that decontamination checks against by default
    (None = EvalConfig() defaults). Returns the dataset folder (train.parquet, optional
    eval.parquet, manifest.json), its content digest and the report. Raises SourceError when a
    source cannot be read, ContaminationError when decontamination.action is `fail` and an
    example overlaps the suite, ValueError when no usable row is left.
    """
    start = time.perf_counter()
    identities = [source_identity(s) for s in cfg.sources]
    key = preparation_key(cfg, model_path, eval_cfg, identities)
    target = state.datasets / key[:16]
    remote = f"{cfg.output.uri.rstrip('/')}/{key[:16]}" if cfg.output.uri else ""
    manifest_path = target / "manifest.json"
    if manifest_path.is_file() or (remote and _fetch_remote(remote, target)):
        manifest = json.loads(manifest_path.read_text())
        log.info("data: reusing prepared dataset %s", remote or target)
        return PreparedData(
            path=str(target),
            digest=manifest["digest"],
            key=key,
            cached=True,
            report=DataReport.model_validate(manifest["report"]),
            seconds=time.perf_counter() - start,
            uri=remote,
        )

    with frozen_gc():
        digest, report = _prepare_into(target, cfg, model_path, state, eval_cfg, key, identities)
    if remote:
        from climb import storage

        storage.upload_dir(
            target, storage.parse(remote, "data.output.uri"), last=("manifest.json",)
        )
    return PreparedData(
        path=str(target),
        digest=digest,
        key=key,
        cached=False,
        report=report,
        seconds=time.perf_counter() - start,
        uri=remote,
    )
