"""Redaction of credentials: URL userinfo, secret environment values, log records."""

from __future__ import annotations

import logging

import pytest

from climb.secrets import install_log_redaction, redact, secret_values


def test_url_credentials_and_secret_env_values_are_removed(monkeypatch) -> None:
    monkeypatch.setenv("HF_TOKEN", "hf_FAKEtoken123456")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrFAKEsecretKEY")
    monkeypatch.setenv("PLAIN_INSTALL_PATH", "/usr/local/bin/x")
    text = "push with hf_FAKEtoken123456 to s3://AKIA:wJalrFAKEsecretKEY@bucket/k from /usr/local"
    out = redact(text)
    assert "hf_FAKEtoken123456" not in out and "wJalrFAKEsecretKEY" not in out
    assert "s3://bucket/k" in out and "/usr/local" in out
    assert "/usr/local/bin/x" not in secret_values()


def test_short_values_are_not_treated_as_secrets(monkeypatch) -> None:
    monkeypatch.setenv("SOME_TOKEN", "1")
    assert redact("step 1 of 10") == "step 1 of 10"


def test_every_log_record_is_redacted(monkeypatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "pw-FAKE-987654")
    install_log_redaction()
    install_log_redaction()  # idempotent
    with caplog.at_level(logging.INFO):
        logging.getLogger("some.library").info("connecting with %s", "pw-FAKE-987654")
    assert "pw-FAKE-987654" not in caplog.text and "connecting with ***" in caplog.text
