"""Cost, recall and precision of decontaminating Korean data against the ko-public suite's real
benchmarks (KoBEST and KMMLU test sets, ../shared/benchmarks-ko): building the index (once),
loading it again (cached), scanning Korean rows as one batch; what it finds among the 54
disguised test items (tests/integration/data_leaks_ko.py) and what it flags among clean rows:
the 60 rows of data/demo-ko, the 16 disguised few-shot-pool items, and every KoBEST train and
validation document and KMMLU dev question written out as a training row (24,000+ real Korean
texts in the benchmarks' own domains). The same is measured, in the same run, with Hangul split
into whitespace words (`units=words`, the rule before Korean units) on the same segments.

Recall is also measured on disguised items drawn with other seeds (`--held-out`), which no
choice of the rule was made on.

Usage: python bench/data_decontamination_ko.py [BENCHMARKS_KO] [--syllables-per-word F ...]
       [--held-out SEED ...]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "src"), str(REPO)]


def _jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def pool_texts(bench: Path) -> list[str]:
    """Every KoBEST train/validation document and KMMLU dev question, as one text each."""
    out = []
    for path in sorted((bench / "kobest").glob("*.jsonl")):
        if "_test" in path.name:
            continue
        for doc in _jsonl(path):
            out.append("\n".join(str(v) for k, v in doc.items() if k != "label"))
    for path in sorted((bench / "kmmlu").glob("*_dev.jsonl")):
        for doc in _jsonl(path):
            out.append("\n".join([doc["question"], *(str(doc[k]) for k in "ABCD")]))
    return out


def demo_texts() -> list[str]:
    """The Korean demo rows (alpaca and chats) as the text the data stage checks."""
    from climb.data.formats import normalise
    from climb.data.quality import example_text

    folder = REPO / "data" / "demo-ko"
    rows = [(r, "alpaca") for r in _jsonl(folder / "instructions.jsonl")]
    rows += [(r, "messages") for r in _jsonl(folder / "chats.jsonl")]
    return [example_text(normalise(r, fmt, {})) for r, fmt in rows]  # type: ignore[arg-type]


def measure(index, leaks, pools, demo, big) -> dict:
    """Return what `index` flags in each set (one batch each) and the scan time of `big`."""
    from climb.data.textnorm import match_text, words

    def flagged(texts: list[str]) -> set[int]:
        return set(index.match_words([words(match_text(t, index.units)) for t in texts]))

    start = time.perf_counter()
    big_hits = flagged(big)
    seconds = time.perf_counter() - start
    return {
        "leaks": flagged(leaks),
        "pools": flagged(pools),
        "demo": flagged(demo),
        "big": big_hits,
        "big_seconds": seconds,
    }


def main() -> None:
    """Build, reload and measure with Korean units and with whitespace words; print both."""
    from climb.config import DecontaminationConfig, EvalConfig
    from climb.data.decontam import ContaminationIndex, build_index, load_index, resolve_target
    from climb.data.formats import normalise
    from climb.data.quality import example_text
    from climb.state import StateDir
    from tests.integration.data_leaks_ko import leaked_items, pool_items

    ap = argparse.ArgumentParser()
    ap.add_argument("bench", nargs="?", default=str(REPO.parent / "shared" / "benchmarks-ko"))
    ap.add_argument("--syllables-per-word", type=float, nargs="*", default=[1.5])
    ap.add_argument("--held-out", type=int, nargs="*", default=[7, 99, 3, 5, 11])
    args = ap.parse_args()
    bench = Path(args.bench)
    leaks = leaked_items(bench)
    leak_texts = [example_text(normalise(r, "alpaca", {})) for _, _, r in leaks]
    pools = [example_text(normalise(r, "alpaca", {})) for r in pool_items(bench)]
    demo, big = demo_texts(), pool_texts(bench)
    held_out = [
        example_text(normalise(r, "alpaca", {}))
        for seed in args.held_out
        for _, _, r in leaked_items(bench, seed=seed)
    ]
    eval_cfg = EvalConfig(suite="ko-public", data_dir=str(bench))
    with tempfile.TemporaryDirectory(prefix="climb-decontam-ko-") as tmp:
        runs = []
        for f in args.syllables_per_word:
            cfg = DecontaminationConfig(hangul_syllables_per_word=f)
            state = StateDir.at(Path(tmp) / f"s{f}")
            start = time.perf_counter()
            index = load_index(cfg, eval_cfg, state)
            build = time.perf_counter() - start
            start = time.perf_counter()
            index = load_index(cfg, eval_cfg, state)
            reload = time.perf_counter() - start
            runs.append((f"hangul units, {f} syllables/word", index, build, reload))
        cfg = DecontaminationConfig()
        folder = Path(tmp) / "words"
        folder.mkdir()
        start = time.perf_counter()
        build_index(resolve_target(cfg, eval_cfg), cfg, folder, units="words")
        words_build = time.perf_counter() - start
        runs.append(("whitespace words", ContaminationIndex(folder, False, 0.0), words_build, 0.0))
        for label, index, build, reload in runs:
            m = index.meta
            r = measure(index, leak_texts, pools, demo, big)
            print(f"== {label}")
            print(
                f"index: {len(index.items)} items, {m['ngrams']} n-grams "
                f"({m['boilerplate_ngrams']} boilerplate dropped), lengths {index.lengths}, "
                f"{m['pairs']} short question/answer pairs; build {build:.1f}s "
                f"(inside: {m['build_seconds']:.1f}s), reload {reload:.3f}s"
            )
            print(f"disguised test items found: {len(r['leaks'])}/{len(leaks)}")
            for k, (_, task, row) in enumerate(leaks):
                if k not in r["leaks"]:
                    shown = json.dumps(row, ensure_ascii=False)[:160]
                    print(f"  missed {task} style {k % 6}: {shown}")
            held = measure(index, held_out, [], [], [])["leaks"]
            print(f"held-out disguised items (seeds {args.held_out}): {len(held)}/{len(held_out)}")
            print(f"pool items flagged: {len(r['pools'])}/{len(pools)}")
            print(f"demo-ko rows flagged: {len(r['demo'])}/{len(demo)}")
            print(
                f"KoBEST train+validation and KMMLU dev rows flagged: {len(r['big'])}/{len(big)} "
                f"(scanned in {r['big_seconds']:.2f}s, {len(big) / r['big_seconds']:.0f} rows/s)"
            )
            for k in sorted(r["big"])[:8]:
                hit = index.match(big[k])[0]
                print(f"  {index.items[hit[0]][1]}: {hit[1]!r} <- {big[k][:100]!r}")


if __name__ == "__main__":
    main()
