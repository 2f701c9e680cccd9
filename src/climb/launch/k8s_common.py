"""What the two Kubernetes launchers share: names, API clients, container env, the spec ConfigMap,
waiting on a job's conditions with our own deadline, pod logs, and the result on the shared PVC.

How a spec reaches the pods: the launcher writes `<output_dir>/spec.json` (a record) and puts the
same JSON in an immutable ConfigMap `<job>-spec`, owned by the TrainJob / Job (so Kubernetes
garbage-collects it with the job) and mounted read-only at SPEC_DIR in the trainer container.
Outputs (adapter, checkpoints, `result.json`) land under `output_dir`, which must lie on the shared
PVC that both the flow-runner pod and the training pods mount at `launcher.shared_path`.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import PurePosixPath
from typing import Any

from climb.config import LauncherConfig
from climb.launch.local import LaunchError
from climb.train.spec import TrainSpec

log = logging.getLogger(__name__)

SPEC_DIR = "/etc/climb/spec"
SPEC_KEY = "spec.json"
SPEC_VOLUME = "climb-spec"
TRAINER_COMMAND = ["torchrun", "--module", "climb.train", "--spec", f"{SPEC_DIR}/{SPEC_KEY}"]
MANAGED_BY = {"app.kubernetes.io/managed-by": "climb", "app.kubernetes.io/part-of": "climb"}
RUN_LABEL = "climb.dev/run-id"
REQUEST_TIMEOUT_S = 30
TAIL_LINES = 40


class Terminated(BaseException):
    """SIGTERM arrived while a launcher was waiting on its job (e.g. the flow run was cancelled)."""


@dataclass(frozen=True)
class Workload:
    """A created job as the supervisor sees it: how to read its conditions, find its pods and
    delete it (with everything it owns)."""

    kind: str
    name: str
    namespace: str
    pod_labels: dict[str, str]
    rank0_labels: dict[str, str]
    conditions: Callable[[], list[dict[str, Any]]]
    delete: Callable[[], None]


def unique_name(prefix: str = "climb") -> str:
    """Return a fresh DNS-1035 label `<prefix>-<10 hex>` (at most 40 characters): short enough
    for the pod hostnames and Service names Kubernetes derives from it."""
    slug = "".join(c if c.isalnum() else "-" for c in prefix.lower()).strip("-")[:28] or "climb"
    if not slug[0].isalpha():
        slug = "c" + slug[:27]
    return f"{slug.rstrip('-')}-{secrets.token_hex(5)}"


def api_client(cfg: LauncherConfig) -> Any:
    """Return a kubernetes ApiClient: the pod's service account when running in a cluster (and no
    `launcher.context`), else the kubeconfig (its `context`, or the current one)."""
    from kubernetes import client, config

    if cfg.context is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
        configuration = client.Configuration()
        config.load_incluster_config(client_configuration=configuration)
        return client.ApiClient(configuration)
    return config.new_client_from_config(
        config_file=os.environ.get("KUBECONFIG"), context=cfg.context
    )


def labels(name: str, spec: TrainSpec) -> dict[str, str]:
    """Return the labels every object of one launch carries."""
    out = {**MANAGED_BY, "app.kubernetes.io/name": "climb-trainer", "climb.dev/job": name}
    if spec.mlflow_run_id:
        out[RUN_LABEL] = spec.mlflow_run_id[:63]
    return out


def container_env(cfg: LauncherConfig) -> list[dict[str, Any]]:
    """Return the trainer container's env: plain settings by value, secrets by secretKeyRef only."""
    env: list[dict[str, Any]] = [
        {"name": "PYTHONUNBUFFERED", "value": "1"},
        {"name": "HOME", "value": "/tmp"},
        {"name": "HF_HOME", "value": f"{cfg.shared_path}/hf"},
    ]
    env += [{"name": k, "value": v} for k, v in sorted(cfg.env.items())]
    for key, ref in sorted(cfg.secret_env.items()):
        secret, item = ref.split("/")
        env.append({"name": key, "valueFrom": {"secretKeyRef": {"name": secret, "key": item}}})
    return env


def resources(cfg: LauncherConfig) -> dict[str, dict[str, str]]:
    """Return requests == limits per node (CPU, memory, GPUs)."""
    amounts = {"cpu": cfg.cpu, "memory": cfg.memory}
    if cfg.gpus_per_node:
        amounts["nvidia.com/gpu"] = str(cfg.gpus_per_node)
    return {"requests": dict(amounts), "limits": dict(amounts)}


def spec_configmap(
    name: str,
    namespace: str,
    spec: TrainSpec,
    obj_labels: dict[str, str],
    owner: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Return the immutable ConfigMap `<name>-spec` carrying the spec JSON (owned by `owner`)."""
    meta: dict[str, Any] = {"name": f"{name}-spec", "namespace": namespace, "labels": obj_labels}
    if owner:
        meta["ownerReferences"] = [owner]
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": meta,
        "immutable": True,
        "data": {SPEC_KEY: json.dumps(asdict(spec), indent=2, sort_keys=True)},
    }


def owner_reference(obj: dict[str, Any]) -> dict[str, Any]:
    """Return an ownerReference to a created object (no blockOwnerDeletion: that would need
    update rights on the owner's finalizers)."""
    meta = obj["metadata"]
    return {
        "apiVersion": obj["apiVersion"],
        "kind": obj["kind"],
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": True,
    }


def check_shared(spec: TrainSpec, cfg: LauncherConfig) -> None:
    """Raise LaunchError unless every path of the spec lies under the shared PVC mount."""
    root = PurePosixPath(cfg.shared_path)
    for field in ("output_dir", "model_path", "dataset_path"):
        path = PurePosixPath(getattr(spec, field))
        if not path.is_absolute() or root not in (path, *path.parents):
            raise LaunchError(
                f"spec.{field}={path} is not under launcher.shared_path={root}: on "
                f"Kubernetes the training pods only see the shared PVC "
                f"{cfg.volume_claim!r}; set state_dir under {root}"
            )


def final_condition(conditions: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Return the Complete or Failed condition whose status is True, else None."""
    for cond in conditions:
        if cond.get("type") in ("Complete", "Failed") and cond.get("status") == "True":
            return cond
    return None


class Interrupts:
    """Signals received while waiting; `check()` raises for one whose exception was lost.

    A signal handler's exception can land inside a garbage-collection finalizer (urllib3 closing
    a pooled connection), where Python prints it and drops it; the wait loop calls `check()`
    every poll, so a cancellation is never lost that way.
    """

    def __init__(self) -> None:
        self.received: int | None = None

    def check(self) -> None:
        """Raise Terminated (SIGTERM) or KeyboardInterrupt (SIGINT) if one was received."""
        if self.received == signal.SIGTERM:
            raise Terminated("SIGTERM received while waiting on the training job")
        if self.received == signal.SIGINT:
            raise KeyboardInterrupt


@contextmanager
def interruptions_raise() -> Iterator[Interrupts]:
    """While inside, SIGTERM (a cancelled flow run's pod being stopped) raises Terminated and
    SIGINT raises KeyboardInterrupt in the main thread, after any Python handler installed before
    (Prefect's) has had its say; yields the Interrupts record for the wait loop to check."""
    seen = Interrupts()
    if threading.current_thread() is not threading.main_thread():
        yield seen
        return
    previous: dict[int, Any] = {
        sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)
    }

    def _handler(signum: int, frame: Any) -> None:
        seen.received = signum
        before = previous[signum]
        if callable(before) and before is not signal.default_int_handler:
            before(signum, frame)
        seen.check()

    for sig, before in previous.items():
        if before is not signal.SIG_IGN:
            signal.signal(sig, _handler)
    try:
        yield seen
    finally:
        for sig, before in previous.items():
            signal.signal(sig, before)


def wait_final(
    work: Workload,
    deadline_s: float,
    poll_s: float,
    check: Callable[[], None] = lambda: None,
) -> dict[str, Any] | None:
    """Poll the workload's conditions until Complete/Failed; return it, or None at the deadline.
    `check` runs every poll (it raises to stop the wait: a cancellation)."""
    deadline = time.monotonic() + deadline_s
    while True:
        check()
        final = final_condition(work.conditions())
        if final is not None:
            return final
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        time.sleep(min(poll_s, left))
