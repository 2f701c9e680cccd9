"""Fidelity on the real benchmark mirror (../shared/benchmarks) with the real SmolLM2:

1. for each Open LLM Leaderboard v1 task, climb's task (config/tasks) and lm-eval's OWN built-in
   definition (loaded from lm-eval's tasks folder: arc_challenge, hellaswag, mmlu_<subject>,
   truthfulqa_mc2), planned alike (the suite's shots, the data redirected to the mirror) and
   built by lm-eval's TaskManager, build the same prompts and get the same scores on a subset.
   Both runs go through lm-eval's request cache (`use_cache`, keyed by the request text), so the
   model scores each distinct prompt once: identical prompts cost one pass, different ones are
   scored separately and would show up as different prompts and scores;
2. climb's PrefixCacheLM gives lm-eval's HFLM's log-likelihoods and scores on real prompts
   (MMLU's shared 5-shot prefix, TruthfulQA's shared preamble).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.shared]

# suite task -> (lm-eval built-in leaf tasks, docs per task)
CASES = {
    "arc_challenge": (["arc_challenge"], 2),
    "hellaswag": (["hellaswag"], 2),
    "mmlu": (["mmlu_abstract_algebra", "mmlu_anatomy", "mmlu_high_school_geography"], 2),
    "truthfulqa_mc2": (["truthfulqa_mc2"], 3),
}


@pytest.fixture(scope="module")
def loaded(smollm2):
    """(model, tokenizer) of the real SmolLM2, fp32 on CPU."""
    from climb.evaluate.runner import load_for_eval
    from climb.records import ModelRef

    ref = ModelRef(path=smollm2.path, name=smollm2.name, digest=smollm2.digest)
    return load_for_eval(ref, "cpu")


@pytest.fixture(scope="module")
def builtin_tm():
    """A TaskManager over lm-eval's own task folders for the v1 benchmarks (and nothing else)."""
    import lm_eval.tasks
    from lm_eval.tasks import TaskManager

    root = Path(lm_eval.tasks.__file__).parent
    folders = [root / "arc", root / "hellaswag", root / "mmlu" / "default", root / "truthfulqa"]
    return TaskManager(include_path=[str(f) for f in folders], include_defaults=False)


def run(loaded: Any, tasks: list[Any], limit: int, backend: str = "climb-hf") -> dict:
    from climb.config import EvalConfig
    from climb.evaluate.runner import run_lm_eval

    cfg = EvalConfig(backend=backend, batch_size=8, limit=limit, device="cpu")
    return run_lm_eval(loaded[0], loaded[1], tasks, cfg, "cpu")


def run_cached(loaded: Any, tasks: list[Any], limit: int, cache: Path) -> dict:
    """lm-eval's simple_evaluate on Task objects with climb's LM behind lm-eval's request cache."""
    import json

    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    from climb.evaluate.fastlm import PrefixCacheLM

    lm = PrefixCacheLM(pretrained=loaded[0], tokenizer=loaded[1], batch_size=8, device="cpu")
    out = simple_evaluate(
        model=lm,
        tasks=tasks,
        limit=limit,
        log_samples=True,
        use_cache=str(cache),
        task_manager=TaskManager(include_defaults=False),
    )
    return json.loads(json.dumps(out, default=str))


def suite_task(name: str) -> Any:
    from climb.evaluate.suites import load_suite

    suite = load_suite("open-llm-v1")
    return suite.model_copy(update={"tasks": [t for t in suite.tasks if t.name == name]})


@pytest.mark.parametrize("name", list(CASES))
def test_climb_task_equals_lm_evals_own_definition(name, benchmarks, builtin_tm, loaded, tmp_path):
    import lm_eval.tasks

    from climb.evaluate.tasks import plan_suite
    from climb.resources import config_dir

    builtins, limit = CASES[name]
    suite = suite_task(name)
    (st,) = suite.tasks
    plan = plan_suite(suite, benchmarks)
    ours = plan.tasks([f"climb_{b}" for b in builtins])
    assert list(ours) == [f"climb_{b}" for b in builtins]

    # lm-eval's own task definitions, built by lm-eval's TaskManager over its own task folders,
    # with the same shots and the same mirror
    own = [st.model_copy(update={"name": b, "task": b, "random_baseline": None}) for b in builtins]
    own_plan = plan_suite(suite.model_copy(update={"tasks": own}), benchmarks, tm=builtin_tm)
    theirs = own_plan.tasks()
    assert list(theirs) == builtins
    # each side is built from its own YAML files
    root = Path(lm_eval.tasks.__file__).parent
    for side, folder in ((ours, config_dir() / "tasks"), (theirs, root)):
        for task in side.values():
            assert Path(task.config.metadata["config_source"]).is_relative_to(folder)
    # the mirror departs from the leaderboard in the same way for both (HellaSwag's pool)
    assert [d.replace("climb_", "") for d in plan.deviations] == own_plan.deviations

    a = run_cached(loaded, list(ours.values()), limit, tmp_path / "requests")
    b = run_cached(loaded, list(theirs.values()), limit, tmp_path / "requests")
    for builtin in builtins:
        mine, own_name = f"climb_{builtin}", builtin
        pa = [s["arguments"] for s in a["samples"][mine]]
        pb = [s["arguments"] for s in b["samples"][own_name]]
        assert len(pa) == limit
        assert pa == pb, f"{builtin}: prompts differ"  # same few-shot examples, same text
        ra, rb = a["results"][mine], b["results"][own_name]
        for metric in ("acc,none", "acc_norm,none"):
            if metric in rb:
                assert ra[metric] == pytest.approx(rb[metric], abs=1e-9), (builtin, metric)
        assert "acc,none" in ra


def test_prefix_cache_lm_equals_hflm_on_real_prompts(benchmarks, loaded):
    from climb.evaluate.tasks import plan_suite

    plans = [
        (plan_suite(suite_task(name), benchmarks), leaves)
        for name, leaves in (("mmlu", ["climb_mmlu_anatomy"]), ("truthfulqa_mc2", None))
    ]

    def tasks() -> list[Any]:  # fresh Task objects for each run
        return [t for plan, leaves in plans for t in plan.tasks(leaves).values()]

    fast = run(loaded, tasks(), 2, backend="climb-hf")
    base = run(loaded, tasks(), 2, backend="hf")
    assert sorted(base["samples"]) == ["climb_mmlu_anatomy", "climb_truthfulqa_mc2"]
    for task, samples in base["samples"].items():
        ours = fast["samples"][task]
        for s_base, s_fast in zip(samples, ours, strict=True):
            for (lb, gb), (lf, gf) in zip(
                (r[0] for r in s_base["resps"]), (r[0] for r in s_fast["resps"]), strict=True
            ):
                assert float(lf) == pytest.approx(float(lb), abs=1e-4)
                assert str(gf) == str(gb)
        for metric, value in base["results"][task].items():
            if metric.startswith("acc") and "stderr" not in metric:
                assert fast["results"][task][metric] == pytest.approx(value, abs=1e-4), metric
