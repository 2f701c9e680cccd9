"""The `kubernetes` launcher: one uniquely named Kubeflow Trainer v2 TrainJob per run.

The TrainJob (trainer.kubeflow.org/v1alpha1) points at a ClusterTrainingRuntime from k8s/base
(torch-distributed: GPU node selector and tolerations, /dev/shm, the shared PVC, secrets by
reference) and adds what is per-run: image, numNodes, GPUs per node, env, the trainer command
(torchrun, which reads the PET_* rendezvous env the Trainer injects) and, through a runtime patch,
the spec ConfigMap mounted at SPEC_DIR. TrainJob specs are immutable: every run creates its own.
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

GROUP, VERSION, PLURAL = "trainer.kubeflow.org", "v1alpha1", "trainjobs"
NODE = "node"  # the torch runtime's replicated job and container name
PATCH_MANAGER = "climb.dev/launcher"
JOBSET_LABEL = "jobset.sigs.k8s.io/jobset-name"
INDEX_LABEL = "batch.kubernetes.io/job-completion-index"


def trainjob_manifest(name: str, spec: TrainSpec, cfg: LauncherConfig) -> dict[str, Any]:
    """Return the TrainJob for one run (its spec ConfigMap is `<name>-spec`)."""
    pod_patch: dict[str, Any] = {
        "volumes": [{"name": SPEC_VOLUME, "configMap": {"name": f"{name}-spec"}}],
        "containers": [
            {
                "name": NODE,
                "volumeMounts": [{"name": SPEC_VOLUME, "mountPath": SPEC_DIR, "readOnly": True}],
            }
        ],
    }
    if cfg.service_account:
        pod_patch["serviceAccountName"] = cfg.service_account
    assert cfg.image is not None  # LauncherConfig requires it for this kind
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "TrainJob",
        "metadata": {"name": name, "namespace": cfg.namespace, "labels": labels(name, spec)},
        "spec": {
            "runtimeRef": {
                "apiGroup": GROUP,
                "kind": "ClusterTrainingRuntime",
                "name": cfg.runtime,
            },
            "activeDeadlineSeconds": cfg.timeout_s,
            "trainer": {
                "image": cfg.image,
                "command": list(TRAINER_COMMAND),
                "numNodes": cfg.num_nodes,
                "numProcPerNode": cfg.procs_per_node,
                "resourcesPerNode": resources(cfg),
                "env": container_env(cfg),
            },
            "runtimePatches": [
                {
                    "manager": PATCH_MANAGER,
                    "trainingRuntimeSpec": {
                        "template": {
                            "spec": {
                                "replicatedJobs": [
                                    {
                                        "name": NODE,
                                        "template": {"spec": {"template": {"spec": pod_patch}}},
                                    }
                                ]
                            }
                        }
                    },
                }
            ],
        },
    }


def _create_trainjob(custom: Any, spec: TrainSpec, cfg: LauncherConfig) -> dict[str, Any]:
    from kubernetes.client.exceptions import ApiException

    for _ in range(3):
        body = trainjob_manifest(unique_name("climb"), spec, cfg)
        try:
            created: dict[str, Any] = custom.create_namespaced_custom_object(
                GROUP, VERSION, cfg.namespace, PLURAL, body, _request_timeout=REQUEST_TIMEOUT_S
            )
            return created
        except ApiException as exc:
            if exc.status != 409:
                raise LaunchError(
                    f"could not create the TrainJob in namespace {cfg.namespace}: "
                    f"{exc.status} {exc.reason}: {exc.body}"
                ) from None
    raise LaunchError("three TrainJob names in a row already existed; giving up")


def launch_kubernetes(
    spec: TrainSpec,
    cfg: LauncherConfig,
    on_line: Callable[[str], None] = lambda line: print(line, flush=True),
    api: Any = None,
) -> TrainResult:
    """Run training as a TrainJob; stream its rank-0 log to `on_line`; return the rank-0 result.

    `api` is a kubernetes ApiClient (default: in-cluster or kubeconfig, see api_client). Raises
    LaunchError on Failed (with the operator's reason), on the deadline, or when the result is
    not on the shared PVC; deletes the TrainJob if interrupted (and re-raises).
    """
    from kubernetes import client

    from climb.launch.k8s_common import api_client

    check_shared(spec, cfg)
    spec.write(Path(spec.output_dir) / "spec.json")
    (Path(spec.output_dir) / "result.json").unlink(missing_ok=True)
    api = api or api_client(cfg)
    custom: Any = client.CustomObjectsApi(api)
    core: Any = client.CoreV1Api(api)
    job = _create_trainjob(custom, spec, cfg)
    name = job["metadata"]["name"]
    work = Workload(
        kind="TrainJob",
        name=name,
        namespace=cfg.namespace,
        pod_labels={JOBSET_LABEL: name},
        rank0_labels={JOBSET_LABEL: name, INDEX_LABEL: "0"},
        conditions=lambda: (
            (
                custom.get_namespaced_custom_object(
                    GROUP, VERSION, cfg.namespace, PLURAL, name, _request_timeout=REQUEST_TIMEOUT_S
                ).get("status")
                or {}
            ).get("conditions")
            or []
        ),
        delete=lambda: _delete(custom, core, cfg.namespace, name),
    )
    try:
        core.create_namespaced_config_map(
            cfg.namespace,
            spec_configmap(name, cfg.namespace, spec, labels(name, spec), owner_reference(job)),
            _request_timeout=REQUEST_TIMEOUT_S,
        )
    except BaseException:
        work.delete()
        raise
    log.info(
        "created TrainJob %s/%s (runtime %s, %d node(s) x %d GPU(s))",
        cfg.namespace,
        name,
        cfg.runtime,
        cfg.num_nodes,
        cfg.gpus_per_node,
    )
    return supervise(core, work, spec, cfg, on_line)


def _delete(custom: Any, core: Any, namespace: str, name: str) -> None:
    """Delete the TrainJob (background propagation) and its spec ConfigMap."""
    from kubernetes.client.exceptions import ApiException

    body = {"propagationPolicy": "Background"}
    for call in (
        lambda: custom.delete_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, name, body=body, _request_timeout=REQUEST_TIMEOUT_S
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
