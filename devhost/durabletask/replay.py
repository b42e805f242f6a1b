"""The pure pieces of an orchestrator episode: the call through the SDK's out-of-process
protocol (schema V2), which history events the SDK reads, how its actions flatten into task
ids, and the engine's fresh per-execution bookkeeping. No I/O, no clock."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator

from devhost.durabletask.history import Action, Event
from devhost.durabletask.store import Instance

OUT_OF_PROC = "$OutOfProcData$:"
# History events the SDK's replay acts on. It parses every event it is given (timestamps with
# dateutil, the bulk of a replay's cost) but skips TaskScheduled, TimerCreated and
# SubOrchestrationInstanceCreated: the full history is kept and served, the SDK gets the rest.
REPLAYED = frozenset(
    {Event.EXECUTION_STARTED, Event.ORCHESTRATOR_STARTED, Event.TASK_COMPLETED, Event.TASK_FAILED,
     Event.SUB_ORCHESTRATION_COMPLETED, Event.SUB_ORCHESTRATION_FAILED, Event.TIMER_FIRED,
     Event.EVENT_RAISED}
)  # fmt: skip


def call_orchestrator(
    orchestrator: Callable[[str], str],
    instance: Instance,
    new_events: list[dict],
    parent: dict | None,
) -> tuple[dict, str | None]:
    """Run one episode; return the OrchestratorState and the failure, if the code raised.

    The SDK raises a user exception with its state JSON after a marker instead of returning
    it; that state can still carry the actions and custom status up to the failure.
    """
    context = {
        # The SDK reads only the events of REPLAYED; the others it parses and skips.
        "history": [*(e for e in instance.history if e["EventType"] in REPLAYED), *new_events],
        "input": instance.input,
        "instanceId": instance.id,
        "isReplaying": bool(instance.history),
        "parentInstanceId": (parent or {}).get("instance"),
        "upperSchemaVersion": 1,
    }
    try:
        return json.loads(orchestrator(json.dumps(context))), None
    except Exception as exc:
        text = str(exc)
        if OUT_OF_PROC in text:
            message, _, payload = text.partition("\n\n" + OUT_OF_PROC)
            result = json.loads(payload)
            return result, result.get("error") or message
        return {"isDone": False, "actions": [[]]}, f"{type(exc).__name__}: {exc}"


def fresh_state(parent: dict | None) -> dict:
    """The engine's bookkeeping of one execution: `seen` actions (kind, name, id) in order,
    the task id `counter`, retry `roots` and which root `owner`s each hidden id, the parent
    (instance and task id) of a sub-orchestration, and the execution id."""
    return {"seen": [], "counter": 0, "roots": {}, "owner": {}, "parent": parent,
            "execution": uuid.uuid4().hex}  # fmt: skip


class NonDeterminism(Exception):
    """The orchestrator did not replay the calls its history recorded."""


def leaves(actions: list[dict]) -> Iterator[dict]:
    """Actions that take a task id, in the order the SDK numbers them."""
    for action in actions:
        kind = action.get("actionType")
        if kind in (Action.WHEN_ALL, Action.WHEN_ANY):
            yield from leaves(action.get("compoundActions") or [])
        elif kind in (Action.WAIT_FOR_EXTERNAL_EVENT, Action.CONTINUE_AS_NEW):
            continue
        else:
            yield action
