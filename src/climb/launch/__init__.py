"""Launchers: where the trainer runs (a local torchrun subprocess, or a Kubernetes TrainJob)."""
