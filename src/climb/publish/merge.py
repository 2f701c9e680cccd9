"""Merged weights for publishing (`publish.weights: merged`): the LoRA adapter folded into the
base model, saved as safetensors with the tokenizer, so users load it with plain transformers.
"""

from __future__ import annotations

from pathlib import Path

from climb.state import atomic_dir

TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "chat_template.jinja",
)


def merge_adapter(base_path: str | Path, adapter_path: str | Path, out_dir: Path) -> Path:
    """Merge the adapter in `adapter_path` into the base model at `base_path`; save to `out_dir`.

    The base model keeps its stored dtype. The tokenizer comes from the adapter folder (the
    trainer saves it there), else from the base. Returns `out_dir` (written atomically; an
    existing folder is reused).
    """
    if (out_dir / "config.json").is_file():
        return out_dir
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base = AutoModelForCausalLM.from_pretrained(str(base_path), dtype="auto")
    merged = PeftModel.from_pretrained(base, str(adapter_path)).merge_and_unload()
    tok_src = (
        adapter_path
        if any((Path(adapter_path) / f).is_file() for f in TOKENIZER_FILES)
        else base_path
    )
    tokenizer = AutoTokenizer.from_pretrained(str(tok_src))
    with atomic_dir(out_dir) as tmp:
        merged.save_pretrained(str(tmp), safe_serialization=True)
        tokenizer.save_pretrained(str(tmp))
    return out_dir
