"""Turning a suite into lm-eval tasks through lm-eval's public TaskManager: expand each member
(a task, group or tag) to its leaf tasks, and give each leaf the settings climb puts on top of
its registered definition: the suite's shots, the protocol's changes and (with a mirror) its data
redirected to local files.

lm-eval builds the tasks itself, from one inline group listing the leaves with those settings
(its group syntax for a registered task with overrides, `{"task": name, key: value, ...}`): each
leaf is its registered config (includes merged, `!function` references loaded) with climb's
settings merged on top. Results, sample counts and per-sample logs stay keyed by leaf name.

Suites that only name climb's tasks (config/tasks) use a TaskManager over that folder alone,
which is instant; a suite naming one of lm-eval's built-in tasks (e.g. `leaderboard_bbh`,
`kobest`) gets lm-eval's full index as well (about 11 s to build).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from climb.evaluate.mirror import MirrorError, entry_source, load_layout, mirror_overrides
from climb.evaluate.protocol import protocol_overrides
from climb.evaluate.suites import Suite, SuiteError, SuiteTask
from climb.resources import config_dir, smoke_benchmarks_dir

# The inline group climb hands lm-eval; it declares no aggregate metric, so lm-eval scores
# nothing under it (climb aggregates the leaves itself, climb.evaluate.scoring).
GROUP = "climb_suite"


@dataclass
class SuitePlan:
    """A suite as lm-eval tasks: per leaf task, the settings climb puts on its registered
    definition in `tm` (lm-eval's TaskManager, which builds the tasks)."""

    tm: Any
    overrides: dict[str, dict[str, Any]]  # leaf lm-eval task -> settings on its registered config
    leaves: dict[str, list[str]]  # suite task name -> leaf lm-eval task names
    deviations: list[str] = field(default_factory=list)  # where it departs from the leaderboard
    notes: list[str] = field(default_factory=list)  # what the protocol changed

    def spec(self, only: Collection[str] | None = None) -> dict[str, Any]:
        """Return lm-eval's inline group of the plan's leaf tasks (those in `only` when given):
        `{"group": GROUP, "task": [{"task": leaf, **overrides}, ...]}`, for `self.tm.load` or
        `simple_evaluate(tasks=[spec], task_manager=self.tm)`."""
        members = [
            {"task": leaf, **settings}
            for leaf, settings in self.overrides.items()
            if only is None or leaf in only
        ]
        return {"group": GROUP, "task": members}

    def tasks(self, only: Collection[str] | None = None) -> dict[str, Any]:
        """Return lm-eval's Task objects of the plan's leaves (those in `only` when given) by leaf
        name, in plan order, built by lm-eval (this loads each task's data); fresh objects on
        every call."""
        return dict(self.tm.load(self.spec(only))["tasks"])

    def config(self, leaf: str) -> dict[str, Any]:
        """Return one leaf's declared config without loading anything: its registered config
        (includes merged, `!function` references left as strings) with climb's settings on top."""
        return {**registered_config(self.tm, leaf), **self.overrides[leaf]}


def task_manager(include_defaults: bool = False) -> Any:
    """Return an lm-eval TaskManager over climb's task folder (and lm-eval's built-ins if asked)."""
    from lm_eval.tasks import TaskManager

    return TaskManager(include_path=str(config_dir() / "tasks"), include_defaults=include_defaults)


def task_manager_for(names: list[str]) -> Any:
    """Return climb's TaskManager when it knows every task name, else one that also indexes
    lm-eval's built-in tasks."""
    tm = task_manager()
    if all(name in tm.task_index for name in names):
        return tm
    return task_manager(include_defaults=True)


def leaf_tasks(tm: Any, name: str) -> list[str]:
    """Return the leaf task names under a task, group or tag name of `tm` (a group's in its
    member order, a tag's sorted); raise KeyError for a name `tm` does not know."""
    if name in tm.all_subtasks:
        return [name]
    if name in tm.all_tags:
        return sorted(n for n in tm.all_subtasks if name in tm.task_index[n].tags)
    if name not in tm.all_groups:
        raise KeyError(f"lm-eval task {name!r} not found in {config_dir() / 'tasks'}")
    return _member_leaves(tm, tm.task_index[name].cfg.get("task", []))


def _member_leaves(tm: Any, members: Any) -> list[str]:
    """Leaf task names of a group's `task:` list (names, `{task: name, ...}` references and
    inline subgroups)."""
    out: list[str] = []
    for member in members if isinstance(members, list) else [members]:
        if isinstance(member, str):
            out.extend(leaf_tasks(tm, member))
        elif "group" in member and member["group"] not in tm.task_index:
            out.extend(_member_leaves(tm, member.get("task", [])))
        else:
            out.extend(leaf_tasks(tm, member.get("group") or member["task"]))
    return out


def registered_config(tm: Any, name: str) -> dict[str, Any]:
    """Return a copy of a task's registered config in `tm` (includes merged; `!function`
    references are strings naming them, e.g. '/dir/utils.process_docs')."""
    cfg = dict(tm.task_index[name].cfg or {})
    for key in ("tag", "group"):
        cfg.pop(key, None)
    return cfg


def plan_suite(
    suite: Suite,
    data_dir: Path | None,
    include_optional: bool = False,
    tm: Any = None,
    protocol: str = "lm-eval-0.4",
) -> SuitePlan:
    """Plan the lm-eval tasks of `suite`; `data_dir` None means read from the Hub.

    Takes the suite, the mirror folder (or None), whether optional members count, an optional
    TaskManager (default: `task_manager_for` the suite's tasks) and the protocol. Returns the
    plan; its deviations say where the data departs from the leaderboard's, its notes what
    the protocol changed. Nothing is loaded. Raises SuiteError when a member names no lm-eval
    task, and MirrorError naming the member, the missing dataset and how to get it when the
    mirror cannot serve it.
    """
    selected = suite.selected(include_optional)
    tm = tm or task_manager_for([st.task for st in selected])
    layout = load_layout(data_dir) if data_dir is not None else {}
    plan = SuitePlan(tm=tm, overrides={}, leaves={})
    sources: dict[str | None, list[str]] = {}
    for st in selected:
        try:
            plan.leaves[st.name] = leaf_tasks(tm, st.task)
        except KeyError as exc:
            raise SuiteError(
                f"suite {suite.name}, task {st.name}: lm-eval has no task, group or tag named "
                f"{st.task!r} (neither in {config_dir() / 'tasks'} nor lm-eval's own tasks)"
            ) from exc
        for leaf in plan.leaves[st.name]:
            settings: dict[str, Any] = {"num_fewshot": st.num_fewshot}
            declared = {**registered_config(tm, leaf), **settings}
            changes, notes = protocol_overrides(declared, protocol)
            settings.update(changes)
            plan.notes.extend(notes)
            if data_dir is not None:
                try:
                    changes, deviations = mirror_overrides(declared, data_dir, layout)
                except MirrorError as exc:
                    message = missing_data_message(suite, st, exc)
                    if data_dir == smoke_benchmarks_dir():
                        message += (
                            " (eval.data_dir is unset: climb's bundled smoke set holds only "
                            "the open-llm-v1 benchmarks)"
                        )
                    raise MirrorError(message) from exc
                settings.update(changes)
                plan.deviations.extend(deviations)
                names = sources.setdefault(entry_source(declared, data_dir, layout), [])
                if st.name not in names:
                    names.append(st.name)
            plan.overrides[leaf] = settings
    if any(label is not None for label in sources):
        plan.deviations.append(data_sources_line(sources, data_dir))
    return plan


def data_sources_line(sources: dict[str | None, list[str]], data_dir: Path | None) -> str:
    """Return the deviation that says which suite tasks read which data, from {source label
    (None: an unlabelled mirror entry): [suite task names]}."""
    parts = [
        f"{', '.join(names)}: {label or f'the mirror {data_dir}'}"
        for label, names in sources.items()
    ]
    return "benchmark data: " + "; ".join(parts)


def missing_data_message(suite: Suite, st: SuiteTask, exc: MirrorError) -> str:
    """Return a one-line error for a suite member the mirror cannot serve: which member, what
    the mirror lacks (from `exc`), and the ways to get or skip it."""
    what = (st.card or {}).get("dataset_name", st.task)
    ways = [
        f"export it with `climb mirror export {suite.name} DIR"
        + (" --include-optional" if st.optional else "")
        + "` on a machine that reaches the Hugging Face Hub and evaluate with eval.data_dir=DIR",
        "or read the Hub directly (eval.data_dir=hub)",
    ]
    if st.optional:
        ways.append(
            f"or leave this optional member out (eval.include_optional=false: {st.name} is "
            "then not run and not in the average)"
        )
    return f"suite {suite.name}, task {st.name} ({what}): {exc}; {', '.join(ways)}"
