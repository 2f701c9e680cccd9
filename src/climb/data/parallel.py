"""Running the data stage's per-chunk work on all the cores it may use, in input order.

`available_cpus` is what this process may run on: its CPU affinity, capped by a cgroup CPU quota
(a Kubernetes pod's CPU limit, Docker's --cpus), so on the cluster `data.num_proc` follows the
pod's size and on a workstation it is every core. `ordered_map` applies a worker to chunks in a
pool of processes (fork where available: the tokenizer and the memory-mapped decontamination
index are shared, nothing is re-imported), at most two chunks per process in flight (memory stays
flat however long the input), and yields the results in the order of the chunks, so what comes out
does not depend on the number of processes. With one process it runs in this process.
"""

from __future__ import annotations

import gc
import math
import multiprocessing as mp
import os
import signal
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

CGROUP = Path("/sys/fs/cgroup")
_worker: Callable[[Any], Any] | None = None  # the worker of a pool process (set by _init)


def cgroup_cpu_limit(root: Path = CGROUP) -> float | None:
    """Return the CPU quota of this process's cgroup in cores (v2 `cpu.max`, v1
    `cpu.cfs_quota_us` / `cpu.cfs_period_us`), or None when there is none."""
    try:
        quota, period = (root / "cpu.max").read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        quota_us = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period_us = int((root / "cpu" / "cpu.cfs_period_us").read_text())
        return quota_us / period_us if quota_us > 0 and period_us > 0 else None
    except (OSError, ValueError):
        return None


def available_cpus(root: Path = CGROUP) -> int:
    """Return how many cores this process may use: its CPU affinity (or os.cpu_count), capped
    by the cgroup CPU quota rounded up; at least 1."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    quota = cgroup_cpu_limit(root)
    if quota is not None:
        cores = min(cores, math.ceil(quota))
    return max(1, cores)


def resolve_num_proc(num_proc: int | None) -> int:
    """Return the number of worker processes for `data.num_proc` (None = available_cpus())."""
    return num_proc if num_proc is not None else available_cpus()


@contextmanager
def frozen_gc() -> Iterator[None]:
    """Exempt the objects that exist now (modules, tokenizer, index metadata) from garbage
    collection while the block runs: the stage allocates many short-lived lists, and each
    full collection would otherwise walk everything the process holds (and, in a forked worker,
    copy the pages it touches). Nothing is freed later than it would be: refcounting frees the
    stage's objects, and the frozen ones are unfrozen at the end."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _init(make: Callable[[Any], Callable[[Any], Any]], spec: Any) -> None:
    """Pool initializer: build this process's worker; leave signals to the parent."""
    global _worker
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.environ["TOKENIZERS_PARALLELISM"] = "false"  # one tokenizer thread per process
    _worker = make(spec)
    gc.freeze()  # this process ends with the pool: what it inherited is never collected


def _run(chunk: Any) -> Any:
    assert _worker is not None, "pool process not initialised"
    return _worker(chunk)


def ordered_map(
    make: Callable[[Any], Callable[[Any], Any]],
    spec: Any,
    chunks: Iterable[Any],
    num_proc: int,
) -> Generator[Any, None, None]:
    """Yield `make(spec)(chunk)` for each chunk, in order, computed by `num_proc` processes.

    `make` and `spec` must be picklable where processes are spawned (not forked). At most
    2 * num_proc chunks are read ahead. Closing the iterator stops the processes.
    """
    if num_proc <= 1:
        worker = make(spec)
        for chunk in chunks:
            yield worker(chunk)
        return
    method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
    ctx = mp.get_context(method)
    pool = ctx.Pool(num_proc, initializer=_init, initargs=(make, spec))
    try:
        pending: deque[Any] = deque()
        for chunk in chunks:
            pending.append(pool.apply_async(_run, (chunk,)))
            if len(pending) >= 2 * num_proc:
                yield pending.popleft().get()
        while pending:
            yield pending.popleft().get()
        pool.close()
    finally:
        pool.terminate()
        pool.join()
