"""A stand-in for the Kubeflow Trainer controller (or the Job controller) in kmock tests.

It does through the API what the real controller and kubelet would: waits for the launcher's job,
reads the spec the launcher put in the job's ConfigMap (as the trainer pod would from its mount),
creates the rank-0 pod, writes `result.json` into the spec's output_dir (the shared PVC) and sets
the final condition, or, for the cancellation tests, signals the launcher's process instead.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

INDEX = "batch.kubernetes.io/job-completion-index"
RESULT = {
    "adapter_path": "",
    "method": "lora",
    "global_step": 2,
    "train_loss": 2.3,
    "first_loss": 2.5,
    "last_loss": 2.1,
    "tokens": 4096,
    "tokens_per_s": 1000.0,
    "train_seconds": 4.1,
}


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class FakeOperator(threading.Thread):
    """outcome: "Complete", "Failed", None (never finishes), "sigterm" or "interrupt"."""

    def __init__(
        self,
        kube: Any,
        kind: str,
        outcome: str | None,
        reason: str = "",
        message: str = "",
        pod_phase: str = "Running",
        write_result: bool = True,
    ) -> None:
        super().__init__(name="fake-operator", daemon=True)
        from kubernetes import client

        self.kube, self.kind, self.outcome = kube, kind, outcome
        self.reason, self.message, self.pod_phase = reason, message, pod_phase
        self.write_result = write_result
        self.custom = client.CustomObjectsApi(kube.api)
        self.batch = client.BatchV1Api(kube.api)
        self.core = client.CoreV1Api(kube.api)
        self.names: list[str] = []
        self.error: BaseException | None = None
        self.default_sigterm = signal.getsignal(signal.SIGTERM)

    def _job_names(self) -> list[str]:
        if self.kind == "TrainJob":
            items = self.custom.list_namespaced_custom_object(
                "trainer.kubeflow.org", "v1alpha1", "climb", "trainjobs"
            )["items"]
            return [i["metadata"]["name"] for i in items]
        return [j.metadata.name for j in self.batch.list_namespaced_job("climb").items]

    def _wait_for(self, what: Any, timeout: float = 20.0) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = what()
            if value:
                return value
            time.sleep(0.02)
        raise TimeoutError(f"fake operator: nothing after {timeout} s")

    def run(self) -> None:
        try:
            self._act()
        except BaseException as exc:
            self.error = exc

    def _act(self) -> None:
        name = self._wait_for(lambda: [n for n in self._job_names() if n not in self.names])[0]
        self.names.append(name)
        if self.outcome in ("sigterm", "interrupt"):
            # Wait until the launcher is inside its wait (its SIGTERM handler is installed).
            self._wait_for(lambda: signal.getsignal(signal.SIGTERM) is not self.default_sigterm)
            # Real signals (a pod eviction, a Ctrl-C): unlike _thread.interrupt_main they also
            # break the launcher out of a blocking watch, as they would in production.
            os.kill(os.getpid(), signal.SIGTERM if self.outcome == "sigterm" else signal.SIGINT)
            return
        cm = self._wait_for(
            lambda: [
                c
                for c in self.core.list_namespaced_config_map("climb").items
                if c.metadata.name == f"{name}-spec"
            ]
        )[0]
        spec = json.loads(cm.data["spec.json"])
        self._create_pod(name)
        if self.outcome is None:
            return
        time.sleep(0.2)
        if self.outcome == "Complete" and self.write_result:
            out = Path(spec["output_dir"])
            out.mkdir(parents=True, exist_ok=True)
            (out / "result.json").write_text(
                json.dumps({**RESULT, "adapter_path": str(out / "adapter")})
            )
        self._set_condition(name, self.outcome)

    def _create_pod(self, name: str) -> None:
        if self.kind == "TrainJob":
            labels = {"jobset.sigs.k8s.io/jobset-name": name, INDEX: "0"}
        else:
            labels = {"climb.dev/job": name, INDEX: "0"}
        self.core.create_namespaced_pod(
            "climb",
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "name": f"{name}-node-0-0-abcde",
                    "namespace": "climb",
                    "labels": labels,
                },
                "spec": {"containers": [{"name": "node", "image": "trainer:1"}]},
                "status": {"phase": self.pod_phase if self.outcome != "Failed" else "Failed"},
            },
        )

    def _set_condition(self, name: str, kind: str) -> None:
        cond = {
            "type": kind,
            "status": "True",
            "reason": self.reason or f"Job{kind}",
            "message": self.message or f"TrainJob is {kind.lower()}",
            "lastTransitionTime": _now(),
        }
        if self.kind == "TrainJob":
            self.custom.patch_namespaced_custom_object_status(
                "trainer.kubeflow.org",
                "v1alpha1",
                "climb",
                "trainjobs",
                name,
                {"status": {"conditions": [cond]}},
            )
        else:
            self.batch.patch_namespaced_job_status(
                name, "climb", {"status": {"conditions": [{**cond, "lastProbeTime": _now()}]}}
            )
