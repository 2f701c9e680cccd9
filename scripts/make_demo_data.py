"""Write data/demo/instructions.jsonl: the small instruction dataset bundled with climb.

Every example is written by this script (templates + hand-written facts below), so the data is
the project's own (CC0, see data/demo/LICENSE.md). Deterministic: re-running it reproduces the
committed file byte for byte. Run: python scripts/make_demo_data.py
"""

from __future__ import annotations

import json
import random
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "data" / "demo" / "instructions.jsonl"

FACTS = [
    (
        "Why do we have seasons on Earth?",
        "Seasons happen because Earth's axis is tilted about 23.5 degrees. As Earth orbits the Sun, "
        "each hemisphere takes turns leaning toward the Sun, which gives it longer days and more "
        "direct sunlight (summer), then leaning away (winter).",
    ),
    (
        "What do plants need to carry out photosynthesis?",
        "Plants need sunlight, water and carbon dioxide. Using the energy of light, they turn water "
        "and carbon dioxide into sugar and release oxygen.",
    ),
    (
        "What is the difference between weather and climate?",
        "Weather is the state of the atmosphere over hours or days; climate is the average pattern "
        "of weather in a region over many years.",
    ),
    (
        "Why does ice float on water?",
        "Ice is less dense than liquid water: when water freezes its molecules lock into an open "
        "crystal structure that takes up more space, so ice floats.",
    ),
    (
        "What happens to a puddle of water on a hot, sunny day?",
        "The water evaporates: heat from the Sun gives water molecules enough energy to escape into "
        "the air as water vapour, so the puddle slowly disappears.",
    ),
    (
        "Which is a renewable source of energy: coal, wind or natural gas?",
        "Wind is renewable: it is replenished naturally. Coal and natural gas are fossil fuels that "
        "took millions of years to form.",
    ),
    (
        "Why does a metal spoon feel colder than a wooden spoon at the same temperature?",
        "Metal conducts heat much better than wood, so it draws heat away from your hand faster, "
        "which feels colder even though both are at the same temperature.",
    ),
    (
        "What causes the phases of the Moon?",
        "As the Moon orbits Earth we see different portions of its sunlit half. The changing angle "
        "between the Sun, Earth and Moon produces the phases from new moon to full moon.",
    ),
    (
        "What is the main job of the heart?",
        "The heart pumps blood around the body, carrying oxygen and nutrients to the cells and "
        "taking away carbon dioxide and wastes.",
    ),
    (
        "How do vaccines protect people from disease?",
        "A vaccine trains the immune system with a harmless piece or weakened form of a germ, so the "
        "body can recognise and fight the real germ quickly later.",
    ),
    (
        "What is the boiling point of water at sea level?",
        "At sea level, pure water boils at 100 degrees Celsius (212 degrees Fahrenheit).",
    ),
    (
        "Why do objects fall to the ground when dropped?",
        "Gravity pulls objects toward the centre of the Earth. Without air resistance, all objects "
        "fall with the same acceleration, about 9.8 metres per second squared.",
    ),
    (
        "What is erosion?",
        "Erosion is the wearing away and moving of rock and soil by wind, water, ice or gravity.",
    ),
    (
        "What is a food chain?",
        "A food chain shows how energy passes from one living thing to another: for example grass "
        "is eaten by a rabbit, which is eaten by a fox.",
    ),
    (
        "Why do we see lightning before we hear thunder?",
        "Light travels about a million times faster than sound, so the flash reaches us almost "
        "instantly while the sound of thunder arrives later.",
    ),
    (
        "What are the three states of matter most commonly seen in daily life?",
        "Solid, liquid and gas. Ice, water and steam are the same substance in those three states.",
    ),
    (
        "How does a magnet pick up a paper clip?",
        "A magnet's magnetic field pulls on materials such as iron and steel. The steel paper clip is "
        "attracted to the magnet and moves toward it.",
    ),
    (
        "What is the function of the roots of a plant?",
        "Roots anchor the plant in the soil and absorb water and minerals that the plant needs.",
    ),
    (
        "Why is it important to recycle paper?",
        "Recycling paper saves trees, water and energy and reduces the waste sent to landfills.",
    ),
    (
        "What tool would you use to measure the mass of a rock?",
        "A balance or a scale measures mass, usually in grams or kilograms.",
    ),
    (
        "What is a fossil?",
        "A fossil is the preserved remains or trace of an ancient living thing, such as a bone, "
        "shell, leaf imprint or footprint, usually found in sedimentary rock.",
    ),
    (
        "Why do people wear light-coloured clothes in hot weather?",
        "Light colours reflect more sunlight and absorb less of it, so light-coloured clothes stay "
        "cooler than dark ones.",
    ),
    (
        "What is condensation?",
        "Condensation is when a gas cools and turns into a liquid, like water droplets forming on a "
        "cold glass.",
    ),
    (
        "How do bees help plants?",
        "Bees carry pollen from flower to flower while collecting nectar, which pollinates the "
        "plants so they can make seeds and fruit.",
    ),
    (
        "What is the largest planet in our solar system?",
        "Jupiter is the largest planet in our solar system.",
    ),
    ("What does a thermometer measure?", "A thermometer measures temperature."),
    (
        "Why do leaves change colour in autumn?",
        "As days shorten, trees stop making green chlorophyll. As it breaks down, yellow and orange "
        "pigments that were there all along become visible.",
    ),
    (
        "What is the purpose of a seat belt in a car?",
        "In a sudden stop your body keeps moving because of inertia. A seat belt holds you in place "
        "so you do not hit the inside of the car.",
    ),
    (
        "What is friction?",
        "Friction is a force that resists the sliding of one surface over another; it slows moving "
        "objects and produces heat.",
    ),
    (
        "What gas do humans breathe out that plants use?",
        "Humans breathe out carbon dioxide, which plants take in for photosynthesis.",
    ),
    (
        "If you want to stay healthy, what are good everyday habits?",
        "Eat a balanced diet, drink water, be physically active, sleep enough, and wash your hands "
        "regularly.",
    ),
    (
        "What should you do if a friend is upset?",
        "Listen to them calmly, ask what is wrong, show that you care, and offer help if they want "
        "it.",
    ),
    (
        "Is it a good idea to believe everything you read online?",
        "No. Check who wrote it, look for reliable sources, and compare with other trustworthy "
        "information before believing it.",
    ),
    (
        "What happens if you leave a glass of milk out of the fridge for several days?",
        "Bacteria grow in the warm milk and it goes sour and spoils, so it is no longer safe to "
        "drink.",
    ),
    (
        "Can you see the Great Wall of China from the Moon with the naked eye?",
        "No. The wall is very long but far too narrow to be seen with the naked eye from the Moon.",
    ),
    (
        "Do we only use ten percent of our brains?",
        "No, that is a myth. Brain scans show that we use virtually all of the brain, just not all "
        "areas at the same time.",
    ),
    (
        "Does cracking your knuckles cause arthritis?",
        "Studies have found no link between knuckle cracking and arthritis.",
    ),
    (
        "What happens if you swallow chewing gum?",
        "It passes through your digestive system and leaves the body normally; it does not stay in "
        "your stomach for years.",
    ),
    (
        "Is the blood in our veins blue?",
        "No. Blood is always red; veins only look blue because of how light passes through skin.",
    ),
    (
        "Do goldfish have a memory of only three seconds?",
        "No, goldfish can remember things for months; the three-second memory is a myth.",
    ),
]

PEOPLE = ["Ana", "Ben", "Chloe", "Dev", "Eva", "Farid", "Grace", "Hiro", "Ines", "Jonas"]
ITEMS = ["apples", "pencils", "marbles", "books", "stickers", "cookies", "coins", "cards"]
WORDS = [
    "planet",
    "energy",
    "garden",
    "window",
    "silver",
    "rocket",
    "pencil",
    "forest",
    "bridge",
    "candle",
    "shadow",
    "orange",
    "puzzle",
    "rabbit",
    "mirror",
    "castle",
]
SENTENCES = [
    "the cat sat on the warm windowsill",
    "water boils at one hundred degrees",
    "plants need light to grow",
    "the train leaves at nine in the morning",
    "our team won the final match",
    "she reads a new book every week",
]


def arithmetic(rng: random.Random) -> dict[str, str]:
    a, b = rng.randint(2, 99), rng.randint(2, 99)
    op = rng.choice(["+", "-", "*"])
    value = {"+": a + b, "-": a - b, "*": a * b}[op]
    return {
        "instruction": f"What is {a} {op} {b}?",
        "input": "",
        "output": f"{a} {op} {b} = {value}.",
    }


def word_problem(rng: random.Random) -> dict[str, str]:
    who, item = rng.choice(PEOPLE), rng.choice(ITEMS)
    have, more, give = rng.randint(3, 20), rng.randint(1, 15), rng.randint(1, 3)
    total = have + more - give
    q = (
        f"{who} has {have} {item}, buys {more} more and gives {give} to a friend. "
        f"How many {item} does {who} have now?"
    )
    a = (
        f"{who} starts with {have}, has {have + more} after buying {more}, and {total} after "
        f"giving {give} away. The answer is {total}."
    )
    return {"instruction": q, "input": "", "output": a}


def reverse_word(rng: random.Random) -> dict[str, str]:
    w = rng.choice(WORDS)
    return {"instruction": "Spell the following word backwards.", "input": w, "output": w[::-1]}


def sort_numbers(rng: random.Random) -> dict[str, str]:
    nums = rng.sample(range(1, 100), rng.randint(4, 7))
    return {
        "instruction": "Sort these numbers from smallest to largest.",
        "input": ", ".join(map(str, nums)),
        "output": ", ".join(map(str, sorted(nums))),
    }


def convert_units(rng: random.Random) -> dict[str, str]:
    kind = rng.choice(["km", "h", "kg"])
    n = rng.randint(2, 50)
    if kind == "km":
        return {
            "instruction": f"How many metres are in {n} kilometres?",
            "input": "",
            "output": f"There are {n * 1000} metres in {n} kilometres.",
        }
    if kind == "h":
        return {
            "instruction": f"How many minutes are in {n} hours?",
            "input": "",
            "output": f"There are {n * 60} minutes in {n} hours.",
        }
    return {
        "instruction": f"How many grams are in {n} kilograms?",
        "input": "",
        "output": f"There are {n * 1000} grams in {n} kilograms.",
    }


def capitalise(rng: random.Random) -> dict[str, str]:
    s = rng.choice(SENTENCES)
    return {
        "instruction": "Rewrite the sentence with a capital letter and a full stop.",
        "input": s,
        "output": s[0].upper() + s[1:] + ".",
    }


def compare(rng: random.Random) -> dict[str, str]:
    a, b = rng.sample(range(1, 1000), 2)
    big = max(a, b)
    return {
        "instruction": f"Which number is larger, {a} or {b}?",
        "input": "",
        "output": f"{big} is larger.",
    }


def parity(rng: random.Random) -> dict[str, str]:
    n = rng.randint(1, 500)
    kind = "even" if n % 2 == 0 else "odd"
    return {"instruction": f"Is {n} even or odd?", "input": "", "output": f"{n} is {kind}."}


GENERATORS = [
    arithmetic,
    word_problem,
    reverse_word,
    sort_numbers,
    convert_units,
    capitalise,
    compare,
    parity,
]


def main() -> None:
    rng = random.Random(20261129)
    rows = [{"instruction": q, "input": "", "output": a} for q, a in FACTS]
    seen = {r["instruction"] + r["input"] for r in rows}
    while len(rows) < 320:
        row = rng.choice(GENERATORS)(rng)
        key = row["instruction"] + row["input"]
        if key not in seen:
            seen.add(key)
            rows.append(row)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with OUT.open("w") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"wrote {len(rows)} examples to {OUT}")


if __name__ == "__main__":
    main()
