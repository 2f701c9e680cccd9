"""Per-document results from a real lm-eval run (tiny random Llama, climb's smoke benchmarks):
the suite's aggregation recomputed from the documents equals what lm-eval reported (MMLU's
subject mean included), and a result grown from a smaller limit scores only the documents it
lacked and equals a single run over all of them (few-shot draws replayed: ARC's random shots
from train, HellaSwag's from its own split). Starts: nothing (lm-eval in process)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from climb.config import EvalConfig
from climb.evaluate import grow
from climb.evaluate.aggregate import point_scores
from climb.evaluate.runner import evaluate_model
from climb.evaluate.suites import load_suite
from climb.records import EvalResult, ModelRef
from climb.state import StateDir

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def prompts(out_dir: Path, leaf: str) -> dict[int, str]:
    rows = [json.loads(x) for x in (out_dir / "samples" / f"{leaf}.jsonl").read_text().splitlines()]
    return {r["doc_id"]: r["prompt_hash"] for r in rows}


def values(result: EvalResult) -> dict[str, list[tuple[int, str, dict]]]:
    return {
        leaf: [(d.doc_id, d.doc_hash, d.values) for d in docs]
        for leaf, docs in result.documents.items()
    }


@pytest.fixture(scope="module")
def direct(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory):
    ref = ModelRef(path=str(tiny_model), name="tiny", digest="tiny-grow")
    state = StateDir.at(tmp_path_factory.mktemp("grow-state"))
    out = tmp_path_factory.mktemp("direct")
    cfg = EvalConfig(limit=4, batch_size=8)
    return ref, state, evaluate_model(ref, cfg, state, out, use_cache=False), out


def test_documents_reproduce_what_lm_eval_reported(direct) -> None:
    _, _, result, _ = direct
    suite = load_suite("open-llm-v1")
    scores, average = point_scores(suite, result)
    assert average == pytest.approx(result.average, abs=1e-9)
    for name, score in scores.items():
        assert score == pytest.approx(result.tasks[name].score, abs=1e-9), name
    assert len(result.tasks["mmlu"].leaves) == 57
    assert result.documents_scored == sum(len(d) for d in result.documents.values())
    assert result.evaluated_documents == result.documents_scored
    hashes = [d.doc_hash for d in result.documents["climb_arc_challenge"]]
    assert len(set(hashes)) == len(hashes) == 4


def test_a_grown_result_equals_one_run_and_scores_only_the_new_documents(
    direct, tmp_path: Path
) -> None:
    ref, state, full, full_out = direct
    small = evaluate_model(ref, EvalConfig(limit=2, batch_size=8), state, tmp_path / "two")
    grown_out = tmp_path / "grown"
    grown = evaluate_model(
        ref, EvalConfig(limit=4, batch_size=8), state, grown_out, use_cache=False, grow_from=small
    )
    assert grown.evaluated_documents == full.documents_scored - small.documents_scored
    assert values(grown) == values(full)
    for leaf in ("climb_arc_challenge", "climb_hellaswag"):
        new = prompts(grown_out, leaf)
        assert set(new) == {2, 3}  # only the documents the small run lacked
        assert new == {i: h for i, h in prompts(full_out, leaf).items() if i in new}
    assert grown.average == pytest.approx(full.average, abs=1e-9)
    for name, t in full.tasks.items():
        assert grown.tasks[name].score == pytest.approx(t.score, abs=1e-9)
        if t.stderr is not None:
            assert grown.tasks[name].stderr == pytest.approx(t.stderr, rel=1e-6)


def test_without_the_replayed_draws_the_shots_would_differ(
    direct, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The control: documents 2..3 evaluated alone get the shots of documents 0..1."""
    ref, state, _, full_out = direct
    small = evaluate_model(ref, EvalConfig(limit=2, batch_size=8), state, tmp_path / "two")
    monkeypatch.setattr(grow, "ContiguousSampler", lambda base, indices, same: base)
    out = tmp_path / "plain"
    evaluate_model(
        ref, EvalConfig(limit=4, batch_size=8), state, out, use_cache=False, grow_from=small
    )
    plain = prompts(out, "climb_arc_challenge")
    assert plain != {
        i: h for i, h in prompts(full_out, "climb_arc_challenge").items() if i in plain
    }
