"""Keeping SAS signatures out of logs and events.

A blob SAS URL is a bearer credential: whoever holds `sig=...` may write the replica. The agent
logs URLs without their query already; this filter is the net under that rule, for what a
library or an exception message might print (a failed request's URL, say)."""

from __future__ import annotations

import logging
import re
from typing import Any

_SIG = re.compile(r"(sig=)[^&\s\"'<>]+", re.IGNORECASE)
REDACTED = r"\1REDACTED"


def redact(text: str) -> str:
    return _SIG.sub(REDACTED, text)


def redact_data(value: Any) -> Any:
    """Every string inside an event's data, redacted."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: redact_data(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_data(v) for v in value]
    return value


class RedactingFilter(logging.Filter):
    """Formats the record's message once, redacted, so no handler ever sees the signature."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        record.msg, record.args = redact(message), None
        return True
