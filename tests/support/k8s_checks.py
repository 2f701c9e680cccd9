"""Helpers for the Kubernetes tests: strict JSON Schemas from the CRDs in ../shared/k8s-schemas
(with their simple CEL rules run by cel-python), kubernetes-validate for built-in kinds pinned to
K8S_VERSION (the oldest Kubernetes climb supports: Kubeflow Trainer v2 needs 1.31), and KubeApi:
kmock, an in-memory Kubernetes API on 127.0.0.1 served from a thread, with an ApiClient for it.
"""

from __future__ import annotations

import asyncio
import copy
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any, ClassVar

K8S_VERSION = "1.31"
CRD_FILES = {
    "TrainJob": "crds/trainer_trainjobs.yaml",
    "ClusterTrainingRuntime": "crds/trainer_clustertrainingruntimes.yaml",
    "TrainingRuntime": "crds/trainer_trainingruntimes.yaml",
}
JSON_SCHEMAS = {
    "Application": "argoproj.io/application_v1alpha1.json",
    "ApplicationSet": "argoproj.io/applicationset_v1alpha1.json",
    "ExternalSecret": "external-secrets.io/externalsecret_v1.json",
    "ClusterSecretStore": "external-secrets.io/clustersecretstore_v1.json",
}
Validate = Callable[[dict[str, Any]], list[str]]


def strict_schema(node: Any) -> Any:
    """Convert a CRD openAPIV3Schema into a strict JSON Schema: `nullable` allows null,
    int-or-string allows both, objects with `properties` reject unknown fields unless they
    preserve unknown fields; the `x-kubernetes-*` keys are dropped."""
    if isinstance(node, list):
        return [strict_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {
        k: strict_schema(v)
        for k, v in node.items()
        if not k.startswith("x-kubernetes-") and k != "nullable"
    }
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if "properties" in node and not node.get("x-kubernetes-preserve-unknown-fields"):
        out.setdefault("additionalProperties", False)
        if node.get("x-kubernetes-embedded-resource"):
            for key in ("apiVersion", "kind", "metadata"):
                out["properties"].setdefault(key, {})
    if node.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    return out


def _cel_rules(schema: dict[str, Any], value: Any, path: str) -> Iterator[tuple[str, str, Any]]:
    """Yield (path, rule, value) for every CEL rule whose node is present in `value`."""
    for rule in schema.get("x-kubernetes-validations", []):
        if "oldSelf" not in rule["rule"]:  # transition rules need the previous object
            yield path, rule["rule"], value
    if isinstance(value, dict):
        for key, sub in value.items():
            if key in schema.get("properties", {}):
                yield from _cel_rules(schema["properties"][key], sub, f"{path}.{key}")
    elif isinstance(value, list) and "items" in schema:
        for i, sub in enumerate(value):
            yield from _cel_rules(schema["items"], sub, f"{path}[{i}]")


def cel_errors(schema: dict[str, Any], obj: dict[str, Any]) -> list[str]:
    """Evaluate the CRD's CEL rules on `obj` with cel-python; return the broken ones."""
    import celpy

    env = celpy.Environment()
    errors = []
    for path, rule, value in _cel_rules(schema, obj, ""):
        result = env.program(env.compile(rule)).evaluate({"self": celpy.json_to_cel(value)})
        if result is not True and result != celpy.celtypes.BoolType(True):
            errors.append(f"{path or '(root)'}: CEL rule failed: {rule}")
    return errors


def jsonschema_errors(schema: dict[str, Any], obj: dict[str, Any]) -> list[str]:
    import jsonschema

    validator = jsonschema.validators.validator_for(schema)(schema)
    return [
        f"{'.'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message}"
        for e in sorted(validator.iter_errors(obj), key=lambda e: list(e.absolute_path))
    ]


def validate_builtin(obj: dict[str, Any], version: str = K8S_VERSION) -> list[str]:
    """Validate a built-in kind strictly (unknown fields rejected) with kubernetes-validate."""
    import jsonschema
    import kubernetes_validate

    try:
        kubernetes_validate.validate(obj, version, strict=True)
    except (kubernetes_validate.ValidationError, jsonschema.ValidationError) as exc:
        err = getattr(exc, "caused_by", exc)
        return [f"{'.'.join(str(p) for p in err.absolute_path) or '(root)'}: {err.message}"]
    return []


# --- kmock --------------------------------------------------------------------------------------


def _emulator_class() -> type:
    import kmock

    class ApiServer(kmock.KubernetesEmulator):  # type: ignore[misc]
        """kmock's emulator plus what the API server does on create: uid, creationTimestamp,
        201 Created (the client only decodes a create's body on 201)."""

        async def _handle(self, request: Any) -> Any:
            create = request.action == kmock.action.CREATE and isinstance(request.data, dict)
            if create:
                meta = request.data.setdefault("metadata", {})
                meta.setdefault("uid", str(uuid.uuid4()))
                meta.setdefault(
                    "creationTimestamp", datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
                )
                if request.namespace:
                    meta.setdefault("namespace", request.namespace)
            response = await super()._handle(request)
            if create and response.status == 200 and not response.prepared:
                response.set_status(201)  # what the API server answers to a create
            return response

    return ApiServer


class KubeApi:
    """A kmock API server in a background thread, and a kubernetes ApiClient pointed at it."""

    RESOURCES: ClassVar[dict[str, str]] = {
        "trainer.kubeflow.org/v1alpha1/trainjobs": "TrainJob",
        "batch/v1/jobs": "Job",
        "v1/pods": "Pod",
        "v1/configmaps": "ConfigMap",
        "v1/services": "Service",
    }

    def __init__(self, pod_log: str) -> None:
        self.pod_log = pod_log
        self._ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="kmock", daemon=True)
        self.url = ""

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._serve())

    async def _serve(self) -> None:
        import kmock

        self._stop = asyncio.Event()
        async with _emulator_class()() as emu, kmock.Server(emu) as server:
            for res, kind in self.RESOURCES.items():
                emu.resources[res] = kmock.ResourceInfo(kind=kind, namespaced=True)
            (
                emu[kmock.resource("v1", "pods"), kmock.subresource("log")]
                << kmock.headers({"Content-Type": "text/plain"})
                << self.pod_log.encode()
            )
            self.emulator = emu
            self.url = str(server.url).rstrip("/")
            self._ready.set()
            await self._stop.wait()

    def start(self) -> KubeApi:
        """Start the server; return self once it listens."""
        self._thread.start()
        if not self._ready.wait(20):
            raise RuntimeError("kmock did not start within 20 s")
        from kubernetes import client

        conf = client.Configuration()
        conf.host = self.url
        self.api = client.ApiClient(conf)
        return self

    def stop(self) -> None:
        """Stop the server and join its thread."""
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)
        self.api.close()

    def stored(self, plural: str, namespace: str = "climb") -> dict[str, dict[str, Any]]:
        """Return {name: object} of the live (not deleted) objects of a resource, as stored."""
        out = {}
        for (res, ns, name), obj in list(self.emulator.objects.items()):
            if res.plural == plural and ns == namespace and not obj.deleted:
                out[name] = copy.deepcopy(obj.raw)
        return out


POD_LOG = "[rank0] step 1 loss 2.50\n[rank0] step 2 loss 2.10\nclimb.train: done, step 2\n"


# --- policy ---------------------------------------------------------------------------------

BUILTIN_GROUPS = {"", "apps", "batch", "policy", "autoscaling"}


def is_builtin(obj: dict[str, Any]) -> bool:
    """True for Kubernetes built-in kinds (core, apps, batch, *.k8s.io groups)."""
    group = obj["apiVersion"].rpartition("/")[0]
    return group in BUILTIN_GROUPS or group.endswith(".k8s.io")


def pod_specs(obj: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Return (where, pod spec) for every pod template an object carries."""
    kind, name = obj["kind"], obj["metadata"].get("name", obj["metadata"].get("generateName"))
    spec = obj.get("spec", {})
    if kind == "Pod":
        return [(f"Pod/{name}", spec)]
    if kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"):
        return [(f"{kind}/{name}", spec["template"]["spec"])]
    if kind == "CronJob":
        return [(f"{kind}/{name}", spec["jobTemplate"]["spec"]["template"]["spec"])]
    if kind in ("ClusterTrainingRuntime", "TrainingRuntime"):
        return [
            (f"{kind}/{name}/{rj['name']}", rj["template"]["spec"]["template"]["spec"])
            for rj in spec["template"]["spec"]["replicatedJobs"]
        ]
    return []


def pod_policy_errors(where: str, pod: dict[str, Any]) -> list[str]:
    """Return the pod-security rule breaks of one pod spec, each naming the field."""
    errors = []
    psc = pod.get("securityContext", {})
    if psc.get("seccompProfile", {}).get("type") != "RuntimeDefault":
        errors.append(f"{where}: securityContext.seccompProfile.type must be RuntimeDefault")
    gpu = False
    for c in pod.get("initContainers", []) + pod.get("containers", []):
        at = f"{where}: container {c['name']}"
        sc = c.get("securityContext", {})
        if not (sc.get("runAsNonRoot") or psc.get("runAsNonRoot")):
            errors.append(f"{at}: securityContext.runAsNonRoot must be true")
        if sc.get("allowPrivilegeEscalation") is not False:
            errors.append(f"{at}: securityContext.allowPrivilegeEscalation must be false")
        if sc.get("readOnlyRootFilesystem") is not True:
            errors.append(f"{at}: securityContext.readOnlyRootFilesystem must be true")
        if "ALL" not in sc.get("capabilities", {}).get("drop", []):
            errors.append(f"{at}: securityContext.capabilities.drop must contain ALL")
        image = str(c.get("image", ""))
        last = image.rsplit("/", 1)[-1]
        if "@" not in last and (":" not in last or last.endswith(":latest")):
            errors.append(f"{at}: image {image!r} must be pinned (a tag, not :latest)")
        res = c.get("resources", {})
        for part in ("requests", "limits"):
            for key in ("cpu", "memory"):
                if not res.get(part, {}).get(key):
                    errors.append(f"{at}: resources.{part}.{key} is missing")
        gpu = gpu or "nvidia.com/gpu" in res.get("limits", {})
    if gpu and not any(t.get("key") == "nvidia.com/gpu" for t in pod.get("tolerations", [])):
        errors.append(f"{where}: requests GPUs but has no toleration for the nvidia.com/gpu taint")
    return errors


def rbac_errors(obj: dict[str, Any]) -> list[str]:
    """Return RBAC rule breaks: cluster-wide objects, wildcard verbs, resources or groups."""
    kind, name = obj["kind"], obj["metadata"]["name"]
    if kind in ("ClusterRole", "ClusterRoleBinding"):
        return [f"{kind}/{name}: cluster-wide RBAC is not allowed"]
    if kind != "Role":
        return []
    errors = []
    for i, rule in enumerate(obj.get("rules", [])):
        for field in ("verbs", "resources", "apiGroups"):
            if "*" in rule.get(field, []):
                errors.append(f"Role/{name}: rules[{i}].{field} contains the wildcard '*'")
    return errors
