"""The task hub's engine: episodes of orchestrators, activity workers, timers, the client API.

An episode hands the SDK the instance's history plus the new events (every due completion that
takes no id of its own, or else one event) and gets back the list of every action since the
start. Actions the host has not seen yet are scheduled, with the ids the
SDK gives them (it counts tasks in the order they are scheduled, and a retry takes two hidden
ids: one for its back-off timer, one for the re-run). Actions it has seen must match what was
scheduled at that position, or the orchestrator is not deterministic and the instance fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from azure.functions.durable_functions import ActivityTriggerConverter

from devhost import invocation_log, sdk_session
from devhost.durabletask.catalog import FunctionCatalog, UnknownFunction
from devhost.durabletask.history import Action, Event, event, now, parse_time, stamp
from devhost.durabletask.metrics import StepMetrics
from devhost.durabletask.replay import NonDeterminism, call_orchestrator, fresh_state, leaves
from devhost.durabletask.store import Instance, Store

log = logging.getLogger("devhost.durable")
MAX_BATCH = 256
ACTIVITY_RESULTS = (Event.TASK_COMPLETED, Event.TASK_FAILED)
UNSUPPORTED = {Action.CALL_ENTITY, Action.CALL_HTTP, Action.SIGNAL_ENTITY}


class InstanceExists(Exception):
    """start_new for an instance id that is still running."""


class DurableEngine:
    def __init__(
        self,
        functions: list,
        *,
        db_path: Path,
        hub_name: str = "DrControlPlane",
        activity_concurrency: int = 16,
        base_url: str = "http://127.0.0.1:7071",
        system_key: str | None = None,
        admin_key: str | None = None,
    ) -> None:
        self.catalog = FunctionCatalog(functions)
        self.store = Store(db_path)
        self.hub_name = hub_name
        self.base_url = base_url
        self.rpc_token = uuid.uuid4().hex
        # The durabletask_extension system key: it is in every status URL the client hands
        # out, so it must outlive a restart for those URLs to keep working (DevHost derives it
        # from the master key). The admin (master) key is accepted as well, as in Azure.
        self.system_key = system_key or uuid.uuid4().hex
        self.admin_key = admin_key
        self.activity_slots = asyncio.Semaphore(activity_concurrency)
        self.pool = ThreadPoolExecutor(max_workers=activity_concurrency, thread_name_prefix="act")
        self._kick: asyncio.Event | None = None
        self._pump_task: asyncio.Task | None = None
        self._cache: dict[str, Instance] = {}
        self._tasks: set[asyncio.Task] = set()
        self._waiters: dict[str, list[asyncio.Future]] = {}
        self._on_commit: list[Callable[[], None]] = []
        self._host_failures: dict[str, int] = {}
        self._completions: list[tuple[str, int, dict, float]] = []
        self.user_time = 0.0  # seconds inside activity functions (for the benchmark)
        self.orchestrator_time = 0.0  # seconds inside the SDK's replay of orchestrators
        self.metrics: StepMetrics | None = None  # set by bench/devhost.py

    # --- lifecycle --------------------------------------------------------------------------

    @property
    def rpc_base_url(self) -> str:
        return f"{self.base_url}/_durable/{self.rpc_token}/"

    def client_binding(self) -> str:
        """What the Functions host passes to a `durableClient` binding, as JSON text."""
        base = f"{self.base_url}/runtime/webhooks/durabletask"
        query = f"taskHub={self.hub_name}&connection=Storage&code={self.system_key}"
        instance = f"{base}/instances/INSTANCEID"
        return json.dumps(
            {
                "taskHubName": self.hub_name,
                "creationUrls": {
                    "createNewInstancePostUri": f"{base}/orchestrators/{{functionName}}"
                    f"[/{{instanceId}}]?code={self.system_key}",
                    "createAndWaitOnNewInstancePostUri": f"{base}/orchestrators/{{functionName}}"
                    f"[/{{instanceId}}]?timeout={{timeoutInSeconds}}&pollingInterval="
                    f"{{intervalInSeconds}}&code={self.system_key}",
                },
                "managementUrls": {
                    "id": "INSTANCEID",
                    "statusQueryGetUri": f"{instance}?{query}",
                    "sendEventPostUri": f"{instance}/raiseEvent/{{eventName}}?{query}",
                    "terminatePostUri": f"{instance}/terminate?reason={{text}}&{query}",
                    "rewindPostUri": f"{instance}/rewind?reason={{text}}&{query}",
                    "purgeHistoryDeleteUri": f"{instance}?{query}",
                    "restartPostUri": f"{instance}/restart?{query}",
                    "suspendPostUri": f"{instance}/suspend?reason={{text}}&{query}",
                    "resumePostUri": f"{instance}/resume?reason={{text}}&{query}",
                },
                "rpcBaseUrl": self.rpc_base_url,
                "requiredQueryStringParameters": f"code={self.system_key}",
                "httpBaseUrl": base,
                "maxGrpcMessageSizeInBytes": 0,
                "grpcHttpClientTimeout": "00:01:40",
            }
        )

    def add_routes(self, app: Any) -> None:
        from devhost.durabletask.api import add_routes

        add_routes(app, self)

    async def start(self) -> None:
        """Resume every unfinished instance and re-run activities that were in flight."""
        sdk_session.adopt()  # client-using functions run on this loop from now on
        self._kick = asyncio.Event()
        for instance_id, task_id, name, input_ in self.store.pending_work():
            self._dispatch(instance_id, task_id, name, input_)
        self._pump_task = asyncio.create_task(self._pump())

    async def stop(self) -> None:
        if self._pump_task:
            self._pump_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump_task
        for task in list(self._tasks):
            task.cancel()
        self.pool.shutdown(wait=False, cancel_futures=True)
        self._flush_completions()  # results already in hand are kept
        await sdk_session.release()
        self.store.close()

    def _wake(self) -> None:
        if self._kick is not None:
            self._kick.set()

    # --- client operations -------------------------------------------------------------------

    def start_new(self, name: str, instance_id: str | None, input_text: str | None) -> str:
        if name not in self.catalog.orchestrators:
            raise UnknownFunction(f"The function '{name}' doesn't exist, is disabled, or is not "
                                  "an orchestrator function.")  # fmt: skip
        instance_id = instance_id or uuid.uuid4().hex
        if self._is_running(instance_id):
            raise InstanceExists(f"An instance with ID '{instance_id}' already exists and is "
                                 "running.")  # fmt: skip
        self._create(name, instance_id, input_text, parent=None)
        self._wake()
        return instance_id

    def _create(
        self, name: str, instance_id: str, input_text: str | None, parent: dict | None
    ) -> None:
        with self._transaction(instance_id):
            self._put_new(name, instance_id, input_text, parent)

    def _put_new(
        self, name: str, instance_id: str, input_text: str | None, parent: dict | None
    ) -> None:
        """Inside a transaction: a fresh Pending instance (replacing any old one) and its
        ExecutionStarted event."""
        created = stamp()
        instance = Instance(
            id=instance_id, name=name, status="Pending", input=input_text,
            created=created, updated=created, state=fresh_state(parent),
        )  # fmt: skip
        self._cache.pop(instance_id, None)
        self.store.purge(instance_id)
        self.store.save(instance, [], 0)
        self.store.enqueue(instance_id, self._execution_started(instance), 0)

    def _execution_started(self, instance: Instance) -> dict:
        parent = instance.state.get("parent")
        return event(
            Event.EXECUTION_STARTED,
            Name=instance.name,
            Version="",
            Input=instance.input,
            OrchestrationInstance={
                "InstanceId": instance.id,
                "ExecutionId": instance.state["execution"],
            },
            ParentInstance=(
                {"OrchestrationInstance": {"InstanceId": parent["instance"]}} if parent else None
            ),
        )

    def raise_event(self, instance_id: str, name: str, data_text: str | None) -> bool:
        instance = self.store.load(instance_id, with_history=False)
        if instance is None:
            return False
        if instance.running:
            self.store.enqueue(
                instance_id, event(Event.EVENT_RAISED, Name=name, Input=data_text), 0
            )
            self._wake()
        return True

    def terminate(self, instance_id: str, reason: str) -> str:
        """'missing', 'finished' or 'terminated'."""
        instance = self._load(instance_id)
        if instance is None:
            return "missing"
        if not instance.running:
            return "finished"
        with self._transaction(instance_id):
            self.store.clear_instance_queues(instance_id)
            self._finish(instance, "Terminated", json.dumps(reason), [], reason)
        self._cache.pop(instance_id, None)
        self._notify(instance_id)
        return "terminated"

    def purge(self, instance_id: str) -> int:
        self._cache.pop(instance_id, None)
        with self._transaction(instance_id):
            return self.store.purge(instance_id)

    def status(self, instance_id: str, *, history: bool = False) -> Instance | None:
        return self.store.load(instance_id, with_history=history)

    async def wait_finished(self, instance_id: str, timeout: float) -> Instance | None:
        """For tests and `wait_for_completion`: the instance once it is no longer running."""
        deadline = time.monotonic() + timeout
        while True:
            instance = self.store.load(instance_id, with_history=False)
            if instance is not None and not instance.running:
                return instance
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return instance
            future = asyncio.get_running_loop().create_future()
            waiters = self._waiters.setdefault(instance_id, [])
            waiters.append(future)
            try:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(future, min(remaining, 1.0))
            finally:  # a waiter that timed out must not stay behind (memory)
                if future in waiters:
                    waiters.remove(future)
                if not waiters and self._waiters.get(instance_id) is waiters:
                    del self._waiters[instance_id]

    def _notify(self, instance_id: str) -> None:
        for future in self._waiters.pop(instance_id, []):
            if not future.done():
                future.set_result(None)

    # --- the pump ------------------------------------------------------------------------------

    async def _pump(self) -> None:
        assert self._kick is not None
        while True:
            self._kick.clear()
            due = self.store.due_instances(time.time())
            for instance_id in due:
                try:
                    self._episode(instance_id)
                    self._host_failures.pop(instance_id, None)
                except Exception as error:
                    log.exception("episode of %s failed in the host", instance_id)
                    self._on_host_failure(instance_id, error)
                await asyncio.sleep(0)  # let HTTP and activities in between episodes
            if due:
                continue
            wake = self.store.next_wakeup()
            timeout = None if wake is None else max(0.0, wake - time.time())
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._kick.wait(), timeout)

    def _on_host_failure(self, instance_id: str, error: Exception) -> None:
        """An episode the host itself cannot run (not the orchestrator's fault) is retried; the
        third failure in a row fails the instance with the reason instead of spinning."""
        count = self._host_failures[instance_id] = self._host_failures.get(instance_id, 0) + 1
        if count < 3:
            return
        self._host_failures.pop(instance_id, None)
        instance = self._load(instance_id)
        if instance is None or not instance.running:
            return
        reason = (f"devhost could not run an episode of this instance three times "
                  f"({type(error).__name__}: {error}); see the host log.")  # fmt: skip
        with contextlib.suppress(Exception), self._transaction(instance_id):
            self.store.clear_instance_queues(instance_id)
            self._finish(instance, "Failed", json.dumps(reason), [], reason)
        self._cache.pop(instance_id, None)
        self._notify(instance_id)

    def _load(self, instance_id: str) -> Instance | None:
        instance = self._cache.get(instance_id)
        if instance is None:
            instance = self.store.load(instance_id)
            if instance is not None and instance.running:
                self._cache[instance_id] = instance
        return instance

    def _episode(self, instance_id: str) -> None:
        """Deliver the due events of one instance and commit everything that follows from them.

        Completions that take no task id of their own are delivered together, as many as are
        due (the Durable Task Framework does the same); an event that makes the SDK take a
        hidden id (a retried task's failure or its back-off timer) goes alone, so the host
        numbers those ids exactly as the SDK does, and so does every other kind.
        """
        due = self.store.due_events(instance_id, time.time(), MAX_BATCH)
        if not due:
            return
        instance = self._load(instance_id)
        if instance is None or not instance.running:
            with self._transaction(instance_id):
                self.store.consume(*(i for i, _ in due))  # stale events of a finished instance
            return
        batch = due[:1]
        if self._batchable(instance, due[0][1]):
            batch = list(itertools.takewhile(lambda d: self._batchable(instance, d[1]), due))
        begun = time.perf_counter()
        with self._transaction(instance_id):
            self.store.consume(*(i for i, _ in batch))
            self._run(instance, [e for _, e in batch])
        if self.metrics is not None:
            steps = [e["TaskScheduledId"] for _, e in batch if e["EventType"] in ACTIVITY_RESULTS]
            self.metrics.episode_done(instance_id, steps, time.perf_counter() - begun, begun)
        if not instance.running:
            self._cache.pop(instance_id, None)
            self._notify(instance_id)

    @staticmethod
    def _batchable(instance: Instance, new_event: dict) -> bool:
        kind = new_event["EventType"]
        # Raised events go alone: one the orchestrator does not wait for yet must stay in the
        # inbox, so continue_as_new can carry it over to the next execution.
        if kind in (Event.TASK_COMPLETED, Event.SUB_ORCHESTRATION_COMPLETED):
            return True
        if kind in (Event.TASK_FAILED, Event.SUB_ORCHESTRATION_FAILED):
            return str(new_event["TaskScheduledId"]) not in instance.state["owner"]
        return False

    def _run(self, instance: Instance, new_events: list[dict]) -> None:
        state = instance.state
        first = new_events[0]
        kind = first["EventType"]
        if kind == Event.TASK_FAILED and str(first["TaskScheduledId"]) in state["owner"]:
            self._retry_failed(instance, first)
        elif kind == Event.TIMER_FIRED and str(first["TimerId"]) in state["owner"]:
            self._retry_timer_fired(instance, first)
        if kind == Event.EXECUTION_STARTED:
            instance.status = "Running"

        started = event(Event.ORCHESTRATOR_STARTED)
        orchestrator = self.catalog.orchestrators.get(instance.name)
        begun = time.perf_counter()
        if orchestrator is None:  # registered when it started, gone after a restart
            result: dict = {"isDone": False, "actions": [[]]}
            error: str | None = f"orchestrator '{instance.name}' is not registered in this app"
        else:
            result, error = call_orchestrator(
                orchestrator, instance, [started, *new_events], state.get("parent")
            )
        self.orchestrator_time += time.perf_counter() - begun
        invocation_log.record(
            instance.name, "orchestrationTrigger", instance=instance.id,
            seconds=time.perf_counter() - begun,
            outcome="failed" if error else ("completed" if result.get("isDone") else "awaiting"),
            event=Event(kind).name, events=len(new_events),
        )  # fmt: skip

        appended = [{**started, "IsPlayed": True}, *({**e, "IsPlayed": True} for e in new_events)]
        instance.updated = stamp()
        if "customStatus" in result:
            instance.custom_status = json.dumps(result["customStatus"])

        actions = (result.get("actions") or [[]])[0] or []
        if error is None:
            try:
                appended += self._schedule(instance, actions)
            except NonDeterminism as problem:
                error = str(problem)
        continue_as_new = next(
            (a for a in actions if a.get("actionType") == Action.CONTINUE_AS_NEW), None
        )
        if error is not None:
            self._finish(instance, "Failed", json.dumps(error), appended, error)
        elif continue_as_new is not None:
            self._continue_as_new(instance, continue_as_new.get("input"))
        elif result.get("isDone"):
            self._finish(instance, "Completed", json.dumps(result.get("output")), appended)
        else:
            self._append(instance, appended)

    def _append(self, instance: Instance, appended: list[dict]) -> None:
        first_seq = len(instance.history)
        instance.history.extend(appended)
        self.store.save(instance, appended, first_seq)

    # --- scheduling ------------------------------------------------------------------------

    def _schedule(self, instance: Instance, actions: list[dict]) -> list[dict]:
        """Schedule actions not seen before; check the seen ones still match."""
        state = instance.state
        seen: list[dict] = state["seen"]
        flat = list(leaves(actions))
        appended: list[dict] = []
        for position, action in enumerate(flat):
            kind = Action(action["actionType"])
            name = action.get("functionName") or ""
            if position < len(seen):
                recorded = seen[position]
                if recorded["t"] != kind or recorded["n"] != name:
                    raise NonDeterminism(
                        f"Non-deterministic orchestrator: action #{position} is now "
                        f"{kind.name} '{name}', but history says "
                        f"{Action(recorded['t']).name} '{recorded['n']}' was scheduled there. "
                        "Orchestrators must make the same calls in the same order on replay."
                    )
                if kind == Action.CREATE_TIMER and action.get("isCanceled"):
                    self.store.drop_timer(instance.id, recorded["id"])
                continue
            if kind in UNSUPPORTED:
                raise NonDeterminism(f"devhost does not support {kind.name} actions")
            task_id = state["counter"]
            state["counter"] += 1
            seen.append({"t": int(kind), "n": name, "id": task_id})
            appended.append(self._schedule_one(instance, kind, action, task_id))
        return appended

    def _schedule_one(self, instance: Instance, kind: Action, action: dict, task_id: int) -> dict:
        state = instance.state
        if kind in (Action.CALL_ACTIVITY, Action.CALL_ACTIVITY_WITH_RETRY):
            name = action["functionName"]
            self.store.add_work(instance.id, task_id, name, action.get("input"))
            self._after_commit(
                lambda: self._dispatch(instance.id, task_id, name, action.get("input"))
            )
            if kind == Action.CALL_ACTIVITY_WITH_RETRY:
                self._new_root(state, task_id, action)
            return event(Event.TASK_SCHEDULED, task_id, Name=name, Input=action.get("input"))
        if kind == Action.CREATE_TIMER:
            fire_at = parse_time(action["fireAt"])
            if not action.get("isCanceled"):
                self.store.enqueue(
                    instance.id,
                    event(Event.TIMER_FIRED, TimerId=task_id, FireAt=stamp(fire_at)),
                    fire_at.timestamp(),
                )
            return event(Event.TIMER_CREATED, task_id, FireAt=stamp(fire_at))
        if kind in (Action.CALL_SUB_ORCHESTRATOR, Action.CALL_SUB_ORCHESTRATOR_WITH_RETRY):
            child = action.get("instanceId") or f"{instance.id}:{task_id}"
            self._start_child(instance, action, task_id, child)
            if kind == Action.CALL_SUB_ORCHESTRATOR_WITH_RETRY:
                self._new_root(state, task_id, action)
            return event(
                Event.SUB_ORCHESTRATION_CREATED, task_id, Name=action["functionName"],
                InstanceId=child, Input=action.get("input"),
            )  # fmt: skip
        raise NonDeterminism(f"devhost does not support {kind.name} actions")

    def _start_child(self, instance: Instance, action: dict, task_id: int, child: str) -> None:
        name = action["functionName"]
        refusal = None
        if name not in self.catalog.orchestrators:
            refusal = f"orchestrator '{name}' is not registered"
        elif child == instance.id or self._is_running(child):
            refusal = (f"an instance with ID '{child}' already exists and is running; give the "
                       "sub-orchestration an instance id of its own")  # fmt: skip
        if refusal is not None:
            self.store.enqueue(
                instance.id,
                event(Event.SUB_ORCHESTRATION_FAILED, TaskScheduledId=task_id, Reason=refusal,
                      Details=""),
                0,
            )  # fmt: skip
            return
        self._put_new(name, child, action.get("input"), {"instance": instance.id, "task": task_id})

    def _is_running(self, instance_id: str) -> bool:
        existing = self.store.load(instance_id, with_history=False)
        return existing is not None and existing.running

    # --- retries -------------------------------------------------------------------------

    def _new_root(self, state: dict, task_id: int, action: dict) -> None:
        options = action.get("retryOptions") or {}
        state["roots"][str(task_id)] = {
            "attempts": 1,
            "max": int(options.get("maxNumberOfAttempts", 1)),
            "delay_ms": int(options.get("firstRetryIntervalInMilliseconds", 1000)),
            "action": action,
        }
        state["owner"][str(task_id)] = str(task_id)

    def _retry_failed(self, instance: Instance, failed: dict) -> None:
        """The SDK takes the next id for the back-off timer of a failed retryable task."""
        state = instance.state
        root_id = state["owner"][str(failed["TaskScheduledId"])]
        root = state["roots"][root_id]
        timer_id = state["counter"]
        state["counter"] += 1
        state["owner"][str(timer_id)] = root_id
        fire_at = now().timestamp() + root["delay_ms"] / 1000
        self.store.enqueue(
            instance.id,
            event(Event.TIMER_FIRED, TimerId=timer_id, FireAt=stamp()),
            fire_at,
        )

    def _retry_timer_fired(self, instance: Instance, fired: dict) -> None:
        """After the back-off the SDK takes one more id for the re-run, unless attempts are
        used up (then it fails the task, and there is nothing to run)."""
        state = instance.state
        root_id = state["owner"][str(fired["TimerId"])]
        root = state["roots"][root_id]
        if root["attempts"] >= root["max"]:
            return
        root["attempts"] += 1
        rerun_id = state["counter"]
        state["counter"] += 1
        state["owner"][str(rerun_id)] = root_id
        action = root["action"]
        if action["actionType"] == Action.CALL_ACTIVITY_WITH_RETRY:
            name = action["functionName"]
            self.store.add_work(instance.id, rerun_id, name, action.get("input"))
            self._after_commit(
                lambda: self._dispatch(instance.id, rerun_id, name, action.get("input"))
            )
        else:
            self._start_child(instance, action, rerun_id, f"{instance.id}:{rerun_id}")

    # --- endings -------------------------------------------------------------------------

    def _finish(
        self,
        instance: Instance,
        status: str,
        output: str,
        appended: list[dict],
        failed_reason: str | None = None,
    ) -> None:
        instance.status = status
        instance.output = output
        instance.updated = stamp()
        done = event(Event.EXECUTION_COMPLETED, OrchestrationStatus=status, Result=output)
        self._append(instance, [*appended, done])
        parent = instance.state.get("parent")
        if parent:
            if status == "Completed":
                reply = event(
                    Event.SUB_ORCHESTRATION_COMPLETED, TaskScheduledId=parent["task"], Result=output
                )
            else:
                reply = event(
                    Event.SUB_ORCHESTRATION_FAILED, TaskScheduledId=parent["task"],
                    Reason=failed_reason or status, Details=output,
                )  # fmt: skip
            self.store.enqueue(parent["instance"], reply, 0)
            self._after_commit(self._wake)
        # Pending timers and work of a finished instance are stale now.
        self.store.clear_instance_queues(instance.id)

    def _continue_as_new(self, instance: Instance, new_input: str | None) -> None:
        """A fresh execution with the new input; raised events not yet consumed carry over."""
        raised = [e for e in self.store.inbox(instance.id) if e["EventType"] == Event.EVENT_RAISED]
        self.store.clear_instance_queues(instance.id)
        self.store.reset_history(instance.id)
        instance.history = []
        instance.input = new_input
        instance.status = "Running"
        instance.updated = stamp()
        instance.state = fresh_state(instance.state.get("parent"))
        self.store.save(instance, [], 0)
        self.store.enqueue(instance.id, self._execution_started(instance), 0)
        for e in raised:
            self.store.enqueue(instance.id, e, 0)

    # --- activities ------------------------------------------------------------------------

    def _after_commit(self, action: Callable[[], None]) -> None:
        """Run `action` once the current transaction commits (never if it rolls back)."""
        self._on_commit.append(action)

    @contextlib.contextmanager
    def _transaction(self, instance_id: str | None = None) -> Iterator[None]:
        """One SQLite transaction; on failure the cached instance is dropped, so the next
        episode reloads what was committed, and after-commit actions are discarded."""
        self.store.begin()
        try:
            yield
            self.store.commit()
        except BaseException:
            self.store.rollback()
            self._on_commit.clear()
            if instance_id is not None:
                self._cache.pop(instance_id, None)
            raise
        actions, self._on_commit = self._on_commit, []
        if actions:
            loop = asyncio.get_running_loop()
            for action in actions:
                loop.call_soon(action)

    def _dispatch(self, instance_id: str, task_id: int, name: str, input_text: str | None) -> None:
        task = asyncio.get_running_loop().create_task(
            self._run_activity(instance_id, task_id, name, input_text)
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run_activity(
        self, instance_id: str, task_id: int, name: str, input_text: str | None
    ) -> None:
        async with self.activity_slots:
            begun = time.perf_counter()
            user = [0.0]
            host = 0.0  # the host's own synchronous work on this step, for the metrics
            try:
                fn, kwargs = self.catalog.prepare_activity(name, input_text, self.client_binding)
                host += time.perf_counter() - begun
                result = await self.catalog.invoke_activity(fn, kwargs, user, self.pool)
                resumed = time.perf_counter()
                result_text = ActivityTriggerConverter.encode(result, expected_type=None).value
                outcome = event(Event.TASK_COMPLETED, TaskScheduledId=task_id, Result=result_text)
                label = "succeeded"
            except Exception as exc:
                resumed = time.perf_counter()
                log.warning("activity %s of %s failed: %s", name, instance_id, exc)
                outcome = event(
                    Event.TASK_FAILED, TaskScheduledId=task_id,
                    Reason=f"{type(exc).__name__}: {exc}", Details=repr(exc),
                )  # fmt: skip
                label = "failed"
            self.user_time += user[0]
            invocation_log.record(
                name, "activityTrigger", instance=instance_id,
                seconds=time.perf_counter() - begun, outcome=label, task=task_id,
            )  # fmt: skip
        self._completions.append(
            (instance_id, task_id, outcome, host + time.perf_counter() - resumed)
        )
        if len(self._completions) == 1:
            asyncio.get_running_loop().call_soon(self._flush_completions)

    def _flush_completions(self) -> None:
        """Commit the results of every activity that finished since the last flush, in one
        transaction. A result not yet flushed when the process dies is not lost: its work row
        is still there, and the activity runs again at start (at least once, as in Azure)."""
        batch, self._completions = self._completions, []
        if not batch:
            return
        flushed = time.perf_counter()
        try:
            with self._transaction():
                for instance_id, task_id, outcome, _ in batch:
                    # False: the instance finished or was terminated meanwhile; drop the result.
                    if self.store.finish_work(instance_id, task_id):
                        self.store.enqueue(instance_id, outcome, 0)
        except Exception:
            log.exception("could not record %d activity results; they run again", len(batch))
            return
        if self.metrics is not None:
            share = (time.perf_counter() - flushed) / len(batch)
            for instance_id, task_id, _, host in batch:
                self.metrics.activity_done(instance_id, task_id, host + share, flushed)
        self._wake()
