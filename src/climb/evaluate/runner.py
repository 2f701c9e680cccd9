"""Running a suite on one model with lm-eval, with the result cache in front.

The model is loaded once (a LoRA adapter is merged into its base in memory, so an adapter
evaluates as fast as a plain model) and handed to lm-eval, wrapped in climb's PrefixCacheLM (an
HFLM that computes each context and shared few-shot prefix once; `eval.backend: hf` selects
lm-eval's HFLM unchanged); climb's tasks and the suite's shots, metrics and limit decide the
rest.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from pathlib import Path
from typing import Any

from climb.config import EvalConfig
from climb.evaluate.cache import cache_get, cache_key, cache_put
from climb.evaluate.documents import suite_documents
from climb.evaluate.results import write_outputs
from climb.evaluate.scoring import score_suite
from climb.evaluate.suites import load_suite
from climb.evaluate.tasks import SuitePlan, plan_suite
from climb.records import DocResult, EvalResult, ModelInfo, ModelRef
from climb.resources import smoke_benchmarks_dir
from climb.state import StateDir

log = logging.getLogger(__name__)


def data_source(cfg: EvalConfig) -> tuple[Path | None, str]:
    """Return (mirror folder or None for the Hub, a label for results)."""
    if cfg.data_dir is None:
        return smoke_benchmarks_dir(), "smoke"
    if cfg.data_dir == "hub":
        return None, "hub"
    path = Path(cfg.data_dir).expanduser().resolve()
    if not path.is_dir():
        raise FileNotFoundError(
            f"eval.data_dir: {cfg.data_dir} is not a folder; give a "
            "benchmark mirror (e.g. ../shared/benchmarks) or `hub`"
        )
    return path, f"mirror:{path}"


def data_identity(folder: Path | None) -> str:
    """Return a digest of a mirror's JSONL files (names and bytes); `hub` for the Hub."""
    if folder is None:
        return "hub"
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*.jsonl")):
        h.update(str(p.relative_to(folder)).encode())
        h.update(hashlib.sha256(p.read_bytes()).digest())
    return h.hexdigest()


def _device(requested: str) -> str:
    import torch

    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return requested


def load_for_eval(ref: ModelRef, device: str) -> tuple[Any, Any]:
    """Load model (+ merged adapter) and tokenizer; fp32 on CPU, bf16 on GPU."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    model: Any = AutoModelForCausalLM.from_pretrained(ref.path, dtype=dtype)
    if ref.adapter_path:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, ref.adapter_path).merge_and_unload()
    tokenizer = AutoTokenizer.from_pretrained(ref.adapter_path or ref.path)
    model.to(device).eval()
    return model, tokenizer


class EvalCacheMiss(RuntimeError):
    """A result expected in the shared evaluation cache is not there."""


def evaluation_key(ref: ModelRef, cfg: EvalConfig) -> str:
    """Return the evaluation cache key of `ref` measured the way `cfg` measures (the model's
    weights digest, suite and version, protocol, lm-eval version, limit, data identity)."""
    import lm_eval

    suite = load_suite(cfg.suite)
    folder, _ = data_source(cfg)
    return cache_key(
        model_digest=ref.digest,
        suite=suite.name,
        suite_version=suite.version,
        protocol=cfg.protocol,
        lm_eval_version=lm_eval.__version__,
        limit=cfg.limit,
        data=data_identity(folder),
        include_optional=cfg.include_optional,
    )


def cached_result(ref: ModelRef, cfg: EvalConfig, state: StateDir) -> EvalResult | None:
    """Return the cached EvalResult of `ref` under `cfg`, or None (never evaluated this way, or
    cached in an older format, which is logged and not read)."""
    start = time.perf_counter()
    key = evaluation_key(ref, cfg)
    hit = cache_get(state.eval_cache, key)
    if hit is None:
        return None
    log.info("eval: cache hit for %s on %s (%s)", ref.name, hit.suite, key[:12])
    return hit.model_copy(
        update={"cached": True, "evaluated_documents": 0, "seconds": time.perf_counter() - start}
    )


def evaluate_model(
    ref: ModelRef,
    cfg: EvalConfig,
    state: StateDir,
    out_dir: Path,
    use_cache: bool = True,
    cache_only: bool = False,
    grow_from: EvalResult | None = None,
) -> EvalResult:
    """Evaluate `ref` on the configured suite; return its EvalResult.

    The result holds per-task scores (0..1) with stderr and document counts, every scored
    document, the suite average (suite scale), the data source, protocol deviations, timings
    and whether it came from the cache. lm-eval's own output, per-sample logs and the
    leaderboard-style results JSON are written to `out_dir`. With `cache_only` (the model was
    evaluated elsewhere) a cache miss raises EvalCacheMiss. With `grow_from` (the same model
    measured the same way at a smaller limit) only the documents it lacks are scored, and the
    two are merged into the result of the whole limit (climb.evaluate.grow).
    """
    import lm_eval

    start = time.perf_counter()
    suite = load_suite(cfg.suite)
    folder, source = data_source(cfg)
    key = evaluation_key(ref, cfg)
    if use_cache and (hit := cached_result(ref, cfg, state)) is not None:
        return hit
    if cache_only:
        raise EvalCacheMiss(
            f"no cached result for {ref.name} on {suite.name} (key {key[:12]}) in "
            f"{state.eval_cache}: the remote evaluation must write to the same state_dir "
            "(the shared volume) with the same suite, protocol, limit, data and lm-eval version"
        )
    if grow_from is not None and grow_from.model.digest != ref.digest:
        raise ValueError(f"grow_from belongs to {grow_from.model.digest[:12]}, not {ref.name}")

    plan = plan_suite(suite, folder, cfg.include_optional, protocol=cfg.protocol)
    if source == "smoke":
        plan.deviations.append(
            "benchmark data: climb's bundled smoke set, not the real "
            "benchmarks (set eval.data_dir to a mirror or `hub`)"
        )
    if cfg.backend == "vllm":
        lm, dtype = make_vllm_lm(ref, cfg), "bfloat16"
    else:
        device = _device(cfg.device)
        model, tokenizer = load_for_eval(ref, device)
        lm, dtype = make_lm(model, tokenizer, cfg, device), str(model.dtype).replace("torch.", "")
    if grow_from is None:
        out = evaluate_with(lm, list(plan.tasks().values()), cfg)
        tasks, average = score_suite(suite, plan.leaves, out)
        documents = suite_documents(suite, plan.leaves, out.get("samples") or {})
        evaluated = sum(len(d) for d in documents.values())
    else:
        out, documents, evaluated = _grow(lm, plan, suite, cfg, grow_from)
        from climb.evaluate.grow import rescore

        tasks, average = rescore(suite, plan.leaves, documents)
    result = EvalResult(
        model=ModelInfo(name=ref.name, digest=ref.digest, dtype=dtype),
        suite=suite.name,
        suite_version=suite.version,
        protocol=cfg.protocol,
        lm_eval_version=lm_eval.__version__,
        limit=cfg.limit,
        data_source=source,
        include_optional=cfg.include_optional,
        scale=suite.scale,
        tasks=tasks,
        average=average,
        deviations=plan.deviations,
        documents=documents,
        protocol_notes=plan.notes,
        cache_key=key,
        evaluated_documents=evaluated,
        compute_seconds=time.perf_counter() - start,
    )
    write_outputs(out_dir, result, out)
    cache_put(state.eval_cache, key, result)
    return result.model_copy(update={"seconds": time.perf_counter() - start})


def _grow(
    lm: Any, plan: SuitePlan, suite: Any, cfg: EvalConfig, grow_from: EvalResult
) -> tuple[dict[str, Any], dict[str, list[DocResult]], int]:
    """Score only the documents `grow_from` lacks at `cfg.limit`; return lm-eval's output of
    that run, the merged documents of every leaf, and how many documents were scored now."""
    from climb.evaluate.documents import leaf_documents
    from climb.evaluate.grow import merge, select_more

    objects = plan.tasks()
    more = select_more(objects, grow_from.documents, cfg.limit)
    out: dict[str, Any] = {}
    if more:
        out = evaluate_with(lm, [objects[k] for k in more], cfg, samples=more)
    samples = out.get("samples") or {}
    by_leaf = {st.name: st for st in suite.tasks}
    documents, evaluated = {}, 0
    for name, leaves in plan.leaves.items():
        st = by_leaf[name]
        for leaf in leaves:
            new = (
                leaf_documents(samples[leaf], st.metrics(), st.filter, leaf) if leaf in more else []
            )
            evaluated += len(new)
            documents[leaf] = merge(grow_from.documents.get(leaf, []), new)
    return out, documents, evaluated


def make_lm(model: Any, tokenizer: Any, cfg: EvalConfig, device: str) -> Any:
    """Return the lm-eval LM for `cfg.backend` around a loaded model: climb's PrefixCacheLM
    (`climb-hf`, each context and shared prefix computed once) or lm-eval's HFLM (`hf`)."""
    from lm_eval.models.huggingface import HFLM

    if cfg.backend == "vllm":
        raise ValueError("eval.backend=vllm loads the weights itself: use make_vllm_lm(ref, cfg)")
    cls: Any = HFLM
    if cfg.backend == "climb-hf":
        from climb.evaluate.fastlm import PrefixCacheLM

        cls = PrefixCacheLM
    return cls(pretrained=model, tokenizer=tokenizer, batch_size=cfg.batch_size, device=device)


# vLLM serves LoRA adapters up to a rank chosen at start-up, from this list.
_VLLM_LORA_RANKS = (8, 16, 32, 64, 128, 256, 320, 512)


def vllm_model_args(ref: ModelRef, cfg: EvalConfig) -> dict[str, Any]:
    """Return the keyword arguments of lm-eval's VLLM model for `ref` under `cfg.vllm`: the base
    weights, bf16, the parallelism and memory settings, and a LoRA adapter (with the smallest
    vLLM rank bucket that holds its rank) when `ref` has one."""
    args: dict[str, Any] = {
        "pretrained": ref.path,
        "tokenizer": ref.adapter_path or ref.path,
        "dtype": "bfloat16",
        "batch_size": "auto",
        "tensor_parallel_size": cfg.vllm.tensor_parallel_size,
        "gpu_memory_utilization": cfg.vllm.gpu_memory_utilization,
        "seed": 1234,
    }
    if cfg.vllm.max_model_len:
        args["max_model_len"] = cfg.vllm.max_model_len
    if ref.adapter_path:
        adapter = json.loads((Path(ref.adapter_path) / "adapter_config.json").read_text())
        rank = int(adapter.get("r", 16))
        args["lora_local_path"] = ref.adapter_path
        args["max_lora_rank"] = next((r for r in _VLLM_LORA_RANKS if r >= rank), rank)
    return args


def make_vllm_lm(ref: ModelRef, cfg: EvalConfig) -> Any:
    """Return lm-eval's VLLM model for `ref`; raise RuntimeError naming eval.backend when this
    machine cannot run vLLM (package missing, no CUDA GPU)."""
    from climb.preflight import vllm_problems

    problems = vllm_problems()
    if problems:
        raise RuntimeError("; ".join(problems))
    from lm_eval.models.vllm_causallms import VLLM

    return VLLM(**vllm_model_args(ref, cfg))


def run_lm_eval(
    model: Any, tokenizer: Any, tasks: list[Any], cfg: EvalConfig, device: str
) -> dict[str, Any]:
    """Run lm-eval on tasks with the LM of `cfg.backend` around a loaded model.

    Takes the model and tokenizer, the tasks (lm-eval Task objects, e.g. a suite plan's
    `tasks()`), the eval config (backend, batch size, limit) and the device; returns lm-eval's
    output as plain JSON data (results, n-samples, configs, per-sample logs).
    """
    return evaluate_with(make_lm(model, tokenizer, cfg, device), tasks, cfg)


def evaluate_with(
    lm: Any,
    tasks: list[Any],
    cfg: EvalConfig,
    samples: dict[str, list[int]] | None = None,
    manager: Any = None,
) -> dict[str, Any]:
    """Run lm-eval's simple_evaluate with a ready LM on Task objects (or task specs `manager`,
    an lm-eval TaskManager, can load): the first `cfg.limit` documents of each, or exactly the
    document indices in `samples`. Returns lm-eval's output as plain JSON data."""
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    out = simple_evaluate(
        model=lm,
        tasks=tasks,
        limit=None if samples is not None else cfg.limit,
        samples=samples,
        log_samples=True,
        task_manager=manager or TaskManager(include_defaults=False),
        bootstrap_iters=1000,
    )
    if out is None:
        raise RuntimeError("lm-eval returned no results")
    return json.loads(json.dumps(out, default=str))
