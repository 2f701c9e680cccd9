"""What goes into the Hub repo of a champion, assembled the same way by the pipeline and by
`climb promote` / `climb rollback`: the weights (adapter, merged, or full), the tokenizer, the
model card, the leaderboard results JSON and the training config.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

from climb.config import PublishConfig
from climb.evaluate.results import leaderboard_json
from climb.evaluate.suites import load_suite
from climb.publish.card import model_card
from climb.publish.hub import DIGEST_FILE
from climb.records import SuiteScores
from climb.secrets import redact
from climb.state import atomic_dir, file_sha256


def publish_weights(
    cfg: PublishConfig, method: str, base_path: str, weights_path: str, workdir: Path
) -> tuple[Path, str]:
    """Return (folder of the weights to publish, card library name).

    A full fine-tune publishes its weights as they are; an adapter is published as trained
    (`publish.weights: adapter`) or merged into its base (`merged`, written under `workdir`).
    """
    if method == "full":
        return Path(weights_path), "transformers"
    if cfg.weights == "merged":
        from climb.publish.merge import merge_adapter

        return merge_adapter(base_path, weights_path, workdir / "merged"), "transformers"
    return Path(weights_path), "peft"


def hub_datasets(source_paths: list[str]) -> list[str]:
    """Return the Hub dataset ids among training sources (`hf://datasets/OWNER/NAME`)."""
    out = []
    for path in source_paths:
        if path.startswith("hf://datasets/"):
            out.append("/".join(path.removeprefix("hf://datasets/").split("/")[:2]))
    return out


def assemble(
    cfg: PublishConfig,
    folder: Path,
    *,
    weights_dir: Path,
    library_name: str,
    base_model: str,
    result: SuiteScores,
    config_yaml: str,
    reasons: list[str],
    source_paths: list[str],
) -> str:
    """Write the exact repo contents into `folder`; return their digest.

    `result` is the suite result the card and results JSON show; `reasons` why this model is
    the champion; `source_paths` the training data sources (Hub ids go to the card metadata).
    """
    card = model_card(
        repo_id=cfg.full_repo_id,
        base_model=base_model,
        result=result,
        suite=load_suite(result.suite),
        license_id=cfg.license,
        datasets=hub_datasets(source_paths),
        config_yaml=config_yaml,
        reasons=reasons,
        library_name=library_name,
        training_data=[Path(p).name if "://" not in p else p for p in source_paths],
    )
    return build_repo_folder(
        folder,
        weights_dir=weights_dir,
        card=card,
        leaderboard=leaderboard_json(result),
        config_yaml=config_yaml,
    )


def folder_digest(folder: Path) -> str:
    """Return a sha256 over every file's relative path and bytes (the digest file excluded)."""
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        if p.is_file() and p.name != DIGEST_FILE:
            h.update(p.relative_to(folder).as_posix().encode() + b"\0")
            h.update(bytes.fromhex(file_sha256(p)))
    return h.hexdigest()


def build_repo_folder(
    target: Path, *, weights_dir: Path, card: Any, leaderboard: dict[str, Any], config_yaml: str
) -> str:
    """Write the exact repo contents into `target` (replaced atomically); return its digest."""
    if target.exists():
        shutil.rmtree(target)
    with atomic_dir(target) as tmp:
        for p in weights_dir.iterdir():
            if p.is_file():
                shutil.copy2(p, tmp / p.name)
        card.save(str(tmp / "README.md"))
        (tmp / "results.json").write_text(json.dumps(leaderboard, indent=2, sort_keys=True))
        (tmp / "climb_config.yaml").write_text(redact(config_yaml))
        digest = folder_digest(tmp)
        (tmp / DIGEST_FILE).write_text(digest + "\n")
    return digest
