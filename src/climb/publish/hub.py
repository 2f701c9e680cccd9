"""Pushing a repo folder to the Hugging Face Hub with huggingface_hub's HfApi.

One push is one atomic commit (`create_commit` with an add for every local file and a delete
for every remote file that is no longer part of the model), based on the head it read
(`parent_commit`), so the repo holds either the previous model or the new one, never a mix.
The folder carries `climb_digest.txt`; a repo whose digest file already says the same digest
is not pushed again, which also makes a retry after a lost response safe. Transient failures
(connection errors, 429, 5xx) are retried with exponential backoff; authentication and request
errors are not. Error messages never contain the token.
"""

from __future__ import annotations

import importlib
import logging
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)
DIGEST_FILE = "climb_digest.txt"
KEEP_REMOTE = {".gitattributes"}
RETRYABLE_STATUS = {408, 412, 423, 429}


class HubError(RuntimeError):
    """A push failed for good (after retries, or at once for a non-transient error)."""


@dataclass(frozen=True)
class HubPush:
    """The outcome of a push."""

    repo_id: str
    pushed: bool
    commit: str | None
    url: str
    attempts: int
    message: str

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict."""
        return asdict(self)


def scrub(text: str, token: str | None) -> str:
    """Return `text` with every occurrence of `token` replaced by ***."""
    return text.replace(token, "***") if token else text


def _transport_errors() -> tuple[type[BaseException], ...]:
    errors: list[type[BaseException]] = [ConnectionError, TimeoutError]
    for name in ("httpx2", "httpx"):
        try:
            errors.append(importlib.import_module(name).TransportError)
        except (ImportError, AttributeError):
            continue
    return tuple(errors)


def is_transient(exc: BaseException) -> bool:
    """True for errors worth retrying: network failures, 408/412/423/429 and 5xx answers
    (looking through the chain of causes, as huggingface_hub wraps some of them)."""
    seen: BaseException | None = exc
    for _ in range(5):
        if seen is None:
            return False
        if isinstance(seen, _transport_errors()):
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


def commit_operations(api: Any, repo_id: str, folder: Path) -> list[Any]:
    """Return the operations that make the repo equal to `folder` (adds, then stale deletes)."""
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete
    from huggingface_hub.hf_api import RepoFile

    local = {p.relative_to(folder).as_posix(): p for p in sorted(folder.rglob("*")) if p.is_file()}
    remote = {
        f.path
        for f in api.list_repo_tree(repo_id=repo_id, recursive=True)
        if isinstance(f, RepoFile)
    }
    ops: list[Any] = [
        CommitOperationAdd(path_in_repo=k, path_or_fileobj=str(v)) for k, v in local.items()
    ]
    ops += [
        CommitOperationDelete(path_in_repo=p) for p in sorted(remote - set(local) - KEEP_REMOTE)
    ]
    return ops


def push_once(api: Any, repo_id: str, folder: Path, digest: str, private: bool) -> HubPush:
    """One push attempt: create the repo if needed, skip if it holds `digest`, else commit."""
    api.create_repo(repo_id=repo_id, private=private, exist_ok=True, repo_type="model")
    info = api.repo_info(repo_id=repo_id)
    if private and info.private is False:
        raise HubError(
            f"{repo_id} exists and is public but publish.private is true: refusing to push "
            "(make the repo private on the Hub, or set publish.private=false)"
        )
    endpoint = str(api.endpoint).rstrip("/")
    if remote_digest(api, repo_id) == digest:
        return HubPush(
            repo_id,
            False,
            info.sha,
            f"{endpoint}/{repo_id}",
            1,
            f"{repo_id} already holds digest {digest[:12]}; not pushed again",
        )
    commit = api.create_commit(
        repo_id=repo_id,
        operations=commit_operations(api, repo_id, folder),
        commit_message=f"climb: publish {digest[:12]}",
        commit_description=f"Published by climb. Content digest: {digest}",
        parent_commit=info.sha,
    )
    return HubPush(repo_id, True, commit.oid, commit.commit_url, 1, f"pushed to {repo_id}")


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
) -> HubPush:
    """Push `folder` (digest `digest`) to `repo_id`, retrying transient failures.

    Returns the HubPush (with the number of attempts); raises HubError with a token-free
    message when the push fails for good.
    """
    for attempt in range(1, retries + 2):
        try:
            result = push_once(api, repo_id, folder, digest, private)
            return HubPush(**{**result.to_dict(), "attempts": attempt})
        except HubError:
            raise
        except Exception as exc:
            message = scrub(f"{type(exc).__name__}: {exc}", token)
            if not is_transient(exc) or attempt > retries:
                raise HubError(
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
