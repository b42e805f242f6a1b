"""An auto-failover decision: from an alert to a plan's failover, or to standing down.

The job id is the instance id; the job (AutoFailoverDecision, started by `alert`) carries the
evidence of every look. The decision looks at the facts, and the domain's `decide` says what
next: wait (until time could change the answer, or a new signal nudges it), ask a person and
wait for the answer or the timeout, fail the plan over, notify, record a dry run, or stop
because a safeguard held. Every look reads the facts again, so an alert resolved, an agent
heard again or an approval given meanwhile is weighed before anything is done.

    Safeguards ─(wait | approval)*─▶ fail over plan P | notify | dry run | stand down
"""

from __future__ import annotations

from collections.abc import Generator
from datetime import UTC, datetime
from typing import Any

import azure.durable_functions as df
from azure.durable_functions.models.Task import TaskBase

from activities.autofailover import (
    Concluded,
    ConcludeInput,
    EvaluateInput,
    PlanFailoverInput,
    conclude_decision,
    evaluate_decision,
    fail_over_plan,
)
from application.autofailover import Evaluated
from application.orchestrations import (
    APPROVAL_EVENT,
    SIGNAL_EVENT,
    ApprovalAnswer,
    DecisionInput,
)
from contracts.errors import ErrorDetail
from domain.autofailover import ApprovalState, FailoverAsked, Next
from domain.jobs import APPROVAL_STEP
from orchestrators.retries import STORAGE, TASK_HUB
from orchestrators.steps import JobSteps, call

bp = df.Blueprint()
SAFEGUARDS = "Safeguards"


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


class Waits:
    """The decision's waits for external events, kept across looks: a wait that did not win a
    `task_any` stays the one that receives the next event of its name."""

    def __init__(self, context: df.DurableOrchestrationContext) -> None:
        self.context = context
        self.signal = context.wait_for_external_event(SIGNAL_EVENT)
        self.answer: TaskBase | None = None

    def until(self, moment: datetime, *, answer: bool = False) -> Generator[Any, Any, str]:
        """Wait for a signal (or a person's answer) until `moment`; which came first."""
        timer = self.context.create_timer(_utc(moment))
        waits = [self.signal, timer]
        if answer:
            self.answer = self.answer or self.context.wait_for_external_event(APPROVAL_EVENT)
            waits.append(self.answer)
        winner = yield self.context.task_any(waits)
        if winner is not timer:
            timer.cancel()
        if winner is self.signal:
            self.signal = self.context.wait_for_external_event(SIGNAL_EVENT)
            return SIGNAL_EVENT
        if winner is timer:
            return "timeout"
        return APPROVAL_EVENT


@bp.orchestration_trigger(context_name="context")
def decide_auto_failover(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict]:
    decision = DecisionInput.model_validate(context.get_input())
    considered: list[str] = []
    try:
        ended = yield from decide(context, decision, considered)
    except Exception as error:  # a step failed after its retries
        failure = ErrorDetail(
            code="DecisionFailed",
            cause=f"A step of the decision failed after its retries: {error}",
            recommendation="Nothing was failed over by this decision. Check /api/health and "
            "the host log; the rule's next alert starts a new decision.",
        )
        end = ConcludeInput(
            tenant=decision.tenant,
            rule=decision.rule,
            job_id=decision.job_id,
            considered=considered,
            failure=failure,
        )
        ended = yield from call(context, conclude_decision, end, Concluded, retry=STORAGE)
    return ended.out()


def decide(
    context: df.DurableOrchestrationContext, decision: DecisionInput, considered: list[str]
) -> Generator[Any, Any, Concluded]:
    """The story of one decision; its steps are the job's steps."""
    steps = JobSteps(context, tenant=decision.tenant, job_id=decision.job_id)
    waits = Waits(context)
    approval, asking = ApprovalState(), False
    yield steps.begin(SAFEGUARDS)
    while True:
        look = EvaluateInput(
            tenant=decision.tenant, rule=decision.rule, job_id=decision.job_id, approval=approval
        )
        evaluated = yield from call(context, evaluate_decision, look, Evaluated, retry=STORAGE)
        considered[:] = evaluated.considered
        verdict = evaluated.verdict
        if verdict.next is Next.WAIT:
            assert verdict.wake_at is not None
            yield from waits.until(verdict.wake_at)
            continue
        if verdict.next is Next.APPROVAL:
            assert verdict.wake_at is not None
            if approval.asked_at is None:
                approval = ApprovalState(asked_at=_utc(context.current_utc_datetime))
                continue  # look again: the evidence then says approval is asked, until when
            if not asking:  # open to answers only once the evidence says what is asked
                yield steps.begin(APPROVAL_STEP)
                asking = True
            came = yield from waits.until(verdict.wake_at, answer=True)
            if came == APPROVAL_EVENT:
                assert waits.answer is not None
                answer = ApprovalAnswer.model_validate(waits.answer.result)
                approval = approval.model_copy(
                    update={"approved": answer.approved, "by": answer.by}
                )
                yield steps.finish(APPROVAL_STEP)
            elif came == "timeout":
                approval = approval.model_copy(update={"timed_out": True})
                yield steps.finish(APPROVAL_STEP)
            continue  # a signal: look again (an alert resolved meanwhile cancels)
        break
    if verdict.next is not Next.STOP:  # a stop cancels the job, and this step with it
        yield steps.finish(SAFEGUARDS)

    asked = None
    if verdict.next is Next.FAIL_OVER and evaluated.plan:
        ask = PlanFailoverInput(
            tenant=decision.tenant,
            job_id=decision.job_id,
            plan=evaluated.plan,
            recovery_point=evaluated.recovery_point,
        )
        name = f"Fail over plan {evaluated.plan}"
        yield steps.begin(name)
        asked = yield from call(context, fail_over_plan, ask, FailoverAsked, retry=TASK_HUB)
        yield steps.finish(name, [ErrorDetail.of_info(e) for e in asked.errors])
    end = ConcludeInput(
        tenant=decision.tenant,
        rule=decision.rule,
        job_id=decision.job_id,
        verdict=verdict,
        considered=considered,
        asked=asked,
    )
    return (yield from call(context, conclude_decision, end, Concluded, retry=STORAGE))
