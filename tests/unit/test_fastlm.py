"""climb's PrefixCacheLM against lm-eval's HFLM on a tiny random Llama: same log-likelihoods
(within 1e-4), same is_greedy, same order and cache-hook calls, on synthetic requests with shared
prefixes, one- and multi-token continuations, empty contexts and truncated requests.
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from climb.evaluate.prefix_plan import (
    cluster_contexts,
    common_prefix_len,
    group_requests,
    pad_chunks,
    shared_len,
)

TOL = 1e-4


class RecordingHook:
    """Stands in for lm-eval's CacheHook: records what an LM reports."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any, Any]] = []

    def add_partial(self, attr: str, req: Any, res: Any) -> None:
        self.calls.append((attr, req, res))


@pytest.fixture(scope="module")
def tiny(tiny_model):
    """(model, tokenizer) of the tiny random Llama, fp32, eval mode."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_model).eval()
    return model, AutoTokenizer.from_pretrained(tiny_model)


def make(cls_name: str, tiny, **kwargs):
    from lm_eval.models.huggingface import HFLM

    from climb.evaluate.fastlm import PrefixCacheLM

    cls = {"hf": HFLM, "fast": PrefixCacheLM}[cls_name]
    model, tok = tiny
    return cls(pretrained=model, tokenizer=tok, device="cpu", **kwargs)


def synthetic(vocab: int, seed: int = 0) -> list[tuple[tuple[str, str], list[int], list[int]]]:
    """Questions sharing a long preamble (like MMLU's shots), several choices per context, one-
    and multi-token continuations, duplicated requests and a one-token context."""
    rng = random.Random(seed)
    preamble = [rng.randrange(vocab) for _ in range(40)]
    reqs = []
    for q in range(7):
        ctx = preamble[: rng.choice([0, 10, 25, 40])] + [
            rng.randrange(vocab) for _ in range(rng.randrange(1, 12))
        ]
        for c in range(rng.choice([1, 2, 4, 5])):
            cont = [rng.randrange(vocab) for _ in range(rng.choice([1, 1, 2, 6]))]
            reqs.append(((f"ctx{q}", f"cont{c}"), ctx, cont))
    reqs.append((("ctx-dup", "a"), reqs[0][1], reqs[0][2]))
    reqs.append((("one", "b"), [7], [8, 9, 10]))
    reqs.append((("one", "c"), [7], [8]))
    rng.shuffle(reqs)
    return reqs


def assert_same(a: list[tuple[float, bool]], b: list[tuple[float, bool]]) -> None:
    assert len(a) == len(b)
    for (la, ga), (lb, gb) in zip(a, b, strict=True):
        assert lb == pytest.approx(la, abs=TOL)
        assert ga == gb


def test_common_prefix_len() -> None:
    assert common_prefix_len([1, 2, 3], [1, 2, 4]) == 2
    assert common_prefix_len([1, 2], [1, 2, 3]) == 2
    assert common_prefix_len([], [1]) == 0
    assert common_prefix_len([5], [6]) == 0


def test_group_requests_sorts_contexts_and_sets_aside_truncated_and_empty() -> None:
    reqs = [
        (None, [3, 1], [2]),
        (None, [1, 2], [3]),
        (None, [3, 1], [4, 5]),
        (None, [1] * 9, [1, 1]),
        (None, [], [1]),
        (None, [1], []),
    ]
    groups, fallback = group_requests(reqs, max_length=8)
    assert groups == [((1, 2), [1]), ((3, 1), [0, 2])]
    assert fallback == [3, 4, 5]


def test_cluster_contexts_groups_long_shared_prefixes_only() -> None:
    shots = tuple(range(100, 140))  # a 40-token preamble, as MMLU's five shots
    ctxs = sorted([(*shots, 1, 2), (*shots, 3), (*shots, 3, 4, 5), (7, 8, 9), (7, 1, 2)])
    runs = cluster_contexts(ctxs)
    assert [[ctxs[i] for i in run] for run in runs] == [
        [(7, 1, 2)],  # shares 1 of 3 tokens with (7, 8, 9): below half
        [(7, 8, 9)],
        [(*shots, 1, 2), (*shots, 3), (*shots, 3, 4, 5)],
    ]
    assert shared_len([(*shots, 1, 2), (*shots, 3, 4, 5)]) == 40
    assert shared_len([(1, 2), (1, 2, 3)]) == 1  # every member keeps a token to run


def test_pad_chunks_sorts_by_length_and_bounds_padding() -> None:
    assert pad_chunks([5, 5, 5, 5], size=3) == [[0, 1, 2], [3]]
    assert pad_chunks([10, 3, 11, 40], size=8) == [[1], [0, 2], [3]]
    assert pad_chunks([4, 4], size=1) == [[0], [1]]


def test_shared_preamble_runs_once_and_questions_together(tiny) -> None:
    """MMLU-like requests: one forward for the preamble, one batch for the 6 questions."""
    model, tok = tiny
    rng = random.Random(3)
    preamble = [rng.randrange(1000) for _ in range(60)]
    reqs = []
    for q in range(6):
        ctx = preamble + [rng.randrange(1000) for _ in range(5)]
        reqs += [((f"q{q}", letter), ctx, [tok.convert_tokens_to_ids(letter)]) for letter in "ABCD"]
    fast = make("fast", tiny, batch_size=8)
    calls: list[tuple[int, ...]] = []
    hook = model.register_forward_pre_hook(
        lambda _m, args, kwargs: calls.append(tuple(kwargs["input_ids"].shape)), with_kwargs=True
    )
    try:
        got = fast._loglikelihood_tokens(reqs, disable_tqdm=True)
    finally:
        hook.remove()
    assert calls == [(1, 60), (6, 5)]
    assert_same(make("hf", tiny, batch_size=1)._loglikelihood_tokens(reqs, disable_tqdm=True), got)


@pytest.mark.parametrize("batch_size", [1, 3, 64])
def test_token_requests_match_hflm(tiny, batch_size: int) -> None:
    reqs = synthetic(len(tiny[1]))
    expected = make("hf", tiny, batch_size=1)._loglikelihood_tokens(reqs, disable_tqdm=True)
    got = make("fast", tiny, batch_size=batch_size)._loglikelihood_tokens(reqs, disable_tqdm=True)
    assert_same(expected, got)


def test_string_requests_incl_empty_context_match_hflm(tiny) -> None:
    from lm_eval.api.instance import Instance

    pairs = [
        ("", " hello world"),
        ("", "The"),
        ("Question: 2+2?\nAnswer:", " 4"),
        ("Question: 2+2?\nAnswer:", " four, of course"),
        ("Question: 2+3?\nAnswer: ", "5"),
        ("The cat sat on the", " mat"),
        ("The cat sat on the", " hat."),
    ]
    insts = [
        Instance(request_type="loglikelihood", doc={}, arguments=p, idx=i)
        for i, p in enumerate(pairs)
    ]
    hf, fast = make("hf", tiny, batch_size=1), make("fast", tiny, batch_size=4)
    hf_hook, fast_hook = RecordingHook(), RecordingHook()
    hf.set_cache_hook(hf_hook)
    fast.set_cache_hook(fast_hook)
    assert_same(
        hf.loglikelihood(insts, disable_tqdm=True), fast.loglikelihood(insts, disable_tqdm=True)
    )
    key = sorted
    assert [c[:2] for c in key(hf_hook.calls)] == [c[:2] for c in key(fast_hook.calls)]


def test_greedy_continuation_is_greedy(tiny) -> None:
    import torch

    model, tok = tiny
    ctx = tok("Once upon a time").input_ids
    ids = torch.tensor([ctx])
    with torch.no_grad():
        greedy = model.generate(
            ids, max_new_tokens=4, do_sample=False, pad_token_id=tok.eos_token_id
        )[0, len(ctx) :].tolist()
    reqs = [(None, ctx, greedy), (None, ctx, greedy[:1]), (None, ctx, [greedy[0] + 1])]
    got = make("fast", tiny, batch_size=2)._loglikelihood_tokens(reqs, disable_tqdm=True)
    assert [g for _, g in got] == [True, True, False]
    assert_same(make("hf", tiny, batch_size=1)._loglikelihood_tokens(reqs, disable_tqdm=True), got)


def test_requests_hflm_would_truncate_use_hflm(tiny) -> None:
    rng = random.Random(1)
    long_ctx = [rng.randrange(1000) for _ in range(40)]
    reqs = [(None, long_ctx, [5, 6]), (None, long_ctx[:10], [5, 6]), (None, long_ctx, [7])]
    expected = make("hf", tiny, batch_size=1, max_length=32)._loglikelihood_tokens(reqs)
    assert_same(
        expected,
        make("fast", tiny, batch_size=8, max_length=32)._loglikelihood_tokens(
            reqs, disable_tqdm=True
        ),
    )


def test_rolling_loglikelihood_matches_hflm(tiny) -> None:
    from lm_eval.api.instance import Instance

    text = "A long text about nothing in particular, " * 12
    insts = [Instance(request_type="loglikelihood_rolling", doc={}, arguments=(text,), idx=0)]
    hf = make("hf", tiny, batch_size=1, max_length=48)
    fast = make("fast", tiny, batch_size=1, max_length=48)
    expected = hf.loglikelihood_rolling(insts, disable_tqdm=True)
    assert fast.loglikelihood_rolling(insts, disable_tqdm=True) == pytest.approx(expected, abs=TOL)


def test_runner_backend_selects_the_lm(tiny) -> None:
    from lm_eval.models.huggingface import HFLM

    from climb.config import EvalConfig
    from climb.evaluate.fastlm import PrefixCacheLM
    from climb.evaluate.runner import make_lm

    model, tok = tiny
    assert type(make_lm(model, tok, EvalConfig(), "cpu")) is PrefixCacheLM
    assert type(make_lm(model, tok, EvalConfig(backend="hf"), "cpu")) is HFLM
    assert make_lm(model, tok, EvalConfig(batch_size=3), "cpu").batch_size == 3
