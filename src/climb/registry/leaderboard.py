"""The team's own leaderboard: every registered version of a model ranked by suite average, with
per-task scores, how it was measured, and which aliases it holds (`climb leaderboard`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from climb.registry.tracking import TAG_PREFIX
from climb.registry.versions import aliases, list_versions


@dataclass(frozen=True)
class Entry:
    """One registered version as the leaderboard shows it."""

    version: str
    average: float | None
    tasks: dict[str, float]
    measured: tuple[Any, ...]
    base_model: str
    created_ms: int
    aliases: list[str] = field(default_factory=list)
    published: bool = False

    @property
    def measured_as(self) -> str:
        """A short label of how the scores were measured (suite v, protocol, limit, data)."""
        suite, version, protocol, limit, data = self.measured
        if suite is None:
            return "-"
        return f"{suite} v{version}, {protocol}, limit {limit or 'none'}, {data}"


def entry_of(mv: Any, alias_map: dict[str, str]) -> Entry:
    """Build the Entry of a ModelVersion from its climb tags."""
    tags = dict(mv.tags or {})
    try:
        result = json.loads(tags.get(f"{TAG_PREFIX}result", "") or "null") or {}
    except ValueError:
        result = {}
    raw_avg = tags.get(f"{TAG_PREFIX}average")
    measured = tuple(
        result.get(k) for k in ("suite", "suite_version", "protocol", "limit", "data_source")
    )
    return Entry(
        version=str(mv.version),
        average=float(raw_avg) if raw_avg else None,
        tasks={k: 100.0 * float(v["score"]) for k, v in result.get("tasks", {}).items()},
        measured=measured,
        base_model=tags.get(f"{TAG_PREFIX}base_model", ""),
        created_ms=int(mv.creation_timestamp or 0),
        aliases=sorted(a for a, v in alias_map.items() if v == str(mv.version)),
        published=f"{TAG_PREFIX}published" in tags,
    )


def ranked(client: Any, model_name: str) -> list[Entry]:
    """Return the versions of `model_name` ranked by average (best first; unscored last)."""
    alias_map = aliases(client, model_name)
    entries = [entry_of(mv, alias_map) for mv in list_versions(client, model_name)]
    return sorted(
        entries,
        key=lambda e: (e.average is None, -(e.average or 0.0), int(e.version)),
    )


def render(entries: list[Entry], model_name: str) -> str:
    """Return the leaderboard as a fixed-width table (scores in points, x100)."""
    if not entries:
        return f"{model_name}: no registered versions yet"
    tasks: list[str] = []
    for e in entries:
        tasks += [t for t in e.tasks if t not in tasks]
    champion = next((e for e in entries if "champion" in e.aliases), None)
    head = f"{'#':>3} {'version':>7} {'average':>8} " + " ".join(f"{t[:14]:>14}" for t in tasks)
    lines = [f"leaderboard of {model_name} ({len(entries)} versions)", head + "  aliases"]
    for rank, e in enumerate(entries, 1):
        avg = "-" if e.average is None else f"{e.average:.2f}"
        cells = " ".join(f"{e.tasks[t]:>14.2f}" if t in e.tasks else f"{'-':>14}" for t in tasks)
        mark = "" if champion is None or e.measured == champion.measured else " *"
        tags = ",".join(e.aliases) + (" (published)" if e.published else "")
        lines.append(f"{rank:>3} {e.version:>7} {avg:>8}{mark:2}{cells}  {tags}".rstrip())
    measures = sorted({e.measured_as for e in entries})
    lines.append("")
    lines += [f"measured: {m}" for m in measures]
    if champion is not None and any(e.measured != champion.measured for e in entries):
        lines.append("* measured differently from the champion: not comparable with it")
    return "\n".join(lines)
