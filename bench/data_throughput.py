"""Examples per second of `prepare_data` on this machine, against the bare tokenisation loop
(chat template + tokenizer, the floor of any preparation) in the same run.

The decontamination index is built before timing (it is built once and cached); the timed
prepare includes reading, filters, dedup, decontamination, tokenisation and writing.
Usage: python bench/data_throughput.py [--rows 3000] [--benchmarks ../shared/benchmarks]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "src")]

from data_common import model_path, synthetic_rows, write_rows  # noqa: E402


def main() -> None:
    """Time the stage and the bare tokenisation loop; print examples/s of each."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=3000)
    ap.add_argument("--benchmarks", default=None, help="mirror folder (default: smoke set)")
    args = ap.parse_args()

    import torch
    from transformers import AutoTokenizer

    from climb.config import DataConfig, EvalConfig
    from climb.data.formats import normalise
    from climb.data.prepare import prepare_data
    from climb.data.tokenize import tokenize_messages
    from climb.state import StateDir

    model = model_path()
    rows = synthetic_rows(args.rows, seed=1)
    eval_cfg = EvalConfig(data_dir=args.benchmarks)
    print(
        f"torch threads {torch.get_num_threads()}, {args.rows} rows, decontamination against "
        f"{args.benchmarks or 'the smoke set'}"
    )
    with tempfile.TemporaryDirectory(prefix="climb-bench-") as tmp:
        state = StateDir.at(tmp)
        warm = write_rows(Path(tmp) / "warm.jsonl", rows[:5])
        prepare_data(DataConfig(sources=[{"path": str(warm)}]), model, state, eval_cfg)
        src = write_rows(Path(tmp) / "rows.jsonl", rows)
        for name, extra in (
            ("defaults", {}),
            ("no near-dedup", {"dedup": {"near": False}}),
            ("packed", {"packing": {"mode": "packed", "length": 2048}}),
        ):
            cfg = DataConfig.model_validate({"sources": [{"path": str(src)}], **extra})
            start = time.perf_counter()
            data = prepare_data(cfg, model, state, eval_cfg)
            s = time.perf_counter() - start
            print(
                f"prepare ({name}): {args.rows / s:.0f} rows/s, {data.report.examples / s:.0f}"
                f" kept examples/s ({s:.1f}s; kept {data.report.examples}; "
                f"padding {data.report.packing.padding_ratio})"
            )
        tok = AutoTokenizer.from_pretrained(model)
        start = time.perf_counter()
        for r in rows:
            tokenize_messages(tok, normalise(r, "alpaca", {}), 512, True)
        s = time.perf_counter() - start
        print(f"baseline (template + tokenise only): {args.rows / s:.0f} examples/s ({s:.1f}s)")
        print(
            json.dumps({"decontamination_scan_seconds": data.report.decontamination.scan_seconds})
        )


if __name__ == "__main__":
    main()
