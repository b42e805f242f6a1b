"""Activities of an auto-failover decision: look at the facts, ask for the plan's failover,
conclude. What each does is `application.autofailover`'s; these only cross the task hub."""

from __future__ import annotations

import azure.durable_functions as df
from pydantic import Field

from activities.seams import Seam
from application import autofailover
from contracts.errors import ErrorDetail
from domain.autofailover import ApprovalState, FailoverAsked, Verdict

bp = df.Blueprint()


class EvaluateInput(Seam):
    tenant: str
    rule: str
    job_id: str
    approval: ApprovalState = Field(default_factory=ApprovalState)


@bp.activity_trigger(input_name="payload")
def evaluate_decision(payload: dict) -> dict:
    """The decision's facts as of now, judged; the evidence is kept on its job."""
    look = EvaluateInput.model_validate(payload)
    evaluated = autofailover.evaluate(look.tenant, look.rule, look.job_id, look.approval)
    return evaluated.model_dump(mode="json")


class PlanFailoverInput(Seam):
    tenant: str
    job_id: str
    plan: str
    recovery_point: str = "latest"


@bp.activity_trigger(input_name="payload")
@bp.durable_client_input(client_name="client")
async def fail_over_plan(payload: dict, client: df.DurableOrchestrationClient) -> dict:
    """Ask for the plan's unplanned failover (once per plan at a time); what came back."""
    ask = PlanFailoverInput.model_validate(payload)
    asked = await autofailover.ask_plan_failover(
        client, ask.tenant, ask.job_id, ask.plan, ask.recovery_point
    )
    return asked.model_dump(mode="json")


class ConcludeInput(Seam):
    tenant: str
    rule: str
    job_id: str
    verdict: Verdict | None = None
    considered: list[str] = Field(default_factory=list)
    asked: FailoverAsked | None = None
    failure: ErrorDetail | None = None


class Concluded(Seam):
    follow_up: str | None = None  # the next decision, started for signals that came meanwhile


@bp.activity_trigger(input_name="payload")
@bp.durable_client_input(client_name="client")
async def conclude_decision(payload: dict, client: df.DurableOrchestrationClient) -> dict:
    end = ConcludeInput.model_validate(payload)
    follow_up = await autofailover.conclude(
        client,
        end.tenant,
        end.rule,
        end.job_id,
        verdict=end.verdict,
        considered=end.considered,
        asked=end.asked,
        failure=end.failure.info() if end.failure else None,
    )
    return Concluded(follow_up=follow_up).out()
