"""Korean data preparation without ../shared: normalisation (NFKC, conjoining jamo vs syllables,
full-width forms), Hangul units (particles and spacing ignored; English unchanged), an index of
Korean benchmark-style items written for this test that finds their disguised copies and none of
the 60 clean Korean demo rows (and that whitespace words would miss them), exact and near dedup
of Korean variants, the language filter (`[ko]`), and token-length filters on Hangul."""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

import pytest

from climb.config import DecontaminationConfig
from climb.data.benchmark_items import BenchmarkItem, item_texts
from climb.data.decontam import ContaminationIndex
from climb.data.formats import normalise
from climb.data.index_build import write_index
from climb.data.prepare import prepare_data
from climb.data.quality import LanguageFilter, example_text
from climb.data.textnorm import display, match_text, normalise_text, words
from climb.data.tokenize import tokenize_messages
from climb.state import StateDir
from tests.integration.data_leaks_ko import full_width, jamo, particles, spacing
from tests.unit.test_data_sources import data_cfg, write_jsonl

# benchmark-style documents written for this test (KMMLU, KoBEST BoolQ and COPA schemas)
KMMLU = {
    "question": "조선 후기 정약용이 지방 수령이 백성을 다스릴 때 지켜야 할 도리를 정리한 책은?",
    "A": "목민심서",
    "B": "북학의",
    "C": "열하일기",
    "D": "반계수록",
    "answer": 1,
}
BOOLQ = {
    "paragraph": "남극 대륙은 지구에서 가장 춥고 건조한 대륙으로, 겨울에는 기온이 영하 80도 "
    "아래로 내려가기도 한다. 대륙의 대부분은 두께가 평균 2킬로미터에 이르는 얼음으로 덮여 있으며, "
    "여러 나라가 과학 기지를 세워 기후와 빙하를 연구하고 있다.",
    "question": "남극 대륙의 대부분은 얼음으로 덮여 있나요?",
    "label": 1,
}
COPA = {
    "premise": "아이가 뛰어가다가 넘어져서 무릎을 다쳤다.",
    "question": "결과",
    "alternative_1": "엄마가 상처에 약을 발라 주었다.",
    "alternative_2": "아이가 친구와 공놀이를 시작했다.",
    "label": 0,
}


def _items() -> list[BenchmarkItem]:
    kmmlu_prompt = KMMLU["question"] + "".join(f"\n{k}. {KMMLU[k]}" for k in "ABCD") + "\n정답："
    docs = [
        ("kmmlu", "kmmlu_korean_history", KMMLU, ["A", "B", "C", "D"], 0, kmmlu_prompt),
        (
            "kobest",
            "kobest_boolq",
            BOOLQ,
            ["아니오", "예"],
            1,
            f"{BOOLQ['paragraph']} 질문: {BOOLQ['question']} 답변: ",
        ),
        (
            "kobest",
            "kobest_copa",
            COPA,
            [COPA["alternative_1"], COPA["alternative_2"]],
            COPA["alternative_1"],
            f"{COPA['premise']} 그래서",
        ),
    ]
    out = []
    for k, (bench, task, doc, choices, target, prompt) in enumerate(docs):
        text, segments, questions, answers = item_texts(doc, choices, target, prompt)
        out.append(BenchmarkItem(bench, task, k, text, segments, questions, answers))
    return out


def _index(folder: Path, units: str) -> ContaminationIndex:
    folder.mkdir()
    write_index(_items(), DecontaminationConfig(), folder, units, {"suite": "t", "source": "t"})
    return ContaminationIndex(folder, False, 0.0)


def _demo_rows(repo: Path) -> list[tuple[dict, str]]:
    folder = repo / "data" / "demo-ko"
    rows = []
    for name, fmt in (("instructions.jsonl", "alpaca"), ("chats.jsonl", "messages")):
        for line in (folder / name).read_text(encoding="utf-8").splitlines():
            rows.append((json.loads(line), fmt))
    return rows


def test_normalisation_folds_jamo_full_width_and_interpuncts() -> None:
    text = "경비원의 명부를 작성ㆍ비치하여 두고, CPU 사용률은 95%이다."
    assert normalise_text(unicodedata.normalize("NFD", text)) == normalise_text(text)
    assert normalise_text(full_width(text)) == normalise_text(text)
    assert normalise_text("작성ㆍ비치") == normalise_text("작성·비치") == "작성 비치"
    assert normalise_text(text) == "경비원의 명부를 작성 비치하여 두고 cpu 사용률은 95 이다"
    # English as before: NFKC, lower case, punctuation to one space
    assert normalise_text("The “café”, naïve ﬁx — 10% OFF!") == "the café naïve fix 10 off"


def test_hangul_units_ignore_particles_and_spacing() -> None:
    same = [
        ("사과는 빨갛다", "사과가 빨갛다"),
        ("학교에서 친구를 만났다", "학교에 친구 만났다"),
        ("이 문제는 해결할 수 있다", "이문제가 해결할수 있다"),
        ("환경 오염의 원인", "환경오염 원인"),
    ]
    for a, b in same:
        assert match_text(a) == match_text(b), (a, b)
        assert match_text(a, "words") != match_text(b, "words")  # whitespace words differ
    assert match_text("사과는 빨갛다") != match_text("바나나는 노랗다")
    assert match_text("학교에서 공부한다") == "학 교 공 부 한 다"
    assert display(words(match_text("CPU의 역할은 3개월"))) == "cpu 역할 3 개월"
    for english in ("The quick brown fox.", "naïve “quotes” — café", "x = 3 * (y + 2)"):
        assert match_text(english) == normalise_text(english)  # English: words, unchanged


def test_disguised_korean_items_are_found_and_clean_rows_are_not(
    tmp_path: Path, repo: Path
) -> None:
    index = _index(tmp_path / "hangul", "hangul")
    options = "\n".join(f"{k}) {KMMLU[c]}" for k, c in zip("1234", "ABCD", strict=True))
    leaks = {
        0: [
            particles(KMMLU["question"]) + "\n정답: 목민심서",
            spacing(f"{KMMLU['question']}\n{options}"),
            jamo(f"다음 문제를 풀어 보세요. {KMMLU['question']} 답은 목민심서입니다."),
            full_width(KMMLU["question"]) + " ①목민심서 ②북학의 ③열하일기 ④반계수록",
        ],
        1: [
            spacing(particles(BOOLQ["paragraph"])),
            f"질문: {BOOLQ['question']}\n지문: {jamo(BOOLQ['paragraph'])}\n답: 예",
        ],
        2: [
            particles(f"{COPA['premise']} 그래서 {COPA['alternative_1']}"),
            f"{COPA['alternative_1']} 왜냐하면 {spacing(COPA['premise'])}",  # reordered
        ],
    }
    for item, texts in leaks.items():
        for text in texts:
            assert {i for i, _ in index.match(text)} == {item}, text
    clean = [example_text(normalise(r, fmt, {})) for r, fmt in _demo_rows(repo)]
    assert len(clean) == 60
    assert [t for t in clean if index.match(t)] == []
    # whitespace words (the rule before Hangul units) miss the particle and spacing disguises
    old = _index(tmp_path / "words", "words")
    assert not old.match(leaks[0][0]) and not old.match(leaks[0][1])
    assert not old.match(leaks[1][0]) and not old.match(leaks[2][0])


def test_language_filter_keeps_korean_only() -> None:
    keep_ko = LanguageFilter(["ko"], 0.8)
    korean = [
        "오늘 날씨가 맑아서 공원에 산책하러 가기 좋습니다.",
        "Python에서 list comprehension을 사용하는 방법을 설명해 주세요.",
        "GPU 메모리가 부족하면 batch size를 줄이고 gradient accumulation을 늘리세요.",
        "def add(a, b):\n    return a + b\n\n위 함수는 두 수를 더해서 돌려줍니다.",
        unicodedata.normalize("NFD", "저녁에는 비가 온다고 하니 우산을 챙기세요."),
    ]
    for text in korean:
        assert keep_ko(text) is None, text
    others = {
        "en": "The weather is nice today, so let us take a walk in the park.",
        "ja": "今日は天気が良いので、公園に散歩に行きましょう。",
        "zh": "今天天气很好，我们去公园散步吧。",
    }
    for lang, text in others.items():
        bad = keep_ko(text)
        assert bad is not None and bad.reason == "language" and f"detected {lang}" in bad.detail
    assert keep_ko(full_width(others["en"])) is not None  # full-width Latin is still English


def test_prepare_dedups_korean_variants_and_filters_languages(tmp_path: Path, smollm2) -> None:
    repo = Path(__file__).resolve().parents[2]
    rows = [r for r, fmt in _demo_rows(repo) if fmt == "alpaca"]
    variants = [
        {k: unicodedata.normalize("NFD", v) for k, v in rows[0].items()},  # exact
        {k: full_width(v) for k, v in rows[1].items()},  # exact (digits, Latin, punctuation)
        {k: particles(v) for k, v in rows[6].items()},  # near: particles changed
        {k: spacing(v) for k, v in rows[7].items()},  # near: spacing changed
    ]
    foreign = [
        {
            "instruction": "Summarise the plot of Hamlet in two sentences.",
            "output": "Prince Hamlet seeks revenge on his uncle, who murdered his father to "
            "take the throne. His hesitation and feigned madness end in the deaths of nearly "
            "everyone at court.",
        },
        {"instruction": "日本の首都はどこですか？", "output": "日本の首都は東京です。"},
        {
            "instruction": "请简单介绍一下长城的历史。",
            "output": "长城是中国古代的军事防御工程，最早修建于春秋战国时期。秦始皇统一中国后，"
            "把各国的城墙连接起来。现在我们看到的长城大多是明朝修建的。",
        },
    ]
    src = write_jsonl(tmp_path / "ko.jsonl", [*rows, *variants, *foreign])
    cfg = data_cfg(
        [{"path": str(src)}], dedup={"near": True}, filters={"languages": ["ko"]}, max_length=2048
    )
    data = prepare_data(cfg, smollm2.path, StateDir.at(tmp_path / "s"))
    assert data.report.skipped == {"exact_duplicate": 2, "near_duplicate": 2, "language": 3}
    assert data.report.examples == len(rows)


def test_length_filters_count_tokens_of_hangul(tmp_path: Path, smollm2, repo: Path) -> None:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(smollm2.path)
    demo = _demo_rows(repo)
    counts = []
    for row, fmt in demo:
        ref = tokenize_messages(tok, normalise(row, fmt, {}), 4096, True)  # type: ignore[arg-type]
        assert isinstance(ref, dict)
        counts.append(len(ref["input_ids"]))
    chars = [len(json.dumps(r, ensure_ascii=False)) for r, _ in demo]
    lo, hi = 150, 300
    srcs = [
        {"path": str(write_jsonl(tmp_path / "a.jsonl", [r for r, f in demo if f == "alpaca"]))},
        {
            "path": str(write_jsonl(tmp_path / "c.jsonl", [r for r, f in demo if f != "alpaca"])),
            "format": "messages",
        },
    ]
    cfg = data_cfg(srcs, filters={"min_tokens": lo, "max_tokens": hi}, dedup={"exact": False})
    data = prepare_data(cfg, smollm2.path, StateDir.at(tmp_path / "s"))
    kept = [c for c in counts if lo <= c <= hi]
    assert data.report.skipped == {
        "too_short": sum(c < lo for c in counts),
        "too_long": sum(c > hi for c in counts),
    }
    assert data.report.examples == len(kept) and data.report.tokens == sum(kept)
    # counted in tokens (~3 per syllable here), not characters: by characters most would pass
    assert sum(c > hi for c in counts) > sum(c > hi for c in chars) + 10


@pytest.mark.parametrize("text", ["", "ㅋㅋㅋ", "이는 의 에서"])
def test_hangul_units_of_edge_texts(text: str) -> None:
    units = words(match_text(text))
    assert " ".join(units) == match_text(text)  # a space-separated unit text, no empty unit
    assert all(units)
