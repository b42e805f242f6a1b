"""The replication watchdog's timer: every run finds replication loops that ended and locks
that outlived their operation, and makes them right (application/watchdog.py).

Its schedule is the app setting REPLICATION_WATCHDOG_SCHEDULE (NCRONTAB, six fields; the
Bicep module and local.settings.sample.json set every minute), resolved by the Functions host
as `%NAME%` binding expressions are. Timer triggers run one at a time per app (a blob lease
in Azure, one timer loop in devhost), so runs never overlap; each is idempotent all the same.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

import azure.durable_functions as df
import azure.functions as func

from application.watchdog import run_watchdog

bp = df.Blueprint()
log = logging.getLogger("watchdog")
SCHEDULE = "%REPLICATION_WATCHDOG_SCHEDULE%"  # an app setting, resolved by the host


@bp.timer_trigger(schedule=SCHEDULE, arg_name="timer", run_on_startup=False)
@bp.durable_client_input(client_name="client")
async def replication_watchdog(
    timer: func.TimerRequest, client: df.DurableOrchestrationClient
) -> None:
    run = await run_watchdog(client, datetime.now(UTC))
    summary = {**run.summary(), "pastDue": timer.past_due}
    (log.warning if run.errors else log.info)(json.dumps(summary))
