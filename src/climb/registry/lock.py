"""A lock on one registered model's aliases, shared by every pipeline, machine and CLI user that
talks to the same MLflow registry.

MLflow has no conditional update, but every registry backend refuses to create a second
registered model with the same name. The lock is therefore a registered model named
`<model>.climb-lock`, created with a `holder` tag (a fresh token) in one call: exactly one
creator wins. While held, a heartbeat thread refreshes its `heartbeat` tag, so a lock is only
called stale when its holder stopped beating for `stale_s` (the holder died; a long Hub push
does not make it stale).

Breaking a stale lock is itself guarded: a breaker first creates `<lock>.break-<holder token>`
(again unique, so one breaker per dead holder), re-reads the lock, and deletes it only if that
same dead holder still owns it. A holder calls `assert_held()` right before it moves an alias:
if its heartbeat has not reached the server for half of `stale_s`, or the lock changed hands,
it stops with `LockLost` instead of acting without the lock.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

log = logging.getLogger(__name__)
LOCK_SUFFIX = ".climb-lock"


class LockError(RuntimeError):
    """The promotion lock could not be taken in time; the message names the holder."""


class LockLost(LockError):
    """The lock was lost while held (heartbeat failed or it was broken as stale)."""


def _exists_error(exc: Exception) -> bool:
    return "RESOURCE_ALREADY_EXISTS" in str(getattr(exc, "error_code", ""))


def _missing_error(exc: Exception) -> bool:
    return "RESOURCE_DOES_NOT_EXIST" in str(getattr(exc, "error_code", ""))


class HeldLock:
    """A lock this process holds: its name, token and heartbeat."""

    def __init__(self, client: Any, name: str, token: str, stale_s: float) -> None:
        self.client = client
        self.name = name
        self.token = token
        self.stale_s = stale_s
        self.last_beat = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"lock-{name}", daemon=True)

    def start(self) -> None:
        """Start the heartbeat thread."""
        self._thread.start()

    def stop(self) -> None:
        """Stop the heartbeat thread (waits for it)."""
        self._stop.set()
        self._thread.join(timeout=30)

    def _beat(self) -> None:
        from climb.registry.tracking import client_for

        client = client_for(self.client.tracking_uri)  # its own HTTP session, off this thread
        while not self._stop.wait(self.stale_s / 6):
            try:
                client.set_registered_model_tag(self.name, "heartbeat", f"{time.time():.3f}")
                self.last_beat = time.monotonic()
            except Exception as exc:  # the next beat retries; assert_held() decides
                log.warning("promotion lock heartbeat failed: %s", type(exc).__name__)

    def assert_held(self) -> None:
        """Raise LockLost unless this process still holds the lock (checked on the server)."""
        if time.monotonic() - self.last_beat > self.stale_s / 2:
            raise LockLost(
                f"lost the promotion lock {self.name}: no heartbeat reached MLflow for "
                f"{time.monotonic() - self.last_beat:.0f}s; nothing was changed"
            )
        holder = self.client.get_registered_model(self.name).tags.get("holder")
        if holder != self.token:
            raise LockLost(f"lost the promotion lock {self.name} (now held by {holder})")


def _last_seen(tags: dict[str, str]) -> float:
    seen = 0.0
    for key in ("since", "heartbeat"):
        try:
            seen = max(seen, float(tags.get(key, "0")))
        except ValueError:
            continue
    return seen


def break_if_stale(client: Any, lock_name: str, stale_s: float) -> bool:
    """Delete `lock_name` if its holder sent no heartbeat for `stale_s`; return whether it did."""
    from mlflow.exceptions import MlflowException

    try:
        tags = dict(client.get_registered_model(lock_name).tags or {})
    except MlflowException as exc:
        if _missing_error(exc):
            return False
        raise
    holder = tags.get("holder")
    if not holder or time.time() - _last_seen(tags) <= stale_s:
        return False
    marker = f"{lock_name}.break-{holder}"
    try:
        client.create_registered_model(marker, description="climb: breaking a stale lock")
    except MlflowException as exc:
        if _exists_error(exc):
            return False  # another process is breaking this same stale lock
        raise
    try:
        current = client.get_registered_model(lock_name).tags.get("holder")
        if current != holder:
            return False
        client.delete_registered_model(lock_name)
        log.warning("broke the stale promotion lock %s (holder %s)", lock_name, holder)
        return True
    except MlflowException as exc:
        if _missing_error(exc):
            return False
        raise
    finally:
        try:
            client.delete_registered_model(marker)
        except MlflowException:
            log.warning("could not remove the lock-break marker %s", marker)


@contextmanager
def registry_lock(
    client: Any,
    model_name: str,
    timeout_s: float = 900.0,
    stale_s: float = 600.0,
    poll_s: float = 0.25,
) -> Iterator[HeldLock]:
    """Hold the promotion lock of `model_name` for the body; yield the HeldLock.

    Waits up to `timeout_s` for another holder (raising LockError after that); breaks a lock
    whose holder sent no heartbeat for `stale_s`. Any other MLflow error (server down) is raised
    as is: the caller changed nothing.
    """
    from mlflow.exceptions import MlflowException

    lock_name = f"{model_name}{LOCK_SUFFIX}"
    token = uuid.uuid4().hex
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            client.create_registered_model(
                lock_name,
                tags={"holder": token, "since": f"{time.time():.3f}"},
                description="climb promotion lock; removed when the promotion ends",
            )
            break
        except MlflowException as exc:
            if _missing_error(exc) and time.monotonic() <= deadline:
                # The server's create lost a race: its insert collided with the holder's lock,
                # which was released before the server could look it up. Free now: try again.
                continue
            if not _exists_error(exc):
                raise
        if break_if_stale(client, lock_name, stale_s):
            continue
        if time.monotonic() > deadline:
            raise LockError(
                f"could not take the promotion lock {lock_name} within {timeout_s:.0f}s: "
                "another pipeline is promoting (or publishing) a model"
            )
        time.sleep(poll_s)
    held = HeldLock(client, lock_name, token, stale_s)
    held.start()
    try:
        yield held
    finally:
        held.stop()
        try:
            if client.get_registered_model(lock_name).tags.get("holder") == token:
                client.delete_registered_model(lock_name)
        except MlflowException as exc:
            log.warning("could not release the promotion lock %s: %s", lock_name, exc.error_code)
