"""One structured log line per function invocation, the same shape for every trigger.

Operators grep and parse these (`jq` over the host's stdout), so every line carries the same
keys: function, trigger, instance (the orchestration instance, or null outside Durable),
durationMs and outcome, plus trigger-specific extras.
"""

from __future__ import annotations

import json
import logging
from typing import Any

LOGGER = logging.getLogger("devhost.invocations")


def record(
    function: str,
    trigger: str,
    *,
    instance: str | None,
    seconds: float,
    outcome: str,
    **extra: Any,
) -> None:
    LOGGER.info(
        json.dumps(
            {
                "function": function,
                "trigger": trigger,
                "instance": instance,
                "durationMs": round(seconds * 1000, 2),
                "outcome": outcome,
                **extra,
            },
            default=str,
        )
    )
