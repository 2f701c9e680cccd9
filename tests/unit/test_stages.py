"""The candidate record: which model reference evaluates it."""

from __future__ import annotations

from support.factories import candidate


def test_adapter_candidates_evaluate_on_their_base() -> None:
    ref = candidate("/runs/x/train/adapter", "lora").model_ref()
    assert ref.path == "/models/base" and ref.adapter_path == "/runs/x/train/adapter"
    assert ref.digest == "d" * 64


def test_full_fine_tunes_evaluate_alone() -> None:
    ref = candidate("/runs/x/train/model", "full").model_ref()
    assert ref.path == "/runs/x/train/model" and ref.adapter_path is None
