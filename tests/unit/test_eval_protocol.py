"""Protocols: leaderboard-2023 scores TruthfulQA mc2 as the 2023 harness did (split at the first
false answer), lm-eval-0.4 leaves lm-eval's function (in the tasks lm-eval builds from climb's
plan, climb's TruthfulQA and lm-eval's own); the cache key and the mirror layout follow the
config."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from climb.evaluate.cache import cache_key
from climb.evaluate.protocol import mc2_split_at_first_false, protocol_overrides


def test_mc2_split_differs_from_lm_eval_only_on_unsorted_labels() -> None:
    from lm_eval.tasks.truthfulqa.utils import process_results_mc2

    lls = [(math.log(p), False) for p in (0.4, 0.1, 0.2, 0.3)]
    unsorted = {"mc2_targets": {"labels": [1, 0, 1, 0]}}
    assert process_results_mc2(unsorted, lls)["acc"] == pytest.approx(0.6)
    assert mc2_split_at_first_false(unsorted, lls)["acc"] == pytest.approx(0.4)
    tidy = {"mc2_targets": {"labels": [1, 1, 0, 0]}}
    assert mc2_split_at_first_false(tidy, lls)["acc"] == pytest.approx(
        process_results_mc2(tidy, lls)["acc"]
    )


def test_protocol_overrides_swap_only_mc2() -> None:
    from lm_eval.tasks.truthfulqa.utils import process_results_mc2

    loaded = {"task": "tq", "process_results": process_results_mc2}
    assert protocol_overrides(loaded, "lm-eval-0.4") == ({}, [])
    settings, notes = protocol_overrides(loaded, "leaderboard-2023")
    assert settings == {"process_results": mc2_split_at_first_false} and "tq" in notes[0]
    # as lm-eval's task index leaves it: the `!function` reference, lm-eval's name or climb's
    for ref in (
        "/x/truthfulqa/utils.process_results_mc2",
        "/c/task_utils.truthfulqa_process_results_mc2",
    ):
        settings, _ = protocol_overrides({"task": "tq", "process_results": ref}, "leaderboard-2023")
        assert settings["process_results"] is mc2_split_at_first_false
    other = {"task": "arc", "process_results": "/x/utils.process_results"}
    assert protocol_overrides(other, "leaderboard-2023") == ({}, [])
    with pytest.raises(ValueError, match="unknown eval protocol"):
        protocol_overrides({}, "harness-1999")


@pytest.mark.parametrize("protocol", ["lm-eval-0.4", "leaderboard-2023"])
def test_the_tasks_lm_eval_builds_follow_the_protocol(protocol: str) -> None:
    """climb's TruthfulQA and lm-eval's own, built by lm-eval from the plan (smoke mirror)."""
    import lm_eval.tasks
    from lm_eval.tasks import TaskManager
    from lm_eval.tasks.truthfulqa.utils import process_results_mc2

    from climb.evaluate.suites import load_suite
    from climb.evaluate.tasks import plan_suite
    from climb.resources import config_dir, smoke_benchmarks_dir

    suite = load_suite("open-llm-v1")
    (st,) = [t for t in suite.tasks if "truthful" in t.name]
    own = st.model_copy(update={"name": "own", "task": "truthfulqa_mc2"})
    suite = suite.model_copy(update={"tasks": [st, own]})
    folders = [config_dir() / "tasks", Path(lm_eval.tasks.__file__).parent / "truthfulqa"]
    tm = TaskManager(include_path=[str(f) for f in folders], include_defaults=False)
    plan = plan_suite(suite, smoke_benchmarks_dir(), protocol=protocol, tm=tm)
    tasks = plan.tasks()
    assert list(tasks) == ["climb_truthfulqa_mc2", "truthfulqa_mc2"]
    swapped = protocol == "leaderboard-2023"
    for task in tasks.values():
        fn = task.config.process_results
        # lm-eval loads its utils.py again by path: the same function, not the same object
        assert (fn is mc2_split_at_first_false) == swapped
        assert swapped or fn.__code__.co_code == process_results_mc2.__code__.co_code
    assert len(plan.notes) == (2 if swapped else 0)


def test_cache_key_depends_on_protocol_and_optional_members() -> None:
    base = dict(
        model_digest="m", suite="s", suite_version="1", lm_eval_version="0.4", limit=2, data="d"
    )
    keys = {
        cache_key(protocol="lm-eval-0.4", **base),
        cache_key(protocol="leaderboard-2023", **base),
        cache_key(protocol="lm-eval-0.4", include_optional=True, **base),
    }
    assert len(keys) == 3
    assert cache_key(protocol="p", **base) == cache_key(
        protocol="p", include_optional=False, **base
    )


def test_a_mirror_folder_can_carry_its_own_layout(tmp_path: Path) -> None:
    from climb.evaluate.mirror import load_layout

    default = load_layout(None)
    assert "cais/mmlu" in default
    assert load_layout(tmp_path) == default
    (tmp_path / "mirror.yaml").write_text("skt/kobest_v1:\n  boolq:\n    files: {test: x.jsonl}\n")
    merged = load_layout(tmp_path)
    assert merged["skt/kobest_v1"]["boolq"]["files"] == {"test": "x.jsonl"}
    assert merged["cais/mmlu"] == default["cais/mmlu"]
