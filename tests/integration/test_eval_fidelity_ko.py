"""Fidelity of the Korean suite (config/suites/ko-public.yaml) on the real Korean benchmark
mirror (../shared/benchmarks-ko: KoBEST and KMMLU) against lm-eval's own tasks.

The reference side never goes through climb's mirror code: lm-eval's built-in `kobest_*` and
`kmmlu_*` task YAMLs, loaded by lm-eval's own TaskManager, read the same JSONL files through the
Hugging Face `json` builder (`dataset_path: json`, `data_files`), and lm-eval's own group
definitions (`kobest`, `kmmlu`: their `aggregate_metric_list`) aggregate the subtasks.

1. Prompts (no model): for all 50 leaf tasks of the suite, 5-shot, climb's plan builds the same
   requests (context, continuation) for the same documents as lm-eval's own tasks.
2. Scores (the real SmolLM2, marked slow): climb's path (plan, PrefixCacheLM, `score_suite`)
   against lm-eval's (its tasks, its HFLM, its aggregation rule) on KoBEST BoolQ, COPA and
   SentiNeg and two KMMLU subjects: the same per-document log-likelihoods (within 1e-4) and
   greedy flags, the same per-task acc and F1, and climb's KoBEST and KMMLU scores equal to
   lm-eval's `kobest` f1 and `kmmlu` acc over those tasks.
3. The command line: `climb eval MODEL --suite ko-public --data-dir ../shared/benchmarks-ko
   --limit 1` prints the KoBEST and KMMLU scores (a tiny random model: the plumbing, not the
   numbers); asking for the optional members whose data is not there is a one-line error.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.shared

KOBEST = ["kobest_boolq", "kobest_copa", "kobest_hellaswag", "kobest_sentineg", "kobest_wic"]
KMMLU = ["kmmlu_math", "kmmlu_food_processing"]  # two of the shortest 5-shot contexts
PROMPT_DOCS = 3  # documents per leaf task in the prompt comparison (all 50 leaves)
# Scored by the model, both ways: BoolQ (the longest contexts, 1,800-2,900 tokens), COPA
# (sentence continuations), SentiNeg and the two KMMLU subjects, one document each. HellaSwag
# (4 long endings) and WiC would double the time (HFLM runs every context once per choice);
# their prompts are compared below and their scoring path is the same.
SCORED = ["kobest_boolq", "kobest_copa", "kobest_sentineg", *KMMLU]
SCORE_DOCS = 1


@pytest.fixture(scope="module")
def lm_eval_tasks() -> Path:
    """lm-eval's own task folder."""
    import lm_eval.tasks

    return Path(lm_eval.tasks.__file__).parent


@pytest.fixture(scope="module")
def own_tm(lm_eval_tasks: Path) -> Any:
    """lm-eval's TaskManager over its own KoBEST and KMMLU folders only."""
    from lm_eval.tasks import TaskManager

    folders = [lm_eval_tasks / "kobest", lm_eval_tasks / "kmmlu" / "default"]
    return TaskManager(include_path=[str(f) for f in folders], include_defaults=False)


@pytest.fixture(scope="module")
def plan(benchmarks_ko: Path) -> Any:
    """climb's plan of the shipped Korean suite on the mirror (default TaskManager choice)."""
    from climb.evaluate.suites import load_suite
    from climb.evaluate.tasks import plan_suite

    return plan_suite(load_suite("ko-public"), benchmarks_ko)


def own_tasks(own_tm: Any, leaves: list[str], mirror: Path, cache: Path) -> dict[str, Any]:
    """lm-eval's own definitions of `leaves` (their YAMLs, built by lm-eval's TaskManager), 5-shot,
    reading the mirror's JSONL files through the Hugging Face `json` builder: lm-eval's group
    syntax for registered tasks with overrides."""
    layout = yaml.safe_load((mirror / "mirror.yaml").read_text())
    members = []
    for leaf in leaves:
        registered = own_tm.task_index[leaf].cfg  # the YAML as lm-eval indexed it
        files = layout[registered["dataset_path"]][registered["dataset_name"]]["files"]
        data_files = {split: str(mirror / f) for split, f in files.items()}
        members.append(
            {
                "task": leaf,
                "num_fewshot": 5,
                "dataset_path": "json",
                "dataset_name": None,
                "dataset_kwargs": {"data_files": data_files, "cache_dir": str(cache)},
            }
        )
    return dict(own_tm.load({"group": "own", "task": members})["tasks"])


def own_group_score(own_tm: Any, group: str, metric: str, results: dict, n: dict) -> float:
    """lm-eval's score of `group` over the leaves in `results`: its own aggregation function
    (`aggregate_subtask_metrics`) with the weighting its group YAML declares for `metric`."""
    from lm_eval.api.metrics import aggregate_subtask_metrics

    cfg = own_tm.task_index[group].cfg  # the group's YAML as lm-eval indexed it
    (rule,) = [m for m in cfg["aggregate_metric_list"] if m["metric"] == metric]
    leaves = sorted(results)
    return float(
        aggregate_subtask_metrics(
            [results[leaf][f"{metric},none"] for leaf in leaves],
            [n[leaf]["effective"] for leaf in leaves],
            weight_by_size=rule.get("weight_by_size", False),
        )
    )


def requests(tasks: dict[str, Any], limit: int) -> dict[str, list[tuple]]:
    """Build lm-eval's requests of Task objects for their first `limit` documents (no model):
    task -> [(doc_id, target, arguments), ...]."""
    out = {}
    for name, task in tasks.items():
        task.set_fewshot_seed(seed=1234)  # simple_evaluate's default
        task.build_all_requests(limit=limit, rank=0, world_size=1)
        out[name] = [
            (i.doc_id, str(task.doc_to_target(i.doc)), i.arguments) for i in task.instances
        ]
    return out


def test_the_suite_plans_kobest_and_kmmlu_offline(plan, benchmarks_ko) -> None:
    assert set(plan.leaves) == {"kobest", "kmmlu"}  # haerae and click are optional
    assert plan.leaves["kobest"] == KOBEST
    assert len(plan.leaves["kmmlu"]) == 45 and set(KMMLU) <= set(plan.leaves["kmmlu"])
    assert plan.deviations == []  # every few-shot pool (train, dev) is in the mirror
    for settings in plan.overrides.values():
        files = settings["dataset_kwargs"]["mirror_files"]
        assert all(Path(f).is_relative_to(benchmarks_ko) for f in files.values())
        assert settings["num_fewshot"] == 5


def test_prompts_equal_lm_evals_own_tasks(plan, own_tm, benchmarks_ko, tmp_path) -> None:
    leaves = [leaf for names in plan.leaves.values() for leaf in names]
    ours = requests(plan.tasks(), PROMPT_DOCS)
    theirs = requests(own_tasks(own_tm, leaves, benchmarks_ko, tmp_path), PROMPT_DOCS)
    assert sorted(ours) == sorted(theirs) == sorted(leaves)
    for leaf in leaves:
        assert len({doc for doc, _, _ in ours[leaf]}) == PROMPT_DOCS
        assert ours[leaf] == theirs[leaf], f"{leaf}: requests differ"
    # the contexts are real 5-shot Korean prompts
    context = ours["kmmlu_math"][0][2][0]
    assert context.count("정답：") == 6 and "\nA. " in context


@pytest.fixture(scope="module")
def loaded(smollm2):
    """(model, tokenizer) of the real SmolLM2, fp32 on CPU."""
    from climb.evaluate.runner import load_for_eval
    from climb.records import ModelRef

    ref = ModelRef(path=smollm2.path, name=smollm2.name, digest=smollm2.digest)
    return load_for_eval(ref, "cpu")


@pytest.mark.slow
def test_climb_scores_equal_lm_evals_own_run(plan, own_tm, benchmarks_ko, loaded, tmp_path) -> None:
    from lm_eval import simple_evaluate
    from lm_eval.models.huggingface import HFLM

    from climb.config import EvalConfig
    from climb.evaluate.runner import run_lm_eval
    from climb.evaluate.scoring import score_suite
    from climb.evaluate.suites import load_suite

    kobest_scored = [leaf for leaf in SCORED if leaf in KOBEST]
    leaves = {"kobest": kobest_scored, "kmmlu": KMMLU}
    cfg = EvalConfig(backend="climb-hf", batch_size=8, limit=SCORE_DOCS, device="cpu")
    ours = run_lm_eval(loaded[0], loaded[1], list(plan.tasks(SCORED).values()), cfg, "cpu")
    tasks, average = score_suite(load_suite("ko-public"), leaves, ours)

    lm = HFLM(pretrained=loaded[0], tokenizer=loaded[1], batch_size=8, device="cpu")
    own = list(own_tasks(own_tm, SCORED, benchmarks_ko, tmp_path).values())
    theirs = simple_evaluate(
        model=lm, tasks=own, limit=SCORE_DOCS, log_samples=True, task_manager=own_tm
    )
    assert theirs is not None
    theirs = json.loads(json.dumps(theirs, default=str))  # as climb's runner returns it

    for leaf in SCORED:
        a, b = ours["samples"][leaf], theirs["samples"][leaf]
        assert len(a) == len(b) == SCORE_DOCS
        for sa, sb in zip(a, b, strict=True):
            assert sa["doc_id"] == sb["doc_id"] and sa["target"] == sb["target"]
            assert sa["arguments"] == sb["arguments"], leaf  # the same prompts
            for (lf, gf), (lb, gb) in zip(
                (r[0] for r in sa["resps"]), (r[0] for r in sb["resps"]), strict=True
            ):
                assert float(lf) == pytest.approx(float(lb), abs=1e-4), leaf
                assert str(gf) == str(gb), leaf
        ra, rb = ours["results"][leaf], theirs["results"][leaf]
        for metric in ("acc,none", "f1,none"):
            if metric in rb:
                assert ra[metric] == pytest.approx(rb[metric], abs=1e-9), (leaf, metric)
    assert all("f1,none" in theirs["results"][leaf] for leaf in kobest_scored)
    # climb's suite scores are lm-eval's own group numbers
    res, n = theirs["results"], theirs["n-samples"]
    kobest = own_group_score(own_tm, "kobest", "f1", {t: res[t] for t in kobest_scored}, n)
    kmmlu = own_group_score(own_tm, "kmmlu", "acc", {t: res[t] for t in KMMLU}, n)
    assert tasks["kobest"].score == pytest.approx(kobest, abs=1e-12)
    assert tasks["kmmlu"].score == pytest.approx(kmmlu, abs=1e-12)
    assert tasks["kobest"].n == 3 * SCORE_DOCS and tasks["kmmlu"].n == 2 * SCORE_DOCS
    assert average == pytest.approx(50 * (kobest + kmmlu))


def test_climb_eval_prints_kobest_and_kmmlu(tiny_model, benchmarks_ko, tmp_path) -> None:
    from typer.testing import CliRunner

    from climb.cli import app

    args = ["eval", str(tiny_model), "--suite", "ko-public", "--data-dir", str(benchmarks_ko)]
    args += ["--limit", "1", "--state-dir", str(tmp_path / "state")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    rows = {line.split()[0]: line.split() for line in result.output.splitlines() if line}
    for name in ("kobest", "kmmlu", "average"):
        assert 0.0 <= float(rows[name][2]) <= 100.0, result.output
    assert "haerae" not in rows and "click" not in rows
    assert "not run (optional, not in the average): haerae, click" in result.output
    assert f"ko-public v2, lm-eval-0.4, limit 1, mirror:{benchmarks_ko}" in result.output


def test_climb_eval_without_the_optional_data_is_one_line(tiny_model, benchmarks_ko, tmp_path):
    from typer.testing import CliRunner

    from climb.cli import app

    args = ["eval", str(tiny_model), "--suite", "ko-public", "--data-dir", str(benchmarks_ko)]
    args += ["--include-optional", "--state-dir", str(tmp_path / "state")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    (line,) = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert line.startswith("error: suite ko-public, task haerae (HAE-RAE Bench (0-shot))")
    assert "'HAERAE-HUB/HAE_RAE_BENCH'" in line and "climb mirror export ko-public" in line
