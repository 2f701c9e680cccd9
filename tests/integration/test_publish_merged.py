"""`publish.weights: merged`: the LoRA adapter folded into a tiny random Llama gives a model that
plain transformers loads and that computes what base + adapter computes. Starts: nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from climb.config import PublishConfig
from climb.publish.repo import publish_weights

pytestmark = pytest.mark.integration


def tiny_base_and_adapter(tmp: Path) -> tuple[Path, Path]:
    import torch
    from peft import LoraConfig, get_peft_model
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    vocab = {f"w{i}": i for i in range(60)} | {"<unk>": 60, "<s>": 61, "</s>": 62}
    raw = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    raw.pre_tokenizer = pre_tokenizers.Whitespace()
    tok = PreTrainedTokenizerFast(
        tokenizer_object=raw, unk_token="<unk>", bos_token="<s>", eos_token="</s>"
    )
    cfg = LlamaConfig(
        vocab_size=63,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=64,
    )
    torch.manual_seed(0)
    base_dir, adapter_dir = tmp / "base", tmp / "adapter"
    LlamaForCausalLM(cfg).save_pretrained(base_dir)
    tok.save_pretrained(base_dir)
    lora = LoraConfig(
        r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False
    )
    peft_model = get_peft_model(LlamaForCausalLM.from_pretrained(base_dir), lora)
    peft_model.save_pretrained(adapter_dir)
    tok.save_pretrained(adapter_dir)
    return base_dir, adapter_dir


def test_merged_weights_match_base_plus_adapter(tmp_path: Path) -> None:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base_dir, adapter_dir = tiny_base_and_adapter(tmp_path)
    cfg = PublishConfig(repo_id="org/m", weights="merged")
    merged_dir, library = publish_weights(
        cfg, "lora", str(base_dir), str(adapter_dir), tmp_path / "w"
    )
    assert library == "transformers" and merged_dir == tmp_path / "w" / "merged"
    files = {p.name for p in merged_dir.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= files
    assert not any(name.startswith("adapter_") for name in files)

    ids = AutoTokenizer.from_pretrained(merged_dir)("w1 w2 w3 w4", return_tensors="pt").input_ids
    merged = AutoModelForCausalLM.from_pretrained(merged_dir).eval()
    with_adapter = PeftModel.from_pretrained(
        AutoModelForCausalLM.from_pretrained(base_dir), adapter_dir
    ).eval()
    plain = AutoModelForCausalLM.from_pretrained(base_dir).eval()
    with torch.no_grad():
        got, want, before = (m(ids).logits for m in (merged, with_adapter, plain))
    assert torch.allclose(got, want, atol=1e-4)
    assert not torch.allclose(got, before, atol=1e-3)  # the adapter did change the model

    adapter, lib = publish_weights(
        PublishConfig(repo_id="org/m"), "lora", str(base_dir), str(adapter_dir), tmp_path
    )
    assert adapter == adapter_dir and lib == "peft"
    full, lib = publish_weights(cfg, "full", "", str(base_dir), tmp_path)
    assert full == base_dir and lib == "transformers"
