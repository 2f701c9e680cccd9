"""Atomic, resumable checkpoints for the HF Trainer, optionally mirrored to S3.

The Trainer writes `checkpoint-N/` file by file, on every rank; a run killed half-way leaves a
folder that `resume_from_checkpoint` would trust and crash on (or worse, silently load a stale
optimizer). Here every rank saves into `<output>/.staging/checkpoint-N`, all ranks meet at a
barrier, and rank 0 renames the folder into place in one step: a `checkpoint-N` folder exists
only when it is complete. The newest K are kept. With an S3 URI, rank 0 uploads each complete
checkpoint (in the background: uploads.py) and writes a `COMPLETE` marker object last, so a
reader of the bucket never takes a partial upload; a fresh pod with an empty disk resumes from
the newest complete one there.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from pathlib import Path
from typing import Any

from climb import storage

log = logging.getLogger(__name__)
CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")
STAGING = ".staging"
MARKER = "COMPLETE"


def complete_checkpoints(root: Path) -> list[Path]:
    """Return the complete checkpoints under `root`, oldest step first."""
    if not root.is_dir():
        return []
    found = [
        (int(m.group(1)), p)
        for p in root.iterdir()
        if p.is_dir() and (m := CHECKPOINT.match(p.name))
    ]
    return [p for _, p in sorted(found)]


def latest_checkpoint(root: Path) -> Path | None:
    """Return the newest complete checkpoint under `root`, or None."""
    found = complete_checkpoints(root)
    return found[-1] if found else None


def discard_staging(root: Path) -> None:
    """Remove half-written checkpoints left by a killed run (never visible, never loaded)."""
    staging = root / STAGING
    if staging.exists():
        log.info("discarding incomplete checkpoint(s) in %s", staging)
        shutil.rmtree(staging, ignore_errors=True)


def _fsync_tree(folder: Path) -> None:
    for p in folder.rglob("*"):
        if p.is_file():
            with p.open("rb") as fh:
                os.fsync(fh.fileno())


def publish_checkpoint(root: Path, name: str, keep: int) -> Path:
    """Move `<root>/.staging/<name>` into `<root>/<name>` atomically; keep the newest `keep`."""
    src, dst = root / STAGING / name, root / name
    _fsync_tree(src)
    if dst.exists():  # the same step saved again after a resume
        shutil.rmtree(dst)
    os.rename(src, dst)
    fd = os.open(root, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    for old in complete_checkpoints(root)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return dst


def _location(uri: str) -> storage.S3Uri:
    return storage.parse(uri, "train.checkpoint_uri")


def upload_checkpoint(folder: Path, uri: str, keep: int, s3: Any = None) -> None:
    """Upload a complete checkpoint under `uri/<name>/` (files in parallel, the completion
    marker last); prune older ones there, keeping the newest `keep`."""
    s3 = s3 or storage.client()
    base = _location(uri).join(folder.name)
    storage.upload_dir(folder, base, s3=s3)
    storage.put_bytes(base.join(MARKER), b"", s3)
    for old in remote_checkpoints(uri, s3)[:-keep]:
        storage.delete_prefix(_location(uri).join(old), s3)


def remote_checkpoints(uri: str, s3: Any = None) -> list[str]:
    """Return the names of complete checkpoints under `uri` (with a marker), oldest first."""
    loc = _location(uri)
    names = set()
    for obj in storage.list_objects(loc, s3):
        parts = obj.key[len(loc.prefix) :].split("/")
        if len(parts) == 2 and parts[1] == MARKER and CHECKPOINT.match(parts[0]):
            names.add(parts[0])
    return sorted(names, key=lambda n: int(n.split("-")[1]))


def download_latest(uri: str, root: Path, s3: Any = None) -> Path | None:
    """Download the newest complete remote checkpoint into `root` (atomically); return it."""
    s3 = s3 or storage.client()
    names = remote_checkpoints(uri, s3)
    if not names:
        return None
    name = names[-1]
    staging = root / STAGING / name
    staging.mkdir(parents=True, exist_ok=True)
    storage.download_prefix(_location(uri).join(name), staging, skip=(MARKER,), s3=s3)
    return publish_checkpoint(root, name, keep=10**6)


def load_weights(model: Any, checkpoint: Path) -> None:
    """Load the weights `Trainer.save_model` wrote into `checkpoint` back into `model`: a PEFT
    adapter through PEFT's `load_adapter`, full weights from the checkpoint's safetensors files
    (missing keys allowed: tied weights are saved once, as the Trainer's own loading allows)."""
    if (checkpoint / "adapter_model.safetensors").is_file():
        model.load_adapter(str(checkpoint), adapter_name=model.active_adapter, is_trainable=True)
        return
    from safetensors.torch import load_file

    files = sorted(checkpoint.glob("model*.safetensors"))
    if not files:
        raise FileNotFoundError(f"no adapter or model weights (safetensors) in {checkpoint}")
    for f in files:
        unexpected = model.load_state_dict(load_file(f, device="cpu"), strict=False).unexpected_keys
        if unexpected:
            raise ValueError(f"{f} holds weights this model does not have: {unexpected[:5]}")
