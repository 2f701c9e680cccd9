"""Plots logged to MLflow with each pipeline run: candidate vs reference per task (bar chart) and
the champion's average over time (champion history). Drawn with matplotlib's object API on the
Agg canvas: no pyplot, no global backend switch, nothing at import time.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from climb.records import SuiteScores


def _figure(width: float, height: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def scores_chart(
    candidate: SuiteScores, reference: SuiteScores | None, ref_label: str, path: Path
) -> Path:
    """Draw candidate vs reference scores per task plus the average (suite scale), each bar
    with its standard error as an error bar and the documents it rests on; save a PNG.
    Returns `path`."""
    names = [*candidate.tasks, "average"]
    cand = [candidate.points(t) for t in candidate.tasks] + [candidate.average]
    cand_err = [candidate.stderr_points(t) for t in candidate.tasks]
    cand_err.append(candidate.average_stderr())
    fig = _figure(max(6.0, 1.3 * len(names)), 4.0)
    ax = fig.add_subplot()
    x = list(range(len(names)))
    width = 0.38
    if reference is not None:
        ref = [reference.points(t) if t in reference.tasks else 0.0 for t in candidate.tasks]
        ref_err = [
            reference.stderr_points(t) if t in reference.tasks else None for t in candidate.tasks
        ]
        ref.append(reference.average)
        ref_err.append(reference.average_stderr())
        ax.bar(
            [i - width / 2 for i in x],
            ref,
            width,
            yerr=[e or 0.0 for e in ref_err],
            capsize=3,
            label=ref_label,
            color="#9aa5b1",
        )
    bars = ax.bar(
        [i + (width / 2 if reference is not None else 0) for i in x],
        cand,
        width,
        yerr=[e or 0.0 for e in cand_err],
        capsize=3,
        label="candidate",
    )
    for bar, value, err in zip(bars, cand, cand_err, strict=True):
        label = f"{value:.1f}" + (f"±{err:.1f}" if err is not None else "")
        ax.annotate(
            label,
            (bar.get_x() + bar.get_width() / 2, bar.get_height()),
            ha="center",
            va="bottom",
            fontsize=7,
        )
    ticks = [f"{t}\n(n={candidate.tasks[t].n})" for t in candidate.tasks]
    ticks.append(f"average\n(n={candidate.documents_scored})")
    ax.set_xticks(x, ticks, rotation=20, ha="right")
    ax.set_ylabel(f"score (0-{candidate.scale:g}), error bars: ±1 stderr")
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
