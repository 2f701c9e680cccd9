"""Normalising source rows (alpaca, chat messages, plain text) into one shape: a list of
`{"role", "content"}` messages, or a single text for plain-text pre-training style data.

`columns` maps climb's field names to the file's column names, so a dataset whose prompt lives
in `question` and whose answer lives in `response` needs no code: `{instruction: question,
output: response}`.
"""

from __future__ import annotations

from typing import Any

from climb.data.sources import BadRow

Messages = list[dict[str, str]]
_ROLES = {"system", "user", "assistant"}
_SHAREGPT_ROLES = {
    "system": "system",
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "assistant": "assistant",
    "bot": "assistant",
    "chatgpt": "assistant",
}


def _field(row: dict[str, Any], name: str, columns: dict[str, str]) -> Any:
    return row.get(columns.get(name, name))


def _text(value: Any, name: str) -> str | BadRow:
    if value is None:
        return BadRow("missing_field", name)
    if not isinstance(value, str):
        return BadRow("wrong_type", f"{name} is {type(value).__name__}, expected string")
    if not value.strip():
        return BadRow("empty_text", name)
    return value


def alpaca_to_messages(row: dict[str, Any], columns: dict[str, str]) -> Messages | BadRow:
    """Map an alpaca row (instruction, optional input, output, optional system) to messages."""
    instruction = _text(_field(row, "instruction", columns), "instruction")
    if isinstance(instruction, BadRow):
        return instruction
    output = _text(_field(row, "output", columns), "output")
    if isinstance(output, BadRow):
        return output
    extra = _field(row, "input", columns)
    if extra is not None and not isinstance(extra, str):
        return BadRow("wrong_type", f"input is {type(extra).__name__}, expected string")
    prompt = f"{instruction}\n\n{extra}" if extra and extra.strip() else instruction
    messages: Messages = []
    system = _field(row, "system", columns)
    if isinstance(system, str) and system.strip():
        messages.append({"role": "system", "content": system})
    messages += [{"role": "user", "content": prompt}, {"role": "assistant", "content": output}]
    return messages


def chat_to_messages(row: dict[str, Any], columns: dict[str, str]) -> Messages | BadRow:
    """Map an OpenAI-style `messages` or ShareGPT-style `conversations` row to messages."""
    turns = _field(row, "messages", columns)
    if turns is None:
        turns = _field(row, "conversations", columns)
    if turns is None:
        return BadRow("missing_field", "messages")
    if not isinstance(turns, list) or not turns:
        return BadRow("wrong_type", "messages must be a non-empty list")
    out: Messages = []
    system = _field(row, "system_prompt", columns) or _field(row, "system", columns)
    if isinstance(system, str) and system.strip():
        out.append({"role": "system", "content": system})
    for turn in turns:
        if not isinstance(turn, dict):
            return BadRow("wrong_type", "each message must be an object")
        role = turn.get("role", _SHAREGPT_ROLES.get(str(turn.get("from", "")).lower()))
        content = turn.get("content", turn.get("value"))
        if role not in _ROLES:
            return BadRow("bad_role", f"role {role!r}")
        text = _text(content, "content")
        if isinstance(text, BadRow):
            return text
        out.append({"role": role, "content": text})
    if out[-1]["role"] != "assistant":
        return BadRow("no_response", "last message is not from the assistant")
    return out


def text_of(row: dict[str, Any], columns: dict[str, str]) -> str | BadRow:
    """Return the plain text of a text-format row."""
    return _text(_field(row, "text", columns), "text")


def normalise(row: dict[str, Any], fmt: str, columns: dict[str, str]) -> Messages | str | BadRow:
    """Normalise one row of format `fmt` (alpaca | messages | text)."""
    if fmt == "alpaca":
        return alpaca_to_messages(row, columns)
    if fmt == "messages":
        return chat_to_messages(row, columns)
    return text_of(row, columns)
