"""A suite plan through lm-eval's public API: leaves of groups (nested, inline subgroups) and
tags found from the TaskManager's index, the tasks lm-eval builds from the plan's inline group
(registered definitions with climb's settings on top: shots, mirror, few-shot pool), the
few-shot config a mirror has to replace, and no import of a private lm-eval module anywhere in
climb's code.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from climb.evaluate.mirror import MirrorError, load_from_mirror, mirror_overrides

REPO = Path(__file__).resolve().parents[2]
SCANNED = ("src", "flows", "bench", "scripts", "tests")


def private_part(dotted: str) -> str | None:
    """Return `dotted` up to its first private part when it names something private inside
    lm_eval ('lm_eval.tasks._index.Kind' -> 'lm_eval.tasks._index'), else None."""
    parts = dotted.split(".")
    if parts[0] != "lm_eval":
        return None
    for i, part in enumerate(parts):
        if part.startswith("_") and not part.startswith("__"):
            return ".".join(parts[: i + 1])
    return None


def dotted_name(node: ast.expr) -> str | None:
    """'a.b.c' of an attribute chain on a plain name, else None."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    return ".".join([node.id, *reversed(parts)]) if isinstance(node, ast.Name) else None


def private_lm_eval_imports(source: str) -> set[str]:
    """Return the private lm-eval modules or names `source` reaches: imported
    (`import lm_eval.tasks._index`, `from lm_eval.tasks._yaml_loader import ...`,
    `from lm_eval.tasks import _factory`), referenced through an imported `lm_eval`
    (`lm_eval.tasks._index.Kind`) or named to importlib (`"lm_eval.tasks._index"`)."""
    names: list[str | None] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names += [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Attribute):
            names.append(dotted_name(node))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            names.append(node.value)
    return {hit for name in names if name and (hit := private_part(name))}


def test_the_scanner_finds_every_form_of_private_import() -> None:
    planted = (
        "import lm_eval.tasks._index\n"
        "from lm_eval.tasks._yaml_loader import load_yaml\n"
        "from lm_eval.tasks import _factory\n"
        "import lm_eval\nlm_eval.api._private_helper.x\n"
        "importlib.import_module('lm_eval.models._stub')\n"
    )
    assert private_lm_eval_imports(planted) == {
        "lm_eval.tasks._index",
        "lm_eval.tasks._yaml_loader",
        "lm_eval.tasks._factory",
        "lm_eval.api._private_helper",
        "lm_eval.models._stub",
    }
    public = "import lm_eval\nfrom lm_eval.tasks import TaskManager\nlm_eval.__version__\n"
    assert private_lm_eval_imports(public) == set()


def test_no_private_lm_eval_module_is_imported() -> None:
    files = [p for d in SCANNED for p in sorted((REPO / d).rglob("*.py"))]
    files.remove(Path(__file__).resolve())  # the scanner's own examples above
    assert len(files) > 100
    offenders = {
        str(p.relative_to(REPO)): hits
        for p in files
        if (hits := private_lm_eval_imports(p.read_text(encoding="utf-8")))
    }
    assert offenders == {}, "use lm-eval's public API (TaskManager, Task objects)"


def write_tasks(folder: Path) -> None:
    """A small task folder: two tasks and a tagged third, a group listing a task, a tag and an
    inline subgroup, and a group nesting that group."""
    base = "dataset_path: json\ntest_split: test\noutput_type: multiple_choice\n"
    base += "doc_to_text: q\ndoc_to_target: 0\ndoc_to_choice: ['a', 'b']\n"
    for name, extra in (("t_one", ""), ("t_two", ""), ("t_three", "tag: t_tag\n")):
        (folder / f"{name}.yaml").write_text(f"task: {name}\n{base}{extra}")
    (folder / "g_inner.yaml").write_text(
        "group: g_inner\ntask:\n  - t_two\n  - t_tag\n"
        "  - group: g_inline\n    task:\n      - task: t_one\n        num_fewshot: 3\n"
    )
    (folder / "g_outer.yaml").write_text("group: g_outer\ntask: [t_one, g_inner]\n")


def test_leaves_of_tasks_groups_and_tags(tmp_path: Path) -> None:
    from lm_eval.tasks import TaskManager

    from climb.evaluate.tasks import leaf_tasks

    write_tasks(tmp_path)
    tm = TaskManager(include_path=str(tmp_path), include_defaults=False)
    assert leaf_tasks(tm, "t_one") == ["t_one"]
    assert leaf_tasks(tm, "t_tag") == ["t_three"]
    assert leaf_tasks(tm, "g_inner") == ["t_two", "t_three", "t_one"]
    assert leaf_tasks(tm, "g_outer") == ["t_one", "t_two", "t_three", "t_one"]
    with pytest.raises(KeyError, match="t_four"):
        leaf_tasks(tm, "t_four")


def test_lm_eval_builds_the_registered_tasks_with_the_plans_settings() -> None:
    from climb.evaluate.suites import load_suite
    from climb.evaluate.tasks import GROUP, plan_suite
    from climb.resources import smoke_benchmarks_dir

    suite = load_suite("open-llm-v1")
    plan = plan_suite(suite, smoke_benchmarks_dir())
    assert len(plan.overrides) == 60 and plan.leaves["hellaswag"] == ["climb_hellaswag"]
    spec = plan.spec(["climb_hellaswag", "climb_arc_challenge"])
    assert spec["group"] == GROUP
    assert [m["task"] for m in spec["task"]] == ["climb_arc_challenge", "climb_hellaswag"]
    tasks = plan.tasks(["climb_hellaswag", "climb_arc_challenge"])
    assert list(tasks) == ["climb_arc_challenge", "climb_hellaswag"]  # plan order, leaf names
    arc, hellaswag = tasks.values()
    # the suite's shots, the registered prompt, the mirror's data
    assert arc.config.num_fewshot == 25 and hellaswag.config.num_fewshot == 10
    assert arc.config.doc_to_choice == "{{choices.text}}"
    assert arc.config.custom_dataset is load_from_mirror
    files = plan.overrides["climb_arc_challenge"]["dataset_kwargs"]["mirror_files"]
    assert len(arc.eval_docs) == len(load_from_mirror(mirror_files=files)["test"])
    # HellaSwag: its `!function` preprocessing loaded by lm-eval, its few-shot pool moved to the
    # validation split (the smoke set has no train split), as the plan's deviation says
    assert callable(hellaswag.config.process_docs)
    assert "query" in hellaswag.eval_docs[0]
    assert hellaswag.config.fewshot_split == "validation"
    assert hellaswag.config.training_split is None
    assert any("climb_hellaswag" in d for d in plan.deviations)
    # the declared config, without loading: registered + settings, functions as references
    declared = plan.config("climb_hellaswag")
    assert declared["num_fewshot"] == 10 and declared["dataset_path"] == "Rowan/hellaswag"
    assert declared["process_docs"].endswith("task_utils.hellaswag_process_docs")


def few_shot_task(tmp_path: Path, fewshot_config: dict) -> tuple[dict, dict]:
    """A declared task config whose few-shot split the mirror lacks, and the mirror layout."""
    (tmp_path / "test.jsonl").write_text('{"q": "x"}\n')
    layout = {"org/ds": {"null": {"files": {"test": "test.jsonl", "train": "train.jsonl"}}}}
    cfg = {"task": "t", "dataset_path": "org/ds", "test_split": "test", "num_fewshot": 2}
    return {**cfg, "fewshot_config": fewshot_config}, layout


def test_a_few_shot_config_naming_a_missing_split_is_replaced_without_it(tmp_path) -> None:
    cfg, layout = few_shot_task(tmp_path, {"sampler": "first_n", "split": "train"})
    settings, deviations = mirror_overrides(cfg, tmp_path, layout)
    assert settings["fewshot_split"] == "test"
    assert settings["fewshot_config"] == {"sampler": "first_n"}
    assert deviations and "'train'" in deviations[0]
    # a function in that config is not loaded in the index: it cannot be carried over
    ref = str(tmp_path / "utils.samples")
    cfg, layout = few_shot_task(tmp_path, {"split": "train", "samples": ref})
    with pytest.raises(MirrorError, match=r"task t: .*no 'train' split.*\['samples'\]"):
        mirror_overrides(cfg, tmp_path, layout)
