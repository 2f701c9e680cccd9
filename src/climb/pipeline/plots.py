"""Plots logged to MLflow with each pipeline run: candidate vs reference per task (bar chart) and
the champion's average over time (champion history). Drawn with matplotlib's object API on the
Agg canvas: no pyplot, no global backend switch, nothing at import time.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any


def _figure(width: float, height: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def scores_chart(
    candidate: dict[str, Any], reference: dict[str, Any] | None, ref_label: str, path: Path
) -> Path:
    """Draw candidate vs reference scores (points) per task plus the average; save a PNG.

    `candidate` / `reference` are suite results ({"tasks": {name: {"score"}}, "average"}).
    Returns `path`.
    """
    names = [*candidate["tasks"], "average"]
    cand = [100 * t["score"] for t in candidate["tasks"].values()] + [candidate["average"]]
    ref_tasks = (reference or {}).get("tasks", {})
    ref = [100 * ref_tasks[n]["score"] if n in ref_tasks else 0.0 for n in candidate["tasks"]]
    ref.append(float((reference or {}).get("average", 0.0)))
    fig = _figure(max(6.0, 1.3 * len(names)), 4.0)
    ax = fig.add_subplot()
    x = list(range(len(names)))
    width = 0.38
    if reference:
        ax.bar([i - width / 2 for i in x], ref, width, label=ref_label, color="#9aa5b1")
    bars = ax.bar([i + (width / 2 if reference else 0) for i in x], cand, width, label="candidate")
    for bar, value in zip(bars, cand, strict=True):
        ax.annotate(
            f"{value:.1f}",
            (bar.get_x() + bar.get_width() / 2, bar.get_height()),
            ha="center",
            va="bottom",
            fontsize=8,
        )
    ax.set_xticks(x, names, rotation=20, ha="right")
    ax.set_ylabel("score (points)")
    ax.set_title("candidate vs " + ref_label)
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(str(path))
    return path


def history_chart(events: list[Any], path: Path, model_name: str) -> Path:
    """Draw the champion's average over time as steps, one labelled point per move; save PNG.

    `events` are climb.registry.champion.Event (oldest first). Returns `path`.
    """
    fig = _figure(7.0, 4.0)
    ax = fig.add_subplot()
    points = [e for e in events if e.average is not None]
    if points:
        when = [datetime.fromtimestamp(e.when) for e in points]
        avg = [float(e.average) for e in points]
        ax.step(when, avg, where="post", color="#3366cc")
        colours = {"pipeline": "#3366cc", "manual": "#dd8800", "rollback": "#cc3333"}
        for e, t, a in zip(points, when, avg, strict=True):
            ax.scatter([t], [a], color=colours.get(e.kind, "black"), zorder=3)
            ax.annotate(
                f"v{e.version} ({e.kind})",
                (t, a),
                xytext=(4, 4),
                textcoords="offset points",
                fontsize=8,
            )
    else:
        ax.text(0.5, 0.5, "no champion yet", ha="center", va="center", transform=ax.transAxes)
    ax.set_ylabel("champion average (points)")
    ax.set_title(f"{model_name}: champion history")
    fig.autofmt_xdate()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(str(path))
    return path
