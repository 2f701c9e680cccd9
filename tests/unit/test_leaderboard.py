"""The team leaderboard: ranking, per-task columns, aliases, comparability marks."""

from __future__ import annotations

import json

from mlflow.entities.model_registry import ModelVersion, ModelVersionTag

from climb.registry.leaderboard import entry_of, render


def mv(version: int, avg: float | None, limit: int = 2, published: bool = False) -> ModelVersion:
    tags = {"climb.base_model": "smol"}
    if avg is not None:
        tags["climb.average"] = str(avg)
        tags["climb.result"] = json.dumps(
            {
                "suite": "open-llm-v1",
                "suite_version": "1",
                "protocol": "lm-eval-0.4",
                "limit": limit,
                "data_source": "smoke",
                "tasks": {"arc": {"score": avg / 100}, "mmlu": {"score": avg / 200}},
            }
        )
    if published:
        tags["climb.published"] = "{}"
    return ModelVersion(
        "m",
        str(version),
        creation_timestamp=1000 * version,
        tags=[ModelVersionTag(k, v) for k, v in tags.items()],
    )


def test_rank_marks_aliases_and_incomparable_versions() -> None:
    aliases = {"champion": "2", "challenger": "4"}
    versions = [mv(1, 40.0), mv(2, 50.0, published=True), mv(3, None), mv(4, 55.0, limit=10)]
    entries = sorted(
        (entry_of(v, aliases) for v in versions),
        key=lambda e: (e.average is None, -(e.average or 0), int(e.version)),
    )
    assert [e.version for e in entries] == ["4", "2", "1", "3"]
    text = render(entries, "m")
    lines = text.splitlines()
    assert lines[0] == "leaderboard of m (4 versions)"
    assert lines[2].split()[:4] == ["1", "4", "55.00", "*"]
    assert "challenger" in lines[2]
    assert lines[3].split()[:3] == ["2", "2", "50.00"] and "champion (published)" in lines[3]
    assert "25.00" in lines[3]  # mmlu = avg / 2
    assert lines[5].split()[:3] == ["4", "3", "-"]
    assert "* measured differently from the champion" in text
    assert "measured: open-llm-v1 v1, lm-eval-0.4, limit 10, smoke" in text


def test_empty_registry() -> None:
    assert "no registered versions" in render([], "m")
