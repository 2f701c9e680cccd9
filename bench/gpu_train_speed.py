"""GPU training throughput: climb's trainer vs the shared baselines, on the same GPU, one right
after the other, printing both.

climb's side builds exactly what the pipeline runs: a dataset in the data stage's packed layout
(rows of whole examples with position ids restarting per example, so no example attends to
another), climb's collator, model builder, TrainingArguments and ClimbTrainer. The model is the
baselines' Llama-3.2-1B shape (random init; throughput needs no weights) with the same
instruction-like lengths (log-normal, median ~300 tokens, 32..2048) and LoRA r16 on all linear
layers. Then the baselines run in a fresh process each:
../shared/bench/gpu_baseline_trainer.py (HF Trainer + PEFT, dynamic padding) and
gpu_offtheshelf_trainer.py (naive packing + Liger). Copy them into .bench-baseline/ (ignored)
before sending the tree to a GPU machine:

    mkdir -p .bench-baseline && cp ../shared/bench/gpu_*.py .bench-baseline/
    STEPS=25 python bench/gpu_train_speed.py          # prints one JSON line per variant

Metrics as in the baselines: real (non-pad) tokens/s, MFU by model FLOPs (4N per token for
LoRA, 6N for full; 989 TFLOP/s dense bf16 peak for H100/H200), peak GPU memory.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

VOCAB = 128256
STEPS = int(os.environ.get("STEPS", 25))
WARM = 5
PEAK = 989e12


def lengths(n: int = 20000) -> list[int]:
    """Instruction-like lengths, the baselines' distribution (same generator seed)."""
    import torch

    g = torch.Generator().manual_seed(1)
    return (
        torch.exp(torch.randn(n, generator=g) * 0.8 + math.log(300)).clamp(32, 2048).long().tolist()
    )


def packed_dataset(folder: Path, row_tokens: int, rows: int) -> Path:
    """Write train.parquet in climb's packed layout: whole examples per row, position ids."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    import torch

    ids_col, lab_col, pos_col = [], [], []
    cur_ids: list[int] = []
    cur_pos: list[int] = []
    for i, n in enumerate(lengths()):
        if len(ids_col) >= rows:
            break
        if cur_ids and len(cur_ids) + n > row_tokens:
            ids_col.append(cur_ids)
            lab_col.append(list(cur_ids))
            pos_col.append(cur_pos)
            cur_ids, cur_pos = [], []
        seq = torch.randint(0, VOCAB, (n,), generator=torch.Generator().manual_seed(i)).tolist()
        cur_ids += seq
        cur_pos += list(range(n))
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(
        pa.table({"input_ids": ids_col, "labels": lab_col, "position_ids": pos_col}),
        folder / "train.parquet",
    )
    return folder


def random_model(folder: Path) -> Path:
    """Save a random-init Llama-3.2-1B-shaped model (bf16) with a byte-level stand-in tokenizer."""
    import torch
    from tokenizers import Tokenizer, models
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    torch.manual_seed(0)
    cfg = LlamaConfig(
        hidden_size=2048,
        intermediate_size=8192,
        num_hidden_layers=16,
        num_attention_heads=32,
        num_key_value_heads=8,
        vocab_size=VOCAB,
        max_position_embeddings=4096,
        tie_word_embeddings=True,
        rope_theta=500000.0,
    )
    LlamaForCausalLM(cfg).to(torch.bfloat16).save_pretrained(folder)
    tok = PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer(models.WordLevel({"<pad>": 0}, "<pad>"))
    )
    tok.pad_token = "<pad>"
    tok.save_pretrained(folder)
    return folder


def run_climb(
    name: str, model_dir: Path, data_dir: Path, micro_batch: int, **train: object
) -> dict:
    """Train with climb's trainer pieces; return the baseline-style JSON record."""
    import datasets
    import torch
    from transformers import AutoTokenizer, TrainerCallback

    from climb.config import TrainConfig
    from climb.train.callbacks import flops_per_token
    from climb.train.climb_trainer import ClimbTrainer
    from climb.train.collate import data_collator
    from climb.train.spec import TrainSpec
    from climb.train.trainer import build_model, training_arguments

    cfg = TrainConfig.model_validate(
        {
            "method": "lora",
            "lr": 1e-4,
            "max_steps": STEPS,
            "batch_size": micro_batch,
            "save_steps": 10**6,
            "lora": {"r": 16, "alpha": 32, "dropout": 0.0},
            "logging_steps": 10**6,
            **train,
        }
    )
    spec = TrainSpec(
        model_path=str(model_dir),
        dataset_path=str(data_dir),
        output_dir=tempfile.mkdtemp(prefix=f"climb-{name}-"),
        train=cfg.model_dump(mode="json"),
    )
    ds = datasets.Dataset.from_parquet(str(data_dir / "train.parquet"), keep_in_memory=True)
    model = build_model(str(model_dir), cfg, cuda=True)
    n_params = sum(p.numel() for p in model.parameters())
    real = {"tokens": 0, "t0": 0.0, "tok0": 0}

    class Clock(TrainerCallback):
        def on_step_end(self, args, state, control, **kw):  # type: ignore[no-untyped-def]
            if state.global_step == WARM:
                torch.cuda.synchronize()
                real["t0"] = time.perf_counter()
                real["tok0"] = state.num_input_tokens_seen

    trainer = ClimbTrainer(
        model=model,
        args=training_arguments(spec, cfg, cuda=True),
        train_dataset=ds,
        processing_class=AutoTokenizer.from_pretrained(model_dir),
        data_collator=data_collator(None, cfg.packing, ds.column_names),
        callbacks=[Clock()],
    )
    torch.cuda.reset_peak_memory_stats()
    trainer.train()
    torch.cuda.synchronize()
    dt = time.perf_counter() - real["t0"]
    tokens = trainer.state.num_input_tokens_seen - real["tok0"]
    tps = tokens / dt
    out = {
        "variant": name,
        "lora": True,
        "micro_batch": micro_batch,
        "steps": STEPS - WARM,
        "seconds": round(dt, 2),
        "real_tokens_per_s": round(tps),
        "pad_waste": 0.0,
        "mfu_model_flops": round(flops_per_token(model, "lora") * tps / PEAK, 3),
        "peak_mem_gb": round(torch.cuda.max_memory_allocated() / 1e9, 1),
        "params": n_params,
    }
    print(json.dumps(out), flush=True)
    del trainer, model
    torch.cuda.empty_cache()
    return out


def run_baseline(script: Path) -> None:
    """Run one shared baseline script in a fresh process (its JSON lines go to stdout)."""
    if not script.is_file():
        print(
            json.dumps(
                {
                    "baseline": script.name,
                    "skipped": f"{script} not found; copy "
                    "../shared/bench/gpu_*.py into .bench-baseline/",
                }
            ),
            flush=True,
        )
        return
    env = {**os.environ, "STEPS": str(STEPS)}
    subprocess.run([sys.executable, str(script)], env=env, check=False)


def main() -> None:
    """Run climb's variants, then the baselines, on this GPU; print one JSON line each."""
    import torch

    if not torch.cuda.is_available():
        sys.exit("bench/gpu_train_speed.py needs a CUDA GPU (it compares GPU throughput)")
    print(json.dumps({"torch": torch.__version__, "gpu": torch.cuda.get_device_name(0)}))
    work = Path(tempfile.mkdtemp(prefix="climb-bench-"))
    model_dir = random_model(work / "model")
    for row_tokens, micro_batch in ((16384, 1), (32768, 1)):
        data = packed_dataset(work / f"data-{row_tokens}", row_tokens, rows=STEPS * 4)
        for attn in ("sdpa", "flex_attention"):
            for liger in (False, True):
                name = f"climb_lora_packed{row_tokens}_{attn}{'_liger' if liger else ''}"
                try:
                    run_climb(
                        name,
                        model_dir,
                        data,
                        micro_batch,
                        attn_implementation=attn,
                        liger_kernel=liger,
                    )
                except Exception as exc:  # one variant failing must not hide the others
                    print(json.dumps({"variant": name, "error": repr(exc)[:300]}), flush=True)
    base = ROOT / ".bench-baseline"
    run_baseline(base / "gpu_offtheshelf_trainer.py")
    run_baseline(base / "gpu_baseline_trainer.py")


if __name__ == "__main__":
    main()
