"""Supervising a created training job on Kubernetes: stream the rank-0 pod's log while waiting on
the job's conditions (with our own deadline: an operator may never set a final one), delete the
job when the wait is interrupted (cancelled flow run: KeyboardInterrupt, CancelledError, SIGTERM)
or runs out of time, report Failed with the operator's reason and the pods' last log lines, and
read the result from the shared PVC on success.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from climb.config import LauncherConfig
from climb.launch.k8s_common import (
    REQUEST_TIMEOUT_S,
    TAIL_LINES,
    Workload,
    interruptions_raise,
    wait_final,
)
from climb.launch.local import LaunchError
from climb.train.spec import TrainResult, TrainSpec

log = logging.getLogger(__name__)
_STARTED = ("Running", "Succeeded", "Failed")


def selector(pod_labels: dict[str, str]) -> str:
    """Return a label selector string for the given labels."""
    return ",".join(f"{k}={v}" for k, v in sorted(pod_labels.items()))


def list_pods(core: Any, namespace: str, pod_labels: dict[str, str]) -> list[Any]:
    """Return the pods carrying all of `pod_labels`, oldest first (the label filter is also
    applied here, so that a server that ignores labelSelector cannot mix jobs up)."""
    pods = core.list_namespaced_pod(
        namespace, label_selector=selector(pod_labels), _request_timeout=REQUEST_TIMEOUT_S
    ).items
    mine = [
        p for p in pods if all((p.metadata.labels or {}).get(k) == v for k, v in pod_labels.items())
    ]
    return sorted(
        mine,
        key=lambda p: (
            p.metadata.creation_timestamp is None,
            p.metadata.creation_timestamp,
            p.metadata.name,
        ),
    )


def pod_log_lines(core: Any, namespace: str, pod: str, tail: int | None = None) -> list[str]:
    """Return a pod's log as lines (the last `tail` lines when given)."""
    kwargs: dict[str, Any] = {"_request_timeout": REQUEST_TIMEOUT_S}
    if tail is not None:
        kwargs["tail_lines"] = tail
    text = core.read_namespaced_pod_log(pod, namespace, **kwargs)
    return str(text).splitlines()


class LogFollower(threading.Thread):
    """Follows the rank-0 pod's log once it has started and hands each line to `on_line`."""

    def __init__(
        self, core: Any, work: Workload, on_line: Callable[[str], None], poll_s: float
    ) -> None:
        super().__init__(name=f"logs-{work.name}", daemon=True)
        self.core, self.work, self.on_line, self.poll_s = core, work, on_line, poll_s
        self.stop_event = threading.Event()
        self.lines = 0
        self.done = False

    def run(self) -> None:
        """Wait for the rank-0 pod, then stream its log to the end (errors end it quietly)."""
        try:
            while not self.stop_event.is_set():
                pods = [
                    p
                    for p in list_pods(self.core, self.work.namespace, self.work.rank0_labels)
                    if p.status is not None and p.status.phase in _STARTED
                ]
                if pods:
                    self._follow(pods[0].metadata.name)
                    self.done = True
                    return
                self.stop_event.wait(self.poll_s)
        except Exception as exc:  # logs are a convenience: never fail the launch on them
            log.debug("log follower for %s stopped: %s", self.work.name, exc)

    def _follow(self, pod: str) -> None:
        resp = self.core.read_namespaced_pod_log(
            pod, self.work.namespace, follow=True, _preload_content=False
        )
        try:
            buf = b""
            for chunk in resp.stream(4096):
                buf += chunk
                *complete, buf = buf.split(b"\n")
                for raw in complete:
                    self._emit(raw)
                if self.stop_event.is_set():
                    return
            if buf:
                self._emit(buf)
        finally:
            resp.release_conn()

    def _emit(self, raw: bytes) -> None:
        self.lines += 1
        self.on_line(raw.decode("utf-8", "replace"))


def failure_tail(core: Any, work: Workload) -> list[str]:
    """Return the last log lines of the failed pods (of all pods when none is marked failed)."""
    try:
        pods = list_pods(core, work.namespace, work.pod_labels)
        failed = [p for p in pods if p.status is not None and p.status.phase == "Failed"]
        tail: list[str] = []
        for pod in failed or pods:
            name = pod.metadata.name
            tail += [
                f"[{name}] {line}" for line in pod_log_lines(core, work.namespace, name, TAIL_LINES)
            ]
        return tail
    except Exception as exc:
        return [f"(could not read pod logs: {exc})"]


def _delete_quietly(work: Workload) -> None:
    try:
        work.delete()
        log.warning("deleted %s %s/%s", work.kind, work.namespace, work.name)
    except Exception as exc:
        log.error("could not delete %s %s/%s: %s", work.kind, work.namespace, work.name, exc)


def supervise(
    core: Any, work: Workload, spec: TrainSpec, cfg: LauncherConfig, on_line: Callable[[str], None]
) -> TrainResult:
    """Wait for `work` to finish; return the rank-0 TrainResult or raise LaunchError.

    Deletes the job (and so its pods, Service and spec ConfigMap) when the wait is interrupted
    by any BaseException (re-raised) or passes launcher.timeout_s.
    """
    follower = LogFollower(core, work, on_line, cfg.poll_s)
    follower.start()
    try:
        with interruptions_raise() as interrupts:
            final = wait_final(work, cfg.timeout_s, cfg.poll_s, interrupts.check)
            if final is None:
                _delete_quietly(work)
    except BaseException:
        _delete_quietly(work)
        raise
    finally:
        follower.stop_event.set()
    where = f"{work.kind} {work.namespace}/{work.name}"
    if final is None:
        raise LaunchError(
            f"{where} reached no Complete/Failed condition within launcher."
            f"timeout_s={cfg.timeout_s}; it was deleted",
            failure_tail(core, work),
        )
    if final["type"] == "Failed":
        raise LaunchError(
            f"{where} failed: {final.get('reason') or 'no reason given'}: "
            f"{final.get('message') or ''}".rstrip(": "),
            failure_tail(core, work),
        )
    follower.join(timeout=5)
    if not follower.done or follower.lines == 0:
        _replay_rank0(core, work, on_line)
    return _result(spec, where, cfg)


def _replay_rank0(core: Any, work: Workload, on_line: Callable[[str], None]) -> None:
    try:
        pods = list_pods(core, work.namespace, work.rank0_labels)
        for line in pod_log_lines(core, work.namespace, pods[0].metadata.name) if pods else []:
            on_line(line)
    except Exception as exc:
        on_line(f"(could not fetch the rank-0 log of {work.name}: {exc})")


def _result(spec: TrainSpec, where: str, cfg: LauncherConfig) -> TrainResult:
    try:
        return TrainResult.read(spec.output_dir)
    except FileNotFoundError:
        raise LaunchError(
            f"{where} completed but {spec.output_dir}/result.json is missing here: "
            f"this process must mount the PVC {cfg.volume_claim!r} at "
            f"{cfg.shared_path} like the training pods do"
        ) from None
