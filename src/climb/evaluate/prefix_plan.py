"""Scheduling the requests PrefixCacheLM scores: which share a context, in which order contexts
run so that consecutive ones share a prefix, which run together in one batch. Pure functions on
token lists (no model), so the plan can be tested and reasoned about on its own.
"""

from __future__ import annotations

from collections.abc import Sequence

Request = tuple[tuple[str, str] | None, list[int], list[int]]


def common_prefix_len(a: Sequence[int], b: Sequence[int]) -> int:
    """Return the length of the longest common prefix of two token lists."""
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def group_requests(
    requests: Sequence[Request], max_length: int
) -> tuple[list[tuple[tuple[int, ...], list[int]]], list[int]]:
    """Split requests into context groups and the ones HFLM must handle itself.

    Takes lm-eval's tokenized requests ((context, continuation) strings, context tokens,
    continuation tokens) and the model's max length. Returns (groups, fallback): groups is a
    list of (context tokens, request indices) sorted by context tokens, so contexts sharing a
    prefix are neighbours; fallback lists the indices of requests HFLM would truncate or that
    have an empty context or continuation (HFLM's own checks then apply to them).
    """
    by_context: dict[tuple[int, ...], list[int]] = {}
    fallback: list[int] = []
    for i, (_, ctx, cont) in enumerate(requests):
        if not ctx or not cont or len(ctx) + len(cont) > max_length + 1:
            fallback.append(i)
        else:
            by_context.setdefault(tuple(ctx), []).append(i)
    return sorted(by_context.items()), fallback


def cluster_contexts(contexts: Sequence[Sequence[int]], min_share: float = 0.5) -> list[list[int]]:
    """Split sorted contexts into runs that share a long prefix.

    Takes contexts in sorted order; returns runs of consecutive indices whose common prefix is at
    least `min_share` of every member's length (MMLU's questions of one subject after the shared
    shots, TruthfulQA's questions after the preamble). Contexts that share little (ARC's and
    HellaSwag's randomly drawn shots) are runs of one.
    """
    runs: list[list[int]] = []
    longest = 0
    for i, ctx in enumerate(contexts):
        if runs:
            first = contexts[runs[-1][0]]
            shared = shared_len([first, ctx])
            if shared >= min_share * max(longest, len(ctx)):
                runs[-1].append(i)
                longest = max(longest, len(ctx))
                continue
        runs.append([i])
        longest = len(ctx)
    return runs


def pad_chunks(lengths: Sequence[int], size: int, max_waste: float = 0.15) -> list[list[int]]:
    """Split row indices into batches of at most `size` rows, sorted by length, starting a new
    batch where right padding would exceed `max_waste` of the batch's real tokens."""
    chunks: list[list[int]] = []
    total = 0
    for j in sorted(range(len(lengths)), key=lambda k: lengths[k]):
        if chunks and len(chunks[-1]) < size:
            padded = (len(chunks[-1]) + 1) * lengths[j]
            if padded <= (1 + max_waste) * (total + lengths[j]):
                chunks[-1].append(j)
                total += lengths[j]
                continue
        chunks.append([j])
        total = lengths[j]
    return chunks


def shared_len(sorted_contexts: Sequence[Sequence[int]]) -> int:
    """Return the prefix length all (sorted) contexts share, leaving each at least one token."""
    first, last = sorted_contexts[0], sorted_contexts[-1]
    return min(common_prefix_len(first, last), min(len(c) for c in sorted_contexts) - 1)
