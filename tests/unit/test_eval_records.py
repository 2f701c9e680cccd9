"""Per-document results and the evaluation cache: documents read from lm-eval's sample logs, an
old-format cache entry refused (re-evaluated), never misread."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from support.factories import eval_result

from climb.evaluate.cache import cache_get, cache_put
from climb.evaluate.documents import leaf_documents, suite_documents
from climb.evaluate.scoring import ScoringError
from climb.evaluate.suites import load_suite


def sample(doc_id: int, acc: float, filt: str = "none", **extra: object) -> dict:
    return {"doc_id": doc_id, "doc_hash": f"h{doc_id}", "filter": filt, "acc": acc, **extra}


def test_documents_keep_id_hash_and_the_suites_metric_in_id_order() -> None:
    rows = [sample(2, 1.0, acc_norm=0.0), sample(0, 0.0, acc_norm=1.0), sample(1, True)]
    docs = leaf_documents(rows, ["acc"], "none", "arc")
    assert [d.doc_id for d in docs] == [0, 1, 2]
    assert [d.doc_hash for d in docs] == ["h0", "h1", "h2"]
    assert [d.values for d in docs] == [{"acc": 0.0}, {"acc": 1.0}, {"acc": 1.0}]


def test_documents_of_the_suites_filter_only_and_corpus_items_kept() -> None:
    rows = [sample(0, 1.0, "strict-match"), sample(0, 0.0, "flexible-extract")]
    assert leaf_documents(rows, ["acc"], "strict-match", "gsm")[0].values == {"acc": 1.0}
    f1 = [{"doc_id": 0, "doc_hash": "h", "filter": "none", "f1": [1, 0]}]
    assert leaf_documents(f1, ["f1"], "none", "kobest_boolq")[0].values == {"f1": [1, 0]}


def test_a_missing_metric_or_task_is_an_error_not_a_gap() -> None:
    with pytest.raises(ScoringError, match="document 0 has no acc_norm"):
        leaf_documents([sample(0, 1.0)], ["acc_norm"], "none", "arc")
    suite = load_suite("open-llm-v1")
    with pytest.raises(ScoringError, match="no per-document results for task climb_arc"):
        suite_documents(suite, {"arc_challenge": ["climb_arc_challenge"]}, {})


def test_cache_round_trips_the_whole_result(tmp_path: Path) -> None:
    result = eval_result(45.0, n=3)
    cache_put(tmp_path, "k1", result)
    back = cache_get(tmp_path, "k1")
    assert back is not None and back.documents == result.documents
    assert back.average == 45.0 and back.cache_key == "k1"


def test_an_old_format_entry_is_refused_with_a_message(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    old = {  # what climb cached before per-document results existed
        "cache_key": "k2",
        "suite": "open-llm-v1",
        "average": 45.0,
        "tasks": {"arc_challenge": {"score": 0.45, "stderr": 0.1, "n": 2}},
    }
    (tmp_path / "k2.json").write_text(json.dumps(old))
    with caplog.at_level(logging.WARNING):
        assert cache_get(tmp_path, "k2") is None
    assert "format 1, not 2" in caplog.text and "re-evaluating" in caplog.text


def test_a_corrupt_or_foreign_entry_is_ignored(tmp_path: Path) -> None:
    (tmp_path / "k3.json").write_text("{not json")
    assert cache_get(tmp_path, "k3") is None
    cache_put(tmp_path, "k4", eval_result(40.0))
    (tmp_path / "k5.json").write_text((tmp_path / "k4.json").read_text())
    assert cache_get(tmp_path, "k5") is None  # its key says k4
