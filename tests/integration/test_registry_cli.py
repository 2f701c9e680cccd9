"""`climb leaderboard`, `climb promote VERSION` and `climb rollback` against a real MLflow
registry (SQLite store) filled by the real promote stage; publishing in dry-run mode, so each
manual change also rewrites the outbox. Starts: nothing (MLflow on SQLite in a temp folder)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.factories import eval_result
from support.stages import (
    prepare_promotion,
    promote_prepared,
    sqlite_copy,
    sqlite_template,
    write_config,
)
from typer.testing import CliRunner

from climb.cli import app
from climb.records import Reference, Release
from climb.registry.champion import history
from climb.registry.tracking import client_for

pytestmark = pytest.mark.integration
MODEL = "cli-model"


def pipeline(config: Path, label: str, avg: float, ref: Reference) -> tuple[Release, Reference]:
    """Promote a candidate scoring `avg` against `ref`; return the release and the reference
    the next candidate faces if this one became champion."""
    p = prepare_promotion(config, label, avg, ref)
    out = promote_prepared(p)
    return out, Reference(kind="champion", version=out.version, result=p.result)


@pytest.fixture
def registry_with_history(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path):
    uri = sqlite_copy(sqlite_template(tmp_path_factory.getbasetemp()), tmp_path)
    config = write_config(tmp_path, uri=uri, model=MODEL, name="cli")
    one, ref1 = pipeline(config, "one", 40.0, Reference(kind="base", result=eval_result(30.0)))
    two, ref2 = pipeline(config, "two", 50.0, ref1)
    three, _ = pipeline(config, "three", 45.0, ref2)
    assert [x.promoted for x in (one, two, three)] == [True, True, False]
    return config, client_for(uri), tmp_path / "outbox" / "climb-org__reg-model"


def champion(client) -> str:
    return str(client.get_model_version_by_alias(MODEL, "champion").version)


def test_leaderboard_promote_and_rollback(registry_with_history) -> None:
    config, client, outbox = registry_with_history
    runner = CliRunner()

    board = runner.invoke(app, ["leaderboard", str(config)])
    assert board.exit_code == 0, board.output
    rows = [line.split() for line in board.output.splitlines()[2:5]]
    assert [(r[1], r[2], r[3]) for r in rows] == [
        ("2", "50.00", "±"),
        ("3", "45.00", "±"),
        ("1", "40.00", "±"),
    ]
    assert "champion (published)" in board.output and "challenger" in board.output
    as_json = json.loads(runner.invoke(app, ["leaderboard", str(config), "--json"]).output)
    assert [e["version"] for e in as_json] == ["2", "3", "1"]

    back = runner.invoke(
        app, ["rollback", str(config), "--reason", "worse on our evals", "--by", "alice"]
    )
    assert back.exit_code == 0, back.output
    assert "champion: version 1 (was 2)" in back.output and champion(client) == "1"
    tags = client.get_model_version(MODEL, "1").tags
    assert (
        tags["climb.rollback_by"] == "alice"
        and tags["climb.rollback_reason"] == "worse on our evals"
    )
    card = (outbox / "README.md").read_text()
    assert "rollback by alice: worse on our evals" in card
    assert (outbox / "adapter_model.safetensors").read_bytes() == b"weights of one" * 64
    runs = client.search_runs(
        [client.get_experiment_by_name("cli-exp").experiment_id], "tags.`climb.action` = 'rollback'"
    )
    assert len(runs) == 1 and runs[0].data.tags["climb.by"] == "alice"
    assert runs[0].info.status == "FINISHED" and runs[0].data.tags["climb.previous"] == "2"

    manual = runner.invoke(
        app, ["promote", "3", str(config), "--reason", "human eval", "--by", "bob"]
    )
    assert manual.exit_code == 0, manual.output
    assert champion(client) == "3"
    assert "challenger" not in client.get_registered_model(MODEL).aliases  # it became champion
    assert (outbox / "adapter_model.safetensors").read_bytes() == b"weights of three" * 64

    undo = runner.invoke(app, ["rollback", str(config), "--reason", "undo bob", "--by", "carol"])
    assert undo.exit_code == 0 and champion(client) == "1"
    kinds = [(e.version, e.previous, e.kind, e.by) for e in history(client, MODEL)]
    assert kinds == [
        ("1", None, "pipeline", kinds[0][3]),
        ("2", "1", "pipeline", kinds[1][3]),
        ("1", "2", "rollback", "alice"),
        ("3", "1", "manual", "bob"),
        ("1", "3", "rollback", "carol"),
    ]
    assert (outbox / "adapter_model.safetensors").read_bytes() == b"weights of one" * 64

    first = runner.invoke(app, ["rollback", str(config), "--reason", "again"])
    assert first.exit_code == 2 and "first champion" in first.output
    unknown = runner.invoke(app, ["promote", "99", str(config), "--reason", "typo"])
    assert unknown.exit_code == 2 and "champion unchanged" in unknown.output
    assert champion(client) == "1"
