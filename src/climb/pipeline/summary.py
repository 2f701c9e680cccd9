"""The end-of-run summary: reference vs candidate per task and average (each score with its
standard error and the documents it rests on), the decision, where the run can be seen (MLflow,
Prefect), and the wall time of each stage with the orchestration overhead (wall time not spent
in data, training or evaluation compute). Rendered as text for the terminal and as Markdown for
the Prefect artifact.
"""

from __future__ import annotations

from climb.records import RunSummary, SuiteScores


def _pm(value: float | None, se: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.2f} ± {se:.2f}" if se is not None else f"{value:.2f} ± ?"


def _rows(
    reference: SuiteScores | None, candidate: SuiteScores
) -> list[tuple[str, str, str, str, str]]:
    """(task, reference, candidate, delta, documents) cells, the average last."""
    rows = []
    for name, t in candidate.tasks.items():
        has_ref = reference is not None and name in reference.tasks
        r = reference.points(name) if reference is not None and has_ref else None
        r_se = reference.stderr_points(name) if reference is not None and has_ref else None
        c = candidate.points(name)
        delta = "-" if r is None else f"{c - r:+.2f}"
        rows.append((name, _pm(r, r_se), _pm(c, candidate.stderr_points(name)), delta, str(t.n)))
    r_avg = reference.average if reference is not None else None
    r_avg_se = reference.average_stderr() if reference is not None else None
    rows.append(
        (
            "average",
            _pm(r_avg, r_avg_se),
            _pm(candidate.average, candidate.average_stderr()),
            "-" if r_avg is None else f"{candidate.average - r_avg:+.2f}",
            str(candidate.documents_scored),
        )
    )
    return rows


def score_table(reference: SuiteScores | None, candidate: SuiteScores, ref_label: str) -> list[str]:
    """Return the lines of a per-task table of reference vs candidate: scores on the suite's
    scale with ± their standard error, the difference, and the documents each score rests on."""
    lines = [f"{'task':<18} {ref_label[:16]:>16} {'candidate':>16} {'delta':>8} {'docs':>6}"]
    for name, ref, cand, delta, n in _rows(reference, candidate):
        lines.append(f"{name:<18} {ref:>16} {cand:>16} {delta:>8} {n:>6}")
    lines.append(f"(scores 0-{candidate.scale:g}; ± is one standard error)")
    return lines


def _verdict(summary: RunSummary) -> str:
    return "PROMOTED to champion" if summary.release.promoted else "NOT promoted"


def render_summary(summary: RunSummary) -> str:
    """Return the human-readable summary printed at the end of `climb run`."""
    cand = summary.candidate_result
    out = ["", "=" * 72, f"climb run {summary.name}: {summary.status}", "=" * 72]
    out += score_table(summary.reference_result, cand, summary.reference_label)
    if cand.deviations:
        out.append("deviations: " + "; ".join(cand.deviations))
    decision = summary.decision
    out += ["", f"decision: {_verdict(summary)}"] + [f"  - {r}" for r in decision.reasons]
    why = summary.release.reason
    if why and decision.promote and why not in decision.reasons:
        out.append(f"  - at promotion time (under the lock): {why}")
    rel = summary.release
    out.append(f"registry: {rel.registered_model} version {rel.version}")
    out.append(f"publish: {rel.publish.mode}: {rel.publish.message}")
    out += [
        "",
        f"MLflow run:     {summary.mlflow_run_url}",
        f"Prefect flow:   {summary.prefect_flow_run_url or '-'}",
        "",
        "wall time by stage (s):",
    ]
    for name, secs in summary.timings.model_dump().items():
        out.append(f"  {name:<24} {secs:8.1f}")
    extra, share = summary.overhead()
    out.append(f"  {'total':<24} {summary.total_seconds:8.1f}")
    out.append(f"  orchestration overhead   {extra:8.1f}  ({100 * share:.1f} % of the run)")
    return "\n".join(out)


def decision_markdown(summary: RunSummary) -> str:
    """Return the run's promotion report as Markdown (the Prefect artifact of each run)."""
    cand = summary.candidate_result
    rel = summary.release
    verdict = "**promoted to champion**" if rel.promoted else "**not promoted**"
    lines = [
        f"# {summary.name}: {verdict}",
        "",
        f"| task | {summary.reference_label} | candidate | delta | documents |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, ref, c, delta, n in _rows(summary.reference_result, cand):
        label = "**average**" if name == "average" else name
        lines.append(f"| {label} | {ref} | {c} | {delta} | {n} |")
    lines += [
        "",
        f"Scores on a 0-{cand.scale:g} scale; ± is one standard error.",
        "",
        "## Decision",
        "",
    ]
    lines += [f"- {r}" for r in summary.decision.reasons] or ["- (no decision recorded)"]
    if rel.reason and summary.decision.promote and rel.reason not in summary.decision.reasons:
        lines.append(f"- at promotion time (under the lock): {rel.reason}")
    holds = " holds `champion`." if rel.promoted else " holds `challenger`."
    lines += ["", f"Registry: `{rel.registered_model}` version {rel.version}" + holds]
    lines.append(f"Publish: {rel.publish.mode}: {rel.publish.message}")
    lines.append(f"Suite: {cand.measurement.label()}.")
    lines.append(f"MLflow run: [{summary.mlflow_run_url}]({summary.mlflow_run_url})")
    return "\n".join(lines) + "\n"
