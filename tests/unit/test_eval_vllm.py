"""eval.backend=vllm: lm-eval's VLLM model arguments, and clear refusals where vLLM cannot run
(this machine has neither the package nor a GPU, so the refusal path is the real one here)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from climb.config import ConfigError, EvalConfig, load_config
from climb.evaluate.runner import make_lm, make_vllm_lm, vllm_model_args
from climb.preflight import preflight
from climb.records import ModelRef

REPO = Path(__file__).resolve().parents[2]
NO_VLLM = importlib.util.find_spec("vllm") is None


def test_args_for_a_plain_model() -> None:
    cfg = EvalConfig(backend="vllm", vllm={"tensor_parallel_size": 2, "max_model_len": 4096})
    args = vllm_model_args(ModelRef(path="/m/base", name="base", digest="d"), cfg)
    assert args["pretrained"] == args["tokenizer"] == "/m/base"
    assert args["dtype"] == "bfloat16" and args["batch_size"] == "auto"
    assert args["tensor_parallel_size"] == 2 and args["max_model_len"] == 4096
    assert args["gpu_memory_utilization"] == pytest.approx(0.85)
    assert "lora_local_path" not in args


@pytest.mark.parametrize(("rank", "bucket"), [(8, 8), (12, 16), (64, 64), (100, 128)])
def test_args_for_an_adapter_pick_the_lora_rank_bucket(
    tmp_path: Path, rank: int, bucket: int
) -> None:
    (tmp_path / "adapter_config.json").write_text(json.dumps({"r": rank, "peft_type": "LORA"}))
    args = vllm_model_args(
        ModelRef(path="/m/base", name="cand", digest="d", adapter_path=str(tmp_path)),
        EvalConfig(backend="vllm"),
    )
    assert args["lora_local_path"] == str(tmp_path) and args["tokenizer"] == str(tmp_path)
    assert args["max_lora_rank"] == bucket
    assert "max_model_len" not in args


def test_vllm_on_cpu_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"eval.*vllm runs on a CUDA GPU"):
        load_config(REPO / "config" / "demo.yaml", ["eval.backend=vllm", "eval.device=cpu"])


@pytest.mark.skipif(not NO_VLLM, reason="vllm is installed here; the refusal path cannot run")
def test_refused_before_any_work_where_vllm_cannot_run() -> None:
    smoke = "eval.data_dir=null"  # the demo's mirror is written by `make benchmarks`
    cfg = load_config(REPO / "config" / "demo.yaml", ["eval.backend=vllm", smoke])
    with pytest.raises(ConfigError, match=r"eval\.backend: vllm needs the `vllm` package"):
        preflight(cfg)
    remote = load_config(
        REPO / "config" / "demo.yaml", ["eval.backend=vllm", "eval.runner=deployment", smoke]
    )
    preflight(remote)  # the GPU pod checks for itself
    with pytest.raises(RuntimeError, match=r"eval\.backend: vllm"):
        make_vllm_lm(ModelRef(path="/m", name="m", digest="d"), cfg.eval)
    with pytest.raises(ValueError, match="make_vllm_lm"):
        make_lm(None, None, cfg.eval, "cpu")
