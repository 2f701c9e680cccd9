"""Pipelines finishing together, as separate processes, against a real `mlflow server`.

Each worker is a forked process running the real promote stage (stages.register_and_promote:
register, lock, re-check, publish to the outbox, move the alias). Checks: exactly one champion
at the end and it is the best; the champion history is one linear chain (no two moves from the
same previous champion, as an unlocked read-then-write would produce); the outbox (what would
be on the Hub) holds the champion's files; and a slower, worse candidate that decided against
an older champion is refused once a better one has been promoted.

Starts: `mlflow server` (SQLite, own process group, stopped at the end) and 6 worker processes.
"""

from __future__ import annotations

import itertools
import multiprocessing as mp
import traceback
from pathlib import Path
from typing import Any

import mlflow_server
import pytest
from stage_helpers import candidate, context, result, sqlite_template, write_config

from climb.config import PromotionConfig
from climb.pipeline import stages
from climb.registry.champion import history
from climb.registry.decision import Scores, decide
from climb.registry.tracking import client_for

pytestmark = pytest.mark.integration
FORK = mp.get_context("fork")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    import matplotlib.backends.backend_agg  # noqa: F401  (warm for the forked workers)

    template = sqlite_template(tmp_path_factory.getbasetemp())
    url, proc = mlflow_server.start(tmp_path_factory.mktemp("mlflow-server"), template)
    yield url
    mlflow_server.stop(proc)


def promote(config: Path, label: str, average: float, reference: dict[str, Any]) -> dict[str, Any]:
    """Run the promote stage for a candidate scoring `average`, decided against `reference`."""
    ctx = context(config)
    cand, res = candidate(ctx, label), result(average)
    policy = PromotionConfig(registered_model=ctx.config.promotion.registered_model)
    decision = decide(
        Scores.from_result(res), Scores.from_result(reference["result"]), policy, reference["kind"]
    ).to_dict()
    return {"ctx": ctx, "cand": cand, "res": res, "decision": decision, "reference": reference}


def worker(
    config: Path, label: str, average: float, reference: dict, barrier: Any, go: Any, out: Any
) -> None:
    try:
        prepared = promote(config, label, average, reference)
        assert prepared["decision"]["promote"], prepared["decision"]
        barrier.wait(timeout=120)
        if go is not None:
            go.wait(timeout=120)
        done = stages.register_and_promote(
            prepared["ctx"], prepared["cand"], prepared["res"], prepared["decision"], reference
        )
        out.put((label, done))
    except BaseException:
        out.put((label, {"error": traceback.format_exc()}))


def plant_champion(config: Path) -> dict[str, Any]:
    """Promote a first model (average 40, against a base of 30) through the real stage."""
    base = {"kind": "base", "version": None, "result": result(30.0)}
    p = promote(config, "first", 40.0, base)
    done = stages.register_and_promote(p["ctx"], p["cand"], p["res"], p["decision"], base)
    assert done["promotion"]["promoted"] and done["promotion"]["version"] == "1"
    return {"kind": "champion", "version": "1", "result": p["res"]}


def run_workers(
    config: Path, specs: list[tuple[str, float]], reference: dict, slow: str | None = None
):
    barrier = FORK.Barrier(len(specs))
    go = FORK.Event()
    out = FORK.Queue()
    procs = {}
    for label, avg in specs:
        gate = go if label == slow else None
        procs[label] = FORK.Process(
            target=worker, args=(config, label, avg, reference, barrier, gate, out)
        )
        procs[label].start()
    results: dict[str, dict] = {}
    while len(results) < len(specs):
        label, done = out.get(timeout=180)
        results[label] = done
        if slow and len(results) == len(specs) - 1:
            go.set()  # the slow one promotes only after every other one has finished
    for p in procs.values():
        p.join(timeout=60)
        assert p.exitcode == 0
    for label, done in results.items():
        assert "error" not in done, f"{label}: {done.get('error')}"
    return results


def outbox_digest(tmp: Path) -> str:
    return (tmp / "outbox" / "climb-org__reg-model" / "climb_digest.txt").read_text().strip()


def test_four_pipelines_finishing_together_leave_one_champion_the_best(
    server: str, tmp_path: Path
) -> None:
    config = write_config(tmp_path, uri=server, model="race", name="race")
    reference = plant_champion(config)
    specs = [("a", 50.0), ("b", 60.0), ("c", 55.0), ("d", 45.0)]
    results = run_workers(config, specs, reference)

    client = client_for(server)
    version_of = {label: r["promotion"]["version"] for label, r in results.items()}
    champion = client.get_model_version_by_alias("race", "champion")
    assert str(champion.version) == version_of["b"], results
    assert sorted(version_of.values()) == ["2", "3", "4", "5"]
    events = history(client, "race")
    chain = [(e.version, e.previous) for e in events]
    for (prev_version, _), (_, previous) in itertools.pairwise(chain):
        assert previous == prev_version, f"two moves from the same champion: {chain}"
    averages = [e.average for e in events]
    assert averages == sorted(averages) and len(set(averages)) == len(averages), averages
    for done in results.values():
        if not done["promotion"]["promoted"]:
            assert "moved to version" in done["reason"], done["reason"]
    published = client.get_model_version("race", version_of["b"]).tags["climb.published"]
    assert outbox_digest(tmp_path) in published


def test_a_slower_worse_candidate_never_overwrites_a_better_champion(
    server: str, tmp_path: Path
) -> None:
    config = write_config(tmp_path, uri=server, model="race-slow", name="slow")
    reference = plant_champion(config)
    results = run_workers(config, [("fast", 70.0), ("slow", 52.0)], reference, slow="slow")

    client = client_for(server)
    fast, slow = results["fast"], results["slow"]
    assert fast["promotion"]["promoted"] is True
    assert slow["promotion"]["promoted"] is False  # it beat v1 when it decided, not v(fast)
    assert "moved to version" in slow["reason"] and "does not beat" in slow["reason"]
    assert (
        str(client.get_model_version_by_alias("race-slow", "champion").version)
        == fast["promotion"]["version"]
    )
    assert (
        str(client.get_model_version_by_alias("race-slow", "challenger").version)
        == slow["promotion"]["version"]
    )
    assert slow["publish"]["mode"] == "skipped"
    published = client.get_model_version("race-slow", fast["promotion"]["version"]).tags
    assert outbox_digest(tmp_path) in published["climb.published"]
