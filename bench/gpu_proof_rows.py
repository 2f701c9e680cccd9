"""The rows of `make gpu-proof` (bench/gpu_proof.py): each runs in its own process, writes one
JSON record to `<work>/<row>.json`, and lets any exception through (the driver prints its cause).

    python bench/gpu_proof_rows.py setup WORK [--dry-run]      # tokenizer, model, packed data
    python bench/gpu_proof_rows.py baseline-default WORK       # ../shared/bench, HF Trainer+PEFT
    python bench/gpu_proof_rows.py baseline-liger WORK         # naive packing + Liger
    python bench/gpu_proof_rows.py eval-hf WORK [--dry-run]    # climb-hf and lm-eval HFLM
    python bench/gpu_proof_rows.py eval-vllm WORK              # lm-eval's vLLM model

Nothing is downloaded: the model is a random-init Llama-3.2-1B shape (a tiny one with --dry-run),
its tokenizer a byte-level BPE trained here on climb's bundled smoke benchmark texts, the
training rows instruction-like lengths in climb's packed layout, the evaluation documents the
bundled smoke benchmark set. Training rows run climb's own entry point under torchrun; the
driver launches those itself.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

WARM = 5  # the baselines' warm-up steps
FULL = {  # Llama-3.2-1B's shape (the baselines' config); 131072 positions as the real model
    "hidden_size": 2048,
    "intermediate_size": 8192,
    "num_hidden_layers": 16,
    "num_attention_heads": 32,
    "num_key_value_heads": 8,
    "vocab_size": 128256,
    "max_position_embeddings": 131072,
    "tie_word_embeddings": True,
    "rope_theta": 500000.0,
}
TINY = {**FULL, "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2}
TINY.update(num_attention_heads=4, num_key_value_heads=2, vocab_size=1024)
SHAPES = {  # row tokens, rows, tokenizer vocabulary
    False: {"row_tokens": 16384, "rows": 64, "vocab": 16000},
    True: {"row_tokens": 256, "rows": 40, "vocab": 1000},
}


def write_json(path: Path, record: dict[str, Any]) -> None:
    """Write one row's record (atomically: a half-written file never reads as a result)."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=2, default=str))
    os.replace(tmp, path)


def smoke_texts() -> list[str]:
    """Every string value of climb's bundled smoke benchmark set (the tokenizer's corpus)."""
    from climb.resources import smoke_benchmarks_dir

    out: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, str):
            out.append(value)
        elif isinstance(value, dict):
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    for path in sorted(smoke_benchmarks_dir().rglob("*.jsonl")):
        for line in path.read_text().splitlines():
            walk(json.loads(line))
    return out


def build_tokenizer(vocab: int) -> Any:
    """A byte-level BPE trained on the smoke benchmark texts, with <s>, </s> and <pad>."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab,
        special_tokens=["<pad>", "<s>", "</s>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(smoke_texts(), trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>"
    )


def lengths(n: int, cap: int) -> list[int]:
    """Instruction-like lengths as the baselines draw them (log-normal, median ~300, 32..2048;
    same generator seed), capped at `cap`."""
    import torch

    g = torch.Generator().manual_seed(1)
    raw = torch.exp(torch.randn(n, generator=g) * 0.8 + math.log(300)).clamp(32, 2048)
    return [min(int(x), cap) for x in raw.long().tolist()]


def packed_dataset(folder: Path, row_tokens: int, rows: int, vocab: int) -> None:
    """Write train.parquet in climb's packed layout (whole examples per row, position ids
    restarting per example, so no example attends to another)."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    import torch

    ids_col: list[list[int]] = []
    pos_col: list[list[int]] = []
    cur_ids: list[int] = []
    cur_pos: list[int] = []
    for i, n in enumerate(lengths(rows * 200, row_tokens)):
        if len(ids_col) >= rows:
            break
        if cur_ids and len(cur_ids) + n > row_tokens:
            ids_col.append(cur_ids)
            pos_col.append(cur_pos)
            cur_ids, cur_pos = [], []
        gen = torch.Generator().manual_seed(i)
        cur_ids += torch.randint(3, vocab, (n,), generator=gen).tolist()
        cur_pos += list(range(n))
    folder.mkdir(parents=True, exist_ok=True)
    table = pa.table({"input_ids": ids_col, "labels": ids_col, "position_ids": pos_col})
    pq.write_table(table, folder / "train.parquet")


def setup(work: Path, dry: bool) -> dict[str, Any]:
    """Write the tokenizer + random-init model (bf16 on a GPU) and the packed dataset."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    shape = SHAPES[dry]
    tok = build_tokenizer(shape["vocab"])
    cfg = LlamaConfig(
        **(TINY if dry else FULL),
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )
    torch.manual_seed(0)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    with torch.device(device):
        model = LlamaForCausalLM(cfg)
    if device == "cuda":
        model = model.to(torch.bfloat16)
    model.save_pretrained(work / "model")
    tok.save_pretrained(work / "model")
    packed_dataset(work / "data", shape["row_tokens"], shape["rows"], len(tok))
    return {
        "params": sum(p.numel() for p in model.parameters()),
        "tokenizer_vocab": len(tok),
        "row_tokens": shape["row_tokens"],
        "device": device,
    }


def baseline(work: Path, which: str, baselines: Path, steps: int, dry: bool) -> dict[str, Any]:
    """Run one variant of the shared baselines in this process: `default` (HF Trainer + PEFT,
    dynamic padding, batch 16) or `liger` (naive packing + Liger, batch 8 x 4096). With `dry`
    (no GPU) only check that the scripts import and have what this row calls."""
    os.environ["STEPS"] = str(steps)
    sys.path.insert(0, str(baselines))
    import gpu_baseline_trainer as b

    if dry:
        import gpu_offtheshelf_trainer as o

        names = ["run", "Seqs", "Packed", "lengths", "pad_collate", "pack_collate"]
        absent = [n for n in names if not hasattr(b, n)] + (
            [] if hasattr(o, "liger_on") else ["liger_on"]
        )
        if absent:
            raise AttributeError(f"the baseline scripts lack {absent}")
        return {
            "skipped": "needs a CUDA GPU (the baseline scripts import and have what this row calls)"
        }
    if which == "default":
        out: dict[str, Any] = b.run(
            "lora_dynamic_padding", True, b.Seqs(b.lengths), b.pad_collate, 16
        )
    else:
        import gpu_offtheshelf_trainer as o

        o.liger_on()
        out = b.run("lora_packing_liger_bs8", True, b.Packed(b.lengths), b.pack_collate, bs=8)
    return {
        "tokens_per_s": out["real_tokens_per_s"],
        "mfu": out["mfu_model_flops"],
        "peak_mem_gb": out["peak_mem_gb"],
        "steps": out["steps"],
        "detail": out,
    }


def _per_request(out: dict[str, Any]) -> dict[str, float]:
    """{task/doc/choice: loglikelihood} from lm-eval's logged samples."""
    ll: dict[str, float] = {}
    for task, samples in out.get("samples", {}).items():
        for s in samples:
            for i, resp in enumerate(s.get("filtered_resps") or []):
                value = resp[0] if isinstance(resp, list | tuple) else resp
                try:
                    ll[f"{task}/{s['doc_id']}/{i}"] = float(value)
                except (TypeError, ValueError):
                    continue
    return ll


def _scored(suite: Any, plan: Any, out: dict[str, Any], seconds: float) -> dict[str, Any]:
    from climb.evaluate.scoring import score_suite

    tasks, average = score_suite(suite, plan.leaves, out)
    return {
        "seconds": round(seconds, 2),
        "scores": {k: v.score for k, v in tasks.items()},
        "docs": sum(v.n for v in tasks.values()),
        "average": average,
        "loglikelihoods": _per_request(out),
    }


def evaluation(work: Path, backend: str, dry: bool, limit: int) -> dict[str, Any]:
    """Evaluate the setup's model on the smoke benchmark set (open-llm-v1 tasks, `limit`
    documents each): `hf` runs climb's PrefixCacheLM and lm-eval's HFLM (batch auto) on one
    loaded model, `vllm` lm-eval's VLLM. Returns times, scores and per-request loglikelihoods."""
    import torch

    from climb.config import EvalConfig
    from climb.evaluate.runner import ModelRef, evaluate_with, load_for_eval, make_vllm_lm
    from climb.evaluate.suites import load_suite
    from climb.evaluate.tasks import plan_suite
    from climb.resources import smoke_benchmarks_dir

    device = "cuda" if torch.cuda.is_available() else "cpu"
    suite = load_suite("open-llm-v1")
    plan = plan_suite(suite, smoke_benchmarks_dir())
    ref = ModelRef(path=str(work / "model"), name="gpu-proof-random", digest="random")
    cfg = EvalConfig(backend="climb-hf", batch_size=32, limit=limit, device=device)
    record: dict[str, Any] = {"device": device, "limit": limit}
    if backend == "vllm":
        from climb.preflight import vllm_problems

        problems = vllm_problems()  # what eval.backend=vllm itself checks before any work
        if problems:
            return {"skipped": "; ".join(problems)}
        start = time.perf_counter()
        lm = make_vllm_lm(ref, cfg.model_copy(update={"backend": "vllm"}))
        record["load_seconds"] = round(time.perf_counter() - start, 2)
        start = time.perf_counter()
        out = evaluate_with(lm, list(plan.tasks().values()), cfg)
        record["vllm"] = _scored(suite, plan, out, time.perf_counter() - start)
        return record
    from lm_eval.models.huggingface import HFLM

    from climb.evaluate.runner import make_lm

    model, tok = load_for_eval(ref, device)
    record["dtype"] = str(model.dtype).replace("torch.", "")
    runs = {
        "climb": make_lm(model, tok, cfg, device),
        "hflm": HFLM(pretrained=model, tokenizer=tok, batch_size="auto", device=device),
    }
    for name, lm in runs.items():
        start = time.perf_counter()
        out = evaluate_with(lm, list(plan.tasks().values()), cfg)
        if device == "cuda":
            torch.cuda.synchronize()
        record[name] = _scored(suite, plan, out, time.perf_counter() - start)
    return record


def main(argv: list[str]) -> int:
    """Run one row (see the module docstring) and write `<work>/<row>.json`."""
    import argparse

    p = argparse.ArgumentParser(description="one row of make gpu-proof")
    p.add_argument(
        "row", choices=["setup", "baseline-default", "baseline-liger", "eval-hf", "eval-vllm"]
    )
    p.add_argument("work", type=Path)
    p.add_argument("--dry-run", action="store_true")
    p.add_argument("--steps", type=int, default=15)
    p.add_argument("--limit", type=int, default=20)
    p.add_argument("--baselines", type=Path, default=ROOT.parent / "shared" / "bench")
    args = p.parse_args(argv)
    if args.row == "setup":
        record = setup(args.work, args.dry_run)
    elif args.row.startswith("baseline-"):
        which = args.row.removeprefix("baseline-")
        record = baseline(args.work, which, args.baselines, args.steps, args.dry_run)
    else:
        record = evaluation(args.work, args.row.removeprefix("eval-"), args.dry_run, args.limit)
    write_json(args.work / f"{args.row}.json", record)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
