"""Choosing the launcher from `launcher.kind`: local torchrun, a Kubeflow TrainJob, or an Indexed
Job. Each is imported only when chosen, so the local path never loads the Kubernetes client.
"""

from __future__ import annotations

from collections.abc import Callable

from climb.config import LauncherConfig
from climb.train.spec import TrainResult, TrainSpec


def launch(
    spec: TrainSpec,
    cfg: LauncherConfig,
    on_line: Callable[[str], None] = lambda line: print(line, flush=True),
) -> TrainResult:
    """Run training with the launcher `cfg.kind` names; return the rank-0 TrainResult.

    Raises LaunchError (climb.launch.local) when training fails, times out or leaves no result.
    """
    if cfg.kind == "kubernetes":
        from climb.launch.kubernetes import launch_kubernetes

        return launch_kubernetes(spec, cfg, on_line)
    if cfg.kind == "kubernetes-job":
        from climb.launch.indexed_job import launch_indexed_job

        return launch_indexed_job(spec, cfg, on_line)
    from climb.launch.local import launch_local

    return launch_local(spec, cfg, on_line)
