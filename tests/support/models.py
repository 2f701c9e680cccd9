"""Tiny randomly initialised Llama models for tests that need real transformers weights but not
a real model's behaviour (checkpoint round trips, trainer mechanics)."""

from __future__ import annotations

from typing import Any


def tiny_llama(seed: int = 0, **config: Any) -> Any:
    """Return a LlamaForCausalLM seeded with `seed`: one layer, hidden size 16, vocabulary 64,
    two attention heads, unless `config` (LlamaConfig fields) says otherwise."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    fields = {
        "vocab_size": 64,
        "hidden_size": 16,
        "intermediate_size": 32,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "num_key_value_heads": 2,
        **config,
    }
    return LlamaForCausalLM(LlamaConfig(**fields))
