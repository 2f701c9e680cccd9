"""The `kubernetes` launcher: one uniquely named Kubeflow Trainer v2 TrainJob per run.

The TrainJob (trainer.kubeflow.org/v1alpha1) points at a ClusterTrainingRuntime from k8s/base
(torch-distributed: GPU node selector and tolerations, /dev/shm, the shared PVC, secrets by
reference) and adds what is per-run: image, numNodes, resources per node, env, the trainer command
(torchrun, which reads the PET_* rendezvous env the Trainer injects) and, through a runtime patch,
the secret env, the service account and the spec ConfigMap mounted at SPEC_DIR. TrainJob specs are
immutable: every run creates its own.

Transport: the Kubeflow SDK (`kubeflow.trainer.TrainerClient`) builds, creates and deletes the
TrainJob. Waiting and logs stay on the raw client (k8s_supervise, shared with the Indexed Job
launcher) for one reason: the SDK's `get_job` (behind `wait_for_job_status` and `get_job_logs`)
reads the referenced ClusterTrainingRuntime on every call, a cluster-scoped read that climb's
namespace-only RBAC (k8s/base/rbac.yaml: a Role, no ClusterRole) does not grant. For the same
reason the SDK is handed the runtime as a `Runtime` value instead of its name. The SDK's trainer
has no numProcPerNode: the process count per node travels as torchrun's `--nproc-per-node`, which
wins over the PET_NPROC_PER_NODE the Trainer injects.
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
    spec_configmap,
    unique_name,
)
from climb.launch.k8s_supervise import supervise
from climb.launch.local import LaunchError
from climb.train.spec import TrainResult, TrainSpec

log = logging.getLogger(__name__)

GROUP, VERSION, PLURAL = "trainer.kubeflow.org", "v1alpha1", "trainjobs"
NODE = "node"  # the torch runtime's replicated job and container name
JOBSET_LABEL = "jobset.sigs.k8s.io/jobset-name"
INDEX_LABEL = "batch.kubernetes.io/job-completion-index"


def trainer_client(api: Any, namespace: str) -> Any:
    """Return a Kubeflow TrainerClient on the API server and credentials of the kubernetes
    ApiClient `api`, acting in `namespace`."""
    from kubeflow.common.types import KubernetesBackendConfig
    from kubeflow.trainer import TrainerClient

    return TrainerClient(
        KubernetesBackendConfig(namespace=namespace, client_configuration=api.configuration)
    )


def trainjob_request(name: str, spec: TrainSpec, cfg: LauncherConfig) -> dict[str, Any]:
    """Return the keyword arguments of `TrainerClient.train` for one run's TrainJob `name`
    (runtime, trainer, options); its spec ConfigMap is `<name>-spec`."""
    from kubeflow.trainer import (
        CustomTrainerContainer,
        Runtime,
        RuntimeKind,
        RuntimeTrainer,
        TrainerType,
        options,
    )

    assert cfg.image is not None  # LauncherConfig requires it for this kind
    env = container_env(cfg)
    resources: dict[str, str] = {"cpu": cfg.cpu, "memory": cfg.memory}
    if cfg.gpus_per_node:
        resources["gpu"] = str(cfg.gpus_per_node)
    pod = options.PodSpecPatch(
        service_account_name=cfg.service_account or None,
        volumes=[{"name": SPEC_VOLUME, "configMap": {"name": f"{name}-spec"}}],
        containers=[
            options.ContainerPatch(
                name=NODE,
                env=[e for e in env if "valueFrom" in e] or None,
                volume_mounts=[{"name": SPEC_VOLUME, "mountPath": SPEC_DIR, "readOnly": True}],
            )
        ],
    )
    job_patch = options.ReplicatedJobPatch(
        name=NODE,
        template=options.JobTemplatePatch(
            spec=options.JobSpecPatch(template=options.PodTemplatePatch(spec=pod))
        ),
    )
    command = [TRAINER_COMMAND[0], f"--nproc-per-node={cfg.procs_per_node}", *TRAINER_COMMAND[1:]]
    return {
        "runtime": Runtime(
            name=cfg.runtime,
            kind=RuntimeKind.CLUSTER_TRAINING_RUNTIME,
            trainer=RuntimeTrainer(
                trainer_type=TrainerType.CUSTOM_TRAINER, framework="torch", image=cfg.image
            ),
        ),
        "trainer": CustomTrainerContainer(
            image=cfg.image,
            num_nodes=cfg.num_nodes,
            resources_per_node=resources,
            env={e["name"]: e["value"] for e in env if "value" in e},
        ),
        "options": [
            options.Name(name),
            options.Labels(labels(name, spec)),
            options.TrainerCommand(command),
            options.ActiveDeadlineSeconds(cfg.timeout_s),
            options.RuntimePatch(
                training_runtime_spec=options.TrainingRuntimeSpecPatch(
                    template=options.JobSetTemplatePatch(
                        spec=options.JobSetSpecPatch(replicated_jobs=[job_patch])
                    )
                )
            ),
        ],
    }


def _api_error(exc: BaseException) -> Any:
    """Return the kubernetes ApiException the SDK wrapped into `exc`, or None."""
    from kubernetes.client.exceptions import ApiException

    cause = exc.__cause__
    return cause if isinstance(cause, ApiException) else None


def _create_trainjob(trainer: Any, spec: TrainSpec, cfg: LauncherConfig) -> str:
    """Create the TrainJob under a fresh name (a taken name is skipped); return the name."""
    for _ in range(3):
        name = unique_name("climb")
        try:
            created: str = trainer.train(**trainjob_request(name, spec, cfg))
            return created
        except (RuntimeError, TimeoutError) as exc:
            api = _api_error(exc)
            if api is not None and api.status == 409:
                continue
            why = f"{api.status} {api.reason}: {api.body}" if api is not None else str(exc)
            raise LaunchError(
                f"could not create the TrainJob in namespace {cfg.namespace}: {why}"
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
    trainer = trainer_client(api, cfg.namespace)
    name = _create_trainjob(trainer, spec, cfg)

    def _get() -> dict[str, Any]:
        job: dict[str, Any] = custom.get_namespaced_custom_object(
            GROUP, VERSION, cfg.namespace, PLURAL, name, _request_timeout=REQUEST_TIMEOUT_S
        )
        return job

    work = Workload(
        kind="TrainJob",
        name=name,
        namespace=cfg.namespace,
        pod_labels={JOBSET_LABEL: name},
        rank0_labels={JOBSET_LABEL: name, INDEX_LABEL: "0"},
        conditions=lambda: (_get().get("status") or {}).get("conditions") or [],
        delete=lambda: _delete(trainer, core, cfg.namespace, name),
    )
    try:
        cm = spec_configmap(name, cfg.namespace, spec, labels(name, spec), owner_reference(_get()))
        core.create_namespaced_config_map(cfg.namespace, cm, _request_timeout=REQUEST_TIMEOUT_S)
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


def _delete(trainer: Any, core: Any, namespace: str, name: str) -> None:
    """Delete the TrainJob (the SDK; what it owns goes with it) and its spec ConfigMap (also
    owned by it: deleted here too so that nothing waits on the garbage collector)."""
    from kubernetes.client.exceptions import ApiException

    try:
        trainer.delete_job(name)
    except (RuntimeError, TimeoutError) as exc:
        api = _api_error(exc)
        if api is None or api.status != 404:
            raise
    try:
        core.delete_namespaced_config_map(
            f"{name}-spec",
            namespace,
            body={"propagationPolicy": "Background"},
            _request_timeout=REQUEST_TIMEOUT_S,
        )
    except ApiException as exc:
        if exc.status != 404:
            raise
