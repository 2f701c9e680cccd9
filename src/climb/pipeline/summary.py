"""The end-of-run summary: reference vs candidate per task and average (each score with its
standard error and the documents it rests on), the decision, where the run can be seen (MLflow,
Prefect), and the wall time of each stage with the orchestration overhead (wall time not spent
in data, training or evaluation compute). Rendered as text for the terminal and as Markdown for
the Prefect artifact.
"""

from __future__ import annotations

from climb.records import Comparison, RunSummary, SuiteScores


def _pm(value: float | None, se: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.2f} ± {se:.2f}" if se is not None else f"{value:.2f} ± ?"


def _gain(name: str, r: float | None, c: float, comparison: Comparison | None) -> str:
    """The gain cell: `+1.23 [-0.40, +2.86]` with the paired interval, else the plain delta."""
    if comparison is not None:
        iv = comparison.average if name == "average" else comparison.tasks.get(name)
        if iv is not None:
            return iv.label()
    return "-" if r is None else f"{c - r:+.2f}"


def _rows(
    reference: SuiteScores | None, candidate: SuiteScores, comparison: Comparison | None = None
) -> list[tuple[str, str, str, str, str]]:
    """(task, reference, candidate, gain, documents) cells, the average last."""
    rows = []
    for name, t in candidate.tasks.items():
        has_ref = reference is not None and name in reference.tasks
        r = reference.points(name) if reference is not None and has_ref else None
        r_se = reference.stderr_points(name) if reference is not None and has_ref else None
        c = candidate.points(name)
        cells = (_pm(r, r_se), _pm(c, candidate.stderr_points(name)))
        rows.append((name, *cells, _gain(name, r, c, comparison), str(t.n)))
    r_avg = reference.average if reference is not None else None
    r_avg_se = reference.average_stderr() if reference is not None else None
    rows.append(
        (
            "average",
            _pm(r_avg, r_avg_se),
            _pm(candidate.average, candidate.average_stderr()),
            _gain("average", r_avg, candidate.average, comparison),
            str(candidate.documents_scored),
        )
    )
    return rows


def _legend(scale: float, comparison: Comparison | None) -> str:
    text = f"scores 0-{scale:g}; ± is one standard error"
    if comparison is None:
        return text
    return (
        f"{text}; gain [low, high] is the {100 * comparison.confidence:g}% interval of a paired "
        f"bootstrap over {comparison.paired_documents} documents ({comparison.resamples} "
        "resamples)"
    )


def score_table(
    reference: SuiteScores | None,
    candidate: SuiteScores,
    ref_label: str,
    comparison: Comparison | None = None,
) -> list[str]:
    """Return the lines of a per-task table of reference vs candidate: scores on the suite's
    scale with ± their standard error, the gain (with its paired confidence interval when a
    comparison is given), and the documents each score rests on."""
    width = 24 if comparison is not None else 8
    lines = [f"{'task':<18} {ref_label[:16]:>16} {'candidate':>16} {'gain':>{width}} {'docs':>6}"]
    for name, ref, cand, gain, n in _rows(reference, candidate, comparison):
        lines.append(f"{name:<18} {ref:>16} {cand:>16} {gain:>{width}} {n:>6}")
    lines.append(f"({_legend(candidate.scale, comparison)})")
    return lines


def _verdict(summary: RunSummary) -> str:
    return "PROMOTED to champion" if summary.release.promoted else "NOT promoted"


def render_summary(summary: RunSummary) -> str:
    """Return the human-readable summary printed at the end of `climb run`."""
    cand = summary.candidate_result
    out = ["", "=" * 72, f"climb run {summary.name}: {summary.status}", "=" * 72]
    decision = summary.decision
    out += score_table(summary.reference_result, cand, summary.reference_label, decision.comparison)
    if cand.deviations:
        out.append("deviations: " + "; ".join(cand.deviations))
    for step in summary.escalation:
        out.append(
            f"escalated to limit {step.limit or 'full'}: scored {step.candidate_documents} more "
            f"candidate and {step.reference_documents} more reference documents in "
            f"{step.seconds:.1f}s -> {step.outcome}"
        )
    out += ["", f"decision: {_verdict(summary)} ({decision.outcome.replace('_', ' ')})"]
    out += [f"  - {r}" for r in decision.reasons]
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
    comparison = summary.decision.comparison
    outcome = summary.decision.outcome.replace("_", " ")
    lines = [
        f"# {summary.name}: {verdict} ({outcome})",
        "",
        f"| task | {summary.reference_label} | candidate | gain | documents |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, ref, c, gain, n in _rows(summary.reference_result, cand, comparison):
        label = "**average**" if name == "average" else name
        lines.append(f"| {label} | {ref} | {c} | {gain} | {n} |")
    legend = _legend(cand.scale, comparison)
    lines += ["", legend[0].upper() + legend[1:] + "."]
    for step in summary.escalation:
        lines.append(
            f"- escalated to limit {step.limit or 'full'}: {step.candidate_documents} + "
            f"{step.reference_documents} documents scored in {step.seconds:.1f}s, {step.outcome}"
        )
    lines += ["", "## Decision", ""]
    lines += [f"- {r}" for r in summary.decision.reasons] or ["- (no decision recorded)"]
    if rel.reason and summary.decision.promote and rel.reason not in summary.decision.reasons:
        lines.append(f"- at promotion time (under the lock): {rel.reason}")
    holds = " holds `champion`." if rel.promoted else " holds `challenger`."
    lines += ["", f"Registry: `{rel.registered_model}` version {rel.version}" + holds]
    lines.append(f"Publish: {rel.publish.mode}: {rel.publish.message}")
    lines.append(f"Suite: {cand.measurement.label()}.")
    lines.append(f"MLflow run: [{summary.mlflow_run_url}]({summary.mlflow_run_url})")
    return "\n".join(lines) + "\n"
