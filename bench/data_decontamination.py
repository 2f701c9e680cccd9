"""Cost and hits of decontaminating the demo data against the full Open LLM Leaderboard v1
benchmarks (../shared/benchmarks): building the 13-gram index (once), loading it again (cached),
and scanning the demo examples. Usage: python bench/data_decontamination.py [BENCHMARKS]
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "src")]


def main() -> None:
    """Build, reload and scan; print timings, index size and hits per benchmark."""
    from climb.config import DecontaminationConfig, EvalConfig
    from climb.data.decontam import load_index
    from climb.data.formats import normalise
    from climb.data.quality import example_text
    from climb.state import StateDir

    bench = sys.argv[1] if len(sys.argv) > 1 else str(REPO.parent / "shared" / "benchmarks")
    rows = [json.loads(x) for x in (REPO / "data/demo/instructions.jsonl").read_text().splitlines()]
    with tempfile.TemporaryDirectory(prefix="climb-decontam-") as tmp:
        state, cfg = StateDir.at(tmp), DecontaminationConfig()
        eval_cfg = EvalConfig(suite="open-llm-v1", data_dir=bench)
        start = time.perf_counter()
        index = load_index(cfg, eval_cfg, state)
        build = time.perf_counter() - start
        start = time.perf_counter()
        index = load_index(cfg, eval_cfg, state)
        reload = time.perf_counter() - start
        start = time.perf_counter()
        hits = {}
        for i, r in enumerate(rows, 1):
            found = index.match(example_text(normalise(r, "alpaca", {})))
            if found:
                hits[i] = [(index.items[k][:3], gram) for k, gram in found]
        scan = time.perf_counter() - start
    print(
        f"index: {len(index.items)} benchmark items, {index.meta['ngrams']} n-grams "
        f"({index.meta['boilerplate_ngrams']} boilerplate dropped), lengths {index.lengths}"
    )
    print(
        f"build (once) {build:.1f}s, reload (cached) {reload:.2f}s, "
        f"scan {len(rows)} demo examples {scan:.3f}s ({len(rows) / scan:.0f} examples/s)"
    )
    print(f"contaminated demo examples: {len(hits)}")
    for row, found in hits.items():
        print(f"  row {row}: {found}")


if __name__ == "__main__":
    main()
