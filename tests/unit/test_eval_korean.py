"""The Korean suite (config/suites/ko-public.yaml): it counts KoBEST and KMMLU, each aggregated
as lm-eval's group of the same name aggregates it (checked with lm-eval's own aggregation
function and group YAMLs, on the real test-split sizes); HAE-RAE and CLIcK are optional. A suite
that cannot run says why in one line: a member whose data the mirror lacks (named with its Hub
dataset and the ways to get it or, for an optional member, to leave it out), a member that names
no lm-eval task, a suite file that does not match the schema.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from climb.evaluate.mirror import MirrorError
from climb.evaluate.suites import SuiteError, load_suite
from climb.evaluate.tasks import plan_suite


@pytest.fixture(scope="module")
def korean_tm():
    """lm-eval's TaskManager over climb's tasks and lm-eval's Korean task folders only (fast)."""
    import lm_eval.tasks
    from lm_eval.tasks import TaskManager

    from climb.resources import config_dir

    root = Path(lm_eval.tasks.__file__).parent
    folders = [config_dir() / "tasks", root / "kobest", root / "kmmlu" / "default"]
    folders += [root / "haerae", root / "click"]
    return TaskManager(include_path=[str(f) for f in folders], include_defaults=False)


def members(*names: str):
    """The shipped Korean suite restricted to the named members."""
    suite = load_suite("ko-public")
    return suite.model_copy(update={"tasks": [t for t in suite.tasks if t.name in names]})


def test_the_korean_suite_counts_kobest_and_kmmlu_and_haerae_click_only_on_request() -> None:
    suite = load_suite("ko-public")
    assert [t.name for t in suite.selected()] == ["kobest", "kmmlu"]
    assert [t.name for t in suite.selected(include_optional=True)] == [
        "kobest",
        "kmmlu",
        "haerae",
        "click",
    ]
    by_name = {t.name: t for t in suite.tasks}
    assert (by_name["kobest"].metric, by_name["kobest"].num_fewshot) == ("f1", 5)
    assert (by_name["kmmlu"].metric, by_name["kmmlu"].num_fewshot) == ("acc", 5)
    # each member aggregates as lm-eval's group of the same name (weight_by_size)
    assert {t.aggregate for t in suite.tasks} == {"size_weighted"}


def group_score(tm, group: str, metric: str, leaf_scores: dict, sizes: dict) -> float:
    """lm-eval's score of `group`: its group YAML's aggregation (weight_by_size or not) applied
    with lm-eval's `aggregate_subtask_metrics`, through nested groups as lm-eval does."""
    from lm_eval.api.metrics import aggregate_subtask_metrics

    from climb.evaluate.tasks import leaf_tasks

    cfg = tm.task_index[group].cfg  # the group's YAML as lm-eval indexed it
    (rule,) = [m for m in cfg["aggregate_metric_list"] if m["metric"] == metric]
    values, weights = [], []
    for child in cfg["task"]:
        if child in tm.all_groups:
            values.append(group_score(tm, child, metric, leaf_scores, sizes))
            weights.append(sum(sizes[leaf] for leaf in leaf_tasks(tm, child)))
        else:
            for leaf in leaf_tasks(tm, child):
                values.append(leaf_scores[leaf])
                weights.append(sizes[leaf])
    return float(aggregate_subtask_metrics(values, weights, rule.get("weight_by_size", False)))


@pytest.mark.parametrize("member", ["kobest", "kmmlu", "haerae", "click"])
def test_each_member_is_scored_as_lm_evals_group(korean_tm, member) -> None:
    from climb.evaluate.scoring import score_suite
    from climb.evaluate.tasks import leaf_tasks

    suite = members(member)
    (st,) = suite.tasks
    leaves = leaf_tasks(korean_tm, st.task)
    assert len(leaves) == {"kobest": 5, "kmmlu": 45, "haerae": 5, "click": 11}[member]
    real = {"kobest_boolq": 1404, "kobest_copa": 1000, "kobest_hellaswag": 500}
    real |= {"kobest_sentineg": 397, "kobest_wic": 1260}  # KoBEST test splits
    sizes = {leaf: real.get(leaf, 100 + 37 * i) for i, leaf in enumerate(leaves)}
    scores = {leaf: 0.2 + 0.6 * ((7 * i) % 11) / 10 for i, leaf in enumerate(leaves)}
    out = {
        "results": {leaf: {f"{st.metric},none": v} for leaf, v in scores.items()},
        "n-samples": {leaf: {"effective": n, "original": n} for leaf, n in sizes.items()},
    }
    tasks, average = score_suite(suite, {member: leaves}, out)
    expected = group_score(korean_tm, st.task, st.metric, scores, sizes)
    assert tasks[member].score == pytest.approx(expected, abs=1e-12)
    assert tasks[member].score != pytest.approx(sum(scores.values()) / len(scores), abs=1e-4)
    assert average == pytest.approx(100 * expected)


def test_missing_optional_data_names_the_dataset_and_the_ways_out(korean_tm, tmp_path) -> None:
    with pytest.raises(MirrorError) as err:
        plan_suite(members("kobest", "haerae"), tmp_path, include_optional=True, tm=korean_tm)
    message = str(err.value)
    assert "\n" not in message
    # kobest comes first: a required member whose data is missing is reported as such
    assert "task kobest (KoBEST (5-shot))" in message and "'skt/kobest_v1'" in message
    assert "climb mirror export ko-public DIR`" in message and "eval.data_dir=hub" in message
    assert "include_optional=false" not in message

    with pytest.raises(MirrorError) as err:
        plan_suite(members("haerae"), tmp_path, include_optional=True, tm=korean_tm)
    message = str(err.value)
    assert "task haerae (HAE-RAE Bench (0-shot))" in message
    assert "'HAERAE-HUB/HAE_RAE_BENCH'" in message and str(tmp_path) in message
    assert "climb mirror export ko-public DIR --include-optional" in message
    assert "eval.include_optional=false" in message and "not in the average" in message


def test_the_smoke_set_says_it_only_holds_the_v1_benchmarks(korean_tm) -> None:
    from climb.resources import smoke_benchmarks_dir

    with pytest.raises(MirrorError, match=r"eval\.data_dir is unset"):
        plan_suite(members("kmmlu"), smoke_benchmarks_dir(), tm=korean_tm)


def test_a_mirror_with_its_own_layout_is_named_in_the_error(korean_tm, tmp_path) -> None:
    (tmp_path / "mirror.yaml").write_text("skt/kobest_v1:\n  copa:\n    files: {test: c.jsonl}\n")
    with pytest.raises(MirrorError) as err:
        plan_suite(members("kobest"), tmp_path, tm=korean_tm)
    assert "name 'boolq'" in str(err.value)
    assert str(tmp_path / "mirror.yaml") in str(err.value)


def test_an_unknown_task_is_a_suite_error_naming_the_member(korean_tm) -> None:
    suite = members("kobest")
    bad = suite.model_copy(
        update={"tasks": [suite.tasks[0].model_copy(update={"task": "kobest_typo"})]}
    )
    with pytest.raises(SuiteError, match=r"suite ko-public, task kobest: .*'kobest_typo'"):
        plan_suite(bad, None, tm=korean_tm)


def test_an_invalid_suite_file_is_one_line_naming_the_field(tmp_path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text("name: mine\nversion: '1'\ntasks:\n  - {name: a, task: kobest, metric: f1}\n")
    with pytest.raises(SuiteError) as err:
        load_suite(str(path))
    assert "\n" not in str(err.value)
    assert "tasks.0.num_fewshot: Field required" in str(err.value)
    path.write_text("name: [unclosed\n")
    with pytest.raises(SuiteError, match="not valid YAML"):
        load_suite(str(path))
