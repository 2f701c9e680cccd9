"""Disguised Korean benchmark items, the way leaked items look in Korean instruction data, for
measuring decontamination on the real KoBEST and KMMLU test sets (../shared/benchmarks-ko).

`leaked_items` draws evaluation documents with a fixed seed (6 of each KoBEST task, 24 of KMMLU
across its subjects) and writes each as an alpaca row in one of six disguises, per task:

0. particles changed (topic <-> subject on nouns, 의 dropped, 에서 -> 에, 에게 -> 한테) and the
   answer appended after a phrase;
1. spacing changed (every other space between Hangul words removed, long words split) inside a
   prompt template ("다음 ... 답하세요");
2. the Hangul decomposed into conjoining jamo (Unicode NFD, as macOS and some editors write it)
   with the answer in another format;
3. full-width characters (Ａ-Ｚ, ０-９, punctuation, the ideographic space; copied from HWP/PDF
   documents) with circled option numbers (①-④);
4. reordered: clauses, sentences or the question and its options moved (COPA's "A 왜냐하면 B"
   written "B 그래서 A", the passage of a KMMLU question put before it), particles changed too;
5. lm-eval's own prompt format followed by the gold answer, with spacing changed.

SentiNeg items are drawn among the sentences of at least six words (70 of the 397): a shorter
review ("완전 거북이배송", "너무 좋아요 다시 사고싶어요") is a phrase any review corpus holds,
which no overlap rule can call a leak without dropping clean data. `pool_items` writes KoBEST
*train* and KMMLU *dev* documents (the few-shot pools, which training may use) the same way:
decontamination must keep them. The disguises were written before the Korean matcher existed.
"""

from __future__ import annotations

import json
import random
import unicodedata
from pathlib import Path
from typing import Any

Row = dict[str, str]
KOBEST = ("boolq", "copa", "hellaswag", "sentineg", "wic")
_VERBAL = set("하되있없같않였했된한인운른던맞많높낮좋싫옳작크")  # stems of -은/-는 endings


def _jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _hangul(ch: str) -> bool:
    return "\uac00" <= ch <= "\ud7a3"


def _batchim(ch: str) -> bool:
    return _hangul(ch) and (ord(ch) - 0xAC00) % 28 != 0


def _swap_particle(word: str) -> str:
    """Change the particle of one eojeol (punctuation after it kept), else return it as is."""
    core = word.rstrip(".,?!\"')」』")
    tail = word[len(core) :]
    if len(core) < 3 or not all(_hangul(c) for c in core):
        return word
    stem, last = core[:-1], core[-1]
    if core.endswith("에게"):
        return core[:-2] + "한테" + tail
    if core.endswith("에서") and len(core) >= 4:
        return core[:-1] + tail
    if last == "의" and stem[-1] not in "주회정합논동강문결건협":
        return stem + tail
    if stem[-1] in _VERBAL:
        return word
    if last in "은이" and _batchim(stem[-1]):
        return stem + {"은": "이", "이": "은"}[last] + tail
    if last in "는가" and not _batchim(stem[-1]):
        return stem + {"는": "가", "가": "는"}[last] + tail
    return word


def particles(text: str) -> str:
    """Change the particles attached to the nouns of `text` (see the module docstring)."""
    return "\n".join(
        " ".join(_swap_particle(w) for w in line.split(" ")) for line in text.split("\n")
    )


def spacing(text: str) -> str:
    """Remove every other space between two Hangul words and split words of 6+ syllables after
    their second syllable (Korean spacing is often written either way)."""
    out = []
    for line in text.split("\n"):
        words = [
            f"{w[:2]} {w[2:]}" if len(w) >= 6 and all(_hangul(c) for c in w) else w
            for w in line.split(" ")
        ]
        joined = words[:1]
        for k, w in enumerate(words[1:], 1):
            prev = joined[-1]
            if k % 2 and prev and w and _hangul(prev[-1]) and _hangul(w[0]):
                joined[-1] = prev + w
            else:
                joined.append(w)
        out.append(" ".join(joined))
    return "\n".join(out)


def jamo(text: str) -> str:
    """Return `text` with its Hangul syllables decomposed into conjoining jamo (NFD)."""
    return unicodedata.normalize("NFD", text)


def full_width(text: str) -> str:
    """Return `text` with ASCII letters, digits and punctuation in their full-width forms and
    spaces as ideographic spaces."""
    return "".join(
        chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else "\u3000" if c == " " else c for c in text
    )


def _sentences(text: str) -> list[str]:
    parts, cur = [], ""
    for ch in text:
        cur += ch
        if ch in ".?!" and cur.strip():
            parts.append(cur.strip())
            cur = ""
    if cur.strip():
        parts.append(cur.strip())
    return parts


def _boolq(d: dict[str, Any], style: int) -> Row:
    p, q, a = d["paragraph"], d["question"], ["아니오", "예"][d["label"]]
    sents = _sentences(p)
    return [
        {"instruction": particles(f"{p}\n{q}"), "output": f"정답은 {a}입니다."},
        {
            "instruction": "다음 글을 읽고 질문에 예 또는 아니오로 답하세요.",
            "input": spacing(f"{p}\n질문: {q}"),
            "output": a,
        },
        {"instruction": jamo(q), "input": jamo(p), "output": jamo(f"답: {a}")},
        {"instruction": full_width(f"지문: {p}\n질문: {q}"), "output": f"정답: {a}"},
        {"instruction": particles(" ".join([q, *sents[1:], sents[0]])), "output": a},
        {"instruction": spacing(f"{p} 질문: {q} 답변: {a}"), "output": "맞습니다."},
    ][style]


def _copa(d: dict[str, Any], style: int) -> Row:
    premise, kind = d["premise"], d["question"].strip()
    alts = [d["alternative_1"], d["alternative_2"]]
    gold = alts[d["label"]]
    connector = {"원인": "왜냐하면", "결과": "그래서"}[kind]
    flipped = (
        f"{gold.rstrip('.')}. 그래서 {premise}"
        if kind == "원인"
        else f"{gold.rstrip('.')}. 왜냐하면 {premise}"
    )
    return [
        {"instruction": particles(f"{premise} 이 일의 {kind}은?"), "output": particles(gold)},
        {
            "instruction": f"다음 문장의 {kind}으로 알맞은 것을 고르세요.",
            "input": spacing(f"{premise}\n1. {alts[0]}\n2. {alts[1]}"),
            "output": spacing(f"{d['label'] + 1}번: {gold}"),
        },
        {"instruction": jamo(premise), "output": jamo(f"{connector} {gold}")},
        {"instruction": full_width(f"전제: {premise}\n질문: {kind}\n정답: {gold}"), "output": "끝"},
        {"instruction": "두 문장을 자연스럽게 이어 주세요.", "output": particles(flipped)},
        {"instruction": spacing(f"{premise} {connector} {gold}"), "output": "이어지는 문장입니다."},
    ][style]


def _hellaswag(d: dict[str, Any], style: int) -> Row:
    ctx = d["context"]
    endings = [d[f"ending_{k}"] for k in range(1, 5)]
    gold = endings[d["label"]]
    sents = _sentences(ctx)
    swapped = [*sents[:-2], sents[-1], sents[-2]] if len(sents) >= 2 else sents
    return [
        {"instruction": particles(ctx), "output": particles(gold)},
        {
            "instruction": "다음 이야기의 뒷부분을 이어 쓰세요.",
            "input": spacing(ctx),
            "output": gold,
        },
        {
            "instruction": jamo(
                ctx + "\n" + "\n".join(f"({k + 1}) {e}" for k, e in enumerate(endings))
            ),
            "output": jamo(f"({d['label'] + 1}) {gold}"),
        },
        {
            "instruction": full_width(ctx)
            + "\n"
            + "\n".join(f"{'①②③④'[k]} {e}" for k, e in enumerate(endings)),
            "output": "①②③④"[d["label"]],
        },
        {"instruction": particles(" ".join(swapped)), "output": gold},
        {"instruction": spacing(f"문장: {ctx} {gold}"), "output": "이야기가 끝났습니다."},
    ][style]


def _sentineg(d: dict[str, Any], style: int) -> Row:
    s, a = d["sentence"], ["부정", "긍정"][d["label"]]
    return [
        {"instruction": "다음 리뷰의 감성을 분류하세요.", "input": particles(s), "output": a},
        {"instruction": spacing(f"리뷰: {s}\n감성:"), "output": a},
        {
            "instruction": jamo(f"이 문장은 긍정인가요, 부정인가요? {s}"),
            "output": jamo(f"{a}입니다."),
        },
        {"instruction": full_width(f"「{s}」 → {a}"), "output": "분류 완료"},
        {"instruction": "감성 분석 예시", "output": particles(f"{a}: {s}")},
        {"instruction": spacing(f"문장: {s} 긍부정: {a}"), "output": "확인했습니다."},
    ][style]


def _wic(d: dict[str, Any], style: int) -> Row:
    word, a = d["word"], ["아니오", "예"][d["label"]]
    c1, c2 = d["context_1"], d["context_2"]
    bare = [c.replace("[", "").replace("]", "") for c in (c1, c2)]
    return [
        {
            "instruction": f"'{word}'가 두 문장에서 같은 뜻으로 쓰였나요?",
            "input": particles(f"1. {c1}\n2. {c2}"),
            "output": a,
        },
        {"instruction": spacing(f"{bare[0]}\n{bare[1]}"), "output": f"두 문장의 {word}: {a}"},
        {"instruction": jamo(f"문장 A: {c1}\n문장 B: {c2}"), "output": jamo(a)},
        {"instruction": full_width(f"① {c1}\n② {c2}"), "output": f"「{word}」의 뜻이 같은가: {a}"},
        {"instruction": particles(f"{c2} / {c1}"), "output": f"{word} - {a}"},
        {
            "instruction": spacing(
                f"문장1: {c1} 문장2: {c2} 두 문장에서 {word}가 같은 뜻으로 쓰였나? {a}"
            ),
            "output": "네.",
        },
    ][style]


def _kmmlu(d: dict[str, Any], style: int) -> Row:
    q = d["question"].strip()
    opts = [str(d[k]) for k in "ABCD"]
    gold, letter = opts[d["answer"] - 1], "ABCD"[d["answer"] - 1]
    lettered = "\n".join(f"{k}. {o}" for k, o in zip("ABCD", opts, strict=True))
    if "? " in q:  # a question with a passage or conditions after it: passage first
        stem, rest = q.split("? ", 1)
        moved = f"{rest}\n{stem}?\n{lettered}"
    else:  # the options first, then the question
        moved = f"보기\n{lettered}\n질문: {q}"
    return [
        {"instruction": particles(f"{q}\n{lettered}"), "output": f"정답: {letter}"},
        {
            "instruction": "다음 문제를 풀고 정답을 쓰세요.",
            "input": spacing(q + "\n" + "\n".join(f"{k + 1}) {o}" for k, o in enumerate(opts))),
            "output": gold,
        },
        {"instruction": jamo(q), "output": jamo(f"정답은 {gold} 입니다.")},
        {
            "instruction": full_width(q)
            + "\n"
            + "\n".join(f"{'①②③④'[k]} {full_width(o)}" for k, o in enumerate(opts)),
            "output": "①②③④"[d["answer"] - 1],
        },
        {"instruction": particles(moved), "output": letter},
        {"instruction": spacing(f"{q}\n{lettered}\n정답：{letter}"), "output": gold},
    ][style]


WRITERS = {
    "boolq": _boolq,
    "copa": _copa,
    "hellaswag": _hellaswag,
    "sentineg": _sentineg,
    "wic": _wic,
}


def _kobest_docs(bench: Path, task: str, split: str) -> list[dict[str, Any]]:
    docs = _jsonl(bench / "kobest" / f"{task}_{split}.jsonl")
    if task == "sentineg":
        docs = [d for d in docs if len(d["sentence"].split()) >= 6]
    return docs


def _kmmlu_docs(bench: Path, split: str) -> list[tuple[str, dict[str, Any]]]:
    """Return (lm-eval task, document) of every KMMLU document of `split`, subject by subject."""
    return [
        (f"kmmlu_{p.name.rsplit('_', 1)[0].lower().replace('-', '_')}", d)
        for p in sorted((bench / "kmmlu").glob(f"*_{split}.jsonl"))
        for d in _jsonl(p)
    ]


def leaked_items(
    bench: Path, per_task: int = 6, kmmlu: int = 24, seed: int = 16
) -> list[tuple[str, str, Row]]:
    """Return [(benchmark, lm-eval task, alpaca row)]: `per_task` disguised test documents of
    each KoBEST task and `kmmlu` of KMMLU (see the module docstring)."""
    rng = random.Random(seed)
    out: list[tuple[str, str, Row]] = []
    for task in KOBEST:
        for i, doc in enumerate(rng.sample(_kobest_docs(bench, task, "test"), per_task)):
            out.append(("kobest", f"kobest_{task}", WRITERS[task](doc, i % 6)))
    for i, (task, doc) in enumerate(rng.sample(_kmmlu_docs(bench, "test"), kmmlu)):
        out.append(("kmmlu", task, _kmmlu(doc, i % 6)))
    return out


def pool_items(bench: Path, per_task: int = 2, kmmlu: int = 6, seed: int = 61) -> list[Row]:
    """Return disguised KoBEST train and KMMLU dev documents (few-shot pools: clean)."""
    rng = random.Random(seed)
    rows = [
        WRITERS[task](doc, (2 * k + i) % 6)
        for k, task in enumerate(KOBEST)
        for i, doc in enumerate(rng.sample(_kobest_docs(bench, task, "train"), per_task))
    ]
    dev = rng.sample(_kmmlu_docs(bench, "dev"), kmmlu)
    return rows + [_kmmlu(doc, i % 6) for i, (_, doc) in enumerate(dev)]
