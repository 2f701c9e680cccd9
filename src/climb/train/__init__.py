"""The fine-tuning entry point (`python -m climb.train --spec SPEC.json`, run under torchrun)."""
