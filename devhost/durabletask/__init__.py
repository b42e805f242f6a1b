"""A Durable Task hub for devhost: runs the SDK's own replay protocol, history in SQLite.

The Durable Functions Python SDK (1.x) is a pure function from (history, input) to actions;
the Functions host and the Durable Task Framework normally feed it. This package plays that
part locally: it keeps each instance's history, delivers new events in episodes, numbers
actions the way the SDK does, runs activities, fires timers, and serves the HTTP API the SDK's
`DurableOrchestrationClient` calls.
"""

from devhost.durabletask.engine import DurableEngine

__all__ = ["DurableEngine"]
