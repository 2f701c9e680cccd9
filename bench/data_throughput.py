"""Rows per second of climb's data stage next to the field's plain recipe, on the same rows, in
the same run, at 1 and N processes; and the stage's peak memory at 1x and 10x the rows.

- recipe: what a TRL user writes - `datasets.load_dataset("json")`, then
  `.map(batched=True, num_proc=N)` rendering the chat template per batch, one batched
  fast-tokenizer call (offsets give the prompt's token count), labels -100 on the prompt, and
  `.to_parquet`. No filters, no dedup, no decontamination, no report.
- climb defaults: `prepare_data` with `data.num_proc=N` and everything on (duplicate-field
  filter, exact + near dedup, 13-gram decontamination against the full Open LLM Leaderboard v1
  benchmarks, the report, the digest, the manifest).
- climb bare: the same with dedup and decontamination off.

The rows are `data_common.alpaca_rows` (real text; see there). The decontamination index is
built before timing (once per machine, cached). TOKENIZERS_PARALLELISM=false, as in `make test`:
N processes, one tokenizer thread each, for the recipe and climb alike. Peak RSS runs each size
in a fresh process: the parent's VmHWM and the largest worker's (ru_maxrss of the children).

Each run also reports its CPU time per row, over every process (the parent and its finished
workers): what the work costs, which other load on a shared machine changes much less than the
wall time. On a shared machine, `--repeat K` runs the three K times in rotation and shows the best
of each.

Usage: python bench/data_throughput.py [--rows 20000] [--procs N] [--repeat K] [--benchmarks DIR]
                                       [--no-rss] [--no-throughput] [--rss-rows N]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "src")]

from data_common import REPO, alpaca_rows, model_path, peak_rss_mb, write_rows  # noqa: E402


def cpu_seconds() -> float:
    """Return the CPU time (user + system) of this process and its finished children."""
    own, kids = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def recipe(src: Path, model: str, nproc: int, out: Path, cache: Path) -> int:
    """The plain recipe; returns the number of rows written to `out`."""
    import datasets
    from transformers import AutoTokenizer

    datasets.disable_progress_bars()
    tok = AutoTokenizer.from_pretrained(model)

    def fn(batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
        prompts = [
            f"{i}\n\n{x}" if x else i
            for i, x in zip(batch["instruction"], batch["input"], strict=True)
        ]
        chats = [
            [{"role": "user", "content": p}, {"role": "assistant", "content": o}]
            for p, o in zip(prompts, batch["output"], strict=True)
        ]
        heads = tok.apply_chat_template(
            [c[:1] for c in chats], tokenize=False, add_generation_prompt=True
        )
        texts = tok.apply_chat_template(chats, tokenize=False)
        enc = tok(texts, add_special_tokens=False, return_offsets_mapping=True)
        labels = []
        for head, ids, offs in zip(heads, enc["input_ids"], enc["offset_mapping"], strict=True):
            n = sum(1 for s, _ in offs if s < len(head))
            labels.append([-100] * n + ids[n:])
        return {"input_ids": enc["input_ids"], "labels": labels}

    ds = datasets.load_dataset("json", data_files=str(src), split="train", cache_dir=str(cache))
    ds = ds.map(
        fn, batched=True, num_proc=nproc if nproc > 1 else None, remove_columns=ds.column_names
    )
    ds.to_parquet(str(out))
    return len(ds)


def _encode_all(texts: list[str], model: str) -> float:
    """Seconds to tokenise `texts` in batches of 512 with the fast tokenizer alone."""
    from transformers import AutoTokenizer

    backend = AutoTokenizer.from_pretrained(model).backend_tokenizer
    start = time.perf_counter()
    for i in range(0, len(texts), 512):
        backend.encode_batch(texts[i : i + 512], add_special_tokens=False)
    return time.perf_counter() - start


def tokenizer_scaling(rows: list[dict[str, str]], model: str, nproc: int) -> float:
    """The machine's own ceiling: the speedup of the batched tokenizer call alone (the bulk of
    every recipe's work) when `nproc` processes each tokenise all `rows` at once."""
    import multiprocessing as mp
    from functools import partial

    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model)
    chats = [
        [
            {"role": "user", "content": r["instruction"]},
            {"role": "assistant", "content": r["output"]},
        ]
        for r in rows
    ]
    texts = tok.apply_chat_template(chats, tokenize=False)
    one = _encode_all(texts, model)
    with mp.get_context("fork").Pool(nproc) as pool:
        start = time.perf_counter()
        pool.map(partial(_encode_all, model=model), [texts] * nproc)
        many = time.perf_counter() - start
    return nproc * one / many


def climb_prepare(src: Path, model: str, nproc: int, state: Any, bench: str, bare: bool) -> Any:
    """climb's stage on `src`; the prepared folder is removed afterwards (no cache hit later)."""
    from climb.config import DataConfig, EvalConfig
    from climb.data.prepare import prepare_data

    extra: dict[str, Any] = {"num_proc": nproc} if "num_proc" in DataConfig.model_fields else {}
    if bare:
        extra |= {"dedup": {"exact": False, "near": False}, "decontamination": {"enabled": False}}
    cfg = DataConfig.model_validate({"sources": [{"path": str(src)}], **extra})
    data = prepare_data(cfg, model, state, EvalConfig(suite="open-llm-v1", data_dir=bench))
    shutil.rmtree(data.path)
    return data


def throughput(args: argparse.Namespace, model: str, tmp: Path) -> None:
    """Time recipe, climb defaults and climb bare at 1 and N processes; print a table."""
    from climb.state import StateDir

    rows = alpaca_rows(args.rows)
    src = write_rows(tmp / "rows.jsonl", rows)
    state = StateDir.at(tmp / "state")
    warm = write_rows(tmp / "warm.jsonl", rows[:50])
    start = time.perf_counter()
    climb_prepare(warm, model, 1, state, args.benchmarks, bare=False)  # builds the index once
    print(f"decontamination index ready ({time.perf_counter() - start:.1f}s, built once)")
    times: dict[tuple[str, int], list[float]] = {}
    cpus: dict[tuple[str, int], list[float]] = {}
    digests: dict[str, set[str]] = {"defaults": set(), "bare": set()}
    procs = sorted({1, args.procs})
    for round_ in range(args.repeat):
        for nproc in procs:
            for name in ("recipe", "defaults", "bare"):
                start, cpu0 = time.perf_counter(), cpu_seconds()
                if name == "recipe":
                    out = tmp / f"recipe-{nproc}.parquet"
                    kept = recipe(src, model, nproc, out, tmp / f"c{nproc}-{round_}")
                    note = f"{kept} rows"
                else:
                    data = climb_prepare(src, model, nproc, state, args.benchmarks, name == "bare")
                    r = data.report
                    digests[name].add(data.digest)
                    note = f"kept {r.examples}, dropped {r.skipped}, digest {data.digest[:12]}"
                seconds, cpu = time.perf_counter() - start, cpu_seconds() - cpu0
                times.setdefault((name, nproc), []).append(seconds)
                cpus.setdefault((name, nproc), []).append(cpu)
                print(
                    f"  {name:8s} num_proc={nproc}: {args.rows / seconds:7.0f} rows/s, "
                    f"{cpu * 1e6 / args.rows:4.0f} CPU-us/row ({seconds:.1f}s; {note}; "
                    f"load {os.getloadavg()[0]:.2f})",
                    flush=True,
                )
    if args.procs > 1:
        speedup = tokenizer_scaling(rows[:5000], model, args.procs)
        print(
            f"machine check: the batched tokenizer call alone in {args.procs} processes runs "
            f"{speedup:.2f}x as fast as in one (load {os.getloadavg()[0]:.2f})"
        )
    best = "best of " + str(args.repeat) if args.repeat > 1 else "one run each"
    print(f"\n{args.rows} rows, rows/s ({best}), load {os.getloadavg()[0]:.2f} at the end")
    print(f"{'':24s}" + "".join(f"{f'num_proc={n}':>14s}" for n in procs))
    for name, label in (
        ("recipe", "plain recipe"),
        ("defaults", "climb defaults"),
        ("bare", "climb bare"),
    ):
        cells = [f"{args.rows / min(times[(name, n)]):10.0f} r/s" for n in procs]
        cost = [f"{min(cpus[(name, n)]) * 1e6 / args.rows:8.0f} CPU-us/row" for n in procs]
        print(f"{label:24s}" + "".join(f"{c:>14s}" for c in cells) + "  " + " ".join(cost))
    for name, ds in digests.items():
        print(
            f"climb {name}: {'same digest' if len(ds) == 1 else 'DIGESTS DIFFER'} at every "
            f"num_proc ({', '.join(d[:12] for d in sorted(ds))})"
        )


def rss_child(src: str, model: str, state: str, bench: str, nproc: int) -> None:
    """Prepare `src` with the defaults; print peak RSS of this process and its workers."""
    from climb.state import StateDir

    data = climb_prepare(Path(src), model, nproc, StateDir.at(state), bench, bare=False)
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "kept": data.report.examples,
                "parent_mb": round(peak_rss_mb(), 1),
                "worker_mb": round(children, 1),
            }
        )
    )


def memory(args: argparse.Namespace, model: str, tmp: Path) -> None:
    """Peak RSS of the stage at 1x and 10x the rows, each in a fresh process."""
    state = tmp / "state"  # the index built by `throughput`, else by the warm-up below
    warm = write_rows(tmp / "rss-warm.jsonl", alpaca_rows(50))
    cmd = [sys.executable, __file__, "--child", str(warm), model, str(state), args.benchmarks, "1"]
    subprocess.run(cmd, capture_output=True, text=True, check=True)
    out = {}
    for factor in (1, 10):
        n = args.rss_rows * factor
        src = write_rows(tmp / f"rss-{factor}x.jsonl", alpaca_rows(n, seed=factor))
        cmd = [
            sys.executable,
            __file__,
            "--child",
            str(src),
            model,
            str(state),
            args.benchmarks,
            str(args.procs),
        ]
        start = time.perf_counter()
        res = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if res.returncode:
            sys.exit(res.stderr)
        out[factor] = json.loads(res.stdout.strip().splitlines()[-1])
        print(
            f"  {factor:2d}x ({n} rows, {time.perf_counter() - start:.0f}s): {out[factor]}",
            flush=True,
        )
    for key, label in (("parent_mb", "parent"), ("worker_mb", "largest worker")):
        a, b = out[1][key], out[10][key]
        print(f"peak RSS {label}: 1x {a:.0f} MiB -> 10x {b:.0f} MiB ({b / a:.2f}x)")


def main() -> None:
    """Parse arguments; run the throughput table, then the memory check."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=20_000)
    ap.add_argument("--procs", type=int, default=len(os.sched_getaffinity(0)))
    ap.add_argument("--benchmarks", default=str(REPO.parent / "shared" / "benchmarks"))
    ap.add_argument("--rss-rows", type=int, default=None, help="1x of the memory check (--rows)")
    ap.add_argument("--repeat", type=int, default=1, help="rounds; the best of each is shown")
    ap.add_argument("--no-rss", action="store_true")
    ap.add_argument("--no-throughput", action="store_true")
    ap.add_argument("--child", nargs=5)
    args = ap.parse_args()
    if args.child:
        src, model, state, bench, nproc = args.child
        rss_child(src, model, state, bench, int(nproc))
        return
    args.rss_rows = args.rss_rows or args.rows
    model = model_path()
    print(
        f"load {os.getloadavg()[0]:.2f}, {os.cpu_count()} cores, num_proc 1 and {args.procs}, "
        f"benchmarks {args.benchmarks}"
    )
    with tempfile.TemporaryDirectory(prefix="climb-bench-") as tmp:
        if not args.no_throughput:
            throughput(args, model, Path(tmp))
        if not args.no_rss:
            memory(args, model, Path(tmp))


if __name__ == "__main__":
    main()
