"""Pipelines finishing together, as separate processes, against a real `mlflow server`.

Each worker is a forked process running the real promote stage (stages.promote:
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

import pytest
from support import mlflow_server
from support.factories import eval_result
from support.stages import prepare_promotion, promote_prepared, sqlite_template, write_config

from climb.records import Reference, Release
from climb.registry.champion import history
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


def worker(
    config: Path, label: str, average: float, reference: Reference, barrier: Any, go: Any, out: Any
) -> None:
    try:
        prepared = prepare_promotion(config, label, average, reference)
        assert prepared.decision.promote, prepared.decision
        barrier.wait(timeout=120)
        if go is not None:
            go.wait(timeout=120)
        out.put((label, promote_prepared(prepared).model_dump_json()))
    except BaseException:
        out.put((label, traceback.format_exc()))


def plant_champion(config: Path) -> Reference:
    """Promote a first model (average 40, against a base of 30) through the real stage."""
    p = prepare_promotion(config, "first", 40.0, Reference(kind="base", result=eval_result(30.0)))
    done = promote_prepared(p)
    assert done.promoted and done.version == "1"
    return Reference(kind="champion", version="1", result=p.result)


def run_workers(
    config: Path, specs: list[tuple[str, float]], reference: Reference, slow: str | None = None
) -> dict[str, Release]:
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
    raw: dict[str, str] = {}
    while len(raw) < len(specs):
        label, done = out.get(timeout=180)
        raw[label] = done
        if slow and len(raw) == len(specs) - 1:
            go.set()  # the slow one promotes only after every other one has finished
    for p in procs.values():
        p.join(timeout=60)
        assert p.exitcode == 0
    for label, done in raw.items():
        assert done.startswith("{"), f"{label}: {done}"
    return {label: Release.model_validate_json(done) for label, done in raw.items()}


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
    version_of = {label: r.version for label, r in results.items()}
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
        if not done.promoted:
            assert "moved to version" in done.reason, done.reason
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
    assert fast.promoted is True
    assert slow.promoted is False  # it beat v1 when it decided, not v(fast)
    assert "moved to version" in slow.reason and "not above +0.00" in slow.reason
    assert str(client.get_model_version_by_alias("race-slow", "champion").version) == fast.version
    assert str(client.get_model_version_by_alias("race-slow", "challenger").version) == slow.version
    assert slow.publish.mode == "skipped"
    published = client.get_model_version("race-slow", fast.version).tags
    assert outbox_digest(tmp_path) in published["climb.published"]
