"""The Durable SDK's shared HTTP session, tied to the event loop that runs the client.

azure-functions-durable 1.x keeps ONE module-level aiohttp session (and an asyncio lock) for
every `DurableOrchestrationClient`. An aiohttp session works only on the loop it was created
on: reused from another loop it fails with "Timeout context manager should be used inside a
task". In Azure one worker process has one loop for its whole life, so that never shows. A
process that starts and stops hosts (tests, the demo, the benchmark) has several loops over
time, so each host adopts the session when it starts and closes it when it stops.
"""

from __future__ import annotations

import asyncio
import contextlib

from azure.durable_functions.models.utils import http_utils


def adopt() -> None:
    """Call on the host's loop before any client-using function runs there.

    A session left by a loop that has stopped cannot be closed from here (closing needs its
    own loop); it is dropped, and the SDK makes a fresh one on this loop at first use.
    """
    loop = asyncio.get_running_loop()
    session = http_utils._client_session
    if session is not None and getattr(session, "_loop", loop) is not loop:
        http_utils._client_session = None
    # The lock binds to the first loop that waits on it; give this loop a fresh one.
    http_utils._session_lock = asyncio.Lock()


async def release() -> None:
    """Call on the host's loop when it stops: close the session this loop made, if any."""
    session = http_utils._client_session
    if session is None or getattr(session, "_loop", None) is not asyncio.get_running_loop():
        return
    with contextlib.suppress(Exception):
        await http_utils._close_session()
    http_utils._client_session = None
