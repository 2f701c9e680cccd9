"""The team leaderboard: ranking, per-task columns, standard errors, aliases, comparability."""

from __future__ import annotations

from support.factories import suite_scores

from climb.records import PublishResult
from climb.registry import tags as T
from climb.registry.leaderboard import entry_of, rank, render
from climb.registry.versions import RegisteredVersion


def version(
    n: int, avg: float | None, limit: int = 2, published: bool = False
) -> RegisteredVersion:
    tags = {T.BASE_MODEL: "smol"}
    if avg is not None:
        scores = suite_scores(
            scores={"arc": avg / 100, "mmlu": avg / 200}, limit=limit, stderr=0.03
        )
        tags[T.AVERAGE] = str(avg)
        tags[T.RESULT] = scores.model_dump_json()
    if published:
        tags[T.PUBLISHED] = PublishResult(mode="outbox").model_dump_json()
    return RegisteredVersion(
        name="m", version=str(n), source="runs:/x/adapter", created_ms=1000 * n, tags=tags
    )


def test_rank_marks_aliases_stderr_and_incomparable_versions() -> None:
    aliases = {"champion": "2", "challenger": "4"}
    versions = [version(1, 40.0), version(2, 50.0, published=True), version(3, None)]
    versions.append(version(4, 55.0, limit=10))
    entries = rank([entry_of(v, aliases) for v in reversed(versions)])
    assert [e.version for e in entries] == ["4", "2", "1", "3"]
    text = render(entries, "m")
    lines = text.splitlines()
    assert lines[0] == "leaderboard of m (4 versions)"
    assert lines[2].split()[:6] == ["1", "4", "55.00", "±", "2.12", "*"]
    assert "challenger" in lines[2]
    assert lines[3].split()[:6] == ["2", "2", "50.00", "±", "2.12", "4"]
    assert "champion (published)" in lines[3]
    assert "25.00" in lines[3]  # mmlu = avg / 2
    assert lines[5].split()[:3] == ["4", "3", "-"]
    assert "* measured differently from the champion" in text
    assert "measured: open-llm-v1 v1, lm-eval-0.4, limit 10, smoke" in text
    assert "standard error of the average" in text


def test_ties_rank_by_version_and_unscored_last() -> None:
    entries = rank([entry_of(version(n, a), {}) for n, a in [(3, 50.0), (1, None), (2, 50.0)]])
    assert [e.version for e in entries] == ["2", "3", "1"]


def test_a_version_with_an_unreadable_result_is_listed_unscored() -> None:
    broken = version(1, 40.0).model_copy(update={"tags": {T.RESULT: "{not json", T.AVERAGE: ""}})
    entry = entry_of(broken, {})
    assert entry.average is None and entry.tasks == {} and entry.measured is None


def test_empty_registry() -> None:
    assert "no registered versions" in render([], "m")
