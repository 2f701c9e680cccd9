"""Cost and recall of decontaminating against the full Open LLM Leaderboard v1 benchmarks
(../shared/benchmarks): building the index (once), loading it again (cached), scanning the demo
examples one at a time and as one batch, and what it finds among 40 disguised benchmark items
and 10 few-shot-pool items (tests/integration/data_leaks.py) planted in the demo data, next to
the previous rule (13-grams of lm-eval's decontamination query, "Question: ... Answer:") in the
same run.

Usage: python bench/data_decontamination.py [BENCHMARKS]
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "src"), str(REPO)]


def query_rule_hits(bench: Path, texts: list[str]) -> list[bool]:
    """The previous rule, for comparison: 13-grams (or the whole, 8-12 words) of each item's
    lm-eval decontamination query / prompt, the query followed by the gold, and each choice."""
    from climb.data.benchmark_items import _quiet
    from climb.data.ngrams import WordHasher, segment_grams, window_hashes
    from climb.data.textnorm import normalise_text, words
    from climb.evaluate.suites import load_suite
    from climb.evaluate.tasks import plan_suite

    suite = load_suite("open-llm-v1")
    plan = plan_suite(suite, bench)
    with _quiet():
        tasks = plan.tasks()
    hasher, segments = WordHasher(), []
    for task in tasks.values():
        cfg = task.config
        for doc in task.eval_docs:
            spec = cfg.doc_to_decontamination_query if cfg.should_decontaminate else None
            query = task.doc_to_text(doc, spec) if spec else task.doc_to_text(doc)
            choices = [str(c) for c in task.doc_to_choice(doc)]
            target = task.doc_to_target(doc)
            gold = choices[target] if isinstance(target, int) else str(target)
            for s in (str(query), f"{query} {gold}", *choices):
                segments.append(words(normalise_text(s)))
    index = set(segment_grams(segments, 13, 8, hasher)[0].tolist())
    lengths = list(range(8, 14))
    out = []
    for text in texts:
        w = words(normalise_text(text))
        grams = window_hashes(hasher(w), lengths) if w else {}
        out.append(any(set(g.tolist()) & index for g in grams.values()))
    return out


def main() -> None:
    """Build, reload, scan, and measure recall on the disguised items; print the results."""
    from climb.config import DecontaminationConfig, EvalConfig
    from climb.data.decontam import load_index
    from climb.data.formats import normalise
    from climb.data.quality import example_text
    from climb.data.textnorm import normalise_text, words
    from climb.state import StateDir
    from tests.integration.data_leaks import leaked_items, pool_items

    bench = Path(sys.argv[1]) if len(sys.argv) > 1 else REPO.parent / "shared" / "benchmarks"
    demo = [
        json.loads(x) for x in (REPO / "data/demo/instructions.jsonl").read_text().split("\n") if x
    ]
    texts = [example_text(normalise(r, "alpaca", {})) for r in demo]
    with tempfile.TemporaryDirectory(prefix="climb-decontam-") as tmp:
        state, cfg = StateDir.at(tmp), DecontaminationConfig()
        eval_cfg = EvalConfig(suite="open-llm-v1", data_dir=str(bench))
        start = time.perf_counter()
        index = load_index(cfg, eval_cfg, state)
        build = time.perf_counter() - start
        start = time.perf_counter()
        index = load_index(cfg, eval_cfg, state)
        reload = time.perf_counter() - start
        start = time.perf_counter()
        one_by_one = {i: index.match(t) for i, t in enumerate(texts)}
        scan = time.perf_counter() - start
        start = time.perf_counter()
        batched = index.match_words([words(normalise_text(t)) for t in texts])
        batch = time.perf_counter() - start
        leaks, pools = leaked_items(bench), pool_items(bench)
        leak_texts = [example_text(normalise(r, "alpaca", {})) for _, r in leaks]
        pool_texts = [example_text(normalise(r, "alpaca", {})) for r in pools]
        found = [bool(index.match(t)) for t in leak_texts]
        pool_found = [bool(index.match(t)) for t in pool_texts]
    m = index.meta
    print(
        f"index: {len(index.items)} benchmark items, {m['ngrams']} n-grams "
        f"({m['boilerplate_ngrams']} boilerplate dropped), lengths {index.lengths}, "
        f"{m['pairs']} short question/answer pairs"
    )
    print(f"build (once) {build:.1f}s, reload (cached) {reload:.2f}s")
    print(
        f"scan {len(texts)} demo examples: one by one {scan:.3f}s "
        f"({len(texts) / scan:.0f}/s), as one batch {batch:.3f}s ({len(texts) / batch:.0f}/s)"
    )
    hits = {i: h for i, h in one_by_one.items() if h}
    print(f"demo examples flagged: {len(hits)} (batched: {len(batched)})")
    print(f"disguised items found: {sum(found)}/{len(found)}; pool items flagged {sum(pool_found)}")
    for (name, row), ok in zip(leaks, found, strict=True):
        if not ok:
            print(f"  missed {name}: {row}")
    old = query_rule_hits(bench, leak_texts + pool_texts + texts)
    n = len(leak_texts)
    print(
        f"previous rule (13-grams of the query) in the same run: {sum(old[:n])}/{n} found, "
        f"pool flagged {sum(old[n : n + len(pool_texts)])}, "
        f"demo flagged {sum(old[n + len(pool_texts) :])}"
    )


if __name__ == "__main__":
    main()
