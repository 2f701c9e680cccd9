"""Every suite file in config/suites: valid, every task it names exists in lm-eval's index (climb's
tasks and lm-eval's built-ins; building that index takes about 11 s), every per-subtask random
baseline names a real subtask and equals 1/k for the subtask's k answer choices.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from climb.evaluate.suites import load_suite, suites_dir

SUITE_FILES = sorted(suites_dir().glob("*.yaml"))


@pytest.fixture(scope="module")
def full_index():
    """A TaskManager over climb's tasks and all of lm-eval's built-in tasks."""
    from climb.evaluate.tasks import task_manager

    return task_manager(include_defaults=True)


def test_the_shipped_suites_are_there() -> None:
    assert {p.stem for p in SUITE_FILES} >= {"open-llm-v1", "open-llm-v2", "ko-public"}


@pytest.mark.parametrize("path", SUITE_FILES, ids=lambda p: p.stem)
def test_suite_tasks_exist_in_lm_eval(path: Path, full_index) -> None:
    from climb.evaluate.tasks import leaf_tasks

    suite = load_suite(str(path))
    assert suite.name == path.stem
    names = [st.name for st in suite.tasks]
    assert len(names) == len(set(names)), "suite task names must be unique"
    for st in suite.tasks:
        assert st.task in full_index.task_index, f"{path.name}: {st.task} is not an lm-eval task"
        leaves = leaf_tasks(full_index, st.task)
        assert leaves, f"{st.task} has no leaf tasks"
        assert all(leaf in full_index.task_index for leaf in leaves)
        if isinstance(st.random_baseline, dict):
            assert set(st.random_baseline) == set(leaves), f"{st.name}: baselines != subtasks"


@pytest.mark.parametrize("path", SUITE_FILES, ids=lambda p: p.stem)
def test_random_baselines_match_the_number_of_choices(path: Path, full_index) -> None:
    """Where a subtask's choices are a fixed list in its lm-eval YAML, its baseline is 1/k."""
    from climb.evaluate.tasks import registered_config

    checked = 0
    for st in load_suite(str(path)).tasks:
        if not isinstance(st.random_baseline, dict):
            continue
        for leaf, baseline in st.random_baseline.items():
            choices = registered_config(full_index, leaf).get("doc_to_choice")
            if isinstance(choices, list):
                assert baseline == pytest.approx(1 / len(choices), abs=1e-9), leaf
                checked += 1
    if path.stem == "open-llm-v2":
        assert checked == 24  # every BBH subtask


def test_v1_needs_only_climbs_tasks_unless_optional_members_run() -> None:
    from climb.evaluate.tasks import task_manager, task_manager_for

    v1 = load_suite("open-llm-v1")
    climb_only = task_manager()
    assert all(st.task in climb_only.task_index for st in v1.selected())
    assert not all(st.task in climb_only.task_index for st in v1.selected(include_optional=True))
    assert task_manager_for([st.task for st in v1.selected()]).task_index.keys() == (
        climb_only.task_index.keys()
    )
