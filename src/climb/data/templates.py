"""Named chat templates for base models that have none (or when a recipe wants another one).

`data.chat_template` is `tokenizer` (the model's own template), one of the names below, or the
path of a `.jinja` file. Every template here renders a conversation so that the rendering of its
first k turns is a prefix of the rendering of all of them, which completion-only masking needs.
"""

from __future__ import annotations

from pathlib import Path

NAMED: dict[str, str] = {
    # ChatML (Qwen, SmolLM, OpenHermes): <|im_start|>role\ncontent<|im_end|>\n
    "chatml": (
        "{% for message in messages %}"
        "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}"
        "{% endfor %}"
        "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
    ),
    # Zephyr: <|role|>\ncontent</s>\n
    "zephyr": (
        "{% for message in messages %}"
        "{{ '<|' + message['role'] + '|>\n' + message['content'] + eos_token + '\n' }}"
        "{% endfor %}"
        "{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% endif %}"
    ),
    # Alpaca prompt style, for base models: ### Instruction / ### Response, EOS after replies.
    "alpaca": (
        "{% for message in messages %}"
        "{% if message['role'] == 'system' %}{{ message['content'] + '\n\n' }}"
        "{% elif message['role'] == 'user' %}"
        "{{ '### Instruction:\n' + message['content'] + '\n\n' }}"
        "{% else %}{{ '### Response:\n' + message['content'] + eos_token + '\n\n' }}{% endif %}"
        "{% endfor %}"
        "{% if add_generation_prompt %}{{ '### Response:\n' }}{% endif %}"
    ),
}


def resolve_template(spec: str) -> str | None:
    """Return the Jinja chat template `spec` names (None = use the tokenizer's own).

    `spec` is `tokenizer`, a key of NAMED, or a path to a `.jinja` file; anything else raises
    ValueError listing the choices.
    """
    if spec == "tokenizer":
        return None
    if spec in NAMED:
        return NAMED[spec]
    path = Path(spec).expanduser()
    if path.suffix == ".jinja" and path.is_file():
        return path.read_text()
    raise ValueError(
        f"data.chat_template: {spec!r} is neither `tokenizer`, a named template "
        f"({sorted(NAMED)}) nor an existing .jinja file"
    )
