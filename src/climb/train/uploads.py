"""Rank 0's S3 uploads of complete checkpoints, off the training loop.

The save barrier waits only for the local files: rank 0 publishes the checkpoint on its disk
(checkpoints.publish_checkpoint) and hands it to a background thread that uploads it (files in
parallel, the `COMPLETE` marker last: checkpoints.upload_checkpoint) while every rank trains on.
One upload at a time: the next save first waits for the previous upload (which also keeps the
local rotation from deleting a folder still being read). The last upload is awaited before the
process reports a result or a stop.

A failed upload fails the run (CheckpointUploadError, naming S3's reason) rather than leaving a
run whose remote copy silently stopped: training stops at the next step end on every rank, no
newer checkpoint is published, and the local checkpoints stay complete, so a rerun (S3 fixed)
resumes from the newest one.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from climb import storage
from climb.train.checkpoints import upload_checkpoint

log = logging.getLogger(__name__)


class CheckpointUploadError(RuntimeError):
    """A complete checkpoint could not be uploaded to S3 (the local copy is intact)."""


class BackgroundUploads:
    """Uploads complete checkpoints to `uri` one at a time in a background thread; keeps the
    newest `keep` there. `s3` defaults to a client made here, in the calling thread."""

    def __init__(self, uri: str, keep: int | None = None, s3: Any = None) -> None:
        self.uri = uri
        self.keep = keep or 10**6
        self.s3 = s3 or storage.client()
        self.uploaded: list[str] = []
        self.error: CheckpointUploadError | None = None
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="climb-ckpt-upload")
        self._inflight: tuple[str, Future[None]] | None = None

    def _settle(self) -> None:
        """Wait for the upload in flight, if any, and record how it ended."""
        if self._inflight is None:
            return
        name, future = self._inflight
        self._inflight = None
        try:
            future.result()
        except Exception as exc:
            reason = f"{type(exc).__name__}: {exc}"
            self.error = CheckpointUploadError(f"uploading {name} to {self.uri} failed: {reason}")
            self.error.__cause__ = exc
            log.error("%s", self.error)
        else:
            self.uploaded.append(name)
            log.info("checkpoint %s uploaded to %s", name, self.uri)

    def failed(self) -> bool:
        """True once an upload has failed; never waits (polled at every step end)."""
        if self._inflight is not None and self._inflight[1].done():
            self._settle()
        return self.error is not None

    def start(self, folder: Path) -> bool:
        """Wait for the previous upload, then start uploading `folder` and return True; return
        False (nothing started) when an earlier upload has failed."""
        self._settle()
        if self.error is not None:
            return False
        future = self._pool.submit(upload_checkpoint, folder, self.uri, self.keep, self.s3)
        self._inflight = (folder.name, future)
        return True

    def drain(self) -> None:
        """Wait for the upload in flight (before the local rotation may delete its folder)."""
        self._settle()

    def close(self, raise_error: bool = True) -> None:
        """Wait for the last upload and stop the thread; raise CheckpointUploadError if any
        upload failed (with `raise_error`; otherwise it is only logged)."""
        try:
            self._settle()
        finally:
            self._pool.shutdown(wait=True)
        if self.error is not None and raise_error:
            raise self.error
