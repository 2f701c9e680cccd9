"""Where a champion's repo folder goes: the Hugging Face Hub, or, with no token, a local outbox.

The folder (climb.publish.repo) is the same for both. Its content digest makes pushes
idempotent: a digest already on the repo is not pushed again (climb.publish.hub). The token is
read from the environment only and never written anywhere: not in the card, the config copy,
the outbox, MLflow or error messages.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from climb.config import PublishConfig
from climb.publish.hub import PublishError, push
from climb.records import PublishResult
from climb.state import StateDir, atomic_dir, safe_name

__all__ = ["PublishError", "publish_folder", "resolved_mode", "write_outbox"]


def resolved_mode(cfg: PublishConfig) -> str:
    """Return "push" or "dry-run": what `cfg.mode` means with the environment as it is."""
    if cfg.mode != "auto":
        return cfg.mode
    return "push" if os.environ.get(cfg.token_env) else "dry-run"


def write_outbox(cfg: PublishConfig, folder: Path, digest: str, state: StateDir) -> PublishResult:
    """Copy the exact repo contents to the outbox (replacing an older copy atomically)."""
    outbox = Path(cfg.outbox_dir) if cfg.outbox_dir else state.outbox
    target = outbox / safe_name(cfg.full_repo_id.replace("/", "__"))
    if target.exists():
        shutil.rmtree(target)
    with atomic_dir(target) as tmp:
        shutil.copytree(folder, tmp, dirs_exist_ok=True)
    why = "publish.mode=dry-run" if cfg.mode == "dry-run" else f"no {cfg.token_env} set"
    return PublishResult(
        mode="outbox",
        location=str(target),
        digest=digest,
        pushed=False,
        message=f"{why}: wrote what would be pushed to {cfg.full_repo_id} into {target}",
    )


def publish_folder(
    cfg: PublishConfig, folder: Path, digest: str, state: StateDir, endpoint: str | None = None
) -> PublishResult:
    """Push `folder` to the Hub (mode push, or auto with a token), or copy it to the outbox.

    Idempotent: when the repo already holds this digest nothing is uploaded. Transient failures
    are retried `cfg.retries` times; raises PublishError (token-free message) when it fails.
    """
    mode = resolved_mode(cfg)
    if mode == "dry-run":
        return write_outbox(cfg, folder, digest, state)
    token = os.environ.get(cfg.token_env) or None
    if not token:
        raise PublishError(
            f"publish.mode=push needs a Hub token in ${cfg.token_env}; set it "
            "(or a Kubernetes secret mapped to it) or use publish.mode=dry-run"
        )
    from huggingface_hub import HfApi

    api = HfApi(
        token=token,
        endpoint=endpoint or cfg.endpoint or os.environ.get("HF_ENDPOINT"),
        library_name="climb",
    )
    return push(
        api,
        cfg.full_repo_id,
        folder,
        digest,
        private=cfg.private,
        retries=cfg.retries,
        backoff_s=cfg.retry_backoff_s,
        token=token,
    )
