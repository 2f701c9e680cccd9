"""Atomic checkpoint publication and rotation (local part; S3 in tests/integration)."""

from __future__ import annotations

from pathlib import Path

from support.models import tiny_llama

from climb.train.checkpoints import (
    STAGING,
    complete_checkpoints,
    discard_staging,
    latest_checkpoint,
    load_weights,
    publish_checkpoint,
)


def _stage(root: Path, step: int) -> None:
    d = root / STAGING / f"checkpoint-{step}"
    d.mkdir(parents=True)
    (d / "adapter_model.safetensors").write_bytes(b"w" * step)
    (d / "trainer_state.json").write_text(f'{{"global_step": {step}}}')


def test_only_published_checkpoints_are_visible(tmp_path: Path) -> None:
    _stage(tmp_path, 2)
    assert latest_checkpoint(tmp_path) is None  # still staging: invisible
    publish_checkpoint(tmp_path, "checkpoint-2", keep=2)
    assert latest_checkpoint(tmp_path) == tmp_path / "checkpoint-2"
    assert (tmp_path / "checkpoint-2" / "trainer_state.json").is_file()


def test_rotation_keeps_the_newest_k_by_step(tmp_path: Path) -> None:
    for step in (2, 4, 10, 6):
        _stage(tmp_path, step)
        publish_checkpoint(tmp_path, f"checkpoint-{step}", keep=2)
    assert [p.name for p in complete_checkpoints(tmp_path)] == ["checkpoint-6", "checkpoint-10"]


def test_republishing_a_step_replaces_it(tmp_path: Path) -> None:
    _stage(tmp_path, 4)
    publish_checkpoint(tmp_path, "checkpoint-4", keep=3)
    _stage(tmp_path, 4)
    (tmp_path / STAGING / "checkpoint-4" / "extra.txt").write_text("new")
    publish_checkpoint(tmp_path, "checkpoint-4", keep=3)
    assert (tmp_path / "checkpoint-4" / "extra.txt").read_text() == "new"


def test_discard_staging_removes_half_written(tmp_path: Path) -> None:
    _stage(tmp_path, 8)
    discard_staging(tmp_path)
    assert not (tmp_path / STAGING).exists()
    assert latest_checkpoint(tmp_path) is None
    assert complete_checkpoints(tmp_path / "missing") == []


def _tiny_llama(seed: int):
    return tiny_llama(seed, tie_word_embeddings=True)


def _same(a, b) -> bool:
    import torch

    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_load_weights_restores_full_weights_and_adapters(tmp_path: Path) -> None:
    """What the finish-from-final-checkpoint path loads (no private Trainer method)."""
    from peft import LoraConfig, get_peft_model

    trained = _tiny_llama(1)
    trained.save_pretrained(tmp_path / "full")
    fresh = _tiny_llama(2)
    assert not _same(trained, fresh)
    load_weights(fresh, tmp_path / "full")
    assert _same(trained, fresh)

    def adapted(seed: int):
        import torch

        base = _tiny_llama(1)
        torch.manual_seed(seed)  # the adapter's (random) initialisation
        targets = ["q_proj", "v_proj"]
        cfg = LoraConfig(r=4, lora_alpha=8, target_modules=targets, init_lora_weights=False)
        return get_peft_model(base, cfg)

    trained_adapter, other = adapted(1), adapted(2)
    trained_adapter.save_pretrained(tmp_path / "adapter")
    assert not _same(trained_adapter, other)
    load_weights(other, tmp_path / "adapter")
    assert _same(trained_adapter, other)
    assert any(p.requires_grad for p in other.parameters())  # still trainable
