"""The Kubernetes launchers against kmock (a real HTTP Kubernetes API in memory, on 127.0.0.1):
create, success with the result from the shared volume and the rank-0 log streamed, failure with
the operator's reason, our own deadline when no final condition comes, cancellation (SIGTERM,
KeyboardInterrupt) deleting the job and what it owns, unique names. Both the TrainJob launcher
and the Indexed Job launcher; the objects they sent are validated against the schemas.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

import pytest
from support.fake_operator import FakeOperator
from support.k8s_checks import POD_LOG, validate_builtin

from climb.config import LauncherConfig, TrainConfig
from climb.launch import k8s_common
from climb.launch.indexed_job import launch_indexed_job
from climb.launch.k8s_common import Terminated
from climb.launch.kubernetes import launch_kubernetes
from climb.launch.local import LaunchError
from climb.train.spec import TrainSpec

pytestmark = pytest.mark.integration
LAUNCHERS = {
    "TrainJob": (launch_kubernetes, "trainjobs", "kubernetes"),
    "Job": (launch_indexed_job, "jobs", "kubernetes-job"),
}


def _spec(shared: Path) -> TrainSpec:
    return TrainSpec(
        model_path=str(shared / "models" / "base"),
        dataset_path=str(shared / "data" / "ds"),
        output_dir=str(shared / "runs" / "r1" / "train"),
        train=TrainConfig().model_dump(mode="json"),
        mlflow_tracking_uri="http://mlflow.climb.svc:5000",
        mlflow_run_id="0123456789abcdef0123456789abcdef",
    )


def _cfg(kind: str, shared: Path, **kw: Any) -> LauncherConfig:
    return LauncherConfig(
        kind=kind,
        image="ghcr.io/climb-org/climb-trainer:0.1.0",
        shared_path=str(shared),
        poll_s=0.05,
        timeout_s=60,
        gpus_per_node=2,
        num_nodes=2,
        env={"MLFLOW_S3_ENDPOINT_URL": "http://minio.climb.svc:9000"},
        secret_env={
            "AWS_ACCESS_KEY_ID": "climb-s3/access-key-id",
            "AWS_SECRET_ACCESS_KEY": "climb-s3/secret-access-key",
        },
        **kw,
    )


def _launch(
    kube: Any, job_kind: str, spec: TrainSpec, cfg: LauncherConfig, lines: list[str]
) -> Any:
    launcher = LAUNCHERS[job_kind][0]
    return launcher(spec, cfg, lines.append, api=kube.api)


@pytest.mark.parametrize("job_kind", ["TrainJob", "Job"])
def test_success_returns_result_streams_log_and_sends_valid_objects(
    kube: Any, tmp_path: Path, job_kind: str, validate_custom: Any
) -> None:
    spec, cfg, lines = _spec(tmp_path), _cfg(LAUNCHERS[job_kind][2], tmp_path), []
    op = FakeOperator(kube, job_kind, "Complete")
    op.start()
    result = _launch(kube, job_kind, spec, cfg, lines)
    op.join(5)
    assert op.error is None
    assert result.global_step == 2 and result.adapter_path.endswith("train/adapter")
    assert lines == POD_LOG.splitlines()  # streamed once, in order
    (name,) = op.names
    job = kube.stored(LAUNCHERS[job_kind][1])[name]  # kept after success, for inspection
    cm = kube.stored("configmaps")[f"{name}-spec"]
    assert json.loads(cm["data"]["spec.json"]) == json.loads(
        (Path(spec.output_dir) / "spec.json").read_text()
    )
    assert cm["immutable"] is True
    assert cm["metadata"]["ownerReferences"][0]["uid"] == job["metadata"]["uid"]
    assert validate_builtin(cm) == []
    env = job_env(job, job_kind)
    assert {
        "name": "AWS_SECRET_ACCESS_KEY",
        "valueFrom": {"secretKeyRef": {"name": "climb-s3", "key": "secret-access-key"}},
    } in env
    assert not any("SECRET" in e["name"] and "value" in e for e in env)
    if job_kind == "TrainJob":
        assert validate_custom(job) == []
        assert job["spec"]["trainer"]["numNodes"] == 2
        assert job["spec"]["trainer"]["resourcesPerNode"]["limits"]["nvidia.com/gpu"] == "2"
        assert job["spec"]["runtimeRef"]["name"] == "climb-torch"
        # The SDK's trainer has no numProcPerNode: torchrun's flag carries it.
        assert job["spec"]["trainer"]["command"][:2] == ["torchrun", "--nproc-per-node=2"]
    else:
        svc = kube.stored("services")[name]
        assert validate_builtin(job) == [] and validate_builtin(svc) == []
        assert svc["spec"]["clusterIP"] == "None"
        assert svc["metadata"]["ownerReferences"][0]["uid"] == job["metadata"]["uid"]
        assert job["spec"]["completionMode"] == "Indexed"
        assert {"name": "PET_MASTER_ADDR", "value": f"{name}-0.{name}.climb.svc"} in env


def job_env(job: dict[str, Any], job_kind: str) -> list[dict[str, Any]]:
    """The trainer container's env of a stored TrainJob or Job."""
    if job_kind == "TrainJob":  # plain env on the trainer, secrets in the runtime patch
        env: list[dict[str, Any]] = list(job["spec"]["trainer"]["env"])
        for patch in job["spec"]["runtimePatches"]:
            for rjob in patch["trainingRuntimeSpec"]["template"]["spec"]["replicatedJobs"]:
                pod = rjob["template"]["spec"]["template"]["spec"]
                env += [e for c in pod["containers"] if c["name"] == "node" for e in c["env"]]
        return env
    return job["spec"]["template"]["spec"]["containers"][0]["env"]


@pytest.mark.parametrize(
    "job_kind,reason", [("TrainJob", "JobsFailed"), ("Job", "BackoffLimitExceeded")]
)
def test_failure_reports_operator_reason_and_pod_log(
    kube: Any, tmp_path: Path, job_kind: str, reason: str
) -> None:
    op = FakeOperator(
        kube, job_kind, "Failed", reason=reason, message="trainer container exited with code 2"
    )
    op.start()
    with pytest.raises(LaunchError) as err:
        _launch(kube, job_kind, _spec(tmp_path), _cfg(LAUNCHERS[job_kind][2], tmp_path), [])
    op.join(5)
    assert op.error is None
    assert f"failed: {reason}: trainer container exited with code 2" in str(err.value)
    assert any(line.endswith("[rank0] step 2 loss 2.10") for line in err.value.tail)


@pytest.mark.parametrize("job_kind", ["TrainJob", "Job"])
def test_deadline_without_final_condition_deletes_the_job(
    kube: Any, tmp_path: Path, job_kind: str
) -> None:
    cfg = _cfg(LAUNCHERS[job_kind][2], tmp_path).model_copy(update={"timeout_s": 1})
    op = FakeOperator(kube, job_kind, None)  # creates the pod, never sets a final condition
    op.start()
    with pytest.raises(LaunchError, match="no Complete/Failed condition within launcher"):
        _launch(kube, job_kind, _spec(tmp_path), cfg, [])
    op.join(5)
    assert kube.stored(LAUNCHERS[job_kind][1]) == {}
    assert kube.stored("configmaps") == {} and kube.stored("services") == {}


@pytest.mark.parametrize("how,exc", [("sigterm", Terminated), ("interrupt", KeyboardInterrupt)])
@pytest.mark.parametrize("job_kind", ["TrainJob", "Job"])
def test_cancel_deletes_the_job_and_reraises(
    kube: Any, tmp_path: Path, job_kind: str, how: str, exc: type[BaseException]
) -> None:
    before = signal.getsignal(signal.SIGTERM)
    # Ctrl-C raises KeyboardInterrupt as in an interactive Python, even where this test process
    # was started in the background by a non-interactive shell (which ignores SIGINT for it).
    sigint = signal.signal(signal.SIGINT, signal.default_int_handler)
    op = FakeOperator(kube, job_kind, how)
    op.start()
    cfg = _cfg(LAUNCHERS[job_kind][2], tmp_path).model_copy(update={"timeout_s": 20})
    raised: BaseException | None = None
    try:
        _launch(kube, job_kind, _spec(tmp_path), cfg, [])
    except BaseException as caught:  # the cancellation under test, or a diagnostic failure
        raised = caught
    finally:
        signal.signal(signal.SIGINT, sigint)
    op.join(5)
    assert op.error is None, f"fake operator: {op.error!r}"
    assert isinstance(raised, exc), f"expected {exc.__name__}, got {raised!r}"
    assert op.error is None and len(op.names) == 1
    assert kube.stored(LAUNCHERS[job_kind][1]) == {}
    assert kube.stored("configmaps") == {} and kube.stored("services") == {}
    assert signal.getsignal(signal.SIGTERM) is before  # handler restored


def test_names_are_unique_and_a_taken_name_is_skipped(
    kube: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = _cfg("kubernetes", tmp_path)
    for _ in range(2):
        op = FakeOperator(kube, "TrainJob", "Complete")
        op.names = list(kube.stored("trainjobs"))  # act on the new one only
        op.start()
        launch_kubernetes(_spec(tmp_path), cfg, lambda line: None, api=kube.api)
        op.join(5)
    first = set(kube.stored("trainjobs"))
    assert len(first) == 2
    taken = sorted(first)[0]
    names = iter([taken, "climb-fresh0001"])
    monkeypatch.setattr("climb.launch.kubernetes.unique_name", lambda prefix="climb": next(names))
    op = FakeOperator(kube, "TrainJob", "Complete")
    op.names = sorted(first)
    op.start()
    launch_kubernetes(_spec(tmp_path), cfg, lambda line: None, api=kube.api)
    op.join(5)
    assert set(kube.stored("trainjobs")) == first | {"climb-fresh0001"}


def test_generated_names_are_short_dns_labels() -> None:
    import re

    names = {
        k8s_common.unique_name(p) for p in ["climb", "9-Weird_Prefix!" * 5, ""] for _ in range(50)
    }
    assert len(names) == 150
    assert all(re.fullmatch(r"[a-z]([-a-z0-9]*[a-z0-9])?", n) and len(n) <= 40 for n in names)


@pytest.mark.parametrize("kind", ["kubernetes", "kubernetes-job"])
def test_spec_outside_the_shared_volume_is_refused_before_anything_is_created(
    kube: Any, tmp_path: Path, kind: str
) -> None:
    cfg = _cfg(kind, tmp_path / "pvc")
    with pytest.raises(LaunchError, match=r"not under launcher\.shared_path"):
        LAUNCHERS["TrainJob" if kind == "kubernetes" else "Job"][0](
            _spec(tmp_path), cfg, lambda line: None, api=kube.api
        )
    assert kube.stored("trainjobs") == {} and kube.stored("jobs") == {}


def test_missing_result_on_shared_volume_is_explained(
    kube: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The job completes but its pods wrote result.json somewhere the flow runner cannot see.
    op = FakeOperator(kube, "TrainJob", "Complete", write_result=False)
    with pytest.raises(LaunchError, match="must mount the PVC 'climb-cache'"):
        op.start()
        launch_kubernetes(
            _spec(tmp_path), _cfg("kubernetes", tmp_path), lambda line: None, api=kube.api
        )
    op.join(5)


def test_dispatch_uses_the_kubeconfig_and_the_kind(
    kube: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from climb.launch.dispatch import launch

    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "kmock",
                "clusters": [{"name": "kmock", "cluster": {"server": kube.url}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "kmock", "context": {"cluster": "kmock", "user": "u"}}],
            }
        )
    )
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    op = FakeOperator(kube, "Job", "Complete")
    op.start()
    result = launch(_spec(tmp_path), _cfg("kubernetes-job", tmp_path), lambda line: None)
    op.join(5)
    assert result.global_step == 2
    assert len(kube.stored("jobs")) == 1 and kube.stored("trainjobs") == {}
