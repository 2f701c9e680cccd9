"""The end-of-run summary: reference vs candidate per task and average, the decision, where the
run can be seen (MLflow, Prefect), and the wall time of each stage with the orchestration
overhead (wall time not spent in data, training or evaluation compute).
"""

from __future__ import annotations

from typing import Any

COMPUTE_STAGES = (
    "resolve_base_model",
    "prepare_data",
    "fine_tune",
    "evaluate_candidate",
    "evaluate_reference",
)


def overhead(timings: dict[str, float], total: float) -> tuple[float, float]:
    """Return (orchestration seconds, share of total) given per-stage compute seconds."""
    compute = sum(v for k, v in timings.items() if k in COMPUTE_STAGES)
    extra = max(0.0, total - compute)
    return extra, (extra / total if total > 0 else 0.0)


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:6.2f}"


def score_table(
    reference: dict[str, Any] | None, candidate: dict[str, Any], ref_label: str
) -> list[str]:
    """Return the lines of a per-task table (points, x100) of reference vs candidate."""
    lines = [f"{'task':<18} {ref_label:>10} {'candidate':>10} {'delta':>8}"]
    ref_tasks = (reference or {}).get("tasks", {})
    for name, t in candidate["tasks"].items():
        c = 100 * t["score"]
        r = 100 * ref_tasks[name]["score"] if name in ref_tasks else None
        d = None if r is None else c - r
        lines.append(f"{name:<18} {_fmt(r):>10} {_fmt(c):>10} {_fmt(d):>8}")
    r_avg = reference.get("average") if reference else None
    c_avg = candidate["average"]
    lines.append(
        f"{'average':<18} {_fmt(r_avg):>10} {_fmt(c_avg):>10} "
        f"{_fmt(None if r_avg is None else c_avg - r_avg):>8}"
    )
    return lines


def render_summary(summary: dict[str, Any]) -> str:
    """Return the human-readable summary printed at the end of `climb run`."""
    ref = summary.get("reference") or {}
    ref_label = ref.get("kind", "reference")
    if ref.get("version"):
        ref_label = f"{ref_label} v{ref['version']}"
    out = [
        "",
        "=" * 72,
        f"climb run {summary.get('name', '')}: {summary.get('status', '')}",
        "=" * 72,
    ]
    cand = summary.get("candidate_result")
    if cand:
        out += score_table(ref.get("result"), cand, ref_label[:10])
        if cand.get("deviations"):
            out.append("deviations: " + "; ".join(cand["deviations"]))
    decision = summary.get("decision") or {}
    if decision:
        verdict = (
            "PROMOTED to champion"
            if summary.get("promotion", {}).get("promoted")
            else "NOT promoted"
        )
        out += ["", f"decision: {verdict}"] + [f"  - {r}" for r in decision.get("reasons", [])]
        why = summary.get("promotion_reason")
        if why and decision.get("promote") and why not in decision.get("reasons", []):
            out.append(f"  - at promotion time (under the lock): {why}")
    promo = summary.get("promotion") or {}
    if promo.get("version"):
        out.append(f"registry: {promo['registered_model']} version {promo['version']}")
    pub = summary.get("publish") or {}
    if pub:
        out.append(f"publish: {pub.get('mode')}: {pub.get('message')}")
    out += [
        "",
        f"MLflow run:     {summary.get('mlflow_run_url', '-')}",
        f"Prefect flow:   {summary.get('prefect_flow_run_url', '-')}",
        "",
        "wall time by stage (s):",
    ]
    timings: dict[str, float] = summary.get("timings", {})
    for name, secs in timings.items():
        out.append(f"  {name:<24} {secs:8.1f}")
    total = float(summary.get("total_seconds", 0.0))
    extra, share = overhead(timings, total)
    out.append(f"  {'total':<24} {total:8.1f}")
    out.append(f"  orchestration overhead   {extra:8.1f}  ({100 * share:.1f} % of the run)")
    return "\n".join(out)


def _cell(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}"


def decision_markdown(summary: dict[str, Any]) -> str:
    """Return the run's promotion report as Markdown (the Prefect artifact of each run).

    `summary` has the keys of the flow's summary: candidate_result, reference {kind, version,
    result}, decision {promote, reasons}, promotion {registered_model, version, promoted},
    promotion_reason, publish {mode, message, location} and mlflow_run_url.
    """
    cand = summary.get("candidate_result") or {}
    ref = summary.get("reference") or {}
    ref_result = ref.get("result") or {}
    label = ref.get("kind", "reference") + (f" v{ref['version']}" if ref.get("version") else "")
    promo = summary.get("promotion") or {}
    decision = summary.get("decision") or {}
    verdict = "**promoted to champion**" if promo.get("promoted") else "**not promoted**"
    lines = [
        f"# {summary.get('name', 'climb run')}: {verdict}",
        "",
        f"| task | {label} | candidate | delta |",
        "|---|---:|---:|---:|",
    ]
    ref_tasks = ref_result.get("tasks", {})
    for name, t in (cand.get("tasks") or {}).items():
        c = 100 * t["score"]
        r = 100 * ref_tasks[name]["score"] if name in ref_tasks else None
        lines.append(
            f"| {name} | {_cell(r)} | {_cell(c)} | {_cell(None if r is None else c - r)} |"
        )
    c_avg, r_avg = cand.get("average"), ref_result.get("average")
    d_avg = None if c_avg is None or r_avg is None else c_avg - r_avg
    lines.append(f"| **average** | {_cell(r_avg)} | {_cell(c_avg)} | {_cell(d_avg)} |")
    lines += ["", "## Decision", ""]
    lines += [f"- {r}" for r in decision.get("reasons", [])] or ["- (no decision recorded)"]
    why = summary.get("promotion_reason")
    if why and decision.get("promote") and why not in decision.get("reasons", []):
        lines.append(f"- at promotion time (under the lock): {why}")
    if promo.get("version"):
        lines += [
            "",
            f"Registry: `{promo.get('registered_model')}` version {promo['version']}"
            + (" holds `champion`." if promo.get("promoted") else " holds `challenger`."),
        ]
    pub = summary.get("publish") or {}
    if pub:
        lines.append(f"Publish: {pub.get('mode')}: {pub.get('message')}")
    if cand.get("suite"):
        lines.append(
            f"Suite: {cand['suite']} v{cand.get('suite_version')}, protocol "
            f"{cand.get('protocol')}, limit {cand.get('limit') or 'none'}, "
            f"data {cand.get('data_source')}."
        )
    if summary.get("mlflow_run_url"):
        lines.append(f"MLflow run: [{summary['mlflow_run_url']}]({summary['mlflow_run_url']})")
    return "\n".join(lines) + "\n"
