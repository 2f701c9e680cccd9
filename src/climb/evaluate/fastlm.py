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
- runs the rest of contexts that share most of their tokens (MMLU questions of one subject,
  TruthfulQA questions) together, right-padded in batches of `batch_size`, over the one cached
  prefix (sorted by length, so little padding);
- computes no logits for context positions (`logits_to_keep`), only for continuations.

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
from transformers import DynamicCache
from transformers.cache_utils import DynamicLayer

from climb.console import progress
from climb.evaluate.prefix_plan import (
    Request,
    cluster_contexts,
    common_prefix_len,
    group_requests,
    pad_chunks,
    shared_len,
)

log = logging.getLogger(__name__)

Score = tuple[float, bool]


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


KV = list[tuple[torch.Tensor, torch.Tensor]]  # keys and values per layer, batch 1


class PrefixCacheLM(HFLM):
    """HFLM whose loglikelihood path computes each context once and shares common prefixes.

    Constructed exactly like HFLM. `batch_size` caps the rows of one forward pass: contexts run
    together after a shared prefix, and continuations scored after one context ("auto": all).
    """

    def _loglikelihood_tokens(
        self,
        requests: list[Request],
        disable_tqdm: bool = False,
        override_bs: int | None = None,
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
        state = _PrefixState(self, kwarg)
        total, done = len(requests) - len(fallback), 0
        for run in cluster_contexts([ctx for ctx, _ in groups]):
            for member, first, kv in self._run_contexts(state, [groups[m][0] for m in run]):
                idxs = groups[run[member]][1]
                scores = self._score(state, kv, first, [requests[i][2] for i in idxs])
                for i, score in zip(idxs, scores, strict=True):
                    res[i] = score
                    if requests[i][0] is not None:
                        self.cache_hook.add_partial("loglikelihood", requests[i][0], score)
                done += len(idxs)
                if self.rank == 0:
                    progress(done, total, "requests")
        if any(r is None for r in res):
            raise RuntimeError("a loglikelihood request was left without a score")
        return [r for r in res if r is not None]

    def _rows_per_pass(self, n: int) -> int:
        return self.batch_size if isinstance(self.batch_size, int) else max(1, n)

    def _run_contexts(self, state: _PrefixState, contexts: list[tuple[int, ...]]) -> Any:
        """Yield (index in `contexts`, log-probs of the first continuation token, KV of the whole
        context) per context: alone after the cached prefix, or in length-sorted batches after
        the prefix the run shares."""
        if len(contexts) == 1:
            first = state.run_context(list(contexts[0]))
            yield 0, first, state.kv()
            return
        shared = shared_len(contexts)
        state.hold(list(contexts[0][:shared]))
        lengths = [len(c) - shared for c in contexts]
        for chunk in pad_chunks(lengths, self._rows_per_pass(len(contexts))):
            suffixes = [list(contexts[j][shared:]) for j in chunk]
            for j, (first, kv) in zip(chunk, state.run_suffixes(suffixes), strict=True):
                yield j, first, kv

    def _score(
        self, state: _PrefixState, kv: KV, first: torch.Tensor, conts: list[list[int]]
    ) -> list[Score]:
        """Score continuations of the context whose cache is `kv`.

        `first` holds the log-probs the context gives the first continuation token. The rest of
        a continuation is fed as a row cont[:-1] after the context, in right-padded batches; a
        row that starts another (longer) row is read from that row. Returns one
        (log-likelihood, is_greedy) per continuation.
        """
        rows: list[tuple[int, ...]] = []
        for row in sorted({tuple(c[:-1]) for c in conts if len(c) > 1}, key=len, reverse=True):
            if not any(r[: len(row)] == row for r in rows):
                rows.append(row)
        step = self._rows_per_pass(len(rows))
        row_lp: list[torch.Tensor] = []
        for start in range(0, len(rows), step):
            row_lp.extend(state.run_rows(kv, rows[start : start + step]))
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
    """The KV cache of the prefix last run, and the model calls that extend and read it."""

    def __init__(self, lm: PrefixCacheLM, kwarg: str) -> None:
        self.lm = lm
        self.kwarg = kwarg
        self.cache: Any = DynamicCache(config=lm.model.config)
        self.tokens: list[int] = []
        self.keep_logits = takes_logits_to_keep(lm.model)

    def kv(self) -> KV:
        """Return the cache's keys and values per layer ([] for an empty cache)."""
        if self.cache.get_seq_length() == 0:
            return []
        return [(layer.keys, layer.values) for layer in self.cache.layers]

    def _call(self, inp: torch.Tensor, cache: Any, keep: Any = None) -> torch.Tensor:
        kwargs: dict[str, Any] = {self.kwarg: cache, "use_cache": True}
        if keep is not None and self.keep_logits:
            kwargs["logits_to_keep"] = keep
        dtype = self.lm.mixed_precision_dtype
        with (
            torch.no_grad(),
            torch.autocast(device_type=self.lm.device.type, dtype=dtype, enabled=dtype is not None),
        ):
            return self.lm.model(input_ids=inp, **kwargs).logits

    def _log_softmax(self, logits: torch.Tensor) -> torch.Tensor:
        return F.log_softmax(logits, dim=-1, dtype=self.lm.softmax_dtype)

    def _advance(self, ctx: list[int], min_new: int) -> list[int]:
        """Crop the cache to what it shares with `ctx` (leaving `min_new` tokens of `ctx` to
        run); return the tokens of `ctx` still to run."""
        keep = min(common_prefix_len(self.tokens, ctx), len(ctx) - min_new)
        if keep < len(self.tokens):
            if keep == 0:
                self.cache = DynamicCache(config=self.lm.model.config)
            else:
                self.cache.crop(keep - len(self.tokens))
        self.tokens = list(ctx)
        return ctx[keep:]

    def hold(self, prefix: list[int]) -> None:
        """Make the cache hold exactly `prefix` (possibly empty)."""
        new = self._advance(prefix, 0)
        if new:
            inp = torch.tensor([new], dtype=torch.long, device=self.lm.device)
            self._call(inp, self.cache, keep=1)

    def run_context(self, ctx: list[int]) -> torch.Tensor:
        """Make the cache hold `ctx`; return the log-probs [vocab] of the token after it."""
        new = self._advance(ctx, 1)
        inp = torch.tensor([new], dtype=torch.long, device=self.lm.device)
        return self._log_softmax(self._call(inp, self.cache, keep=1)[0, -1])

    def _batch_cache(self, kv: KV, n: int) -> Any:
        """A fresh cache holding `kv` repeated `n` times (the cache of `kv` is left as it is)."""
        if not kv:
            return DynamicCache(config=self.lm.model.config)
        return DynamicCache(
            ddp_cache_data=[(k.expand(n, -1, -1, -1), v.expand(n, -1, -1, -1)) for k, v in kv]
        )

    def _padded(self, rows: Sequence[Sequence[int]]) -> torch.Tensor:
        inp = torch.zeros((len(rows), max(len(r) for r in rows)), dtype=torch.long)
        for j, r in enumerate(rows):
            inp[j, : len(r)] = torch.tensor(list(r), dtype=torch.long)
        return inp.to(self.lm.device)

    def run_suffixes(self, suffixes: list[list[int]]) -> list[tuple[torch.Tensor, KV]]:
        """Run several contexts' remaining tokens, right-padded, after the held prefix. Returns
        per context the log-probs [vocab] of the token after it and its own KV (a view into the
        batch's cache, up to its last real token)."""
        batch = self._batch_cache(self.kv(), len(suffixes))
        last = [len(s) - 1 for s in suffixes]
        positions = sorted(set(last))
        keep = torch.tensor(positions, device=self.lm.device)
        logits = self._call(self._padded(suffixes), batch, keep=keep)
        if not self.keep_logits:
            logits = logits[:, keep]
        held = len(self.tokens)
        out = []
        for j, pos in enumerate(last):
            first = self._log_softmax(logits[j, positions.index(pos)])
            end = held + pos + 1
            kv = [
                (layer.keys[j : j + 1, :, :end], layer.values[j : j + 1, :, :end])
                for layer in batch.layers
            ]
            out.append((first, kv))
        return out

    def run_rows(self, kv: KV, rows: list[tuple[int, ...]]) -> list[torch.Tensor]:
        """Run right-padded rows after the context whose cache is `kv`; return each row's
        log-probs [row length, vocab]."""
        logits = self._call(self._padded(rows), self._batch_cache(kv, len(rows)))
        logprobs = self._log_softmax(logits)
        return [logprobs[j, : len(r)] for j, r in enumerate(rows)]
