"""An lm-eval model for Hugging Face causal LMs that computes every repeated prefix once.

lm-eval's HFLM scores each (context, continuation) request with a full forward pass over
context + continuation. Leaderboard tasks repeat a lot of that work: a multiple-choice question
sends its long few-shot context once per choice, MMLU's five `first_n` shots open every
question of a subject, TruthfulQA's six-QA preamble opens every document. `PrefixCacheLM`
scores the same requests with the same numbers (up to float rounding) but:

- groups requests by identical context tokens and runs the context once into a KV cache
  (`DynamicCache`), then scores all continuations of the group from it in right-padded batches
  (no mask needed: a causal model never looks at the padding after a token);
- visits contexts in lexicographic token order and keeps the cache between them, cropped to the
  prefix the next context shares, so shared few-shot preambles are computed once per run;
- computes no logits for context positions (`logits_to_keep=1`), only for continuations.

lm-eval's semantics are kept: context and continuation tokens as given, `is_greedy`, the cache
hook, the order of results. Requests HFLM would truncate (context + continuation longer than
max_length + 1) and models whose cache is not a plain per-layer KV cache (sliding-window or
linear-attention layers) go to HFLM's own code path.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from lm_eval.models.huggingface import HFLM
from tqdm import tqdm
from transformers import DynamicCache
from transformers.cache_utils import DynamicLayer

log = logging.getLogger(__name__)

Request = tuple[tuple[str, str] | None, list[int], list[int]]
Score = tuple[float, bool]


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


def cache_kwarg(model: Any) -> str | None:
    """Return the name of the forward argument taking a KV cache (`cache` in recent transformers,
    `past_key_values` before), or None when the model's forward takes neither."""
    params = inspect.signature(model.forward).parameters
    for name in ("cache", "past_key_values"):
        if name in params:
            return name
    return None


def takes_logits_to_keep(model: Any) -> bool:
    """Return True when the model's forward can skip the logits of all but the last positions."""
    return "logits_to_keep" in inspect.signature(model.forward).parameters


def plain_kv_cache(config: Any) -> bool:
    """Return True when the model's dynamic cache is one plain, croppable KV layer per layer."""
    try:
        layers = DynamicCache(config=config).layers
    except Exception:  # an architecture transformers cannot build a cache for from its config
        return False
    return bool(layers) and all(type(layer) is DynamicLayer for layer in layers)


class PrefixCacheLM(HFLM):
    """HFLM whose loglikelihood path computes each context once and shares common prefixes.

    Constructed exactly like HFLM. `batch_size` caps the continuation rows of one forward pass
    ("auto" scores all continuations of a context in one pass).
    """

    def _loglikelihood_tokens(
        self, requests: list[Request], disable_tqdm: bool = False, override_bs: int | None = None
    ) -> list[Score]:
        """Return (log-likelihood, is_greedy) per request, in the order given."""
        kwarg = cache_kwarg(self.model) if self.backend == "causal" else None
        if kwarg is None or not plain_kv_cache(self.model.config):
            log.warning("prefix cache unavailable for this model; using HFLM's code path")
            return list(super()._loglikelihood_tokens(requests, disable_tqdm, override_bs))
        groups, fallback = group_requests(requests, self.max_length)
        res: list[Score | None] = [None] * len(requests)
        if fallback:
            scored = super()._loglikelihood_tokens(
                [requests[i] for i in fallback], disable_tqdm=True, override_bs=override_bs
            )
            for i, score in zip(fallback, scored, strict=True):
                res[i] = score
        pbar = tqdm(
            total=len(requests) - len(fallback),
            desc="Running loglikelihood requests",
            disable=disable_tqdm or self.rank != 0,
        )
        prefix = _PrefixState(self, kwarg)
        for ctx, idxs in groups:
            first = prefix.run_context(list(ctx))
            conts = [requests[i][2] for i in idxs]
            for i, score in zip(idxs, self._score(prefix, first, conts), strict=True):
                res[i] = score
                request_str = requests[i][0]
                if request_str is not None:
                    self.cache_hook.add_partial("loglikelihood", request_str, score)
                pbar.update(1)
        pbar.close()
        if any(r is None for r in res):
            raise RuntimeError("a loglikelihood request was left without a score")
        return [r for r in res if r is not None]

    def _score(
        self, prefix: _PrefixState, first: torch.Tensor, conts: list[list[int]]
    ) -> list[Score]:
        """Score continuations of the context held in `prefix`'s cache.

        `first` holds the log-probs the context gives the first continuation token. The rest of
        a continuation is fed as a row cont[:-1] after the cached context, in right-padded
        batches; a row that starts another (longer) row is read from that row. Returns one
        (log-likelihood, is_greedy) per continuation.
        """
        rows: list[tuple[int, ...]] = []
        for row in sorted({tuple(c[:-1]) for c in conts if len(c) > 1}, key=len, reverse=True):
            if not any(r[: len(row)] == row for r in rows):
                rows.append(row)
        bs = self.batch_size if isinstance(self.batch_size, int) else len(rows)
        row_lp: list[torch.Tensor] = []
        for start in range(0, len(rows), max(1, bs)):
            row_lp.extend(prefix.run_rows(rows[start : start + bs]))
        out = []
        for cont in conts:
            lp = first.unsqueeze(0)
            if len(cont) > 1:
                j = next(j for j, r in enumerate(rows) if r[: len(cont) - 1] == tuple(cont[:-1]))
                lp = torch.cat([lp, row_lp[j][: len(cont) - 1]])
            target = torch.tensor(cont, dtype=torch.long, device=lp.device)
            greedy = bool((lp.argmax(dim=-1) == target).all())
            out.append((float(lp.gather(1, target.unsqueeze(-1)).sum()), greedy))
        return out


class _PrefixState:
    """The KV cache of the last context run, and the model calls that extend and read it."""

    def __init__(self, lm: PrefixCacheLM, kwarg: str) -> None:
        self.lm = lm
        self.kwarg = kwarg
        self.cache: Any = DynamicCache(config=lm.model.config)
        self.tokens: list[int] = []
        self.keep_one = takes_logits_to_keep(lm.model)

    def _call(self, inp: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        dtype = self.lm.mixed_precision_dtype
        with (
            torch.no_grad(),
            torch.autocast(device_type=self.lm.device.type, dtype=dtype, enabled=dtype is not None),
        ):
            return self.lm.model(input_ids=inp, **kwargs).logits

    def run_context(self, ctx: list[int]) -> torch.Tensor:
        """Make the cache hold `ctx`: crop it to the prefix it shares with the previous context
        (leaving at least one token to run), run the rest. Returns the log-probs [vocab] of the
        token after `ctx`."""
        keep = min(common_prefix_len(self.tokens, ctx), len(ctx) - 1)
        if keep < len(self.tokens):
            self.cache.crop(keep - len(self.tokens))
        inp = torch.tensor([ctx[keep:]], dtype=torch.long, device=self.lm.device)
        kwargs: dict[str, Any] = {self.kwarg: self.cache, "use_cache": True}
        if self.keep_one:
            kwargs["logits_to_keep"] = 1
        logits = self._call(inp, **kwargs)[0, -1]
        self.tokens = list(ctx)
        return F.log_softmax(logits, dim=-1, dtype=self.lm.softmax_dtype)

    def run_rows(self, rows: list[tuple[int, ...]]) -> list[torch.Tensor]:
        """Run right-padded rows after the cached context (the cache itself is left as it is);
        return each row's log-probs [row length, vocab]."""
        width = max(len(r) for r in rows)
        inp = torch.zeros((len(rows), width), dtype=torch.long, device=self.lm.device)
        for j, r in enumerate(rows):
            inp[j, : len(r)] = torch.tensor(r, dtype=torch.long)
        batch_cache = DynamicCache(
            ddp_cache_data=[
                (
                    layer.keys.expand(len(rows), -1, -1, -1),
                    layer.values.expand(len(rows), -1, -1, -1),
                )
                for layer in self.cache.layers
            ]
        )
        logits = self._call(inp, **{self.kwarg: batch_cache, "use_cache": True})
        logprobs = F.log_softmax(logits, dim=-1, dtype=self.lm.softmax_dtype)
        return [logprobs[j, : len(r)] for j, r in enumerate(rows)]
