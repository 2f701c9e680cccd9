"""Small pure helpers of the stages module."""

from __future__ import annotations

from climb.pipeline.stages import candidate_ref

CANDIDATE = {
    "adapter_path": "/runs/x/train/adapter",
    "base_path": "/models/base",
    "base_name": "base",
    "digest": "d" * 64,
}


def test_adapter_candidates_evaluate_on_their_base() -> None:
    ref = candidate_ref({**CANDIDATE, "method": "lora"})
    assert ref["path"] == "/models/base" and ref["adapter_path"] == "/runs/x/train/adapter"
    assert ref["digest"] == "d" * 64


def test_full_fine_tunes_evaluate_alone() -> None:
    ref = candidate_ref({**CANDIDATE, "adapter_path": "/runs/x/train/model", "method": "full"})
    assert ref["path"] == "/runs/x/train/model" and ref["adapter_path"] is None
