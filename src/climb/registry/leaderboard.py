"""The team's own leaderboard: every registered version of a model ranked by suite average, with
per-task scores and their standard errors, how it was measured, and which aliases it holds
(`climb leaderboard`).
"""

from __future__ import annotations

from typing import Any

from climb.records import Measurement, Record
from climb.registry import tags as T
from climb.registry.versions import RegisteredVersion, aliases, list_versions


class Entry(Record):
    """One registered version as the leaderboard shows it (scores in points, suite scale)."""

    version: str
    average: float | None
    average_stderr: float | None = None
    documents: int = 0
    tasks: dict[str, float]
    measured: Measurement | None
    base_model: str
    created_ms: int
    aliases: list[str]
    published: bool = False

    @property
    def measured_as(self) -> str:
        """A short label of how the scores were measured (suite v, protocol, limit, data)."""
        return self.measured.label() if self.measured else "-"


def entry_of(version: RegisteredVersion, alias_map: dict[str, str]) -> Entry:
    """Build the leaderboard Entry of a registered version from its recorded scores."""
    scores = version.scores
    return Entry(
        version=version.version,
        average=version.average,
        average_stderr=scores.average_stderr() if scores else None,
        documents=scores.documents_scored if scores else 0,
        tasks={k: scores.points(k) for k in scores.tasks} if scores else {},
        measured=scores.measurement if scores else None,
        base_model=version.tags.get(T.BASE_MODEL, ""),
        created_ms=version.created_ms,
        aliases=sorted(a for a, v in alias_map.items() if v == version.version),
        published=version.published,
    )


def rank(entries: list[Entry]) -> list[Entry]:
    """Return `entries` best first: by average, unscored last, ties by version number."""
    return sorted(entries, key=lambda e: (e.average is None, -(e.average or 0.0), int(e.version)))


def ranked(client: Any, model_name: str) -> list[Entry]:
    """Return the versions of `model_name` ranked by average (best first; unscored last)."""
    alias_map = aliases(client, model_name)
    return rank([entry_of(v, alias_map) for v in list_versions(client, model_name)])


def _average_cell(e: Entry) -> str:
    if e.average is None:
        return "-"
    se = f" ± {e.average_stderr:.2f}" if e.average_stderr is not None else " ± ?"
    return f"{e.average:.2f}{se}"


def render(entries: list[Entry], model_name: str) -> str:
    """Return the leaderboard as a fixed-width table: average ± its standard error, documents
    scored, per-task points, aliases; versions measured unlike the champion are marked."""
    if not entries:
        return f"{model_name}: no registered versions yet"
    tasks: list[str] = []
    for e in entries:
        tasks += [t for t in e.tasks if t not in tasks]
    champion = next((e for e in entries if "champion" in e.aliases), None)
    head = f"{'#':>3} {'version':>7} {'average ± se':>15} {'docs':>6} " + " ".join(
        f"{t[:14]:>14}" for t in tasks
    )
    lines = [f"leaderboard of {model_name} ({len(entries)} versions)", head + "  aliases"]
    for n, e in enumerate(entries, 1):
        cells = " ".join(f"{e.tasks[t]:>14.2f}" if t in e.tasks else f"{'-':>14}" for t in tasks)
        mark = "" if champion is None or e.measured == champion.measured else " *"
        tags = ",".join(e.aliases) + (" (published)" if e.published else "")
        row = f"{n:>3} {e.version:>7} {_average_cell(e):>15}{mark:2}{e.documents:>5} {cells}"
        lines.append(f"{row}  {tags}".rstrip())
    lines.append("")
    lines += [f"measured: {m}" for m in sorted({e.measured_as for e in entries})]
    lines.append("± is the standard error of the average (tasks treated as independent).")
    if champion is not None and any(e.measured != champion.measured for e in entries):
        lines.append("* measured differently from the champion: not comparable with it")
    return "\n".join(lines)
