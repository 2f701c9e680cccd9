"""`make gpu-proof`: run every GPU path of climb once, beside the shared baselines, and print one
table (and write the whole run as JSON).

    python bench/gpu_proof.py                  # on one H100/H200: about 8 minutes, nothing fetched
    python bench/gpu_proof.py --dry-run        # CPU, tiny shapes, gloo (part of `make test`)

Rows, each in its own process (one failing never hides the others; its cause is printed):
- climb LoRA, QLoRA and full fine-tuning through climb's own entry point (torchrun -m climb.train)
  on a random-init Llama-3.2-1B shape with instruction-like lengths in climb's packed layout:
  real tokens/s, MFU and peak GPU memory from climb's throughput callback, steady state;
- the baselines of ../shared/bench run in this session (HF Trainer + PEFT, dynamic padding; naive
  packing + Liger), with the figures they reported for reference (--baselines DIR);
- FSDP on one GPU (a smoke run) and the resume from a checkpoint (a run to step 4 with
  checkpoints, then the same run to step 6 must resume from checkpoint-4);
- evaluation of the same model on climb's bundled smoke benchmark documents with climb's backend
  (PrefixCacheLM), lm-eval's HFLM (batch size auto) and lm-eval's vLLM where installed: time and
  scores side by side; per-request loglikelihoods must agree within bf16 noise.
A row whose package (bitsandbytes, liger-kernel, lm-eval, vllm) is not installed says so.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
ROWS_SCRIPT = Path(__file__).resolve().parent / "gpu_proof_rows.py"
REPORTED = {"baseline-default": 9983, "baseline-liger": 57844}  # ../shared/bench/README.md
TOLERANCE = {True: 1e-4, False: 2e-2}  # relative loglikelihood difference: fp32 / bf16
# A training log line as the Trainer prints it: {'loss': '2.31', ..., 'tokens_per_s': '5.1e+04'}
METRIC = re.compile(r"'(tokens_per_s|mfu|gpu_mem_gb)': '?([0-9.eE+-]+)'?")


@dataclass
class Row:
    """One path to prove: how to run it and what it needs."""

    name: str
    kind: str  # train | resume | worker
    needs: tuple[str, ...] = ()
    cuda_only: bool = False
    train: dict[str, Any] = field(default_factory=dict)
    worker: str = ""


ROWS = [
    Row("climb LoRA", "train", train={"method": "lora"}),
    Row("climb QLoRA", "train", ("bitsandbytes",), True, {"method": "qlora"}),
    Row("climb full", "train", train={"method": "full", "lr": 2e-5}),
    Row("baseline HF Trainer+PEFT", "worker", worker="baseline-default"),
    Row("baseline packing+Liger", "worker", ("liger_kernel",), worker="baseline-liger"),
    Row("FSDP 1 GPU (smoke)", "train", train={"method": "lora", "distributed": "fsdp"}),
    Row("resume from checkpoint", "resume", train={"method": "lora"}),
    Row("eval climb-hf + HFLM", "worker", ("lm_eval",), worker="eval-hf"),
    Row("eval vLLM", "worker", ("lm_eval",), worker="eval-vllm"),  # climb's preflight: vllm, GPU
]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options (see the module docstring)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dry-run", action="store_true", help="CPU, tiny shapes, gloo")
    p.add_argument("--work", type=Path, default=ROOT / ".climb" / "gpu-proof")
    p.add_argument("--json", type=Path, default=None, help="default: <work>/gpu-proof.json")
    p.add_argument("--steps", type=int, default=None, help="training steps (15; 3 dry)")
    p.add_argument("--limit", type=int, default=None, help="documents per eval task (20; 2 dry)")
    p.add_argument("--budget-s", type=float, default=480.0, help="rows start only within it")
    p.add_argument(
        "--baselines",
        type=Path,
        default=None,
        help="default: .bench-baseline/, else ../shared/bench",
    )
    p.add_argument("--only", default=None, help="comma-separated row names (default all)")
    return p.parse_args(argv)


def _env() -> dict[str, str]:
    path = os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path, "TOKENIZERS_PARALLELISM": "false"}


def _cause(log: str) -> str:
    """The line of a failed process's log that names the error (else its last line)."""
    lines = [line.strip() for line in log.splitlines() if line.strip()]
    errors = [line for line in lines if re.search(r"(Error|Exception|error:|Killed)", line)]
    return (errors or lines or ["(no output)"])[-1][:400]


def _run(cmd: list[str], log_path: Path, timeout: float) -> str:
    """Run a row's process; return its log; raise RuntimeError with the cause on failure."""
    try:
        done = subprocess.run(
            cmd, cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=timeout
        )
        log = done.stdout + done.stderr
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout or b""
        log = out.decode() if isinstance(out, bytes) else out
        log_path.write_text(log)
        raise RuntimeError(f"timed out after {timeout:.0f} s (log {log_path})") from None
    log_path.write_text(log)
    if done.returncode != 0:
        raise RuntimeError(f"exit {done.returncode}: {_cause(log)} (log {log_path})")
    return log


def _worker(args: argparse.Namespace, name: str, timeout: float) -> dict[str, Any]:
    cmd = [sys.executable, str(ROWS_SCRIPT), name, str(args.work), "--steps", str(args.steps)]
    cmd += ["--limit", str(args.limit), "--baselines", str(args.baselines)]
    cmd += ["--dry-run"] if args.dry_run else []
    _run(cmd, args.work / f"{name}.log", timeout)
    record: dict[str, Any] = json.loads((args.work / f"{name}.json").read_text())
    return record


def _train(args: argparse.Namespace, row: Row, out: Path, timeout: float, **over: Any) -> Any:
    """Run climb's trainer (torchrun, one process) on the setup's model and data."""
    from climb.config import TrainConfig
    from climb.train.spec import TrainResult, TrainSpec

    train = {
        "lr": 1e-4,
        "max_steps": args.steps,
        "batch_size": 1,
        "save_steps": 10**6,
        "logging_steps": 1,
        "lora": {"r": 16, "alpha": 32, "dropout": 0.0},
        "attn_implementation": "sdpa",
        "liger_kernel": not args.dry_run and importlib.util.find_spec("liger_kernel") is not None,
        **row.train,
        **over,
    }
    spec = TrainSpec(
        model_path=str(args.work / "model"),
        dataset_path=str(args.work / "data"),
        output_dir=str(out),
        train=TrainConfig.model_validate(train).model_dump(mode="json"),
    )
    path = spec.write(out / "spec.json")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=1"]
    cmd += ["--module", "climb.train", "--spec", str(path)]
    log = _run(cmd, out / "train.log", timeout)
    steps: list[dict[str, float]] = []
    for line in log.splitlines():
        found = dict(METRIC.findall(line))
        if "tokens_per_s" in found:
            steps.append({k: float(v) for k, v in found.items()})
    return TrainResult.read(out), steps, train


def _steady(steps: list[dict[str, float]], dry: bool) -> dict[str, Any]:
    """Median tokens/s and MFU after the warm-up steps, peak GPU memory over the run."""
    warm = 1 if dry else 5
    tail = steps[warm:] or steps
    rec: dict[str, Any] = {"measured_steps": len(tail)}
    if tail:
        rec["tokens_per_s"] = round(statistics.median(s["tokens_per_s"] for s in tail))
        if all("mfu" in s for s in tail):
            rec["mfu"] = round(statistics.median(s["mfu"] for s in tail), 3)
    mem = [s["gpu_mem_gb"] for s in steps if "gpu_mem_gb" in s]
    if mem:
        rec["peak_mem_gb"] = round(max(mem), 1)
    return rec


def run_row(args: argparse.Namespace, row: Row, timeout: float) -> dict[str, Any]:
    """Run one row; return its record (raises on failure)."""
    out = args.work / re.sub(r"[^a-z0-9]+", "-", row.name.lower()).strip("-")
    if row.kind == "worker":
        return _worker(args, row.worker, timeout)
    if row.kind == "train":
        result, steps, train = _train(args, row, out, timeout)
        rec = _steady(steps, args.dry_run)
        rec.update(steps=result.global_step, liger=train["liger_kernel"], loss=result.train_loss)
        return rec
    start = time.monotonic()  # resume: to step 4 with checkpoints, then on to step 6
    first, _, _ = _train(args, row, out, timeout, max_steps=4, save_steps=2)
    left = timeout - (time.monotonic() - start)
    second, _, _ = _train(args, row, out, left, max_steps=6, save_steps=2)
    resumed = Path(second.resumed_from or "").name
    if first.global_step != 4 or second.global_step != 6 or resumed != "checkpoint-4":
        raise RuntimeError(
            f"did not resume: first run step {first.global_step}, second run step "
            f"{second.global_step} resumed from {second.resumed_from!r} (want checkpoint-4)"
        )
    return {"steps": second.global_step, "resumed_from": resumed}


def missing(row: Row, cuda: bool, args: argparse.Namespace) -> str | None:
    """Why a row cannot run on this machine (a package or the GPU it needs), else None."""
    if row.cuda_only and not cuda:
        return "needs a CUDA GPU"
    baseline = row.worker.startswith("baseline")
    if baseline and not (args.baselines / "gpu_baseline_trainer.py").is_file():
        return f"{args.baselines}/gpu_baseline_trainer.py not found (--baselines)"
    if args.dry_run and baseline:
        return None  # the dry run checks the scripts' API; liger is needed only on the GPU
    absent = [m for m in row.needs if importlib.util.find_spec(m) is None]
    return f"not installed here: {', '.join(absent)}" if absent else None


def compare_evals(rows: list[dict[str, Any]], dry: bool) -> None:
    """Mark each evaluation beside climb's: largest relative loglikelihood difference and score
    difference, and whether they agree within the precision's noise (a disagreement fails)."""
    by = {r["name"]: r for r in rows}
    hf = by.get("eval climb-hf + HFLM", {}).get("record") or {}
    vl = by.get("eval vLLM", {}).get("record") or {}
    climb = hf.get("climb")
    if not climb:
        return
    for owner, key, other in ((by["eval climb-hf + HFLM"], "hflm", hf.get("hflm")),
                              (by.get("eval vLLM"), "vllm", vl.get("vllm"))):  # fmt: skip
        if not other or owner is None:
            continue
        a, b = climb["loglikelihoods"], other["loglikelihoods"]
        common = sorted(set(a) & set(b))
        rel = max((abs(a[k] - b[k]) / max(1.0, abs(a[k])) for k in common), default=float("nan"))
        dscore = max(abs(climb["scores"][t] - other["scores"][t]) for t in climb["scores"])
        ok = bool(common) and len(common) == len(a) and rel <= TOLERANCE[dry]
        owner.setdefault("agreement", {})[key] = {
            "requests": len(common),
            "max_rel_loglik_diff": rel,
            "max_score_diff": dscore,
            "tolerance": TOLERANCE[dry],
            "agree": ok,
        }
        if not ok and owner["status"] == "ok":
            owner["status"] = "failed"
            owner["cause"] = (
                f"{key} vs climb: {len(common)}/{len(a)} requests matched, max relative "
                f"loglikelihood difference {rel:.2e} > {TOLERANCE[dry]:.0e}"
            )


def _detail(r: dict[str, Any]) -> str:
    rec = r.get("record") or {}
    if r["status"] != "ok":
        return r.get("cause", "")
    if r["name"] == "setup":
        return f"{rec['params']:,} parameters, rows of {rec['row_tokens']} tokens, {rec['device']}"
    if "resumed_from" in rec:
        return f"resumed from {rec['resumed_from']}, on to step {rec['steps']}"
    if "climb" in rec or "vllm" in rec:
        parts = []
        for key in ("climb", "hflm", "vllm"):
            if key in rec:
                s = rec[key]["scores"]
                parts.append(f"{key} {rec[key]['seconds']:.1f}s " + " ".join(
                    f"{t[:4]} {v:.3f}" for t, v in s.items()))  # fmt: skip
        for key, a in (r.get("agreement") or {}).items():
            parts.append(f"{key}~climb: max rel dll {a['max_rel_loglik_diff']:.1e}, "
                         f"max dscore {a['max_score_diff']:.3f}")  # fmt: skip
        return "; ".join(parts)
    text = f"{rec.get('steps', '')} steps"
    if r["name"] in {"climb LoRA", "climb full", "climb QLoRA", "FSDP 1 GPU (smoke)"}:
        text += ", liger" if rec.get("liger") else ", no liger"
    if r.get("reported"):
        text += f"; reported {r['reported']:,} tokens/s on the H200"
    return text


def table(rows: list[dict[str, Any]], budget: dict[str, Any]) -> str:
    """The one table: row, status, seconds, tokens/s, MFU, peak GB, detail or cause."""
    lines = [
        f"{'row':26s} {'status':8s} {'s':>6s} {'tokens/s':>9s} {'MFU':>6s} {'peak GB':>7s}  detail"
    ]
    for r in rows:
        rec = r.get("record") or {}
        tps = f"{rec['tokens_per_s']:,}" if "tokens_per_s" in rec else "-"
        mfu = f"{rec['mfu']:.1%}" if "mfu" in rec else "-"
        mem = f"{rec['peak_mem_gb']:.1f}" if "peak_mem_gb" in rec else "-"
        lines.append(
            f"{r['name']:26s} {r['status']:8s} {r.get('seconds', 0):6.1f} {tps:>9s} {mfu:>6s} "
            f"{mem:>7s}  {_detail(r)}"
        )
    lines.append(f"total {budget['seconds']:.0f} s of a {budget['budget_s']:.0f} s budget")
    return "\n".join(lines)


def environment() -> dict[str, Any]:
    """Versions of what the rows use (absent packages as null) and the GPU."""
    from importlib.metadata import PackageNotFoundError, version

    env: dict[str, Any] = {"python": platform.python_version()}
    for pkg in ("torch", "transformers", "peft", "accelerate", "lm_eval", "vllm",
                "bitsandbytes", "liger-kernel"):  # fmt: skip
        try:
            env[pkg] = version(pkg)
        except PackageNotFoundError:
            env[pkg] = None
    import torch

    env["gpu"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return env


def main(argv: list[str] | None = None) -> int:
    """Run the rows, print the table, write the JSON; exit 1 when a row failed."""
    args = parse_args(argv)
    import torch

    sys.path.insert(0, str(ROOT / "src"))
    cuda = torch.cuda.is_available()
    if not cuda and not args.dry_run:
        print("gpu-proof needs a CUDA GPU; on a CPU run it with --dry-run", file=sys.stderr)
        return 2
    args.steps = args.steps or (3 if args.dry_run else 15)
    args.limit = args.limit or (2 if args.dry_run else 20)
    copied = ROOT / ".bench-baseline"  # where a copy travels with the tree to a GPU machine
    default = (
        copied
        if (copied / "gpu_baseline_trainer.py").is_file()
        else ROOT.parent / "shared" / "bench"
    )
    args.baselines = (args.baselines or default).resolve()
    args.work.mkdir(parents=True, exist_ok=True)
    args.json = args.json or args.work / "gpu-proof.json"
    env = environment()
    print(f"gpu-proof: {'DRY RUN (CPU, tiny shapes, gloo)' if args.dry_run else env['gpu']}; "
          f"torch {env['torch']}, transformers {env['transformers']}", flush=True)  # fmt: skip
    start = time.monotonic()
    rows: list[dict[str, Any]] = []
    setup = {"name": "setup", "status": "ok"}
    try:
        setup["record"] = _worker(args, "setup", args.budget_s)
    except Exception as exc:
        setup.update(status="failed", cause=str(exc))
    setup["seconds"] = round(time.monotonic() - start, 1)
    rows.append(setup)
    wanted = set(args.only.split(",")) if args.only else None
    for row in ROWS:
        if wanted is not None and row.name not in wanted:
            continue
        rec: dict[str, Any] = {"name": row.name}
        if row.worker in REPORTED:
            rec["reported"] = REPORTED[row.worker]
        left = args.budget_s - (time.monotonic() - start)
        why = missing(row, cuda, args)
        if setup["status"] != "ok":
            rec.update(status="failed", cause="setup failed")
        elif why:
            rec.update(status="skipped", cause=why)
        elif left <= 0:
            rec.update(status="skipped", cause=f"out of the {args.budget_s:.0f} s budget")
        else:
            t0 = time.monotonic()
            try:
                rec.update(status="ok", record=run_row(args, row, left))
                if "skipped" in rec["record"]:  # the row's own check refused (GPU, package)
                    rec.update(status="skipped", cause=rec.pop("record")["skipped"])
            except Exception as exc:  # printed with its cause in the table, never hidden
                rec.update(status="failed", cause=f"{type(exc).__name__}: {exc}")
            rec["seconds"] = round(time.monotonic() - t0, 1)
        print(f"  {row.name}: {rec['status']} {rec.get('cause', '')}", flush=True)
        rows.append(rec)
    compare_evals(rows, args.dry_run)
    budget = {"seconds": time.monotonic() - start, "budget_s": args.budget_s}
    print("\n" + table(rows, budget), flush=True)
    report = {"dry_run": args.dry_run, "environment": env, "rows": rows, **budget}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2, default=str))
    print(f"\nwhole run: {args.json}")
    return 1 if any(r["status"] == "failed" for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
