"""Where climb finds files it ships: the config folder (suites, lm-eval task YAMLs, mirror
layout) and the bundled smoke benchmark set.
"""

from __future__ import annotations

import os
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def config_dir() -> Path:
    """Return climb's config folder: $CLIMB_CONFIG_DIR, else ./config, else the repo's config/."""
    env = os.environ.get("CLIMB_CONFIG_DIR")
    if env:
        return Path(env).resolve()
    for candidate in (Path.cwd() / "config", _PACKAGE.parent.parent / "config"):
        if (candidate / "suites").is_dir():
            return candidate.resolve()
    raise FileNotFoundError(
        "climb's config folder (with suites/ and tasks/) was not found; run climb from the "
        "repository root or set CLIMB_CONFIG_DIR"
    )


def smoke_benchmarks_dir() -> Path:
    """Return the bundled smoke benchmark set (mirror layout; pipeline checks, not real scores)."""
    return _PACKAGE / "resources" / "smoke_benchmarks"
