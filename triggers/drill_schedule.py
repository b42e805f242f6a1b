"""The drill schedule: every minute, start the drills that are due.

A plan with a `drillSchedule` is drilled at its slots (startAt, then every everyHours); a
drill already running, or a plan whose VMs are not ready, waits. A scheduled drill that
cannot start is recorded as a failed drill job (started by 'schedule') with the reasons, so
the plan shows it, and the next slot is the next chance."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

import azure.durable_functions as df
import azure.functions as func

from application.plans import begin_plan_operation, record_refused_drill
from domain.errors import DomainError
from domain.jobs import StartedBy
from domain.plans import PlanOperation, drill_due
from readmodels.plans import last_drill, scheduled_plans

bp = df.Blueprint()
log = logging.getLogger(__name__)
EVERY_MINUTE = "0 * * * * *"


def _due(now: datetime) -> list[tuple[str, str]]:
    due = []
    for record in scheduled_plans():
        schedule = record.plan.drill_schedule
        last = last_drill(record.tenant, record.plan.name)
        if schedule and drill_due(schedule, last.requested if last else None, now):
            due.append((record.tenant, record.plan.name))
    return due


@bp.timer_trigger(schedule=EVERY_MINUTE, arg_name="timer", run_on_startup=False)
@bp.durable_client_input(client_name="client")
async def drill_schedule(timer: func.TimerRequest, client: df.DurableOrchestrationClient) -> None:
    now = datetime.now(UTC)
    for tenant, plan in await asyncio.to_thread(_due, now):
        try:
            job, created = await begin_plan_operation(
                client, tenant, plan, PlanOperation.DRILL, None, StartedBy.SCHEDULE
            )
            if created:
                log.info("scheduled drill of %s/%s started as job %s", tenant, plan, job.id)
        except DomainError as refused:
            if getattr(refused, "status", 409) == 404:
                continue  # the plan was deleted meanwhile
            job = await asyncio.to_thread(
                record_refused_drill, tenant, plan, list(refused.errors), now
            )
            cause = refused.errors[0].cause
            log.warning(
                "scheduled drill of %s/%s refused (job %s): %s", tenant, plan, job.id, cause
            )
