"""Turning a suite into lm-eval task configs: expand groups to their leaf tasks, set the suite's
shots, apply the protocol, and (with a mirror) redirect each task's data to local files.

Suites that only name climb's tasks (config/tasks) use a TaskManager over that folder alone,
which is instant; a suite naming one of lm-eval's built-in tasks (e.g. `leaderboard_bbh`,
`kobest`) gets lm-eval's full index as well (about 11 s to build).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from climb.evaluate.mirror import MirrorError, entry_source, load_layout, redirect_to_mirror
from climb.evaluate.protocol import apply_protocol
from climb.evaluate.suites import Suite, SuiteError, SuiteTask
from climb.resources import config_dir, smoke_benchmarks_dir


@dataclass
class SuitePlan:
    """Everything lm-eval needs for a suite: one resolved config per leaf task."""

    configs: list[dict[str, Any]]
    leaves: dict[str, list[str]]  # suite task name -> leaf lm-eval task names
    deviations: list[str] = field(default_factory=list)  # where it departs from the leaderboard
    notes: list[str] = field(default_factory=list)  # what the protocol changed


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
    """Return the leaf task names under a task, group or tag name (in a stable order)."""
    from lm_eval.tasks._index import Kind
    from lm_eval.tasks._yaml_loader import load_yaml

    entry = tm.task_index.get(name)
    if entry is None:
        raise KeyError(f"lm-eval task {name!r} not found in {config_dir() / 'tasks'}")
    if entry.kind in (Kind.TASK, Kind.PY_TASK):
        return [name]
    if entry.kind == Kind.TAG:
        return sorted(
            n
            for n, e in tm.task_index.items()
            if name in e.tags and e.kind in (Kind.TASK, Kind.PY_TASK)
        )
    members = load_yaml(entry.yaml_path, resolve_func=False, recursive=True).get("task", [])
    out: list[str] = []
    for member in members:
        member_name = member if isinstance(member, str) else member.get("task")
        out.extend(leaf_tasks(tm, member_name))
    return out


def resolved_config(tm: Any, name: str) -> dict[str, Any]:
    """Return the fully resolved config dict (includes merged, functions loaded) of a task."""
    from lm_eval.tasks._yaml_loader import load_yaml

    entry = tm.task_index[name]
    cfg = dict(load_yaml(entry.yaml_path, resolve_func=True, recursive=True))
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
    """Build the lm-eval configs for `suite`; `data_dir` None means read from the Hub.

    Takes the suite, the mirror folder (or None), whether optional members count, an optional
    TaskManager (default: `task_manager_for` the suite's tasks) and the protocol. Returns the
    plan; its deviations say where the data departs from the leaderboard's, its notes what
    the protocol changed. Raises SuiteError when a member names no lm-eval task, and MirrorError
    naming the member, the missing dataset and how to get it when the mirror cannot serve it.
    """
    selected = suite.selected(include_optional)
    tm = tm or task_manager_for([st.task for st in selected])
    layout = load_layout(data_dir) if data_dir is not None else {}
    plan = SuitePlan(configs=[], leaves={})
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
            cfg = with_shots(resolved_config(tm, leaf), st)
            plan.notes.extend(apply_protocol(cfg, protocol))
            if data_dir is not None:
                try:
                    plan.deviations.extend(redirect_to_mirror(cfg, data_dir, layout))
                except MirrorError as exc:
                    message = missing_data_message(suite, st, exc)
                    if data_dir == smoke_benchmarks_dir():
                        message += (
                            " (eval.data_dir is unset: climb's bundled smoke set holds only "
                            "the open-llm-v1 benchmarks)"
                        )
                    raise MirrorError(message) from exc
                names = sources.setdefault(entry_source(cfg, data_dir, layout), [])
                if st.name not in names:
                    names.append(st.name)
            plan.configs.append(cfg)
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


def with_shots(cfg: dict[str, Any], st: SuiteTask) -> dict[str, Any]:
    """Return `cfg` with the suite's number of shots."""
    cfg["num_fewshot"] = st.num_fewshot
    return cfg
