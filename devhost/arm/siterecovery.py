"""Microsoft.RecoveryServices Site Recovery as the `asr` provider calls it: the
`vaults/{vault}/replication*` subset for Hyper-V sites (VMM) replicating to Azure.

Shaped from the Site Recovery REST spec's 2025-08-01 examples (`ReplicationFabrics_Get`,
`ReplicationProtectionContainers_Get`, `ReplicationProtectableItems_Get`,
`ReplicationPolicies_Create`, `ReplicationProtectionContainerMappings_Create`,
`ReplicationProtectedItems_Create|Get|PlannedFailover|FailoverCommit|ApplyRecoveryPoint|
Reprotect`,
`RecoveryPoints_Get`, `ReplicationJobs_Get|Resume|Cancel`) and the status codes the SDK's
operations accept (`azure-mgmt-recoveryservicessiterecovery` 2.0.0).

What the VMM side of ASR does (the provider on the VMM server registering the fabric, its
clouds and their VMs) has no ARM operation: a test or devhost registers it through the
stand-in's control endpoint (`POST /_standin/siterecovery/...`, stand-in key only, never
reached by the app). Everything else is a deterministic simulation driven by the clock:

- Every mutation (policy, mapping, enable, remove, each failover operation) is an ASR job with
  tasks; a task takes `taskSeconds`, then the job's effect applies to the item. A test can
  make the next job of a scenario fail at a task with `serviceErrorDetails`.
- After the enable job: initial replication, `initialReplicationProgressPercentage` (a string,
  as ASR sends it) growing over `initialReplicationSeconds`; then `Protected`, a recovery point
  per policy interval (app-consistent ones on the policy's frequency), `rpoInSeconds`.
- Failback runs as ASR runs it for Hyper-V to Azure: once a failover is committed, a planned
  failover RecoveryToPrimary (HyperVReplicaAzureFailback input) brings the VM back on premises
  (commit pending, activeLocation Primary); its commit leaves the item unprotected
  (UnprotectedStatesBegin) until reverse replication (`reProtect`) protects it again, its
  recovery points starting over. With ForSynchronization (the default) the failback job waits
  once the data is synchronised while the Azure VM runs: Suspended, WaitingForCompleteFailover,
  Cancel and Resume allowed, the item busy, until `POST replicationJobs/{job}/resume` (its
  remaining tasks run from then) or `.../cancel` (Cancelled: the VM stays in Azure, Failback
  allowed again).
- Health errors a test injects show in `healthErrors` with `replicationHealth`.
- Long-running operations answer 202 with `Azure-AsyncOperation`
  (`…/replicationOperationStatus/{job}`), `Location` (`…/replicationJobs/{job}/operationresults/
  {job}`: the job id, as ASR puts it there) and `Retry-After`; reProtect answers
  `Azure-AsyncOperation` and `Retry-After` only, as the spec's Reprotect example does, and so
  do a job's resume and cancel (the job's own status: a suspended job's is InProgress, a
  cancelled one's Canceled). 429 throttling can be injected.

State is rows of the shared SQLite store (the simulation's clock marks live in each body under
`_sim`, never answered), so a restart keeps vaults, items, jobs and their timing.
"""

from __future__ import annotations

import hmac
import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from devhost.arm.errors import ArmError
from devhost.arm.ids import ResourceId
from devhost.arm.resources import answer, body_object, page
from devhost.arm.server import GROUP, Call, Route, StandIn

NS = "Microsoft.RecoveryServices"
VERSIONS = ("2025-08-01",)  # what azure-mgmt-recoveryservicessiterecovery 2.0.0 sends
VAULTS = f"{NS}/vaults"
T_FABRIC = f"{VAULTS}/replicationFabrics"
T_CONTAINER = f"{T_FABRIC}/replicationProtectionContainers"
T_PROTECTABLE = f"{T_CONTAINER}/replicationProtectableItems"
T_MAPPING = f"{T_CONTAINER}/replicationProtectionContainerMappings"
T_ITEM = f"{T_CONTAINER}/replicationProtectedItems"
T_POLICY = f"{VAULTS}/replicationPolicies"
T_JOB = f"{VAULTS}/replicationJobs"
AZURE = "Microsoft Azure"
CONTROL = "/_standin/siterecovery"
SETTINGS_KEY = "_standin/siterecovery/settings"
DEFAULTS = {"taskSeconds": 1.0, "initialReplicationSeconds": 10.0}
NO_JOB_TIME = "1753-01-01T01:01:01Z"  # ASR's "no scenario" start time

# What each job does: its friendly name and tasks, as ASR names them for Hyper-V to Azure.
SCENARIOS: dict[str, tuple[str, tuple[str, ...]]] = {
    "AddProtectionProfile": ("Create replication policy", ("Create replication policy",)),
    "ConfigureProtection": (
        "Associate replication policy",
        ("Prerequisites check for policy association", "Associate replication policy"),
    ),
    "EnableDr": (
        "Enable replication",
        (
            "Prerequisites check for enabling protection",
            "Identifying the replication target",
            "Enable replication",
            "Starting initial replication",
            "Updating the provider states",
        ),
    ),
    "DisableDr": ("Disable replication", ("Disable replication", "Updating the provider states")),
    "TestFailover": (
        "Test failover",
        (
            "Prerequisites check for test failover",
            "Create test virtual machine",
            "Preparing the virtual machine",
            "Start the virtual machine",
        ),
    ),
    "TestFailoverCleanup": (
        "Cleanup test failover",
        ("Cleaning up test environment", "Updating the provider states"),
    ),
    "PlannedFailover": (
        "Planned failover",
        (
            "Prerequisites check for planned failover",
            "Shut down the virtual machine",
            "Synchronize data",
            "Start the replica virtual machine",
        ),
    ),
    "UnplannedFailover": (
        "Failover",
        (
            "Prerequisites check for failover",
            "Create the virtual machine",
            "Start the replica virtual machine",
        ),
    ),
    "CommitFailover": ("Commit", ("Commit", "Updating the provider states")),
    "ChangePit": ("Change recovery point", ("Change recovery point", "Start the virtual machine")),
    "Reprotect": (
        "Reverse replicate",
        (
            "Prerequisites check for reverse replication",
            "Reverse replicate",
            "Start the replication",
            "Updating the provider states",
        ),
    ),
}
# Failback: ASR runs it as a planned failover (scenario PlannedFailover, so `failNext` with
# that key fails it) named "Failback", its tasks per the input's dataSyncOption.
FAILBACK = "Failback"
FAILBACK_TASKS: dict[str, tuple[str, ...]] = {
    "ForSynchronization": (
        "Prerequisites check for planned failover",
        "Synchronize data while the Azure virtual machine runs",
        "Shut down the Azure virtual machine",
        "Synchronize final changes",
        "Start the on-premises virtual machine",
    ),
    "ForDownTime": (
        "Prerequisites check for planned failover",
        "Shut down the Azure virtual machine",
        "Synchronize final changes",
        "Start the on-premises virtual machine",
    ),
}
# With "synchronize data before failover" ASR copies the Azure VM's changes while it runs, then
# the job waits (Suspended) for the operator's Complete failover: POST replicationJobs/{job}/
# resume lets it go on, .../cancel leaves the VM in Azure. ForDownTime does not wait.
FAILBACK_PAUSE_AFTER = {"ForSynchronization": FAILBACK_TASKS["ForSynchronization"][1]}
WAITING_FOR_COMPLETE_FAILOVER = "WaitingForCompleteFailover"
RECOVERY_VM_CREATION_OPTIONS = ("CreateVmIfNotFound", "NoAction")
DIRECTIONS = ("PrimaryToRecovery", "RecoveryToPrimary")
ACTIONS = {  # POST item/{action} -> (scenario, protection states it may start from)
    "remove": ("DisableDr", None),
    "testFailover": ("TestFailover", {"Protected"}),
    "testFailoverCleanup": ("TestFailoverCleanup", {"Protected"}),
    "plannedFailover": ("PlannedFailover", {"Protected"}),
    "unplannedFailover": ("UnplannedFailover", {"Protected", "InitialReplicationInProgress"}),
    "failoverCommit": (
        "CommitFailover",
        {"PlannedFailoverCommitRequired", "UnplannedFailoverCommitPendingStatesBegin"},
    ),
    "applyRecoveryPoint": (
        "ChangePit",
        {"PlannedFailoverCommitRequired", "UnplannedFailoverCommitPendingStatesBegin"},
    ),
    "reProtect": ("Reprotect", {"UnprotectedStatesBegin"}),
}
# A failback (plannedFailover RecoveryToPrimary) starts from a committed failover only.
FAILBACK_FROM = {"PlannedFailoverStatesBegin"}
# Where the VM must run for an action (activeLocation); a failback's is Recovery too.
ACTIVE_LOCATION = {"applyRecoveryPoint": "Recovery", "reProtect": "Primary", "failback": "Recovery"}
# A test failover's ends, its cleanup pending (WaitingForCompletion: ASR's word, as the REST
# spec's TestFailover example answers).
_CLEANED_UP_FROM = ("WaitingForCompletion", "TestFailoverFailed")
OPERATION_NAMES = {  # allowedOperations as ASR names them, per protection state
    "EnablingProtection": [],
    "InitialReplicationInProgress": ["DisableProtection", "UnplannedFailover"],
    "Protected": ["PlannedFailover", "UnplannedFailover", "DisableProtection", "TestFailover"],
    "PlannedFailoverCommitRequired": ["Commit", "ChangePit", "DisableProtection"],
    "UnplannedFailoverCommitPendingStatesBegin": ["Commit", "ChangePit", "DisableProtection"],
    "PlannedFailoverStatesBegin": ["DisableProtection", "Failback"],  # committed
    "UnprotectedStatesBegin": ["ReProtect", "DisableProtection"],  # failback committed
}
# The same states once the VM is back on premises (activeLocation Primary): a failback whose
# commit is pending has no recovery point to change (the on-premises VM runs).
OPERATION_NAMES_FAILED_BACK = {"PlannedFailoverCommitRequired": ["Commit", "DisableProtection"]}
DESCRIPTIONS = {  # protectionStateDescription, per protection state
    "EnablingProtection": "Enabling protection",
    "InitialReplicationInProgress": "Initial replication in progress",
    "Protected": "Protected",
    "PlannedFailoverCommitRequired": "Planned failover finished",
    "UnplannedFailoverCommitPendingStatesBegin": "Failover completed",
    "PlannedFailoverStatesBegin": "Planned failover committed",
    "UnprotectedStatesBegin": "Failback committed, reverse replication pending",
}
DESCRIPTIONS_FAILED_BACK = {"PlannedFailoverCommitRequired": "Failback finished, commit pending"}


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")


def _public(body: dict) -> dict:
    return {k: v for k, v in body.items() if not k.startswith("_")}


def _invalid(field: str, value: Any, allowed: tuple[str, ...]) -> ArmError:
    """A request property with a value the operation does not take: which, and what it takes."""
    return ArmError(
        400,
        "InvalidParameter",
        f"The value '{value}' of 'properties.{field}' is not valid. Allowed values: "
        f"{', '.join(allowed)}.",
        f"properties.{field}",
    )


class SiteRecovery:
    def __init__(self, standin: StandIn) -> None:
        self.s = standin

    # ------------------------------------------------------------------ helpers

    @property
    def store(self):
        return self.s.store

    def settings(self) -> dict:
        return {**DEFAULTS, **(self.store.get(SETTINGS_KEY) or {})}

    def vault(self, call: Call) -> ResourceId:
        rid = ResourceId.build(
            call.params["subscription"], call.group, NS, ("vaults", call.params["vault"])
        )
        if self.store.get(rid.key) is None:
            raise ArmError(
                404,
                "ResourceNotFound",
                f"The Resource '{VAULTS}/{rid.name}' under resource group "
                f"'{rid.resource_group}' was not found. For more details please go to "
                "https://aka.ms/ARMResourceNotFoundFix",
            )
        self._throttle(call)
        self.advance(rid)
        return rid

    def _throttle(self, call: Call) -> None:
        with self.store.transaction():
            settings = self.settings()
            left = int(settings.get("throttle", 0))
            if left <= 0:
                return
            settings["throttle"] = left - 1
            self.store.put(SETTINGS_KEY, "-", "_standin", settings)
        wait = int(settings.get("throttleRetryAfter", 1))
        raise ArmError(
            429,
            "SubscriptionRequestsThrottled",
            f"Number of requests for subscription '{call.params['subscription']}' and operation "
            f"'{call.request.method} {NS}/vaults' exceeded the backoff time limit. Please try "
            f"again after '{wait}' seconds.",
            headers={"Retry-After": str(wait)},
        )

    def child(self, vault: ResourceId, *pairs: tuple[str, str]) -> ResourceId:
        return ResourceId.build(
            vault.subscription, vault.resource_group, NS, ("vaults", vault.name), *pairs
        )

    def item_id(self, call: Call, vault: ResourceId) -> ResourceId:
        return self.child(
            vault,
            ("replicationFabrics", call.params["fabric"]),
            ("replicationProtectionContainers", call.params["container"]),
            ("replicationProtectedItems", call.params["item"]),
        )

    def container_id(self, call: Call, vault: ResourceId) -> ResourceId:
        return self.child(
            vault,
            ("replicationFabrics", call.params["fabric"]),
            ("replicationProtectionContainers", call.params["container"]),
        )

    def _get(self, rid: ResourceId, what: str) -> dict:
        body = self.store.get(rid.key)
        if body is None:
            raise ArmError(
                404,
                "NotFound" if what != "item" else "ReplicationProtectedItemNotFound",
                f"The {what} '{rid.name}' was not found in vault '{rid.names[0]}'.",
            )
        return body

    def _put(self, rid: ResourceId, body: dict) -> None:
        self.store.put(rid.key, rid.resource_group, rid.type, body)

    # ------------------------------------------------------------------ jobs

    def start_job(
        self,
        vault: ResourceId,
        scenario: str,
        target: dict,
        effect: dict,
        *,
        instance_type: str = "ProtectionEntity",
        friendly_name: str | None = None,
        task_names: tuple[str, ...] | None = None,
        pause_after: str | None = None,
    ) -> dict:
        """An ASR job whose tasks run on the clock; `effect` applies when it succeeds. The
        scenario names its friendly name and tasks unless given (a failback is a
        PlannedFailover of its own name and tasks); `failNext` is keyed by the scenario.
        With `pause_after` (a task's name) the job waits, Suspended, once that task has
        succeeded, until it is resumed (or cancelled: until then it may be)."""
        friendly, tasks = SCENARIOS[scenario]
        friendly = friendly_name or friendly
        tasks = task_names or tasks
        pause = None if pause_after is None else tasks.index(pause_after)
        name = str(uuid.uuid4())
        rid = self.child(vault, ("replicationJobs", name))
        now = time.time()
        settings = self.settings()
        failures = settings.get("failNext", {})
        failure = failures.pop(scenario, None)
        if failure is not None:
            self.store.put(SETTINGS_KEY, "-", "_standin", {**settings, "failNext": failures})
        job = {
            "id": str(rid),
            "name": name,
            "type": T_JOB,
            "properties": {
                "activityId": f"{uuid.uuid4()} ActivityId: {uuid.uuid4()}",
                "scenarioName": scenario,
                "friendlyName": friendly,
                "state": "InProgress",
                "stateDescription": "InProgress",
                "tasks": [
                    {
                        "taskId": str(uuid.uuid4()),
                        "name": task.replace(" ", "") + "Task",
                        "friendlyName": task,
                        "state": "NotStarted",
                        "stateDescription": "NotStarted",
                        "taskType": "TaskDetails",
                        "allowedActions": [],
                        "customDetails": {"instanceType": "TaskDetails"},
                        "errors": [],
                    }
                    for task in tasks
                ],
                "errors": [],
                "startTime": iso(now),
                "allowedActions": [] if pause is None else ["Cancel"],
                "targetObjectId": target.get("id", ""),
                "targetObjectName": target.get("name", ""),
                "targetInstanceType": instance_type,
                "customDetails": {
                    "instanceType": "AsrJobDetails",
                    "affectedObjectDetails": target.get("affected", {}),
                },
            },
            "_sim": {
                "start": now,
                "taskSeconds": float(settings["taskSeconds"]),
                "failure": failure,
                "effect": effect,
                "done": False,
                "pauseAfter": pause,  # the index of the task after which it waits
                "resumed": None,  # when it was resumed: the tasks after the pause run from then
            },
        }
        self._put(rid, job)
        self._render_job(job, now)
        return job

    @staticmethod
    def _task_starts(sim: dict, count: int) -> list[float | None]:
        """When each task starts: one after the other from the job's start, and after a pause
        one after the other from the resume (None until it is resumed)."""
        step = max(sim["taskSeconds"], 0.0)
        pause, resumed = sim.get("pauseAfter"), sim.get("resumed")
        starts: list[float | None] = []
        for index in range(count):
            if pause is None or index <= pause:
                starts.append(sim["start"] + index * step)
            else:
                starts.append(None if resumed is None else resumed + (index - pause - 1) * step)
        return starts

    def _render_job(self, job: dict, now: float) -> bool:
        """Bring a job's tasks to `now`; True when it just ended (its effect is due)."""
        sim = job["_sim"]
        if sim["done"]:
            return False
        props = job["properties"]
        tasks = props["tasks"]
        step = max(sim["taskSeconds"], 0.0)
        starts = self._task_starts(sim, len(tasks))
        reached = 0  # the tasks that have run their time
        for start in starts:
            if start is None or start + step > now:
                break
            reached += 1
        failure = sim.get("failure")
        fail_at = None
        if failure is not None:
            fail_at = min(int(failure.get("task", len(tasks) - 1)), len(tasks) - 1)
        for index, task in enumerate(tasks):
            start = starts[index]
            end = None if start is None else start + step
            if index < reached and (fail_at is None or index < fail_at):
                task.update(state="Succeeded", stateDescription="Completed")
                task.update(startTime=iso(start), endTime=iso(end))
            elif fail_at is not None and index == fail_at and reached > index:
                task.update(state="Failed", stateDescription="Failed")
                task.update(startTime=iso(start), endTime=iso(end))
                task["errors"] = [self._job_error(failure, task["taskId"], end)]
            elif fail_at is not None and index > fail_at and reached > fail_at:
                task.update(state="Skipped", stateDescription="Skipped")
            elif index == reached and start is not None:
                task.update(state="InProgress", stateDescription="InProgress", startTime=iso(start))
        failed = fail_at is not None and reached > fail_at
        pause = sim.get("pauseAfter")
        if not failed and pause is not None and sim.get("resumed") is None and reached > pause:
            # Waiting for the operator (a failback's Complete failover); the item stays busy.
            props.update(state="Suspended", stateDescription=WAITING_FOR_COMPLETE_FAILOVER)
            props["allowedActions"] = ["Cancel", "Resume"]
            return False
        if reached < len(tasks) and not failed:
            props.update(state="InProgress", stateDescription="InProgress")
            # Cancellable until it has been resumed: then the Azure VM is being shut down.
            waits = pause is not None and sim.get("resumed") is None
            props["allowedActions"] = ["Cancel"] if waits else []
            return False
        end_at = (starts[fail_at] if failed else starts[-1]) + step
        props["endTime"] = iso(end_at)
        props["allowedActions"] = []
        if failed:
            props.update(state="Failed", stateDescription="Failed")
            props["errors"] = [err for t in tasks for err in t["errors"]]
        else:
            props.update(state="Succeeded", stateDescription="Completed")
        sim["done"] = True
        sim["end"] = end_at
        return True

    @staticmethod
    def _job_error(failure: dict, task_id: str, when: float) -> dict:
        error = {
            "code": str(failure.get("code", "InternalError")),
            "message": str(failure.get("message", "The operation failed.")),
            "possibleCauses": str(failure.get("possibleCauses", "")),
            "recommendedAction": str(failure.get("recommendedAction", "")),
            "activityId": str(uuid.uuid4()),
        }
        return {
            "serviceErrorDetails": error,
            "errorLevel": "Error",
            "creationTime": iso(when),
            "taskId": task_id,
        }

    def advance(self, vault: ResourceId) -> None:
        """End every job whose time has come and apply what it does, in the order they end."""
        now = time.time()
        with self.store.transaction():
            prefix = f"{vault.key}/replicationjobs/"
            jobs = [
                j
                for j in self.store.list(vault.resource_group, T_JOB)
                if j["id"].lower().startswith(prefix) and not j["_sim"]["done"]
            ]
            for job in sorted(jobs, key=lambda j: j["_sim"]["start"]):
                ended = self._render_job(job, now)
                if ended:
                    ok = job["properties"]["state"] == "Succeeded"
                    self._apply(job, ok)
                self._put(ResourceId.parse(job["id"]), job)

    def _apply(self, job: dict, ok: bool) -> None:
        effect = job["_sim"]["effect"]
        kind = effect.get("kind")
        rid = ResourceId.parse(effect["target"]) if effect.get("target") else None
        body = self.store.get(rid.key) if rid else None
        end = job["_sim"]["end"]
        if kind == "resource":  # policy, mapping: exists once the job succeeds
            if ok and rid:
                self._put(rid, effect["body"])
            return
        if body is None or rid is None:
            return
        sim = body["_sim"]
        props = body["properties"]
        sim["job"] = None
        if kind == "enable":
            if not ok:
                self.store.delete(rid.key)
                return
            sim["irStart"] = end
            props["protectionState"] = "InitialReplicationInProgress"
        elif kind == "remove":
            if ok:
                self.store.delete(rid.key)
                return
        elif ok and kind == "testFailover":
            props["testFailoverState"] = "WaitingForCompletion"
            props["testFailoverStateDescription"] = "Cleanup test failover pending"
            props["lastSuccessfulTestFailoverTime"] = iso(end)
            sim["testVm"] = effect["vmName"]
        elif kind == "testFailover":  # failed: ASR keeps it for its cleanup
            props["testFailoverState"] = "TestFailoverFailed"
            props["testFailoverStateDescription"] = "Test failover failed"
        elif ok and kind == "testFailoverCleanup":
            props["testFailoverState"] = "None"
            props["testFailoverStateDescription"] = "None"
            sim["testVm"] = None
        elif ok and kind in ("plannedFailover", "unplannedFailover"):
            planned = kind == "plannedFailover"
            props["protectionState"] = (
                "PlannedFailoverCommitRequired"
                if planned
                else "UnplannedFailoverCommitPendingStatesBegin"
            )
            props["activeLocation"] = "Recovery"
            props["lastSuccessfulFailoverTime"] = iso(end)
            props["failoverRecoveryPointId"] = effect["point"]
            sim["frozenAt"] = end
        elif ok and kind == "applyRecoveryPoint":
            props["failoverRecoveryPointId"] = effect["point"]
        elif ok and kind == "failoverCommit" and props.get("activeLocation") == "Primary":
            # a failback's commit: nothing replicates until reverse replication
            props["protectionState"] = "UnprotectedStatesBegin"
        elif ok and kind == "failoverCommit":
            # ASR's state names are ranges; the FailoverCommit example answers this one
            props["protectionState"] = "PlannedFailoverStatesBegin"
        elif ok and kind == "failback":
            props["protectionState"] = "PlannedFailoverCommitRequired"
            props["activeLocation"] = "Primary"
            props["lastSuccessfulFailoverTime"] = iso(end)
        elif ok and kind == "reProtect":
            # replicating to Azure again: recovery points start over from the job's end
            props["protectionState"] = "Protected"
            props["activeLocation"] = "Primary"
            props["testFailoverState"] = "None"
            props["testFailoverStateDescription"] = "None"
            props.pop("failoverRecoveryPointId", None)
            sim["protectedSince"] = end
            sim["frozenAt"] = None
            sim["testVm"] = None
        self._put(rid, body)

    def _operation_headers(
        self, call: Call, vault: ResourceId, job: dict, *, location: bool = True
    ) -> dict[str, str]:
        """A 202's headers; without `Location` for the operations whose spec example answers
        `Azure-AsyncOperation` and `Retry-After` only (reProtect)."""
        base = f"{call.request.scheme}://{call.request.host}{vault}"
        query = f"?api-version={call.api_version}"
        name = job["name"]
        headers = {
            "Azure-AsyncOperation": f"{base}/replicationOperationStatus/{name}{query}",
            "Location": f"{base}/replicationJobs/{name}/operationresults/{name}{query}",
            "Retry-After": str(self.s.config.retry_after),
        }
        if not location:
            del headers["Location"]
        return headers

    # ------------------------------------------------------------------ fabrics, containers

    async def list_fabrics(self, call: Call) -> web.Response:
        vault = self.vault(call)
        return page(
            [_public(b) for b in self._children(vault, T_FABRIC, f"{vault.key}/replicationfabrics")]
        )

    async def get_fabric(self, call: Call) -> web.Response:
        vault = self.vault(call)
        rid = self.child(vault, ("replicationFabrics", call.params["fabric"]))
        return answer(_public(self._get(rid, "fabric")))

    async def list_containers(self, call: Call) -> web.Response:
        vault = self.vault(call)
        fabric = self.child(vault, ("replicationFabrics", call.params["fabric"]))
        self._get(fabric, "fabric")
        prefix = f"{fabric.key}/replicationprotectioncontainers"
        return page([_public(b) for b in self._children(vault, T_CONTAINER, prefix)])

    async def get_container(self, call: Call) -> web.Response:
        vault = self.vault(call)
        return answer(_public(self._get(self.container_id(call, vault), "protection container")))

    async def list_protectable(self, call: Call) -> web.Response:
        vault = self.vault(call)
        container = self.container_id(call, vault)
        self._get(container, "protection container")
        prefix = f"{container.key}/replicationprotectableitems"
        return page([self._protectable(b) for b in self._children(vault, T_PROTECTABLE, prefix)])

    async def get_protectable(self, call: Call) -> web.Response:
        vault = self.vault(call)
        rid = self.child(
            vault,
            ("replicationFabrics", call.params["fabric"]),
            ("replicationProtectionContainers", call.params["container"]),
            ("replicationProtectableItems", call.params["item"]),
        )
        return answer(self._protectable(self._get(rid, "protectable item")))

    def _protectable(self, body: dict) -> dict:
        """Protected or not, as the items of its container say now."""
        body = _public(body)
        item_id = body["id"].replace("/replicationProtectableItems/", "/replicationProtectedItems/")
        protected = self.store.get(item_id.lower()) is not None
        body["properties"]["protectionStatus"] = "Protected" if protected else "Unprotected"
        if protected:
            body["properties"]["replicationProtectedItemId"] = item_id
        return body

    def _children(self, vault: ResourceId, type_: str, prefix: str) -> list[dict]:
        return [
            b
            for b in self.store.list(vault.resource_group, type_)
            if b["id"].lower().startswith(prefix + "/")
        ]

    # ------------------------------------------------------------------ policies, mappings

    async def put_policy(self, call: Call) -> web.Response:
        vault = self.vault(call)
        rid = self.child(vault, ("replicationPolicies", call.params["name"]))
        given = (body_object(call).get("properties") or {}).get("providerSpecificInput") or {}
        if given.get("instanceType") != "HyperVReplicaAzure":
            raise ArmError(
                400,
                "InvalidReplicationProvider",
                "The stand-in models HyperVReplicaAzure policies only "
                f"(instanceType '{given.get('instanceType')}').",
            )
        interval = int(given.get("replicationInterval", 300))
        if interval not in (30, 300, 900):
            raise ArmError(
                400,
                "InvalidReplicationFrequency",
                f"Replication frequency {interval} seconds is not supported. Supported values "
                "are 30, 300 and 900 seconds.",
            )
        body = {
            "id": str(rid),
            "name": rid.name,
            "type": T_POLICY,
            "properties": {
                "friendlyName": rid.name,
                "providerSpecificDetails": {
                    "instanceType": "HyperVReplicaAzure",
                    "recoveryPointHistoryDurationInHours": int(
                        given.get("recoveryPointHistoryDuration", 24)
                    ),
                    "applicationConsistentSnapshotFrequencyInHours": int(
                        given.get("applicationConsistentSnapshotFrequencyInHours", 0)
                    ),
                    "replicationInterval": interval,
                    "onlineReplicationStartTime": given.get("onlineReplicationStartTime"),
                    "encryption": "Disable",
                    "activeStorageAccountId": (given.get("storageAccounts") or [None])[0],
                },
            },
        }
        target = {"id": str(rid), "name": rid.name}
        effect = {"kind": "resource", "target": str(rid), "body": body}
        job = self.start_job(vault, "AddProtectionProfile", target, effect, instance_type="Policy")
        self.advance(vault)
        return answer({}, 202, self._operation_headers(call, vault, job))

    async def get_policy(self, call: Call) -> web.Response:
        vault = self.vault(call)
        rid = self.child(vault, ("replicationPolicies", call.params["name"]))
        return answer(_public(self._get(rid, "policy")))

    async def put_mapping(self, call: Call) -> web.Response:
        vault = self.vault(call)
        container = self._get(self.container_id(call, vault), "protection container")
        rid = ResourceId.parse(
            f"{container['id']}/replicationProtectionContainerMappings/{call.params['name']}"
        )
        props = body_object(call).get("properties") or {}
        policy = self._get(ResourceId.parse(props.get("policyId") or "-", "policyId"), "policy")
        body = {
            "id": str(rid),
            "name": rid.name,
            "type": T_MAPPING,
            "properties": {
                "targetProtectionContainerId": props.get("targetProtectionContainerId") or AZURE,
                "targetProtectionContainerFriendlyName": AZURE,
                "providerSpecificDetails": {},
                "health": "Normal",
                "healthErrorDetails": [],
                "policyId": policy["id"],
                "state": "Paired",
                "sourceProtectionContainerFriendlyName": container["properties"]["friendlyName"],
                "sourceFabricFriendlyName": container["properties"]["fabricFriendlyName"],
                "targetFabricFriendlyName": AZURE,
                "policyFriendlyName": policy["name"],
            },
        }
        target = {"id": str(rid), "name": rid.name}
        effect = {"kind": "resource", "target": str(rid), "body": body}
        job = self.start_job(
            vault, "ConfigureProtection", target, effect, instance_type="ProtectionContainer"
        )
        self.advance(vault)
        return answer({}, 202, self._operation_headers(call, vault, job))

    async def get_mapping(self, call: Call) -> web.Response:
        vault = self.vault(call)
        rid = ResourceId.parse(
            f"{self.container_id(call, vault)}/replicationProtectionContainerMappings/"
            f"{call.params['name']}"
        )
        return answer(_public(self._get(rid, "protection container mapping")))

    # ------------------------------------------------------------------ protected items

    async def put_item(self, call: Call) -> web.Response:
        vault = self.vault(call)
        rid = self.item_id(call, vault)
        props = body_object(call).get("properties") or {}
        details = props.get("providerSpecificDetails") or {}
        if details.get("instanceType") != "HyperVReplicaAzure":
            raise ArmError(
                400,
                "InvalidReplicationProvider",
                "The stand-in models HyperVReplicaAzure only "
                f"(instanceType '{details.get('instanceType')}').",
            )
        protectable = self._get(
            ResourceId.parse(props.get("protectableItemId") or "-", "protectableItemId"),
            "protectable item",
        )
        policy = self._get(ResourceId.parse(props.get("policyId") or "-", "policyId"), "policy")
        container = self._get(self.container_id(call, vault), "protection container")
        mapped = any(
            m["properties"]["policyId"].lower() == policy["id"].lower()
            for m in self._children(
                vault,
                T_MAPPING,
                f"{container['id'].lower()}/replicationprotectioncontainermappings",
            )
        )
        if not mapped:
            raise ArmError(
                400,
                "ProtectionContainerNotMappedToPolicy",
                f"Protection container '{container['properties']['friendlyName']}' is not "
                f"associated with replication policy '{policy['name']}'. Associate the policy "
                "with the container, then enable protection again.",
            )
        current = self.store.get(rid.key)
        if current is not None:  # enable again: ASR answers the item as it is
            return answer(_public(self.render_item(current)), 200)
        vm = protectable["properties"]
        name = details.get("targetAzureVmName") or vm["friendlyName"]
        body = {
            "id": str(rid),
            "name": rid.name,
            "type": T_ITEM,
            "properties": {
                "friendlyName": vm["friendlyName"],
                "protectedItemType": "HyperVVirtualMachine",
                "protectableItemId": protectable["id"],
                "recoveryServicesProviderId": vm.get("recoveryServicesProviderId"),
                "primaryFabricFriendlyName": container["properties"]["fabricFriendlyName"],
                "primaryFabricProvider": "VMM",
                "recoveryFabricFriendlyName": AZURE,
                "recoveryFabricId": AZURE,
                "primaryProtectionContainerFriendlyName": container["properties"]["friendlyName"],
                "recoveryProtectionContainerFriendlyName": AZURE,
                "protectionState": "EnablingProtection",
                "activeLocation": "Primary",
                "testFailoverState": "None",
                "testFailoverStateDescription": "None",
                "replicationHealth": "Normal",
                "failoverHealth": "Normal",
                "healthErrors": [],
                "policyId": policy["id"],
                "policyFriendlyName": policy["name"],
                "recoveryContainerId": AZURE,
                "providerSpecificDetails": {
                    "instanceType": "HyperVReplicaAzure",
                    "vmId": details.get("hvHostVmId") or rid.name,
                    "recoveryAzureVmName": name,
                    "recoveryAzureVMSize": details.get("targetVmSize"),
                    "recoveryAzureStorageAccount": details.get("targetStorageAccountId"),
                    "selectedRecoveryAzureNetworkId": details.get("targetAzureNetworkId"),
                    "recoveryAzureResourceGroupId": details.get("targetAzureV2ResourceGroupId"),
                    "useManagedDisks": details.get("useManagedDisks", "true"),
                    "sourceVmRamSizeInMB": vm.get("customDetails", {}).get("memoryMB"),
                    "sourceVmCpuCount": vm.get("customDetails", {}).get("cpuCount"),
                    "azureVmDiskDetails": [
                        {
                            "vhdId": d.get("vhdId"),
                            "vhdName": d.get("vhdName"),
                            "maxSizeMB": d.get("maxSizeMB"),
                            "vhdType": d.get("vhdType", "OperatingSystem"),
                        }
                        for d in vm.get("customDetails", {}).get("diskDetails", [])
                    ],
                },
            },
            "_sim": {
                "job": None,
                "irStart": None,
                "frozenAt": None,
                "policy": policy["properties"]["providerSpecificDetails"],
                "subnet": details.get("targetAzureSubnetId"),
            },
        }
        self._put(rid, body)
        job = self._item_job(vault, rid, body, "EnableDr", {"kind": "enable"})
        self.advance(vault)
        return answer({}, 202, self._operation_headers(call, vault, job))

    def _item_job(
        self,
        vault: ResourceId,
        rid: ResourceId,
        body: dict,
        scenario: str,
        effect: dict,
        **job: Any,
    ) -> dict:
        props = body["properties"]
        target = {
            "id": props["protectableItemId"].rsplit("/", 1)[-1],
            "name": props["friendlyName"],
            "affected": {
                "PrimaryVmmName": props["primaryFabricFriendlyName"],
                "RecoveryFabricProviderId": "Azure",
            },
        }
        job = self.start_job(vault, scenario, target, {**effect, "target": str(rid)}, **job)
        body["_sim"]["job"] = job["id"]
        props["currentScenario"] = {
            "scenarioName": scenario,
            "jobId": job["id"],
            "startTime": job["properties"]["startTime"],
        }
        self._put(rid, body)
        return job

    async def get_item(self, call: Call) -> web.Response:
        vault = self.vault(call)
        return answer(_public(self.render_item(self._get(self.item_id(call, vault), "item"))))

    async def list_items(self, call: Call) -> web.Response:
        vault = self.vault(call)
        container = self.container_id(call, vault)
        prefix = f"{container.key}/replicationprotecteditems"
        return page([_public(self.render_item(b)) for b in self._children(vault, T_ITEM, prefix)])

    def render_item(self, body: dict, now: float | None = None) -> dict:
        """The item as ASR would show it now: replication progress, RPO, what it allows."""
        now = time.time() if now is None else now
        body = json.loads(json.dumps(body))
        props, sim = body["properties"], body["_sim"]
        details = props["providerSpecificDetails"]
        policy = sim["policy"]
        interval = int(policy["replicationInterval"])
        settings = self.settings()
        state = props["protectionState"]
        if state == "InitialReplicationInProgress" and sim.get("irStart") is not None:
            span = max(float(settings["initialReplicationSeconds"]), 0.001)
            done = (now - sim["irStart"]) / span
            if done >= 1:
                state = props["protectionState"] = "Protected"
                sim["protectedSince"] = sim["irStart"] + span
            else:
                details["initialReplicationDetails"] = {
                    "initialReplicationType": "InitialReplication",
                    "initialReplicationProgressPercentage": str(int(done * 100)),
                }
                details["vmProtectionState"] = "InitialReplicationInProgress"
                details["vmProtectionStateDescription"] = "Initial replication in progress"
        failed_back = props.get("activeLocation") == "Primary"
        descriptions = {**DESCRIPTIONS, **(DESCRIPTIONS_FAILED_BACK if failed_back else {})}
        props["protectionStateDescription"] = descriptions.get(state, state)
        points = self.points(body, now)
        if points:
            last = points[-1]["properties"]["recoveryPointTime"]
            details["lastReplicatedTime"] = last
            details["lastRecoveryPointReceived"] = last
            if state == "Protected":
                since = datetime.fromisoformat(last.replace("Z", "+00:00")).timestamp()
                details["rpoInSeconds"] = int(now - since) + min(interval, 30)
                details["lastRpoCalculatedTime"] = iso(now)
                details["vmProtectionState"] = "Protected"
                details["vmProtectionStateDescription"] = "Protected"
                details["initialReplicationDetails"] = {
                    "initialReplicationType": "InitialReplication",
                    "initialReplicationProgressPercentage": "100",
                }
        errors = props.get("healthErrors") or []
        levels = {e.get("errorLevel") for e in errors}
        props["replicationHealth"] = (
            "Critical" if "Error" in levels else "Warning" if errors else "Normal"
        )
        running = sim.get("job") is not None
        names = {**OPERATION_NAMES, **(OPERATION_NAMES_FAILED_BACK if failed_back else {})}
        allowed = [] if running else list(names.get(state, []))
        if props.get("testFailoverState") in _CLEANED_UP_FROM and not running:
            allowed = ["TestFailoverCleanup"]
        props["allowedOperations"] = allowed
        if not running:
            props["currentScenario"] = {
                "scenarioName": "None",
                "jobId": f"{ResourceId.parse(body['id']).key.split('/replicationfabrics/')[0]}"
                "/replicationJobs/None",
                "startTime": NO_JOB_TIME,
            }
        return body

    def points(self, body: dict, now: float) -> list[dict]:
        """Recovery points: one per interval since protection (the first app-consistent, then
        one per the policy's frequency), kept for the policy's history, at most 48 listed.
        A failed-over item takes no new points."""
        sim = body["_sim"]
        since = sim.get("protectedSince")
        if since is None:
            if sim.get("irStart") is None:
                return []
            span = max(float(self.settings()["initialReplicationSeconds"]), 0.001)
            if now < sim["irStart"] + span:
                return []
            since = sim["irStart"] + span
        policy = sim["policy"]
        interval = int(policy["replicationInterval"])
        until = min(now, sim["frozenAt"]) if sim.get("frozenAt") else now
        history = float(policy.get("recoveryPointHistoryDurationInHours") or 24) * 3600
        app_every = float(policy.get("applicationConsistentSnapshotFrequencyInHours") or 0) * 3600
        last = int((until - since) // interval)
        first = max(0, last - 47, int((until - history - since) // interval) + 1)
        result = []
        for k in range(first, last + 1):
            at = since + k * interval
            app = k == 0 or (app_every > 0 and int((at - since) % app_every) < interval)
            name = f"{int(at)}"
            result.append(
                {
                    "id": f"{body['id']}/recoveryPoints/{name}",
                    "name": name,
                    "type": f"{T_ITEM}/recoveryPoints",
                    "properties": {
                        "recoveryPointTime": iso(at),
                        "recoveryPointType": "AppConsistent" if app else "CrashConsistent",
                        "providerSpecificDetails": {
                            "instanceType": "HyperVReplicaAzure",
                            "type": "AppConsistent" if app else "CrashConsistent",
                        },
                    },
                }
            )
        return result

    async def list_points(self, call: Call) -> web.Response:
        vault = self.vault(call)
        body = self._get(self.item_id(call, vault), "item")
        return page(list(reversed(self.points(body, time.time()))))

    async def get_point(self, call: Call) -> web.Response:
        vault = self.vault(call)
        body = self._get(self.item_id(call, vault), "item")
        for point in self.points(body, time.time()):
            if point["name"] == call.params["point"]:
                return answer(point)
        raise ArmError(
            404, "RecoveryPointNotFound", f"Recovery point '{call.params['point']}' not found."
        )

    async def action(self, call: Call) -> web.Response:
        vault = self.vault(call)
        rid = self.item_id(call, vault)
        body = self._get(rid, "item")
        action = call.params["action"]
        scenario, allowed_from = ACTIONS[action]
        sent = {} if call.body is None else body_object(call)  # commit and cleanup send none
        props = _object(sent.get("properties"), "properties")
        provider = _object(
            props.get("providerSpecificDetails"), "properties.providerSpecificDetails"
        )
        direction = props.get("failoverDirection")
        if action == "plannedFailover" and direction not in (None, *DIRECTIONS):
            raise _invalid("failoverDirection", direction, DIRECTIONS)
        # A planned failover back to the primary site is a failback (ASR's own operation name
        # in allowedOperations, run as a PlannedFailover job).
        kind = "failback" if action == "plannedFailover" and direction == DIRECTIONS[1] else action
        if kind == "failback":
            allowed_from = FAILBACK_FROM
        shown = self.render_item(body)
        state = shown["properties"]["protectionState"]
        where = shown["properties"].get("activeLocation")
        test_state = shown["properties"].get("testFailoverState")
        busy = body["_sim"].get("job") is not None
        refused = busy or (allowed_from is not None and state not in allowed_from)
        if kind in ACTIVE_LOCATION and where != ACTIVE_LOCATION[kind]:
            refused = True
        if action == "testFailover" and test_state not in (None, "None"):
            refused = True
        if action == "testFailoverCleanup" and test_state not in _CLEANED_UP_FROM:
            refused = True
        if refused:
            name, allowed = (shown["properties"][k] for k in ("friendlyName", "allowedOperations"))
            what = f"{action} {direction}" if direction else action
            raise ArmError(
                400,
                "OperationNotAllowedInCurrentState" if not busy else "JobAlreadyInProgress",
                f"The operation '{what}' is not allowed for '{name}' in state '{state}' "
                f"(active location '{where}', test failover '{test_state}'); "
                f"allowed: {allowed}.",
            )
        effect: dict[str, Any] = {"kind": kind}
        job_args: dict[str, Any] = {}
        if kind == "failback":
            effect.update(self._failback_input(provider))
            job_args = {
                "friendly_name": FAILBACK,
                "task_names": FAILBACK_TASKS[effect["dataSyncOption"]],
                "pause_after": FAILBACK_PAUSE_AFTER.get(effect["dataSyncOption"]),
            }
        if kind == "reProtect":
            if direction != DIRECTIONS[0]:
                raise _invalid("failoverDirection", direction, DIRECTIONS[:1])
            if provider.get("instanceType") != "HyperVReplicaAzure":
                raise _invalid(
                    "providerSpecificDetails.instanceType",
                    provider.get("instanceType"),
                    ("HyperVReplicaAzure",),
                )
        # Keep the computed progress (a failover freezes points at its end).
        body["properties"]["protectionState"] = state
        body["_sim"]["protectedSince"] = shown["_sim"].get("protectedSince")
        if kind in ("testFailover", "plannedFailover", "unplannedFailover", "applyRecoveryPoint"):
            points = self.points(body, time.time())
            wanted = props.get("recoveryPointId") or provider.get("recoveryPointId")
            if wanted:
                chosen = [p for p in points if p["id"].lower() == wanted.lower()]
                if not chosen:
                    raise ArmError(
                        400,
                        "RecoveryPointNotFound",
                        f"Recovery point '{wanted}' is not available for this item.",
                    )
                effect["point"] = chosen[0]["id"]
            elif points:
                effect["point"] = points[-1]["id"]
            else:
                raise ArmError(
                    400,
                    "NoRecoveryPointAvailable",
                    "No recovery point is available yet: wait for initial replication to end.",
                )
            name = body["properties"]["providerSpecificDetails"]["recoveryAzureVmName"]
            effect["vmName"] = f"{name}-test" if action == "testFailover" else name
        if action == "testFailover":
            body["properties"]["testFailoverState"] = "TestFailoverInProgress"
            body["properties"]["testFailoverStateDescription"] = "Test failover in progress"
        if action == "testFailoverCleanup":
            body["properties"]["testFailoverState"] = "MarkedForDeletion"
            body["properties"]["testFailoverStateDescription"] = "Cleaning up test environment"
        job = self._item_job(vault, rid, body, scenario, effect, **job_args)
        self.advance(vault)
        # The spec's Reprotect example answers Azure-AsyncOperation and Retry-After only.
        headers = self._operation_headers(call, vault, job, location=kind != "reProtect")
        return answer({}, 202, headers)

    @staticmethod
    def _failback_input(provider: dict) -> dict[str, Any]:
        """A failback's HyperVReplicaAzureFailbackProviderInput, checked as ASR checks it."""
        if provider.get("instanceType") != "HyperVReplicaAzureFailback":
            raise _invalid(
                "providerSpecificDetails.instanceType",
                provider.get("instanceType"),
                ("HyperVReplicaAzureFailback",),
            )
        sync = provider.get("dataSyncOption") or "ForSynchronization"
        if sync not in FAILBACK_TASKS:
            raise _invalid("providerSpecificDetails.dataSyncOption", sync, tuple(FAILBACK_TASKS))
        creation = provider.get("recoveryVmCreationOption")
        if creation is not None and creation not in RECOVERY_VM_CREATION_OPTIONS:
            raise _invalid(
                "providerSpecificDetails.recoveryVmCreationOption",
                creation,
                RECOVERY_VM_CREATION_OPTIONS,
            )
        return {"dataSyncOption": sync, "recoveryVmCreationOption": creation}

    # ------------------------------------------------------------------ jobs, operations

    async def get_job(self, call: Call) -> web.Response:
        vault = self.vault(call)
        rid = self.child(vault, ("replicationJobs", call.params["job"]))
        return answer(_public(self._get(rid, "job")))

    async def list_jobs(self, call: Call) -> web.Response:
        vault = self.vault(call)
        jobs = [_public(j) for j in self.store.list(vault.resource_group, T_JOB)
                if j["id"].lower().startswith(f"{vault.key}/replicationjobs/")]  # fmt: skip
        return page(sorted(jobs, key=lambda j: j["properties"]["startTime"], reverse=True))

    async def resume_job(self, call: Call) -> web.Response:
        """A suspended job goes on (a failback's Complete failover): its remaining tasks run
        from now. Only a job that waits with Resume allowed; the caller reads the job first
        (a resume of one that runs again is refused, not taken as done)."""
        vault = self.vault(call)
        sent = {} if call.body is None else body_object(call)
        _object(sent.get("properties"), "properties")  # {"comments": ...}: nothing to keep
        with self.store.transaction():
            rid, job = self._job_now(vault, call)
            self._refuse_unless(job, "resume", "Resume", "Suspended")
            job["_sim"]["resumed"] = time.time()
            self._bring(rid, job, job["_sim"]["resumed"])
        return answer({}, 202, self._operation_headers(call, vault, job, location=False))

    async def cancel_job(self, call: Call) -> web.Response:
        """A job that has not ended and may be cancelled stops: the tasks not yet run are
        Cancelled and its effect never applies (a failback leaves the VM in Azure, Failback
        allowed again); the item is free."""
        vault = self.vault(call)
        with self.store.transaction():
            rid, job = self._job_now(vault, call)
            self._refuse_unless(job, "cancel", "Cancel", "InProgress", "Suspended")
            now = time.time()
            props, sim = job["properties"], job["_sim"]
            for task in props["tasks"]:
                if task["state"] in ("NotStarted", "InProgress"):
                    task.update(state="Cancelled", stateDescription="Cancelled")
                    if task.get("startTime"):
                        task["endTime"] = iso(now)
            props.update(state="Cancelled", stateDescription="Cancelled", endTime=iso(now))
            props["allowedActions"] = []
            sim.update(done=True, end=now)
            self._apply(job, ok=False)
            self._put(rid, job)
        return answer({}, 202, self._operation_headers(call, vault, job, location=False))

    def _job_now(self, vault: ResourceId, call: Call) -> tuple[ResourceId, dict]:
        """The job, its tasks brought to now (one that just ended applies its effect)."""
        rid = self.child(vault, ("replicationJobs", call.params["job"]))
        job = self._get(rid, "job")
        self._bring(rid, job, time.time())
        return rid, job

    def _bring(self, rid: ResourceId, job: dict, now: float) -> None:
        """The job rendered at `now` and kept; its effect applied if it ended just now (with
        no task time, a resumed job ends at once)."""
        if self._render_job(job, now):
            self._apply(job, job["properties"]["state"] == "Succeeded")
        self._put(rid, job)

    @staticmethod
    def _refuse_unless(job: dict, operation: str, action: str, *states: str) -> None:
        props = job["properties"]
        state, allowed = props["state"], props.get("allowedActions") or []
        if state in states and action in allowed:
            return
        raise ArmError(
            400,
            "OperationNotAllowedInCurrentState",
            f"The operation '{operation}' is not allowed for job '{job['name']}' "
            f"({props['friendlyName']}) in state '{state}' ({props['stateDescription']}); "
            f"allowed actions: {allowed}.",
        )

    def _job_for_operation(self, call: Call) -> tuple[ResourceId, dict]:
        vault = self.vault(call)
        rid = self.child(vault, ("replicationJobs", call.params["job"]))
        return vault, self._get(rid, "operation")

    async def operation_status(self, call: Call) -> web.Response:
        _, job = self._job_for_operation(call)
        props = job["properties"]
        # A suspended job's operation has not ended; a cancelled one's is ARM's Canceled.
        status = {
            "InProgress": "InProgress",
            "Suspended": "InProgress",
            "Succeeded": "Succeeded",
            "Cancelled": "Canceled",
        }.get(props["state"], "Failed")
        doc: dict[str, Any] = {
            "name": job["name"],
            "status": status,
            "startTime": props["startTime"],
        }
        if props.get("endTime"):
            doc["endTime"] = props["endTime"]
        if status in ("Failed", "Canceled"):
            first = (props["errors"] or [{}])[0].get("serviceErrorDetails") or {}
            doc["error"] = {
                "code": first.get("code", "JobFailed" if status == "Failed" else "JobCancelled"),
                "message": first.get("message", f"Job {job['name']} {props['state'].lower()}."),
            }
        headers = {"Retry-After": str(self.s.config.retry_after)} if status == "InProgress" else {}
        return answer(doc, 200, headers)

    async def operation_result(self, call: Call) -> web.Response:
        """202 while the job runs; then the item it acted on (204 when it is gone)."""
        _, job = self._job_for_operation(call)
        props = job["properties"]
        if props["state"] in ("InProgress", "Suspended"):
            return web.Response(status=202, headers={"Retry-After": str(self.s.config.retry_after)})
        if props["state"] == "Cancelled":
            raise ArmError(400, "JobCancelled", f"Job {job['name']} was cancelled.")
        if props["state"] != "Succeeded":
            first = (props["errors"] or [{}])[0].get("serviceErrorDetails") or {}
            raise ArmError(400, first.get("code", "JobFailed"), first.get("message", "Failed."))
        target = job["_sim"]["effect"].get("target")
        body = self.store.get(target.lower()) if target else None
        if body is None:
            return web.Response(status=204)
        if "_sim" in body:
            body = self.render_item(body)
        return answer(_public(body))

    # ------------------------------------------------------------------ the control endpoint

    async def control(self, request: web.Request) -> web.Response:
        """Test-only: register what VMM's ASR provider would, inject faults, set the pace."""
        key = request.headers.get("x-standin-key", "")
        if not self.s.config.control_key or not hmac.compare_digest(key, self.s.config.control_key):
            return ArmError(
                401, "InvalidStandInKey", "x-standin-key is not the stand-in's key."
            ).response()
        try:
            body = json.loads(await request.text() or "{}")
        except json.JSONDecodeError as error:
            return ArmError(400, "InvalidRequestContent", str(error)).response()
        what = request.path[len(CONTROL) + 1 :]
        try:
            if what == "discover":
                return web.json_response(self._discover(body))
            if what == "settings":
                with self.store.transaction():
                    current = self.settings()
                    for name in ("taskSeconds", "initialReplicationSeconds"):
                        if name in body:
                            current[name] = float(body[name])
                    if "throttle" in body:
                        current["throttle"] = int(body["throttle"])
                        current["throttleRetryAfter"] = int(body.get("retryAfter", 1))
                    if "failNext" in body:  # {"scenario": {"task": n, "code", "message", ...}}
                        current["failNext"] = {**current.get("failNext", {}), **body["failNext"]}
                    self.store.put(SETTINGS_KEY, "-", "_standin", current)
                return web.json_response(current)
            if what == "health-errors":
                return web.json_response(self._health_errors(body))
            if what == "age":
                return web.json_response(self._age(body))
        except ArmError as error:
            return error.response()
        return ArmError(404, "NotFound", f"No control operation '{what}'.").response()

    def _discover(self, body: dict) -> dict:
        """A VMM server (fabric), one cloud (container) and its VMs (protectable items)."""
        vault = ResourceId.parse(body["vault"], "vault")
        if self.store.get(vault.key) is None:
            raise ArmError(404, "ResourceNotFound", f"Vault {vault} does not exist.")
        fabric = self.child(vault, ("replicationFabrics", body["fabric"]["name"]))
        container = self.child(
            vault,
            ("replicationFabrics", fabric.name),
            ("replicationProtectionContainers", body["cloud"]["name"]),
        )
        provider_id = f"{fabric}/replicationRecoveryServicesProviders/{uuid.uuid5(uuid.NAMESPACE_URL, str(fabric))}"  # noqa: E501
        with self.store.transaction():
            self._put(fabric, {
                "id": str(fabric), "name": fabric.name, "type": T_FABRIC,
                "location": self.s.config.location,
                "properties": {
                    "friendlyName": body["fabric"]["friendlyName"],
                    "internalIdentifier": fabric.name,
                    "bcdrState": "Valid",
                    "customDetails": {"instanceType": "VMM"},
                    "healthErrorDetails": [],
                    "health": "Normal",
                },
            })  # fmt: skip
            self._put(container, {
                "id": str(container), "name": container.name, "type": T_CONTAINER,
                "location": self.s.config.location,
                "properties": {
                    "fabricFriendlyName": body["fabric"]["friendlyName"],
                    "friendlyName": body["cloud"]["friendlyName"],
                    "fabricType": "VMM",
                    "protectedItemCount": 0,
                    "pairingStatus": "Paired",
                    "role": "Primary",
                    "fabricSpecificDetails": {"instanceType": "VMM"},
                },
            })  # fmt: skip
            for vm in body.get("vms", []):
                rid = ResourceId.parse(f"{container}/replicationProtectableItems/{vm['name']}")
                self._put(rid, {
                    "id": str(rid), "name": rid.name, "type": T_PROTECTABLE,
                    "properties": {
                        "friendlyName": vm["friendlyName"],
                        "protectionStatus": "Unprotected",
                        "recoveryServicesProviderId": provider_id,
                        "protectionReadinessErrors": [],
                        "supportedReplicationProviders": ["HyperVReplicaAzure"],
                        "customDetails": {
                            "instanceType": "VmmVirtualMachine",
                            "sourceItemId": vm["name"],
                            "generation": str(vm.get("generation", 2)),
                            "osDetails": {"osType": vm.get("osType", "Windows")},
                            "diskDetails": [
                                {"vhdId": d["vhdId"], "vhdName": d.get("vhdName"),
                                 "maxSizeMB": d.get("maxSizeMB"), "vhdType": d.get("vhdType")}
                                for d in vm.get("disks", [])
                            ],
                            "hasPhysicalDisk": False,
                            "hasFibreChannelAdapter": False,
                            "hasSharedVhd": False,
                            "memoryMB": vm.get("memoryMB"),
                            "cpuCount": vm.get("cpuCount"),
                        },
                    },
                })  # fmt: skip
        return {"fabric": str(fabric), "container": str(container)}

    def _age(self, body: dict) -> dict:
        """Move an item's replication `seconds` into the past, as if that much time had
        passed: it has the recovery points it would have by now (a test needs several)."""
        rid = ResourceId.parse(body["item"], "item")
        seconds = float(body["seconds"])
        with self.store.transaction():
            item = self._get(rid, "item")
            sim = item["_sim"]
            for name in ("irStart", "protectedSince"):
                if sim.get(name) is not None:
                    sim[name] -= seconds
            self._put(rid, item)
        return {"aged": seconds}

    def _health_errors(self, body: dict) -> dict:
        """Set (or clear, with []) an item's health errors, as ASR raises them."""
        rid = ResourceId.parse(body["item"], "item")
        with self.store.transaction():
            item = self._get(rid, "item")
            now = iso(time.time())
            item["properties"]["healthErrors"] = [
                {
                    "errorSource": "Replication",
                    "errorType": e.get("errorType", "ReplicationError"),
                    "errorLevel": e.get("errorLevel", "Error"),
                    "errorCategory": e.get("errorCategory", "Replication"),
                    "errorCode": str(e["errorCode"]),
                    "summaryMessage": e.get("summaryMessage", e["errorMessage"]),
                    "errorMessage": e["errorMessage"],
                    "possibleCauses": e.get("possibleCauses", ""),
                    "recommendedAction": e.get("recommendedAction", ""),
                    "creationTimeUtc": now,
                    "entityId": rid.name,
                    "errorId": str(uuid.uuid4()),
                    "customerResolvability": "Allowed",
                    "innerHealthErrors": [],
                }
                for e in body.get("errors", [])
            ]
            self._put(rid, item)
        return {"healthErrors": len(body.get("errors", []))}


def _object(value: Any, field: str) -> dict:
    """A nested object of a request body (absent: empty); anything else is refused, as ARM
    refuses content it cannot deserialise."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ArmError(
            400, "InvalidRequestContent", f"'{field}' must be a JSON object, not {value!r:.60}."
        )
    return value


def ensure_vault(standin: StandIn, vault_id: str) -> None:
    """The Recovery Services vault the app's settings name (infra creates it in Azure)."""
    rid = ResourceId.parse(vault_id, "ASR_VAULT_ID")
    if standin.store.get(rid.key) is None:
        standin.store.put(rid.key, rid.resource_group, VAULTS, {
            "id": str(rid), "name": rid.name, "type": VAULTS,
            "location": standin.config.location,
            "sku": {"name": "Standard"},
            "properties": {"provisioningState": "Succeeded"},
        })  # fmt: skip


def routes(standin: StandIn) -> tuple[SiteRecovery, list[Route]]:
    sr = SiteRecovery(standin)
    v = GROUP + r"/providers/Microsoft\.RecoveryServices/vaults/(?P<vault>[^/]+)"
    fabric = v + r"/replicationFabrics/(?P<fabric>[^/]+)"
    container = fabric + r"/replicationProtectionContainers/(?P<container>[^/]+)"
    item = container + r"/replicationProtectedItems/(?P<item>[^/]+)"
    actions = "|".join(ACTIONS)

    def r(method: str, pattern: str, handler: Any, kind: str) -> Route:
        return Route.of(method, pattern, handler, VERSIONS, f"vaults/{kind}")

    return sr, [
        r("GET", v + "/replicationFabrics", sr.list_fabrics, "replicationFabrics"),
        r("GET", fabric, sr.get_fabric, "replicationFabrics"),
        r("GET", fabric + "/replicationProtectionContainers", sr.list_containers, "containers"),
        r("GET", container, sr.get_container, "replicationProtectionContainers"),
        r("GET", container + "/replicationProtectableItems", sr.list_protectable, "items"),
        r(
            "GET",
            container + r"/replicationProtectableItems/(?P<item>[^/]+)",
            sr.get_protectable,
            "replicationProtectableItems",
        ),
        r(
            "PUT",
            container + r"/replicationProtectionContainerMappings/(?P<name>[^/]+)",
            sr.put_mapping,
            "replicationProtectionContainerMappings",
        ),
        r(
            "GET",
            container + r"/replicationProtectionContainerMappings/(?P<name>[^/]+)",
            sr.get_mapping,
            "replicationProtectionContainerMappings",
        ),
        r("PUT", v + r"/replicationPolicies/(?P<name>[^/]+)", sr.put_policy, "replicationPolicies"),
        r("GET", v + r"/replicationPolicies/(?P<name>[^/]+)", sr.get_policy, "replicationPolicies"),
        r("GET", container + "/replicationProtectedItems", sr.list_items, "protectedItems"),
        r("PUT", item, sr.put_item, "replicationProtectedItems"),
        r("GET", item, sr.get_item, "replicationProtectedItems"),
        r("POST", item + rf"/(?P<action>{actions})", sr.action, "replicationProtectedItems"),
        r("GET", item + "/recoveryPoints", sr.list_points, "recoveryPoints"),
        r("GET", item + r"/recoveryPoints/(?P<point>[^/]+)", sr.get_point, "recoveryPoints"),
        r("GET", v + "/replicationJobs", sr.list_jobs, "replicationJobs"),
        r("GET", v + r"/replicationJobs/(?P<job>[^/]+)", sr.get_job, "replicationJobs"),
        r("POST", v + r"/replicationJobs/(?P<job>[^/]+)/resume", sr.resume_job, "replicationJobs"),
        r("POST", v + r"/replicationJobs/(?P<job>[^/]+)/cancel", sr.cancel_job, "replicationJobs"),
        r(
            "GET",
            v + r"/replicationJobs/(?P<job>[^/]+)/operationresults/[^/]+",
            sr.operation_result,
            "replicationJobs",
        ),
        r(
            "GET",
            v + r"/replicationOperationStatus/(?P<job>[^/]+)",
            sr.operation_status,
            "replicationOperationStatus",
        ),
    ]
