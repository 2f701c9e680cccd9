"""Pushing a repo folder to the Hugging Face Hub with huggingface_hub's `HfApi.upload_folder`.

huggingface_hub does the transport: it uploads the files (LFS or Xet), deletes the remote files
that are no longer part of the model (`delete_patterns`, `.gitattributes` kept) in the same
commit, and retries its idempotent requests (pre-upload, LFS, listings) with its own HTTP
backoff. What climb adds:

- one atomic commit based on the head it read (`parent_commit`): the repo holds the previous
  model or the new one, never a mix (a folder upload_folder would split into several commits
  is refused);
- idempotency: the folder carries `climb_digest.txt`; a repo already holding that digest is not
  pushed again, which is what makes a retry of the whole push safe, also after a commit whose
  answer was lost (huggingface_hub does not retry a commit itself for that reason);
- the private-repo check, and PublishError messages that never contain the token.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from climb.records import PublishResult

log = logging.getLogger(__name__)
DIGEST_FILE = "climb_digest.txt"
# Statuses worth another attempt of the whole push: 408/429/5xx (huggingface_hub's own retry
# set) plus 412 (the head moved, e.g. a retried commit had landed) and 423 (repo locked).
RETRYABLE_STATUS = {408, 412, 423, 429}
# upload_folder re-commits a failed batch of more than 20 files in smaller parts (hf_xet path),
# which could leave a mix of two models on the repo; climb pushes no more files than that.
ONE_COMMIT_MAX_FILES = 20


class PublishError(RuntimeError):
    """Publishing failed; the message says what to fix (never contains the token)."""


def scrub(text: str, token: str | None) -> str:
    """Return `text` with every occurrence of `token` replaced by ***."""
    return text.replace(token, "***") if token else text


def is_transient(exc: BaseException) -> bool:
    """True for errors worth retrying: network failures, 408/412/423/429 and 5xx answers
    (looking through the chain of causes, as huggingface_hub wraps some of them)."""
    import httpx2

    seen: BaseException | None = exc
    for _ in range(5):
        if seen is None:
            return False
        if isinstance(seen, (httpx2.TransportError, ConnectionError, TimeoutError)):
            return True
        status = getattr(getattr(seen, "response", None), "status_code", None)
        if isinstance(status, int) and (status >= 500 or status in RETRYABLE_STATUS):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def remote_digest(api: Any, repo_id: str) -> str | None:
    """Return the digest recorded on the repo's main branch, or None (no repo or no file)."""
    from huggingface_hub.errors import RemoteEntryNotFoundError, RepositoryNotFoundError

    with tempfile.TemporaryDirectory(prefix="climb-hub-") as tmp:
        try:
            path = api.hf_hub_download(repo_id=repo_id, filename=DIGEST_FILE, cache_dir=tmp)
        except (RemoteEntryNotFoundError, RepositoryNotFoundError):
            return None
        return Path(path).read_text().strip()


def push_once(api: Any, repo_id: str, folder: Path, digest: str, private: bool) -> PublishResult:
    """One push attempt: create the repo if needed, skip if it holds `digest`, else commit."""
    api.create_repo(repo_id=repo_id, private=private, exist_ok=True, repo_type="model")
    info = api.repo_info(repo_id=repo_id)
    if private and info.private is False:
        raise PublishError(
            f"{repo_id} exists and is public but publish.private is true: refusing to push "
            "(make the repo private on the Hub, or set publish.private=false)"
        )
    url = f"{str(api.endpoint).rstrip('/')}/{repo_id}"
    if remote_digest(api, repo_id) == digest:
        message = f"{repo_id} already holds digest {digest[:12]}; not pushed again"
        return PublishResult(
            mode="push", location=url, digest=digest, commit=info.sha, message=message
        )
    commit = api.upload_folder(
        repo_id=repo_id,
        folder_path=folder,
        commit_message=f"climb: publish {digest[:12]}",
        commit_description=f"Published by climb. Content digest: {digest}",
        delete_patterns="*",  # every remote file the new model does not have
        parent_commit=info.sha,
    )
    return PublishResult(
        mode="push",
        location=commit.commit_url,
        digest=digest,
        pushed=True,
        commit=commit.oid,
        message=f"pushed to {repo_id}",
    )


def push(
    api: Any,
    repo_id: str,
    folder: Path,
    digest: str,
    *,
    private: bool,
    retries: int,
    backoff_s: float,
    token: str | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> PublishResult:
    """Push `folder` (digest `digest`) to `repo_id`, retrying the whole push on transient
    failures (`retries` more times, waits doubling from `backoff_s`).

    Returns the PublishResult (with the number of attempts); raises PublishError with a
    token-free message when the push fails for good.
    """
    files = sum(1 for p in folder.rglob("*") if p.is_file())
    if files > ONE_COMMIT_MAX_FILES:
        raise PublishError(
            f"{folder} holds {files} files; climb pushes at most {ONE_COMMIT_MAX_FILES} in one "
            "commit (huggingface_hub may split larger uploads into several commits): publish "
            "the adapter (publish.weights=adapter) or save the weights in fewer shards"
        )
    for attempt in range(1, retries + 2):
        try:
            result = push_once(api, repo_id, folder, digest, private)
            return result.model_copy(update={"attempts": attempt})
        except PublishError:
            raise
        except Exception as exc:
            message = scrub(f"{type(exc).__name__}: {exc}", token)
            if not is_transient(exc) or attempt > retries:
                raise PublishError(
                    f"push to {repo_id} failed after {attempt} attempt(s): {message}"
                ) from None
            wait = backoff_s * 2 ** (attempt - 1)
            log.warning(
                "push to %s failed (attempt %d of %d), retrying in %.1fs: %s",
                repo_id,
                attempt,
                retries + 1,
                wait,
                message[:500],
            )
            sleep(wait)
    raise AssertionError("unreachable")
