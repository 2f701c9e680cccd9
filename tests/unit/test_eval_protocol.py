"""Protocols: leaderboard-2023 scores TruthfulQA mc2 as the 2023 harness did (split at the first
false answer), lm-eval-0.4 leaves lm-eval's function; the plan, the cache key and the mirror
layout follow the config."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from climb.evaluate.cache import cache_key
from climb.evaluate.protocol import apply_protocol, mc2_split_at_first_false


def test_mc2_split_differs_from_lm_eval_only_on_unsorted_labels() -> None:
    from lm_eval.tasks.truthfulqa.utils import process_results_mc2

    lls = [(math.log(p), False) for p in (0.4, 0.1, 0.2, 0.3)]
    unsorted = {"mc2_targets": {"labels": [1, 0, 1, 0]}}
    assert process_results_mc2(unsorted, lls)["acc"] == pytest.approx(0.6)
    assert mc2_split_at_first_false(unsorted, lls)["acc"] == pytest.approx(0.4)
    tidy = {"mc2_targets": {"labels": [1, 1, 0, 0]}}
    assert mc2_split_at_first_false(tidy, lls)["acc"] == pytest.approx(
        process_results_mc2(tidy, lls)["acc"]
    )


def test_apply_protocol_swaps_only_mc2() -> None:
    from lm_eval.tasks.truthfulqa.utils import process_results_mc2

    cfg = {"task": "tq", "process_results": process_results_mc2}
    assert apply_protocol(cfg, "lm-eval-0.4") == []
    assert cfg["process_results"] is process_results_mc2
    notes = apply_protocol(cfg, "leaderboard-2023")
    assert cfg["process_results"] is mc2_split_at_first_false and "tq" in notes[0]
    other = {"task": "arc"}
    assert apply_protocol(other, "leaderboard-2023") == [] and other == {"task": "arc"}
    with pytest.raises(ValueError, match="unknown eval protocol"):
        apply_protocol({}, "harness-1999")


@pytest.mark.parametrize("protocol", ["lm-eval-0.4", "leaderboard-2023"])
def test_plan_applies_the_protocol(protocol: str) -> None:
    from climb.evaluate.suites import load_suite
    from climb.evaluate.tasks import plan_suite

    suite = load_suite("open-llm-v1")
    suite = suite.model_copy(update={"tasks": [t for t in suite.tasks if "truthful" in t.name]})
    plan = plan_suite(suite, None, protocol=protocol)
    fn = plan.configs[0]["process_results"]
    assert (fn is mc2_split_at_first_false) == (protocol == "leaderboard-2023")
    assert bool(plan.notes) == (protocol == "leaderboard-2023")


def test_cache_key_depends_on_protocol_and_optional_members() -> None:
    base = dict(
        model_digest="m", suite="s", suite_version="1", lm_eval_version="0.4", limit=2, data="d"
    )
    keys = {
        cache_key(protocol="lm-eval-0.4", **base),
        cache_key(protocol="leaderboard-2023", **base),
        cache_key(protocol="lm-eval-0.4", include_optional=True, **base),
    }
    assert len(keys) == 3
    assert cache_key(protocol="p", **base) == cache_key(
        protocol="p", include_optional=False, **base
    )


def test_a_mirror_folder_can_carry_its_own_layout(tmp_path: Path) -> None:
    from climb.evaluate.mirror import load_layout

    default = load_layout(None)
    assert "cais/mmlu" in default
    assert load_layout(tmp_path) == default
    (tmp_path / "mirror.yaml").write_text("skt/kobest_v1:\n  boolq:\n    files: {test: x.jsonl}\n")
    merged = load_layout(tmp_path)
    assert merged["skt/kobest_v1"]["boolq"]["files"] == {"test": "x.jsonl"}
    assert merged["cais/mmlu"] == default["cais/mmlu"]
