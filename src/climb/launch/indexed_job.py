"""The `kubernetes-job` launcher, for clusters without the Kubeflow Trainer operator: an Indexed
Job (one pod per node, completion index = node rank) plus a headless Service whose DNS gives pod
0 a stable name (`<job>-0.<job>.<namespace>.svc`) for torchrun's static rendezvous.

Each pod runs the same command as a TrainJob pod (`torchrun --module climb.train --spec ...`) with
the PET_* env torchrun reads, which the Trainer would otherwise inject. The Service and the spec
ConfigMap are owned by the Job, so deleting the Job removes all three.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from climb.config import LauncherConfig
from climb.launch.k8s_common import (
    REQUEST_TIMEOUT_S,
    SPEC_DIR,
    SPEC_VOLUME,
    TRAINER_COMMAND,
    Workload,
    check_shared,
    container_env,
    labels,
    owner_reference,
    resources,
    spec_configmap,
    unique_name,
)
from climb.launch.k8s_supervise import supervise
from climb.launch.local import LaunchError
from climb.train.spec import TrainResult, TrainSpec

log = logging.getLogger(__name__)

RDZV_PORT = 29500
INDEX_LABEL = "batch.kubernetes.io/job-completion-index"
GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
SECURITY = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "runAsNonRoot": True,
    "capabilities": {"drop": ["ALL"]},
}
POD_SECURITY = {
    "runAsNonRoot": True,
    "runAsUser": 1000,
    "runAsGroup": 1000,
    "fsGroup": 1000,
    "seccompProfile": {"type": "RuntimeDefault"},
}


def headless_service_manifest(name: str, spec: TrainSpec, cfg: LauncherConfig) -> dict[str, Any]:
    """Return the headless Service `<name>` selecting the Job's pods (rendezvous DNS)."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": cfg.namespace, "labels": labels(name, spec)},
        "spec": {
            "clusterIP": "None",
            "publishNotReadyAddresses": True,
            "selector": {"climb.dev/job": name},
            "ports": [
                {"name": "c10d", "port": RDZV_PORT, "targetPort": RDZV_PORT, "protocol": "TCP"}
            ],
        },
    }


def _rendezvous_env(name: str, cfg: LauncherConfig) -> list[dict[str, Any]]:
    index = f"metadata.annotations['{INDEX_LABEL}']"
    return [
        {"name": "PET_NNODES", "value": str(cfg.num_nodes)},
        {"name": "PET_NPROC_PER_NODE", "value": str(cfg.procs_per_node)},
        {"name": "PET_NODE_RANK", "valueFrom": {"fieldRef": {"fieldPath": index}}},
        {"name": "PET_MASTER_ADDR", "value": f"{name}-0.{name}.{cfg.namespace}.svc"},
        {"name": "PET_MASTER_PORT", "value": str(RDZV_PORT)},
    ]


def job_manifest(name: str, spec: TrainSpec, cfg: LauncherConfig) -> dict[str, Any]:
    """Return the Indexed Job: `num_nodes` pods, GPUs per pod, spec ConfigMap, shared PVC,
    /dev/shm in memory, restricted pod security, deadline = launcher.timeout_s."""
    obj_labels = labels(name, spec)
    container = {
        "name": "trainer",
        "image": cfg.image,
        "command": list(TRAINER_COMMAND),
        "env": _rendezvous_env(name, cfg) + container_env(cfg),
        "ports": [{"name": "c10d", "containerPort": RDZV_PORT, "protocol": "TCP"}],
        "resources": resources(cfg),
        "securityContext": SECURITY,
        "volumeMounts": [
            {"name": SPEC_VOLUME, "mountPath": SPEC_DIR, "readOnly": True},
            {"name": "shared", "mountPath": cfg.shared_path},
            {"name": "dshm", "mountPath": "/dev/shm"},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    }
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "subdomain": name,
        "serviceAccountName": cfg.service_account,
        "automountServiceAccountToken": False,
        "securityContext": POD_SECURITY,
        "containers": [container],
        "volumes": [
            {"name": SPEC_VOLUME, "configMap": {"name": f"{name}-spec"}},
            {"name": "shared", "persistentVolumeClaim": {"claimName": cfg.volume_claim}},
            {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "16Gi"}},
            {"name": "tmp", "emptyDir": {"sizeLimit": "20Gi"}},
        ],
    }
    if cfg.gpus_per_node:
        pod_spec["nodeSelector"] = dict(cfg.node_selector)
        pod_spec["tolerations"] = [dict(GPU_TOLERATION)]
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": cfg.namespace, "labels": obj_labels},
        "spec": {
            "completionMode": "Indexed",
            "completions": cfg.num_nodes,
            "parallelism": cfg.num_nodes,
            "backoffLimit": 0,
            "activeDeadlineSeconds": cfg.timeout_s,
            "ttlSecondsAfterFinished": 86400,
            "template": {"metadata": {"labels": obj_labels}, "spec": pod_spec},
        },
    }


def launch_indexed_job(
    spec: TrainSpec,
    cfg: LauncherConfig,
    on_line: Callable[[str], None] = lambda line: print(line, flush=True),
    api: Any = None,
) -> TrainResult:
    """Run training as an Indexed Job + headless Service; return the rank-0 result.

    Same contract as launch_kubernetes: LaunchError on Failed (with the Job's reason), on the
    deadline, or without a result; the Job (and what it owns) is deleted if interrupted.
    """
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    from climb.launch.k8s_common import api_client

    check_shared(spec, cfg)
    spec.write(Path(spec.output_dir) / "spec.json")
    (Path(spec.output_dir) / "result.json").unlink(missing_ok=True)
    api = api or api_client(cfg)
    batch: Any = client.BatchV1Api(api)
    core: Any = client.CoreV1Api(api)
    ns = cfg.namespace
    job: dict[str, Any] | None = None
    for _ in range(3):
        name = unique_name("climb")
        try:
            job = api.sanitize_for_serialization(
                batch.create_namespaced_job(
                    ns, job_manifest(name, spec, cfg), _request_timeout=REQUEST_TIMEOUT_S
                )
            )
            break
        except ApiException as exc:
            if exc.status != 409:
                raise LaunchError(
                    f"could not create the Job in namespace {ns}: {exc.status} "
                    f"{exc.reason}: {exc.body}"
                ) from None
    if job is None:
        raise LaunchError("three Job names in a row already existed; giving up")
    job.setdefault("apiVersion", "batch/v1")
    job.setdefault("kind", "Job")
    work = Workload(
        kind="Job",
        name=name,
        namespace=ns,
        pod_labels={"climb.dev/job": name},
        rank0_labels={"climb.dev/job": name, INDEX_LABEL: "0"},
        conditions=lambda: _conditions(batch, ns, name),
        delete=lambda: _delete(batch, core, ns, name),
    )
    owner = owner_reference(job)
    try:
        service = headless_service_manifest(name, spec, cfg)
        service["metadata"]["ownerReferences"] = [owner]
        core.create_namespaced_service(ns, service, _request_timeout=REQUEST_TIMEOUT_S)
        core.create_namespaced_config_map(
            ns,
            spec_configmap(name, ns, spec, labels(name, spec), owner),
            _request_timeout=REQUEST_TIMEOUT_S,
        )
    except BaseException:
        work.delete()
        raise
    log.info(
        "created Indexed Job %s/%s (%d node(s) x %d GPU(s))",
        ns,
        name,
        cfg.num_nodes,
        cfg.gpus_per_node,
    )
    return supervise(core, work, spec, cfg, on_line)


def _conditions(batch: Any, namespace: str, name: str) -> list[dict[str, Any]]:
    job = batch.read_namespaced_job(name, namespace, _request_timeout=REQUEST_TIMEOUT_S)
    conds = (job.status.conditions if job.status else None) or []
    return [
        {"type": c.type, "status": c.status, "reason": c.reason, "message": c.message}
        for c in conds
    ]


def _delete(batch: Any, core: Any, namespace: str, name: str) -> None:
    """Delete the Job (background propagation: its pods go too), its Service and ConfigMap."""
    from kubernetes.client.exceptions import ApiException

    body = {"propagationPolicy": "Background"}
    for call in (
        lambda: batch.delete_namespaced_job(
            name, namespace, body=body, _request_timeout=REQUEST_TIMEOUT_S
        ),
        lambda: core.delete_namespaced_service(
            name, namespace, body=body, _request_timeout=REQUEST_TIMEOUT_S
        ),
        lambda: core.delete_namespaced_config_map(
            f"{name}-spec", namespace, body=body, _request_timeout=REQUEST_TIMEOUT_S
        ),
    ):
        try:
            call()
        except ApiException as exc:
            if exc.status != 404:
                raise
