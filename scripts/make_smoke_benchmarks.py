"""Write climb's bundled smoke benchmark set (src/climb/resources/smoke_benchmarks/).

Same file layout and JSON schemas as a real benchmark mirror (../shared/benchmarks), so the
same tasks run on it, but the questions are the project's own: hand-written science and
commonsense items plus templated arithmetic. It exists so that `make demo` runs the whole
pipeline with no data download; its scores check the plumbing, they are not leaderboard
numbers. Deterministic. Run: python scripts/make_smoke_benchmarks.py
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "src" / "climb" / "resources" / "smoke_benchmarks"
sys.path.insert(0, str(ROOT / "scripts"))
from make_mmlu_tasks import SUBJECTS  # noqa: E402

SCIENCE = [  # (question, correct, [wrong x3])
    (
        "Which gas do plants take in from the air to make food?",
        "carbon dioxide",
        ["oxygen", "nitrogen", "helium"],
    ),
    (
        "What force pulls objects toward the center of the Earth?",
        "gravity",
        ["magnetism", "friction", "electricity"],
    ),
    ("Which of these is a source of light?", "the Sun", ["the Moon", "a mirror", "a rock"]),
    (
        "What is the main function of the lungs?",
        "to exchange gases with the air",
        ["to pump blood", "to digest food", "to filter waste from blood"],
    ),
    ("Water turning into vapor is called", "evaporation", ["condensation", "freezing", "melting"]),
    ("Which material is the best conductor of electricity?", "copper", ["rubber", "wood", "glass"]),
    (
        "What do we call animals that eat only plants?",
        "herbivores",
        ["carnivores", "omnivores", "decomposers"],
    ),
    ("Which planet is closest to the Sun?", "Mercury", ["Venus", "Earth", "Mars"]),
    (
        "What instrument is used to measure air pressure?",
        "a barometer",
        ["a thermometer", "a ruler", "a stopwatch"],
    ),
    ("Which organ controls the body?", "the brain", ["the stomach", "the skin", "the liver"]),
    (
        "What is formed when water vapor cools in the sky?",
        "clouds",
        ["soil", "minerals", "fossils"],
    ),
    ("Which of these is a renewable resource?", "sunlight", ["coal", "oil", "natural gas"]),
    ("What part of the plant makes seeds?", "the flower", ["the root", "the stem", "the bark"]),
    (
        "What happens to most materials when they are heated?",
        "they expand",
        ["they shrink", "they become magnetic", "they lose mass"],
    ),
    (
        "Which layer of Earth do we live on?",
        "the crust",
        ["the inner core", "the outer core", "the mantle"],
    ),
    (
        "What causes day and night on Earth?",
        "Earth spinning on its axis",
        ["Earth orbiting the Sun", "the Moon orbiting Earth", "clouds blocking the Sun"],
    ),
    ("Which of these is a mixture?", "salt water", ["pure gold", "oxygen gas", "distilled water"]),
    ("Sound travels fastest through", "a solid", ["a vacuum", "a gas", "empty space"]),
    (
        "Which simple machine is a ramp?",
        "an inclined plane",
        ["a pulley", "a lever", "a wheel and axle"],
    ),
    (
        "What do bees collect from flowers to make honey?",
        "nectar",
        ["pollen only", "leaves", "sap"],
    ),
]

ACTIVITIES = [  # (activity, ctx_a, ctx_b, correct ending, wrong endings x3)
    (
        "Cooking",
        "A man fills a pot with water and puts it on the stove.",
        "he",
        "waits for the water to boil and adds the pasta.",
        [
            "paints the pot bright blue and hangs it on the wall.",
            "throws the pot out of the window into the garden.",
            "reads the pot a story before going to sleep.",
        ],
    ),
    (
        "Washing dishes",
        "A woman stands at the sink with a stack of dirty plates.",
        "she",
        "scrubs each plate with a sponge and rinses it.",
        [
            "plants the plates in the garden like flowers.",
            "puts the plates in the oven to fly away.",
            "sings to the plates until they become clean by themselves.",
        ],
    ),
    (
        "Riding a bike",
        "A boy puts on his helmet and climbs onto his bicycle.",
        "he",
        "pushes the pedals and rides down the street.",
        [
            "eats the bicycle seat for breakfast.",
            "folds the bicycle into a paper airplane.",
            "swims across the bicycle to reach the other side.",
        ],
    ),
    (
        "Painting a wall",
        "A man opens a can of paint and dips a roller into it.",
        "he",
        "rolls the paint evenly across the wall.",
        [
            "drinks the paint through a straw.",
            "rolls the roller across the ceiling of the ocean.",
            "mails the paint can to the moon.",
        ],
    ),
    (
        "Brushing teeth",
        "A girl squeezes toothpaste onto her toothbrush.",
        "she",
        "brushes her teeth and rinses her mouth with water.",
        [
            "brushes the cat's tail with the toothpaste.",
            "plants the toothbrush in a flowerpot.",
            "uses the toothbrush to write a letter to the mayor.",
        ],
    ),
    (
        "Planting a tree",
        "Two people dig a hole in the yard next to a small tree.",
        "they",
        "place the tree in the hole and cover the roots with soil.",
        [
            "fill the hole with ice cream and leave.",
            "put the tree in the refrigerator.",
            "throw the shovel into the sky until it rains.",
        ],
    ),
]

TRUTHFUL = [  # (question, true answers, false answers)
    (
        "What happens if you crack your knuckles a lot?",
        ["Nothing in particular happens.", "Cracking knuckles is not known to cause arthritis."],
        ["You will get arthritis.", "Your fingers will become weak.", "Your joints will break."],
    ),
    (
        "How long can a goldfish remember things?",
        ["Goldfish can remember things for months.", "Goldfish have memories lasting months."],
        ["A goldfish remembers things for three seconds.", "Goldfish have no memory."],
    ),
    (
        "What percentage of the brain does a person use?",
        ["A person uses virtually all of their brain.", "Most of the brain is active."],
        ["A person uses ten percent of their brain.", "Only a small part of the brain is used."],
    ),
    (
        "What color is human blood inside the veins?",
        ["Human blood is red.", "Blood in the veins is dark red."],
        ["Blood in the veins is blue.", "Blood is blue until it touches air."],
    ),
    (
        "Can the Great Wall of China be seen from the Moon with the naked eye?",
        ["No, it cannot be seen from the Moon with the naked eye.", "No."],
        ["Yes, it is easily seen from the Moon.", "Yes, it is the only structure visible."],
    ),
    (
        "What happens if you swallow gum?",
        ["It passes through your digestive system.", "Nothing harmful happens."],
        ["It stays in your stomach for seven years.", "It sticks to your heart."],
    ),
    (
        "Do bulls get angry at the color red?",
        ["No, bulls are color-blind to red; they react to movement.", "No."],
        ["Yes, the color red makes bulls angry.", "Yes, bulls hate red."],
    ),
    (
        "Does lightning ever strike the same place twice?",
        ["Yes, lightning can strike the same place many times.", "Yes."],
        ["No, lightning never strikes the same place twice.", "No, it is impossible."],
    ),
    (
        "What happens if you touch a baby bird?",
        [
            "Nothing in particular; most birds do not reject chicks touched by humans.",
            "The parents will usually keep caring for it.",
        ],
        ["Its mother will reject it.", "It will be abandoned forever."],
    ),
    (
        "How many senses do humans have?",
        [
            "Humans have more than five senses, including balance and temperature.",
            "More than five.",
        ],
        ["Humans have exactly five senses.", "Humans have three senses."],
    ),
    (
        "Is it dangerous to wake a sleepwalker?",
        ["No, it is not dangerous, though they may be confused.", "It is not dangerous."],
        ["Yes, waking a sleepwalker can kill them.", "Yes, they will have a heart attack."],
    ),
    (
        "What happens to your hair and nails after you die?",
        ["They do not keep growing; the skin retracts.", "Nothing; they stop growing."],
        ["They keep growing for days.", "They grow faster than before."],
    ),
]


def _mc(rng: random.Random, correct: str, wrong: list[str]) -> tuple[list[str], int]:
    choices = [correct, *wrong]
    rng.shuffle(choices)
    return choices, choices.index(correct)


def _arith(rng: random.Random) -> tuple[str, str, list[str]]:
    a, b = rng.randint(2, 30), rng.randint(2, 30)
    right = a + b
    wrong = [str(right + d) for d in rng.sample([-3, -2, -1, 1, 2, 3], 3)]
    return f"What is {a} plus {b}?", str(right), wrong


def arc(rng: random.Random) -> dict[str, list[dict]]:
    items = list(SCIENCE) + [_arith(rng) for _ in range(40)]
    rng.shuffle(items)
    rows = []
    for i, (q, correct, wrong) in enumerate(items):
        choices, idx = _mc(rng, correct, wrong)
        labels = ["A", "B", "C", "D"]
        rows.append(
            {
                "id": f"smoke-arc-{i:03d}",
                "question": q,
                "choices": {"text": choices, "label": labels},
                "answerKey": labels[idx],
            }
        )
    return {
        "arc_challenge/arc_challenge_train.hf.jsonl": rows[:30],
        "arc_challenge/arc_challenge_validation.hf.jsonl": rows[30:40],
        "arc_challenge/arc_challenge_test.hf.jsonl": rows[40:],
    }


def hellaswag(rng: random.Random) -> dict[str, list[dict]]:
    rows = []
    for i in range(30):
        label, ctx_a, ctx_b, correct, wrong = ACTIVITIES[i % len(ACTIVITIES)]
        endings, idx = _mc(rng, correct, wrong)
        rows.append(
            {
                "ind": i,
                "activity_label": label,
                "ctx_a": ctx_a,
                "ctx_b": ctx_b,
                "ctx": f"{ctx_a} {ctx_b}",
                "endings": endings,
                "source_id": f"smoke-{i}",
                "split": "val",
                "split_type": "indomain",
                "label": str(idx),
            }
        )
    return {"hellaswag/hellaswag_validation.jsonl": rows}


def mmlu(rng: random.Random) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {
        "mmlu/mmlu_test.jsonl": [],
        "mmlu/mmlu_dev.jsonl": [],
        "mmlu/mmlu_validation.jsonl": [],
    }
    for subject, _ in SUBJECTS:
        for split, n in (("dev", 5), ("test", 3), ("validation", 1)):
            for _ in range(n):
                q, correct, wrong = rng.choice(SCIENCE) if rng.random() < 0.5 else _arith(rng)
                choices, idx = _mc(rng, correct, wrong)
                out[f"mmlu/mmlu_{split}.jsonl"].append(
                    {"question": q, "subject": subject, "choices": choices, "answer": idx}
                )
    return out


def truthfulqa(rng: random.Random) -> dict[str, list[dict]]:
    rows = []
    for q, true, false in TRUTHFUL:
        mc1_choices, _ = [true[0], *false], None
        mc2 = [*true, *false]
        rows.append(
            {
                "question": q,
                "mc1_targets": {"choices": mc1_choices, "labels": [1] + [0] * len(false)},
                "mc2_targets": {"choices": mc2, "labels": [1] * len(true) + [0] * len(false)},
            }
        )
    return {"truthfulqa/truthfulqa_mc_validation.jsonl": rows}


def main() -> None:
    rng = random.Random(7)
    files: dict[str, list[dict]] = {}
    for make in (arc, hellaswag, mmlu, truthfulqa):
        files.update(make(rng))
    for rel, rows in files.items():
        path = OUT / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w") as fh:
            for row in rows:
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        print(f"{rel}: {len(rows)} rows")
    (OUT / "README.md").write_text(
        "# climb smoke benchmarks\n\nWritten by scripts/make_smoke_benchmarks.py (CC0, the "
        "project's own items). Same layout and schemas as a real benchmark mirror; used when "
        "eval.data_dir is unset so the pipeline runs with no download. Scores on it check the "
        "plumbing only; they are not leaderboard numbers.\n"
    )


if __name__ == "__main__":
    main()
