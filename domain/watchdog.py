"""The replication watchdog's rules, as plain functions: which VMs should have a running
replication loop, when an orchestration counts as ended, when an operation's lock has outlived
its operation, how soon a loop that keeps dying is restarted again, and what each finding
tells the operator (code, cause, fix).

The watchdog (`application.watchdog`, run by a timer) applies them. No I/O and no clock:
`now` and every runtime status are parameters. Runtime statuses are the Durable runtime's
names (`Running`, `Pending`, `ContinuedAsNew`, `Completed`, `Failed`, `Terminated`, ...);
None means the task hub has no such instance.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from domain.errors import ErrorInfo
from domain.replication import replicates
from domain.replication_state import TRANSITIONS, ReplicationEvent, ReplicationStatus

S = ReplicationStatus

STOPPED = "ReplicationLoopStopped"
INTERRUPTED = "OperationInterrupted"
ENABLE = "POST /api/tenants/{tenant}/vms/{vm}/protection"

# Only these mean the instance will never run another step by itself. Running, Pending and
# ContinuedAsNew (the moment between two executions of a loop) are alive, and so is any status
# a newer runtime adds (Suspended): the watchdog never restarts what it does not understand.
_ENDED = frozenset({"Completed", "Failed", "Terminated"})

# How long an operation's job may exist without its orchestration: the starter writes the job
# and the lock, then starts the instance a moment later. Past this, the host stopped in between
# and nothing will ever start it.
START_GRACE = timedelta(minutes=2)

# A loop that dies again before it has made a point is restarted after 1, 2, 4 ... minutes,
# at most an hour apart: a loop that cannot live is not restarted every minute forever.
BACKOFF_FIRST = timedelta(minutes=1)
BACKOFF_MAX = timedelta(hours=1)


class Loop(StrEnum):
    """Which replication loop a VM's status calls for."""

    DELTA = "delta"  # a cycle every interval: the watchdog restarts it from the last point
    INITIAL = "initial"  # the first full copy: restarting it is the operator's (enable again)
    NONE = "none"  # not protected, or failing over / failed over: no loop on purpose


_BEFORE_FIRST_POINT = frozenset(
    {S.WAITING_FOR_INITIAL_REPLICATION, S.INITIAL_REPLICATION_IN_PROGRESS}
)
_RESYNCHRONIZING = frozenset({S.RESYNCHRONIZATION_REQUIRED, S.RESYNCHRONIZATION_IN_PROGRESS})


def expected_loop(status: str) -> Loop:
    """The loop a VM in `status` should have running.

    `replicates` says whether the loop goes on (protected, not failing over; a test failover
    leaves it running). Before the first recovery point that loop is initial replication,
    whose failure the operator retries by enabling protection again (a full copy, with a new
    InitialReplication job): the watchdog does not restart it by itself, it only says so."""
    if not replicates(status):
        return Loop.NONE
    return Loop.INITIAL if ReplicationStatus(status) in _BEFORE_FIRST_POINT else Loop.DELTA


def resynchronizing(status: str) -> bool:
    """A loop restarted in this status must compare the whole replica (resync), not sync."""
    return ReplicationStatus(status) in _RESYNCHRONIZING


def has_ended(runtime_status: str | None) -> bool:
    """Whether an orchestration with this runtime status (None: no instance) will never run
    another step by itself."""
    return runtime_status is None or runtime_status in _ENDED


def operation_abandoned(runtime_status: str | None, job_created: datetime, now: datetime) -> bool:
    """Whether the orchestration behind an unfinished job is gone for good: it ended without
    ending its job (terminated, failed outside its own error handling), or it never started
    although the job was created longer than START_GRACE ago."""
    if runtime_status is None:
        return now - job_created > START_GRACE
    return runtime_status in _ENDED


def restart_due(
    now: datetime,
    last_restart: datetime | None,
    restarts: int,
    last_point: datetime | None,
) -> bool:
    """Whether a dead delta loop may be restarted now. `restarts` counts restarts so far and
    `last_restart` the latest; a point made since that restart proves it worked, so the count
    starts again. Otherwise the n-th restart in a row waits BACKOFF_FIRST * 2**(n-1)."""
    in_a_row = restarts_in_a_row(last_restart, restarts, last_point)
    if in_a_row == 0 or last_restart is None:
        return True
    wait = min(BACKOFF_FIRST * 2 ** (in_a_row - 1), BACKOFF_MAX)
    return now >= last_restart + wait


def restarts_in_a_row(
    last_restart: datetime | None, restarts: int, last_point: datetime | None
) -> int:
    """Restarts since the loop last made a point (0 when it made one after the last restart)."""
    if last_restart is None or (last_point is not None and last_point > last_restart):
        return 0
    return restarts


# The status move an operation's own failure handling makes, for those whose handling is only
# that move: a failed enable goes back to NotProtected (`guarded`), a failed test failover
# waits for its cleanup (TestFailoverFailed: cleanup deletes what it made, by its tags).
_ON_FAILURE = {
    "EnableProtection": ReplicationEvent.PROTECTION_FAILED,
    "TestFailover": ReplicationEvent.TEST_FAILOVER_FAILED,
}


def interrupted_status_event(job_type: str, status: str) -> ReplicationEvent | None:
    """The status move an abandoned operation's own failure handling would have made, where
    the state table allows it and it moves the VM: ProtectionPending back to NotProtected,
    TestFailoverInProgress to TestFailoverFailed (so its cleanup is allowed). Other
    operations leave the status as they left it (see docs/replication.md#the-watchdog)."""
    event = _ON_FAILURE.get(job_type)
    if event is None:
        return None
    moves = TRANSITIONS[ReplicationStatus(status)]
    if event in moves and moves[event] != ReplicationStatus(status):
        return event
    return None


# --- what the operator reads -----------------------------------------------------------------


def _ended_how(runtime_status: str | None, detail: str | None) -> str:
    if runtime_status is None:
        return "is missing from the task hub (never started, or purged)"
    said = f": {detail}" if detail else ""
    return f"ended {runtime_status}{said}"


def loop_stopped(
    runtime_status: str | None, detail: str | None, restart_job: str | None
) -> ErrorInfo:
    """The health reason of a protected VM whose delta loop is not running. With
    `restart_job` the watchdog is restarting it; without, it waits (backoff)."""
    cause = (
        f"The VM's replication loop {_ended_how(runtime_status, detail)}; nothing replicated "
        "since, so its RPO grew."
    )
    if restart_job:
        fix = (
            f"The watchdog restarted it from the last recovery point (job {restart_job}); the "
            "next cycle sends only the changes. If it stops again, read the host log for the "
            "loop's failure."
        )
    else:
        fix = (
            "It stopped again soon after the last restart: the watchdog waits longer before "
            "each restart. Read the host log for the loop's failure (a storage or Service Bus "
            "outage, or a deployment that broke a running orchestration)."
        )
    return ErrorInfo(code=STOPPED, cause=cause, recommendation=fix)


def initial_stopped(runtime_status: str | None, detail: str | None) -> ErrorInfo:
    """The health reason (and job error) of a VM whose initial replication is not running."""
    return ErrorInfo(
        code=STOPPED,
        cause=(
            f"Initial replication is not running: its orchestration "
            f"{_ended_how(runtime_status, detail)}, before the first recovery point."
        ),
        recommendation=(
            f"Enable protection again ({ENABLE}): it starts a new initial replication and "
            "writes over the replica blobs."
        ),
    )


def operation_interrupted(
    job_id: str, job_type: str, runtime_status: str | None, detail: str | None, status: str
) -> ErrorInfo:
    """The error of a job whose orchestration ended without ending it; the VM is freed."""
    if runtime_status is None:
        how = (
            "was never started (the host stopped between accepting the request and starting "
            "its orchestration)"
        )
    else:
        how = _ended_how(runtime_status, detail)
    return ErrorInfo(
        code=INTERRUPTED,
        cause=f"The orchestration of {job_type} job {job_id} {how}, so the job could not end.",
        recommendation=(
            f"The VM is free again (status {status}). Check what the job's steps did, then ask "
            "for the operation again: allowedOperations on the replicated item says what "
            "applies now."
        ),
    )


def restart_failed(error: str) -> ErrorInfo:
    return ErrorInfo(
        code="ReplicationRestartFailed",
        cause=f"The replication loop could not be started again: {error}",
        recommendation="The watchdog tries again on its next run (with a growing pause); "
        "check /api/health and the task hub's storage if this repeats.",
    )


def watchdog_stopped(job_id: str) -> ErrorInfo:
    """A restart job the watchdog itself left unfinished (its host stopped mid-way)."""
    return ErrorInfo(
        code=INTERRUPTED,
        cause=f"The watchdog stopped while it ran restart job {job_id}.",
        recommendation="Nothing to do: the next run checks the VM's loop again.",
    )
