"""Peak RSS of `prepare_data` at 1x and 10x input: streaming keeps it flat.

Each size runs in a fresh subprocess (peak RSS = VmHWM). The baseline, in the same run, is the
obvious non-streaming loader (read every row, tokenise into a list, then write), which grows with
the input. Usage: python bench/data_memory.py [--rows 2000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "src")]

from data_common import model_path, synthetic_rows, write_rows  # noqa: E402


def peak_rss_mb() -> float:
    """Return this process's peak resident set size in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


def child(mode: str, src: str, state: str, model: str) -> None:
    """Prepare `src` (mode climb) or load it all in memory (mode baseline); print JSON."""
    from climb.config import DataConfig
    from climb.data.prepare import prepare_data
    from climb.state import StateDir

    if mode == "climb":
        data = prepare_data(DataConfig(sources=[{"path": src}]), model, StateDir.at(state))
        kept = data.report.examples
        extra = {"dedup_index": data.report.dedup.exact_index}
    else:
        import pyarrow as pa
        from transformers import AutoTokenizer

        from climb.data.formats import normalise
        from climb.data.tokenize import tokenize_messages

        tok = AutoTokenizer.from_pretrained(model)
        rows = [json.loads(line) for line in Path(src).read_text().splitlines()]
        out = [tokenize_messages(tok, normalise(r, "alpaca", {}), 512, True) for r in rows]
        table = pa.table(
            {"input_ids": [o["input_ids"] for o in out], "labels": [o["labels"] for o in out]}
        )
        kept, extra = table.num_rows, {}
    print(json.dumps({"kept": kept, "peak_rss_mb": round(peak_rss_mb(), 1), **extra}))


def main() -> None:
    """Run both loaders at 1x and 10x and print the peak RSS of each."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=2000)
    ap.add_argument("--child", nargs=4)
    args = ap.parse_args()
    if args.child:
        child(*args.child)
        return
    model = model_path()
    with tempfile.TemporaryDirectory(prefix="climb-bench-") as tmp:
        results = {}
        for factor in (1, 10):
            src = write_rows(
                Path(tmp) / f"rows-{factor}x.jsonl", synthetic_rows(args.rows * factor)
            )
            for mode in ("climb", "baseline"):
                out = subprocess.run(
                    [
                        sys.executable,
                        __file__,
                        "--child",
                        mode,
                        str(src),
                        f"{tmp}/state-{mode}-{factor}",
                        model,
                    ],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                results[(mode, factor)] = json.loads(out.stdout.strip().splitlines()[-1])
                print(
                    f"{mode:8s} {factor:2d}x ({args.rows * factor} rows, "
                    f"{src.stat().st_size / 2**20:.1f} MiB): {results[(mode, factor)]}",
                    flush=True,
                )
        for mode in ("climb", "baseline"):
            a, b = results[(mode, 1)]["peak_rss_mb"], results[(mode, 10)]["peak_rss_mb"]
            print(f"{mode:8s} peak RSS 1x {a:.0f} MiB -> 10x {b:.0f} MiB ({b / a:.2f}x)")


if __name__ == "__main__":
    main()
