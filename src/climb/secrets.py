"""Keeping credentials out of everything climb writes: MLflow params and tags, artifacts, logs,
model cards, the outbox.

Two rules, applied to text before it leaves climb: credentials inside URLs
(`scheme://user:password@host`) are removed, and the value of every environment variable whose
name marks it as a secret (HF_TOKEN, AWS_SECRET_ACCESS_KEY, MLFLOW_TRACKING_PASSWORD, ...) is
replaced by `***` wherever it appears.
"""

from __future__ import annotations

import logging
import os
import re

_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.\-]*://)[^/@\s]+@")
_SECRET_NAME = re.compile(
    r"(TOKEN|SECRET|PASSWORD|PASSWD|ACCESS_KEY|API_KEY|CREDENTIAL)", re.IGNORECASE
)
MIN_SECRET_LENGTH = 6


def secret_values() -> list[str]:
    """Return the values of secret-looking environment variables, longest first."""
    values = {
        v for k, v in os.environ.items() if _SECRET_NAME.search(k) and len(v) >= MIN_SECRET_LENGTH
    }
    return sorted(values, key=len, reverse=True)


def redact(text: str) -> str:
    """Return `text` without URL credentials and without any secret environment value."""
    out = _USERINFO.sub(r"\g<scheme>", text)
    for value in secret_values():
        out = out.replace(value, "***")
    return out


def install_log_redaction() -> None:
    """Redact every log record of the process at creation (all loggers, all handlers: console,
    Prefect's API log handler, files). Idempotent."""
    factory = logging.getLogRecordFactory()
    if getattr(factory, "climb_redacting", False):
        return

    def make_record(*args: object, **kwargs: object) -> logging.LogRecord:
        record = factory(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a broken format string is the logger's business, not ours
            return record
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        return record

    make_record.climb_redacting = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(make_record)
