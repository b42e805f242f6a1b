"""One retry policy per kind of step, and what each one really does.

The Python SDK's `df.RetryOptions` takes two numbers only, the first retry interval and the
maximum number of attempts (`firstRetryIntervalInMilliseconds`, `maxNumberOfAttempts` in the
action it sends). The Durable extension fills in the rest with Durable Task's defaults:
backoff coefficient 1 (every retry waits the *first* interval: no exponential back-off), max
retry interval 6 days and no retry timeout (neither matters at coefficient 1), and every
exception is retried. `attempts` counts the first try. After each failed attempt, the last
one included, a durable timer of one interval runs; when the last one fires the task fails
(Durable Task's RetryInterceptor, mirrored by the SDK's RetryAbleTask). So a step that keeps
failing fails `attempts * interval` seconds after its first try began, plus the time the
attempts themselves took.

Each policy below says how long it keeps trying and why that is enough.
"""

from __future__ import annotations

import azure.durable_functions as df


def _policy(interval_seconds: int, attempts: int) -> df.RetryOptions:
    return df.RetryOptions(
        first_retry_interval_in_milliseconds=interval_seconds * 1000,
        max_number_of_attempts=attempts,
    )


# Table and blob calls (jobs, items, status, replica blobs): throttling (503/500 from Azure
# Storage) and a restarting Azurite clear within seconds. 5 attempts 2 s apart: 4 retries,
# the step fails 10 s after its first try. Longer would only delay the job's Failed.
STORAGE = _policy(interval_seconds=2, attempts=5)

# Sending a command to the agent (Service Bus): the sender reopens a broken link itself once
# per attempt; a namespace that is busy or fails over needs longer than storage. 5 attempts
# 3 s apart: the step fails 15 s after its first try (the cycle then fails and the loop goes
# on; the stall watch resends a command whose send was lost).
AGENT_COMMAND = _policy(interval_seconds=3, attempts=5)

# Verifying the replica and taking its point, right after the agent's last write: a read can
# meet a write still settling. 3 attempts 3 s apart: the step fails 9 s after its first try,
# and a replica that still does not match is reported (ReplicaVerificationFailed).
VERIFICATION = _policy(interval_seconds=3, attempts=3)

# Starting or ending an orchestration through the Durable client (the task hub's storage).
# 5 attempts 2 s apart, as for storage: the step fails 10 s after its first try.
TASK_HUB = _policy(interval_seconds=2, attempts=5)

# Azure Resource Manager (Compute, Network): ARM throttles with 429 and a Retry-After of
# seconds to a minute, and a front end may answer 5xx for a moment. 6 attempts 10 s apart: the
# step fails 60 s after its first try. Refusals (4xx) are not retried: they come back as the
# step's errors. Long-running operations are not waited for inside an attempt at all.
AZURE_RESOURCE_MANAGER = _policy(interval_seconds=10, attempts=6)
