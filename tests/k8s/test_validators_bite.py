"""Each validator the k8s tests rely on rejects a deliberately broken manifest, with a message
that names the broken field: kubernetes-validate (built-in kinds), the CRD schemas (TrainJob,
ClusterTrainingRuntime) with their CEL rules, the JSON schemas (ExternalSecret, Application,
prefect-worker values), the pod policy and the RBAC policy. Also the launchers' own manifests,
for several shapes of launcher config.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from support.k8s_checks import pod_policy_errors, pod_specs, rbac_errors, validate_builtin

from climb.config import LauncherConfig, TrainConfig
from climb.launch.indexed_job import headless_service_manifest, job_manifest
from climb.launch.k8s_common import labels, spec_configmap
from climb.launch.kubernetes import trainer_client, trainjob_request
from climb.train.spec import TrainSpec

SPEC = TrainSpec(
    model_path="/var/lib/climb/m",
    dataset_path="/var/lib/climb/d",
    output_dir="/var/lib/climb/runs/1/train",
    train=TrainConfig().model_dump(mode="json"),
    mlflow_run_id="abc",
)
SHAPES = [
    {"gpus_per_node": 1, "num_nodes": 1},
    {"gpus_per_node": 8, "num_nodes": 4, "secret_env": {"HF_TOKEN": "climb-hf-token/token"}},
    {"gpus_per_node": 0, "nproc": 2, "cpu": "4", "memory": "16Gi"},
]


def _cfg(kind: str, **kw: Any) -> LauncherConfig:
    return LauncherConfig(kind=kind, image="ghcr.io/climb-project/climb-trainer:0.1.0", **kw)


def trainjob(kube: Any, cfg: LauncherConfig, name: str = "climb-0123456789") -> dict[str, Any]:
    """The TrainJob the launcher's SDK request creates, as kmock stored it."""
    trainer_client(kube.api, cfg.namespace).train(**trainjob_request(name, SPEC, cfg))
    job: dict[str, Any] = kube.stored("trainjobs")[name]
    return job


@pytest.mark.parametrize("shape", SHAPES)
def test_launcher_manifests_validate(
    shape: dict[str, Any], validate_custom: Any, kube: Any
) -> None:
    tj = trainjob(kube, _cfg("kubernetes", **shape))
    assert validate_custom(tj) == []
    cfg = _cfg("kubernetes-job", **shape)
    job = job_manifest("climb-0123456789", SPEC, cfg)
    for obj in (
        job,
        headless_service_manifest("climb-0123456789", SPEC, cfg),
        spec_configmap("climb-0123456789", "climb", SPEC, labels("c", SPEC)),
    ):
        assert validate_builtin(obj) == [], obj["kind"]
    assert [e for w, p in pod_specs(job) for e in pod_policy_errors(w, p)] == []


def test_builtin_validator_names_a_misspelt_field() -> None:
    job = job_manifest("climb-0123456789", SPEC, _cfg("kubernetes-job"))
    job["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "Always"
    (err,) = validate_builtin(job)
    assert "imagePullPolicyy" in err and err.startswith("spec.template.spec.containers.0")


def test_trainjob_schema_names_a_misspelt_field_and_cel_rejects_a_bad_name(
    validate_custom: Any, kube: Any
) -> None:
    tj = trainjob(kube, _cfg("kubernetes"))
    broken = copy.deepcopy(tj)
    broken["spec"]["trainer"]["numNode"] = 2
    errors = validate_custom(broken)
    assert len(errors) == 1 and errors[0].startswith("spec.trainer") and "numNode" in errors[0]
    bad_name = copy.deepcopy(tj)
    bad_name["metadata"]["name"] = "Climb_Run"
    assert any("metadata.name" in e and "CEL" in e for e in validate_custom(bad_name))


def test_runtime_cel_rule_rejects_two_ml_policies(validate_custom: Any) -> None:
    runtime = {
        "apiVersion": "trainer.kubeflow.org/v1alpha1",
        "kind": "ClusterTrainingRuntime",
        "metadata": {"name": "r"},
        "spec": {"mlPolicy": {"torch": {}, "mpi": {}}, "template": {"spec": {}}},
    }
    errors = validate_custom(runtime)
    assert errors and errors[0].startswith(".spec.mlPolicy: CEL rule failed")


@pytest.mark.parametrize(
    "obj,field",
    [
        (
            {
                "apiVersion": "external-secrets.io/v1",
                "kind": "ExternalSecret",
                "metadata": {"name": "s"},
                "spec": {"secretStoreRef": {"kindd": "ClusterSecretStore"}},
            },
            "kindd",
        ),
        (
            {
                "apiVersion": "argoproj.io/v1alpha1",
                "kind": "Application",
                "metadata": {"name": "a"},
                "spec": {"project": "p", "destination": {}, "syncPolicy": {"syncOption": []}},
            },
            "syncOption",
        ),
    ],
)
def test_json_schemas_name_a_misspelt_field(
    obj: dict[str, Any], field: str, validate_custom: Any
) -> None:
    errors = validate_custom(obj)
    assert errors and any(field in e for e in errors)


def test_worker_values_schema_names_a_misspelt_field(validate_json: Any) -> None:
    errors = validate_json(
        "helm/prefect-worker.values.schema.json", {"worker": {"config": {"workpool": "climb-cpu"}}}
    )
    assert errors and errors[0].startswith("worker.config") and "workpool" in errors[0]


def test_pod_policy_names_each_broken_rule() -> None:
    job = job_manifest("climb-0123456789", SPEC, _cfg("kubernetes-job"))
    pod = job["spec"]["template"]["spec"]
    pod["securityContext"].pop("runAsNonRoot")
    ctr = pod["containers"][0]
    ctr["securityContext"] = {"runAsNonRoot": False}
    ctr["image"] = "ghcr.io/climb-project/climb-trainer:latest"
    del ctr["resources"]["limits"]["memory"]
    del pod["tolerations"]
    text = "\n".join(pod_policy_errors("Job/x", pod))
    for field in (
        "runAsNonRoot",
        "allowPrivilegeEscalation",
        "readOnlyRootFilesystem",
        "capabilities.drop",
        "must be pinned",
        "resources.limits.memory",
        "nvidia.com/gpu taint",
    ):
        assert field in text


def test_rbac_policy_rejects_wildcards_and_cluster_roles() -> None:
    role = {
        "kind": "Role",
        "metadata": {"name": "r"},
        "rules": [{"apiGroups": [""], "resources": ["*"], "verbs": ["get"]}],
    }
    assert rbac_errors(role) == ["Role/r: rules[0].resources contains the wildcard '*'"]
    assert rbac_errors({"kind": "ClusterRole", "metadata": {"name": "c"}})
