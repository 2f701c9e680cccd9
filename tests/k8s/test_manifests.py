"""k8s/ checked offline: every overlay (and the Argo CD tree) builds with `kubectl kustomize`;
built-in objects validate strictly with kubernetes-validate at K8S_VERSION; custom resources
against ../shared/k8s-schemas (unknown fields rejected, simple CEL rules evaluated); the
prefect-worker Helm values against the chart's values schema; policy over every pod (security
context, pinned images, requests and limits, GPU tolerations) and RBAC (namespaced, no
wildcards, exactly the flow runner's needs); the overlays' experiment files are valid climb
configs; the GPU work pool renders a valid Job through prefect-kubernetes.
"""

from __future__ import annotations

import json
import re
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from support.k8s_checks import K8S_VERSION, is_builtin, pod_policy_errors, pod_specs, rbac_errors
from support.k8s_checks import validate_builtin as builtin

TREES = ["overlays/dev", "overlays/prod", "argocd"]
NO_SCHEMA = {"AppProject"}  # ../shared has no AppProject schema: test_appprojects checks it
WORKER_SCHEMA = "helm/prefect-worker.values.schema.json"


def build(kubectl: str, repo: Path, tree: str) -> list[dict[str, Any]]:
    """Return the objects `kubectl kustomize k8s/<tree>` renders."""
    out = subprocess.run(
        [kubectl, "kustomize", str(repo / "k8s" / tree)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, f"kubectl kustomize k8s/{tree} failed:\n{out.stderr}"
    return [d for d in yaml.safe_load_all(out.stdout) if d]


@pytest.fixture(scope="module")
def rendered(kubectl: str, repo: Path) -> dict[str, list[dict[str, Any]]]:
    """Every tree, built once."""
    return {tree: build(kubectl, repo, tree) for tree in TREES}


def gotemplate(obj: Any, values: dict[str, str]) -> Any:
    """Substitute Argo CD goTemplate `{{.key}}` placeholders (what the ApplicationSet does)."""
    text = json.dumps(obj)
    for key, value in values.items():
        text = text.replace("{{." + key + "}}", value)
    assert "{{" not in text, "unfilled goTemplate placeholder"
    return json.loads(text)


def generated_apps(appset: dict[str, Any]) -> list[dict[str, Any]]:
    """The Applications an ApplicationSet's list generator produces."""
    elements = appset["spec"]["generators"][0]["list"]["elements"]
    return [
        {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Application",
            **gotemplate(appset["spec"]["template"], e),
        }
        for e in elements
    ]


@pytest.mark.parametrize("tree", TREES)
def test_every_object_validates(
    rendered: dict[str, list[dict[str, Any]]], tree: str, validate_custom: Any
) -> None:
    kinds = set()
    for obj in rendered[tree]:
        where = f"{tree}: {obj['kind']}/{obj['metadata']['name']}"
        kinds.add(obj["kind"])
        if is_builtin(obj):
            assert builtin(obj) == [], where
        elif obj["kind"] not in NO_SCHEMA:
            assert validate_custom(obj) == [], where
        if obj["kind"] == "ApplicationSet":
            for app in generated_apps(obj):
                assert validate_custom(app) == [], f"{where} -> {app['metadata']['name']}"
    if tree.startswith("overlays"):
        assert {
            "Namespace",
            "Role",
            "RoleBinding",
            "ClusterTrainingRuntime",
            "Deployment",
            "ExternalSecret",
            "ClusterSecretStore",
            "PersistentVolumeClaim",
        } <= kinds


@pytest.mark.parametrize("tree", ["overlays/dev", "overlays/prod"])
def test_pod_security_images_resources_and_gpu_tolerations(
    rendered: dict[str, list[dict[str, Any]]], tree: str
) -> None:
    pods = [p for obj in rendered[tree] for p in pod_specs(obj)]
    assert len(pods) >= 2
    errors = [e for where, pod in pods for e in pod_policy_errors(where, pod)]
    assert errors == []
    namespace = next(o for o in rendered[tree] if o["kind"] == "Namespace")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


@pytest.mark.parametrize("tree", ["overlays/dev", "overlays/prod"])
def test_rbac_is_namespaced_minimal_and_without_wildcards(
    rendered: dict[str, list[dict[str, Any]]], tree: str
) -> None:
    objs = rendered[tree]
    assert [e for o in objs for e in rbac_errors(o)] == []
    roles = {o["metadata"]["name"]: o for o in objs if o["kind"] == "Role"}
    rules = {
        (g, r): set(rule["verbs"])
        for rule in roles["climb-flow-runner"]["rules"]
        for g in rule["apiGroups"]
        for r in rule["resources"]
    }
    assert rules == {
        ("trainer.kubeflow.org", "trainjobs"): {"create", "get", "list", "watch", "delete"},
        ("batch", "jobs"): {"create", "get", "list", "watch", "delete"},
        ("", "configmaps"): {"create", "get", "delete"},
        ("", "services"): {"create", "get", "delete"},
        ("", "pods"): {"get", "list", "watch"},
        ("", "pods/log"): {"get"},
    }
    bindings = [o for o in objs if o["kind"] == "RoleBinding"]
    assert [s["name"] for b in bindings for s in b["subjects"]] == ["climb-flow-runner"]
    accounts = {o["metadata"]["name"]: o for o in objs if o["kind"] == "ServiceAccount"}
    assert accounts["climb-trainer"]["automountServiceAccountToken"] is False


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_experiment_is_a_valid_climb_config_using_the_overlay_image(
    rendered: dict[str, list[dict[str, Any]]], env: str, tmp_path: Path
) -> None:
    from climb.config import load_config

    cm = next(
        o
        for o in rendered[f"overlays/{env}"]
        if o["kind"] == "ConfigMap" and o["metadata"]["name"] == "climb-experiment"
    )
    path = tmp_path / "leaderboard.yaml"
    path.write_text(cm["data"]["leaderboard.yaml"])
    cfg = load_config(path)
    runtime = next(o for o in rendered[f"overlays/{env}"] if o["kind"] == "ClusterTrainingRuntime")
    node = runtime["spec"]["template"]["spec"]["replicatedJobs"][0]
    assert cfg.launcher.kind == "kubernetes" and cfg.launcher.runtime == runtime["metadata"]["name"]
    assert (
        cfg.launcher.image == node["template"]["spec"]["template"]["spec"]["containers"][0]["image"]
    )
    assert cfg.state_dir.startswith(cfg.launcher.shared_path + "/")


def test_argocd_apps_use_server_side_apply_and_pinned_charts(
    rendered: dict[str, list[dict[str, Any]]], validate_json: Any
) -> None:
    apps = [
        a for o in rendered["argocd"] if o["kind"] == "ApplicationSet" for a in generated_apps(o)
    ]
    names = {a["metadata"]["name"] for a in apps}
    assert {
        "climb-dev",
        "climb-prod",
        "kubeflow-trainer-in-cluster",
        "prefect-server-in-cluster",
        "prefect-worker-cpu-in-cluster",
        "prefect-worker-gpu-prod",
    } <= names
    for app in apps:
        spec = app["spec"]
        assert "ServerSideApply=true" in spec["syncPolicy"]["syncOptions"], app["metadata"]
        chart = spec["source"].get("chart")
        if chart:
            assert re.fullmatch(r"\d+\.\d+\.\d+", spec["source"]["targetRevision"]), chart
        if chart == "prefect-worker":
            values = spec["source"]["helm"]["valuesObject"]
            assert validate_json(WORKER_SCHEMA, values) == [], app["metadata"]["name"]
            assert values["worker"]["config"]["workPool"] in ("climb-cpu", "climb-gpu")


def test_appprojects_are_scoped(rendered: dict[str, list[dict[str, Any]]]) -> None:
    projects = {
        o["metadata"]["name"]: o["spec"] for o in rendered["argocd"] if o["kind"] == "AppProject"
    }
    for name, spec in projects.items():
        assert "*" not in spec["sourceRepos"], name
        assert all(d["namespace"] != "*" and d.get("name") != "*" for d in spec["destinations"]), (
            name
        )
        assert all(
            r["kind"] != "*" and r["group"] != "*" for r in spec.get("clusterResourceWhitelist", [])
        ), name
    assert {r["kind"] for r in projects["climb"]["clusterResourceWhitelist"]} == {
        "Namespace",
        "ClusterTrainingRuntime",
        "ClusterSecretStore",
    }


def render_pool_job(template: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """Render a work pool's Job the way the Prefect Kubernetes worker does (prefect-kubernetes)."""
    from prefect.client.schemas.objects import FlowRun
    from prefect.utilities.templating import apply_values
    from prefect_kubernetes.worker import KubernetesWorkerJobConfiguration

    variables = {
        k: v["default"] for k, v in template["variables"]["properties"].items() if "default" in v
    }
    variables.update(values)
    config = KubernetesWorkerJobConfiguration(
        **apply_values(template["job_configuration"], variables)
    )
    config.prepare_for_flow_run(FlowRun(flow_id=uuid.uuid4(), name="brave-fox"))
    manifest: dict[str, Any] = config.job_manifest
    return manifest


@pytest.mark.parametrize("pool", ["cpu", "gpu"])
def test_work_pool_templates_render_valid_secure_jobs(repo: Path, pool: str) -> None:
    template = json.loads((repo / "k8s/base/prefect" / f"work-pool-{pool}.json").read_text())
    values = {"gpu_count": 4, "shm_size": "32Gi"} if pool == "gpu" else {}
    job = render_pool_job(template, {"command": "prefect flow-run execute", **values})
    job["metadata"]["name"] = "brave-fox-abcde"  # the worker sets generateName
    assert builtin(job) == [], job
    assert [e for w, p in pod_specs(job) for e in pod_policy_errors(w, p)] == []
    pod = job["spec"]["template"]["spec"]
    mounts = {m["mountPath"] for m in pod["containers"][0]["volumeMounts"]}
    assert "/var/lib/climb" in mounts
    if pool == "gpu":
        res = pod["containers"][0]["resources"]
        assert res["limits"]["nvidia.com/gpu"] == 4 and res["requests"]["nvidia.com/gpu"] == 4
        assert pod["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
        assert {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "32Gi"}} in (
            pod["volumes"]
        )
        assert pod["serviceAccountName"] == "climb-trainer"
    else:
        assert pod["serviceAccountName"] == "climb-flow-runner"
        assert "/etc/climb/experiment" in mounts


def test_kubernetes_validate_is_pinned_to_the_oldest_supported_version() -> None:
    import kubernetes_validate.utils as kv

    assert K8S_VERSION == "1.31" and any(v.startswith("1.31") for v in kv.all_versions())
