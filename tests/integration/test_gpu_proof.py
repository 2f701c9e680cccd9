"""`make gpu-proof`'s CPU dry run (tiny shapes, gloo): every row the CPU can run passes through
climb's real entry points (torchrun -m climb.train, lm-eval with climb's backend and HFLM), the
others are skipped with their reason, the table lists every row and the JSON holds the run; and
a failing row's cause is reported, not hidden."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _proof_module():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("gpu_proof", REPO / "bench" / "gpu_proof.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["gpu_proof"] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_dry_run_passes_every_cpu_row_and_explains_the_others(tmp_path: Path) -> None:
    out = tmp_path / "proof.json"
    done = subprocess.run(
        [sys.executable, str(REPO / "bench" / "gpu_proof.py"), "--dry-run", "--limit", "1",
         "--work", str(tmp_path / "work"), "--json", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads(out.read_text())
    rows = {r["name"]: r for r in report["rows"]}
    assert report["dry_run"] is True
    for name in rows:
        assert name in done.stdout  # the one table lists every row
    for name in ("setup", "climb LoRA", "climb full", "FSDP 1 GPU (smoke)",
                 "resume from checkpoint", "eval climb-hf + HFLM"):  # fmt: skip
        assert rows[name]["status"] == "ok", rows[name]
    for name in ("climb LoRA", "climb full", "FSDP 1 GPU (smoke)"):
        rec = rows[name]["record"]
        assert rec["steps"] == 3 and rec["tokens_per_s"] > 0 and rec["measured_steps"] >= 1
    assert rows["resume from checkpoint"]["record"]["resumed_from"] == "checkpoint-4"
    ev = rows["eval climb-hf + HFLM"]
    assert set(ev["record"]["climb"]["scores"]) == {
        "arc_challenge", "hellaswag", "mmlu", "truthfulqa_mc2"
    }  # fmt: skip
    agreement = ev["agreement"]["hflm"]
    assert agreement["agree"] and agreement["requests"] > 100
    assert rows["climb QLoRA"]["status"] == "skipped"
    assert "CUDA" in rows["climb QLoRA"]["cause"]
    assert rows["eval vLLM"]["status"] == "skipped" and "vllm" in rows["eval vLLM"]["cause"]
    for name in ("baseline HF Trainer+PEFT", "baseline packing+Liger"):
        assert rows[name]["status"] == "skipped" and rows[name]["cause"], rows[name]


def test_a_failing_row_reports_its_cause(tmp_path: Path) -> None:
    proof = _proof_module()
    code = "import sys; print('step 1'); sys.exit('ValueError: the model shape is wrong')"
    with pytest.raises(RuntimeError, match=r"exit 1: ValueError: the model shape is wrong"):
        proof._run([sys.executable, "-c", code], tmp_path / "row.log", timeout=60)
    assert "step 1" in (tmp_path / "row.log").read_text()
