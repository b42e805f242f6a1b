"""Secrets out of texts that are kept or shown: a SAS signature, a key passed as `?code=`,
an account or Service Bus key in a connection string.

Texts that reach a log, a job, an item, a dead-letter reason or an answer may quote a URL or
a connection string (an SDK's error names the URL it called; an agent quotes what failed).
The value is replaced, the name stays, so the text still says what kind of thing it was.
"""

from __future__ import annotations

import re

REDACTED = "REDACTED"
# `sig=` of a SAS and `code=` of a function key in a URL query; keys of connection strings.
_SECRET = re.compile(
    r"(?i)(?P<name>\b(?:sig|code|AccountKey|SharedAccessKey|SharedAccessSignature))"
    r"=(?P<value>[^&\s\"'<>;,)]+)"
)


def redact(text: str) -> str:
    """`text` with every secret value replaced by REDACTED."""
    if "=" not in text:
        return text
    return _SECRET.sub(lambda m: f"{m.group('name')}={REDACTED}", text)
